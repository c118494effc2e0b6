/* llm_int.h — private structures of the LLM engine shared by its files: the loaded model
 * (hyper-parameters, weight views into the mmapped GGUF, per-architecture hooks), the
 * context (paged KV cache, scratch buffers planned at ctx_new) and the internal calls
 * between model_load.c, arch_*.c, forward.c, matmul.c, kv_cache.c and ctx.c.
 *
 *   const struct llm_arch *a = llm_arch_find("qwen2");     // NULL when unsupported
 *   a->hparams(g, &m->hp, err);                              // arch-specific keys
 *   llm_forward(ctx, batch, err);                            // one decode step
 *   llm_matmul(ctx, x, n_tok, jobs, 3);                      // W (out,in) @ x (n_tok,in)
 *   kv_cell(&ctx->kv, seq, pos);                             // where (seq, pos) lives
 */
#ifndef INFERD_LLM_INT_H
#define INFERD_LLM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/llm.h"
#include "llm/gguf.h"
#include "llm/kernels/kernels.h"

struct tokenizer;

/* A 1-D, 2-D or 3-D weight: rows of ne0 elements, ne1 rows (per expert when ne2 > 1: the
 * experts' matrices follow each other), borrowed from the mapping. */
struct llm_weight {
    const void *data;            /* NULL when the tensor is absent (optional ones) */
    enum ggml_type type;
    int64_t ne0, ne1, ne2;       /* ne2 = 1 except for stacked expert matrices */
    size_t row_bytes;
    const struct kern_type *k;   /* kernels for type */
};

/* Fused tensors (phi3's attn_qkv, its gate+up ffn_up) are loaded as row-range views: wq, wk
 * and wv point into the same matrix, so the generic block needs no fused path. */
struct llm_layer {
    struct llm_weight attn_norm, wq, wk, wv, wo, bq, bk, bv;
    struct llm_weight post_attn_norm;                     /* gemma2: norm of the attention output */
    struct llm_weight ffn_norm, w_gate, w_up, w_down;
    struct llm_weight post_ffn_norm;                      /* gemma2: norm of the FFN output */
    struct llm_weight gate_inp, gate_exps, up_exps, down_exps; /* MoE: router + stacked experts */
};

enum llm_ffn_act { LLM_ACT_SILU, LLM_ACT_GELU };

struct llm_hparams {
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot;
    float eps;                  /* RMSNorm epsilon */
    float rope_base;            /* rope.freq_base (10000 when absent) */
    float rope_freq_scale;      /* 1 / rope.scaling.factor for linear/YaRN scaling, else 1 */
    int rope_neox;              /* 1: rotate (x[i], x[i + n_rot/2]); 0: (x[2i], x[2i+1]) */
    /* YaRN (rope.scaling.type = yarn): ramp between interpolated and extrapolated angles over
     * the dims [yarn_lo, yarn_hi), magnitude scale attn_factor * (1 + 0.1 ln(1/freq_scale)) */
    float yarn_ext_factor;      /* 0: no YaRN ramp */
    float yarn_lo, yarn_hi;     /* correction dims (from beta_fast 32, beta_slow 1) */
    float rope_attn_factor;     /* cos/sin magnitude (rope.scaling.attn_factor, 1 by default) */
    int n_ctx_orig;             /* rope.scaling.original_context_length (default n_ctx_train) */
    int n_swa;                  /* sliding window: key at q is seen from p when p - q < n_swa; 0: none */
    int swa_every_other;        /* 1: the window applies to even layers only (gemma2) */
    float attn_softcap;         /* scores -> c * tanh(s / c) before the mask; 0: off */
    float final_softcap;        /* logits -> c * tanh(l / c); 0: off */
    float embd_scale;           /* token embeddings are multiplied by it (1 but gemma2) */
    float q_scale;              /* query scale, applied in the softmax (1/sqrt(head_dim) by default) */
    int q_scale_pre;            /* 1: q is scaled right after RoPE, scores then use scale 1 (phi3,
                                 * gemma2: as llama.cpp, so the f16 rounding of q matches) */
    enum llm_ffn_act ffn_act;   /* activation of the gate branch */
    int n_expert, n_expert_used;/* MoE: experts per layer, experts per token (0: dense FFN) */
};

