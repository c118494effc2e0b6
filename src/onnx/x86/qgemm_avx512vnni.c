/* qgemm_avx512vnni.c — AVX-512 VNNI int8 GEMM (see ops/qgemm.h): B' packed by
 * qgemm_vnni_pack(g, 16) into 16-column panels of K quads; each tile is 4 rows of A x 2
 * panels (32 columns), one vpdpbusd per row and panel per quad (64 exact u8 x s8 products
 * summed into 16 int32 lanes, no saturation), then the zero-point correction
 *   C = acc - zb'[j] * rsA[i] - za'[i] * (csB[j] - K * zb'[j])
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; call only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI).
 *
 *   C (4 rows, 32) += A' (4 rows, 4 k) . panel[p..p+1][q]   per quad q
 */
#include <immintrin.h>
#include <string.h>

#include "onnx/ops/qgemm.h"

/* A'[i, 4q..4q+3] as one int32 (u8 lanes): A, or A ^ 0x80 for int8 A; the last quad of a
 * row whose K is not a multiple of 4 is padded with zeros (B' is zero there anyway). */
static inline int32_t a_quad(const uint8_t *row, int64_t q, int64_t K, uint32_t flip)
{
    uint32_t v = 0;
    if (4 * q + 4 <= K)
        memcpy(&v, row + 4 * q, 4);
    else
        memcpy(&v, row + 4 * q, (size_t)(K - 4 * q));
    return (int32_t)(v ^ flip);
}

/* za' and rsA of row i (wrapping int32) */
static void row_terms(const struct qgemm_args *g, int64_t i, int32_t *za, int32_t *rs)
{
    const uint8_t *row = g->a + i * g->K;
    int32_t z = 0;
    if (g->za)
        z = g->a_signed ? (int8_t)((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i]
                        : ((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i];
    uint32_t s = 0;
    const uint8_t flip = g->a_signed ? 0x80 : 0;
    for (int64_t k = 0; k < g->K; k++)
        s += (uint8_t)(row[k] ^ flip);
    *za = z + (g->a_signed ? 128 : 0);
    *rs = (int32_t)s;
}

void qgemm_u8_avx512vnni_rows(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    const int64_t N = g->N, K = g->K, kq = (K + 3) / 4, np = (N + 15) / 16;
    const uint8_t *pk = (const uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    const int32_t *zbv = (const int32_t *)(const void *)(pk + np * 16 * kq * 4), *cs = zbv + np * 16;
    const uint32_t flip = g->a_signed ? 0x80808080u : 0;
    const int64_t kfull = K / 4; /* quads read straight from A; the last partial one via a_quad */
    for (int64_t i0 = m0; i0 < m1; i0 += 4) {
        int rows = m1 - i0 < 4 ? (int)(m1 - i0) : 4;
        const uint8_t *ar[4];
        __m512i za[4], rs[4];
        for (int r = 0; r < 4; r++) {
            int64_t i = i0 + (r < rows ? r : 0); /* missing rows repeat row 0 and are not stored */
            int32_t z, s;
            ar[r] = g->a + i * K;
            row_terms(g, i, &z, &s);
            za[r] = _mm512_set1_epi32(z);
            rs[r] = _mm512_set1_epi32(s);
        }
        int32_t tail[4] = {0};
        if (kfull < kq)
            for (int r = 0; r < 4; r++)
                tail[r] = a_quad(ar[r], kfull, K, flip);
        const __m512i vflip = _mm512_set1_epi32((int32_t)flip);
        for (int64_t p = 0; p < np; p += 2) {
            const int two = p + 1 < np;
            const __m512i *b0 = (const __m512i *)(const void *)(pk + p * kq * 64);
            const __m512i *b1 = two ? b0 + kq : b0; /* a lone last panel computes itself twice */
            __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00;
            __m512i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            int64_t q = 0;
            for (; q < kfull; q++) {
                __m512i x0 = _mm512_load_si512(b0 + q), x1 = _mm512_load_si512(b1 + q);
                int32_t v0, v1, v2, v3;
                memcpy(&v0, ar[0] + 4 * q, 4), memcpy(&v1, ar[1] + 4 * q, 4);
                memcpy(&v2, ar[2] + 4 * q, 4), memcpy(&v3, ar[3] + 4 * q, 4);
                __m512i a0 = _mm512_xor_si512(_mm512_set1_epi32(v0), vflip);
                __m512i a1 = _mm512_xor_si512(_mm512_set1_epi32(v1), vflip);
                __m512i a2 = _mm512_xor_si512(_mm512_set1_epi32(v2), vflip);
                __m512i a3 = _mm512_xor_si512(_mm512_set1_epi32(v3), vflip);
                c00 = _mm512_dpbusd_epi32(c00, a0, x0), c01 = _mm512_dpbusd_epi32(c01, a0, x1);
                c10 = _mm512_dpbusd_epi32(c10, a1, x0), c11 = _mm512_dpbusd_epi32(c11, a1, x1);
                c20 = _mm512_dpbusd_epi32(c20, a2, x0), c21 = _mm512_dpbusd_epi32(c21, a2, x1);
                c30 = _mm512_dpbusd_epi32(c30, a3, x0), c31 = _mm512_dpbusd_epi32(c31, a3, x1);
            }
            if (q < kq) {
                __m512i x0 = _mm512_load_si512(b0 + q), x1 = _mm512_load_si512(b1 + q);
                __m512i a0 = _mm512_set1_epi32(tail[0]), a1 = _mm512_set1_epi32(tail[1]);
                __m512i a2 = _mm512_set1_epi32(tail[2]), a3 = _mm512_set1_epi32(tail[3]);
                c00 = _mm512_dpbusd_epi32(c00, a0, x0), c01 = _mm512_dpbusd_epi32(c01, a0, x1);
                c10 = _mm512_dpbusd_epi32(c10, a1, x0), c11 = _mm512_dpbusd_epi32(c11, a1, x1);
                c20 = _mm512_dpbusd_epi32(c20, a2, x0), c21 = _mm512_dpbusd_epi32(c21, a2, x1);
                c30 = _mm512_dpbusd_epi32(c30, a3, x0), c31 = _mm512_dpbusd_epi32(c31, a3, x1);
            }
            __m512i acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
            for (int h = 0; h < 1 + two; h++) {
                int64_t j0 = (p + h) * 16, cols = N - j0 < 16 ? N - j0 : 16;
                __mmask16 mk = (__mmask16)(cols == 16 ? 0xffff : (1u << cols) - 1);
                __m512i zb = _mm512_load_si512(zbv + j0), cv = _mm512_load_si512(cs + j0);
                for (int r = 0; r < rows; r++) {
                    __m512i v = _mm512_sub_epi32(acc[r][h], _mm512_mullo_epi32(zb, rs[r]));
                    v = _mm512_sub_epi32(v, _mm512_mullo_epi32(za[r], cv));
                    _mm512_mask_storeu_epi32(g->c + (i0 + r) * N + j0, mk, v);
                }
            }
        }
    }
}
