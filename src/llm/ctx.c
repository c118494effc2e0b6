/* ctx.c — inferd_llm_ctx: the KV cache and scratch planned at creation, batch validation
 * and decode, and the per-sequence cache operations of llm.h. */
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "llm/llm_int.h"

#define LLM_MAX_BATCH 8192
#define LLM_MAX_SEQ 4096

int inferd_llm_ctx_new(struct inferd_llm_model *m, const struct inferd_llm_ctx_params *p,
                       struct inferd_llm_ctx **out, struct inferd_err *err)
{
    const struct llm_hparams *hp = &m->hp;
    struct inferd_llm_ctx_params d = {0};
    int rc;
    if (p)
        d = *p;
    if (d.n_ctx <= 0)
        d.n_ctx = hp->n_ctx_train;
    if (d.n_seq <= 0)
        d.n_seq = 1;
    if (d.n_batch <= 0)
        d.n_batch = 512;
    *out = NULL;
    if (d.n_seq > LLM_MAX_SEQ)
        return inferd_err_set(err, INFERD_EINVAL, "n_seq: %d exceeds the cap %d", d.n_seq, LLM_MAX_SEQ);
    if (d.n_batch > LLM_MAX_BATCH)
        return inferd_err_set(err, INFERD_EINVAL, "n_batch: %d exceeds the cap %d", d.n_batch, LLM_MAX_BATCH);
    if (d.n_ctx > (1 << 24))
        return inferd_err_set(err, INFERD_EINVAL, "n_ctx: %d exceeds the cap %d", d.n_ctx, 1 << 24);
    struct inferd_llm_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return inferd_err_set(err, INFERD_ENOMEM, "ctx: out of memory");
    c->m = m;
    c->pool = m->pool;
    c->n_batch = d.n_batch;
    c->n_seq = d.n_seq;
    c->want_emb = d.embeddings;
    c->n_threads = tpool_size(m->pool);
    if ((rc = kv_init(&c->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, d.n_ctx, d.n_seq, !d.kv_f32, err)) < 0)
        goto fail;
    size_t nb = (size_t)d.n_batch, E = (size_t)hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim,
           kvd = (size_t)hp->n_head_kv * hp->head_dim, F = (size_t)hp->n_ff;
    size_t max_in = E > F ? E : F;
    if (qd > max_in)
        max_in = qd;
    c->x = malloc(sizeof(float) * nb * E);
    c->xn = malloc(sizeof(float) * nb * (E > qd ? E : qd));
    c->q = malloc(sizeof(float) * nb * qd);
    c->k = malloc(sizeof(float) * nb * kvd);
    c->v = malloc(sizeof(float) * nb * kvd);
    c->att = malloc(sizeof(float) * nb * qd);
    c->gate = malloc(sizeof(float) * nb * F);
    c->up = malloc(sizeof(float) * nb * F);
    c->xq_stride = max_in * sizeof(float); /* every vec_dot_type takes <= 4 bytes/element */
    c->xq = malloc(nb * c->xq_stride);
    c->scores = malloc(sizeof(float) * (size_t)c->n_threads * c->kv.n_cells);
    c->wf = malloc(sizeof(float) * (size_t)c->n_threads * BLAS_ROWS * max_in);
    c->row_logit = malloc(sizeof(int32_t) * nb);
    c->want = malloc(nb);
    c->logits_cap = d.n_seq < d.n_batch ? d.n_seq : d.n_batch;
    c->logits = malloc(sizeof(float) * (size_t)c->logits_cap * hp->n_vocab);
    if (d.embeddings)
        c->emb = malloc(sizeof(float) * nb * E);
    int moe = hp->n_expert > 0;
    if (moe) {
        size_t X = (size_t)hp->n_expert, K = (size_t)hp->n_expert_used;
        c->moe_probs = malloc(sizeof(float) * nb * X);
        c->moe_sel = malloc(sizeof(int32_t) * nb * K);
        c->moe_w = malloc(sizeof(float) * nb * K);
        c->moe_rows = malloc(sizeof(int32_t) * nb); /* a token picks an expert at most once */
        c->moe_x = malloc(sizeof(float) * nb * E);
        c->moe_out = malloc(sizeof(float) * nb * K * E);
    }
    /* LongRoPE: the long factors once the context per sequence exceeds the original one */
    c->rope_ff = m->rope_freqs ? m->rope_freqs
                 : d.n_ctx / d.n_seq > hp->n_ctx_orig ? m->rope_long
                                                      : m->rope_short;
    if (!c->x || !c->xn || !c->q || !c->k || !c->v || !c->att || !c->gate || !c->up || !c->xq ||
        !c->scores || !c->wf || !c->row_logit || !c->want || !c->logits || (d.embeddings && !c->emb) ||
        (moe && (!c->moe_probs || !c->moe_sel || !c->moe_w || !c->moe_rows || !c->moe_x || !c->moe_out))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "n_batch: scratch for %d tokens does not fit in memory", d.n_batch);
        goto fail;
    }
    for (int i = 0; i < d.n_batch; i++)
        c->row_logit[i] = -1;
    *out = c;
    return 0;
