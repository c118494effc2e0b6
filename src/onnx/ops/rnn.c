/* rnn.c — the recurrent ops RNN, GRU and LSTM (FP32): forward, reverse or bidirectional;
 * layout 0 (X (seq, batch, in)) or 1 (X (batch, seq, in)); optional B, sequence_lens,
 * initial_h, initial_c and LSTM peepholes P; clip; GRU linear_before_reset; LSTM
 * input_forget; the default activations (an `activations` attribute is EUNSUPPORTED).
 *
 *   W (dirs, G*h, in), R (dirs, G*h, h), B (dirs, 2*G*h) with G = 1 (RNN), 3 (GRU: z r h),
 *   4 (LSTM: i o f c); Y (seq, dirs, batch, h), Y_h / Y_c (dirs, batch, h) for layout 0.
 *
 * A sequence shorter than seq (sequence_lens) stops early: its later Y rows are 0 and its
 * state is the one after its last step; the reverse direction starts at its last step.
 * Each step is plain dot products per batch row; these ops run in small models and the
 * conformance suite, not on a hot path. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { ACT_SIGMOID, ACT_TANH, ACT_RELU };
enum { K_RNN, K_GRU, K_LSTM };

#define MAX_ACTS 6 /* 3 per direction (LSTM), two directions */

static inline float act(int a, float x)
{
    switch (a) {
    case ACT_SIGMOID: return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
    case ACT_TANH: return tanhf(x);
    default: return x > 0 ? x : 0.0f;
    }
}

/* ip: [0] kind, [1] directions (1 or 2), [2] reverse-only, [3] hidden, [4] layout,
 *     [5] linear_before_reset / input_forget, [6..7] activation codes packed 4 bits each;
 * fp[0]: clip (0 = none). */
static int rnn_prepare(struct ox_node *n, struct inferd_err *err)
{
    int kind = n->op_type[0] == 'R' ? K_RNN : n->op_type[0] == 'G' ? K_GRU : K_LSTM;
    int per = kind == K_RNN ? 1 : kind == K_GRU ? 2 : 3;
    const struct ox_attr *d = ox_attr_find(n, "direction");
    const char *dir = d && d->s ? d->s : "forward";
    n->ip[0] = kind;
    n->ip[1] = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    n->ip[2] = strcmp(dir, "reverse") == 0;
    if (n->ip[1] == 1 && !n->ip[2] && strcmp(dir, "forward") != 0)
        return inferd_err_set(err, INFERD_EINVAL, "%s: direction '%s' is not forward, reverse or bidirectional",
                              n->op_type, dir);
    n->ip[3] = ox_attr_int(n, "hidden_size", 0);
    if (n->ip[3] <= 0 || n->ip[3] > (1 << 20))
        return inferd_err_set(err, INFERD_EINVAL, "%s: hidden_size must be given, in [1, %d]", n->op_type, 1 << 20);
    n->ip[4] = ox_attr_int(n, "layout", 0);
    n->ip[5] = kind == K_GRU ? ox_attr_int(n, "linear_before_reset", 0) : ox_attr_int(n, "input_forget", 0);
    n->fp[0] = ox_attr_float(n, "clip", 0.0f);
    static const int dflt[3][3] = {{ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_SIGMOID, ACT_TANH, ACT_TANH}};
    int codes[MAX_ACTS];
    for (int i = 0; i < MAX_ACTS; i++)
        codes[i] = dflt[kind][i % per];
    if (ox_attr_find(n, "activations")) /* the decoder keeps no string lists */
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: the activations attribute is not supported (defaults only)",
                              n->op_type);
    n->ip[6] = 0;
    for (int i = 0; i < MAX_ACTS; i++)
        n->ip[6] |= (int64_t)codes[i] << (4 * i);
    return 0;
}

static int rnn_gates(const struct ox_node *n)
{
    return n->ip[0] == K_RNN ? 1 : n->ip[0] == K_GRU ? 3 : 4;
}

