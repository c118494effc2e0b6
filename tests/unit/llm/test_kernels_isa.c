/* test_kernels_isa.c — the AVX-512F/BW, AVX-512 VNNI and AVX-VNNI integer kernels against
 * the scalar reference: every dot product, and every GEMM tile against the reference dot of
 * each (row, token) pair. An ISA the CPU lacks is skipped with a message. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/cpu.h"
#include "base/rng.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"
#include "llm/kernels/panel.h"

static struct rng rng = {{0x243F6A8885A308D3ull, 5, 7, 11}}; /* fixed data on every run */
static float frand(void) /* [-1, 1) */
{
    return (float)(rng_next(&rng) % 2000001) / 1000000.f - 1.f;
}

struct isa {
    const char *name;
    unsigned mask;
    kern_dot_fn q8_0, q4_0, q4_k, q6_k, f16;
    kern_gemm4x2_fn g44_q8, g44_q4;
    kern_gemm4xn_fn g4n_q8, g4n_q4; /* NULL where the ISA has none */
};

#define ISA(NM, MASK, SUF, F16, Q8DOT, Q4DOT, Q4KDOT, Q6KDOT, Q8N, Q4N) \
    {NM, MASK, Q8DOT, Q4DOT, Q4KDOT, Q6KDOT, F16, gemm4x4_q8_0_##SUF, gemm4x4_q4_0_##SUF, Q8N, Q4N}

/* (the AVX-512 sets' Q4_0 dots, the AVX-512 F/BW set's Q4_K dot and AVX-VNNI's Q8_0, Q4_0 and
 * Q6_K dots are AVX2's, as kernels.c's tables hand out; AVX-512 VNNI's own Q4_0 dot and dot4,
 * not handed out, are still checked bit for bit against AVX2's below) */
static const struct isa isas[] = {
    ISA("avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, avx512, dot_f16_avx512, dot_q8_0_avx512, dot_avx2_q4_0,
        dot_avx2_q4_k, dot_q6_k_avx512, gemm4xn_q8_0_avx512, gemm4xn_q4_0_avx512),
    ISA("avx512vnni", KERN_ISA_AVX512VNNI_MASK, avx512vnni, dot_f16_avx512vnni, dot_q8_0_avx512vnni,
        dot_avx2_q4_0, dot_q4_k_avx512vnni, dot_q6_k_avx512vnni, gemm4xn_q8_0_avx512vnni,
        gemm4xn_q4_0_avx512vnni),
    ISA("avxvnni", KERN_ISA_AVXVNNI_MASK, avxvnni, NULL, dot_avx2_q8_0, dot_avx2_q4_0, dot_q4_k_avxvnni,
        dot_avx2_q6_k, NULL, NULL),
};

/* A weight row of type t: quantized random floats where there is a quantizer, else random
 * bytes with small positive super-block scales (as test_kernels.c does). */
static void fill_weights(enum ggml_type t, void *buf, int n, float *tmp)
{
    const struct kern_type *k = kern_get_ref(t);
    for (int i = 0; i < n; i++)
        tmp[i] = frand();
    if (k->quantize_row) {
        k->quantize_row(tmp, buf, n);
        return;
    }
    unsigned char *p = buf;
    for (size_t i = 0; i < ggml_row_size(t, n); i++)
        p[i] = (unsigned char)rng_next(&rng);
    for (int b = 0; b < n / QK_K; b++) {
        uint16_t d = fp16_from_f32(0.001f + 0.01f * (float)(rng_next(&rng) % 100) / 100.f);
        if (t == GGML_TYPE_Q4_K) {
            ((struct blk_q4_k *)buf)[b].d = d;
            ((struct blk_q4_k *)buf)[b].dmin = d;
        } else if (t == GGML_TYPE_Q6_K) {
            ((struct blk_q6_k *)buf)[b].d = d;
        }
    }
}

/* fast dot vs the reference dot on 20 random rows; n elements */
static void check_dot(const char *isa, enum ggml_type t, kern_dot_fn fast, int n)
{
    const struct kern_type *ref = kern_get_ref(t);
    float *tmp = malloc(sizeof(float) * n), *wf = malloc(sizeof(float) * n), *af = malloc(sizeof(float) * n);
    void *w = malloc(ggml_row_size(GGML_TYPE_F32, n)), *a = malloc(ggml_row_size(GGML_TYPE_F32, n));
    int bad = 0;
    for (int rep = 0; rep < 20; rep++) {
        fill_weights(t, w, n, tmp);
        for (int i = 0; i < n; i++)
            tmp[i] = frand() * (rep % 3 == 0 ? 10.f : 1.f);
        kern_get_ref(ref->vec_dot_type)->quantize_row(tmp, a, n);
        ref->dequant_row(w, wf, n);
        kern_get_ref(ref->vec_dot_type)->dequant_row(a, af, n);
        double mag = 0;
        for (int i = 0; i < n; i++)
            mag += fabs((double)wf[i] * af[i]);
        float sr, sf;
        ref->vec_dot(n, &sr, w, a);
        fast(n, &sf, w, a);
        double tol = 1e-5 * mag + 1e-6; /* float summation order */
        CHECK_NEAR(sf, sr, tol);
        if (fabs(sf - sr) > tol && bad++ < 3)
            printf("%s %s n %d rep %d: ref %.6f fast %.6f tol %.2e\n", isa, ggml_type_name(t), n, rep, sr, sf, tol);
    }
    free(tmp);
    free(wf);
    free(af);
    free(w);
    free(a);
}

/* A 4 x T tile vs 4T reference dots; padded strides; nothing written outside the tile. */
static void check_tile(const char *isa, enum ggml_type t, kern_gemm4x2_fn g, int T, int n)
{
    const struct kern_type *ref = kern_get_ref(t);
    size_t ws = ggml_row_size(t, n) + 34, as = ggml_row_size(GGML_TYPE_Q8_0, n) + 68;
    unsigned char *w = malloc(ws * 4), *a = malloc(as * (size_t)T);
    float *x = malloc(sizeof(float) * n);
    for (int r = 0; r < 4; r++)
        fill_weights(t, w + r * ws, n, x);
    for (int k = 0; k < T; k++) {
        for (int i = 0; i < n; i++)
            x[i] = frand() * 3.f;
        quant_row_q8_0(x, a + k * as, n);
    }
    const size_t ldy = 6;
    float y[4 * 6], want;
    for (size_t i = 0; i < sizeof y / sizeof y[0]; i++)
        y[i] = -7.f;
    g(n, w, ws, a, as, y, ldy);
    for (int k = 0; k < T; k++) {
        for (int r = 0; r < 4; r++) {
            ref->vec_dot(n, &want, w + r * ws, a + k * as);
            CHECK_NEAR(y[k * ldy + r], want, 1e-4 * (fabs(want) + 1));
            if (fabs(y[k * ldy + r] - want) > 1e-4 * (fabs(want) + 1))
                printf("%s %s tile 4x%d n %d (%d,%d): %.6f want %.6f\n", isa, ggml_type_name(t), T, n, r, k,
                       y[k * ldy + r], want);
        }
        CHECK(y[k * ldy + 4] == -7.f && y[k * ldy + 5] == -7.f);
    }
    for (size_t i = (size_t)T * ldy; i < sizeof y / sizeof y[0]; i++)
        CHECK(y[i] == -7.f);
    free(w);
    free(a);
    free(x);
}

/* gemm4xn over n_tok activation rows: the rows it says it did equal the reference dots,
 * the rest of y is untouched. */
static void check_tile_n(const char *isa, enum ggml_type t, kern_gemm4xn_fn g, int n_tok, int n, int want_done)
{
    const struct kern_type *ref = kern_get_ref(t);
    size_t ws = ggml_row_size(t, n) + 18, as = ggml_row_size(GGML_TYPE_Q8_0, n) + 34;
    unsigned char *w = malloc(ws * 4), *a = malloc(as * (size_t)n_tok);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * 5 * (size_t)n_tok), want;
    for (int r = 0; r < 4; r++)
        fill_weights(t, w + r * ws, n, x);
    for (int k = 0; k < n_tok; k++) {
        for (int i = 0; i < n; i++)
            x[i] = frand() * (k % 2 ? 5.f : 1.f);
        quant_row_q8_0(x, a + k * as, n);
    }
    for (int i = 0; i < 5 * n_tok; i++)
        y[i] = -7.f;
    int done = g(n, w, ws, a, as, y, 5, n_tok);
    CHECK(done == want_done);
    for (int k = 0; k < n_tok; k++)
        for (int r = 0; r < 5; r++) {
            if (k >= done || r == 4) {
                CHECK(y[k * 5 + r] == -7.f);
                continue;
            }
            ref->vec_dot(n, &want, w + r * ws, a + k * as);
            CHECK_NEAR(y[k * 5 + r], want, 1e-4 * (fabs(want) + 1));
            if (fabs(y[k * 5 + r] - want) > 1e-4 * (fabs(want) + 1))
                printf("%s %s gemm4xn n %d (%d,%d): %.6f want %.6f\n", isa, ggml_type_name(t), n, r, k, y[k * 5 + r], want);
        }
    free(w);
    free(a);
    free(x);
    free(y);
}

