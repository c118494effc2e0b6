/* tflite_ops.c — TFLite operators to ONNX nodes (see tflite.h for the list and the layout
 * rules), over the graph builders of tflite.c. */
#include "pack/tflite_int.h"

#include "inferd/tensor.h"
#include "llm/kernels/fp16.h"
#include "onnx/pb.h"

#include <stdlib.h>
#include <string.h>


/* The fused activation of an op that wrote pre (NCHW), then the NHWC tensor y from outn. */
static int finish_nchw(struct conv *c, int act, char *pre, char *outn, int y)
{
    int rc = act != ACT_NONE ? tfl_activation(c, act, pre ? pre : "", outn ? outn : "") : 0;
    free(pre);
    if (rc < 0) {
        free(outn);
        return rc;
    }
    tfl_from_nchw(c, y, outn);
    return 0;
}

static void spatial_attrs(struct node *n, const int64_t ks[2], const int64_t st[2], const int64_t *dl,
                          const int64_t pads[4])
{
    if (!n)
        return;
    tfl_attr_ints(n, "kernel_shape", ks, 2);
    tfl_attr_ints(n, "strides", st, 2);
    if (dl)
        tfl_attr_ints(n, "dilations", dl, 2);
    tfl_attr_ints(n, "pads", pads, 4);
}

static int conv2d(struct conv *c, const struct opctx *o, int depthwise)
{
    int x = o->in[0], w = o->in[1], b = o->n_in > 2 ? o->in[2] : -1, y = o->out[0];
    int rc;
    if ((rc = tfl_need_rank(c, x, 4, o->name, "input")) < 0 || (rc = tfl_need_rank(c, w, 4, o->name, "filter")) < 0 ||
        (rc = tfl_need_const(c, w, o->name, "filter")) < 0 || (b >= 0 && (rc = tfl_need_const(c, b, o->name, "bias")) < 0))
        return rc;
    struct fb *f = &c->f;
    int padding = (int)fb_int(f, o->opt, 0, 1, 1, 0);
    int64_t sw = fb_int(f, o->opt, 1, 4, 1, 1), sh = fb_int(f, o->opt, 2, 4, 1, 1);
    int act = (int)fb_int(f, o->opt, depthwise ? 4 : 3, 1, 1, 0);
    int64_t dw = fb_int(f, o->opt, depthwise ? 5 : 4, 4, 1, 1), dh = fb_int(f, o->opt, depthwise ? 6 : 5, 4, 1, 1);
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || sw > 1024 || sh > 1024 || dw > 1024 || dh > 1024)
        return tfl_bad(c, "%s: strides and dilations must be in 1..1024", o->name);
    const struct ttensor *X = &c->t[x], *W = &c->t[w];
    int64_t cin = X->shape[3], kh = W->shape[1], kw = W->shape[2], cout, group;
    float *wd;
    if (depthwise) { /* [1, KH, KW, C*M] -> [C*M, 1, KH, KW], group C */
        cout = W->shape[3];
        group = cin;
        if (W->shape[0] != 1 || cin < 1 || cout % cin)
            return tfl_bad(c, "%s: filter %s [1,%lld,%lld,%lld] does not fit %lld input channels", o->name, W->name,
                       (long long)kh, (long long)kw, (long long)cout, (long long)cin);
    } else { /* [O, KH, KW, I] -> [O, I, KH, KW] */
        cout = W->shape[0];
        if (W->shape[3] < 1 || cin % W->shape[3])
            return tfl_bad(c, "%s: filter %s has %lld input channels, the input %lld", o->name, W->name,
                       (long long)W->shape[3], (long long)cin);
        group = cin / W->shape[3];
    }
    int64_t ci = depthwise ? 1 : W->shape[3];
    if (!(wd = malloc((size_t)inferd_shape_numel(W->rank, W->shape) * sizeof *wd))) {
        c->oom = 1;
        return INFERD_ENOMEM;
    }
    const float *src = tfl_fdata(W);
    for (int64_t oc = 0; oc < cout; oc++)
        for (int64_t ic = 0; ic < ci; ic++)
            for (int64_t y0 = 0; y0 < kh; y0++)
                for (int64_t x0 = 0; x0 < kw; x0++)
                    wd[((oc * ci + ic) * kh + y0) * kw + x0] =
                        depthwise ? src[(y0 * kw + x0) * cout + oc] : src[((oc * kh + y0) * kw + x0) * ci + ic];
    int64_t wdims[4] = {cout, ci, kh, kw};
    const char *wname = tfl_add_init(c, tfl_cv_tmpname(c, "weight"), 1, wdims, 4, wd,
                                 (size_t)inferd_shape_numel(W->rank, W->shape) * 4, wd);
    const char *xin = tfl_to_nchw(c, x);
    char *outn = tfl_cv_tmpname(c, "nchw"), *pre = tfl_pre_act(c, act, outn ? outn : "");
    struct node *n = tfl_add_node(c, "Conv");
    tfl_node_in(c, n, xin);
    tfl_node_in(c, n, wname);
    if (b >= 0)
        tfl_node_in(c, n, tfl_use(c, b));
    tfl_node_out(c, n, pre ? pre : "");
    int64_t pads[4], ks[2] = {kh, kw}, st[2] = {sh, sw}, dl[2] = {dh, dw};
    tfl_same_pads(padding, X->shape[1], kh, sh, dh, &pads[0], &pads[2]);
    tfl_same_pads(padding, X->shape[2], kw, sw, dw, &pads[1], &pads[3]);
    spatial_attrs(n, ks, st, dl, pads);
    if (n)
        tfl_attr_int(n, "group", group);
    return finish_nchw(c, act, pre, outn, y);
}

