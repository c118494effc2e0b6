/* attention.c — causal attention over the paged KV cache, blocked over keys (flash-attention
 * style): a work item is a block of queries — up to ATT_QMAX, consecutive tokens of one
 * sequence times the query heads that share one KV head (GQA) — and it walks the keys of its
 * positions in tiles of ATT_TILE: q.K for the whole block (each K row loaded once for every
 * query of the block), soft-cap, scale and mask, then p.V (each V row loaded once for the
 * block). Nothing here allocates: the tiles live in the context's per-thread scratch.
 *
 * Two softmax orders, each the one llama.cpp's CPU backend uses for that cache:
 * - F16 cache: llama.cpp's non-flash path (the default, and the one the arch goldens come
 *   from): q rounded to f16, all scores of the query, softmax with the global max and sum,
 *   the probabilities exp(s - max) / sum rounded to f16, then p.V. Those roundings need the
 *   global max and sum first, so the block keeps its scores for all its keys (at most
 *   att_exact_q(n_cells) queries per block, ~1 MiB of scores) and makes two sweeps over the
 *   tiles: q.K, then p.V. An online softmax here rounds exp(s - running max) instead and
 *   moved the goldens' top-5 probabilities by up to 1.5e-2 (llama3-style-q8_0; 8e-4 on the
 *   F16 models, against 7e-5 two-pass), so it is not used for F16.
 * - F32 and Q8_0 caches: an online softmax in one sweep: a running max and sum per query,
 *   the partial output rescaled when the max grows, one division at the end. llama.cpp needs
 *   flash attention for a quantized V cache, and that is its order; q is quantized to Q8_0
 *   for a Q8_0 cache as ggml does, so q.K is an integer dot product. */
#include <math.h>
#include <string.h>

#include "llm/kernels/attn.h"
#include "llm/kernels/fp16.h"
#include "llm/llm_int.h"

#define ATT_QMAX 16 /* queries per work item */
#define ATT_TILE 64 /* keys per tile (4 KV pages) */
#define ATT_EXACT_FLOATS (1 << 18) /* two-sweep scores per thread (F16 cache) */

/* Queries per block in the two-sweep (F16) order: their scores for every cell fit. */
static int att_exact_q(int n_cells)
{
    int q = ATT_EXACT_FLOATS / (n_cells > 0 ? n_cells : 1);
    return q < 1 ? 1 : q > ATT_QMAX ? ATT_QMAX : q;
}

size_t llm_att_scratch_floats(int head_dim, int n_cells, int twopass)
{
    /* scores tile, output, queries as floats, running max and sum, queries as Q8_0; the
     * two-pass reference needs a score per cache cell */
    size_t n = ATT_QMAX * ATT_TILE + 3 * ATT_QMAX * (size_t)head_dim + 2 * ATT_QMAX +
               (size_t)att_exact_q(n_cells) * n_cells;
    return twopass && (size_t)n_cells > n ? (size_t)n_cells : n;
}

/* Whether layer l attends through the sliding window. */
static int layer_swa(const struct llm_hparams *hp, int l)
{
    return hp->n_swa > 0 && (!hp->swa_every_other || l % 2 == 0);
}

struct att_args {
    struct inferd_llm_ctx *c;
    const struct inferd_llm_batch *b;
    const struct kern_attn *ka;
    int layer;
    int tb, hq, n_hs, n_blk, n_items;
};

