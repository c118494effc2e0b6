/* gemm_panel_body.h — the panel GEMM of panel.h, included by one file per ISA. The
 * includer defines KSUF (name suffix), PANEL_512 (zmm, 16 rows; else ymm, 8 rows) and
 * PANEL_VNNI (vpdpbusd; else vpmaddubsw + vpmaddwd). Without VNNI, Q4_0's nibbles (<= 15)
 * times |a| <= 128 keep vpmaddubsw's i16 pair sums, and the sum of the 8 groups of a block,
 * below 2 * 15 * 128 * 8 = 30720, exact; Q8_0 is built for ymm only (AVX2 has vpsignb,
 * AVX-512 has none), one vpmaddwd per group. */
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
#define NT 8 /* activation rows per register tile: 8 accumulators + 8 weight vectors */
typedef __m512i vi;
typedef __m512 vf;
#define VI_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define VF_LOAD(p) _mm512_loadu_ps(p)
#define VF_STORE(p, v) _mm512_storeu_ps((p), (v))
#define VI_SET1(x) _mm512_set1_epi32(x)
#define VF_SET1(x) _mm512_set1_ps(x)
#define VF_ZERO() _mm512_setzero_ps()
#define VCVT(v) _mm512_cvtepi32_ps(v)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VADD32(a, b) _mm512_add_epi32((a), (b))
#define VADDF(a, b) _mm512_add_ps((a), (b))
#define VADD16(a, b) _mm512_add_epi16((a), (b))
#define VMADDUBS(u, s) _mm512_maddubs_epi16((u), (s))
#define VMADD1(v) _mm512_madd_epi16((v), _mm512_set1_epi16(1))
#ifdef PANEL_VNNI
#define VDP(acc, u, s) _mm512_dpbusd_epi32((acc), (u), (s))
#endif
#else
#define R 8
#define NT 4 /* 16 ymm registers: 4 accumulators, the 8 weight vectors, temporaries */
typedef __m256i vi;
typedef __m256 vf;
#define VI_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define VF_LOAD(p) _mm256_loadu_ps(p)
#define VF_STORE(p, v) _mm256_storeu_ps((p), (v))
#define VI_SET1(x) _mm256_set1_epi32(x)
#define VF_SET1(x) _mm256_set1_ps(x)
#define VF_ZERO() _mm256_setzero_ps()
#define VCVT(v) _mm256_cvtepi32_ps(v)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VADD32(a, b) _mm256_add_epi32((a), (b))
#define VADDF(a, b) _mm256_add_ps((a), (b))
#define VADD16(a, b) _mm256_add_epi16((a), (b))
#define VMADDUBS(u, s) _mm256_maddubs_epi16((u), (s))
#define VMADD1(v) _mm256_madd_epi16((v), _mm256_set1_epi16(1))
#ifdef PANEL_VNNI
#define VDP(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#endif
#endif

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

/* Unpacks R Q4_0 rows into the panel layout (panel.h): nibble words, f32 scales. */
static void pack_q4_0(int64_t nb, const unsigned char *w, size_t ws, uint32_t *q, float *d)
{
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < R; r += 4) {
            __m128i lo[4], hi[4];
            for (int k = 0; k < 4; k++) {
                const struct blk_q4_0 *blk = (const struct blk_q4_0 *)(w + (size_t)(r + k) * ws) + b;
                __m128i v = _mm_loadu_si128((const __m128i *)blk->qs);
                lo[k] = _mm_and_si128(v, m4);
                hi[k] = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                d[b * R + r + k] = fp16_to_f32(blk->d);
            }
            put4x4(q + (size_t)b * 8 * R + r, lo[0], lo[1], lo[2], lo[3]);
            put4x4(q + (size_t)b * 8 * R + 4 * R + r, hi[0], hi[1], hi[2], hi[3]);
        }
    }
}

#ifdef PANEL_VNNI
/* Unpacks R Q8_0 rows: w + 128 (as unsigned bytes), f32 scales. */
static void pack_q8_0(int64_t nb, const unsigned char *w, size_t ws, uint32_t *q, float *d)
{
    const __m128i x80 = _mm_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < R; r += 4) {
            __m128i lo[4], hi[4];
            for (int k = 0; k < 4; k++) {
                const struct blk_q8_0 *blk = (const struct blk_q8_0 *)(w + (size_t)(r + k) * ws) + b;
                lo[k] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)blk->qs), x80);
                hi[k] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(blk->qs + 16)), x80);
                d[b * R + r + k] = fp16_to_f32(blk->d);
            }
            put4x4(q + (size_t)b * 8 * R + r, lo[0], lo[1], lo[2], lo[3]);
            put4x4(q + (size_t)b * 8 * R + 4 * R + r, hi[0], hi[1], hi[2], hi[3]);
        }
    }
}
#endif

