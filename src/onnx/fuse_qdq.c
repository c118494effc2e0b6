/* fuse_qdq.c — load-time rewrite of QDQ-format int8 models (what ONNX Runtime's quantizer
 * writes with QuantFormat.QDQ) into the engine's int8 operators, as ORT's QDQ transformer
 * does, so the product runs on the int8 GEMM (ops/qgemm.h) instead of in FP32:
 *
 *   DQ(x_q, sx, zx) -> Conv(., DQ(W_q, sw, zw) [, DQ(B_i32, sx*sw, 0)]) [-> Relu] -> Q(., sy, zy)
 *       => QLinearConv(x_q, sx, zx, W_q, sw, zw, sy, zy [, B_i32])
 *   DQ(a_q, sa, za) -> MatMul(., DQ(B_q, sb, zb)) [-> Relu] -> Q(., sy, zy)
 *       => QLinearMatMul(a_q, sa, za, B_q, sb, zb, sy, zy)
 *
 * Conditions (otherwise the nodes stay as they are and run in FP32):
 *  - scales are FP32 initializers, zero points uint8/int8 initializers, all present; x/a/y
 *    scales and zero points per tensor; W's per tensor or per output channel (DQ axis 0 for
 *    Conv, axis 1 of a 2-D B for MatMul); no block_size / output_dtype attributes;
 *  - the Conv/MatMul output (and the Relu's) has the one consumer of the pattern and is no
 *    graph output; the bias, if any, is the DequantizeLinear of an int32 initializer with
 *    zero point 0 and scale sx * sw[o] (relative difference <= 1e-5);
 *  - a Relu is dropped only when zy is the type's minimum (0 for uint8, -128 for int8): then
 *    the saturation in Q already clamps at real 0, so the result is the same.
 * Before that, any Relu or constant Clip whose only reader is a per-tensor QuantizeLinear that
 * saturates at both of its bounds anyway is bypassed (drop_clip), wherever it is: a
 * calibrated ReLU6 between two Q/DQ pairs then costs nothing.
 * Results can differ from the FP32 path by one quantum where the FP32 sum of dequantised
 * products rounds differently from the exact int32 sum; ORT's fused kernels do the same.
 * The DequantizeLinear nodes that fed only rewritten nodes are dropped. Then (fuse_chain,
 * fuse_stem) a QLinearConv's DQ -> Q requantisation, or its DQ -> Relu -> MaxPool stem, is
 * folded into the internal InferdQLinearConv, computing the same bytes. Around the convs
 * (fuse_pass, fuse_gemm, fuse_add, fuse_dq_q): DQ -> MaxPool / reshape ops -> Q with the same
 * parameters runs on the bytes; DQ -> Gemm -> Q becomes InferdQGemm (ORT's QGemm); what is
 * left of DQ -> Add [-> Relu] [-> Q] and DQ [-> Relu] -> Q becomes InferdQAdd, one pass with
 * the replaced nodes' float operations (so the same bytes). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"

struct qdq {
    struct ox_model *m;
    int *cons1;            /* a consumer of value v (the only one when n_consumers is 1) */
    unsigned char *is_out; /* value is a graph output */
    unsigned char *dead;   /* node dropped */
    unsigned char *maybe;  /* a DequantizeLinear whose consumers were rewritten */
};

