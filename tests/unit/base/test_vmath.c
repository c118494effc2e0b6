/* test_vmath.c — vmath.h's exp, sigmoid, SiLU and GELU on every ISA path this CPU has (absent ones
 * are reported and skipped; the reference always runs), against libm in double:
 *   exp       <= 3 ulp of the true value (denormal results: 3 * 2^-149)
 *   sigmoid   <= 5 ulp
 *   SiLU      <= 5 ulp, or <= 128 * 2^-149 where x < -87 (exp(x) is denormal there)
 *   GELU      <= 8 ulp for x >= -2, below a relative 2^-14 or <= 128 * 2^-149 (denormal)
 * over -104..104 in steps of 1/512, random points, +-0, +-inf, NaN, denormal and huge inputs,
 * and every length 0..40 for the masked tails. */
#include "base/vmath.h"

#include "../check.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/rng.h"

enum { F_EXP, F_SIGMOID, F_SILU, F_GELU, F_N };

static double truth(int f, float xf)
{
    double x = xf;
    switch (f) {
    case F_EXP:
        return exp(x);
    case F_SIGMOID:
        return x < 0 ? exp(x) / (1 + exp(x)) : 1 / (1 + exp(-x));
    case F_SILU:
        return x < 0 ? x * exp(x) / (1 + exp(x)) : x / (1 + exp(-x));
    default:
        return 0.5 * x * erfc(-x * M_SQRT1_2);
    }
}

/* Distance of got from t in units of the float ulp at t (2^-149 at least). */
static double ulps(float got, double t)
{
    if (isnan(t) || isnan(got))
        return isnan(t) && isnan(got) ? 0 : INFINITY;
    if (isinf(t) || isinf(got)) {
        if (got == t)
            return 0;
        if (isinf(got) && fabs(t) > FLT_MAX)
            return 0; /* the true value rounds to inf */
        return INFINITY;
    }
    int e;
    frexp(t, &e);
    double u = ldexp(1, e - 24 < -149 ? -149 : e - 24);
    return fabs((double)got - t) / u;
}

static double worst[F_N];
static float worst_x[F_N];

static int check_one(int f, float x, float got)
{
    double t = truth(f, x), d = ulps(got, t);
    double bound = f == F_EXP ? 3 : f == F_GELU ? 8 : 5;
    int ok = d <= bound;
    if (!ok && f == F_SILU && x < -87 && fabs((double)got - t) <= ldexp(128, -149))
        ok = 1;
    int gelu_far = f == F_GELU && x < -2;
    if (!ok && gelu_far && (fabs((double)got - t) <= fabs(t) * 0x1p-14 || fabs((double)got - t) <= ldexp(128, -149)))
        ok = 1;
    if (d > worst[f] && !(f == F_SILU && x < -87) && !gelu_far) {
        worst[f] = d;
        worst_x[f] = x;
    }
    if (!ok)
        fprintf(stderr, "  f=%d x=%a got %a true %a (%.1f ulp)\n", f, (double)x, (double)got, t, d);
    return ok;
}

static void run_kern(const struct vmath_kern *k)
{
    enum { N = 2 * 104 * 512 + 1 + 4096 + 32 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    CHECK(x && y);
    if (!x || !y)
        goto done;
    size_t n = 0;
    for (int i = -104 * 512; i <= 104 * 512; i++)
        x[n++] = (float)i / 512;
    struct rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < 4096; i++)
        x[n++] = (float)(rng_unit(&r) * 240 - 120);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MIN, -FLT_MIN, 0x1p-140f, -0x1p-140f,
                             FLT_MAX, -FLT_MAX, 88.72f, 88.73f, -87.33f, -103.0f, -103.98f, -104.5f, 1e-7f,
                             -1e-7f, 0.5f, -0.5f, 16.0f, -16.0f, 30.0f, -30.0f, 89.0f, -89.0f, 126.0f,
                             -126.0f, 0x1p-30f, -0x1p-30f, 3.0e38f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        x[n++] = special[i];
    const vmath_fn fns[F_N] = {k->exp, k->sigmoid, k->silu, k->gelu};
    for (int f = 0; f < F_N; f++) {
        worst[f] = 0;
        fns[f](y, x, n);
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += !check_one(f, x[i], y[i]);
        CHECK(bad == 0);
        /* in place, and every tail length: same values as the long run */
        for (size_t len = 0; len <= 40; len++) {
            float buf[48], ref[48];
            for (size_t i = 0; i < 48; i++)
                buf[i] = ref[i] = x[(len * 977 + i * 131) % n];
            fns[f](buf, buf, len);
            fns[f](ref, ref, 48);
            int same = 1;
            for (size_t i = 0; i < 48; i++) {
                float want = i < len ? ref[i] : x[(len * 977 + i * 131) % n];
                same &= memcmp(&buf[i], &want, sizeof want) == 0;
            }
            CHECK(same);
        }
    }
    printf("%s: worst exp %.2f ulp (x=%g), sigmoid %.2f ulp (x=%g), silu %.2f ulp (x=%g), gelu %.2f ulp (x=%g)\n",
           k->name, worst[0], (double)worst_x[0], worst[1], (double)worst_x[1], worst[2], (double)worst_x[2], worst[3],
           (double)worst_x[3]);
done:
    free(x);
    free(y);
}

int main(void)
{
    run_kern(&vmath_ref);
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        run_kern(&vmath_avx2);
    else
        printf("avx2: skipped, this CPU (or INFERD_CPU_DISABLE) has no AVX2+FMA\n");
    if (cpu_has(CPU_AVX512F))
        run_kern(&vmath_avx512);
    else
        printf("avx512: skipped, this CPU (or INFERD_CPU_DISABLE) has no AVX-512F\n");
    printf("best: %s\n", vmath_best()->name);
    /* the dispatching calls match the table they pick */
    float a[19], b[19], c[19];
    for (int i = 0; i < 19; i++)
        a[i] = (float)i - 9.5f;
    vmath_silu(b, a, 19);
    vmath_best()->silu(c, a, 19);
    CHECK(memcmp(b, c, sizeof b) == 0);
    vmath_sigmoid(b, a, 19);
    vmath_best()->sigmoid(c, a, 19);
    CHECK(memcmp(b, c, sizeof b) == 0);
    vmath_exp(b, a, 19);
    vmath_best()->exp(c, a, 19);
    CHECK(memcmp(b, c, sizeof b) == 0);
    vmath_gelu(b, a, 19);
    vmath_best()->gelu(c, a, 19);
    CHECK(memcmp(b, c, sizeof b) == 0);
    return check_finish();
}
