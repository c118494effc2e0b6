/* fuse_se.c — the squeeze-excitation rewrite (after fuse.c has put the activations into the
 * Convs' epilogues):
 *
 *   X -> GlobalAveragePool -> Conv 1x1 [act1] -> Conv 1x1 [act2] -> Mul(X, ·) (or Mul(·, X))
 *                                 => InferdSE(X, W1, b1, W2, b2) (ops/se.c), one step
 *
 * (MobileNetV3: Relu and HardSigmoid; EfficientNet: SiLU and Sigmoid.) Both Convs must be
 * 1x1, stride 1, unpadded, ungrouped, without a fused residual, their weights and bias FP32
 * constants (fuse_mbconv.c's pointwise test), W2 (C, R) against W1 (R, C); the pooled value,
 * the two Convs' outputs must each have the next node as their only reader and be no graph
 * output. X may have other readers (an InferdMBConv's input, a residual): the plan puts Y
 * over X only when none reads X later. The fused node takes the Mul's place and output.
 * INFERD_ONNX_OPT_SE (graph_optimizations "squeeze_excite"; onnx_bench and bench/onnx_vs_ort:
 * INFERD_ONNX_OPT_OFF=65536) turns it off. */
#include <string.h>

#include "inferd/onnx.h"
#include "onnx/fuse_int.h"

/* 1 rewritten, 0 not a match, -1 out of memory; node i a GlobalAveragePool */
static int fuse_one(struct fuse *f, int i)
{
    struct ox_model *m = f->m;
    struct ox_node *gap = &m->nodes[i];
    if (f->dead[i] || !fuse__is_op(gap, "GlobalAveragePool") || gap->n_in != 1 || gap->n_out != 1 ||
        gap->in[0] < 0 || gap->out[0] < 0)
        return 0;
    int x = gap->in[0];
    struct ox_node *c1 = fuse__consumer(f, gap->out[0], 1, 0);
    const struct ox_tensor *w1 = c1 ? fuse__pointwise(f, c1, 0) : NULL;
    if (!w1 || c1->in[0] != gap->out[0])
        return 0;
    struct ox_node *c2 = fuse__consumer(f, c1->out[0], 1, 0);
    const struct ox_tensor *w2 = c2 ? fuse__pointwise(f, c2, 0) : NULL;
    if (!w2 || c2->in[0] != c1->out[0] || w2->dims[0] != w1->dims[1] || w2->dims[1] != w1->dims[0])
        return 0;
    struct ox_node *mul = fuse__consumer(f, c2->out[0], 1, 0);
    if (!mul || !fuse__is_op(mul, "Mul") || mul->n_in != 2 || mul->n_out != 1 || mul->out[0] < 0 ||
        fuse__other_input(mul, c2->out[0]) != x)
        return 0;
    const struct ox_op *op = ox_op_find("InferdSE");
    if (!op)
        return 0;
    int ins[5] = {x, c1->in[1], c1->n_in > 2 ? c1->in[2] : -1, c2->in[1], c2->n_in > 2 ? c2->in[2] : -1}, *in;
    const char **names;
    if (fuse__inputs(f, ins, 5, &in, &names) < 0)
        return -1;
    struct ox_node t = *mul;
    t.op_type = "InferdSE";
    t.domain = "";
    t.op = op;
    t.name = c1->name;
    t.in = in;
    t.in_names = names;
    t.n_in = 5;
    t.n_attrs = 0;
    t.attrs = NULL;
    fuse__two_epis(&t, c1, c2);
    f->dead[i] = 1;
    f->dead[c1 - m->nodes] = 1;
    f->dead[c2 - m->nodes] = 1;
    *mul = t;
    return 1;
}

int fuse__se(struct fuse *f, unsigned off, int *count)
{
    return off & INFERD_ONNX_OPT_SE ? 0 : fuse__each(f, fuse_one, count);
}
