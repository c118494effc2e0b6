/* tflite.c — TFLite flatbuffer -> ONNX ModelProto (see tflite.h): reading the model, the graph
 * builders the operators use (tflite_ops.c), and writing the ModelProto. */
#include "pack/tflite.h"

#include "base/buf.h"
#include "base/fileio.h"
#include "inferd/tensor.h"
#include "onnx/pb.h"
#include "pack/flatbuf.h"
#include "pack/tflite_int.h"

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

static const char *op_name(int code, char tmp[24])
{
    if (code >= 0 && (size_t)code < sizeof op_names / sizeof *op_names)
        return op_names[code];
    snprintf(tmp, 24, "BUILTIN_%d", code);
    return tmp;
}

/* ---- graph building ---- */

char *tfl_cv_strdup(struct conv *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        c->oom = 1;
    return d;
}

char *tfl_cv_tmpname(struct conv *c, const char *what)
{
    char b[64];
    snprintf(b, sizeof b, "tflite/%s_%u", what, c->tmp_seq++);
    return tfl_cv_strdup(c, b);
}

struct node *tfl_add_node(struct conv *c, const char *op)
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

void tfl_node_in(struct conv *c, struct node *n, const char *name)
{
    if (n && n->n_in < TFL_MAX_IO)
        n->in[n->n_in++] = tfl_cv_strdup(c, name);
}

void tfl_node_out(struct conv *c, struct node *n, const char *name)
{
    if (n && n->n_out < 2)
        n->out[n->n_out++] = tfl_cv_strdup(c, name);
}

void tfl_attr_int(struct node *n, const char *name, int64_t v)
{
    struct buf a;
    buf_init(&a, 1 << 10);
    pbw_str(&a, 1, name);
    pbw_uint(&a, 3, (uint64_t)v);
    pbw_uint(&a, 20, 2);
    pbw_msg(&n->attrs, 5, &a);
    buf_free(&a);
}

void tfl_attr_float(struct node *n, const char *name, float v)
{
    struct buf a;
    buf_init(&a, 1 << 10);
    pbw_str(&a, 1, name);
    pbw_float(&a, 2, v);
    pbw_uint(&a, 20, 1);
    pbw_msg(&n->attrs, 5, &a);
    buf_free(&a);
}

void tfl_attr_ints(struct node *n, const char *name, const int64_t *v, int k)
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
const char *tfl_add_init(struct conv *c, char *name, int dtype, const int64_t *dims, int rank, const void *data,
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

const char *tfl_const_i64(struct conv *c, const char *what, const int64_t *v, int k)
{
    int64_t *d = malloc((size_t)(k ? k : 1) * sizeof *d);
    if (!d) {
        c->oom = 1;
        return "";
    }
    memcpy(d, v, (size_t)k * sizeof *d);
    int64_t dims[1] = {k};
    return tfl_add_init(c, tfl_cv_tmpname(c, what), 7, dims, 1, d, (size_t)k * sizeof *d, d);
}

const char *tfl_const_f32(struct conv *c, const char *what, float v)
{
    float *d = malloc(sizeof *d);
    if (!d) {
        c->oom = 1;
        return "";
    }
    *d = v;
    return tfl_add_init(c, tfl_cv_tmpname(c, what), 1, NULL, 0, d, sizeof *d, d);
}

static int vfail(struct conv *c, int code, const char *fmt, va_list ap)
{
    char m[400];
    vsnprintf(m, sizeof m, fmt, ap);
    return inferd_err_set(c->err, code, "%s: %s", code == INFERD_EFORMAT ? "TFLite model" : "TFLite import", m);
}

/* EUNSUPPORTED "TFLite import: ..." (valid input the import does not convert). */
int tfl_unsupported(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, INFERD_EUNSUPPORTED, fmt, ap);
    va_end(ap);
    return rc;
}

/* EFORMAT "TFLite model: ..." (a malformed file). */
int tfl_bad(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(c, INFERD_EFORMAT, fmt, ap);
    va_end(ap);
    return rc;
}

/* The ONNX name of tensor i as an input: a constant becomes an initializer on first use. */
const char *tfl_use(struct conv *c, int i)
{
    struct ttensor *t = &c->t[i];
    if ((t->data || t->owned) && !t->init_done) {
        t->init_done = 1;
        int dtype = t->type == TT_I32 ? 6 : t->type == TT_I64 ? 7 : 1;
        tfl_add_init(c, tfl_cv_strdup(c, t->name), dtype, t->shape, t->rank, t->owned ? (const void *)t->owned : t->data,
                 t->owned ? (size_t)inferd_shape_numel(t->rank, t->shape) * 4 : t->len, NULL);
    }
    return t->name;
}

