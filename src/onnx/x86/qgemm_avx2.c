/* qgemm_avx2.c — AVX2 int8 GEMM (see ops/qgemm.h): B - zb packed once per call into int16
 * pairs along K, 8 columns per panel; 4 rows of A x 8 columns per tile, each step one
 * vpmaddwd per row adding two exact products into each int32 lane. Compiled with -mavx2;
 * call only after cpu_has(CPU_AVX2).
 *
 *   panel p, pair q: 16 int16 = (B[2q][8p+0], B[2q+1][8p+0], ..., B[2q][8p+7], B[2q+1][8p+7])
 *   C[i, 8p..8p+7] += madd(panel[p][q], broadcast32(A[i][2q] | A[i][2q+1] << 16))
 */
#include <immintrin.h>
#include <string.h>

#include "onnx/ops/qgemm.h"

#define QG_KC 256 /* pairs of K per chunk: 4 rows of A pairs stay on the stack */

static inline int32_t byte_at(const uint8_t *p, int64_t i, int is_signed)
{
    return is_signed ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

static inline int32_t zp_at(const void *z, int64_t len, int64_t i, int is_signed)
{
    if (!z)
        return 0;
    return byte_at(z, len == 1 ? 0 : i, is_signed);
}

static void pack_b(const struct qgemm_args *g, int16_t *pk, int64_t kp)
{
    int64_t N = g->N, K = g->K;
    for (int64_t p = 0; p < (N + 7) / 8; p++) {
        int16_t *dst = pk + p * kp * 16;
        for (int64_t jj = 0; jj < 8; jj++) {
            int64_t j = p * 8 + jj;
            int32_t zb = j < N ? zp_at(g->zb, g->zb_len, j, g->b_signed) : 0;
            for (int64_t q = 0; q < kp; q++) {
                int64_t k0 = 2 * q, k1 = 2 * q + 1;
                dst[q * 16 + 2 * jj] = (int16_t)(j < N ? byte_at(g->b, k0 * N + j, g->b_signed) - zb : 0);
                dst[q * 16 + 2 * jj + 1] =
                    (int16_t)(j < N && k1 < K ? byte_at(g->b, k1 * N + j, g->b_signed) - zb : 0);
            }
        }
    }
}

void qgemm_u8_avx2_pack(const struct qgemm_args *g)
{
    pack_b(g, (int16_t *)(((uintptr_t)g->pack + 31) & ~(uintptr_t)31), (g->K + 1) / 2);
}

void qgemm_u8_avx2_rows(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    const int64_t N = g->N, K = g->K, kp = (K + 1) / 2, np = (N + 7) / 8;
    const int16_t *pk = (const int16_t *)(((uintptr_t)g->pack + 31) & ~(uintptr_t)31);
    int32_t ap[4][QG_KC];
    for (int64_t i0 = m0; i0 < m1; i0 += 4) {
        int rows = m1 - i0 < 4 ? (int)(m1 - i0) : 4;
        for (int64_t q0 = 0; q0 < kp; q0 += QG_KC) {
            int64_t nq = kp - q0 < QG_KC ? kp - q0 : QG_KC;
            for (int r = 0; r < rows; r++) { /* this chunk's A pairs, zero point removed */
                const int64_t i = i0 + r;
                int32_t za = zp_at(g->za, g->za_len, i, g->a_signed);
                for (int64_t q = 0; q < nq; q++) {
                    int64_t k0 = 2 * (q0 + q), k1 = k0 + 1;
                    int32_t a0 = byte_at(g->a, i * K + k0, g->a_signed) - za;
                    int32_t a1 = k1 < K ? byte_at(g->a, i * K + k1, g->a_signed) - za : 0;
                    ap[r][q] = (int32_t)(((uint32_t)(uint16_t)(int16_t)a1 << 16) | (uint16_t)(int16_t)a0);
                }
            }
            for (int64_t p = 0; p < np; p++) {
                int64_t cols = N - p * 8 < 8 ? N - p * 8 : 8;
                __m256i acc[4];
                for (int r = 0; r < 4; r++) {
                    int32_t tmp[8] = {0};
                    if (r < rows && q0 > 0) /* later chunks add to what the earlier ones stored */
                        memcpy(tmp, g->c + (i0 + r) * N + p * 8, (size_t)cols * sizeof *tmp);
                    acc[r] = _mm256_loadu_si256((const __m256i *)tmp);
                }
                const int16_t *bp = pk + (p * kp + q0) * 16;
                if (rows == 4) {
                    for (int64_t q = 0; q < nq; q++) {
                        __m256i b = _mm256_load_si256((const __m256i *)(bp + q * 16));
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[0][q])));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[1][q])));
                        acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[2][q])));
                        acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[3][q])));
                    }
                } else {
                    for (int64_t q = 0; q < nq; q++) {
                        __m256i b = _mm256_load_si256((const __m256i *)(bp + q * 16));
                        for (int r = 0; r < rows; r++)
                            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[r][q])));
                    }
                }
                for (int r = 0; r < rows; r++) {
                    int32_t tmp[8];
                    _mm256_storeu_si256((__m256i *)tmp, acc[r]);
                    memcpy(g->c + (i0 + r) * N + p * 8, tmp, (size_t)cols * sizeof *tmp);
                }
            }
        }
    }
}

void qgemm_u8_avx2(const struct qgemm_args *g)
{
    qgemm_u8_avx2_pack(g);
    qgemm_u8_avx2_rows(g, 0, g->M);
}
