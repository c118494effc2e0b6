/* ctx.c — inferd_llm_ctx: the KV cache and scratch planned at creation, batch validation
 * and decode, and the per-sequence cache operations of llm.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
    const char *att_env = getenv("INFERD_ATTN"); /* "twopass": the reference attention (benches) */
    c->att_twopass = att_env && strcmp(att_env, "twopass") == 0;
    llm_par_init(c);
    size_t nb = (size_t)d.n_batch, E = (size_t)hp->n_embd, qd = (size_t)hp->n_head * hp->head_dim,
           kvd = (size_t)hp->n_head_kv * hp->head_dim, F = (size_t)hp->n_ff;
    size_t max_in = E > F ? E : F;
    if (qd > max_in)
        max_in = qd;
    int moe = hp->n_expert > 0;
    size_t X = moe ? (size_t)hp->n_expert : 0, K = moe ? (size_t)hp->n_expert_used : 0;
    size_t n_cells = (size_t)(d.n_ctx + KV_PAGE - 1) / KV_PAGE * KV_PAGE;
    c->xq_stride = max_in * sizeof(float); /* every vec_dot_type takes <= 4 bytes/element */
    c->logits_cap = d.n_seq < d.n_batch ? d.n_seq : d.n_batch;
    /* every scratch buffer, planned before anything is allocated so a memory budget can
     * refuse the context first */
    struct {
        void **p;
        size_t bytes;
    } plan[] = {
        {(void **)&c->x, sizeof(float) * nb * E},
        {(void **)&c->xn, sizeof(float) * nb * (E > qd ? E : qd)},
        {(void **)&c->q, sizeof(float) * nb * qd},
        {(void **)&c->k, sizeof(float) * nb * kvd},
        {(void **)&c->v, sizeof(float) * nb * kvd},
        {(void **)&c->att, sizeof(float) * nb * qd},
        {(void **)&c->gate, sizeof(float) * nb * F},
        {(void **)&c->up, sizeof(float) * nb * F},
        {(void **)&c->xq, nb * c->xq_stride},
        {(void **)&c->scores,
         sizeof(float) * (size_t)c->n_threads * llm_att_scratch_floats(hp->head_dim, (int)n_cells, c->att_twopass)},
        {(void **)&c->wf, sizeof(float) * (size_t)c->n_threads * BLAS_ROWS * max_in},
        {(void **)&c->row_logit, sizeof(int32_t) * nb},
        {(void **)&c->want, nb},
        {(void **)&c->logits, sizeof(float) * (size_t)c->logits_cap * hp->n_vocab},
        {(void **)&c->emb, d.embeddings ? sizeof(float) * nb * E : 0},
        {(void **)&c->moe_probs, sizeof(float) * nb * X},
        {(void **)&c->moe_sel, sizeof(int32_t) * nb * K},
        {(void **)&c->moe_w, sizeof(float) * nb * K},
        {(void **)&c->moe_rows, moe ? sizeof(int32_t) * nb : 0}, /* a token picks an expert at most once */
        {(void **)&c->moe_x, moe ? sizeof(float) * nb * E : 0},
        {(void **)&c->moe_out, sizeof(float) * nb * K * E},
    };
    size_t scratch = 0;
    for (size_t i = 0; i < sizeof plan / sizeof *plan; i++)
        scratch += plan[i].bytes;
    enum kern_kv_type kvt = d.kv_type == INFERD_LLM_KV_Q8_0                    ? KERN_KV_Q8_0
                            : d.kv_f32 || d.kv_type == INFERD_LLM_KV_F32 ? KERN_KV_F32
                                                                         : KERN_KV_F16;
    if (kvt == KERN_KV_Q8_0 && hp->head_dim % 32) {
        rc = inferd_err_set(err, INFERD_EUNSUPPORTED, "kv_type q8_0: the head dimension %d is not a multiple of 32",
                            hp->head_dim);
        goto fail;
    }
    uint64_t kv_bytes = 2ull * (uint64_t)hp->n_layer * n_cells * kern_kv_bytes(kern_kv(kvt), (int)kvd);
    uint64_t weights = m->info.file_bytes;
    if (d.memory_budget_mb > 0 && weights + kv_bytes + scratch > (uint64_t)d.memory_budget_mb << 20) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE,
                            "memory budget: the model needs %llu MiB (weights %llu, KV cache %llu for %d positions, "
                            "scratch %llu for batches of %d) and the budget is %d MiB; lower the context size, the "
                            "parallel sequences or the batch, or raise the budget",
                            (unsigned long long)((weights + kv_bytes + scratch) >> 20),
                            (unsigned long long)(weights >> 20), (unsigned long long)(kv_bytes >> 20), d.n_ctx,
                            (unsigned long long)(scratch >> 20), d.n_batch, d.memory_budget_mb);
        goto fail;
    }
    if ((rc = kv_init(&c->kv, hp->n_layer, hp->n_head_kv * hp->head_dim, d.n_ctx, d.n_seq, kvt, err)) < 0)
        goto fail;
    int short_alloc = 0;
    for (size_t i = 0; i < sizeof plan / sizeof *plan; i++)
        if (plan[i].bytes && !(*plan[i].p = malloc(plan[i].bytes)))
            short_alloc = 1;
    c->scratch_bytes = scratch;
    /* LongRoPE: the long factors once the context per sequence exceeds the original one */
    c->rope_ff = m->rope_freqs ? m->rope_freqs
                 : d.n_ctx / d.n_seq > hp->n_ctx_orig ? m->rope_long
                                                      : m->rope_short;
    if (short_alloc) {
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
    return 2 * (size_t)c->kv.n_layer * c->kv.row;
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
    size_t row = kv->row;
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
    size_t row = kv->row;
    const unsigned char *in = src;
    for (int l = 0; l < kv->n_layer; l++) {
        for (int i = 0; i < n; i++, in += row)
            memcpy(kv_k(kv, l, kv_cell(kv, seq, pos + i)), in, row);
        for (int i = 0; i < n; i++, in += row)
            memcpy(kv_v(kv, l, kv_cell(kv, seq, pos + i)), in, row);
    }
    return 0;
}

void inferd_llm_memory(const struct inferd_llm_model *m, const struct inferd_llm_ctx *c,
                       struct inferd_llm_memory *out)
{
    memset(out, 0, sizeof *out);
    out->weights_bytes = m->info.file_bytes;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    unsigned char *vec = NULL;
    size_t vec_cap = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->g); i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(m->g, i);
        if (!t || !t->data || !t->nbytes)
            continue;
        uintptr_t a = (uintptr_t)t->data & ~(uintptr_t)(page - 1), e = (uintptr_t)t->data + t->nbytes;
        size_t pages = (size_t)((e - a + page - 1) / page);
        if (pages > vec_cap) {
            unsigned char *v = realloc(vec, pages);
            if (!v)
                break;
            vec = v;
            vec_cap = pages;
        }
        if (mincore((void *)a, pages * page, vec) != 0)
            continue; /* not a mapping (a model loaded from a buffer): count nothing */
        for (size_t k = 0; k < pages; k++)
            out->weights_resident += (vec[k] & 1) ? page : 0;
    }
    free(vec);
    if (out->weights_resident > out->weights_bytes)
        out->weights_resident = out->weights_bytes;
    if (c) {
        out->kv_bytes = 2ull * (uint64_t)c->kv.n_layer * (uint64_t)c->kv.n_cells * c->kv.row;
        out->scratch_bytes = c->scratch_bytes;
    }
}
