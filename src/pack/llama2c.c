/* llama2c.c — llama2.c checkpoint + tokenizer.bin → GGUF (llama2c.h). */
#include "pack/llama2c.h"

#include "llm/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define L2C_MAX_DIM (1 << 16)
#define L2C_MAX_LAYERS 1024
#define L2C_MAX_VOCAB (1 << 20)
#define L2C_MAX_SEQ (1 << 20)
#define L2C_MAX_TOKEN 1024

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t s;
    memcpy(&s, &v, 4);
    return s;
}

/* Floats the weights hold (everything after the header), with the header's counts already
 * bounded so that nothing overflows 64 bits. */
static uint64_t n_floats(const struct llama2c_config *c)
{
    uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers,
             v = (uint64_t)c->vocab_size, hs = d / (uint64_t)c->n_heads, kv = hs * (uint64_t)c->n_kv_heads;
    uint64_t n = v * d + L * d + L * d * d + 2 * L * d * kv + L * d * d + L * d + 3 * L * d * h + d +
                 (uint64_t)c->seq_len * hs;
    return n + (c->shared_classifier ? 0 : v * d);
}

int llama2c_check_header(const void *data, size_t size, struct llama2c_config *c, struct inferd_err *err)
{
    const unsigned char *p = data;
    if (size < 28)
        return inferd_err_set(err, INFERD_EFORMAT, "llama2.c checkpoint: shorter than its 28-byte header");
    c->dim = rd_i32(p);
    c->hidden_dim = rd_i32(p + 4);
    c->n_layers = rd_i32(p + 8);
    c->n_heads = rd_i32(p + 12);
    c->n_kv_heads = rd_i32(p + 16);
    c->vocab_size = rd_i32(p + 20);
    c->seq_len = rd_i32(p + 24);
    c->shared_classifier = c->vocab_size > 0;
    if (c->vocab_size < 0 && c->vocab_size != INT32_MIN)
        c->vocab_size = -c->vocab_size;
    struct { const char *name; int32_t v, max; } f[] = {
        {"dim", c->dim, L2C_MAX_DIM},          {"hidden_dim", c->hidden_dim, 4 * L2C_MAX_DIM},
        {"n_layers", c->n_layers, L2C_MAX_LAYERS}, {"n_heads", c->n_heads, L2C_MAX_DIM},
        {"n_kv_heads", c->n_kv_heads, L2C_MAX_DIM}, {"vocab_size", c->vocab_size, L2C_MAX_VOCAB},
        {"seq_len", c->seq_len, L2C_MAX_SEQ},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1 || f[i].v > f[i].max)
            return inferd_err_set(err, INFERD_EFORMAT, "llama2.c checkpoint: header %s = %d: not in 1..%d (not a "
                                  "llama2.c checkpoint?)", f[i].name, (int)f[i].v, (int)f[i].max);
    if (c->dim % c->n_heads || c->n_heads % c->n_kv_heads || (c->dim / c->n_heads) % 2)
        return inferd_err_set(err, INFERD_EFORMAT,
                              "llama2.c checkpoint: dim %d, n_heads %d, n_kv_heads %d do not divide into even heads",
                              (int)c->dim, (int)c->n_heads, (int)c->n_kv_heads);
    uint64_t want = 28 + 4 * n_floats(c);
    if ((uint64_t)size != want)
        return inferd_err_set(err, INFERD_EFORMAT,
                              "llama2.c checkpoint: %zu bytes, but its header describes %llu (a legacy float32 export "
                              "with freq_cis is expected)", size, (unsigned long long)want);
    return 0;
}

