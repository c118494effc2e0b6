/* vmath.c — the scalar reference of vmath.h and the run-time choice of table. */
#include "base/vmath.h"

#include <math.h>

#include "base/cpu.h"

static void exp_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

/* split by sign so exp never overflows (as the SIMD versions) */
static void sigmoid_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i], e = expf(-fabsf(v));
        y[i] = v < 0 ? e / (1.0f + e) : 1.0f / (1.0f + e);
    }
}

static void silu_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i], e = expf(-fabsf(v));
        y[i] = (v < 0 ? v * e : v) / (1.0f + e);
    }
}

/* 1 + erf(x/sqrt2) = erfc(-x/sqrt2): no cancellation for negative x */
static void gelu_ref(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * erfcf(-x[i] * (float)M_SQRT1_2);
}

const struct vmath_kern vmath_ref = {exp_ref, sigmoid_ref, silu_ref, gelu_ref, "ref"};

const struct vmath_kern *vmath_best(void)
{
    if (cpu_has(CPU_AVX512F))
        return &vmath_avx512;
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        return &vmath_avx2;
    return &vmath_ref;
}

void vmath_exp(float *y, const float *x, size_t n)
{
    vmath_best()->exp(y, x, n);
}

void vmath_sigmoid(float *y, const float *x, size_t n)
{
    vmath_best()->sigmoid(y, x, n);
}

void vmath_silu(float *y, const float *x, size_t n)
{
    vmath_best()->silu(y, x, n);
}

void vmath_gelu(float *y, const float *x, size_t n)
{
    vmath_best()->gelu(y, x, n);
}