static int rnn_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *w = in[1], *r = in[2];
    int64_t h = n->ip[3], dirs = n->ip[1], g = rnn_gates(n);
    if (x->dt != INFERD_FP32 || w->dt != INFERD_FP32 || r->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: only FP32 is supported", n->op_type);
    if (x->rank != 3 || w->rank != 3 || r->rank != 3)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: X, W and R must have rank 3", n->op_type);
    int64_t seq = x->dims[n->ip[4] ? 1 : 0], batch = x->dims[n->ip[4] ? 0 : 1], isz = x->dims[2];
    if (w->dims[0] != dirs || w->dims[1] != g * h || w->dims[2] != isz || r->dims[0] != dirs ||
        r->dims[1] != g * h || r->dims[2] != h)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: W must be (%lld, %lld, %lld) and R (%lld, %lld, %lld)",
                              n->op_type, (long long)dirs, (long long)(g * h), (long long)isz, (long long)dirs,
                              (long long)(g * h), (long long)h);
    static const char *const names[] = {"B", "sequence_lens", "initial_h", "initial_c", "P"};
    const int64_t want[] = {2 * g * h, batch, batch * h, batch * h, 3 * h};
    for (int k = 3; k < n->n_in && k < 8; k++) {
        if (!in[k])
            continue;
        int bad = k == 4 ? in[k]->numel != batch || !ox_dtype_is_int(in[k]->dt)
                         : in[k]->numel != dirs * want[k - 3] || in[k]->dt != INFERD_FP32;
        if (bad)
            return inferd_err_set(err, INFERD_ESHAPE, "%s: input %s has the wrong size or dtype", n->op_type,
                                  names[k - 3]);
    }
    int64_t ydims[4], sdims[3];
    if (n->ip[4]) {
        ydims[0] = batch, ydims[1] = seq, ydims[2] = dirs, ydims[3] = h;
        sdims[0] = batch, sdims[1] = dirs, sdims[2] = h;
    } else {
        ydims[0] = seq, ydims[1] = dirs, ydims[2] = batch, ydims[3] = h;
        sdims[0] = dirs, sdims[1] = batch, sdims[2] = h;
    }
    int rc = 0;
    for (int k = 0; k < n->n_out && rc == 0; k++)
        if (out[k])
            rc = k == 0 ? ox_set_shape(out[0], INFERD_FP32, 4, ydims, err) : ox_set_shape(out[k], INFERD_FP32, 3, sdims, err);
    return rc;
}

/* scratch: H, C (batch*h each), gate pre-activations (g*h), r (.) H (h) */
static size_t rnn_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    int64_t h = n->ip[3], batch = in[0]->dims[n->ip[4] ? 0 : 1];
    return (size_t)(2 * batch * h + rnn_gates(n) * h + h) * sizeof(float);
}

static float clipv(float v, float c)
{
    return c > 0 ? (v > c ? c : v < -c ? -c : v) : v;
}

/* acc[j] += M (rows, k) row j . v (k) for j < rows */
static void matvec_add(float *acc, const float *m, const float *v, int64_t rows, int64_t k)
{
    for (int64_t j = 0; j < rows; j++) {
        float s = 0;
        for (int64_t i = 0; i < k; i++)
            s += m[j * k + i] * v[i];
        acc[j] += s;
    }
}

