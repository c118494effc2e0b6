/* gemm_panel_k_body.h — the K-quant (Q2_K..Q6_K) panel GEMM of panel.h, included by one file
 * per ISA. The includer defines KSUF (name suffix), PANEL_512 (zmm, 16 rows; else ymm, 8 rows)
 * and PANEL_VNNI (vpdpbusd; else vpmaddubsw + vpmaddwd).
 *
 * Per super-block (256 elements) and output lane (row r, token t), everything is integer
 * until one fma per term:
 *   Q4_K: y += (d_w d_a) * sum_j sc_j * dot_j  +  (-dmin_w d_a) * sum_j m_j * (bs_2j + bs_2j+1)
 *   Q6_K: y += (d_w d_a) * sum_j sc_j * (dot_j - 32 bs_j)
 *   Q3_K: y += (d_w d_a) * sum_j sc_j * (dot_j - 4 bs_j)           (sc_j signed, -32..31)
 *   Q2_K: y += (d_w d_a) * sum_j sc_j * dot_j  +  (-dmin_w d_a) * sum_j m_j * bs_j
 * with dot_j the dot of sub-block j's unsigned quants (Q4_K 0..15 and Q5_K 0..31 over 32
 * elements; Q6_K 0..63, Q3_K 0..7 (the level + 4) and Q2_K 0..3 over 16) with the Q8_K
 * activations, and bs the activations' bsums (16 elements). Q5_K is Q4_K with the 5th bit
 * added at unpack time (same layout, same terms); Q3_K and Q2_K share Q6_K's 16-sub-block
 * layout. All are exact in int32 (|Q6_K sum| < 16 * 128 * (16 * 63 * 128 + 32 * 2048)
 * < 2^29; Q5_K 8 * 63 * 32 * 31 * 128 < 2^26). Without VNNI, vpmaddubsw's i16 pair sums
 * cannot saturate: Q4_K 2 * 15 * 128 = 3840 per group, 8 groups (one sub-block) 30720;
 * Q5_K 2 * 31 * 128 = 7936 per group, 4 groups (half a sub-block) 31744; Q6_K
 * 2 * 63 * 128 = 16128 per group, 2 groups 32256; Q3_K 2 * 7 * 128 = 1792 and Q2_K 768 per
 * group, 4 groups (one sub-block) 7168 and 3072; each such i16 sum goes through vpmaddwd
 * with the sub-block scale (exact in i32).
 *
 * Scratch layout per super-block b, in u32 units (R rows; word w = elements 4w..4w+3):
 *   Q4_K, Q5_K: q[64][R] | sc[8][R] | mins[4][R] (i16 pairs m_2k, m_2k+1) | d[R] f32 | -dmin[R] f32
 *   Q6_K, Q3_K: q[64][R] | sc[16][R] | sc pairs[8][R] (i16 sc_2k, sc_2k+1) | d[R] f32
 *   Q2_K: q[64][R] | sc[16][R] | min pairs[8][R] (i16 m_2k, m_2k+1) | d[R] f32 | -dmin[R] f32
 * sc is an i32 with VNNI (vpmulld after vpdpbusd), else the i16 scale twice (vpmaddwd). */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels.h"
#include "llm/kernels/panel.h"

#define PCAT2(a, b) a##b
#define PCAT(a, b) PCAT2(a, b)
#define PN(name) PCAT(name, KSUF)

