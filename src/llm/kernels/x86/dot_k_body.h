/* dot_k_body.h — the super-block steps of the Q4_K, Q5_K, Q2_K and Q3_K dots with Q8_K
 * activations, included by dot_avx2.c (vpmaddubsw, vphaddw, vpmaddwd), dot_avx512vnni.c
 * (vpdpbusd, vpackssdw, vpdpwssd, vpternlogd) and dot_avxvnni_k.c (the VEX vpdpbusd,
 * vpdpwssd). The includer defines KN(name) (the name suffix) and three ops on __m256i:
 *   KQ_PAIR16(u0, s0, u1, s1): two runs of 32 unsigned levels u against 32 activations s ->
 *     i16 [4 sums of 4 products of run 0, 4 of run 1] per 128-bit half (exact: each step
 *     keeps 4 products within an i16);
 *   KQ_MACC16(acc, p, sc): acc + the i32 pair sums of p * sc (i16);
 *   KQ_OR_AND(lo, t, m): lo | (t & m);
 * then KQ_DOT_K_ONE (qblk_x86.h) makes each dot from a step T_sb_, and KQ_DOT_K its dot4 too
 * (AVX-512 VNNI: a dot4 row is its dot's, operation for operation: bit-identical). Integer sums are exact, so rows
 * differ from dot_ref_* only in float order. 256-bit on purpose: Zen 4 runs 512-bit integer
 * ops on its 256-bit units, and a 512-bit Q4_K form (two sub-blocks a zmm) streamed slower
 * than AVX2's dot (18.7 against 21.3 GB/s, session 10).
 *
 * Q4_K: d_w d_a sum_j sc_j (q_j . a_j) - dmin_w d_a sum_j m_j bsum_j over the 8 sub-blocks j
 * of 32. The dot is bound by its multiply and shuffle ops (the same GB/s with the rows in
 * L2), so per super-block:
 *  - the 12 bytes of scales and mins are unpacked in one xmm (kq_unpack_scales_k4) and
 *    broadcast to both 128-bit halves; vpshufb picks each i16 scale from it directly (its
 *    -1 index bytes zero-extend), no general-register shuffle, no widening;
 *  - a 32-byte quant run holds sub-blocks 2j (low nibbles) and 2j+1 (high): one KQ_PAIR16
 *    lays their sums as [4 of 2j, 4 of 2j+1] i16 per half, one KQ_MACC16 with
 *    [4 x sc_2j, 4 x sc_2j+1] applies both scales. With VNNI that is 3 multiply and 2
 *    shuffle ops per 64 quants, against AVX2's 3 multiply ops, a vphaddw and a vpshufb
 *    (gemv_bench in L2: 22.8 -> 27.7 GB/s, session 11; a vpmaddubsw + vpdpwssd per
 *    sub-block, with the scales as broadcast loads, has 4 multiply ops: 19.8 GB/s);
 *  - the mins term is one vpmaddwd of the mins (each twice, as i16) with the 16 bsums, kept
 *    in its own 8-lane float accumulator; [d, dmin] converted by one vcvtph2ps.
 * Q5_K shares Q4_K's d, dmin, 12 scale bytes and arithmetic, its quants 0..31 with bit 2j
 * (low nibbles) or 2j+1 (high) of qh[l] as the fifth: 4 products are at most
 * 4 * 31 * 128 = 15872, still an i16. qh_bit5_ moves bit b of each byte to bit 4 (one 16-bit
 * shift: bit 4 of either byte comes from that byte for b = 0..7) and ORs it in; a NULL qh is
 * Q4_K.
 *
 * Q2_K, Q3_K: a super-block's 256 levels are 8 runs of 32 (run (c, sh): 2 bits at shift 2 sh of
 * qs[32 c ..], for Q3_K with bit 4 c + sh of hmask as the third), each two 16-element
 * sub-blocks j = 8 c + 2 sh, j + 1 in its low | high 128 bits. Per two runs (sh, sh + 1):
 * one KQ_PAIR16 (levels unsigned: Q3_K's are taken as q + 4, 0..7, and the -4 sum(a) comes
 * back as -4 sum(sc_j bsum_j), one vpmaddwd a super-block, as Q6_K's -32; 4 products
 * |4 * 7 * 128| fit an i16) lays them out as [4 of j, 4 of j + 2 | 4 of j + 1, 4 of j + 3]
 * i16, and one KQ_MACC16 applies the 4 scales (one vpshufb of the half's 8 i16 scales).
 * Q2_K's mins term is sum(m_j bsum_j), one vpmaddwd, scaled by dmin as Q4_K's. (The AVX2
 * Q2_K, Q3_K and Q5_K dots before session 14 built scales from general registers, spent a
 * vpmaddubsw and a vpmaddwd per run, and had no dot4.) */