static int rnn_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    const struct ox_tensor *bt = n->n_in > 3 ? in[3] : NULL, *lens = n->n_in > 4 ? in[4] : NULL;
    const struct ox_tensor *h0 = n->n_in > 5 ? in[5] : NULL, *c0 = n->n_in > 6 ? in[6] : NULL;
    const struct ox_tensor *pt = n->n_in > 7 ? in[7] : NULL;
    int kind = (int)n->ip[0], layout = (int)n->ip[4], g = rnn_gates(n);
    int64_t h = n->ip[3], dirs = n->ip[1], isz = x->dims[2];
    int64_t seq = x->dims[layout ? 1 : 0], batch = x->dims[layout ? 0 : 1];
    float clip = n->fp[0];
    float *H = c->scratch, *C = H + batch * h, *G = C + batch * h, *RH = G + g * h;
    struct ox_tensor *y = n->n_out > 0 ? out[0] : NULL, *yh = n->n_out > 1 ? out[1] : NULL, *yc = n->n_out > 2 ? out[2] : NULL;
    if (y && y->numel)
        memset(y->data, 0, y->nbytes);
    for (int64_t d = 0; d < dirs; d++) {
        int reverse = dirs == 2 ? d == 1 : (int)n->ip[2];
        int a0 = (int)((n->ip[6] >> (4 * (d * (kind + 1)))) & 15), a1 = (int)((n->ip[6] >> (4 * (d * (kind + 1) + 1))) & 15);
        int a2 = (int)((n->ip[6] >> (4 * (d * (kind + 1) + 2))) & 15);
        const float *W = (const float *)in[1]->data + d * g * h * isz, *R = (const float *)in[2]->data + d * g * h * h;
        const float *Wb = bt ? (const float *)bt->data + d * 2 * g * h : NULL, *Rb = Wb ? Wb + g * h : NULL;
        const float *P = pt ? (const float *)pt->data + d * 3 * h : NULL;
        for (int64_t i = 0; i < batch * h; i++) {
            H[i] = h0 ? ((const float *)h0->data)[d * batch * h + i] : 0.0f;
            C[i] = c0 ? ((const float *)c0->data)[d * batch * h + i] : 0.0f;
        }
        for (int64_t b = 0; b < batch; b++) {
            int64_t len = lens ? ox_get_i64(lens, b) : seq;
            if (len < 0 || len > seq)
                return inferd_err_set(err, INFERD_EINVAL, "%s: sequence_lens[%lld] = %lld is outside [0, %lld]",
                                      n->op_type, (long long)b, (long long)len, (long long)seq);
            float *hb = H + b * h, *cb = C + b * h;
            for (int64_t s = 0; s < len; s++) {
                int64_t t = reverse ? len - 1 - s : s;
                const float *xt = (const float *)x->data + (layout ? (b * seq + t) : (t * batch + b)) * isz;
                for (int64_t j = 0; j < g * h; j++)
                    G[j] = (Wb ? Wb[j] : 0.0f) + (Rb && !(kind == K_GRU && j >= 2 * h) ? Rb[j] : 0.0f);
                matvec_add(G, W, xt, g * h, isz);
                if (kind == K_GRU) { /* z and r see H; the h gate is computed below */
                    matvec_add(G, R, hb, 2 * h, h);
                    for (int64_t j = 0; j < 2 * h; j++)
                        G[j] = act(a0, clipv(G[j], clip));
                    const float *z = G, *rg = G + h;
                    float *hh = G + 2 * h;
                    if (n->ip[5]) { /* linear_before_reset: r (.) (H R_h^T + Rb_h) */
                        for (int64_t j = 0; j < h; j++)
                            RH[j] = Rb ? Rb[2 * h + j] : 0.0f;
                        matvec_add(RH, R + 2 * h * h, hb, h, h);
                        for (int64_t j = 0; j < h; j++)
                            hh[j] += rg[j] * RH[j];
                    } else {
                        for (int64_t j = 0; j < h; j++)
                            RH[j] = rg[j] * hb[j];
                        if (Rb)
                            for (int64_t j = 0; j < h; j++)
                                hh[j] += Rb[2 * h + j];
                        matvec_add(hh, R + 2 * h * h, RH, h, h);
                    }
                    for (int64_t j = 0; j < h; j++) {
                        float ht = act(a1, clipv(hh[j], clip));
                        hb[j] = (1.0f - z[j]) * ht + z[j] * hb[j];
                    }
                } else if (kind == K_LSTM) { /* gates i o f c */
                    matvec_add(G, R, hb, g * h, h);
                    float *gi = G, *go = G + h, *gf = G + 2 * h, *gc = G + 3 * h;
                    for (int64_t j = 0; j < h; j++) {
                        float i_ = act(a0, clipv(gi[j] + (P ? P[j] * cb[j] : 0.0f), clip));
                        float f_ = n->ip[5] ? 1.0f - i_ : act(a0, clipv(gf[j] + (P ? P[2 * h + j] * cb[j] : 0.0f), clip));
                        float c_ = act(a1, clipv(gc[j], clip));
                        cb[j] = f_ * cb[j] + i_ * c_;
                        float o_ = act(a0, clipv(go[j] + (P ? P[h + j] * cb[j] : 0.0f), clip));
                        hb[j] = o_ * act(a2, cb[j]);
                    }
                } else {
                    matvec_add(G, R, hb, h, h);
                    for (int64_t j = 0; j < h; j++)
                        hb[j] = act(a0, clipv(G[j], clip));
                }
                if (y) {
                    float *yt = (float *)y->data + (layout ? ((b * seq + t) * dirs + d) * h : ((t * dirs + d) * batch + b) * h);
                    memcpy(yt, hb, (size_t)h * sizeof(float));
                }
            }
        }
        for (int64_t b = 0; b < batch; b++) {
            int64_t at = layout ? (b * dirs + d) * h : (d * batch + b) * h;
            if (yh)
                memcpy((float *)yh->data + at, H + b * h, (size_t)h * sizeof(float));
            if (yc)
                memcpy((float *)yc->data + at, C + b * h, (size_t)h * sizeof(float));
        }
    }
    return 0;
}

const struct ox_op ox_op_rnn = {
    .name = "RNN", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
    .prepare = rnn_prepare, .infer = rnn_infer, .exec = rnn_exec, .scratch = rnn_scratch,
};
const struct ox_op ox_op_gru = {
    .name = "GRU", .min_in = 3, .max_in = 6, .min_out = 0, .max_out = 2,
    .prepare = rnn_prepare, .infer = rnn_infer, .exec = rnn_exec, .scratch = rnn_scratch,
};
const struct ox_op ox_op_lstm = {
    .name = "LSTM", .min_in = 3, .max_in = 8, .min_out = 0, .max_out = 3,
    .prepare = rnn_prepare, .infer = rnn_infer, .exec = rnn_exec, .scratch = rnn_scratch,
};
