/* stem_dw.c — InferdStemDw, a network's first Conv and the depthwise Conv after it as one
 * step (made by fuse_stemdw.c), run band by band so the stem's output stays in cache:
 *
 *   X (N, C, H, W) -> S = actS(conv(X, WS (M, C, kh, kw)) + bS)      (N, M, H1, W1)  stem
 *                  -> Y = actD(depthwise(S, WD (M, 1, kh2, kw2)) + bD) (N, M, OH, OW)
 *
 *   inputs: 0 X, 1 WS, 2 bS, 3 WD, 4 bD (omitted biases -1); attributes: the depthwise Conv's
 *   (strides, pads, auto_pad, dilations, group); ip[0], fp[0..1]: actS and its parameters;
 *   ip[1], fp[2..3]: actD's; ip[2]: the stem's strides and pads, 8 bits each from bit 0:
 *   sh, sw, pt, pl, pb, pr (the stem is ungrouped and undilated).
 *
 * Unfused, the stem writes S whole (MobileNetV3-small at batch 8: 8x16x112x112, 6.4 MB) and
 * the depthwise reads it back after it has left L2. Here each image's depthwise output rows
 * are cut into bands; for a band the stem kernel (conv_stem.h) writes only the rows of S the
 * band's window has not seen yet into a ring of the rows one band reads (row r at r mod
 * rows, ox_stem.yrows), and the channel-blocked depthwise kernel (conv_kern.h, tile = band,
 * ox_dw.xrows) reads them from L2. Images go to threads whole; where the batch does not
 * split evenly over the threads each image is cut into as many chunks of bands as there are
 * threads too (a chunk's first band computes its halo rows again). Without the SIMD kernels
 * (scalar reference, or a shape they do not take) the same bands run through the stem's
 * scalar reference and the depthwise loop below, which sum in the unfused kernels' order.
 * INFERD_ONNX_STEMDW_RING_KB (read once; default 192): the ring's size, for tests (4: bands
 * of a row or two).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/conv_kern.h"
#include "onnx/conv_stem.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

#define SD_RING_KB 192 /* S's rows one band reads: in L2 with the band's output */

static int64_t sd_ring_bytes(void)
{
    static atomic_llong v; /* bytes + 1 once read */
    long long b = atomic_load_explicit(&v, memory_order_relaxed);
    if (!b) {
        const char *e = getenv("INFERD_ONNX_STEMDW_RING_KB");
        long long kb = e && atoll(e) > 0 ? atoll(e) : SD_RING_KB;
        b = kb * 1024 + 1;
        atomic_store_explicit(&v, b, memory_order_relaxed);
    }
    return b - 1;
}

struct sd_geom {
    int64_t nb, c, h, w, m, kh, kw, sh, sw, pt, pl, pb, pr, h1, w1;
    struct ox_window win; /* the depthwise's, on S (h1 x w1) */
    int64_t bands, xrows; /* bands an image; S's ring rows */
};

