/* gemm_nn_avx2.c — AVX2+FMA small GEMM with both operands in place (see gemm_nt.h):
 *   C[i .. i+4, j .. j+16) = A[i .. i+4, :] @ B[:, j .. j+16)
 * eight ymm accumulators; each step of K loads two B vectors (masked past N) and broadcasts
 * four A values. Rows past M repeat the last row's pointer and are not stored. Compiled
 * with -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>

#include "onnx/gemm_nt.h"

static __m256i cols(int64_t left)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left > 8 ? 8 : left < 0 ? 0 : (int)left), lanes);
}

void ox_gemm_nn_avx2(const struct ox_gemm_nn *g)
{
    for (int64_t j = 0; j < g->n; j += 16) {
        const __m256i m0 = cols(g->n - j), m1 = cols(g->n - j - 8);
        for (int64_t i = 0; i < g->m; i += 4) {
            int mr = g->m - i < 4 ? (int)(g->m - i) : 4;
            const float *a0 = g->a + i * g->lda, *a1 = a0 + (mr > 1 ? g->lda : 0);
            const float *a2 = a0 + (mr > 2 ? 2 * g->lda : 0), *a3 = a0 + (mr > 3 ? 3 * g->lda : 0);
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                   c31 = c00;
            const float *b = g->b + j;
            for (int64_t p = 0; p < g->k; p++, b += g->ldb) {
                const __m256 b0 = _mm256_maskload_ps(b, m0), b1 = _mm256_maskload_ps(b + 8, m1);
                __m256 av = _mm256_broadcast_ss(a0 + p);
                c00 = _mm256_fmadd_ps(av, b0, c00);
                c01 = _mm256_fmadd_ps(av, b1, c01);
                av = _mm256_broadcast_ss(a1 + p);
                c10 = _mm256_fmadd_ps(av, b0, c10);
                c11 = _mm256_fmadd_ps(av, b1, c11);
                av = _mm256_broadcast_ss(a2 + p);
                c20 = _mm256_fmadd_ps(av, b0, c20);
                c21 = _mm256_fmadd_ps(av, b1, c21);
                av = _mm256_broadcast_ss(a3 + p);
                c30 = _mm256_fmadd_ps(av, b0, c30);
                c31 = _mm256_fmadd_ps(av, b1, c31);
            }
            float *c = g->c + i * g->ldc + j;
            _mm256_maskstore_ps(c, m0, c00);
            _mm256_maskstore_ps(c + 8, m1, c01);
            if (mr > 1) {
                _mm256_maskstore_ps(c + g->ldc, m0, c10);
                _mm256_maskstore_ps(c + g->ldc + 8, m1, c11);
            }
            if (mr > 2) {
                _mm256_maskstore_ps(c + 2 * g->ldc, m0, c20);
                _mm256_maskstore_ps(c + 2 * g->ldc + 8, m1, c21);
            }
            if (mr > 3) {
                _mm256_maskstore_ps(c + 3 * g->ldc, m0, c30);
                _mm256_maskstore_ps(c + 3 * g->ldc + 8, m1, c31);
            }
        }
    }
}
