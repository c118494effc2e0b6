/* gemm_nt_avx2.c — AVX2+FMA A @ B^T kernel: 4 rows of A x 2 rows of B per block, 8 ymm
 * accumulators over K in steps of 8, masked tail; 1x1 blocks for the edges. Compiled with
 * -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). K is split into chunks of
 * OX_NT_KC so a 4-row block of A stays in L1 while it meets every row of B. */
#include <immintrin.h>

#include "onnx/gemm_nt.h"

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline __m256i tail_mask(int64_t r)
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

static inline void store(const struct ox_gemm_nt *g, int64_t i, int64_t j, float s)
{
    float *c = &g->c[i * g->ldc + j];
    *c = g->accumulate ? *c + g->alpha * s : g->alpha * s;
}

static void nt_block(const struct ox_gemm_nt *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    const int64_t k = g->k, k8 = k & ~(int64_t)7, kr = k - k8;
    const __m256i mask = tail_mask(kr ? kr : 8);
    int64_t i = m0;
    for (; i + 4 <= m1; i += 4) {
        const float *a0 = g->a + i * g->lda, *a1 = a0 + g->lda, *a2 = a1 + g->lda, *a3 = a2 + g->lda;
        int64_t j = n0;
        for (; j + 2 <= n1; j += 2) {
            const float *b0 = g->b + j * g->ldb, *b1 = b0 + g->ldb;
            __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
                   c31 = c00;
            for (int64_t p = 0; p < k8; p += 8) {
                __m256 vb0 = _mm256_loadu_ps(b0 + p), vb1 = _mm256_loadu_ps(b1 + p);
                __m256 va = _mm256_loadu_ps(a0 + p);
                c00 = _mm256_fmadd_ps(va, vb0, c00);
                c01 = _mm256_fmadd_ps(va, vb1, c01);
                va = _mm256_loadu_ps(a1 + p);
                c10 = _mm256_fmadd_ps(va, vb0, c10);
                c11 = _mm256_fmadd_ps(va, vb1, c11);
                va = _mm256_loadu_ps(a2 + p);
                c20 = _mm256_fmadd_ps(va, vb0, c20);
                c21 = _mm256_fmadd_ps(va, vb1, c21);
                va = _mm256_loadu_ps(a3 + p);
                c30 = _mm256_fmadd_ps(va, vb0, c30);
                c31 = _mm256_fmadd_ps(va, vb1, c31);
            }
            if (kr) {
                __m256 vb0 = _mm256_maskload_ps(b0 + k8, mask), vb1 = _mm256_maskload_ps(b1 + k8, mask);
                __m256 va = _mm256_maskload_ps(a0 + k8, mask);
                c00 = _mm256_fmadd_ps(va, vb0, c00);
                c01 = _mm256_fmadd_ps(va, vb1, c01);
                va = _mm256_maskload_ps(a1 + k8, mask);
                c10 = _mm256_fmadd_ps(va, vb0, c10);
                c11 = _mm256_fmadd_ps(va, vb1, c11);
                va = _mm256_maskload_ps(a2 + k8, mask);
                c20 = _mm256_fmadd_ps(va, vb0, c20);
                c21 = _mm256_fmadd_ps(va, vb1, c21);
                va = _mm256_maskload_ps(a3 + k8, mask);
                c30 = _mm256_fmadd_ps(va, vb0, c30);
                c31 = _mm256_fmadd_ps(va, vb1, c31);
            }
            store(g, i, j, hsum(c00));
            store(g, i, j + 1, hsum(c01));
            store(g, i + 1, j, hsum(c10));
            store(g, i + 1, j + 1, hsum(c11));
            store(g, i + 2, j, hsum(c20));
            store(g, i + 2, j + 1, hsum(c21));
            store(g, i + 3, j, hsum(c30));
            store(g, i + 3, j + 1, hsum(c31));
        }
        if (j < n1) { /* last odd column: 4 rows x 1 */
            const float *b0 = g->b + j * g->ldb;
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t p = 0; p < k8; p += 8) {
                __m256 vb = _mm256_loadu_ps(b0 + p);
                c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + p), vb, c0);
                c1 = _mm256_fmadd_ps(_mm256_loadu_ps(a1 + p), vb, c1);
                c2 = _mm256_fmadd_ps(_mm256_loadu_ps(a2 + p), vb, c2);
                c3 = _mm256_fmadd_ps(_mm256_loadu_ps(a3 + p), vb, c3);
            }
            if (kr) {
                __m256 vb = _mm256_maskload_ps(b0 + k8, mask);
                c0 = _mm256_fmadd_ps(_mm256_maskload_ps(a0 + k8, mask), vb, c0);
                c1 = _mm256_fmadd_ps(_mm256_maskload_ps(a1 + k8, mask), vb, c1);
                c2 = _mm256_fmadd_ps(_mm256_maskload_ps(a2 + k8, mask), vb, c2);
                c3 = _mm256_fmadd_ps(_mm256_maskload_ps(a3 + k8, mask), vb, c3);
            }
            store(g, i, j, hsum(c0));
            store(g, i + 1, j, hsum(c1));
            store(g, i + 2, j, hsum(c2));
            store(g, i + 3, j, hsum(c3));
        }
    }
    for (; i < m1; i++) { /* remaining rows: 1 row x 4 columns, then 1 x 1 */
        const float *a0 = g->a + i * g->lda;
        int64_t j = n0;
        for (; j + 4 <= n1; j += 4) {
            const float *b0 = g->b + j * g->ldb, *b1 = b0 + g->ldb, *b2 = b1 + g->ldb, *b3 = b2 + g->ldb;
            __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t p = 0; p < k8; p += 8) {
                __m256 va = _mm256_loadu_ps(a0 + p);
                c0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b0 + p), c0);
                c1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b1 + p), c1);
                c2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b2 + p), c2);
                c3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(b3 + p), c3);
            }
            if (kr) {
                __m256 va = _mm256_maskload_ps(a0 + k8, mask);
                c0 = _mm256_fmadd_ps(va, _mm256_maskload_ps(b0 + k8, mask), c0);
                c1 = _mm256_fmadd_ps(va, _mm256_maskload_ps(b1 + k8, mask), c1);
                c2 = _mm256_fmadd_ps(va, _mm256_maskload_ps(b2 + k8, mask), c2);
                c3 = _mm256_fmadd_ps(va, _mm256_maskload_ps(b3 + k8, mask), c3);
            }
            store(g, i, j, hsum(c0));
            store(g, i, j + 1, hsum(c1));
            store(g, i, j + 2, hsum(c2));
            store(g, i, j + 3, hsum(c3));
        }
        for (; j < n1; j++) {
            const float *b0 = g->b + j * g->ldb;
            __m256 c0 = _mm256_setzero_ps();
            for (int64_t p = 0; p < k8; p += 8)
                c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a0 + p), _mm256_loadu_ps(b0 + p), c0);
            if (kr)
                c0 = _mm256_fmadd_ps(_mm256_maskload_ps(a0 + k8, mask), _mm256_maskload_ps(b0 + k8, mask), c0);
            store(g, i, j, hsum(c0));
        }
    }
}

#define OX_NT_KC 512

void ox_gemm_nt_avx2(const struct ox_gemm_nt *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t kb = 0; kb < g->k || kb == 0; kb += OX_NT_KC) {
        struct ox_gemm_nt c = *g;
        c.a += kb;
        c.b += kb;
        c.k = g->k - kb < OX_NT_KC ? g->k - kb : OX_NT_KC;
        c.accumulate = g->accumulate || kb > 0;
        nt_block(&c, m0, m1, n0, n1);
    }
}
