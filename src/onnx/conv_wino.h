/* conv_wino.h — Winograd F(4x4, 3x3) for 3x3 stride-1 undilated ungrouped convs, the path
 * ops/conv.c takes for the shapes where it beats im2col + GEMM (ox_wino_pick). Each 4x4
 * output tile comes from a 6x6 input patch d as Y = A^T [ (G g G^T) .* (B^T d B) ] A, so
 * the conv becomes 36 independent GEMMs, one per position xi of the 6x6 transformed tile:
 *
 *   U_xi (M, C) = (G g G^T)[xi] per (m, c)     weights: transformed + packed once per plan
 *   V_xi (C, T) = (B^T d B)[xi] per (c, tile)  T = ceil(OH/4) * ceil(OW/4) tiles, row-major
 *   P_xi (M, T) = U_xi @ V_xi                  ox_conv_gemm (conv_kern.h), no epilogue
 *   Y[m] tile   = act(A^T P[m, t] A + bias[m] [+ Z[m] tile]) clipped at the right and bottom edges
 *
 * 4x fewer multiplies than the direct conv; the transforms (x86/wino_tmpl.h: AVX2 and
 * AVX-512 over VL tiles at once, a scalar reference here) cost about one GEMM pass over
 * the input and output. Accuracy: see docs/onnx.md (measured on ResNet-50's weights).
 *
 *   struct ox_wino g;
 *   ox_wino_geom(&g, c, m, h, w, pt, pl, oh, ow);
 *   float *u = malloc(ox_wino_pack_size(m, c) * sizeof(float)); ox_wino_pack(w, m, c, u);
 *   float *s = malloc(ox_wino_scratch(&g) * sizeof(float));
 *   ox_wino_conv(ctx, ox_conv_isa(), &g, x, u, bias, &epi, s, y);
 */
#ifndef INFERD_ONNX_CONV_WINO_H
#define INFERD_ONNX_CONV_WINO_H

#include <stdint.h>

#include "onnx/conv_kern.h"

#define OX_WINO_NP 36 /* positions of a transformed 6x6 tile */
#define OX_WINO2_NP 16 /* F(2x2, 3x3): of a transformed 4x4 tile */

struct ox_ctx;

/* One image's geometry: X (C, H, W) with pads pt (top), pl (left) -> Y (M, OH, OW). */
struct ox_wino {
    int64_t c, m, h, w, pt, pl, oh, ow;
    int64_t r, np;      /* outputs per tile side (4: F(4x4,3x3), 2: F(2x2,3x3)), positions (r+2)^2 */
    int64_t th, tw, nt; /* tile rows ceil(OH/r), tile columns ceil(OW/r), tiles th*tw */
    int64_t ldt;        /* floats between two rows of V and of P: nt (ox_wino_geom), or
                           imgs * nt where a batch's tiles sit side by side (ox_wino_conv_batch) */
    int64_t ys;         /* floats between two channels of Y (and Z): oh * ow (ox_wino_geom); a band of
                           tile rows (ox_wino_conv_bands) keeps the whole map's with its own oh */
    int pf;             /* 1: the AVX-512/AVX2 single-vector-row transforms (input_rows, output_rows)
                           and F(2x2,3x3)'s (ox_wino2_*) prefetch the next channel's lines (X and
                           V, P and Y): set by
                           ox_wino_conv_batch on a pool of 2+ threads, where half of those lines
                           sit in the other core's cache; 0 (ox_wino_geom) otherwise. Bits unchanged */
};
void ox_wino_geom(struct ox_wino *g, int64_t c, int64_t m, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t oh,
                  int64_t ow);
/* the same for F(r x r, 3x3), r 4 or 2 (ox_wino_geom: 4) */
void ox_wino_geom_r(struct ox_wino *g, int r, int64_t c, int64_t m, int64_t h, int64_t w, int64_t pt, int64_t pl,
                    int64_t oh, int64_t ow);

/* U for one 3x3 kernel g (row-major): u[xi], xi = 6*row + col of G g G^T (computed in double). */
void ox_wino_kernel(const float *g, float *u);
/* Floats of the 36 packed U matrices of W (M, C, 3, 3); ox_wino_pack fills them: U_xi in
 * ox_conv_pack's layout at u + xi * ox_conv_pack_size(m, c). */
