/* tokenizer.h — LLM tokenizers built from a GGUF file's tokenizer.* metadata.
 *
 * Three algorithms, chosen by tokenizer.ggml.model: "llama" (SentencePiece-style BPE over
 * scores with byte fallback), "gpt2" (byte-level BPE over ranked merges, with the
 * pre-tokenizer regex that tokenizer.ggml.pre names) and "bert" (WordPiece). Results match
 * llama.cpp / Hugging Face on the llama.cpp vocab test vectors. A tokenizer is immutable after
 * tokenizer_from_gguf and safe to use from many threads at once; it copies what it needs, so
 * the gguf_file may be closed afterwards.
 *
 *   struct tokenizer *tok; struct inferd_err err = {0};
 *   if (tokenizer_from_gguf(g, &tok, &err) < 0) fprintf(stderr, "%s\n", err.msg);
 *   int32_t ids[256]; int n = tokenizer_encode(tok, "Hello", 5, 1, 0, ids, 256);
 *   char piece[64]; int m = tokenizer_token_to_piece(tok, ids[1], piece, sizeof piece);
 *   tokenizer_free(tok);
 */
#ifndef INFERD_TOKENIZER_H
#define INFERD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/err.h"
#include "llm/gguf.h"

enum tokenizer_kind {
    TOKENIZER_SPM = 1,  /* tokenizer.ggml.model = "llama" */
    TOKENIZER_BPE = 2,  /* "gpt2" */
    TOKENIZER_WPM = 3,  /* "bert" */
};

/* tokenizer.ggml.token_type values, as llama.cpp writes them. */
enum tokenizer_token_type {
    TOKEN_TYPE_UNDEFINED = 0,
    TOKEN_TYPE_NORMAL = 1,
    TOKEN_TYPE_UNKNOWN = 2,
    TOKEN_TYPE_CONTROL = 3,
    TOKEN_TYPE_USER_DEFINED = 4,
    TOKEN_TYPE_UNUSED = 5,
    TOKEN_TYPE_BYTE = 6,
};

/* Longest text tokenizer_encode accepts (bytes); longer input is INFERD_ETOOLARGE. */
#define TOKENIZER_MAX_TEXT (64u << 20)

struct tokenizer;

/* Builds a tokenizer from g's tokenizer.* keys (g is borrowed only during the call).
 * OUT: *out, free with tokenizer_free. Returns 0, INFERD_ENOTFOUND (no tokenizer keys),
 * INFERD_EUNSUPPORTED (unknown model or pre-tokenizer), INFERD_EFORMAT (inconsistent
 * metadata, e.g. scores count != tokens count, merges missing) or INFERD_ENOMEM. */
int tokenizer_from_gguf(const struct gguf_file *g, struct tokenizer **out, struct inferd_err *err);
void tokenizer_free(struct tokenizer *t);

/* Tokenizes text[0..len) (UTF-8; invalid bytes are tokenized as bytes). add_special adds BOS
 * and EOS (and WPM's [SEP]) as the metadata's add_bos/add_eos say. parse_special turns the
 * text of CONTROL tokens (e.g. "<|im_start|>") into their ids; USER_DEFINED tokens are always
 * matched first, as Hugging Face does. Writes min(count, cap) ids to out and returns count:
 * a return > cap means "grow out to the return value and call again". Negative INFERD_E*
 * on failure (ENOMEM, ETOOLARGE for len > TOKENIZER_MAX_TEXT). */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t *out, int cap);

/* The bytes token id stands for: byte tokens give their byte, SPM's "▁" becomes a space,
 * byte-level BPE text is mapped back to raw bytes, CONTROL/USER_DEFINED tokens give their
 * text. Writes min(n, cap) bytes (no NUL) and returns n, so a return > cap means "grow";
 * INFERD_EINVAL for an id outside the vocabulary. */
int tokenizer_token_to_piece(const struct tokenizer *t, int32_t id, char *buf, size_t cap);

/* Concatenated pieces of toks[0..n). Like token_to_piece, but CONTROL tokens are dropped
 * unless render_special, and the leading space of the first piece that SPM's add_space_prefix
 * (or WordPiece's word-initial "▁") introduced is removed, so that detokenize(encode(x)) == x
 * for lossless vocabularies. Returns the byte count (> cap means grow) or INFERD_EINVAL for a
 * bad id. */
int tokenizer_detokenize(const struct tokenizer *t, const int32_t *toks, int n, int render_special,
                         char *buf, size_t cap);

/* 1 when id ends generation (EOS, EOT, EOM, or an end-of-turn token such as <|im_end|>). */
int tokenizer_is_eog(const struct tokenizer *t, int32_t id);

enum tokenizer_kind tokenizer_get_kind(const struct tokenizer *t);
int32_t tokenizer_n_vocab(const struct tokenizer *t);
/* Special ids; -1 when the model has none. */
int32_t tokenizer_bos(const struct tokenizer *t);
int32_t tokenizer_eos(const struct tokenizer *t);
int32_t tokenizer_eot(const struct tokenizer *t);
int32_t tokenizer_unk(const struct tokenizer *t);
int32_t tokenizer_pad(const struct tokenizer *t);
int tokenizer_add_bos(const struct tokenizer *t);
int tokenizer_add_eos(const struct tokenizer *t);
/* Raw token text as stored in the vocabulary ("▁Hello", "Ġworld", "<|im_start|>"), NUL-
 * terminated, owned by t; *len (optional) gets its length. NULL for a bad id. */
const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len);
/* enum tokenizer_token_type of id, or -1 for a bad id. */
int tokenizer_token_type(const struct tokenizer *t, int32_t id);
/* Id of the token whose raw text is exactly text (NUL-terminated), or -1. */
int32_t tokenizer_find_token(const struct tokenizer *t, const char *text);

#endif
