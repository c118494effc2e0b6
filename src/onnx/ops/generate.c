/* generate.c — ops that make a tensor from scalars or a shape: Range (start, limit, delta
 * scalars -> 1-D, length max(ceil((limit - start) / delta), 0)), ConstantOfShape (a 1-D
 * int64 shape -> that shape filled with the `value` attribute, FP32 0 by default) and the
 * window functions HannWindow, HammingWindow, BlackmanWindow (size scalar -> 1-D of that
 * length; periodic (default) or symmetric; output_datatype, FP32 by default). The
 * output shape depends on input values, so those must be known at plan time (from Shape
 * chains or initializers); a graph input that decides them becomes value-keyed. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

/* ---- Range ---- */
static int range_len(const struct ox_node *n, struct ox_tensor *const *in, int64_t *len, struct inferd_err *err)
{
    static const char *const what[3] = {"start", "limit", "delta"};
    for (int k = 0; k < 3; k++) {
        if (in[k]->numel != 1)
            return inferd_err_set(err, INFERD_EINVAL, "Range: %s must be a scalar", what[k]);
        if (in[k]->dt != in[0]->dt)
            return inferd_err_set(err, INFERD_ETYPE, "Range: %s has dtype %s, start has %s", what[k],
                                  inferd_dtype_v2_name(in[k]->dt), inferd_dtype_v2_name(in[0]->dt));
        if (!in[k]->is_const)
            return inferd_err_set(err, OX_ENEEDCONST, "Range: %s must be computable at load time", what[k]);
    }
    enum inferd_dtype dt = in[0]->dt;
    if (dt != INFERD_FP32 && dt != INFERD_FP64 && dt != INFERD_INT16 && dt != INFERD_INT32 && dt != INFERD_INT64)
        return inferd_err_set(err, INFERD_ETYPE, "Range: dtype %s is not float, double, int16, int32 or int64",
                              inferd_dtype_v2_name(dt));
    (void)n;
    double count;
    if (ox_dtype_is_int(dt)) {
        int64_t s = ox_get_i64(in[0], 0), l = ox_get_i64(in[1], 0), d = ox_get_i64(in[2], 0);
        if (d == 0)
            return inferd_err_set(err, INFERD_EINVAL, "Range: delta is 0");
        count = ceil(((double)l - (double)s) / (double)d);
    } else {
        double s = ox_get_f64(in[0], 0), l = ox_get_f64(in[1], 0), d = ox_get_f64(in[2], 0);
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return inferd_err_set(err, INFERD_EINVAL, "Range: start, limit and delta must be finite, delta not 0");
        count = ceil((l - s) / d);
    }
    if (count > 1e12)
        return inferd_err_set(err, INFERD_ETOOLARGE, "Range: %.0f elements is too many", count);
    *len = count > 0 ? (int64_t)count : 0;
    return 0;
}

static int range_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    int64_t len;
    int rc = range_len(n, in, &len, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], in[0]->dt, 1, &len, err);
}

static int range_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    struct ox_tensor *y = out[0];
    if (ox_dtype_is_int(y->dt)) {
        int64_t s = ox_get_i64(in[0], 0), d = ox_get_i64(in[2], 0);
        for (int64_t i = 0; i < y->numel; i++) /* unsigned: a far limit must not overflow into UB */
            ox_put_i64(y, i, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d));
    } else if (y->dt == INFERD_FP32) {
        /* as the reference does: repeated addition in the output type */
        float v = *(const float *)in[0]->data, d = *(const float *)in[2]->data;
        for (int64_t i = 0; i < y->numel; i++, v += d)
            ((float *)y->data)[i] = v;
    } else {
        double v = ox_get_f64(in[0], 0), d = ox_get_f64(in[2], 0);
        for (int64_t i = 0; i < y->numel; i++, v += d)
            ox_put_f64(y, i, v);
    }
    return 0;
}

const struct ox_op ox_op_range = {
    .name = "Range", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = range_infer, .exec = range_exec,
};