/* dot4: 4 weight rows ws bytes apart (here 3 rows of a tensor apart, as the matvec's distant
 * streams are) against one activation row; each result bit-identical to the ISA's vec_dot
 * on that row (same operations in the same order), y's other slots untouched. */
static void check_dot4(const char *isa, enum ggml_type t, kern_dot4_fn d4, kern_dot_fn dot, int n)
{
    const struct kern_type *ref = kern_get_ref(t);
    enum ggml_type vt = ref->vec_dot_type;
    size_t rb = ggml_row_size(t, n), ws = 3 * rb;
    unsigned char *w = malloc(rb * 12), *a = malloc(ggml_row_size(vt, n));
    float *x = malloc(sizeof(float) * n), y[12], want;
    for (int r = 0; r < 12; r++)
        fill_weights(t, w + r * rb, n, x);
    for (int i = 0; i < n; i++)
        x[i] = frand() * 3.f;
    kern_get_ref(vt)->quantize_row(x, a, n);
    for (int i = 0; i < 12; i++)
        y[i] = -7.f;
    d4(n, w + rb, ws, a, y + 1, 3);
    for (int i = 0; i < 12; i++) {
        if (i % 3 != 1) {
            CHECK(y[i] == -7.f);
            continue;
        }
        dot(n, &want, w + rb + (size_t)(i / 3) * ws, a);
        CHECK(memcmp(&y[i], &want, sizeof want) == 0);
        if (memcmp(&y[i], &want, sizeof want))
            printf("%s %s dot4 n %d row %d: %.9g want vec_dot's %.9g\n", isa, ggml_type_name(t), n, i / 3, y[i], want);
        ref->vec_dot(n, &want, w + rb + (size_t)(i / 3) * ws, a);
        CHECK_NEAR(y[i], want, 1e-4 * (fabs(want) + 1));
    }
    free(w);
    free(a);
    free(x);
}

/* Q4_0 and Q8_0 dots that do the same float operations in the same lanes must agree bit for
 * bit, whatever their integer steps: AVX-512 VNNI's Q4_0 (vpermt2w + 512-bit vpdpbusd) against
 * AVX2's (vpmaddubsw + vphaddw), and AVX-512 VNNI's and AVX2's Q8_0 (|a| . sign(w, a) with
 * the activation side shared) against AVX-512 F/BW's (sign-vpmaddubsw, one ymm a block),
 * which session 15 left as it was. Full-range quants (+-127, nibbles 0..15) and odd block
 * counts. */
