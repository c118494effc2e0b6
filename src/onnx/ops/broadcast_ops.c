/* broadcast_ops.c — elementwise ops with numpy-style broadcasting beyond binary.c's
 * arithmetic: comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual -> BOOL),
 * logic (And, Or, Xor on BOOL), Mod (fmod 0: sign of the divisor, ints only; fmod 1: sign of
 * the dividend), BitShift, PRelu (slope broadcast to X), Where (cond ? X : Y), the variadic
 * Min/Max/Sum/Mean, and Expand (input broadcast against a shape known at plan time).
 *
 *   out dims = broadcast(in dims...); every input walked with stride 0 on broadcast dims
 *
 * These carry masks and shape arithmetic in exported transformers, not the hot path, so
 * they run one element at a time: floats in double, ints in int64 (unsigned ones as
 * uint64 where it matters: Mod, BitShift, Min/Max), integer division by zero gives 0. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum {
    BC_EQ, BC_LT, BC_GT, BC_LE, BC_GE, BC_AND, BC_OR, BC_XOR, BC_MOD, BC_SHIFT, BC_PRELU,
    BC_MIN, BC_MAX, BC_SUM, BC_MEAN, BC_WHERE, BC_EXPAND,
};

/* Walks out's elements in order, tracking the offset of the matching element of t. */
struct bc_it {
    int rank;
    int64_t dims[INFERD_MAX_RANK], str[INFERD_MAX_RANK], coord[INFERD_MAX_RANK];
    int64_t off;
};

static void bc_init(struct bc_it *it, const struct ox_tensor *t, const struct ox_tensor *out)
{
    memset(it, 0, sizeof *it);
    it->rank = out->rank;
    int64_t s = 1;
    for (int d = out->rank - 1; d >= 0; d--) {
        int td = d - (out->rank - t->rank);
        int64_t len = td >= 0 ? t->dims[td] : 1;
        it->dims[d] = out->dims[d];
        it->str[d] = len == 1 ? 0 : s;
        s *= len;
    }
}

static inline void bc_next(struct bc_it *it)
{
    for (int d = it->rank - 1; d >= 0; d--) {
        it->coord[d]++;
        it->off += it->str[d];
        if (it->coord[d] < it->dims[d])
            return;
        it->off -= it->str[d] * it->coord[d];
        it->coord[d] = 0;
    }
}

static int is_float(enum inferd_dtype dt)
{
    return dt == INFERD_FP32 || dt == INFERD_FP64 || dt == INFERD_FP16 || dt == INFERD_BF16;
}

static int is_unsigned(enum inferd_dtype dt)
{
    return dt == INFERD_UINT8 || dt == INFERD_UINT16 || dt == INFERD_UINT32 || dt == INFERD_UINT64 ||
           dt == INFERD_BOOL;
}

static int bc_prepare(struct ox_node *n, struct inferd_err *err)
{
    static const struct { const char *name; int op; } tbl[] = {
        {"Equal", BC_EQ}, {"Less", BC_LT}, {"Greater", BC_GT}, {"LessOrEqual", BC_LE},
        {"GreaterOrEqual", BC_GE}, {"And", BC_AND}, {"Or", BC_OR}, {"Xor", BC_XOR}, {"Mod", BC_MOD},
        {"BitShift", BC_SHIFT}, {"PRelu", BC_PRELU}, {"Min", BC_MIN}, {"Max", BC_MAX}, {"Sum", BC_SUM},
        {"Mean", BC_MEAN}, {"Where", BC_WHERE}, {"Expand", BC_EXPAND},
    };
    for (size_t i = 0; i < sizeof tbl / sizeof tbl[0]; i++) {
        if (strcmp(n->op_type, tbl[i].name) != 0)
            continue;
        n->ip[0] = tbl[i].op;
        n->ip[1] = ox_attr_int(n, "fmod", 0);
        if (tbl[i].op == BC_SHIFT) {
            const struct ox_attr *a = ox_attr_find(n, "direction");
            if (!a || !a->s || (strcmp(a->s, "LEFT") != 0 && strcmp(a->s, "RIGHT") != 0))
                return inferd_err_set(err, INFERD_EINVAL, "BitShift: attribute 'direction' must be LEFT or RIGHT");
            n->ip[1] = a->s[0] == 'L';
        }
        if (tbl[i].op < BC_MIN && tbl[i].op != BC_PRELU && n->opset < 7 && ox_attr_int(n, "broadcast", 0))
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: legacy (opset %d) broadcast attribute is not supported",
                                  n->op_type, n->opset);
        return 0;
    }
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: not a broadcasting op", n->op_type);
}

