/* conv_transpose.c — ConvTranspose, 2-D, FP32: groups, strides, dilations, pads,
 * output_padding, output_shape with auto_pad. Each group is one GEMM into the step's
 * scratch followed by a col2im scatter-add:
 *
 *   X (N, C, H, W), W (C, M/g, kh, kw), B (M) -> Y (N, M, OH, OW)
 *   OH = sh*(H-1) + output_padding + (kh-1)*dh + 1 - pad_top - pad_bottom
 *   cols (M/g*kh*kw, H*W) = W_g^T (M/g*kh*kw, C/g) @ X_g (C/g, H*W)
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

struct ct_geom {
    int64_t g, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow;
};

static int attr2(const struct ox_node *n, const char *name, int64_t dflt, int64_t *v, int count,
                 struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, name);
    for (int i = 0; i < count; i++)
        v[i] = dflt;
    if (!a || a->type != OX_ATTR_INTS)
        return 0;
    if (a->n_ints != count)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ConvTranspose: %s has %lld entries (2-D only)", name,
                              (long long)a->n_ints);
    for (int i = 0; i < count; i++)
        v[i] = a->ints[i];
    return 0;
}

static int ct_geometry(const struct ox_node *n, struct ox_tensor *const *in, struct ct_geom *gm,
                       struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *w = in[1];
    if (x->dt != INFERD_FP32 || w->dt != INFERD_FP32 || (n->n_in > 2 && in[2] && in[2]->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ConvTranspose: only FP32 is supported");
    if (x->rank != 4 || w->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ConvTranspose: only 2-D (rank-4) is supported");
    gm->g = ox_attr_int(n, "group", 1);
    if (gm->g < 1 || x->dims[1] % gm->g || w->dims[0] != x->dims[1])
        return inferd_err_set(err, INFERD_ESHAPE, "ConvTranspose: channels and weights disagree");
    int64_t st[2], dl[2], pd[4], op[2], os[2];
    int rc;
    if ((rc = attr2(n, "strides", 1, st, 2, err)) < 0 || (rc = attr2(n, "dilations", 1, dl, 2, err)) < 0 ||
        (rc = attr2(n, "pads", 0, pd, 4, err)) < 0 || (rc = attr2(n, "output_padding", 0, op, 2, err)) < 0 ||
        (rc = attr2(n, "output_shape", -1, os, 2, err)) < 0)
        return rc;
    gm->kh = w->dims[2];
    gm->kw = w->dims[3];
    gm->sh = st[0];
    gm->sw = st[1];
    gm->dh = dl[0];
    gm->dw = dl[1];
    for (int i = 0; i < 2; i++)
        if (st[i] < 1 || dl[i] < 1 || st[i] > 1 << 16 || dl[i] > 1 << 16 || op[i] < 0 || op[i] > 1 << 16 ||
            pd[i] < 0 || pd[i + 2] < 0 || pd[i] > 1 << 16 || pd[i + 2] > 1 << 16)
            return inferd_err_set(err, INFERD_EINVAL, "ConvTranspose: strides/dilations/pads out of range");
    int64_t full[2] = {st[0] * (x->dims[2] - 1) + op[0] + (gm->kh - 1) * dl[0] + 1,
                       st[1] * (x->dims[3] - 1) + op[1] + (gm->kw - 1) * dl[1] + 1};
    const struct ox_attr *ap = ox_attr_find(n, "auto_pad");
    int same = ap && ap->s && strncmp(ap->s, "SAME", 4) == 0;
    if (os[0] >= 0 || same) {
        for (int i = 0; i < 2; i++) {
            int64_t want = os[0] >= 0 ? os[i] : x->dims[2 + i] * st[i];
            int64_t total = full[i] - want;
            if (want < 0 || want > (int64_t)1 << 32)
                return inferd_err_set(err, INFERD_EINVAL, "ConvTranspose: output_shape out of range");
            if (total < 0) { /* a larger output_shape: extra rows/cols at the end, as output_padding */
                pd[i] = 0;
                pd[i + 2] = total;
                continue;
            }
            int upper = !(ap && ap->s && strcmp(ap->s, "SAME_LOWER") == 0);
            pd[i] = upper ? total / 2 : total - total / 2;
            pd[i + 2] = total - pd[i];
        }
    }
    gm->pt = pd[0];
    gm->pl = pd[1];
    gm->pb = pd[2];
    gm->pr = pd[3];
    gm->oh = full[0] - gm->pt - gm->pb;
    gm->ow = full[1] - gm->pl - gm->pr;
    if (gm->oh < 0 || gm->ow < 0)
        return inferd_err_set(err, INFERD_ESHAPE, "ConvTranspose: pads exceed the output");
    if (n->n_in > 2 && in[2] && in[2]->numel != w->dims[1] * gm->g)
        return inferd_err_set(err, INFERD_ESHAPE, "ConvTranspose: bias size");
    return 0;
}

