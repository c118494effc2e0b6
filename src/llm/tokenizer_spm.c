/* tokenizer_spm.c — SentencePiece-style tokenization ("llama"): merge adjacent symbols by the
 * score of the token they form, best first (a binary heap), then fall back to <0xNN> bytes.
 *
 * Same algorithm and tie-breaks as llama.cpp's llm_tokenizer_spm: the text has its spaces
 * replaced by "▁" (and one "▁" prepended when asked), is cut into UTF-8 characters, and every
 * adjacent pair whose concatenation is a token is queued with that token's score. Popping the
 * best pair (higher score, then leftmost) merges it unless either side changed since; new
 * pairs with the neighbours are queued. O(n log n) in the text length. */
#include "llm/tokenizer_int.h"

#include <stdlib.h>
#include <string.h>

struct spm_sym {
    int32_t prev, next;  /* -1 at the ends */
    uint32_t off, n;     /* bytes of the escaped text; n = 0 once merged away */
};

struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t size;  /* bytes of left + right when queued */
};

struct spm_heap {
    struct spm_pair *v;
    size_t n, cap;
};

/* a goes before b: higher score, then the leftmost. */
static int pair_before(const struct spm_pair *a, const struct spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(struct spm_heap *h, struct spm_pair p)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct spm_pair *v = realloc(h->v, cap * sizeof *v);
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

static struct spm_pair heap_pop(struct spm_heap *h)
{
    struct spm_pair top = h->v[0], last = h->v[--h->n];
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

static int try_pair(const struct tokenizer *t, const char *s, const struct spm_sym *sym, int32_t l, int32_t r,
                    struct spm_heap *h)
{
    if (l < 0 || r < 0)
        return 0;
    uint32_t size = sym[l].n + sym[r].n;
    int32_t id = tok_lookup(t, s + sym[l].off, size);
    if (id < 0)
        return 0;
    return heap_push(h, (struct spm_pair){t->scores[id], l, r, size});
}

static int emit_bytes(const struct tokenizer *t, const unsigned char *p, size_t n, struct tok_ids *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_token[p[i]];
        if (id < 0)
            id = t->unk;
        if (id >= 0 && tok_ids_push(out, id) < 0)
            return INFERD_ENOMEM;
    }
    return 0;
}

/* Scratch reused across the chunks of one call. */
struct spm_scratch {
    struct spm_sym *sym;
    struct spm_heap heap;
};

/* The SPM algorithm over s[0..n) (escaped text); appends ids. */
static int encode_chunk(const struct tokenizer *t, const char *s, size_t n, struct spm_scratch *sc,
                        struct tok_ids *out)
{
    int rc;
    struct spm_sym *sym = sc->sym;
    int32_t ns = 0;
    for (size_t off = 0; off < n;) {
        size_t cl = tok_utf8_len((unsigned char)s[off]);
        if (cl > n - off)
            cl = n - off;
        sym[ns] = (struct spm_sym){ns - 1, off + cl == n ? -1 : ns + 1, (uint32_t)off, (uint32_t)cl};
        ns++;
        off += cl;
    }
    sc->heap.n = 0;
    for (int32_t i = 1; i < ns; i++) {
        rc = try_pair(t, s, sym, i - 1, i, &sc->heap);
        if (rc < 0)
            return rc;
    }
    while (sc->heap.n) {
        struct spm_pair p = heap_pop(&sc->heap);
        struct spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;  /* stale: a side was merged elsewhere since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = p.left;
        rc = try_pair(t, s, sym, l->prev, p.left, &sc->heap);
        if (rc == 0)
            rc = try_pair(t, s, sym, p.left, l->next, &sc->heap);
        if (rc < 0)
            return rc;
    }
    for (int32_t i = 0; ns > 0 && i != -1; i = sym[i].next) {
        int32_t id = tok_lookup(t, s + sym[i].off, sym[i].n);
        if (id >= 0)
            rc = tok_ids_push(out, id);
        else
            rc = emit_bytes(t, (const unsigned char *)s + sym[i].off, sym[i].n, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int is_space_mark(const char *s, size_t n, size_t i)
{
    return i + 3 <= n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
           (unsigned char)s[i + 2] == 0x81;
}

int tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, int space_prefix, struct tok_ids *out)
{
    int rc = 0;
    struct spm_scratch sc = {0};
    /* Escape: ' ' -> "▁" (3 bytes), plus an optional leading "▁". */
    size_t cap = 3 * len + 3;
    char *s = malloc(cap);
    if (!s)
        return INFERD_ENOMEM;
    size_t n = 0;
    if (space_prefix) {
        memcpy(s, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            s[n++] = text[i];
        }
    }
    if (n == 0)
        goto done;
    if (n > INT32_MAX) {
        rc = INFERD_ETOOLARGE;
        goto done;
    }
    sc.sym = malloc(n * sizeof *sc.sym);
    if (!sc.sym) {
        rc = INFERD_ENOMEM;
        goto done;
    }
    if (!t->spm_split_words) {
        rc = encode_chunk(t, s, n, &sc, out);
        goto done;
    }
    /* No token holds a "▁" after another character, so no merge crosses the start of a
     * "▁" run: each run-started chunk is independent and the heap stays small. */
    size_t start = 0;
    for (size_t i = 3; i < n; i++) {
        if (is_space_mark(s, n, i) && !(i >= 3 && is_space_mark(s, n, i - 3))) {
            rc = encode_chunk(t, s + start, i - start, &sc, out);
            if (rc < 0)
                goto done;
            start = i;
        }
    }
    rc = encode_chunk(t, s + start, n - start, &sc, out);
done:
    free(sc.heap.v);
    free(sc.sym);
    free(s);
    return rc;
}
