/* grid_sample.c — GridSample (opset 16, 4-D, FP32): samples X at the normalised (x, y)
 * locations of grid, as spatial transformers and optical-flow warps do.
 *
 *   X (N, C, H, W), grid (N, Ho, Wo, 2) in [-1, 1] -> Y (N, C, Ho, Wo)
 *
 * mode bilinear (default) / nearest (round half to even) / bicubic (A = -0.75);
 * padding_mode zeros (default) / border / reflection; align_corners maps -1 and 1 to the
 * corner pixels' centres (1) or to the image's edges (0). Out-of-range locations are
 * clamped or reflected first, then pixels fetched with the same padding rule, as ONNX
 * Runtime does. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { GS_BILINEAR, GS_NEAREST, GS_BICUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

static int gs_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *m = ox_attr_find(n, "mode"), *p = ox_attr_find(n, "padding_mode");
    const char *ms = m && m->s ? m->s : "bilinear", *ps = p && p->s ? p->s : "zeros";
    if (strcmp(ms, "bilinear") == 0 || strcmp(ms, "linear") == 0)
        n->ip[0] = GS_BILINEAR;
    else if (strcmp(ms, "nearest") == 0)
        n->ip[0] = GS_NEAREST;
    else if (strcmp(ms, "bicubic") == 0 || strcmp(ms, "cubic") == 0)
        n->ip[0] = GS_BICUBIC;
    else
        return inferd_err_set(err, INFERD_EINVAL, "GridSample: mode '%s' is not bilinear, nearest or bicubic", ms);
    if (strcmp(ps, "zeros") == 0)
        n->ip[1] = GS_ZEROS;
    else if (strcmp(ps, "border") == 0)
        n->ip[1] = GS_BORDER;
    else if (strcmp(ps, "reflection") == 0)
        n->ip[1] = GS_REFLECTION;
    else
        return inferd_err_set(err, INFERD_EINVAL, "GridSample: padding_mode '%s' is not zeros, border or reflection", ps);
    n->ip[2] = ox_attr_int(n, "align_corners", 0) != 0;
    return 0;
}

static int gs_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    (void)n;
    const struct ox_tensor *x = in[0], *g = in[1];
    if (x->dt != INFERD_FP32 || g->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "GridSample: only FP32 is supported");
    if (x->rank != 4 || g->rank != 4 || g->dims[0] != x->dims[0] || g->dims[3] != 2)
        return inferd_err_set(err, INFERD_ESHAPE, "GridSample: X must be (N, C, H, W) and grid (N, Ho, Wo, 2)");
    if (x->dims[2] == 0 || x->dims[3] == 0)
        return inferd_err_set(err, INFERD_ESHAPE, "GridSample: X has an empty spatial dim");
    int64_t dims[4] = {x->dims[0], x->dims[1], g->dims[1], g->dims[2]};
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

static float reflect(float v, float lo, float hi)
{
    float range = hi - lo;
    if (range <= 0)
        return lo;
    if (v < lo) {
        float d = lo - v;
        int k = (int)(d / range);
        float r = d - (float)k * range;
        return k % 2 == 0 ? lo + r : hi - r;
    }
    if (v > hi) {
        float d = v - hi;
        int k = (int)(d / range);
        float r = d - (float)k * range;
        return k % 2 == 0 ? hi - r : lo + r;
    }
    return v;
}

struct plane {
    const float *p;
    int64_t h, w;
    int pad;
    float bounds[4]; /* x_min, y_min, x_max, y_max */
};

static float pixel(const struct plane *pl, int64_t y, int64_t x)
{
    if (pl->pad == GS_ZEROS)
        return x >= 0 && x < pl->w && y >= 0 && y < pl->h ? pl->p[y * pl->w + x] : 0.0f;
    if (pl->pad == GS_BORDER) {
        x = x < 0 ? 0 : x >= pl->w ? pl->w - 1 : x;
        y = y < 0 ? 0 : y >= pl->h ? pl->h - 1 : y;
    } else {
        x = (int64_t)reflect((float)x, pl->bounds[0], pl->bounds[2]);
        y = (int64_t)reflect((float)y, pl->bounds[1], pl->bounds[3]);
        x = x < 0 ? 0 : x >= pl->w ? pl->w - 1 : x;
        y = y < 0 ? 0 : y >= pl->h ? pl->h - 1 : y;
    }
    return pl->p[y * pl->w + x];
}

