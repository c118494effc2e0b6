/* llm_prefix.c — the prefix cache: chain-hashed KV blocks in a hash table with an LRU list
 * (see llm_prefix.h). */
#include "serve/sched/llm_prefix.h"

#include "base/hash.h"
#include "inferd/err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct pfx_entry {
    uint64_t hash;                 /* chain hash of the prefix ending with this block */
    uint64_t id;                   /* unique, never reused (an evicted parent's id stays dead) */
    uint64_t parent_id;            /* the entry of the block before, 0 for block 0 */
    struct pfx_entry *hnext;       /* bucket chain */
    struct pfx_entry *lprev, *lnext; /* LRU list: head most recent */
    int32_t toks[LLM_PREFIX_BLOCK];
    unsigned char data[];          /* block_bytes */
};

struct llm_prefix {
    size_t cap_bytes, block_bytes, entry_bytes;
    int max_blocks, n_blocks;
    struct pfx_entry **buckets;    /* owned, n_buckets (a power of two) */
    size_t mask;
    struct pfx_entry *head, *tail;
    uint64_t next_id;
    long long evictions;
};

int llm_prefix_new(size_t cap_bytes, size_t block_bytes, struct llm_prefix **out)
{
    *out = NULL;
    if (block_bytes == 0)
        return INFERD_EINVAL;
    struct llm_prefix *p = calloc(1, sizeof *p);
    if (!p)
        return INFERD_ENOMEM;
    p->cap_bytes = cap_bytes;
    p->block_bytes = block_bytes;
    p->entry_bytes = sizeof(struct pfx_entry) + block_bytes;
    size_t max = cap_bytes / p->entry_bytes;
    p->max_blocks = max > (1u << 24) ? 1 << 24 : (int)max;
    size_t nb = 16;
    while (nb < (size_t)p->max_blocks)
        nb <<= 1;
    p->buckets = calloc(nb, sizeof *p->buckets);
    if (!p->buckets) {
        free(p);
        return INFERD_ENOMEM;
    }
    p->mask = nb - 1;
    p->next_id = 1;
    *out = p;
    return 0;
}

void llm_prefix_clear(struct llm_prefix *p)
{
    if (!p)
        return;
    for (struct pfx_entry *e = p->head, *n; e; e = n) {
        n = e->lnext;
        free(e);
    }
    memset(p->buckets, 0, (p->mask + 1) * sizeof *p->buckets);
    p->head = p->tail = NULL;
    p->n_blocks = 0;
}

void llm_prefix_free(struct llm_prefix *p)
{
    if (!p)
        return;
    llm_prefix_clear(p);
    free(p->buckets);
    free(p);
}

uint64_t llm_prefix_hash(uint64_t parent, const int32_t *block_tokens)
{
    /* the parent's hash as 8 bytes, then the tokens: fixed widths, no separator needed */
    uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, &parent, sizeof parent);
    return hash_fnv1a(h, block_tokens, sizeof(int32_t) * LLM_PREFIX_BLOCK);
}

static void lru_unlink(struct llm_prefix *p, struct pfx_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        p->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        p->tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

/* Puts e right after `after` (NULL: at the head). Walking a path from block 0 and placing
 * each block after the previous one leaves the path at the head in order: a parent is
 * always more recent than its children. */
static void lru_place(struct llm_prefix *p, struct pfx_entry *e, struct pfx_entry *after)
{
    if (e == after)
        return;
    if (e->lprev || e->lnext || p->head == e)
        lru_unlink(p, e);
    e->lprev = after;
    e->lnext = after ? after->lnext : p->head;
    if (e->lnext)
        e->lnext->lprev = e;
    else
        p->tail = e;
    if (after)
        after->lnext = e;
    else
        p->head = e;
}

static struct pfx_entry *find(const struct llm_prefix *p, uint64_t h, uint64_t parent_id, const int32_t *toks)
{
    for (struct pfx_entry *e = p->buckets[h & p->mask]; e; e = e->hnext)
        if (e->hash == h && e->parent_id == parent_id &&
            memcmp(e->toks, toks, sizeof(int32_t) * LLM_PREFIX_BLOCK) == 0)
            return e;
    return NULL;
}

static void bucket_remove(struct llm_prefix *p, struct pfx_entry *e)
{
    struct pfx_entry **pp = &p->buckets[e->hash & p->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
}

int llm_prefix_match(struct llm_prefix *p, const int32_t *toks, int n_blocks, llm_prefix_block_fn fn, void *arg)
{
    uint64_t h = 0, parent = 0;
    struct pfx_entry *prev = NULL;
    int i = 0;
    for (; i < n_blocks; i++) {
        const int32_t *bt = toks + (size_t)i * LLM_PREFIX_BLOCK;
        h = llm_prefix_hash(h, bt);
        struct pfx_entry *e = find(p, h, parent, bt);
        if (!e || fn(arg, i, e->data) < 0)
            break;
        lru_place(p, e, prev);
        prev = e;
        parent = e->id;
    }
    return i;
}

/* A fresh entry: allocated below the cap, else the least recently used one taken over.
 * NULL when the cap holds no block, or every block held is on the path being added
 * (path_len of them sit at the head). */
static struct pfx_entry *entry_get(struct llm_prefix *p, int path_len)
{
    if (p->n_blocks < p->max_blocks) {
        struct pfx_entry *e = malloc(p->entry_bytes);
        if (!e)
            return NULL;
        p->n_blocks++;
        e->lprev = e->lnext = e->hnext = NULL;
        return e;
    }
    if (p->n_blocks <= path_len || !p->tail)
        return NULL;
    struct pfx_entry *e = p->tail;
    lru_unlink(p, e);
    bucket_remove(p, e);
    p->evictions++;
    return e;
}

int llm_prefix_put(struct llm_prefix *p, const int32_t *toks, int n_blocks, llm_prefix_block_fn fn, void *arg)
{
    uint64_t h = 0, parent = 0;
    struct pfx_entry *prev = NULL;
    int added = 0;
    for (int i = 0; i < n_blocks; i++) {
        const int32_t *bt = toks + (size_t)i * LLM_PREFIX_BLOCK;
        h = llm_prefix_hash(h, bt);
        struct pfx_entry *e = find(p, h, parent, bt);
        if (!e) {
            e = entry_get(p, i);
            if (!e)
                break;
            if (fn(arg, i, e->data) < 0) { /* an entry not in the table: give it back */
                free(e);
                p->n_blocks--;
                break;
            }
            e->hash = h;
            e->id = p->next_id++;
            e->parent_id = parent;
            memcpy(e->toks, bt, sizeof e->toks);
            e->hnext = p->buckets[h & p->mask];
            p->buckets[h & p->mask] = e;
            added++;
        }
        lru_place(p, e, prev);
        prev = e;
        parent = e->id;
    }
    assert(p->n_blocks <= p->max_blocks);
    return added;
}

void llm_prefix_stats(const struct llm_prefix *p, struct llm_prefix_stats *o)
{
    memset(o, 0, sizeof *o);
    if (!p)
        return;
    o->cap_bytes = p->cap_bytes;
    o->bytes = (size_t)p->n_blocks * p->entry_bytes;
    o->blocks = p->n_blocks;
    o->max_blocks = p->max_blocks;
    o->evictions = p->evictions;
}
