/* conv.c — Conv, 2-D, FP32: groups (depthwise included), strides, dilations, pads/auto_pad,
 * optional bias, and an activation fused by fuse.c (n->ip[0] = enum ox_act, fp[0..1] its
 * parameters) applied as each output is stored; n->ip[1] != 0 (model.c, INFERD_ONNX_OPT_WINOGRAD
 * off) keeps it off the Winograd path. The kernel is chosen by shape at plan time
 * (conv_kern.h; AVX-512 / AVX2 / scalar by cpu_has()):
 *
 *   X (N, C, H, W), W (M, C/g, kh, kw), B (M) -> Y (N, M, OH, OW)
 *   depthwise (g == C == M): a direct kernel per channel plane, split over the pool
 *   1x1, stride 1, no pad:   Y_g (M/g, H*W) = Wp_g (M/g, C/g) @ X_g (C/g, H*W), X read in place
 *   C <= 3, g == 1, no Z:    a first layer (an image's channels): a direct kernel over output
 *                            rows, its K = C*kh*kw too short for the GEMM (conv_stem.h)
 *   3x3, stride 1, g == 1:   Winograd F(4x4,3x3) where ox_wino_pick says it wins: 36 GEMMs on
 *                            transformed tiles (conv_wino.h); INFERD_ONNX_WINOGRAD=0 turns it off;
 *                            a batch's small maps (7x7) with their tiles side by side in each
 *                            GEMM (ox_wino_conv_batch), where one image's 4 tiles would lose;
 *                            F(2x2,3x3) (16 GEMMs) where F(4x4) has under 16 tiles and both
 *                            channel counts are >= 512 (ResNet's 7x7 maps at batch 1-3; a
 *                            batch of maps up to 6x6 runs it batched), where that batching is
 *                            not taken (ox_wino_pick_batch's tile size)
 *   kh, kw >= 3, stride 2, M <= 64, C > 3, no Z, AVX-512: the oc-lane kernel (conv_direct.h
 *                            ox_cdoc_*): output channels in the lanes, X broadcast in place,
 *                            weights packed W^T (op->pack); INFERD_ONNX_CONV_OCL=0 turns it off,
 *                            =1 takes it at stride 1 too (default: is_cdoc's rule)
 *   kh, kw >= 3, stride_w 1-2: (not Winograd, g == 1, packed weights) the direct conv (conv_direct.h):
 *                            X copied once per image into a padded, phase-split layout the tiles
 *                            read in place, no im2col packing; INFERD_ONNX_CONV_DIRECT=0 turns it
 *                            off, =1 takes it for every eligible shape (default: is_direct's rule)
 *   1x1 pointwise, batch 1, M <= 64: the direct conv's tiles reading X in place (no pack, no
 *                            fill: conv_direct.h's pointwise run) where OH*OW % 16 == 0;
 *                            INFERD_ONNX_CONV_PW=0 turns it off, =1 takes it for every eligible
 *                            shape and batch (default: is_pw_direct's rule)
 *   otherwise:               the same GEMM with B the im2col matrix (C/g*kh*kw, OH*OW), which
 *                            its packing reads straight from X block by block (never written out)
 *   kernel == stride, no pad: a patch embedding: the batch's patches written out, one GEMM
 *                            (conv_patch.h)
 *   batch > 1, g == 1:       the packed GEMMs above over the whole batch at once (columns of
 *                            every image, conv_kern.h g->seg) where ox_conv_seg_ok(OH*OW) (a
 *                            4x4 map's 16 columns included; a patch embedding goes above)
 *   Z:                       fuse.c's residual Add (ip[2] = 1, in[3]): Y = act(conv + bias + Z),
 *                            Z added with the bias in the GEMM / Winograd store when it has the
 *                            conv's shape; the depthwise and OpenBLAS paths, and a Z of another
 *                            shape (the Add broadcasts either way), take a pass after the kernel
 *   Wp: the weights packed once per plan into 12-row panels (op->pack); without a packing
 *   (weights computed at run time) im2col goes into the step's scratch and the GEMM through
 *   OpenBLAS, the epilogue after it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "onnx/conv_direct.h"
#include "onnx/conv_kern.h"
#include "onnx/conv_patch.h"
#include "onnx/conv_stem.h"
#include "onnx/conv_wino.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

static int conv_geometry(const struct ox_node *n, struct ox_tensor *const *in, struct ox_window *win,
                         int64_t *group, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *w = in[1];
    if (x->dt != INFERD_FP32 || w->dt != INFERD_FP32 || (n->n_in > 2 && in[2] && in[2]->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Conv: only FP32 is supported");
    if (x->rank != 4 || w->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Conv: only 2-D convolutions (rank-4 X and W) are supported");
    int64_t g = ox_attr_int(n, "group", 1);
    if (g < 1 || x->dims[1] % g || w->dims[0] % g || w->dims[1] != x->dims[1] / g)
        return inferd_err_set(err, INFERD_ESHAPE, "Conv: channels %lld, weights (%lld,%lld,..) and group %lld disagree",
                              (long long)x->dims[1], (long long)w->dims[0], (long long)w->dims[1], (long long)g);
    const struct ox_attr *ks = ox_attr_find(n, "kernel_shape");
    if (ks && ks->type == OX_ATTR_INTS && (ks->n_ints != 2 || ks->ints[0] != w->dims[2] || ks->ints[1] != w->dims[3]))
        return inferd_err_set(err, INFERD_ESHAPE, "Conv: kernel_shape disagrees with the weights");
    if (n->n_in > 2 && in[2] && in[2]->numel != w->dims[0])
        return inferd_err_set(err, INFERD_ESHAPE, "Conv: bias has %lld entries, want %lld", (long long)in[2]->numel,
                              (long long)w->dims[0]);
    if (n->n_in > 3 && (!n->ip[2] || (in[3] && in[3]->dt != INFERD_FP32)))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Conv: takes 2..3 inputs (a 4th only as a fused residual Add)");
    *group = g;
    return ox_window_resolve(n, x->dims[2], x->dims[3], w->dims[2], w->dims[3], 0, win, err);
}

int ox_conv_sum_dims(const struct ox_tensor *z, int64_t dims[4])
{
    if (z->rank > 4)
        return -1;
    for (int d = 0; d < z->rank; d++) {
        int64_t zd = z->dims[d], *cd = &dims[4 - z->rank + d];
        if (zd != *cd && zd != 1 && *cd != 1)
            return -1;
        *cd = zd == 1 ? *cd : zd;
    }
    return 0;
}

static int conv_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    struct ox_window win;
    int64_t g;
    int rc = conv_geometry(n, in, &win, &g, err);
    if (rc < 0)
        return rc;
    int64_t dims[4] = {in[0]->dims[0], in[1]->dims[0], win.oh, win.ow};
    const struct ox_tensor *z = n->n_in > 3 ? in[3] : NULL;
    if (z) { /* the fused Add's other input: Y is the two broadcast (numpy rules) */
        if (ox_conv_sum_dims(z, dims) < 0)
            return inferd_err_set(err, INFERD_ESHAPE,
                                  "Conv: the fused Add's other input '%s' (rank %d) does not broadcast with the conv's "
                                  "output (%lld,%lld,%lld,%lld); graph_optimizations \"conv_residual\": false "
                                  "(INFERD_ONNX_OPT_CONV_SUM) turns the fusion off",
                                  n->in_names[3], z->rank, (long long)in[0]->dims[0], (long long)in[1]->dims[0],
                                  (long long)win.oh, (long long)win.ow);
    }
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

