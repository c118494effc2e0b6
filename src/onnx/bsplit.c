/* bsplit.c — plan-level batch splitting: a batch of N images runs as N / b sub-batches of b
 * images through a plan built for the sub-batch shape, when the graph treats images
 * independently, and each sub-batch's outputs are copied into the full plan's output buffers,
 * so the caller sees exactly what an unsplit run gives.
 *
 * Why: a batch-8 plan streams every layer's activations through DRAM (a YOLO-style net costs
 * 6.9 ms per image at batch 8 vs 5.6 at batch 1), channel Slices and Concats that are free
 * views of a batch-1 NCHW tensor become copies, and on 2+ threads every op forks and joins.
 * Split, each sub-batch is a batch-b plan whose activations stay in cache; with a pool, each
 * pool thread runs whole sub-batches on its own sub-plan (1-thread context, its own arena),
 * claiming the next sub-batch as it frees up — no fork/join per op.
 *
 * Separability (ox_bsplit_separable): every step of the full plan must be on a whitelist with
 * its axis conditions — convs (fused ones too), pools, normalisations over non-batch axes,
 * unary and broadcasting elementwise ops whose constant operands have dim 0 of 1 or a lower
 * rank, Concat / Split / Softmax / Gather / ArgMax / reductions not on axis 0 (a reduction
 * over all axes mixes images), Slice not on axis 0, Transpose with perm[0] = 0, Reshape /
 * Flatten / Squeeze / Unsqueeze keeping dim 0 = N, Gemm / MatMul with the batch only in A
 * (a non-constant B only as a same-rank batched MatMul); anything else (attention, RNNs,
 * Tile, Expand, ...) is not separable. Every non-constant
 * value a step reads or writes must have dim 0 = N, every graph input too (no BYTES, no
 * value-keyed input), so a constant written for batch N (a Reshape to [8, -1]) cannot slip
 * through: the sub-plan must also reproduce every step with the same dims but dim 0 = b.
 *
 * When (the rule, INFERD_ONNX_BSPLIT=auto, the default): image by image (b = 1) when the
 * bytes one image's steps write are at least 2/3 of the weight bytes they read and average
 * 128 KiB a step; on a pool of nth >= 2 threads also when they are at least 1/8 of the weight
 * bytes and 1 MiB in all and N keeps the threads busy (a multiple of nth, or >= 2 * nth); see
 * bsplit_wanted() for why and the measurements it came from.
 * INFERD_ONNX_PROFILE=1 prints the choice for each batch plan.
 *
 * Environment (read at each plan build):
 *   INFERD_ONNX_BSPLIT=0     never split
 *   INFERD_ONNX_BSPLIT=1     split every separable batch of N > 1, image by image
 *   INFERD_ONNX_BSPLIT=auto  (default, or unset) split when bsplit_wanted() says so
 *   INFERD_ONNX_BSPLIT_SUB=b images per sub-batch when splitting (a divisor of N below N;
 *                            default 1), for measuring
 *
 * Memory: the sub-plans (one per pool thread that runs at once, at most N / b) hang off the
 * full plan and are freed with it (LRU eviction included); each is held to the same
 * activation cap as a plan (max_elements * 16 bytes), their arenas together too, and the
 * sub-plans share one copy of their repacked weights (packs.c: with the model's batch-1 plan
 * too where they pack the same bytes). The full plan, whose steps no longer run, keeps only
 * its output buffers: its arena shrinks to them and its packed weights go, so a split batch
 * holds less memory than an unsplit one. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "onnx/onnx_int.h"

struct ox_bsplit {
    int64_t batch;  /* N, dim 0 of every graph input */
    int64_t sub;    /* b, images per sub-batch */
    int n_plans;    /* sub-plans: as many as can run at once */
    struct ox_plan *plans[]; /* built for dim 0 = b */
};

/* which rule an op follows */
enum bs_kind {
    BS_NO = 0,
    BS_X,       /* image-wise on input 0; other non-constant inputs are full-rank batched tensors */
    BS_BCAST,   /* broadcasting elementwise */
    BS_AXIS,    /* "axis" attribute (default 0) must not be the batch axis: Concat, Split, Gather... */
    BS_AXIS1,   /* "axis" attribute, default 1 (Flatten); with ip[0] for Softmax-like */
    BS_SOFTMAX,
    BS_REDUCE,
    BS_SLICE,
    BS_TRANSPOSE,
    BS_RESHAPE, /* keeps dim 0 = N in and out */
    BS_GEMM,
    BS_MATMUL,
    BS_PAD,
    BS_QUANT,   /* Quantize/DequantizeLinear: per-axis scales not on axis 0 */
};