static int sd_geometry(const struct ox_node *n, struct ox_tensor *const *in, struct sd_geom *g,
                       struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *ws = in[1], *wd = in[3], *bs = ox_opt_in(n, in, 2), *bd = ox_opt_in(n, in, 4);
    for (int k = 0; k < n->n_in; k++)
        if (in[k] && in[k]->dt != INFERD_FP32)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdStemDw: input %d is not FP32", k);
    if (x->rank != 4 || ws->rank != 4 || wd->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdStemDw: X and the weights must be rank 4");
    g->nb = x->dims[0];
    g->c = x->dims[1];
    g->h = x->dims[2];
    g->w = x->dims[3];
    g->m = ws->dims[0];
    g->kh = ws->dims[2];
    g->kw = ws->dims[3];
    int64_t p = n->ip[2];
    g->sh = p & 255, g->sw = p >> 8 & 255, g->pt = p >> 16 & 255, g->pl = p >> 24 & 255, g->pb = p >> 32 & 255,
    g->pr = p >> 40 & 255;
    if (ws->dims[1] != g->c || wd->dims[0] != g->m || wd->dims[1] != 1 || (bs && bs->numel != g->m) ||
        (bd && bd->numel != g->m))
        return inferd_err_set(err, INFERD_ESHAPE, "InferdStemDw: X (.., %lld, ..) and the weights disagree",
                              (long long)g->c);
    if (g->sh < 1 || g->sw < 1 || g->kh < 1 || g->kw < 1 || g->h + g->pt + g->pb < g->kh ||
        g->w + g->pl + g->pr < g->kw)
        return inferd_err_set(err, INFERD_ESHAPE, "InferdStemDw: the stem's window does not fit X");
    g->h1 = (g->h + g->pt + g->pb - g->kh) / g->sh + 1;
    g->w1 = (g->w + g->pl + g->pr - g->kw) / g->sw + 1;
    int rc = ox_window_resolve(n, g->h1, g->w1, wd->dims[2], wd->dims[3], 0, &g->win, err);
    if (rc < 0)
        return rc;
    if (g->win.dh != 1 || g->win.dw != 1)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdStemDw: a dilated depthwise");
    /* band rows: S's rows for them within the ring's bytes; bands equal splits of OH (the
     * blocked kernel's tiles) */
    int64_t row = g->m * g->w1 * (int64_t)sizeof(float), fit = sd_ring_bytes() / (row > 0 ? row : 1);
    int64_t per = fit > g->win.kh ? (fit - g->win.kh) / g->win.sh + 1 : 1;
    g->bands = (g->win.oh + per - 1) / per;
    int64_t most = (g->win.oh + g->bands - 1) / g->bands;
    g->xrows = (most - 1) * g->win.sh + g->win.kh;
    return 0;
}

static int sd_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    struct sd_geom g;
    int rc = sd_geometry(n, in, &g, err);
    if (rc < 0)
        return rc;
    int64_t dims[4] = {g.nb, g.m, g.win.oh, g.win.ow};
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

/* scratch: S's ring for one thread (whole slots: ox_parallel_slots also runs a 1-thread
 * context's one part in a slot) */
static size_t sd_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct sd_geom g;
    (void)out;
    if (sd_geometry(n, in, &g, NULL) < 0)
        return 0;
    return ox_scratch_stride((size_t)(g.m * g.xrows * g.w1) * sizeof(float));
}

struct sd_job {
    struct sd_geom g;
    struct ox_stem st; /* x, y set per part */
    struct ox_dw d;    /* x, y set per part */
    const float *x;
    float *y;
    int64_t chunks; /* an image's parts */
    enum ox_isa isa;
    int blk; /* the SIMD kernels run */
};

/* the depthwise's output rows [oy0, oy1) of S's ring, scalar: ox_dw_ref's sums */
static void sd_dw_ref(const struct ox_dw *d, int64_t oy0, int64_t oy1)
{
    for (int64_t ch = 0; ch < d->channels; ch++) {
        const float *x = d->x + ch * d->xrows * d->wd, *k = d->w + ch * d->kh * d->kw;
        float *y = d->y + ch * d->oh * d->ow;
        for (int64_t oy = oy0; oy < oy1; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                float s = d->bias ? d->bias[ch] : 0.0f;
                for (int64_t ky = 0; ky < d->kh; ky++) {
                    int64_t iy = oy * d->sh - d->pt + ky;
                    if (iy < 0 || iy >= d->h)
                        continue;
                    for (int64_t kx = 0; kx < d->kw; kx++) {
                        int64_t ix = ox * d->sw - d->pl + kx;
                        if (ix >= 0 && ix < d->wd)
                            s += x[iy % d->xrows * d->wd + ix] * k[ky * d->kw + kx];
                    }
                }
                y[oy * d->ow + ox] = ox_act_apply(&d->epi, s);
            }
    }
}

