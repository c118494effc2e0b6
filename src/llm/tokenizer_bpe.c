/* tokenizer_bpe.c — byte-level BPE ("gpt2"): pre-tokenize with the model's regexes, map each
 * word's bytes to GPT-2's printable characters, then apply merges lowest rank first.
 *
 * Same algorithm and tie-breaks as llama.cpp's llm_tokenizer_bpe: symbols are the UTF-8
 * characters of the mapped word; every adjacent pair that is a merge is queued by rank (then
 * leftmost); popping a pair merges it unless a side changed since; the merged symbol's new
 * neighbours are queued. Symbols that are not tokens fall back to single-byte tokens. */
#include "llm/tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

struct bpe_sym {
    int32_t prev, next;
    uint32_t off, n;  /* bytes of the mapped word; n = 0 once merged away */
};

struct bpe_pair {
    int32_t rank, left, right;
    uint32_t size;
};

struct bpe_heap {
    struct bpe_pair *v;
    size_t n, cap;
};

static int pair_before(const struct bpe_pair *a, const struct bpe_pair *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(struct bpe_heap *h, struct bpe_pair p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct bpe_pair *v = realloc(h->v, cap * sizeof *v);
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

static struct bpe_pair heap_pop(struct bpe_heap *h)
{
    struct bpe_pair top = h->v[0], last = h->v[--h->n];
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

static int try_pair(const struct tokenizer *t, const char *w, const struct bpe_sym *sym, int32_t l, int32_t r,
                    struct bpe_heap *h)
{
    if (l < 0 || r < 0)
        return 0;
    int32_t rank = tok_merge_rank(t, w + sym[l].off, sym[l].n, w + sym[r].off, sym[r].n);
    if (rank < 0)
        return 0;
    return heap_push(h, (struct bpe_pair){rank, l, r, sym[l].n + sym[r].n});
}

/* Scratch reused across the words of one call. */
struct bpe_scratch {
    char *w;              /* mapped word */
    struct bpe_sym *sym;  /* one per character */
    struct bpe_heap heap;
};

static int encode_word(const struct tokenizer *t, const char *word, size_t len, struct bpe_scratch *sc,
                       struct tok_ids *out)
{
    int rc;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += tok_byte_to_utf8((uint8_t)word[i], sc->w + n);
    const char *w = sc->w;
    if (t->ignore_merges) {
        int32_t id = tok_lookup(t, w, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    struct bpe_sym *sym = sc->sym;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = tok_utf8_len((unsigned char)w[off]);
        if (cl > n - off)
            cl = n - off;
        sym[ns] = (struct bpe_sym){ns - 1, off + cl == n ? -1 : ns + 1, (uint32_t)off, (uint32_t)cl};
        ns++;
        off += cl;
    }
    sc->heap.n = 0;
    for (int32_t i = 1; i < ns; i++) {
        rc = try_pair(t, w, sym, i - 1, i, &sc->heap);
        if (rc < 0)
            return rc;
    }
    while (sc->heap.n) {
        struct bpe_pair p = heap_pop(&sc->heap);
        struct bpe_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;  /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        rc = try_pair(t, w, sym, l->prev, p.left, &sc->heap);
        if (rc == 0)
            rc = try_pair(t, w, sym, p.left, l->next, &sc->heap);
        if (rc < 0)
            return rc;
    }
    for (int32_t i = 0; ns > 0 && i != -1; i = sym[i].next) {
        int32_t id = tok_lookup(t, w + sym[i].off, sym[i].n);
        if (id >= 0) {
            rc = tok_ids_push(out, id);
            if (rc < 0)
                return rc;
            continue;
        }
        /* Not a token: each byte of the symbol's text on its own, where that is a token. */
        for (uint32_t j = 0; j < sym[i].n; j++) {
            id = tok_lookup(t, w + sym[i].off + j, 1);
            if (id < 0)
                continue;
            rc = tok_ids_push(out, id);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int tok_bpe_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out)
{
    int rc;
    struct tok_spans words = {0};
    struct bpe_scratch sc = {0};
    if (len == 0)
        return 0;
    rc = tok_pretok_split(t->pre, text, len, &words);
    if (rc < 0)
        goto fail;
    size_t longest = 0;
    for (size_t k = 0; k < words.n; k++)
        if (words.v[k].len > longest)
            longest = words.v[k].len;
    sc.w = malloc(2 * longest + 1);
    sc.sym = malloc((2 * longest + 1) * sizeof *sc.sym);
    if (!sc.w || !sc.sym) {
        rc = INFERD_ENOMEM;
        goto fail;
    }
    for (size_t k = 0; k < words.n; k++) {
        rc = encode_word(t, text + words.v[k].off, words.v[k].len, &sc, out);
        if (rc < 0)
            goto fail;
    }
    rc = 0;
fail:
    free(sc.w);
    free(sc.sym);
    free(sc.heap.v);
    tok_spans_free(&words);
    return rc;
}