static int is_op(const struct ox_node *n, const char *type)
{
    return (!n->domain || !n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

static const struct ox_tensor *init_of(const struct qdq *q, int v)
{
    return v >= 0 && q->m->values[v].init && q->m->values[v].init->data ? q->m->values[v].init : NULL;
}

static int is_q8(enum inferd_dtype dt)
{
    return dt == INFERD_UINT8 || dt == INFERD_INT8;
}

/* The node producing v when it is a live DequantizeLinear/QuantizeLinear of the checked
 * form (3 inputs, FP32 scale and 8-bit zero point initializers, no block_size /
 * output_dtype); NULL otherwise. scale_max: largest scale length allowed. */
static struct ox_node *qnode(const struct qdq *q, struct ox_node *n, const char *type, int64_t scale_max)
{
    if (!n || q->dead[n - q->m->nodes] || !is_op(n, type) || n->n_in != 3 || n->n_out != 1)
        return NULL;
    const struct ox_tensor *s = init_of(q, n->in[1]), *z = init_of(q, n->in[2]);
    if (!s || !z || s->dt != INFERD_FP32 || !is_q8(z->dt) || z->numel != s->numel || s->numel < 1 ||
        s->numel > scale_max)
        return NULL;
    if (ox_attr_int(n, "block_size", 0) != 0 || ox_attr_find(n, "output_dtype"))
        return NULL;
    return n;
}

static struct ox_node *producer_dq(const struct qdq *q, int v, int64_t scale_max)
{
    int p = v >= 0 ? q->m->values[v].producer : -1;
    return p >= 0 ? qnode(q, &q->m->nodes[p], "DequantizeLinear", scale_max) : NULL;
}

/* The sole consumer of v, or NULL when v has several or is a graph output. */
static struct ox_node *sole_consumer(const struct qdq *q, int v)
{
    if (v < 0 || q->is_out[v] || q->m->values[v].n_consumers != 1 || q->cons1[v] < 0 || q->dead[q->cons1[v]])
        return NULL;
    return &q->m->nodes[q->cons1[v]];
}

static int zp_value(const struct ox_tensor *z, int64_t i)
{
    return z->dt == INFERD_INT8 ? ((const int8_t *)z->data)[i] : ((const uint8_t *)z->data)[i];
}

/* The final QuantizeLinear after y (through a droppable Relu); *relu gets the Relu or NULL. */
static struct ox_node *tail_q(const struct qdq *q, int y, struct ox_node **relu)
{
    struct ox_node *c = sole_consumer(q, y);
    *relu = NULL;
    if (c && is_op(c, "Relu") && c->n_out == 1) {
        *relu = c;
        c = sole_consumer(q, c->out[0]);
    }
    struct ox_node *qn = c ? qnode(q, c, "QuantizeLinear", 1) : NULL;
    if (!qn || ox_attr_int(qn, "saturate", 1) != 1)
        return NULL;
    if (*relu) { /* Q clamps at its zero point only when that is the type's minimum and the scale positive */
        const struct ox_tensor *zy = init_of(q, qn->in[2]);
        if (zp_value(zy, 0) != (zy->dt == INFERD_INT8 ? -128 : 0) || !(*(const float *)init_of(q, qn->in[1])->data > 0))
            return NULL;
    }
    return qn;
}

/* A weight DequantizeLinear: 8-bit initializer, scale / zero point per tensor or per `ch`
 * channels along `axis`. */
static struct ox_node *weight_dq(const struct qdq *q, int v, int rank, int axis, int64_t ch)
{
    struct ox_node *d = producer_dq(q, v, ch);
    const struct ox_tensor *w = d ? init_of(q, d->in[0]) : NULL;
    if (!w || !is_q8(w->dt) || w->rank != rank || w->dt != init_of(q, d->in[2])->dt)
        return NULL;
    int64_t ns = init_of(q, d->in[1])->numel;
    if (ns != 1 && ns != ch)
        return NULL;
    if (ns > 1) {
        int64_t ax = ox_attr_int(d, "axis", 1);
        if ((ax < 0 ? ax + rank : ax) != axis)
            return NULL;
    }
    return d;
}

/* Points node n at new inputs (value ids; names from the value table) and a new op. */
static int retarget(struct qdq *q, struct ox_node *n, const char *op_type, const int *ins, int n_in, int out)
{
    struct ox_model *m = q->m;
    int *in = ox_mem_alloc(m->mem, (size_t)n_in * sizeof *in);
    const char **names = ox_mem_alloc(m->mem, (size_t)n_in * sizeof *names);
    if (!in || !names)
        return -1;
    for (int k = 0; k < n_in; k++) {
        in[k] = ins[k];
        names[k] = ins[k] >= 0 ? m->values[ins[k]].name : "";
    }
    n->op_type = op_type;
    n->domain = "";
    n->op = ox_op_find(op_type);
    n->n_in = n_in;
    n->in = in;
    n->in_names = names;
    n->out[0] = out;
    n->out_names[0] = m->values[out].name;
    memset(n->ip, 0, sizeof n->ip);
    memset(n->fp, 0, sizeof n->fp);
    return n->op ? 1 : -1;
}

static void drop_tail(struct qdq *q, struct ox_node *relu, struct ox_node *qn, struct ox_node *const *dqs, int n_dq)
{
    if (relu)
        q->dead[relu - q->m->nodes] = 1;
    q->dead[qn - q->m->nodes] = 1;
    for (int k = 0; k < n_dq; k++)
        if (dqs[k])
            q->maybe[dqs[k] - q->m->nodes] = 1;
}

/* The bias of a QDQ Conv: DequantizeLinear(int32 initializer, scale sx * sw[o], zero point
 * absent or 0); its int32 value id, or -1 when the Conv's bias is not of that form. */
static int bias_i32(const struct qdq *q, int v, float sx, const struct ox_tensor *sw, int64_t mo, struct ox_node **dq)
{
    int p = v >= 0 ? q->m->values[v].producer : -1;
    struct ox_node *d = p >= 0 && !q->dead[p] ? &q->m->nodes[p] : NULL;
    if (!d || !is_op(d, "DequantizeLinear") || d->n_out != 1 || d->n_in < 2 || ox_attr_int(d, "block_size", 0) != 0)
        return -1;
    const struct ox_tensor *b = init_of(q, d->in[0]), *sb = init_of(q, d->in[1]);
    const struct ox_tensor *z = d->n_in > 2 && d->in[2] >= 0 ? init_of(q, d->in[2]) : NULL;
    if (!b || b->dt != INFERD_INT32 || b->numel != mo || !sb || sb->dt != INFERD_FP32 ||
        (sb->numel != 1 && sb->numel != mo) || (d->n_in > 2 && d->in[2] >= 0 && (!z || z->dt != INFERD_INT32)))
        return -1;
    for (int64_t i = 0; z && i < z->numel; i++)
        if (((const int32_t *)z->data)[i] != 0)
            return -1;
    for (int64_t o = 0; o < mo; o++) {
        float want = sx * ((const float *)sw->data)[sw->numel == 1 ? 0 : o];
        float got = ((const float *)sb->data)[sb->numel == 1 ? 0 : o];
        if (fabsf(got - want) > 1e-5f * fabsf(want))
            return -1;
    }
    *dq = d;
    return d->in[0];
}

/* Returns 1 when rewritten, 0 when the pattern does not apply, -1 out of memory. */
static int fuse_conv(struct qdq *q, struct ox_node *conv)
{
    if (conv->n_in < 2 || conv->n_out != 1 || conv->out[0] < 0)
        return 0;
    struct ox_node *dx = producer_dq(q, conv->in[0], 1), *relu, *qn = tail_q(q, conv->out[0], &relu);
    struct ox_node *dw0 = producer_dq(q, conv->in[1], INT64_MAX);
    const struct ox_tensor *w = dw0 ? init_of(q, dw0->in[0]) : NULL;
    if (!dx || !qn || !w || w->rank != 4)
        return 0;
    int64_t mo = w->dims[0];
    struct ox_node *dw = weight_dq(q, conv->in[1], 4, 0, mo), *db = NULL;
    if (!dw)
        return 0;
    const struct ox_tensor *sw = init_of(q, dw->in[1]);
    int ins[9] = {dx->in[0], dx->in[1], dx->in[2], dw->in[0], dw->in[1], dw->in[2], qn->in[1], qn->in[2], -1};
    int n_in = 8;
    if (conv->n_in > 2 && conv->in[2] >= 0) {
        float sx = *(const float *)init_of(q, dx->in[1])->data;
        if ((ins[8] = bias_i32(q, conv->in[2], sx, sw, mo, &db)) < 0)
            return 0;
        n_in = 9;
    }
    struct ox_node *dqs[3] = {dx, dw, db};
    drop_tail(q, relu, qn, dqs, 3);
    return retarget(q, conv, "QLinearConv", ins, n_in, qn->out[0]);
}

static int fuse_matmul(struct qdq *q, struct ox_node *mm)
{
    if (mm->n_in != 2 || mm->n_out != 1 || mm->out[0] < 0)
        return 0;
    struct ox_node *da = producer_dq(q, mm->in[0], 1), *relu, *qn = tail_q(q, mm->out[0], &relu);
    int vb = mm->in[1];
    struct ox_node *db0 = producer_dq(q, vb, INT64_MAX);
    const struct ox_tensor *b = db0 ? init_of(q, db0->in[0]) : NULL;
    if (!da || !qn || !b || b->rank != 2)
        return 0;
    struct ox_node *db = weight_dq(q, vb, 2, 1, b->dims[1]);
    if (!db)
        return 0;
    int ins[8] = {da->in[0], da->in[1], da->in[2], db->in[0], db->in[1], db->in[2], qn->in[1], qn->in[2]};
    struct ox_node *dqs[2] = {da, db};
    drop_tail(q, relu, qn, dqs, 2);
    return retarget(q, mm, "QLinearMatMul", ins, 8, qn->out[0]);
}

/* DQ(A) -> Gemm(., DQ(W) [, DQ(bias int32)]) [-> Relu] -> Q => InferdQGemm (ops/quant.c), as
 * ORT's QDQ transformer makes QGemm: A 2-D per tensor, W an 8-bit initializer per tensor or
 * per output column (DQ axis 0 with transB, else 1), alpha = beta = 1, no transA, the bias
 * as in fuse_conv (scale sa * sw[j], zero point 0). Returns 1 when rewritten. */
static int fuse_gemm(struct qdq *q, struct ox_node *gm)
{
    if (gm->n_in < 2 || gm->n_out != 1 || gm->out[0] < 0 || ox_attr_int(gm, "transA", 0) != 0 ||
        ox_attr_float(gm, "alpha", 1.0f) != 1.0f || ox_attr_float(gm, "beta", 1.0f) != 1.0f)
        return 0;
    int tb = ox_attr_int(gm, "transB", 0) != 0;
    struct ox_node *da = producer_dq(q, gm->in[0], 1), *relu, *qn = tail_q(q, gm->out[0], &relu);
    struct ox_node *dw0 = producer_dq(q, gm->in[1], INT64_MAX);
    const struct ox_tensor *w = dw0 ? init_of(q, dw0->in[0]) : NULL;
    if (!da || !qn || !w || w->rank != 2)
        return 0;
    int64_t n_out = tb ? w->dims[0] : w->dims[1];
    struct ox_node *dw = weight_dq(q, gm->in[1], 2, tb ? 0 : 1, n_out), *db = NULL;
    if (!dw)
        return 0;
    int ins[9] = {da->in[0], da->in[1], da->in[2], dw->in[0], dw->in[1], dw->in[2], qn->in[1], qn->in[2], -1};
    int n_in = 8;
    if (gm->n_in > 2 && gm->in[2] >= 0) {
        float sa = *(const float *)init_of(q, da->in[1])->data;
        if ((ins[8] = bias_i32(q, gm->in[2], sa, init_of(q, dw->in[1]), n_out, &db)) < 0)
            return 0;
        n_in = 9;
    }
    struct ox_node *dqs[3] = {da, dw, db};
    drop_tail(q, relu, qn, dqs, 3);
    int rc = retarget(q, gm, "InferdQGemm", ins, n_in, qn->out[0]);
    gm->attrs = NULL, gm->n_attrs = 0;
    gm->ip[0] = tb;
    return rc;
}

/* QLinearConv (fused above, or as the file wrote it) -> DequantizeLinear -> QuantizeLinear, all
 * per tensor: the pair requantises the conv's bytes to another scale (what is left of a
 * calibrated ReLU6 after drop_clip, in every MobileNet block). It becomes InferdQLinearConv,
 * which runs the pair in its epilogue on the int32 lanes (qgemm_requant_chain): the same float
 * operations as the two nodes, so the same bytes, without the FP32 tensor between them.
 * Returns 1 when rewritten. */
static int fuse_chain(struct qdq *q, struct ox_node *conv)
{
    if (!is_op(conv, "QLinearConv") || conv->n_in < 8 || conv->n_out != 1 || conv->out[0] < 0)
        return 0;
    struct ox_node *dq = qnode(q, sole_consumer(q, conv->out[0]), "DequantizeLinear", 1);
    struct ox_node *qn = dq && dq->out[0] >= 0 ? qnode(q, sole_consumer(q, dq->out[0]), "QuantizeLinear", 1) : NULL;
    const struct ox_tensor *zy = init_of(q, conv->in[7]);
    if (!qn || ox_attr_int(qn, "saturate", 1) != 1 || !zy || init_of(q, dq->in[2])->dt != zy->dt ||
        !init_of(q, conv->in[6]))
        return 0;
    int ins[13];
    for (int k = 0; k < 9; k++)
        ins[k] = k < conv->n_in ? conv->in[k] : -1;
    ins[9] = dq->in[1], ins[10] = dq->in[2], ins[11] = qn->in[1], ins[12] = qn->in[2];
    q->dead[dq - q->m->nodes] = 1;
    q->dead[qn - q->m->nodes] = 1;
    return retarget(q, conv, "InferdQLinearConv", ins, 13, qn->out[0]);
}

/* QLinearConv -> DequantizeLinear (per tensor, scale > 0) -> Relu -> MaxPool -> F (a ResNet
 * stem, whose F is read in FP32 by the first residual Add): DQ is increasing, so
 *   Relu(DQ(v)) = DQ(max(v, z1))  and  MaxPool(DQ(u)) = DQ(MaxPool(u))
 * exactly (max only picks elements; pads never win in either). Rewritten as
 *   InferdQLinearConv with the chain DQ(s1, z1) -> Relu -> Q(s1, z1), i.e. v -> max(v, z1)
 *   -> MaxPool on bytes -> DequantizeLinear -> F,
 * a quarter of the bytes through the pool and the DequantizeLinear on the pooled tensor only.
 * The DequantizeLinear and MaxPool nodes swap places in the node array, so the order stays
 * topological. Returns 1 when rewritten. */
static int fuse_stem(struct qdq *q, struct ox_node *conv)
{
    struct ox_model *m = q->m;
    if (!is_op(conv, "QLinearConv") || conv->n_in < 8 || conv->n_out != 1 || conv->out[0] < 0)
        return 0;
    struct ox_node *dq = qnode(q, sole_consumer(q, conv->out[0]), "DequantizeLinear", 1);
    struct ox_node *relu = dq && dq->out[0] >= 0 ? sole_consumer(q, dq->out[0]) : NULL;
    if (!relu || !is_op(relu, "Relu") || relu->n_out != 1 || relu->out[0] < 0)
        return 0;
    struct ox_node *mp = sole_consumer(q, relu->out[0]);
    const struct ox_tensor *zy = init_of(q, conv->in[7]);
    if (!mp || !is_op(mp, "MaxPool") || mp->n_in != 1 || (mp->n_out > 1 && mp->out[1] >= 0) || mp->out[0] < 0 ||
        !zy || init_of(q, dq->in[2])->dt != zy->dt || !init_of(q, conv->in[6]) ||
        !(*(const float *)init_of(q, dq->in[1])->data > 0))
        return 0;
    int v = conv->out[0], d = dq->out[0], f = mp->out[0];
    int ins[13];
    for (int k = 0; k < 9; k++)
        ins[k] = k < conv->n_in ? conv->in[k] : -1;
    ins[9] = dq->in[1], ins[10] = dq->in[2], ins[11] = dq->in[1], ins[12] = dq->in[2];
    int rc = retarget(q, conv, "InferdQLinearConv", ins, 13, v);
    if (rc < 0)
        return rc;
    conv->ip[0] = 1; /* the Relu */
    q->dead[relu - m->nodes] = 1;
    mp->in[0] = v, mp->in_names[0] = m->values[v].name;
    mp->out[0] = d, mp->out_names[0] = m->values[d].name;
    dq->in[0] = d, dq->in_names[0] = m->values[d].name;
    dq->out[0] = f, dq->out_names[0] = m->values[f].name;
    struct ox_node t = *dq;
    *dq = *mp, *mp = t;
    return 1;
}

/* Live readers of value v (a node reading it twice counts twice). */
static int n_readers(const struct qdq *q, int v)
{
    int cnt = 0;
    for (int i = 0; i < q->m->n_nodes; i++)
        for (int k = 0; !q->dead[i] && k < q->m->nodes[i].n_in; k++)
            cnt += q->m->nodes[i].in[k] == v;
    return cnt;
}

/* A live per-tensor, saturating QuantizeLinear reading v, or NULL. */
static struct ox_node *q_reader(const struct qdq *q, int v)
{
    for (int i = 0; i < q->m->n_nodes; i++) {
        struct ox_node *n = &q->m->nodes[i];
        if (n->n_in == 3 && n->in[0] == v && qnode(q, n, "QuantizeLinear", 1) && ox_attr_int(n, "saturate", 1) == 1)
            return n;
    }
    return NULL;
}

/* the Relu that alone reads value y (one input, one output), or NULL */
static struct ox_node *relu_after(struct qdq *q, int y)
{
    struct ox_node *relu = sole_consumer(q, y);
    if (relu && (!is_op(relu, "Relu") || relu->n_in != 1 || relu->n_out != 1 || relu->out[0] < 0))
        return NULL;
    return relu;
}

/* DQ(a) + (DQ(b) | b) [-> Relu] [-> Q], DQ and Q per tensor => InferdQAdd (ops/quant.c):
 * one pass over the bytes instead of a FP32 tensor per node, with the same float operations
 * in the same order, so the same bytes and floats (a ResNet residual: DQ(conv) + FP32 skip
 * -> Relu -> Q for the next conv and the FP32 sum for the next skip). The Relu is taken when
 * it is the Add's only reader; the Q when one reads the (Relu's) result, whose FP32 value
 * stays a second output while anything else reads it. Returns 1 when rewritten. */
static int fuse_add(struct qdq *q, struct ox_node *add)
{
    struct ox_model *m = q->m;
    if (add->n_in != 2 || add->n_out != 1 || add->out[0] < 0 || add->in[0] < 0 || add->in[1] < 0)
        return 0;
    struct ox_node *d0 = producer_dq(q, add->in[0], 1), *d1 = producer_dq(q, add->in[1], 1);
    if (!d0 && !d1)
        return 0;
    struct ox_node *da = d0 ? d0 : d1, *db = d0 ? d1 : NULL;
    int vb = d0 ? add->in[1] : add->in[0], y = add->out[0];
    struct ox_node *relu = relu_after(q, y);
    if (relu)
        y = relu->out[0];
    struct ox_node *qn = q_reader(q, y);
    int keep_f = q->is_out[y] || n_readers(q, y) > (qn ? 1 : 0);
    int ins[8] = {da->in[0], da->in[1], da->in[2], db ? db->in[0] : vb, db ? db->in[1] : -1, db ? db->in[2] : -1,
                  qn ? qn->in[1] : -1, qn ? qn->in[2] : -1};
    int *out = ox_mem_alloc(m->mem, 2 * sizeof *out);
    const char **out_names = ox_mem_alloc(m->mem, 2 * sizeof *out_names);
    if (!out || !out_names)
        return -1;
    add->out = out, add->out_names = out_names;
    add->n_out = qn && keep_f ? 2 : 1;
    out[1] = y, out_names[1] = m->values[y].name;
    int rc = retarget(q, add, "InferdQAdd", ins, qn ? 8 : db ? 6 : 4, qn ? qn->out[0] : y);
    if (rc < 0)
        return rc;
    add->ip[0] = relu != NULL;
    if (relu)
        q->dead[relu - m->nodes] = 1;
    if (qn)
        q->dead[qn - m->nodes] = 1;
    q->maybe[da - m->nodes] = 1;
    if (db)
        q->maybe[db - m->nodes] = 1;
    return 1;
}

/* What is left of DQ [-> Relu] -> Q after the other rewrites (a DQ of activation bytes, per
 * tensor, whose result, or whose sole Relu's, a per-tensor Q reads: the ResNet stem's pooled
 * bytes requantised for the first conv, a Relu between a DQ and a Q whose zero point is not
 * the minimum): the DQ becomes InferdQAdd without a B, one pass with the nodes' float
 * operations, the FP32 result kept as a second output while anything else reads it. (The
 * consumer counts a DQ's result has here can only be too high after the other rewrites,
 * which read the DQ's bytes instead, so the Relu test errs on the safe side; keep_f counts
 * the live readers.) Returns 1 when rewritten. */
static int fuse_dq_q(struct qdq *q, struct ox_node *dq)
{
    struct ox_model *m = q->m;
    if (!qnode(q, dq, "DequantizeLinear", 1) || dq->out[0] < 0 || init_of(q, dq->in[0]))
        return 0;
    int y = dq->out[0];
    struct ox_node *relu = relu_after(q, y);
    if (relu)
        y = relu->out[0];
    struct ox_node *qn = q_reader(q, y);
    if (!qn)
        return 0;
    int keep_f = q->is_out[y] || n_readers(q, y) > 1;
    int ins[8] = {dq->in[0], dq->in[1], dq->in[2], -1, -1, -1, qn->in[1], qn->in[2]};
    int *out = ox_mem_alloc(m->mem, 2 * sizeof *out);
    const char **out_names = ox_mem_alloc(m->mem, 2 * sizeof *out_names);
    if (!out || !out_names)
        return -1;
    dq->out = out, dq->out_names = out_names;
    dq->n_out = keep_f ? 2 : 1;
    out[1] = y, out_names[1] = m->values[y].name;
    int rc = retarget(q, dq, "InferdQAdd", ins, 8, qn->out[0]);
    dq->attrs = NULL, dq->n_attrs = 0;
    dq->ip[0] = relu != NULL;
    if (relu)
        q->dead[relu - m->nodes] = 1;
    q->dead[qn - m->nodes] = 1;
    q->maybe[dq - m->nodes] = 0; /* a DQ whose other readers were rewritten: now a live node */
    return rc;
}

/* DQ(v; s, z) -> MaxPool | Reshape | Flatten | Squeeze | Unsqueeze | Transpose -> Q(s, z), all
 * per tensor with the same scale (bit for bit), zero point and dtype, s > 0: the op runs on
 * the bytes, as ONNX Runtime's QDQ transformer drops such pairs. Exact: Q(DQ(v)) = v (the
 * float product and quotient are off by far less than half a quantum), the shape ops only
 * move elements, and DQ is increasing, so the maximum of the dequantised window is the
 * dequantised maximum (pads never win either way). The op's result must have the Q as its
 * only reader. Returns 1 when rewritten. */
static int fuse_pass(struct qdq *q, struct ox_node *op)
{
    static const char *const kinds[] = {"MaxPool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"};
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && !is_op(op, kinds[k]))
        k++;
    if (k == sizeof kinds / sizeof kinds[0] || op->n_in < 1 || op->n_out < 1 || op->in[0] < 0 || op->out[0] < 0 ||
        (op->n_out > 1 && op->out[1] >= 0))
        return 0;
    struct ox_node *dq = producer_dq(q, op->in[0], 1);
    struct ox_node *qn = dq ? qnode(q, sole_consumer(q, op->out[0]), "QuantizeLinear", 1) : NULL;
    if (!qn || ox_attr_int(qn, "saturate", 1) != 1)
        return 0;
    const struct ox_tensor *sd = init_of(q, dq->in[1]), *zd = init_of(q, dq->in[2]);
    const struct ox_tensor *sq = init_of(q, qn->in[1]), *zq = init_of(q, qn->in[2]);
    if (memcmp(sd->data, sq->data, sizeof(float)) != 0 || !(*(const float *)sd->data > 0) || zd->dt != zq->dt ||
        zp_value(zd, 0) != zp_value(zq, 0))
        return 0;
    struct ox_model *m = q->m;
    op->in[0] = dq->in[0], op->in_names[0] = m->values[dq->in[0]].name;
    op->out[0] = qn->out[0], op->out_names[0] = m->values[qn->out[0]].name;
    q->dead[qn - m->nodes] = 1;
    q->maybe[dq - m->nodes] = 1;
    return 1;
}

/* A Clip bound: an FP32 scalar initializer or Constant node output (the opset-11 inputs), or
 * the attribute (opset < 11); dflt when absent. Returns 0 when the bound is not a constant. */
static int clip_bound(const struct qdq *q, const struct ox_node *n, int k, const char *attr, float dflt, float *out)
{
    *out = dflt;
    if (n->opset < 11) {
        *out = ox_attr_float(n, attr, dflt);
        return 1;
    }
    if (n->n_in <= k || n->in[k] < 0)
        return 1;
    const struct ox_tensor *t = init_of(q, n->in[k]);
    int p = q->m->values[n->in[k]].producer;
    if (!t && p >= 0 && is_op(&q->m->nodes[p], "Constant")) {
        const struct ox_attr *a = ox_attr_find(&q->m->nodes[p], "value");
        t = a && a->type == OX_ATTR_TENSOR && a->t->data ? a->t : NULL;
    }
    if (!t || t->dt != INFERD_FP32 || t->numel != 1)
        return 0;
    memcpy(out, t->data, sizeof *out);
    return 1;
}

/* Relu or Clip(lo, hi) -> Q(s, z) per tensor is Q alone when Q already saturates there:
 * Q(lo) <= qmin and Q(hi) >= qmax (Q is monotonic, so Q(clip(x)) == Q(x) for every x), as
 * ONNX Runtime's QDQ clip/relu removal does. Calibrated ReLU6 outputs (range [0, 6]) meet
 * it exactly, which leaves DQ -> Q pairs instead of DQ -> Clip -> Q. Returns 1 when n was
 * bypassed. */
static int drop_clip(struct qdq *q, struct ox_node *n)
{
    int relu = is_op(n, "Relu");
    if ((!relu && !is_op(n, "Clip")) || n->n_out != 1 || n->n_in < 1 || n->in[0] < 0)
        return 0;
    struct ox_node *qn = qnode(q, sole_consumer(q, n->out[0]), "QuantizeLinear", 1);
    if (!qn || ox_attr_int(qn, "saturate", 1) != 1)
        return 0;
    float lo = 0, hi = INFINITY;
    if (!relu && (!clip_bound(q, n, 1, "min", -INFINITY, &lo) || !clip_bound(q, n, 2, "max", INFINITY, &hi)))
        return 0;
    const struct ox_tensor *zt = init_of(q, qn->in[2]);
    float sc = *(const float *)init_of(q, qn->in[1])->data;
    int zp = zp_value(zt, 0), qmin = zt->dt == INFERD_INT8 ? -128 : 0, qmax = zt->dt == INFERD_INT8 ? 127 : 255;
    if (!(sc > 0) || isnan(lo) || isnan(hi))
        return 0;
    /* Q(v) = saturate(round_half_even(v / s) + z), computed as QuantizeLinear does */
    double qlo = (double)nearbyintf(lo / sc) + zp, qhi = (double)nearbyintf(hi / sc) + zp;
    if (!(qlo <= qmin && qhi >= qmax))
        return 0;
    qn->in[0] = n->in[0];
    qn->in_names[0] = q->m->values[n->in[0]].name; /* a later graph rebuild reads the names */
    q->cons1[n->in[0]] = (int)(qn - q->m->nodes);
    q->dead[n - q->m->nodes] = 1;
    return 1;
}

int ox_fuse_qdq(struct ox_model *m, int *n_fused, struct inferd_err *err)
{
    int nv = m->n_values, nn = m->n_nodes, rc = 0;
    struct qdq q = {m, NULL, NULL, NULL, NULL};
    *n_fused = 0;
    q.cons1 = malloc(((size_t)nv + 1) * sizeof *q.cons1);
    q.is_out = calloc((size_t)nv + 1, 1);
    q.dead = calloc((size_t)nn + 1, 1);
    q.maybe = calloc((size_t)nn + 1, 1);
    if (!q.cons1 || !q.is_out || !q.dead || !q.maybe)
        goto oom;
    for (int v = 0; v < nv; v++)
        q.cons1[v] = -1;
    for (int i = 0; i < m->n_outputs; i++)
        q.is_out[m->output_ids[i]] = 1;
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                q.cons1[m->nodes[i].in[k]] = i;
    int n_clips = 0;
    for (int i = 0; i < nn; i++) /* first, so that a Conv -> Relu -> Q tail sees Conv -> Q */
        n_clips += drop_clip(&q, &m->nodes[i]);
    for (int i = 0; i < nn; i++) /* byte pass-through first: Q -> DQ -> MaxPool -> Q -> DQ -> Conv */
        *n_fused += q.dead[i] ? 0 : fuse_pass(&q, &m->nodes[i]);
    for (int i = 0; i < nn; i++) {
        struct ox_node *n = &m->nodes[i];
        if (q.dead[i])
            continue;
        int r = is_op(n, "Conv")     ? fuse_conv(&q, n)
                : is_op(n, "MatMul") ? fuse_matmul(&q, n)
                : is_op(n, "Gemm")   ? fuse_gemm(&q, n)
                                     : 0;
        if (r < 0)
            goto oom;
        *n_fused += r;
    }
    for (int i = 0; i < nn; i++) { /* after the convs exist: their DQ -> Q tails */
        int r = q.dead[i] ? 0 : fuse_chain(&q, &m->nodes[i]);
        if (r == 0 && !q.dead[i])
            r = fuse_stem(&q, &m->nodes[i]);
        if (r < 0)
            goto oom;
        *n_fused += r;
    }
    for (int i = 0; i < nn; i++) { /* then the DQ -> Add tails the convs left */
        int r = !q.dead[i] && is_op(&m->nodes[i], "Add") ? fuse_add(&q, &m->nodes[i]) : 0;
        if (r < 0)
            goto oom;
        *n_fused += r;
    }
    for (int i = 0; i < nn; i++) { /* last: DQ [-> Relu] -> Q left anywhere */
        int r = q.dead[i] ? 0 : fuse_dq_q(&q, &m->nodes[i]);
        if (r < 0)
            goto oom;
        *n_fused += r;
    }
    if (*n_fused + n_clips == 0)
        goto done;
    /* recount consumers over the live nodes; drop the DequantizeLinear nodes nothing reads */
    for (int v = 0; v < nv; v++)
        m->values[v].n_consumers = 0;
    for (int i = 0; i < nn; i++)
        for (int k = 0; !q.dead[i] && k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                m->values[m->nodes[i].in[k]].n_consumers++;
    for (int i = nn - 1; i >= 0; i--) { /* backwards: a DQ may feed only another dropped DQ */
        int o = m->nodes[i].out[0];
        if (!q.maybe[i] || q.dead[i] || q.is_out[o] || m->values[o].n_consumers != 0)
            continue;
        q.dead[i] = 1;
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                m->values[m->nodes[i].in[k]].n_consumers--;
    }
    int at = 0;
    for (int i = 0; i < nn; i++)
        if (!q.dead[i])
            m->nodes[at++] = m->nodes[i];
    m->n_nodes = at;
    for (int v = 0; v < nv; v++)
        m->values[v].producer = -1;
    for (int i = 0; i < at; i++)
        for (int k = 0; k < m->nodes[i].n_out; k++)
            if (m->nodes[i].out[k] >= 0)
                m->values[m->nodes[i].out[k]].producer = i;
    goto done;
oom:
    rc = inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory while fusing QDQ nodes");
done:
    free(q.cons1);
    free(q.is_out);
    free(q.dead);
    free(q.maybe);
    return rc;
}
