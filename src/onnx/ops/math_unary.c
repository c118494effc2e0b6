/* math_unary.c — elementwise ops of one input beyond unary.c's: math (Exp, Log, Neg, Abs,
 * Ceil, Floor, Round, Sign, Reciprocal, the trigonometric and hyperbolic family),
 * activations with attributes (LeakyRelu, Elu, Selu, Celu, ThresholdedRelu, HardSwish,
 * Softplus, Softsign, Mish, Gelu with approximate "none" or "tanh"), and the predicates
 * IsNaN, IsInf (detect_positive / detect_negative), Not, and Shrink (bias, lambd).
 *
 *   x (any shape) -> y (same shape); dtype kept, BOOL for IsNaN/IsInf
 *
 * FP32 runs in float through one loop per op (split over the pool for large tensors);
 * FP64/FP16/BF16 go through double; Neg, Abs and Sign also take signed and unsigned ints
 * (through int64, wrapping like the C types do). Round is half-to-even (nearbyint). */
#include <math.h>
#include <string.h>

#include "base/vmath.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum {
    MU_EXP, MU_LOG, MU_NEG, MU_ABS, MU_CEIL, MU_FLOOR, MU_ROUND, MU_SIGN, MU_RECIP,
    MU_SIN, MU_COS, MU_TAN, MU_ASIN, MU_ACOS, MU_ATAN, MU_SINH, MU_COSH, MU_ASINH, MU_ACOSH, MU_ATANH,
    MU_LEAKY, MU_ELU, MU_SELU, MU_CELU, MU_THRESH, MU_HSWISH, MU_SOFTPLUS, MU_SOFTSIGN, MU_MISH,
    MU_GELU, MU_GELU_TANH, MU_ISNAN, MU_ISINF, MU_NOT, MU_SHRINK,
};

/* Ops that also take integer inputs. */
static int takes_int(int op)
{
    return op == MU_NEG || op == MU_ABS || op == MU_SIGN;
}

static inline double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* One element in double; p = fp[] of the node (alpha, beta/gamma, ...). */
static double mu_apply(int op, double x, const float *p)
{
    switch (op) {
    case MU_EXP: return exp(x);
    case MU_LOG: return log(x);
    case MU_NEG: return -x;
    case MU_ABS: return fabs(x);
    case MU_CEIL: return ceil(x);
    case MU_FLOOR: return floor(x);
    case MU_ROUND: return nearbyint(x);
    case MU_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x; /* NaN and +-0 pass through */
    case MU_RECIP: return 1.0 / x;
    case MU_SIN: return sin(x);
    case MU_COS: return cos(x);
    case MU_TAN: return tan(x);
    case MU_ASIN: return asin(x);
    case MU_ACOS: return acos(x);
    case MU_ATAN: return atan(x);
    case MU_SINH: return sinh(x);
    case MU_COSH: return cosh(x);
    case MU_ASINH: return asinh(x);
    case MU_ACOSH: return acosh(x);
    case MU_ATANH: return atanh(x);
    case MU_LEAKY: return x < 0 ? p[0] * x : x;
    case MU_ELU: return x < 0 ? p[0] * expm1(x) : x;
    case MU_SELU: return x <= 0 ? p[1] * (p[0] * exp(x) - p[0]) : p[1] * x;
    case MU_CELU: return fmax(0.0, x) + fmin(0.0, p[0] * expm1(x / p[0]));
    case MU_THRESH: return x > p[0] ? x : 0.0;
    case MU_HSWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    case MU_SOFTPLUS: return softplus(x);
    case MU_SOFTSIGN: return x / (1.0 + fabs(x));
    case MU_MISH: return x * tanh(softplus(x));
    case MU_GELU: return 0.5 * x * (1.0 + erf(x * M_SQRT1_2));
    case MU_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case MU_SHRINK: return x < -p[2] ? x + p[1] : x > p[2] ? x - p[1] : 0.0; /* p: -, bias, lambd */
    default: return x;
    }
}

struct mu_job {
    const float *x;
    float *y;
    int op;
    const float *p;
};

