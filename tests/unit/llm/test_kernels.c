/* test_kernels.c — dequantization against hand-computed blocks, and every SIMD dot product
 * against the scalar reference (and the reference against the dequantized f64 dot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/rng.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels.h"

static struct rng rng = {{0x9E3779B97F4A7C15ull, 1, 2, 3}}; /* fixed data on every run */
static float frand(void) /* [-1, 1) */
{
    return (float)(rng_next(&rng) % 2000001) / 1000000.f - 1.f;
}

static void test_fp16(void)
{
    CHECK(fp16_to_f32(0x3E00) == 1.5f);
    CHECK(fp16_to_f32(0xC000) == -2.f);
    CHECK(fp16_from_f32(1.5f) == 0x3E00);
    CHECK(fp16_from_f32(65504.f) == 0x7BFF);
    CHECK(fp16_from_f32(1e6f) == 0x7C00);
    CHECK(fp16_to_f32(0x0001) == 0x1.0p-24f); /* smallest subnormal */
    CHECK(fp16_from_f32(1.0f + 0x1.0p-11f) == 0x3C00); /* tie -> even */
    CHECK(bf16_to_f32(0x3FC0) == 1.5f);
    CHECK(bf16_from_f32(1.5f) == 0x3FC0);
    for (int i = 0; i < 0x7C00; i += 7) /* every 7th finite positive half round-trips */
        CHECK(fp16_from_f32(fp16_to_f32((uint16_t)i)) == i);
}

static void test_dequant_hand(void)
{
    float y[256];
    { /* Q4_0: d = 0.5, qs[0] = 0x3A -> x0 = (10-8)*.5, x16 = (3-8)*.5 */
        struct blk_q4_0 b = {.d = 0x3800};
        memset(b.qs, 0x88, 16);
        b.qs[0] = 0x3A;
        dequant_row_q4_0(&b, y, 32);
        CHECK(y[0] == 1.0f && y[16] == -2.5f && y[1] == 0.f && y[31] == 0.f);
    }
    { /* Q4_1: d = .5, m = -1 */
        struct blk_q4_1 b = {.d = 0x3800, .m = 0xBC00};
        b.qs[0] = 0x3A;
        dequant_row_q4_1(&b, y, 32);
        CHECK(y[0] == 4.f && y[16] == 0.5f && y[1] == -1.f);
    }
    { /* Q5_0: bits 0 and 16 set */
        struct blk_q5_0 b = {.d = 0x3800, .qh = {0x01, 0x00, 0x01, 0x00}};
        b.qs[0] = 0x3A;
        dequant_row_q5_0(&b, y, 32);
        CHECK(y[0] == 5.f && y[16] == 1.5f && y[1] == -8.f && y[17] == -8.f);
    }
    { /* Q5_1: d = .5, m = 1 */
        struct blk_q5_1 b = {.d = 0x3800, .m = 0x3C00, .qh = {0x01, 0x00, 0x01, 0x00}};
        b.qs[0] = 0x3A;
        dequant_row_q5_1(&b, y, 32);
        CHECK(y[0] == 14.f && y[16] == 10.5f && y[1] == 1.f);
    }
    { /* Q8_0: d = .25 */
        struct blk_q8_0 b = {.d = 0x3400};
        b.qs[3] = -7;
        dequant_row_q8_0(&b, y, 32);
        CHECK(y[3] == -1.75f && y[0] == 0.f);
    }
    { /* Q4_K: d = 1, dmin = .5; sc0 = 2 m0 = 3, sc1 = 5 m1 = 1, sc4 = 7 m4 = 2, sc5 = 19 m5 = 1 */
        struct blk_q4_k b = {.d = 0x3C00, .dmin = 0x3800};
        b.scales[0] = 2;
        b.scales[4] = 3;
        b.scales[1] = 0x45;
        b.scales[5] = 1;
        b.scales[8] = 0x27;
        b.scales[9] = 0x13;
        b.qs[0] = 0x9E;
        b.qs[64] = 0x51;
        dequant_row_q4_k(&b, y, 256);
        CHECK(y[0] == 26.5f && y[32] == 44.5f && y[1] == -1.5f && y[128] == 6.f && y[160] == 94.5f);
        struct blk_q5_k c = {.d = 0x3C00, .dmin = 0x3800};
        memcpy(c.scales, b.scales, 12);
        c.qs[0] = 0x9E;
        c.qs[64] = 0x51;
        c.qh[0] = 0x13;
        dequant_row_q5_k(&c, y, 256);
        CHECK(y[0] == 58.5f && y[32] == 124.5f && y[128] == 118.f && y[160] == 94.5f && y[1] == -1.5f);
    }
    { /* Q6_K: d = .5 */
        struct blk_q6_k b = {.d = 0x3800};
        b.scales[0] = 2;
        b.scales[1] = 5;
        b.scales[2] = -3;
        b.scales[4] = 1;
        b.scales[6] = 4;
        b.ql[0] = 0x21;
        b.qh[0] = 0xE4;
        b.ql[32] = 0x43;
        dequant_row_q6_k(&b, y, 256);
        CHECK(y[0] == -31.f && y[64] == 1.f && y[32] == 19.5f && y[96] == 40.f && y[16] == -80.f);
    }
    { /* F16 / BF16 */
        uint16_t h[2] = {0x3E00, 0xC000}, bf[1] = {0x3FC0};
        dequant_row_f16(h, y, 2);
        CHECK(y[0] == 1.5f && y[1] == -2.f);
        dequant_row_bf16(bf, y, 1);
        CHECK(y[0] == 1.5f);
    }
}

