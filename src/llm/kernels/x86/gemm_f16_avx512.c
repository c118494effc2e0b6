/* gemm_f16_avx512.c — F16 prompt GEMM, AVX-512F (see gemm_f16.h for the contract).
 *
 * Register tile: MR = 12 weight rows x 32 tokens (two packed blocks of 16) = 24 zmm
 * accumulators; per k, two vector loads of activations, 12 broadcasts of converted weights
 * and 24 FMAs. Weight rows are converted f16 -> f32 one panel of MR rows at a time into wf,
 * laid out as 16-value chunks of each row side by side:
 *
 *   wf: | row 0 k 0..15 | row 1 k 0..15 | ... | row MR-1 k 0..15 | row 0 k 16..31 | ...
 *
 * so the kernel broadcasts from one pointer at constant offsets. The panel (MR x n floats,
 * 96 KiB at n = 2048) stays in L2 while every token block streams past it. Tails of fewer
 * rows use the same tile with MR 8, 4, 2 or 1. Compiled with -mavx512f; reached only after
 * cpu_has(CPU_AVX512F | KERN_ISA_AVX2_MASK). */
#include <immintrin.h>

#include "llm/kernels/gemm_f16.h"

#define TB KERN_GEMM_F16_TB

/* Rows [0, mr) of W -> the panel layout above. */
static inline __attribute__((always_inline)) void conv_panel(int mr, int64_t n, const unsigned char *w, size_t ws,
                                                             float *wf)
{
    for (int i = 0; i < mr; i++) {
        const uint16_t *h = (const uint16_t *)(w + (size_t)i * ws);
        for (int64_t kb = 0; kb < n / TB; kb++)
            _mm512_storeu_ps(wf + (kb * mr + i) * TB, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + kb * TB))));
    }
}

/* Accumulators are named variables, not an array: clang keeps an array of 24 zmm on the
 * stack even when every index is a constant. */
#define ACC_DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define ACC_STEP(i)                                                                                          \
    if (mr > i) {                                                                                            \
        __m512 a = _mm512_set1_ps(wp[i * TB + kk]);                                                          \
        c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                                                           \
        if (nb > 1)                                                                                          \
            c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);                                                       \
    }
#define ACC_STORE(i)                                                                                         \
    if (mr > i)                                                                                              \
        store_row(y + i, ldy, c##i##0, c##i##1, nb, nt);
#define ACC_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* Row r's accumulators (tokens 0..15 in v0, 16..31 in v1) -> y[t * ldy] for the nt real tokens. */
static inline __attribute__((always_inline)) void store_row(float *y, size_t ldy, __m512 v0, __m512 v1, int nb, int nt)
{
    float tmp[2 * TB];
    _mm512_storeu_ps(tmp, v0);
    _mm512_storeu_ps(tmp + TB, v1);
    int lim = nt < nb * TB ? nt : nb * TB;
    for (int t = 0; t < lim; t++)
        y[(size_t)t * ldy] = tmp[t];
}

/* mr (<= 12) rows x nb (1 or 2) blocks of 16 tokens (nt of them real) -> y. pf (NULL: none)
 * is the next panel's weights, pf_bytes long: they are prefetched into L2 across the k loop,
 * so its conversion does not wait on memory. */
static inline __attribute__((always_inline)) void tile(int mr, int nb, int64_t n, const float *wf, const float *x0,
                                                       float *y, size_t ldy, int nt, const char *pf, size_t pf_bytes)
{
    size_t pf_step = pf ? (pf_bytes / (size_t)(n / TB) + 63) / 64 * 64 : 0;
    ACC_ALL(ACC_DECL)
    const float *x1 = x0 + n * TB;
    for (int64_t kb = 0; kb < n / TB; kb++) {
        const float *wp = wf + kb * mr * TB, *xa = x0 + kb * TB * TB, *xb = x1 + kb * TB * TB;
        for (size_t o = (size_t)kb * pf_step; pf && o < (size_t)(kb + 1) * pf_step && o < pf_bytes; o += 64)
            _mm_prefetch(pf + o, _MM_HINT_T1);
#pragma GCC unroll 16
        for (int kk = 0; kk < TB; kk++) {
            __m512 b0 = _mm512_loadu_ps(xa + kk * TB);
            __m512 b1 = nb > 1 ? _mm512_loadu_ps(xb + kk * TB) : b0;
            ACC_ALL(ACC_STEP)
        }
    }
    ACC_ALL(ACC_STORE)
}

#define PANEL(MR)                                                                                            \
    static __attribute__((noinline)) void panel_##MR(int64_t n, const unsigned char *w, size_t ws,          \
                                                     const float *xp, int n_tok, float *y, size_t ldy, float *wf, \
                                                     const char *pf, size_t pf_bytes)                        \
    {                                                                                                        \
        conv_panel(MR, n, w, ws, wf);                                                                        \
        int ntb = (n_tok + TB - 1) / TB, tb = 0;                                                             \
        for (; tb + 2 <= ntb; tb += 2, pf = NULL)                                                            \
            tile(MR, 2, n, wf, xp + (size_t)tb * n * TB, y + (size_t)tb * TB * ldy, ldy, n_tok - tb * TB, pf, \
                 pf_bytes);                                                                                  \
        if (tb < ntb)                                                                                        \
            tile(MR, 1, n, wf, xp + (size_t)tb * n * TB, y + (size_t)tb * TB * ldy, ldy, n_tok - tb * TB, pf, \
                 pf_bytes);                                                                                  \
    }
PANEL(12)
PANEL(8)
PANEL(4)
PANEL(2)
PANEL(1)

void gemm_f16_avx512(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok, float *y,
                     size_t ldy, float *wf)
{
    const unsigned char *wb = w;
    for (int r = 0; r < n_rows;) {
        int left = n_rows - r, mr = left >= 12 ? 12 : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const unsigned char *wr = wb + (size_t)r * ws;
        float *yr = y + r;
        /* the next panel of this call (at most 12 rows), prefetched while this one runs */
        int nx = n_rows - r - mr < 12 ? n_rows - r - mr : 12;
        const char *pf = nx > 0 ? (const char *)(wr + (size_t)mr * ws) : NULL;
        size_t pfb = nx > 0 ? (size_t)(nx - 1) * ws + (size_t)n * 2 : 0;
        switch (mr) {
        case 12: panel_12(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb); break;
        case 8: panel_8(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb); break;
        case 4: panel_4(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb); break;
        case 2: panel_2(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb); break;
        default: panel_1(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb); break;
        }
        r += mr;
    }
}