#ifdef PANEL_512
#define R 16
#define NT 8 /* 8 accumulators, 8 integer sums, 8 weight vectors, temporaries */
typedef __m512i vi;
typedef __m512 vf;
#define VI_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define VF_LOAD(p) _mm512_loadu_ps((const float *)(p))
#define VF_STORE(p, v) _mm512_storeu_ps((p), (v))
#define VI_SET1(x) _mm512_set1_epi32(x)
#define VI_ZERO() _mm512_setzero_si512()
#define VF_SET1(x) _mm512_set1_ps(x)
#define VF_ZERO() _mm512_setzero_ps()
#define VCVT(v) _mm512_cvtepi32_ps(v)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VADD32(a, b) _mm512_add_epi32((a), (b))
#define VSUB32(a, b) _mm512_sub_epi32((a), (b))
#define VSLL32(a, k) _mm512_slli_epi32((a), (k))
#define VMULLO(a, b) _mm512_mullo_epi32((a), (b))
#define VADD16(a, b) _mm512_add_epi16((a), (b))
#define VMADDUBS(u, s) _mm512_maddubs_epi16((u), (s))
#define VMADD(a, b) _mm512_madd_epi16((a), (b))
#ifdef PANEL_VNNI
#define VDP(acc, u, s) _mm512_dpbusd_epi32((acc), (u), (s))
#endif
#else
#define R 8
#define NT 4 /* 16 ymm registers: the compiler keeps the accumulators out of the inner loop */
typedef __m256i vi;
typedef __m256 vf;
#define VI_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define VF_LOAD(p) _mm256_loadu_ps((const float *)(p))
#define VF_STORE(p, v) _mm256_storeu_ps((p), (v))
#define VI_SET1(x) _mm256_set1_epi32(x)
#define VI_ZERO() _mm256_setzero_si256()
#define VF_SET1(x) _mm256_set1_ps(x)
#define VF_ZERO() _mm256_setzero_ps()
#define VCVT(v) _mm256_cvtepi32_ps(v)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VADD32(a, b) _mm256_add_epi32((a), (b))
#define VSUB32(a, b) _mm256_sub_epi32((a), (b))
#define VSLL32(a, k) _mm256_slli_epi32((a), (k))
#define VMULLO(a, b) _mm256_mullo_epi32((a), (b))
#define VADD16(a, b) _mm256_add_epi16((a), (b))
#define VMADDUBS(u, s) _mm256_maddubs_epi16((u), (s))
#define VMADD(a, b) _mm256_madd_epi16((a), (b))
#ifdef PANEL_VNNI
#define VDP(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#endif
#endif

/* u32 words per super-block of the two layouts */
#define S4 (78 * R)
#define S6 (89 * R)
#define S2 (90 * R)

/* the layouts of 16 sub-blocks of 16 (pack_k16, tile_k16) */
enum { K16_Q6, K16_Q3, K16_Q2 };

#ifdef PANEL_VNNI
#define SCW(s) ((uint32_t)(int32_t)(s))
#else
#define SCW(s) ((uint32_t)(uint16_t)(int16_t)(s) * 0x10001u)
#endif
#define PAIR(a, b) ((uint32_t)(uint16_t)(int16_t)(a) | (uint32_t)(uint16_t)(int16_t)(b) << 16)

static inline int32_t ld32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 4 words of 4 rows -> word g of the 4 rows at dst + g * R (u32 units): a 4x4 transpose. */
static inline void put4x4(uint32_t *dst, __m128i a, __m128i b, __m128i c, __m128i d)
{
    __m128i ab0 = _mm_unpacklo_epi32(a, b), ab1 = _mm_unpackhi_epi32(a, b);
    __m128i cd0 = _mm_unpacklo_epi32(c, d), cd1 = _mm_unpackhi_epi32(c, d);
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi64(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + R), _mm_unpackhi_epi64(ab0, cd0));
    _mm_storeu_si128((__m128i *)(dst + 2 * R), _mm_unpacklo_epi64(ab1, cd1));
    _mm_storeu_si128((__m128i *)(dst + 3 * R), _mm_unpackhi_epi64(ab1, cd1));
}

/* The 256 quants of one Q4_K super-block as bytes 0..15 in element order, 16 per vector. */
static inline void unpack_q4_k(const struct blk_q4_k *x, __m128i v[16])
{
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int k = 0; k < 4; k++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(x->qs + 32 * k));
        __m128i b = _mm_loadu_si128((const __m128i *)(x->qs + 32 * k + 16));
        v[4 * k] = _mm_and_si128(a, m4);
        v[4 * k + 1] = _mm_and_si128(b, m4);
        v[4 * k + 2] = _mm_and_si128(_mm_srli_epi16(a, 4), m4);
        v[4 * k + 3] = _mm_and_si128(_mm_srli_epi16(b, 4), m4);
    }
}

