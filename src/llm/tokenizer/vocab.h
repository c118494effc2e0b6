/* vocab.h — the tokenizer's vocabulary and the helpers every encoder shares (vocab.c).
 *
 * The bottom layer of src/llm/tokenizer/: the encoders (spm.c, bpe.c, wpm.c, merge.c,
 * pretok.c) and the loader call into it; it calls none of them. The vocabulary is copied out
 * of the GGUF into one blob of NUL-terminated strings; a hash index maps text -> id (last id
 * wins for duplicate texts, as in llama.cpp), another maps a BPE merge pair (left, right) ->
 * rank. Bounded id and span vectors, UTF-8 decoding and GPT-2's byte mapping live here too.
 *
 *   struct tok_ids v = {0};
 *   int32_t id = tok_lookup(t, "Hello", 5);        // -1 when not a token
 *   if (id >= 0 && tok_ids_push(&v, id) < 0) ...;  // ENOMEM / ETOOLARGE
 *   tok_ids_free(&v);
 */
#ifndef INFERD_TOKENIZER_VOCAB_H
#define INFERD_TOKENIZER_VOCAB_H

#include "base/hash.h"
#include "base/utf8.h"
#include "llm/tokenizer/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

struct tok_pretok;  /* compiled pre-tokenizer regexes (pretok.h) */

/* Open-addressing hash: slots hold (index + 1), 0 = empty; capacity a power of two. */
struct tok_hash {
    int32_t *slots;  /* owned */
    uint64_t mask;
};

struct tokenizer {
    enum tokenizer_kind kind;
    int32_t n_vocab;
    char *blob;            /* owned: every token text, NUL-terminated, back to back */
    uint32_t *text_off;    /* owned: n_vocab offsets into blob */
    uint32_t *text_len;    /* owned: n_vocab lengths */
    float *scores;         /* owned: n_vocab scores (0 when absent) */
    uint8_t *types;        /* owned: n_vocab enum tokenizer_token_type */
    uint8_t *strip;        /* owned: n_vocab TOK_LSTRIP | TOK_RSTRIP (whitespace eaten around a special) */
    struct tok_hash by_text;

    /* BPE merges: "left right" strings; left_len splits them. Rank = index. */
    char *merge_blob;      /* owned */
    uint32_t *merge_off;   /* owned: n_merges offsets */
    uint16_t *merge_left;  /* owned: bytes of the left part */
    uint16_t *merge_right; /* owned: bytes of the right part */
    int32_t n_merges;
    struct tok_hash merges;

    /* Tokens split out of the text before the algorithm runs (CONTROL, USER_DEFINED, UNKNOWN),
     * longest text first. */
    int32_t *special;      /* owned */
    int32_t n_special;
    int32_t *eog;          /* owned: end-of-generation ids */
    int32_t n_eog;

    int32_t bos, eos, eot, eom, unk, pad, sep;  /* -1 when absent */
    int add_bos, add_eos, add_sep, add_space_prefix, ignore_merges;
    int spm_split_words;      /* SPM: no token has "▁" after another char (see spm.c) */
    int32_t byte_token[256];  /* SPM: <0xNN> id; BPE: id of the byte's mapped char; -1 */
    struct tok_pretok *pre;   /* owned; BPE and WPM only */
};

#define TOK_LSTRIP 1
#define TOK_RSTRIP 2

/* Growable id vector with a hard cap (TOKENIZER_MAX_TEXT ids). */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};
int tok_ids_push(struct tok_ids *ids, int32_t id);
void tok_ids_free(struct tok_ids *ids);

/* A byte span of the input. */
struct tok_span {
    size_t off, len;
};
struct tok_spans {
    struct tok_span *v;
    size_t n, cap;
};
int tok_spans_push(struct tok_spans *s, size_t off, size_t len);
void tok_spans_free(struct tok_spans *s);

/* The vocab lookups, hashed with base/hash.h's FNV-1a. A merge pair hashes as left, 0xff,
 * right (0xff never occurs in UTF-8, so ("ab","c") and ("a","bc") differ). */
static inline uint64_t tok_merge_hash(const char *l, size_t ln, const char *r, size_t rn)
{
    return hash_fnv1a(hash_fnv1a_byte(hash_fnv1a(HASH_FNV1A_SEED, l, ln), 0xff), r, rn);
}
/* Id of the token with text p[0..n), or -1. */
int32_t tok_lookup(const struct tokenizer *t, const char *p, size_t n);
/* Rank of the merge (left, right), or -1. */
int32_t tok_merge_rank(const struct tokenizer *t, const char *l, size_t ln, const char *r, size_t rn);

/* Bytes of the character at s (n bytes left): its well-formed UTF-8 sequence (base/utf8.h),
 * or 1 for a byte that does not start one, so a bad byte is a character of its own. */
static inline size_t tok_char_len(const char *s, size_t n)
{
    size_t k = utf8_seq_len((const unsigned char *)s, n);
    return k ? k : 1;
}

/* Byte-level BPE's bytes<->unicode mapping (GPT-2). */
/* UTF-8 of the char byte b maps to; returns its length (1 or 2). */
size_t tok_byte_to_utf8(uint8_t b, char out[2]);
/* Raw byte for the mapped codepoint cp, or -1 when cp is not a mapped char. */
int tok_unicode_to_byte(uint32_t cp);

#endif