static void check_same_lanes(void)
{
    if (!cpu_has(KERN_ISA_AVX512VNNI_MASK)) {
        printf("skip Q4_0/Q8_0 cross-ISA bits: this CPU lacks AVX-512 VNNI (cpu: %s)\n", cpu_features_str());
        return;
    }
    printf("testing Q4_0/Q8_0 cross-ISA bits\n");
    const int ns[] = {32, 64, 96, 256, 416, 1312, 2048, 5632};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        int n = ns[k], nb = n / 32;
        struct blk_q4_0 *w4 = malloc(sizeof *w4 * nb);
        struct blk_q8_0 *w8 = malloc(sizeof *w8 * nb), *a = malloc(sizeof *a * nb);
        for (int rep = 0; rep < 10; rep++) {
            for (int b = 0; b < nb; b++) {
                w4[b].d = fp16_from_f32(frand() * 0.1f);
                w8[b].d = fp16_from_f32(frand() * 0.1f);
                a[b].d = fp16_from_f32(frand() * 0.05f);
                for (int j = 0; j < 16; j++)
                    w4[b].qs[j] = (uint8_t)(rep == 1 ? 0xFF : rep == 2 ? 0 : rng_next(&rng));
                for (int j = 0; j < 32; j++) {
                    int q = (int)(rng_next(&rng) % 255) - 127;
                    w8[b].qs[j] = (int8_t)(rep == 1 ? 127 : rep == 2 ? -127 : q);
                    q = (int)(rng_next(&rng) % 255) - 127;
                    a[b].qs[j] = (int8_t)(rep == 1 ? (j % 2 ? 127 : -127) : rep == 3 ? 127 : q);
                }
            }
            float s0, s1, s2, y4[4];
            dot_avx2_q4_0(n, &s0, w4, a);
            dot_q4_0_avx512vnni(n, &s1, w4, a);
            CHECK(memcmp(&s0, &s1, sizeof s0) == 0);
            dot4_q4_0_avx512vnni(n, w4, 0, a, y4, 1);
            CHECK(memcmp(&s0, &y4[3], sizeof s0) == 0);
            if (memcmp(&s0, &s1, sizeof s0))
                printf("q4_0 n %d rep %d: avx512vnni %.9g avx2 %.9g\n", n, rep, s1, s0);
            dot_q8_0_avx512(n, &s0, w8, a);
            dot_q8_0_avx512vnni(n, &s1, w8, a);
            dot_avx2_q8_0(n, &s2, w8, a);
            CHECK(memcmp(&s0, &s1, sizeof s0) == 0);
            CHECK(memcmp(&s0, &s2, sizeof s0) == 0);
            dot4_q8_0_avx512vnni(n, w8, 0, a, y4, 1);
            CHECK(memcmp(&s0, &y4[2], sizeof s0) == 0);
            dot4_avx2_q8_0(n, w8, 0, a, y4, 1);
            CHECK(memcmp(&s0, &y4[1], sizeof s0) == 0);
            if (memcmp(&s0, &s1, sizeof s0) || memcmp(&s0, &s2, sizeof s0))
                printf("q8_0 n %d rep %d: avx512 %.9g avx512vnni %.9g avx2 %.9g\n", n, rep, s0, s1, s2);
        }
        free(w4);
        free(w8);
        free(a);
    }
}

/* Q4_K, Q5_K and Q6_K at their bounds: every quant at its largest (15, 31, 63), the Q4_K /
 * Q5_K scales and mins 63, the Q6_K scales 127 / -128 in turn, the activations +-127 in runs of each sign
 * (the AVX2 dots fold i16 pair sums with vphaddw: 4 products of 15 * 127 or 63 * 127 per
 * i16), against the reference: only the float order differs. */
static void check_k_bounds(const char *isa, enum ggml_type t, kern_dot_fn dot)
{
    const int n = 512;
    unsigned char w[2 * sizeof(struct blk_q6_k)];
    struct blk_q8_k a[2];
    float x[512], want, got;
    for (int s = 0; s < 3; s++) {
        memset(w, 0xFF, sizeof w);
        for (int b = 0; b < 2; b++) {
            uint16_t d = fp16_from_f32(s == 2 ? 0.f : 0.002f);
            if (t == GGML_TYPE_Q4_K) {
                ((struct blk_q4_k *)w)[b].d = ((struct blk_q4_k *)w)[b].dmin = d;
            } else if (t == GGML_TYPE_Q5_K) {
                ((struct blk_q5_k *)w)[b].d = ((struct blk_q5_k *)w)[b].dmin = d;
            } else if (t == GGML_TYPE_Q2_K) {
                ((struct blk_q2_k *)w)[b].d = ((struct blk_q2_k *)w)[b].dmin = d;
            } else if (t == GGML_TYPE_Q3_K) {
                ((struct blk_q3_k *)w)[b].d = d;
            } else {
                struct blk_q6_k *x6 = (struct blk_q6_k *)w + b;
                for (int j = 0; j < 16; j++)
                    x6->scales[j] = (int8_t)(j % 2 ? 127 : -128);
                x6->d = d;
            }
        }
        for (int i = 0; i < n; i++)
            x[i] = s == 0 ? 1.f : (i / 64) % 2 ? -1.f : 1.f;
        kern_get_ref(GGML_TYPE_Q8_K)->quantize_row(x, a, n);
        kern_get_ref(t)->vec_dot(n, &want, w, a);
        dot(n, &got, w, a);
        CHECK_NEAR(got, want, 1e-5 * (fabs(want) + 1));
        if (fabs(got - want) > 1e-5 * (fabs(want) + 1))
            printf("%s %s bounds %d: %.6f want %.6f\n", isa, ggml_type_name(t), s, got, want);
    }
}

/* The AVX2 set's dot4s (generation on CPUs without AVX-512 or AVX-VNNI: F16, Q8_0, Q4_0)
 * against dot_avx2_*, bit for bit: odd and single block counts, the 4- and 8-block steps'
 * tails; then the K-quant dots (one row at a time on this level) at one and five
 * super-blocks. */
static void check_dot4_avx2(const int *small_n, size_t n_small)
{
    if (!cpu_has(KERN_ISA_AVX2_MASK)) {
        printf("skip avx2 dot4: this CPU lacks it (cpu: %s)\n", cpu_features_str());
        return;
    }
    printf("testing avx2 dot4\n");
    for (size_t k = 0; k < n_small; k++) {
        check_dot4("avx2", GGML_TYPE_Q4_0, dot4_avx2_q4_0, dot_avx2_q4_0, small_n[k]);
        check_dot4("avx2", GGML_TYPE_Q8_0, dot4_avx2_q8_0, dot_avx2_q8_0, small_n[k]);
        check_dot4("avx2", GGML_TYPE_F16, dot4_avx2_f16, dot_avx2_f16, small_n[k] + 7);
        check_dot4("avx2", GGML_TYPE_F16, dot4_avx2_f16, dot_avx2_f16, small_n[k] + 23); /* + the 16-step */
    }
    for (int n = 256; n <= 1280; n += 1024) {
        check_dot("avx2", GGML_TYPE_Q6_K, dot_avx2_q6_k, n);
        check_dot("avx2", GGML_TYPE_Q4_K, dot_avx2_q4_k, n);
        check_dot("avx2", GGML_TYPE_Q5_K, dot_avx2_q5_k, n);
        check_dot("avx2", GGML_TYPE_Q2_K, dot_avx2_q2_k, n);
        check_dot("avx2", GGML_TYPE_Q3_K, dot_avx2_q3_k, n);
    }
    check_k_bounds("avx2", GGML_TYPE_Q4_K, dot_avx2_q4_k);
    check_k_bounds("avx2", GGML_TYPE_Q5_K, dot_avx2_q5_k);
    check_k_bounds("avx2", GGML_TYPE_Q2_K, dot_avx2_q2_k);
    check_k_bounds("avx2", GGML_TYPE_Q3_K, dot_avx2_q3_k);
    check_k_bounds("avx2", GGML_TYPE_Q6_K, dot_avx2_q6_k);
}