int64_t ox_wino_pack_size(int64_t m, int64_t c);
void ox_wino_pack(const float *w, int64_t m, int64_t c, float *u);

/* F(2x2, 3x3) (g->r == 2: 16 positions, 2x2 outputs from a 4x4 patch, 2.25x fewer multiplies
 * than the direct conv and U 16/9 of W's size where F(4x4,3x3)'s is 36/9): the same layouts
 * with 16 for 36. Its transforms (plain C, every isa) are what the _run functions call for it. */
void ox_wino2_kernel(const float *g, float *u);
int64_t ox_wino2_pack_size(int64_t m, int64_t c);
void ox_wino2_pack(const float *w, int64_t m, int64_t c, float *u);
void ox_wino2_input(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v);
void ox_wino2_output(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e,
                     int64_t m0, int64_t m1, float *y);
/* the least channels (in and out) F(2x2,3x3) is picked for by the rule */
#define OX_WINO2_MINC 512

/* Input transform of channels [c0, c1) of X: v[(xi * C + ci) * ldt + t]. */
void ox_wino_input_ref(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v);
void ox_wino_input_avx2(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v);
void ox_wino_input_avx512(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v);
void ox_wino_input_run(enum ox_isa isa, const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v);

/* Output transform of channels [m0, m1) from P (36, M, T): p[(xi * M + mi) * ldt + t];
 * bias (M entries) or NULL, Z (M, OH, OW: a fused residual Add, not Y) or NULL, then the activation, written to Y (M, OH, OW). */
void ox_wino_output_ref(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e, int64_t m0,
                        int64_t m1, float *y);
void ox_wino_output_avx2(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e,
                         int64_t m0, int64_t m1, float *y);
void ox_wino_output_avx512(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e,
                           int64_t m0, int64_t m1, float *y);
void ox_wino_output_run(enum ox_isa isa, const struct ox_wino *g, const float *p, const float *bias,
                        const float *z, const struct ox_epi *e, int64_t m0, int64_t m1, float *y);

/* Floats of scratch ox_wino_conv needs: V (np, C, T) then P (np, M, T). */
int64_t ox_wino_scratch(const struct ox_wino *g);

/* Whether a 3x3 stride-1 conv of this shape runs faster as Winograd on isa (the measured
 * rule in conv_wino.c and docs/onnx.md): 0 no, else the tile size r to run (4 or 2).
 * INFERD_ONNX_WINOGRAD=0 turns the path off, =1 takes F(4x4,3x3) for every eligible shape;
 * INFERD_ONNX_WINO2=0 keeps F(2x2,3x3) out of the rule, =1 takes it for every eligible shape
 * (for measuring); unset or other values: the rule. */
int ox_wino_pick(enum ox_isa isa, int64_t c, int64_t m, int64_t oh, int64_t ow);

/* One image: Y (M, OH, OW) = act(conv3x3(X) + bias [+ Z]). u from ox_wino_pack (borrowed),
 * scratch ox_wino_scratch(g) floats; input transform split over channels, the 36 GEMMs
 * over (position, column block, weight panel) items, the output over channels, all
 * through c's pool, with the kernels of isa. Allocates nothing. */
void ox_wino_conv(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, const float *x, const float *u, const float *bias,
                  const float *z, const struct ox_epi *e, float *scratch, float *y);

/* Large maps: V and P of the whole map (56x56 at 64 channels: 1.8 MB each) leave L2 between
 * the three phases. ox_wino_conv_bands runs input transform -> 36 GEMMs -> output transform
 * per band of at most rows tile rows (V and P of a band at the start of the scratch of its
 * rows), the bands' tile rows split over c's pool; scratch ox_wino_scratch(g) floats.
 * ox_wino_band_rows: the rows ox_wino_conv takes per band, 0 for the whole map (the rule in
 * conv_wino.c: bands where the whole map's V + P pass OX_WINO_BAND_MIN, 2x an L2 of 2 MB,
 * with V + P of a band within OX_WINO_BAND_BYTES). INFERD_ONNX_WINO_BAND=0 keeps every map
 * whole, =1 takes bands on every map of 2 tile rows or more (for measuring). */
