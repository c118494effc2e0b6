/* arch_llama.c — the `llama` architecture (Llama 2/3, TinyLlama, Mistral, SmolLM, Mixtral): the
 * generic block with GQA, "normal" RoPE over adjacent pairs, optional linear / YaRN RoPE
 * scaling (read by the generic loader), optional Llama-3 rope_freqs, tied output when
 * output.weight is absent, and Mixtral's mixture of experts when llama.expert_count is set
 * (ffn_gate_inp + ffn_{gate,up,down}_exps; the generic loader and block handle it). */
#include "llm/llm_int.h"

const struct llm_arch llm_arch_llama = {
    .name = "llama",
    .rope_neox = 0,
    .qkv_bias_required = 0,
    .hparams = NULL,
    .layer_weights = NULL, /* llm_layer_weights_std */
};
