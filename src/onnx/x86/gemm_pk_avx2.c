/* gemm_pk_avx2.c — AVX2+FMA packed-weight GEMM (see gemm_nt.h): for each 16-column panel of
 * the packed B, blocks of 6 rows of A keep C's 6x16 tile in 12 ymm registers; each step of
 * K loads two B vectors and broadcasts six A values; the bias and GELU go with the last K
 * chunk's store. Compiled with -mavx2 -mfma; call only
 * after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>

#include "base/x86/vexp_avx2.h"
#include "onnx/gemm_nt.h"

/* rows [i, i+mr) (mr <= 6) of one panel slice into t[6][16]: always six rows of
 * arithmetic (rows past mr repeat the last one) so the twelve accumulators stay in
 * registers; callers use this kernel for M >= 6, where at most 5 rows per call are spare. */
static void tile(const struct ox_gemm_pk *g, const float *panel, int64_t i, int mr, float t[6][16])
{
    const float *a0 = g->a + i * g->lda;
    const float *a1 = g->a + (i + (mr > 1 ? 1 : 0)) * g->lda, *a2 = g->a + (i + (mr > 2 ? 2 : mr - 1)) * g->lda;
    const float *a3 = g->a + (i + (mr > 3 ? 3 : mr - 1)) * g->lda, *a4 = g->a + (i + (mr > 4 ? 4 : mr - 1)) * g->lda;
    const float *a5 = g->a + (i + (mr > 5 ? 5 : mr - 1)) * g->lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < g->k; p++) {
        __m256 b0 = _mm256_load_ps(panel + p * 16), b1 = _mm256_load_ps(panel + p * 16 + 8);
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
        av = _mm256_broadcast_ss(a4 + p);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + p);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
    }
    _mm256_storeu_ps(t[0], c00);
    _mm256_storeu_ps(t[0] + 8, c01);
    _mm256_storeu_ps(t[1], c10);
    _mm256_storeu_ps(t[1] + 8, c11);
    _mm256_storeu_ps(t[2], c20);
    _mm256_storeu_ps(t[2] + 8, c21);
    _mm256_storeu_ps(t[3], c30);
    _mm256_storeu_ps(t[3] + 8, c31);
    _mm256_storeu_ps(t[4], c40);
    _mm256_storeu_ps(t[4] + 8, c41);
    _mm256_storeu_ps(t[5], c50);
    _mm256_storeu_ps(t[5] + 8, c51);
}

#define OX_PK_KC 256 /* K chunk: a 16-column panel slice of KC rows (16 KB) stays in L1 */

/* GELU over one row's nc (<= 16) stored values */
static void gelu_row(float *c, int64_t nc)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t j = 0; j < nc; j += 8) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(nc - j)), lanes);
        _mm256_maskstore_ps(c + j, m, vgelu_avx2(_mm256_maskload_ps(c + j, m)));
    }
}

void ox_gemm_pk_avx2(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    float t[6][16];
    for (int64_t pn = p0; pn < p1; pn++) {
        int64_t j0 = pn * OX_PK_NR, nc = g->n - j0 < OX_PK_NR ? g->n - j0 : OX_PK_NR;
        for (int64_t kb = 0; kb < g->k; kb += OX_PK_KC) {
            struct ox_gemm_pk sub = *g;
            sub.a = g->a + kb;
            sub.k = g->k - kb < OX_PK_KC ? g->k - kb : OX_PK_KC;
            const float *panel = g->bp + pn * g->k * OX_PK_NR + kb * OX_PK_NR;
            int acc = g->accumulate || kb > 0, last = kb + OX_PK_KC >= g->k;
            const float *bias = last && g->bias ? g->bias + j0 : NULL;
            for (int64_t i = m0; i < m1; i += 6) {
                int mr = m1 - i < 6 ? (int)(m1 - i) : 6;
                tile(&sub, panel, i, mr, t);
                for (int r = 0; r < mr; r++) {
                    float *c = g->c + (i + r) * g->ldc + j0;
                    for (int64_t j = 0; j < nc; j++) {
                        float v = g->alpha * t[r][j] + (acc ? c[j] : 0.0f);
                        c[j] = bias ? v + bias[j] : v;
                    }
                    if (last && g->gelu)
                        gelu_row(c, nc);
                }
            }
        }
    }
}