/* Queries: tokens t0..t1-1 (one sequence) x heads h0..h1-1 (one KV head g). */
static void att_block(const struct att_args *a, float *scratch, int t0, int t1, int h0, int h1, int g)
{
    struct inferd_llm_ctx *c = a->c;
    const struct llm_hparams *hp = &c->m->hp;
    const struct kv_cache *kv = &c->kv;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, nh = h1 - h0, nq = (t1 - t0) * nh;
    const float scale = hp->q_scale_pre ? 1.0f : hp->q_scale, cap = hp->attn_softcap;
    const int swa = layer_swa(hp, a->layer), s = a->b->seq[t0];
    const size_t koff = kern_kv_bytes(kv->ops, g * hd);
    float *S = scratch, *O = S + ATT_QMAX * ATT_TILE, *Q = O + (size_t)ATT_QMAX * hd;
    float *M = Q + (size_t)ATT_QMAX * hd, *L = M + ATT_QMAX;
    void *Qk = Q; /* the queries in the format of the cache's dot product */
    size_t qs = sizeof(float) * hd;
    int lo[ATT_QMAX], hi[ATT_QMAX], jlo = 1 << 30, jhi = -1;

    for (int i = 0; i < nq; i++) {
        int t = t0 + i / nh, h = h0 + i % nh, p = a->b->pos[t];
        const float *qv = c->q + (size_t)t * q_dim + (size_t)h * hd;
        float *qd = Q + (size_t)i * hd;
        if (kv->type == KERN_KV_F16) /* ggml rounds q to the f16 of the cache before q.K */
            for (int d = 0; d < hd; d++)
                qd[d] = fp16_round(qv[d]);
        else
            memcpy(qd, qv, sizeof(float) * hd);
        lo[i] = swa && p >= hp->n_swa ? p - hp->n_swa + 1 : 0;
        hi[i] = p;
        jlo = lo[i] < jlo ? lo[i] : jlo;
        jhi = hi[i] > jhi ? hi[i] : jhi;
        M[i] = -INFINITY;
        L[i] = 0;
    }
    if (kv->type == KERN_KV_Q8_0) { /* ggml quantizes q to Q8_0 for a q8_0 cache */
        qs = kern_kv_bytes(kv->ops, hd);
        Qk = L + ATT_QMAX;
        for (int i = 0; i < nq; i++)
            kern_quantize_row(GGML_TYPE_Q8_0, Q + (size_t)i * hd, (char *)Qk + (size_t)i * qs, hd);
    }
    memset(O, 0, sizeof(float) * (size_t)nq * hd);

    const void *kp[ATT_TILE], *vp[ATT_TILE];
    if (kv->type == KERN_KV_F16) { /* two sweeps, llama.cpp's non-flash rounding */
        const int span = jhi - jlo + 1;
        float *X = (float *)((char *)(L + ATT_QMAX) + (size_t)ATT_QMAX * hd * sizeof(float)); /* nq x span */
        for (int j0 = jlo; j0 <= jhi; j0 += ATT_TILE) {
            int nk = jhi - j0 + 1 < ATT_TILE ? jhi - j0 + 1 : ATT_TILE;
            for (int j = 0; j < nk; j++)
                kp[j] = (const unsigned char *)kv_k(kv, a->layer, kv_cell(kv, s, j0 + j)) + koff;
            a->ka->qk(hd, nq, Qk, qs, nk, kp, X + (j0 - jlo), span);
        }
        for (int i = 0; i < nq; i++) {
            float *row = X + (size_t)i * span, mx = -INFINITY;
            const int a0 = lo[i] - jlo, a1 = hi[i] - jlo + 1;
            for (int j = a0; j < a1; j++) {
                float v = row[j];
                if (cap > 0)
                    v = tanhf(v * (1.0f / cap)) * cap;
                row[j] = v * scale;
                mx = row[j] > mx ? row[j] : mx;
            }
            double sum = a->ka->exp_sum(row + a0, a1 - a0, mx);
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < a0; j++)
                row[j] = 0;
            for (int j = a0; j < a1; j++) /* ggml converts the probabilities to f16 before p.V */
                row[j] = fp16_round_unit(row[j] * inv);
            for (int j = a1; j < span; j++)
                row[j] = 0;
        }
        for (int j0 = jlo; j0 <= jhi; j0 += ATT_TILE) {
            int nk = jhi - j0 + 1 < ATT_TILE ? jhi - j0 + 1 : ATT_TILE;
            for (int j = 0; j < nk; j++)
                vp[j] = (const unsigned char *)kv_v(kv, a->layer, kv_cell(kv, s, j0 + j)) + koff;
            a->ka->pv(hd, nq, X + (j0 - jlo), span, nk, vp, O, hd);
        }
        for (int i = 0; i < nq; i++)
            L[i] = 1.0f;
    } else {
        for (int j0 = jlo; j0 <= jhi; j0 += ATT_TILE) {
            int nk = jhi - j0 + 1 < ATT_TILE ? jhi - j0 + 1 : ATT_TILE;
            for (int j = 0; j < nk; j++) {
                int cell = kv_cell(kv, s, j0 + j);
                kp[j] = (const unsigned char *)kv_k(kv, a->layer, cell) + koff;
                vp[j] = (const unsigned char *)kv_v(kv, a->layer, cell) + koff;
            }
            a->ka->qk(hd, nq, Qk, qs, nk, kp, S, ATT_TILE);
            for (int i = 0; i < nq; i++) {
                float *row = S + (size_t)i * ATT_TILE, mt = -INFINITY;
                int a0 = lo[i] - j0, a1 = hi[i] - j0 + 1; /* the query's keys in this tile: [a0, a1) */
                a0 = a0 < 0 ? 0 : a0;
                a1 = a1 > nk ? nk : a1;
                for (int j = a0; j < a1; j++) {
                    float v = row[j];
                    if (cap > 0)
                        v = tanhf(v * (1.0f / cap)) * cap;
                    row[j] = v * scale;
                    mt = row[j] > mt ? row[j] : mt;
                }
                if (a0 >= a1) { /* no key of this query here */
                    memset(row, 0, sizeof(float) * nk);
                    continue;
                }
                float mn = mt > M[i] ? mt : M[i], alpha = expf(M[i] - mn);
                if (alpha != 1.0f) {
                    float *o = O + (size_t)i * hd;
                    for (int d = 0; d < hd; d++)
                        o[d] *= alpha;
                }
                for (int j = 0; j < a0; j++)
                    row[j] = 0;
                float sum = (float)a->ka->exp_sum(row + a0, a1 - a0, mn);
                for (int j = a1; j < nk; j++)
                    row[j] = 0;
                L[i] = L[i] * alpha + sum;
                M[i] = mn;
            }
            a->ka->pv(hd, nq, S, ATT_TILE, nk, vp, O, hd);
        }
    }
    for (int i = 0; i < nq; i++) {
        int t = t0 + i / nh, h = h0 + i % nh;
        float *out = c->att + (size_t)t * q_dim + (size_t)h * hd, inv = 1.0f / L[i];
        const float *o = O + (size_t)i * hd;
        for (int d = 0; d < hd; d++)
            out[d] = o[d] * inv;
    }
}