#define OX_WINO_BAND_BYTES (1 << 20)
#define OX_WINO_BAND_MIN (4 << 20)
/* Halves: below OX_WINO_BAND_MIN, a map of at least OX_WINO_HALF_MINT tiles whose U (np * C * M
 * floats) is within OX_WINO_HALF_U runs as two bands of half the tile rows each, or as bands
 * within OX_WINO_BAND_BYTES where a half's V + P pass it (56x56 at 64 channels: 4 bands of
 * 3-4 tile rows), cut from the map alone (so the same bits on any thread count): the bands
 * split over the threads, each band's three phases on its own core's V and P.
 * INFERD_ONNX_WINO_HALF=0 keeps such maps whole. */
#define OX_WINO_HALF_U (1 << 20)
#define OX_WINO_HALF_MINT 96
int64_t ox_wino_band_rows(const struct ox_wino *g);
void ox_wino_conv_bands(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, int64_t rows,
                        const float *x, const float *u, const float *bias, const float *z, const struct ox_epi *e,
                        float *scratch, float *y);

/* Small maps of a batch (T < OX_WINO_BATCH_MAXT: a 7x7 map has 4 tiles): one image's 36
 * GEMMs have T columns, a fraction of a tile's 2*VL (AVX-512: 32), and the per-image rule
 * loses there. ox_wino_conv_batch runs nb images at once, their tiles side by side in V and
 * P (ldt = nb * T), so the GEMMs have nb * T columns and each U_xi is read once for them.
 * X, Y and Z hold nb consecutive images; scratch ox_wino_scratch(g) * nb floats.
 * ox_wino_batch_imgs: the images one call should take from a batch of nb, enough for
 * OX_WINO_BATCH_COLS columns (7x7: 8); 1 (one by one) for larger maps, where the batch's
 * bigger V and P measured slower (14x14 at 4 images: 1.3x, 28x28 at 2: 1.3x). */
#define OX_WINO_BATCH_COLS 32
#define OX_WINO_BATCH_MAXT 16
int64_t ox_wino_batch_imgs(const struct ox_wino *g, int64_t nb);
void ox_wino_conv_batch(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, int64_t nb, const float *x,
                        const float *u, const float *bias, const float *z, const struct ox_epi *e, float *scratch,
                        float *y);
/* ox_wino_pick for a batch of nb images of this shape (the batched GEMMs' columns count):
 * F(4x4,3x3) batched where ox_wino_batch_imgs groups images (r 4), else as ox_wino_pick */
int ox_wino_pick_batch(enum ox_isa isa, int64_t c, int64_t m, int64_t oh, int64_t ow, int64_t nb);

/* prefetches the cache lines of the n floats at a: for writing where w (x86 `prefetchw`,
 * which takes a line from the other core's cache exclusive; GCC's own write prefetch is a
 * read prefetch without -mprfchw; 0F 0D is a no-op hint on CPUs without it), else for
 * reading. For g->pf. */
static inline void ox_wino_pf_lines(const float *a, int64_t n, int w)
{
    const char *q = (const char *)((uintptr_t)a & ~(uintptr_t)63), *end = (const char *)(a + n);
    for (; q < end; q += 64)
        if (w)
#if defined(__x86_64__) || defined(__i386__)
            __asm__ volatile("prefetchw %0" : : "m"(*q));
#else
            __builtin_prefetch(q, 1, 3);
#endif
        else
            __builtin_prefetch(q, 0, 3);
}

/* ox_wino_pf_lines on one channel's tiles at each of the g->np positions (V or P: a,
 * a + stride, ...; g->nt floats each): the transforms' next channel where g->pf */
static inline void ox_wino_pf_positions(const struct ox_wino *g, const float *a, int64_t stride, int w)
{
    for (int64_t xi = 0; xi < g->np; xi++)
        ox_wino_pf_lines(a + xi * stride, g->nt, w);
}

#endif