static int bc_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    int op = (int)n->ip[0];
    struct ox_tensor acc = *in[0];
    int first = op == BC_WHERE ? 1 : 0; /* Where's cond has its own dtype */
    enum inferd_dtype dt = in[first]->dt;
    if (op == BC_EXPAND) {
        struct ox_tensor shp = {0};
        int r = ox_const_ints(in[1], shp.dims, INFERD_MAX_RANK, n, "shape", err);
        if (r < 0)
            return r;
        shp.rank = r;
        for (int d = 0; d < r; d++)
            if (shp.dims[d] < 0)
                return inferd_err_set(err, INFERD_ESHAPE, "Expand: shape has negative dim %lld", (long long)shp.dims[d]);
        int rc = ox_broadcast_shape(in[0], &shp, &acc.rank, acc.dims, n, err);
        if (rc < 0)
            return rc;
        size_t es = inferd_dtype_size(dt);
        if (dt == INFERD_BYTES || (es != 1 && es != 2 && es != 4 && es != 8))
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "Expand: dtype %s is not supported", inferd_dtype_v2_name(dt));
        return ox_set_shape(out[0], dt, acc.rank, acc.dims, err);
    }
    for (int k = 0; k < n->n_in; k++) {
        if (!in[k])
            return inferd_err_set(err, INFERD_EINVAL, "%s: input %d is missing", n->op_type, k);
        if (k >= first && in[k]->dt != dt && op != BC_PRELU)
            return inferd_err_set(err, INFERD_ETYPE, "%s: inputs have different dtypes (%s, %s)", n->op_type,
                                  inferd_dtype_v2_name(dt), inferd_dtype_v2_name(in[k]->dt));
        if (k > 0) {
            struct ox_tensor prev = acc; /* the shape is read while dims are written */
            int rc = ox_broadcast_shape(&prev, in[k], &acc.rank, acc.dims, n, err);
            if (rc < 0)
                return rc;
        }
    }
    int numeric = is_float(dt) || (ox_dtype_is_int(dt) && dt != INFERD_BOOL);
    switch (op) {
    case BC_AND: case BC_OR: case BC_XOR:
        if (dt != INFERD_BOOL)
            return inferd_err_set(err, INFERD_ETYPE, "%s: inputs must be bool", n->op_type);
        break;
    case BC_WHERE:
        if (in[0]->dt != INFERD_BOOL)
            return inferd_err_set(err, INFERD_ETYPE, "Where: condition must be bool");
        if (dt == INFERD_BYTES || (inferd_dtype_size(dt) != 1 && inferd_dtype_size(dt) != 2 &&
                                   inferd_dtype_size(dt) != 4 && inferd_dtype_size(dt) != 8))
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "Where: dtype %s is not supported", inferd_dtype_v2_name(dt));
        break;
    case BC_EQ:
        if (!numeric && dt != INFERD_BOOL)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "Equal: dtype %s is not supported", inferd_dtype_v2_name(dt));
        break;
    case BC_MOD:
        if (!numeric || (is_float(dt) && !n->ip[1]))
            return inferd_err_set(err, INFERD_EINVAL, "Mod: dtype %s needs fmod=1 (or an integer dtype)",
                                  inferd_dtype_v2_name(dt));
        break;
    case BC_SHIFT:
        if (!is_unsigned(dt) || dt == INFERD_BOOL)
            return inferd_err_set(err, INFERD_ETYPE, "BitShift: inputs must be unsigned integers");
        break;
    case BC_PRELU: {
        if (!is_float(dt) && !(ox_dtype_is_int(dt) && dt != INFERD_BOOL))
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "PRelu: dtype %s is not supported", inferd_dtype_v2_name(dt));
        if (acc.rank != in[0]->rank || memcmp(acc.dims, in[0]->dims, (size_t)acc.rank * sizeof(int64_t)))
            return inferd_err_set(err, INFERD_ESHAPE, "PRelu: slope does not broadcast to X's shape");
        break;
    }
    default:
        if (!numeric)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                                  inferd_dtype_v2_name(dt));
        break;
    }
    enum inferd_dtype odt = op <= BC_XOR ? INFERD_BOOL : dt;
    return ox_set_shape(out[0], odt, acc.rank, acc.dims, err);
}

static int cmp_f(int op, double a, double b)
{
    switch (op) {
    case BC_EQ: return a == b;
    case BC_LT: return a < b;
    case BC_GT: return a > b;
    case BC_LE: return a <= b;
    default: return a >= b;
    }
}

