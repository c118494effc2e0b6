/* pool_avx512.c — MaxPool row kernels on zmm, 16 outputs a vector and a masked tail, so they
 * write every output (see ops/maxpool.h; masked-off lanes load nothing). Built with the
 * conv kernels' AVX-512 flags: call only where ox_conv_isa() is OX_ISA_AVX512. */
#include <immintrin.h>
#include <math.h>

#include "onnx/ops/maxpool.h"

static inline __mmask16 lanes(int64_t m) /* the low m of 16 lanes, 0 <= m <= 16 */
{
    return (__mmask16)((1u << m) - 1u);
}

int64_t maxpool_hrow_avx512(const float *src, float *h, int64_t sw, int64_t kw, int64_t n)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    if (sw == 1) {
        for (int64_t o = 0; o < n; o += 16) {
            __mmask16 k = lanes(n - o < 16 ? n - o : 16);
            __m512 acc = ninf;
            for (int64_t kx = 0; kx < kw; kx++)
                acc = _mm512_max_ps(_mm512_maskz_loadu_ps(k, src + o + kx), acc);
            _mm512_mask_storeu_ps(h + o, k, acc);
        }
        return n;
    }
    if (sw != 2)
        return 0;
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t o = 0; o < n; o += 16) {
        /* lane i takes element 2i of the 32 at s: only elements 0 .. 2m-2 are loaded */
        int64_t m = n - o < 16 ? n - o : 16, e = 2 * m - 1;
        __mmask16 k = lanes(m), k0 = lanes(e < 16 ? e : 16), k1 = lanes(e > 16 ? e - 16 : 0);
        __m512 acc = ninf;
        for (int64_t kx = 0; kx < kw; kx++) {
            const float *s = src + 2 * o + kx;
            __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(k0, s), even, _mm512_maskz_loadu_ps(k1, s + 16));
            acc = _mm512_max_ps(v, acc);
        }
        _mm512_mask_storeu_ps(h + o, k, acc);
    }
    return n;
}

int64_t maxpool_vmax_avx512(const float *rows, int64_t stride, int64_t nrows, float *y, int64_t n, int64_t ny,
                            int64_t rstep, int64_t ystep)
{
    for (int64_t r = 0; r < ny; r++, rows += rstep, y += ystep)
        for (int64_t o = 0; o < n; o += 32) { /* two vectors: two chains of maxps in flight */
            __mmask16 k0 = lanes(n - o < 16 ? n - o : 16), k1 = lanes(n - o < 16 ? 0 : n - o < 32 ? n - o - 16 : 16);
            __m512 a0 = _mm512_set1_ps(-INFINITY), a1 = a0;
            for (int64_t t = 0; t < nrows; t++) {
                a0 = _mm512_max_ps(_mm512_maskz_loadu_ps(k0, rows + t * stride + o), a0);
                a1 = _mm512_max_ps(_mm512_maskz_loadu_ps(k1, rows + t * stride + o + 16), a1);
            }
            _mm512_mask_storeu_ps(y + o, k0, a0);
            _mm512_mask_storeu_ps(y + o + 16, k1, a1);
        }
    return n;
}