static const struct {
    const char *op;
    enum bs_kind kind;
} bs_ops[] = {
    {"Conv", BS_X}, {"ConvTranspose", BS_X}, {"InferdMBConv", BS_X}, {"InferdSE", BS_X}, {"InferdStemDw", BS_X}, {"QLinearConv", BS_X},
    {"InferdQLinearConv", BS_X}, {"ConvInteger", BS_X}, {"BatchNormalization", BS_X},
    {"InstanceNormalization", BS_X}, {"LRN", BS_X}, {"MaxPool", BS_X}, {"AveragePool", BS_X},
    {"GlobalAveragePool", BS_X}, {"GlobalMaxPool", BS_X}, {"DepthToSpace", BS_X}, {"SpaceToDepth", BS_X},
    {"Resize", BS_X}, {"Upsample", BS_X}, {"GroupNormalization", BS_X},
    {"Relu", BS_X}, {"Sigmoid", BS_X}, {"Tanh", BS_X}, {"Erf", BS_X}, {"Sqrt", BS_X}, {"Clip", BS_X},
    {"HardSigmoid", BS_X}, {"HardSwish", BS_X}, {"LeakyRelu", BS_X}, {"Elu", BS_X}, {"Selu", BS_X},
    {"Celu", BS_X}, {"Gelu", BS_X}, {"Softplus", BS_X}, {"Softsign", BS_X}, {"Mish", BS_X}, {"Exp", BS_X},
    {"Log", BS_X}, {"Neg", BS_X}, {"Abs", BS_X}, {"Ceil", BS_X}, {"Floor", BS_X}, {"Round", BS_X},
    {"Sign", BS_X}, {"Reciprocal", BS_X}, {"Sin", BS_X}, {"Cos", BS_X}, {"Cast", BS_X}, {"Identity", BS_X},
    {"Dropout", BS_X}, {"Not", BS_X}, {"IsNaN", BS_X}, {"IsInf", BS_X}, {"ThresholdedRelu", BS_X},
    {"Shrink", BS_X},
    {"Add", BS_BCAST}, {"Sub", BS_BCAST}, {"Mul", BS_BCAST}, {"Div", BS_BCAST}, {"Pow", BS_BCAST},
    {"Min", BS_BCAST}, {"Max", BS_BCAST}, {"Sum", BS_BCAST}, {"Mean", BS_BCAST}, {"PRelu", BS_BCAST},
    {"Equal", BS_BCAST}, {"Less", BS_BCAST}, {"Greater", BS_BCAST}, {"LessOrEqual", BS_BCAST},
    {"GreaterOrEqual", BS_BCAST}, {"And", BS_BCAST}, {"Or", BS_BCAST}, {"Xor", BS_BCAST}, {"Mod", BS_BCAST},
    {"Where", BS_BCAST}, {"InferdQAdd", BS_BCAST},
    {"Concat", BS_AXIS}, {"Split", BS_AXIS}, {"Gather", BS_AXIS}, {"ArgMax", BS_AXIS}, {"ArgMin", BS_AXIS},
    {"Flatten", BS_AXIS1}, {"LayerNormalization", BS_AXIS},
    {"Softmax", BS_SOFTMAX}, {"LogSoftmax", BS_SOFTMAX}, {"Hardmax", BS_SOFTMAX},
    {"ReduceMean", BS_REDUCE}, {"ReduceSum", BS_REDUCE}, {"ReduceMax", BS_REDUCE}, {"ReduceMin", BS_REDUCE},
    {"ReduceProd", BS_REDUCE}, {"ReduceL1", BS_REDUCE}, {"ReduceL2", BS_REDUCE}, {"ReduceLogSum", BS_REDUCE},
    {"ReduceLogSumExp", BS_REDUCE}, {"ReduceSumSquare", BS_REDUCE},
    {"Slice", BS_SLICE}, {"Transpose", BS_TRANSPOSE},
    {"Reshape", BS_RESHAPE}, {"Squeeze", BS_RESHAPE}, {"Unsqueeze", BS_RESHAPE},
    {"Gemm", BS_GEMM}, {"InferdQGemm", BS_GEMM}, {"MatMul", BS_MATMUL}, {"InferdMatMul", BS_MATMUL},
    {"Pad", BS_PAD}, {"QuantizeLinear", BS_QUANT}, {"DequantizeLinear", BS_QUANT},
};