/* Per-architecture hooks: everything else is the generic block in forward.c. */
struct llm_arch {
    const char *name;           /* general.architecture */
    int rope_neox;
    int qkv_bias_required;      /* qwen2: attn_{q,k,v}.bias must exist */
    /* Reads arch-specific keys after the generic ones (may be NULL). */
    int (*hparams)(const struct gguf_file *g, struct llm_hparams *hp, struct inferd_err *err);
    /* Loads layer l's tensors into m->layers[l] (NULL: llm_layer_weights_std). */
    int (*layer_weights)(struct inferd_llm_model *m, int l, struct inferd_err *err);
};

extern const struct llm_arch llm_arch_llama;
extern const struct llm_arch llm_arch_qwen2;
extern const struct llm_arch llm_arch_phi3;
extern const struct llm_arch llm_arch_gemma2;
const struct llm_arch *llm_arch_find(const char *name, size_t len);

/* model_load.c, for the arch hooks. llm_get_weight looks a tensor up and checks its shape
 * [ne0] (ne1 == 0), [ne0, ne1] (ne2 == 0) or [ne0, ne1, ne2]; ne1 < 0 accepts any row count.
 * Absent and not required: w->data = NULL, returns 0. llm_weight_rows returns the view of
 * rows [r0, r0 + n) of w (a fused tensor's part). */
int llm_get_weight(struct inferd_llm_model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                   int required, struct llm_weight *w, struct inferd_err *err);
struct llm_weight llm_weight_rows(const struct llm_weight *w, int64_t r0, int64_t n);
/* The standard layer tensors (llama, qwen2; the MoE ones when <arch>.expert_count is set). */
int llm_layer_weights_std(struct inferd_llm_model *m, int l, struct inferd_err *err);
/* hp_* helpers for arch-specific keys "<arch>.<suffix>" (def < 0: required). */
int llm_hp_u32(const struct gguf_file *g, const char *arch, const char *suffix, int64_t def, int lo, int hi,
               int *out, struct inferd_err *err);
int llm_hp_f32(const struct gguf_file *g, const char *arch, const char *suffix, float def, float *out,
               struct inferd_err *err);

struct inferd_llm_model {
    struct gguf_file *g;         /* owned; weights point into its mapping */
    const struct llm_arch *arch;
    struct llm_hparams hp;
    struct llm_layer *layers;    /* owned, n_layer */
    struct llm_weight tok_embd, output_norm, output;  /* output = tok_embd when tied */
    const float *rope_freqs;     /* rope_freqs.weight (n_rot/2 divisors) or NULL */
    const float *rope_long, *rope_short; /* LongRoPE divisors (rope_factors_*.weight) or NULL */
    struct tokenizer *tok;       /* owned; NULL if the file has no tokenizer */
    struct tpool *pool;          /* owned when own_pool, else borrowed */
    int own_pool;
    struct inferd_llm_info info;
    char arch_name[32];
    char *name;                  /* owned copies for info */
    char *chat_template;
    char file_type[16];
};

/* ---- paged KV cache (kv_cache.c) ----
 * Positions live in cells; cells come in pages of KV_PAGE cells. Each sequence has a page
 * table (its i-th page holds positions [i*KV_PAGE, (i+1)*KV_PAGE)); free pages sit on a
 * stack. K and V of layer l, cell c start at (l * n_cells + c) * kv_dim elements. */
#define KV_PAGE 16

