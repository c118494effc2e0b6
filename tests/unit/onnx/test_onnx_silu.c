/* test_onnx_silu.c — x86/act_silu.h's SiLU (the conv epilogues') on AVX-512 and AVX2 against
 * x / (1 + exp(-x)) in double over the float range: every 61st bit pattern, every float with
 * 80 <= |x| <= 90 (the fast path's edge at 86.5, exp's overflow at -88.7), the specials. A
 * vector is all from one region (the fast path needs every lane |x| <= 86.5), and also mixed
 * (one lane of each vector from the far end, so the exact path runs on near values too).
 * Bounds: 7 ulp of the result (4 where |x| < 16) for x >= -88; below, |error| <= 1e-36 (the
 * exact path's exp overflows to inf, giving -0); NaN -> NaN, -inf -> NaN, inf -> inf; -0 -> -0.
 * Lanes are independent: a value's bits are the same alone and beside a far value, NaN or inf
 * in any other lane of its vector (16 lanes for AVX-512, 8 for AVX2; a lane's result must not
 * depend on the rest of the batch sharing its vector). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "check.h"

void silu_avx512_n(const float *x, float *y, int64_t n);
void silu_avx2_n(const float *x, float *y, int64_t n);
typedef void (*silu_fn)(const float *x, float *y, int64_t n);

#define BLOCK 4096

static double worst_small, worst_all;

static int check_one(float x, float got)
{
    if (isnan(x) || x == -INFINITY)
        return isnan(got);
    if (x == INFINITY)
        return got == INFINITY;
    double t = (double)x / (1.0 + exp(-(double)x));
    if (x < -88.0f)
        return fabs((double)got - t) <= 1e-36;
    int ex = t == 0.0 ? -149 : ilogb(t) - 23;
    double ulp = ldexp(1.0, ex < -149 ? -149 : ex), e = fabs((double)got - t) / ulp;
    if (fabsf(x) < 16.0f && e > worst_small)
        worst_small = e;
    if (e > worst_all)
        worst_all = e;
    return e <= (fabsf(x) < 16.0f ? 4.0 : 7.0);
}

static int run_block(silu_fn f, float *x, float *y, int n, const char *name)
{
    f(x, y, n);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (!check_one(x[i], y[i]) && bad++ < 3)
            printf("  %s silu(%a) = %a, want %a\n", name, x[i], y[i], (double)x[i] / (1.0 + exp(-(double)x[i])));
    return bad;
}

static void test_isa(silu_fn f, const char *name)
{
    static float x[BLOCK], y[BLOCK];
    int bad = 0, n = 0;
    worst_small = worst_all = 0;
    for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 61) {
        uint32_t b = (uint32_t)u;
        memcpy(&x[n++], &b, 4);
        if (n == BLOCK) {
            bad += run_block(f, x, y, n, name);
            for (int i = 0; i < n; i += 16) /* mixed: lane 0 swapped with a far value */
                x[i] = i % 32 ? -1e30f : 90.0f;
            bad += run_block(f, x, y, n, name);
            n = 0;
        }
    }
    for (int s = -1; s <= 1; s += 2)
        for (float v = 80.0f; v <= 90.0f; v = nextafterf(v, 100.0f)) {
            x[n++] = (float)s * v;
            if (n == BLOCK)
                bad += run_block(f, x, y, n, name), n = 0;
        }
    static const float sp[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, -1e-38f, 86.5f, -86.5f, 0x1.5a0002p6f,
                               -0x1.5a0002p6f, 88.72f, -88.72f, 3.4e38f, -3.4e38f, INFINITY, -INFINITY, NAN, -NAN};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        x[n++] = sp[i];
    while (n % 16)
        x[n++] = 1.0f;
    bad += run_block(f, x, y, n, name);
    for (int i = 0; i < 16; i++) /* one vector of specials with in-range lanes */
        x[i] = i % 2 ? sp[i] : (float)i - 8.0f;
    bad += run_block(f, x, y, 16, name);
    for (int i = 0; i < 16; i++)
        x[i] = -0.0f;
    f(x, y, 16);
    CHECK(y[0] == 0.0f && signbit(y[0]) && y[15] == 0.0f && signbit(y[15])); /* silu(-0) = -0 */
    static const float far[] = {1e30f, -1e30f, 90.0f, -95.0f, INFINITY, -INFINITY, NAN};
    int lane_bad = 0;
    for (int lane = 0; lane < 16; lane++)
        for (size_t k = 0; k < sizeof far / sizeof *far; k++) {
            float clean[16], mixed[16], yc[16], ym[16];
            for (int i = 0; i < 16; i++)
                clean[i] = mixed[i] = 0.37f * (float)(i * 7 % 23) - 4.1f + (float)k;
            mixed[lane] = far[k];
            f(clean, yc, 16);
            f(mixed, ym, 16);
            for (int i = 0; i < 16; i++)
                lane_bad += i != lane && memcmp(&yc[i], &ym[i], sizeof(float)) != 0;
        }
    if (lane_bad)
        printf("  %s: %d lanes changed by a far value beside them\n", name, lane_bad);
    CHECK(lane_bad == 0);
    printf("%s: worst %.2f ulp (|x| < 16: %.2f)\n", name, worst_all, worst_small);
    CHECK(bad == 0);
}

int main(void)
{
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        test_isa(silu_avx2_n, "avx2");
    else
        printf("no AVX2+FMA: AVX2 SiLU not tested\n");
    if (cpu_has(CPU_AVX512F | CPU_AVX2 | CPU_FMA))
        test_isa(silu_avx512_n, "avx512");
    else
        printf("no AVX-512F: AVX-512 SiLU not tested\n");
    return check_finish();
}