static enum bs_kind bs_kind_of(const struct ox_node *n)
{
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0 && strncmp(n->op_type, "Inferd", 6) != 0)
        return BS_NO;
    for (size_t i = 0; i < sizeof bs_ops / sizeof bs_ops[0]; i++)
        if (strcmp(bs_ops[i].op, n->op_type) == 0)
            return bs_ops[i].kind;
    return BS_NO;
}

/* t is a batched value: dim 0 = N */
static int batched(const struct ox_tensor *t, int64_t nb)
{
    return t->rank >= 1 && t->dims[0] == nb;
}

/* axis a (may be negative) of a rank-r tensor is the batch axis */
static int is_axis0(int64_t a, int r)
{
    return a == 0 || (r > 0 && a == -(int64_t)r);
}

/* the node's integer list: from constant input k when there is one, else attribute name;
 * returns the count, -1 when neither is there, -2 when the input is not constant */
static int ints_of(const struct ox_node *n, struct ox_tensor *const *in, int k, const char *name, int64_t *v)
{
    if (k >= 0 && k < n->n_in && in[k]) {
        if (!in[k]->is_const || in[k]->numel > INFERD_MAX_RANK * 2)
            return -2;
        for (int64_t i = 0; i < in[k]->numel; i++)
            v[i] = ox_get_i64(in[k], i);
        return (int)in[k]->numel;
    }
    const struct ox_attr *a = ox_attr_find(n, name);
    if (!a || a->type != OX_ATTR_INTS || a->n_ints > INFERD_MAX_RANK * 2)
        return -1;
    for (int64_t i = 0; i < a->n_ints; i++)
        v[i] = a->ints[i];
    return (int)a->n_ints;
}

/* step (n, in, out) keeps images apart: image i of every output depends only on image i of
 * every non-constant input */