static int pool2d(struct conv *c, const struct opctx *o, int maxpool)
{
    int x = o->in[0], y = o->out[0], rc;
    if ((rc = tfl_need_rank(c, x, 4, o->name, "input")) < 0)
        return rc;
    struct fb *f = &c->f;
    int padding = (int)fb_int(f, o->opt, 0, 1, 1, 0);
    int64_t sw = fb_int(f, o->opt, 1, 4, 1, 1), sh = fb_int(f, o->opt, 2, 4, 1, 1);
    int64_t kw = fb_int(f, o->opt, 3, 4, 1, 1), kh = fb_int(f, o->opt, 4, 4, 1, 1);
    int act = (int)fb_int(f, o->opt, 5, 1, 1, 0);
    if (sw < 1 || sh < 1 || kw < 1 || kh < 1 || sw > 1024 || sh > 1024 || kw > 4096 || kh > 4096)
        return tfl_bad(c, "%s: strides and filter sizes must be positive", o->name);
    const char *xin = tfl_to_nchw(c, x);
    char *outn = tfl_cv_tmpname(c, "nchw"), *pre = tfl_pre_act(c, act, outn ? outn : "");
    struct node *n = tfl_add_node(c, maxpool ? "MaxPool" : "AveragePool");
    tfl_node_in(c, n, xin);
    tfl_node_out(c, n, pre ? pre : "");
    int64_t pads[4], ks[2] = {kh, kw}, st[2] = {sh, sw};
    tfl_same_pads(padding, c->t[x].shape[1], kh, sh, 1, &pads[0], &pads[2]);
    tfl_same_pads(padding, c->t[x].shape[2], kw, sw, 1, &pads[1], &pads[3]);
    spatial_attrs(n, ks, st, NULL, pads);
    return finish_nchw(c, act, pre, outn, y);
}

/* Element-wise ops run in NCHW when every computed input has an NCHW copy and every constant
 * is a single value; otherwise on the NHWC tensors. */
static int can_nchw(struct conv *c, const struct opctx *o, int n_data)
{
    int any = 0;
    for (int k = 0; k < n_data; k++) {
        const struct ttensor *t = &c->t[o->in[k]];
        if (t->data || t->owned) {
            if (inferd_shape_numel(t->rank, t->shape) != 1)
                return 0;
        } else if (!t->nchw || t->rank != 4) {
            return 0;
        } else {
            any = 1;
        }
    }
    return any && c->t[o->out[0]].rank == 4;
}

