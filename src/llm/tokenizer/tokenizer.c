/* tokenizer.c — the dispatcher: encode driver (special-token split, BOS/EOS, one encoder per
 * text run), pieces, detokenize, accessors. Calls the encoders and the vocabulary; neither
 * calls back into this file. */
#include "llm/tokenizer/encoders.h"
#include "llm/tokenizer/vocab.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- encode ---- */

struct frag {
    int32_t id;  /* -1: text */
    size_t off, len;
};
struct frags {
    struct frag *v;
    size_t n, cap;
};

static int frag_push(struct frags *f, int32_t id, size_t off, size_t len)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct frag *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return INFERD_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct frag){id, off, len};
    return 0;
}

/* C isspace in the "C" locale, as llama.cpp's strip uses. */
static int is_c_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Splits the text fragments of *in on every occurrence of special token id (left to right,
 * non-overlapping). Swaps the result into *in. */
static int split_on(const struct tokenizer *t, const char *text, int32_t id, struct frags *in, struct frags *tmp)
{
    const char *st = t->blob + t->text_off[id];
    size_t sl = t->text_len[id];
    int hit = 0;
    for (size_t k = 0; k < in->n && !hit; k++)
        hit = in->v[k].id < 0 && in->v[k].len >= sl && memmem(text + in->v[k].off, in->v[k].len, st, sl);
    if (!hit)
        return 0;
    tmp->n = 0;
    for (size_t k = 0; k < in->n; k++) {
        struct frag f = in->v[k];
        if (f.id >= 0) {
            if (frag_push(tmp, f.id, 0, 0) < 0)
                return INFERD_ENOMEM;
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        while (pos < end) {
            const char *m = memmem(text + pos, end - pos, st, sl);
            if (!m)
                break;
            size_t at = (size_t)(m - text), left = at;
            if (t->strip[id] & TOK_LSTRIP)
                while (left > pos && is_c_space(text[left - 1]))
                    left--;
            if (left > pos && frag_push(tmp, -1, pos, left - pos) < 0)
                return INFERD_ENOMEM;
            if (frag_push(tmp, id, 0, 0) < 0)
                return INFERD_ENOMEM;
            pos = at + sl;
            if (t->strip[id] & TOK_RSTRIP)
                while (pos < end && is_c_space(text[pos]))
                    pos++;
        }
        if (pos < end && frag_push(tmp, -1, pos, end - pos) < 0)
            return INFERD_ENOMEM;
    }
    struct frags s = *in;
    *in = *tmp;
    *tmp = s;
    return 0;
}

/* Which byte pairs occur in the text: a special token is only searched for when every pair
 * of adjacent bytes in it occurs, which rules out nearly all of a large special list in O(1)
 * each instead of one memmem over the text per token. */
struct pair_set {
    uint64_t bits[65536 / 64];
};

static void pairs_build(struct pair_set *ps, const char *text, size_t len)
{
    memset(ps, 0, sizeof *ps);
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned k = (unsigned)(unsigned char)text[i] << 8 | (unsigned char)text[i + 1];
        ps->bits[k >> 6] |= 1ull << (k & 63);
    }
}

static int pairs_may_contain(const struct pair_set *ps, const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned k = (unsigned)(unsigned char)s[i] << 8 | (unsigned char)s[i + 1];
        if (!(ps->bits[k >> 6] & (1ull << (k & 63))))
            return 0;
    }
    return 1;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t *out, int cap)
{
    int rc = 0;
    struct frags fr = {0}, tmp = {0};
    struct tok_ids ids = {0};
    if (len > TOKENIZER_MAX_TEXT)
        return INFERD_ETOOLARGE;
    struct pair_set *ps = NULL;
    if (len) {
        rc = frag_push(&fr, -1, 0, len);
        if (rc < 0)
            goto fail;
    }
    if (len && t->n_special) {
        ps = malloc(sizeof *ps);
        if (!ps) {
            rc = INFERD_ENOMEM;
            goto fail;
        }
        pairs_build(ps, text, len);
    }
    for (int32_t k = 0; k < t->n_special && fr.n; k++) {
        int32_t id = t->special[k];
        if (!parse_special && t->types[id] != TOKEN_TYPE_USER_DEFINED)
            continue;  /* CONTROL and UNKNOWN text is plain text unless asked */
        if (t->text_len[id] > len || !pairs_may_contain(ps, t->blob + t->text_off[id], t->text_len[id]))
            continue;
        rc = split_on(t, text, id, &fr, &tmp);
        if (rc < 0)
            goto fail;
    }
    if (add_special && t->add_bos) {
        rc = tok_ids_push(&ids, t->bos);
        if (rc < 0)
            goto fail;
    }
    int prev_special = 1;  /* SPM: a text run at the start or after a special token gets "▁" */
    for (size_t k = 0; k < fr.n; k++) {
        const struct frag *f = &fr.v[k];
        if (f->id >= 0) {
            rc = tok_ids_push(&ids, f->id);
            prev_special = 1;
        } else if (t->kind == TOKENIZER_SPM) {
            rc = tok_spm_encode(t, text + f->off, f->len, t->add_space_prefix && prev_special, &ids);
            prev_special = 0;
        } else if (t->kind == TOKENIZER_BPE) {
            rc = tok_bpe_encode(t, text + f->off, f->len, &ids);
        } else {
            rc = tok_wpm_encode(t, text + f->off, f->len, &ids);
        }
        if (rc < 0)
            goto fail;
    }
    if (add_special && t->kind == TOKENIZER_WPM && t->add_sep) {
        rc = tok_ids_push(&ids, t->sep);
        if (rc < 0)
            goto fail;
    }
    if (add_special && t->add_eos) {
        rc = tok_ids_push(&ids, t->eos);
        if (rc < 0)
            goto fail;
    }
    if (ids.n > INT_MAX) {
        rc = INFERD_ETOOLARGE;
        goto fail;
    }
    rc = (int)ids.n;
    if (out && cap > 0 && ids.n > 0)
        memcpy(out, ids.v, (ids.n < (size_t)cap ? ids.n : (size_t)cap) * sizeof *out);
fail:
    free(ps);
    free(fr.v);
    free(tmp.v);
    tok_ids_free(&ids);
    return rc;
}