static int step_separable(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                          int64_t nb)
{
    enum bs_kind kind = bs_kind_of(n);
    if (kind == BS_NO || n->n_in < 1 || !in[0] || in[0]->is_const || !batched(in[0], nb))
        return 0;
    int r = in[0]->rank, ro = out[0] ? out[0]->rank : 0;
    for (int k = 0; k < n->n_out; k++)
        if (out[k] && (!batched(out[k], nb) || out[k]->dt == INFERD_BYTES))
            return 0;
    int64_t v[INFERD_MAX_RANK * 2];
    for (int k = 1; k < n->n_in; k++) {
        const struct ox_tensor *t = in[k];
        if (!t)
            continue;
        switch (kind) {
        case BS_X:
            if (!t->is_const && (t->rank != ro || !batched(t, nb)))
                return 0; /* a fused residual / sum input: the output's shape */
            break;
        case BS_BCAST:
            if (t->is_const ? t->rank == ro && t->dims[0] != 1 : t->rank != ro || !batched(t, nb))
                return 0;
            break;
        case BS_AXIS:
            if (strcmp(n->op_type, "Concat") == 0 ? t->is_const || !batched(t, nb) : !t->is_const)
                return 0;
            break;
        case BS_MATMUL:
            if (k == 1 && !t->is_const) { /* batched B: a batched MatMul of equal ranks */
                if (r < 3 || t->rank != r || !batched(t, nb))
                    return 0;
            } else if (!t->is_const || t->rank > r || (t->rank == r && r >= 3 && t->dims[0] != 1)) {
                return 0; /* a constant B broadcast over A's batch dims, or a bias */
            }
            break;
        case BS_GEMM:
            if (!t->is_const || (k == 2 && t->rank == 2 && t->dims[0] != 1))
                return 0;
            break;
        default: /* shape-like operands (axes, pads, scales) */
            if (!t->is_const)
                return 0;
        }
    }
    switch (kind) {
    case BS_X:
    case BS_BCAST:
        if (kind == BS_BCAST && r != ro)
            return 0;
        return 1;
    case BS_AXIS:
        if (strcmp(n->op_type, "LayerNormalization") == 0)
            return !is_axis0(ox_attr_int(n, "axis", -1), r);
        return !is_axis0(ox_attr_int(n, "axis", 0), r);
    case BS_AXIS1:
        return !is_axis0(ox_attr_int(n, "axis", 1), r);
    case BS_SOFTMAX:
        return !is_axis0(n->ip[0], r);
    case BS_REDUCE: {
        int na = ints_of(n, in, 1, "axes", v);
        if (na == -2)
            return 0;
        if (na <= 0) /* no axes: all of them, unless noop_with_empty_axes */
            return ox_attr_int(n, "noop_with_empty_axes", 0) != 0;
        for (int i = 0; i < na; i++)
            if (is_axis0(v[i], r))
                return 0;
        return 1;
    }
    case BS_SLICE: {
        int na = n->opset < 10 ? ints_of(n, in, -1, "axes", v) : ints_of(n, in, 3, "axes", v);
        if (na == -2)
            return 0;
        if (na < 0) { /* no axes: the first len(starts) ones, axis 0 among them */
            int64_t st[INFERD_MAX_RANK * 2];
            return (n->opset < 10 ? ints_of(n, in, -1, "starts", st) : ints_of(n, in, 1, "starts", st)) == 0;
        }
        for (int i = 0; i < na; i++)
            if (is_axis0(v[i], r))
                return 0;
        return 1;
    }
    case BS_TRANSPOSE: {
        const struct ox_attr *a = ox_attr_find(n, "perm");
        if (!a || a->type != OX_ATTR_INTS)
            return r == 1;
        return a->n_ints > 0 && a->ints[0] == 0;
    }
    case BS_RESHAPE:
        return 1; /* dim 0 = N in and out: image i's elements keep their block */
    case BS_GEMM:
        return r == 2 && ox_attr_int(n, "transA", 0) == 0;
    case BS_MATMUL:
        return r >= 2;
    case BS_PAD: {
        int np = n->opset < 11 ? ints_of(n, in, -1, "pads", v) : ints_of(n, in, 1, "pads", v);
        if (np != 2 * r || (n->opset >= 18 && n->n_in > 3 && in[3]))
            return 0; /* Pad with axes: not worth the reading */
        return v[0] == 0 && v[r] == 0;
    }
    case BS_QUANT: {
        const struct ox_tensor *s = n->n_in > 1 ? in[1] : NULL;
        return !s || s->numel <= 1 || !is_axis0(ox_attr_int(n, "axis", 1), r);
    }
    default:
        return 0;
    }
}

int64_t ox_bsplit_separable(const struct ox_model *m, const struct ox_plan *p)
{
    if (m->n_inputs < 1)
        return 0;
    int64_t nb = p->vals[m->input_ids[0]].rank >= 1 ? p->vals[m->input_ids[0]].dims[0] : 0;
    if (nb < 2)
        return 0;
    for (int i = 0; i < m->n_inputs; i++) {
        const struct ox_tensor *t = &p->vals[m->input_ids[i]];
        if (p->keyed[i] || t->is_const || !batched(t, nb) || t->dt == INFERD_BYTES)
            return 0;
    }
    for (int i = 0; i < m->n_outputs; i++) {
        const struct ox_tensor *t = &p->vals[m->output_ids[i]];
        if (t->is_const || !batched(t, nb) || t->dt == INFERD_BYTES)
            return 0;
    }
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_step *st = &p->steps[s];
        if (!step_separable(st->node, st->in, st->out, nb))
            return 0;
    }
    return nb;
}

/* a constant operand that may hold the batch size (a target shape, Resize's sizes): the
 * non-constant dims check covers what it does to the output */
static int shape_operand(const struct ox_node *n, int k)
{
    return (bs_kind_of(n) == BS_RESHAPE && k == 1) ||
           (k == 3 && (strcmp(n->op_type, "Resize") == 0 || strcmp(n->op_type, "Upsample") == 0));
}

/* sub-plan q (dim 0 = b) runs the same steps as p (dim 0 = nb) on the same shapes otherwise,
 * with the same constants: a constant folded from the batch size (Shape(x)[0] feeding a Div)
 * differs between the two plans, and the split would compute with b where the graph says nb */