static int elementwise(struct conv *c, const struct opctx *o, const char *onnx_op, int n_data, int act)
{
    int y = o->out[0], rc = 0;
    int nchw = can_nchw(c, o, n_data);
    char *outn = nchw ? tfl_cv_tmpname(c, "nchw") : tfl_cv_strdup(c, c->t[y].name);
    char *pre = tfl_pre_act(c, act, outn ? outn : "");
    if (strcmp(onnx_op, "HardSwish") == 0) { /* x * HardSigmoid(x; 1/6, 1/2): opset 13 has no HardSwish */
        const char *xin = nchw && c->t[o->in[0]].nchw ? c->t[o->in[0]].nchw : tfl_use(c, o->in[0]);
        char *hs = tfl_cv_tmpname(c, "hardsigmoid");
        struct node *n = tfl_add_node(c, "HardSigmoid");
        tfl_node_in(c, n, xin);
        tfl_node_out(c, n, hs ? hs : "");
        if (n) {
            tfl_attr_float(n, "alpha", 1.0f / 6.0f);
            tfl_attr_float(n, "beta", 0.5f);
        }
        n = tfl_add_node(c, "Mul");
        tfl_node_in(c, n, xin);
        tfl_node_in(c, n, hs ? hs : "");
        tfl_node_out(c, n, pre ? pre : "");
        free(hs);
    } else {
        struct node *n = tfl_add_node(c, onnx_op);
        for (int k = 0; k < n_data; k++) {
            const struct ttensor *t = &c->t[o->in[k]];
            tfl_node_in(c, n, nchw && t->nchw ? t->nchw : tfl_use(c, o->in[k]));
        }
        if (strcmp(onnx_op, "Clip") == 0) {
            tfl_node_in(c, n, tfl_const_f32(c, "min", o->code == OP_RELU6 ? 0.f : -1.f));
            tfl_node_in(c, n, tfl_const_f32(c, "max", o->code == OP_RELU6 ? 6.f : 1.f));
        }
        tfl_node_out(c, n, pre ? pre : "");
    }
    if (act != ACT_NONE)
        rc = tfl_activation(c, act, pre ? pre : "", outn ? outn : "");
    free(pre);
    if (rc < 0) {
        free(outn);
        return rc;
    }
    if (nchw)
        tfl_from_nchw(c, y, outn);
    else
        free(outn);
    return 0;
}

