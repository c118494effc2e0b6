/* model_random.c — random-weight llama/qwen2/phi3/gemma2 (and MoE) GGUF files for tests and benchmarks (test
 * support: compiled into the tools and tests that use it, never into the library). */
#include "support/model_random.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "inferd/llm.h"
#include "llm/kernels/kernels.h"

struct llm_random_spec llm_random_spec_tiny(void)
{
    return (struct llm_random_spec){.arch = "llama", .n_vocab = 300, .n_embd = 64, .n_layer = 2,
                                    .n_head = 4, .n_head_kv = 2, .n_ff = 128, .n_ctx = 256,
                                    .type = GGML_TYPE_F32, .embd_type = GGML_TYPE_F32, .seed = 1,
                                    .vocab = 1};
}

struct llm_random_spec llm_random_spec_tinyllama(enum ggml_type type)
{
    return (struct llm_random_spec){.arch = "llama", .n_vocab = 32000, .n_embd = 2048, .n_layer = 22,
                                    .n_head = 32, .n_head_kv = 4, .n_ff = 5632, .n_ctx = 2048,
                                    .type = type, .embd_type = type, .seed = 42, .vocab = 1};
}

static float uniform(uint64_t *x, float scale)
{
    /* splitmix64 directly: the random test models are pinned to this sequence */
    return ((float)(rng_splitmix64(x) >> 40) * 0x1.0p-24f * 2.f - 1.f) * scale;
}

/* Tensor buffers live until the writer has written them. */
struct bufs {
    void **p;
    int n, cap;
};

static void *bufs_alloc(struct bufs *b, size_t n)
{
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 64;
        void **np = realloc(b->p, sizeof(void *) * (size_t)nc);
        if (!np)
            return NULL;
        b->p = np;
        b->cap = nc;
    }
    void *m = malloc(n ? n : 1);
    if (m)
        b->p[b->n++] = m;
    return m;
}

/* Adds a (ne0), (ne0, ne1) or (ne0, ne1, ne2) tensor of uniform values (center + [-scale,
 * scale]) in type t. */
static int add_random3(struct gguf_writer *w, struct bufs *b, uint64_t *rng, const char *name, enum ggml_type t,
                       int64_t ne0, int64_t ne1, int64_t ne2, float center, float scale, struct inferd_err *err)
{
    size_t rs = ggml_row_size(t, ne0);
    const struct kern_type *k = kern_get(t);
    if (!rs || !k || !k->quantize_row)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: cannot write type %s with %lld columns", name,
                              ggml_type_name(t), (long long)ne0);
    int64_t rows = (ne1 > 0 ? ne1 : 1) * (ne2 > 0 ? ne2 : 1);
    unsigned char *data = bufs_alloc(b, rs * (size_t)rows);
    float *row = malloc(sizeof(float) * (size_t)ne0);
    if (!data || !row) {
        free(row);
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", name);
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < ne0; i++)
            row[i] = center + uniform(rng, scale);
        k->quantize_row(row, data + (size_t)r * rs, ne0);
    }
    free(row);
    int64_t ne[3] = {ne0, ne1, ne2};
    int rc = gguf_writer_add_tensor(w, name, t, ne2 > 0 ? 3 : ne1 > 0 ? 2 : 1, ne, data);
    return rc < 0 ? inferd_err_set(err, rc, "%s: cannot add tensor", name) : 0;
}

static int add_random(struct gguf_writer *w, struct bufs *b, uint64_t *rng, const char *name, enum ggml_type t,
                      int64_t ne0, int64_t ne1, float center, float scale, struct inferd_err *err)
{
    return add_random3(w, b, rng, name, t, ne0, ne1, 0, center, scale, err);
}

static int write_vocab(struct gguf_writer *w, int n_vocab, struct inferd_err *err)
{
    char **toks = calloc((size_t)n_vocab, sizeof(char *));
    float *scores = malloc(sizeof(float) * (size_t)n_vocab);
    int32_t *types = malloc(sizeof(int32_t) * (size_t)n_vocab);
    int rc = INFERD_ENOMEM;
    if (!toks || !scores || !types)
        goto done;
    static const char *const letters = "etaoinshrdlucmfwypvbgkjqxz";
    for (int i = 0; i < n_vocab; i++) {
        char buf[32];
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>");
        else if (i == 1)
            snprintf(buf, sizeof buf, "<s>");
        else if (i == 2)
            snprintf(buf, sizeof buf, "</s>");
        else if (i < 259)
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        else if (i < 259 + 26)
            snprintf(buf, sizeof buf, "%c", letters[i - 259]);
        else if (i < 259 + 52)
            snprintf(buf, sizeof buf, "\xe2\x96\x81%c", letters[i - 259 - 26]);
        else
            snprintf(buf, sizeof buf, "\xe2\x96\x81%c%c%d", letters[i % 26], letters[(i / 26) % 26], i);
        toks[i] = strdup(buf);
        if (!toks[i])
            goto done;
        scores[i] = i < 259 ? 0.f : -(float)(i - 259) * 0.01f;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    if ((rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) < 0 ||
        (rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n_vocab)) < 0 ||
        (rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n_vocab)) < 0 ||
        (rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n_vocab)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) < 0)
        goto done;
    rc = 0;