int llama2c_check_tokenizer(const void *data, size_t size, int n_vocab, struct inferd_err *err)
{
    const unsigned char *p = data;
    if (size < 4)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.bin: shorter than its header");
    int32_t maxlen = rd_i32(p);
    if (maxlen < 1 || maxlen > L2C_MAX_TOKEN)
        return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.bin: max_token_length %d: not in 1..%d", (int)maxlen,
                              L2C_MAX_TOKEN);
    size_t off = 4;
    for (int i = 0; i < n_vocab; i++) {
        if (size - off < 8)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.bin: ends at token %d of %d", i, n_vocab);
        int32_t len = rd_i32(p + off + 4);
        if (len < 0 || len > maxlen || size - off - 8 < (size_t)len)
            return inferd_err_set(err, INFERD_EFORMAT, "tokenizer.bin: token %d: length %d not in 0..%d or past the "
                                  "end", i, (int)len, (int)maxlen);
        off += 8 + (size_t)len;
    }
    return 0;
}

struct mapped {
    void *p;
    size_t n;
};

static int map_file(const char *path, struct mapped *m, struct inferd_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    m->p = NULL;
    m->n = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return inferd_err_set(err, e == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", path, strerror(e));
    }
    m->n = (size_t)st.st_size;
    if (m->n > 0) {
        m->p = mmap(NULL, m->n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->p == MAP_FAILED) {
            m->p = NULL;
            close(fd);
            return inferd_err_set(err, INFERD_EIO, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    return 0;
}

static void unmap(struct mapped *m)
{
    if (m->p)
        munmap(m->p, m->n);
}

int llama2c_to_gguf(const char *ckpt, const char *tokenizer, const char *out, struct inferd_err *err)
{
    struct mapped cm = {0}, tm = {0};
    struct llama2c_config c;
    struct gguf_writer *w = NULL;
    char **toks = NULL;
    float *scores = NULL;
    int32_t *types = NULL;
    int rc;
    if ((rc = map_file(ckpt, &cm, err)) < 0 || (rc = map_file(tokenizer, &tm, err)) < 0)
        goto done;
    if ((rc = llama2c_check_header(cm.p, cm.n, &c, err)) < 0) {
        inferd_err_prefix(err, "%s", ckpt);
        goto done;
    }
    if ((rc = llama2c_check_tokenizer(tm.p, tm.n, c.vocab_size, err)) < 0) {
        inferd_err_prefix(err, "%s", tokenizer);
        goto done;
    }
    w = gguf_writer_new();
    toks = calloc((size_t)c.vocab_size, sizeof *toks);
    scores = calloc((size_t)c.vocab_size, sizeof *scores);
    types = calloc((size_t)c.vocab_size, sizeof *types);
    rc = INFERD_ENOMEM;
    if (!w || !toks || !scores || !types)
        goto nomem;
    /* the vocabulary, as llama.cpp's converter writes it */
    const unsigned char *tp = (const unsigned char *)tm.p + 4;
    for (int i = 0; i < c.vocab_size; i++) {
        float sc;
        memcpy(&sc, tp, 4);
        int32_t len = rd_i32(tp + 4);
        const char *text = (const char *)tp + 8;
        tp += 8 + len;
        scores[i] = sc;
        unsigned hexv;
        char tail;
        char piece[L2C_MAX_TOKEN + 1];
        memcpy(piece, text, (size_t)len);
        piece[len] = '\0';
        if (i == 0) {
            snprintf(piece, sizeof piece, "<unk>");
            types[i] = 2; /* unknown */
        } else if (i == 1 || i == 2) {
            snprintf(piece, sizeof piece, "%s", i == 1 ? "<s>" : "</s>");
            types[i] = 3; /* control */
        } else if (len == 0 || memchr(piece, '\0', (size_t)len)) {
            types[i] = 3;
            piece[0] = '\0';
        } else if (len == 6 && sscanf(piece, "<0x%2X%c", &hexv, &tail) == 2 && tail == '>') {
            types[i] = 6; /* byte */
        } else {
            types[i] = 1; /* normal */
        }
        /* spaces become U+2581, as SentencePiece writes them */
        size_t n = 0, cap = strlen(piece) * 3 + 1;
        char *t = malloc(cap);
        if (!t)
            goto nomem;
        for (const char *s = piece; *s; s++) {
            if (*s == ' ') {
                memcpy(t + n, "\xe2\x96\x81", 3);
                n += 3;
            } else {
                t[n++] = *s;
            }
        }
        t[n] = '\0';
        toks[i] = t;
    }
    int64_t hs = c.dim / c.n_heads, kv = hs * c.n_kv_heads;
    char key[96];
    if ((rc = gguf_writer_set_str(w, "general.architecture", "llama")) < 0 ||
        (rc = gguf_writer_set_str(w, "general.name", "llama2.c")) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c.seq_len)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c.dim)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c.hidden_dim)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c.n_layers)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c.n_heads)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c.n_kv_heads)) < 0 ||
        (rc = gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)hs)) < 0 ||
        (rc = gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f)) < 0 ||
        (rc = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) < 0 ||
        (rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)c.vocab_size)) < 0 ||
        (rc = gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)c.vocab_size)) < 0 ||
        (rc = gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)c.vocab_size)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) < 0 ||
        (rc = gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) < 0)
        goto nomem;
    /* tensors: llama2.c's row-major (out, in) matrices are GGUF's ne = [in, out] as they are */
    const float *f = (const float *)((const char *)cm.p + 28);
    int64_t d = c.dim, h = c.hidden_dim, L = c.n_layers, v = c.vocab_size;
    const float *emb = f, *rms_att = emb + v * d, *wq = rms_att + L * d, *wk = wq + L * d * d, *wv = wk + L * d * kv,
                *wo = wv + L * d * kv, *rms_ffn = wo + L * d * d, *w1 = rms_ffn + L * d, *w2 = w1 + L * d * h,
                *w3 = w2 + L * d * h, *rms_final = w3 + L * d * h, *freq = rms_final + d,
                *wcls = c.shared_classifier ? emb : freq + (int64_t)c.seq_len * hs;
