/* reduce.c — ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceLogSum, ReduceLogSumExp, ReduceSumSquare over float and integer dtypes.
 *
 *   x (d0..dn) -> y: reduced axes dropped, or kept as 1 with keepdims (default 1)
 *
 * Axes come from the `axes` attribute (ReduceSum before opset 13, the others before 18) or
 * the optional second input (must be known at load time); no axes = all of them, unless
 * noop_with_empty_axes, which reduces over no axis: each output is the reduction of one
 * element (x for Sum/Max/Mean, |x| for L1, x*x for SumSquare, log x for LogSum), as ONNX
 * Runtime computes it (the spec's "equivalent to the input" only holds for some). Accumulation is in double (int64 for Sum,
 * Prod, Max, Min, L1 and SumSquare of integers, so they stay exact) in the step's scratch;
 * an empty reduction gives the identity (0, 1, -inf for Max/LogSumExp, +inf for Min). A
 * trailing block of axes is a row loop; any other set goes through a coordinate walk. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LSE, R_SUMSQ };

static int rd_prepare(struct ox_node *n, struct inferd_err *err)
{
    static const struct { const char *name; int kind; } tbl[] = {
        {"ReduceMean", R_MEAN}, {"ReduceSum", R_SUM}, {"ReduceMax", R_MAX}, {"ReduceMin", R_MIN},
        {"ReduceProd", R_PROD}, {"ReduceL1", R_L1}, {"ReduceL2", R_L2}, {"ReduceLogSum", R_LOGSUM},
        {"ReduceLogSumExp", R_LSE}, {"ReduceSumSquare", R_SUMSQ},
    };
    n->ip[0] = ox_attr_int(n, "keepdims", 1);
    n->ip[1] = ox_attr_int(n, "noop_with_empty_axes", 0);
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++) {
        if (strcmp(n->op_type, tbl[i].name) == 0) {
            n->ip[2] = tbl[i].kind;
            return 0;
        }
    }
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: not a reduction", n->op_type);
}

/* mask bit d set = axis d is reduced. */
static int rd_mask(const struct ox_node *n, struct ox_tensor *const *in, unsigned *mask, struct inferd_err *err)
{
    int64_t axes[INFERD_MAX_RANK * 2];
    int na = 0, rank = in[0]->rank;
    const struct ox_attr *a = ox_attr_find(n, "axes");
    if (n->n_in > 1 && in[1]) {
        na = ox_const_ints(in[1], axes, INFERD_MAX_RANK * 2, n, "axes", err);
        if (na < 0)
            return na;
    } else if (a && a->type == OX_ATTR_INTS) {
        if (a->n_ints > INFERD_MAX_RANK * 2)
            return inferd_err_set(err, INFERD_EINVAL, "%s: too many axes", n->op_type);
        na = (int)a->n_ints;
        if (na > 0) /* an empty INTS attribute has no array (memcpy from NULL is UB) */
            memcpy(axes, a->ints, (size_t)na * sizeof(int64_t));
    }
    *mask = 0;
    if (na == 0) {
        if (!n->ip[1])
            *mask = (1u << rank) - 1;
        return 0;
    }
    for (int i = 0; i < na; i++) {
        int64_t ax;
        int rc = ox_axis(axes[i], rank, &ax, n, "axes", err);
        if (rc < 0)
            return rc;
        *mask |= 1u << ax;
    }
    return 0;
}

static int int_acc(int kind, enum inferd_dtype dt)
{
    return ox_dtype_is_int(dt) && (kind == R_SUM || kind == R_PROD || kind == R_MAX || kind == R_MIN ||
                                   kind == R_L1 || kind == R_SUMSQ);
}

static int rd_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    enum inferd_dtype dt = in[0]->dt;
    if (dt == INFERD_BOOL || !(ox_dtype_is_int(dt) || dt == INFERD_FP32 || dt == INFERD_FP64 ||
                               dt == INFERD_FP16 || dt == INFERD_BF16))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(dt));
    unsigned mask;
    int rc = rd_mask(n, in, &mask, err);
    if (rc < 0)
        return rc;
    int64_t dims[INFERD_MAX_RANK];
    int r = 0;
    for (int d = 0; d < in[0]->rank; d++) {
        if (mask & (1u << d)) {
            if (n->ip[0])
                dims[r++] = 1;
        } else {
            dims[r++] = in[0]->dims[d];
        }
    }
    return ox_set_shape(out[0], dt, r, dims, err);
}

/* Two 8-byte accumulators per output element (LogSumExp keeps its running max in the second). */
static size_t rd_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)n;
    (void)in;
    return (size_t)out[0]->numel * 2 * sizeof(double);
}

static void acc_init(int kind, int is_int, double *acc, int64_t *iacc, int64_t on)
{
    for (int64_t i = 0; i < on; i++) {
        if (is_int) {
            iacc[i] = kind == R_PROD ? 1 : kind == R_MAX ? INT64_MIN : kind == R_MIN ? INT64_MAX : 0;
            continue;
        }
        acc[i] = kind == R_PROD ? 1.0 : kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : 0.0;
        acc[on + i] = -INFINITY;
    }
}

