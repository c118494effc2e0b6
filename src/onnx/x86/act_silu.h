/* act_silu.h — SiLU for the conv epilogues (conv_tmpl.h, wino_tmpl.h) as x / (1 + exp(-x)):
 * base/x86/vexp_*.h's vsilu (shared with the LLM kernels, left as it is) takes exp(-|x|) and
 * picks x or x * e for the numerator by sign, three more operations a vector; here the one
 * division takes x as it is.
 *
 * Where every lane has |x| <= 86.5 (a conv's outputs, all but never), exp(-x) is computed
 * inline with 2^n put into the exponent by an integer add (n in [-125, 125]: no overflow, no
 * denormal), one-constant ln 2 reduction and Horner's polynomial: 7 FMAs, no scalef, no range
 * check inside; a vector with any other lane (|x| > 86.5, inf, NaN) also runs the exact path
 * below and takes it for those lanes only, so a lane's result never depends on its
 * neighbours (a batch's images share vectors in some epilogues). Zen 4, 256 vectors in L1: 3.1 vs 3.8 ns a vector (the exact path alone). The one
 * constant ln 2 (0x1.62e43p-1, 1.9e-9 off) costs n * 1.9e-9 relative: within 7 ulp of
 * x * sigmoid(x) (4 ulp for |x| < 16; tests/unit/onnx/test_onnx_silu.c sweeps the float range).
 *
 * The exact path: within 5 ulp where exp(-x) is finite (x > -88); below, exp(-x) is inf and
 * the result -0 (|silu(x)| < 1e-36 there); NaN and -inf give NaN, inf gives inf. Include from
 * a file built with -mavx512f (defines ox_silu_avx512) or -mavx2 -mfma (ox_silu_avx2), after
 * base/x86/vexp_avx512.h or vexp_avx2.h.
 *
 *   #define VSILU(v) ox_silu_avx512(v)
 */
#ifndef INFERD_ONNX_X86_ACT_SILU_H
#define INFERD_ONNX_X86_ACT_SILU_H

#include <immintrin.h>

/* exp(t) for |t| <= 86.5 (no range handling): t = n ln2 + b, 2^n * p(b), p as vexp_*'s */
#define OX_SILU_EXP_BODY(V, P, CASTI, CASTF)                                                                          \
    const V r = P##_set1_ps(0x1.8p23f);                                                                              \
    const V z = P##_fmadd_ps(t, P##_set1_ps(0x1.715476p+0f), r);                                                     \
    const V b = P##_fnmadd_ps(P##_sub_ps(z, r), P##_set1_ps(0x1.62e43p-1f), t);                                      \
    V j = P##_fmadd_ps(P##_set1_ps(0x1.0e4020p-7f), b, P##_set1_ps(0x1.573e2ep-5f));                                 \
    j = P##_fmadd_ps(j, b, P##_set1_ps(0x1.555e66p-3f));                                                             \
    j = P##_fmadd_ps(j, b, P##_set1_ps(0x1.fffdb6p-2f));                                                             \
    j = P##_fmadd_ps(j, b, P##_set1_ps(0x1.ffffecp-1f));                                                             \
    j = P##_fmadd_ps(j, b, P##_set1_ps(1.0f));                                                                       \
    /* z's low bits hold n (z = 1.5 * 2^23 + n): n << 23 added to p's exponent */                                    \
    const V e = CASTF(P##_add_epi32(CASTI(j), P##_slli_epi32(CASTI(z), 23)))

#ifdef INFERD_BASE_VEXP_AVX512_H
static inline __attribute__((always_inline)) __m512 ox_silu_exact_avx512(__m512 x)
{
    const __m512 e = vexp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __attribute__((always_inline)) __m512 ox_silu_avx512(__m512 x)
{
    const __mmask16 in = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(86.5f), _CMP_LE_OQ);
    const __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), x);
    OX_SILU_EXP_BODY(__m512, _mm512, _mm512_castps_si512, _mm512_castsi512_ps);
    const __m512 y = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
    if (__builtin_expect(in != 0xffff, 0)) /* the exact path for the lanes out of range */
        return _mm512_mask_blend_ps(in, ox_silu_exact_avx512(x), y);
    return y;
}
#endif

#ifdef INFERD_BASE_VEXP_AVX2_H
static inline __attribute__((always_inline)) __m256 ox_silu_exact_avx2(__m256 x)
{
    const __m256 e = vexp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __attribute__((always_inline)) __m256 ox_silu_avx2(__m256 x)
{
    const __m256 in = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(86.5f), _CMP_LE_OQ);
    const __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), x);
    OX_SILU_EXP_BODY(__m256, _mm256, _mm256_castps_si256, _mm256_castsi256_ps);
    const __m256 y = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
    if (__builtin_expect(_mm256_movemask_ps(in) != 0xff, 0)) /* the exact path for the lanes out of range */
        return _mm256_blendv_ps(ox_silu_exact_avx2(x), y, in);
    return y;
}
#endif

#endif
