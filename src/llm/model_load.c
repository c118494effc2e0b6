/* model_load.c — inferd_llm_load: maps a GGUF file, reads the hyper-parameters of a supported
 * architecture, checks every weight's name, shape and type, and builds the model. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "llm/llm_int.h"
#include "llm/tokenizer/tokenizer.h"

#define LLM_MAX_LAYERS 1024
#define LLM_MAX_DIM (1 << 20)

const struct llm_arch *llm_arch_find(const char *name, size_t len)
{
    static const struct llm_arch *const all[] = {&llm_arch_llama, &llm_arch_qwen2, &llm_arch_phi3, &llm_arch_gemma2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strlen(all[i]->name) == len && memcmp(all[i]->name, name, len) == 0)
            return all[i];
    return NULL;
}

/* "<arch>.<suffix>" as a u32 in [lo, hi]; def is used when absent (def < 0: required). */
int llm_hp_u32(const struct gguf_file *g, const char *arch, const char *suffix, int64_t def, int lo, int hi,
               int *out, struct inferd_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    int rc = gguf_get_i64(g, key, &v);
    if (rc == INFERD_ENOTFOUND && def >= 0)
        v = def;
    else if (rc == INFERD_ENOTFOUND)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: missing", key);
    else if (rc < 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: not an integer", key);
    if (v < lo || v > hi)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: %lld outside [%d, %d]", key, (long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

int llm_hp_f32(const struct gguf_file *g, const char *arch, const char *suffix, float def, float *out,
               struct inferd_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(g, key, out);
    if (rc == INFERD_ENOTFOUND) {
        *out = def;
        return 0;
    }
    if (rc < 0 || !(*out == *out))
        return inferd_err_set(err, INFERD_EFORMAT, "%s: not a number", key);
    return 0;
}

/* YaRN correction dim: the dim whose wavelength fits n_rot_turns times in the original
 * context (ggml_rope_yarn_corr_dim). */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot_turns, float base)
{
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot_turns * 2 * (float)M_PI)) / (2 * logf(base));
}

/* rope.scaling.{type,factor,original_context_length,attn_factor}: none, linear or yarn (the
 * per-dimension factors of Llama 3 and LongRoPE come as tensors instead). */
static int read_rope_scaling(const struct gguf_file *g, const char *a, struct llm_hparams *hp,
                             struct inferd_err *err)
{
    int rc;
    char key[128];
    hp->rope_freq_scale = 1.f;
    hp->rope_attn_factor = 1.f;
    hp->yarn_ext_factor = 0.f;
    if ((rc = llm_hp_u32(g, a, "rope.scaling.original_context_length", hp->n_ctx_train, 1, 1 << 24,
                         &hp->n_ctx_orig, err)) < 0 ||
        (rc = llm_hp_f32(g, a, "rope.scaling.attn_factor", 1.f, &hp->rope_attn_factor, err)) < 0)
        return rc;
    if (!(hp->rope_attn_factor > 0))
        return inferd_err_set(err, INFERD_EFORMAT, "%s.rope.scaling.attn_factor: must be > 0", a);
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    struct gguf_str st;
    if (gguf_get_str(g, key, &st) < 0) /* absent: llama.cpp assumes linear (factor 1 unless given) */
        st = (struct gguf_str){.ptr = "linear", .len = 6};
    if (st.len == 4 && memcmp(st.ptr, "none", 4) == 0)
        return 0;
    /* as llama.cpp: the factor scales the angles for every type but none (LongRoPE's own
     * divisors are the rope_factors_* tensors) */
    int linear = st.len == 6 && memcmp(st.ptr, "linear", 6) == 0, yarn = st.len == 4 && memcmp(st.ptr, "yarn", 4) == 0,
        longrope = st.len == 8 && memcmp(st.ptr, "longrope", 8) == 0;
    if (!linear && !yarn && !longrope)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: \"%.*s\" (supported: none, linear, yarn, longrope)", key,
                              (int)(st.len > 32 ? 32 : st.len), st.ptr);
    float factor;
    if ((rc = llm_hp_f32(g, a, "rope.scaling.factor", 1.f, &factor, err)) < 0)
        return rc;
    if (!(factor > 0) || factor > 1e6f)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.rope.scaling.factor: must be in (0, 1e6]", a);
    hp->rope_freq_scale = 1.f / factor;
    if (yarn) {
        /* llama.cpp's defaults: ext_factor 1, beta_fast 32, beta_slow 1 */
        hp->yarn_ext_factor = 1.f;
        float lo = floorf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, 32.f, hp->rope_base));
        float hi = ceilf(yarn_corr_dim(hp->n_rot, hp->n_ctx_orig, 1.f, hp->rope_base));
        hp->yarn_lo = lo > 0 ? lo : 0;
        hp->yarn_hi = hi < (float)(hp->n_rot - 1) ? hi : (float)(hp->n_rot - 1);
    }
    return 0;
}