#define ADD(name, data, ne0, ne1)                                                                   \
    do {                                                                                            \
        int64_t ne_[2] = {(ne0), (ne1)};                                                            \
        if ((rc = gguf_writer_add_tensor(w, name, GGML_TYPE_F32, ne_[1] ? 2 : 1, ne_, data)) < 0)   \
            goto nomem;                                                                             \
    } while (0)
    ADD("token_embd.weight", emb, d, v);
    ADD("output_norm.weight", rms_final, d, 0);
    ADD("output.weight", wcls, d, v);
    for (int64_t l = 0; l < L; l++) {
#define LAYER(suffix, data, ne0, ne1)                         \
    snprintf(key, sizeof key, "blk.%d.%s", (int)l, suffix); \
    ADD(key, data, ne0, ne1);
        LAYER("attn_norm.weight", rms_att + l * d, d, 0)
        LAYER("attn_q.weight", wq + l * d * d, d, d)
        LAYER("attn_k.weight", wk + l * d * kv, d, kv)
        LAYER("attn_v.weight", wv + l * d * kv, d, kv)
        LAYER("attn_output.weight", wo + l * d * d, d, d)
        LAYER("ffn_norm.weight", rms_ffn + l * d, d, 0)
        LAYER("ffn_gate.weight", w1 + l * d * h, d, h)
        LAYER("ffn_down.weight", w2 + l * d * h, h, d)
        LAYER("ffn_up.weight", w3 + l * d * h, d, h)
#undef LAYER
    }
#undef ADD
    rc = gguf_writer_write(w, out, err);
    goto done;
nomem:
    rc = inferd_err_set(err, INFERD_ENOMEM, "llama2.c conversion: out of memory");
done:
    if (toks)
        for (int i = 0; i < c.vocab_size; i++)
            free(toks[i]);
    free(toks);
    free(scores);
    free(types);
    gguf_writer_free(w);
    unmap(&cm);
    unmap(&tm);
    return rc;
}
