/* act_silu.h — SiLU for the conv epilogues (conv_tmpl.h, wino_tmpl.h, mb_tmpl.h) as
 * x / (1 + exp(-x)): base/x86/vexp_*.h's vsilu (shared with the LLM kernels, left as it is)
 * takes exp(-|x|) and picks x or x * e for the numerator by sign, three more operations a
 * vector; here the one division takes x as it is.
 *
 * Where every lane has |x| <= 86.5 (a conv's outputs, all but never), exp(-x) is computed
 * inline with no range check inside; a vector with any other lane (|x| > 86.5, inf, NaN) also
 * runs the exact path below and takes it for those lanes only, so a lane's result never
 * depends on its neighbours (a batch's images share vectors in some epilogues).
 *   AVX-512: exp(-x) = 2^(k/32) exp(-b), k = round(-32 x / ln 2), |b| <= ln 2 / 64: 2^(j/32)
 *   from a 32-entry table held in two registers (vpermt2ps on k's low 5 bits), k >> 5 added
 *   to its exponent by an integer add, exp(-b) a degree-2 minimax polynomial (5.4e-8): 5 FMAs
 *   a vector, not 7. In MBConv's expand tile (12 pixels x 32 channels, K = 16; Zen 4, L1)
 *   6.98 ns an output vector against 7.59 with the degree-5 body (4.70 with ReLU).
 *   AVX2 (vpermps holds 8 entries: no gain there): 2^n put into the exponent by an integer
 *   add (n in [-125, 125]), one-constant ln 2 reduction and vexp's degree-5 polynomial
 *   (base/x86/vexp_poly.h's constants): 7 FMAs.
 * Both reduce with one constant ln 2 (ln 2 / 32; 0x1.62e43p-1 is 1.9e-9 off), n * 1.9e-9
 * relative: within 7 ulp of x * sigmoid(x), 4 ulp for |x| < 16 (tests/unit/onnx/test_onnx_silu.c
 * sweeps the float range: AVX-512 6.50 / 3.89 worst, AVX2 6.46 / 3.68).
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
#include <stdint.h>

#include "base/x86/vexp_poly.h"

/* exp(t) for |t| <= 86.5 (no range handling): t = n ln2 + b, 2^n * p(b), p vexp_*'s */
#define OX_SILU_EXP_BODY(V, P, CASTI, CASTF)                                                                          \
    const V r = P##_set1_ps(VEXP_ROUND);                                                                             \
    const V z = P##_fmadd_ps(t, P##_set1_ps(VEXP_LOG2E), r);                                                         \
    const V b = P##_fnmadd_ps(P##_sub_ps(z, r), P##_set1_ps(0x1.62e43p-1f), t);                                      \
    V j = P##_fmadd_ps(P##_set1_ps(VEXP_P5), b, P##_set1_ps(VEXP_P4));                                               \
    j = P##_fmadd_ps(j, b, P##_set1_ps(VEXP_P3));                                                                    \
    j = P##_fmadd_ps(j, b, P##_set1_ps(VEXP_P2));                                                                    \
    j = P##_fmadd_ps(j, b, P##_set1_ps(VEXP_P1));                                                                    \
    j = P##_fmadd_ps(j, b, P##_set1_ps(1.0f));                                                                       \
    /* z's low bits hold n (z = 1.5 * 2^23 + n): n << 23 added to p's exponent */                                    \
    const V e = CASTF(P##_add_epi32(CASTI(j), P##_slli_epi32(CASTI(z), 23)))

#ifdef INFERD_BASE_VEXP_AVX512_H
static inline __attribute__((always_inline)) __m512 ox_silu_exact_avx512(__m512 x)
{
    const __m512 e = vexp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* bits(2^(j/32)) - (j << 18), j = 0..31 (ox_silu_avx512) */
static const uint32_t ox_silu_t32[32] __attribute__((aligned(64))) = {
    0x3f800000, 0x3f7ecd87, 0x3f7daac3, 0x3f7c980f, 0x3f7b95c2, 0x3f7aa43a, 0x3f79c3d3, 0x3f78f4f0,
    0x3f7837f0, 0x3f778d3a, 0x3f76f532, 0x3f767043, 0x3f75fed7, 0x3f75a15b, 0x3f75583f, 0x3f7523f6,
    0x3f7504f3, 0x3f74fbaf, 0x3f7508a4, 0x3f752c4d, 0x3f75672a, 0x3f75b9be, 0x3f76248c, 0x3f76a81e,
    0x3f7744fd, 0x3f77fbb8, 0x3f78ccdf, 0x3f79b907, 0x3f7ac0c7, 0x3f7be4ba, 0x3f7d257d, 0x3f7e83b3,
};

static inline __attribute__((always_inline)) __m512 ox_silu_avx512(__m512 x)
{
    const __mmask16 in = _mm512_cmp_ps_mask(_mm512_abs_ps(x), _mm512_set1_ps(86.5f), _CMP_LE_OQ);
    const __m512 r = _mm512_set1_ps(VEXP_ROUND);
    const __m512 z = _mm512_fnmadd_ps(x, _mm512_set1_ps(VEXP_LOG2E * 32.0f), r); /* 1.5 * 2^23 + k */
    const __m512 b = _mm512_fmadd_ps(_mm512_sub_ps(z, r), _mm512_set1_ps(0x1.62e43p-6f), x);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.00007bp-1f), b, _mm512_set1_ps(-0x1.0000f6p+0f));
    p = _mm512_fmadd_ps(p, b, _mm512_set1_ps(1.0f)); /* exp(-b) within 5.4e-8 (minimax) */
    /* the table holds bits(2^(j/32)) - (j << 18): z << 18 adds (k >> 5) << 23 and takes j back */
    const __m512i zi = _mm512_castps_si512(z);
    const __m512 t = _mm512_permutex2var_ps(_mm512_load_ps((const float *)ox_silu_t32), zi,
                                            _mm512_load_ps((const float *)ox_silu_t32 + 16));
    const __m512 s = _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(t), _mm512_slli_epi32(zi, 18)));
    const __m512 y = _mm512_div_ps(x, _mm512_fmadd_ps(p, s, _mm512_set1_ps(1.0f)));
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
