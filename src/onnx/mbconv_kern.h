/* mbconv_kern.h — InferdMBConv's channel-blocked kernels (x86/mb_tmpl.h, built into
 * conv_avx2.c / conv_avx512.c): the expand 1x1 conv written straight into the depthwise
 * kernel's channel-blocked layout, and the depthwise conv read from it, so the expanded map
 * E is never transposed (ops/mbconv.c; the planar path is ox_conv_gemm + ox_dw_blk).
 *
 *   E_c: per block of L = ox_dw_blk_lanes() channels, erows rows (a ring: input row iy at
 *        iy % erows) of rl columns, each column L floats (one pixel of L channels); image
 *        column ix at column pl + ix, the other columns zero (the depthwise padding).
 *        Block cb starts at e + cb * erows * rl * L.
 *   E_c[m][iy][ix] = act(bias[m] + sum_c WA[m][c] * X[c][iy][ix]), summed over c in order.
 *   wt: WA blocked by 16 output channels, [m / 16][c][m % 16] (zeros past M); bt: bias, 16
 *   per block (zeros past M, or all zero without a bias): ox_mb_pack_size floats in all.
 */
#ifndef INFERD_ONNX_MBCONV_KERN_H
#define INFERD_ONNX_MBCONV_KERN_H

#include <stdint.h>

#include "onnx/conv_kern.h"

#define OX_MB_BLK 16 /* output channels per block of wt */

struct ox_mb_exp {
    const float *x;        /* X of one image (C, H, W) */
    const float *wt, *bt;  /* blocked weights and bias (above); wt NULL: no expand conv,
                              E_c holds X's C channels interleaved (E_c[m] = X[m]) */
    struct ox_epi epi;
    float *e;              /* E_c */
    int64_t c, h, w, erows, rl, pl;
    float *dc;             /* ox_mb_dw's output channel-blocked (D_c: block cb at cb * dbst, output
                              row oy's pixel ox at ((oy - y0) OW + ox) L), else NULL: planar */
    int64_t dbst;
};

/* m rounded up to whole blocks of OX_MB_BLK channels (wt's rows, E_c's and D_c's room) */
static inline int64_t ox_mb_round(int64_t m)
{
    return (m + OX_MB_BLK - 1) / OX_MB_BLK * OX_MB_BLK;
}

/* floats of wt and bt for m outputs of c inputs: ox_mb_round(m) (c + 1) */
static inline int64_t ox_mb_pack_size(int64_t m, int64_t c)
{
    return ox_mb_round(m) * (c + 1);
}

/* E_c rows [r0, r1) of channel blocks [cb0, cb1) (L channels each), padding columns included */
void ox_mb_expand_avx2(const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t r0, int64_t r1);
void ox_mb_expand_avx512(const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t r0, int64_t r1);
/* depthwise output rows [oy0, oy1) of channel blocks [cb0, cb1) from E_c (d->x unused; d->y,
 * yrows, y0 as for ox_dw_blk); ox_dw_blk_ok(d) */
void ox_mb_dw_avx2(const struct ox_dw *d, const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t oy0, int64_t oy1);
void ox_mb_dw_avx512(const struct ox_dw *d, const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t oy0,
                     int64_t oy1);

/* Y (M2, n) (columns ldy apart, as Z) = act(WC D_c + bC [+ Z]) for items [i0, i1) of
 * ox_mb_prj_items: item i is columns [16 q, 16 q + 16) (cut at n) x output channels
 * [OX_MB_PRJ_CH g, OX_MB_PRJ_CH g + OX_MB_PRJ_CH) (cut at M2), q = i % Q, g = i / Q,
 * Q = ceil(n / 16): on a 7x7 map's 49 pixels, 16-column items alone split 32 + 17 over two
 * threads, and so did contiguous item ranges taken pixels-major (all of q = 0, 1, then of
 * q = 2, 3); channels-major a range holds every pixel group of its channels. D_c the depthwise output channel-blocked, block stride dbst, pixel i
 * of a block at i * L; wt, bt WC and bC blocked as WA above (k = M). */
#define OX_MB_MAXM2 512 /* most project outputs (a stage of 16 pixels on the stack) */
#define OX_MB_PRJ_CH 32 /* output channels an item: two AVX-512 blocks (one tile's) */
struct ox_mb_prj {
    const float *dc, *wt, *bt, *z; /* z: NULL or Z at Y's strides */
    float *y;
    struct ox_epi epi;
    int64_t k, m2, n, dbst, ldy;
};
static inline int64_t ox_mb_prj_items(int64_t n, int64_t m2)
{
    return (n + 15) / 16 * ((m2 + OX_MB_PRJ_CH - 1) / OX_MB_PRJ_CH);
}
void ox_mb_project_avx2(const struct ox_mb_prj *j, int64_t i0, int64_t i1);
void ox_mb_project_avx512(const struct ox_mb_prj *j, int64_t i0, int64_t i1);

/* InferdSE's plane passes (ops/se.c) in wide vectors: s[p] = mean of plane p of X (hw floats
 * a plane) for p in [lo, hi), the bits of ox_gap_planes (16 lane sums, lane l holding x[l],
 * x[16 + l], .., added to the tail's sum in lane order; AVX2: two vectors of 8); and Y plane p
 * = X plane p * g[p] (one multiply an element, Mul's bits). Y may be X. */
void ox_se_gap_avx2(const float *x, float *s, int64_t hw, int64_t lo, int64_t hi);
void ox_se_gap_avx512(const float *x, float *s, int64_t hw, int64_t lo, int64_t hi);
/* ox_gap_planes (ops.h) with isa's kernel (AVX-512 / AVX2: ox_se_gap_*; else the portable
 * one): the same bits. GlobalAveragePool (pool.c) and InferdSE's squeeze (se.c). */
void ox_gap_planes_isa(enum ox_isa isa, const float *x, float *y, int64_t len, int64_t lo, int64_t hi);
void ox_se_scale_avx2(const float *x, float *y, const float *g, int64_t hw, int64_t lo, int64_t hi);
void ox_se_scale_avx512(const float *x, float *y, const float *g, int64_t hw, int64_t lo, int64_t hi);

/* InferdSE's FCs for several images at once (AVX-512; ops/se.c): y column j (m floats at
 * y + j m) = act(W x column j (k floats at x + j k) + bias) for W's packed panels [p0, p1)
 * (ox_conv_pack), columns 0..cols-1. Each column is summed as ox_conv_gemm's one-column
 * product (gemv_panel: four chains over K, added pairwise, then the bias) and the weights
 * are loaded once for up to four columns: at batch 8 the FCs' weights (664 KiB for
 * MobileNetV3's 576 -> 144 -> 576) were read once per image. */
struct ox_se_fc {
    const float *wp, *bias; /* packed W (m, k), borrowed; bias (m) or NULL */
    const float *x;
    float *y;
    int64_t m, k, cols;
    struct ox_epi epi;
};
void ox_se_fc_avx512(const struct ox_se_fc *f, int64_t p0, int64_t p1);

#endif
