/* qgemm_avx512vnni.c — AVX-512 VNNI int8 GEMM (see ops/qgemm.h): the body in
 * qgemm_vnni_body.h on zmm, 16 columns a panel, tiles of 8 rows x 32 columns.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; call only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI).
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "onnx/ops/qgemm.h"

#define QGEMM_ROWS qgemm_u8_avx512vnni_rows
#define QGEMM_COLS qgemm_u8_avx512vnni_cols
#define QGEMM_ROWS_RQ qgemm_u8_avx512vnni_rows_rq
#include "qgemm_zmm.h"
#include "qgemm_vnni_body.h"

/* qgemm_requant_chain_avx2 on zmm, 16 lanes (the division dominates), the tail under a mask;
 * here because this unit is compiled for AVX-512: call only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI). */
void qgemm_requant_chain_avx512(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step,
                                int32_t zp, int out_signed, const struct qgemm_chain *ch, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m512 flo = _mm512_set1_ps((float)(lo - zp)), fhi = _mm512_set1_ps((float)(hi - zp));
    const __m512i vb = _mm512_set1_epi32(bias), vz = _mm512_set1_epi32(zp);
    const __m512i z1 = _mm512_set1_epi32(ch->z1), z2 = _mm512_set1_epi32(ch->z2);
    const __m512 s1 = _mm512_set1_ps(ch->s1), s2 = _mm512_set1_ps(ch->s2), zero = _mm512_setzero_ps();
    const __m512 clo = _mm512_set1_ps((ch->y_signed ? -128.0f : 0.0f) - (float)ch->z2);
    const __m512 chi = _mm512_set1_ps((ch->y_signed ? 127.0f : 255.0f) - (float)ch->z2);
    const int relu = ch->relu;
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 mk = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 m = mul_step ? _mm512_maskz_loadu_ps(mk, mul + j) : _mm512_set1_ps(mul[0]);
        __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mk, acc + j), vb);
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), m);
        f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi); /* max(NaN, lo) = lo */
        __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(f), vz); /* the requantised value */
        __m512 d = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(v, z1)), s1);
        if (relu)
            d = _mm512_max_ps(d, zero); /* d > 0 ? d : 0 */
        d = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(d, s2), clo), chi);
        __m512i r = _mm512_add_epi32(_mm512_cvtps_epi32(d), z2); /* in range: the narrowing cannot saturate */
        if (mk == 0xffff) /* a masked vpmovdb to memory is slow on some cores: narrow, then store */
            _mm_storeu_si128((__m128i *)(void *)(y + j), _mm512_cvtepi32_epi8(r));
        else
            _mm512_mask_cvtepi32_storeu_epi8(y + j, mk, r);
    }
}

/* qgemm_requant_chain with the DQ -> Q pair as a byte table: the requantised value v (in
 * [lo, hi], so its low byte is the table's index) narrowed to bytes, then vpermt2b looks
 * up the 128 entries of its low 7 bits in each half of lut8 and bit 7 picks the half. The
 * table holds the formula's result for every v, so this equals qgemm_requant_chain_ref;
 * ch NULL: qgemm_requant (no table). 64 outputs a step: four zmm of v - zp, clamped above
 * only (requant16_hi), narrowed by saturating packs with zp added in between (the saturation
 * is the lower clamp) and put back in order with one vpermd, then one lookup and one store;
 * the last n mod 64 by 16 under a mask, clamped both ways. VBMI by function attribute: the unit's other
 * kernels run on VNNI CPUs without it. Call only after qgemm_chain_lut_usable(). */
static inline __attribute__((always_inline)) __m512i requant16(const int32_t *acc, const float *mul, int mul_step,
                                                                __mmask16 mk, __m512i vb, __m512 m1, __m512 flo,
                                                                __m512 fhi, __m512i vz)
{
    __m512 m = mul_step ? _mm512_maskz_loadu_ps(mk, mul) : m1;
    __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mk, acc), vb);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), m);
    f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi); /* max(NaN, lo) = lo */
    return _mm512_add_epi32(_mm512_cvtps_epi32(f), vz);
}

/* requant16 for the 64-output steps, where saturating packs follow: only the upper clamp
 * (min(hi', NaN) is NaN), no zero point. Below lo - zp (NaN and -inf give INT_MIN) the packs
 * and the saturating int16 add of zp land on lo, as the clamp would; min(f, hi - zp) keeps
 * +inf and floats past INT_MAX (which cvtps turns into INT_MIN) at hi. */
