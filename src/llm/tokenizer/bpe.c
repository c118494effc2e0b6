/* bpe.c — byte-level BPE ("gpt2"): pre-tokenize with the model's regexes, map each
 * word's bytes to GPT-2's printable characters, then apply merges lowest rank first.
 *
 * Same algorithm and tie-breaks as llama.cpp's llm_tokenizer_bpe: symbols are the UTF-8
 * characters of the mapped word; every adjacent pair that is a merge is queued by rank (then
 * leftmost); popping a pair merges it unless a side changed since; the merged symbol's new
 * neighbours are queued. Symbols that are not tokens fall back to single-byte tokens. */
#include "llm/tokenizer/encoders.h"
#include "llm/tokenizer/merge.h"
#include "llm/tokenizer/pretok.h"

#include <stdlib.h>
#include <string.h>

/* Scratch reused across the words of one call. */
struct bpe_scratch {
    char *w;              /* mapped word */
    struct tok_sym *sym;  /* one per character */
    struct tok_merge_heap heap;
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
    struct tok_sym *sym = sc->sym;
    int32_t ns = 0;
    rc = tok_merge_run(t, w, n, sym, &sc->heap, &ns);
    if (rc < 0)
        return rc;
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