fail:
    inferd_llm_ctx_free(c);
    return rc;
}

void inferd_llm_ctx_free(struct inferd_llm_ctx *c)
{
    if (!c)
        return;
    kv_free(&c->kv);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att);
    free(c->gate);
    free(c->up);
    free(c->xq);
    free(c->scores);
    free(c->wf);
    free(c->row_logit);
    free(c->want);
    free(c->logits);
    free(c->emb);
    free(c->moe_probs);
    free(c->moe_sel);
    free(c->moe_w);
    free(c->moe_rows);
    free(c->moe_x);
    free(c->moe_out);
    free(c);
}

/* Checks ids and positions and that the cache has room, without changing anything. */
static int validate(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int *next, int *n_sel,
                    struct inferd_err *err)
{
    const struct kv_cache *kv = &c->kv;
    if (b->n < 1 || b->n > c->n_batch)
        return inferd_err_set(err, INFERD_EINVAL, "batch.n: %d outside [1, n_batch=%d]", b->n, c->n_batch);
    if (!b->tokens || !b->pos || !b->seq)
        return inferd_err_set(err, INFERD_EINVAL, "batch: tokens, pos and seq are required");
    for (int s = 0; s < c->n_seq; s++)
        next[s] = kv->len[s];
    *n_sel = 0;
    for (int i = 0; i < b->n; i++) {
        int s = b->seq[i];
        if (b->tokens[i] < 0 || b->tokens[i] >= c->m->hp.n_vocab)
            return inferd_err_set(err, INFERD_EINVAL, "batch.tokens[%d]: id %d outside [0, %d)", i, b->tokens[i],
                                  c->m->hp.n_vocab);
        if (s < 0 || s >= c->n_seq)
            return inferd_err_set(err, INFERD_EINVAL, "batch.seq[%d]: %d outside [0, n_seq=%d)", i, s, c->n_seq);
        if (b->pos[i] != next[s])
            return inferd_err_set(err, INFERD_EINVAL, "batch.pos[%d]: %d, sequence %d continues at %d", i,
                                  b->pos[i], s, next[s]);
        next[s]++;
        if (b->want_logits ? b->want_logits[i] != 0 : i == b->n - 1)
            (*n_sel)++;
    }
    int pages = 0;
    for (int s = 0; s < c->n_seq; s++)
        if (next[s] > kv->len[s])
            pages += kv_pages_needed(kv, s, next[s]);
    if (pages > kv->n_free) {
        int worst = 0;
        for (int s = 1; s < c->n_seq; s++)
            if (next[s] > next[worst])
                worst = s;
        return inferd_err_set(err, INFERD_ETOOLARGE,
                              "context full: sequence %d would need %d positions; the KV cache holds %d "
                              "(n_ctx) of which %d are in use",
                              worst, next[worst], kv->n_cells, kv->n_cells - kv->n_free * KV_PAGE);
    }
    return 0;
}

int inferd_llm_decode(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, struct inferd_err *err)
{
    int next[LLM_MAX_SEQ], n_sel = 0, rc;
    c->n_rows = 0;
    if ((rc = validate(c, b, next, &n_sel, err)) < 0)
        return rc;
    if (n_sel > c->logits_cap) { /* grown once to the largest request, never above n_batch */
        float *nl = realloc(c->logits, sizeof(float) * (size_t)n_sel * c->m->hp.n_vocab);
        if (!nl)
            return inferd_err_set(err, INFERD_ENOMEM, "logits: %d rows do not fit in memory", n_sel);
        c->logits = nl;
        c->logits_cap = n_sel;
    }
    int8_t *want = c->want;
    for (int i = 0; i < b->n; i++)
        want[i] = (int8_t)(b->want_logits ? b->want_logits[i] != 0 : i == b->n - 1);
    for (int s = 0; s < c->n_seq; s++)
        if (next[s] > c->kv.len[s])
            kv_grow(&c->kv, s, next[s]);
    return llm_forward(c, b, want, err);
}

