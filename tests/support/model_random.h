/* model_random.h — writes GGUF models with random weights of any llama-family shape (also
 * phi3, gemma2 and Mixtral-style MoE layouts), for the
 * unit tests (tiny models) and the benchmark (a TinyLlama-1.1B-shaped model in Q8_0/Q4_0).
 * Weights are uniform in +-1/sqrt(fan_in) so activations stay in a sane range; every 2-D
 * weight is stored in spec.type (quantized with our quantizers), norms and biases in F32.
 * With spec.vocab a small SentencePiece-style vocabulary is written too (<unk>, <s>, </s>,
 * the 256 byte tokens, then filler pieces) so the file also tokenizes text.
 *
 *   struct llm_random_spec s = llm_random_spec_tiny();
 *   s.type = GGML_TYPE_Q8_0;
 *   if (llm_random_model_write("/tmp/m.gguf", &s, &err) < 0) fprintf(stderr, "%s\n", err.msg);
 *   inferd_llm_load("/tmp/m.gguf", NULL, &m, &err);
 */
#ifndef INFERD_LLM_MODEL_RANDOM_H
#define INFERD_LLM_MODEL_RANDOM_H

#include <stdint.h>

#include "inferd/err.h"
#include "llm/gguf.h"

struct llm_random_spec {
    const char *arch;           /* "llama", "qwen2", "phi3" (fused qkv / gate-up) or "gemma2" */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    enum ggml_type type;        /* 2-D weights: any type with a quantizer */
    enum ggml_type embd_type;   /* token_embd and output */
    int tied;                   /* 1: no output.weight (output = token_embd) */
    float rope_base;            /* 0 = leave the key out (10000) */
    float rope_linear_factor;   /* 0 = no rope.scaling keys */
    int rope_yarn_orig_ctx;     /* > 0: scaling type yarn (factor rope_linear_factor) from this context */
    int longrope_orig_ctx;      /* > 0: LongRoPE factors (rope_factors_{long,short}) over this context */
    uint64_t seed;
    int vocab;                  /* 1: write a tokenizer (needs n_vocab >= 259) */
    int n_expert, n_expert_used;/* llama only: > 0 writes a Mixtral-style MoE FFN */
    int n_swa;                  /* phi3, gemma2: attention.sliding_window (0: leave out) */
};

/* 300-token, 64-dim, 2-layer llama with GQA (4 heads, 2 kv heads), F32, vocab written. */
struct llm_random_spec llm_random_spec_tiny(void);
/* TinyLlama-1.1B: n_embd 2048, 22 layers, 32 heads, 4 kv heads, n_ff 5632, vocab 32000. */
struct llm_random_spec llm_random_spec_tinyllama(enum ggml_type type);

/* Writes the model to path (temp file + fsync + rename). Returns 0, INFERD_EUNSUPPORTED for a
 * type we cannot quantize to, INFERD_EINVAL for a bad shape, INFERD_ENOMEM or INFERD_EIO. */
int llm_random_model_write(const char *path, const struct llm_random_spec *s, struct inferd_err *err);

/* Writes the model to dir/name.gguf and loads it on a pool of n_threads; NULL, with the error
 * printed, when either fails. The caller frees it with inferd_llm_free. */
struct inferd_llm_model *llm_random_model_make(const char *dir, const char *name, const struct llm_random_spec *s,
                                               int n_threads);

#endif
