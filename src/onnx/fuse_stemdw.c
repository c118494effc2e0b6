/* fuse_stemdw.c — the stem rewrite (after fuse.c has put the activations into the Convs'
 * epilogues, and after fuse_mbconv.c and fuse_se.c):
 *
 *   Conv (a first layer: C <= OX_STEM_MAXC, ungrouped, undilated, kernel <= OX_STEM_MAXK,
 *         strides 1 or 2, explicit pads) [act] -> depthwise Conv (group = channels,
 *         undilated, kernel <= OX_DWB_MAXKH) [act]
 *                                 => InferdStemDw (ops/stem_dw.c), run band by band in cache
 *
 * (MobileNetV3's 3 -> 16 stride-2 stem and its stride-2 depthwise, EfficientNet's 3 -> 32
 * stem and its stride-1 depthwise; MobileNetV2's first depthwise is an InferdMBConv by then,
 * and stays one.) Both Convs' weights and bias must be FP32 constants, neither may carry a
 * fused residual, and the stem's output must have the depthwise Conv as its only reader and
 * be no graph output. The stem must read a graph input of fixed height and width whose maps
 * the SIMD kernels take (stem output width <= OX_STEM_MAXOW, the depthwise's output width <=
 * OX_DWB_MAXOW and its padded rows within OX_DWB_CAP at 16 lanes): elsewhere the fused step
 * would run the scalar references where the unfused Convs have the im2col GEMM. The fused
 * node takes the depthwise Conv's place, output and attributes; the stem's strides and pads
 * go into ip[2] (ops/stem_dw.c).
 * INFERD_ONNX_OPT_STEMDW (graph_optimizations "stem_depthwise"; onnx_bench and
 * bench/onnx_vs_ort: INFERD_ONNX_OPT_OFF=131072) turns it off. */
#include <string.h>

#include "inferd/onnx.h"
#include "onnx/conv_kern.h"
#include "onnx/conv_stem.h"
#include "onnx/fuse_int.h"
#include "onnx/ops/ops.h"

/* the constant FP32 rank-4 weights of Conv n (its bias constant or absent, no fused
 * residual, undilated, at most `maxk` square-or-not kernel), else NULL */
static const struct ox_tensor *conv_w(const struct fuse *f, const struct ox_node *n, int64_t maxk)
{
    const struct ox_tensor *w = fuse__conv_consts(f, n);
    if (!w || n->n_in > 3 || n->ip[2] || w->dims[2] > maxk || w->dims[3] > maxk || !fuse__ints_in(n, "dilations", 1, 1))
        return NULL;
    return w;
}

/* 1 when X (value x, a graph input of fixed H, W) gives maps the SIMD kernels take; geo: the
 * stem's sh sw pt pl pb pr, wa / wb the two weights, b the depthwise Conv */
static int maps_fit(const struct fuse *f, int x, const int64_t *geo, const struct ox_tensor *wa,
                    const struct ox_tensor *wb, const struct ox_node *b)
{
    const struct ox_model *m = f->m;
    for (int k = 0; k < m->n_inputs; k++) {
        const struct inferd_onnx_io *io = &m->inputs[k];
        if (m->input_ids[k] != x || io->rank != 4 || io->dims[2] < 1 || io->dims[3] < 1)
            continue;
        int64_t h1 = io->dims[2] + geo[2] + geo[4] - wa->dims[2], w1 = io->dims[3] + geo[3] + geo[5] - wa->dims[3];
        if (h1 < 0 || w1 < 0)
            return 0;
        h1 = h1 / geo[0] + 1, w1 = w1 / geo[1] + 1;
        struct ox_window win;
        if (w1 > OX_STEM_MAXOW || ox_window_resolve(b, h1, w1, wb->dims[2], wb->dims[3], 0, &win, NULL) < 0)
            return 0;
        int64_t wp = (win.ow - 1) * win.sw + win.kw;
        return win.ow <= OX_DWB_MAXOW && win.pl < win.kw && win.kh * wp * 16 <= OX_DWB_CAP;
    }
    return 0;
}

/* 1 rewritten, 0 not a match, -1 out of memory; node i the stem candidate */
static int fuse_one(struct fuse *f, int i)
{
    struct ox_model *m = f->m;
    struct ox_node *a = &m->nodes[i];
    const struct ox_tensor *wa = f->dead[i] ? NULL : conv_w(f, a, OX_STEM_MAXK);
    if (!wa || wa->dims[1] > OX_STEM_MAXC || ox_attr_int(a, "group", 1) != 1 || !fuse__ints_in(a, "strides", 1, 2) ||
        !fuse__ints_in(a, "pads", 0, 255))
        return 0;
    const struct ox_attr *ap = ox_attr_find(a, "auto_pad");
    if (ap && !(ap->type == OX_ATTR_STRING && ap->s && strcmp(ap->s, "NOTSET") == 0))
        return 0;
    const struct ox_attr *pads = ox_attr_find(a, "pads"), *st = ox_attr_find(a, "strides");
    if ((pads && pads->n_ints != 4) || (st && st->n_ints != 2))
        return 0;
    struct ox_node *b = fuse__consumer(f, a->out[0], 1, 0);
    const struct ox_tensor *wb = b ? conv_w(f, b, OX_DWB_MAXKH) : NULL;
    if (!wb || b->in[0] != a->out[0] || wb->dims[0] != wa->dims[0] || wb->dims[1] != 1 ||
        ox_attr_int(b, "group", 1) != wb->dims[0])
        return 0;
    int64_t geo[6] = {st ? st->ints[0] : 1, st ? st->ints[1] : 1, 0, 0, 0, 0}; /* sh sw pt pl pb pr */
    for (int k = 0; pads && k < 4; k++)
        geo[2 + k] = pads->ints[k];
    if (!maps_fit(f, a->in[0], geo, wa, wb, b))
        return 0;
    const struct ox_op *op = ox_op_find("InferdStemDw");
    if (!op)
        return 0;
    int ins[5] = {a->in[0], a->in[1], a->n_in > 2 ? a->in[2] : -1, b->in[1], b->n_in > 2 ? b->in[2] : -1}, *in;
    const char **names;
    if (fuse__inputs(f, ins, 5, &in, &names) < 0)
        return -1;
    struct ox_node t = *b; /* the depthwise Conv's attributes and output */
    t.op_type = "InferdStemDw";
    t.domain = "";
    t.op = op;
    t.name = a->name;
    t.in = in;
    t.in_names = names;
    t.n_in = 5;
    fuse__two_epis(&t, a, b);
    for (int k = 0; k < 6; k++)
        t.ip[2] |= geo[k] << (8 * k);
    f->dead[i] = 1;
    *b = t;
    return 1;
}

int fuse__stemdw(struct fuse *f, unsigned off, int *count)
{
    return off & INFERD_ONNX_OPT_STEMDW ? 0 : fuse__each(f, fuse_one, count);
}
