/* qbytes.c — byte layouts for the int8 convs (ops/quant_conv.c): the even bytes of a row
 * (stride-2 phases) and four rows' bytes interleaved (the c4 planes that
 * qgemm_u8_avx512vnni_rows_c4 reads a tap of 4 channels from as one 32-bit lane). SSE2 on any
 * x86-64, AVX-512 BW / VL where cpu_has() says so, scalar elsewhere; all give the bytes of
 * the scalar loops.
 */
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/cpu.h"
#include "onnx/ops/qbytes.h"

#if defined(__x86_64__)
/* qb_gather2 with AVX-512 BW / VL: 32 outputs a step, vpmovwb keeping each 16-bit lane's low byte;
 * the loads are masked to the 2 m - 1 bytes m outputs span (masked-off bytes are not read), so
 * rows of any length run without a scalar tail. By function attribute: only after cpu_has(). */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl"))) static void qb_gather2_avx512(uint8_t *restrict dst,
                                                                            const uint8_t *restrict src, int64_t n)
{
    for (int64_t i = 0; i < n; i += 32) {
        const int64_t m = n - i < 32 ? n - i : 32;
        const __m512i v = _mm512_maskz_loadu_epi8(~0ULL >> (65 - 2 * m), src + 2 * i);
        _mm256_mask_storeu_epi8(dst + i, (__mmask32)(~0ULL >> (64 - m)), _mm512_cvtepi16_epi8(v));
    }
}
#endif

/* dst[i] = src[2 i] (stride-2 convs). With SSE2 (every x86-64), 16 at a time: the even bytes
 * of 16-bit lanes, narrowed; the vector loop stops while src[2 n - 2] is still ahead, so it never
 * reads past the last byte the scalar loop would read. AVX-512 BW: qb_gather2_avx512. */
void qb_gather2(uint8_t *restrict dst, const uint8_t *restrict src, int64_t n)
{
    int64_t i = 0;
#if defined(__x86_64__)
    if (n >= 16 && cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL)) {
        qb_gather2_avx512(dst, src, n);
        return;
    }
#endif
#ifdef __SSE2__
    const __m128i lo8 = _mm_set1_epi16(0xff);
    for (; i + 16 < n; i += 16) {
        __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i)), lo8);
        __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i + 16)), lo8);
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_packus_epi16(a, b));
    }
#endif
    for (; i < n; i++)
        dst[i] = src[2 * i];
}


#if defined(__x86_64__)
/* qb_rows for s 1 and 2 with AVX-512 BW / VL: 64 (s 1) or 32 (s 2, as qb_gather2_avx512) bytes
 * a step under masks, so short rows (7, 14, 28 columns) cost one step and no call each. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl"))) static void qb_rows_avx512(uint8_t *restrict dst, int64_t dp,
                                                                                     const uint8_t *restrict src,
                                                                                     int64_t sp, int64_t rows,
                                                                                     int64_t n, int64_t s, uint8_t flip)
{
    const __m512i fl = _mm512_set1_epi8((char)flip);
    for (int64_t r = 0; r < rows; r++, dst += dp, src += sp) {
        if (s == 1) {
            for (int64_t i = 0; i < n; i += 64) {
                const __mmask64 mk = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
                _mm512_mask_storeu_epi8(dst + i, mk, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, src + i), fl));
            }
            continue;
        }
        for (int64_t i = 0; i < n; i += 32) {
            const int64_t m = n - i < 32 ? n - i : 32;
            const __m512i v = _mm512_maskz_loadu_epi8(~0ULL >> (65 - 2 * m), src + 2 * i);
            _mm256_mask_storeu_epi8(dst + i, (__mmask32)(~0ULL >> (64 - m)),
                                    _mm256_xor_si256(_mm512_cvtepi16_epi8(v), _mm512_castsi512_si256(fl)));
        }
    }
}
#endif

void qb_rows(uint8_t *restrict dst, int64_t dp, const uint8_t *restrict src, int64_t sp, int64_t rows, int64_t n,
             int64_t s, uint8_t flip)
{
    if (rows <= 0 || n <= 0)
        return;
#if defined(__x86_64__)
    if (s <= 2 && cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL)) {
        qb_rows_avx512(dst, dp, src, sp, rows, n, s, flip);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++, dst += dp, src += sp) {
        if (!flip && s == 1)
            memcpy(dst, src, (size_t)n);
        else if (!flip && s == 2)
            qb_gather2(dst, src, n);
        else
            for (int64_t i = 0; i < n; i++)
                dst[i] = (uint8_t)(src[i * s] ^ flip);
    }
}

#ifdef __SSE2__
/* 16 bytes of a row for interleave4: src[j..j+15] (s 1), or src[2j], src[2j+2], ... (s 2: the
 * even bytes of 32, as qb_gather2) */