static inline __attribute__((always_inline)) __m512i requant16_hi(const int32_t *acc, const float *mul, int mul_step,
                                                                   __m512i vb, __m512 m1, __m512 fhi)
{
    return rq_hi(_mm512_loadu_si512((const void *)acc), vb, mul_step ? _mm512_loadu_ps(mul) : m1, fhi);
}

__attribute__((target("avx512vbmi"))) void qgemm_requant_chain_avx512vbmi(const int32_t *acc, int64_t n,
                                                                         int32_t bias, const float *mul,
                                                                         int mul_step, int32_t zp, int out_signed,
                                                                         const struct qgemm_chain *ch, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m512 flo = _mm512_set1_ps((float)(lo - zp)), fhi = _mm512_set1_ps((float)(hi - zp));
    const __m512 m1 = _mm512_set1_ps(mul[0]);
    const __m512i vb = _mm512_set1_epi32(bias), vz = _mm512_set1_epi32(zp), vz16 = _mm512_set1_epi16((int16_t)zp);
    const uint8_t *lut = ch ? ch->lut8 : NULL;
    __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
    if (lut) {
        t0 = _mm512_load_si512((const void *)lut), t1 = _mm512_load_si512((const void *)(lut + 64));
        t2 = _mm512_load_si512((const void *)(lut + 128)), t3 = _mm512_load_si512((const void *)(lut + 192));
    }
    const __mmask16 all = 0xffff;
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
        const float *mj = mul_step ? mul + j : mul; /* read only when mul_step */
        __m512i v0 = requant16_hi(acc + j, mj, mul_step, vb, m1, fhi);
        __m512i v1 = requant16_hi(acc + j + 16, mj + 16 * mul_step, mul_step, vb, m1, fhi);
        __m512i v2 = requant16_hi(acc + j + 32, mj + 32 * mul_step, mul_step, vb, m1, fhi);
        __m512i v3 = requant16_hi(acc + j + 48, mj + 48 * mul_step, mul_step, vb, m1, fhi);
        __m512i b = rq_pack64(v0, v1, v2, v3, vz16, out_signed);
        if (lut)
            b = _mm512_mask_blend_epi8(_mm512_movepi8_mask(b), _mm512_permutex2var_epi8(t0, b, t1),
                                       _mm512_permutex2var_epi8(t2, b, t3));
        _mm512_storeu_si512((void *)(y + j), b);
    }
    for (; j < n; j += 16) {
        const __mmask16 mk = n - j >= 16 ? all : (__mmask16)((1u << (n - j)) - 1);
        __m512i v = requant16(acc + j, mul_step ? mul + j : mul, mul_step, mk, vb, m1, flo, fhi, vz);
        __m512i idx = _mm512_castsi128_si512(_mm512_cvtepi32_epi8(v)); /* v's byte, 16 of them */
        if (lut)
            idx = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), _mm512_permutex2var_epi8(t0, idx, t1),
                                         _mm512_permutex2var_epi8(t2, idx, t3));
        _mm_mask_storeu_epi8(y + j, mk, _mm512_castsi512_si128(idx));
    }
}

/* ---- the transposed GEMM (qgemm_u8_avx512vnni_rows_t): output pixels as the broadcast
 * side, 16 output channels per register ----
 * A' comes packed once per plan by qgemm_a_panels into panels of 16 rows: panel P, quad q:
 * 64 bytes, row 16P + r's A'[4q..4q+3] at 4r (rows past M and K's padding hold 0). A tile is
 * NR pixels (columns of B) x NH panels: per quad, NH panel loads and NR broadcasts of a
 * pixel's B' quad straight from qgemm_vnni_pack's panels (pixel j's quad q at byte
 * ((j / 16) * kq + q) * 64 + (j % 16) * 4), NR * NH vpdpbusd. The same exact int32 sums and
 * correction as QGEMM_ROWS, so the same C: only the tile shape differs, which fits small maps
 * (a 7x7 map's 49 pixels are 7 tiles of 7, where 16-column panels of the flat layout's 63
 * columns hold 49 of 64 lanes). */