/* whether Z has the conv's own shape cd: then the kernels add it in their store */
static int conv_shaped(const struct ox_tensor *z, const int64_t *cd)
{
    return z->rank == 4 && z->dims[0] == cd[0] && z->dims[1] == cd[1] && z->dims[2] == cd[2] && z->dims[3] == cd[3];
}

/* Y (yd) = act(C + Z), C the conv's result (cd) in Y's first floats, C and Z broadcast to
 * Y (conv_infer checked they do): the fused Add where the kernel did not take Z. Y is
 * walked backwards, so a C smaller than Y is read before what it expands to overwrites it. */
static void sum_after(float *y, const int64_t *cd, const int64_t *yd, const struct ox_tensor *z,
                      const struct ox_epi *e)
{
    int64_t zs[4], cs[4], zt = 1, ct = 1;
    for (int d = 3; d >= 0; d--) {
        int64_t zd = d >= 4 - z->rank ? z->dims[d - (4 - z->rank)] : 1;
        zs[d] = zd == 1 ? 0 : zt;
        cs[d] = cd[d] == 1 ? 0 : ct;
        zt *= zd;
        ct *= cd[d];
    }
    const float *zv = z->data;
    for (int64_t a = yd[0] - 1; a >= 0; a--)
        for (int64_t b = yd[1] - 1; b >= 0; b--)
            for (int64_t h = yd[2] - 1; h >= 0; h--) {
                float *yr = y + ((a * yd[1] + b) * yd[2] + h) * yd[3];
                const float *cr = y + a * cs[0] + b * cs[1] + h * cs[2];
                const float *zr = zv + a * zs[0] + b * zs[1] + h * zs[2];
                for (int64_t w = yd[3] - 1; w >= 0; w--)
                    yr[w] = ox_act_apply(e, cr[w * cs[3]] + zr[w * zs[3]]);
            }
}

void ox_conv_sum_after(float *y, const int64_t *cd, const int64_t *yd, const struct ox_tensor *z, const struct ox_epi *e)
{
    sum_after(y, cd, yd, z, e);
}

static int is_pointwise(const struct ox_window *w)
{
    return w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && !w->pt && !w->pl && !w->pb && !w->pr;
}

static int is_depthwise(const struct ox_tensor *x, const struct ox_tensor *w, int64_t g)
{
    return g > 1 && g == x->dims[1] && w->dims[0] == g;
}

/* Winograd F(4x4,3x3) (conv_wino.h) for 3x3 stride-1 undilated ungrouped convs with
 * constant weights, on the shapes where it measured faster (ox_wino_pick) */
static int is_winograd(const struct ox_node *n, const struct ox_tensor *x, const struct ox_tensor *w,
                       const struct ox_window *v, int64_t g)
{
    return !n->ip[1] && g == 1 && w->is_const && v->kh == 3 && v->kw == 3 && v->sh == 1 && v->sw == 1 && v->dh == 1 &&
           v->dw == 1 && ox_wino_pick_batch(ox_conv_isa(), x->dims[1], w->dims[0], v->oh, v->ow, x->dims[0]);
}

/* INFERD_ONNX_CONV_DIRECT: 0 off, 1 every eligible shape, else the rule (-1) */
static struct ox_switch direct_sw = OX_SWITCH("INFERD_ONNX_CONV_DIRECT", -1);

static void cdir_geom(struct ox_cdir *d, const struct ox_tensor *x, const struct ox_tensor *w,
                      const struct ox_window *v)
{
    *d = (struct ox_cdir){.c = x->dims[1], .h = x->dims[2], .w = x->dims[3], .m = w->dims[0], .kh = v->kh,
                          .kw = v->kw, .sh = v->sh, .sw = v->sw, .pt = v->pt, .pl = v->pl, .oh = v->oh, .ow = v->ow};
}

/* the direct conv (conv_direct.h) for kernels of 3x3 and up at stride 1 or 2 with constant
 * weights (packed, as the GEMM's) where Winograd is not taken; by default with 64 output
 * channels at most (1 thread, CPU time per node: YOLO's 16-64 channel convs 0.7-0.95x of the
 * im2col GEMM, ResNet-18's 128-512 channel ones 1.0-1.3x: the GEMM reuses each packed block
 * of im2col for as many panels, and Xp's taps for a tile run past L1 at K = 4608) */
static int is_direct(const struct ox_node *n, const struct ox_tensor *x, const struct ox_tensor *w,
                     const struct ox_window *v, int64_t g)
{
    int direct_mode = ox_switch(&direct_sw);
    if (direct_mode == 0 || g != 1 || !w->is_const || x->is_const || v->kh < 3 || v->kw < 3 || v->dh != 1 ||
        v->dw != 1 || (direct_mode < 0 && w->dims[0] > 64) || is_winograd(n, x, w, v, g))
        return 0;
    struct ox_cdir d;
    cdir_geom(&d, x, w, v);
    /* a batch with an Xp past L2 (1 MiB) keeps the batched GEMM: YOLO's 16 -> 32 channel
     * stride-2 conv on 160x160 (Xp 1.7 MB, its input out of cache) took 1.15 ms an image
     * direct at batch 8, 1.06 by the GEMM (0.82 vs 0.86 at batch 1) */
    if (direct_mode < 0 && x->dims[0] > 1 && ox_cdir_scratch(&d) > ((size_t)1 << 20))
        return 0;
    /* and any Xp past 8 MiB (a slot per thread: 16 threads on a 640x640 map would plan
     * hundreds of MB where the GEMM plans none) */
    if (direct_mode < 0 && ox_cdir_scratch(&d) > ((size_t)8 << 20))
        return 0;
    return ox_cdir_ok(ox_conv_isa(), &d);
}