/* The 256 quants of one Q5_K super-block as bytes 0..31: Q4_K's nibbles plus bit 2k (low
 * nibbles of chunk k) or 2k + 1 (high nibbles) of qh, times 16. */
static inline void unpack_q5_k(const struct blk_q5_k *x, __m128i v[16])
{
    const __m128i m4 = _mm_set1_epi8(0x0F), m16 = _mm_set1_epi8(0x10);
    const __m128i h0 = _mm_loadu_si128((const __m128i *)x->qh), h1 = _mm_loadu_si128((const __m128i *)(x->qh + 16));
    for (int k = 0; k < 4; k++) {
        __m128i a = _mm_loadu_si128((const __m128i *)(x->qs + 32 * k));
        __m128i b = _mm_loadu_si128((const __m128i *)(x->qs + 32 * k + 16));
        /* 16 where bit 2k (2k + 1) of qh is set */
        const __m128i bl = _mm_set1_epi8((char)(1 << (2 * k))), bu = _mm_set1_epi8((char)(2 << (2 * k)));
        __m128i l0 = _mm_cmpeq_epi8(_mm_and_si128(h0, bl), bl), l1 = _mm_cmpeq_epi8(_mm_and_si128(h1, bl), bl);
        __m128i u0 = _mm_cmpeq_epi8(_mm_and_si128(h0, bu), bu), u1 = _mm_cmpeq_epi8(_mm_and_si128(h1, bu), bu);
        v[4 * k] = _mm_or_si128(_mm_and_si128(a, m4), _mm_and_si128(l0, m16));
        v[4 * k + 1] = _mm_or_si128(_mm_and_si128(b, m4), _mm_and_si128(l1, m16));
        v[4 * k + 2] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), _mm_and_si128(u0, m16));
        v[4 * k + 3] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(b, 4), m4), _mm_and_si128(u1, m16));
    }
}

/* The 256 quants of one Q6_K super-block as bytes 0..63 (the -32 is applied later). */
static inline void unpack_q6_k(const struct blk_q6_k *x, __m128i v[16])
{
    const __m128i m4 = _mm_set1_epi8(0x0F), m30 = _mm_set1_epi8(0x30);
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++) {
            __m128i l0 = _mm_loadu_si128((const __m128i *)(x->ql + 64 * c + 16 * h));
            __m128i l1 = _mm_loadu_si128((const __m128i *)(x->ql + 64 * c + 32 + 16 * h));
            __m128i qh = _mm_loadu_si128((const __m128i *)(x->qh + 32 * c + 16 * h));
            v[8 * c + h] = _mm_or_si128(_mm_and_si128(l0, m4), _mm_and_si128(_mm_slli_epi16(qh, 4), m30));
            v[8 * c + 2 + h] = _mm_or_si128(_mm_and_si128(l1, m4), _mm_and_si128(_mm_slli_epi16(qh, 2), m30));
            v[8 * c + 4 + h] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l0, 4), m4), _mm_and_si128(qh, m30));
            v[8 * c + 6 + h] =
                _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l1, 4), m4), _mm_and_si128(_mm_srli_epi16(qh, 2), m30));
        }
}

/* The 256 quants of one Q3_K (q3 = 1: levels + 4, 0..7) or Q2_K super-block (0..3). */
static inline __attribute__((always_inline)) void unpack_q23_k(int q3, const uint8_t *qs, const uint8_t *hmask,
                                                               __m128i v[16])
{
    const __m128i m3 = _mm_set1_epi8(3), four = _mm_set1_epi8(4);
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++) {
            __m128i q = _mm_loadu_si128((const __m128i *)(qs + 32 * c + 16 * h));
            __m128i hm = q3 ? _mm_loadu_si128((const __m128i *)(hmask + 16 * h)) : _mm_setzero_si128();
            for (int sh = 0; sh < 4; sh++) {
                __m128i lo = _mm_and_si128(_mm_srli_epi16(q, 2 * sh), m3);
                if (q3) { /* + 4 where bit 4c + sh of hmask is set */
                    const __m128i bit = _mm_set1_epi8((char)(1 << (4 * c + sh)));
                    lo = _mm_or_si128(lo, _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(hm, bit), bit), four));
                }
                v[8 * c + 2 * sh + h] = lo;
            }
        }
}

