/* gemm_f16_avx2.c — F16 prompt GEMM, AVX2 + FMA + F16C (see gemm_f16.h for the contract),
 * and the activation packing both x86 kernels share.
 *
 * Register tile: MR = 6 weight rows x 16 tokens (one packed block, two ymm) = 12 ymm
 * accumulators; per k, two loads, 6 broadcasts, 12 FMAs. The weight panel has the layout of
 * gemm_f16_avx512.c (16-value chunks of each of the MR rows side by side). A panel's first
 * token block converts its weights as it goes (block kb + 1 while it computes block kb), so the
 * vcvtph2ps work and the wait on the rows (prefetched into L2 by the panel before) hide behind
 * its FMAs instead of stalling them in a separate pass (3-7% of this GEMM at 128 tokens).
 * Panels walk the token blocks in alternate directions, so a panel starts on the blocks the
 * one before left in L2 (the packed activations, 1 MiB at n = 2048 and 128 tokens, outgrow
 * it; ~1%). Every output is computed as before, whatever the order: same bits.
 * Reached only after cpu_has(KERN_ISA_AVX2_MASK). */
#include <immintrin.h>

#include "base/x86/vtr8_avx2.h"
#include "llm/kernels/gemm_f16.h"

#define TB KERN_GEMM_F16_TB
_Static_assert(TB == 16, "the pack writes a block as two 8-token halves");

/* 8 values of x's row t rounded to f16 and back, or zeros for a padding token. */
static inline __attribute__((always_inline)) __m256 load_round(const float *x, size_t ldx, int t, int n_tok, int64_t k)
{
    if (t >= n_tok)
        return _mm256_setzero_ps();
    return _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + (size_t)t * ldx + k), _MM_FROUND_TO_NEAREST_INT));
}

/* One block of 16 tokens at a time, 8 values of k at a time: two 8x8 transposes give the
 * 8 k rows of 16 tokens, each stored as one 64-byte line of xp. */
void gemm_f16_pack_avx2(const float *x, size_t ldx, int n_tok, int64_t n, float *xp)
{
    int nb = (n_tok + TB - 1) / TB;
    for (int b = 0; b < nb; b++) {
        const int t0 = b * TB;
        float *dst = xp + (size_t)b * n * TB;
        int64_t k = 0;
        for (; k + 8 <= n; k += 8) {
            __m256 lo[8], hi[8];
            for (int i = 0; i < 8; i++) {
                lo[i] = load_round(x, ldx, t0 + i, n_tok, k);
                hi[i] = load_round(x, ldx, t0 + 8 + i, n_tok, k);
            }
            vtr8_avx2(lo);
            vtr8_avx2(hi);
            for (int i = 0; i < 8; i++) {
                _mm256_storeu_ps(dst + (k + i) * TB, lo[i]);
                _mm256_storeu_ps(dst + (k + i) * TB + 8, hi[i]);
            }
        }
        for (; k < n; k++)
            for (int t = 0; t < TB; t++) {
                float v = t0 + t < n_tok ? x[(size_t)(t0 + t) * ldx + k] : 0.f;
                dst[k * TB + t] = _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT));
            }
    }
}

/* Block kb (16 values) of rows [0, mr) of W -> wf in the panel layout. */
static inline __attribute__((always_inline)) void conv_block(int mr, int64_t kb, const unsigned char *w, size_t ws,
                                                             float *wf)
{
    for (int i = 0; i < mr; i++) {
        const uint16_t *h = (const uint16_t *)(w + (size_t)i * ws) + kb * TB;
        float *d = wf + (kb * mr + i) * TB;
        _mm256_storeu_ps(d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
        _mm256_storeu_ps(d + 8, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8))));
    }
}

/* Named accumulators, not an array: clang keeps an array of vectors on the stack. */
#define ACC_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define ACC_STEP(i)                                                                                          \
    if (mr > i) {                                                                                            \
        __m256 a = _mm256_broadcast_ss(wp + i * TB + kk);                                                    \
        c##i##0 = _mm256_fmadd_ps(a, b0, c##i##0);                                                           \
        c##i##1 = _mm256_fmadd_ps(a, b1, c##i##1);                                                           \
    }
