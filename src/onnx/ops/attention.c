/* attention.c — InferdAttention, the engine's own fused scaled-dot-product attention, made
 * at load by fuse_transformer.c from MatMul -> Div|Mul -> [Add mask | Where mask] -> Softmax
 * -> MatMul (no ONNX file is expected to name it; its inputs are checked like any op's).
 * Two layouts (attribute `layout`):
 *
 *   0 "heads first": Q (B,H,S,D), Kt (B,H,D,T), V (B,H,T,E) -> Y (B,H,S,E)
 *   1 "heads inside", the tensors before torch's head-split Transposes, and Y before the
 *     merge Transpose: Q (B,S,H,D), K (B,T,H,D), V (B,T,H,E) -> Y (B,S,H,E)
 *   Y[b,h,s,:] = softmax(scale * Q[b,h,s,:] . K[b,h,:,:]^T (+ mask | masked to fill)) @ V[b,h]
 *   (each of Q, K, V, mask: batch and head dims B, H or 1, broadcast as the unfused MatMuls
 *   and Add would; the mask may also repeat a single query row of Q over S)
 *
 * attributes: scale (float), mask_mode (0 none, 1 additive FP32 mask, 2 BOOL mask whose
 * true elements become `fill`, as Where(mask, fill, scores)), layout.
 * Work is split over the pool in blocks of up to 32 query rows of one (b, h); their scores
 * live in the step's scratch (B*H*S*T floats, what the unfused graph's score tensor took), so
 * exec never allocates. Scores: layout 1 reads K's rows (T, D) with stride H*D, exactly the
 * (N, K) operand of the skinny GEMM (gemm_nt.h, AVX2 when the CPU has it); layout 0 is a
 * cblas_sgemm with Kt. Then a max-subtracted softmax per row (vmath_exp), and Y rows = P @ V
 * by gemm_nt.h's in-place small GEMM (AVX-512 / AVX2) reading V with its row stride
 * (cblas_sgemm on CPUs without AVX2). */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "base/cpu.h"
#include "base/vmath.h"
#include "onnx/gemm_nt.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

#define ROWS 32 /* query rows per work item */

