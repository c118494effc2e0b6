/* fuzz_tokenize.c — libFuzzer driver for the tokenizers: byte 0 picks the vocabulary (a small
 * SPM or byte-level BPE one, built in memory as a GGUF) and the flags, the rest is the text.
 * Every id must be in range, a second call with the exact capacity must give the same ids,
 * and without special parsing detokenize(encode(x)) must give x back (both vocabularies are
 * lossless: SPM has all 256 byte tokens, BPE maps every byte). */
#include "llm/gguf.h"
#include "llm/tokenizer/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gbuf {
    uint8_t d[65536];
    size_t n;
};

static void put(struct gbuf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->d)
        abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_u32(struct gbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct gbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct gbuf *b, const char *s, size_t n)
{
    put_u64(b, n);
    put(b, s, n);
}
static void kv_str(struct gbuf *b, const char *k, const char *v)
{
    put_str(b, k, strlen(k));
    put_u32(b, GGUF_TYPE_STRING);
    put_str(b, v, strlen(v));
}
static void kv_arr_hdr(struct gbuf *b, const char *k, enum gguf_type t, uint64_t n)
{
    put_str(b, k, strlen(k));
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, t);
    put_u64(b, n);
}

/* Appends the UTF-8 of GPT-2's char for byte v. */
static size_t gpt2_char(uint8_t v, char *out)
{
    int printable = (v >= 0x21 && v <= 0x7E) || (v >= 0xA1 && v <= 0xAC) || v >= 0xAE;
    uint32_t cp = printable ? v : v <= 0x20 ? 256u + v : v <= 0xA0 ? 256u + 33 + (v - 0x7Fu) : 256u + 67;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static struct tokenizer *build(int bpe)
{
    static struct gbuf b;  /* must outlive the gguf_file only during tokenizer_from_gguf */
    static char texts[300][16];
    const char *tok[300];
    size_t tl[300];
    float score[300];
    int32_t type[300];
    int n = 0;
    b.n = 0;
    if (!bpe) {
        const char *head[] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++)
            tok[n] = head[i], tl[n] = strlen(head[i]), score[n] = 0, type[n++] = i ? 3 : 2;
        for (int v = 0; v < 256; v++) {
            snprintf(texts[v], sizeof texts[v], "<0x%02X>", v);
            tok[n] = texts[v], tl[n] = 6, score[n] = 0, type[n++] = 6;
        }
        const char *w[] = {"\342\226\201", "a", "b", "ab", "\342\226\201a", "\342\226\201ab", "\342\226\201\342\226\201"};
        float s[] = {-5, -6, -6, -2, -3, -1, -4};
        for (int i = 0; i < 7; i++)
            tok[n] = w[i], tl[n] = strlen(w[i]), score[n] = s[i], type[n++] = 1;
    } else {
        for (int v = 0; v < 256; v++) {
            tl[n] = gpt2_char((uint8_t)v, texts[v]);
            tok[n] = texts[v], score[n] = 0, type[n++] = 1;
        }
        const char *w[] = {"\304\240t", "he", "\304\240the", "in", "<|endoftext|>"};
        for (int i = 0; i < 5; i++)
            tok[n] = w[i], tl[n] = strlen(w[i]), score[n] = 0, type[n++] = i == 4 ? 3 : 1;
    }
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, bpe ? 6 : 4);
    kv_str(&b, "tokenizer.ggml.model", bpe ? "gpt2" : "llama");
    kv_arr_hdr(&b, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, (uint64_t)n);
    for (int i = 0; i < n; i++)
        put_str(&b, tok[i], tl[i]);
    kv_arr_hdr(&b, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, (uint64_t)n);
    put(&b, score, (size_t)n * 4);
    kv_arr_hdr(&b, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, (uint64_t)n);
    put(&b, type, (size_t)n * 4);
    if (bpe) {
        const char *m[] = {"\304\240 t", "h e", "\304\240t he", "i n"};
        kv_arr_hdr(&b, "tokenizer.ggml.merges", GGUF_TYPE_STRING, 4);
        for (int i = 0; i < 4; i++)
            put_str(&b, m[i], strlen(m[i]));
        kv_str(&b, "tokenizer.ggml.pre", "gpt-2");
    }
    struct gguf_file *g = NULL;
    struct tokenizer *t = NULL;
    if (gguf_open_buffer(b.d, b.n, &g, NULL) < 0 || tokenizer_from_gguf(g, &t, NULL) < 0)
        abort();
    gguf_close(g);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tokenizer *vocab[2];
    if (!vocab[0]) {
        vocab[0] = build(0);
        vocab[1] = build(1);
    }
    if (size < 1 || size > 4096)
        return 0;
    const struct tokenizer *t = vocab[data[0] & 1];
    int add_special = (data[0] >> 1) & 1, parse_special = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t ids[3 * 4096 + 8], again[3 * 4096 + 8];
    int n = tokenizer_encode(t, text, len, add_special, parse_special, ids, 3 * 4096 + 8);
    if (n < 0 || n > 3 * 4096 + 8)
        abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tokenizer_n_vocab(t))
            abort();
    if (tokenizer_encode(t, text, len, add_special, parse_special, again, n) != n ||
        memcmp(ids, again, (size_t)n * sizeof *ids) != 0)
        abort();
    char out[4 * 4096 + 64];
    int m = tokenizer_detokenize(t, ids, n, 0, out, sizeof out);
    if (m < 0 || (size_t)m > sizeof out)
        abort();
    int spm_mark = memmem(text, len, "\342\226\201", 3) != NULL;  /* SPM decodes "▁" as a space */
    if (!parse_special && !(tokenizer_get_kind(t) == TOKENIZER_SPM && spm_mark)) {
        if ((size_t)m != len || memcmp(out, text, len) != 0)
            abort();
    }
    for (int i = 0; i < n; i++) {
        char piece[64];
        if (tokenizer_token_to_piece(t, ids[i], piece, sizeof piece) < 0)
            abort();
    }
    return 0;
}