struct kv_cache {
    int n_layer, kv_dim, n_seq;
    int n_pages, n_cells;        /* n_cells = n_pages * KV_PAGE = usable positions in all */
    int max_pages_seq;           /* page-table length per sequence (= n_pages) */
    const struct kern_kv_ops *ops;
    enum kern_kv_type type;
    size_t row;                  /* bytes of one cell's kv_dim values (kern_kv_bytes) */
    unsigned char *k, *v;        /* owned */
    int32_t *table;              /* owned, n_seq * max_pages_seq page ids */
    int *len;                    /* owned, positions held per sequence */
    int32_t *free_stack;         /* owned */
    int n_free;
};

int kv_init(struct kv_cache *kv, int n_layer, int kv_dim, int n_ctx, int n_seq, enum kern_kv_type type,
            struct inferd_err *err);
void kv_free(struct kv_cache *kv);
/* Pages sequence s needs to grow to len positions. */
int kv_pages_needed(const struct kv_cache *kv, int s, int len);
/* Grows s to hold len positions (pages must be available: check kv_pages_needed first). */
void kv_grow(struct kv_cache *kv, int s, int len);
void kv_truncate(struct kv_cache *kv, int s, int len);
int kv_copy_seq(struct kv_cache *kv, int src, int dst, int n);

static inline int kv_cell(const struct kv_cache *kv, int s, int pos)
{
    return kv->table[(size_t)s * kv->max_pages_seq + pos / KV_PAGE] * KV_PAGE + pos % KV_PAGE;
}
static inline void *kv_k(const struct kv_cache *kv, int layer, int cell)
{
    return kv->k + ((size_t)layer * kv->n_cells + (size_t)cell) * kv->row;
}
static inline void *kv_v(const struct kv_cache *kv, int layer, int cell)
{
    return kv->v + ((size_t)layer * kv->n_cells + (size_t)cell) * kv->row;
}

/* gen_par.c: the thread count of generation steps (see there). */
#define LLM_PAR_MAX_TOK 8        /* steps of at most this many tokens are "generation" */
enum { LLM_PAR_AUTO, LLM_PAR_ALL, LLM_PAR_FLIP };
struct llm_par {
    int mode;                    /* LLM_PAR_* (INFERD_LLM_GEN_THREADS) */
    int n;                       /* pool size */
    int nth;                     /* threads of the current step's jobs: 1 or n */
    int active;                  /* the current step is a generation step, n > 1, mode != ALL */
    int one;                     /* steady state: 1 = one thread, 0 = all threads */
    int probe_one;               /* all-thread state: the next step probes one thread */
    int slow;                    /* all-thread steps in a row with a long join wait */
    int countdown, backoff;      /* one-thread state: steps to the next probe; its period */
    int cooldown, cool;          /* all-thread state: steps before a probe may run; its period */
    uint64_t avg_one, avg_all;   /* running averages of a step's ns (0: none yet) */
    uint64_t t0, cpu0, wait_ns;  /* current step: start (wall, caller's CPU), caller's wait at joins */
    uint64_t n_jobs, n_one_jobs; /* jobs run in generation steps; those on one thread */
    int n_switch;                /* steady-state changes so far */
};
void llm_par_init(struct inferd_llm_ctx *c);
void llm_par_begin(struct inferd_llm_ctx *c, int n_tok);
void llm_par_end(struct inferd_llm_ctx *c);
/* fn over the pool with the step's thread count (the whole pool outside generation steps) */
void llm_par_run(struct inferd_llm_ctx *c, void (*fn)(void *ctx, int ith, int nth), void *ctx);
/* threads the next llm_par_run splits over */
int llm_par_threads(const struct inferd_llm_ctx *c);
/* the state machine alone (tests): reset to mode with a pool of n threads; pick the next
 * step's thread count (sets and returns p->nth); one step of p->nth threads took dt ns, lost
 * of them (caller off its core or waiting at joins) */
void llm_par_reset(struct llm_par *p, int mode, int n);
int llm_par_pick(struct llm_par *p);
void llm_par_update(struct llm_par *p, uint64_t dt, uint64_t wait);

