/* load.c — building a tokenizer from GGUF tokenizer.* metadata (and freeing it). */
#include "llm/tokenizer/pretok.h"
#include "llm/tokenizer/vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOK_MAX_VOCAB (1 << 24)

static int hash_init(struct tok_hash *h, uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    h->slots = calloc(cap, sizeof *h->slots);
    if (!h->slots)
        return INFERD_ENOMEM;
    h->mask = cap - 1;
    return 0;
}

/* Inserts token i into the text index; a later duplicate text replaces an earlier one. */
static void index_token(struct tokenizer *t, int32_t i)
{
    const char *p = t->blob + t->text_off[i];
    size_t n = t->text_len[i];
    uint64_t s = hash_fnv1a(HASH_FNV1A_SEED, p, n) & t->by_text.mask;
    for (;;) {
        int32_t v = t->by_text.slots[s];
        if (v == 0 || (t->text_len[v - 1] == n && memcmp(t->blob + t->text_off[v - 1], p, n) == 0)) {
            t->by_text.slots[s] = i + 1;
            return;
        }
        s = (s + 1) & t->by_text.mask;
    }
}

/* Copies the token texts, scores and types. */
static int load_vocab(struct tokenizer *t, const struct gguf_file *g, struct inferd_err *err)
{
    const struct gguf_kv *tk = gguf_find_kv(g, "tokenizer.ggml.tokens");
    if (!tk)
        return inferd_err_set(err, INFERD_ENOTFOUND, "tokenizer.ggml.tokens: absent (no vocabulary in the file)");
    if (tk->type != GGUF_TYPE_ARRAY || tk->arr_type != GGUF_TYPE_STRING)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.tokens: not an array of strings");
    if (tk->arr_n == 0 || tk->arr_n > TOK_MAX_VOCAB)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.tokens: %llu tokens (want 1..%d)",
                              (unsigned long long)tk->arr_n, TOK_MAX_VOCAB);
    int32_t n = (int32_t)tk->arr_n;
    t->n_vocab = n;
    uint64_t total = 0;
    struct gguf_str s;
    for (int32_t i = 0; i < n; i++) {
        gguf_arr_str(g, tk, (uint64_t)i, &s);
        total += s.len + 1;
    }
    if (total > UINT32_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "tokenizer.ggml.tokens: %llu bytes of text (cap 4 GiB)",
                              (unsigned long long)total);
    t->blob = malloc(total);
    t->text_off = malloc((size_t)n * sizeof *t->text_off);
    t->text_len = malloc((size_t)n * sizeof *t->text_len);
    t->scores = calloc((size_t)n, sizeof *t->scores);
    t->types = malloc((size_t)n);
    t->strip = calloc((size_t)n, 1);
    if (!t->blob || !t->text_off || !t->text_len || !t->scores || !t->types || !t->strip ||
        hash_init(&t->by_text, (uint64_t)n))
        return inferd_err_set(err, INFERD_ENOMEM, "tokenizer: out of memory for %d tokens", n);
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_arr_str(g, tk, (uint64_t)i, &s);
        memcpy(t->blob + off, s.ptr, s.len);
        t->blob[off + s.len] = '\0';
        t->text_off[i] = off;
        t->text_len[i] = (uint32_t)s.len;
        off += (uint32_t)s.len + 1;
        t->types[i] = TOKEN_TYPE_NORMAL;
        index_token(t, i);
    }
    const struct gguf_kv *sc = gguf_find_kv(g, "tokenizer.ggml.scores");
    if (sc) {
        if (sc->type != GGUF_TYPE_ARRAY || sc->arr_n != (uint64_t)n)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.scores: want an array of %d numbers", n);
        for (int32_t i = 0; i < n; i++)
            if (gguf_arr_f32(sc, (uint64_t)i, &t->scores[i]) < 0)
                return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.scores: element %d is not a float", i);
    }
    const struct gguf_kv *ty = gguf_find_kv(g, "tokenizer.ggml.token_type");
    if (ty) {
        if (ty->type != GGUF_TYPE_ARRAY || ty->arr_n != (uint64_t)n)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.token_type: want an array of %d ints", n);
        for (int32_t i = 0; i < n; i++) {
            int64_t v;
            if (gguf_arr_i64(ty, (uint64_t)i, &v) < 0 || v < 0 || v > TOKEN_TYPE_BYTE)
                return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.token_type: element %d is not a type", i);
            t->types[i] = (uint8_t)v;
        }
    }
    return 0;
}

