/* tflite.c — TFLite flatbuffer -> ONNX ModelProto (see tflite.h). */
#include "pack/tflite.h"

#include "base/buf.h"
#include "base/fileio.h"
#include "llm/kernels/fp16.h"
#include "onnx/pb.h"
#include "pack/flatbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TFL_MAX_TENSORS (1 << 20)
#define TFL_MAX_OPS (1 << 20)
#define TFL_MAX_RANK 8
#define TFL_MAX_IO 64 /* inputs/outputs of one operator */

/* ---- the model, as read ---- */

enum { TT_F32 = 0, TT_F16 = 1, TT_I32 = 2, TT_U8 = 3, TT_I64 = 4, TT_I8 = 9 };

struct ttensor {
    char *name;             /* the ONNX name: the TFLite name when unique, else name_i */
    int type;
    int rank;
    int64_t shape[TFL_MAX_RANK];
    const uint8_t *data;    /* constant bytes (in the file), or NULL */
    size_t len;
    float *owned;           /* converted constant (DEQUANTIZE of float16) */
    char *nchw;             /* name of an NCHW copy, when one exists */
    int init_done;          /* initializer emitted */
    int defined;            /* a graph input, or written by an operator already converted */
};

struct node {
    const char *op;
    char *in[TFL_MAX_IO], *out[2];
    int n_in, n_out;
    struct buf attrs;       /* encoded AttributeProto fields (field 5 of NodeProto) */
    int live;
};

struct init {
    char *name;
    int dtype;              /* ONNX: 1 float, 6 int32, 7 int64 */
    int rank;
    int64_t dims[TFL_MAX_RANK];
    const void *data;
    size_t len;
    void *owned;
};

struct conv {
    struct fb f;
    struct ttensor *t;
    uint32_t n_t;
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    struct init *inits;
    size_t n_inits, cap_inits;
    unsigned tmp_seq;
    int oom;
    struct inferd_err *err;
};

static const char *const op_names[] = {
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE",
    "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
    "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D", "MUL", "RELU",
    "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
    "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD",
    "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB",
    "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
    "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX",
    "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN",
    "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
    "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT",
    "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL",
    "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS",
    "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
    "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE",
    "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM",
    "BATCH_MATMUL",
};

enum {
    OP_ADD = 0, OP_AVG_POOL = 1, OP_CONCAT = 2, OP_CONV = 3, OP_DWCONV = 4, OP_DEQUANTIZE = 6, OP_FC = 9,
    OP_LOGISTIC = 14, OP_MAX_POOL = 17, OP_MUL = 18, OP_RELU = 19, OP_RELU_N1_TO_1 = 20, OP_RELU6 = 21,
    OP_RESHAPE = 22, OP_SOFTMAX = 25, OP_TANH = 28, OP_PAD = 34, OP_TRANSPOSE = 39, OP_MEAN = 40, OP_SUB = 41,
    OP_DIV = 42, OP_SQUEEZE = 43, OP_HARD_SWISH = 117,
};

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3, ACT_TANH = 4 };

static const char *op_name(int code, char tmp[24])
{
    if (code >= 0 && (size_t)code < sizeof op_names / sizeof *op_names)
        return op_names[code];
    snprintf(tmp, 24, "BUILTIN_%d", code);
    return tmp;
}

/* ---- graph building ---- */

static char *cv_strdup(struct conv *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        c->oom = 1;
    return d;
}

static char *cv_tmpname(struct conv *c, const char *what)
{
    char b[64];
    snprintf(b, sizeof b, "tflite/%s_%u", what, c->tmp_seq++);
    return cv_strdup(c, b);
}

static struct node *add_node(struct conv *c, const char *op)
{
    if (c->n_nodes == c->cap_nodes) {
        size_t cap = c->cap_nodes ? 2 * c->cap_nodes : 64;
        struct node *n = realloc(c->nodes, cap * sizeof *n);
        if (!n) {
            c->oom = 1;
            return NULL;
        }
        c->nodes = n;
        c->cap_nodes = cap;
    }
    struct node *n = &c->nodes[c->n_nodes++];
    memset(n, 0, sizeof *n);
    n->op = op;
    buf_init(&n->attrs, 1 << 20);
    return n;
}

static void node_in(struct conv *c, struct node *n, const char *name)
{
    if (n && n->n_in < TFL_MAX_IO)
        n->in[n->n_in++] = cv_strdup(c, name);
}

static void node_out(struct conv *c, struct node *n, const char *name)
{
    if (n && n->n_out < 2)
        n->out[n->n_out++] = cv_strdup(c, name);
}

static void attr_int(struct node *n, const char *name, int64_t v)
{
    struct buf a;
    buf_init(&a, 1 << 10);
    pbw_str(&a, 1, name);
    pbw_uint(&a, 3, (uint64_t)v);
    pbw_uint(&a, 20, 2);
    pbw_msg(&n->attrs, 5, &a);
    buf_free(&a);
}

static void attr_float(struct node *n, const char *name, float v)
{
    struct buf a;
    buf_init(&a, 1 << 10);
    pbw_str(&a, 1, name);
    pbw_float(&a, 2, v);
    pbw_uint(&a, 20, 1);
    pbw_msg(&n->attrs, 5, &a);
    buf_free(&a);
}

static void attr_ints(struct node *n, const char *name, const int64_t *v, int k)
{
    struct buf a;
    buf_init(&a, 1 << 12);
    pbw_str(&a, 1, name);
    for (int i = 0; i < k; i++)
        pbw_uint(&a, 8, (uint64_t)v[i]);
    pbw_uint(&a, 20, 7);
    pbw_msg(&n->attrs, 5, &a);
    buf_free(&a);
}

/* An initializer; data is borrowed unless owned (freed at the end). Returns its name. */
static const char *add_init(struct conv *c, char *name, int dtype, const int64_t *dims, int rank, const void *data,
                            size_t len, void *owned)
{
    if (name && c->n_inits == c->cap_inits) {
        size_t cap = c->cap_inits ? 2 * c->cap_inits : 64;
        struct init *n = realloc(c->inits, cap * sizeof *n);
        if (n) {
            c->inits = n;
            c->cap_inits = cap;
        }
    }
    if (!name || c->n_inits == c->cap_inits) {
        c->oom = 1;
        free(owned);
        free(name);
        return "";
    }
    struct init *in = &c->inits[c->n_inits++];
    memset(in, 0, sizeof *in);
    in->name = name;
    in->dtype = dtype;
    in->rank = rank;
    if (rank > 0)
        memcpy(in->dims, dims, (size_t)rank * sizeof *dims);
    in->data = data;
    in->len = len;
    in->owned = owned;
    return name;
}