static int read_hparams(struct inferd_llm_model *m, struct inferd_err *err)
{
    const struct gguf_file *g = m->g;
    struct llm_hparams *hp = &m->hp;
    const char *a = m->arch_name;
    int rc, key_len = 0;
    if ((rc = llm_hp_u32(g, a, "embedding_length", -1, 1, LLM_MAX_DIM, &hp->n_embd, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "block_count", -1, 1, LLM_MAX_LAYERS, &hp->n_layer, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "feed_forward_length", -1, 1, LLM_MAX_DIM, &hp->n_ff, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "attention.head_count", -1, 1, 4096, &hp->n_head, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "attention.head_count_kv", hp->n_head, 1, 4096, &hp->n_head_kv, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "context_length", 2048, 1, 1 << 24, &hp->n_ctx_train, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "attention.key_length", 0, 0, 65536, &key_len, err)) < 0)
        return rc;
    if (hp->n_head % hp->n_head_kv != 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.attention.head_count_kv: %d does not divide head_count %d",
                              a, hp->n_head_kv, hp->n_head);
    if (key_len == 0 && hp->n_embd % hp->n_head != 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.attention.head_count: %d does not divide embedding_length %d",
                              a, hp->n_head, hp->n_embd);
    hp->head_dim = key_len ? key_len : hp->n_embd / hp->n_head;
    if (hp->head_dim > LLM_MAX_HEAD_DIM)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: head dim %d exceeds the cap %d", a, hp->head_dim,
                              LLM_MAX_HEAD_DIM);
    if ((rc = llm_hp_u32(g, a, "rope.dimension_count", hp->head_dim, 2, 1024, &hp->n_rot, err)) < 0)
        return rc;
    if (hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.rope.dimension_count: %d must be even and <= head dim %d",
                              a, hp->n_rot, hp->head_dim);
    if ((rc = llm_hp_f32(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->eps, err)) < 0 ||
        (rc = llm_hp_f32(g, a, "rope.freq_base", 10000.f, &hp->rope_base, err)) < 0)
        return rc;
    if (hp->rope_base <= 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.rope.freq_base: must be > 0", a);
    if ((rc = read_rope_scaling(g, a, hp, err)) < 0)
        return rc;
    int val_len = 0;
    if ((rc = llm_hp_u32(g, a, "attention.value_length", 0, 0, 65536, &val_len, err)) < 0)
        return rc;
    if (val_len && val_len != hp->head_dim)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s.attention.value_length: %d != key_length %d", a,
                              val_len, hp->head_dim);
    /* mixture of experts (llama-arch Mixtral): both counts or neither */
    if ((rc = llm_hp_u32(g, a, "expert_count", 0, 0, 256, &hp->n_expert, err)) < 0 ||
        (rc = llm_hp_u32(g, a, "expert_used_count", 0, 0, 256, &hp->n_expert_used, err)) < 0)
        return rc;
    if ((hp->n_expert > 0) != (hp->n_expert_used > 0) || hp->n_expert_used > hp->n_expert)
        return inferd_err_set(err, INFERD_EFORMAT, "%s.expert_used_count: %d with expert_count %d", a,
                              hp->n_expert_used, hp->n_expert);
    hp->embd_scale = 1.f;
    hp->q_scale = 1.f / sqrtf((float)hp->head_dim);
    hp->ffn_act = LLM_ACT_SILU;
    hp->rope_neox = m->arch->rope_neox;
    return m->arch->hparams ? m->arch->hparams(g, hp, err) : 0;
}