void qgemm_a_panels(const struct qgemm_args *g, int64_t taps, uint8_t *dst)
{
    const int64_t K = g->K, kq = (K + 3) / 4, np = (g->M + 15) / 16, c4 = taps > 0 ? K / taps / 4 : 0;
    const uint8_t f = g->a_signed ? 0 : 0x80;
    memset(dst, 0, (size_t)(np * kq * 64));
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t k = 0; k < K; k++) { /* k = (4 c + e) taps + tap lands at quad tap c4 + c, byte e */
            const int64_t kd = taps > 0 ? (k % taps * c4 + k / taps / 4) * 4 + k / taps % 4 : k;
            dst[((i / 16) * kq + kd / 4) * 64 + (i % 16) * 4 + kd % 4] = (uint8_t)(g->a[i * K + k] ^ f);
        }
}

size_t qgemm_a_panels_bytes(int64_t M, int64_t K)
{
    return (size_t)(((M + 15) / 16) * ((K + 3) / 4) * 64);
}

/* acc[r][h] = the sum over the kq quads q of pixel r's B' quad (bp[r] + 64 q, or bp[r] +
 * off[q] with an offset table) . panel h's (ap + h * as + 64 q). NR / NH (and off's being
 * NULL) constants in each copy. */
static inline __attribute__((always_inline)) void ttile(const uint8_t *const *bp, const uint8_t *ap, int64_t as,
                                                        const int32_t *off, int64_t kq, int nr, int nh,
                                                        __m512i acc[8][3])
{
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m512i c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00;
    __m512i c50 = c00, c51 = c00, c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    const uint8_t *b0 = bp[0], *b1 = bp[1], *b2 = bp[2], *b3 = bp[3], *b4 = bp[4], *b5 = bp[5], *b6 = bp[6];
    const uint8_t *b7 = bp[7], *a0 = ap, *a1 = ap + as, *a2 = ap + 2 * as;
#define QT_ROW(r)                                                                                                    \
    do {                                                                                                             \
        if (nr > r) {                                                                                                \
            const __m512i bv = _mm512_set1_epi32(ld32(b##r + ob));                                                    \
            c##r##0 = _mm512_dpbusd_epi32(c##r##0, bv, w0);                                                          \
            if (nh > 1)                                                                                              \
                c##r##1 = _mm512_dpbusd_epi32(c##r##1, bv, w1);                                                      \
            if (nh > 2)                                                                                              \
                c##r##2 = _mm512_dpbusd_epi32(c##r##2, bv, w2);                                                      \
        }                                                                                                            \
    } while (0)
    for (int64_t q = 0; q < kq; q++) {
        const int64_t o = 64 * q, ob = off ? off[q] : o;
        const __m512i w0 = _mm512_loadu_si512((const void *)(a0 + o));
        const __m512i w1 = nh > 1 ? _mm512_loadu_si512((const void *)(a1 + o)) : w0;
        const __m512i w2 = nh > 2 ? _mm512_loadu_si512((const void *)(a2 + o)) : w0;
        QT_ROW(0);
        QT_ROW(1);
        QT_ROW(2);
        QT_ROW(3);
        QT_ROW(4);
        QT_ROW(5);
        QT_ROW(6);
        QT_ROW(7);
    }
#undef QT_ROW
    acc[0][0] = c00, acc[0][1] = c01, acc[0][2] = c02, acc[1][0] = c10, acc[1][1] = c11, acc[1][2] = c12;
    acc[2][0] = c20, acc[2][1] = c21, acc[2][2] = c22, acc[3][0] = c30, acc[3][1] = c31, acc[3][2] = c32;
    acc[4][0] = c40, acc[4][1] = c41, acc[4][2] = c42, acc[5][0] = c50, acc[5][1] = c51, acc[5][2] = c52;
    acc[6][0] = c60, acc[6][1] = c61, acc[6][2] = c62, acc[7][0] = c70, acc[7][1] = c71, acc[7][2] = c72;
}

/* v[r] (pixel r's 16 channels ch0..ch0+15) -> c[ch * N + t0 + r] for the first n pixels and
 * the channels in [lo, hi): two 4x4 transposes in each 128-bit lane (rows 0-3, 4-7), then
 * each channel's 4 + 4 pixels stored from its lane. */
static inline void store_t(int32_t *c, int64_t N, int64_t t0, int n, const __m512i *v, int64_t ch0, int64_t lo,
                           int64_t hi)
{
    __m512i t[2][4];
    for (int h = 0; h < 2; h++) {
        const __m512i *w = v + 4 * h;
        __m512i a0 = _mm512_unpacklo_epi32(w[0], w[1]), a1 = _mm512_unpackhi_epi32(w[0], w[1]);
        __m512i a2 = _mm512_unpacklo_epi32(w[2], w[3]), a3 = _mm512_unpackhi_epi32(w[2], w[3]);
        t[h][0] = _mm512_unpacklo_epi64(a0, a2), t[h][1] = _mm512_unpackhi_epi64(a0, a2); /* channels 4L, 4L+1 */
        t[h][2] = _mm512_unpacklo_epi64(a1, a3), t[h][3] = _mm512_unpackhi_epi64(a1, a3); /* 4L+2, 4L+3 */
    }
    const __mmask8 m0 = (__mmask8)(n >= 4 ? 0xf : (1u << n) - 1), m1 = (__mmask8)(n > 4 ? (1u << (n - 4)) - 1 : 0);
    int32_t *base = c + t0;
#define QT_LANE(L)                                                                                                   \
    for (int k = 0; k < 4; k++) {                                                                                    \
        const int64_t ch = ch0 + 4 * (L) + k;                                                                        \
        if (ch < lo || ch >= hi)                                                                                     \
            continue;                                                                                                \
        _mm_mask_storeu_epi32(base + ch * N, m0, _mm512_extracti32x4_epi32(t[0][k], L));                             \
        if (m1)                                                                                                      \
            _mm_mask_storeu_epi32(base + ch * N + 4, m1, _mm512_extracti32x4_epi32(t[1][k], L));                     \
    }
    QT_LANE(0)
    QT_LANE(1)
    QT_LANE(2)
    QT_LANE(3)
#undef QT_LANE
}

/* store_rq's transpose: byte 8 c + r of the 128 = pixel r's channel c, from z0 (pixels 0-3,
 * 16 bytes each) and z1 (pixels 4-7, indices from 64) */
static const _Alignas(64) uint8_t rq_tr[128] = {
    0, 16, 32, 48, 64, 80, 96, 112, 1, 17, 33, 49, 65, 81, 97, 113,
    2, 18, 34, 50, 66, 82, 98, 114, 3, 19, 35, 51, 67, 83, 99, 115,
    4, 20, 36, 52, 68, 84, 100, 116, 5, 21, 37, 53, 69, 85, 101, 117,
    6, 22, 38, 54, 70, 86, 102, 118, 7, 23, 39, 55, 71, 87, 103, 119,
    8, 24, 40, 56, 72, 88, 104, 120, 9, 25, 41, 57, 73, 89, 105, 121,
    10, 26, 42, 58, 74, 90, 106, 122, 11, 27, 43, 59, 75, 91, 107, 123,
    12, 28, 44, 60, 76, 92, 108, 124, 13, 29, 45, 61, 77, 93, 109, 125,
    14, 30, 46, 62, 78, 94, 110, 126, 15, 31, 47, 63, 79, 95, 111, 127,
};

/* store_t's requantising twin (qgemm_u8_avx512vbmi_rows_t_rq): v[r] (pixel r's 16 channels
 * ch0..ch0+15) requantised lane by lane with the channels' bias b and scale m, as requant16 of
 * qgemm_requant_chain_avx512vbmi (both clamps, then the zero point: the same bytes as
 * qgemm_requant_ref), narrowed to bytes, looked up in rq->lut8 when given, transposed by two
 * vpermt2b to 8 bytes a channel and stored at rq->y + (ch - rq->m0) * rq->ys + t0 for the first
 * n pixels of the channels in [lo, hi). VBMI by function attribute (the vpermt2b): only after
 * qgemm_chain_lut_usable(). */
__attribute__((target("avx512vbmi"), noinline)) static void store_rq(const struct qgemm_rq *rq, int64_t t0, int n,
                                                                    const __m512i *v, __m512i b, __m512 m,
                                                                    int64_t ch0, int64_t lo, int64_t hi)
{
    const int32_t zp = rq->zp, ylo = rq->out_signed ? -128 : 0, yhi = rq->out_signed ? 127 : 255;
    const __m512 flo = _mm512_set1_ps((float)(ylo - zp)), fhi = _mm512_set1_ps((float)(yhi - zp));
    const __m512i vz = _mm512_set1_epi32(zp);
    __m128i x[8];
    for (int r = 0; r < 8; r++) {
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(v[r], b)), m);
        f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi); /* max(NaN, lo) = lo */
        x[r] = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(f), vz)); /* in range: no saturation */
    }
    __m512i z0 = _mm512_castsi128_si512(x[0]), z1 = _mm512_castsi128_si512(x[4]);
    z0 = _mm512_inserti32x4(z0, x[1], 1), z1 = _mm512_inserti32x4(z1, x[5], 1);
    z0 = _mm512_inserti32x4(z0, x[2], 2), z1 = _mm512_inserti32x4(z1, x[6], 2);
    z0 = _mm512_inserti32x4(z0, x[3], 3), z1 = _mm512_inserti32x4(z1, x[7], 3);
    __m512i o[2] = {_mm512_permutex2var_epi8(z0, _mm512_load_si512((const void *)rq_tr), z1),
                    _mm512_permutex2var_epi8(z0, _mm512_load_si512((const void *)(rq_tr + 64)), z1)};
    if (rq->lut8) /* the DQ -> Q table */
        for (int k = 0; k < 2; k++)
            o[k] = rq_lut8(rq->lut8, o[k]);
    _Alignas(64) uint8_t out[128];
    _mm512_store_si512((void *)out, o[0]);
    _mm512_store_si512((void *)(out + 64), o[1]);
    const __mmask16 mk = (__mmask16)((1u << n) - 1);
    for (int c = 0; c < 16; c++) {
        const int64_t ch = ch0 + c;
        if (ch < lo || ch >= hi)
            continue;
        uint8_t *y = rq->y + (ch - rq->m0) * rq->ys + t0;
        if (n == 8)
            memcpy(y, out + 8 * c, 8);
        else
            _mm_mask_storeu_epi8(y, mk, _mm_loadl_epi64((const __m128i *)(const void *)(out + 8 * c)));
    }
}