static const char *const_i64(struct conv *c, const char *what, const int64_t *v, int k)
{
    int64_t *d = malloc((size_t)(k ? k : 1) * sizeof *d);
    if (!d) {
        c->oom = 1;
        return "";
    }
    memcpy(d, v, (size_t)k * sizeof *d);
    int64_t dims[1] = {k};
    return add_init(c, cv_tmpname(c, what), 7, dims, 1, d, (size_t)k * sizeof *d, d);
}

static const char *const_f32(struct conv *c, const char *what, float v)
{
    float *d = malloc(sizeof *d);
    if (!d) {
        c->oom = 1;
        return "";
    }
    *d = v;
    return add_init(c, cv_tmpname(c, what), 1, NULL, 0, d, sizeof *d, d);
}

static int64_t numel(const struct ttensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->shape[i];
    return n;
}

static int unsupported(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unsupported(struct conv *c, const char *fmt, ...)
{
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return inferd_err_set(c->err, INFERD_EUNSUPPORTED, "TFLite import: %s", m);
}

static int bad(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct conv *c, const char *fmt, ...)
{
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return inferd_err_set(c->err, INFERD_EFORMAT, "TFLite model: %s", m);
}

/* The ONNX name of tensor i as an input: a constant becomes an initializer on first use. */
static const char *use(struct conv *c, int i)
{
    struct ttensor *t = &c->t[i];
    if ((t->data || t->owned) && !t->init_done) {
        t->init_done = 1;
        int dtype = t->type == TT_I32 ? 6 : t->type == TT_I64 ? 7 : 1;
        add_init(c, cv_strdup(c, t->name), dtype, t->shape, t->rank, t->owned ? (const void *)t->owned : t->data,
                 t->owned ? (size_t)numel(t) * 4 : t->len, NULL);
    }
    return t->name;
}

static const char *to_nchw(struct conv *c, int i)
{
    struct ttensor *t = &c->t[i];
    if (t->nchw)
        return t->nchw;
    const char *src = use(c, i);
    t->nchw = cv_tmpname(c, "nchw");
    struct node *n = add_node(c, "Transpose");
    node_in(c, n, src);
    node_out(c, n, t->nchw ? t->nchw : "");
    static const int64_t perm[4] = {0, 3, 1, 2};
    if (n)
        attr_ints(n, "perm", perm, 4);
    return t->nchw ? t->nchw : "";
}

/* Tensor i is computed in NCHW as nchw_name: record it and make the NHWC tensor from it. */
static void from_nchw(struct conv *c, int i, char *nchw_name)
{
    struct node *n = add_node(c, "Transpose");
    node_in(c, n, nchw_name);
    node_out(c, n, c->t[i].name);
    static const int64_t perm[4] = {0, 2, 3, 1};
    if (n)
        attr_ints(n, "perm", perm, 4);
    free(c->t[i].nchw);
    c->t[i].nchw = nchw_name;
}

/* Applies a fused activation: the op wrote `in`; the result goes to `out`. */
static int activation(struct conv *c, int act, const char *in, const char *out)
{
    struct node *n;
    switch (act) {
    case ACT_NONE:
        n = add_node(c, "Identity");
        break;
    case ACT_RELU:
        n = add_node(c, "Relu");
        break;
    case ACT_TANH:
        n = add_node(c, "Tanh");
        break;
    case ACT_RELU6:
    case ACT_RELU_N1_TO_1: {
        const char *lo = const_f32(c, "min", act == ACT_RELU6 ? 0.f : -1.f);
        const char *hi = const_f32(c, "max", act == ACT_RELU6 ? 6.f : 1.f);
        n = add_node(c, "Clip");
        node_in(c, n, in);
        node_in(c, n, lo);
        node_in(c, n, hi);
        node_out(c, n, out);
        return 0;
    }
    default:
        return unsupported(c, "fused activation %d (SIGN_BIT or newer) is not supported", act);
    }
    node_in(c, n, in);
    node_out(c, n, out);
    return 0;
}

/* The output name an op writes before its fused activation. */
static char *pre_act(struct conv *c, int act, const char *out)
{
    return act == ACT_NONE ? cv_strdup(c, out) : cv_tmpname(c, "preact");
}

/* TFLite SAME/VALID to explicit ONNX pads for one spatial axis. */
static void same_pads(int padding, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t *before, int64_t *after)
{
    *before = *after = 0;
    if (padding != 0) /* VALID */
        return;
    int64_t eff = (k - 1) * dil + 1, out = (in + stride - 1) / stride;
    int64_t total = (out - 1) * stride + eff - in;
    if (total < 0)
        total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

static int need_rank(struct conv *c, int i, int rank, const char *op, const char *what)
{
    if (c->t[i].rank != rank)
        return bad(c, "%s: the %s tensor '%s' has rank %d, expected %d", op, what, c->t[i].name, c->t[i].rank, rank);
    return 0;
}

static int need_const(struct conv *c, int i, const char *op, const char *what)
{
    if (!c->t[i].data && !c->t[i].owned)
        return unsupported(c, "%s: the %s tensor '%s' is computed at run time; only constant %s are supported", op,
                           what, c->t[i].name, what);
    if (!c->t[i].owned && c->t[i].type != TT_F32)
        return unsupported(c, "%s: the %s tensor '%s' is not float32 (type %d)", op, what, c->t[i].name, c->t[i].type);
    return 0;
}

static const float *fdata(const struct ttensor *t)
{
    return t->owned ? t->owned : (const float *)(const void *)t->data;
}

/* ---- operators ---- */

struct opctx {
    int code;
    int in[TFL_MAX_IO], n_in, out[4], n_out;
    size_t opt; /* builtin options table, or 0 */
    const char *name;
};

/* The fused activation of an op that wrote pre (NCHW), then the NHWC tensor y from outn. */
static int finish_nchw(struct conv *c, int act, char *pre, char *outn, int y)
{
    int rc = act != ACT_NONE ? activation(c, act, pre ? pre : "", outn ? outn : "") : 0;
    free(pre);
    if (rc < 0) {
        free(outn);
        return rc;
    }
    from_nchw(c, y, outn);
    return 0;
}

static void spatial_attrs(struct node *n, const int64_t ks[2], const int64_t st[2], const int64_t *dl,
                          const int64_t pads[4])
{
    if (!n)
        return;
    attr_ints(n, "kernel_shape", ks, 2);
    attr_ints(n, "strides", st, 2);
    if (dl)
        attr_ints(n, "dilations", dl, 2);
    attr_ints(n, "pads", pads, 4);
}

static int conv2d(struct conv *c, const struct opctx *o, int depthwise)
{
    int x = o->in[0], w = o->in[1], b = o->n_in > 2 ? o->in[2] : -1, y = o->out[0];
    int rc;
    if ((rc = need_rank(c, x, 4, o->name, "input")) < 0 || (rc = need_rank(c, w, 4, o->name, "filter")) < 0 ||
        (rc = need_const(c, w, o->name, "filter")) < 0 || (b >= 0 && (rc = need_const(c, b, o->name, "bias")) < 0))
        return rc;
    struct fb *f = &c->f;
    int padding = (int)fb_int(f, o->opt, 0, 1, 1, 0);
    int64_t sw = fb_int(f, o->opt, 1, 4, 1, 1), sh = fb_int(f, o->opt, 2, 4, 1, 1);
    int act = (int)fb_int(f, o->opt, depthwise ? 4 : 3, 1, 1, 0);
    int64_t dw = fb_int(f, o->opt, depthwise ? 5 : 4, 4, 1, 1), dh = fb_int(f, o->opt, depthwise ? 6 : 5, 4, 1, 1);
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || sw > 1024 || sh > 1024 || dw > 1024 || dh > 1024)
        return bad(c, "%s: strides and dilations must be in 1..1024", o->name);
    const struct ttensor *X = &c->t[x], *W = &c->t[w];
    int64_t cin = X->shape[3], kh = W->shape[1], kw = W->shape[2], cout, group;
    float *wd;
    if (depthwise) { /* [1, KH, KW, C*M] -> [C*M, 1, KH, KW], group C */
        cout = W->shape[3];
        group = cin;
        if (W->shape[0] != 1 || cin < 1 || cout % cin)
            return bad(c, "%s: filter %s [1,%lld,%lld,%lld] does not fit %lld input channels", o->name, W->name,
                       (long long)kh, (long long)kw, (long long)cout, (long long)cin);
    } else { /* [O, KH, KW, I] -> [O, I, KH, KW] */
        cout = W->shape[0];
        if (W->shape[3] < 1 || cin % W->shape[3])
            return bad(c, "%s: filter %s has %lld input channels, the input %lld", o->name, W->name,
                       (long long)W->shape[3], (long long)cin);
        group = cin / W->shape[3];
    }
    int64_t ci = depthwise ? 1 : W->shape[3];
    if (!(wd = malloc((size_t)numel(W) * sizeof *wd))) {
        c->oom = 1;
        return INFERD_ENOMEM;
    }
    const float *src = fdata(W);
    for (int64_t oc = 0; oc < cout; oc++)
        for (int64_t ic = 0; ic < ci; ic++)
            for (int64_t y0 = 0; y0 < kh; y0++)
                for (int64_t x0 = 0; x0 < kw; x0++)
                    wd[((oc * ci + ic) * kh + y0) * kw + x0] =
                        depthwise ? src[(y0 * kw + x0) * cout + oc] : src[((oc * kh + y0) * kw + x0) * ci + ic];
    int64_t wdims[4] = {cout, ci, kh, kw};
    const char *wname = add_init(c, cv_tmpname(c, "weight"), 1, wdims, 4, wd, (size_t)numel(W) * 4, wd);
    const char *xin = to_nchw(c, x);
    char *outn = cv_tmpname(c, "nchw"), *pre = pre_act(c, act, outn ? outn : "");
    struct node *n = add_node(c, "Conv");
    node_in(c, n, xin);
    node_in(c, n, wname);
    if (b >= 0)
        node_in(c, n, use(c, b));
    node_out(c, n, pre ? pre : "");
    int64_t pads[4], ks[2] = {kh, kw}, st[2] = {sh, sw}, dl[2] = {dh, dw};
    same_pads(padding, X->shape[1], kh, sh, dh, &pads[0], &pads[2]);
    same_pads(padding, X->shape[2], kw, sw, dw, &pads[1], &pads[3]);
    spatial_attrs(n, ks, st, dl, pads);
    if (n)
        attr_int(n, "group", group);
    return finish_nchw(c, act, pre, outn, y);
}

static int pool2d(struct conv *c, const struct opctx *o, int maxpool)
{
    int x = o->in[0], y = o->out[0], rc;
    if ((rc = need_rank(c, x, 4, o->name, "input")) < 0)
        return rc;
    struct fb *f = &c->f;
    int padding = (int)fb_int(f, o->opt, 0, 1, 1, 0);
    int64_t sw = fb_int(f, o->opt, 1, 4, 1, 1), sh = fb_int(f, o->opt, 2, 4, 1, 1);
    int64_t kw = fb_int(f, o->opt, 3, 4, 1, 1), kh = fb_int(f, o->opt, 4, 4, 1, 1);
    int act = (int)fb_int(f, o->opt, 5, 1, 1, 0);
    if (sw < 1 || sh < 1 || kw < 1 || kh < 1 || sw > 1024 || sh > 1024 || kw > 4096 || kh > 4096)
        return bad(c, "%s: strides and filter sizes must be positive", o->name);
    const char *xin = to_nchw(c, x);
    char *outn = cv_tmpname(c, "nchw"), *pre = pre_act(c, act, outn ? outn : "");
    struct node *n = add_node(c, maxpool ? "MaxPool" : "AveragePool");
    node_in(c, n, xin);
    node_out(c, n, pre ? pre : "");
    int64_t pads[4], ks[2] = {kh, kw}, st[2] = {sh, sw};
    same_pads(padding, c->t[x].shape[1], kh, sh, 1, &pads[0], &pads[2]);
    same_pads(padding, c->t[x].shape[2], kw, sw, 1, &pads[1], &pads[3]);
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
            if (numel(t) != 1)
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
    char *outn = nchw ? cv_tmpname(c, "nchw") : cv_strdup(c, c->t[y].name);
    char *pre = pre_act(c, act, outn ? outn : "");
    if (strcmp(onnx_op, "HardSwish") == 0) { /* x * HardSigmoid(x; 1/6, 1/2): opset 13 has no HardSwish */
        const char *xin = nchw && c->t[o->in[0]].nchw ? c->t[o->in[0]].nchw : use(c, o->in[0]);
        char *hs = cv_tmpname(c, "hardsigmoid");
        struct node *n = add_node(c, "HardSigmoid");
        node_in(c, n, xin);
        node_out(c, n, hs ? hs : "");
        if (n) {
            attr_float(n, "alpha", 1.0f / 6.0f);
            attr_float(n, "beta", 0.5f);
        }
        n = add_node(c, "Mul");
        node_in(c, n, xin);
        node_in(c, n, hs ? hs : "");
        node_out(c, n, pre ? pre : "");
        free(hs);
    } else {
        struct node *n = add_node(c, onnx_op);
        for (int k = 0; k < n_data; k++) {
            const struct ttensor *t = &c->t[o->in[k]];
            node_in(c, n, nchw && t->nchw ? t->nchw : use(c, o->in[k]));
        }
        if (strcmp(onnx_op, "Clip") == 0) {
            node_in(c, n, const_f32(c, "min", o->code == OP_RELU6 ? 0.f : -1.f));
            node_in(c, n, const_f32(c, "max", o->code == OP_RELU6 ? 6.f : 1.f));
        }
        node_out(c, n, pre ? pre : "");
    }
    if (act != ACT_NONE)
        rc = activation(c, act, pre ? pre : "", outn ? outn : "");
    free(pre);
    if (rc < 0) {
        free(outn);
        return rc;
    }
    if (nchw)
        from_nchw(c, y, outn);
    else
        free(outn);
    return 0;
}

static int fully_connected(struct conv *c, const struct opctx *o)
{
    int x = o->in[0], w = o->in[1], b = o->n_in > 2 ? o->in[2] : -1, y = o->out[0], rc;
    if ((rc = need_rank(c, w, 2, o->name, "weights")) < 0 || (rc = need_const(c, w, o->name, "weights")) < 0 ||
        (b >= 0 && (rc = need_const(c, b, o->name, "bias")) < 0))
        return rc;
    int act = (int)fb_int(&c->f, o->opt, 0, 1, 1, 0);
    int keep = (int)fb_int(&c->f, o->opt, 2, 1, 0, 0);
    int64_t in_w = c->t[w].shape[1];
    const struct ttensor *X = &c->t[x];
    if (X->rank < 1 || X->shape[X->rank - 1] != in_w)
        return bad(c, "%s: the input '%s' does not end in %lld values", o->name, X->name, (long long)in_w);
    char *pre = pre_act(c, act, c->t[y].name);
    const char *xin = use(c, x);
    if (X->rank > 2 && keep) { /* MatMul(x, W^T) + b keeps the leading dims */
        int64_t ow = c->t[w].shape[0];
        float *wt = malloc((size_t)(ow * in_w) * sizeof *wt);
        if (!wt) {
            free(pre);
            c->oom = 1;
            return INFERD_ENOMEM;
        }
        const float *src = fdata(&c->t[w]);
        for (int64_t i = 0; i < ow; i++)
            for (int64_t j = 0; j < in_w; j++)
                wt[j * ow + i] = src[i * in_w + j];
        int64_t dims[2] = {in_w, ow};
        const char *wn = add_init(c, cv_tmpname(c, "weight_t"), 1, dims, 2, wt, (size_t)(ow * in_w) * 4, wt);
        char *mm = b >= 0 ? cv_tmpname(c, "matmul") : cv_strdup(c, pre ? pre : "");
        struct node *n = add_node(c, "MatMul");
        node_in(c, n, xin);
        node_in(c, n, wn);
        node_out(c, n, mm ? mm : "");
        if (b >= 0) {
            n = add_node(c, "Add");
            node_in(c, n, mm ? mm : "");
            node_in(c, n, use(c, b));
            node_out(c, n, pre ? pre : "");
        }
        free(mm);
    } else {
        if (X->rank != 2) {
            int64_t shape[2] = {-1, in_w};
            char *r = cv_tmpname(c, "flat");
            struct node *n = add_node(c, "Reshape");
            node_in(c, n, xin);
            node_in(c, n, const_i64(c, "shape", shape, 2));
            node_out(c, n, r ? r : "");
            xin = r ? r : "";
            struct node *g = add_node(c, "Gemm");
            node_in(c, g, xin);
            node_in(c, g, use(c, w));
            if (b >= 0)
                node_in(c, g, use(c, b));
            node_out(c, g, pre ? pre : "");
            if (g)
                attr_int(g, "transB", 1);
            free(r);
        } else {
            struct node *g = add_node(c, "Gemm");
            node_in(c, g, xin);
            node_in(c, g, use(c, w));
            if (b >= 0)
                node_in(c, g, use(c, b));
            node_out(c, g, pre ? pre : "");
            if (g)
                attr_int(g, "transB", 1);
        }
    }
    rc = act != ACT_NONE ? activation(c, act, pre ? pre : "", c->t[y].name) : 0;
    free(pre);
    return rc;
}

/* int32 constant input k as int64 values. Returns the count or an error. */
static int const_ints(struct conv *c, const struct opctx *o, int k, int64_t *v, int cap, const char *what)
{
    const struct ttensor *t = &c->t[o->in[k]];
    if (!t->data || (t->type != TT_I32 && t->type != TT_I64))
        return unsupported(c, "%s: the %s tensor '%s' must be an int32 constant", o->name, what, t->name);
    int64_t n = numel(t);
    if (n > cap)
        return bad(c, "%s: the %s tensor '%s' has %lld values, at most %d", o->name, what, t->name, (long long)n, cap);
    for (int64_t i = 0; i < n; i++)
        v[i] = t->type == TT_I32 ? (int32_t)pb_le32(t->data + 4 * i) : (int64_t)pb_le64(t->data + 8 * i);
    return (int)n;
}

static int reshape_to_output(struct conv *c, const struct opctx *o)
{
    const struct ttensor *Y = &c->t[o->out[0]];
    struct node *n = add_node(c, "Reshape");
    node_in(c, n, use(c, o->in[0]));
    node_in(c, n, const_i64(c, "shape", Y->shape, Y->rank));
    node_out(c, n, Y->name);
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
        return bad(c, "%s: axis %lld is outside rank %d", o->name, (long long)axis, rank);
    int nchw = rank == 4;
    for (int k = 0; k < o->n_in && nchw; k++)
        nchw = c->t[o->in[k]].nchw != NULL;
    static const int64_t to_nchw_axis[4] = {0, 2, 3, 1};
    char *outn = nchw ? cv_tmpname(c, "nchw") : cv_strdup(c, c->t[y].name);
    char *pre = pre_act(c, act, outn ? outn : "");
    struct node *n = add_node(c, "Concat");
    for (int k = 0; k < o->n_in; k++)
        node_in(c, n, nchw ? c->t[o->in[k]].nchw : use(c, o->in[k]));
    node_out(c, n, pre ? pre : "");
    if (n)
        attr_int(n, "axis", nchw ? to_nchw_axis[axis] : axis);
    int rc = act != ACT_NONE ? activation(c, act, pre ? pre : "", outn ? outn : "") : 0;
    free(pre);
    if (rc < 0 || !nchw) {
        free(outn);
        return rc;
    }
    from_nchw(c, y, outn);
    return 0;
}

static int mean(struct conv *c, const struct opctx *o)
{
    int x = o->in[0], y = o->out[0];
    int64_t axes[TFL_MAX_RANK];
    int k = o->n_in > 1 ? const_ints(c, o, 1, axes, TFL_MAX_RANK, "axis") : -1;
    if (k < 0)
        return k == -1 ? bad(c, "%s: no axis input", o->name) : k;
    int keep = (int)fb_int(&c->f, o->opt, 0, 1, 0, 0), rank = c->t[x].rank;
    for (int i = 0; i < k; i++) {
        if (axes[i] < 0)
            axes[i] += rank;
        if (axes[i] < 0 || axes[i] >= rank)
            return bad(c, "%s: axis out of range for rank %d", o->name, rank);
    }
    /* the global average of an NCHW copy over H and W: no transpose (keep_dims: the result is
     * the output's NCHW copy) */
    int spatial = rank == 4 && c->t[x].nchw && k == 2 &&
                  ((axes[0] == 1 && axes[1] == 2) || (axes[0] == 2 && axes[1] == 1));
    struct node *n = add_node(c, "ReduceMean");
    if (spatial) {
        static const int64_t hw[2] = {2, 3};
        char *outn = keep ? cv_tmpname(c, "nchw") : NULL;
        node_in(c, n, c->t[x].nchw);
        node_out(c, n, keep ? (outn ? outn : "") : c->t[y].name);
        if (n) {
            attr_ints(n, "axes", hw, 2);
            attr_int(n, "keepdims", keep);
        }
        if (keep)
            from_nchw(c, y, outn);
        return 0;
    }
    node_in(c, n, use(c, x));
    node_out(c, n, c->t[y].name);
    if (n) {
        attr_ints(n, "axes", axes, k);
        attr_int(n, "keepdims", keep);
    }
    return 0;
}

static int pad(struct conv *c, const struct opctx *o)
{
    int64_t p[2 * TFL_MAX_RANK], pads[2 * TFL_MAX_RANK];
    int rank = c->t[o->in[0]].rank;
    int k = o->n_in > 1 ? const_ints(c, o, 1, p, 2 * TFL_MAX_RANK, "paddings") : -1;
    if (k < 0)
        return k == -1 ? bad(c, "%s: no paddings input", o->name) : k;
    if (k != 2 * rank)
        return bad(c, "%s: paddings has %d values, the input rank %d needs %d", o->name, k, rank, 2 * rank);
    for (int i = 0; i < rank; i++) { /* [[b0,a0],[b1,a1],..] -> [b0,b1,..,a0,a1,..] */
        pads[i] = p[2 * i];
        pads[rank + i] = p[2 * i + 1];
    }
    struct node *n = add_node(c, "Pad");
    node_in(c, n, use(c, o->in[0]));
    node_in(c, n, const_i64(c, "pads", pads, 2 * rank));
    node_out(c, n, c->t[o->out[0]].name);
    return 0;
}

static int transpose(struct conv *c, const struct opctx *o)
{
    int64_t perm[TFL_MAX_RANK];
    int k = o->n_in > 1 ? const_ints(c, o, 1, perm, TFL_MAX_RANK, "perm") : -1;
    if (k < 0)
        return k == -1 ? bad(c, "%s: no perm input", o->name) : k;
    struct node *n = add_node(c, "Transpose");
    node_in(c, n, use(c, o->in[0]));
    node_out(c, n, c->t[o->out[0]].name);
    if (n)
        attr_ints(n, "perm", perm, k);
    return 0;
}

static int softmax(struct conv *c, const struct opctx *o)
{
    float beta = fb_f32(&c->f, o->opt, 0, 1.0f);
    const char *xin = use(c, o->in[0]);
    char *scaled = NULL;
    if (beta != 1.0f) {
        scaled = cv_tmpname(c, "scaled");
        struct node *n = add_node(c, "Mul");
        node_in(c, n, xin);
        node_in(c, n, const_f32(c, "beta", beta));
        node_out(c, n, scaled ? scaled : "");
        xin = scaled ? scaled : "";
    }
    struct node *n = add_node(c, "Softmax");
    node_in(c, n, xin);
    node_out(c, n, c->t[o->out[0]].name);
    if (n)
        attr_int(n, "axis", -1);
    free(scaled);
    return 0;
}

/* DEQUANTIZE of a float16 constant: the output becomes a float32 constant. */
static int dequantize(struct conv *c, const struct opctx *o)
{
    struct ttensor *x = &c->t[o->in[0]], *y = &c->t[o->out[0]];
    if (x->type != TT_F16 || !x->data)
        return unsupported(c, "%s: only float16 constants are dequantized (tensor '%s' is %s)", o->name, x->name,
                           x->type == TT_I8 || x->type == TT_U8 ? "int8/uint8: quantized models are not imported"
                                                                 : "computed at run time");
    int64_t n = numel(x);
    if (numel(y) != n)
        return bad(c, "%s: '%s' and '%s' differ in size", o->name, x->name, y->name);
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

static int convert_op(struct conv *c, const struct opctx *o)
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
            return bad(c, "%s: takes 2 inputs, has %d", o->name, o->n_in);
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

/* ---- reading the model ---- */

static int read_tensors(struct conv *c, size_t sg, size_t buffers, uint32_t n_buffers)
{
    struct fb *f = &c->f;
    size_t tv = fb_ref(f, sg, 0);
    c->n_t = fb_vlen(f, tv, 4);
    if (f->bad)
        return bad(c, "subgraph tensors: %s", f->why);
    if (c->n_t > TFL_MAX_TENSORS)
        return bad(c, "%u tensors, at most %d", c->n_t, TFL_MAX_TENSORS);
    c->t = calloc(c->n_t ? c->n_t : 1, sizeof *c->t);
    if (!c->t)
        return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
    for (uint32_t i = 0; i < c->n_t; i++) {
        struct ttensor *t = &c->t[i];
        size_t tt = fb_vtable_at(f, tv, i);
        size_t sv = fb_ref(f, tt, 0);
        uint32_t rank = fb_vlen(f, sv, 4);
        t->type = (int)fb_int(f, tt, 1, 1, 1, 0);
        uint32_t bi = (uint32_t)fb_int(f, tt, 2, 4, 0, 0);
        size_t nv = fb_ref(f, tt, 3);
        uint32_t nlen = fb_vlen(f, nv, 1);
        if (f->bad)
            return bad(c, "tensor %u: %s", i, f->why);
        if (rank > TFL_MAX_RANK)
            return unsupported(c, "tensor %u has rank %u, at most %d", i, rank, TFL_MAX_RANK);
        t->rank = (int)rank;
        int64_t n = 1;
        for (uint32_t d = 0; d < rank; d++) {
            int32_t v = fb_vi32(f, sv, d);
            if (v < 0 || v > (1 << 30))
                return bad(c, "tensor %u: dimension %u is %d", i, d, v);
            t->shape[d] = v;
            if (v && n > ((int64_t)1 << 40) / v)
                return bad(c, "tensor %u: more than 2^40 elements", i);
            n *= v;
        }
        char name[200];
        name[0] = '\0';
        if (nlen)
            snprintf(name, sizeof name, "%.*s", (int)(nlen < 160 ? nlen : 160), (const char *)f->p + nv + 4);
        if (!name[0]) /* no name, or one that starts with a NUL */
            snprintf(name, sizeof name, "tensor_%u", i);
        for (char *p = name; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '_';
        if (!(t->name = cv_strdup(c, name)))
            return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
        if (bi >= n_buffers && bi != 0)
            return bad(c, "tensor %u ('%s'): buffer %u, the model has %u", i, name, bi, n_buffers);
        if (bi) {
            size_t b = fb_vtable_at(f, buffers, bi);
            size_t dv = fb_ref(f, b, 0);
            uint32_t dlen = fb_vlen(f, dv, 1);
            uint64_t off = 0, sz = 0;
            size_t ao = fb_field(f, b, 1, 8), as = fb_field(f, b, 2, 8);
            if (ao && as) {
                off = pb_le64(f->p + ao);
                sz = pb_le64(f->p + as);
            }
            if (f->bad)
                return bad(c, "buffer %u: %s", bi, f->why);
            if (dlen) {
                t->data = f->p + dv + 4;
                t->len = dlen;
            } else if (off > 1 && sz) {
                if (off > f->n || sz > f->n - off)
                    return bad(c, "buffer %u: bytes %llu..%llu are outside the file", bi, (unsigned long long)off,
                               (unsigned long long)(off + sz));
                t->data = f->p + off;
                t->len = (size_t)sz;
            }
        }
        if (t->data) {
            int es = t->type == TT_F32 || t->type == TT_I32 ? 4 : t->type == TT_F16 ? 2 : t->type == TT_I64 ? 8 : 1;
            if ((uint64_t)n * (uint64_t)es != t->len)
                return bad(c, "tensor %u ('%s'): %zu bytes of data for %lld elements of %d bytes", i, name, t->len,
                           (long long)n, es);
        }
    }
    /* unique names: a repeated TFLite name gets _<index> */
    for (uint32_t i = 0; i < c->n_t; i++)
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(c->t[i].name, c->t[j].name) == 0) {
                char nn[220];
                snprintf(nn, sizeof nn, "%s_%u", c->t[i].name, i);
                free(c->t[i].name);
                if (!(c->t[i].name = cv_strdup(c, nn)))
                    return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
                break;
            }
    return 0;
}

static int tensor_index(struct conv *c, int32_t v, const char *op, const char *what, int *out)
{
    if (v < 0 || (uint32_t)v >= c->n_t)
        return bad(c, "%s: %s tensor index %d, the subgraph has %u tensors", op, what, v, c->n_t);
    *out = v;
    return 0;
}

static void value_info(struct buf *g, uint32_t field, const struct ttensor *t)
{
    pbw_value_info(g, field, t->name, 1 /* FLOAT */, t->rank, t->shape);
}

static int name_live(char **live, size_t n_live, const char *s)
{
    for (size_t i = 0; i < n_live; i++)
        if (strcmp(live[i], s) == 0)
            return 1;
    return 0;
}

/* Drops nodes whose outputs nobody reads (the Transposes made "just in case") and the
 * initializers only they used; writes the ModelProto. */
static int emit(struct conv *c, const int *gin, int n_gin, const int *gout, int n_gout, struct buf *out)
{
    size_t cap = (size_t)n_gout + 16, n_live = 0;
    char **live = malloc(cap * sizeof *live);
    if (!live)
        return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
    for (int i = 0; i < n_gout; i++)
        live[n_live++] = c->t[gout[i]].name;
    for (size_t k = c->n_nodes; k-- > 0;) {
        struct node *n = &c->nodes[k];
        for (int j = 0; j < n->n_out && !n->live; j++)
            n->live = n->out[j] && name_live(live, n_live, n->out[j]);
        if (!n->live)
            continue;
        for (int j = 0; j < n->n_in; j++) {
            if (!n->in[j] || name_live(live, n_live, n->in[j]))
                continue;
            if (n_live == cap) {
                char **l = realloc(live, 2 * cap * sizeof *l);
                if (!l) {
                    free(live);
                    return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
                }
                live = l;
                cap *= 2;
            }
            live[n_live++] = n->in[j];
        }
    }
    struct buf g, m, x;
    buf_init(&g, out->max);
    buf_init(&m, out->max);
    buf_init(&x, 1 << 10);
    for (size_t k = 0; k < c->n_nodes; k++) {
        struct node *n = &c->nodes[k];
        if (!n->live)
            continue;
        struct buf nb;
        buf_init(&nb, 1 << 20);
        for (int j = 0; j < n->n_in; j++)
            pbw_str(&nb, 1, n->in[j] ? n->in[j] : "");
        for (int j = 0; j < n->n_out; j++)
            pbw_str(&nb, 2, n->out[j] ? n->out[j] : "");
        char nm[40];
        snprintf(nm, sizeof nm, "%s_%zu", n->op, k);
        pbw_str(&nb, 3, nm);
        pbw_str(&nb, 4, n->op);
        if (n->attrs.len)
            buf_put(&nb, n->attrs.data, n->attrs.len);
        if (buf_rc(&n->attrs) && !nb.rc)
            nb.rc = buf_rc(&n->attrs);
        pbw_msg(&g, 1, &nb);
        buf_free(&nb);
    }
    pbw_str(&g, 2, "tflite");
    for (size_t k = 0; k < c->n_inits; k++) {
        const struct init *in = &c->inits[k];
        if (!name_live(live, n_live, in->name))
            continue;
        struct buf tb;
        buf_init(&tb, out->max);
        for (int d = 0; d < in->rank; d++)
            pbw_uint(&tb, 1, (uint64_t)in->dims[d]);
        pbw_uint(&tb, 2, (uint64_t)in->dtype);
        pbw_str(&tb, 8, in->name);
        pbw_bytes(&tb, 9, in->data, in->len);
        pbw_msg(&g, 5, &tb);
        buf_free(&tb);
    }
    free(live);
    for (int i = 0; i < n_gin; i++)
        value_info(&g, 11, &c->t[gin[i]]);
    for (int i = 0; i < n_gout; i++)
        value_info(&g, 12, &c->t[gout[i]]);
    pbw_uint(&m, 1, 8); /* ir_version */
    pbw_str(&m, 2, "inferd tflite import");
    pbw_msg(&m, 7, &g);
    pbw_uint(&x, 2, 13); /* opset_import: default domain, 13 */
    pbw_msg(&m, 8, &x);
    int rc = buf_rc(&m) ? buf_err(&m, c->err, "the ONNX model") : 0;
    if (!rc) {
        buf_put(out, m.data, m.len);
        rc = buf_rc(out) ? buf_err(out, c->err, "the ONNX model") : 0;
    }
    buf_free(&g);
    buf_free(&m);
    buf_free(&x);
    return rc;
}

int tflite_sniff(const void *data, size_t size)
{
    return size >= 8 && memcmp((const uint8_t *)data + 4, "TFL3", 4) == 0;
}

static void conv_free(struct conv *c)
{
    for (uint32_t i = 0; c->t && i < c->n_t; i++) {
        free(c->t[i].name);
        free(c->t[i].nchw);
        free(c->t[i].owned);
    }
    free(c->t);
    for (size_t k = 0; k < c->n_nodes; k++) {
        for (int j = 0; j < c->nodes[k].n_in; j++)
            free(c->nodes[k].in[j]);
        for (int j = 0; j < c->nodes[k].n_out; j++)
            free(c->nodes[k].out[j]);
        buf_free(&c->nodes[k].attrs);
    }
    free(c->nodes);
    for (size_t k = 0; k < c->n_inits; k++) {
        free(c->inits[k].name);
        free(c->inits[k].owned);
    }
    free(c->inits);
}

int tflite_to_onnx_mem(const void *data, size_t size, struct buf *out, struct inferd_err *err)
{
    struct conv c;
    memset(&c, 0, sizeof c);
    c.f.p = data;
    c.f.n = size;
    c.err = err;
    int rc = 0, gin[TFL_MAX_IO], gout[TFL_MAX_IO], n_gin, n_gout;
    if (!tflite_sniff(data, size))
        return inferd_err_set(err, INFERD_EFORMAT, "TFLite model: no \"TFL3\" file identifier at offset 4");
    struct fb *f = &c.f;
    size_t model = fb_u32(f, 0);
    if (model >= size)
        return bad(&c, "the root table offset %zu is outside the file", model);
    uint32_t version = (uint32_t)fb_int(f, model, 0, 4, 0, 0);
    size_t codes = fb_ref(f, model, 1), sgs = fb_ref(f, model, 2), buffers = fb_ref(f, model, 4);
    uint32_t n_codes = fb_vlen(f, codes, 4), n_sg = fb_vlen(f, sgs, 4), n_buffers = fb_vlen(f, buffers, 4);
    if (f->bad)
        return bad(&c, "model table: %s", f->why);
    if (version != 3)
        return unsupported(&c, "schema version %u (only 3 is read)", version);
    if (n_sg != 1)
        return unsupported(&c, "%u subgraphs; only single-graph models are imported (no WHILE/IF/CALL)", n_sg);
    size_t sg = fb_vtable_at(f, sgs, 0);
    if ((rc = read_tensors(&c, sg, buffers, n_buffers)) < 0)
        goto done;
    size_t iv = fb_ref(f, sg, 1), ov = fb_ref(f, sg, 2), opv = fb_ref(f, sg, 3);
    uint32_t n_in = fb_vlen(f, iv, 4), n_out = fb_vlen(f, ov, 4), n_ops = fb_vlen(f, opv, 4);
    if (f->bad) {
        rc = bad(&c, "subgraph: %s", f->why);
        goto done;
    }
    if (n_in > TFL_MAX_IO || n_out > TFL_MAX_IO || n_out == 0 || n_ops > TFL_MAX_OPS) {
        rc = bad(&c, "%u inputs, %u outputs, %u operators (limits %d, 1..%d, %d)", n_in, n_out, n_ops, TFL_MAX_IO,
                 TFL_MAX_IO, TFL_MAX_OPS);
        goto done;
    }
    n_gin = (int)n_in;
    n_gout = (int)n_out;
    for (int i = 0; i < n_gin && rc == 0; i++)
        rc = tensor_index(&c, fb_vi32(f, iv, (uint32_t)i), "subgraph", "input", &gin[i]);
    for (int i = 0; i < n_gout && rc == 0; i++)
        rc = tensor_index(&c, fb_vi32(f, ov, (uint32_t)i), "subgraph", "output", &gout[i]);
    for (int i = 0; i < n_gin && rc == 0; i++)
        c.t[gin[i]].defined = 1;
    for (int i = 0; i < n_gin && rc == 0; i++)
        if (c.t[gin[i]].type != TT_F32)
            rc = unsupported(&c, "input '%s' is not float32 (type %d); quantized and integer inputs are not imported",
                             c.t[gin[i]].name, c.t[gin[i]].type);
    for (uint32_t k = 0; k < n_ops && rc == 0; k++) {
        size_t op = fb_vtable_at(f, opv, k);
        uint32_t oi = (uint32_t)fb_int(f, op, 0, 4, 0, 0);
        size_t ins = fb_ref(f, op, 1), outs = fb_ref(f, op, 2);
        struct opctx o = {0};
        uint32_t ni = fb_vlen(f, ins, 4), no = fb_vlen(f, outs, 4);
        o.opt = fb_ref(f, op, 4);
        if (oi >= n_codes && !f->bad) {
            rc = bad(&c, "operator %u: opcode index %u, the model has %u", k, oi, n_codes);
            break;
        }
        size_t code_t = fb_vtable_at(f, codes, oi);
        int64_t dep = fb_int(f, code_t, 0, 1, 1, 0), bc = fb_int(f, code_t, 3, 4, 1, 0);
        o.code = (int)(bc > dep ? bc : dep);
        if (f->bad) {
            rc = bad(&c, "operator %u: %s", k, f->why);
            break;
        }
        char tmp[24];
        o.name = op_name(o.code, tmp);
        char where[64];
        snprintf(where, sizeof where, "%.30s (operator %u)", o.name, k);
        o.name = where;
        if (ni > TFL_MAX_IO || no < 1 || no > 4) {
            rc = bad(&c, "%s: %u inputs and %u outputs", where, ni, no);
            break;
        }
        for (uint32_t j = 0; j < ni && rc == 0; j++) {
            int32_t v = fb_vi32(f, ins, j);
            if (v == -1 && j > 0) /* an optional input left out (a conv's bias) */
                continue;
            rc = tensor_index(&c, v, where, "input", &o.in[o.n_in]);
            o.n_in++;
        }
        for (uint32_t j = 0; j < no && rc == 0; j++)
            rc = tensor_index(&c, fb_vi32(f, outs, j), where, "output", &o.out[o.n_out++]);
        if (rc < 0)
            break;
        if (o.n_in < 1) {
            rc = bad(&c, "%s: no inputs", where);
            break;
        }
        for (int j = 0; j < o.n_in && rc == 0; j++) {
            const struct ttensor *t = &c.t[o.in[j]];
            if (!t->defined && !t->data && !t->owned)
                rc = bad(&c, "%s: input '%s' is neither a model input, a constant, nor written by an earlier operator",
                         where, t->name);
        }
        for (int j = 0; j < o.n_out && rc == 0; j++) {
            const struct ttensor *t = &c.t[o.out[j]];
            if (t->defined || t->data || t->owned)
                rc = bad(&c, "%s: output '%s' is a model input, a constant, or written twice", where, t->name);
        }
        for (int j = 0; j < o.n_in && rc == 0 && o.code != OP_DEQUANTIZE; j++) {
            const struct ttensor *t = &c.t[o.in[j]];
            if (t->type == TT_I8 || t->type == TT_U8)
                rc = unsupported(&c, "%s: tensor '%s' is quantized (int8/uint8); only float32 models are imported", where,
                                 t->name);
            else if (!t->owned && t->type != TT_F32 && t->type != TT_I32 && t->type != TT_I64)
                rc = unsupported(&c, "%s: tensor '%s' has TFLite type %d; float32 (and int32 shapes) are imported",
                                 where, t->name, t->type);
        }
        if (rc < 0)
            break;
        rc = convert_op(&c, &o);
        if (rc == 1)
            rc = unsupported(&c,
                             "operator %u is %s, which the import does not convert (it converts ADD SUB MUL DIV "
                             "CONV_2D DEPTHWISE_CONV_2D AVERAGE_POOL_2D MAX_POOL_2D FULLY_CONNECTED RELU RELU6 "
                             "RELU_N1_TO_1 LOGISTIC TANH HARD_SWISH SOFTMAX RESHAPE SQUEEZE CONCATENATION MEAN PAD "
                             "TRANSPOSE DEQUANTIZE)",
                             k, op_name(o.code, tmp));
        if (f->bad && rc == 0)
            rc = bad(&c, "%s: options: %s", where, f->why);
        if (c.oom && rc == 0)
            rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        for (int j = 0; j < o.n_out && rc == 0; j++)
            c.t[o.out[j]].defined = o.code != OP_DEQUANTIZE; /* DEQUANTIZE makes a constant */
    }
    for (int i = 0; i < n_gout && rc == 0; i++)
        if (!c.t[gout[i]].defined || c.t[gout[i]].data || c.t[gout[i]].owned)
            rc = unsupported(&c, "output '%s' is not computed by any operator (a model input or constant)",
                             c.t[gout[i]].name);
    if (rc == 0)
        rc = emit(&c, gin, n_gin, gout, n_gout, out);
    if (rc == 0 && c.oom)
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
done:
    conv_free(&c);
    return rc;
}

int tflite_to_onnx(const char *src, const char *dst, struct inferd_err *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", src, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8) {
        close(fd);
        return inferd_err_set(err, INFERD_EFORMAT, "%s: not a TFLite model (too short)", src);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return inferd_err_set(err, INFERD_EIO, "%s: mmap: %s", src, strerror(errno));
    struct buf out;
    buf_init(&out, (size_t)st.st_size * 2 + (64u << 20));
    int rc = tflite_to_onnx_mem(p, (size_t)st.st_size, &out, err);
    munmap(p, (size_t)st.st_size);
    if (rc == 0)
        rc = file_write_atomic(dst, out.data, out.len, 0644, err);
    else
        inferd_err_prefix(err, "%s", src);
    buf_free(&out);
    return rc;
}