static int same_steps(const struct ox_plan *p, const struct ox_plan *q, int64_t nb, int64_t b)
{
    if (p->n_steps != q->n_steps)
        return 0;
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_step *a = &p->steps[s], *c = &q->steps[s];
        if (a->node != c->node)
            return 0;
        const struct ox_node *n = a->node;
        for (int k = 0; k < n->n_in + n->n_out; k++) {
            const struct ox_tensor *x = k < n->n_in ? a->in[k] : a->out[k - n->n_in];
            const struct ox_tensor *y = k < n->n_in ? c->in[k] : c->out[k - n->n_in];
            if (!x || !y) {
                if (x != y)
                    return 0;
                continue;
            }
            if (x->is_const != y->is_const || x->rank != y->rank || x->dt != y->dt)
                return 0;
            if (x->is_const) {
                if (k < n->n_in && shape_operand(n, k))
                    continue;
                if (x->nbytes != y->nbytes || memcmp(x->dims, y->dims, (size_t)x->rank * sizeof x->dims[0]) ||
                    (x->nbytes && (!x->data || !y->data || memcmp(x->data, y->data, x->nbytes))))
                    return 0;
                continue;
            }
            if (x->dims[0] != nb || y->dims[0] != b ||
                memcmp(x->dims + 1, y->dims + 1, (size_t)(x->rank - 1) * sizeof x->dims[0]))
                return 0;
        }
    }
    return 1;
}

/* The rule (INFERD_ONNX_BSPLIT=auto) for a separable batch of nb, read off its plan q (whose
 * steps a batch-1 plan repeats with dim 0 = 1): split when
 *   act >= 2/3 * wts   and   act >= OX_BSPLIT_STEP_BYTES * steps
 * where act is the bytes one image's steps write (the activation traffic a batch-nb plan
 * sends through DRAM, that a batch-1 plan keeps in cache) and wts the bytes of the constant
 * matrices and filters those steps read (streamed once per image when split, once per
 * batch when not: a batched GEMM reuses each weight over up to 128 columns). The second
 * condition keeps models of many small steps whole (each batch-1 step pays its fixed cost
 * per image: an MLP, the squeeze-excite steps of a MobileNetV3). Measured at batch 8 on
 * Zen 4 (process CPU time, split / whole, 1 and 2 threads; act/wts, act per step):
 *   YOLO-style 320x320   0.87 / 0.86   25     224 KiB  -> split
 *   EfficientNet-B0      0.94 / 0.93   1.08   220 KiB  -> split
 *   MobileNetV2          1.02 / 1.01   0.30   185 KiB  -> whole
 *   MobileNetV3-small    1.16 / 1.12   0.38    59 KiB  -> whole
 *   ResNet-18            1.12 / 1.09   0.23   437 KiB  -> whole
 *   ResNet-50            1.01 / -      0.44   776 KiB  -> whole
 *   ResNet-18 int8 QDQ   1.08 / 0.99   0.46   146 KiB  -> whole
 *   MobileNetV2 int8     1.06 / 0.96   2.27   110 KiB  -> whole
 * That is the rule on 1 thread. On nth >= 2 threads what counts is wall time, and a whole
 * batch pays a fork / join on every step and splits each step's small maps between cores
 * (batch-8 MobileNetV3-small ran 1.2x faster on 2 threads than on 1), while split each
 * thread runs its own images without waiting. Measured on Zen 5 (2 threads, batch 8, wall,
 * split / whole, 3 interleaved rounds, SCHED_FIFO): MobileNetV3-small 0.65-0.77, MobileNetV2
 * 0.91, MobileNetV2 int8 0.80, ResNet-50 0.91-0.94, ResNet-18 0.96-0.97, ResNet-18 int8
 * 0.94-1.0. So on 2+ threads a batch splits when one image writes at least 1/8 of the weight
 * bytes (a weight-heavy net, VGG-like at ~0.1 or an MLP, keeps its batched GEMMs that read
 * each weight once a batch) and at least OX_BSPLIT_MT_BYTES (an image's work worth a thread),
 * and the batch keeps every thread busy (nb a multiple of nth, or at least 2 * nth) --
 * or when the 1-thread rule says so. */
#define OX_BSPLIT_STEP_BYTES (128 * 1024)
#define OX_BSPLIT_MT_BYTES (1024 * 1024)

