/* gemm_f16.h — prompt-processing GEMM for F16 weights: Y (n_tok, rows) = X (n_tok, n) @ W^T
 * with W (rows, n) in f16 and X in f32.
 *
 * Like llama.cpp (which converts activations to the weights' vec_dot_type, f16, before any
 * GEMM), each activation is rounded to f16 and back while it is packed, so this path sees
 * the same inputs as the generation path (dot_*_f16 on f16 activations). The activations
 * are packed once per matmul into blocks of KERN_GEMM_F16_TB tokens, k-major, so a
 * register-blocked kernel reads one vector of tokens per k; weight rows are converted
 * f16 -> f32 one small panel at a time (vcvtph2ps) into per-thread scratch and reused for
 * every token block. kern_get_gemm_f16() returns the AVX-512 or AVX2+FMA+F16C kernel
 * (chosen with cpu_has()), or NULL on CPUs without them (the caller then uses sgemm);
 * kern_get_gemm_f16_ref() is the portable scalar twin the tests compare against.
 *
 *   const struct kern_gemm_f16 *g = kern_get_gemm_f16();
 *   g->pack(x, n, n_tok, n, xp);                          // xp: kern_gemm_f16_xp_floats()
 *   g->gemm(n, w, row_bytes, n_rows, xp, n_tok, y, ldy, wf); // wf: KERN_GEMM_F16_SCRATCH(n)
 *   // y[t * ldy + r] = sum_k f16(x[t][k]) * w[r][k]
 */
#ifndef INFERD_LLM_GEMM_F16_H
#define INFERD_LLM_GEMM_F16_H

#include <stddef.h>
#include <stdint.h>

#define KERN_GEMM_F16_TB 16              /* tokens per packed activation block */
#define KERN_GEMM_F16_SCRATCH(n) (16 * (size_t)(n)) /* floats of weight-panel scratch */

/* X (n_tok, n) f32, rows ldx floats apart -> xp: x[t][k] rounded to f16 and back at
 * xp[(t / 16 * n + k) * 16 + t % 16]; the tokens past n_tok in the last block are 0. */
typedef void (*kern_gemm_f16_pack_fn)(const float *x, size_t ldx, int n_tok, int64_t n, float *xp);
/* W rows [0, n_rows) in f16 (n,), ws bytes apart, times the packed X (n_tok tokens):
 * y[t * ldy + r] = W row r . x row t for r < n_rows, t < n_tok; nothing else of y is
 * written. n is a multiple of 16; wf is scratch of KERN_GEMM_F16_SCRATCH(n) floats. */
typedef void (*kern_gemm_f16_fn)(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok,
                                 float *y, size_t ldy, float *wf);

struct kern_gemm_f16 {
    kern_gemm_f16_pack_fn pack;
    kern_gemm_f16_fn gemm;
    const char *isa;                     /* "avx512", "avx2" or "scalar" */
};

/* Floats of packed activations for n_tok tokens of n values (tokens rounded up to 16). */
static inline size_t kern_gemm_f16_xp_floats(int n_tok, int64_t n)
{
    return (size_t)(n_tok + KERN_GEMM_F16_TB - 1) / KERN_GEMM_F16_TB * KERN_GEMM_F16_TB * (size_t)n;
}

/* The fastest kernel this CPU has, or NULL (no AVX2+FMA+F16C). Static, never freed. */
const struct kern_gemm_f16 *kern_get_gemm_f16(void);
/* The portable scalar kernel (same contract and packing). */
const struct kern_gemm_f16 *kern_get_gemm_f16_ref(void);

/* Per-ISA kernels (x86/gemm_f16_avx512.c, x86/gemm_f16_avx2.c); call only after cpu_has(). */
void gemm_f16_pack_avx2(const float *x, size_t ldx, int n_tok, int64_t n, float *xp);
void gemm_f16_avx2(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok, float *y,
                   size_t ldy, float *wf);
void gemm_f16_avx512(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok, float *y,
                     size_t ldy, float *wf);

#endif
