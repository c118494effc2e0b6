/* dot_avx2_q23k.c — AVX2 dot products of Q2_K and Q3_K rows with Q8_K activations
 * (compiled with -mavx2 -mfma -mf16c; only reached after cpu_has()). Per super-block, each
 * 32 levels (2 bits at one shift of 32 bytes of qs, and for Q3_K the hmask bit) multiply 32
 * activations in one maddubs; the 16-bit pair sums of two 16-element sub-blocks are scaled
 * by their two sub-block scales in one madd. Integer sums are exact, so results differ from
 * dot_ref_q2_k / dot_ref_q3_k only by float summation order. */
#include <immintrin.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"

static inline int hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* int16 lanes 0..7 = a, 8..15 = b (the scales of two adjacent 16-element sub-blocks). */
static inline __m256i two_scales(int a, int b)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)), _mm_set1_epi16((short)b), 1);
}

/* W Q2_K (n,) . a Q8_K (n,) */
void dot_avx2_q2_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q2_k *x = w;
    const struct blk_q8_k *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            for (int sh = 0; sh < 4; sh++) {
                int e = 128 * c + 32 * sh, j = e / 16;
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * sh), m3);
                __m256i v = _mm256_loadu_si256((const __m256i *)(y[i].qs + e));
                __m256i p = _mm256_maddubs_epi16(q, v);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, two_scales(x[i].scales[j] & 0xF,
                                                                             x[i].scales[j + 1] & 0xF)));
            }
        }
        int summ = 0;
        for (int j = 0; j < 16; j++)
            summ += (x[i].scales[j] >> 4) * y[i].bsums[j];
        sum += y[i].d * _cvtsh_ss(x[i].d) * (float)hsum_i32(acc) - y[i].d * _cvtsh_ss(x[i].dmin) * (float)summ;
    }
    *s = sum;
}

/* W Q3_K (n,) . a Q8_K (n,) */
void dot_avx2_q3_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q3_k *x = w;
    const struct blk_q8_k *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4), zero = _mm256_setzero_si256();
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int sc[16];
        const uint8_t *s8 = x[i].scales;
        for (int j = 0; j < 16; j++)
            sc[j] = kern_scale_q3_k(j, s8);
        __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask), acc = zero;
        for (int c = 0; c < 2; c++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            for (int sh = 0; sh < 4; sh++) {
                int e = 128 * c + 32 * sh, j = e / 16;
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * sh), m3);
                /* bit (4c + sh) of hmask[l] clear: the level is 4 lower */
                __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hm, _mm256_set1_epi8((char)(1 << (4 * c + sh)))),
                                                  zero);
                __m256i q = _mm256_sub_epi8(lo, _mm256_and_si256(clear, four));
                __m256i v = _mm256_loadu_si256((const __m256i *)(y[i].qs + e));
                __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(v, q));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, two_scales(sc[j], sc[j + 1])));
            }
        }
        sum += _cvtsh_ss(x[i].d) * y[i].d * (float)hsum_i32(acc);
    }
    *s = sum;
}
