/* conv_stem.h — a direct conv for a network's first layer: few input channels (an image's
 * 1-3), kernel up to 7x7, stride 1 or 2, ungrouped, undilated; the path ops/conv.c takes for
 * such a Conv instead of im2col + GEMM, whose K (C * kh * kw = 27 for a 3x3 RGB stem) is too
 * short to pay for loading and storing a tile's accumulators and packing im2col.
 *
 *   Y (N, M, OH, OW) = act(sum_{c,ky,kx} W[m][c][ky][kx] * X[c][oy*sh - pt + ky][ox*sw - pl + kx]
 *                          + bias[m]),  out-of-image taps zero
 *
 * Work item q = output row q % OH of image q / OH. The SIMD versions (x86/stem_tmpl.h) sum
 * each output's taps in (c, ky, kx) order starting from the bias; the reference sums in the
 * same order, so they differ only by FMA rounding.
 *
 * With yrows set, Y's planes are a ring of yrows rows (output row oy at row oy mod yrows):
 * InferdStemDw (ops/stem_dw.c) keeps the rows its depthwise band reads in cache that way.
 *
 *   struct ox_stem s = {x, w, bias, y, c, h, wd, m, kh, kw, sh, sw, pt, pl, oh, ow, epi, 0};
 *   if (ox_conv_stem_ok(isa, &s))
 *       ox_conv_stem_run(isa, &s, 0, n * oh);
 */
#ifndef INFERD_ONNX_CONV_STEM_H
#define INFERD_ONNX_CONV_STEM_H

#include <stdint.h>

#include "onnx/conv_kern.h"

#define OX_STEM_MAXC 3    /* input channels */
#define OX_STEM_MAXK 7    /* kh, kw */
#define OX_STEM_MAXOW 256 /* output columns (a row's copies live on the stack) */

struct ox_stem {
    const float *x, *w, *bias; /* X (N, C, H, W); W (M, C, kh, kw); bias (M) or NULL; borrowed */
    float *y;                  /* OUT: Y (N, M, OH, OW) */
    int64_t c, h, wd, m, kh, kw, sh, sw, pt, pl, oh, ow;
    struct ox_epi epi;
    int64_t yrows; /* 0: Y planes of OH rows; else a ring of yrows rows (row oy at oy % yrows) */
};

/* 1 when isa has a kernel for this shape (never for OX_ISA_REF: the GEMM path stays) */
int ox_conv_stem_ok(enum ox_isa isa, const struct ox_stem *s);
void ox_conv_stem_ref(const struct ox_stem *s, int64_t q0, int64_t q1);
void ox_conv_stem_avx2(const struct ox_stem *s, int64_t q0, int64_t q1);
void ox_conv_stem_avx512(const struct ox_stem *s, int64_t q0, int64_t q1);
void ox_conv_stem_run(enum ox_isa isa, const struct ox_stem *s, int64_t q0, int64_t q1);

#endif
