/* vexp_avx512.h — exp, sigmoid and SiLU on 16 floats (AVX-512F), shared by the SIMD kernels
 * (softmax in src/llm/kernels, conv epilogues in src/onnx/x86, src/base/x86/vmath_avx512.c).
 * Include only from a file built with -mavx512f (an x86/ file named _avx512.c) and call only after
 * cpu_has(CPU_AVX512F). Accuracy as vexp_avx2.h: exp within 3 ulp (denormal results
 * within 3 units of 2^-149), sigmoid and SiLU within 5 ulp; tests/unit/base/test_vmath.c.
 *
 *   __m512 e = vexp_avx512(_mm512_loadu_ps(x));
 *   __m512 s = vsigmoid_avx512(v);          // 1 / (1 + exp(-v))
 *   __m512 y = vsilu_avx512(v);             // v * sigmoid(v)
 *   __m512 g = vgelu_avx512(v);             // 0.5 * v * (1 + erf(v / sqrt(2)))
 */
#ifndef INFERD_BASE_VEXP_AVX512_H
#define INFERD_BASE_VEXP_AVX512_H

#include <immintrin.h>

#include "base/x86/vexp_poly.h"
#include <math.h>

/* ggml's ggml_v_expf for AVX-512 (llama.cpp, MIT): 2^n * (1 + p(b)) through scalef; |n| > 192
 * gives inf or 0. */
static inline __attribute__((always_inline)) __m512 vexp_avx512(__m512 x)
{
    const __m512 r = _mm512_set1_ps(VEXP_ROUND);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(VEXP_LOG2E), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b =
        _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(VEXP_P5), b, _mm512_set1_ps(VEXP_P4)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(VEXP_P3), b, _mm512_set1_ps(VEXP_P2))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(VEXP_P1), b, _mm512_set1_ps(1.0F)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d))
        return res;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 alt =
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(d, res, alt);
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, with e = exp(-|x|) <= 1. */
static inline __attribute__((always_inline)) __m512 vsigmoid_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512 e = vexp_avx512(_mm512_sub_ps(zero, _mm512_abs_ps(x)));
    const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, e));
    return _mm512_mask_mul_ps(s, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), e, s);
}

/* silu(x) = x / (1 + e) for x >= 0, x * e / (1 + e) for x < 0, e = exp(-|x|). */
static inline __attribute__((always_inline)) __m512 vsilu_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512 e = vexp_avx512(_mm512_sub_ps(zero, _mm512_abs_ps(x)));
    const __m512 num = _mm512_mask_mul_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), x, e);
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
}

/* GELU (erf form) as x * (1 - erfc(z) / 2) for x >= 0 and x * erfc(z) / 2 for x < 0, z =
 * |x| / sqrt(2), with erfc(z) = t * exp(-z^2 + P(t)), t = 1 / (1 + z/2) (the Chebyshev fit of
 * Numerical Recipes' erfcc, relative error < 1.2e-7 for every z >= 0): no cancellation on
 * either side, so tiny negative results keep their relative precision. */
static inline __attribute__((always_inline)) __m512 vgelu_avx512(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0x1.6a09e6p-1f));
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(z, half, one));
    const __m512 p = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(
                _mm512_fmadd_ps(
                    _mm512_fmadd_ps(
                        _mm512_fmadd_ps(
                            _mm512_fmadd_ps(
                                _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0.17087277f), t, _mm512_set1_ps(-0.82215223f)),
                                                t, _mm512_set1_ps(1.48851587f)),
                                t, _mm512_set1_ps(-1.13520398f)),
                            t, _mm512_set1_ps(0.27886807f)),
                        t, _mm512_set1_ps(-0.18628806f)),
                    t, _mm512_set1_ps(0.09678418f)),
                t, _mm512_set1_ps(0.37409196f)),
            t, _mm512_set1_ps(1.00002368f)),
        t, _mm512_set1_ps(-1.26551223f));
    const __m512 hc = _mm512_mul_ps(half, _mm512_mul_ps(t, vexp_avx512(_mm512_fnmadd_ps(z, z, p)))); /* erfc(z)/2 */
    const __m512 g = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_sub_ps(one, hc), hc);
    return _mm512_mul_ps(x, g);
}

#endif