/* INFERD_ONNX_CONV_OCL: 0 off, 1 every eligible shape, else the rule (-1) */
static struct ox_switch ocl_sw = OX_SWITCH("INFERD_ONNX_CONV_OCL", -1);

/* the oc-lane kernel (conv_direct.h ox_cdoc_*, AVX-512) for Z-free kernels of 3x3 and up with
 * constant weights (packed W^T) and up to 64 output channels, by default at stride 2 */
static int is_cdoc(const struct ox_node *n, const struct ox_tensor *x, const struct ox_tensor *w,
                   const struct ox_window *v, int64_t g)
{
    int mode = ox_switch(&ocl_sw);
    if (mode == 0 || g != 1 || !w->is_const || x->is_const || n->n_in > 3 || v->kh < 3 || v->kw < 3 || v->dh != 1 ||
        v->dw != 1 || x->dims[1] <= OX_STEM_MAXC || (mode < 0 && (v->sh != 2 || v->sw != 2)) ||
        is_winograd(n, x, w, v, g))
        return 0;
    struct ox_cdir d;
    cdir_geom(&d, x, w, v);
    return ox_cdoc_ok(ox_conv_isa(), &d);
}

/* INFERD_ONNX_CONV_PW: 0 off, 1 every eligible shape, else the rule (-1) */
static struct ox_switch pw_sw = OX_SWITCH("INFERD_ONNX_CONV_PW", -1);

/* the pointwise run (conv_direct.h) for a 1x1 conv (is_pointwise, ungrouped, packed): by
 * default at batch 1 with 64 output channels at most (YOLO's 1x1s, where the GEMM packed each
 * block of X for 3-6 panels); a batch keeps the batched GEMM (weights streamed once) */
static int is_pw_direct(const struct ox_tensor *x, const struct ox_tensor *w)
{
    int pw_mode = ox_switch(&pw_sw);
    if (pw_mode == 0 || !w->is_const || x->is_const || (pw_mode < 0 && (x->dims[0] > 1 || w->dims[0] > 64)))
        return 0;
    struct ox_cdir d = {.c = x->dims[1], .h = x->dims[2], .w = x->dims[3], .m = w->dims[0], .kh = 1, .kw = 1,
                        .sh = 1, .sw = 1, .oh = x->dims[2], .ow = x->dims[3]};
    return ox_cdir_pw_ok(ox_conv_isa(), &d);
}

/* a ViT's patch embedding (conv_patch.h) */
static int is_patch(const struct ox_tensor *x, const struct ox_window *v, int64_t g)
{
    return ox_conv_patch_ok(x->dims[0], g, v->kh, v->kw, v->sh, v->sw, v->dh, v->dw, v->pt + v->pl + v->pb + v->pr,
                            v->oh * v->ow);
}

static void wino_geom(struct ox_wino *wg, const struct ox_tensor *x, const struct ox_tensor *w,
                      const struct ox_window *v)
{
    int r = ox_wino_pick_batch(ox_conv_isa(), x->dims[1], w->dims[0], v->oh, v->ow, x->dims[0]);
    ox_wino_geom_r(wg, r, x->dims[1], w->dims[0], x->dims[2], x->dims[3], v->pt, v->pl, v->oh, v->ow);
}

/* Bytes of B packed ahead for a one-image conv on the im2col GEMM path (0: packed per call,
 * as ox_conv_gemm_pool does): with several threads each thread packed the blocks of B its
 * panels read, so a block two threads' ranges shared was packed twice, and a 7x7 map's one
 * block once per part (ResNet-50's 3x3 convs at 2 threads, batch 1: 1.1-1.2x the CPU time of
 * 1 thread). 1x1 convs too (B is X: a copy per block). Not for one or two columns (the
 * matrix-vector path of ox_conv_gemm keeps those). Only maps of up to OX_PRE_MAXN columns (wider ones have enough blocks for the
 * ranges to meet rarely, and keep each block's packing in the cache that uses it) and within
 * OX_PRE_CAP bytes; the plan lays the scratch out at every thread count, 1 included. Such a
 * conv now packs per thread by strips or panels where it can (ox_conv_gemm_pool_pre) and
 * uses the scratch only with more threads than strips to split. */
#define OX_PRE_MAXN 1024
#define OX_PRE_CAP ((size_t)4 << 20)
static size_t prepack_bytes(const struct ox_node *n, struct ox_tensor *const *in, const struct ox_window *v,
                            int64_t g)
{
    const struct ox_tensor *x = in[0], *w = in[1];
    int64_t ohw = v->oh * v->ow, k = w->dims[1] * v->kh * v->kw;
    if (g != 1 || x->dims[0] != 1 || !w->is_const || x->is_const || ohw <= 2 || ohw > OX_PRE_MAXN ||
        w->dims[0] <= OX_CV_MR || x->dims[1] <= OX_STEM_MAXC || is_winograd(n, x, w, v, g) ||
        is_direct(n, x, w, v, g) || is_cdoc(n, x, w, v, g) || is_patch(x, v, g))
        return 0;
    size_t b = (size_t)ox_conv_prepack_size(ox_conv_isa(), k, ohw) * sizeof(float);
    return b <= OX_PRE_CAP ? b : 0;
}

static size_t conv_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct ox_window win;
    int64_t g;
    (void)out;
    if (conv_geometry(n, in, &win, &g, NULL) < 0 || is_depthwise(in[0], in[1], g))
        return 0;
    if (is_pointwise(&win)) /* B is X itself */
        return prepack_bytes(n, in, &win, g);
    if (is_cdoc(n, in[0], in[1], &win, g)) /* reads X in place */
        return 0;
    if (is_direct(n, in[0], in[1], &win, g)) { /* Xp and its offsets, per thread (whole images) */
        struct ox_cdir d;
        cdir_geom(&d, in[0], in[1], &win);
        return ox_cdir_scratch(&d);
    }
    size_t cols = (size_t)(in[1]->dims[1] * win.kh * win.kw * win.oh * win.ow) * sizeof(float);
    if (in[1]->is_const && !in[0]->is_const && is_patch(in[0], &win, g)) /* conv_patch.h: B */
        return ox_conv_patch_scratch(in[0]->dims[0], in[0]->dims[1], win.kh, win.kw, win.oh * win.ow);
    if (!is_winograd(n, in[0], in[1], &win, g))
        /* constant weights come packed (plan.c packs them for a step, ox_op_run_once for a
         * folded node), and with a run-time X the GEMM reads im2col straight from it; a
         * constant X and weights computed at run time are given room for the whole matrix */
        return in[1]->is_const && !in[0]->is_const ? prepack_bytes(n, in, &win, g) : cols;
    /* V then P (Winograd's weights are constant, so always packed) */
    struct ox_wino wg;
    wino_geom(&wg, in[0], in[1], &win);
    return (size_t)(ox_wino_scratch(&wg) * ox_wino_batch_imgs(&wg, in[0]->dims[0])) * sizeof(float);
}

