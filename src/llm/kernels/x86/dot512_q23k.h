/* dot512_q23k.h — AVX-512 VNNI dots of Q2_K and Q3_K rows with Q8_K activations and their
 * dot4 twins (one activation row against 4 weight rows, as dot512_gemv.h's), included after
 * dot512_body.h by dot_avx512vnni.c only (KN, DP256, hsum256_). 256-bit on purpose, as Q4_K's
 * (dot512_body.h): Zen 4 runs 512-bit integer ops on 256-bit units.
 *
 * A super-block's 256 levels are 8 runs of 32 (run (c, sh): 2 bits at shift 2 sh of
 * qs[32 c ..], for Q3_K with bit 4 c + sh of hmask as the third), each two 16-element
 * sub-blocks j = 8 c + 2 sh, j + 1 in its low | high 128 bits. Per two runs (sh, sh + 1):
 * one vpdpbusd each into zero (levels unsigned: Q3_K's are taken as q + 4, 0..7, and the
 * -4 sum(a) comes back as -4 sum(sc_j bsum_j), one vpmaddwd a super-block, as Q6_K's -32),
 * |lane| <= 4 * 7 * 128 fits an i16, so one vpackssdw lays them out as [4 of j, 4 of j + 2 |
 * 4 of j + 1, 4 of j + 3] i16 (exact) and one vpdpwssd applies the 4 scales (one vpshufb of
 * the half's 8 i16 scales). Q2_K's mins term is sum(m_j bsum_j), one vpmaddwd, scaled by
 * dmin as Q4_K's. AVX2's dots (dot_avx2_q23k.c) build each pair of scales from general
 * registers and spend a vpmaddubsw and a vpmaddwd per run. Integer sums are exact: rows
 * differ from dot_ref_q2_k / dot_ref_q3_k only in float order, and dot4 rows are their
 * dot's, operation for operation (bit-identical). */

/* i16 words [4 x w, 4 x w + 2 | 4 x w + 1, 4 x w + 3] of a half's 8, w = 4 p (run pair p = sh / 2) */
static inline __m256i KN(q23k_pick_)(int p)
{
    const char a = (char)(8 * p), b = (char)(8 * p + 2), c = (char)(8 * p + 4), d = (char)(8 * p + 6);
    return _mm256_setr_epi8(a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), c, (char)(c + 1),
                            c, (char)(c + 1), c, (char)(c + 1), c, (char)(c + 1), b, (char)(b + 1), b, (char)(b + 1), b,
                            (char)(b + 1), b, (char)(b + 1), d, (char)(d + 1), d, (char)(d + 1), d, (char)(d + 1), d,
                            (char)(d + 1));
}

/* the integer sum of one super-block: levels from lv(c, sh) (32 bytes, run (c, sh)), sc16 the
 * 16 i16 scales, y the activations; sumi starts at the bias */
#define Q23K_RUNS(sumi, sc16, y, LV)                                                                    \
    do {                                                                                                \
        const __m256i z_ = _mm256_setzero_si256();                                                      \
        const __m256i sch_[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),                           \
                                 _mm256_permute2x128_si256(sc16, sc16, 0x11)};                          \
        _Pragma("GCC unroll 2") for (int c = 0; c < 2; c++)                                            \
        {                                                                                               \
            _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++)                                        \
            {                                                                                           \
                const int sh = 2 * p, e = 128 * c + 32 * sh;                                            \
                __m256i pa = DP256(z_, LV(c, sh), _mm256_loadu_si256((const __m256i *)((y)->qs + e)));   \
                __m256i pb = DP256(z_, LV(c, sh + 1), _mm256_loadu_si256((const __m256i *)((y)->qs + e + 32))); \
                sumi = _mm256_dpwssd_epi32(sumi, _mm256_packs_epi32(pa, pb),                            \
                                           _mm256_shuffle_epi8(sch_[c], KN(q23k_pick_)(p)));           \
            }                                                                                           \
        }                                                                                               \
    } while (0)