/* Reads tokenizer.ggml.merges ("left right", rank = position). The first of duplicates wins. */
static int load_merges(struct tokenizer *t, const struct gguf_file *g, struct inferd_err *err)
{
    const struct gguf_kv *m = gguf_find_kv(g, "tokenizer.ggml.merges");
    if (!m)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.merges: absent (needed by the gpt2 tokenizer)");
    if (m->type != GGUF_TYPE_ARRAY || m->arr_type != GGUF_TYPE_STRING || m->arr_n > TOK_MAX_VOCAB)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.merges: not an array of at most %d strings",
                              TOK_MAX_VOCAB);
    int32_t n = (int32_t)m->arr_n;
    uint64_t total = 0;
    struct gguf_str s;
    for (int32_t i = 0; i < n; i++) {
        gguf_arr_str(g, m, (uint64_t)i, &s);
        total += s.len;
    }
    if (total > UINT32_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "tokenizer.ggml.merges: too much text");
    t->merge_blob = malloc(total ? total : 1);
    t->merge_off = malloc(((size_t)n + 1) * sizeof *t->merge_off);
    t->merge_left = malloc(((size_t)n + 1) * sizeof *t->merge_left);
    t->merge_right = malloc(((size_t)n + 1) * sizeof *t->merge_right);
    if (!t->merge_blob || !t->merge_off || !t->merge_left || !t->merge_right || hash_init(&t->merges, (uint64_t)n))
        return inferd_err_set(err, INFERD_ENOMEM, "tokenizer: out of memory for %d merges", n);
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_arr_str(g, m, (uint64_t)i, &s);
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp || s.len - 1 > 2 * 0xffffu)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.merges: element %d '%.*s' is not \"a b\"", i,
                                  (int)(s.len > 64 ? 64 : s.len), s.ptr);
        size_t ln = (size_t)(sp - s.ptr), rn = s.len - ln - 1;
        if (ln > 0xffff || rn > 0xffff)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.ggml.merges: element %d too long", i);
        memcpy(t->merge_blob + off, s.ptr, ln);
        memcpy(t->merge_blob + off + ln, sp + 1, rn);
        t->merge_off[i] = off;
        t->merge_left[i] = (uint16_t)ln;
        t->merge_right[i] = (uint16_t)rn;
        off += (uint32_t)(ln + rn);
        if (tok_merge_rank(t, t->merge_blob + t->merge_off[i], ln, t->merge_blob + t->merge_off[i] + ln, rn) >= 0)
            continue;  /* duplicate: keep the first (lower) rank */
        uint64_t h = tok_merge_hash(t->merge_blob + t->merge_off[i], ln, t->merge_blob + t->merge_off[i] + ln, rn);
        uint64_t slot = h & t->merges.mask;
        while (t->merges.slots[slot])
            slot = (slot + 1) & t->merges.mask;
        t->merges.slots[slot] = i + 1;
        t->n_merges = i + 1;
    }
    t->n_merges = n;
    return 0;
}

/* Special-id key: a valid id replaces *id; a missing key keeps the default. */
static void load_id(struct tokenizer *t, const struct gguf_file *g, const char *key, int32_t *id)
{
    uint32_t v;
    if (gguf_get_u32(g, key, &v) == 0 && v < (uint32_t)t->n_vocab)
        *id = (int32_t)v;
    if (*id >= t->n_vocab)
        *id = -1;
}

static void load_flag(const struct gguf_file *g, const char *key, int *flag)
{
    int v;
    if (gguf_get_bool(g, key, &v) == 0)
        *flag = v;
}

static int by_len_desc(const void *a, const void *b, void *ctx)
{
    const struct tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->text_len[x] != t->text_len[y])
        return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Texts that end a turn in common chat formats; such tokens also stop generation. */
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
    "<|end_of_text|>", "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", "<|return|>",
};

