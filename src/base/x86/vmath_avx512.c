/* vmath_avx512.c — vmath.h's table on AVX-512F: 16 floats a step, the tail masked. */
#include <immintrin.h>
#include <stdint.h>

#include "base/vmath.h"
#include "base/x86/vexp_avx512.h"

#define VMATH_LOOP(name, f)                                                                  \
    static void name(float *y, const float *x, size_t n)                                     \
    {                                                                                        \
        size_t i = 0;                                                                        \
        for (; i + 16 <= n; i += 16)                                                         \
            _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));                              \
        if (i < n) {                                                                         \
            __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);                                 \
            _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));             \
        }                                                                                    \
    }

VMATH_LOOP(exp_avx512, vexp_avx512)
VMATH_LOOP(sigmoid_avx512, vsigmoid_avx512)
VMATH_LOOP(silu_avx512, vsilu_avx512)
VMATH_LOOP(gelu_avx512, vgelu_avx512)

const struct vmath_kern vmath_avx512 = {exp_avx512, sigmoid_avx512, silu_avx512, gelu_avx512, "avx512"};