static inline __m256i KN(qh_bit5_)(__m256i lo, __m256i hb, int b)
{
    __m256i t = b <= 4 ? _mm256_slli_epi16(hb, 4 - b) : _mm256_srli_epi16(hb, b - 4);
    return KQ_OR_AND(lo, t, _mm256_set1_epi8(0x10));
}

static inline __attribute__((always_inline)) void KN(q45_k_sb_)(const uint8_t *dsc, const uint8_t *qs,
                                                                const uint8_t *qh, const struct blk_q8_k *y,
                                                                __m256 *acc, __m256 *accm)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i sm = _mm256_broadcastsi128_si256(kq_unpack_scales_k4(dsc + 4));
    /* m_j twice per i32 lane j: lane j = m_j (bsum 2j + bsum 2j+1) */
    const __m256i pm = _mm256_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10, -1, 10, -1, 11, -1, 11, -1, 12, -1, 12, -1,
                                        13, -1, 13, -1, 14, -1, 14, -1, 15, -1, 15, -1);
    __m256i mins = _mm256_madd_epi16(_mm256_shuffle_epi8(sm, pm), _mm256_loadu_si256((const __m256i *)y->bsums));
    uint32_t ddh; /* d and dmin, adjacent f16 */
    memcpy(&ddh, dsc, sizeof ddh);
    __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ddh)), _mm_set1_ps(y->d));
    __m256i sumi = _mm256_setzero_si256();
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)
    {
        /* i16 scales [4 x sc_2j, 4 x sc_2j+1] in both halves, as KQ_PAIR16 lays the sums */
        const char ca = (char)(2 * j), cb = (char)(2 * j + 1);
        const __m256i ps = _mm256_setr_epi8(ca, -1, ca, -1, ca, -1, ca, -1, cb, -1, cb, -1, cb, -1, cb, -1, ca, -1, ca,
                                            -1, ca, -1, ca, -1, cb, -1, cb, -1, cb, -1, cb, -1);
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i ql = _mm256_and_si256(q, m4), qu = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) {
            __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            ql = KN(qh_bit5_)(ql, hb, 2 * j);
            qu = KN(qh_bit5_)(qu, hb, 2 * j + 1);
        }
        __m256i p16 = KQ_PAIR16(ql, _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j)), qu,
                                _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32)));
        sumi = KQ_MACC16(sumi, p16, _mm256_shuffle_epi8(sm, ps));
    }
    *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(sumi), *acc);
    *accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(mins), *accm);
}

static inline __attribute__((always_inline)) void KN(q4_k_sb_)(const struct blk_q4_k *x, const struct blk_q8_k *y,
                                                               __m256 *acc, __m256 *accm)
{
    KN(q45_k_sb_)((const uint8_t *)x, x->qs, NULL, y, acc, accm);
}

static inline __attribute__((always_inline)) void KN(q5_k_sb_)(const struct blk_q5_k *x, const struct blk_q8_k *y,
                                                               __m256 *acc, __m256 *accm)
{
    KN(q45_k_sb_)((const uint8_t *)x, x->qs, x->qh, y, acc, accm);
}

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
        const __m256i sch_[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00),                           \
                                 _mm256_permute2x128_si256(sc16, sc16, 0x11)};                          \
        _Pragma("GCC unroll 2") for (int c = 0; c < 2; c++)                                            \
        {                                                                                               \
            _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++)                                        \
            {                                                                                           \
                const int sh = 2 * p, e = 128 * c + 32 * sh;                                            \
                __m256i p16 = KQ_PAIR16(LV(c, sh), _mm256_loadu_si256((const __m256i *)((y)->qs + e)),    \
                                        LV(c, sh + 1), _mm256_loadu_si256((const __m256i *)((y)->qs + e + 32))); \
                sumi = KQ_MACC16(sumi, p16, _mm256_shuffle_epi8(sch_[c], KN(q23k_pick_)(p)));           \
            }                                                                                           \
        }                                                                                               \
    } while (0)

/* Q2_K: one super-block into acc (d) and accm (dmin) */
static inline __attribute__((always_inline)) void KN(q2_k_sb_)(const struct blk_q2_k *x, const struct blk_q8_k *y, __m256 *acc, __m256 *accm)
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
    return KQ_OR_AND(lo, t, _mm256_set1_epi8(0x04));
}

/* Q3_K: one super-block into acc, accm untouched (always inlined: gcc otherwise calls it, acc on the stack) */
static inline __attribute__((always_inline)) void KN(q3_k_sb_)(const struct blk_q3_k *x, const struct blk_q8_k *y,
                                                               __m256 *acc, __m256 *accm)
{
    (void)accm; /* no mins: KQ_DOT_K's acc - accm is acc */
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
