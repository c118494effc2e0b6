/* vmath_avx2.c — vmath.h's table on AVX2 + FMA: 8 floats a step, the tail through a lane
 * mask so every element takes the same formula. */
#include <immintrin.h>
#include <stdint.h>

#include "base/vmath.h"
#include "base/x86/vexp_avx2.h"

static inline __m256i tail_mask(size_t left)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), lanes);
}

#define VMATH_LOOP(name, f)                                                                  \
    static void name(float *y, const float *x, size_t n)                                     \
    {                                                                                        \
        size_t i = 0;                                                                        \
        for (; i + 8 <= n; i += 8)                                                           \
            _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));                              \
        if (i < n) {                                                                         \
            __m256i m = tail_mask(n - i);                                                    \
            _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)));                  \
        }                                                                                    \
    }

VMATH_LOOP(exp_avx2, vexp_avx2)
VMATH_LOOP(sigmoid_avx2, vsigmoid_avx2)
VMATH_LOOP(silu_avx2, vsilu_avx2)
VMATH_LOOP(gelu_avx2, vgelu_avx2)

const struct vmath_kern vmath_avx2 = {exp_avx2, sigmoid_avx2, silu_avx2, gelu_avx2, "avx2"};
