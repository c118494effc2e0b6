/* attention.c — InferdAttention, the engine's own fused scaled-dot-product attention, made
 * at load by fuse_transformer.c from MatMul -> Div|Mul -> [Add mask | Where mask] -> Softmax
 * -> MatMul (no ONNX file is expected to name it; its inputs are checked like any op's):
 *
 *   Q (B,H,S,D), Kt (B',H',D,T), V (B',H',T,E), [mask broadcastable to (B,H,S,T)]
 *     -> Y (B,H,S,E) = softmax(scale * Q @ Kt  (+ mask | masked to fill)) @ V
 *   (B', H': B, H or 1 — a K / V shared by every head or batch)
 *
 * attributes: scale (float), mask_mode (0 none, 1 additive FP32 mask, 2 BOOL mask whose
 * true elements become `fill`, as Where(mask, fill, scores)).
 * Rows (b, h, s) are split over the pool; each row's scores live in the step's scratch
 * (B*H*S*T floats, what the unfused graph's score tensor took), so exec never allocates:
 * scores = scale * q . Kt[:, j] as axpys over Kt's rows, a max-subtracted softmax, then
 * Y row = sum_j p[j] * V[j, :] as axpys over V's rows. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

typedef float v4 __attribute__((vector_size(16)));

/* y[0..n) += a * x[0..n) */
static void axpy(float a, const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    v4 va = {a, a, a, a};
    for (; i + 4 <= n; i += 4) {
        v4 xv, yv;
        memcpy(&xv, x + i, sizeof xv);
        memcpy(&yv, y + i, sizeof yv);
        yv += va * xv;
        memcpy(y + i, &yv, sizeof yv);
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

static int att_prepare(struct ox_node *n, struct inferd_err *err)
{
    n->fp[0] = ox_attr_float(n, "scale", 1.0f);
    n->fp[1] = ox_attr_float(n, "fill", -INFINITY);
    n->ip[0] = ox_attr_int(n, "mask_mode", 0);
    if (n->ip[0] < 0 || n->ip[0] > 2)
        return inferd_err_set(err, INFERD_EINVAL, "InferdAttention: mask_mode %lld is not 0, 1 or 2",
                              (long long)n->ip[0]);
    if ((n->ip[0] != 0) != (n->n_in == 4))
        return inferd_err_set(err, INFERD_EINVAL, "InferdAttention: mask_mode %lld with %d inputs",
                              (long long)n->ip[0], n->n_in);
    return 0;
}

/* Strides of t broadcast right-aligned to the 4 dims `to` (0 where t has 1); -1 when t does
 * not broadcast to exactly those dims. */
static int bcast4(const struct ox_tensor *t, const int64_t *to, int64_t *st)
{
    if (t->rank > 4)
        return -1;
    int64_t s = 1;
    for (int d = 3; d >= 0; d--) {
        int td = d - (4 - t->rank);
        int64_t dim = td >= 0 ? t->dims[td] : 1;
        if (dim != 1 && dim != to[d])
            return -1;
        st[d] = dim == 1 ? 0 : s;
        s *= dim;
    }
    return 0;
}

static int att_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    const struct ox_tensor *q = in[0], *k = in[1], *v = in[2];
    if (q->dt != INFERD_FP32 || k->dt != INFERD_FP32 || v->dt != INFERD_FP32 || q->rank != 4 || k->rank != 4 ||
        v->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdAttention: Q, Kt, V must be FP32 of rank 4");
    for (int d = 0; d < 2; d++)
        if ((k->dims[d] != q->dims[d] && k->dims[d] != 1) || (v->dims[d] != q->dims[d] && v->dims[d] != 1))
            return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: Kt / V dim %d is neither Q's nor 1", d);
    if (k->dims[2] != q->dims[3] || v->dims[2] != k->dims[3])
        return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: Q (.., %lld, %lld), Kt (.., %lld, %lld), V (.., %lld, ..)",
                              (long long)q->dims[2], (long long)q->dims[3], (long long)k->dims[2],
                              (long long)k->dims[3], (long long)v->dims[2]);
    if (n->ip[0]) {
        int64_t sd[4] = {q->dims[0], q->dims[1], q->dims[2], k->dims[3]}, st[4];
        const struct ox_tensor *mk = in[3];
        if (mk->dt != (n->ip[0] == 1 ? INFERD_FP32 : INFERD_BOOL) || bcast4(mk, sd, st) < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: the mask does not broadcast to the scores");
    }
    int64_t od[4] = {q->dims[0], q->dims[1], q->dims[2], v->dims[3]};
    return ox_set_shape(out[0], INFERD_FP32, 4, od, err);
}

static size_t att_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)n;
    (void)out;
    return (size_t)(in[0]->dims[0] * in[0]->dims[1] * in[0]->dims[2] * in[1]->dims[3]) * sizeof(float);
}