/* ---- pieces ---- */

/* Appends src[0..n) to buf at *pos (copying only what fits in cap). */
static void put(char *buf, size_t cap, size_t *pos, const char *src, size_t n)
{
    if (*pos < cap) {
        size_t room = cap - *pos;
        memcpy(buf + *pos, src, n < room ? n : room);
    }
    *pos += n;
}

/* Piece of id into buf at *pos; render_special says whether CONTROL/UNKNOWN text shows. */
static int piece(const struct tokenizer *t, int32_t id, int render_special, char *buf, size_t cap, size_t *pos)
{
    if (id < 0 || id >= t->n_vocab)
        return INFERD_EINVAL;
    const char *s = t->blob + t->text_off[id];
    size_t n = t->text_len[id];
    uint8_t ty = t->types[id];
    if (ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_UNKNOWN) {
        if (render_special)
            put(buf, cap, pos, s, n);
        return 0;
    }
    if (ty == TOKEN_TYPE_USER_DEFINED) {
        put(buf, cap, pos, s, n);
        return 0;
    }
    if (ty == TOKEN_TYPE_BYTE && t->kind == TOKENIZER_SPM) {
        /* "<0xNN>" */
        if (n == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
            char h[3] = {s[3], s[4], 0};
            char b = (char)strtol(h, NULL, 16);
            put(buf, cap, pos, &b, 1);
        }
        return 0;
    }
    if (ty != TOKEN_TYPE_NORMAL && ty != TOKEN_TYPE_UNDEFINED && ty != TOKEN_TYPE_BYTE)
        return 0;  /* UNUSED */
    if (t->kind == TOKENIZER_BPE) {
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t l = utf8_decode(s + i, n - i, &cp);
            int b = tok_unicode_to_byte(cp);
            if (b >= 0) {
                char c = (char)b;
                put(buf, cap, pos, &c, 1);
            } else {
                put(buf, cap, pos, s + i, l);
            }
            i += l;
        }
        return 0;
    }
    /* SPM and WPM: "▁" (E2 96 81) is a space. */
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            put(buf, cap, pos, " ", 1);
            i += 3;
        } else {
            put(buf, cap, pos, s + i, 1);
            i++;
        }
    }
    return 0;
}

int tokenizer_token_to_piece(const struct tokenizer *t, int32_t id, char *buf, size_t cap)
{
    size_t pos = 0;
    int rc = piece(t, id, 1, buf, cap, &pos);
    if (rc < 0)
        return rc;
    return pos > INT_MAX ? INFERD_ETOOLARGE : (int)pos;
}

int tokenizer_detokenize(const struct tokenizer *t, const int32_t *toks, int n, int render_special, char *buf,
                         size_t cap)
{
    size_t pos = 0;
    int strip = (t->kind == TOKENIZER_SPM && t->add_space_prefix) || t->kind == TOKENIZER_WPM;
    for (int i = 0; i < n; i++) {
        int rc;
        if (!strip) {
            rc = piece(t, toks[i], render_special, buf, cap, &pos);
            if (rc < 0)
                return rc;
            continue;
        }
        /* First non-empty piece: drop the one leading space the encoder's prefix added. A
         * piece is never longer than its token text, so a scratch of that size holds it. */
        if (toks[i] < 0 || toks[i] >= t->n_vocab)
            return INFERD_EINVAL;
        char small[256];
        size_t need = t->text_len[toks[i]], len = 0;
        char *tmp = need <= sizeof small ? small : malloc(need);
        if (!tmp)
            return INFERD_ENOMEM;
        rc = piece(t, toks[i], render_special, tmp, need, &len);
        if (rc == 0 && len > 0) {
            size_t skip = tmp[0] == ' ';
            put(buf, cap, &pos, tmp + skip, len - skip);
            strip = 0;
        }
        if (tmp != small)
            free(tmp);
        if (rc < 0)
            return rc;
    }
    return pos > INT_MAX ? INFERD_ETOOLARGE : (int)pos;
}

/* ---- accessors ---- */

int tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    if (id < 0)
        return 0;
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return 1;
    return 0;
}

enum tokenizer_kind tokenizer_get_kind(const struct tokenizer *t) { return t->kind; }
int32_t tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const struct tokenizer *t) { return t->eot; }
int32_t tokenizer_unk(const struct tokenizer *t) { return t->unk; }
int32_t tokenizer_pad(const struct tokenizer *t) { return t->pad; }
int tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos; }
int tokenizer_add_eos(const struct tokenizer *t) { return t->add_eos; }

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    if (len)
        *len = t->text_len[id];
    return t->blob + t->text_off[id];
}

int tokenizer_token_type(const struct tokenizer *t, int32_t id)
{
    return id < 0 || id >= t->n_vocab ? -1 : t->types[id];
}

int32_t tokenizer_find_token(const struct tokenizer *t, const char *text)
{
    return tok_lookup(t, text, strlen(text));
}
