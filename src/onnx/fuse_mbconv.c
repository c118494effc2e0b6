/* fuse_mbconv.c — the inverted-residual rewrite (after fuse.c has put activations and the
 * residual Add into the Convs' epilogues):
 *
 *   Conv 1x1 (stride 1, no pad, group 1) [act] -> depthwise Conv (group = channels) [act]
 *     [-> Conv 1x1 (stride 1, no pad, group 1) [+ Z] [act]]
 *                                 => InferdMBConv (ops/mbconv.c), run band by band in cache
 *
 * Every Conv's weights and bias must be FP32 constants; the intermediate values must have the
 * next Conv as their only reader and be no graph output. A depthwise -> 1x1 pair left over
 * (MobileNetV2's first block has no expand) fuses too, with the expand omitted. The fused node takes the last
 * Conv's place in the order (Z is computed by then) and the depthwise Conv's attributes.
 * INFERD_ONNX_OPT_MBCONV (graph_optimizations "mbconv") turns it off. */
#include <string.h>

#include "inferd/onnx.h"
#include "onnx/conv_kern.h"
#include "onnx/fuse_int.h"

/* a 1x1, stride-1, unpadded, ungrouped Conv with constant weights; residual allowed or not
 * (also fuse_se.c's test) */
const struct ox_tensor *fuse__pointwise(const struct fuse *f, const struct ox_node *n, int residual)
{
    const struct ox_tensor *w = fuse__conv_consts(f, n);
    if (!w || w->dims[2] != 1 || w->dims[3] != 1 || ox_attr_int(n, "group", 1) != 1 ||
        !fuse__ints_in(n, "strides", 1, 1) || !fuse__ints_in(n, "pads", 0, 0) || !fuse__ints_in(n, "dilations", 1, 1))
        return NULL;
    if (n->ip[2] ? !residual || n->n_in != 4 : n->n_in > 3)
        return NULL;
    return w;
}

static int in_or_none(const struct ox_node *n, int k)
{
    return k < n->n_in ? n->in[k] : -1;
}

/* 1 rewritten, 0 not a match, -1 out of memory. expand: node i is the expand Conv, else
 * the depthwise one (a depthwise -> 1x1 pair). */
static int fuse_one(struct fuse *f, int i, int expand)
{
    struct ox_model *m = f->m;
    struct ox_node *a = expand ? &m->nodes[i] : NULL, *b = expand ? NULL : &m->nodes[i];
    const struct ox_tensor *wa = NULL;
    if (f->dead[i] || (expand && !(wa = fuse__pointwise(f, a, 0))))
        return 0;
    if (expand)
        b = fuse__consumer(f, a->out[0], 1, 0);
    const struct ox_tensor *wb = b ? fuse__conv_consts(f, b) : NULL;
    if (!wb || (a && b->in[0] != a->out[0]) || b->ip[2] || b->n_in > 3 || (wa && wb->dims[0] != wa->dims[0]) ||
        wb->dims[1] != 1 || ox_attr_int(b, "group", 1) != wb->dims[0] || wb->dims[0] < 2)
        return 0;
    struct ox_node *c = fuse__consumer(f, b->out[0], 1, 0);
    const struct ox_tensor *wc = c ? fuse__pointwise(f, c, 1) : NULL;
    if (wc && (c->in[0] != b->out[0] || wc->dims[1] != wb->dims[0]))
        wc = NULL;
    if (!a && !wc)
        return 0;
    int n_in = !wc ? 5 : c->ip[2] ? 8 : 7;
    int ins[8] = {a ? a->in[0] : b->in[0], a ? a->in[1] : -1, a ? in_or_none(a, 2) : -1, b->in[1], in_or_none(b, 2),
                  -1, -1, -1};
    if (wc) {
        ins[5] = c->in[1];
        ins[6] = in_or_none(c, 2);
        ins[7] = c->ip[2] ? c->in[3] : -1;
    }
    const struct ox_op *op = ox_op_find("InferdMBConv");
    if (!op)
        return 0;
    int *in;
    const char **names;
    if (fuse__inputs(f, ins, n_in, &in, &names) < 0)
        return -1;
    struct ox_node *last = wc ? c : b;
    struct ox_node t = *b; /* the depthwise Conv's attributes */
    t.op_type = "InferdMBConv";
    t.domain = "";
    t.op = op;
    t.name = a ? a->name : b->name;
    t.in = in;
    t.in_names = names;
    t.n_in = n_in;
    t.out = last->out;
    t.out_names = last->out_names;
    fuse__two_epis(&t, a, b);
    if (wc) {
        uint32_t ua, ub;
        memcpy(&ua, &c->fp[0], sizeof ua);
        memcpy(&ub, &c->fp[1], sizeof ub);
        t.ip[2] = c->ip[0];
        t.ip[4] = ua;
        t.ip[5] = ub;
    }
    if (a)
        f->dead[i] = 1;
    if (wc)
        f->dead[b - m->nodes] = 1;
    *last = t;
    return 1;
}

int fuse__mbconv(struct fuse *f, unsigned off, int *count)
{
    if (off & INFERD_ONNX_OPT_MBCONV)
        return 0;
    if (fuse__index(f) < 0)
        return -1;
    for (int expand = 1; expand >= 0; expand--) {
        if (!expand && fuse__index(f) < 0) /* the first pass changed who reads what */
            return -1;
        for (int i = 0; i < f->m->n_nodes; i++) {
            int r = fuse_one(f, i, expand);
            if (r < 0)
                return -1;
            *count += r;
        }
    }
    return 0;
}
