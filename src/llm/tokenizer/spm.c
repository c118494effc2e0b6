/* spm.c — SentencePiece-style tokenization ("llama"): merge adjacent symbols by the
 * score of the token they form, best first (a binary heap), then fall back to <0xNN> bytes.
 *
 * Same algorithm and tie-breaks as llama.cpp's llm_tokenizer_spm: the text has its spaces
 * replaced by "▁" (and one "▁" prepended when asked), is cut into UTF-8 characters, and every
 * adjacent pair whose concatenation is a token is queued with that token's score. Popping the
 * best pair (higher score, then leftmost) merges it unless either side changed since; new
 * pairs with the neighbours are queued. O(n log n) in the text length. */
#include "llm/tokenizer/encoders.h"
#include "llm/tokenizer/merge.h"

#include <stdlib.h>
#include <string.h>

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
    struct tok_sym *sym;
    struct tok_merge_heap heap;
};

/* The SPM algorithm over s[0..n) (escaped text); appends ids. */
static int encode_chunk(const struct tokenizer *t, const char *s, size_t n, struct spm_scratch *sc,
                        struct tok_ids *out)
{
    int rc;
    struct tok_sym *sym = sc->sym;
    int32_t ns = 0;
    rc = tok_merge_run(t, s, n, sym, &sc->heap, &ns);
    if (rc < 0)
        return rc;
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
