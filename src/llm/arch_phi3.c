/* arch_phi3.c — the `phi3` architecture (Phi-3, Phi-3.5, Phi-4): the generic block with
 * NeoX-style RoPE, q/k/v as row slices of one fused attn_qkv matrix, the FFN's gate and up as
 * the two halves of one fused ffn_up matrix (SiLU on the first half), a sliding attention
 * window on every layer, the query scaled right after RoPE (as llama.cpp does, so that its
 * f16 rounding matches), and LongRoPE through rope_factors_{short,long} (read generically). */
#include <stdio.h>

#include "llm/llm_int.h"

/* phi3.attention.sliding_window; llama.cpp's defaults for the Phi-3 files that predate the
 * key (mini/medium 4k: 2047, mini 128k: 262144, medium 128k: 131072); 0 = no window (Phi-4). */
static int phi3_hparams(const struct gguf_file *g, struct llm_hparams *hp, struct inferd_err *err)
{
    int def = -1;
    if ((hp->n_layer == 32 || hp->n_layer == 40) && hp->n_ctx_train == 4096)
        def = 2047;
    else if (hp->n_layer == 32 && hp->n_head_kv == 32 && hp->n_ctx_train == 131072)
        def = 262144;
    else if (hp->n_layer == 40 && hp->n_ctx_train == 131072)
        def = 131072;
    int rc = llm_hp_u32(g, "phi3", "attention.sliding_window", def, 0, 1 << 24, &hp->n_swa, err);
    if (rc < 0)
        return rc;
    hp->q_scale_pre = 1;
    return 0;
}

/* attn_qkv [E, qd + 2 kvd] (rows: q, k, v) or separate attn_{q,k,v} (+ optional biases);
 * ffn_up [E, 2 F] (rows: gate, up). */
static int phi3_layer_weights(struct inferd_llm_model *m, int l, struct inferd_err *err)
{
    const struct llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim,
                  kvd = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff;
    struct llm_layer *L = &m->layers[l];
    struct llm_weight qkv, up;
    char n[96];
    int rc;
#define W(w, suffix, ne0, ne1, req)                                       \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                        \
    if ((rc = llm_get_weight(m, n, ne0, ne1, 0, req, w, err)) < 0)        \
        return rc;
    W(&L->attn_norm, "attn_norm.weight", E, 0, 1)
    W(&qkv, "attn_qkv.weight", E, qd + 2 * kvd, 0)
    if (qkv.data) {
        L->wq = llm_weight_rows(&qkv, 0, qd);
        L->wk = llm_weight_rows(&qkv, qd, kvd);
        L->wv = llm_weight_rows(&qkv, qd + kvd, kvd);
    } else {
        W(&L->wq, "attn_q.weight", E, qd, 1)
        W(&L->wk, "attn_k.weight", E, kvd, 1)
        W(&L->wv, "attn_v.weight", E, kvd, 1)
        W(&L->bq, "attn_q.bias", qd, 0, 0)
        W(&L->bk, "attn_k.bias", kvd, 0, 0)
        W(&L->bv, "attn_v.bias", kvd, 0, 0)
    }
    W(&L->wo, "attn_output.weight", qd, E, 1)
    W(&L->ffn_norm, "ffn_norm.weight", E, 0, 1)
    W(&up, "ffn_up.weight", E, 2 * F, 1)
    W(&L->w_down, "ffn_down.weight", F, E, 1)
#undef W
    L->w_gate = llm_weight_rows(&up, 0, F);
    L->w_up = llm_weight_rows(&up, F, F);
    return 0;
}

const struct llm_arch llm_arch_phi3 = {
    .name = "phi3",
    .rope_neox = 1,
    .qkv_bias_required = 0,
    .hparams = phi3_hparams,
    .layer_weights = phi3_layer_weights,
};