/* Panel GEMM (panel.h): R weight rows x n_tok activation rows against the reference dots;
 * y's columns past the panel stay untouched. The integer block dots are exact, so only the
 * float summation order differs (Q4_0 one sum per output, Q8_0 eight partial sums, Q4_K /
 * Q6_K one scale and one min term per super-block): 1e-4 relative, as for the tiles. */
static void check_panel(const char *isa, enum ggml_type t, kern_panel_fn g, int rows, int n_tok, int n,
                        kern_gemm4x2_fn same)
{
    const struct kern_type *ref = kern_get_ref(t);
    enum ggml_type vdt = ref->vec_dot_type; /* Q8_0 or Q8_K */
    /* padded strides that keep each block type's alignment (Q8_K holds an f32) */
    size_t ws = ggml_row_size(t, n) + 18, as = ggml_row_size(vdt, n) + (vdt == GGML_TYPE_Q8_K ? 36 : 34);
    size_t ldy = (size_t)rows + 3;
    size_t xs = kern_panel_aux_bytes(vdt, n);
    unsigned char *w = malloc(ws * (size_t)rows), *a = malloc(as * (size_t)n_tok);
    unsigned char *aux = malloc(xs * (size_t)n_tok);
    void *scratch = malloc(KERN_PANEL_SCRATCH(n));
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * ldy * (size_t)n_tok), want;
    for (int r = 0; r < rows; r++)
        fill_weights(t, w + r * ws, n, x);
    if (t >= GGML_TYPE_Q2_K && t <= GGML_TYPE_Q6_K) { /* the K-quants */
        /* row 1: the largest quants and scales everywhere (15 / 31 / 63 / 7 / 3, scales 63 /
         * -128, 127 / 31 / 15), so that the i16 pair sums of the non-VNNI paths are at their
         * bounds; row 3: random bytes (every quant, high-bit and scale pattern) */
        memset(w + ws, 0xFF, ggml_row_size(t, n));
        for (size_t i = 0; i < ggml_row_size(t, n); i++)
            w[3 * ws + i] = (unsigned char)rng_next(&rng);
        for (int b = 0; b < n / QK_K; b++)
            for (int r = 1; r <= 3; r += 2) {
                uint16_t d = fp16_from_f32(r == 1 ? 0.002f : 0.003f);
                unsigned char *row = w + r * ws;
                if (t == GGML_TYPE_Q4_K) {
                    ((struct blk_q4_k *)row)[b].d = ((struct blk_q4_k *)row)[b].dmin = d;
                } else if (t == GGML_TYPE_Q5_K) {
                    ((struct blk_q5_k *)row)[b].d = ((struct blk_q5_k *)row)[b].dmin = d;
                } else if (t == GGML_TYPE_Q3_K) {
                    ((struct blk_q3_k *)row)[b].d = d;
                } else if (t == GGML_TYPE_Q2_K) {
                    ((struct blk_q2_k *)row)[b].d = ((struct blk_q2_k *)row)[b].dmin = d;
                } else {
                    struct blk_q6_k *x6 = (struct blk_q6_k *)row + b;
                    for (int j = 0; j < 16 && r == 1; j++)
                        x6->scales[j] = (int8_t)(j % 2 ? 127 : -128);
                    x6->d = d;
                }
            }
    }
    if (same) /* row 2: a weight of -128 in every block (|w| = 128 in the sign trick) */
        for (int b = 0; b < n / 32; b++)
            ((struct blk_q8_0 *)(w + 2 * ws))[b].qs[b % 32] = -128;
    for (int k = 0; k < n_tok; k++) {
        for (int i = 0; i < n; i++)
            x[i] = frand() * (k % 2 ? 5.f : 1.f);
        if (k == 1)
            for (int i = 0; i < (vdt == GGML_TYPE_Q8_K ? QK_K : 32); i++)
                x[i] = -1.f; /* a block (Q8_K: super-block) of -127: the largest |sum(a)| */
        kern_get_ref(vdt)->quantize_row(x, a + k * as, n);
        kern_panel_prep_row(vdt, a + k * as, aux + (size_t)k * xs, n);
    }
    for (size_t i = 0; i < ldy * (size_t)n_tok; i++)
        y[i] = -7.f;
    g(n, w, ws, a, as, aux, y, ldy, n_tok, scratch);
    int bad = 0;
    for (int k = 0; k < n_tok; k++)
        for (int r = 0; r < rows + 3; r++) {
            float got = y[(size_t)k * ldy + r];
            if (r >= rows) {
                CHECK(got == -7.f);
                continue;
            }
            if (same) { /* bit-identical to the 4x2 tile it replaces (rows r & ~3, tokens k, k ^ 1) */
                float t2[2 * 4];
                int k0 = k & ~1, r0 = r & ~3;
                if (k0 + 1 < n_tok) {
                    same(n, w + r0 * ws, ws, a + k0 * as, as, t2, 4);
                    CHECK(memcmp(&got, &t2[(k - k0) * 4 + r - r0], sizeof got) == 0);
                }
            }
            ref->vec_dot(n, &want, w + r * ws, a + k * as);
            CHECK_NEAR(got, want, 1e-4 * (fabs(want) + 1));
            if (fabs(got - want) > 1e-4 * (fabs(want) + 1) && bad++ < 3)
                printf("%s %s panel n %d (%d,%d): %.6f want %.6f\n", isa, ggml_type_name(t), n, r, k, got, want);
        }
    free(w);
    free(a);
    free(aux);
    free(scratch);
    free(x);
    free(y);
}

