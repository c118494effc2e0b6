/* binary.c — Add, Sub, Mul, Div, Pow with numpy-style (multidirectional) broadcasting.
 *
 * Shapes: out = broadcast(a, b); each input is walked with stride 0 along the dims it
 * broadcasts. The innermost dim runs in a typed kernel that knows whether each side is a
 * vector (stride 1) or a scalar (stride 0) so the common cases vectorise. Integer division
 * by zero yields 0 (ONNX leaves it undefined; we must not trap). Pow: float/double bases
 * with any numeric exponent (exponent 2 and 0.5 fast paths), integer bases through double. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW };

typedef void (*bin_kernel)(const void *a, int64_t sa, const void *b, int64_t sb, void *o, int64_t n);

#define OP_ADD(x, y) ((x) + (y))
#define OP_SUB(x, y) ((x) - (y))
#define OP_MUL(x, y) ((x) * (y))
#define OP_DIVF(x, y) ((x) / (y))

#define BIN_KERNEL(name, T, OP)                                                              \
    static void name(const void *a_, int64_t sa, const void *b_, int64_t sb, void *o_, int64_t n) \
    {                                                                                        \
        const T *a = a_, *b = b_;                                                            \
        T *o = o_;                                                                           \
        if (sa && sb) {                                                                      \
            for (int64_t i = 0; i < n; i++)                                                  \
                o[i] = (T)OP(a[i], b[i]);                                                    \
        } else if (sa) {                                                                     \
            T y = b[0];                                                                      \
            for (int64_t i = 0; i < n; i++)                                                  \
                o[i] = (T)OP(a[i], y);                                                       \
        } else if (sb) {                                                                     \
            T x = a[0];                                                                      \
            for (int64_t i = 0; i < n; i++)                                                  \
                o[i] = (T)OP(x, b[i]);                                                       \
        } else {                                                                             \
            T v = (T)OP(a[0], b[0]);                                                         \
            for (int64_t i = 0; i < n; i++)                                                  \
                o[i] = v;                                                                    \
        }                                                                                    \
    }

/* integer division: 0 for y == 0 and for the one overflowing signed case */
#define DIV_INT(T, MINV)                                                                     \
    static inline T div_##T(T x, T y)                                                        \
    {                                                                                        \
        if (y == 0)                                                                          \
            return 0;                                                                        \
        if ((MINV) != 0 && x == (T)(MINV) && y == (T)-1)                                     \
            return x;                                                                        \
        return x / y;                                                                        \
    }
DIV_INT(int8_t, INT8_MIN)
DIV_INT(int16_t, INT16_MIN)
DIV_INT(int32_t, INT32_MIN)
DIV_INT(int64_t, INT64_MIN)
DIV_INT(uint8_t, 0)
DIV_INT(uint16_t, 0)
DIV_INT(uint32_t, 0)
DIV_INT(uint64_t, 0)

/* Unsigned arithmetic for signed add/sub/mul so overflow wraps instead of being UB. */
#define WRAP_OPS(T, U)                                                                       \
    static inline T add_##T(T x, T y) { return (T)((U)x + (U)y); }                            \
    static inline T sub_##T(T x, T y) { return (T)((U)x - (U)y); }                            \
    static inline T mul_##T(T x, T y) { return (T)((U)x * (U)y); }
WRAP_OPS(int8_t, uint32_t)
WRAP_OPS(int16_t, uint32_t)
WRAP_OPS(int32_t, uint32_t)
WRAP_OPS(int64_t, uint64_t)
WRAP_OPS(uint8_t, uint32_t)
WRAP_OPS(uint16_t, uint32_t)
WRAP_OPS(uint32_t, uint32_t)
WRAP_OPS(uint64_t, uint64_t)

/* FP32 kernels four lanes at a time with GCC/clang vector extensions (onnx/v4f.h: SSE2 on
 * x86-64 at the default -O2, where gcc 12 does not auto-vectorise loops of unknown length). */