/* op->scratch_slots: nth where whole images go to threads (Winograd per image, the direct
 * conv, at batch >= nth), else 1 (the patch B, a batched Winograd's V and P, and every run at
 * batch < nth use the first slot only) */
static int conv_scratch_slots(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in)
{
    struct ox_window win;
    int64_t g, nb = in[0]->dims[0];
    const int nth = c->nth;
    if (nth <= 1 || nb < nth || conv_geometry(n, in, &win, &g, NULL) < 0)
        return 1;
    if (is_direct(n, in[0], in[1], &win, g))
        return nth;
    if (!is_winograd(n, in[0], in[1], &win, g) || (in[1]->is_const && !in[0]->is_const && is_patch(in[0], &win, g)))
        return 1;
    struct ox_wino wg;
    wino_geom(&wg, in[0], in[1], &win);
    return ox_wino_batch_imgs(&wg, nb) > 1 ? 1 : nth;
}

/* ceil(a / b) for b > 0 and any sign of a */
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* dst[i] = src[2 * i], i < n: the stride-2 rows of im2col (a stem conv's whole cost was
 * this loop run one scalar at a time); 4 outputs per step from two 4-float loads */
static void copy_even(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n && 2 * i + 8 <= 2 * n - 1; i += 4) { /* the loads stay within src[0, 2n-1) */
        ox_v4f a, b;
        memcpy(&a, src + 2 * i, sizeof a);
        memcpy(&b, src + 2 * i + 4, sizeof b);
        ox_v4f e = __builtin_shufflevector(a, b, 0, 2, 4, 6);
        memcpy(dst + i, &e, sizeof e);
    }
    for (; i < n; i++)
        dst[i] = src[2 * i];
}

/* cols row (ci, ky, kx), column (oy, ox) = x[ci][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw] or 0.
 * Per row of taps the in-image column range is computed once: zeros, a copy, zeros. */
static void im2col(const float *x, int64_t c0, int64_t c1, int64_t h, int64_t w, const struct ox_window *v, int64_t y0,
                   int64_t y1, float *cols)
{
    int64_t ohw = (y1 - y0) * v->ow; /* a strip of output rows [y0, y1) */
    for (int64_t ci = c0; ci < c1; ci++) {
        for (int64_t ky = 0; ky < v->kh; ky++) {
            for (int64_t kx = 0; kx < v->kw; kx++) {
                float *row = cols + ((ci * v->kh + ky) * v->kw + kx) * ohw;
                int64_t off = kx * v->dw - v->pl; /* ix = ox*sw + off */
                int64_t o0 = ceil_div(-off, v->sw), o1 = ceil_div(w - off, v->sw);
                o0 = o0 < 0 ? 0 : o0 > v->ow ? v->ow : o0;
                o1 = o1 > v->ow ? v->ow : o1 < o0 ? o0 : o1;
                for (int64_t oy = y0; oy < y1; oy++) {
                    int64_t iy = oy * v->sh - v->pt + ky * v->dh;
                    float *r = row + (oy - y0) * v->ow;
                    if (iy < 0 || iy >= h) {
                        memset(r, 0, (size_t)v->ow * sizeof(float));
                        continue;
                    }
                    const float *xr = x + (ci * h + iy) * w + off;
                    if (o0 > 0)
                        memset(r, 0, (size_t)o0 * sizeof(float));
                    if (v->sw == 1) {
                        if (o1 > o0)
                            memcpy(r + o0, xr + o0, (size_t)(o1 - o0) * sizeof(float));
                    } else if (v->sw == 2) {
                        copy_even(r + o0, xr + 2 * o0, o1 - o0);
                    } else {
                        for (int64_t ox = o0; ox < o1; ox++)
                            r[ox] = xr[ox * v->sw];
                    }
                    if (o1 < v->ow)
                        memset(r + o1, 0, (size_t)(v->ow - o1) * sizeof(float));
                }
            }
        }
    }
}

struct im2col_job {
    const float *x;
    int64_t h, w, y0, y1;
    const struct ox_window *v;
    float *cols;
};

static void im2col_part(void *arg, int64_t lo, int64_t hi)
{
    const struct im2col_job *j = arg;
    im2col(j->x, lo, hi, j->h, j->w, j->v, j->y0, j->y1, j->cols);
}

struct dw_job {
    struct ox_dw d;
    enum ox_isa isa;
    int64_t tiles; /* blocked kernel: row tiles per channel block */
};

static void dw_part(void *arg, int64_t lo, int64_t hi)
{
    const struct dw_job *j = arg;
    ox_dw_run(j->isa, &j->d, lo, hi);
}

static void stem_part(void *arg, int64_t lo, int64_t hi)
{
    ox_conv_stem_run(ox_conv_isa(), arg, lo, hi);
}

static void dw_blk_part(void *arg, int64_t lo, int64_t hi)
{
    const struct dw_job *j = arg;
    ox_dw_blk_run(j->isa, &j->d, j->tiles, lo, hi);
}

/* Work items of the packed GEMM: blocks of OX_CV_NB columns major, weight panels minor, so
 * a thread's contiguous range is a few calls that each pack a block of B once and run many
 * panels over it. im: B is read through this im2col view (NULL: B is g.b). */
struct gemm_job {
    struct ox_conv_gemm g;
    const struct ox_conv_im2col *im;
    enum ox_isa isa;
    int64_t panels;     /* weight panels */
    float *pre;         /* B packed ahead (ox_conv_gemm_pool_pre), or NULL */
    struct tpool *pool; /* colsplit_part / panelsplit_part's balanced cuts (tpool_cut) */
};