/* Fills a weight row of type t with n elements: quantized random floats where we have a
 * quantizer, else random bytes with small positive super-block scales. */
static void fill_weights(enum ggml_type t, void *buf, int n, float *tmp)
{
    const struct kern_type *k = kern_get_ref(t);
    for (int i = 0; i < n; i++)
        tmp[i] = frand();
    if (k->quantize_row) {
        k->quantize_row(tmp, buf, n);
        return;
    }
    size_t bytes = ggml_row_size(t, n);
    unsigned char *p = buf;
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)rng_next(&rng);
    for (int b = 0; b < n / QK_K; b++) {
        uint16_t d = fp16_from_f32(0.001f + 0.01f * (float)(rng_next(&rng) % 100) / 100.f);
        if (t == GGML_TYPE_Q4_K) {
            ((struct blk_q4_k *)buf)[b].d = d;
            ((struct blk_q4_k *)buf)[b].dmin = d;
        } else if (t == GGML_TYPE_Q5_K) {
            ((struct blk_q5_k *)buf)[b].d = d;
            ((struct blk_q5_k *)buf)[b].dmin = d;
        } else if (t == GGML_TYPE_Q6_K) {
            ((struct blk_q6_k *)buf)[b].d = d;
        }
    }
}

static void test_dots(void)
{
    const enum ggml_type types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q4_0,
                                    GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0,
                                    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q2_K,
                                    GGML_TYPE_Q3_K, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
    /* 5 K-quant super-blocks, 40 small blocks; then 43 small blocks (K-quants skip it): the
     * kernels' 2- and 4-block steps leave a tail; then 1399 (F32, F16, BF16 only): a tail
     * past the 8-, 16- and 32-element steps */
    const int sizes[] = {1024 + 256, 1024 + 256 + 96, 1024 + 256 + 96 + 23}, nmax = 1024 + 256 + 96 + 23;
    float *tmp = malloc(sizeof(float) * nmax), *wf = malloc(sizeof(float) * nmax), *af = malloc(sizeof(float) * nmax);
    void *w = malloc(ggml_row_size(GGML_TYPE_F32, nmax)), *a = malloc(ggml_row_size(GGML_TYPE_F32, nmax));
    if (!kern_simd_active())
        printf("note: no AVX2/FMA/F16C on this CPU, SIMD kernels equal the reference\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0] * 3; ti++) {
        const int n = sizes[ti % 3];
        if (n % ggml_type_block_elems(types[ti / 3]) != 0)
            continue;
        for (int rep = 0; rep < 20; rep++) {
            const struct kern_type *ref = kern_get_ref(types[ti / 3]), *fast = kern_get(types[ti / 3]);
            fill_weights(types[ti / 3], w, n, tmp);
            for (int i = 0; i < n; i++)
                tmp[i] = frand() * (rep % 3 == 0 ? 10.f : 1.f);
            kern_get_ref(ref->vec_dot_type)->quantize_row(tmp, a, n);
            ref->dequant_row(w, wf, n);
            kern_get_ref(ref->vec_dot_type)->dequant_row(a, af, n);
            double exact = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                exact += (double)wf[i] * af[i];
                mag += fabs((double)wf[i] * af[i]);
            }
            float sr, sf;
            ref->vec_dot(n, &sr, w, a);
            fast->vec_dot(n, &sf, w, a);
            /* Tolerance: 1e-5 of the sum of |terms| (float summation order and the f16
             * rounding of per-block scale products). */
            double tol = 1e-5 * mag + 1e-6;
            CHECK_NEAR(sr, exact, tol);
            CHECK_NEAR(sf, sr, tol);
            if (fabs(sr - exact) > tol || fabs(sf - sr) > tol)
                printf("type %s rep %d: exact %.6f ref %.6f fast %.6f tol %.2e\n",
                       ggml_type_name(types[ti / 3]), rep, exact, sr, sf, tol);
        }
    }
    const int n = 1024 + 256 + 96;
    /* fast q8_0 quantizer vs reference: same scale, quants within 1 (ties round to even) */
    for (int rep = 0; rep < 20; rep++) {
        for (int i = 0; i < n; i++)
            tmp[i] = frand() * (rep + 1);
        if (rep == 3)
            memset(tmp, 0, sizeof(float) * 64); /* all-zero blocks */
        struct blk_q8_0 *q1 = w, *q2 = a;
        kern_get_ref(GGML_TYPE_Q8_0)->quantize_row(tmp, q1, n);
        kern_get(GGML_TYPE_Q8_0)->quantize_row(tmp, q2, n);
        int worst = 0, dsame = 1;
        for (int b = 0; b < n / 32; b++) {
            dsame &= q1[b].d == q2[b].d;
            for (int j = 0; j < 32; j++)
                worst = abs(q1[b].qs[j] - q2[b].qs[j]) > worst ? abs(q1[b].qs[j] - q2[b].qs[j]) : worst;
        }
        CHECK(dsame && worst <= 1);
    }
    /* fast f16 dequant/quant vs reference */
    for (int i = 0; i < n; i++)
        tmp[i] = frand() * 100.f;
    uint16_t *h1 = w, *h2 = a;
    kern_get_ref(GGML_TYPE_F16)->quantize_row(tmp, h1, n);
    kern_get(GGML_TYPE_F16)->quantize_row(tmp, h2, n);
    CHECK(memcmp(h1, h2, (size_t)n * 2) == 0);
    kern_get(GGML_TYPE_F16)->dequant_row(h1, wf, n);
    kern_get_ref(GGML_TYPE_F16)->dequant_row(h1, af, n);
    CHECK(memcmp(wf, af, sizeof(float) * n) == 0);
    free(tmp);
    free(wf);
    free(af);
    free(w);
    free(a);
}