static inline void acc_f(int kind, double *a, double v)
{
    switch (kind) {
    case R_MAX: if (v > *a || isnan(v)) *a = v; break;
    case R_MIN: if (v < *a || isnan(v)) *a = v; break;
    case R_PROD: *a *= v; break;
    case R_L1: *a += fabs(v); break;
    case R_L2: case R_SUMSQ: *a += v * v; break;
    default: *a += v; break; /* Mean, Sum, LogSum; LogSumExp's second pass adds exp(x - max) */
    }
}

static inline void acc_i(int kind, int64_t *a, int64_t v)
{
    uint64_t u = (uint64_t)*a, w = (uint64_t)v;
    switch (kind) {
    case R_MAX: if (v > *a) *a = v; break;
    case R_MIN: if (v < *a) *a = v; break;
    case R_PROD: *a = (int64_t)(u * w); break;
    case R_L1: *a = (int64_t)(u + (uint64_t)(v < 0 ? 0 - w : w)); break;
    case R_SUMSQ: *a = (int64_t)(u + w * w); break;
    default: *a = (int64_t)(u + w); break;
    }
}

/* One pass over x: every element folded into its output's accumulator. pass 0 of
 * LogSumExp finds the max (in acc[on..]), pass 1 sums exp(x - max). */
static void rd_pass(const struct ox_tensor *x, unsigned mask, int kind, int is_int, int pass, double *acc,
                    int64_t *iacc, int64_t on)
{
    int rank = x->rank;
    const float *xf = x->dt == INFERD_FP32 ? x->data : NULL;
    int64_t cnt = on ? x->numel / on : 0;
    int k = rank;
    while (k > 0 && (mask & (1u << (k - 1))))
        k--;
    int trailing = mask == (((1u << rank) - 1) & ~((1u << k) - 1));
    int64_t ostr[INFERD_MAX_RANK], s = 1, coord[INFERD_MAX_RANK] = {0}, oi = 0;
    for (int d = rank - 1; d >= 0; d--) {
        ostr[d] = (mask & (1u << d)) ? 0 : s;
        if (!(mask & (1u << d)))
            s *= x->dims[d];
    }
    for (int64_t i = 0; i < x->numel; i++) {
        if (trailing)
            oi = i / (cnt ? cnt : 1);
        if (is_int) {
            acc_i(kind, &iacc[oi], ox_get_i64(x, i));
        } else {
            double v = xf ? xf[i] : ox_get_f64(x, i);
            if (kind == R_LSE && pass == 0) {
                if (v > acc[on + oi])
                    acc[on + oi] = v;
            } else if (kind == R_LSE) {
                double m = acc[on + oi];
                acc[oi] += isinf(m) ? exp(v) : exp(v - m);
            } else {
                acc_f(kind, &acc[oi], v);
            }
        }
        if (trailing)
            continue;
        for (int d = rank - 1; d >= 0; d--) {
            coord[d]++;
            oi += ostr[d];
            if (coord[d] < x->dims[d])
                break;
            oi -= ostr[d] * coord[d];
            coord[d] = 0;
        }
    }
}

static int rd_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    int kind = (int)n->ip[2], is_int = int_acc(kind, x->dt);
    unsigned mask;
    int rc = rd_mask(n, in, &mask, err);
    if (rc < 0)
        return rc;
    int64_t on = y->numel;
    if (on == 0)
        return 0;
    double *acc = c->scratch;
    int64_t *iacc = c->scratch;
    int64_t cnt = x->numel / on;
    acc_init(kind, is_int, acc, iacc, on);
    if (kind == R_LSE)
        rd_pass(x, mask, kind, is_int, 0, acc, iacc, on);
    rd_pass(x, mask, kind, is_int, 1, acc, iacc, on);
    for (int64_t i = 0; i < on; i++) {
        if (is_int) {
            ox_put_i64(y, i, iacc[i]);
            continue;
        }
        double v = acc[i];
        switch (kind) {
        case R_MEAN: v = cnt ? v / (double)cnt : NAN; break;
        case R_L2: v = sqrt(v); break;
        case R_LOGSUM: v = log(v); break;
        case R_LSE: v = acc[on + i] + log(v); break;
        default: break;
        }
        if (kind == R_LSE && cnt == 0)
            v = -INFINITY;
        ox_put_f64(y, i, v);
    }
    return 0;
}

#define RD_OP(sym, op_type)                                                                   \
    const struct ox_op sym = {                                                                \
        .name = op_type, .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,                \
        .prepare = rd_prepare, .infer = rd_infer, .exec = rd_exec, .scratch = rd_scratch,     \
    }
RD_OP(ox_op_reduce_mean, "ReduceMean");
RD_OP(ox_op_reduce_sum, "ReduceSum");
RD_OP(ox_op_reduce_max, "ReduceMax");
RD_OP(ox_op_reduce_min, "ReduceMin");
RD_OP(ox_op_reduce_prod, "ReduceProd");
RD_OP(ox_op_reduce_l1, "ReduceL1");
RD_OP(ox_op_reduce_l2, "ReduceL2");
RD_OP(ox_op_reduce_log_sum, "ReduceLogSum");
RD_OP(ox_op_reduce_log_sum_exp, "ReduceLogSumExp");
RD_OP(ox_op_reduce_sum_square, "ReduceSumSquare");