/* FP32: the hot activations get float loops; the rest go through mu_apply. */
static void mu_range_f32(void *arg, int64_t lo, int64_t hi)
{
    struct mu_job *j = arg;
    const float *x = j->x;
    float *y = j->y;
    float a = j->p[0];
    switch (j->op) {
    case MU_EXP:
        for (int64_t i = lo; i < hi; i++)
            y[i] = expf(x[i]);
        break;
    case MU_NEG:
        for (int64_t i = lo; i < hi; i++)
            y[i] = -x[i];
        break;
    case MU_ABS:
        for (int64_t i = lo; i < hi; i++)
            y[i] = fabsf(x[i]);
        break;
    case MU_RECIP:
        for (int64_t i = lo; i < hi; i++)
            y[i] = 1.0f / x[i];
        break;
    case MU_LEAKY:
        for (int64_t i = lo; i < hi; i++)
            y[i] = x[i] < 0 ? a * x[i] : x[i];
        break;
    case MU_HSWISH:
        for (int64_t i = lo; i < hi; i++) {
            float t = x[i] * (1.0f / 6.0f) + 0.5f;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            y[i] = x[i] * t;
        }
        break;
    case MU_GELU: /* AVX-512 / AVX2 where the CPU has them (base/vmath.h) */
        vmath_gelu(y + lo, x + lo, (size_t)(hi - lo));
        break;
    default:
        for (int64_t i = lo; i < hi; i++)
            y[i] = (float)mu_apply(j->op, x[i], j->p);
        break;
    }
}

static int mu_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    int op = (int)n->ip[0];
    enum inferd_dtype dt = in[0]->dt;
    int is_float = dt == INFERD_FP32 || dt == INFERD_FP64 || dt == INFERD_FP16 || dt == INFERD_BF16;
    if (op == MU_NOT) {
        if (dt != INFERD_BOOL)
            return inferd_err_set(err, INFERD_ETYPE, "Not: input must be bool, is %s", inferd_dtype_v2_name(dt));
        return ox_set_shape(out[0], INFERD_BOOL, in[0]->rank, in[0]->dims, err);
    }
    if (!is_float && !(takes_int(op) && ox_dtype_is_int(dt) && dt != INFERD_BOOL))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(dt));
    return ox_set_shape(out[0], op == MU_ISNAN || op == MU_ISINF ? INFERD_BOOL : dt, in[0]->rank, in[0]->dims,
                        err);
}

static int mu_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    int op = (int)n->ip[0];
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    if (op == MU_NOT) {
        const uint8_t *xv = x->data;
        uint8_t *yv = y->data;
        for (int64_t i = 0; i < x->numel; i++)
            yv[i] = !xv[i];
        return 0;
    }
    if (op == MU_ISNAN || op == MU_ISINF) {
        uint8_t *yv = y->data;
        for (int64_t i = 0; i < x->numel; i++) {
            double v = ox_get_f64(x, i);
            yv[i] = op == MU_ISNAN ? isnan(v) != 0
                                   : isinf(v) && ((v > 0 && n->ip[1]) || (v < 0 && n->ip[2]));
        }
        return 0;
    }
    if (x->dt == INFERD_FP32) {
        struct mu_job j = {x->data, y->data, op, n->fp};
        ox_parallel(c, x->numel, 1 << 13, mu_range_f32, &j);
        return 0;
    }
    if (ox_dtype_is_int(x->dt)) {
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t v = ox_get_i64(x, i);
            uint64_t u = (uint64_t)v;
            int64_t r = op == MU_NEG ? (int64_t)(0 - u) : op == MU_ABS ? (v < 0 ? (int64_t)(0 - u) : v)
                                                                       : (v > 0) - (v < 0);
            ox_put_i64(y, i, r);
        }
        return 0;
    }
    for (int64_t i = 0; i < x->numel; i++)
        ox_put_f64(y, i, mu_apply(op, ox_get_f64(x, i), n->fp));
    return 0;
}

/* Codes and attributes: fp[0] alpha, fp[1] gamma (Selu) or bias (Shrink), fp[2] lambd
 * (Shrink); ip[1..2] IsInf's detect flags. */