const char *tfl_to_nchw(struct conv *c, int i)
{
    struct ttensor *t = &c->t[i];
    if (t->nchw)
        return t->nchw;
    const char *src = tfl_use(c, i);
    t->nchw = tfl_cv_tmpname(c, "nchw");
    struct node *n = tfl_add_node(c, "Transpose");
    tfl_node_in(c, n, src);
    tfl_node_out(c, n, t->nchw ? t->nchw : "");
    static const int64_t perm[4] = {0, 3, 1, 2};
    if (n)
        tfl_attr_ints(n, "perm", perm, 4);
    return t->nchw ? t->nchw : "";
}

/* Tensor i is computed in NCHW as nchw_name: record it and make the NHWC tensor from it. */
void tfl_from_nchw(struct conv *c, int i, char *nchw_name)
{
    struct node *n = tfl_add_node(c, "Transpose");
    tfl_node_in(c, n, nchw_name);
    tfl_node_out(c, n, c->t[i].name);
    static const int64_t perm[4] = {0, 2, 3, 1};
    if (n)
        tfl_attr_ints(n, "perm", perm, 4);
    free(c->t[i].nchw);
    c->t[i].nchw = nchw_name;
}

/* Applies a fused activation: the op wrote `in`; the result goes to `out`. */
int tfl_activation(struct conv *c, int act, const char *in, const char *out)
{
    struct node *n;
    switch (act) {
    case ACT_NONE:
        n = tfl_add_node(c, "Identity");
        break;
    case ACT_RELU:
        n = tfl_add_node(c, "Relu");
        break;
    case ACT_TANH:
        n = tfl_add_node(c, "Tanh");
        break;
    case ACT_RELU6:
    case ACT_RELU_N1_TO_1: {
        const char *lo = tfl_const_f32(c, "min", act == ACT_RELU6 ? 0.f : -1.f);
        const char *hi = tfl_const_f32(c, "max", act == ACT_RELU6 ? 6.f : 1.f);
        n = tfl_add_node(c, "Clip");
        tfl_node_in(c, n, in);
        tfl_node_in(c, n, lo);
        tfl_node_in(c, n, hi);
        tfl_node_out(c, n, out);
        return 0;
    }
    default:
        return tfl_unsupported(c, "fused activation %d (SIGN_BIT or newer) is not supported", act);
    }
    tfl_node_in(c, n, in);
    tfl_node_out(c, n, out);
    return 0;
}

/* The output name an op writes before its fused activation. */
char *tfl_pre_act(struct conv *c, int act, const char *out)
{
    return act == ACT_NONE ? tfl_cv_strdup(c, out) : tfl_cv_tmpname(c, "preact");
}

/* TFLite SAME/VALID to explicit ONNX pads for one spatial axis. */
void tfl_same_pads(int padding, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t *before, int64_t *after)
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

int tfl_need_rank(struct conv *c, int i, int rank, const char *op, const char *what)
{
    if (c->t[i].rank != rank)
        return tfl_bad(c, "%s: the %s tensor '%s' has rank %d, expected %d", op, what, c->t[i].name, c->t[i].rank, rank);
    return 0;
}

int tfl_need_const(struct conv *c, int i, const char *op, const char *what)
{
    if (!c->t[i].data && !c->t[i].owned)
        return tfl_unsupported(c, "%s: the %s tensor '%s' is computed at run time; only constant %s are supported", op,
                           what, c->t[i].name, what);
    if (!c->t[i].owned && c->t[i].type != TT_F32)
        return tfl_unsupported(c, "%s: the %s tensor '%s' is not float32 (type %d)", op, what, c->t[i].name, c->t[i].type);
    return 0;
}

const float *tfl_fdata(const struct ttensor *t)
{
    return t->owned ? t->owned : (const float *)(const void *)t->data;
}

/* ---- reading the model ---- */

