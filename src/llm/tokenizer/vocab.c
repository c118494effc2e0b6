/* vocab.c — the vocabulary helpers every encoder shares (see vocab.h): bounded id and span
 * vectors, the text -> id and merge -> rank lookups, UTF-8 decoding, GPT-2's byte mapping. */
#include "llm/tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

/* ---- small containers ---- */

int tok_ids_push(struct tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        if (cap > TOKENIZER_MAX_TEXT)
            return INFERD_ETOOLARGE;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v)
            return INFERD_ENOMEM;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

void tok_ids_free(struct tok_ids *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

int tok_spans_push(struct tok_spans *s, size_t off, size_t len)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        struct tok_span *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return INFERD_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

void tok_spans_free(struct tok_spans *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* ---- lookups ---- */

int32_t tok_lookup(const struct tokenizer *t, const char *p, size_t n)
{
    uint64_t s = hash_fnv1a(HASH_FNV1A_SEED, p, n) & t->by_text.mask;
    for (;;) {
        int32_t v = t->by_text.slots[s];
        if (v == 0)
            return -1;
        if (t->text_len[v - 1] == n && memcmp(t->blob + t->text_off[v - 1], p, n) == 0)
            return v - 1;
        s = (s + 1) & t->by_text.mask;
    }
}

int32_t tok_merge_rank(const struct tokenizer *t, const char *l, size_t ln, const char *r, size_t rn)
{
    if (!t->merges.slots)
        return -1;
    uint64_t h = tok_merge_hash(l, ln, r, rn);
    uint64_t s = h & t->merges.mask;
    for (;;) {
        int32_t v = t->merges.slots[s];
        if (v == 0)
            return -1;
        int32_t i = v - 1;
        const char *m = t->merge_blob + t->merge_off[i];
        if (t->merge_left[i] == ln && t->merge_right[i] == rn && memcmp(m, l, ln) == 0 &&
            memcmp(m + ln, r, rn) == 0)
            return i;
        s = (s + 1) & t->merges.mask;
    }
}

/* ---- the GPT-2 byte mapping ---- */

/* GPT-2 maps the printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) to themselves and the
 * other 68 bytes, in order, to U+0100..U+0143. */
static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

size_t tok_byte_to_utf8(uint8_t b, char out[2])
{
    uint32_t cp;
    if (byte_is_printable(b))
        cp = b;
    else if (b <= 0x20)
        cp = 256 + b;
    else if (b <= 0xA0)
        cp = 256 + 33 + (b - 0x7F);
    else
        cp = 256 + 67;  /* 0xAD */
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int tok_unicode_to_byte(uint32_t cp)
{
    if (cp < 256)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 256 + 33)
        return (int)(cp - 256);
    if (cp < 256 + 67)
        return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67)
        return 0xAD;
    return -1;
}