static void check_panels(void)
{
    static const struct {
        const char *name;
        unsigned mask;
        enum ggml_type t;
        kern_panel_fn g;
        int rows;
        kern_gemm4x2_fn same; /* a tile whose every output the panel's must equal bit for bit */
    } ps[] = {
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q4_0, gemm_panel_q4_0_avx2, 8, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q8_0, gemm_panel_q8_0_avx2, 8, gemm4x2_avx2_q8_0},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q4_0, gemm_panel_q4_0_avxvnni, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q8_0, gemm_panel_q8_0_avxvnni, 8, gemm4x2_avx2_q8_0},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q4_0, gemm_panel_q4_0_avx512, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q4_0, gemm_panel_q4_0_avx512vnni, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q8_0, gemm_panel_q8_0_avx512vnni, 16, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q4_K, gemm_panel_q4_k_avx2, 8, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q2_K, gemm_panel_q2_k_avx2, 8, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q3_K, gemm_panel_q3_k_avx2, 8, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q5_K, gemm_panel_q5_k_avx2, 8, NULL},
        {"avx2", KERN_ISA_AVX2_MASK, GGML_TYPE_Q6_K, gemm_panel_q6_k_avx2, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q4_K, gemm_panel_q4_k_avxvnni, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q2_K, gemm_panel_q2_k_avxvnni, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q3_K, gemm_panel_q3_k_avxvnni, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q5_K, gemm_panel_q5_k_avxvnni, 8, NULL},
        {"avxvnni", KERN_ISA_AVXVNNI_MASK, GGML_TYPE_Q6_K, gemm_panel_q6_k_avxvnni, 8, NULL},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q4_K, gemm_panel_q4_k_avx512, 16, NULL},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q2_K, gemm_panel_q2_k_avx512, 16, NULL},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q3_K, gemm_panel_q3_k_avx512, 16, NULL},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q5_K, gemm_panel_q5_k_avx512, 16, NULL},
        {"avx512 (F/BW/VL)", KERN_ISA_AVX512_MASK, GGML_TYPE_Q6_K, gemm_panel_q6_k_avx512, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q4_K, gemm_panel_q4_k_avx512vnni, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q2_K, gemm_panel_q2_k_avx512vnni, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q3_K, gemm_panel_q3_k_avx512vnni, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q5_K, gemm_panel_q5_k_avx512vnni, 16, NULL},
        {"avx512vnni", KERN_ISA_AVX512VNNI_MASK, GGML_TYPE_Q6_K, gemm_panel_q6_k_avx512vnni, 16, NULL},
    };
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        if (!cpu_has(ps[i].mask)) {
            printf("skip %s %s panel: this CPU lacks it (cpu: %s)\n", ps[i].name, ggml_type_name(ps[i].t),
                   cpu_features_str());
            continue;
        }
        printf("testing %s %s panel\n", ps[i].name, ggml_type_name(ps[i].t));
        /* token counts: whole register tiles, tiles plus a tail, fewer than one tile;
         * lengths in blocks of 32 (K-quants: super-blocks of 256) */
        int k = ps[i].t >= GGML_TYPE_Q2_K && ps[i].t <= GGML_TYPE_Q6_K; /* K-quants */
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 17, k ? 1280 : 1312, ps[i].same);
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 16, 2048, ps[i].same);
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 3, k ? 256 : 32, ps[i].same);
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 9, 5632, ps[i].same);
        /* 4-token tiles (AVX-VNNI Q8_0) plus tails of 3 and 2 */
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 7, k ? 512 : 96, ps[i].same);
        check_panel(ps[i].name, ps[i].t, ps[i].g, ps[i].rows, 6, k ? 256 : 64, ps[i].same);
    }
    /* kern_get_panel hands out the one of this CPU's ISA */
    const struct kern_panel *p4 = kern_get_panel(GGML_TYPE_Q4_0), *p8 = kern_get_panel(GGML_TYPE_Q8_0);
    const char *isa = kern_isa_name();
    if (!strcmp(isa, "avx512vnni"))
        CHECK(p4 && p4->gemm == gemm_panel_q4_0_avx512vnni && p8 && p8->gemm == gemm_panel_q8_0_avx512vnni);
    else if (!strcmp(isa, "avx512"))
        CHECK(p4 && p4->gemm == gemm_panel_q4_0_avx512 && !p8);
    else if (!strcmp(isa, "avxvnni"))
        CHECK(p4 && p4->gemm == gemm_panel_q4_0_avxvnni && p8 && p8->gemm == gemm_panel_q8_0_avxvnni);
    else if (!strcmp(isa, "avx2"))
        CHECK(p4 && p4->gemm == gemm_panel_q4_0_avx2 && p8 && p8->gemm == gemm_panel_q8_0_avx2);
    else
        CHECK(!p4 && !p8);
    const struct kern_panel *p4k = kern_get_panel(GGML_TYPE_Q4_K), *p6k = kern_get_panel(GGML_TYPE_Q6_K);
    if (!strcmp(isa, "avx512vnni"))
        CHECK(p4k && p4k->gemm == gemm_panel_q4_k_avx512vnni && p6k && p6k->gemm == gemm_panel_q6_k_avx512vnni);
    else if (!strcmp(isa, "avx512"))
        CHECK(p4k && p4k->gemm == gemm_panel_q4_k_avx512 && p6k && p6k->gemm == gemm_panel_q6_k_avx512);
    else if (!strcmp(isa, "avxvnni"))
        CHECK(p4k && p4k->gemm == gemm_panel_q4_k_avxvnni && p6k && p6k->gemm == gemm_panel_q6_k_avxvnni);
    else if (!strcmp(isa, "avx2"))
        CHECK(p4k && p4k->gemm == gemm_panel_q4_k_avx2 && p6k && p6k->gemm == gemm_panel_q6_k_avx2);
    else
        CHECK(!p4k && !p6k);
    static const struct {
        enum ggml_type t;
        kern_panel_fn f[4]; /* avx512vnni, avx512, avxvnni, avx2 */
    } kp[] = {
        {GGML_TYPE_Q2_K,
         {gemm_panel_q2_k_avx512vnni, gemm_panel_q2_k_avx512, gemm_panel_q2_k_avxvnni, gemm_panel_q2_k_avx2}},
        {GGML_TYPE_Q3_K,
         {gemm_panel_q3_k_avx512vnni, gemm_panel_q3_k_avx512, gemm_panel_q3_k_avxvnni, gemm_panel_q3_k_avx2}},
        {GGML_TYPE_Q5_K,
         {gemm_panel_q5_k_avx512vnni, gemm_panel_q5_k_avx512, gemm_panel_q5_k_avxvnni, gemm_panel_q5_k_avx2}},
    };
    int ix = !strcmp(isa, "avx512vnni") ? 0
             : !strcmp(isa, "avx512")   ? 1
             : !strcmp(isa, "avxvnni")  ? 2
             : !strcmp(isa, "avx2")     ? 3
                                        : -1;
    for (size_t i = 0; i < sizeof kp / sizeof kp[0]; i++) {
        const struct kern_panel *p = kern_get_panel(kp[i].t);
        CHECK(ix < 0 ? !p : p && p->gemm == kp[i].f[ix]);
    }
    CHECK(kern_get_panel(GGML_TYPE_IQ4_XS) == NULL);
}