int llm_get_weight(struct inferd_llm_model *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                   int required, struct llm_weight *w, struct inferd_err *err)
{
    memset(w, 0, sizeof *w);
    const struct gguf_tensor_info *t = gguf_find_tensor(m->g, name);
    if (!t)
        return required ? inferd_err_set(err, INFERD_EFORMAT, "tensor %s: missing", name) : 0;
    int dims = ne1 == 0 ? 1 : ne2 == 0 ? 2 : 3;
    if (t->ne[0] != ne0 || t->n_dims != dims || (dims > 1 && ne1 > 0 && t->ne[1] != ne1) ||
        (dims == 3 && t->ne[2] != ne2))
        return inferd_err_set(err, INFERD_ESHAPE,
                              "tensor %s: shape [%lld, %lld, %lld] (%d dims), want [%lld, %lld, %lld] (%d dims)", name,
                              (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                              (long long)(t->n_dims > 2 ? t->ne[2] : 1), t->n_dims, (long long)ne0,
                              (long long)(dims > 1 ? ne1 : 1), (long long)(dims > 2 ? ne2 : 1), dims);
    if (dims == 1 && t->type != GGML_TYPE_F32)
        return inferd_err_set(err, INFERD_ETYPE, "tensor %s: type %s, want F32", name, ggml_type_name(t->type));
    w->k = kern_get(t->type);
    if (!w->k || !w->k->vec_dot)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "tensor %s: type %s is not supported", name,
                              ggml_type_name(t->type));
    w->data = t->data;
    w->type = t->type;
    w->ne0 = t->ne[0];
    w->ne1 = dims > 1 ? t->ne[1] : 1;
    w->ne2 = dims > 2 ? t->ne[2] : 1;
    w->row_bytes = ggml_row_size(t->type, t->ne[0]);
    if (!w->row_bytes || w->row_bytes * (size_t)w->ne1 * (size_t)w->ne2 > t->nbytes)
        return inferd_err_set(err, INFERD_EFORMAT, "tensor %s: data size does not match shape", name);
    return 0;
}

struct llm_weight llm_weight_rows(const struct llm_weight *w, int64_t r0, int64_t n)
{
    struct llm_weight v = *w;
    assert(r0 >= 0 && n >= 0 && r0 + n <= w->ne1 * w->ne2);
    v.data = (const unsigned char *)w->data + (size_t)r0 * w->row_bytes;
    v.ne1 = n;
    v.ne2 = 1;
    return v;
}