#define ACC_STORE(i)                                                                                         \
    if (mr > i)                                                                                              \
        store_row(y + i, ldy, c##i##0, c##i##1, nt);
#define ACC_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5)

/* Row r's accumulators (tokens 0..7 in v0, 8..15 in v1) -> y[t * ldy] for the nt real tokens. */
static inline __attribute__((always_inline)) void store_row(float *y, size_t ldy, __m256 v0, __m256 v1, int nt)
{
    float tmp[TB];
    _mm256_storeu_ps(tmp, v0);
    _mm256_storeu_ps(tmp + 8, v1);
    int lim = nt < TB ? nt : TB;
    for (int t = 0; t < lim; t++)
        y[(size_t)t * ldy] = tmp[t];
}

/* mr (<= 6) rows x one block of 16 tokens (nt of them real) -> y; pf (NULL: none): the next
 * panel's weights, pf_bytes long, prefetched into L2 across the k loop. w (NULL: wf holds the
 * panel already): the rows to convert into wf, one block ahead of the FMAs that read it. */
static inline __attribute__((always_inline)) void tile(int mr, int64_t n, float *wf, const float *x0, float *y,
                                                       size_t ldy, int nt, const char *pf, size_t pf_bytes,
                                                       const unsigned char *w, size_t ws)
{
    if (w && n >= TB)
        conv_block(mr, 0, w, ws, wf);
    size_t pf_step = pf ? (pf_bytes / (size_t)(n / TB) + 63) / 64 * 64 : 0;
    ACC_ALL(ACC_DECL)
    for (int64_t kb = 0; kb < n / TB; kb++) {
        const float *wp = wf + kb * mr * TB, *xa = x0 + kb * TB * TB;
        for (size_t o = (size_t)kb * pf_step; pf && o < (size_t)(kb + 1) * pf_step && o < pf_bytes; o += 64)
            _mm_prefetch(pf + o, _MM_HINT_T1);
        if (w && kb + 1 < n / TB)
            conv_block(mr, kb + 1, w, ws, wf);
#pragma GCC unroll 16
        for (int kk = 0; kk < TB; kk++) {
            __m256 b0 = _mm256_loadu_ps(xa + kk * TB), b1 = _mm256_loadu_ps(xa + kk * TB + 8);
            ACC_ALL(ACC_STEP)
        }
    }
    ACC_ALL(ACC_STORE)
}

/* One panel of MR rows against every token block, last to first when rev; the first tile
 * converts the panel. */
#define PANEL(MR)                                                                                            \
    static __attribute__((noinline)) void panel_##MR(int64_t n, const unsigned char *w, size_t ws,          \
                                                     const float *xp, int n_tok, float *y, size_t ldy, float *wf, \
                                                     const char *pf, size_t pf_bytes, int rev)               \
    {                                                                                                        \
        int ntb = (n_tok + TB - 1) / TB, t0 = rev ? ntb - 1 : 0, step = rev ? -1 : 1;                       \
        tile(MR, n, wf, xp + (size_t)t0 * n * TB, y + (size_t)t0 * TB * ldy, ldy, n_tok - t0 * TB, pf,       \
             pf_bytes, w, ws);                                                                               \
        for (int i = 1, tb = t0 + step; i < ntb; i++, tb += step)                                            \
            tile(MR, n, wf, xp + (size_t)tb * n * TB, y + (size_t)tb * TB * ldy, ldy, n_tok - tb * TB, NULL, \
                 0, NULL, 0);                                                                                \
    }
PANEL(6)
PANEL(4)
PANEL(2)
PANEL(1)

void gemm_f16_avx2(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok, float *y, size_t ldy,
                   float *wf)
{
    const unsigned char *wb = w;
    if (n_tok <= 0)
        return;
    int rev = 0; /* serpentine: a panel starts on the token blocks the one before ended on */
    for (int r = 0; r < n_rows;) {
        int left = n_rows - r, mr = left >= 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        const unsigned char *wr = wb + (size_t)r * ws;
        float *yr = y + r;
        int nx = n_rows - r - mr < 6 ? n_rows - r - mr : 6; /* the next panel, prefetched */
        const char *pf = nx > 0 ? (const char *)(wr + (size_t)mr * ws) : NULL;
        size_t pfb = nx > 0 ? (size_t)(nx - 1) * ws + (size_t)n * 2 : 0;
        switch (mr) {
        case 6: panel_6(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb, rev); break;
        case 4: panel_4(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb, rev); break;
        case 2: panel_2(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb, rev); break;
        default: panel_1(n, wr, ws, xp, n_tok, yr, ldy, wf, pf, pfb, rev); break;
        }
        r += mr;
        rev = !rev;
    }
}