/* Q2_K: one super-block into acc (d) and accm (dmin) */
static inline void KN(q2_k_sb_)(const struct blk_q2_k *x, const struct blk_q8_k *y, __m256 *acc, __m256 *accm)
{
    const __m256i m3 = _mm256_set1_epi8(3);
    __m128i s8 = _mm_loadu_si128((const __m128i *)x->scales);
    __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(s8, _mm_set1_epi8(0x0F)));
    __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
    __m256i mins = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)y->bsums));
    const __m256i bits[2] = {_mm256_loadu_si256((const __m256i *)x->qs),
                             _mm256_loadu_si256((const __m256i *)(x->qs + 32))};
#define Q2K_LV(c, sh) _mm256_and_si256(_mm256_srli_epi16(bits[c], 2 * (sh)), m3)
    __m256i sumi = _mm256_setzero_si256();
    Q23K_RUNS(sumi, sc16, y, Q2K_LV);
#undef Q2K_LV
    uint32_t ddh; /* d and dmin, adjacent f16 */
    memcpy(&ddh, &x->d, sizeof ddh);
    __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ddh)), _mm_set1_ps(y->d));
    *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sumi), *acc);
    *accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(mins), *accm);
}

/* Q3_K's 16 6-bit scales (kern_scale_q3_k) as i16: low nibbles of bytes 0..7 (j < 8) or
 * their high nibbles (j >= 8), bits 2 (j / 4) of byte 8 + j % 4 as bits 4, 5; minus 32 */
static inline __m256i KN(q3k_scales_)(const uint8_t *s)
{
    uint32_t hi4;
    memcpy(&hi4, s + 8, sizeof hi4);
    __m128i v = _mm_loadl_epi64((const __m128i *)s), m4 = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
    __m128i h = _mm_srlv_epi32(_mm_set1_epi32((int)hi4), _mm_setr_epi32(0, 2, 4, 6));
    h = _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(3)), 4);
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_or_si128(lo, h)), _mm256_set1_epi16(32));
}

/* bit b of each byte of hm to bit 2, ORed into lo (one 16-bit shift: bit 2 of either byte
 * comes from that byte for b = 0..7) */
static inline __m256i KN(q3k_bit3_)(__m256i lo, __m256i hm, int b)
{
    __m256i t = b <= 2 ? _mm256_slli_epi16(hm, 2 - b) : _mm256_srli_epi16(hm, b - 2);
    return _mm256_ternarylogic_epi32(lo, t, _mm256_set1_epi8(0x04), 0xF8); /* lo | (t & 4) */
}

/* Q3_K: one super-block into acc, accm untouched (always inlined: gcc otherwise calls it, acc on the stack) */
static inline __attribute__((always_inline)) void KN(q3_k_sb_)(const struct blk_q3_k *x, const struct blk_q8_k *y,
                                                               __m256 *acc, __m256 *accm)
{
    (void)accm; /* no mins: KDOT_K's acc - accm is acc */
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i sc16 = KN(q3k_scales_)(x->scales);
    __m256i bias = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 2)); /* -4 sum(sc bsum) */
    const __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
    const __m256i bits[2] = {_mm256_loadu_si256((const __m256i *)x->qs),
                             _mm256_loadu_si256((const __m256i *)(x->qs + 32))};
#define Q3K_LV(c, sh) KN(q3k_bit3_)(_mm256_and_si256(_mm256_srli_epi16(bits[c], 2 * (sh)), m3), hm, 4 * (c) + (sh))
    Q23K_RUNS(sumi, sc16, y, Q3K_LV);
#undef Q3K_LV
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x->d) * y->d), _mm256_cvtepi32_ps(sumi), *acc);
}
#undef Q23K_RUNS

/* W q2_k / q3_k (n,) . a q8_k (n,), and their dot4s */
KDOT_K(q2_k)
KDOT_K(q3_k)