static int fully_connected(struct conv *c, const struct opctx *o)
{
    int x = o->in[0], w = o->in[1], b = o->n_in > 2 ? o->in[2] : -1, y = o->out[0], rc;
    if ((rc = tfl_need_rank(c, w, 2, o->name, "weights")) < 0 || (rc = tfl_need_const(c, w, o->name, "weights")) < 0 ||
        (b >= 0 && (rc = tfl_need_const(c, b, o->name, "bias")) < 0))
        return rc;
    int act = (int)fb_int(&c->f, o->opt, 0, 1, 1, 0);
    int keep = (int)fb_int(&c->f, o->opt, 2, 1, 0, 0);
    int64_t in_w = c->t[w].shape[1];
    const struct ttensor *X = &c->t[x];
    if (X->rank < 1 || X->shape[X->rank - 1] != in_w)
        return tfl_bad(c, "%s: the input '%s' does not end in %lld values", o->name, X->name, (long long)in_w);
    char *pre = tfl_pre_act(c, act, c->t[y].name);
    const char *xin = tfl_use(c, x);
    if (X->rank > 2 && keep) { /* MatMul(x, W^T) + b keeps the leading dims */
        int64_t ow = c->t[w].shape[0];
        float *wt = malloc((size_t)(ow * in_w) * sizeof *wt);
        if (!wt) {
            free(pre);
            c->oom = 1;
            return INFERD_ENOMEM;
        }
        const float *src = tfl_fdata(&c->t[w]);
        for (int64_t i = 0; i < ow; i++)
            for (int64_t j = 0; j < in_w; j++)
                wt[j * ow + i] = src[i * in_w + j];
        int64_t dims[2] = {in_w, ow};
        const char *wn = tfl_add_init(c, tfl_cv_tmpname(c, "weight_t"), 1, dims, 2, wt, (size_t)(ow * in_w) * 4, wt);
        char *mm = b >= 0 ? tfl_cv_tmpname(c, "matmul") : tfl_cv_strdup(c, pre ? pre : "");
        struct node *n = tfl_add_node(c, "MatMul");
        tfl_node_in(c, n, xin);
        tfl_node_in(c, n, wn);
        tfl_node_out(c, n, mm ? mm : "");
        if (b >= 0) {
            n = tfl_add_node(c, "Add");
            tfl_node_in(c, n, mm ? mm : "");
            tfl_node_in(c, n, tfl_use(c, b));
            tfl_node_out(c, n, pre ? pre : "");
        }
        free(mm);
    } else {
        char *flat = NULL; /* the Reshape's output, when X is not 2-D */
        if (X->rank != 2) {
            int64_t shape[2] = {-1, in_w};
            char *r = tfl_cv_tmpname(c, "flat");
            struct node *n = tfl_add_node(c, "Reshape");
            tfl_node_in(c, n, xin);
            tfl_node_in(c, n, tfl_const_i64(c, "shape", shape, 2));
            tfl_node_out(c, n, r ? r : "");
            xin = r ? r : "";
            flat = r;
        }
        struct node *g = tfl_add_node(c, "Gemm");
        tfl_node_in(c, g, xin);
        tfl_node_in(c, g, tfl_use(c, w));
        if (b >= 0)
            tfl_node_in(c, g, tfl_use(c, b));
        tfl_node_out(c, g, pre ? pre : "");
        if (g)
            tfl_attr_int(g, "transB", 1);
        free(flat);
    }
    rc = act != ACT_NONE ? tfl_activation(c, act, pre ? pre : "", c->t[y].name) : 0;
    free(pre);
    return rc;
}

/* int32 constant input k as int64 values. Returns the count or an error. */
static int const_ints(struct conv *c, const struct opctx *o, int k, int64_t *v, int cap, const char *what)
{
    const struct ttensor *t = &c->t[o->in[k]];
    if (!t->data || (t->type != TT_I32 && t->type != TT_I64))
        return tfl_unsupported(c, "%s: the %s tensor '%s' must be an int32 constant", o->name, what, t->name);
    int64_t n = inferd_shape_numel(t->rank, t->shape);
    if (n > cap)
        return tfl_bad(c, "%s: the %s tensor '%s' has %lld values, at most %d", o->name, what, t->name, (long long)n, cap);
    for (int64_t i = 0; i < n; i++)
        v[i] = t->type == TT_I32 ? (int32_t)pb_le32(t->data + 4 * i) : (int64_t)pb_le64(t->data + 8 * i);
    return (int)n;
}

static int reshape_to_output(struct conv *c, const struct opctx *o)
{
    const struct ttensor *Y = &c->t[o->out[0]];
    struct node *n = tfl_add_node(c, "Reshape");
    tfl_node_in(c, n, tfl_use(c, o->in[0]));
    tfl_node_in(c, n, tfl_const_i64(c, "shape", Y->shape, Y->rank));
    tfl_node_out(c, n, Y->name);
    return 0;
}

static int concat(struct conv *c, const struct opctx *o)
{
    int y = o->out[0];
    int64_t axis = fb_int(&c->f, o->opt, 0, 4, 1, 0);
    int act = (int)fb_int(&c->f, o->opt, 1, 1, 1, 0), rank = c->t[y].rank;
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return tfl_bad(c, "%s: axis %lld is outside rank %d", o->name, (long long)axis, rank);
    int nchw = rank == 4;
    for (int k = 0; k < o->n_in && nchw; k++)
        nchw = c->t[o->in[k]].nchw != NULL;
    static const int64_t to_nchw_axis[4] = {0, 2, 3, 1};
    char *outn = nchw ? tfl_cv_tmpname(c, "nchw") : tfl_cv_strdup(c, c->t[y].name);
    char *pre = tfl_pre_act(c, act, outn ? outn : "");
    struct node *n = tfl_add_node(c, "Concat");
    for (int k = 0; k < o->n_in; k++)
        tfl_node_in(c, n, nchw ? c->t[o->in[k]].nchw : tfl_use(c, o->in[k]));
    tfl_node_out(c, n, pre ? pre : "");
    if (n)
        tfl_attr_int(n, "axis", nchw ? to_nchw_axis[axis] : axis);
    int rc = act != ACT_NONE ? tfl_activation(c, act, pre ? pre : "", outn ? outn : "") : 0;
    free(pre);
    if (rc < 0 || !nchw) {
        free(outn);
        return rc;
    }
    tfl_from_nchw(c, y, outn);
    return 0;
}

