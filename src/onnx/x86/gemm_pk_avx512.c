/* gemm_pk_avx512.c — AVX-512 packed-weight GEMM (see gemm_nt.h):
 *
 *   C[i .. i+12, 32q .. 32q+32) (+)= alpha * A[i .. i+12, :] @ (panels 2q, 2q+1 of B)
 *
 * Two 16-column panels side by side make a 12x32 block of C held in 24 zmm accumulators;
 * each step of K loads one zmm from each panel and broadcasts twelve A values (24 FMAs per
 * 14 loads). K runs in chunks of OX_PK512_KC so both panels' slices (32 KB) stay in L1 while
 * every row block of A meets them; the last chunk's store adds the bias and applies GELU.
 * Rows past M and columns past N are masked, never computed into C. A range of one row
 * (batch 1) runs row1 instead: four panels at a time over the whole of K. Compiled with
 * -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma; call only after ox_gemm_pk_isa() == 2. */
#include <immintrin.h>

#include "base/x86/vexp_avx512.h"
#include "onnx/gemm_nt.h"

#define OX_PK512_MR 12
#define OX_PK512_KC 256

/* What one block's store needs. */
struct blk {
    const struct ox_gemm_pk *g;
    int64_t j0;        /* first column */
    __mmask16 m0, m1;  /* columns of each panel that exist */
    int acc, last;     /* add C's old value; add the bias and apply GELU */
};

static __mmask16 cols(int64_t left)
{
    return left >= OX_PK_NR ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
}

static inline __attribute__((always_inline)) void put(const struct blk *b, float *c, const float *bias, __m512 v,
                                                      __mmask16 m)
{
    v = _mm512_mul_ps(v, _mm512_set1_ps(b->g->alpha));
    if (b->acc)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, c));
    if (b->last) {
        if (bias)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
        if (b->g->gelu)
            v = vgelu_avx512(v);
    }
    _mm512_mask_storeu_ps(c, m, v);
}

/* rows [i, i + mr) (mr <= 12) against np (1 or 2) panels starting at bp0 over kc steps of
 * K from column kb of A. With mr == 12 and np == 2 as constants the row tests fold away. */
