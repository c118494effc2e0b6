/* act_silu.h — SiLU for the conv epilogues (conv_tmpl.h, wino_tmpl.h) as x / (1 + exp(-x)):
 * base/x86/vexp_*.h's vsilu (shared with the LLM kernels, left as it is) takes exp(-|x|) and
 * picks x or x * e for the numerator by sign, three more operations a vector; here the one
 * division takes x as it is. 12% less time a vector on Zen 4 (a loop of 256 vectors in L1:
 * 3.85 vs 4.4 ns). Within 5 ulp of x * sigmoid(x) where exp(-x) is finite (x > -88); below,
 * exp(-x) is inf and the result -0 (|silu(x)| < 1e-36 there); NaN gives NaN. Include from a
 * file built with -mavx512f (defines ox_silu_avx512) or -mavx2 -mfma (ox_silu_avx2), after
 * base/x86/vexp_avx512.h or vexp_avx2.h.
 *
 *   #define VSILU(v) ox_silu_avx512(v)
 */
#ifndef INFERD_ONNX_X86_ACT_SILU_H
#define INFERD_ONNX_X86_ACT_SILU_H

#include <immintrin.h>

#ifdef INFERD_BASE_VEXP_AVX512_H
static inline __attribute__((always_inline)) __m512 ox_silu_avx512(__m512 x)
{
    const __m512 e = vexp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}
#endif

#ifdef INFERD_BASE_VEXP_AVX2_H
static inline __attribute__((always_inline)) __m256 ox_silu_avx2(__m256 x)
{
    const __m256 e = vexp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}
#endif

#endif
