/* test_attn_model.c — the blocked online-softmax attention (attention.c) against the
 * two-pass reference (attention_ref.c, INFERD_ATTN=twopass) on small random models, over
 * contexts of several key tiles (the llama.cpp goldens stay within one): GQA (llama, 4 heads
 * on 2 KV heads), one KV head per query head (phi3, sliding window 40), gemma2 (sliding
 * window 40 on even layers, attention soft-capping); F32, F16 and Q8_0 caches; batches of 64
 * prompt tokens, a batch mixing two sequences, then single-token steps. The logits of every
 * row must agree within the rounding the two orders allow (with a Q8_0 cache the blocked path
 * also quantizes q to Q8_0, as llama.cpp does, hence the looser bound). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "inferd/llm.h"
#include "support/model_random.h"

#define N_CTX 512
#define N_PROMPT 200
#define N_GEN 12

static char dir[256];

struct run {
    float *logits; /* one row per decoded position of sequence 0, then of sequence 1 */
    int rows;
};

static int decode(struct inferd_llm_ctx *c, int n, const int32_t *tok, const int32_t *pos, const int32_t *seq,
                  struct run *r, int n_vocab)
{
    struct inferd_err err = {0};
    int8_t want[64];
    for (int i = 0; i < n; i++)
        want[i] = 1;
    struct inferd_llm_batch b = {.n = n, .tokens = tok, .pos = pos, .seq = seq, .want_logits = want};
    if (inferd_llm_decode(c, &b, &err) < 0) {
        printf("decode: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < n; i++)
        memcpy(r->logits + (size_t)r->rows++ * n_vocab, inferd_llm_logits(c, i), sizeof(float) * n_vocab);
    return 0;
}

/* Sequence 0: N_PROMPT tokens in batches of 64, the last batch shared with sequence 1's first
 * 24 tokens; then N_GEN single steps on each sequence. */
static int run_model(struct inferd_llm_model *m, int kv_type, int twopass, struct run *r)
{
    const int nv = inferd_llm_info(m)->n_vocab;
    struct inferd_llm_ctx *c = NULL;
    struct inferd_err err = {0};
    if (twopass)
        setenv("INFERD_ATTN", "twopass", 1);
    int rc = inferd_llm_ctx_new(
        m, &(struct inferd_llm_ctx_params){.n_ctx = N_CTX, .n_seq = 2, .n_batch = 64, .kv_type = kv_type}, &c, &err);
    unsetenv("INFERD_ATTN");
    if (rc < 0) {
        printf("ctx: %s\n", err.msg);
        return -1;
    }
    r->rows = 0;
    int32_t tok[64], pos[64], seq[64];
    unsigned x = 7;
    int p0 = 0, p1 = 0;
    while (p0 < N_PROMPT && rc == 0) {
        int n = 0;
        for (; n < 64 && p0 < N_PROMPT; n++, p0++)
            tok[n] = (int32_t)((x = x * 1103515245u + 12345u) >> 8) % nv, pos[n] = p0, seq[n] = 0;
        if (p0 == N_PROMPT) /* the last batch: sequence 1 rides along */
            for (; n < 64 && p1 < 24; n++, p1++)
                tok[n] = (int32_t)((x = x * 1103515245u + 12345u) >> 8) % nv, pos[n] = p1, seq[n] = 1;
        rc = decode(c, n, tok, pos, seq, r, nv);
    }
    for (int g = 0; g < N_GEN && rc == 0; g++) {
        tok[0] = (int32_t)((x = x * 1103515245u + 12345u) >> 8) % nv, pos[0] = p0++, seq[0] = 0;
        rc = decode(c, 1, tok, pos, seq, r, nv);
        tok[0] = (int32_t)((x = x * 1103515245u + 12345u) >> 8) % nv, pos[0] = p1++, seq[0] = 1;
        rc = rc ? rc : decode(c, 1, tok, pos, seq, r, nv);
    }
    inferd_llm_ctx_free(c);
    return rc;
}

static void compare(const char *name, struct llm_random_spec s)
{
    char path[512];
    struct inferd_err err = {0};
    snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
    struct inferd_llm_model *m = NULL;
    CHECK(llm_random_model_write(path, &s, &err) == 0);
    if (inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = 2}, &m, &err) < 0) {
        printf("load %s: %s\n", name, err.msg);
        CHECK(0);
        return;
    }
    const int nv = inferd_llm_info(m)->n_vocab, max_rows = N_PROMPT + 24 + 2 * N_GEN;
    static const int kvs[3] = {INFERD_LLM_KV_F32, INFERD_LLM_KV_F16, INFERD_LLM_KV_Q8_0};
    static const char *const kvn[3] = {"f32", "f16", "q8_0"};
    /* of the largest |logit|: F32 online vs two-pass order; F16 the same order (sums of the
     * dot products aside); Q8_0 online and q quantized to Q8_0 vs two-pass with q in float */
    static const double tol[3] = {3e-4, 1e-4, 5e-2};
    struct run a = {malloc(sizeof(float) * (size_t)max_rows * nv), 0};
    struct run b = {malloc(sizeof(float) * (size_t)max_rows * nv), 0};
    for (int k = 0; k < 3 && a.logits && b.logits; k++) {
        CHECK(run_model(m, kvs[k], 0, &a) == 0);
        CHECK(run_model(m, kvs[k], 1, &b) == 0);
        CHECK(a.rows == max_rows && b.rows == max_rows);
        double dmax = 0, lmax = 0;
        for (size_t i = 0; i < (size_t)a.rows * nv && a.rows == b.rows; i++) {
            dmax = fmax(dmax, fabs(a.logits[i] - b.logits[i]));
            lmax = fmax(lmax, fabs(b.logits[i]));
        }
        printf("%s kv %s: %d rows, max |dlogit| blocked vs two-pass %.3g (max |logit| %.3g, bound %.0e)\n", name,
               kvn[k], a.rows, dmax, lmax, tol[k]);
        CHECK(lmax > 0 && dmax <= tol[k] * lmax);
    }
    free(a.logits);
    free(b.logits);
    inferd_llm_free(m);
    unlink(path);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/attn_model_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    struct llm_random_spec s = llm_random_spec_tiny(); /* 4 heads on 2 KV heads */
    s.n_embd = 128;                                    /* head size 32: Q8_0 cache rows */
    s.n_ctx = N_CTX;
    compare("llama_gqa", s);
    s.arch = "phi3";
    s.n_head_kv = 4;
    s.n_swa = 40;
    compare("phi3_swa", s);
    s.arch = "gemma2";
    s.n_head_kv = 2;
    s.tied = 1;
    compare("gemma2_swa_softcap", s);
    rmdir(dir);
    return check_finish();
}
