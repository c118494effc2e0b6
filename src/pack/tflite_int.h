/* tflite_int.h — what the TFLite import's two files share: tflite.c reads the flatbuffer and
 * writes the ONNX graph (node, attribute and initializer builders, NCHW copies, activations),
 * tflite_ops.c converts one TFLite operator at a time with those builders. */
#ifndef INFERD_PACK_TFLITE_INT_H
#define INFERD_PACK_TFLITE_INT_H

#include "base/buf.h"
#include "pack/flatbuf.h"

#include <stdint.h>

#define TFL_MAX_TENSORS (1 << 20)
#define TFL_MAX_OPS (1 << 20)
#define TFL_MAX_RANK 8
#define TFL_MAX_IO 64 /* inputs/outputs of one operator */

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

enum {
    OP_ADD = 0, OP_AVG_POOL = 1, OP_CONCAT = 2, OP_CONV = 3, OP_DWCONV = 4, OP_DEQUANTIZE = 6, OP_FC = 9,
    OP_LOGISTIC = 14, OP_MAX_POOL = 17, OP_MUL = 18, OP_RELU = 19, OP_RELU_N1_TO_1 = 20, OP_RELU6 = 21,
    OP_RESHAPE = 22, OP_SOFTMAX = 25, OP_TANH = 28, OP_PAD = 34, OP_TRANSPOSE = 39, OP_MEAN = 40, OP_SUB = 41,
    OP_DIV = 42, OP_SQUEEZE = 43, OP_HARD_SWISH = 117,
};

enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU_N1_TO_1 = 2, ACT_RELU6 = 3, ACT_TANH = 4 };

struct opctx {
    int code;
    int in[TFL_MAX_IO], n_in, out[4], n_out;
    size_t opt; /* builtin options table, or 0 */
    const char *name;
};

/* tflite.c: graph building (names are strdup'ed; a failed allocation sets c->oom) */
char *tfl_cv_strdup(struct conv *c, const char *s);
char *tfl_cv_tmpname(struct conv *c, const char *what);
struct node *tfl_add_node(struct conv *c, const char *op);
void tfl_node_in(struct conv *c, struct node *n, const char *name);
void tfl_node_out(struct conv *c, struct node *n, const char *name);
void tfl_attr_int(struct node *n, const char *name, int64_t v);
void tfl_attr_float(struct node *n, const char *name, float v);
void tfl_attr_ints(struct node *n, const char *name, const int64_t *v, int k);
const char *tfl_add_init(struct conv *c, char *name, int dtype, const int64_t *dims, int rank, const void *data,
                            size_t len, void *owned);
const char *tfl_const_i64(struct conv *c, const char *what, const int64_t *v, int k);
const char *tfl_const_f32(struct conv *c, const char *what, float v);
int tfl_unsupported(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tfl_bad(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *tfl_use(struct conv *c, int i);
const char *tfl_to_nchw(struct conv *c, int i);
void tfl_from_nchw(struct conv *c, int i, char *nchw_name);
int tfl_activation(struct conv *c, int act, const char *in, const char *out);
char *tfl_pre_act(struct conv *c, int act, const char *out);
void tfl_same_pads(int padding, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t *before, int64_t *after);
int tfl_need_rank(struct conv *c, int i, int rank, const char *op, const char *what);
int tfl_need_const(struct conv *c, int i, const char *op, const char *what);
const float *tfl_fdata(const struct ttensor *t);

/* tflite_ops.c: converts one operator. Returns 0, INFERD_E*, or 1 for an operator it does not
 * convert. */
int tfl_convert_op(struct conv *c, const struct opctx *o);

#endif
