/* conv_patch.h — a patch-embedding conv (a ViT's first layer: kernel == stride, no padding,
 * undilated, ungrouped, kernel larger than 1x1) with packed weights: the patches of the whole
 * batch written out as one im2col matrix B (a pure permutation of X, no zeros) in the step's
 * scratch, then one packed GEMM (conv_kern.h) over the batch's columns, g->seg = OH*OW. The
 * generic path read B through the im2col view, whose packing gathers 4-lane segments at
 * stride 8 (8x8 patches on a 4x4 grid): most of the conv's time; a 4x4 grid also kept the
 * batch image by image (16 columns in a 32-column tile). The results are bit for bit those of
 * the im2col view (the same packed strips, the same tiles).
 *
 *   X (N, C, H, W), W (M, C, kh, kw) -> B (C*kh*kw, N*OH*OW): row (ci*kh + ky)*kw + kx,
 *   column (b*OH + oy)*OW + ox = x[b][ci][oy*kh + ky][ox*kw + kx];  Y = act(Wp @ B + bias [+ Z])
 *
 *   plan: scratch ox_conv_patch_scratch(n, c, kh, kw, oh * ow) bytes where
 *         ox_conv_patch_ok(n, group, kh, kw, sh, sw, dh, dw, pt + pl + pb + pr, oh * ow)
 *   run:  ox_conv_patch_run(ctx, ox_conv_isa(), &(struct ox_conv_patch){x, wp, bias, NULL, y, scratch, ...});
 */
#ifndef INFERD_ONNX_CONV_PATCH_H
#define INFERD_ONNX_CONV_PATCH_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/conv_kern.h"

struct ox_conv_patch {
    const float *x;    /* X (N, C, H, W), borrowed */
    const float *wp;   /* packed weights (ox_conv_pack), borrowed */
    const float *bias; /* M entries or NULL */
    const float *sum;  /* Z of Y's shape or NULL (conv_kern.h g->sum) */
    float *y;          /* OUT: Y (N, M, OH, OW) */
    float *scratch;    /* ox_conv_patch_scratch() bytes */
    int64_t n, c, h, w, m, kh, kw, oh, ow;
    struct ox_epi epi;
};

/* Whether the conv is a patch embedding this path takes: kernel == stride, kh*kw > 1, no
 * padding (pad_sum: the four pads added), dilation 1, group 1, and a batch's columns that
 * keep a tile within two images (ox_conv_seg_ok(OH*OW), or batch 1) */
int ox_conv_patch_ok(int64_t nb, int64_t group, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh,
                     int64_t dw, int64_t pad_sum, int64_t ohw);
/* bytes of B: C*kh*kw * N*OH*OW floats */
size_t ox_conv_patch_scratch(int64_t nb, int64_t c, int64_t kh, int64_t kw, int64_t ohw);
/* Y of the conv over c's pool (c may be NULL: one thread) */
struct ox_ctx;
void ox_conv_patch_run(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_patch *p);

#endif