/* The scales, mins, d and -dmin of one Q4_K / Q5_K super-block (the same fields) -> lane
 * rk of the layout's super-block at p. */
static inline void pack_q4_k_scales(uint32_t *p, int rk, uint16_t d, uint16_t dmin, const uint8_t *scales)
{
    uint8_t sc[8], m[8];
    for (int j = 0; j < 8; j++)
        kern_scale_min_k4(j, scales, &sc[j], &m[j]);
    for (int j = 0; j < 8; j++)
        p[64 * R + j * R + rk] = SCW(sc[j]);
    for (int j = 0; j < 4; j++)
        p[72 * R + j * R + rk] = PAIR(m[2 * j], m[2 * j + 1]);
    ((float *)p)[76 * R + rk] = fp16_to_f32(d);
    ((float *)p)[77 * R + rk] = -fp16_to_f32(dmin);
}

/* R Q4_K (q5 = 0) or Q5_K rows (ws bytes apart) -> the Q4_K scratch layout, nb super-blocks. */
static inline __attribute__((always_inline)) void pack_q45_k(int q5, int64_t nb, const unsigned char *w, size_t ws,
                                                             uint32_t *p)
{
    for (int64_t b = 0; b < nb; b++, p += S4) {
        for (int r = 0; r < R; r += 4) {
            __m128i v[4][16];
            for (int k = 0; k < 4; k++) {
                const unsigned char *row = w + (size_t)(r + k) * ws;
                if (q5) {
                    const struct blk_q5_k *x = (const struct blk_q5_k *)row + b;
                    unpack_q5_k(x, v[k]);
                    pack_q4_k_scales(p, r + k, x->d, x->dmin, x->scales);
                } else {
                    const struct blk_q4_k *x = (const struct blk_q4_k *)row + b;
                    unpack_q4_k(x, v[k]);
                    pack_q4_k_scales(p, r + k, x->d, x->dmin, x->scales);
                }
            }
            for (int c = 0; c < 16; c++)
                put4x4(p + (size_t)4 * c * R + r, v[0][c], v[1][c], v[2][c], v[3][c]);
        }
    }
}

/* R Q6_K, Q3_K or Q2_K rows (kind K16_*) -> their scratch layout. */
static inline __attribute__((always_inline)) void pack_k16(int kind, int64_t nb, const unsigned char *w, size_t ws,
                                                           uint32_t *p)
{
    for (int64_t b = 0; b < nb; b++, p += kind == K16_Q2 ? S2 : S6) {
        for (int r = 0; r < R; r += 4) {
            __m128i v[4][16];
            for (int k = 0; k < 4; k++) {
                const unsigned char *row = w + (size_t)(r + k) * ws;
                int sc[16], pr[16]; /* pr: the i16 pairs' values (Q2_K: the mins) */
                uint16_t d;
                if (kind == K16_Q6) {
                    const struct blk_q6_k *x = (const struct blk_q6_k *)row + b;
                    unpack_q6_k(x, v[k]);
                    for (int j = 0; j < 16; j++)
                        sc[j] = pr[j] = x->scales[j];
                    d = x->d;
                } else if (kind == K16_Q3) {
                    const struct blk_q3_k *x = (const struct blk_q3_k *)row + b;
                    unpack_q23_k(1, x->qs, x->hmask, v[k]);
                    for (int j = 0; j < 16; j++)
                        sc[j] = pr[j] = kern_scale_q3_k(j, x->scales);
                    d = x->d;
                } else {
                    const struct blk_q2_k *x = (const struct blk_q2_k *)row + b;
                    unpack_q23_k(0, x->qs, NULL, v[k]);
                    for (int j = 0; j < 16; j++) {
                        sc[j] = x->scales[j] & 0xF;
                        pr[j] = x->scales[j] >> 4;
                    }
                    d = x->d;
                    ((float *)p)[89 * R + r + k] = -fp16_to_f32(x->dmin);
                }
                for (int j = 0; j < 16; j++)
                    p[64 * R + j * R + r + k] = SCW(sc[j]);
                for (int j = 0; j < 8; j++)
                    p[80 * R + j * R + r + k] = PAIR(pr[2 * j], pr[2 * j + 1]);
                ((float *)p)[88 * R + r + k] = fp16_to_f32(d);
            }
            for (int c = 0; c < 16; c++)
                put4x4(p + (size_t)4 * c * R + r, v[0][c], v[1][c], v[2][c], v[3][c]);
        }
    }
}

