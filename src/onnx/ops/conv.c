/* conv.c — Conv, 2-D, FP32: groups (depthwise included), strides, dilations, pads/auto_pad,
 * optional bias.
 *
 *   X (N, C, H, W), W (M, C/g, kh, kw), B (M) -> Y (N, M, OH, OW)
 *   1x1, stride 1, no pad:  Y_g (M/g, H*W) = W_g (M/g, C/g) @ X_g (C/g, H*W)     (no copy)
 *   depthwise (g == C == M): direct loops per channel, split over the pool
 *   otherwise:               im2col into the step's scratch (C/g*kh*kw, OH*OW), then sgemm
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

typedef float ox_v4f __attribute__((vector_size(16))); /* 4 lanes, see binary.c */

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
    *group = g;
    return ox_window_resolve(n, x->dims[2], x->dims[3], w->dims[2], w->dims[3], 0, win, err);
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
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

static int is_pointwise(const struct ox_window *w)
{
    return w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && !w->pt && !w->pl && !w->pb && !w->pr;
}

static int is_depthwise(const struct ox_tensor *x, const struct ox_tensor *w, int64_t g)
{
    return g > 1 && g == x->dims[1] && w->dims[0] == g;
}

static size_t conv_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct ox_window win;
    int64_t g;
    (void)out;
    if (conv_geometry(n, in, &win, &g, NULL) < 0 || is_pointwise(&win) || is_depthwise(in[0], in[1], g))
        return 0;
    return (size_t)(in[1]->dims[1] * win.kh * win.kw * win.oh * win.ow) * sizeof(float);
}

struct dw_job {
    const float *x, *w, *b;
    float *y;
    const struct ox_window *win;
    int64_t c, h, wd;
};

/* ceil(a / b) for b > 0 and any sign of a */
static inline int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

/* depthwise: one (batch, channel) plane per index. Row by row, tap by tap: for each tap
 * the range of output columns whose input column is inside the image is computed once,
 * so the inner loop has no bounds checks and independent accumulators (one per pixel). */
static void dw_planes(void *arg, int64_t lo, int64_t hi)
{
    const struct dw_job *j = arg;
    const struct ox_window *v = j->win;
    for (int64_t p = lo; p < hi; p++) {
        int64_t ch = p % j->c;
        const float *x = j->x + p * j->h * j->wd, *k = j->w + ch * v->kh * v->kw;
        float *y = j->y + p * v->oh * v->ow;
        float bias = j->b ? j->b[ch] : 0.0f;
        for (int64_t oy = 0; oy < v->oh; oy++) {
            float *yr = y + oy * v->ow;
            for (int64_t ox = 0; ox < v->ow; ox++)
                yr[ox] = bias;
            for (int64_t ky = 0; ky < v->kh; ky++) {
                int64_t iy = oy * v->sh - v->pt + ky * v->dh;
                if (iy < 0 || iy >= j->h)
                    continue;
                for (int64_t kx = 0; kx < v->kw; kx++) {
                    int64_t off = kx * v->dw - v->pl; /* ix = ox*sw + off */
                    int64_t o0 = ceil_div(-off, v->sw), o1 = ceil_div(j->wd - off, v->sw);
                    o0 = o0 < 0 ? 0 : o0;
                    o1 = o1 > v->ow ? v->ow : o1;
                    float wk = k[ky * v->kw + kx];
                    const float *xr = x + iy * j->wd + off;
                    if (v->sw == 1) {
                        int64_t ox = o0;
                        ox_v4f vw = {wk, wk, wk, wk}, vx, vy;
                        for (; ox + 4 <= o1; ox += 4) {
                            memcpy(&vx, xr + ox, 16);
                            memcpy(&vy, yr + ox, 16);
                            vy += vx * vw;
                            memcpy(yr + ox, &vy, 16);
                        }
                        for (; ox < o1; ox++)
                            yr[ox] += xr[ox] * wk;
                    } else
                        for (int64_t ox = o0; ox < o1; ox++)
                            yr[ox] += xr[ox * v->sw] * wk;
                }
            }
        }
    }
}

/* cols row (ci, ky, kx), column (oy, ox) = x[ci][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw] or 0.
 * Per row of taps the in-image column range is computed once: zeros, a copy, zeros. */
static void im2col(const float *x, int64_t c, int64_t h, int64_t w, const struct ox_window *v, float *cols)
{
    int64_t ohw = v->oh * v->ow;
    for (int64_t ci = 0; ci < c; ci++) {
        for (int64_t ky = 0; ky < v->kh; ky++) {
            for (int64_t kx = 0; kx < v->kw; kx++) {
                float *row = cols + ((ci * v->kh + ky) * v->kw + kx) * ohw;
                int64_t off = kx * v->dw - v->pl; /* ix = ox*sw + off */
                int64_t o0 = ceil_div(-off, v->sw), o1 = ceil_div(w - off, v->sw);
                o0 = o0 < 0 ? 0 : o0 > v->ow ? v->ow : o0;
                o1 = o1 > v->ow ? v->ow : o1 < o0 ? o0 : o1;
                for (int64_t oy = 0; oy < v->oh; oy++) {
                    int64_t iy = oy * v->sh - v->pt + ky * v->dh;
                    float *r = row + oy * v->ow;
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
    if (out[0]->numel == 0)
        return 0;
    if (is_depthwise(x, w, g)) {
        struct dw_job j = {xv, wv, bv, yv, &win, ch, h, wd};
        ox_parallel(c, nb * ch, 1 + (1 << 14) / (ohw * win.kh * win.kw + 1), dw_planes, &j);
        return 0;
    }
    int pw = is_pointwise(&win);
    for (int64_t bi = 0; bi < nb; bi++) {
        for (int64_t gi = 0; gi < g; gi++) {
            const float *xg = xv + (bi * ch + gi * cg) * h * wd;
            float *yg = yv + (bi * m + gi * mg) * ohw;
            const float *cols = xg;
            if (!pw) {
                im2col(xg, cg, h, wd, &win, c->scratch);
                cols = c->scratch;
            }
            ox_sgemm(c, 0, 0, mg, ohw, kk, 1.0f, wv + gi * mg * kk, cols, 0.0f, yg);
            if (bv)
                for (int64_t mi = 0; mi < mg; mi++) {
                    float bb = bv[gi * mg + mi];
                    float *yr = yg + mi * ohw;
                    for (int64_t i = 0; i < ohw; i++)
                        yr[i] += bb;
                }
        }
    }
    return 0;
}

const struct ox_op ox_op_conv = {"Conv", 2, 3, 1, 1, NULL, conv_infer, conv_exec, 0, conv_scratch, NULL};
