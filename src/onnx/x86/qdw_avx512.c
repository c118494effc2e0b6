/* qdw_avx512.c — AVX-512 depthwise int8 row kernel (see ops/qdwconv.h): as qdw_avx2.c on
 * zmm, 32 outputs a block. Compiled with -mavx512f -mavx512bw; call only after
 * qdw_isa_usable(QDW_AVX512).
 *
 *   128-bit lane L of lo holds outputs 8L..8L+3, of hi 8L+4..8L+7; vpermt2q restores order
 */
#include <immintrin.h>

#include "onnx/ops/qdwconv.h"

static inline __m512i wpair(const int32_t *w, int t, int two)
{
    uint32_t lo = (uint16_t)(int16_t)w[t], hi = two ? (uint16_t)(int16_t)w[t + 1] : 0;
    return _mm512_set1_epi32((int32_t)(lo | hi << 16));
}

void qdw_row_avx512(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n)
{
    const __m512i first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (int64_t j = 0; j < n; j += 32) {
        __m512i a0 = _mm512_setzero_si512(), a1 = a0;
        int t = 0;
        for (; t + 1 < taps; t += 2) {
            __m512i x0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(src[t] + j)));
            __m512i x1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(src[t + 1] + j)));
            __m512i wp = wpair(w, t, 1);
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), wp));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), wp));
        }
        if (t < taps) {
            __m512i x0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(const void *)(src[t] + j)));
            __m512i z = _mm512_setzero_si512(), wp = wpair(w, t, 0);
            a0 = _mm512_add_epi32(a0, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, z), wp));
            a1 = _mm512_add_epi32(a1, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, z), wp));
        }
        _mm512_storeu_si512((void *)(acc + j), _mm512_permutex2var_epi64(a0, first, a1));
        _mm512_storeu_si512((void *)(acc + j + 16), _mm512_permutex2var_epi64(a0, second, a1));
    }
}