/* One tile over all of K; nr, nh constants in each copy. */
#define QT_NH(NR, OFF)                                                                                               \
    do {                                                                                                             \
        if (nh == 3)                                                                                                 \
            ttile(bp, ap, as, OFF, kq, NR, 3, acc);                                                                  \
        else if (nh == 2)                                                                                            \
            ttile(bp, ap, as, OFF, kq, NR, 2, acc);                                                                  \
        else                                                                                                         \
            ttile(bp, ap, as, OFF, kq, NR, 1, acc);                                                                  \
    } while (0)

static void tile_any(const uint8_t *const *bp, const uint8_t *ap, int64_t as, const int32_t *off, int64_t kq, int nr,
                     int nh, __m512i acc[8][3])
{
#define QT_NR(NR)                                                                                                    \
    case NR:                                                                                                         \
        if (off)                                                                                                     \
            QT_NH(NR, off);                                                                                          \
        else                                                                                                         \
            QT_NH(NR, NULL);                                                                                         \
        break;
    switch (nr) {
        QT_NR(4)
        QT_NR(5)
        QT_NR(6)
        QT_NR(7)
    default:
        if (off)
            QT_NH(8, off);
        else
            QT_NH(8, NULL);
    }
#undef QT_NR
}

/* qgemm_u8_avx512vnni_rows_t (planes NULL: B' from the pack) and _rows_c4 (B' quads in
 * planes at off[q] from a pixel's 4 * (t / ow * pw + t % ow); zb' given, every za' 0). */