/* The AVX-512 VNNI (vpdpbusd, vpackssdw, vpdpwssd), AVX-VNNI and AVX2 (vpmaddubsw, vphaddw,
 * vpmaddwd) Q4_K, Q5_K, Q2_K and Q3_K dots on random bytes (every scale and min pattern of the
 * SIMD scale unpacks, every level and high bit) near the reference, and their dot4s (AVX-512
 * VNNI's; dot4 NULL: none) bit-identical to them on the same rows. Q5_K's blocks start with
 * Q4_K's d and dmin. */
static void check_k_random(const char *isa, unsigned mask, enum ggml_type t, kern_dot_fn dot, kern_dot4_fn dot4)
{
    if (!cpu_has(mask)) {
        printf("skip %s %s on random bytes: this CPU lacks it\n", isa, ggml_type_name(t));
        return;
    }
    const int n = 2048;
    size_t wb = ggml_row_size(t, n), bb = wb / (n / QK_K);
    unsigned char *w = malloc(wb), *a = malloc(ggml_row_size(GGML_TYPE_Q8_K, n));
    float *x = malloc(sizeof(float) * n);
    for (int it = 0; it < 50; it++) {
        for (size_t i = 0; i < wb; i++)
            w[i] = (unsigned char)rng_next(&rng);
        for (int b = 0; b < n / QK_K; b++) { /* d (and dmin, the f16 after it) */
            size_t at = t == GGML_TYPE_Q2_K   ? offsetof(struct blk_q2_k, d)
                        : t == GGML_TYPE_Q3_K ? offsetof(struct blk_q3_k, d)
                                              : offsetof(struct blk_q4_k, d);
            uint16_t dd[2] = {fp16_from_f32(0.0001f * (float)(rng_next(&rng) % 100)),
                              fp16_from_f32(0.0001f * (float)(rng_next(&rng) % 100))};
            memcpy(w + (size_t)b * bb + at, dd, t == GGML_TYPE_Q3_K ? 2 : 4);
        }
        for (int i = 0; i < n; i++)
            x[i] = frand() * (it % 2 ? 5.f : 1.f);
        kern_get_ref(GGML_TYPE_Q8_K)->quantize_row(x, a, n);
        float s1, s4[4], want;
        dot(n, &s1, w, a);
        kern_get_ref(t)->vec_dot(n, &want, w, a);
        if (dot4) { /* the same row 4 times */
            dot4(n, w, 0, a, s4, 1);
            CHECK(memcmp(&s1, &s4[0], sizeof s1) == 0 && memcmp(&s1, &s4[3], sizeof s1) == 0);
        }
        CHECK_NEAR(s1, want, 1e-4 * (fabs(want) + 1));
        if (fabs(s1 - want) > 1e-4 * (fabs(want) + 1))
            printf("%s %s random %d: %.6f want %.6f\n", isa, ggml_type_name(t), it, s1, want);
    }
    free(w);
    free(a);
    free(x);
}

/* The AVX2 Q8_K activation quantizer is byte-identical to the reference: random rows, rows
 * whose largest magnitude comes twice with both signs (the first sets the sign), exact
 * halves (ties to even), an all-zero super-block, and a row scaled so a quant hits -127. */
static void check_quant_q8_k(void)
{
    if (!cpu_has(KERN_ISA_AVX2_MASK)) {
        printf("skip avx2 Q8_K quantizer: this CPU lacks it (cpu: %s)\n", cpu_features_str());
        return;
    }
    printf("testing avx2 Q8_K quantizer\n");
    enum { N = 1024 };
    float x[N];
    struct blk_q8_k want[N / QK_K], got[N / QK_K];
    for (int rep = 0; rep < 40; rep++) {
        for (int i = 0; i < N; i++)
            x[i] = frand() * (rep % 4 == 0 ? 100.f : 1.f);
        if (rep % 5 == 1) { /* +-m twice in one super-block, in either order */
            x[17] = rep % 2 ? 3.f : -3.f;
            x[200] = -x[17];
        }
        if (rep % 5 == 2) /* multiples of max / 254: many exact .5 products */
            for (int i = 0; i < N; i++)
                x[i] = (float)((int)(rng_next(&rng) % 255) - 127) * (2.f / 254.f);
        if (rep % 5 == 3)
            memset(x + QK_K, 0, sizeof(float) * QK_K);
        quant_row_q8_k(x, want, N);
        memset(got, 0x5a, sizeof got);
        quant_avx2_q8_k(x, got, N);
        CHECK(memcmp(want, got, sizeof want) == 0);
    }
}

