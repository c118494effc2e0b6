/* qgemm_avxvnni.c — AVX-VNNI int8 GEMM (see ops/qgemm.h), the ymm twin of
 * qgemm_avx512vnni.c for CPUs with VEX vpdpbusd but no AVX-512 (Alder Lake class): B'
 * packed by qgemm_vnni_pack(g, 8) into 8-column panels of K quads; each tile is 4 rows of
 * A x 2 panels (16 columns), one vpdpbusd per row and panel per quad, then
 *   C = acc - zb'[j] * rsA[i] - za'[i] * (csB[j] - K * zb'[j])
 * Compiled with -mavx2 -mavxvnni; call only after qgemm_isa_usable(QGEMM_AVXVNNI).
 *
 *   C (4 rows, 16) += A' (4 rows, 4 k) . panel[p..p+1][q]   per quad q
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

void qgemm_u8_avxvnni_rows(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    const int64_t N = g->N, K = g->K, kq = (K + 3) / 4, np = (N + 7) / 8;
    const uint8_t *pk = (const uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    const int32_t *zbv = (const int32_t *)(const void *)(pk + np * 8 * kq * 4), *cs = zbv + np * 8;
    const uint32_t flip = g->a_signed ? 0x80808080u : 0;
    const int64_t kfull = K / 4; /* quads read straight from A; the last partial one via a_quad */
    for (int64_t i0 = m0; i0 < m1; i0 += 4) {
        int rows = m1 - i0 < 4 ? (int)(m1 - i0) : 4;
        const uint8_t *ar[4];
        __m256i za[4], rs[4];
        for (int r = 0; r < 4; r++) {
            int64_t i = i0 + (r < rows ? r : 0); /* missing rows repeat row 0 and are not stored */
            int32_t z, s;
            ar[r] = g->a + i * K;
            row_terms(g, i, &z, &s);
            za[r] = _mm256_set1_epi32(z);
            rs[r] = _mm256_set1_epi32(s);
        }
        int32_t tail[4] = {0};
        if (kfull < kq)
            for (int r = 0; r < 4; r++)
                tail[r] = a_quad(ar[r], kfull, K, flip);
        const __m256i vflip = _mm256_set1_epi32((int32_t)flip);
        for (int64_t p = 0; p < np; p += 2) {
            const int two = p + 1 < np;
            const __m256i *b0 = (const __m256i *)(const void *)(pk + p * kq * 32);
            const __m256i *b1 = two ? b0 + kq : b0; /* a lone last panel computes itself twice */
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
            __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            int64_t q = 0;
            for (; q < kfull; q++) {
                __m256i x0 = _mm256_load_si256(b0 + q), x1 = _mm256_load_si256(b1 + q);
                int32_t v0, v1, v2, v3;
                memcpy(&v0, ar[0] + 4 * q, 4), memcpy(&v1, ar[1] + 4 * q, 4);
                memcpy(&v2, ar[2] + 4 * q, 4), memcpy(&v3, ar[3] + 4 * q, 4);
                __m256i a0 = _mm256_xor_si256(_mm256_set1_epi32(v0), vflip);
                __m256i a1 = _mm256_xor_si256(_mm256_set1_epi32(v1), vflip);
                __m256i a2 = _mm256_xor_si256(_mm256_set1_epi32(v2), vflip);
                __m256i a3 = _mm256_xor_si256(_mm256_set1_epi32(v3), vflip);
                c00 = _mm256_dpbusd_avx_epi32(c00, a0, x0), c01 = _mm256_dpbusd_avx_epi32(c01, a0, x1);
                c10 = _mm256_dpbusd_avx_epi32(c10, a1, x0), c11 = _mm256_dpbusd_avx_epi32(c11, a1, x1);
                c20 = _mm256_dpbusd_avx_epi32(c20, a2, x0), c21 = _mm256_dpbusd_avx_epi32(c21, a2, x1);
                c30 = _mm256_dpbusd_avx_epi32(c30, a3, x0), c31 = _mm256_dpbusd_avx_epi32(c31, a3, x1);
            }
            if (q < kq) {
                __m256i x0 = _mm256_load_si256(b0 + q), x1 = _mm256_load_si256(b1 + q);
                __m256i a0 = _mm256_set1_epi32(tail[0]), a1 = _mm256_set1_epi32(tail[1]);
                __m256i a2 = _mm256_set1_epi32(tail[2]), a3 = _mm256_set1_epi32(tail[3]);
                c00 = _mm256_dpbusd_avx_epi32(c00, a0, x0), c01 = _mm256_dpbusd_avx_epi32(c01, a0, x1);
                c10 = _mm256_dpbusd_avx_epi32(c10, a1, x0), c11 = _mm256_dpbusd_avx_epi32(c11, a1, x1);
                c20 = _mm256_dpbusd_avx_epi32(c20, a2, x0), c21 = _mm256_dpbusd_avx_epi32(c21, a2, x1);
                c30 = _mm256_dpbusd_avx_epi32(c30, a3, x0), c31 = _mm256_dpbusd_avx_epi32(c31, a3, x1);
            }
            __m256i acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
            for (int h = 0; h < 1 + two; h++) {
                int64_t j0 = (p + h) * 8, cols = N - j0 < 8 ? N - j0 : 8;
                __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)cols),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                __m256i zb = _mm256_load_si256((const __m256i *)(const void *)(zbv + j0));
                __m256i cv = _mm256_load_si256((const __m256i *)(const void *)(cs + j0));
                for (int r = 0; r < rows; r++) {
                    __m256i v = _mm256_sub_epi32(acc[r][h], _mm256_mullo_epi32(zb, rs[r]));
                    v = _mm256_sub_epi32(v, _mm256_mullo_epi32(za[r], cv));
                    _mm256_maskstore_epi32((int *)(g->c + (i0 + r) * N + j0), mk, v);
                }
            }
        }
    }
}
