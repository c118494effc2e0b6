/* unary.c — elementwise float ops: Sqrt, Relu, Sigmoid, Tanh, Erf (FP32; Relu also FP64
 * and signed ints). Split over the pool for large tensors. */
#include <math.h>

#include "base/vmath.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { UN_SQRT, UN_RELU, UN_SIGMOID, UN_TANH, UN_ERF };

struct un_job {
    const float *x;
    float *y;
    int op;
};

static void un_range(void *arg, int64_t lo, int64_t hi)
{
    struct un_job *j = arg;
    const float *x = j->x;
    float *y = j->y;
    switch (j->op) {
    case UN_SQRT:
        for (int64_t i = lo; i < hi; i++)
            y[i] = sqrtf(x[i]);
        break;
    case UN_RELU:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case UN_SIGMOID:
        vmath_sigmoid(y + lo, x + lo, (size_t)(hi - lo));
        break;
    case UN_TANH:
        for (int64_t i = lo; i < hi; i++)
            y[i] = tanhf(x[i]);
        break;
    case UN_ERF:
        for (int64_t i = lo; i < hi; i++)
            y[i] = erff(x[i]);
        break;
    }
}

static int un_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    int ok = in[0]->dt == INFERD_FP32 ||
             (n->ip[0] == UN_RELU && (in[0]->dt == INFERD_FP64 || in[0]->dt == INFERD_INT32 ||
                                      in[0]->dt == INFERD_INT64 || in[0]->dt == INFERD_INT8));
    if (!ok)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported (FP32 only)", n->op_type,
                              inferd_dtype_v2_name(in[0]->dt));
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int un_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    if (in[0]->dt != INFERD_FP32) { /* Relu on other dtypes */
        for (int64_t i = 0; i < in[0]->numel; i++) {
            double v = ox_get_f64(in[0], i);
            ox_put_f64(out[0], i, v > 0 ? v : 0);
        }
        return 0;
    }
    struct un_job j = {in[0]->data, out[0]->data, (int)n->ip[0]};
    ox_parallel(c, in[0]->numel, n->ip[0] == UN_RELU || n->ip[0] == UN_SQRT ? 1 << 16 : 1 << 13, un_range, &j);
    return 0;
}

#define UN_PREP(fn, code)                                                \
    static int fn(struct ox_node *n, struct inferd_err *e)               \
    {                                                                    \
        (void)e;                                                         \
        n->ip[0] = code;                                                 \
        return 0;                                                        \
    }
UN_PREP(prep_sqrt, UN_SQRT)
UN_PREP(prep_relu, UN_RELU)
UN_PREP(prep_sigmoid, UN_SIGMOID)
UN_PREP(prep_tanh, UN_TANH)
UN_PREP(prep_erf, UN_ERF)

const struct ox_op ox_op_sqrt = {
    .name = "Sqrt", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = prep_sqrt, .infer = un_infer, .exec = un_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_relu = {
    .name = "Relu", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = prep_relu, .infer = un_infer, .exec = un_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_sigmoid = {
    .name = "Sigmoid", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = prep_sigmoid, .infer = un_infer, .exec = un_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_tanh = {
    .name = "Tanh", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = prep_tanh, .infer = un_infer, .exec = un_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_erf = {
    .name = "Erf", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = prep_erf, .infer = un_infer, .exec = un_exec, .flags = OX_OP_ELEMWISE,
};