/* panels [p0, p1) x columns [n0, n1) of j's GEMM, B packed by the call (not from j->pre) */
static void gemm_blocked_range(const struct gemm_job *j, int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    if (j->im)
        ox_conv_gemm_im2col_run(j->isa, &j->g, j->im, p0, p1, n0, n1);
    else
        ox_conv_gemm_run(j->isa, &j->g, p0, p1, n0, n1);
}

static void gemm_part(void *arg, int64_t lo, int64_t hi)
{
    const struct gemm_job *j = arg;
    for (int64_t i = lo; i < hi;) {
        int64_t jb = i / j->panels, p0 = i % j->panels;
        int64_t p1 = j->panels - p0 < hi - i ? j->panels : p0 + (hi - i);
        int64_t n0 = jb * OX_CV_NB, n1 = n0 + OX_CV_NB < j->g.n ? n0 + OX_CV_NB : j->g.n;
        if (j->pre)
            ox_conv_gemm_pre_run(j->isa, &j->g, j->pre, p0, p1, n0, n1);
        else
            gemm_blocked_range(j, p0, p1, n0, n1);
        i += p1 - p0;
    }
}

/* ox_parallel over items laid out column block major (per items for each OX_CV_NB-column
 * block of n columns: the GEMM's panels, the prepack's K blocks) with the parts cut at equal
 * shares of columns x items, a column counted in 16s (the narrowest tile), not at equal item
 * counts: the last, narrower block's items cost less (a 28x28 map's 784 columns end in a
 * 16-column block; at 2 threads its part took half the time of the other three, a 14x14
 * map's prepack split 128 : 68 columns). The same calls on the same items, so the same
 * results; only which thread runs which range changes. */
struct colblk_job {
    ox_range_fn fn;
    void *ctx;
    int64_t per, blocks, tail; /* items per block, blocks, 16-column chunks of the last block */
    struct tpool *pool;        /* balanced cuts (tpool_cut) */
};

/* the item at which the share `cost` (in items x 16-column chunks) of the work starts */
static int64_t colblk_at(const struct colblk_job *w, int64_t cost)
{
    const int64_t full = OX_CV_NB / 16;
    int64_t b = cost / (w->per * full), chunks = full;
    if (b >= w->blocks - 1) {
        b = w->blocks - 1;
        chunks = w->tail;
    }
    int64_t r = (cost - b * w->per * full + chunks / 2) / chunks;
    return b * w->per + (r < w->per ? r : w->per);
}

static void colblk_part(void *arg, int ith, int nth)
{
    const struct colblk_job *w = arg;
    int64_t total = w->per * ((w->blocks - 1) * (OX_CV_NB / 16) + w->tail);
    int64_t lo = colblk_at(w, tpool_cut(w->pool, total, ith, nth));
    int64_t hi = colblk_at(w, tpool_cut(w->pool, total, ith + 1, nth));
    if (hi > lo)
        w->fn(w->ctx, lo, hi);
}

static void parallel_colblk(const struct ox_ctx *c, int64_t per, int64_t n, int64_t min_per_thread, ox_range_fn fn,
                            void *ctx)
{
    int64_t blocks = (n + OX_CV_NB - 1) / OX_CV_NB, items = blocks * per;
    int64_t parts = ox_parallel_parts(c, items, min_per_thread);
    if (parts < 2 || blocks < 1) {
        if (items > 0)
            fn(ctx, 0, items);
        return;
    }
    struct colblk_job w = {fn, ctx, per, blocks, (n - (blocks - 1) * OX_CV_NB + 15) / 16, c->pool};
    tpool_parallel_cut(c->pool, (int)parts, colblk_part, &w);
}

/* Y (m, n) of g through the pool: an item (NB columns, or n where fewer, x one panel: cols *
 * MR * k multiply-adds) below ~2^18 of them together is not worth a thread */
void ox_conv_gemm_pool(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_gemm *g,
                       const struct ox_conv_im2col *im)
{
    struct gemm_job j = {*g, im, isa, (g->m + OX_CV_MR - 1) / OX_CV_MR, NULL, NULL};
    int64_t cols = g->n < OX_CV_NB ? g->n : OX_CV_NB;
    parallel_colblk(c, j.panels, g->n, 1 + (1 << 18) / (cols * OX_CV_MR * g->k + 1), gemm_part, &j);
}

static void prepack_part(void *arg, int64_t lo, int64_t hi)
{
    const struct gemm_job *j = arg;
    ox_conv_prepack_run(j->isa, &j->g, j->im, j->pre, lo, hi);
}

/* part ith of nth: the columns of strips [S ith / nth, S (ith + 1) / nth) of the S
 * OX_CV_SEGMIN-column strips, all panels, packing its own B */
static void colsplit_part(void *arg, int ith, int nth)
{
    const struct gemm_job *j = arg;
    int64_t strips = (j->g.n + OX_CV_SEGMIN - 1) / OX_CV_SEGMIN;
    int64_t n0 = tpool_cut(j->pool, strips, ith, nth) * OX_CV_SEGMIN;
    int64_t n1 = tpool_cut(j->pool, strips, ith + 1, nth) * OX_CV_SEGMIN;
    if (n1 > j->g.n)
        n1 = j->g.n;
    /* blocks on one thread's OX_CV_NB grid: where the map's last block starts decides how its
     * last few columns are summed (folded into the strip before, or strip_col on their own:
     * other bits), so a range starting inside a block runs up to the grid first (17x17's 289
     * columns at 2 threads, 30x30 at 2-8 differed from 1 thread without this) */
    int64_t nb = (n0 + OX_CV_NB - 1) / OX_CV_NB * OX_CV_NB;
    if (nb > n0 && nb < n1) {
        gemm_blocked_range(j, 0, j->panels, n0, nb);
        n0 = nb;
    }
    if (n1 > n0)
        gemm_blocked_range(j, 0, j->panels, n0, n1);
}

/* part ith of nth: panels [P ith / nth, P (ith + 1) / nth) of a one-block GEMM, packing its
 * own B */
static void panelsplit_part(void *arg, int ith, int nth)
{
    const struct gemm_job *j = arg;
    int64_t p0 = tpool_cut(j->pool, j->panels, ith, nth), p1 = tpool_cut(j->pool, j->panels, ith + 1, nth);
    if (p1 > p0)
        gemm_blocked_range(j, p0, p1, 0, j->g.n);
}

