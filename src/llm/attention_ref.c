/* attention_ref.c — the two-pass attention that llama.cpp's non-flash CPU path computes,
 * one (token, head) at a time: all scores of the query, softmax with the global max and sum,
 * probabilities rounded to f16 for an F16 cache after dividing by the sum, then p.V with the
 * per-row kv ops. attention.c's blocked online softmax replaced it; it stays as the
 * reference that tests compare the blocked path with and as the "before" of benches
 * (INFERD_ATTN=twopass). Its scratch: n_cells floats per thread (llm_att_ref_floats). */
#include <math.h>
#include <string.h>

#include "llm/kernels/fp16.h"
#include "llm/llm_int.h"

struct ref_args {
    struct inferd_llm_ctx *c;
    const struct inferd_llm_batch *b;
    int layer;
};

static void ref_part(void *ctx, int ith, int nth)
{
    struct ref_args *a = ctx;
    struct inferd_llm_ctx *c = a->c;
    const struct llm_hparams *hp = &c->m->hp;
    const struct kv_cache *kv = &c->kv;
    const int hd = hp->head_dim, q_dim = hp->n_head * hd, group = hp->n_head / hp->n_head_kv;
    const float scale = hp->q_scale_pre ? 1.0f : hp->q_scale, cap = hp->attn_softcap;
    const int kv16 = kv->type == KERN_KV_F16;
    const int swa = hp->n_swa > 0 && (!hp->swa_every_other || a->layer % 2 == 0);
    float *sc = c->scores + (size_t)ith * llm_att_scratch_floats(hd, kv->n_cells, 1);
    float qr[LLM_MAX_HEAD_DIM];
    int total = a->b->n * hp->n_head;
    int i0 = (int)((int64_t)total * ith / nth), i1 = (int)((int64_t)total * (ith + 1) / nth);
    for (int idx = i0; idx < i1; idx++) {
        int t = idx / hp->n_head, h = idx % hp->n_head;
        int s = a->b->seq[t], p = a->b->pos[t];
        int j0 = swa && p >= hp->n_swa ? p - hp->n_swa + 1 : 0;
        size_t koff = kern_kv_bytes(kv->ops, (h / group) * hd);
        const float *qv = c->q + (size_t)t * q_dim + (size_t)h * hd;
        float *out = c->att + (size_t)t * q_dim + (size_t)h * hd;
        if (kv16) { /* ggml rounds q to the f16 of the cache before q.K */
            for (int i = 0; i < hd; i++)
                qr[i] = fp16_round(qv[i]);
            qv = qr;
        }
        float mx = -INFINITY;
        for (int j = j0; j <= p; j++) {
            const unsigned char *kr = kv_k(kv, a->layer, kv_cell(kv, s, j));
            float v = kv->ops->dot(qv, kr + koff, hd);
            if (cap > 0)
                v = tanhf(v * (1.0f / cap)) * cap;
            sc[j] = v * scale;
            if (sc[j] > mx)
                mx = sc[j];
        }
        double sum = 0;
        for (int j = j0; j <= p; j++) {
            sc[j] = expf(sc[j] - mx);
            sum += sc[j];
        }
        float inv = (float)(1.0 / sum);
        if (kv16) /* ggml converts the probabilities to f16 before p.V */
            for (int j = j0; j <= p; j++)
                sc[j] = fp16_round_unit(sc[j] * inv);
        else
            for (int j = j0; j <= p; j++)
                sc[j] *= inv;
        memset(out, 0, sizeof(float) * hd);
        for (int j = j0; j <= p; j++) {
            const unsigned char *vr = kv_v(kv, a->layer, kv_cell(kv, s, j));
            kv->ops->axpy(out, sc[j], vr + koff, hd);
        }
    }
}

void llm_attention_twopass(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int layer)
{
    struct ref_args aa = {c, b, layer};
    int64_t work = 0; /* multiply-adds: below ~64K the pool costs more than it saves */
    for (int t = 0; t < b->n; t++)
        work += (int64_t)(b->pos[t] + 1) * c->m->hp.n_head * c->m->hp.head_dim * 2;
    if (work < (1 << 16))
        ref_part(&aa, 0, 1);
    else
        llm_par_run(c, ref_part, &aa);
}