/* Q4_K (q5 = 0) or Q5_K sub-block j (32 elements, 8 words) of one activation row against
 * the panel, times the sub-block scales: i32 per lane. */
static inline __attribute__((always_inline)) vi sub_q45_k(int q5, const vi wq[8], vi sc, const int8_t *aq)
{
#ifdef PANEL_VNNI
    (void)q5;
    vi s = VI_ZERO();
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++)
        s = VDP(s, wq[g], VI_SET1(ld32(aq + 4 * g)));
    return VMULLO(s, sc);
#else
    if (q5) { /* two i16 sums of 4 groups each (8 would saturate) */
        vi p0 = VADD16(VADD16(VMADDUBS(wq[0], VI_SET1(ld32(aq))), VMADDUBS(wq[1], VI_SET1(ld32(aq + 4)))),
                       VADD16(VMADDUBS(wq[2], VI_SET1(ld32(aq + 8))), VMADDUBS(wq[3], VI_SET1(ld32(aq + 12)))));
        vi p1 = VADD16(VADD16(VMADDUBS(wq[4], VI_SET1(ld32(aq + 16))), VMADDUBS(wq[5], VI_SET1(ld32(aq + 20)))),
                       VADD16(VMADDUBS(wq[6], VI_SET1(ld32(aq + 24))), VMADDUBS(wq[7], VI_SET1(ld32(aq + 28)))));
        return VADD32(VMADD(p0, sc), VMADD(p1, sc));
    }
    vi p = VMADDUBS(wq[0], VI_SET1(ld32(aq)));
#pragma GCC unroll 8
    for (int g = 1; g < 8; g++)
        p = VADD16(p, VMADDUBS(wq[g], VI_SET1(ld32(aq + 4 * g))));
    return VMADD(p, sc);
#endif
}

/* Sub-block j (16 elements, 4 words) of a K16_* layout times its scales; c6 = -32 bs_j
 * (VNNI only: the other path takes Q6_K's -32 and Q3_K's -4 off per super-block). */
static inline __attribute__((always_inline)) vi sub_k16(int kind, const vi wq[4], vi sc, const int8_t *aq,
                                                        int32_t c6)
{
#ifdef PANEL_VNNI
    /* -4 bs_j = c6 / 8, exactly (c6 is a multiple of 32) */
    vi s = kind == K16_Q6 ? VI_SET1(c6) : kind == K16_Q3 ? VI_SET1(c6 >> 3) : VI_ZERO();
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        s = VDP(s, wq[g], VI_SET1(ld32(aq + 4 * g)));
    return VMULLO(s, sc);
#else
    (void)c6;
    vi p0 = VADD16(VMADDUBS(wq[0], VI_SET1(ld32(aq))), VMADDUBS(wq[1], VI_SET1(ld32(aq + 4))));
    vi p1 = VADD16(VMADDUBS(wq[2], VI_SET1(ld32(aq + 8))), VMADDUBS(wq[3], VI_SET1(ld32(aq + 12))));
    if (kind != K16_Q6) /* 4 groups fit an i16 */
        return VMADD(VADD16(p0, p1), sc);
    return VADD32(VMADD(p0, sc), VMADD(p1, sc));
#endif
}