static int att_prepare(struct ox_node *n, struct inferd_err *err)
{
    n->fp[0] = ox_attr_float(n, "scale", 1.0f);
    n->fp[1] = ox_attr_float(n, "fill", -INFINITY);
    n->ip[0] = ox_attr_int(n, "mask_mode", 0);
    n->ip[1] = ox_attr_int(n, "layout", 0);
    n->ip[2] = cpu_has(CPU_AVX2 | CPU_FMA) != 0;
    if (n->ip[1] != 0 && n->ip[1] != 1)
        return inferd_err_set(err, INFERD_EINVAL, "InferdAttention: layout %lld is not 0 or 1", (long long)n->ip[1]);
    if (n->ip[0] < 0 || n->ip[0] > 2)
        return inferd_err_set(err, INFERD_EINVAL, "InferdAttention: mask_mode %lld is not 0, 1 or 2",
                              (long long)n->ip[0]);
    if ((n->ip[0] != 0) != (n->n_in == 4 && n->in[3] >= 0))
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

/* The logical (B,H,S,D) dims of Q, (B,H,D,T) of Kt and (B,H,T,E) of V, whatever the layout. */
static void logical(const struct ox_node *n, struct ox_tensor *const *in, int64_t q[4], int64_t k[4], int64_t v[4])
{
    const int64_t *qd = in[0]->dims, *kd = in[1]->dims, *vd = in[2]->dims;
    if (n->ip[1] == 0) {
        memcpy(q, qd, 4 * sizeof *q);
        memcpy(k, kd, 4 * sizeof *k);
        memcpy(v, vd, 4 * sizeof *v);
        return;
    }
    int64_t lq[4] = {qd[0], qd[2], qd[1], qd[3]}, lk[4] = {kd[0], kd[2], kd[3], kd[1]}, lv[4] = {vd[0], vd[2], vd[1], vd[3]};
    memcpy(q, lq, sizeof lq);
    memcpy(k, lk, sizeof lk);
    memcpy(v, lv, sizeof lv);
}

/* The scores' dims (B, H, S, T): Q . Kt broadcast over batch and heads, then with the mask
 * (as the unfused MatMul -> Add -> Softmax -> MatMul broadcasts them); -1 when they do not. */
static int att_dims(const struct ox_node *n, struct ox_tensor *const *in, int64_t sd[4], struct inferd_err *err)
{
    int64_t q[4], k[4], v[4], md[4] = {1, 1, 1, 1};
    logical(n, in, q, k, v);
    if (n->ip[0]) {
        const struct ox_tensor *mk = in[3];
        if (mk->rank > 4)
            return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: the mask has rank %d (at most 4)", mk->rank);
        for (int d = 0; d < mk->rank; d++)
            md[4 - mk->rank + d] = mk->dims[d];
    }
    for (int d = 0; d < 2; d++) {
        int64_t m = q[d] > k[d] ? q[d] : k[d];
        m = v[d] > m ? v[d] : m;
        m = md[d] > m ? md[d] : m;
        if ((q[d] != m && q[d] != 1) || (k[d] != m && k[d] != 1) || (v[d] != m && v[d] != 1))
            return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: Q, K and V %s dims (%lld, %lld, %lld) do not broadcast",
                                  d ? "head" : "batch", (long long)q[d], (long long)k[d], (long long)v[d]);
        sd[d] = m;
    }
    if (k[2] != q[3] || v[2] != k[3])
        return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: Q (.., %lld, %lld), Kt (.., %lld, %lld), V (.., %lld, ..)",
                              (long long)q[2], (long long)q[3], (long long)k[2], (long long)k[3], (long long)v[2]);
    sd[2] = md[2] > q[2] && q[2] == 1 ? md[2] : q[2]; /* a mask may repeat a single query row */
    sd[3] = k[3];
    if (n->ip[0]) {
        int64_t st[4];
        if (in[3]->dt != (n->ip[0] == 1 ? INFERD_FP32 : INFERD_BOOL) || bcast4(in[3], sd, st) < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "InferdAttention: the mask does not broadcast to the scores");
    }
    return 0;
}

static int att_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32 || in[1]->dt != INFERD_FP32 || in[2]->dt != INFERD_FP32 || in[0]->rank != 4 ||
        in[1]->rank != 4 || in[2]->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdAttention: Q, K, V must be FP32 of rank 4");
    int64_t sd[4];
    if (att_dims(n, in, sd, err) < 0)
        return -1;
    int64_t od[4] = {sd[0], sd[1], sd[2], in[2]->dims[3]}; /* E is V's last dim in both layouts */
    if (n->ip[1] == 1) {
        od[1] = sd[2];
        od[2] = sd[1];
    }
    return ox_set_shape(out[0], INFERD_FP32, 4, od, err);
}

static size_t att_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    int64_t sd[4];
    struct inferd_err err = {0};
    if (att_dims(n, in, sd, &err) < 0)
        return 0;
    return (size_t)(sd[0] * sd[1] * sd[2] * sd[3]) * sizeof(float);
}

struct att_job {
    const float *q, *k, *v;
    const void *mask;
    float *y, *scores;
    int64_t h, s, d, t, e;
    /* element strides: [0] batch, [1] head, [2] row (query s / key t / value t) of Q, K, V, Y;
     * K's and V's batch / head strides are 0 when shared. kd: stride of K along D (layout 0:
     * Kt's rows; layout 1: 1, K's rows are then contiguous D-vectors). */
    int64_t qs[3], ks[3], vs[3], ys[3], kd;
    int64_t ms[4]; /* mask strides */
    int mode, layout, avx2, nn_isa; /* nn_isa: ox_gemm_pk_isa() for P @ V, 0: BLAS */
    float scale, fill;
};

