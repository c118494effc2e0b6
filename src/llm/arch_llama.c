/* arch_llama.c — the `llama` architecture (Llama 2/3, TinyLlama, Mistral, SmolLM): the generic
 * block with GQA, "normal" RoPE over adjacent pairs, optional linear RoPE scaling (read by
 * the generic loader), optional Llama-3 rope_freqs, tied output when output.weight is absent. */
#include "llm/llm_int.h"

const struct llm_arch llm_arch_llama = {
    .name = "llama",
    .rope_neox = 0,
    .qkv_bias_required = 0,
    .hparams = NULL,
};