static int mean(struct conv *c, const struct opctx *o)
{
    int x = o->in[0], y = o->out[0];
    int64_t axes[TFL_MAX_RANK];
    int k = o->n_in > 1 ? const_ints(c, o, 1, axes, TFL_MAX_RANK, "axis") : -1;
    if (k < 0)
        return k == -1 ? tfl_bad(c, "%s: no axis input", o->name) : k;
    int keep = (int)fb_int(&c->f, o->opt, 0, 1, 0, 0), rank = c->t[x].rank;
    for (int i = 0; i < k; i++) {
        if (axes[i] < 0)
            axes[i] += rank;
        if (axes[i] < 0 || axes[i] >= rank)
            return tfl_bad(c, "%s: axis out of range for rank %d", o->name, rank);
    }
    /* the global average of an NCHW copy over H and W: no transpose (keep_dims: the result is
     * the output's NCHW copy) */
    int spatial = rank == 4 && c->t[x].nchw && k == 2 &&
                  ((axes[0] == 1 && axes[1] == 2) || (axes[0] == 2 && axes[1] == 1));
    struct node *n = tfl_add_node(c, "ReduceMean");
    if (spatial) {
        static const int64_t hw[2] = {2, 3};
        char *outn = keep ? tfl_cv_tmpname(c, "nchw") : NULL;
        tfl_node_in(c, n, c->t[x].nchw);
        tfl_node_out(c, n, keep ? (outn ? outn : "") : c->t[y].name);
        if (n) {
            tfl_attr_ints(n, "axes", hw, 2);
            tfl_attr_int(n, "keepdims", keep);
        }
        if (keep)
            tfl_from_nchw(c, y, outn);
        return 0;
    }
    tfl_node_in(c, n, tfl_use(c, x));
    tfl_node_out(c, n, c->t[y].name);
    if (n) {
        tfl_attr_ints(n, "axes", axes, k);
        tfl_attr_int(n, "keepdims", keep);
    }
    return 0;
}

static int pad(struct conv *c, const struct opctx *o)
{
    int64_t p[2 * TFL_MAX_RANK], pads[2 * TFL_MAX_RANK];
    int rank = c->t[o->in[0]].rank;
    int k = o->n_in > 1 ? const_ints(c, o, 1, p, 2 * TFL_MAX_RANK, "paddings") : -1;
    if (k < 0)
        return k == -1 ? tfl_bad(c, "%s: no paddings input", o->name) : k;
    if (k != 2 * rank)
        return tfl_bad(c, "%s: paddings has %d values, the input rank %d needs %d", o->name, k, rank, 2 * rank);
    for (int i = 0; i < rank; i++) { /* [[b0,a0],[b1,a1],..] -> [b0,b1,..,a0,a1,..] */
        pads[i] = p[2 * i];
        pads[rank + i] = p[2 * i + 1];
    }
    struct node *n = tfl_add_node(c, "Pad");
    tfl_node_in(c, n, tfl_use(c, o->in[0]));
    tfl_node_in(c, n, tfl_const_i64(c, "pads", pads, 2 * rank));
    tfl_node_out(c, n, c->t[o->out[0]].name);
    return 0;
}

static int transpose(struct conv *c, const struct opctx *o)
{
    int64_t perm[TFL_MAX_RANK];
    int k = o->n_in > 1 ? const_ints(c, o, 1, perm, TFL_MAX_RANK, "perm") : -1;
    if (k < 0)
        return k == -1 ? tfl_bad(c, "%s: no perm input", o->name) : k;
    struct node *n = tfl_add_node(c, "Transpose");
    tfl_node_in(c, n, tfl_use(c, o->in[0]));
    tfl_node_out(c, n, c->t[o->out[0]].name);
    if (n)
        tfl_attr_ints(n, "perm", perm, k);
    return 0;
}