int main(void)
{
    printf("cpu: %s; kern_get uses %s\n", cpu_features_str(), kern_isa_name());
    /* block counts: even, odd, and one block (tails of the 2- and 4-block loops; 43 and 3:
     * three blocks left after 4-block steps) */
    const int small_n[] = {1024, 1312, 1376, 32, 96, 416}; /* 416: an 8-, a 4- and a 1-block step */
    check_same_lanes();
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const struct isa *s = &isas[i];
        if (!cpu_has(s->mask)) {
            printf("skip %s: this CPU lacks it (cpu: %s)\n", s->name, cpu_features_str());
            continue;
        }
        printf("testing %s\n", s->name);
        for (size_t k = 0; k < sizeof small_n / sizeof small_n[0]; k++) {
            check_dot(s->name, GGML_TYPE_Q8_0, s->q8_0, small_n[k]);
            check_dot(s->name, GGML_TYPE_Q4_0, s->q4_0, small_n[k]);
            if (s->f16)
                check_dot(s->name, GGML_TYPE_F16, s->f16, small_n[k] + 7);
            check_tile(s->name, GGML_TYPE_Q8_0, s->g44_q8, 4, small_n[k]);
            check_tile(s->name, GGML_TYPE_Q4_0, s->g44_q4, 4, small_n[k]);
        }
        if (s->g4n_q4) { /* the AVX-512 sets: their dot4s too */
            int vnni = s->mask == KERN_ISA_AVX512VNNI_MASK;
            for (size_t k = 0; k < sizeof small_n / sizeof small_n[0]; k++) {
                check_dot4(s->name, GGML_TYPE_Q8_0, vnni ? dot4_q8_0_avx512vnni : dot4_q8_0_avx512, s->q8_0, small_n[k]);
                check_dot4(s->name, GGML_TYPE_F16, vnni ? dot4_f16_avx512vnni : dot4_f16_avx512, s->f16, small_n[k] + 7);
                check_dot4(s->name, GGML_TYPE_Q4_0, vnni ? dot4_q4_0_avx512vnni : dot4_avx2_q4_0, s->q4_0, small_n[k]);
            }
        }
        if (s->g4n_q4) {
            const enum ggml_type tt[2] = {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0};
            kern_gemm4xn_fn gg[2] = {s->g4n_q4, s->g4n_q8};
            for (int q = 0; q < 2; q++) {
                check_tile_n(s->name, tt[q], gg[q], 9, 1312, 8);  /* odd block count, 1 row left */
                check_tile_n(s->name, tt[q], gg[q], 4, 1024, 4);
                check_tile_n(s->name, tt[q], gg[q], 3, 1024, 0);  /* too few rows: none done */
                check_tile_n(s->name, tt[q], gg[q], 4, KERN_GEMM4XN_MAX_N, 4);
                check_tile_n(s->name, tt[q], gg[q], 4, KERN_GEMM4XN_MAX_N + 32, 0); /* too long */
            }
        }
        if (s->g4n_q4) {
            int vnni = s->mask == KERN_ISA_AVX512VNNI_MASK;
            for (int n = 256; n <= 1280; n += 1024) {
                check_dot4(s->name, GGML_TYPE_Q6_K, vnni ? dot4_q6_k_avx512vnni : dot4_q6_k_avx512, s->q6_k, n);
                if (vnni)
                    check_dot4(s->name, GGML_TYPE_Q4_K, dot4_q4_k_avx512vnni, s->q4_k, n);
            }
        }
        check_dot(s->name, GGML_TYPE_Q4_K, s->q4_k, 1280);
        check_dot(s->name, GGML_TYPE_Q6_K, s->q6_k, 1280);
        check_dot(s->name, GGML_TYPE_Q4_K, s->q4_k, 256);
        check_k_bounds(s->name, GGML_TYPE_Q4_K, s->q4_k);
        { /* Q5_K, Q2_K, Q3_K: each VNNI set's own dots (and AVX-512 VNNI's dot4s), AVX2's on
           * AVX-512 F/BW; the 256-bit levels have no K-quant dot4 (qblk_x86.h) */
            int vnni = s->mask == KERN_ISA_AVX512VNNI_MASK, avxvnni = s->mask == KERN_ISA_AVXVNNI_MASK;
#define PICK(T) (vnni ? T##_avx512vnni : avxvnni ? T##_avxvnni : NULL)
            kern_dot_fn q5k = PICK(dot_q5_k), q2k = PICK(dot_q2_k), q3k = PICK(dot_q3_k);
#undef PICK
            kern_dot4_fn q5k4 = vnni ? dot4_q5_k_avx512vnni : NULL, q2k4 = vnni ? dot4_q2_k_avx512vnni : NULL,
                         q3k4 = vnni ? dot4_q3_k_avx512vnni : NULL;
            if (!q5k)
                q5k = dot_avx2_q5_k, q2k = dot_avx2_q2_k, q3k = dot_avx2_q3_k;
            check_dot(s->name, GGML_TYPE_Q5_K, q5k, 256);
            check_dot(s->name, GGML_TYPE_Q5_K, q5k, 1280);
            check_k_bounds(s->name, GGML_TYPE_Q5_K, q5k);
            for (int n = 256; n <= 1280 && q5k4; n += 1024)
                check_dot4(s->name, GGML_TYPE_Q5_K, q5k4, q5k, n);
            /* Q2_K and Q3_K (all quants 3, Q3_K's high bits set: its bounds are in the
             * random-bytes check) */
            for (int n = 256; n <= 1280; n += 1024) {
                check_dot(s->name, GGML_TYPE_Q2_K, q2k, n);
                check_dot(s->name, GGML_TYPE_Q3_K, q3k, n);
                if (vnni) {
                    check_dot4(s->name, GGML_TYPE_Q2_K, q2k4, q2k, n);
                    check_dot4(s->name, GGML_TYPE_Q3_K, q3k4, q3k, n);
                }
            }
            check_k_bounds(s->name, GGML_TYPE_Q2_K, q2k);
            check_k_bounds(s->name, GGML_TYPE_Q3_K, q3k);
        }
        check_k_bounds(s->name, GGML_TYPE_Q6_K, s->q6_k);
        check_dot(s->name, GGML_TYPE_Q6_K, s->q6_k, 256);
    }
    check_dot4_avx2(small_n, sizeof small_n / sizeof small_n[0]);
    /* kern_get hands out the kernels of the ISA it names (checked on every CPU) */
    const struct kern_type *k = kern_get(GGML_TYPE_Q4_0);
    const struct kern_tiles *tl = kern_get_tiles(GGML_TYPE_Q4_0);
    const char *isa = kern_isa_name();
    /* AVX2, AVX-VNNI and AVX-512 F/BW: K-quant generation walks one row at a time (no dot4; AVX-512
     * F/BW keeps its own 512-bit Q6_K dot4) */
    const int k_one_row = !kern_get_tiles(GGML_TYPE_Q4_K)->dot4 && !kern_get_tiles(GGML_TYPE_Q5_K)->dot4 &&
                          !kern_get_tiles(GGML_TYPE_Q2_K)->dot4 && !kern_get_tiles(GGML_TYPE_Q3_K)->dot4;
    const int q4k_avx2 = kern_get(GGML_TYPE_Q4_K)->vec_dot == dot_avx2_q4_k && k_one_row;
    if (!strcmp(isa, "avx512vnni"))
        CHECK(k->vec_dot == dot_avx2_q4_0 && tl->dot4 == dot4_avx2_q4_0 &&
              tl->gemm4x4 == gemm4x4_q4_0_avx512vnni && kern_get(GGML_TYPE_Q4_K)->vec_dot == dot_q4_k_avx512vnni &&
              kern_get_tiles(GGML_TYPE_Q4_K)->dot4 == dot4_q4_k_avx512vnni);
    else if (!strcmp(isa, "avx512"))
        CHECK(k->vec_dot == dot_avx2_q4_0 && tl->dot4 == dot4_avx2_q4_0 && tl->gemm4x4 == gemm4x4_q4_0_avx512 &&
              q4k_avx2 && kern_get_tiles(GGML_TYPE_Q6_K)->dot4 == dot4_q6_k_avx512);
    else if (!strcmp(isa, "avxvnni"))
        CHECK(k->vec_dot == dot_avx2_q4_0 && tl->dot4 == dot4_avx2_q4_0 && tl->gemm4x4 == gemm4x4_q4_0_avxvnni &&
              kern_get(GGML_TYPE_Q8_0)->vec_dot == dot_avx2_q8_0 &&
              kern_get_tiles(GGML_TYPE_Q8_0)->dot4 == dot4_avx2_q8_0 &&
              kern_get(GGML_TYPE_Q6_K)->vec_dot == dot_avx2_q6_k &&
              kern_get(GGML_TYPE_Q4_K)->vec_dot == dot_q4_k_avxvnni && k_one_row &&
              !kern_get_tiles(GGML_TYPE_Q6_K)->dot4 &&
              kern_get(GGML_TYPE_F16)->vec_dot == dot_avx2_f16 && kern_get_tiles(GGML_TYPE_F16)->dot4 == dot4_avx2_f16);
    else if (!strcmp(isa, "avx2"))
        CHECK(k->vec_dot == dot_avx2_q4_0 && !tl->gemm4x4 && tl->dot4 == dot4_avx2_q4_0 &&
              kern_get_tiles(GGML_TYPE_F16)->dot4 == dot4_avx2_f16 &&
              kern_get(GGML_TYPE_Q4_K)->vec_dot == dot_avx2_q4_k && kern_get(GGML_TYPE_Q6_K)->vec_dot == dot_avx2_q6_k &&
              k_one_row && !kern_get_tiles(GGML_TYPE_Q6_K)->dot4);
    else
        CHECK(!strcmp(isa, "scalar") && k->vec_dot == dot_ref_q4_0 && !tl->gemm4x4);
    CHECK(kern_get_tiles(GGML_TYPE_Q4_K)->gemm4x4 == NULL); /* none for K-quants yet */
    if (!strcmp(isa, "avx512vnni"))
        CHECK(kern_get(GGML_TYPE_Q5_K)->vec_dot == dot_q5_k_avx512vnni &&
              kern_get_tiles(GGML_TYPE_Q5_K)->dot4 == dot4_q5_k_avx512vnni);
    else if (!strcmp(isa, "avxvnni"))
        CHECK(kern_get(GGML_TYPE_Q5_K)->vec_dot == dot_q5_k_avxvnni && kern_get(GGML_TYPE_Q2_K)->vec_dot == dot_q2_k_avxvnni &&
              kern_get(GGML_TYPE_Q3_K)->vec_dot == dot_q3_k_avxvnni && k_one_row);
    else if (strcmp(isa, "scalar")) /* AVX2's dot, one row at a time, on AVX2 and AVX-512 F/BW */
        CHECK(kern_get(GGML_TYPE_Q5_K)->vec_dot == dot_avx2_q5_k && k_one_row);
    else
        CHECK(kern_get(GGML_TYPE_Q5_K)->vec_dot == dot_ref_q5_k && kern_get_tiles(GGML_TYPE_Q5_K)->dot4 == NULL);
    if (!strcmp(isa, "avx512vnni"))
        CHECK(kern_get(GGML_TYPE_Q2_K)->vec_dot == dot_q2_k_avx512vnni &&
              kern_get_tiles(GGML_TYPE_Q2_K)->dot4 == dot4_q2_k_avx512vnni &&
              kern_get(GGML_TYPE_Q3_K)->vec_dot == dot_q3_k_avx512vnni &&
              kern_get_tiles(GGML_TYPE_Q3_K)->dot4 == dot4_q3_k_avx512vnni);
    else if (strcmp(isa, "scalar") && strcmp(isa, "avxvnni"))
        CHECK(kern_get(GGML_TYPE_Q2_K)->vec_dot == dot_avx2_q2_k && kern_get(GGML_TYPE_Q3_K)->vec_dot == dot_avx2_q3_k &&
              k_one_row);
    check_panels();
    /* every K-quant dot on random bytes, and AVX-512 VNNI's dot4s (the 256-bit levels have none) */
    const enum ggml_type kt[4] = {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K};
    const kern_dot_fn k_vnni[4] = {dot_q4_k_avx512vnni, dot_q5_k_avx512vnni, dot_q2_k_avx512vnni, dot_q3_k_avx512vnni},
                      k_avx2[4] = {dot_avx2_q4_k, dot_avx2_q5_k, dot_avx2_q2_k, dot_avx2_q3_k},
                      k_avxvnni[4] = {dot_q4_k_avxvnni, dot_q5_k_avxvnni, dot_q2_k_avxvnni, dot_q3_k_avxvnni};
    const kern_dot4_fn k4_vnni[4] = {dot4_q4_k_avx512vnni, dot4_q5_k_avx512vnni, dot4_q2_k_avx512vnni,
                                     dot4_q3_k_avx512vnni};
    for (int i = 0; i < 4; i++) {
        check_k_random("avx512vnni", KERN_ISA_AVX512VNNI_MASK, kt[i], k_vnni[i], k4_vnni[i]);
        check_k_random("avx2", KERN_ISA_AVX2_MASK, kt[i], k_avx2[i], NULL);
        check_k_random("avxvnni", KERN_ISA_AVXVNNI_MASK, kt[i], k_avxvnni[i], NULL);
    }
    check_quant_q8_k();
    return check_finish();
}
