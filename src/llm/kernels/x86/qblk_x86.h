/* qblk_x86.h — quant-block loads shared by the x86 kernels (dot_avx2.c, dot512_body.h,
 * dot512_gemv.h): Q4_K's 12 bytes of 6-bit scales and mins unpacked in one xmm (without the
 * general-register shuffle, ggml's utmp, that cost the AVX2 dot a third of its time), the f16
 * scales of 4 consecutive Q4_0 blocks in one xmm, two 16-byte halves in one ymm. Include in
 * a file compiled with AVX2 or later.
 *
 *   __m128i sm = kq_unpack_scales_k4(blk->scales);   // bytes sc0..sc7, m0..m7
 *   __m128 d4 = _mm_cvtph_ps(kq_q4_0_scales4(x));    // d of x[0..3]
 */
#ifndef INFERD_LLM_KERNELS_X86_QBLK_X86_H
#define INFERD_LLM_KERNELS_X86_QBLK_X86_H

#include "llm/kernels/kernels.h"

#include <immintrin.h>
#include <stdint.h>

/* 12 bytes s of 6-bit scales and mins -> bytes [sc0..7, m0..7] (kern_scale_min_k4 for
 * j = 0..7): j < 4: sc_j = s_j & 63, m_j = s_j+4 & 63; j >= 4: sc_j = (s_j+4 & 15) |
 * (s_j-4 >> 6) << 4, m_j = (s_j+4 >> 4) | (s_j >> 6) << 4. Reads 16 bytes: in a block_q4_k
 * (and block_q5_k) the quants follow the scales. */
static inline __m128i kq_unpack_scales_k4(const uint8_t *scales)
{
    __m128i v = _mm_loadu_si128((const __m128i *)scales);
    __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    __m128i lo = _mm_and_si128(a, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
    __m128i top = _mm_and_si128(_mm_srli_epi16(b, 2), _mm_setr_epi8(0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0, 0, 0, 0,
                                                                     0x30, 0x30, 0x30, 0x30));
    return _mm_or_si128(_mm_or_si128(lo, hi), top);
}

/* 16 bytes at lo in the low half, 16 at hi in the high half */
static inline __m256i kq_load_2x128(const void *lo, const void *hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* the f16 scales of 4 consecutive Q4_0 blocks in words 0..3: block k's at byte 18k is word k
 * of the 16-byte load at 16k, merged by vpblendw (the loads stay inside the blocks' 72 bytes) */
static inline __m128i kq_q4_0_scales4(const struct blk_q4_0 *x)
{
    const unsigned char *p = (const unsigned char *)x;
    _Static_assert(sizeof(struct blk_q4_0) == 18, "Q4_0 blocks are 18 bytes");
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    v = _mm_blend_epi16(v, _mm_loadu_si128((const __m128i *)(p + 16)), 0x02);
    v = _mm_blend_epi16(v, _mm_loadu_si128((const __m128i *)(p + 32)), 0x04);
    return _mm_blend_epi16(v, _mm_loadu_si128((const __m128i *)(p + 48)), 0x08);
}

/* the sum of v's 8 floats (the one horizontal sum of every x86 dot: dot4 rows match dots) */
static inline float kq_hsum256(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* DOT (W BLK (n,) . a q8_k (n,)) of a K-quant whose super-block step SB(x, y, &acc, &accm)
 * adds d's part to acc and dmin's to accm: a row is HSUM(acc - accm) (KQ_DOT_K_ONE), and
 * KQ_DOT_K adds DOT4 (one activation row against 4 weight rows at byte stride ws, the
 * activation loads shared; see dot512_gemv.h) whose rows are its dot's, step for step
 * (bit-identical). KQ_DOT_K_ONE: dot_avx2.c and dot_avxvnni_k.c, whose 16 ymm registers
 * cannot hold a dot4's 4 rows (it spilled and streamed slower than the dot, session 17, so
 * those levels walk one row at a time, kernels.c K_ONE_ROW); KQ_DOT_K: dot_avx512vnni.c
 * (dot512_body.h KDOT_K, 32 registers). Both with dot_k_body.h's steps. */
#define KQ_DOT_K_ONE(DOT, BLK, SB, HSUM)                                                               \
    void DOT(int64_t n, float *s, const void *w, const void *a)                                        \
    {                                                                                                  \
        const BLK *x = w;                                                                              \
        const struct blk_q8_k *y = a;                                                                  \
        __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();                                  \
        for (int64_t i = 0; i < n / QK_K; i++)                                                         \
            SB(&x[i], &y[i], &acc, &accm);                                                             \
        *s = HSUM(_mm256_sub_ps(acc, accm));                                                           \
    }
#define KQ_DOT_K(DOT, DOT4, BLK, SB, HSUM)                                                             \
    KQ_DOT_K_ONE(DOT, BLK, SB, HSUM)                                                                   \
    void DOT4(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)                 \
    {                                                                                                  \
        const BLK *x[4];                                                                               \
        const struct blk_q8_k *ya = a;                                                                 \
        __m256 acc[4], accm[4];                                                                        \
        for (int k = 0; k < 4; k++) {                                                                  \
            x[k] = (const BLK *)((const unsigned char *)w + (size_t)k * ws);                           \
            acc[k] = accm[k] = _mm256_setzero_ps();                                                    \
        }                                                                                              \
        for (int64_t i = 0; i < n / QK_K; i++)                                                         \
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                                        \
                SB(&x[k][i], &ya[i], &acc[k], &accm[k]);                                               \
        for (int k = 0; k < 4; k++)                                                                    \
            y[(size_t)k * ys] = HSUM(_mm256_sub_ps(acc[k], accm[k]));                                  \
    }

#endif
