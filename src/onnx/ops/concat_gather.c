/* concat_gather.c — Concat (any dtype, along `axis`) and Gather (any dtype data, int32/int64
 * indices, negative indices wrap, out-of-range indices are an error at run time).
 *
 *   Concat: inputs (outer, d_i, inner) -> (outer, sum d_i, inner); with outer 1 the plan may
 *           have the inputs' producers write them in place (OX_OP_PLACE), then nothing moves
 *   Gather: data (outer, d, inner), indices I -> (outer, I..., inner)
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int concat_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    const struct ox_tensor *a = in[0];
    int64_t axis;
    if (!ox_attr_find(n, "axis"))
        return inferd_err_set(err, INFERD_EFORMAT, "Concat: attribute 'axis' is required");
    int rc = ox_axis(ox_attr_int(n, "axis", 0), a->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    int64_t dims[INFERD_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < n->n_in; i++) {
        const struct ox_tensor *t = in[i];
        if (!t)
            return inferd_err_set(err, INFERD_EINVAL, "Concat: input %d is empty", i);
        if (t->dt != a->dt || t->rank != a->rank)
            return inferd_err_set(err, INFERD_ESHAPE, "Concat: input %d differs in dtype or rank", i);
        for (int d = 0; d < a->rank; d++)
            if (d != axis && t->dims[d] != a->dims[d])
                return inferd_err_set(err, INFERD_ESHAPE, "Concat: input %d dim %d is %lld, not %lld", i, d,
                                      (long long)t->dims[d], (long long)a->dims[d]);
        dims[axis] += t->dims[axis];
    }
    return ox_set_shape(out[0], a->dt, a->rank, dims, err);
}

static int concat_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    int64_t axis;
    int rc = ox_axis(ox_attr_int(n, "axis", 0), in[0]->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    struct ox_tensor *y = out[0];
    size_t es = ox_dtype_size(y->dt);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < y->rank; d++) {
        if (d < axis)
            outer *= y->dims[d];
        else if (d > axis)
            inner *= y->dims[d];
    }
    size_t orow = (size_t)(y->dims[axis] * inner) * es, at = 0;
    for (int i = 0; i < n->n_in; i++) {
        size_t row = (size_t)(in[i]->dims[axis] * inner) * es;
        if (outer == 1 && in[i]->data == (char *)y->data + at) { /* its producer wrote it in place */
            at += row;
            continue;
        }
        if (row)
            ox_copy_rows((char *)y->data + at, (int64_t)orow, in[i]->data, (int64_t)row, row, outer);
        at += row;
    }
    return 0;
}

/* Input k is one contiguous range of the output when every dim before the axis is 1. */
int64_t ox_concat_place_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                               int k)
{
    int64_t axis, at = 0;
    if (ox_axis(ox_attr_int(n, "axis", 0), out[0]->rank, &axis, n, "axis", NULL) < 0)
        return -1;
    for (int d = 0; d < axis; d++)
        if (out[0]->dims[d] != 1)
            return -1;
    for (int i = 0; i < k; i++)
        at += (int64_t)in[i]->nbytes;
    return in[k]->nbytes ? at : -1;
}

const struct ox_op ox_op_concat = {
    .name = "Concat", .min_in = 1, .max_in = OX_MAX_NODE_IO, .min_out = 1, .max_out = 1,
    .infer = concat_infer, .exec = concat_exec, .flags = OX_OP_PLACE,
};

static int gather_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *idx = in[1];
    if (idx->dt != INFERD_INT64 && idx->dt != INFERD_INT32)
        return inferd_err_set(err, INFERD_ETYPE, "Gather: indices must be int32 or int64");
    if (x->rank < 1)
        return inferd_err_set(err, INFERD_ESHAPE, "Gather: data must have rank >= 1");
    int64_t axis;
    int rc = ox_axis(ox_attr_int(n, "axis", 0), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    int r = x->rank - 1 + idx->rank;
    if (r > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Gather: output rank %d above %d", r, INFERD_MAX_RANK);
    int64_t dims[INFERD_MAX_RANK];
    int k = 0;
    for (int d = 0; d < axis; d++)
        dims[k++] = x->dims[d];
    for (int d = 0; d < idx->rank; d++)
        dims[k++] = idx->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++)
        dims[k++] = x->dims[d];
    return ox_set_shape(out[0], x->dt, r, dims, err);
}

static int gather_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0], *idx = in[1];
    int64_t axis;
    int rc = ox_axis(ox_attr_int(n, "axis", 0), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    size_t es = ox_dtype_size(x->dt);
    int64_t outer = 1, inner = 1, d = x->dims[axis];
    for (int k = 0; k < x->rank; k++) {
        if (k < axis)
            outer *= x->dims[k];
        else if (k > axis)
            inner *= x->dims[k];
    }
    size_t row = (size_t)inner * es;
    char *yv = out[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < idx->numel; i++) {
            int64_t j = ox_get_i64(idx, i);
            if (j < -d || j >= d)
                return inferd_err_set(err, INFERD_EINVAL, "Gather: index %lld out of range [-%lld, %lld)",
                                      (long long)j, (long long)d, (long long)d);
            if (j < 0)
                j += d;
            if (row)
                memcpy(yv, (const char *)x->data + (size_t)(o * d + j) * row, row);
            yv += row;
        }
    }
    return 0;
}

const struct ox_op ox_op_gather = {
    .name = "Gather", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = gather_infer, .exec = gather_exec,
};