static int ct_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    struct ct_geom gm;
    int rc = ct_geometry(n, in, &gm, err);
    if (rc < 0)
        return rc;
    int64_t dims[4] = {in[0]->dims[0], in[1]->dims[1] * gm.g, gm.oh, gm.ow};
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

static size_t ct_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct ct_geom gm;
    (void)out;
    if (ct_geometry(n, in, &gm, NULL) < 0)
        return 0;
    return (size_t)(in[1]->dims[1] * gm.kh * gm.kw * in[0]->dims[2] * in[0]->dims[3]) * sizeof(float);
}

static int ct_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    struct ct_geom gm;
    int rc = ct_geometry(n, in, &gm, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *x = in[0], *w = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    int64_t nb = x->dims[0], ch = x->dims[1], h = x->dims[2], wd = x->dims[3], hw = h * wd;
    int64_t cg = ch / gm.g, mg = w->dims[1], m = mg * gm.g, kk = mg * gm.kh * gm.kw, ohw = gm.oh * gm.ow;
    const float *xv = x->data, *wv = w->data, *bv = b ? b->data : NULL;
    float *yv = out[0]->data, *cols = c->scratch;
    if (out[0]->numel == 0)
        return 0;
    for (int64_t bi = 0; bi < nb; bi++) {
        for (int64_t gi = 0; gi < gm.g; gi++) {
            float *yg = yv + (bi * m + gi * mg) * ohw;
            for (int64_t mi = 0; mi < mg; mi++) {
                float bb = bv ? bv[gi * mg + mi] : 0.0f;
                for (int64_t i = 0; i < ohw; i++)
                    yg[mi * ohw + i] = bb;
            }
            if (hw == 0 || cg == 0)
                continue;
            /* W_g is (C/g, M/g*kh*kw) row-major: cols = W_g^T @ X_g */
            ox_sgemm(c, 1, 0, kk, hw, cg, 1.0f, wv + gi * cg * kk, xv + (bi * ch + gi * cg) * hw, 0.0f, cols);
            for (int64_t r = 0; r < kk; r++) {
                int64_t mi = r / (gm.kh * gm.kw), ky = (r / gm.kw) % gm.kh, kx = r % gm.kw;
                const float *cr = cols + r * hw;
                float *yp = yg + mi * ohw;
                for (int64_t iy = 0; iy < h; iy++) {
                    int64_t oy = iy * gm.sh - gm.pt + ky * gm.dh;
                    if (oy < 0 || oy >= gm.oh)
                        continue;
                    for (int64_t ix = 0; ix < wd; ix++) {
                        int64_t ox = ix * gm.sw - gm.pl + kx * gm.dw;
                        if (ox >= 0 && ox < gm.ow)
                            yp[oy * gm.ow + ox] += cr[iy * wd + ix];
                    }
                }
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_conv_transpose = {
    .name = "ConvTranspose", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = ct_infer, .exec = ct_exec, .scratch = ct_scratch,
};
