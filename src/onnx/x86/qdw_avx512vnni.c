/* qdw_avx512vnni.c — AVX-512 VNNI depthwise int8 row kernel (see ops/qdwconv.h): four taps'
 * bytes interleaved into a quad per output and one vpdpbusd (u8 inputs x s8 weights, four
 * exact products per int32 lane) per 8 outputs, where qdw_avx512.c widens to int16 and takes
 * two taps per vpmaddwd: about half the vector work. Needs every weight in [-128, 127] (int8
 * weights with zero point 0, MobileNets' case): otherwise it runs qdw_row_avx512; _q takes the
 * quads qdw_quads made (once per channel) and src padded to whole quads. ymm
 * (EVEX, AVX-512 VL): on 256-bit units (Zen 4) as fast as zmm, and the 128-bit-lane unpacks
 * need no cross-lane fix but one vperm2i128 per 8 outputs at the store. Compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx512vnni; call only after qdw_isa_usable(QDW_AVX512VNNI).
 *
 *   after unpack8 (taps t, t+1) and unpack16 (with t+2, t+3), q0..q3 hold in their low /
 *   high 128-bit lanes the quads of outputs 0-3 / 16-19, 4-7 / 20-23, 8-11 / 24-27, 12-15 / 28-31
 */
#include <immintrin.h>

#include "onnx/ops/qdwconv.h"

static inline __m256i ld32(const uint8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

void qdw_row_avx512vnni_q(int32_t *acc, const uint8_t *const *src, const uint32_t *wq, int taps, int64_t n)
{
    const int nq = (taps + 3) / 4;
    for (int64_t j = 0; j < n; j += 32) {
        __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
        for (int q = 0; q < nq; q++) {
            const uint8_t *const *sq = src + 4 * q;
            const __m256i x0 = ld32(sq[0] + j), x1 = ld32(sq[1] + j), x2 = ld32(sq[2] + j), x3 = ld32(sq[3] + j);
            const __m256i wv = _mm256_set1_epi32((int32_t)wq[q]);
            const __m256i u = _mm256_unpacklo_epi8(x0, x1), v = _mm256_unpackhi_epi8(x0, x1);
            const __m256i u2 = _mm256_unpacklo_epi8(x2, x3), v2 = _mm256_unpackhi_epi8(x2, x3);
            c0 = _mm256_dpbusd_epi32(c0, _mm256_unpacklo_epi16(u, u2), wv);
            c1 = _mm256_dpbusd_epi32(c1, _mm256_unpackhi_epi16(u, u2), wv);
            c2 = _mm256_dpbusd_epi32(c2, _mm256_unpacklo_epi16(v, v2), wv);
            c3 = _mm256_dpbusd_epi32(c3, _mm256_unpackhi_epi16(v, v2), wv);
        }
        _mm256_storeu_si256((__m256i *)(void *)(acc + j), _mm256_permute2x128_si256(c0, c1, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(acc + j + 8), _mm256_permute2x128_si256(c2, c3, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(acc + j + 16), _mm256_permute2x128_si256(c0, c1, 0x31));
        _mm256_storeu_si256((__m256i *)(void *)(acc + j + 24), _mm256_permute2x128_si256(c2, c3, 0x31));
    }
}

void qdw_row_avx512vnni(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n)
{
    uint32_t wq[QDW_MAX_QUADS];
    const uint8_t *sp[4 * QDW_MAX_QUADS];
    if (!qdw_quads(w, taps, wq)) {
        qdw_row_avx512(acc, src, w, taps, n);
        return;
    }
    for (int t = 0; t < 4 * ((taps + 3) / 4); t++)
        sp[t] = src[t < taps ? t : 0];
    qdw_row_avx512vnni_q(acc, sp, wq, taps, n);
}