/* y = ((P0+P4)+(P2+P6)) + ((P1+P5)+(P3+P7)) for the 8 group sums P0..3 = p[0..3], P4..7 =
 * q[0..3]: tinyBLAS's order */
static inline __attribute__((always_inline)) void store_sum8(float *y, const vf *p, const vf *q)
{
    vf s0 = VADDF(p[0], q[0]), s1 = VADDF(p[1], q[1]);
    vf s2 = VADDF(p[2], q[2]), s3 = VADDF(p[3], q[3]);
    VF_STORE(y, VADDF(VADDF(s0, s2), VADDF(s1, s3)));
}

#if !defined(PANEL_VNNI) && !defined(PANEL_512)
/* Unpacks R Q8_0 rows as they are (signed words), f32 scales. */
static void pack_q8_0_signed(int64_t nb, const unsigned char *w, size_t ws, uint32_t *q, float *d)
{
    for (int64_t b = 0; b < nb; b++) {
        for (int r = 0; r < R; r += 4) {
            __m128i lo[4], hi[4];
            for (int k = 0; k < 4; k++) {
                const struct blk_q8_0 *blk = (const struct blk_q8_0 *)(w + (size_t)(r + k) * ws) + b;
                lo[k] = _mm_loadu_si128((const __m128i *)blk->qs);
                hi[k] = _mm_loadu_si128((const __m128i *)(blk->qs + 16));
                d[b * R + r + k] = fp16_to_f32(blk->d);
            }
            put4x4(q + (size_t)b * 8 * R + r, lo[0], lo[1], lo[2], lo[3]);
            put4x4(q + (size_t)b * 8 * R + 4 * R + r, hi[0], hi[1], hi[2], hi[3]);
        }
    }
}

/* Q8_0 without VNNI: nt (<= 2) activation rows, groups g0..g0+3 of tinyBLAS's 8 partial sums
 * per output (panel.h; the caller runs g0 = 0 and 4 and adds them up in hsum_float_8's
 * order). Each group's int dot as the AVX2 4x2 tile takes it: vpmaddubsw(|w|, sign(a, w)),
 * then vpmaddwd by 1; |w| <= 128 and |a| <= 127 (the Q8_0 quantizer's range) keep the i16
 * pair sums below 2^15: exact. Half the groups at a time keeps 2 x 4 accumulators and the
 * weight words in the 16 ymm registers, each weight load serving both rows. */
static inline __attribute__((always_inline)) void tile_q8_sign(int nt, int g0, int64_t nb, const uint32_t *q,
                                                               const float *d, const unsigned char *a, size_t as,
                                                               const struct kern_panel_aux *aux, vf out[2][4])
{
    const vi ones = _mm256_set1_epi16(1);
    vf acc[2][4];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            acc[t][g] = VF_ZERO();
    for (int64_t b = 0; b < nb; b++) {
        vf wd = VF_LOAD(d + b * R), sc[2];
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++)
            sc[t] = VMUL(wd, VF_SET1(aux[(size_t)t * nb + b].d));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            vi w = VI_LOAD(q + ((size_t)b * 8 + g0 + g) * R), aw = _mm256_abs_epi8(w);
#pragma GCC unroll 2
            for (int t = 0; t < nt; t++) {
                const struct blk_q8_0 *ab = (const struct blk_q8_0 *)(a + (size_t)t * as) + b;
                vi s = _mm256_sign_epi8(VI_SET1(ld32(ab->qs + 4 * (g0 + g))), w);
                vi p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, s), ones);
                acc[t][g] = VFMA(sc[t], VCVT(p), acc[t][g]);
            }
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            out[t][g] = acc[t][g];
}

static inline __attribute__((always_inline)) void tile_q8_pair(int nt, int64_t nb, const uint32_t *q,
                                                               const float *d, const unsigned char *a, size_t as,
                                                               const struct kern_panel_aux *aux, float *y,
                                                               size_t ldy)
{
    vf lo[2][4], hi[2][4];
    tile_q8_sign(nt, 0, nb, q, d, a, as, aux, lo);
    tile_q8_sign(nt, 4, nb, q, d, a, as, aux, hi);
    for (int t = 0; t < nt; t++)
        store_sum8(y + (size_t)t * ldy, lo[t], hi[t]);
}