const float *inferd_llm_logits(const struct inferd_llm_ctx *c, int i)
{
    if (i < 0 || i >= c->n_rows || c->row_logit[i] < 0)
        return NULL;
    return c->logits + (size_t)c->row_logit[i] * c->m->hp.n_vocab;
}

const float *inferd_llm_embedding(const struct inferd_llm_ctx *c, int i)
{
    if (!c->want_emb || i < 0 || i >= c->n_rows)
        return NULL;
    return c->emb + (size_t)i * c->m->hp.n_embd;
}

int inferd_llm_seq_len(const struct inferd_llm_ctx *c, int seq)
{
    return seq >= 0 && seq < c->n_seq ? c->kv.len[seq] : 0;
}

void inferd_llm_seq_clear(struct inferd_llm_ctx *c, int seq)
{
    if (seq >= 0 && seq < c->n_seq)
        kv_truncate(&c->kv, seq, 0);
}

void inferd_llm_seq_truncate(struct inferd_llm_ctx *c, int seq, int pos)
{
    if (seq >= 0 && seq < c->n_seq)
        kv_truncate(&c->kv, seq, pos);
}

int inferd_llm_seq_copy(struct inferd_llm_ctx *c, int src, int dst, int n)
{
    if (src < 0 || src >= c->n_seq || dst < 0 || dst >= c->n_seq || n < 0)
        return INFERD_EINVAL;
    return kv_copy_seq(&c->kv, src, dst, n);
}

int inferd_llm_kv_used(const struct inferd_llm_ctx *c)
{
    int used = 0;
    for (int s = 0; s < c->n_seq; s++)
        used += c->kv.len[s];
    return used;
}

int inferd_llm_kv_size(const struct inferd_llm_ctx *c)
{
    return c->kv.n_cells;
}

size_t inferd_llm_kv_row_bytes(const struct inferd_llm_ctx *c)
{
    return 2 * (size_t)c->kv.n_layer * c->kv.kv_dim * c->kv.elem;
}

int inferd_llm_kv_free(const struct inferd_llm_ctx *c)
{
    return c->kv.n_free * KV_PAGE;
}

int inferd_llm_kv_page(void)
{
    return KV_PAGE;
}

/* Layout of a run of n rows: for each layer, n K rows then n V rows. */
int inferd_llm_seq_kv_get(const struct inferd_llm_ctx *c, int seq, int pos, int n, void *dst)
{
    const struct kv_cache *kv = &c->kv;
    if (seq < 0 || seq >= c->n_seq || pos < 0 || n < 0 || pos + n > kv->len[seq])
        return INFERD_EINVAL;
    size_t row = (size_t)kv->kv_dim * kv->elem;
    unsigned char *o = dst;
    for (int l = 0; l < kv->n_layer; l++) {
        for (int i = 0; i < n; i++, o += row)
            memcpy(o, kv_k(kv, l, kv_cell(kv, seq, pos + i)), row);
        for (int i = 0; i < n; i++, o += row)
            memcpy(o, kv_v(kv, l, kv_cell(kv, seq, pos + i)), row);
    }
    return 0;
}

int inferd_llm_seq_kv_set(struct inferd_llm_ctx *c, int seq, int pos, int n, const void *src)
{
    struct kv_cache *kv = &c->kv;
    if (seq < 0 || seq >= c->n_seq || n < 0 || pos != kv->len[seq] || pos + n > kv->max_pages_seq * KV_PAGE)
        return INFERD_EINVAL;
    if (kv_pages_needed(kv, seq, pos + n) > kv->n_free)
        return INFERD_ETOOLARGE;
    kv_grow(kv, seq, pos + n);
    size_t row = (size_t)kv->kv_dim * kv->elem;
    const unsigned char *in = src;
    for (int l = 0; l < kv->n_layer; l++) {
        for (int i = 0; i < n; i++, in += row)
            memcpy(kv_k(kv, l, kv_cell(kv, seq, pos + i)), in, row);
        for (int i = 0; i < n; i++, in += row)
            memcpy(kv_v(kv, l, kv_cell(kv, seq, pos + i)), in, row);
    }
    return 0;
}
