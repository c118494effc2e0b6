/* norm_misc.c — layout and normalisation ops for CNNs: DepthToSpace / SpaceToDepth (DCR and
 * CRD), InstanceNormalization, GroupNormalization, LRN; plus Dropout (inference: identity
 * with an all-true mask), Size and EyeLike (folded at plan time). FP32 for the numeric ones.
 *
 *   DepthToSpace: X (N, C*b*b, H, W) -> (N, C, H*b, W*b)    SpaceToDepth is its inverse
 *   InstanceNormalization: X (N, C, ...), scale (C), B (C) -> X's shape
 *   GroupNormalization: X (N, C, ...), scale, bias (G at opset 18, C at opset 21) -> X's shape
 *   LRN: X (N, C, ...) -> X's shape, normalised across `size` neighbouring channels
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

/* ---- DepthToSpace / SpaceToDepth ---- */
static int d2s_common(const struct ox_node *n, const struct ox_tensor *x, int64_t *b, int *crd,
                      struct inferd_err *err)
{
    *b = ox_attr_int(n, "blocksize", 0);
    if (*b < 1)
        return inferd_err_set(err, INFERD_EINVAL, "%s: attribute 'blocksize' must be positive", n->op_type);
    if (x->rank != 4)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: input must be 4-D (N, C, H, W)", n->op_type);
    const struct ox_attr *m = ox_attr_find(n, "mode");
    *crd = m && m->s && strcmp(m->s, "CRD") == 0;
    if (m && m->s && !*crd && strcmp(m->s, "DCR") != 0)
        return inferd_err_set(err, INFERD_EINVAL, "%s: attribute 'mode' '%s' is not DCR or CRD", n->op_type, m->s);
    return 0;
}

static int d2s_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int64_t b;
    int crd, rc = d2s_common(n, in[0], &b, &crd, err);
    if (rc < 0)
        return rc;
    const int64_t *d = in[0]->dims;
    if (d[1] % (b * b))
        return inferd_err_set(err, INFERD_ESHAPE, "DepthToSpace: channels %lld are not a multiple of blocksize^2",
                              (long long)d[1]);
    int64_t dims[4] = {d[0], d[1] / (b * b), d[2] * b, d[3] * b};
    return ox_set_shape(out[0], in[0]->dt, 4, dims, err);
}

static int s2d_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int64_t b;
    int crd, rc = d2s_common(n, in[0], &b, &crd, err);
    if (rc < 0)
        return rc;
    const int64_t *d = in[0]->dims;
    if (d[2] % b || d[3] % b)
        return inferd_err_set(err, INFERD_ESHAPE, "SpaceToDepth: H and W must be multiples of blocksize");
    int64_t dims[4] = {d[0], d[1] * b * b, d[2] / b, d[3] / b};
    return ox_set_shape(out[0], in[0]->dt, 4, dims, err);
}

/* Moves elements between the (N, C, H*b, W*b) "space" tensor and the (N, C*b*b, H, W)
 * "depth" tensor; to_space picks the direction. */
static int d2s_move(const struct ox_node *n, const struct ox_tensor *x, struct ox_tensor *y, int to_space,
                    struct inferd_err *err)
{
    int64_t b = 1;
    int crd = 0, rc = d2s_common(n, x, &b, &crd, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *sp = to_space ? y : x, *dp = to_space ? x : y;
    int64_t N = sp->dims[0], C = sp->dims[1], H = dp->dims[2], W = dp->dims[3];
    size_t es = ox_dtype_size(x->dt);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < b; i++)
                for (int64_t j = 0; j < b; j++) {
                    int64_t dc = crd ? c * b * b + i * b + j : (i * b + j) * C + c;
                    for (int64_t h = 0; h < H; h++)
                        for (int64_t w = 0; w < W; w++) {
                            int64_t so = ((nn * C + c) * H * b + h * b + i) * W * b + w * b + j;
                            int64_t dof = ((nn * C * b * b + dc) * H + h) * W + w;
                            int64_t from = to_space ? dof : so, to = to_space ? so : dof;
                            memcpy((char *)y->data + (size_t)to * es, (const char *)x->data + (size_t)from * es, es);
                        }
                }
    return 0;
}

static int d2s_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    return d2s_move(n, in[0], out[0], 1, err);
}

