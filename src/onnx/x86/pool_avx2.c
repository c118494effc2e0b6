/* pool_avx2.c — MaxPool row kernels on ymm, 8 outputs a vector (see ops/maxpool.h). Built with
 * the conv kernels' AVX2 flags: call only where ox_conv_isa() is OX_ISA_AVX2. */
#include <immintrin.h>
#include <math.h>

#include "onnx/ops/maxpool.h"

int64_t maxpool_hrow_avx2(const float *src, float *h, int64_t sw, int64_t kw, int64_t n)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    int64_t o = 0;
    if (sw == 1) {
        for (; o + 8 <= n; o += 8) {
            __m256 acc = ninf;
            for (int64_t kx = 0; kx < kw; kx++)
                acc = _mm256_max_ps(_mm256_loadu_ps(src + o + kx), acc);
            _mm256_storeu_ps(h + o, acc);
        }
    } else if (sw == 2) {
        for (; o + 8 < n; o += 8) { /* the odd lanes read one past the last tap */
            __m256 acc = ninf;
            for (int64_t kx = 0; kx < kw; kx++) {
                const float *s = src + 2 * o + kx;
                /* even elements of each 128-bit half, then the 64-bit pairs back in order */
                __m256 e = _mm256_shuffle_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + 8), _MM_SHUFFLE(2, 0, 2, 0));
                e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
                acc = _mm256_max_ps(e, acc);
            }
            _mm256_storeu_ps(h + o, acc);
        }
    }
    return o;
}

int64_t maxpool_vmax_avx2(const float *rows, int64_t stride, int64_t nrows, float *y, int64_t n, int64_t ny,
                          int64_t rstep, int64_t ystep)
{
    int64_t o = 0;
    for (int64_t r = 0; r < ny; r++, rows += rstep, y += ystep) {
        for (o = 0; o + 8 <= n; o += 8) {
            __m256 acc = _mm256_set1_ps(-INFINITY);
            for (int64_t k = 0; k < nrows; k++)
                acc = _mm256_max_ps(_mm256_loadu_ps(rows + k * stride + o), acc);
            _mm256_storeu_ps(y + o, acc);
        }
        if (o + 4 <= n) { /* a 4-column tail on xmm (YOLO's 20-wide rows) */
            __m128 acc = _mm_set1_ps(-INFINITY);
            for (int64_t k = 0; k < nrows; k++)
                acc = _mm_max_ps(_mm_loadu_ps(rows + k * stride + o), acc);
            _mm_storeu_ps(y + o, acc);
            o += 4;
        }
    }
    return o;
}