/* query rows [i0, i1) of head (b, hd) */
static void att_block(const struct att_job *j, int64_t b, int64_t hd, int64_t i0, int64_t i1)
{
    const float *q = j->q + b * j->qs[0] + hd * j->qs[1], *k = j->k + b * j->ks[0] + hd * j->ks[1];
    const float *v = j->v + b * j->vs[0] + hd * j->vs[1];
    float *sc = j->scores + ((b * j->h + hd) * j->s) * j->t, *y = j->y + b * j->ys[0] + hd * j->ys[1];
    /* a Q of one row repeated over S (the mask has the rows): its scores once, then copied */
    int64_t e1 = j->qs[2] == 0 ? i0 + 1 : i1;
    int m = (int)(e1 - i0);
    if (j->layout == 1) { /* scores (rows, T) = scale * Q rows (lda) @ K (T, D; ldb)^T */
        struct ox_gemm_nt g = {q, k, sc, j->d, j->qs[2], j->ks[2], j->t, j->scale, 0};
        if (j->avx2)
            ox_gemm_nt_avx2(&g, i0, e1, 0, j->t);
        else
            ox_gemm_nt_ref(&g, i0, e1, 0, j->t);
    } else if (j->d == 0) { /* empty dot products (BLAS refuses lda 0) */
        memset(sc + i0 * j->t, 0, (size_t)m * (size_t)j->t * sizeof *sc);
    } else { /* scores = scale * Q rows @ Kt (D, T) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)j->t, (int)j->d, j->scale, q + i0 * j->qs[2],
                    (int)(j->qs[2] ? j->qs[2] : j->d), k, (int)j->kd, 0.0f, sc + i0 * j->t, (int)j->t);
    }
    for (int64_t i = e1; i < i1; i++)
        memcpy(sc + i * j->t, sc + i0 * j->t, (size_t)j->t * sizeof *sc);
    m = (int)(i1 - i0);
    for (int64_t i = i0; i < i1; i++) {
        float *p = sc + i * j->t;
        int64_t mo = b * j->ms[0] + hd * j->ms[1] + i * j->ms[2];
        if (j->mode == 1) { /* branch-free loops the compiler vectorises */
            const float *mk = (const float *)j->mask + mo;
            if (j->ms[3] == 1)
                for (int64_t c = 0; c < j->t; c++)
                    p[c] += mk[c];
            else
                for (int64_t c = 0; c < j->t; c++)
                    p[c] += mk[c * j->ms[3]];
        } else if (j->mode == 2) {
            const unsigned char *mk = (const unsigned char *)j->mask + mo;
            for (int64_t c = 0; c < j->t; c++)
                p[c] = mk[c * j->ms[3]] ? j->fill : p[c];
        }
        float mx = p[0];
        for (int64_t c = 1; c < j->t; c++)
            mx = p[c] > mx ? p[c] : mx;
        for (int64_t c = 0; c < j->t; c++)
            p[c] -= mx;
        vmath_exp(p, p, (size_t)j->t); /* AVX-512 / AVX2 where the CPU has them */
        double sum = 0;
        for (int64_t c = 0; c < j->t; c++)
            sum += p[c];
        float inv = (float)(1.0 / sum);
        for (int64_t c = 0; c < j->t; c++)
            p[c] *= inv;
    }
    /* Y rows = P rows (T) @ V (T, E; row stride vs[2]) */
    if (j->nn_isa) { /* no BLAS call overhead for the small per-head products */
        struct ox_gemm_nn g = {sc + i0 * j->t, v, y + i0 * j->ys[2], m, j->e, j->t, j->t, j->vs[2], j->ys[2]};
        ox_gemm_nn_run(j->nn_isa, &g);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)j->e, (int)j->t, 1.0f, sc + i0 * j->t, (int)j->t, v,
                (int)j->vs[2], 0.0f, y + i0 * j->ys[2], (int)j->ys[2]);
}

static void att_items(void *arg, int64_t lo, int64_t hi)
{
    const struct att_job *j = arg;
    int64_t nb = (j->s + ROWS - 1) / ROWS;
    for (int64_t w = lo; w < hi; w++) {
        int64_t bh = w / nb, i0 = w % nb * ROWS, i1 = i0 + ROWS < j->s ? i0 + ROWS : j->s;
        att_block(j, bh / j->h, bh % j->h, i0, i1);
    }
}