/* part u: chunk u % chunks of image u / chunks, in c->scratch (S's ring) */
static void sd_part(void *arg, const struct ox_ctx *c, int64_t u)
{
    const struct sd_job *j = arg;
    const struct sd_geom *g = &j->g;
    int64_t img = u / j->chunks, k = u % j->chunks;
    int64_t t0 = k * g->bands / j->chunks, t1 = (k + 1) * g->bands / j->chunks;
    struct ox_stem st = j->st;
    struct ox_dw d = j->d;
    st.x = j->x + img * g->c * g->h * g->w;
    st.y = c->scratch;
    d.x = c->scratch;
    d.y = j->y + img * g->m * g->win.oh * g->win.ow;
    int64_t lanes = ox_dw_blk_lanes(j->isa), cblocks = j->blk ? (g->m + lanes - 1) / lanes : 0;
    int64_t done = -1; /* S's rows below it are in the ring (-1: none yet) */
    for (int64_t t = t0; t < t1; t++) {
        int64_t oy0 = t * g->win.oh / g->bands, oy1 = (t + 1) * g->win.oh / g->bands;
        if (oy1 <= oy0)
            continue;
        int64_t r0 = oy0 * g->win.sh - g->win.pt, r1 = (oy1 - 1) * g->win.sh - g->win.pt + g->win.kh;
        r0 = r0 < 0 ? 0 : r0;
        r1 = r1 > g->h1 ? g->h1 : r1;
        if (done > r0)
            r0 = done;
        if (r1 > r0) {
            if (j->blk)
                ox_conv_stem_run(j->isa, &st, r0, r1);
            else
                ox_conv_stem_ref(&st, r0, r1);
            done = r1;
        }
        if (!j->blk) {
            sd_dw_ref(&d, oy0, oy1);
            continue;
        }
        for (int64_t cb = 0; cb < cblocks; cb++)
            ox_dw_blk_run(j->isa, &d, g->bands, cb * g->bands + t, cb * g->bands + t + 1);
    }
}

static int sd_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    struct sd_job j;
    int rc = sd_geometry(n, in, &j.g, err);
    if (rc < 0)
        return rc;
    if (!c->scratch)
        return inferd_err_set(err, INFERD_EUNAVAIL, "InferdStemDw: no scratch");
    const struct sd_geom *g = &j.g;
    const struct ox_tensor *bs = ox_opt_in(n, in, 2), *bd = ox_opt_in(n, in, 4);
    j.x = in[0]->data;
    j.y = out[0]->data;
    j.isa = ox_conv_isa();
    j.st = (struct ox_stem){.w = in[1]->data, .bias = bs ? bs->data : NULL, .c = g->c, .h = g->h, .wd = g->w,
                            .m = g->m, .kh = g->kh, .kw = g->kw, .sh = g->sh, .sw = g->sw, .pt = g->pt,
                            .pl = g->pl, .oh = g->h1, .ow = g->w1, .epi = {n->ip[0], n->fp[0], n->fp[1]},
                            .yrows = g->xrows};
    j.d = (struct ox_dw){.w = in[3]->data, .bias = bd ? bd->data : NULL, .channels = g->m, .h = g->h1,
                         .wd = g->w1, .kh = g->win.kh, .kw = g->win.kw, .sh = g->win.sh, .sw = g->win.sw,
                         .dh = 1, .dw = 1, .pt = g->win.pt, .pl = g->win.pl, .oh = g->win.oh, .ow = g->win.ow,
                         .epi = {n->ip[1], n->fp[2], n->fp[3]}, .xrows = g->xrows};
    j.blk = ox_conv_stem_ok(j.isa, &j.st) && ox_dw_blk_ok(j.isa, &j.d);
    /* whole images to threads where the batch splits evenly, else chunks of an image too */
    j.chunks = c->nth > 1 && g->nb % c->nth ? c->nth : 1;
    if (j.chunks > g->bands)
        j.chunks = g->bands;
    ox_parallel_slots(c, g->nb * j.chunks, sd_scratch(n, in, out), sd_part, &j);
    return 0;
}

const struct ox_op ox_op_inferd_stem_dw = {
    .name = "InferdStemDw", .min_in = 4, .max_in = 5, .min_out = 1, .max_out = 1,
    .infer = sd_infer, .exec = sd_exec, .scratch = sd_scratch, .flags = OX_OP_SCRATCH_SLOTS,
};
