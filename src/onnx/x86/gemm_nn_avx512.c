/* gemm_nn_avx512.c — AVX-512 small GEMM with both operands in place (see gemm_nt.h):
 *   C[i .. i+4, j .. j+32) = A[i .. i+4, :] @ B[:, j .. j+32)
 * eight zmm accumulators; each step of K loads two B vectors (masked past N) and broadcasts
 * four A values. Rows past M repeat the last row's pointer and are not stored. Compiled
 * with -mavx512f -mavx512bw -mavx512vl; call only after ox_gemm_pk_isa() == 2. */
#include <immintrin.h>

#include "onnx/gemm_nt.h"

static __mmask16 cols(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

void ox_gemm_nn_avx512(const struct ox_gemm_nn *g)
{
    for (int64_t j = 0; j < g->n; j += 32) {
        const __mmask16 m0 = cols(g->n - j), m1 = cols(g->n - j - 16);
        for (int64_t i = 0; i < g->m; i += 4) {
            int mr = g->m - i < 4 ? (int)(g->m - i) : 4;
            const float *a0 = g->a + i * g->lda, *a1 = a0 + (mr > 1 ? g->lda : 0);
            const float *a2 = a0 + (mr > 2 ? 2 * g->lda : 0), *a3 = a0 + (mr > 3 ? 3 * g->lda : 0);
            __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                   c31 = c00;
            const float *b = g->b + j;
            for (int64_t p = 0; p < g->k; p++, b += g->ldb) {
                const __m512 b0 = _mm512_maskz_loadu_ps(m0, b), b1 = _mm512_maskz_loadu_ps(m1, b + 16);
                __m512 av = _mm512_set1_ps(a0[p]);
                c00 = _mm512_fmadd_ps(av, b0, c00);
                c01 = _mm512_fmadd_ps(av, b1, c01);
                av = _mm512_set1_ps(a1[p]);
                c10 = _mm512_fmadd_ps(av, b0, c10);
                c11 = _mm512_fmadd_ps(av, b1, c11);
                av = _mm512_set1_ps(a2[p]);
                c20 = _mm512_fmadd_ps(av, b0, c20);
                c21 = _mm512_fmadd_ps(av, b1, c21);
                av = _mm512_set1_ps(a3[p]);
                c30 = _mm512_fmadd_ps(av, b0, c30);
                c31 = _mm512_fmadd_ps(av, b1, c31);
            }
            float *c = g->c + i * g->ldc + j;
            _mm512_mask_storeu_ps(c, m0, c00);
            _mm512_mask_storeu_ps(c + 16, m1, c01);
            if (mr > 1) {
                _mm512_mask_storeu_ps(c + g->ldc, m0, c10);
                _mm512_mask_storeu_ps(c + g->ldc + 16, m1, c11);
            }
            if (mr > 2) {
                _mm512_mask_storeu_ps(c + 2 * g->ldc, m0, c20);
                _mm512_mask_storeu_ps(c + 2 * g->ldc + 16, m1, c21);
            }
            if (mr > 3) {
                _mm512_mask_storeu_ps(c + 3 * g->ldc, m0, c30);
                _mm512_mask_storeu_ps(c + 3 * g->ldc + 16, m1, c31);
            }
        }
    }
}