static int bsplit_wanted(const struct ox_plan *q, int64_t nb, int nth)
{
    int64_t act = 0, wts = 0;
    for (int s = 0; s < q->n_steps; s++) {
        const struct ox_step *st = &q->steps[s];
        for (int k = 0; k < st->node->n_out; k++)
            act += st->out[k] ? (int64_t)st->out[k]->nbytes / nb : 0; /* dim 0 is nb */
        for (int k = 1; k < st->node->n_in; k++)
            if (st->in[k] && st->in[k]->is_const && st->in[k]->rank >= 2)
                wts += (int64_t)st->in[k]->nbytes;
    }
    int split = 3 * act >= 2 * wts && act >= (int64_t)OX_BSPLIT_STEP_BYTES * q->n_steps;
    /* on threads, only where they all get images to the end: a batch below nth would leave
     * cores idle that a whole batch keeps busy on every step */
    if (nth >= 2 && nb >= nth && (nb % nth == 0 || nb >= 2 * (int64_t)nth))
        split = split || (8 * act >= wts && act >= OX_BSPLIT_MT_BYTES);
    if (ox_prof_on())
        fprintf(stderr,
                "onnx bsplit: batch %lld, %d thread%s: %s (per image %.1f KiB written by %d steps, %.1f KiB of weights)\n",
                (long long)nb, nth, nth > 1 ? "s" : "", split ? "split image by image" : "kept whole",
                (double)act / 1024.0, q->n_steps, (double)wts / 1024.0);
    return split;
}

void ox_bsplit_free(struct ox_bsplit *bs)
{
    if (!bs)
        return;
    for (int i = 0; i < bs->n_plans; i++)
        ox_plan_free(bs->plans[i]);
    free(bs);
}

/* the mode INFERD_ONNX_BSPLIT asks for: 0 never, 1 always, 2 auto */
static int bsplit_mode(void)
{
    const char *e = getenv("INFERD_ONNX_BSPLIT");
    if (!e || !*e || strcmp(e, "auto") == 0)
        return 2;
    return e[0] == '1';
}

/* Drops p's references to its packed operands (its steps no longer run). */
static void drop_packed(struct ox_plan *p)
{
    for (int s = 0; s < p->n_steps; s++) {
        ox_packs_put(p->packs, p->steps[s].packed);
        p->steps[s].packed = NULL;
    }
    p->packed_size = 0;
}

/* p's steps no longer run once its batch runs split: its arena shrinks to the graph outputs
 * (the buffers sub-batches are gathered into) and its repacked weights go. Returns 0, or
 * ENOMEM with p unchanged. */
static int shrink_full(const struct ox_model *m, struct ox_plan *p)
{
    size_t size = 0;
    for (int i = 0; i < m->n_outputs; i++)
        size += (p->vals[m->output_ids[i]].nbytes + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1);
    char *buf = aligned_alloc(OX_ALIGN, size + OX_ALIGN);
    if (!buf)
        return INFERD_ENOMEM;
    size_t at = 0;
    for (int i = 0; i < m->n_outputs; i++) {
        struct ox_tensor *v = &p->vals[m->output_ids[i]];
        v->data = buf + at;
        at += (v->nbytes + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1);
    }
    free(p->arena);
    p->arena = buf;
    p->arena_size = size;
    drop_packed(p);
    for (int s = 0; s < p->n_steps; s++)
        p->steps[s].scratch = NULL;
    return 0;
}