/* One image on several threads. Each thread packs exactly the B it multiplies, so no
 * thread reads packing the other core wrote (on Zen 5's two vCPUs a line written by the
 * other core costs ~570 ns; packing split by K blocks, then the tiles split by panels, had
 * each thread read about half of B from the other): a map of at least two
 * OX_CV_SEGMIN-column strips a thread splits by columns (a 14x14 map's 196 columns: 96 |
 * 100), each part running every panel over its columns; a map of one column block (a 7x7
 * map's 49 columns), or a 1x1 conv of up to two blocks with at least 4 output channels a
 * column (ResNet-50's 256 -> 1024 on 14x14), splits by panels, each part packing the whole
 * (small) B: the weights, read from memory once a run, then split between the cores
 * (256 -> 1024 on 14x14 ~300 -> ~290 us at 2 threads; 1024 -> 256 by panels, its B 4x
 * larger, ~325 -> ~340, and a strided 3x3 by panels, im2col packed twice, ~780 -> ~880). One part per
 * thread: a further cut would pack B again. Otherwise (more threads than such strips) B
 * is packed ahead over the pool into bp, then the tiles split over it. A column's sums do
 * not depend on the column block or panel range that computed it: the same bits as one
 * thread (test_onnx_conv_pool). */
void ox_conv_gemm_pool_pre(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_gemm *g,
                           const struct ox_conv_im2col *im, float *bp)
{
    struct gemm_job j = {*g, im, isa, (g->m + OX_CV_MR - 1) / OX_CV_MR, NULL, c->pool};
    int64_t kc = ox_conv_kc(g->k);
    int64_t cols = g->n < OX_CV_NB ? g->n : OX_CV_NB;
    int64_t gemm_min = 1 + (1 << 18) / (cols * OX_CV_MR * g->k + 1);
    int64_t strips = (g->n + OX_CV_SEGMIN - 1) / OX_CV_SEGMIN;
    int64_t items = (g->n + OX_CV_NB - 1) / OX_CV_NB * j.panels; /* gemm_part's (column block, panel)s */
    /* parts: the threads the GEMM is worth (at most one a thread: a further cut packs B again) */
    int64_t parts = ox_parallel_parts(c, items, gemm_min);
    if (parts < 2) {
        gemm_part(&j, 0, items);
        return;
    }
    if (parts > c->nth)
        parts = c->nth;
    if (g->n <= OX_CV_NB || (!im && g->n <= 2 * OX_CV_NB && 4 * g->n <= g->m)) {
        tpool_parallel_cut(c->pool, (int)(j.panels < parts ? j.panels : parts), panelsplit_part, &j);
        return;
    }
    if (strips >= 2 * parts) {
        tpool_parallel_cut(c->pool, (int)parts, colsplit_part, &j);
        return;
    }
    j.pre = bp;
    /* an item packs up to OX_CV_KC x OX_CV_NB floats (128 KiB): worth a thread from 2^14 of
     * them (at 2 threads the old two-items-a-thread rule kept ResNet-50's 14x14 and 7x7
     * conv3 (2 items each) and most of MobileNetV3's projections on one thread) */
    parallel_colblk(c, ox_conv_prepack_kblocks(g->k), g->n, 1 + (1 << 14) / (kc * cols + 1), prepack_part, &j);
    parallel_colblk(c, j.panels, g->n, gemm_min, gemm_part, &j);
}

/* one image of a Winograd conv: c's pool (or none) and scratch */
struct wino_img {
    struct ox_wino g;
    const float *x, *bias, *z;
    float *y;
    const struct ox_epi *epi;
    enum ox_isa isa;
    int64_t xsz, ysz; /* floats per image of X and of Y (and Z) */
};

static void wino_image(void *arg, const struct ox_ctx *c, int64_t bi)
{
    const struct wino_img *j = arg;
    ox_wino_conv(c, j->isa, &j->g, j->x + bi * j->xsz, c->packed, j->bias, j->z ? j->z + bi * j->ysz : NULL, j->epi,
                 c->scratch, j->y + bi * j->ysz);
}

/* one image of a direct conv (conv_direct.h) on c's pool (or none), Xp in c's scratch */
struct cdir_img {
    struct ox_cdir d; /* x, y, z of image 0 */
    enum ox_isa isa;
    int64_t xsz, ysz; /* floats per image of X and of Y (and Z) */
};

struct cdir_job {
    const struct ox_cdir *d;
    enum ox_isa isa;
};

static void cdir_fill_part(void *arg, int64_t lo, int64_t hi)
{
    const struct cdir_job *j = arg;
    ox_cdir_fill(j->isa, j->d, lo, hi);
}

static void cdir_run_part(void *arg, int64_t lo, int64_t hi)
{
    const struct cdir_job *j = arg;
    ox_cdir_run(j->isa, j->d, lo, hi);
}

static void cdir_image(void *arg, const struct ox_ctx *c, int64_t bi)
{
    const struct cdir_img *ci = arg;
    struct ox_cdir d = ci->d;
    d.x += bi * ci->xsz;
    d.y += bi * ci->ysz;
    d.z = d.z ? d.z + bi * ci->ysz : NULL;
    d.xp = c->scratch;
    struct cdir_job j = {&d, ci->isa};
    int64_t plane = d.h * d.w, tiles = ox_cdir_tiles(ci->isa, &d);
    int64_t per_tile = 2 * 16 * d.m * d.c * d.kh * d.kw; /* multiply-adds, about */
    /* the fill copies X into the padded Xp: worth a thread from 2^14 floats (2^16 kept YOLO's
     * 16-channel 80x80 and 64-channel 40x40 fills, 100K floats each, on one thread) */
    ox_parallel_bal(c, d.c, 1 + (1 << 14) / (plane + 1), cdir_fill_part, &j);
    ox_parallel_bal(c, tiles, 1 + (1 << 18) / (per_tile + 1), cdir_run_part, &j);
}

/* items [lo, hi) of the batch's oc-lane tiles (conv_direct.h ox_cdoc_run), image by image */
static void cdoc_part(void *arg, int64_t lo, int64_t hi)
{
    const struct cdir_img *ci = arg;
    const int64_t per = ox_cdoc_row_tiles(&ci->d) * ci->d.oh;
    while (lo < hi) {
        const int64_t bi = lo / per, i0 = lo % per, i1 = hi - bi * per < per ? hi - bi * per : per;
        struct ox_cdir d = ci->d;
        d.x += bi * ci->xsz;
        d.y += bi * ci->ysz;
        ox_cdoc_run(ci->isa, &d, i0, i1);
        lo = bi * per + i1;
    }
}

