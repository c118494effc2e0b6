/* merge.c — the best-first merge loop that SPM and BPE share: cut the text into
 * UTF-8 characters, queue every adjacent pair that may merge (a binary heap ordered by key,
 * then leftmost), pop and merge unless a side changed since, queue the new neighbours.
 *
 * Only the key differs: BPE ranks a pair by its merge rank (lower first), SPM by the score of
 * the token the pair forms (higher first, so the key is -score). Both are exact in a double,
 * so the order and tie-breaks are those of llama.cpp's llm_tokenizer_bpe / llm_tokenizer_spm. */
#include "llm/tokenizer/merge.h"

#include <stdlib.h>

/* a goes before b: lower key, then the leftmost. */
static int pair_before(const struct tok_pair *a, const struct tok_pair *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(struct tok_merge_heap *h, struct tok_pair p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct tok_pair *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return INFERD_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_before(&p, &h->v[up]))
            break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = p;
    return 0;
}

static struct tok_pair heap_pop(struct tok_merge_heap *h)
{
    struct tok_pair top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!pair_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* Queues the pair (l, r) when it may merge. */
static int try_pair(const struct tokenizer *t, const char *s, const struct tok_sym *sym, int32_t l, int32_t r,
                    struct tok_merge_heap *h)
{
    if (l < 0 || r < 0)
        return 0;
    uint32_t size = sym[l].n + sym[r].n;
    double key;
    if (t->kind == TOKENIZER_BPE) {
        int32_t rank = tok_merge_rank(t, s + sym[l].off, sym[l].n, s + sym[r].off, sym[r].n);
        if (rank < 0)
            return 0;
        key = rank;
    } else {
        int32_t id = tok_lookup(t, s + sym[l].off, size);
        if (id < 0)
            return 0;
        key = -(double)t->scores[id];
    }
    return heap_push(h, (struct tok_pair){key, l, r, size});
}

int tok_merge_run(const struct tokenizer *t, const char *s, size_t n, struct tok_sym *sym, struct tok_merge_heap *h,
                  int32_t *n_sym)
{
    int rc;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = tok_char_len(s + off, n - off);
        sym[ns] = (struct tok_sym){ns - 1, off + cl == n ? -1 : ns + 1, (uint32_t)off, (uint32_t)cl};
        ns++;
        off += cl;
    }
    *n_sym = ns;
    h->n = 0;
    for (int32_t i = 1; i < ns; i++) {
        rc = try_pair(t, s, sym, i - 1, i, h);
        if (rc < 0)
            return rc;
    }
    while (h->n) {
        struct tok_pair p = heap_pop(h);
        struct tok_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;  /* stale: a side was merged elsewhere since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        rc = try_pair(t, s, sym, l->prev, p.left, h);
        if (rc == 0)
            rc = try_pair(t, s, sym, p.left, l->next, h);
        if (rc < 0)
            return rc;
    }
    return 0;
}