static int read_tensors(struct conv *c, size_t sg, size_t buffers, uint32_t n_buffers)
{
    struct fb *f = &c->f;
    size_t tv = fb_ref(f, sg, 0);
    c->n_t = fb_vlen(f, tv, 4);
    if (f->bad)
        return tfl_bad(c, "subgraph tensors: %s", f->why);
    if (c->n_t > TFL_MAX_TENSORS)
        return tfl_bad(c, "%u tensors, at most %d", c->n_t, TFL_MAX_TENSORS);
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
            return tfl_bad(c, "tensor %u: %s", i, f->why);
        if (rank > TFL_MAX_RANK)
            return tfl_unsupported(c, "tensor %u has rank %u, at most %d", i, rank, TFL_MAX_RANK);
        t->rank = (int)rank;
        int64_t n = 1;
        for (uint32_t d = 0; d < rank; d++) {
            int32_t v = fb_vi32(f, sv, d);
            if (v < 0 || v > (1 << 30))
                return tfl_bad(c, "tensor %u: dimension %u is %d", i, d, v);
            t->shape[d] = v;
            if (v && n > ((int64_t)1 << 40) / v)
                return tfl_bad(c, "tensor %u: more than 2^40 elements", i);
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
        if (!(t->name = tfl_cv_strdup(c, name)))
            return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
        if (bi >= n_buffers && bi != 0)
            return tfl_bad(c, "tensor %u ('%s'): buffer %u, the model has %u", i, name, bi, n_buffers);
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
                return tfl_bad(c, "buffer %u: %s", bi, f->why);
            if (dlen) {
                t->data = f->p + dv + 4;
                t->len = dlen;
            } else if (off > 1 && sz) {
                if (off > f->n || sz > f->n - off)
                    return tfl_bad(c, "buffer %u: bytes %llu..%llu are outside the file", bi, (unsigned long long)off,
                               (unsigned long long)(off + sz));
                t->data = f->p + off;
                t->len = (size_t)sz;
            }
        }
        if (t->data) {
            int es = t->type == TT_F32 || t->type == TT_I32 ? 4 : t->type == TT_F16 ? 2 : t->type == TT_I64 ? 8 : 1;
            if ((uint64_t)n * (uint64_t)es != t->len)
                return tfl_bad(c, "tensor %u ('%s'): %zu bytes of data for %lld elements of %d bytes", i, name, t->len,
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
                if (!(c->t[i].name = tfl_cv_strdup(c, nn)))
                    return inferd_err_set(c->err, INFERD_ENOMEM, "out of memory");
                break;
            }
    return 0;
}

static int tensor_index(struct conv *c, int32_t v, const char *op, const char *what, int *out)
{
    if (v < 0 || (uint32_t)v >= c->n_t)
        return tfl_bad(c, "%s: %s tensor index %d, the subgraph has %u tensors", op, what, v, c->n_t);
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
        return tfl_bad(&c, "the root table offset %zu is outside the file", model);
    uint32_t version = (uint32_t)fb_int(f, model, 0, 4, 0, 0);
    size_t codes = fb_ref(f, model, 1), sgs = fb_ref(f, model, 2), buffers = fb_ref(f, model, 4);
    uint32_t n_codes = fb_vlen(f, codes, 4), n_sg = fb_vlen(f, sgs, 4), n_buffers = fb_vlen(f, buffers, 4);
    if (f->bad)
        return tfl_bad(&c, "model table: %s", f->why);
    if (version != 3)
        return tfl_unsupported(&c, "schema version %u (only 3 is read)", version);
    if (n_sg != 1)
        return tfl_unsupported(&c, "%u subgraphs; only single-graph models are imported (no WHILE/IF/CALL)", n_sg);
    size_t sg = fb_vtable_at(f, sgs, 0);
    if ((rc = read_tensors(&c, sg, buffers, n_buffers)) < 0)
        goto done;
    size_t iv = fb_ref(f, sg, 1), ov = fb_ref(f, sg, 2), opv = fb_ref(f, sg, 3);
    uint32_t n_in = fb_vlen(f, iv, 4), n_out = fb_vlen(f, ov, 4), n_ops = fb_vlen(f, opv, 4);
    if (f->bad) {
        rc = tfl_bad(&c, "subgraph: %s", f->why);
        goto done;
    }
    if (n_in > TFL_MAX_IO || n_out > TFL_MAX_IO || n_out == 0 || n_ops > TFL_MAX_OPS) {
        rc = tfl_bad(&c, "%u inputs, %u outputs, %u operators (limits %d, 1..%d, %d)", n_in, n_out, n_ops, TFL_MAX_IO,
                 TFL_MAX_IO, TFL_MAX_OPS);
        goto done;
    }
    n_gin = (int)n_in;
    n_gout = (int)n_out;
    for (int i = 0; i < n_gin && rc == 0; i++)
        rc = tensor_index(&c, fb_vi32(f, iv, (uint32_t)i), "subgraph", "input", &gin[i]);
    for (int i = 0; i < n_gout && rc == 0; i++)
        rc = tensor_index(&c, fb_vi32(f, ov, (uint32_t)i), "subgraph", "output", &gout[i]);
    for (int i = 0; i < n_gin + n_gout && rc == 0; i++) /* ONNX names each graph input/output once */
        for (int k = 0; k < i && rc == 0; k++) {
            int a = i < n_gin ? gin[i] : gout[i - n_gin], b = k < n_gin ? gin[k] : gout[k - n_gin];
            if (a == b && (i < n_gin) == (k < n_gin))
                rc = tfl_bad(&c, "subgraph %s: tensor %d is listed twice", i < n_gin ? "inputs" : "outputs", a);
        }
    for (int i = 0; i < n_gin && rc == 0; i++)
        c.t[gin[i]].defined = 1;
    for (int i = 0; i < n_gin && rc == 0; i++)
        if (c.t[gin[i]].type != TT_F32)
            rc = tfl_unsupported(&c, "input '%s' is not float32 (type %d); quantized and integer inputs are not imported",
                             c.t[gin[i]].name, c.t[gin[i]].type);
    for (uint32_t k = 0; k < n_ops && rc == 0; k++) {
        size_t op = fb_vtable_at(f, opv, k);
        uint32_t oi = (uint32_t)fb_int(f, op, 0, 4, 0, 0);
        size_t ins = fb_ref(f, op, 1), outs = fb_ref(f, op, 2);
        struct opctx o = {0};
        uint32_t ni = fb_vlen(f, ins, 4), no = fb_vlen(f, outs, 4);
        o.opt = fb_ref(f, op, 4);
        if (oi >= n_codes && !f->bad) {
            rc = tfl_bad(&c, "operator %u: opcode index %u, the model has %u", k, oi, n_codes);
            break;
        }
        size_t code_t = fb_vtable_at(f, codes, oi);
        int64_t dep = fb_int(f, code_t, 0, 1, 1, 0), bc = fb_int(f, code_t, 3, 4, 1, 0);
        o.code = (int)(bc > dep ? bc : dep);
        if (f->bad) {
            rc = tfl_bad(&c, "operator %u: %s", k, f->why);
            break;
        }
        char tmp[24];
        o.name = op_name(o.code, tmp);
        char where[64];
        snprintf(where, sizeof where, "%.30s (operator %u)", o.name, k);
        o.name = where;
        if (ni > TFL_MAX_IO || no < 1 || no > 4) {
            rc = tfl_bad(&c, "%s: %u inputs and %u outputs", where, ni, no);
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
            rc = tfl_bad(&c, "%s: no inputs", where);
            break;
        }
        for (int j = 0; j < o.n_in && rc == 0; j++) {
            const struct ttensor *t = &c.t[o.in[j]];
            if (!t->defined && !t->data && !t->owned)
                rc = tfl_bad(&c, "%s: input '%s' is neither a model input, a constant, nor written by an earlier operator",
                         where, t->name);
        }
        for (int j = 0; j < o.n_out && rc == 0; j++) {
            const struct ttensor *t = &c.t[o.out[j]];
            if (t->defined || t->data || t->owned)
                rc = tfl_bad(&c, "%s: output '%s' is a model input, a constant, or written twice", where, t->name);
        }
        for (int j = 0; j < o.n_in && rc == 0 && o.code != OP_DEQUANTIZE; j++) {
            const struct ttensor *t = &c.t[o.in[j]];
            if (t->type == TT_I8 || t->type == TT_U8)
                rc = tfl_unsupported(&c, "%s: tensor '%s' is quantized (int8/uint8); only float32 models are imported", where,
                                 t->name);
            else if (!t->owned && t->type != TT_F32 && t->type != TT_I32 && t->type != TT_I64)
                rc = tfl_unsupported(&c, "%s: tensor '%s' has TFLite type %d; float32 (and int32 shapes) are imported",
                                 where, t->name, t->type);
        }
        if (rc < 0)
            break;
        rc = tfl_convert_op(&c, &o);
        if (rc == 1)
            rc = tfl_unsupported(&c,
                             "operator %u is %s, which the import does not convert (it converts ADD SUB MUL DIV "
                             "CONV_2D DEPTHWISE_CONV_2D AVERAGE_POOL_2D MAX_POOL_2D FULLY_CONNECTED RELU RELU6 "
                             "RELU_N1_TO_1 LOGISTIC TANH HARD_SWISH SOFTMAX RESHAPE SQUEEZE CONCATENATION MEAN PAD "
                             "TRANSPOSE DEQUANTIZE)",
                             k, op_name(o.code, tmp));
        if (f->bad && rc == 0)
            rc = tfl_bad(&c, "%s: options: %s", where, f->why);
        if (c.oom && rc == 0)
            rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        for (int j = 0; j < o.n_out && rc == 0; j++)
            c.t[o.out[j]].defined = o.code != OP_DEQUANTIZE; /* DEQUANTIZE makes a constant */
    }
    for (int i = 0; i < n_gout && rc == 0; i++)
        if (!c.t[gout[i]].defined || c.t[gout[i]].data || c.t[gout[i]].owned)
            rc = tfl_unsupported(&c, "output '%s' is not computed by any operator (a model input or constant)",
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