struct att_job {
    const float *q, *k, *v;
    const void *mask;
    float *y, *scores;
    int64_t h, s, d, t, e;
    int64_t kb, kh, vb, vh; /* element strides of Kt / V per batch and head (0: shared) */
    int64_t ms[4];          /* mask strides */
    int mode;
    float scale, fill;
};

static void att_rows(void *arg, int64_t lo, int64_t hi)
{
    const struct att_job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        int64_t b = r / (j->h * j->s), hd = r / j->s % j->h, i = r % j->s;
        const float *q = j->q + r * j->d, *kt = j->k + b * j->kb + hd * j->kh, *v = j->v + b * j->vb + hd * j->vh;
        float *p = j->scores + r * j->t, *y = j->y + r * j->e;
        memset(p, 0, (size_t)j->t * sizeof *p);
        for (int64_t c = 0; c < j->d; c++) /* p = q @ Kt: row c of Kt times q[c] */
            axpy(q[c], kt + c * j->t, p, j->t);
        int64_t mo = b * j->ms[0] + hd * j->ms[1] + i * j->ms[2];
        float mx = -INFINITY;
        for (int64_t c = 0; c < j->t; c++) {
            float x = p[c] * j->scale;
            if (j->mode == 1)
                x += ((const float *)j->mask)[mo + c * j->ms[3]];
            else if (j->mode == 2 && ((const unsigned char *)j->mask)[mo + c * j->ms[3]])
                x = j->fill;
            p[c] = x;
            mx = x > mx || c == 0 ? x : mx;
        }
        double sum = 0;
        for (int64_t c = 0; c < j->t; c++) {
            p[c] = expf(p[c] - mx);
            sum += p[c];
        }
        float inv = (float)(1.0 / sum);
        memset(y, 0, (size_t)j->e * sizeof *y);
        for (int64_t c = 0; c < j->t; c++) /* y = p @ V */
            axpy(p[c] * inv, v + c * j->e, y, j->e);
    }
}

static int att_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    const struct ox_tensor *q = in[0], *k = in[1], *v = in[2];
    struct att_job j = {q->data, k->data, v->data, NULL, out[0]->data, c->scratch, q->dims[1], q->dims[2], q->dims[3],
                        k->dims[3], v->dims[3], 0, 0, 0, 0, {0}, (int)n->ip[0], n->fp[0], n->fp[1]};
    int64_t ksz = k->dims[2] * k->dims[3], vsz = v->dims[2] * v->dims[3];
    j.kh = k->dims[1] == 1 ? 0 : ksz;
    j.kb = k->dims[0] == 1 ? 0 : ksz * k->dims[1];
    j.vh = v->dims[1] == 1 ? 0 : vsz;
    j.vb = v->dims[0] == 1 ? 0 : vsz * v->dims[1];
    if (j.mode) {
        int64_t sd[4] = {q->dims[0], q->dims[1], q->dims[2], k->dims[3]};
        j.mask = in[3]->data;
        bcast4(in[3], sd, j.ms);
    }
    int64_t rows = q->dims[0] * q->dims[1] * q->dims[2];
    if (rows == 0 || j.e == 0)
        return 0;
    if (j.t == 0) { /* softmax of nothing: ONNX's graph would give 0 * V = zeros, shape (.., 0) x (0, E) */
        memset(j.y, 0, (size_t)(rows * j.e) * sizeof *j.y);
        return 0;
    }
    ox_parallel(c, rows, 1 + (1 << 14) / (j.t * (j.d + j.e) + 1), att_rows, &j);
    return 0;
}

const struct ox_op ox_op_inferd_attention = {"InferdAttention", 3, 4, 1, 1, att_prepare, att_infer, att_exec, 0,
                                             att_scratch, NULL};
