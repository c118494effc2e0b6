/* wpm.c — WordPiece ("bert"): BERT normalization, then greedy longest-match.
 *
 * Normalization (Hugging Face BertNormalizer with lowercase): drop NUL, U+FFFD and control
 * characters, decompose (NFD) and drop non-spacing marks (accents), lowercase; whitespace
 * separates words; punctuation, ASCII symbols and CJK ideographs become one-character words.
 * Unicode data (categories, case, decompositions) comes from ICU's libicuuc.
 *
 * Vocabulary convention of llama.cpp's BERT conversion: a word-initial piece is stored with a
 * leading "▁" and a continuation piece without the "##" prefix. Each word gets "▁" prepended
 * and is matched greedily longest-first; a word that cannot be covered becomes [UNK]. */
#include "llm/tokenizer/encoders.h"

#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/utf16.h>

#define WPM_MAX_WORD 1024  /* longer words are [UNK], as BERT's max_input_chars_per_word (100 chars) */

static int is_cjk(UChar32 c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(UChar32 c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
        return 1;
    return (U_GET_GC_MASK(c) & U_GC_P_MASK) != 0;
}

static int put_utf8(char *w, size_t *n, UChar32 c)
{
    if (*n + 4 > WPM_MAX_WORD)
        return -1;
    if (c < 0x80) {
        w[(*n)++] = (char)c;
    } else if (c < 0x800) {
        w[(*n)++] = (char)(0xC0 | (c >> 6));
        w[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        w[(*n)++] = (char)(0xE0 | (c >> 12));
        w[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        w[(*n)++] = (char)(0x80 | (c & 0x3F));
    } else {
        w[(*n)++] = (char)(0xF0 | (c >> 18));
        w[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3F));
        w[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3F));
        w[(*n)++] = (char)(0x80 | (c & 0x3F));
    }
    return 0;
}

/* Greedy longest-match of "▁" + word[0..n) (w holds the word after 3 reserved bytes). */
static int emit_word(const struct tokenizer *t, char *w, size_t n, int too_long, struct tok_ids *out)
{
    if (n == 0 && !too_long)
        return 0;
    size_t start = out->n;
    if (!too_long) {
        size_t len = n + 3;
        memcpy(w, "\xe2\x96\x81", 3);
        for (size_t i = 0; i < len;) {
            size_t j = len;
            int32_t id = -1;
            for (; j > i; j--) {
                id = tok_lookup(t, w + i, j - i);
                if (id >= 0)
                    break;
            }
            if (id < 0) {
                out->n = start;  /* discard the partial word */
                break;
            }
            if (tok_ids_push(out, id) < 0)
                return INFERD_ENOMEM;
            i = j;
        }
    }
    if (out->n == start && t->unk >= 0 && tok_ids_push(out, t->unk) < 0)
        return INFERD_ENOMEM;
    return 0;
}

int tok_wpm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out)
{
    UErrorCode uerr = U_ZERO_ERROR;
    const UNormalizer2 *nfd = unorm2_getNFDInstance(&uerr);
    if (U_FAILURE(uerr))
        return INFERD_EUNSUPPORTED;
    char *w = malloc(WPM_MAX_WORD + 8);  /* 3 bytes reserved in front for "▁" */
    if (!w)
        return INFERD_ENOMEM;
    char *word = w + 3;
    size_t n = 0;
    int rc = 0, too_long = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += utf8_decode(text + i, len - i, &cp);
        UChar buf[32];
        uerr = U_ZERO_ERROR;
        int32_t dl = unorm2_getDecomposition(nfd, (UChar32)cp, buf, 32, &uerr);
        if (dl < 0 || U_FAILURE(uerr)) {  /* no decomposition: the character itself */
            dl = 0;
            U16_APPEND_UNSAFE(buf, dl, (UChar32)cp);
        }
        for (int32_t k = 0; k < dl;) {
            UChar32 c;
            U16_NEXT(buf, k, dl, c);
            if (u_isUWhiteSpace(c) || c == '\t' || c == '\n' || c == '\r') {
                rc = emit_word(t, w, n, too_long, out);
                if (rc < 0)
                    goto done;
                n = 0, too_long = 0;
                continue;
            }
            int8_t ty = u_charType(c);
            if (c == 0 || c == 0xFFFD || ty == U_CONTROL_CHAR || ty == U_FORMAT_CHAR || ty == U_NON_SPACING_MARK)
                continue;
            c = u_tolower(c);
            if (is_punct(c) || is_cjk(c) || (c < 0x7F && (U_GET_GC_MASK(c) & U_GC_S_MASK))) {
                rc = emit_word(t, w, n, too_long, out);
                if (rc < 0)
                    goto done;
                n = 0, too_long = 0;
                put_utf8(word, &n, c);
                rc = emit_word(t, w, n, 0, out);
                if (rc < 0)
                    goto done;
                n = 0;
                continue;
            }
            if (put_utf8(word, &n, c) < 0)
                too_long = 1;
        }
    }
    rc = emit_word(t, w, n, too_long, out);
done:
    free(w);
    return rc;
}