static void cdir_pw_part(void *arg, int64_t lo, int64_t hi)
{
    const struct cdir_job *j = arg;
    ox_cdir_pw_run(j->isa, j->d, lo, hi);
}

/* one image of the pointwise run (conv_direct.h), its tiles split over c's pool */
static void cdir_pw_image(const struct cdir_img *ci, const struct ox_ctx *c, int64_t bi)
{
    struct ox_cdir d = ci->d;
    d.x += bi * ci->xsz;
    d.y += bi * ci->ysz;
    d.z = d.z ? d.z + bi * ci->ysz : NULL;
    struct cdir_job j = {&d, ci->isa};
    int64_t per_tile = 2 * 16 * d.m * d.c; /* multiply-adds, about */
    ox_parallel_bal(c, ox_cdir_tiles(ci->isa, &d), 1 + (1 << 18) / (per_tile + 1), cdir_pw_part, &j);
}

static int64_t conv_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    struct ox_window win;
    int64_t g;
    const struct ox_tensor *w = in[1];
    if (!w->is_const || conv_geometry(n, in, &win, &g, NULL) < 0 || is_depthwise(in[0], w, g))
        return 0;
    if (is_winograd(n, in[0], w, &win, g)) {
        struct ox_wino wg;
        wino_geom(&wg, in[0], w, &win);
        if (dst)
            (wg.r == 2 ? ox_wino2_pack : ox_wino_pack)(w->data, w->dims[0], w->dims[1], dst);
        return (wg.r == 2 ? ox_wino2_pack_size : ox_wino_pack_size)(w->dims[0], w->dims[1]);
    }
    int64_t mg = w->dims[0] / g, kk = w->dims[1] * w->dims[2] * w->dims[3];
    if (is_cdoc(n, in[0], w, &win, g)) {
        if (dst)
            ox_cdoc_pack(w->data, mg, kk, dst);
        return ox_cdoc_pack_size(mg, kk);
    }
    int64_t per = ox_conv_pack_size(mg, kk);
    if (dst)
        for (int64_t gi = 0; gi < g; gi++)
            ox_conv_pack((const float *)w->data + gi * mg * kk, mg, kk, dst + gi * per);
    return per * g;
}

