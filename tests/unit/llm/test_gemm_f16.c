/* test_gemm_f16.c — the F16 prompt GEMM (scalar, AVX2, AVX-512) against the reference dot
 * product of every (weight row, f16-rounded activation row) pair, over row and token counts
 * that hit every tile width and tail; padded strides; nothing written outside the output.
 * An ISA the CPU lacks is skipped with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/cpu.h"
#include "base/rng.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/gemm_f16.h"
#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"

static struct rng rng = {{0x243F6A8885A308D3ull, 3, 5, 13}}; /* fixed data on every run */
static float frand(void) /* [-1, 1) */
{
    return (float)(rng_next(&rng) % 2000001) / 1000000.f - 1.f;
}

#define SENTINEL -7.f

static void check_gemm(const char *name, const struct kern_gemm_f16 *g, int64_t n, int n_rows, int n_tok)
{
    const size_t ws = (size_t)n * 2 + 64, ldx = (size_t)n + 5, ldy = (size_t)n_rows + 3;
    unsigned char *w = malloc(ws * (size_t)n_rows);
    float *x = malloc(sizeof(float) * ldx * (size_t)n_tok), *tmp = malloc(sizeof(float) * (size_t)n);
    float *xp = malloc(sizeof(float) * kern_gemm_f16_xp_floats(n_tok, n));
    float *xp_ref = malloc(sizeof(float) * kern_gemm_f16_xp_floats(n_tok, n));
    float *wf = malloc(sizeof(float) * KERN_GEMM_F16_SCRATCH(n));
    float *y = malloc(sizeof(float) * ldy * ((size_t)n_tok + 1));
    uint16_t *xh = malloc(2 * (size_t)n);
    for (int r = 0; r < n_rows; r++) {
        for (int64_t k = 0; k < n; k++)
            tmp[k] = frand() * (r % 3 == 0 ? 4.f : 1.f);
        quant_row_f16(tmp, w + (size_t)r * ws, n);
    }
    for (size_t i = 0; i < ldx * (size_t)n_tok; i++)
        x[i] = frand() * 3.f; /* full f32 precision: pack must round it */
    for (size_t i = 0; i < ldy * ((size_t)n_tok + 1); i++)
        y[i] = SENTINEL;
    g->pack(x, ldx, n_tok, n, xp);
    kern_get_gemm_f16_ref()->pack(x, ldx, n_tok, n, xp_ref);
    CHECK(memcmp(xp, xp_ref, sizeof(float) * kern_gemm_f16_xp_floats(n_tok, n)) == 0);
    g->gemm(n, w, ws, n_rows, xp, n_tok, y, ldy, wf);
    int bad = 0;
    for (int t = 0; t < n_tok + 1; t++) {
        if (t < n_tok)
            quant_row_f16(x + (size_t)t * ldx, xh, n);
        for (size_t r = 0; r < ldy; r++) {
            float got = y[(size_t)t * ldy + r];
            if (t == n_tok || r >= (size_t)n_rows) {
                CHECK(got == SENTINEL);
                continue;
            }
            float want;
            dot_ref_f16(n, &want, w + r * ws, xh);
            double mag = 0;
            for (int64_t k = 0; k < n; k++)
                mag += fabs((double)fp16_to_f32(((const uint16_t *)(w + r * ws))[k]) * fp16_to_f32(xh[k]));
            double tol = 1e-5 * mag + 1e-6; /* float summation order */
            CHECK_NEAR(got, want, tol);
            if (fabs(got - want) > tol && bad++ < 3)
                printf("%s n %lld rows %d tok %d: (%zu,%d) %.6f want %.6f\n", name, (long long)n, n_rows, n_tok, r, t,
                       got, want);
        }
    }
    free(w);
    free(x);
    free(tmp);
    free(xp);
    free(xp_ref);
    free(wf);
    free(y);
    free(xh);
}

static void check_all(const char *name, const struct kern_gemm_f16 *g)
{
    printf("testing %s\n", name);
    const int rows[] = {1, 3, 7, 12, 13, 27, 40};
    const int toks[] = {1, 15, 16, 17, 33, 50};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        for (size_t j = 0; j < sizeof toks / sizeof toks[0]; j++)
            check_gemm(name, g, 64, rows[i], toks[j]);
    check_gemm(name, g, 16, 13, 33);
    check_gemm(name, g, 2048, 26, 40);
}

int main(void)
{
    printf("cpu: %s\n", cpu_features_str());
    check_all("scalar", kern_get_gemm_f16_ref());
    const struct kern_gemm_f16 avx2 = {gemm_f16_pack_avx2, gemm_f16_avx2, "avx2"};
    const struct kern_gemm_f16 avx512 = {gemm_f16_pack_avx2, gemm_f16_avx512, "avx512"};
    if (cpu_has(KERN_ISA_AVX2_MASK))
        check_all("avx2", &avx2);
    else
        printf("skip avx2: this CPU lacks AVX2+FMA+F16C\n");
    if (cpu_has(KERN_ISA_AVX2_MASK | CPU_AVX512F))
        check_all("avx512", &avx512);
    else
        printf("skip avx512: this CPU lacks AVX-512F\n");
    /* kern_get_gemm_f16 hands out the widest kernel the CPU has */
    const struct kern_gemm_f16 *g = kern_get_gemm_f16();
    if (cpu_has(KERN_ISA_AVX2_MASK | CPU_AVX512F))
        CHECK(g && g->gemm == gemm_f16_avx512);
    else if (cpu_has(KERN_ISA_AVX2_MASK))
        CHECK(g && g->gemm == gemm_f16_avx2);
    else
        CHECK(g == NULL);
    return check_finish();
}