static void rows_t(const struct qgemm_args *g, const uint8_t *apan, int64_t m0, int64_t m1, int64_t rows,
                   int64_t ow, int64_t pw, const uint8_t *planes, const int32_t *off, int32_t zbp,
                   const struct qgemm_rq *rq)
{
    const int64_t K = g->K, N = g->N, kq = (K + 3) / 4, np = (N + 15) / 16, T = rows * ow, as = kq * 64;
    const uint8_t *pk = (const uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    const int32_t *zbv = planes ? &zbp : (const int32_t *)(const void *)(pk + np * 16 * kq * 4);
    const int32_t *cs = planes ? NULL : zbv + np * 16;
    const int64_t P0 = m0 / 16, P1 = (m1 + 15) / 16, tiles = (T + 7) / 8;
    const int nrt = tiles ? (int)((T + tiles - 1) / tiles) : 8; /* pixels of a tile: T spread evenly */
    const int nr = nrt < 4 ? 4 : nrt;
    const int zb1 = planes || !g->zb || g->zb_len <= 1;
    for (int64_t P = P0; P < P1;) {
        const int64_t left = P1 - P;
        const int nh = left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1; /* 4 = 2 + 2 */
        const uint8_t *ap = apan + P * as;
        __m512i rs[3], za[3], zbrs[3], rqb[3];
        __m512 rqm[3];
        int za0 = 1;
        for (int h = 0; h < nh; h++) {
            int32_t r[16] = {0}, z[16] = {0}, b[16] = {0};
            float mu[16] = {0};
            for (int l = 0; l < 16; l++) {
                const int64_t i = (P + h) * 16 + l;
                if (i < g->M)
                    z[l] = g->a_terms[2 * i], r[l] = g->a_terms[2 * i + 1];
                if (rq && i >= m0 && i < m1) /* the channel's requantisation, lane by lane */
                    b[l] = rq->bias[i - rq->m0], mu[l] = rq->mul[i - rq->m0];
                za0 &= z[l] == 0;
            }
            rs[h] = _mm512_loadu_si512((const void *)r), za[h] = _mm512_loadu_si512((const void *)z);
            zbrs[h] = _mm512_mullo_epi32(_mm512_set1_epi32(zbv[0]), rs[h]);
            rqb[h] = _mm512_loadu_si512((const void *)b), rqm[h] = _mm512_loadu_ps(mu);
        }
        for (int64_t t0 = 0; t0 < T; t0 += nrt) {
            const int n = T - t0 < nrt ? (int)(T - t0) : nrt;
            const uint8_t *bp[8];
            int64_t jc[8];
            for (int r = 0; r < 8; r++) { /* pixels past the real ones repeat the first, not stored */
                const int64_t t = t0 + (r < n ? r : 0), j = t / ow * pw + t % ow;
                jc[r] = j;
                bp[r] = planes ? planes + 4 * j : pk + (j / 16) * as + (j % 16) * 4;
            }
            __m512i acc[8][3];
            tile_any(bp, ap, as, off, kq, nr, nh, acc);
            for (int h = 0; h < nh; h++) {
                __m512i v[8];
                for (int r = 0; r < 8; r++) {
                    const int64_t j = jc[r];
                    __m512i x = zb1 ? _mm512_sub_epi32(acc[r][h], zbrs[h])
                                    : _mm512_sub_epi32(acc[r][h], _mm512_mullo_epi32(_mm512_set1_epi32(zbv[j]), rs[h]));
                    if (!za0 && cs)
                        x = _mm512_sub_epi32(x, _mm512_mullo_epi32(za[h], _mm512_set1_epi32(cs[j])));
                    v[r] = x;
                }
                if (rq)
                    store_rq(rq, t0, n, v, rqb[h], rqm[h], (P + h) * 16, m0, m1);
                else
                    store_t(g->c, N, t0, n, v, (P + h) * 16, m0, m1);
            }
        }
        P += nh;
    }
}

void qgemm_u8_avx512vnni_rows_t(const struct qgemm_args *g, const uint8_t *apan, int64_t m0, int64_t m1,
                                int64_t rows, int64_t ow, int64_t pw)
{
    rows_t(g, apan, m0, m1, rows, ow, pw, NULL, NULL, 0, NULL);
}

void qgemm_u8_avx512vnni_rows_c4(const struct qgemm_args *g, const uint8_t *apan, const uint8_t *planes,
                                 const int32_t *off, int32_t zb, int64_t m0, int64_t m1, int64_t rows, int64_t ow,
                                 int64_t pw)
{
    rows_t(g, apan, m0, m1, rows, ow, pw, planes, off, zb, NULL);
}

void qgemm_u8_avx512vbmi_rows_t_rq(const struct qgemm_args *g, const uint8_t *apan, const uint8_t *planes,
                                   const int32_t *off, int32_t zb, int64_t m0, int64_t m1, int64_t rows, int64_t ow,
                                   int64_t pw, const struct qgemm_rq *rq)
{
    rows_t(g, apan, m0, m1, rows, ow, pw, planes, off, zb, rq);
}
