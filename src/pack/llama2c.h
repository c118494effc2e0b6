/* llama2c.h — Karpathy's llama2.c checkpoints (legacy float32 export, run.c's format) and
 * tokenizer.bin converted to GGUF (llama architecture), as llama.cpp's
 * convert-llama2c-to-ggml does, so `inferd pack model.bin --tokenizer tok.bin` packages them.
 *
 * Checkpoint (little-endian):
 *
 *   offset  size        field
 *   0       7 x int32   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *                       (vocab_size < 0: the classifier is stored separately at the end)
 *   28      f32[...]    token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim),
 *                       wk (L, kv_dim, dim), wv (L, kv_dim, dim), wo (L, dim, dim),
 *                       rms_ffn (L, dim), w1 (L, hidden, dim), w2 (L, dim, hidden),
 *                       w3 (L, hidden, dim), rms_final (dim), freq_cis (seq_len, head_size),
 *                       [wcls (vocab, dim)]
 *
 * tokenizer.bin: uint32 max_token_length, then per token: f32 score, int32 len, len bytes.
 *
 * Every count is bounded and the file size must be exactly what the header implies; the
 * tokenizer must hold vocab_size tokens, each at most max_token_length (<= 1024) bytes.
 *
 *   if (llama2c_to_gguf("stories15M.bin", "tokenizer.bin", "model.gguf", &err) < 0) fail(err.msg);
 */
#ifndef INFERD_PACK_LLAMA2C_H
#define INFERD_PACK_LLAMA2C_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

struct llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    int shared_classifier;
};

/* Checks a checkpoint header against the file's size. OUT: *c. Returns 0 or EFORMAT
 * naming the field. */
int llama2c_check_header(const void *data, size_t size, struct llama2c_config *c, struct inferd_err *err);
/* Checks tokenizer.bin's bytes for n_vocab tokens (for fuzzing; the converter runs it). */
int llama2c_check_tokenizer(const void *data, size_t size, int n_vocab, struct inferd_err *err);
/* Converts. out is written atomically (gguf_writer_write). Returns 0 or INFERD_E*. */
int llama2c_to_gguf(const char *ckpt, const char *tokenizer, const char *out, struct inferd_err *err);

#endif