/* W q8_0 (R, n) . A q8_0 (n_tok, n) -> y[t * ldy + r]; the same sums as gemm4x2_avx2_q8_0's */
void PN(gemm_panel_q8_0_)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,
                          size_t ldy, int n_tok, void *scratch)
{
    int64_t nb = n / 32;
    uint32_t *q = scratch;
    float *d = (float *)(q + (size_t)nb * 8 * R);
    const struct kern_panel_aux *x = aux;
    const unsigned char *ab = a;
    pack_q8_0_signed(nb, w, ws, q, d);
    int t = 0;
    for (; t + 2 <= n_tok; t += 2)
        tile_q8_pair(2, nb, q, d, ab + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
    if (t < n_tok)
        tile_q8_pair(1, nb, q, d, ab + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy, ldy);
}
#endif

/* Integer dot of block b of one activation row with the R panel rows, plus corr. */
static inline vi block_dot(const vi wq[8], const int8_t *aq, int32_t corr)
{
#ifdef PANEL_VNNI
    vi s = VI_SET1(corr);
#pragma GCC unroll 8
    for (int g = 0; g < 8; g++)
        s = VDP(s, wq[g], VI_SET1(ld32(aq + 4 * g)));
    return s;
#else
    vi p = VMADDUBS(wq[0], VI_SET1(ld32(aq)));
#pragma GCC unroll 8
    for (int g = 1; g < 8; g++)
        p = VADD16(p, VMADDUBS(wq[g], VI_SET1(ld32(aq + 4 * g))));
    return VADD32(VI_SET1(corr), VMADD1(p));
#endif
}

/* nt (<= NT) activation rows against the whole panel; y rows ldy apart. */
static inline __attribute__((always_inline)) void tile(int nt, int64_t nb, const uint32_t *q, const float *d,
                                                       const unsigned char *a, size_t as,
                                                       const struct kern_panel_aux *aux, float *y, size_t ldy)
{
    vf acc[NT];
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        acc[t] = VF_ZERO();
    for (int64_t b = 0; b < nb; b++) {
        vi wq[8];
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++)
            wq[g] = VI_LOAD(q + ((size_t)b * 8 + g) * R);
        vf wd = VF_LOAD(d + b * R);
#pragma GCC unroll 16
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_0 *ab = (const struct blk_q8_0 *)(a + (size_t)t * as) + b;
            const struct kern_panel_aux *x = aux + (size_t)t * nb + b;
            vi s = block_dot(wq, ab->qs, x->c4);
            acc[t] = VFMA(VCVT(s), VMUL(wd, VF_SET1(x->d)), acc[t]);
        }
    }
#pragma GCC unroll 16
    for (int t = 0; t < nt; t++)
        VF_STORE(y + (size_t)t * ldy, acc[t]);
}

static void run(int64_t nb, const uint32_t *q, const float *d, const unsigned char *a, size_t as,
                const struct kern_panel_aux *aux, float *y, size_t ldy, int n_tok)
{
    int t = 0;
    for (; t + NT <= n_tok; t += NT)
        tile(NT, nb, q, d, a + (size_t)t * as, as, aux + (size_t)t * nb, y + (size_t)t * ldy, ldy);
    for (; t < n_tok; t++)
        tile(1, nb, q, d, a + (size_t)t * as, as, aux + (size_t)t * nb, y + (size_t)t * ldy, ldy);
}

/* W q4_0 (R, n) . A q8_0 (n_tok, n) -> y[t * ldy + r] */
void PN(gemm_panel_q4_0_)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,
                          size_t ldy, int n_tok, void *scratch)
{
    int64_t nb = n / 32;
    uint32_t *q = scratch;
    float *d = (float *)(q + (size_t)nb * 8 * R);
    pack_q4_0(nb, w, ws, q, d);
    run(nb, q, d, a, as, aux, y, ldy, n_tok);
}

#ifdef PANEL_VNNI
#ifdef PANEL_512
#define NT8 2 /* 16 partial sums + the 8 weight vectors */
#else
#define NT8 1
#endif
/* Q8_0, nt (<= NT8) activation rows in tinyBLAS's order (panel.h): 8 partial sums per
 * output, one per group, then the hsum_float_8 tree. */
static inline __attribute__((always_inline)) void tile_q8(int nt, int64_t nb, const uint32_t *q, const float *d,
                                                          const unsigned char *a, size_t as,
                                                          const struct kern_panel_aux *aux, float *y, size_t ldy)
{
    vf acc[NT8][8];
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++)
            acc[t][g] = VF_ZERO();
    for (int64_t b = 0; b < nb; b++) {
        vi wq[8];
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++)
            wq[g] = VI_LOAD(q + ((size_t)b * 8 + g) * R);
        vf wd = VF_LOAD(d + b * R);
#pragma GCC unroll 2
        for (int t = 0; t < nt; t++) {
            const struct blk_q8_0 *ab = (const struct blk_q8_0 *)(a + (size_t)t * as) + b;
            const struct kern_panel_aux *x = aux + (size_t)t * nb + b;
            vf sc = VMUL(wd, VF_SET1(x->d));
#pragma GCC unroll 8
            for (int g = 0; g < 8; g++)
                acc[t][g] = VFMA(sc, VCVT(VDP(VI_SET1(x->c8[g]), wq[g], VI_SET1(ld32(ab->qs + 4 * g)))), acc[t][g]);
        }
    }
