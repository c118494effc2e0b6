/* roi_align.c — RoiAlign (FP32), the region pooling of two-stage detectors (Mask R-CNN
 * exports): each region of interest is split into output_height x output_width bins, each
 * bin averages (mode avg) or takes the largest weighted corner of (mode max, as ONNX
 * Runtime defines it) bilinear samples on a sampling_ratio grid (adaptive when 0).
 *
 *   X (N, C, H, W), rois (R, 4) as x1 y1 x2 y2, batch_indices (R) -> Y (R, C, oh, ow)
 *
 * coordinate_transformation_mode half_pixel (opset 16 default) shifts by -0.5 pixel;
 * output_half_pixel (opset 10's behaviour) does not and makes regions at least 1 x 1. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int roi_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *m = ox_attr_find(n, "mode"), *t = ox_attr_find(n, "coordinate_transformation_mode");
    const char *ms = m && m->s ? m->s : "avg";
    const char *ts = t && t->s ? t->s : n->opset >= 16 ? "half_pixel" : "output_half_pixel";
    if (strcmp(ms, "avg") != 0 && strcmp(ms, "max") != 0)
        return inferd_err_set(err, INFERD_EINVAL, "RoiAlign: mode '%s' is not avg or max", ms);
    if (strcmp(ts, "half_pixel") != 0 && strcmp(ts, "output_half_pixel") != 0)
        return inferd_err_set(err, INFERD_EINVAL, "RoiAlign: coordinate_transformation_mode '%s' is not supported", ts);
    n->ip[0] = ms[0] == 'm';
    n->ip[1] = strcmp(ts, "half_pixel") == 0;
    n->ip[2] = ox_attr_int(n, "output_height", 1);
    n->ip[3] = ox_attr_int(n, "output_width", 1);
    n->ip[4] = ox_attr_int(n, "sampling_ratio", 0);
    n->fp[0] = ox_attr_float(n, "spatial_scale", 1.0f);
    if (n->ip[2] < 1 || n->ip[3] < 1 || n->ip[2] > 4096 || n->ip[3] > 4096 || n->ip[4] < 0 || n->ip[4] > 1024)
        return inferd_err_set(err, INFERD_EINVAL, "RoiAlign: output_height/width must be in [1, 4096], sampling_ratio in [0, 1024]");
    return 0;
}

static int roi_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *r = in[1], *b = in[2];
    if (x->dt != INFERD_FP32 || r->dt != INFERD_FP32 || !ox_dtype_is_int(b->dt))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "RoiAlign: X and rois must be FP32, batch_indices int64");
    if (x->rank != 4 || r->rank != 2 || r->dims[1] != 4 || b->rank != 1 || b->dims[0] != r->dims[0])
        return inferd_err_set(err, INFERD_ESHAPE, "RoiAlign: expects X (N, C, H, W), rois (R, 4), batch_indices (R)");
    int64_t dims[4] = {r->dims[0], x->dims[1], n->ip[2], n->ip[3]};
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

/* One bilinear sample of plane p (h x w) at (y, x); the four weighted corners in v[]. */
static void sample(const float *p, int64_t h, int64_t w, double y, double x, double v[4])
{
    v[0] = v[1] = v[2] = v[3] = 0;
    if (y < -1.0 || y > (double)h || x < -1.0 || x > (double)w)
        return;
    if (y <= 0)
        y = 0;
    if (x <= 0)
        x = 0;
    int64_t y0 = (int64_t)y, x0 = (int64_t)x, y1, x1;
    if (y0 >= h - 1) {
        y0 = y1 = h - 1;
        y = (double)y0;
    } else {
        y1 = y0 + 1;
    }
    if (x0 >= w - 1) {
        x0 = x1 = w - 1;
        x = (double)x0;
    } else {
        x1 = x0 + 1;
    }
    double ly = y - (double)y0, lx = x - (double)x0, hy = 1 - ly, hx = 1 - lx;
    v[0] = hy * hx * p[y0 * w + x0];
    v[1] = hy * lx * p[y0 * w + x1];
    v[2] = ly * hx * p[y1 * w + x0];
    v[3] = ly * lx * p[y1 * w + x1];
}

static int roi_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    const float *rois = in[1]->data;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], R = in[1]->dims[0];
    int64_t oh = n->ip[2], ow = n->ip[3], sr = n->ip[4];
    int is_max = (int)n->ip[0];
    double off = n->ip[1] ? 0.5 : 0.0, scale = n->fp[0];
    float *y = out[0]->data;
    if (H == 0 || W == 0)
        return inferd_err_set(err, INFERD_ESHAPE, "RoiAlign: X has an empty spatial dim");
    for (int64_t r = 0; r < R; r++) {
        int64_t b = ox_get_i64(in[2], r);
        if (b < 0 || b >= N)
            return inferd_err_set(err, INFERD_EINVAL, "RoiAlign: batch_indices[%lld] = %lld is outside [0, %lld)",
                                  (long long)r, (long long)b, (long long)N);
        double x1 = rois[4 * r] * scale - off, y1 = rois[4 * r + 1] * scale - off;
        double rw = rois[4 * r + 2] * scale - off - x1, rh = rois[4 * r + 3] * scale - off - y1;
        if (!n->ip[1]) {
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        double bh = rh / (double)oh, bw = rw / (double)ow;
        int64_t gh = sr > 0 ? sr : (int64_t)ceil(rh / (double)oh), gw = sr > 0 ? sr : (int64_t)ceil(rw / (double)ow);
        if (!(gh >= 0 && gh <= 1024 && gw >= 0 && gw <= 1024))
            return inferd_err_set(err, INFERD_EINVAL, "RoiAlign: region %lld needs a sampling grid over 1024", (long long)r);
        double count = gh * gw > 0 ? (double)(gh * gw) : 1.0;
        for (int64_t ch = 0; ch < C; ch++) {
            const float *p = (const float *)x->data + (b * C + ch) * H * W;
            for (int64_t ph = 0; ph < oh; ph++) {
                for (int64_t pw = 0; pw < ow; pw++) {
                    double acc = 0, v[4];
                    int first = 1;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y1 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x1 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            sample(p, H, W, yy, xx, v);
                            if (!is_max) {
                                acc += v[0] + v[1] + v[2] + v[3];
                                continue;
                            }
                            double m = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
                            acc = first ? m : fmax(acc, m);
                            first = 0;
                        }
                    }
                    *y++ = (float)(is_max ? acc : acc / count);
                }
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_roi_align = {
    .name = "RoiAlign", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .prepare = roi_prepare, .infer = roi_infer, .exec = roi_exec,
};