static int build_special(struct tokenizer *t, struct inferd_err *err)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->types[i];
        if ((ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED || ty == TOKEN_TYPE_UNKNOWN) && t->text_len[i])
            n++;
    }
    t->special = malloc(((size_t)n + 1) * sizeof *t->special);
    size_t n_eog_max = sizeof eog_texts / sizeof eog_texts[0] + 3;
    t->eog = malloc(n_eog_max * sizeof *t->eog);
    if (!t->special || !t->eog)
        return inferd_err_set(err, INFERD_ENOMEM, "tokenizer: out of memory");
    for (int32_t i = 0; i < t->n_vocab; i++) {
        uint8_t ty = t->types[i];
        if ((ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED || ty == TOKEN_TYPE_UNKNOWN) && t->text_len[i])
            t->special[t->n_special++] = i;
    }
    qsort_r(t->special, (size_t)t->n_special, sizeof *t->special, by_len_desc, t);

    /* EOT: detect by text when the metadata does not say. */
    for (size_t k = 0; t->eot < 0 && k < 4; k++) {
        int32_t id = tok_lookup(t, eog_texts[k], strlen(eog_texts[k]));
        if (id >= 0 && id != t->eos)
            t->eot = id;
    }
    int32_t cand[3] = {t->eos, t->eot, t->eom};
    for (int k = 0; k < 3; k++)
        if (cand[k] >= 0)
            t->eog[t->n_eog++] = cand[k];
    for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++) {
        int32_t id = tok_lookup(t, eog_texts[k], strlen(eog_texts[k]));
        if (id < 0 || t->types[id] == TOKEN_TYPE_NORMAL)
            continue;
        int dup = 0;
        for (int32_t j = 0; j < t->n_eog; j++)
            dup |= t->eog[j] == id;
        if (!dup)
            t->eog[t->n_eog++] = id;
    }
    return 0;
}

/* 1 when no token text holds "▁" right after a character other than "▁". A byte in the
 * middle of a UTF-8 sequence (continuation byte) cannot start "▁", so a byte scan is exact. */
static int spm_words_independent(const struct tokenizer *t)
{
    for (int32_t i = 0; i < t->n_vocab; i++) {
        const unsigned char *s = (const unsigned char *)t->blob + t->text_off[i];
        size_t n = t->text_len[i];
        for (size_t p = 1; p + 3 <= n; p++) {
            if (s[p] != 0xE2 || s[p + 1] != 0x96 || s[p + 2] != 0x81)
                continue;
            if (!(p >= 3 && s[p - 3] == 0xE2 && s[p - 2] == 0x96 && s[p - 1] == 0x81))
                return 0;
        }
    }
    return 1;
}

static int contains_ci(struct gguf_str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (strncasecmp(s.ptr + i, needle, n) == 0)
            return 1;
    return 0;
}

static void set_strip(struct tokenizer *t, const char *text, int bit, int on)
{
    int32_t id = tok_lookup(t, text, strlen(text));
    if (id >= 0)
        t->strip[id] = (uint8_t)(on ? t->strip[id] | bit : t->strip[id] & ~bit);
}

/* Whitespace-eating specials, which GGUF does not record: set by model name as llama.cpp
 * does (Hugging Face's added-token lstrip/rstrip for these models). */
static void set_strip_attrs(struct tokenizer *t, const struct gguf_file *g, struct gguf_str pre)
{
    struct gguf_str name = {0}, arch = {0};
    gguf_get_str(g, "general.name", &name);
    gguf_get_str(g, "general.architecture", &arch);
    if (contains_ci(pre, "jina-v2-de") || contains_ci(pre, "jina-v2-es") || contains_ci(pre, "jina-v2-code") ||
        contains_ci(arch, "nomic-bert-moe") || contains_ci(arch, "jina-bert-v3")) {
        set_strip(t, "<mask>", TOK_LSTRIP, 1);
    } else if (contains_ci(name, "phi-3") || contains_ci(name, "phi3")) {
        for (int32_t k = 0; k < t->n_special; k++)
            t->strip[t->special[k]] |= TOK_RSTRIP;
        set_strip(t, "</s>", TOK_RSTRIP, 1);
        set_strip(t, "<unk>", TOK_RSTRIP, 0);
        set_strip(t, "<s>", TOK_RSTRIP, 0);
        set_strip(t, "<|endoftext|>", TOK_RSTRIP, 0);
    }
}

