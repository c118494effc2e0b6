/* gemm_pk_avx2.c — AVX2+FMA packed-weight GEMM (see gemm_nt.h): for each 16-column panel of
 * the packed B, blocks of 6 rows of A keep C's 6x16 tile in 12 ymm registers; each step of
 * K loads two B vectors and broadcasts six A values. The tile is stored straight from the
 * registers (columns past N masked), the last K chunk's store adding the bias and applying
 * GELU. Compiled with -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>

#include "base/x86/vexp_avx2.h"
#include "onnx/gemm_nt.h"

#define OX_PK_KC 256 /* K chunk: a 16-column panel slice of KC rows (16 KB) stays in L1 */

/* What one tile's store needs. */
struct blk {
    const struct ox_gemm_pk *g;
    const float *bias; /* the panel's bias columns on the last K chunk, else NULL */
    __m256i m0, m1;    /* columns of the two halves that exist */
    int acc, gelu;     /* add C's old value; GELU (last K chunk only) */
};

static inline __attribute__((always_inline)) void put(const struct blk *b, float *c, int half, __m256 v)
{
    const __m256i m = half ? b->m1 : b->m0;
    v = _mm256_mul_ps(v, _mm256_set1_ps(b->g->alpha));
    if (b->acc)
        v = _mm256_add_ps(v, _mm256_maskload_ps(c, m));
    if (b->bias)
        v = _mm256_add_ps(v, _mm256_maskload_ps(b->bias + 8 * half, m));
    if (b->gelu)
        v = vgelu_avx2(v);
    _mm256_maskstore_ps(c, m, v);
}

/* rows [i, i+mr) (mr <= 6) of one panel slice of kc steps, C's columns from j0: always six
 * rows of arithmetic (rows past mr repeat the last one) so the twelve accumulators stay in
 * registers; only the mr real rows are stored. */
static void tile(const struct blk *b, const float *a, const float *panel, int64_t kc, int64_t i, int mr, int64_t j0)
{
    const struct ox_gemm_pk *g = b->g;
    const float *a0 = a + i * g->lda;
    const float *a1 = a + (i + (mr > 1 ? 1 : 0)) * g->lda, *a2 = a + (i + (mr > 2 ? 2 : mr - 1)) * g->lda;
    const float *a3 = a + (i + (mr > 3 ? 3 : mr - 1)) * g->lda, *a4 = a + (i + (mr > 4 ? 4 : mr - 1)) * g->lda;
    const float *a5 = a + (i + (mr > 5 ? 5 : mr - 1)) * g->lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t p = 0; p < kc; p++) {
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
    float *c = g->c + i * g->ldc + j0;
    put(b, c, 0, c00);
    put(b, c + 8, 1, c01);
    if (mr > 1) {
        put(b, c + g->ldc, 0, c10);
        put(b, c + g->ldc + 8, 1, c11);
    }
    if (mr > 2) {
        put(b, c + 2 * g->ldc, 0, c20);
        put(b, c + 2 * g->ldc + 8, 1, c21);
    }
    if (mr > 3) {
        put(b, c + 3 * g->ldc, 0, c30);
        put(b, c + 3 * g->ldc + 8, 1, c31);
    }
    if (mr > 4) {
        put(b, c + 4 * g->ldc, 0, c40);
        put(b, c + 4 * g->ldc + 8, 1, c41);
    }
    if (mr > 5) {
        put(b, c + 5 * g->ldc, 0, c50);
        put(b, c + 5 * g->ldc + 8, 1, c51);
    }
}

static __m256i cols(int64_t left)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left > 8 ? 8 : left < 0 ? 0 : (int)left), lanes);
}

void ox_gemm_pk_avx2(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    for (int64_t pn = p0; pn < p1; pn++) {
        int64_t j0 = pn * OX_PK_NR;
        for (int64_t kb = 0; kb < g->k; kb += OX_PK_KC) {
            int64_t kc = g->k - kb < OX_PK_KC ? g->k - kb : OX_PK_KC;
            int last = kb + kc >= g->k;
            struct blk b = {g, last && g->bias ? g->bias + j0 : NULL, cols(g->n - j0), cols(g->n - j0 - 8),
                            g->accumulate || kb > 0, last && g->gelu};
            const float *panel = g->bp + pn * g->k * OX_PK_NR + kb * OX_PK_NR;
            for (int64_t i = m0; i < m1; i += 6)
                tile(&b, g->a + kb, panel, kc, i, m1 - i < 6 ? (int)(m1 - i) : 6, j0);
        }
    }
}
