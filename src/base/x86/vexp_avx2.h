/* vexp_avx2.h — exp, sigmoid and SiLU on 8 floats (AVX2 + FMA), shared by the SIMD kernels
 * (softmax in src/llm/kernels, conv epilogues in src/onnx/x86, src/base/x86/vmath_avx2.c).
 * Include only from a file built with -mavx2 -mfma (a x86/ folder) and call only after
 * cpu_has(CPU_AVX2 | CPU_FMA). Accuracy: exp within 3 ulp of exp for normal results
 * (denormal results within 3 units of 2^-149), inf / 0 beyond the float range, NaN in NaN out;
 * sigmoid and SiLU within 5 ulp (tests/unit/base/test_vmath.c measures it).
 *
 *   __m256 e = vexp_avx2(_mm256_loadu_ps(x));
 *   __m256 s = vsigmoid_avx2(v);            // 1 / (1 + exp(-v))
 *   __m256 y = vsilu_avx2(v);               // v * sigmoid(v)
 *   __m256 g = vgelu_avx2(v);               // 0.5 * v * (1 + erf(v / sqrt(2)))
 */
#ifndef INFERD_BASE_VEXP_AVX2_H
#define INFERD_BASE_VEXP_AVX2_H

#include <immintrin.h>

#include "base/x86/vexp_poly.h"

/* ggml's ggml_v_expf for AVX2 (llama.cpp, MIT): exp(x) = 2^n * (1 + p(b)) with n = round(x /
 * ln 2) and b the reduced argument; |n| > 126 takes the slower scaling, beyond 192 inf / 0. */
static inline __attribute__((always_inline)) __m256 vexp_avx2(__m256 x)
{
    const __m256 r = _mm256_set1_ps(VEXP_ROUND);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(VEXP_LOG2E), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b =
        _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256i c =
        _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(VEXP_P5), b, _mm256_set1_ps(VEXP_P4)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(VEXP_P3), b, _mm256_set1_ps(VEXP_P2))),
        u, _mm256_mul_ps(_mm256_set1_ps(VEXP_P1), b));
    if (!_mm256_movemask_ps(_mm256_castsi256_ps(c)))
        return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256i d =
        _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(192), _CMP_GT_OQ));
    return _mm256_or_ps(
        _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(
            _mm256_castsi256_ps(d),
            _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                         _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0, with e = exp(-|x|) <= 1, so
 * nothing overflows and tiny results keep their precision. */
static inline __attribute__((always_inline)) __m256 vsigmoid_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = vexp_avx2(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)));
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
    return _mm256_blendv_ps(s, _mm256_mul_ps(e, s), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

/* silu(x) = x / (1 + e) for x >= 0, x * e / (1 + e) for x < 0, e = exp(-|x|). */
static inline __attribute__((always_inline)) __m256 vsilu_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = vexp_avx2(_mm256_or_ps(x, _mm256_set1_ps(-0.0f)));
    const __m256 num = _mm256_blendv_ps(x, _mm256_mul_ps(x, e), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
}

/* GELU (erf form), as vgelu_avx512 of vexp_avx512.h. */
static inline __attribute__((always_inline)) __m256 vgelu_avx2(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0x1.6a09e6p-1f));
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(z, half, one));
    const __m256 p = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(
                    _mm256_fmadd_ps(
                        _mm256_fmadd_ps(
                            _mm256_fmadd_ps(
                                _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0.17087277f), t, _mm256_set1_ps(-0.82215223f)),
                                                t, _mm256_set1_ps(1.48851587f)),
                                t, _mm256_set1_ps(-1.13520398f)),
                            t, _mm256_set1_ps(0.27886807f)),
                        t, _mm256_set1_ps(-0.18628806f)),
                    t, _mm256_set1_ps(0.09678418f)),
                t, _mm256_set1_ps(0.37409196f)),
            t, _mm256_set1_ps(1.00002368f)),
        t, _mm256_set1_ps(-1.26551223f));
    const __m256 hc = _mm256_mul_ps(half, _mm256_mul_ps(t, vexp_avx2(_mm256_fnmadd_ps(z, z, p))));
    const __m256 g = _mm256_blendv_ps(_mm256_sub_ps(one, hc), hc, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
    return _mm256_mul_ps(x, g);
}

#endif
