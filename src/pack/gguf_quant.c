/* gguf_quant.c — re-writing a GGUF model with quantized weights (gguf_quant.h): the choice
 * of type per tensor (llama.cpp's rules) and the row-parallel dequantize -> quantize. */
#include "pack/gguf_quant.h"

#include "base/clock.h"
#include "base/tpool.h"
#include "llm/kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define QUANT_VERSION 2 /* ggml's GGML_QNT_VERSION: the block formats in kernels.h */

enum scheme_id { S_Q8_0, S_Q4_0, S_Q6_K, S_IQ4_NL, S_IQ4_XS, S_Q2_K, S_Q3_K_M, S_Q4_K_M, S_Q4_K_S, S_Q5_K_M, S_Q5_K_S };

static const struct scheme {
    const char *name, *alias;
    enum scheme_id id;
    int ftype;
    enum ggml_type def;
} schemes[] = {
    {"Q8_0", NULL, S_Q8_0, 7, GGML_TYPE_Q8_0},         {"Q4_0", NULL, S_Q4_0, 2, GGML_TYPE_Q4_0},
    {"Q6_K", NULL, S_Q6_K, 18, GGML_TYPE_Q6_K},        {"IQ4_NL", NULL, S_IQ4_NL, 25, GGML_TYPE_IQ4_NL},
    {"IQ4_XS", NULL, S_IQ4_XS, 30, GGML_TYPE_IQ4_XS},  {"Q2_K", NULL, S_Q2_K, 10, GGML_TYPE_Q2_K},
    {"Q3_K_M", "Q3_K", S_Q3_K_M, 12, GGML_TYPE_Q3_K},  {"Q4_K_M", "Q4_K", S_Q4_K_M, 15, GGML_TYPE_Q4_K},
    {"Q4_K_S", NULL, S_Q4_K_S, 14, GGML_TYPE_Q4_K},    {"Q5_K_M", "Q5_K", S_Q5_K_M, 17, GGML_TYPE_Q5_K},
    {"Q5_K_S", NULL, S_Q5_K_S, 16, GGML_TYPE_Q5_K},
};

static const struct scheme *find_scheme(const char *name)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (strcasecmp(name, schemes[i].name) == 0 || (schemes[i].alias && strcasecmp(name, schemes[i].alias) == 0))
            return &schemes[i];
    return NULL;
}

int gguf_quant_scheme_ok(const char *name, char *canonical)
{
    const struct scheme *s = find_scheme(name);
    if (s && canonical)
        snprintf(canonical, 16, "%s", s->name);
    return s != NULL;
}

/* What the rules need to know about the model, and their running counters (llama.cpp's
 * quantize_state_impl): tensors are visited in file order, as llama-quantize does. */
struct plan {
    const struct scheme *s;
    int falcon, has_output, n_layer, n_expert, n_gqa;
    int n_attention_wv, i_attention_wv, i_ffn_down;
};

static int contains(const char *s, const char *sub)
{
    return strstr(s, sub) != NULL;
}

