/* forward.c — the generic decoder block (RMSNorm -> QKV (+bias) -> RoPE -> causal attention
 * over the paged KV cache -> output projection -> RMSNorm -> gated FFN, dense or mixture of
 * experts) evaluated for a whole batch of tokens from any mix of sequences; per-architecture
 * differences come from struct llm_arch / llm_hparams (sliding window, soft-capping, post
 * norms, embedding scale, GELU). Nothing here allocates.
 *
 * Rounding follows llama.cpp's CPU backend, so that greedy output matches it token for
 * token (attention's rounding: attention.c); GELU goes through f16. */
#include <math.h>
#include <string.h>

#include "base/tpool.h"
#include "llm/kernels/fp16.h"
#include "llm/llm_int.h"

/* out (n,) = x / sqrt(mean(x^2) + eps) * w   (sum in double, as ggml does) */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * scale * w[i];
}

/* 1 - clamp((i - lo) / (hi - lo), 0, 1): YaRN's blend from extrapolated (fast dims) to
 * interpolated angles (ggml's rope_yarn_ramp). */
static float yarn_ramp(float lo, float hi, int i)
{
    float y = ((float)i - lo) / fmaxf(0.001f, hi - lo);
    return 1.f - fminf(1.f, fmaxf(0.f, y));
}

/* cos/sin of the n_rot/2 rotation angles of position pos, as ggml's rope cache computes them:
 * theta_i = pos * base^(-2i/n_rot) by repeated multiplication in float, divided by the
 * per-dimension factor ff[i] (Llama 3 rope_freqs, LongRoPE), times freq_scale (linear), or
 * YaRN's blend of the two with its magnitude correction; cos/sin scaled by attn_factor. */
void llm_rope_angles(const struct llm_hparams *hp, const float *freq_factors, int pos, float *cs, float *sn)
{
    float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos, mscale = hp->rope_attn_factor;
    if (hp->yarn_ext_factor != 0.f)
        mscale *= 1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale);
    for (int i = 0; i < hp->n_rot / 2; i++) {
        float extrap = freq_factors ? theta / freq_factors[i] : theta;
        float th = hp->rope_freq_scale * extrap;
        if (hp->yarn_ext_factor != 0.f) {
            float mix = yarn_ramp(hp->yarn_lo, hp->yarn_hi, i) * hp->yarn_ext_factor;
            th = th * (1 - mix) + extrap * mix;
        }
        cs[i] = cosf(th) * mscale;
        sn[i] = sinf(th) * mscale;
        theta *= theta_scale;
    }
}