#pragma GCC unroll 2
    for (int t = 0; t < nt; t++)
        store_sum8(y + (size_t)t * ldy, acc[t], acc[t] + 4);
}

#ifndef PANEL_512
/* Q8_0 with AVX-VNNI (ymm): 4 activation rows x groups g0, g0 + 1 of the 8 partial sums per
 * output, block by block (tile_q8's sums, bit for bit). A 1-row tile over all 8 groups
 * holds 8 partial sums and 8 weight vectors: every block then reloads the 8 weight vectors
 * per token and takes 2 broadcasts (-128 sum(a) and the activation word) per vpdpbusd, 26
 * loads per 8 vpdpbusd, where this core takes 2 vector loads a cycle and vpdpbusd shares
 * its 2 pipes with the fma. Here each weight vector serves 4 tokens: 8 partial sums, 4
 * scale vectors, one weight vector and the broadcasts fit the 16 ymm registers, and a
 * block's 8 vpdpbusd take 23 loads (2 weight vectors, 16 broadcasts, the scales); the
 * scale (d_w d_a) is multiplied once per pass. */
static inline __attribute__((always_inline)) void tile_q8_quad(int g0, int64_t nb, const uint32_t *q, const float *d,
                                                               const unsigned char *a, size_t as,
                                                               const struct kern_panel_aux *aux, vf out[4][2])
{
    vf acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        acc[t][0] = acc[t][1] = VF_ZERO();
    const uint32_t *qb = q + (size_t)g0 * R;
    const int8_t *ap[4];                /* row t's block b, group g0 */
    const struct kern_panel_aux *xp[4]; /* row t's aux of block b */
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        ap[t] = ((const struct blk_q8_0 *)(a + (size_t)t * as))->qs + 4 * g0, xp[t] = aux + (size_t)t * nb;
    for (int64_t b = 0; b < nb; b++, qb += 8 * R) {
        vf wd = VF_LOAD(d + b * R), sc[4];
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            sc[t] = VMUL(wd, VF_SET1(xp[t]->d));
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            vi wv = VI_LOAD(qb + g * R);
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) {
                vi s = VDP(VI_SET1(xp[t]->c8[g0 + g]), wv, VI_SET1(ld32(ap[t] + 4 * g)));
                acc[t][g] = VFMA(sc[t], VCVT(s), acc[t][g]);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++)
            ap[t] += sizeof(struct blk_q8_0), xp[t]++;
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++)
        out[t][0] = acc[t][0], out[t][1] = acc[t][1];
}

/* 4 activation rows, the 8 partial sums in 4 passes over the panel. */
static void tile_q8_4(int64_t nb, const uint32_t *q, const float *d, const unsigned char *a, size_t as,
                      const struct kern_panel_aux *aux, float *y, size_t ldy)
{
    vf p[4][8];
#pragma GCC unroll 4
    for (int g0 = 0; g0 < 8; g0 += 2) {
        vf o[4][2];
        tile_q8_quad(g0, nb, q, d, a, as, aux, o);
        for (int t = 0; t < 4; t++)
            p[t][g0] = o[t][0], p[t][g0 + 1] = o[t][1];
    }
    for (int t = 0; t < 4; t++)
        store_sum8(y + (size_t)t * ldy, p[t], p[t] + 4);
}
#endif

/* W q8_0 (R, n) . A q8_0 (n_tok, n) -> y[t * ldy + r] */
void PN(gemm_panel_q8_0_)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, float *y,
                          size_t ldy, int n_tok, void *scratch)
{
    int64_t nb = n / 32;
    uint32_t *q = scratch;
    float *d = (float *)(q + (size_t)nb * 8 * R);
    const struct kern_panel_aux *x = aux;
    pack_q8_0(nb, w, ws, q, d);
    int t = 0;
#ifndef PANEL_512
    for (; t + 4 <= n_tok; t += 4)
        tile_q8_4(nb, q, d, (const unsigned char *)a + (size_t)t * as, as, x + (size_t)t * nb, y + (size_t)t * ldy,
                  ldy);
#endif
    for (; t + NT8 <= n_tok; t += NT8)
        tile_q8(NT8, nb, q, d, (const unsigned char *)a + (size_t)t * as, as, x + (size_t)t * nb,
                y + (size_t)t * ldy, ldy);
    for (; t < n_tok; t++)
        tile_q8(1, nb, q, d, (const unsigned char *)a + (size_t)t * as, as, x + (size_t)t * nb,
                y + (size_t)t * ldy, ldy);
}
#endif