static int softmax(struct conv *c, const struct opctx *o)
{
    float beta = fb_f32(&c->f, o->opt, 0, 1.0f);
    const char *xin = tfl_use(c, o->in[0]);
    char *scaled = NULL;
    if (beta != 1.0f) {
        scaled = tfl_cv_tmpname(c, "scaled");
        struct node *n = tfl_add_node(c, "Mul");
        tfl_node_in(c, n, xin);
        tfl_node_in(c, n, tfl_const_f32(c, "beta", beta));
        tfl_node_out(c, n, scaled ? scaled : "");
        xin = scaled ? scaled : "";
    }
    struct node *n = tfl_add_node(c, "Softmax");
    tfl_node_in(c, n, xin);
    tfl_node_out(c, n, c->t[o->out[0]].name);
    if (n)
        tfl_attr_int(n, "axis", -1);
    free(scaled);
    return 0;
}

/* DEQUANTIZE of a float16 constant: the output becomes a float32 constant. */
static int dequantize(struct conv *c, const struct opctx *o)
{
    struct ttensor *x = &c->t[o->in[0]], *y = &c->t[o->out[0]];
    if (x->type != TT_F16 || !x->data)
        return tfl_unsupported(c, "%s: only float16 constants are dequantized (tensor '%s' is %s)", o->name, x->name,
                           x->type == TT_I8 || x->type == TT_U8 ? "int8/uint8: quantized models are not imported"
                                                                 : "computed at run time");
    int64_t n = inferd_shape_numel(x->rank, x->shape);
    if (inferd_shape_numel(y->rank, y->shape) != n)
        return tfl_bad(c, "%s: '%s' and '%s' differ in size", o->name, x->name, y->name);
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) {
        c->oom = 1;
        return INFERD_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        d[i] = fp16_to_f32((uint16_t)(x->data[2 * i] | x->data[2 * i + 1] << 8));
    free(y->owned);
    y->owned = d;
    return 0;
}

int tfl_convert_op(struct conv *c, const struct opctx *o)
{
    int act;
    switch (o->code) {
    case OP_CONV: return conv2d(c, o, 0);
    case OP_DWCONV: return conv2d(c, o, 1);
    case OP_AVG_POOL: return pool2d(c, o, 0);
    case OP_MAX_POOL: return pool2d(c, o, 1);
    case OP_FC: return fully_connected(c, o);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        if (o->n_in != 2)
            return tfl_bad(c, "%s: takes 2 inputs, has %d", o->name, o->n_in);
        act = (int)fb_int(&c->f, o->opt, 0, 1, 1, 0);
        return elementwise(c, o, o->code == OP_ADD ? "Add" : o->code == OP_SUB ? "Sub" : o->code == OP_MUL ? "Mul" : "Div",
                           2, act);
    case OP_RELU: return elementwise(c, o, "Relu", 1, ACT_NONE);
    case OP_RELU6:
    case OP_RELU_N1_TO_1: return elementwise(c, o, "Clip", 1, ACT_NONE);
    case OP_LOGISTIC: return elementwise(c, o, "Sigmoid", 1, ACT_NONE);
    case OP_TANH: return elementwise(c, o, "Tanh", 1, ACT_NONE);
    case OP_HARD_SWISH: return elementwise(c, o, "HardSwish", 1, ACT_NONE);
    case OP_SOFTMAX: return softmax(c, o);
    case OP_RESHAPE:
    case OP_SQUEEZE: return reshape_to_output(c, o);
    case OP_CONCAT: return concat(c, o);
    case OP_MEAN: return mean(c, o);
    case OP_PAD: return pad(c, o);
    case OP_TRANSPOSE: return transpose(c, o);
    case OP_DEQUANTIZE: return dequantize(c, o);
    default: break;
    }
    return 1; /* not an operator the import converts */
}

