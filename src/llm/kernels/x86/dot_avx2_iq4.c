/* dot_avx2_iq4.c — AVX2 dot products of IQ4_NL rows with Q8_0 activations and IQ4_XS rows
 * with Q8_K activations (compiled with -mavx2 -mfma -mf16c; only reached after cpu_has()).
 * The 4-bit indices become their int8 levels with one byte shuffle against the 16-entry
 * table; the products are exact int32 sums, so results differ from dot_ref_iq4_* only by
 * float summation order. */
#include <immintrin.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"

static inline float hsum8(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* 16 bytes of nibbles -> the 32 int8 levels of one group: low nibbles (elements 0..15) in
 * the low lane, high nibbles (16..31) in the high lane. */
static inline __m256i iq4_levels(const uint8_t *qs, __m128i table)
{
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(b, m4));
    __m128i hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(b, 4), m4));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* 32 signed bytes . 32 signed bytes -> 16 int16 pair sums (|x| <= 127, so no saturation). */
static inline __m256i pairs_i8(__m256i x, __m256i y)
{
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* W IQ4_NL (n,) . a Q8_0 (n,) */
void dot_avx2_iq4_nl(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_iq4_nl *x = w;
    const struct blk_q8_0 *y = a;
    const __m128i table = _mm_loadu_si128((const __m128i *)kern_iq4nl_values);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        __m256i q = iq4_levels(x[i].qs, table);
        __m256i v = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = _mm256_madd_epi16(pairs_i8(q, v), ones);
        float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum8(acc);
}

/* W IQ4_XS (n,) . a Q8_K (n,) */
void dot_avx2_iq4_xs(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_iq4_xs *x = w;
    const struct blk_q8_k *y = a;
    const __m128i table = _mm_loadu_si128((const __m128i *)kern_iq4nl_values);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = y[i].qs;
        unsigned sh = x[i].scales_h;
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, q8 += 32) {
            int ls = (((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
            __m256i q = iq4_levels(qs, table);
            __m256i v = _mm256_loadu_si256((const __m256i *)q8);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs_i8(q, v), _mm256_set1_epi16((short)ls)));
        }
        float d = _cvtsh_ss(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum8(acc);
}