/* The 4x2 tiles equal four-by-two vec_dot calls (same blocks, same order per lane). */
static void test_gemm4x2(void)
{
    const enum ggml_type types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0};
    const int n = 512;
    float x[512];
    for (size_t ti = 0; ti < 2; ti++) {
        const struct kern_type *k = kern_get(types[ti]);
        if (!k->gemm4x2)
            continue;
        size_t ws = ggml_row_size(types[ti], n) + 34, as = ggml_row_size(GGML_TYPE_Q8_0, n) + 68; /* padded strides */
        unsigned char *w = malloc(ws * 4), *a = malloc(as * 2);
        for (int r = 0; r < 4; r++) {
            for (int i = 0; i < n; i++)
                x[i] = frand();
            k->quantize_row(x, w + r * ws, n);
        }
        for (int t = 0; t < 2; t++) {
            for (int i = 0; i < n; i++)
                x[i] = frand() * 3.f;
            quant_row_q8_0(x, a + t * as, n);
        }
        float y[2 * 5] = {0}, ref;
        k->gemm4x2(n, w, ws, a, as, y, 5);
        for (int t = 0; t < 2; t++)
            for (int r = 0; r < 4; r++) {
                k->vec_dot(n, &ref, w + r * ws, a + t * as);
                CHECK_NEAR(y[t * 5 + r], ref, 1e-4 * (fabs(ref) + 1));
            }
        CHECK(y[4] == 0.f); /* nothing written outside the 4 columns */
        free(w);
        free(a);
    }
}

static void test_quant_error(void)
{
    /* Round-trip error bounds: Q8_0 <= d/2, Q4_0/Q4_1/Q5_x <= d (per block). */
    const enum ggml_type types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
                                    GGML_TYPE_Q5_1, GGML_TYPE_Q8_K};
    const float levels[] = {127, 8, 15, 16, 31, 127};
    float x[512], y[512];
    unsigned char buf[2048];
    for (size_t ti = 0; ti < 6; ti++) {
        for (int i = 0; i < 512; i++)
            x[i] = frand() * 3.f;
        const struct kern_type *k = kern_get_ref(types[ti]);
        k->quantize_row(x, buf, 512);
        k->dequant_row(buf, y, 512);
        int be = ggml_type_block_elems(types[ti]);
        for (int b = 0; b < 512 / be; b++) {
            float amax = 0, mn = x[b * be], mx = x[b * be];
            for (int j = 0; j < be; j++) {
                amax = fmaxf(amax, fabsf(x[b * be + j]));
                mn = fminf(mn, x[b * be + j]);
                mx = fmaxf(mx, x[b * be + j]);
            }
            float step = (types[ti] == GGML_TYPE_Q4_1 || types[ti] == GGML_TYPE_Q5_1) ? (mx - mn) / levels[ti]
                                                                                       : amax / levels[ti];
            float tol = step * (types[ti] == GGML_TYPE_Q8_0 || types[ti] == GGML_TYPE_Q8_K ? 0.51f : 1.01f) + 1e-3f;
            for (int j = 0; j < be; j++)
                CHECK_NEAR(y[b * be + j], x[b * be + j], tol);
        }
    }
}

int main(void)
{
    test_fp16();
    test_dequant_hand();
    test_dots();
    test_quant_error();
    test_gemm4x2();
    return check_finish();
}