struct inferd_llm_ctx {
    struct inferd_llm_model *m;  /* borrowed */
    struct tpool *pool;          /* borrowed from the model */
    int n_batch, n_seq, want_emb;
    struct kv_cache kv;
    const float *rope_ff;        /* RoPE divisors in use: rope_freqs, or LongRoPE's by n_ctx */
    /* scratch, n_batch rows each (owned) */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    void *xq;                    /* quantized activations, n_batch * xq_stride bytes */
    size_t xq_stride;
    float *scores;               /* n_threads * llm_att_scratch_floats(): attention tiles */
    /* MoE scratch (NULL for dense models): router probabilities, per-token choices, the
     * rows routed to one expert gathered together, and each (token, slot)'s expert output */
    float *moe_probs;            /* n_batch * n_expert */
    int32_t *moe_sel;            /* n_batch * n_expert_used expert ids */
    float *moe_w;                /* n_batch * n_expert_used renormalised weights */
    int32_t *moe_rows;           /* n_batch: (token * n_expert_used + slot) of each gathered row */
    float *moe_x, *moe_out;      /* n_batch * n_embd gathered inputs; n_batch * n_expert_used * n_embd */
    float *wf;                   /* n_threads * BLAS_ROWS * max_in: dequantized weight rows */
    int n_threads;
    struct llm_par par;          /* threads per generation step (gen_par.c) */
    int att_twopass;             /* INFERD_ATTN=twopass: attention_ref.c instead of attention.c */
    size_t scratch_bytes;        /* all scratch above, for inferd_llm_memory */
    /* outputs of the last decode */
    float *logits;               /* logits_cap rows of n_vocab (grown on demand, <= n_batch) */
    int logits_cap;
    int32_t *row_logit;          /* owned, n_batch: row -> logits row or -1 */
    float *emb;                  /* owned when want_emb, n_batch * n_embd */
    int n_rows;                  /* rows in the last batch */
    int8_t *want;                /* owned, n_batch: row wants logits */
};

/* llm_tokenize.c: builds m->tok from the file's tokenizer.* keys (none is fine: tokenize then
 * returns 0 tokens) and fills the special ids in m->info; detach frees it. */
int llm_tokenizer_attach(struct inferd_llm_model *m, struct inferd_err *err);
void llm_tokenizer_detach(struct inferd_llm_model *m);

/* attention.c: att (n_tok, n_head*head_dim) of layer l's q over the KV cache (causal,
 * sliding window, soft-cap, GQA); the per-thread scratch it needs, in floats. */
void llm_attention(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int layer);
size_t llm_att_scratch_floats(int head_dim, int n_cells, int twopass);
/* attention_ref.c: llama.cpp's two-pass order, one (token, head) at a time (reference and
 * bench baseline; chosen with INFERD_ATTN=twopass at ctx_new). */
void llm_attention_twopass(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, int layer);
/* forward.c: evaluates a validated batch (KV pages already reserved). */
int llm_forward(struct inferd_llm_ctx *c, const struct inferd_llm_batch *b, const int8_t *want,
                struct inferd_err *err);
/* cos/sin (n_rot/2 each) of position pos's RoPE angles, with the per-dimension divisors ff
 * (NULL: none) and the linear / YaRN scaling of hp. */
void llm_rope_angles(const struct llm_hparams *hp, const float *ff, int pos, float *cs, float *sn);
#define LLM_MAX_HEAD_DIM 1024    /* attention head size cap (checked at load) */

/* matmul.c: y_j (n_tok, w_j.ne1) = x (n_tok, n_in) @ W_j^T for each job, rows of y_j spaced
 * ldy_j floats apart. All W_j share n_in = ne0. Parallel over output rows. */
#define BLAS_ROWS 64             /* weight rows dequantized per sgemm call */
struct llm_mm_job {
    const struct llm_weight *w;
    float *y;
    int ldy;
};
void llm_matmul(struct inferd_llm_ctx *c, const float *x, int n_tok, const struct llm_mm_job *jobs,
                int n_jobs);

#endif
