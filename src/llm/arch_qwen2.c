/* arch_qwen2.c — the `qwen2` architecture: the generic block with biases on Q, K and V and
 * NeoX-style RoPE (rotating x[i] with x[i + n_rot/2]). */
#include "llm/llm_int.h"

/* Qwen2 files carry rope.freq_base (1e6 for Qwen2); the generic loader reads it. Nothing
 * else differs in the hyper-parameters. */
static int qwen2_hparams(const struct gguf_file *g, struct llm_hparams *hp, struct inferd_err *err)
{
    (void)g;
    if (hp->n_rot != hp->head_dim)
        return inferd_err_set(err, INFERD_EUNSUPPORTED,
                              "qwen2.rope.dimension_count: %d != head dim %d (partial rotary is not qwen2)",
                              hp->n_rot, hp->head_dim);
    return 0;
}

const struct llm_arch llm_arch_qwen2 = {
    .name = "qwen2",
    .rope_neox = 1,
    .qkv_bias_required = 1,
    .hparams = qwen2_hparams,
};