int llm_layer_weights_std(struct inferd_llm_model *m, int l, struct inferd_err *err)
{
    const struct llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim,
                  kvd = (int64_t)hp->n_head_kv * hp->head_dim, F = hp->n_ff, X = hp->n_expert;
    struct llm_layer *L = &m->layers[l];
    int rc, breq = m->arch->qkv_bias_required, moe = X > 0;
    char n[96];
#define W(field, suffix, ne0, ne1, ne2, req)                              \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                        \
    if ((rc = llm_get_weight(m, n, ne0, ne1, ne2, req, &L->field, err)) < 0) \
        return rc;
    W(attn_norm, "attn_norm.weight", E, 0, 0, 1)
    W(wq, "attn_q.weight", E, qd, 0, 1)
    W(wk, "attn_k.weight", E, kvd, 0, 1)
    W(wv, "attn_v.weight", E, kvd, 0, 1)
    W(wo, "attn_output.weight", qd, E, 0, 1)
    W(bq, "attn_q.bias", qd, 0, 0, breq)
    W(bk, "attn_k.bias", kvd, 0, 0, breq)
    W(bv, "attn_v.bias", kvd, 0, 0, breq)
    W(ffn_norm, "ffn_norm.weight", E, 0, 0, 1)
    W(w_gate, "ffn_gate.weight", E, F, 0, !moe)
    W(w_up, "ffn_up.weight", E, F, 0, !moe)
    W(w_down, "ffn_down.weight", F, E, 0, !moe)
    W(gate_inp, "ffn_gate_inp.weight", E, X, 0, moe)
    W(gate_exps, "ffn_gate_exps.weight", E, F, X, moe)
    W(up_exps, "ffn_up_exps.weight", E, F, X, moe)
    W(down_exps, "ffn_down_exps.weight", F, E, X, moe)
#undef W
    if (!moe && L->gate_inp.data)
        return inferd_err_set(err, INFERD_EFORMAT, "blk.%d.ffn_gate_inp.weight: present but %s.expert_count is 0", l,
                              m->arch_name);
    return 0;
}

static int load_weights(struct inferd_llm_model *m, struct inferd_err *err)
{
    struct llm_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;
    int rc;
    if ((rc = llm_get_weight(m, "token_embd.weight", E, -1, 0, 1, &m->tok_embd, err)) < 0)
        return rc;
    if (m->tok_embd.ne1 < 1 || m->tok_embd.ne1 > (1 << 22))
        return inferd_err_set(err, INFERD_EFORMAT, "token_embd.weight: %lld rows", (long long)m->tok_embd.ne1);
    hp->n_vocab = (int)m->tok_embd.ne1;
    if ((rc = llm_get_weight(m, "output_norm.weight", E, 0, 0, 1, &m->output_norm, err)) < 0 ||
        (rc = llm_get_weight(m, "output.weight", E, hp->n_vocab, 0, 0, &m->output, err)) < 0)
        return rc;
    if (!m->output.data)
        m->output = m->tok_embd; /* tied embeddings */
    struct llm_weight rf;
    if ((rc = llm_get_weight(m, "rope_freqs.weight", hp->n_rot / 2, 0, 0, 0, &rf, err)) < 0)
        return rc;
    m->rope_freqs = rf.data;
    /* LongRoPE (Phi-3 128k): per-dimension divisors for short and long contexts */
    struct llm_weight rl, rs;
    if ((rc = llm_get_weight(m, "rope_factors_long.weight", hp->n_rot / 2, 0, 0, 0, &rl, err)) < 0 ||
        (rc = llm_get_weight(m, "rope_factors_short.weight", hp->n_rot / 2, 0, 0, 0, &rs, err)) < 0)
        return rc;
    if (!rl.data != !rs.data)
        return inferd_err_set(err, INFERD_EFORMAT, "rope_factors_%s.weight: missing (LongRoPE needs both)",
                              rl.data ? "short" : "long");
    m->rope_long = rl.data;
    m->rope_short = rs.data;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return inferd_err_set(err, INFERD_ENOMEM, "layers: out of memory");
    for (int l = 0; l < hp->n_layer; l++)
        if ((rc = (m->arch->layer_weights ? m->arch->layer_weights : llm_layer_weights_std)(m, l, err)) < 0)
            return rc;
    return 0;
}

