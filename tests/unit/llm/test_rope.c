/* test_rope.c — RoPE angles against the formulas, computed here independently in double:
 * plain (theta_i = p * base^(-2i/d)), linear scaling (times 1/factor), Llama 3 rope_freqs
 * divisors, and YaRN (llama.cpp's variant: correction dims from beta_fast 32 / beta_slow 1 over
 * the original context, a linear ramp between interpolated and extrapolated angles, the
 * magnitude scaled by 1 + 0.1 ln(factor)), the YaRN hyper-parameters read from a GGUF file,
 * and LongRoPE's choice of divisors by context size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "llm/llm_int.h"
#include "support/model_random.h"

/* The reference: cos/sin of pair i at position p, scaled by mscale. */
static void ref_angles(int d, double base, double fscale, const float *ff, int yarn, double lo, double hi,
                       double attn_factor, int p, double *cs, double *sn)
{
    double mscale = attn_factor * (yarn ? 1.0 + 0.1 * log(1.0 / fscale) : 1.0);
    for (int i = 0; i < d / 2; i++) {
        double extrap = p * pow(base, -2.0 * i / d) / (ff ? ff[i] : 1.0), th = fscale * extrap;
        if (yarn) {
            double y = (i - lo) / fmax(0.001, hi - lo);
            double mix = 1.0 - fmin(1.0, fmax(0.0, y));
            th = th * (1.0 - mix) + extrap * mix;
        }
        cs[i] = cos(th) * mscale;
        sn[i] = sin(th) * mscale;
    }
}

/* Max |ours - ref| over positions 0..255 (float's repeated multiplication of the angle, as
 * ggml does it, drifts by a few ulps per pair: ~1e-5 here). */
static double worst_diff(const struct llm_hparams *hp, const float *ff)
{
    float cs[512], sn[512];
    double rc[512], rs[512], worst = 0;
    for (int p = 0; p < 256; p++) {
        llm_rope_angles(hp, ff, p, cs, sn);
        ref_angles(hp->n_rot, hp->rope_base, hp->rope_freq_scale, ff, hp->yarn_ext_factor != 0, hp->yarn_lo,
                   hp->yarn_hi, hp->rope_attn_factor, p, rc, rs);
        for (int i = 0; i < hp->n_rot / 2; i++) {
            worst = fmax(worst, fabs(cs[i] - rc[i]));
            worst = fmax(worst, fabs(sn[i] - rs[i]));
        }
    }
    return worst;
}

static void test_formulas(void)
{
    struct llm_hparams hp = {.n_rot = 64, .head_dim = 64, .rope_base = 10000.f, .rope_freq_scale = 1.f,
                             .rope_attn_factor = 1.f};
    double d = worst_diff(&hp, NULL);
    printf("plain: max |d| = %.3g\n", d);
    CHECK(d < 1e-4);
    hp.rope_freq_scale = 0.25f;
    d = worst_diff(&hp, NULL);
    printf("linear x4: max |d| = %.3g\n", d);
    CHECK(d < 1e-4);
    /* Llama 3 divisors: 1 for the fast dims, 8 for the slow ones, a blend between */
    float ff[32];
    for (int i = 0; i < 32; i++)
        ff[i] = i < 8 ? 1.f : i < 16 ? 1.f + (float)(i - 7) : 8.f;
    hp.rope_freq_scale = 1.f;
    hp.rope_base = 500000.f;
    d = worst_diff(&hp, ff);
    printf("rope_freqs: max |d| = %.3g\n", d);
    CHECK(d < 1e-4);
    /* the divisors must change the slow angles (or the test above proves nothing) */
    float c1[32], s1[32], c2[32], s2[32];
    llm_rope_angles(&hp, ff, 255, c1, s1);
    llm_rope_angles(&hp, NULL, 255, c2, s2);
    CHECK(fabsf(s1[20] - s2[20]) > 1e-2 && c1[0] == c2[0] && s1[0] == s2[0]);
}