/* nt (<= NT) Q8_K activation rows against the Q4_K (q5 = 0) or Q5_K panel; y rows ldy apart. */
static inline __attribute__((always_inline)) void tile_q45_k(int q5, int nt, int64_t nb, const uint32_t *pq,
                                                            const unsigned char *a, size_t as,
                                                            const struct kern_panel_kaux *aux, float *y, size_t ldy)
{
    vf acc[NT];
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        acc[t] = VF_ZERO();
    for (int64_t b = 0; b < nb; b++) {
        const uint32_t *p = pq + (size_t)b * S4;
        vi isum[NT];
#pragma GCC unroll 16
        for (int t = 0; t < nt; t++)
            isum[t] = VI_ZERO();
        for (int j = 0; j < 8; j++) {
            vi wq[8];
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++)
                wq[g] = VI_LOAD(p + (size_t)(8 * j + g) * R);
            vi sc = VI_LOAD(p + (size_t)(64 + j) * R);
#pragma GCC unroll 16
            for (int t = 0; t < nt; t++) {
                const struct blk_q8_k *ab = (const struct blk_q8_k *)(a + (size_t)t * as) + b;
                isum[t] = VADD32(isum[t], sub_q45_k(q5, wq, sc, ab->qs + 32 * j));
            }
        }
        vi m0 = VI_LOAD(p + 72 * R), m1 = VI_LOAD(p + 73 * R), m2 = VI_LOAD(p + 74 * R), m3 = VI_LOAD(p + 75 * R);
        vf wd = VF_LOAD(p + 76 * R), wm = VF_LOAD(p + 77 * R);
#pragma GCC unroll 16
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_k *ab = (const struct blk_q8_k *)(a + (size_t)t * as) + b;
            const struct kern_panel_kaux *x = aux + (size_t)t * nb + b;
            vi im = VADD32(VADD32(VMADD(m0, VI_SET1((int)x->s4[0])), VMADD(m1, VI_SET1((int)x->s4[1]))),
                           VADD32(VMADD(m2, VI_SET1((int)x->s4[2])), VMADD(m3, VI_SET1((int)x->s4[3]))));
            vf da = VF_SET1(ab->d);
            acc[t] = VFMA(VCVT(isum[t]), VMUL(wd, da), acc[t]);
            acc[t] = VFMA(VCVT(im), VMUL(wm, da), acc[t]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        VF_STORE(y + (size_t)t * ldy, acc[t]);
}

/* nt (<= NT) Q8_K activation rows against a K16_* panel. */
static inline __attribute__((always_inline)) void tile_k16(int kind, int nt, int64_t nb, const uint32_t *pq,
                                                           const unsigned char *a, size_t as,
                                                           const struct kern_panel_kaux *aux, float *y, size_t ldy)
{
    vf acc[NT];
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        acc[t] = VF_ZERO();
    for (int64_t b = 0; b < nb; b++) {
        const uint32_t *p = pq + (size_t)b * (kind == K16_Q2 ? S2 : S6);
        vi isum[NT];
#pragma GCC unroll 16
        for (int t = 0; t < nt; t++)
            isum[t] = VI_ZERO();
        for (int j = 0; j < 16; j += 2) {
            vi wq[8];
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++)
                wq[g] = VI_LOAD(p + (size_t)(4 * j + g) * R);
            vi sc0 = VI_LOAD(p + (size_t)(64 + j) * R), sc1 = VI_LOAD(p + (size_t)(65 + j) * R);
#pragma GCC unroll 16
            for (int t = 0; t < nt; t++) {
                const struct blk_q8_k *ab = (const struct blk_q8_k *)(a + (size_t)t * as) + b;
                const struct kern_panel_kaux *x = aux + (size_t)t * nb + b;
                vi s = VADD32(sub_k16(kind, wq, sc0, ab->qs + 16 * j, x->c6[j]),
                              sub_k16(kind, wq + 4, sc1, ab->qs + 16 * j + 16, x->c6[j + 1]));
                isum[t] = VADD32(isum[t], s);
            }
        }
        vf wd = VF_LOAD(p + 88 * R);
#pragma GCC unroll 16
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_k *ab = (const struct blk_q8_k *)(a + (size_t)t * as) + b;
            const struct kern_panel_kaux *x = aux + (size_t)t * nb + b;
#ifdef PANEL_VNNI
            const int bias_terms = kind == K16_Q2;
#else
            const int bias_terms = 1;
#endif
            vi bias = VI_ZERO(); /* sum_j pr_j bs_j */
            if (bias_terms) {
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++)
                    bias = VADD32(bias, VMADD(VI_LOAD(p + (size_t)(80 + k) * R), VI_SET1((int)x->s6[k])));
            }
            if (kind == K16_Q6 && bias_terms)
                isum[t] = VSUB32(isum[t], VSLL32(bias, 5));
            else if (kind == K16_Q3 && bias_terms)
                isum[t] = VSUB32(isum[t], VSLL32(bias, 2));
            vf da = VF_SET1(ab->d);
            acc[t] = VFMA(VCVT(isum[t]), VMUL(wd, da), acc[t]);
            if (kind == K16_Q2)
                acc[t] = VFMA(VCVT(bias), VMUL(VF_LOAD(p + 89 * R), da), acc[t]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        VF_STORE(y + (size_t)t * ldy, acc[t]);
}

/* W q4_k (R, n) . A q8_k (n_tok, n) -> y[t * ldy + r] */
void PN(gemm_panel_q4_k_)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,
                          size_t ldy, int n_tok, void *scratch)
{
    int64_t nb = n / QK_K;
    const unsigned char *ap = a;
    const struct kern_panel_kaux *x = aux;
    pack_q45_k(0, nb, w, ws, scratch);
    int t = 0;
    for (; t + NT <= n_tok; t += NT)
        tile_q45_k(0, NT, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
    for (; t < n_tok; t++)
        tile_q45_k(0, 1, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
}

/* W q5_k (R, n) . A q8_k (n_tok, n) -> y[t * ldy + r] */
void PN(gemm_panel_q5_k_)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,
                          size_t ldy, int n_tok, void *scratch)
{
    int64_t nb = n / QK_K;
    const unsigned char *ap = a;
    const struct kern_panel_kaux *x = aux;
    pack_q45_k(1, nb, w, ws, scratch);
    int t = 0;
    for (; t + NT <= n_tok; t += NT)
        tile_q45_k(1, NT, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
    for (; t < n_tok; t++)
        tile_q45_k(1, 1, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
}

/* W q6_k / q3_k / q2_k (R, n) . A q8_k (n_tok, n) -> y[t * ldy + r] */
#define K16_GEMM(name, kind)                                                                                   \
    void PN(name)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,    \
                  size_t ldy, int n_tok, void *scratch)                                                       \
    {                                                                                                          \
        int64_t nb = n / QK_K;                                                                                 \
        const unsigned char *ap = a;                                                                           \
        const struct kern_panel_kaux *x = aux;                                                                 \
        pack_k16(kind, nb, w, ws, scratch);                                                                    \
        int t = 0;                                                                                             \
        for (; t + NT <= n_tok; t += NT)                                                                       \
            tile_k16(kind, NT, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy,  \
                     ldy);                                                                                     \
        for (; t < n_tok; t++)                                                                                 \
            tile_k16(kind, 1, nb, scratch, ap + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy,   \
                     ldy);                                                                                     \
    }
K16_GEMM(gemm_panel_q6_k_, K16_Q6)
K16_GEMM(gemm_panel_q3_k_, K16_Q3)
K16_GEMM(gemm_panel_q2_k_, K16_Q2)