static const char *ftype_name(int64_t ft)
{
    static const struct { int id; const char *name; } names[] = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"},
        {10, "Q2_K"}, {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"},
        {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"}, {25, "IQ4_NL"}, {30, "IQ4_XS"}, {32, "BF16"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id == ft)
            return names[i].name;
    return NULL;
}

static char *dup_str(struct gguf_str s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = 0;
    }
    return p;
}

static int fill_info(struct inferd_llm_model *m, struct inferd_err *err)
{
    struct inferd_llm_info *in = &m->info;
    const struct llm_hparams *hp = &m->hp;
    struct gguf_str s;
    m->name = gguf_get_str(m->g, "general.name", &s) == 0 ? dup_str(s) : strdup("");
    if (gguf_get_str(m->g, "tokenizer.chat_template", &s) == 0) {
        m->chat_template = dup_str(s);
        if (!m->chat_template)
            return inferd_err_set(err, INFERD_ENOMEM, "chat_template: out of memory");
    }
    if (!m->name)
        return inferd_err_set(err, INFERD_ENOMEM, "general.name: out of memory");
    int64_t ft;
    const char *fname = gguf_get_i64(m->g, "general.file_type", &ft) == 0 ? ftype_name(ft) : NULL;
    snprintf(m->file_type, sizeof m->file_type, "%s",
             fname ? fname : ggml_type_name(m->layers[0].wq.type));
    in->arch = m->arch_name;
    in->name = m->name;
    in->n_vocab = hp->n_vocab;
    in->n_ctx_train = hp->n_ctx_train;
    in->n_embd = hp->n_embd;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->n_ff = hp->n_ff;
    in->bos = in->eos = in->eot = -1;
    in->chat_template = m->chat_template;
    in->file_type = m->file_type;
    in->file_bytes = gguf_file_size(m->g);
    for (uint64_t i = 0; i < gguf_n_tensors(m->g); i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(m->g, i);
        uint64_t ne = 1;
        for (int d = 0; d < t->n_dims; d++)
            ne *= (uint64_t)t->ne[d];
        in->n_params += ne;
    }
    return llm_tokenizer_attach(m, err);
}

int inferd_llm_load(const char *path, const struct inferd_llm_load_params *p,
                    struct inferd_llm_model **out, struct inferd_err *err)
{
    int rc;
    *out = NULL;
    struct inferd_llm_model *m = calloc(1, sizeof *m);
    if (!m)
        return inferd_err_set(err, INFERD_ENOMEM, "model: out of memory");
    if ((rc = gguf_open(path, &m->g, err)) < 0)
        goto fail;
    struct gguf_str arch;
    if (gguf_get_str(m->g, "general.architecture", &arch) < 0) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "general.architecture: missing");
        goto fail;
    }
    m->arch = llm_arch_find(arch.ptr, arch.len);
    if (!m->arch) {
        rc = inferd_err_set(err, INFERD_EUNSUPPORTED, "general.architecture: \"%.*s\" is not supported (llama, qwen2, phi3, gemma2)",
                            (int)(arch.len > 32 ? 32 : arch.len), arch.ptr);
        goto fail;
    }
    snprintf(m->arch_name, sizeof m->arch_name, "%s", m->arch->name);
    if ((rc = read_hparams(m, err)) < 0 || (rc = load_weights(m, err)) < 0 || (rc = fill_info(m, err)) < 0)
        goto fail;
    /* Prompt matmuls call sgemm from our pool's threads: BLAS itself stays single-threaded
     * (the ONNX engine pins it the same way). */
    openblas_set_num_threads(1);
    if (p && p->pool) {
        m->pool = p->pool;
    } else {
        m->pool = tpool_new(p ? p->n_threads : 0);
        m->own_pool = 1;
        if (!m->pool) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "n_threads: cannot start the thread pool");
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    if (err && !strstr(err->msg, path)) /* gguf_open already names the file */
        inferd_err_prefix(err, "%s", path);
    inferd_llm_free(m);
    return rc;
}

void inferd_llm_free(struct inferd_llm_model *m)
{
    if (!m)
        return;
    if (m->own_pool)
        tpool_free(m->pool);
    llm_tokenizer_detach(m);
    free(m->layers);
    free(m->name);
    free(m->chat_template);
    gguf_close(m->g);
    free(m);
}

const struct inferd_llm_info *inferd_llm_info(const struct inferd_llm_model *m)
{
    return &m->info;
}