static int s2d_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    return d2s_move(n, in[0], out[0], 0, err);
}

const struct ox_op ox_op_depth_to_space = {
    .name = "DepthToSpace", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = d2s_infer, .exec = d2s_exec,
};
const struct ox_op ox_op_space_to_depth = {
    .name = "SpaceToDepth", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = s2d_infer, .exec = s2d_exec,
};

/* ---- InstanceNormalization / GroupNormalization ---- */
/* Elements per (n, c) of an (N, C, ...) tensor. */
static int64_t spatial_of(const struct ox_tensor *x)
{
    int64_t s = 1;
    for (int d = 2; d < x->rank; d++)
        s *= x->dims[d];
    return s;
}

/* Normalises each of x's (N * groups) contiguous runs of len elements; channel c of a run
 * gets scale[c] / bias[c] where per_channel, else scale[g] / bias[g]. */
static void group_norm(const float *x, float *y, int64_t N, int64_t C, int64_t G, int64_t spatial,
                       const float *scale, const float *bias, int per_channel, float eps)
{
    int64_t cpg = C / G, len = cpg * spatial;
    for (int64_t nn = 0; nn < N; nn++) {
        for (int64_t g = 0; g < G; g++) {
            const float *xr = x + (nn * G + g) * len;
            float *yr = y + (nn * G + g) * len;
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < len; i++)
                sum += xr[i];
            double mean = sum / (double)len;
            for (int64_t i = 0; i < len; i++)
                sq += (xr[i] - mean) * (xr[i] - mean);
            float inv = (float)(1.0 / sqrt(sq / (double)len + eps));
            for (int64_t ch = 0; ch < cpg; ch++) {
                int64_t k = per_channel ? g * cpg + ch : g;
                float s = scale[k] * inv, b = bias[k] - (float)mean * s;
                for (int64_t i = 0; i < spatial; i++)
                    yr[ch * spatial + i] = xr[ch * spatial + i] * s + b;
            }
        }
    }
}

static int norm_check(const struct ox_node *n, struct ox_tensor *const *in, int64_t want, struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32 || in[1]->dt != INFERD_FP32 || in[2]->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_ETYPE, "%s: inputs must be FP32", n->op_type);
    if (in[0]->rank < 2)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: input must have rank >= 2 (N, C, ...)", n->op_type);
    if (in[1]->numel != want || in[2]->numel != want)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'scale' and 'bias' must have %lld elements", n->op_type,
                              (long long)want);
    return 0;
}

static int instnorm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                          struct inferd_err *err)
{
    int rc = in[0]->rank >= 2 ? norm_check(n, in, in[0]->dims[1], err) : norm_check(n, in, 0, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, in[0]->dims, err);
}

static int instnorm_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                         struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0];
    int64_t C = x->dims[1];
    group_norm(x->data, out[0]->data, x->dims[0], C, C, spatial_of(x),
               in[1]->data, in[2]->data, 1, ox_attr_float(n, "epsilon", 1e-5f));
    return 0;
}

const struct ox_op ox_op_instance_norm = {
    .name = "InstanceNormalization", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = instnorm_infer, .exec = instnorm_exec,
};

static int groupnorm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                           struct inferd_err *err)
{
    int64_t G = ox_attr_int(n, "num_groups", 0);
    if (in[0]->rank < 2 || G < 1 || in[0]->dims[1] % G)
        return inferd_err_set(err, INFERD_EINVAL, "GroupNormalization: attribute 'num_groups' %lld must divide the channels",
                              (long long)G);
    int rc = norm_check(n, in, n->opset >= 21 ? in[0]->dims[1] : G, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, in[0]->dims, err);
}

static int groupnorm_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                          struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0];
    int64_t C = x->dims[1], G = ox_attr_int(n, "num_groups", 1);
    group_norm(x->data, out[0]->data, x->dims[0], C, G, spatial_of(x),
               in[1]->data, in[2]->data, n->opset >= 21, ox_attr_float(n, "epsilon", 1e-5f));
    return 0;
}

const struct ox_op ox_op_group_norm = {
    .name = "GroupNormalization", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = groupnorm_infer, .exec = groupnorm_exec,
};

