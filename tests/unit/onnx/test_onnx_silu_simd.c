/* test_onnx_silu_simd.c — x86/act_silu.h's SiLU over arrays, for test_onnx_silu.c: built twice
 * (tests/unit/onnx/CMakeLists.txt), with -mavx512f (TEST_SILU_AVX512: silu_avx512_n) and with
 * -mavx2 -mfma (silu_avx2_n); called only where the CPU has the ISA. n: a multiple of 16. */
#include <immintrin.h>
#include <stdint.h>

#ifdef TEST_SILU_AVX512
#include "base/x86/vexp_avx512.h"
#include "onnx/x86/act_silu.h"

void silu_avx512_n(const float *x, float *y, int64_t n);
void silu_avx512_n(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16)
        _mm512_storeu_ps(y + i, ox_silu_avx512(_mm512_loadu_ps(x + i)));
}
#else
#include "base/x86/vexp_avx2.h"
#include "onnx/x86/act_silu.h"

void silu_avx2_n(const float *x, float *y, int64_t n);
void silu_avx2_n(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8)
        _mm256_storeu_ps(y + i, ox_silu_avx2(_mm256_loadu_ps(x + i)));
}
#endif
