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
 * table holds the formula's result for every v, so this equals qgemm_requant_chain_ref.
 * VBMI by function attribute: the unit's other kernels run on VNNI CPUs without it. Call
 * only after qgemm_chain_lut_usable(). */
__attribute__((target("avx512vbmi"))) void qgemm_requant_chain_avx512vbmi(const int32_t *acc, int64_t n,
                                                                         int32_t bias, const float *mul,
                                                                         int mul_step, int32_t zp, int out_signed,
                                                                         const struct qgemm_chain *ch, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m512 flo = _mm512_set1_ps((float)(lo - zp)), fhi = _mm512_set1_ps((float)(hi - zp));
    const __m512i vb = _mm512_set1_epi32(bias), vz = _mm512_set1_epi32(zp);
    const __m512i t0 = _mm512_load_si512((const void *)ch->lut8), t1 = _mm512_load_si512((const void *)(ch->lut8 + 64));
    const __m512i t2 = _mm512_load_si512((const void *)(ch->lut8 + 128));
    const __m512i t3 = _mm512_load_si512((const void *)(ch->lut8 + 192));
    for (int64_t j = 0; j < n; j += 16) {
        const __mmask16 mk = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 m = mul_step ? _mm512_maskz_loadu_ps(mk, mul + j) : _mm512_set1_ps(mul[0]);
        __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(mk, acc + j), vb);
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), m);
        f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi); /* max(NaN, lo) = lo */
        __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(f), vz);
        __m512i idx = _mm512_castsi128_si512(_mm512_cvtepi32_epi8(v)); /* v's byte, 16 of them */
        __m512i r0 = _mm512_permutex2var_epi8(t0, idx, t1), r1 = _mm512_permutex2var_epi8(t2, idx, t3);
        __m128i r = _mm512_castsi512_si128(_mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), r0, r1));
        if (mk == 0xffff)
            _mm_storeu_si128((__m128i *)(void *)(y + j), r);
        else
            _mm_mask_storeu_epi8(y + j, mk, r);
    }
}