/* yarn from the file: factor 4 over an original context of 64, attn magnitude 1 + 0.1 ln 4 */
static void test_yarn_file(void)
{
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "/tmp/inferd-test-rope-%d", (int)getpid());
    snprintf(path, sizeof path, "%s.gguf", dir);
    struct llm_random_spec s = llm_random_spec_tiny();
    s.rope_base = 10000.f;
    s.rope_linear_factor = 4.f;
    s.rope_yarn_orig_ctx = 64;
    s.vocab = 0;
    struct inferd_err err = {0};
    CHECK(llm_random_model_write(path, &s, &err) == 0);
    struct inferd_llm_model *m = NULL;
    if (inferd_llm_load(path, NULL, &m, &err) < 0) {
        printf("load: %s\n", err.msg);
        CHECK(0);
        unlink(path);
        return;
    }
    const struct llm_hparams *hp = &m->hp;
    int d = hp->n_rot;
    /* corr dim for b turns: d * ln(n_ctx_orig / (2 pi b)) / (2 ln base) */
    double lo = floor(d * log(64.0 / (32 * 2 * M_PI)) / (2 * log(10000.0)));
    double hi = ceil(d * log(64.0 / (1 * 2 * M_PI)) / (2 * log(10000.0)));
    lo = fmax(0, lo);
    hi = fmin(d - 1, hi);
    printf("yarn: n_rot %d, corr dims [%g, %g] (want [%g, %g]), ext %g, freq_scale %g\n", d, hp->yarn_lo, hp->yarn_hi,
           lo, hi, hp->yarn_ext_factor, hp->rope_freq_scale);
    CHECK(hp->yarn_ext_factor == 1.f && hp->rope_freq_scale == 0.25f && hp->n_ctx_orig == 64);
    CHECK(hp->yarn_lo == (float)lo && hp->yarn_hi == (float)hi);
    double w = worst_diff(hp, NULL);
    printf("yarn: max |d| = %.3g\n", w);
    CHECK(w < 1e-4);
    float cs[64], sn[64];
    llm_rope_angles(hp, NULL, 0, cs, sn);
    CHECK(fabsf(cs[0] - (1.f + 0.1f * logf(4.f))) < 1e-6); /* the magnitude correction */
    inferd_llm_free(m);
    unlink(path);
}

/* LongRoPE (phi3 128k): the short divisors while n_ctx per sequence fits the original
 * context, the long ones beyond it, and rope.scaling.attn_factor scales cos/sin. */
static void test_longrope_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/inferd-test-longrope-%d.gguf", (int)getpid());
    struct llm_random_spec s = llm_random_spec_tiny();
    s.arch = "phi3";
    s.n_swa = 256;
    s.longrope_orig_ctx = 64;
    s.vocab = 0;
    struct inferd_err err = {0};
    CHECK(llm_random_model_write(path, &s, &err) == 0);
    struct inferd_llm_model *m = NULL;
    if (inferd_llm_load(path, NULL, &m, &err) < 0) {
        printf("load: %s\n", err.msg);
        CHECK(0);
        unlink(path);
        return;
    }
    CHECK(m->rope_long != NULL && m->rope_short != NULL && m->hp.rope_attn_factor == 1.1f);
    struct inferd_llm_ctx *c1 = NULL, *c2 = NULL, *c3 = NULL;
    CHECK(inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 64}, &c1, &err) == 0);
    CHECK(inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 128}, &c2, &err) == 0);
    CHECK(inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 128, .n_seq = 2}, &c3, &err) == 0);
    if (c1 && c2 && c3) {
        CHECK(c1->rope_ff == m->rope_short && c2->rope_ff == m->rope_long && c3->rope_ff == m->rope_short);
        /* the factors are really used: the same prompt gives other logits */
        int32_t toks[8] = {1, 5, 9, 13, 17, 21, 25, 29}, pos[8], seq[8] = {0};
        for (int i = 0; i < 8; i++)
            pos[i] = i;
        struct inferd_llm_batch b = {.n = 8, .tokens = toks, .pos = pos, .seq = seq};
        CHECK(inferd_llm_decode(c1, &b, &err) == 0 && inferd_llm_decode(c2, &b, &err) == 0);
        const float *l1 = inferd_llm_logits(c1, 7), *l2 = inferd_llm_logits(c2, 7);
        double d = 0;
        for (int i = 0; l1 && l2 && i < m->hp.n_vocab; i++)
            d = fmax(d, fabs(l1[i] - l2[i]));
        printf("longrope: short vs long factors change the logits by %.3g\n", d);
        CHECK(d > 1e-4);
    }
    float cs[8], sn[8];
    llm_rope_angles(&m->hp, NULL, 0, cs, sn);
    CHECK(fabsf(cs[0] - 1.1f) < 1e-6);
    inferd_llm_ctx_free(c1);
    inferd_llm_ctx_free(c2);
    inferd_llm_ctx_free(c3);
    inferd_llm_free(m);
    unlink(path);
}

int main(void)
{
    test_formulas();
    test_yarn_file();
    test_longrope_file();
    return check_finish();
}
