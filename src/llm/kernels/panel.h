/* panel.h — prompt-processing GEMM for Q4_0 / Q8_0 / Q2_K..Q6_K weights: a panel of R
 * weight rows (R = 16 with AVX-512, 8 with AVX2 / AVX-VNNI) is unpacked once per call into
 * an interleaved int8 layout in caller scratch, then every activation row runs against it
 * with one output (row, token) per vector lane.
 *
 * Why unpack per call rather than repack at load (llama.cpp's block_q4_0x8): the weights
 * stay the mmapped file bytes (shared between processes, no second copy to count), and the
 * unpacking is O(R x n) against O(R x n x n_tok) multiply-adds, a few per cent at 128
 * tokens. Lanes hold whole (row, token) outputs, so the block scales are applied once per
 * block for R outputs, and each output is summed block by block in order:
 *     y[t][r] = fma(float(int dot of block b), d_w[r][b] * d_a[t][b], y[t][r]),  b = 0, 1, ...
 * which is llama.cpp's order for its repacked Q4_0 GEMM (the int dot is exact). Q8_0 keeps
 * llama.cpp's tinyBLAS order instead (its Q8_0 prompt GEMM; a different order flips an
 * occasional activation rounding downstream, 4.6e-3 on the Q8_0 golden against 3.8e-4):
 * per output 8 float partial sums, one per 4-element group g, each fma'd block by block,
 * then summed as hsum_float_8 does ((P0+P4)+(P2+P6)) + ((P1+P5)+(P3+P7)).
 *
 * Panel layout (scratch, per block b of 32 elements; u32 = 4 consecutive elements of a row):
 *   +-------------------------------+---------------------------+
 *   | q[b][g][r]  g < 8, r < R: u32  | d[b][r]  r < R: f32        |
 *   +-------------------------------+---------------------------+
 *   Q4_0: the nibbles 0..15 (the -8 comes back as -8 sum(a) per activation block);
 *   Q8_0: w + 128 (unsigned for vpdpbusd; -128 sum(a) comes off the same way); AVX2
 *   without VNNI keeps w as it is (vpmaddubsw's sign trick, x86/gemm_panel_body.h).
 * The K-quants Q2_K..Q6_K (Q8_K activations) use the same word interleave per super-block of 256, with
 * sub-block scales and mins beside it and one fma per term and super-block: the layout and
 * the exactness argument are in x86/gemm_panel_k_body.h.
 *
 *   const struct kern_panel *p = kern_get_panel(GGML_TYPE_Q4_0);   // NULL: no panel GEMM
 *   kern_panel_prep_row(GGML_TYPE_Q8_0, xq_row, aux_row, n);  // per activation row, once per matmul
 *   p->gemm(n, w, ws, xq, as, aux, y, ldy, n_tok, scratch);   // W rows r < p->rows
 *   // y[t * ldy + r] = dot(W row r, xq row t) for t < n_tok
 */
#ifndef INFERD_LLM_KERNELS_PANEL_H
#define INFERD_LLM_KERNELS_PANEL_H

#include <stddef.h>
#include <stdint.h>

#include "llm/gguf.h"

/* Per Q8_0 activation block: its scale as f32 and the integer corrections the panels add
 * (-8 sum(q) for Q4_0 weights; -128 sum(q) of each 4-element group for Q8_0). */
struct kern_panel_aux {
    float d;
    int32_t c4;
    int32_t c8[8];
};

/* Per Q8_K activation super-block, from its bsums (bs_j = sum of elements 16j..16j+15):
 * what the K-quant panels (x86/gemm_panel_k_body.h) broadcast per token. */
struct kern_panel_kaux {
    int32_t c6[16];              /* -32 bs_j: Q6_K's -32 offset (VNNI; Q3_K's -4: c6 / 8) */
    uint32_t s4[4];              /* i16 pairs (bs_4k + bs_4k+1, bs_4k+2 + bs_4k+3): Q4_K mins */
    uint32_t s6[8];              /* i16 pairs (bs_2k, bs_2k+1): Q6_K's, Q3_K's offset (no VNNI), Q2_K mins */
};