/* Items round-robin over the threads (later token blocks see more keys). */
static void att_part(void *ctx, int ith, int nth)
{
    const struct att_args *a = ctx;
    const struct llm_hparams *hp = &a->c->m->hp;
    const int group = hp->n_head / hp->n_head_kv, n = a->b->n;
    float *scratch = a->c->scores + (size_t)ith * llm_att_scratch_floats(hp->head_dim, a->c->kv.n_cells, 0);
    for (int it = ith; it < a->n_items; it += nth) {
        int blk = it / (hp->n_head_kv * a->n_hs), rest = it % (hp->n_head_kv * a->n_hs);
        int g = rest / a->n_hs, hs = rest % a->n_hs;
        int h0 = g * group + hs * a->hq, h1 = h0 + a->hq < (g + 1) * group ? h0 + a->hq : (g + 1) * group;
        int t1 = (blk + 1) * a->tb < n ? (blk + 1) * a->tb : n;
        for (int t0 = blk * a->tb; t0 < t1;) { /* runs of one sequence */
            int te = t0 + 1;
            while (te < t1 && a->b->seq[te] == a->b->seq[t0])
                te++;
            att_block(a, scratch, t0, te, h0, h1, g);
            t0 = te;
        }
    }
}

void llm_attention(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int layer)
{
    if (c->att_twopass) {
        llm_attention_twopass(c, b, layer);
        return;
    }
    const struct llm_hparams *hp = &c->m->hp;
    const int group = hp->n_head / hp->n_head_kv, n = b->n;
    const int nth = llm_par_threads(c);
    struct att_args a = {c, b, kern_attn_get(c->kv.type), layer, 0, 0, 0, 0, 0};
    const int qmax = c->kv.type == KERN_KV_F16 ? att_exact_q(c->kv.n_cells) : ATT_QMAX;
    a.hq = group < qmax ? group : qmax;
    a.tb = qmax / a.hq;
    a.n_blk = (n + a.tb - 1) / a.tb;
    for (;;) { /* split the heads of a group while there are fewer items than threads */
        a.n_hs = (group + a.hq - 1) / a.hq;
        a.n_items = a.n_blk * hp->n_head_kv * a.n_hs;
        if (a.n_items >= nth || a.hq == 1)
            break;
        a.hq = (a.hq + 1) / 2;
    }
    int64_t work = 0; /* multiply-adds: below ~64K the pool costs more than it saves */
    for (int t = 0; t < n; t++)
        work += (int64_t)(b->pos[t] + 1) * hp->n_head * hp->head_dim * 2;
    if (work < (1 << 16))
        att_part(&a, 0, 1);
    else
        llm_par_run(c, att_part, &a);
}