static void build_byte_tokens(struct tokenizer *t)
{
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n;
        if (t->kind == TOKENIZER_SPM) {
            n = (size_t)snprintf(s, sizeof s, "<0x%02X>", b);
        } else {
            n = tok_byte_to_utf8((uint8_t)b, s);
        }
        t->byte_token[b] = tok_lookup(t, s, n);
    }
}

int tokenizer_from_gguf(const struct gguf_file *g, struct tokenizer **out, struct inferd_err *err)
{
    int rc;
    struct gguf_str model = {0}, pre = {0};
    *out = NULL;
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return inferd_err_set(err, INFERD_ENOMEM, "tokenizer: out of memory");
    if (gguf_get_str(g, "tokenizer.ggml.model", &model) < 0) {
        rc = inferd_err_set(err, INFERD_ENOTFOUND, "tokenizer.ggml.model: absent or not a string");
        goto fail;
    }
    gguf_get_str(g, "tokenizer.ggml.pre", &pre);
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = t->sep = -1;
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
        t->kind = TOKENIZER_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = 1, t->add_space_prefix = 1;
    } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
        t->kind = TOKENIZER_BPE;
        t->bos = 11, t->eos = 11;
    } else if (model.len == 4 && memcmp(model.ptr, "bert", 4) == 0) {
        t->kind = TOKENIZER_WPM;
        t->bos = 101, t->unk = 100, t->sep = 102, t->pad = 0;
        t->add_bos = 1, t->add_sep = 1;
    } else {
        rc = inferd_err_set(err, INFERD_EUNSUPPORTED, "tokenizer.ggml.model: '%.*s' is not supported (llama, gpt2, bert)",
                            (int)(model.len > 64 ? 64 : model.len), model.ptr);
        goto fail;
    }
    rc = load_vocab(t, g, err);
    if (rc < 0)
        goto fail;
    if (t->kind == TOKENIZER_BPE) {
        rc = load_merges(t, g, err);
        if (rc < 0)
            goto fail;
        rc = tok_pretok_new(pre.ptr, (size_t)pre.len, &t->pre, err);
        if (rc < 0)
            goto fail;
        static const char *const llama3_like[] = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
                                                  "pixtral", "midm-2.0", "lfm2", "tekken"};
        for (size_t k = 0; k < sizeof llama3_like / sizeof llama3_like[0]; k++)
            if (pre.len == strlen(llama3_like[k]) && memcmp(pre.ptr, llama3_like[k], pre.len) == 0)
                t->ignore_merges = 1, t->add_bos = 1;
    }
    load_id(t, g, "tokenizer.ggml.bos_token_id", &t->bos);
    load_id(t, g, "tokenizer.ggml.eos_token_id", &t->eos);
    load_id(t, g, "tokenizer.ggml.eot_token_id", &t->eot);
    load_id(t, g, "tokenizer.ggml.eom_token_id", &t->eom);
    load_id(t, g, "tokenizer.ggml.unknown_token_id", &t->unk);
    load_id(t, g, "tokenizer.ggml.seperator_token_id", &t->sep);
    load_id(t, g, "tokenizer.ggml.padding_token_id", &t->pad);
    load_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    load_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    load_flag(g, "tokenizer.ggml.add_sep_token", &t->add_sep);
    load_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (t->add_bos && t->bos < 0)
        t->add_bos = 0;
    if (t->add_eos && t->eos < 0)
        t->add_eos = 0;
    if (t->add_sep && t->sep < 0)
        t->add_sep = 0;
    rc = build_special(t, err);
    if (rc < 0)
        goto fail;
    set_strip_attrs(t, g, pre);
    build_byte_tokens(t);
    if (t->kind == TOKENIZER_SPM)
        t->spm_split_words = spm_words_independent(t);
    *out = t;
    return 0;
fail:
    tokenizer_free(t);
    return rc;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t)
        return;
    tok_pretok_free(t->pre);
    free(t->blob);
    free(t->text_off);
    free(t->text_len);
    free(t->scores);
    free(t->types);
    free(t->strip);
    free(t->by_text.slots);
    free(t->merge_blob);
    free(t->merge_off);
    free(t->merge_left);
    free(t->merge_right);
    free(t->merges.slots);
    free(t->special);
    free(t->eog);
    free(t);
}