#define BIN_KERNEL_F32(name, OP)                                                             \
    static void name(const void *a_, int64_t sa, const void *b_, int64_t sb, void *o_, int64_t n) \
    {                                                                                        \
        const float *a = a_, *b = b_;                                                        \
        float *o = o_;                                                                       \
        int64_t i = 0;                                                                       \
        ox_v4f x, y;                                                                         \
        if (sa && sb) {                                                                      \
            for (; i + 4 <= n; i += 4) {                                                     \
                x = ox_v4f_load(a + i);                                                      \
                y = ox_v4f_load(b + i);                                                      \
                x = OP(x, y);                                                                \
                ox_v4f_store(o + i, x);                                                      \
            }                                                                                \
            for (; i < n; i++)                                                               \
                o[i] = OP(a[i], b[i]);                                                       \
        } else if (sa) {                                                                     \
            float ys = b[0];                                                                 \
            y = ox_v4f_splat(ys);                                                            \
            for (; i + 4 <= n; i += 4) {                                                     \
                x = ox_v4f_load(a + i);                                                      \
                x = OP(x, y);                                                                \
                ox_v4f_store(o + i, x);                                                      \
            }                                                                                \
            for (; i < n; i++)                                                               \
                o[i] = OP(a[i], ys);                                                         \
        } else if (sb) {                                                                     \
            float xs = a[0];                                                                 \
            x = ox_v4f_splat(xs);                                                            \
            for (; i + 4 <= n; i += 4) {                                                     \
                y = ox_v4f_load(b + i);                                                      \
                y = OP(x, y);                                                                \
                ox_v4f_store(o + i, y);                                                      \
            }                                                                                \
            for (; i < n; i++)                                                               \
                o[i] = OP(xs, b[i]);                                                         \
        } else {                                                                             \
            float v = OP(a[0], b[0]);                                                        \
            for (; i < n; i++)                                                               \
                o[i] = v;                                                                    \
        }                                                                                    \
    }

BIN_KERNEL_F32(add_f32, OP_ADD)
BIN_KERNEL_F32(sub_f32, OP_SUB)
BIN_KERNEL_F32(mul_f32, OP_MUL)
BIN_KERNEL_F32(div_f32, OP_DIVF)
BIN_KERNEL(add_f64, double, OP_ADD)
BIN_KERNEL(sub_f64, double, OP_SUB)
BIN_KERNEL(mul_f64, double, OP_MUL)
BIN_KERNEL(div_f64, double, OP_DIVF)

#define INT_KERNELS(T)                                                                       \
    BIN_KERNEL(kadd_##T, T, add_##T)                                                         \
    BIN_KERNEL(ksub_##T, T, sub_##T)                                                         \
    BIN_KERNEL(kmul_##T, T, mul_##T)                                                         \
    BIN_KERNEL(kdiv_##T, T, div_##T)
INT_KERNELS(int8_t)
INT_KERNELS(int16_t)
INT_KERNELS(int32_t)
INT_KERNELS(int64_t)
INT_KERNELS(uint8_t)
INT_KERNELS(uint16_t)
INT_KERNELS(uint32_t)
INT_KERNELS(uint64_t)

static void pow_f32(const void *a_, int64_t sa, const void *b_, int64_t sb, void *o_, int64_t n)
{
    const float *a = a_, *b = b_;
    float *o = o_;
    if (sa && !sb && b[0] == 2.0f) {
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i] * a[i];
    } else if (sa && !sb && b[0] == 0.5f) {
        for (int64_t i = 0; i < n; i++)
            o[i] = sqrtf(a[i]);
    } else {
        for (int64_t i = 0; i < n; i++)
            o[i] = powf(a[i * sa], b[i * sb]);
    }
}

static bin_kernel pick_kernel(int op, enum inferd_dtype dt)
{
#define CASE_INT(DT, T)                                                                      \
    case DT: {                                                                               \
        static const bin_kernel tbl[4] = {kadd_##T, ksub_##T, kmul_##T, kdiv_##T};           \
        return tbl[op];                                                                      \
    }
    switch (dt) {
    case INFERD_FP32: {
        static const bin_kernel tbl[5] = {add_f32, sub_f32, mul_f32, div_f32, pow_f32};
        return tbl[op];
    }
    case INFERD_FP64: {
        static const bin_kernel tbl[4] = {add_f64, sub_f64, mul_f64, div_f64};
        return op < 4 ? tbl[op] : NULL;
    }
    default: break;
    }
    if (op == BIN_POW)
        return NULL;
    switch (dt) {
    CASE_INT(INFERD_INT8, int8_t)
    CASE_INT(INFERD_INT16, int16_t)
    CASE_INT(INFERD_INT32, int32_t)
    CASE_INT(INFERD_INT64, int64_t)
    CASE_INT(INFERD_UINT8, uint8_t)
    CASE_INT(INFERD_UINT16, uint16_t)
    CASE_INT(INFERD_UINT32, uint32_t)
    CASE_INT(INFERD_UINT64, uint64_t)
    default: return NULL;
    }
#undef CASE_INT
}

int ox_broadcast_shape(const struct ox_tensor *a, const struct ox_tensor *b, int *rank, int64_t *dims,
                       const struct ox_node *n, struct inferd_err *err)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[96], sb[96];
            return inferd_err_set(err, INFERD_ESHAPE, "%s: shapes %s and %s do not broadcast", n->op_type,
                                  inferd_shape_str(a->rank, a->dims, sa, sizeof sa),
                                  inferd_shape_str(b->rank, b->dims, sb, sizeof sb));
        }
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

static int bin_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int op = (int)n->ip[0];
    if (op != BIN_POW && in[0]->dt != in[1]->dt)
        return inferd_err_set(err, INFERD_ETYPE, "%s: inputs have different dtypes (%s, %s)", n->op_type,
                              inferd_dtype_v2_name(in[0]->dt), inferd_dtype_v2_name(in[1]->dt));
    int numeric = in[0]->dt == INFERD_FP32 || in[0]->dt == INFERD_FP64 || ox_dtype_is_int(in[0]->dt);
    if (!numeric || in[0]->dt == INFERD_BOOL || (op == BIN_POW && (in[1]->dt == INFERD_BOOL || in[1]->dt == INFERD_FP16
                                                                    || in[1]->dt == INFERD_BF16)))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(in[0]->dt));
    int rank;
    int64_t dims[INFERD_MAX_RANK];
    int rc = ox_broadcast_shape(in[0], in[1], &rank, dims, n, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], in[0]->dt, rank, dims, err);
}

