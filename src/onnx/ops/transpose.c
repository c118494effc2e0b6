/* transpose.c — Transpose for any dtype (element sizes 1/2/4/8): out dim d is in dim
 * perm[d] (default: reversed). Walks the output in order with the input strides permuted. */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int get_perm(const struct ox_node *n, int rank, int64_t *perm, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "perm");
    if (!a || a->type != OX_ATTR_INTS) {
        for (int d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return 0;
    }
    if (a->n_ints != rank)
        return inferd_err_set(err, INFERD_EINVAL, "Transpose: perm has %lld entries for rank %d",
                              (long long)a->n_ints, rank);
    unsigned seen = 0;
    for (int d = 0; d < rank; d++) {
        int64_t p;
        int rc = ox_axis(a->ints[d], rank, &p, n, "perm", err);
        if (rc < 0)
            return rc;
        if (seen & (1u << p))
            return inferd_err_set(err, INFERD_EINVAL, "Transpose: perm repeats %lld", (long long)p);
        seen |= 1u << p;
        perm[d] = p;
    }
    return 0;
}

static int tr_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    int64_t perm[INFERD_MAX_RANK], dims[INFERD_MAX_RANK];
    int rc = get_perm(n, in[0]->rank, perm, err);
    if (rc < 0)
        return rc;
    for (int d = 0; d < in[0]->rank; d++)
        dims[d] = in[0]->dims[perm[d]];
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, dims, err);
}

static int tr_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    int rank = x->rank;
    int64_t perm[INFERD_MAX_RANK], istr[INFERD_MAX_RANK], pstr[INFERD_MAX_RANK];
    int rc = get_perm(n, rank, perm, err);
    if (rc < 0)
        return rc;
    if (y->numel == 0)
        return 0;
    if (rank <= 1) {
        memcpy(y->data, x->data, y->nbytes);
        return 0;
    }
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        istr[d] = s;
        s *= x->dims[d];
    }
    for (int d = 0; d < rank; d++)
        pstr[d] = istr[perm[d]];
    size_t es = ox_dtype_size(x->dt);
    const char *xv = x->data;
    char *yv = y->data;
    int64_t inner = y->dims[rank - 1], is = pstr[rank - 1];
    int64_t rows = y->numel / inner;
    int64_t coord[INFERD_MAX_RANK] = {0}, off = 0;
    for (int64_t r = 0; r < rows; r++) {
        char *dst = yv + (size_t)(r * inner) * es;
        switch (es) {
        case 4:
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + i * 4, xv + (size_t)(off + i * is) * 4, 4);
            break;
        case 8:
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + i * 8, xv + (size_t)(off + i * is) * 8, 8);
            break;
        default:
            for (int64_t i = 0; i < inner; i++)
                memcpy(dst + (size_t)i * es, xv + (size_t)(off + i * is) * es, es);
        }
        for (int d = rank - 2; d >= 0; d--) {
            coord[d]++;
            off += pstr[d];
            if (coord[d] < y->dims[d])
                break;
            off -= pstr[d] * coord[d];
            coord[d] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_transpose = {
    .name = "Transpose", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = tr_infer, .exec = tr_exec,
};