static inline __attribute__((always_inline)) void block(const struct blk *b, const float *bp0, int64_t kb, int64_t kc,
                                                        int64_t i, int mr, int np)
{
    const struct ox_gemm_pk *g = b->g;
    const float *bp1 = bp0 + g->k * OX_PK_NR;
    const float *a = g->a + i * g->lda + kb;
    const int64_t lda = g->lda;
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(r)                                                                                                      \
    __m512 c##r##a = _mm512_setzero_ps(), c##r##b = c##r##a;                                                         \
    const float *a##r = a + (mr > r ? r : 0) * lda;
    ROWS(DECL)
#undef DECL
    for (int64_t p = 0; p < kc; p++) {
        const __m512 v0 = _mm512_loadu_ps(bp0 + p * OX_PK_NR);
        const __m512 v1 = np > 1 ? _mm512_loadu_ps(bp1 + p * OX_PK_NR) : v0;
#define STEP(r)                                                                                                      \
    if (mr > r) {                                                                                                    \
        const __m512 av = _mm512_set1_ps(a##r[p]);                                                                   \
        c##r##a = _mm512_fmadd_ps(av, v0, c##r##a);                                                                  \
        if (np > 1)                                                                                                  \
            c##r##b = _mm512_fmadd_ps(av, v1, c##r##b);                                                              \
    }
        ROWS(STEP)
#undef STEP
    }
    const float *bias = g->bias ? g->bias + b->j0 : NULL;
#define STORE(r)                                                                                                     \
    if (mr > r) {                                                                                                    \
        float *c = g->c + (i + r) * g->ldc + b->j0;                                                                  \
        put(b, c, bias, c##r##a, b->m0);                                                                             \
        if (np > 1)                                                                                                  \
            put(b, c + OX_PK_NR, bias ? bias + OX_PK_NR : NULL, c##r##b, b->m1);                                     \
    }
    ROWS(STORE)
#undef STORE
#undef ROWS
}

static void block_full(const struct blk *b, const float *bp0, int64_t kb, int64_t kc, int64_t i)
{
    block(b, bp0, kb, kc, i, OX_PK512_MR, 2);
}

static void block_edge(const struct blk *b, const float *bp0, int64_t kb, int64_t kc, int64_t i, int mr, int np)
{
    if (np > 1)
        block(b, bp0, kb, kc, i, mr, 2);
    else
        block(b, bp0, kb, kc, i, mr, 1);
}

/* One row i of A (a classifier at batch 1: a GEMV) against panels [p0, p1), four panels at
 * a time over the whole of K: four streams of B from memory, where the 12x32 blocks' two
 * panels per K chunk read 5 MB of weights about 10% slower (memory bound either way). */
static void row1(const struct ox_gemm_pk *g, int64_t i, int64_t p0, int64_t p1)
{
    const float *a = g->a + i * g->lda;
    const int64_t k = g->k, ps = k * OX_PK_NR;
    int64_t pn = p0;
    for (; pn + 4 <= p1; pn += 4) {
        const float *b0 = g->bp + pn * ps;
        __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        for (int64_t p = 0; p < k; p++) {
            const __m512 av = _mm512_set1_ps(a[p]);
            c0 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b0 + p * OX_PK_NR), c0);
            c1 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b0 + ps + p * OX_PK_NR), c1);
            c2 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b0 + 2 * ps + p * OX_PK_NR), c2);
            c3 = _mm512_fmadd_ps(av, _mm512_loadu_ps(b0 + 3 * ps + p * OX_PK_NR), c3);
        }
        const __m512 acc[4] = {c0, c1, c2, c3};
        for (int u = 0; u < 4; u++) {
            int64_t j0 = (pn + u) * OX_PK_NR;
            struct blk b = {g, j0, cols(g->n - j0), 0, g->accumulate, 1};
            put(&b, g->c + i * g->ldc + j0, g->bias ? g->bias + j0 : NULL, acc[u], b.m0);
        }
    }
    for (; pn < p1; pn++) {
        const float *b0 = g->bp + pn * ps;
        __m512 c0 = _mm512_setzero_ps();
        for (int64_t p = 0; p < k; p++)
            c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[p]), _mm512_loadu_ps(b0 + p * OX_PK_NR), c0);
        int64_t j0 = pn * OX_PK_NR;
        struct blk b = {g, j0, cols(g->n - j0), 0, g->accumulate, 1};
        put(&b, g->c + i * g->ldc + j0, g->bias ? g->bias + j0 : NULL, c0, b.m0);
    }
}

void ox_gemm_pk_avx512(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    /* a one-row GEMM (a classifier at batch 1); not the last row of a split (M = 12k + 1),
     * whose sums would then differ in their last bits from the unsplit run's */
    if (m0 == 0 && m1 == 1 && g->k > 0) {
        row1(g, m0, p0, p1);
        return;
    }
    for (int64_t pn = p0; pn < p1; pn += 2) {
        int np = p1 - pn >= 2 ? 2 : 1;
        int64_t j0 = pn * OX_PK_NR;
        for (int64_t kb = 0; kb < g->k; kb += OX_PK512_KC) {
            int64_t kc = g->k - kb < OX_PK512_KC ? g->k - kb : OX_PK512_KC;
            struct blk b = {g, j0, cols(g->n - j0), cols(g->n - j0 - OX_PK_NR), g->accumulate || kb > 0,
                            kb + kc >= g->k};
            const float *bp0 = g->bp + pn * g->k * OX_PK_NR + kb * OX_PK_NR;
            int64_t i = m0;
            if (np == 2)
                for (; i + OX_PK512_MR <= m1; i += OX_PK512_MR)
                    block_full(&b, bp0, kb, kc, i);
            for (; i < m1; i += OX_PK512_MR)
                block_edge(&b, bp0, kb, kc, i, m1 - i < OX_PK512_MR ? (int)(m1 - i) : OX_PK512_MR, np);
        }
    }
}