static inline __m128i row16(const uint8_t *src, int64_t j, int s)
{
    if (s == 1)
        return _mm_loadu_si128((const __m128i *)(const void *)(src + j));
    const __m128i lo8 = _mm_set1_epi16(0xff);
    __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * j)), lo8);
    __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * j + 16)), lo8);
    return _mm_packus_epi16(a, b);
}
#endif

#ifdef __SSE2__
/* row16's first w (8 or 4) bytes in the low ones, reading src[j * s .. (j + w) * s - 1]: for s
 * 2 one byte past the last one wanted, so only where pixel j + w is in the row too. */
static inline __m128i row_w(const uint8_t *src, int64_t j, int s, int w)
{
    if (s == 1 && w == 8)
        return _mm_loadl_epi64((const __m128i *)(const void *)(src + j));
    uint32_t v4;
    if (s == 1) {
        memcpy(&v4, src + j, 4);
        return _mm_cvtsi32_si128((int)v4);
    }
    __m128i a = w == 8 ? _mm_loadu_si128((const __m128i *)(const void *)(src + 2 * j))
                       : _mm_loadl_epi64((const __m128i *)(const void *)(src + 2 * j));
    return _mm_packus_epi16(_mm_and_si128(a, _mm_set1_epi16(0xff)), _mm_setzero_si128()); /* the even bytes */
}

/* interleave4's w (8 or 4) pixels from j: 4 w bytes at dst + 4 j */
static inline void interleave4_w(uint8_t *dst, const uint8_t *const *src, int64_t j, int s, int w, __m128i fl)
{
    __m128i ab = _mm_unpacklo_epi8(row_w(src[0], j, s, w), row_w(src[1], j, s, w));
    __m128i cd = _mm_unpacklo_epi8(row_w(src[2], j, s, w), row_w(src[3], j, s, w));
    __m128i *o = (__m128i *)(void *)(dst + 4 * j);
    _mm_storeu_si128(o, _mm_xor_si128(_mm_unpacklo_epi16(ab, cd), fl));
    if (w == 8)
        _mm_storeu_si128(o + 1, _mm_xor_si128(_mm_unpackhi_epi16(ab, cd), fl));
}
#endif

/* dst[4 j + e] = src[e][j * s] ^ flip for j in [0, n), s 1 or 2: 4 rows interleaved. The
 * vector steps read no byte past src[e][(n - 1) * s] (for s 2 they stop before j = n - 1,
 * whose odd neighbour may lie past the tensor): 16 pixels a step, then the rest (small maps:
 * 7, 14, 28 columns) by 8 and 4 with the last step moved back over pixels already done (the
 * same bytes again), scalar only below 4 (s 1) or 5 (s 2) pixels and for s 2's last one. */
void qb_interleave4(uint8_t *restrict dst, const uint8_t *const *src, int64_t n, int s, uint8_t flip)
{
    int64_t j = 0;
#ifdef __SSE2__
    const __m128i fl = _mm_set1_epi8((char)flip);
    const int64_t lim = s == 1 ? n : n - 1; /* the pixels vector steps may cover */
    for (; j + 16 <= lim; j += 16) {
        __m128i a = row16(src[0], j, s), b = row16(src[1], j, s);
        __m128i c = row16(src[2], j, s), d = row16(src[3], j, s);
        __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
        __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);
        __m128i *o = (__m128i *)(void *)(dst + 4 * j);
        _mm_storeu_si128(o, _mm_xor_si128(_mm_unpacklo_epi16(ab0, cd0), fl));
        _mm_storeu_si128(o + 1, _mm_xor_si128(_mm_unpackhi_epi16(ab0, cd0), fl));
        _mm_storeu_si128(o + 2, _mm_xor_si128(_mm_unpacklo_epi16(ab1, cd1), fl));
        _mm_storeu_si128(o + 3, _mm_xor_si128(_mm_unpackhi_epi16(ab1, cd1), fl));
    }
    for (int w = 8; w >= 4 && j < lim; w /= 2) {
        for (; j + w <= lim; j += w)
            interleave4_w(dst, src, j, s, w, fl);
        if (j < lim && lim >= w && (w == 4 || lim - j > 4)) { /* the last w, over done ones */
            interleave4_w(dst, src, lim - w, s, w, fl);
            j = lim;
        }
    }
#endif
    for (; j < n; j++)
        for (int e = 0; e < 4; e++)
            dst[4 * j + e] = (uint8_t)(src[e][j * s] ^ flip);
}
