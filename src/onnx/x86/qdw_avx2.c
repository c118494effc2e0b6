/* qdw_avx2.c — AVX2 depthwise int8 row kernel (see ops/qdwconv.h): 16 outputs a block, input
 * bytes zero-extended to int16, taps t and t+1 interleaved and summed by one vpmaddwd against
 * the int16 pair (w[t], w[t+1]) (exact: each int32 lane gets the sum of two int16 products,
 * at most 2 * 255 * 32768 < 2^31 in size). Compiled with -mavx2; call only after
 * cpu_has(CPU_AVX2).
 *
 *   lo lanes hold outputs 0..3 | 8..11, hi lanes 4..7 | 12..15; two lane permutes restore order
 */
#include <immintrin.h>

#include "onnx/ops/qdwconv.h"

static inline __m256i wpair(const int32_t *w, int t, int two)
{
    uint32_t lo = (uint16_t)(int16_t)w[t], hi = two ? (uint16_t)(int16_t)w[t + 1] : 0;
    return _mm256_set1_epi32((int32_t)(lo | hi << 16));
}

void qdw_row_avx2(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n)
{
    for (int64_t j = 0; j < n; j += 16) {
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        int t = 0;
        for (; t + 1 < taps; t += 2) {
            __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(src[t] + j)));
            __m256i x1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(src[t + 1] + j)));
            __m256i wp = wpair(w, t, 1);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wp));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wp));
        }
        if (t < taps) {
            __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(src[t] + j)));
            __m256i z = _mm256_setzero_si256(), wp = wpair(w, t, 0);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, z), wp));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, z), wp));
        }
        _mm256_storeu_si256((__m256i *)(void *)(acc + j), _mm256_permute2x128_si256(a0, a1, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(acc + j + 8), _mm256_permute2x128_si256(a0, a1, 0x31));
    }
}