struct bin_job {
    bin_kernel k;
    const char *a, *b;
    char *o;
    size_t es;
    int rank;             /* rank of out */
    const int64_t *dims;  /* out dims */
    int64_t sa[INFERD_MAX_RANK], sb[INFERD_MAX_RANK]; /* element strides, 0 = broadcast */
    int64_t inner, ia, ib;
    int flat;
    int64_t cdims[INFERD_MAX_RANK]; /* out dims after merging (see bin_exec) */
    const struct ox_tensor *ta, *tb;
    struct ox_tensor *to;
};

static void bin_rows(void *arg, int64_t lo, int64_t hi)
{
    struct bin_job *j = arg;
    if (j->flat) {
        j->k(j->a + (size_t)lo * j->es * (size_t)j->ia, j->ia, j->b + (size_t)lo * j->es * (size_t)j->ib, j->ib,
             j->o + (size_t)lo * j->es, hi - lo);
        return;
    }
    int64_t rem = lo, oa = 0, ob = 0, coord[INFERD_MAX_RANK] = {0};
    for (int d = j->rank - 2; d >= 0; d--) { /* lo's coordinates, then an odometer */
        coord[d] = rem % j->dims[d];
        rem /= j->dims[d];
        oa += coord[d] * j->sa[d];
        ob += coord[d] * j->sb[d];
    }
    for (int64_t r = lo; r < hi; r++) {
        j->k(j->a + (size_t)oa * j->es, j->ia, j->b + (size_t)ob * j->es, j->ib, j->o + (size_t)(r * j->inner) * j->es,
             j->inner);
        for (int d = j->rank - 2; d >= 0; d--) {
            oa += j->sa[d];
            ob += j->sb[d];
            if (++coord[d] < j->dims[d])
                break;
            oa -= j->sa[d] * coord[d];
            ob -= j->sb[d] * coord[d];
            coord[d] = 0;
        }
    }
}

/* Generic Pow for mixed / integer dtypes through double. */
static void pow_generic(struct bin_job *j, int64_t rows)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t rem = r, oa = 0, ob = 0;
        for (int d = j->rank - 2; d >= 0; d--) {
            int64_t c = rem % j->dims[d];
            rem /= j->dims[d];
            oa += c * j->sa[d];
            ob += c * j->sb[d];
        }
        for (int64_t i = 0; i < j->inner; i++) {
            double x = ox_get_f64(j->ta, oa + i * j->ia), y = ox_get_f64(j->tb, ob + i * j->ib);
            ox_put_f64(j->to, r * j->inner + i, pow(x, y));
        }
    }
}