/* ---- ConstantOfShape ---- */
static int cos_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "value");
    if (a && (!a->t || a->t->numel != 1))
        return inferd_err_set(err, INFERD_EINVAL, "ConstantOfShape: attribute 'value' must be a one-element tensor");
    if (a && (a->t->dt == INFERD_BYTES || inferd_dtype_size(a->t->dt) == 0))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ConstantOfShape: value dtype is not supported");
    return 0;
}

static int cos_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int64_t dims[INFERD_MAX_RANK];
    int r = ox_const_ints(in[0], dims, INFERD_MAX_RANK, n, "input", err);
    if (r < 0)
        return r;
    for (int d = 0; d < r; d++)
        if (dims[d] < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "ConstantOfShape: negative dim %lld", (long long)dims[d]);
    const struct ox_attr *a = ox_attr_find(n, "value");
    return ox_set_shape(out[0], a ? a->t->dt : INFERD_FP32, r, dims, err);
}

static int cos_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)in;
    (void)err;
    const struct ox_attr *a = ox_attr_find(n, "value");
    struct ox_tensor *y = out[0];
    if (y->numel == 0)
        return 0;
    if (!a) {
        memset(y->data, 0, y->nbytes);
        return 0;
    }
    size_t es = inferd_dtype_size(y->dt);
    for (int64_t i = 0; i < y->numel; i++)
        memcpy((char *)y->data + (size_t)i * es, a->t->data, es);
    return 0;
}

const struct ox_op ox_op_constant_of_shape = {
    .name = "ConstantOfShape", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = cos_prepare, .infer = cos_infer, .exec = cos_exec,
};

/* ---- HannWindow, HammingWindow, BlackmanWindow ---- */
static int window_prepare(struct ox_node *n, struct inferd_err *err)
{
    enum inferd_dtype dt = inferd_dtype_from_onnx((int)ox_attr_int(n, "output_datatype", 1));
    if (dt == INFERD_DTYPE_INVALID || dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: output_datatype is not a numeric type", n->op_type);
    n->ip[0] = dt;
    n->ip[1] = ox_attr_int(n, "periodic", 1) != 0;
    n->ip[2] = n->op_type[0] == 'H' ? (n->op_type[2] == 'n' ? 0 : 1) : 2; /* Hann, Hamming, Blackman */
    return 0;
}

static int window_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    if (in[0]->numel != 1 || !ox_dtype_is_int(in[0]->dt))
        return inferd_err_set(err, INFERD_EINVAL, "%s: size must be an integer scalar", n->op_type);
    if (!in[0]->is_const)
        return inferd_err_set(err, OX_ENEEDCONST, "%s: size must be computable at load time", n->op_type);
    int64_t len = ox_get_i64(in[0], 0);
    if (len < 0)
        return inferd_err_set(err, INFERD_EINVAL, "%s: size %lld is negative", n->op_type, (long long)len);
    return ox_set_shape(out[0], (enum inferd_dtype)n->ip[0], 1, &len, err);
}

static int window_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)in;
    (void)err;
    struct ox_tensor *y = out[0];
    double den = (double)(n->ip[1] ? y->numel : y->numel - 1);
    for (int64_t i = 0; i < y->numel; i++) {
        double t = den > 0 ? 2 * M_PI * (double)i / den : 0, v;
        if (n->ip[2] == 0)
            v = 0.5 - 0.5 * cos(t);
        else if (n->ip[2] == 1)
            v = 25.0 / 46.0 - 21.0 / 46.0 * cos(t);
        else
            v = 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
        ox_put_f64(y, i, v);
    }
    return 0;
}

const struct ox_op ox_op_hann_window = {
    .name = "HannWindow", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = window_prepare, .infer = window_infer, .exec = window_exec,
};
const struct ox_op ox_op_hamming_window = {
    .name = "HammingWindow", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = window_prepare, .infer = window_infer, .exec = window_exec,
};
const struct ox_op ox_op_blackman_window = {
    .name = "BlackmanWindow", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = window_prepare, .infer = window_infer, .exec = window_exec,
};
