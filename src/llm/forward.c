/* forward.c — the generic decoder block (RMSNorm -> QKV (+bias) -> RoPE -> causal attention
 * over the paged KV cache -> output projection -> RMSNorm -> SwiGLU FFN) evaluated for a
 * whole batch of tokens from any mix of sequences; per-architecture differences come from
 * struct llm_arch / llm_hparams. Nothing here allocates. */
#include <math.h>
#include <string.h>

#include "base/tpool.h"
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

/* cos/sin of the n_rot/2 rotation angles of position pos (theta_i = pos * s * base^(-2i/n_rot),
 * computed by repeated multiplication in float like llama.cpp, so results match closely). */
static void rope_angles(const struct llm_hparams *hp, const float *freq_factors, int pos, float *cs, float *sn)
{
    float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        float th = theta * hp->rope_freq_scale;
        if (freq_factors)
            th = theta / freq_factors[i] * hp->rope_freq_scale;
        cs[i] = cosf(th);
        sn[i] = sinf(th);
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

struct att_args {
    struct inferd_llm_ctx *c;
    const struct inferd_llm_batch *b;
    int layer;
};

/* att (n_tok, n_head*hd): for each (token, head), softmax(q . K^T / sqrt(hd)) @ V over the
 * token's sequence, positions 0..pos. Parallel over (token, head) pairs. */
static void att_part(void *ctx, int ith, int nth)
{
    struct att_args *a = ctx;
    struct inferd_llm_ctx *c = a->c;
    const struct llm_hparams *hp = &c->m->hp;
    const struct kv_cache *kv = &c->kv;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = c->scores + (size_t)ith * kv->n_cells;
    int total = a->b->n * hp->n_head;
    int i0 = (int)((int64_t)total * ith / nth), i1 = (int)((int64_t)total * (ith + 1) / nth);
    for (int idx = i0; idx < i1; idx++) {
        int t = idx / hp->n_head, h = idx % hp->n_head;
        int s = a->b->seq[t], p = a->b->pos[t];
        size_t koff = (size_t)(h / group) * hd * kv->elem;
        const float *qv = c->q + (size_t)t * q_dim + (size_t)h * hd;
        float *out = c->att + (size_t)t * q_dim + (size_t)h * hd;
        float mx = -INFINITY;
        for (int j = 0; j <= p; j++) {
            const unsigned char *kr = kv_k(kv, a->layer, kv_cell(kv, s, j));
            sc[j] = kv->ops->dot(qv, kr + koff, hd) * scale;
            if (sc[j] > mx)
                mx = sc[j];
        }
        double sum = 0;
        for (int j = 0; j <= p; j++) {
            sc[j] = expf(sc[j] - mx);
            sum += sc[j];
        }
        float inv = (float)(1.0 / sum);
        memset(out, 0, sizeof(float) * hd);
        for (int j = 0; j <= p; j++) {
            const unsigned char *vr = kv_v(kv, a->layer, kv_cell(kv, s, j));
            kv->ops->axpy(out, sc[j] * inv, vr + koff, hd);
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

static void layer_forward(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int l)
{
    const struct inferd_llm_model *m = c->m;
    const struct llm_hparams *hp = &m->hp;
    const struct llm_layer *L = &m->layers[l];
    const int n = b->n, E = hp->n_embd, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd, F = hp->n_ff;

    for (int t = 0; t < n; t++)
        rmsnorm(c->xn + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm.data, E, hp->eps);
    struct llm_mm_job qkv[3] = {{&L->wq, c->q, q_dim}, {&L->wk, c->k, kv_dim}, {&L->wv, c->v, kv_dim}};
    llm_matmul(c, c->xn, n, qkv, 3);
    add_bias(c->q, &L->bq, n, q_dim);
    add_bias(c->k, &L->bk, n, kv_dim);
    add_bias(c->v, &L->bv, n, kv_dim);

    float cs[512], sn[512]; /* n_rot <= 1024 is checked at load */
    const float *ff = m->rope_freqs;
    for (int t = 0; t < n; t++) {
        rope_angles(hp, ff, b->pos[t], cs, sn);
        rope_apply(hp, c->q + (size_t)t * q_dim, hp->n_head, cs, sn);
        rope_apply(hp, c->k + (size_t)t * kv_dim, hp->n_head_kv, cs, sn);
        int cell = kv_cell(&c->kv, b->seq[t], b->pos[t]);
        c->kv.ops->store(c->k + (size_t)t * kv_dim, kv_k(&c->kv, l, cell), kv_dim);
        c->kv.ops->store(c->v + (size_t)t * kv_dim, kv_v(&c->kv, l, cell), kv_dim);
    }

    struct att_args aa = {c, b, l};
    int64_t att_work = 0; /* multiply-adds: below ~64K the pool costs more than it saves */
    for (int t = 0; t < n; t++)
        att_work += (int64_t)(b->pos[t] + 1) * q_dim * 2;
    if (att_work < (1 << 16))
        att_part(&aa, 0, 1);
    else
        tpool_parallel_for(c->pool, att_part, &aa);

    struct llm_mm_job wo = {&L->wo, c->xn, E};
    llm_matmul(c, c->att, n, &wo, 1);
    for (size_t i = 0; i < (size_t)n * E; i++)
        c->x[i] += c->xn[i];

    for (int t = 0; t < n; t++)
        rmsnorm(c->xn + (size_t)t * E, c->x + (size_t)t * E, L->ffn_norm.data, E, hp->eps);
    struct llm_mm_job gu[2] = {{&L->w_gate, c->gate, F}, {&L->w_up, c->up, F}};
    llm_matmul(c, c->xn, n, gu, 2);
    for (size_t i = 0; i < (size_t)n * F; i++) {
        float g = c->gate[i];
        c->gate[i] = g / (1.0f + expf(-g)) * c->up[i];
    }
    struct llm_mm_job down = {&L->w_down, c->xn, E};
    llm_matmul(c, c->gate, n, &down, 1);
    for (size_t i = 0; i < (size_t)n * E; i++)
        c->x[i] += c->xn[i];
}

int llm_forward(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, const int8_t *want,
                struct inferd_err *err)
{
    const struct inferd_llm_model *m = c->m;
    const struct llm_hparams *hp = &m->hp;
    const int n = b->n, E = hp->n_embd;
    (void)err;

    for (int t = 0; t < n; t++)
        m->tok_embd.k->dequant_row((const unsigned char *)m->tok_embd.data +
                                       (size_t)b->tokens[t] * m->tok_embd.row_bytes,
                                   c->x + (size_t)t * E, E);
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
    }
    c->n_rows = n;
    return 0;
}