static int bin_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    const struct ox_tensor *a = in[0], *b = in[1];
    struct ox_tensor *o = out[0];
    if (o->numel == 0)
        return 0;
    int op = (int)n->ip[0];
    struct bin_job j = {0};
    j.k = op == BIN_POW && a->dt == b->dt ? pick_kernel(op, a->dt) : op == BIN_POW ? NULL : pick_kernel(op, a->dt);
    j.a = a->data;
    j.b = b->data;
    j.o = o->data;
    j.es = inferd_dtype_size(o->dt);
    j.ta = a;
    j.tb = b;
    j.to = o;
    j.rank = o->rank;
    j.dims = o->dims;
    if (j.k && (a->numel == o->numel || a->numel == 1) && (b->numel == o->numel || b->numel == 1)) {
        j.flat = 1;
        j.ia = a->numel == o->numel;
        j.ib = b->numel == o->numel;
        ox_parallel(c, o->numel, 1 << 15, bin_rows, &j);
        return 0;
    }
    /* strides of each input in out's coordinates */
    int64_t s_a = 1, s_b = 1;
    for (int d = o->rank - 1; d >= 0; d--) {
        int da = d - (o->rank - a->rank), db = d - (o->rank - b->rank);
        int64_t la = da >= 0 ? a->dims[da] : 1, lb = db >= 0 ? b->dims[db] : 1;
        j.sa[d] = la == 1 ? 0 : s_a;
        j.sb[d] = lb == 1 ? 0 : s_b;
        s_a *= la;
        s_b *= lb;
    }
    /* merge adjacent dims that both inputs walk alike (both contiguous across them, or both
     * broadcast over them): (1,C,H,W) * (1,C,1,1) becomes rows of H*W, not C*H rows of W */
    int r = 0;
    for (int d = 0; d < o->rank; d++) {
        /* stride 0 on both sides passes the test too (0 == 0 * dim): a broadcast run */
        if (r > 0 && j.sa[r - 1] == j.sa[d] * o->dims[d] && j.sb[r - 1] == j.sb[d] * o->dims[d]) {
            j.cdims[r - 1] *= o->dims[d];
            j.sa[r - 1] = j.sa[d];
            j.sb[r - 1] = j.sb[d];
            continue;
        }
        j.cdims[r] = o->dims[d];
        j.sa[r] = j.sa[d];
        j.sb[r++] = j.sb[d];
    }
    j.rank = r;
    j.dims = j.cdims;
    j.inner = r ? j.cdims[r - 1] : 1;
    j.ia = r ? j.sa[r - 1] : 0;
    j.ib = r ? j.sb[r - 1] : 0;
    int64_t rows = o->numel / j.inner;
    if (!j.k) {
        pow_generic(&j, rows);
        return 0;
    }
    ox_parallel(c, rows, (1 << 15) / (j.inner > 0 ? j.inner : 1) + 1, bin_rows, &j);
    return 0;
}

/* Before opset 7 these ops broadcast only with broadcast=1 and an `axis` (not numpy rules). */
static int prep_bin(struct ox_node *n, int op, struct inferd_err *e)
{
    n->ip[0] = op;
    if (n->opset < 7 && ox_attr_int(n, "broadcast", 0))
        return inferd_err_set(e, INFERD_EUNSUPPORTED, "%s: legacy (opset %d) broadcast attribute is not supported",
                              n->op_type, n->opset);
    return 0;
}
static int prep_add(struct ox_node *n, struct inferd_err *e) { return prep_bin(n, BIN_ADD, e); }
static int prep_sub(struct ox_node *n, struct inferd_err *e) { return prep_bin(n, BIN_SUB, e); }
static int prep_mul(struct ox_node *n, struct inferd_err *e) { return prep_bin(n, BIN_MUL, e); }
static int prep_div(struct ox_node *n, struct inferd_err *e) { return prep_bin(n, BIN_DIV, e); }
static int prep_pow(struct ox_node *n, struct inferd_err *e) { return prep_bin(n, BIN_POW, e); }

const struct ox_op ox_op_add = {
    .name = "Add", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = prep_add, .infer = bin_infer, .exec = bin_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_sub = {
    .name = "Sub", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = prep_sub, .infer = bin_infer, .exec = bin_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_mul = {
    .name = "Mul", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = prep_mul, .infer = bin_infer, .exec = bin_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_div = {
    .name = "Div", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = prep_div, .infer = bin_infer, .exec = bin_exec, .flags = OX_OP_ELEMWISE,
};
const struct ox_op ox_op_pow = {
    .name = "Pow", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = prep_pow, .infer = bin_infer, .exec = bin_exec, .flags = OX_OP_ELEMWISE,
};