int ox_bsplit_prepare(const struct ox_model *m, const struct ox_ctx *c, struct ox_plan *p,
                      const struct inferd_tensor *inputs, int64_t max_elements, struct inferd_err *err)
{
    int mode = bsplit_mode();
    int64_t nb = mode ? ox_bsplit_separable(m, p) : 0;
    if (nb < 2 || (mode == 2 && !bsplit_wanted(p, nb, c->nth)))
        return 0;
    const char *se = getenv("INFERD_ONNX_BSPLIT_SUB");
    int64_t b = se && *se ? strtoll(se, NULL, 10) : 1;
    if (b < 1 || b >= nb || nb % b)
        b = 1;
    int64_t parts = nb / b;
    int n_plans = c->nth < parts ? c->nth : (int)parts;
    struct ox_bsplit *bs = calloc(1, sizeof *bs + (size_t)n_plans * sizeof bs->plans[0]);
    struct inferd_tensor *sub = calloc((size_t)m->n_inputs, sizeof *sub);
    unsigned char *keyed = calloc((size_t)m->n_inputs + 1, 1);
    if (!bs || !sub || !keyed) {
        free(bs);
        free(sub);
        free(keyed);
        return inferd_err_set(err, INFERD_ENOMEM, "plan: out of memory");
    }
    bs->batch = nb;
    bs->sub = b;
    for (int i = 0; i < m->n_inputs; i++) {
        sub[i] = inputs[i];
        sub[i].dims[0] = b;
        sub[i].nbytes = (size_t)inferd_shape_numel(sub[i].rank, sub[i].dims) * inferd_dtype_size(sub[i].dtype);
    }
    struct ox_ctx one = *c;
    one.pool = NULL;
    one.nth = 1;
    one.packs = p->packs; /* the sub-plans share the full plan's store (the model's, or its own) */
    int rc = 0;
    size_t total = 0;
    for (int i = 0; i < n_plans; i++) {
        struct inferd_err e = {0};
        rc = ox_plan_build(m, &one, sub, keyed, max_elements, &bs->plans[i], &e);
        if (rc < 0)
            break; /* (OX_ENEEDCONST too: a value-keyed input p did not need) */
        bs->n_plans++;
        total += bs->plans[i]->arena_size;
        if (total > ox_plan_cap(max_elements)) { /* before building the rest */
            rc = INFERD_ETOOLARGE;
            break;
        }
        if (i == 0 && !same_steps(p, bs->plans[0], nb, b)) {
            rc = INFERD_EUNSUPPORTED;
            break;
        }
    }
    free(sub);
    free(keyed);
    if (rc < 0) { /* not splittable after all, or no memory for the sub-plans: run unsplit */
        ox_bsplit_free(bs);
        return 0;
    }
    if (shrink_full(m, p) < 0) {
        ox_bsplit_free(bs);
        return inferd_err_set(err, INFERD_ENOMEM, "plan: out of memory for the split batch's outputs");
    }
    p->bsplit = bs;
    return 0;
}

struct bs_job {
    const struct ox_model *m;
    const struct ox_ctx *c;
    struct ox_plan *p;
    const struct inferd_tensor *in;
    _Atomic int64_t next; /* next sub-batch to claim */
    _Atomic int failed;
    struct inferd_err *err; /* the first failure's */
    int rc;                 /* the first failure's code, written by its part alone */
};

/* one pool part: sub-plan ith runs sub-batches as they are claimed */
static void bs_part(void *arg, int ith, int nth)
{
    struct bs_job *j = arg;
    const struct ox_bsplit *bs = j->p->bsplit;
    struct ox_plan *sp = bs->plans[ith];
    const struct ox_model *m = j->m;
    int64_t parts = bs->batch / bs->sub;
    struct ox_ctx one = *j->c;
    one.pool = NULL;
    one.nth = 1;
    (void)nth;
    for (;;) {
        int64_t q = atomic_fetch_add(&j->next, 1);
        if (q >= parts || atomic_load(&j->failed))
            return;
        for (int i = 0; i < m->n_inputs; i++) {
            struct ox_tensor *v = &sp->vals[m->input_ids[i]];
            v->data = (char *)j->in[i].data + (size_t)q * v->nbytes;
        }
        struct inferd_err e = {0};
        int rc = ox_plan_exec(&one, sp, &e);
        if (rc < 0) {
            if (!atomic_exchange(&j->failed, 1)) {
                j->rc = rc;
                if (j->err)
                    *j->err = e;
            }
            return;
        }
        for (int i = 0; i < m->n_outputs; i++) {
            const struct ox_tensor *v = &sp->vals[m->output_ids[i]];
            memcpy((char *)j->p->vals[m->output_ids[i]].data + (size_t)q * v->nbytes, v->data, v->nbytes);
        }
    }
}

int ox_bsplit_run(const struct ox_model *m, const struct ox_ctx *c, struct ox_plan *p,
                  const struct inferd_tensor *inputs, struct inferd_err *err)
{
    struct bs_job j = {.m = m, .c = c, .p = p, .in = inputs, .err = err};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    if (p->bsplit->n_plans > 1)
        tpool_parallel_for_n(c->pool, p->bsplit->n_plans, bs_part, &j);
    else
        bs_part(&j, 0, 1);
    return atomic_load(&j.failed) ? j.rc : 0;
}

int ox_bsplit_active(const struct ox_plan *p)
{
    return p->bsplit ? (int)p->bsplit->sub : 0;
}
