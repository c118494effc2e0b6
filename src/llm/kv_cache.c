/* kv_cache.c — the paged KV cache: fixed pool of KV_PAGE-position pages shared by all
 * sequences, a page table per sequence and a free-page stack (no allocation after init). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm_int.h"

int kv_init(struct kv_cache *kv, int n_layer, int kv_dim, int n_ctx, int n_seq, enum kern_kv_type type,
            struct inferd_err *err)
{
    memset(kv, 0, sizeof *kv);
    kv->n_layer = n_layer;
    kv->kv_dim = kv_dim;
    kv->n_seq = n_seq;
    kv->n_pages = (n_ctx + KV_PAGE - 1) / KV_PAGE;
    kv->n_cells = kv->n_pages * KV_PAGE;
    kv->max_pages_seq = kv->n_pages;
    kv->ops = kern_kv(type);
    kv->type = type;
    kv->row = kern_kv_bytes(kv->ops, kv_dim);
    size_t bytes = (size_t)n_layer * kv->n_cells * kv->row;
    kv->k = malloc(bytes);
    kv->v = malloc(bytes);
    kv->table = malloc(sizeof(int32_t) * (size_t)n_seq * kv->max_pages_seq);
    kv->len = calloc((size_t)n_seq, sizeof(int));
    kv->free_stack = malloc(sizeof(int32_t) * kv->n_pages);
    if (!kv->k || !kv->v || !kv->table || !kv->len || !kv->free_stack) {
        kv_free(kv);
        return inferd_err_set(err, INFERD_ENOMEM, "n_ctx: KV cache of %zu bytes does not fit in memory",
                              2 * bytes);
    }
    /* Zero once so that never-written cells are finite (they are never read anyway). */
    memset(kv->k, 0, bytes);
    memset(kv->v, 0, bytes);
    for (int i = 0; i < kv->n_pages; i++)
        kv->free_stack[i] = kv->n_pages - 1 - i; /* pop gives page 0 first */
    kv->n_free = kv->n_pages;
    return 0;
}

void kv_free(struct kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    free(kv->table);
    free(kv->len);
    free(kv->free_stack);
    memset(kv, 0, sizeof *kv);
}

int kv_pages_needed(const struct kv_cache *kv, int s, int len)
{
    assert(s >= 0 && s < kv->n_seq);
    int have = (kv->len[s] + KV_PAGE - 1) / KV_PAGE, want = (len + KV_PAGE - 1) / KV_PAGE;
    return want > have ? want - have : 0;
}

void kv_grow(struct kv_cache *kv, int s, int len)
{
    int have = (kv->len[s] + KV_PAGE - 1) / KV_PAGE, want = (len + KV_PAGE - 1) / KV_PAGE;
    int32_t *t = kv->table + (size_t)s * kv->max_pages_seq;
    /* callers checked kv_pages_needed against n_free: growing never runs out */
    assert(s >= 0 && s < kv->n_seq && want <= kv->max_pages_seq && want - have <= kv->n_free);
    for (int p = have; p < want; p++) {
        t[p] = kv->free_stack[--kv->n_free];
        assert(t[p] >= 0 && t[p] < kv->n_pages);
    }
    if (len > kv->len[s])
        kv->len[s] = len;
}

void kv_truncate(struct kv_cache *kv, int s, int len)
{
    if (len < 0)
        len = 0;
    if (len >= kv->len[s])
        return;
    int have = (kv->len[s] + KV_PAGE - 1) / KV_PAGE, keep = (len + KV_PAGE - 1) / KV_PAGE;
    int32_t *t = kv->table + (size_t)s * kv->max_pages_seq;
    for (int p = keep; p < have; p++)
        kv->free_stack[kv->n_free++] = t[p];
    /* a page is either in one sequence's table or on the free stack, never both */
    assert(kv->n_free <= kv->n_pages);
    kv->len[s] = len;
}

/* Copies the first n positions of src into dst (dst is cleared first). Returns 0 or
 * INFERD_ETOOLARGE when there are not enough free pages. */
int kv_copy_seq(struct kv_cache *kv, int src, int dst, int n)
{
    if (src == dst)
        return 0;
    kv_truncate(kv, dst, 0);
    if (n > kv->len[src])
        n = kv->len[src];
    if (kv_pages_needed(kv, dst, n) > kv->n_free)
        return INFERD_ETOOLARGE;
    kv_grow(kv, dst, n);
    size_t row = kv->row;
    for (int l = 0; l < kv->n_layer; l++) {
        for (int p = 0; p < n; p += KV_PAGE) {
            int cnt = n - p < KV_PAGE ? n - p : KV_PAGE;
            int cs = kv_cell(kv, src, p), cd = kv_cell(kv, dst, p);
            memcpy(kv_k(kv, l, cd), kv_k(kv, l, cs), row * cnt);
            memcpy(kv_v(kv, l, cd), kv_v(kv, l, cs), row * cnt);
        }
    }
    return 0;
}