static int conv_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    struct ox_window win;
    int64_t g;
    int rc = conv_geometry(n, in, &win, &g, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *x = in[0], *w = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    int64_t nb = x->dims[0], ch = x->dims[1], h = x->dims[2], wd = x->dims[3], m = w->dims[0];
    int64_t cg = ch / g, mg = m / g, ohw = win.oh * win.ow, kk = cg * win.kh * win.kw;
    const float *xv = x->data, *wv = w->data, *bv = b ? b->data : NULL;
    float *yv = out[0]->data;
    struct ox_epi act = {(int)n->ip[0], n->fp[0], n->fp[1]}, epi = act;
    enum ox_isa isa = ox_conv_isa();
    if (out[0]->numel == 0)
        return 0;
    /* Z into the GEMM / Winograd store (zv) when it has the conv's shape; else after (zpost) */
    const struct ox_tensor *z = n->n_in > 3 ? in[3] : NULL;
    const float *zv = NULL;
    int dw = is_depthwise(x, w, g);
    int64_t cd[4] = {nb, m, win.oh, win.ow};
    if (z && conv_shaped(z, cd) && !dw && c->packed)
        zv = z->data;
    else if (z)
        epi = (struct ox_epi){OX_ACT_NONE, 0, 0}; /* the activation comes after Z */
    const struct ox_tensor *zpost = z && !zv ? z : NULL;
    if (dw) {
        struct dw_job j = {{xv, wv, bv, yv, ch, h, wd, win.kh, win.kw, win.sh, win.sw, win.dh, win.dw, win.pt, win.pl,
                            win.oh, win.ow, epi, 0, 0, 0},
                           isa, 1};
        int64_t work = ohw * win.kh * win.kw; /* multiply-adds per channel */
        if (ox_dw_blk_pick(isa, &j.d)) {
            int64_t items = ox_dw_blk_items(isa, &j.d, nb), per = work * ch * nb / items; /* per item */
            j.tiles = ox_dw_blk_tiles(isa, &j.d, nb);
            ox_parallel_bal(c, items, 1 + (1 << 14) / (per + 1), dw_blk_part, &j);
        } else {
            ox_parallel_bal(c, nb * ch, 1 + (1 << 14) / (work + 1), dw_part, &j);
        }
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    int pw = is_pointwise(&win);
    if (g == 1 && !z && !pw && win.dh == 1 && win.dw == 1) { /* a first layer: direct (conv_stem.h) */
        struct ox_stem st = {xv, wv, bv, yv, ch, h, wd, m, win.kh, win.kw, win.sh, win.sw, win.pt, win.pl, win.oh,
                             win.ow, epi, 0};
        if (ox_conv_stem_ok(isa, &st)) {
            ox_parallel_bal(c, nb * win.oh, 1 + (1 << 14) / (m * win.ow * kk + 1), stem_part, &st);
            return 0;
        }
    }
    if (c->packed && c->scratch && w->is_const && !x->is_const && is_patch(x, &win, g)) { /* conv_scratch: B */
        ox_conv_patch_run(c, isa,
                          &(struct ox_conv_patch){xv, c->packed, bv, zv, yv, c->scratch, nb, ch, h, wd, m, win.kh,
                                                  win.kw, win.oh, win.ow, epi});
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    int64_t per = ox_conv_pack_size(mg, kk);
    if (c->packed && is_winograd(n, x, w, &win, g)) {
        struct wino_img wi = {.x = xv, .bias = bv, .z = zv, .y = yv, .epi = &epi, .isa = isa, .xsz = ch * h * wd,
                              .ysz = m * ohw};
        wino_geom(&wi.g, x, w, &win);
        int64_t imgs = ox_wino_batch_imgs(&wi.g, nb);
        if (imgs > 1) { /* small maps: imgs images' tiles side by side in each GEMM (conv_wino.h) */
            for (int64_t bi = 0; bi < nb; bi += imgs)
                ox_wino_conv_batch(c, isa, &wi.g, nb - bi < imgs ? nb - bi : imgs, xv + bi * wi.xsz, c->packed, bv,
                                   zv ? zv + bi * wi.ysz : NULL, &epi, c->scratch, yv + bi * wi.ysz);
            if (zpost)
                sum_after(yv, cd, out[0]->dims, zpost, &act);
            return 0;
        }
        /* whole images per thread while the batch has one for each, then the rest split finely */
        for (int64_t bi = ox_parallel_images(c, nb, conv_scratch(n, in, out), wino_image, &wi); bi < nb; bi++)
            wino_image(&wi, c, bi);
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    if (c->packed && is_cdoc(n, x, w, &win, g)) {
        struct cdir_img ci = {.isa = isa, .xsz = ch * h * wd, .ysz = m * ohw};
        cdir_geom(&ci.d, x, w, &win);
        ci.d.x = xv, ci.d.wp = c->packed, ci.d.bias = bv, ci.d.y = yv, ci.d.epi = epi;
        int64_t items = ox_cdoc_row_tiles(&ci.d) * win.oh, work = ox_cdoc_px(&ci.d) * m * kk; /* multiply-adds an item */
        ox_parallel_bal(c, nb * items, 1 + (1 << 18) / (work + 1), cdoc_part, &ci);
        assert(!zpost); /* is_cdoc takes no fused Add */
        return 0;
    }
    if (c->packed && c->scratch && is_direct(n, x, w, &win, g)) {
        struct cdir_img ci = {.isa = isa, .xsz = ch * h * wd, .ysz = m * ohw};
        cdir_geom(&ci.d, x, w, &win);
        ci.d.x = xv, ci.d.wp = c->packed, ci.d.bias = bv, ci.d.z = zv, ci.d.y = yv, ci.d.epi = epi;
        /* whole images per thread while the batch has one for each, then the rest split finely */
        for (int64_t bi = ox_parallel_images(c, nb, conv_scratch(n, in, out), cdir_image, &ci); bi < nb; bi++)
            cdir_image(&ci, c, bi);
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    if (pw && g == 1 && c->packed && is_pw_direct(x, w)) { /* conv_direct.h's pointwise run */
        struct cdir_img ci = {.isa = isa, .xsz = ch * h * wd, .ysz = m * ohw};
        cdir_geom(&ci.d, x, w, &win);
        ci.d.x = xv, ci.d.wp = c->packed, ci.d.bias = bv, ci.d.z = zv, ci.d.y = yv, ci.d.epi = epi;
        for (int64_t bi = 0; bi < nb; bi++)
            cdir_pw_image(&ci, c, bi);
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    if (nb > 1 && g == 1 && c->packed && ox_conv_seg_ok(ohw)) {
        /* the batch as one GEMM (conv_kern.h g->seg): a small map's columns fill the tiles
         * (7x7: 49 columns took 64 lanes a image) and the weights stream once per block of
         * columns of the batch, not once per image */
        struct ox_conv_im2col im = {xv, h, wd, win.kh, win.kw, win.sh, win.sw, win.dh, win.dw, win.pt, win.pl,
                                    win.ow, ch * h * wd};
        struct ox_conv_gemm gm = {c->packed, pw ? xv : NULL, yv, bv, m, kk, nb * ohw, pw ? ohw : 0, ohw, epi, zv, ohw,
                                  ch * h * wd, m * ohw};
        ox_conv_gemm_pool(c, isa, &gm, pw ? NULL : &im);
        if (zpost)
            sum_after(yv, cd, out[0]->dims, zpost, &act);
        return 0;
    }
    for (int64_t bi = 0; bi < nb; bi++) {
        for (int64_t gi = 0; gi < g; gi++) {
            const float *xg = xv + (bi * ch + gi * cg) * h * wd;
            float *yg = yv + (bi * m + gi * mg) * ohw;
            const float *cols = xg;
            const float *bias = bv ? bv + gi * mg : NULL;
            const float *zg = zv ? zv + (bi * m + gi * mg) * ohw : NULL;
            if (!pw && c->packed) { /* im2col written straight into the GEMM's packed blocks (no scratch) */
                struct ox_conv_im2col im = {xg, h, wd, win.kh, win.kw, win.sh, win.sw, win.dh, win.dw, win.pt, win.pl,
                                            win.ow, 0};
                struct ox_conv_gemm gm = {c->packed + gi * per, NULL, yg, bias, mg, kk, ohw, 0, ohw, epi, zg, 0, 0, 0};
                if (c->nth > 1 && c->scratch && prepack_bytes(n, in, &win, g)) /* conv_scratch: B packed ahead */
                    ox_conv_gemm_pool_pre(c, isa, &gm, &im, c->scratch);
                else
                    ox_conv_gemm_pool(c, isa, &gm, &im);
                continue;
            }
            if (!pw) {
                if (!c->scratch) /* conv_scratch planned none: a packed step was expected */
                    return inferd_err_set(err, INFERD_EUNAVAIL, "Conv: no packed weights and no im2col scratch");
                struct im2col_job ij = {xg, h, wd, 0, win.oh, &win, c->scratch};
                ox_parallel(c, cg, 1 + (1 << 15) / (win.kh * win.kw * ohw + 1), im2col_part, &ij);
                cols = c->scratch;
            }
            if (c->packed) {
                struct ox_conv_gemm gm = {c->packed + gi * per, cols, yg, bias, mg, kk, ohw, ohw, ohw, epi, zg, 0, 0, 0};
                if (pw && c->nth > 1 && c->scratch && prepack_bytes(n, in, &win, g)) /* conv_scratch: B packed ahead */
                    ox_conv_gemm_pool_pre(c, isa, &gm, NULL, c->scratch);
                else
                    ox_conv_gemm_pool(c, isa, &gm, NULL);
                continue;
            }
            ox_sgemm(c, 0, 0, mg, ohw, kk, 1.0f, wv + gi * mg * kk, cols, 0.0f, yg);
            for (int64_t mi = 0; mi < mg; mi++) {
                float bb = bias ? bias[mi] : 0.0f;
                float *yr = yg + mi * ohw;
                for (int64_t i = 0; i < ohw; i++)
                    yr[i] = ox_act_apply(&epi, yr[i] + bb);
            }
        }
    }
    if (zpost)
        sum_after(yv, cd, out[0]->dims, zpost, &act);
    return 0;
}

/* a 4th input only from fuse.c (conv_geometry refuses it in a file) */
const struct ox_op ox_op_conv = {
    .name = "Conv", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = conv_infer, .exec = conv_exec,
    .flags = OX_OP_SCRATCH_SLOTS, .scratch = conv_scratch, .pack = conv_pack, .scratch_slots = conv_scratch_slots,
};
