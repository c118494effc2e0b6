/* qgemm_avx512vnni.c — AVX-512 VNNI int8 GEMM (see ops/qgemm.h): the body in
 * qgemm_vnni_body.h on zmm, 16 columns a panel, tiles of 8 rows x 32 columns.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; call only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI).
 */
#include <immintrin.h>

#define QV __m512i
#define QW 16
#define QR 8
#define QGEMM_ROWS qgemm_u8_avx512vnni_rows
#define QV_SET1(x) _mm512_set1_epi32(x)
#define QV_ZERO() _mm512_setzero_si512()
#define QV_LOAD(p) _mm512_load_si512((const void *)(p))
#define QV_XOR(a, b) _mm512_xor_si512(a, b)
#define QV_SUB(a, b) _mm512_sub_epi32(a, b)
#define QV_MUL(a, b) _mm512_mullo_epi32(a, b)
#define QV_DP(c, a, b) _mm512_dpbusd_epi32(c, a, b) /* a: u8 lanes, b: s8 */
#define QV_MASK_T __mmask16
#define QV_MASK(cols) ((__mmask16)((cols) == 16 ? 0xffffu : (1u << (cols)) - 1))
#define QV_STORE(dst, mk, v) _mm512_mask_storeu_epi32(dst, mk, v)
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
 * ch NULL: qgemm_requant (no table). 64 outputs a step: four zmm of v narrowed by saturating
 * packs (exact: v is in range) and put back in order with one vpermd, then one lookup and one
 * store; the last n mod 64 by 16 under a mask. VBMI by function attribute: the unit's other
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

__attribute__((target("avx512vbmi"))) void qgemm_requant_chain_avx512vbmi(const int32_t *acc, int64_t n,
                                                                         int32_t bias, const float *mul,
                                                                         int mul_step, int32_t zp, int out_signed,
                                                                         const struct qgemm_chain *ch, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m512 flo = _mm512_set1_ps((float)(lo - zp)), fhi = _mm512_set1_ps((float)(hi - zp));
    const __m512 m1 = _mm512_set1_ps(mul[0]);
    const __m512i vb = _mm512_set1_epi32(bias), vz = _mm512_set1_epi32(zp);
    const uint8_t *lut = ch ? ch->lut8 : NULL;
    __m512i t0 = _mm512_setzero_si512(), t1 = t0, t2 = t0, t3 = t0;
    if (lut) {
        t0 = _mm512_load_si512((const void *)lut), t1 = _mm512_load_si512((const void *)(lut + 64));
        t2 = _mm512_load_si512((const void *)(lut + 128)), t3 = _mm512_load_si512((const void *)(lut + 192));
    }
    /* after the packs, 128-bit lane L holds dwords v0[L], v1[L], v2[L], v3[L] (4 bytes each) */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __mmask16 all = 0xffff;
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
        const float *mj = mul_step ? mul + j : mul; /* read only when mul_step */
        __m512i v0 = requant16(acc + j, mj, mul_step, all, vb, m1, flo, fhi, vz);
        __m512i v1 = requant16(acc + j + 16, mj + 16 * mul_step, mul_step, all, vb, m1, flo, fhi, vz);
        __m512i v2 = requant16(acc + j + 32, mj + 32 * mul_step, mul_step, all, vb, m1, flo, fhi, vz);
        __m512i v3 = requant16(acc + j + 48, mj + 48 * mul_step, mul_step, all, vb, m1, flo, fhi, vz);
        __m512i p01 = _mm512_packs_epi32(v0, v1), p23 = _mm512_packs_epi32(v2, v3);
        __m512i b = out_signed ? _mm512_packs_epi16(p01, p23) : _mm512_packus_epi16(p01, p23);
        b = _mm512_permutexvar_epi32(order, b);
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
