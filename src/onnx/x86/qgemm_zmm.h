/* qgemm_zmm.h — the zmm definitions of qgemm_vnni_body.h (16 columns a panel, tiles of 8
 * rows) and the requantising epilogue's steps, shared by qgemm_avx512vnni.c and
 * qgemm_avx512vbmi.c (the same epilogue with the DQ -> Q table looked up in registers:
 * QG_RQ_LUT). Included by each after it names QGEMM_ROWS (if any) and QGEMM_ROWS_RQ. */
#ifndef INFERD_ONNX_X86_QGEMM_ZMM_H
#define INFERD_ONNX_X86_QGEMM_ZMM_H

#include <immintrin.h>
#include <stdint.h>

#include "onnx/ops/qgemm.h"

#define QV __m512i
#define QW 16
#define QR 8
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

/* The requantisation's steps on registers, shared by qgemm_requant_chain_avx512vbmi and the
 * GEMM's epilogue (qgemm_u8_avx512vnni_rows_rq), so that both give the same bytes:
 * rq_hi: acc + bias to float, times mul, clamped above only (see requant16_hi);
 * rq_pack64: four such vectors narrowed by saturating packs (zp added in between: the
 * saturation is the lower clamp) into 64 bytes, v0's 16 first, in order. */
static inline __attribute__((always_inline)) __m512i rq_hi(__m512i acc, __m512i vb, __m512 m, __m512 fhi)
{
    return _mm512_cvtps_epi32(_mm512_min_ps(fhi, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, vb)), m)));
}

static inline __attribute__((always_inline)) __m512i rq_pack64(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                                              __m512i vz16, int out_signed)
{
    /* after the packs, 128-bit lane L holds dwords v0[L], v1[L], v2[L], v3[L] (4 bytes each) */
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    __m512i p01 = _mm512_adds_epi16(_mm512_packs_epi32(v0, v1), vz16);
    __m512i p23 = _mm512_adds_epi16(_mm512_packs_epi32(v2, v3), vz16);
    __m512i b = out_signed ? _mm512_packs_epi16(p01, p23) : _mm512_packus_epi16(p01, p23);
    return _mm512_permutexvar_epi32(order, b);
}

/* b's 64 bytes looked up in the 256-byte DQ -> Q table t (rq->lut8), as
 * qgemm_requant_chain_avx512vbmi does: two vpermt2b (VBMI: call only where
 * qgemm_chain_lut_usable()) and the top bit of each byte picking the half */
static inline __attribute__((always_inline, target("avx512vbmi"))) __m512i rq_lut8(const uint8_t *t, __m512i b)
{
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(b),
                                  _mm512_permutex2var_epi8(_mm512_load_si512((const void *)t), b,
                                                           _mm512_load_si512((const void *)(t + 64))),
                                  _mm512_permutex2var_epi8(_mm512_load_si512((const void *)(t + 128)), b,
                                                           _mm512_load_si512((const void *)(t + 192))));
}

/* QG_RQ_STORE: rows i (v0, v1) and i1 (v2, v3; i1 == i: not stored twice) of C, columns j0 ..
 * j0 + cols - 1 (cols <= 32), requantised and stored in y */
static inline __attribute__((always_inline)) void rq_store2(const struct qgemm_rq *rq, int64_t i, int64_t i1, __m512i v0,
                                                           __m512i v1, __m512i v2, __m512i v3, int64_t j0, int64_t cols)
{
    const int32_t zp = rq->zp, hi = rq->out_signed ? 127 : 255;
    const __m512 fhi = _mm512_set1_ps((float)(hi - zp));
    const __m512 m0 = _mm512_set1_ps(rq->mul[i - rq->m0]), m1 = _mm512_set1_ps(rq->mul[i1 - rq->m0]);
    const __m512i b0 = _mm512_set1_epi32(rq->bias[i - rq->m0]), b1 = _mm512_set1_epi32(rq->bias[i1 - rq->m0]);
    __m512i b = rq_pack64(rq_hi(v0, b0, m0, fhi), rq_hi(v1, b0, m0, fhi), rq_hi(v2, b1, m1, fhi),
                          rq_hi(v3, b1, m1, fhi), _mm512_set1_epi16((int16_t)zp), rq->out_signed);
#ifdef QG_RQ_LUT
    if (rq->lut8)
        b = rq_lut8(rq->lut8, b);
#endif
    const __mmask32 mk = cols >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << cols) - 1);
    uint8_t *y = rq->y + (i - rq->m0) * rq->ys + j0;
    _mm256_mask_storeu_epi8(y, mk, _mm512_castsi512_si256(b));
    if (i1 != i)
        _mm256_mask_storeu_epi8(y + (i1 - i) * rq->ys, mk, _mm512_extracti64x4_epi64(b, 1));
}
#define QG_RQ_STORE(rq, i, i1, v0, v1, v2, v3, j0, cols) rq_store2(rq, i, i1, v0, v1, v2, v3, j0, cols)

#endif
