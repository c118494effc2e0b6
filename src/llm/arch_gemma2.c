/* arch_gemma2.c — the `gemma2` architecture: the generic block with embeddings scaled by
 * sqrt(n_embd), NeoX-style RoPE, head dim from attention.key_length (n_head * head_dim may
 * differ from n_embd), the query scaled right after RoPE, attention scores soft-capped
 * (c * tanh(s / c)) before the mask, a sliding window on even layers, RMS norms on the
 * attention and FFN outputs before their residual adds (post_attention_norm, post_ffw_norm),
 * a GELU-gated FFN, final logits soft-capped, and the output tied to token_embd. */
#include <math.h>
#include <stdio.h>

#include "llm/llm_int.h"

static int gemma2_hparams(const struct gguf_file *g, struct llm_hparams *hp, struct inferd_err *err)
{
    int rc;
    /* llama.cpp's defaults when the keys are absent */
    if ((rc = llm_hp_u32(g, "gemma2", "attention.sliding_window", 4096, 0, 1 << 24, &hp->n_swa, err)) < 0 ||
        (rc = llm_hp_f32(g, "gemma2", "attn_logit_softcapping", 50.f, &hp->attn_softcap, err)) < 0 ||
        (rc = llm_hp_f32(g, "gemma2", "final_logit_softcapping", 30.f, &hp->final_softcap, err)) < 0)
        return rc;
    if (hp->attn_softcap < 0 || hp->final_softcap < 0)
        return inferd_err_set(err, INFERD_EFORMAT, "gemma2.*_logit_softcapping: must be >= 0");
    hp->swa_every_other = 1;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->ffn_act = LLM_ACT_GELU;
    hp->q_scale_pre = 1;
    /* query_pre_attn_scalar: head dim for 2B and 9B, n_embd / n_head for 27B (46 layers),
     * the rule llama.cpp applies by layer count */
    hp->q_scale = 1.f / sqrtf((float)(hp->n_layer == 46 ? hp->n_embd / hp->n_head : hp->head_dim));
    return 0;
}

static int gemma2_layer_weights(struct inferd_llm_model *m, int l, struct inferd_err *err)
{
    const int64_t E = m->hp.n_embd;
    struct llm_layer *L = &m->layers[l];
    char n[96];
    int rc = llm_layer_weights_std(m, l, err);
    if (rc < 0)
        return rc;
    snprintf(n, sizeof n, "blk.%d.post_attention_norm.weight", l);
    if ((rc = llm_get_weight(m, n, E, 0, 0, 1, &L->post_attn_norm, err)) < 0)
        return rc;
    snprintf(n, sizeof n, "blk.%d.post_ffw_norm.weight", l);
    return llm_get_weight(m, n, E, 0, 0, 1, &L->post_ffn_norm, err);
}

const struct llm_arch llm_arch_gemma2 = {
    .name = "gemma2",
    .rope_neox = 1,
    .qkv_bias_required = 0,
    .hparams = gemma2_hparams,
    .layer_weights = gemma2_layer_weights,
};