static int att_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    int64_t q[4], k[4], v[4], sd[4];
    logical(n, in, q, k, v);
    if (att_dims(n, in, sd, err) < 0)
        return -1;
    int64_t hh = sd[1], ss = sd[2], e = v[3];
    struct att_job j = {.q = in[0]->data, .k = in[1]->data, .v = in[2]->data, .y = out[0]->data, .scores = c->scratch,
                        .h = hh, .s = ss, .d = q[3], .t = k[3], .e = e, .mode = (int)n->ip[0],
                        .layout = (int)n->ip[1], .avx2 = (int)n->ip[2], .nn_isa = ox_gemm_pk_isa(), .scale = n->fp[0], .fill = n->fp[1]};
    if (j.layout == 0) { /* (B,H,S,D), Kt (B,H,D,T), V (B,H,T,E), Y (B,H,S,E) */
        int64_t qs[3] = {q[1] * q[2] * q[3], q[2] * q[3], q[3]}, ys[3] = {hh * ss * e, ss * e, e};
        int64_t ks[3] = {k[1] * k[2] * k[3], k[2] * k[3], 0}, vs[3] = {v[1] * v[2] * v[3], v[2] * v[3], v[3]};
        memcpy(j.qs, qs, sizeof qs), memcpy(j.ys, ys, sizeof ys), memcpy(j.ks, ks, sizeof ks), memcpy(j.vs, vs, sizeof vs);
        j.kd = k[3];
    } else { /* (B,S,H,D), K (B,T,H,D), V (B,T,H,E), Y (B,S,H,E) */
        int64_t qs[3] = {q[2] * q[1] * q[3], q[3], q[1] * q[3]}, ys[3] = {ss * hh * e, e, hh * e};
        int64_t ks[3] = {k[3] * k[1] * k[2], k[2], k[1] * k[2]}, vs[3] = {v[2] * v[1] * v[3], v[3], v[1] * v[3]};
        memcpy(j.qs, qs, sizeof qs), memcpy(j.ys, ys, sizeof ys), memcpy(j.ks, ks, sizeof ks), memcpy(j.vs, vs, sizeof vs);
        j.kd = 1;
    }
    /* dims of 1 broadcast (the unfused MatMuls and Add would repeat them) */
    for (int d = 0; d < 2; d++) {
        if (q[d] == 1)
            j.qs[d] = 0;
        if (k[d] == 1)
            j.ks[d] = 0;
        if (v[d] == 1)
            j.vs[d] = 0;
    }
    if (q[2] == 1 && ss > 1)
        j.qs[2] = 0;
    if (j.mode) {
        j.mask = in[3]->data;
        bcast4(in[3], sd, j.ms);
    }
    int64_t rows = sd[0] * hh * ss;
    if (rows == 0 || j.e == 0)
        return 0;
    if (j.t == 0) { /* softmax of nothing: ONNX's graph would give (.., 0) x (0, E) = zeros */
        memset(j.y, 0, (size_t)(rows * j.e) * sizeof *j.y);
        return 0;
    }
    /* an item is min(S, ROWS) query rows (a ViT's 17 tokens: 17, not 32); a thread pays for
     * its wake-up and join from ~2^16 multiply-adds (~10 us here: the softmax's exps too), so
     * a batch-1 ViT (4 heads, each 17 x 17 x (16 + 16)) stays on one thread */
    int64_t items = sd[0] * hh * ((j.s + ROWS - 1) / ROWS), item_rows = j.s < ROWS ? j.s : ROWS;
    ox_parallel(c, items, 1 + (1 << 16) / (item_rows * j.t * (j.d + j.e) + 1), att_items, &j);
    return 0;
}

const struct ox_op ox_op_inferd_attention = {
    .name = "InferdAttention", .min_in = 3, .max_in = 4, .min_out = 1, .max_out = 1,
    .prepare = att_prepare, .infer = att_infer, .exec = att_exec, .scratch = att_scratch,
};