/* Rotates the first n_rot dims of each of n_heads vectors of head_dim floats. */
static void rope_apply(const struct llm_hparams *hp, float *v, int n_heads, const float *cs, const float *sn)
{
    int half = hp->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *x = v + (size_t)h * hp->head_dim;
        for (int i = 0; i < half; i++) {
            int i0 = hp->rope_neox ? i : 2 * i, i1 = hp->rope_neox ? i + half : 2 * i + 1;
            float x0 = x[i0], x1 = x[i1];
            x[i0] = x0 * cs[i] - x1 * sn[i];
            x[i1] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

static void add_bias(float *y, const struct llm_weight *b, int n_tok, int dim)
{
    if (!b->data)
        return;
    const float *bv = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < dim; i++)
            y[(size_t)t * dim + i] += bv[i];
}

/* gate (n, F) = act(gate) * up, with llama.cpp's activations: SiLU in float; GELU (tanh
 * approximation) through ggml's f16 table: input and result rounded to f16, saturating
 * outside [-10, 10]. */
static void ffn_act(const struct llm_hparams *hp, float *gate, const float *up, size_t n)
{
    if (hp->ffn_act == LLM_ACT_GELU) {
        for (size_t i = 0; i < n; i++) {
            float x = gate[i], y;
            if (x <= -10.0f) {
                y = 0.0f;
            } else if (x >= 10.0f) {
                y = x;
            } else {
                float h = fp16_round(x);
                y = fp16_round(0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h *
                                                       (1.0f + 0.044715f * h * h))));
            }
            gate[i] = y * up[i];
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* Mixture of experts on the normalised rows xn (n, E) -> out (n, E): router softmax over
 * n_expert, the n_expert_used most probable chosen and their weights renormalised to sum 1
 * (Mixtral), then for each expert the rows routed to it gathered into one batch so its
 * matrices are streamed once per batch, and each row's expert outputs summed by weight in
 * the order of the choice (as llama.cpp adds them). */
static void moe_ffn(struct inferd_llm_ctx *c, const struct llm_layer *L, int n, float *out)
{
    const struct llm_hparams *hp = &c->m->hp;
    const int E = hp->n_embd, F = hp->n_ff, X = hp->n_expert, K = hp->n_expert_used;
    struct llm_mm_job router = {&L->gate_inp, c->moe_probs, X};
    llm_matmul(c, c->xn, n, &router, 1);
    for (int t = 0; t < n; t++) {
        float *p = c->moe_probs + (size_t)t * X, mx = -INFINITY;
        for (int e = 0; e < X; e++)
            mx = fmaxf(mx, p[e]);
        double sum = 0;
        for (int e = 0; e < X; e++) {
            p[e] = expf(p[e] - mx);
            sum += p[e];
        }
        float inv = (float)(1.0 / sum);
        for (int e = 0; e < X; e++)
            p[e] *= inv;
        int32_t *sel = c->moe_sel + (size_t)t * K;
        float *w = c->moe_w + (size_t)t * K;
        double wsum = 0;
        for (int k = 0; k < K; k++) { /* top-K by selection; the first index wins ties */
            int best = -1;
            for (int e = 0; e < X; e++) {
                int taken = 0;
                for (int kk = 0; kk < k; kk++)
                    taken |= sel[kk] == e;
                if (!taken && (best < 0 || p[e] > p[best]))
                    best = e;
            }
            sel[k] = best;
            w[k] = p[best];
            wsum += w[k];
        }
        for (int k = 0; k < K; k++)
            w[k] = w[k] / (float)wsum;
    }
    for (int e = 0; e < X; e++) {
        int ne = 0;
        for (int t = 0; t < n; t++)
            for (int k = 0; k < K; k++)
                if (c->moe_sel[(size_t)t * K + k] == e) {
                    memcpy(c->moe_x + (size_t)ne * E, c->xn + (size_t)t * E, sizeof(float) * E);
                    c->moe_rows[ne++] = t * K + k;
                }
        if (ne == 0)
            continue;
        struct llm_weight wg = llm_weight_rows(&L->gate_exps, (int64_t)e * F, F),
                          wu = llm_weight_rows(&L->up_exps, (int64_t)e * F, F),
                          wd = llm_weight_rows(&L->down_exps, (int64_t)e * E, E);
        struct llm_mm_job gu[2] = {{&wg, c->gate, F}, {&wu, c->up, F}};
        llm_matmul(c, c->moe_x, ne, gu, 2);
        ffn_act(hp, c->gate, c->up, (size_t)ne * F);
        struct llm_mm_job down = {&wd, c->moe_x, E}; /* the gathered inputs are spent */
        llm_matmul(c, c->gate, ne, &down, 1);
        for (int r = 0; r < ne; r++)
            memcpy(c->moe_out + (size_t)c->moe_rows[r] * E, c->moe_x + (size_t)r * E, sizeof(float) * E);
    }
    for (int t = 0; t < n; t++) {
        float *o = out + (size_t)t * E;
        for (int k = 0; k < K; k++) {
            const float *y = c->moe_out + ((size_t)t * K + k) * E;
            float w = c->moe_w[(size_t)t * K + k];
            for (int i = 0; i < E; i++)
                o[i] = k == 0 ? y[i] * w : o[i] + y[i] * w;
        }
    }
}

/* The per-token steps between the matrix products. For a prompt they are a few % of a
 * layer's work, and on the calling thread alone they would keep the other threads idle
 * (Amdahl: 4.5 % of one thread's time is 9 % of two threads'), so prompt batches (more than
 * LLM_PAR_MAX_TOK tokens) of at least FW_PAR_MIN_FLOATS values split them over the pool by
 * tokens. Each token is computed the same way whichever thread takes it: the result does not
 * depend on the split. */
#define FW_PAR_MIN_FLOATS (1 << 15)

enum fw_step {
    FW_ATTN_NORM,  /* xn = rmsnorm(x) */
    FW_QKV_POST,   /* q, k, v biases, RoPE, q scaling, k and v into the cache */
    FW_ATTN_OUT,   /* xn = post_attn_norm(xn); x += xn; xn = rmsnorm(x) (FFN norm) */
    FW_FFN_ACT,    /* gate = act(gate) * up */
    FW_FFN_OUT,    /* xn = post_ffn_norm(xn); x += xn */
};

struct fw_args {
    struct inferd_llm_ctx *c;
    const struct inferd_llm_batch *b;
    int l;                         /* layer */
    enum fw_step step;
};

/* Tokens [t0, t1) of one step of layer l. */
static void fw_tokens(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int l, enum fw_step step, int t0,
                      int t1)
{
    const struct llm_hparams *hp = &c->m->hp;
    const struct llm_layer *L = &c->m->layers[l];
    const int E = hp->n_embd, hd = hp->head_dim, F = hp->n_ff;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    switch (step) {
    case FW_ATTN_NORM:
        for (int t = t0; t < t1; t++)
            rmsnorm(c->xn + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm.data, E, hp->eps);
        break;
    case FW_QKV_POST: {
        add_bias(c->q + (size_t)t0 * q_dim, &L->bq, t1 - t0, q_dim);
        add_bias(c->k + (size_t)t0 * kv_dim, &L->bk, t1 - t0, kv_dim);
        add_bias(c->v + (size_t)t0 * kv_dim, &L->bv, t1 - t0, kv_dim);
        float cs[512], sn[512]; /* n_rot <= 1024 is checked at load */
        for (int t = t0; t < t1; t++) {
            float *q = c->q + (size_t)t * q_dim;
            llm_rope_angles(hp, c->rope_ff, b->pos[t], cs, sn);
            rope_apply(hp, q, hp->n_head, cs, sn);
            rope_apply(hp, c->k + (size_t)t * kv_dim, hp->n_head_kv, cs, sn);
            if (hp->q_scale_pre)
                for (int i = 0; i < q_dim; i++)
                    q[i] *= hp->q_scale;
            int cell = kv_cell(&c->kv, b->seq[t], b->pos[t]);
            c->kv.ops->store(c->k + (size_t)t * kv_dim, kv_k(&c->kv, l, cell), kv_dim);
            c->kv.ops->store(c->v + (size_t)t * kv_dim, kv_v(&c->kv, l, cell), kv_dim);
        }
        break;
    }
    case FW_ATTN_OUT:
        for (int t = t0; t < t1; t++) {
            float *xn = c->xn + (size_t)t * E, *x = c->x + (size_t)t * E;
            if (L->post_attn_norm.data)
                rmsnorm(xn, xn, L->post_attn_norm.data, E, hp->eps);
            for (int i = 0; i < E; i++)
                x[i] += xn[i];
            rmsnorm(xn, x, L->ffn_norm.data, E, hp->eps);
        }
        break;
    case FW_FFN_ACT:
        ffn_act(hp, c->gate + (size_t)t0 * F, c->up + (size_t)t0 * F, (size_t)(t1 - t0) * F);
        break;
    case FW_FFN_OUT:
        for (int t = t0; t < t1; t++) {
            float *xn = c->xn + (size_t)t * E, *x = c->x + (size_t)t * E;
            if (L->post_ffn_norm.data)
                rmsnorm(xn, xn, L->post_ffn_norm.data, E, hp->eps);
            for (int i = 0; i < E; i++)
                x[i] += xn[i];
        }
        break;
    }
}

static void fw_part(void *ctx, int ith, int nth)
{
    const struct fw_args *a = ctx;
    int n = a->b->n;
    fw_tokens(a->c, a->b, a->l, a->step, (int)((int64_t)n * ith / nth), (int)((int64_t)n * (ith + 1) / nth));
}

/* One step for the whole batch: on the pool when it has width floats per token for enough
 * tokens, else on the calling thread. */
static void fw_step(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int l, enum fw_step step, int width)
{
    struct fw_args a = {c, b, l, step};
    /* generation steps (<= LLM_PAR_MAX_TOK tokens) stay inline: gen_par.c picks their threads */
    if (b->n <= LLM_PAR_MAX_TOK || (int64_t)b->n * width < FW_PAR_MIN_FLOATS || llm_par_threads(c) == 1)
        fw_tokens(c, b, l, step, 0, b->n);
    else
        llm_par_run(c, fw_part, &a);
}

static void layer_forward(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int l)
{
    const struct inferd_llm_model *m = c->m;
    const struct llm_hparams *hp = &m->hp;
    const struct llm_layer *L = &m->layers[l];
    const int n = b->n, E = hp->n_embd, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd, F = hp->n_ff;

    fw_step(c, b, l, FW_ATTN_NORM, E);
    struct llm_mm_job qkv[3] = {{&L->wq, c->q, q_dim}, {&L->wk, c->k, kv_dim}, {&L->wv, c->v, kv_dim}};
    llm_matmul(c, c->xn, n, qkv, 3);
    fw_step(c, b, l, FW_QKV_POST, q_dim + 2 * kv_dim);

    llm_attention(c, b, l);

    struct llm_mm_job wo = {&L->wo, c->xn, E};
    llm_matmul(c, c->att, n, &wo, 1);
    fw_step(c, b, l, FW_ATTN_OUT, E);
    if (hp->n_expert > 0) {
        moe_ffn(c, L, n, c->xn);
    } else {
        struct llm_mm_job gu[2] = {{&L->w_gate, c->gate, F}, {&L->w_up, c->up, F}};
        llm_matmul(c, c->xn, n, gu, 2);
        fw_step(c, b, l, FW_FFN_ACT, F);
        struct llm_mm_job down = {&L->w_down, c->xn, E};
        llm_matmul(c, c->gate, n, &down, 1);
    }
    fw_step(c, b, l, FW_FFN_OUT, E);
}

int llm_forward(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, const int8_t *want,
                struct inferd_err *err)
{
    const struct inferd_llm_model *m = c->m;
    const struct llm_hparams *hp = &m->hp;
    const int n = b->n, E = hp->n_embd;
    (void)err;

    llm_par_begin(c, n);
    for (int t = 0; t < n; t++) {
        float *x = c->x + (size_t)t * E;
        m->tok_embd.k->dequant_row((const unsigned char *)m->tok_embd.data +
                                       (size_t)b->tokens[t] * m->tok_embd.row_bytes,
                                   x, E);
        if (hp->embd_scale != 1.f)
            for (int i = 0; i < E; i++)
                x[i] *= hp->embd_scale;
    }
    for (int l = 0; l < hp->n_layer; l++)
        layer_forward(c, b, l);

    /* final norm: all rows for embeddings, the wanted rows (compacted) for logits */
    int n_sel = 0;
    for (int t = 0; t < n; t++) {
        c->row_logit[t] = -1;
        if (c->want_emb)
            rmsnorm(c->emb + (size_t)t * E, c->x + (size_t)t * E, m->output_norm.data, E, hp->eps);
        if (want[t]) {
            rmsnorm(c->xn + (size_t)n_sel * E, c->x + (size_t)t * E, m->output_norm.data, E, hp->eps);
            c->row_logit[t] = n_sel++;
        }
    }
    if (n_sel > 0) {
        struct llm_mm_job out = {&m->output, c->logits, hp->n_vocab};
        llm_matmul(c, c->xn, n_sel, &out, 1);
        if (hp->final_softcap > 0) {
            const float cap = hp->final_softcap;
            for (size_t i = 0; i < (size_t)n_sel * hp->n_vocab; i++)
                c->logits[i] = tanhf(c->logits[i] * (1.0f / cap)) * cap;
        }
    }
    c->n_rows = n;
    llm_par_end(c);
    return 0;
}