/* The first and last eighth of the layers, and every third layer in between. */
static int use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* Whether llama-quantize quantizes this tensor at all. */
static int wants_quant(const struct gguf_tensor_info *t, const char *name)
{
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 6, "weight") != 0 || t->n_dims < 2)
        return 0;
    static const char *const never[] = {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight",
                                        "time_mix_first.weight", "time_mix_w1.weight", "time_mix_w2.weight",
                                        "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
                                        "time_mix_lerp_fused.weight", "attn_rel_b.weight"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (contains(name, never[i]))
            return 0;
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

/* llama_tensor_get_type for the schemes above. OUT: *fallback = 1 when the row length forced
 * another type. Returns the type, or GGML_TYPE_COUNT with err set. */
static enum ggml_type choose(struct plan *p, const struct gguf_tensor_info *t, const char *name, int *fallback,
                             struct inferd_err *err)
{
    const enum scheme_id id = p->s->id;
    enum ggml_type ty = p->s->def;
    *fallback = 0;
    if (strcmp(name, "output.weight") == 0 || (!p->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (p->falcon || t->ne[0] % ggml_type_block_elems(ty) != 0)
            ty = GGML_TYPE_Q8_0;
        else if (ty != GGML_TYPE_Q8_0)
            ty = GGML_TYPE_Q6_K;
    } else if (strcmp(name, "token_embd.weight") == 0) {
        /* no scheme here changes it */
    } else if (contains(name, "attn_v.weight")) {
        if (id == S_Q2_K)
            ty = p->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (id == S_Q3_K_M)
            ty = p->i_attention_wv < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if ((id == S_IQ4_NL || id == S_IQ4_XS) && p->n_gqa >= 4)
            ty = GGML_TYPE_Q5_K;
        else if ((id == S_Q4_K_M || id == S_Q5_K_M) && use_more_bits(p->i_attention_wv, p->n_attention_wv))
            ty = GGML_TYPE_Q6_K;
        else if (id == S_Q4_K_S && p->i_attention_wv < 4)
            ty = GGML_TYPE_Q5_K;
        if (p->n_expert == 8)
            ty = GGML_TYPE_Q8_0;
        ++p->i_attention_wv;
    } else if (contains(name, "attn_k.weight")) {
        if (p->n_expert == 8)
            ty = GGML_TYPE_Q8_0;
    } else if (contains(name, "attn_q.weight")) {
        /* no scheme here changes it */
    } else if (contains(name, "ffn_down")) {
        int i_layer = p->i_ffn_down, n_layer = p->n_layer;
        if (p->n_expert > 1 && (sscanf(name, "blk.%d.", &i_layer) != 1 || i_layer < 0 || i_layer >= n_layer)) {
            inferd_err_set(err, INFERD_EFORMAT, "tensor %s: cannot tell its layer (blk.N. in 0..%d)", name,
                           n_layer - 1);
            return GGML_TYPE_COUNT;
        }
        if (id == S_Q2_K)
            ty = GGML_TYPE_Q3_K;
        else if (id == S_Q3_K_M)
            ty = i_layer < n_layer / 16 ? GGML_TYPE_Q5_K
                 : !p->falcon || use_more_bits(i_layer, n_layer) ? GGML_TYPE_Q4_K
                                                                 : GGML_TYPE_Q3_K;
        else if (id == S_Q4_K_M) {
            if (p->falcon)
                ty = i_layer < n_layer / 16 ? GGML_TYPE_Q6_K
                     : use_more_bits(i_layer, n_layer) ? GGML_TYPE_Q5_K
                                                       : GGML_TYPE_Q4_K;
            else if (use_more_bits(i_layer, n_layer))
                ty = GGML_TYPE_Q6_K;
        } else if (i_layer < n_layer / 8 && (id == S_IQ4_NL || id == S_IQ4_XS))
            ty = GGML_TYPE_Q5_K;
        else if (id == S_Q5_K_M && use_more_bits(i_layer, n_layer))
            ty = GGML_TYPE_Q6_K;
        else if (id == S_Q4_K_S && !p->falcon && i_layer < n_layer / 8)
            ty = GGML_TYPE_Q5_K;
        ++p->i_ffn_down;
    } else if (contains(name, "attn_output.weight")) {
        if (!p->falcon) {
            if (p->n_expert == 8) {
                if (id == S_Q2_K || id == S_Q3_K_M || id == S_IQ4_NL || id == S_Q4_K_S || id == S_Q4_K_M ||
                    id == S_IQ4_XS)
                    ty = GGML_TYPE_Q5_K;
            } else if (id == S_Q2_K)
                ty = GGML_TYPE_Q3_K;
            else if (id == S_Q3_K_M)
                ty = GGML_TYPE_Q4_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (id == S_Q3_K_M)
            ty = GGML_TYPE_Q4_K;
        else if (id == S_Q4_K_M)
            ty = GGML_TYPE_Q5_K;
        else if (id == S_Q5_K_M)
            ty = GGML_TYPE_Q6_K;
    }
    if (t->ne[0] % ggml_type_block_elems(ty) != 0) {
        switch (ty) {
        case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: case GGML_TYPE_IQ4_XS: ty = GGML_TYPE_IQ4_NL; break;
        case GGML_TYPE_Q4_K: ty = GGML_TYPE_Q5_0; break;
        case GGML_TYPE_Q5_K: ty = GGML_TYPE_Q5_1; break;
        case GGML_TYPE_Q6_K: ty = GGML_TYPE_Q8_0; break;
        default: ty = GGML_TYPE_F16; break; /* Q4_0/Q8_0/IQ4_NL: rows not a multiple of 32 */
        }
        if (t->ne[0] % ggml_type_block_elems(ty) != 0)
            ty = GGML_TYPE_F16;
        *fallback = 1;
    }
    return ty;
}

/* One tensor to write: its source and the type it becomes. */
struct qtensor {
    const struct gguf_tensor_info *src;
    enum ggml_type type;
};

struct job {
    struct qtensor *t;
    size_t n;
    float *f32;                 /* n_threads rows of max_ne0 floats */
    int64_t max_ne0;
    struct tpool *pool;
    file_progress_fn progress;
    void *pctx;
    int64_t done, total;
    /* the tensor being filled */
    const struct qtensor *cur;
    void *dst;
    int64_t rows;
};

/* Rows [ith*rows/nth, (ith+1)*rows/nth) of the current tensor: source row -> f32 -> type. */
static void quant_part(void *ctx, int ith, int nth)
{
    struct job *j = ctx;
    const struct qtensor *q = j->cur;
    const struct gguf_tensor_info *s = q->src;
    int64_t r0 = j->rows * ith / nth, r1 = j->rows * (ith + 1) / nth;
    size_t srs = ggml_row_size(s->type, s->ne[0]), drs = ggml_row_size(q->type, s->ne[0]);
    float *row = j->f32 + (size_t)ith * (size_t)j->max_ne0;
    /* dequantizing is exact either way (F16 has an F16C version); quantizing must be the
     * reference: the AVX2 Q8_0 activation quantizer rounds ties differently from ggml's */
    const struct kern_type *in = kern_get(s->type), *out = kern_get_ref(q->type);
    for (int64_t r = r0; r < r1; r++) {
        const unsigned char *from = (const unsigned char *)s->data + (size_t)r * srs;
        unsigned char *to = (unsigned char *)j->dst + (size_t)r * drs;
        if (s->type == GGML_TYPE_F32) {
            out->quantize_row((const float *)(const void *)from, to, s->ne[0]);
        } else {
            in->dequant_row(from, row, s->ne[0]);
            out->quantize_row(row, to, s->ne[0]);
        }
    }
}

static int fill(void *ctx, size_t i, void *dst, size_t nbytes, struct inferd_err *err)
{
    struct job *j = ctx;
    const struct qtensor *q = &j->t[i];
    (void)err;
    if (q->type == q->src->type) {
        memcpy(dst, q->src->data, nbytes);
    } else {
        j->cur = q;
        j->dst = dst;
        j->rows = q->src->ne[1] * q->src->ne[2] * q->src->ne[3];
        tpool_parallel_for_n(j->pool, j->rows < 1 ? 1 : (int)(j->rows < 64 ? j->rows : 64), quant_part, j);
    }
    j->done += (int64_t)q->src->nbytes;
    if (j->progress)
        j->progress(j->pctx, j->done, j->total);
    return 0;
}

/* The <arch>.KEY integer, or dflt. */
static int64_t arch_int(const struct gguf_file *g, const char *arch, const char *key, int64_t dflt)
{
    char k[160];
    int64_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return gguf_get_i64(g, k, &v) == 0 ? v : dflt;
}

int gguf_quant_file(const char *src, const char *dst, const char *scheme, int n_threads, file_progress_fn progress,
                    void *ctx, struct gguf_quant_stats *st, struct inferd_err *err)
{
    struct gguf_file *g = NULL;
    struct gguf_writer *w = NULL;
    struct qtensor *qt = NULL;
    struct job job = {0};
    char arch[64] = "", name[512];
    int rc;
    int64_t t0 = (int64_t)clock_now_ns();
    memset(st, 0, sizeof *st);
    struct plan p = {.s = find_scheme(scheme)};
    if (!p.s) {
        char list[256] = "";
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " " : "", schemes[i].name);
        return inferd_err_set(err, INFERD_EINVAL, "--quantize: '%.32s' is not a scheme (%s; Q4_K = Q4_K_M, Q5_K = "
                              "Q5_K_M, Q3_K = Q3_K_M)", scheme, list);
    }
    snprintf(st->scheme, sizeof st->scheme, "%s", p.s->name);
    st->ftype = p.s->ftype;
    if ((rc = gguf_open(src, &g, err)) < 0)
        return rc;
    struct gguf_str a;
    if (gguf_get_str(g, "general.architecture", &a) == 0 && a.len < sizeof arch) {
        memcpy(arch, a.ptr, a.len);
        arch[a.len] = '\0';
    }
    p.falcon = strcmp(arch, "falcon") == 0;
    p.n_layer = (int)arch_int(g, arch, "block_count", 0);
    p.n_expert = (int)arch_int(g, arch, "expert_count", 0);
    int64_t n_head = arch_int(g, arch, "attention.head_count", 0), n_kv = arch_int(g, arch, "attention.head_count_kv", n_head);
    p.n_gqa = n_kv > 0 ? (int)(n_head / n_kv) : 1;
    uint64_t nt = gguf_n_tensors(g);
    qt = calloc(nt ? nt : 1, sizeof *qt);
    w = gguf_writer_new();
    if (!qt || !w) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < nt; i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(g, i);
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 500 ? t->name.len : 500), t->name.ptr);
        if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight"))
            p.n_attention_wv++;
        else if (strcmp(name, "output.weight") == 0)
            p.has_output = 1;
    }
    /* metadata: everything but the two keys we set and the alignment (the writer's is 32) */
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        snprintf(name, sizeof name, "%.*s", (int)(kv->key.len < 500 ? kv->key.len : 500), kv->key.ptr);
        if (strcmp(name, "general.alignment") == 0)
            continue;
        if ((rc = gguf_writer_copy_kv(w, g, kv)) < 0) {
            rc = inferd_err_set(err, rc, "%s: metadata %s: cannot copy", src, name);
            goto fail;
        }
    }
    if (gguf_writer_set_u32(w, "general.quantization_version", QUANT_VERSION) < 0 ||
        gguf_writer_set_u32(w, "general.file_type", (uint32_t)p.s->ftype) < 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < nt; i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(g, i);
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 500 ? t->name.len : 500), t->name.ptr);
        enum ggml_type ty = t->type;
        int fb = 0;
        if (wants_quant(t, name)) {
            ty = choose(&p, t, name, &fb, err);
            if (ty == GGML_TYPE_COUNT) {
                rc = INFERD_EFORMAT;
                inferd_err_prefix(err, "%s", src);
                goto fail;
            }
        }
        if (ty != t->type) {
            const struct kern_type *in = kern_get_ref(t->type), *out = kern_get_ref(ty);
            if (!in || !in->dequant_row || !out || !out->quantize_row) {
                rc = inferd_err_set(err, INFERD_EFORMAT, "%s: tensor %s: cannot convert %s to %s", src, name,
                                    ggml_type_name(t->type), ggml_type_name(ty));
                goto fail;
            }
            st->n_quantized++;
            st->n_fallback += fb;
            if (ggml_type_block_elems(t->type) > 1)
                st->n_requantized++;
        } else {
            st->n_copied++;
        }
        qt[i] = (struct qtensor){t, ty};
        st->n_by_type[ty]++;
        if (t->ne[0] > job.max_ne0)
            job.max_ne0 = t->ne[0];
        job.total += (int64_t)t->nbytes;
        if ((rc = gguf_writer_add_tensor(w, name, ty, t->n_dims, t->ne, NULL)) < 0) {
            rc = inferd_err_set(err, rc, "%s: tensor %s: cannot add as %s", src, name, ggml_type_name(ty));
            goto fail;
        }
    }
    st->n_tensors = (int)nt;
    job.pool = tpool_new(n_threads);
    size_t nth = (size_t)(job.pool ? tpool_size(job.pool) : 1);
    job.f32 = malloc(nth * (size_t)(job.max_ne0 ? job.max_ne0 : 1) * sizeof(float));
    if (!job.pool || !job.f32) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory for quantization buffers");
        goto fail;
    }
    job.t = qt;
    job.n = nt;
    job.progress = progress;
    job.pctx = ctx;
    gguf_writer_set_fill(w, fill, &job);
    if ((rc = gguf_writer_write(w, dst, err)) < 0)
        goto fail;
    struct stat sb;
    st->bytes_in = (int64_t)gguf_file_size(g);
    st->bytes_out = stat(dst, &sb) == 0 ? (int64_t)sb.st_size : (int64_t)gguf_writer_size(w);
    st->seconds = (double)((int64_t)clock_now_ns() - t0) / 1e9;
    rc = 0;
fail:
    tpool_free(job.pool);
    free(job.f32);
    free(qt);
    gguf_writer_free(w);
    gguf_close(g);
    return rc;
}