static int mu_prepare(struct ox_node *n, struct inferd_err *err)
{
    static const struct { const char *name; int op; float alpha; } tbl[] = {
        {"Exp", MU_EXP, 0}, {"Log", MU_LOG, 0}, {"Neg", MU_NEG, 0}, {"Abs", MU_ABS, 0},
        {"Ceil", MU_CEIL, 0}, {"Floor", MU_FLOOR, 0}, {"Round", MU_ROUND, 0}, {"Sign", MU_SIGN, 0},
        {"Reciprocal", MU_RECIP, 0}, {"Sin", MU_SIN, 0}, {"Cos", MU_COS, 0}, {"Tan", MU_TAN, 0},
        {"Asin", MU_ASIN, 0}, {"Acos", MU_ACOS, 0}, {"Atan", MU_ATAN, 0}, {"Sinh", MU_SINH, 0},
        {"Cosh", MU_COSH, 0}, {"Asinh", MU_ASINH, 0}, {"Acosh", MU_ACOSH, 0}, {"Atanh", MU_ATANH, 0},
        {"LeakyRelu", MU_LEAKY, 0.01f}, {"Elu", MU_ELU, 1.0f}, {"Selu", MU_SELU, 1.67326319217681884765625f},
        {"Celu", MU_CELU, 1.0f}, {"ThresholdedRelu", MU_THRESH, 1.0f}, {"HardSwish", MU_HSWISH, 0},
        {"Softplus", MU_SOFTPLUS, 0}, {"Softsign", MU_SOFTSIGN, 0}, {"Mish", MU_MISH, 0},
        {"Gelu", MU_GELU, 0}, {"IsNaN", MU_ISNAN, 0}, {"IsInf", MU_ISINF, 0}, {"Not", MU_NOT, 0},
        {"Shrink", MU_SHRINK, 0},
    };
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++) {
        if (strcmp(n->op_type, tbl[i].name) != 0)
            continue;
        n->ip[0] = tbl[i].op;
        n->fp[0] = ox_attr_float(n, "alpha", tbl[i].alpha);
        n->fp[1] = ox_attr_float(n, "gamma", 1.05070102214813232421875f);
        n->ip[1] = ox_attr_int(n, "detect_positive", 1);
        n->ip[2] = ox_attr_int(n, "detect_negative", 1);
        if (tbl[i].op == MU_SHRINK) {
            n->fp[1] = ox_attr_float(n, "bias", 0.0f);
            n->fp[2] = ox_attr_float(n, "lambd", 0.5f);
        }
        if (tbl[i].op == MU_CELU && n->fp[0] == 0.0f)
            return inferd_err_set(err, INFERD_EINVAL, "Celu: alpha must not be 0");
        if (tbl[i].op == MU_GELU) {
            const struct ox_attr *a = ox_attr_find(n, "approximate");
            if (a && a->s && strcmp(a->s, "tanh") == 0)
                n->ip[0] = MU_GELU_TANH;
            else if (a && a->s && strcmp(a->s, "none") != 0)
                return inferd_err_set(err, INFERD_EINVAL, "Gelu: approximate '%s' is not 'none' or 'tanh'", a->s);
        }
        return 0;
    }
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: not an elementwise op", n->op_type);
}

#define MU_OP(sym, op_type)                                                                   \
    const struct ox_op sym = {                                                                \
        .name = op_type, .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,                \
        .prepare = mu_prepare, .infer = mu_infer, .exec = mu_exec,                            \
    }
MU_OP(ox_op_exp, "Exp");
MU_OP(ox_op_log, "Log");
MU_OP(ox_op_neg, "Neg");
MU_OP(ox_op_abs, "Abs");
MU_OP(ox_op_ceil, "Ceil");
MU_OP(ox_op_floor, "Floor");
MU_OP(ox_op_round, "Round");
MU_OP(ox_op_sign, "Sign");
MU_OP(ox_op_reciprocal, "Reciprocal");
MU_OP(ox_op_sin, "Sin");
MU_OP(ox_op_cos, "Cos");
MU_OP(ox_op_tan, "Tan");
MU_OP(ox_op_asin, "Asin");
MU_OP(ox_op_acos, "Acos");
MU_OP(ox_op_atan, "Atan");
MU_OP(ox_op_sinh, "Sinh");
MU_OP(ox_op_cosh, "Cosh");
MU_OP(ox_op_asinh, "Asinh");
MU_OP(ox_op_acosh, "Acosh");
MU_OP(ox_op_atanh, "Atanh");
MU_OP(ox_op_leaky_relu, "LeakyRelu");
MU_OP(ox_op_elu, "Elu");
MU_OP(ox_op_selu, "Selu");
MU_OP(ox_op_celu, "Celu");
MU_OP(ox_op_thresholded_relu, "ThresholdedRelu");
MU_OP(ox_op_hard_swish, "HardSwish");
MU_OP(ox_op_softplus, "Softplus");
MU_OP(ox_op_softsign, "Softsign");
MU_OP(ox_op_mish, "Mish");
MU_OP(ox_op_gelu, "Gelu");
MU_OP(ox_op_isnan, "IsNaN");
MU_OP(ox_op_isinf, "IsInf");
MU_OP(ox_op_not, "Not");
MU_OP(ox_op_shrink, "Shrink");