/* ---- LRN ---- */
static int lrn_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32 || in[0]->rank < 2)
        return inferd_err_set(err, INFERD_ETYPE, "LRN: input must be FP32 (N, C, ...)");
    if (ox_attr_int(n, "size", 0) < 1)
        return inferd_err_set(err, INFERD_EINVAL, "LRN: attribute 'size' is required and must be positive");
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, in[0]->dims, err);
}

static int lrn_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0];
    const float *xv = x->data;
    float *yv = out[0]->data;
    int64_t size = ox_attr_int(n, "size", 1), C = x->dims[1], N = x->dims[0];
    int64_t sp = spatial_of(x), lo = (size - 1) / 2, hi = size - 1 - lo;
    float alpha = ox_attr_float(n, "alpha", 1e-4f), beta = ox_attr_float(n, "beta", 0.75f);
    float bias = ox_attr_float(n, "bias", 1.0f);
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < sp; i++) {
                double sq = 0;
                for (int64_t k = ch - lo; k <= ch + hi; k++)
                    if (k >= 0 && k < C) {
                        double v = xv[(nn * C + k) * sp + i];
                        sq += v * v;
                    }
                int64_t at = (nn * C + ch) * sp + i;
                yv[at] = (float)(xv[at] / pow(bias + alpha / (double)size * sq, beta));
            }
    return 0;
}

const struct ox_op ox_op_lrn = {
    .name = "LRN", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = lrn_infer, .exec = lrn_exec,
};

/* ---- Dropout (inference) ---- */
static int dropout_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    (void)n;
    int rc = ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
    if (rc == 0 && n->n_out > 1)
        rc = ox_set_shape(out[1], INFERD_BOOL, in[0]->rank, in[0]->dims, err);
    return rc;
}

static int dropout_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                        struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    /* training_mode (opset 12+) with a non-zero ratio would need random masks: refuse it */
    int training = n->n_in > 2 && in[2] && in[2]->numel > 0 && ox_get_i64(in[2], 0) != 0;
    double ratio = n->n_in > 1 && in[1] && in[1]->numel > 0 ? ox_get_f64(in[1], 0) : 0.5;
    if (training && ratio != 0)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Dropout: input 'training_mode' is true with ratio %g; "
                                                        "only inference (or ratio 0) is supported", ratio);
    if (out[0]->data != in[0]->data && out[0]->nbytes)
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
    if (n->n_out > 1 && out[1])
        memset(out[1]->data, 1, out[1]->nbytes);
    return 0;
}

const struct ox_op ox_op_dropout = {
    .name = "Dropout", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 2,
    .infer = dropout_infer, .exec = dropout_exec,
};

/* ---- Size / EyeLike: depend on the input's shape only, folded at plan time ---- */
static int size_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    (void)n;
    (void)in;
    return ox_set_shape(out[0], INFERD_INT64, 0, NULL, err);
}

static int size_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    *(int64_t *)out[0]->data = in[0]->numel;
    return 0;
}

const struct ox_op ox_op_size = {
    .name = "Size", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = size_infer, .exec = size_exec, .flags = OX_OP_SHAPE_ONLY,
};

static int eyelike_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    if (in[0]->rank != 2)
        return inferd_err_set(err, INFERD_ESHAPE, "EyeLike: input must be 2-D");
    enum inferd_dtype dt = in[0]->dt;
    if (ox_attr_find(n, "dtype")) {
        dt = inferd_dtype_from_onnx((int)ox_attr_int(n, "dtype", 1));
        if (dt == INFERD_DTYPE_INVALID || dt == INFERD_BYTES)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "EyeLike: attribute 'dtype' %lld is not supported",
                                  (long long)ox_attr_int(n, "dtype", 1));
    }
    return ox_set_shape(out[0], dt, 2, in[0]->dims, err);
}

static int eyelike_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                        struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)in;
    (void)err;
    struct ox_tensor *y = out[0];
    int64_t k = ox_attr_int(n, "k", 0);
    memset(y->data, 0, y->nbytes);
    for (int64_t i = 0; i < y->dims[0]; i++)
        if (i + k >= 0 && i + k < y->dims[1])
            ox_put_i64(y, i * y->dims[1] + i + k, 1);
    return 0;
}

const struct ox_op ox_op_eyelike = {
    .name = "EyeLike", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = eyelike_infer, .exec = eyelike_exec, .flags = OX_OP_SHAPE_ONLY,
};
