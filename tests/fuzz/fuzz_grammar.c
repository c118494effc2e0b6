/* fuzz_grammar.c — libFuzzer driver for the GBNF parser and matcher: the input is grammar
 * text, optionally followed by a NUL and text to match. A refused grammar must say why; an
 * accepted one is matched against the text, and at every step the vocabulary mask must
 * agree with the token-by-token check and every token it offers must be accepted. */
#include "llm/grammar.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NTOK 262

static struct llm_gvocab *vocab(void)
{
    static struct llm_gvocab *v; /* built once per process; never freed (fuzzer lifetime) */
    if (v)
        return v;
    static char bytes[256];
    static const char *pieces[NTOK];
    static size_t lens[NTOK];
    static uint8_t eog[NTOK];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        pieces[i] = &bytes[i];
        lens[i] = 1;
    }
    const char *words[] = {"ab", "{\"", "\u00e9", "true", "\xe4\xb8"};
    for (int i = 0; i < 5; i++) {
        pieces[256 + i] = words[i];
        lens[256 + i] = strlen(words[i]);
    }
    pieces[261] = "";
    eog[261] = 1;
    if (llm_gvocab_from_pieces(pieces, lens, eog, NTOK, &v, NULL) < 0)
        abort();
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t glen = nul ? (size_t)(nul - data) : size;
    struct llm_grammar *g;
    struct inferd_err err = {0};
    if (llm_grammar_parse((const char *)data, glen, NULL, &g, &err) < 0) {
        if (!err.msg[0] || g)
            abort();
        return 0;
    }
    struct llm_gmatch *gm;
    if (llm_gmatch_new(g, vocab(), &gm, &err) < 0) {
        llm_grammar_unref(g);
        return 0;
    }
    if (nul) /* feed what the input says, as far as the grammar takes it */
        for (const uint8_t *p = nul + 1; p < data + size; p++)
            if (llm_gmatch_accept_text(gm, (const char *)p, 1, &err) < 0)
                break;
    float logits[NTOK];
    for (int step = 0; step < 16; step++) {
        for (int i = 0; i < NTOK; i++)
            logits[i] = 0;
        int n = llm_gmatch_mask(gm, logits), pick = -1;
        for (int i = 0; i < NTOK; i++) {
            int offered = logits[i] == 0;
            if (offered != llm_gmatch_allows(gm, i))
                abort();
            if (offered && pick < 0 && (i != NTOK - 1 || n == 1))
                pick = (i * 7 + step) % NTOK == 0 ? pick : i;
        }
        if (n == 0 || pick < 0)
            break;
        if (llm_gmatch_accept(gm, pick, &err) < 0)
            abort();
        if (pick == NTOK - 1 || llm_gmatch_done(gm))
            break;
    }
    llm_gmatch_free(gm);
    llm_grammar_unref(g);
    return 0;
}
