/* reduce.c — ReduceMean (FP32). Axes from the `axes` attribute (opset < 18) or the
 * optional second input (opset 18+, must be known at load time); no axes = all of them
 * unless noop_with_empty_axes. Reducing a trailing block of axes is a row loop; any other
 * set goes through a coordinate walk. */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int rm_prepare(struct ox_node *n, struct inferd_err *err)
{
    (void)err;
    n->ip[0] = ox_attr_int(n, "keepdims", 1);
    n->ip[1] = ox_attr_int(n, "noop_with_empty_axes", 0);
    return 0;
}

/* mask bit d set = axis d is reduced. */
static int rm_mask(const struct ox_node *n, struct ox_tensor *const *in, unsigned *mask, struct inferd_err *err)
{
    int64_t axes[INFERD_MAX_RANK * 2];
    int na = 0, rank = in[0]->rank;
    const struct ox_attr *a = ox_attr_find(n, "axes");
    if (n->n_in > 1 && in[1]) {
        na = ox_const_ints(in[1], axes, INFERD_MAX_RANK * 2, n, "axes", err);
        if (na < 0)
            return na;
    } else if (a && a->type == OX_ATTR_INTS) {
        if (a->n_ints > INFERD_MAX_RANK * 2)
            return inferd_err_set(err, INFERD_EINVAL, "ReduceMean: too many axes");
        na = (int)a->n_ints;
        if (na > 0) /* an empty INTS attribute has no array (memcpy from NULL is UB) */
            memcpy(axes, a->ints, (size_t)na * sizeof(int64_t));
    }
    *mask = 0;
    if (na == 0) {
        if (!n->ip[1])
            *mask = (1u << rank) - 1;
        return 0;
    }
    for (int i = 0; i < na; i++) {
        int64_t ax;
        int rc = ox_axis(axes[i], rank, &ax, n, "axes", err);
        if (rc < 0)
            return rc;
        *mask |= 1u << ax;
    }
    return 0;
}

static int rm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ReduceMean: only FP32 is supported");
    unsigned mask;
    int rc = rm_mask(n, in, &mask, err);
    if (rc < 0)
        return rc;
    int64_t dims[INFERD_MAX_RANK];
    int r = 0;
    for (int d = 0; d < in[0]->rank; d++) {
        if (mask & (1u << d)) {
            if (n->ip[0])
                dims[r++] = 1;
        } else {
            dims[r++] = in[0]->dims[d];
        }
    }
    return ox_set_shape(out[0], INFERD_FP32, r, dims, err);
}

static int rm_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    unsigned mask;
    int rc = rm_mask(n, in, &mask, err);
    if (rc < 0)
        return rc;
    const float *xv = x->data;
    float *yv = out[0]->data;
    int rank = x->rank;
    int64_t on = out[0]->numel;
    if (on == 0)
        return 0;
    int64_t cnt = on > 0 ? x->numel / on : 0;
    /* trailing block: mask is bits [k, rank) */
    int k = rank;
    while (k > 0 && (mask & (1u << (k - 1))))
        k--;
    if (mask == (((1u << rank) - 1) & ~((1u << k) - 1))) {
        for (int64_t r = 0; r < on; r++) {
            double s = 0;
            const float *p = xv + r * cnt;
            for (int64_t i = 0; i < cnt; i++)
                s += p[i];
            yv[r] = cnt ? (float)(s / (double)cnt) : 0.0f;
        }
        return 0;
    }
    /* general: output strides over the input's coordinates (0 on reduced axes) */
    int64_t ostr[INFERD_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        ostr[d] = (mask & (1u << d)) ? 0 : s;
        if (!(mask & (1u << d)))
            s *= x->dims[d];
    }
    memset(yv, 0, (size_t)on * sizeof(float));
    int64_t coord[INFERD_MAX_RANK] = {0}, oi = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        yv[oi] += xv[i];
        for (int d = rank - 1; d >= 0; d--) {
            coord[d]++;
            oi += ostr[d];
            if (coord[d] < x->dims[d])
                break;
            oi -= ostr[d] * coord[d];
            coord[d] = 0;
        }
    }
    for (int64_t r = 0; r < on; r++)
        yv[r] = cnt ? yv[r] / (float)cnt : 0.0f;
    return 0;
}

const struct ox_op ox_op_reduce_mean = {"ReduceMean", 1, 2, 1, 1, rm_prepare, rm_infer, rm_exec, 0, NULL, NULL};