/* W (rows, n) rows ws bytes apart . A (n_tok, n) rows as bytes apart in the weights'
 * vec_dot_type (Q8_0 or Q8_K) -> y[t * ldy + r]. aux: n_tok rows of kern_panel_aux_bytes(n)
 * from kern_panel_prep_row. scratch: KERN_PANEL_SCRATCH(n) bytes, borrowed (any alignment
 * of 4). */
typedef void (*kern_panel_fn)(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux,
                              float *y, size_t ldy, int n_tok, void *scratch);

struct kern_panel {
    kern_panel_fn gemm;
    int rows;                    /* R: weight rows per call */
};

/* Scratch bytes gemm needs for rows of n elements (R = 16 at most): the Q4_0 / Q8_0 layout
 * takes 36 bytes per row and block of 32, the K layouts at most 360 per row and 256. */
#define KERN_PANEL_SCRATCH(n) ((size_t)((n) / 32) * 16 * 36 + (size_t)((n) / 256) * 16 * 360 + 64)
/* Fewer activation rows than this: the 4-row tiles do better (the unpacking is not repaid). */
#define KERN_PANEL_MIN_TOK 16

/* The panel GEMM for weight type t on this CPU, or NULL (other types, scalar CPUs, Q8_0
 * on AVX-512 without VNNI). */
const struct kern_panel *kern_get_panel(enum ggml_type t);

/* aux[b] for the n / 32 blocks of one Q8_0 activation row a (n,). */
void kern_panel_prep(const void *a, struct kern_panel_aux *aux, int64_t n);
/* aux[b] for the n / 256 super-blocks of one Q8_K activation row a (n,). */
void kern_panel_prep_k(const void *a, struct kern_panel_kaux *aux, int64_t n);
/* Bytes of aux per activation row of n elements in vdt (Q8_0 or Q8_K), and the prep of
 * one such row into aux. */
size_t kern_panel_aux_bytes(enum ggml_type vdt, int64_t n);
void kern_panel_prep_row(enum ggml_type vdt, const void *a, void *aux, int64_t n);

/* x86/gemm_panel_*.c, x86/dot_*_panel.c: call only after cpu_has() of the matching
 * KERN_ISA_*_MASK (kern_get_panel does that check). */
#define KERN_PANEL_DECLARE(SUF)                                                                                \
    void gemm_panel_q4_0_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as,                  \
                               const void *aux, float *y, size_t ldy, int n_tok, void *scratch);
#define KERN_PANEL_DECLARE_Q8(SUF)                                                                             \
    void gemm_panel_q8_0_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as,                  \
                               const void *aux, float *y, size_t ldy, int n_tok, void *scratch);
KERN_PANEL_DECLARE(avx2)
KERN_PANEL_DECLARE(avx512)
KERN_PANEL_DECLARE(avx512vnni)
KERN_PANEL_DECLARE(avxvnni)
KERN_PANEL_DECLARE_Q8(avx512vnni)
KERN_PANEL_DECLARE_Q8(avxvnni)
KERN_PANEL_DECLARE_Q8(avx2)
/* x86/gemm_panel_k_*.c, x86/dot_*_panel_k.c (gemm_panel_k_body.h) */
#define KERN_PANEL_DECLARE_K(SUF)                                                                              \
    void gemm_panel_q4_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, \
                               float *y, size_t ldy, int n_tok, void *scratch);                                \
    void gemm_panel_q5_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, \
                               float *y, size_t ldy, int n_tok, void *scratch);                                \
    void gemm_panel_q6_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, \
                               float *y, size_t ldy, int n_tok, void *scratch);                                \
    void gemm_panel_q3_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, \
                               float *y, size_t ldy, int n_tok, void *scratch);                                \
    void gemm_panel_q2_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, const void *aux, \
                               float *y, size_t ldy, int n_tok, void *scratch);
KERN_PANEL_DECLARE_K(avx2)
KERN_PANEL_DECLARE_K(avx512)
KERN_PANEL_DECLARE_K(avx512vnni)
KERN_PANEL_DECLARE_K(avxvnni)

#endif