static void cubic_coeffs(float t, float *c)
{
    const float a = -0.75f;
    t = fabsf(t);
    c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    c[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

static int gs_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0], *g = in[1];
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], Ho = g->dims[1], Wo = g->dims[2];
    int mode = (int)n->ip[0], align = (int)n->ip[2];
    struct plane pl = {NULL, H, W, (int)n->ip[1], {0, 0, 0, 0}};
    pl.bounds[0] = align ? 0.0f : -0.5f;
    pl.bounds[1] = align ? 0.0f : -0.5f;
    pl.bounds[2] = align ? (float)W - 1 : (float)W - 0.5f;
    pl.bounds[3] = align ? (float)H - 1 : (float)H - 0.5f;
    float *y = out[0]->data;
    for (int64_t b = 0; b < N; b++) {
        for (int64_t ch = 0; ch < C; ch++) {
            pl.p = (const float *)x->data + (b * C + ch) * H * W;
            const float *gp = (const float *)g->data + b * Ho * Wo * 2;
            for (int64_t o = 0; o < Ho * Wo; o++, y++) {
                float nx = gp[2 * o], ny = gp[2 * o + 1];
                float fx = align ? (nx + 1) / 2 * (float)(W - 1) : ((nx + 1) * (float)W - 1) / 2;
                float fy = align ? (ny + 1) / 2 * (float)(H - 1) : ((ny + 1) * (float)H - 1) / 2;
                if (mode == GS_NEAREST) {
                    fx = nearbyintf(fx);
                    fy = nearbyintf(fy);
                }
                if (fx < pl.bounds[0] || fx > pl.bounds[2] || fy < pl.bounds[1] || fy > pl.bounds[3]) {
                    if (pl.pad == GS_BORDER) {
                        fx = fminf(fmaxf(fx, 0.0f), (float)(W - 1));
                        fy = fminf(fmaxf(fy, 0.0f), (float)(H - 1));
                    } else if (pl.pad == GS_REFLECTION) {
                        fx = reflect(fx, pl.bounds[0], pl.bounds[2]);
                        fy = reflect(fy, pl.bounds[1], pl.bounds[3]);
                    }
                }
                if (!isfinite(fx) || !isfinite(fy) || fabsf(fx) > 1e9f || fabsf(fy) > 1e9f) {
                    *y = 0.0f; /* a NaN or huge grid value samples nothing */
                    continue;
                }
                if (mode == GS_NEAREST) {
                    *y = pixel(&pl, (int64_t)fy, (int64_t)fx);
                } else if (mode == GS_BILINEAR) {
                    int64_t x1 = (int64_t)floorf(fx), y1 = (int64_t)floorf(fy);
                    float dx1 = fx - (float)x1, dx2 = 1 - dx1, dy1 = fy - (float)y1, dy2 = 1 - dy1;
                    *y = dy2 * (dx2 * pixel(&pl, y1, x1) + dx1 * pixel(&pl, y1, x1 + 1)) +
                         dy1 * (dx2 * pixel(&pl, y1 + 1, x1) + dx1 * pixel(&pl, y1 + 1, x1 + 1));
                } else {
                    int64_t x0 = (int64_t)floorf(fx) - 1, y0 = (int64_t)floorf(fy) - 1;
                    float cx[4], cy[4], v = 0;
                    cubic_coeffs(fx - (float)x0 - 1, cx);
                    cubic_coeffs(fy - (float)y0 - 1, cy);
                    for (int i = 0; i < 4; i++) {
                        float row = 0;
                        for (int j = 0; j < 4; j++)
                            row += cx[j] * pixel(&pl, y0 + i, x0 + j);
                        v += cy[i] * row;
                    }
                    *y = v;
                }
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_grid_sample = {
    .name = "GridSample", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = gs_prepare, .infer = gs_infer, .exec = gs_exec,
};