done:
    if (toks)
        for (int i = 0; i < n_vocab; i++)
            free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    return rc < 0 ? inferd_err_set(err, rc, "tokenizer: cannot write vocabulary") : 0;
}

int llm_random_model_write(const char *path, const struct llm_random_spec *s, struct inferd_err *err)
{
    if (!s->arch || s->n_embd <= 0 || s->n_head <= 0 || s->n_head_kv <= 0 || s->n_embd % s->n_head ||
        s->n_head % s->n_head_kv || s->n_layer <= 0 || s->n_ff <= 0 || s->n_vocab <= 0 ||
        (s->vocab && s->n_vocab < 259))
        return inferd_err_set(err, INFERD_EINVAL, "random model: inconsistent shape");
    struct gguf_writer *w = gguf_writer_new();
    struct bufs b = {0};
    uint64_t rng = s->seed;
    int rc = INFERD_ENOMEM;
    const char *a = s->arch;
    const int64_t E = s->n_embd, hd = s->n_embd / s->n_head, kvd = hd * s->n_head_kv, F = s->n_ff;
    int qwen = strcmp(a, "qwen2") == 0, phi3 = strcmp(a, "phi3") == 0, gemma2 = strcmp(a, "gemma2") == 0;
    const int64_t X = s->n_expert;
    char key[128];
    if (!w)
        goto fail;
#define KU32(k, v)                                            \
    snprintf(key, sizeof key, "%s.%s", a, k);                 \
    if ((rc = gguf_writer_set_u32(w, key, (uint32_t)(v))) < 0) \
        goto fail;
    if ((rc = gguf_writer_set_str(w, "general.architecture", a)) < 0 ||
        (rc = gguf_writer_set_str(w, "general.name", "random")) < 0)
        goto fail;
    KU32("context_length", s->n_ctx)
    KU32("embedding_length", E)
    KU32("block_count", s->n_layer)
    KU32("feed_forward_length", F)
    KU32("attention.head_count", s->n_head)
    KU32("attention.head_count_kv", s->n_head_kv)
    KU32("rope.dimension_count", hd)
    if (X > 0) {
        KU32("expert_count", X)
        KU32("expert_used_count", s->n_expert_used)
    }
    if (s->n_swa > 0) {
        KU32("attention.sliding_window", s->n_swa)
    }
#undef KU32
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    if ((rc = gguf_writer_set_f32(w, key, 1e-5f)) < 0)
        goto fail;
    if (s->rope_base > 0) {
        snprintf(key, sizeof key, "%s.rope.freq_base", a);
        if ((rc = gguf_writer_set_f32(w, key, s->rope_base)) < 0)
            goto fail;
    }
    if (s->rope_linear_factor > 0) {
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        if ((rc = gguf_writer_set_str(w, key, s->rope_yarn_orig_ctx > 0 ? "yarn" : "linear")) < 0)
            goto fail;
        snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", a);
        if (s->rope_yarn_orig_ctx > 0 && (rc = gguf_writer_set_u32(w, key, (uint32_t)s->rope_yarn_orig_ctx)) < 0)
            goto fail;
        snprintf(key, sizeof key, "%s.rope.scaling.factor", a);
        if ((rc = gguf_writer_set_f32(w, key, s->rope_linear_factor)) < 0)
            goto fail;
    }
    if (s->vocab && (rc = write_vocab(w, s->n_vocab, err)) < 0)
        goto fail_msg;
    float se = 1.f / sqrtf((float)E), sf = 1.f / sqrtf((float)F);
    if ((rc = add_random(w, &b, &rng, "token_embd.weight", s->embd_type, E, s->n_vocab, 0, 1.f, err)) < 0 ||
        (rc = add_random(w, &b, &rng, "output_norm.weight", GGML_TYPE_F32, E, 0, 1.f, 0.1f, err)) < 0)
        goto fail_msg;
    if (!s->tied && (rc = add_random(w, &b, &rng, "output.weight", s->embd_type, E, s->n_vocab, 0, se, err)) < 0)
        goto fail_msg;
    if (s->longrope_orig_ctx > 0) { /* divisors in [1, 1.5] (short) and [4, 6] (long) */
        snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", a);
        if ((rc = gguf_writer_set_u32(w, key, (uint32_t)s->longrope_orig_ctx)) < 0)
            goto fail;
        snprintf(key, sizeof key, "%s.rope.scaling.attn_factor", a);
        if ((rc = gguf_writer_set_f32(w, key, 1.1f)) < 0)
            goto fail;
        if ((rc = add_random(w, &b, &rng, "rope_factors_short.weight", GGML_TYPE_F32, hd / 2, 0, 1.25f, 0.25f, err)) < 0 ||
            (rc = add_random(w, &b, &rng, "rope_factors_long.weight", GGML_TYPE_F32, hd / 2, 0, 5.f, 1.f, err)) < 0)
            goto fail_msg;
    }
    for (int l = 0; l < s->n_layer; l++) {
        char n[64];
#define T(suffix, t, ne0, ne1, c, sc)                                              \
    snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                 \
    if ((rc = add_random(w, &b, &rng, n, t, ne0, ne1, c, sc, err)) < 0)             \
        goto fail_msg;
        T("attn_norm.weight", GGML_TYPE_F32, E, 0, 1.f, 0.1f)
        if (phi3) {
            T("attn_qkv.weight", s->type, E, E + 2 * kvd, 0, se)
        } else {
            T("attn_q.weight", s->type, E, E, 0, se)
            T("attn_k.weight", s->type, E, kvd, 0, se)
            T("attn_v.weight", s->type, E, kvd, 0, se)
        }
        T("attn_output.weight", s->type, E, E, 0, se)
        if (gemma2) {
            T("post_attention_norm.weight", GGML_TYPE_F32, E, 0, 1.f, 0.1f)
        }
        if (qwen) {
            T("attn_q.bias", GGML_TYPE_F32, E, 0, 0, 0.1f)
            T("attn_k.bias", GGML_TYPE_F32, kvd, 0, 0, 0.1f)
            T("attn_v.bias", GGML_TYPE_F32, kvd, 0, 0, 0.1f)
        }
        T("ffn_norm.weight", GGML_TYPE_F32, E, 0, 1.f, 0.1f)
        if (X > 0) {
            T("ffn_gate_inp.weight", GGML_TYPE_F32, E, X, 0, se)
            snprintf(n, sizeof n, "blk.%d.ffn_gate_exps.weight", l);
            if ((rc = add_random3(w, &b, &rng, n, s->type, E, F, X, 0, se, err)) < 0)
                goto fail_msg;
            snprintf(n, sizeof n, "blk.%d.ffn_up_exps.weight", l);
            if ((rc = add_random3(w, &b, &rng, n, s->type, E, F, X, 0, se, err)) < 0)
                goto fail_msg;
            snprintf(n, sizeof n, "blk.%d.ffn_down_exps.weight", l);
            if ((rc = add_random3(w, &b, &rng, n, s->type, F, E, X, 0, sf, err)) < 0)
                goto fail_msg;
        } else if (phi3) {
            T("ffn_up.weight", s->type, E, 2 * F, 0, se)
            T("ffn_down.weight", s->type, F, E, 0, sf)
        } else {
            T("ffn_gate.weight", s->type, E, F, 0, se)
            T("ffn_up.weight", s->type, E, F, 0, se)
            T("ffn_down.weight", s->type, F, E, 0, sf)
        }
        if (gemma2) {
            T("post_ffw_norm.weight", GGML_TYPE_F32, E, 0, 1.f, 0.1f)
        }
#undef T
    }
    if ((rc = gguf_writer_write(w, path, err)) < 0)
        goto fail_msg;
    rc = 0;
    goto done;
fail:
    inferd_err_set(err, rc, "random model: out of memory");
fail_msg:
done:
    for (int i = 0; i < b.n; i++)
        free(b.p[i]);
    free(b.p);
    gguf_writer_free(w);
    return rc;
}

struct inferd_llm_model *llm_random_model_make(const char *dir, const char *name, const struct llm_random_spec *s,
                                               int n_threads)
{
    char path[512];
    struct inferd_err err = {0};
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    if (llm_random_model_write(path, s, &err) < 0) {
        printf("write %s: %s\n", name, err.msg);
        return NULL;
    }
    struct inferd_llm_model *m = NULL;
    if (inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = n_threads}, &m, &err) < 0)
        printf("load %s: %s\n", name, err.msg);
    return m;
}