static int cmp_i(int op, int64_t a, int64_t b, int uns)
{
    if (uns) {
        uint64_t x = (uint64_t)a, y = (uint64_t)b;
        switch (op) {
        case BC_EQ: return x == y;
        case BC_LT: return x < y;
        case BC_GT: return x > y;
        case BC_LE: return x <= y;
        default: return x >= y;
        }
    }
    switch (op) {
    case BC_EQ: return a == b;
    case BC_LT: return a < b;
    case BC_GT: return a > b;
    case BC_LE: return a <= b;
    default: return a >= b;
    }
}

static int64_t mod_i(int64_t a, int64_t b, int fmod_, int uns)
{
    if (b == 0)
        return 0;
    if (uns)
        return (int64_t)((uint64_t)a % (uint64_t)b);
    if (b == -1)
        return 0; /* INT64_MIN % -1 traps */
    int64_t r = a % b;
    if (!fmod_ && r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

/* Min/Max/Sum/Mean: combine element `o` of out with element `i` of t (pairwise fold). */
static void fold_elem(int op, struct ox_tensor *o, int64_t oi, const struct ox_tensor *t, int64_t ti)
{
    if (is_float(o->dt)) {
        double a = ox_get_f64(o, oi), b = ox_get_f64(t, ti), r;
        if (op == BC_MIN)
            r = isnan(a) || isnan(b) ? NAN : a < b ? a : b;
        else if (op == BC_MAX)
            r = isnan(a) || isnan(b) ? NAN : a > b ? a : b;
        else
            r = a + b;
        ox_put_f64(o, oi, r);
        return;
    }
    int64_t a = ox_get_i64(o, oi), b = ox_get_i64(t, ti);
    int uns = is_unsigned(o->dt);
    if (op == BC_MIN)
        ox_put_i64(o, oi, cmp_i(BC_LT, b, a, uns) ? b : a);
    else if (op == BC_MAX)
        ox_put_i64(o, oi, cmp_i(BC_GT, b, a, uns) ? b : a);
    else
        ox_put_i64(o, oi, (int64_t)((uint64_t)a + (uint64_t)b));
}

/* Where (cond non-NULL: y = cond ? x : z) and Expand (y = x) row by row along y's last dim,
 * where each input's stride is 0 or 1: these carry attention masks over (B, H, S, S) scores
 * in exported transformers, so they move whole elements of the dtype's width, no memcpy per
 * element. Rank 0 is one row of one element. */
#define SELECT_ROWS(T)                                                                       \
    for (int64_t row = 0; row < rows; row++) {                                               \
        T *yo = (T *)y->data + row * inner;                                                  \
        const T *xp = (const T *)x->data + ix.off;                                           \
        if (!cond) {                                                                         \
            for (int64_t j = 0; j < inner; j++)                                              \
                yo[j] = xp[j * sx];                                                          \
        } else {                                                                             \
            const uint8_t *cp = (const uint8_t *)cond->data + ic.off;                        \
            const T *zp = (const T *)z->data + iz.off;                                       \
            for (int64_t j = 0; j < inner; j++)                                              \
                yo[j] = cp[j * sc] ? xp[j * sx] : zp[j * sz];                                \
            bc_next(&ic);                                                                    \
            bc_next(&iz);                                                                    \
        }                                                                                    \
        bc_next(&ix);                                                                        \
    }

static void select_rows(struct ox_tensor *y, const struct ox_tensor *cond, const struct ox_tensor *x,
                        const struct ox_tensor *z)
{
    struct bc_it ic, ix, iz;
    int r = y->rank;
    int64_t inner = r ? y->dims[r - 1] : 1, rows = inner ? y->numel / inner : 0;
    bc_init(&ix, x, y);
    bc_init(&ic, cond ? cond : x, y);
    bc_init(&iz, z ? z : x, y);
    int64_t sx = r ? ix.str[r - 1] : 0, sc = r ? ic.str[r - 1] : 0, sz = r ? iz.str[r - 1] : 0;
    if (r) { /* the iterators walk rows; the last dim runs inside */
        ix.rank = ic.rank = iz.rank = r - 1;
    }
    switch (inferd_dtype_size(y->dt)) {
    case 1: SELECT_ROWS(uint8_t) break;
    case 2: SELECT_ROWS(uint16_t) break;
    case 4: SELECT_ROWS(uint32_t) break;
    default: SELECT_ROWS(uint64_t) break;
    }
}
#undef SELECT_ROWS

static int bc_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    int op = (int)n->ip[0];
    struct ox_tensor *y = out[0];
    struct bc_it ia, ib;
    if (y->numel == 0)
        return 0;
    if (op == BC_EXPAND || op == BC_WHERE) {
        select_rows(y, op == BC_WHERE ? in[0] : NULL, op == BC_WHERE ? in[1] : in[0], op == BC_WHERE ? in[2] : NULL);
        return 0;
    }
    if (op >= BC_MIN) { /* variadic: out = in[0] broadcast, then fold each further input */
        bc_init(&ia, in[0], y);
        size_t es = inferd_dtype_size(y->dt);
        for (int64_t i = 0; i < y->numel; i++, bc_next(&ia))
            memcpy((char *)y->data + (size_t)i * es, (const char *)in[0]->data + (size_t)ia.off * es, es);
        for (int k = 1; k < n->n_in; k++) {
            bc_init(&ib, in[k], y);
            for (int64_t i = 0; i < y->numel; i++, bc_next(&ib))
                fold_elem(op, y, i, in[k], ib.off);
        }
        if (op == BC_MEAN)
            for (int64_t i = 0; i < y->numel; i++)
                ox_put_f64(y, i, ox_get_f64(y, i) / n->n_in);
        return 0;
    }
    const struct ox_tensor *a = in[0], *b = in[1];
    int flt = is_float(a->dt), uns = is_unsigned(a->dt);
    bc_init(&ia, a, y);
    bc_init(&ib, b, y);
    for (int64_t i = 0; i < y->numel; i++, bc_next(&ia), bc_next(&ib)) {
        int64_t ao = ia.off, bo = ib.off;
        switch (op) {
        case BC_EQ: case BC_LT: case BC_GT: case BC_LE: case BC_GE:
            ((uint8_t *)y->data)[i] = (uint8_t)(flt ? cmp_f(op, ox_get_f64(a, ao), ox_get_f64(b, bo))
                                                    : cmp_i(op, ox_get_i64(a, ao), ox_get_i64(b, bo), uns));
            break;
        case BC_AND: case BC_OR: case BC_XOR: {
            int x = ((const uint8_t *)a->data)[ao] != 0, z = ((const uint8_t *)b->data)[bo] != 0;
            ((uint8_t *)y->data)[i] = (uint8_t)(op == BC_AND ? x && z : op == BC_OR ? x || z : x != z);
            break;
        }
        case BC_MOD:
            if (flt)
                ox_put_f64(y, i, fmod(ox_get_f64(a, ao), ox_get_f64(b, bo)));
            else
                ox_put_i64(y, i, mod_i(ox_get_i64(a, ao), ox_get_i64(b, bo), (int)n->ip[1], uns));
            break;
        case BC_SHIFT: {
            uint64_t x = (uint64_t)ox_get_i64(a, ao), s = (uint64_t)ox_get_i64(b, bo);
            ox_put_i64(y, i, (int64_t)(s >= 64 ? 0 : n->ip[1] ? x << s : x >> s));
            break;
        }
        default: /* BC_PRELU */
            if (flt) {
                double x = ox_get_f64(a, ao);
                ox_put_f64(y, i, x < 0 ? x * ox_get_f64(b, bo) : x);
            } else {
                int64_t x = ox_get_i64(a, ao);
                ox_put_i64(y, i, x < 0 ? (int64_t)((uint64_t)x * (uint64_t)ox_get_i64(b, bo)) : x);
            }
            break;
        }
    }
    return 0;
}

#define BC_OP(sym, op_type, lo, hi)                                                           \
    const struct ox_op sym = {                                                                \
        .name = op_type, .min_in = lo, .max_in = hi, .min_out = 1, .max_out = 1,              \
        .prepare = bc_prepare, .infer = bc_infer, .exec = bc_exec,                            \
    }
BC_OP(ox_op_equal, "Equal", 2, 2);
BC_OP(ox_op_less, "Less", 2, 2);
BC_OP(ox_op_greater, "Greater", 2, 2);
BC_OP(ox_op_less_or_equal, "LessOrEqual", 2, 2);
BC_OP(ox_op_greater_or_equal, "GreaterOrEqual", 2, 2);
BC_OP(ox_op_and, "And", 2, 2);
BC_OP(ox_op_or, "Or", 2, 2);
BC_OP(ox_op_xor, "Xor", 2, 2);
BC_OP(ox_op_mod, "Mod", 2, 2);
BC_OP(ox_op_bit_shift, "BitShift", 2, 2);
BC_OP(ox_op_prelu, "PRelu", 2, 2);
BC_OP(ox_op_min, "Min", 1, OX_MAX_NODE_IO);
BC_OP(ox_op_max, "Max", 1, OX_MAX_NODE_IO);
BC_OP(ox_op_sum, "Sum", 1, OX_MAX_NODE_IO);
BC_OP(ox_op_mean, "Mean", 1, OX_MAX_NODE_IO);
BC_OP(ox_op_where, "Where", 3, 3);
BC_OP(ox_op_expand, "Expand", 2, 2);
