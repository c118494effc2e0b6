/* index_ops.c — ops that order or scan along one axis: ArgMax / ArgMin (axis, keepdims,
 * select_last_index -> int64), TopK (K as input from opset 10, attribute before; largest,
 * sorted; ties keep the lower index), CumSum (exclusive, reverse) and Trilu (upper / lower
 * triangle of the last two dims, diagonal offset k), ReverseSequence (the first
 * sequence_lens[b] steps of each batch row reversed; time and batch axes 0 and 1).
 *
 *   x viewed as (outer, d, inner) around the axis:
 *   ArgMax  -> (outer, 1 or -, inner) int64    TopK -> values, indices (outer, K, inner)
 *   CumSum  -> same shape                      Trilu (..., m, n) -> same shape
 */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static void split_axis(const struct ox_tensor *x, int64_t axis, int64_t *outer, int64_t *d, int64_t *inner)
{
    *outer = *inner = 1;
    for (int k = 0; k < x->rank; k++) {
        if (k < axis)
            *outer *= x->dims[k];
        else if (k > axis)
            *inner *= x->dims[k];
    }
    *d = x->rank ? x->dims[axis] : 1;
}

static int numeric(enum inferd_dtype dt)
{
    return dt != INFERD_BOOL && (ox_dtype_is_int(dt) || dt == INFERD_FP32 || dt == INFERD_FP64 ||
                                 dt == INFERD_FP16 || dt == INFERD_BF16);
}

/* ---- ArgMax / ArgMin ---- */
static int arg_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    if (!numeric(x->dt))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(x->dt));
    int64_t axis;
    int rc = ox_axis(ox_attr_int(n, "axis", 0), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    if (x->dims[axis] == 0)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: the reduced axis is empty", n->op_type);
    int64_t dims[INFERD_MAX_RANK];
    int r = 0, keep = ox_attr_int(n, "keepdims", 1) != 0;
    for (int d = 0; d < x->rank; d++)
        if (d != axis || keep)
            dims[r++] = d == axis ? 1 : x->dims[d];
    return ox_set_shape(out[0], INFERD_INT64, r, dims, err);
}

static int arg_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    int64_t axis, outer, d, inner;
    int rc = ox_axis(ox_attr_int(n, "axis", 0), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    split_axis(x, axis, &outer, &d, &inner);
    int is_max = strcmp(n->op_type, "ArgMax") == 0, last = ox_attr_int(n, "select_last_index", 0) != 0;
    int64_t *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * d * inner + i, best = 0;
            double bv = ox_get_f64(x, base);
            for (int64_t j = 1; j < d; j++) {
                double v = ox_get_f64(x, base + j * inner);
                int better = is_max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
                if (better) {
                    bv = v;
                    best = j;
                }
            }
            y[o * inner + i] = best;
        }
    }
    return 0;
}

const struct ox_op ox_op_argmax = {
    .name = "ArgMax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = arg_infer, .exec = arg_exec,
};
const struct ox_op ox_op_argmin = {
    .name = "ArgMin", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = arg_infer, .exec = arg_exec,
};

/* ---- TopK ---- */
static int topk_k(const struct ox_node *n, struct ox_tensor *const *in, int64_t *k, struct inferd_err *err)
{
    if (n->opset < 10) {
        if (!ox_attr_find(n, "k"))
            return inferd_err_set(err, INFERD_EFORMAT, "TopK: attribute 'k' is required before opset 10");
        *k = ox_attr_int(n, "k", 0);
        return 0;
    }
    if (n->n_in < 2 || !in[1])
        return inferd_err_set(err, INFERD_EFORMAT, "TopK: input 'K' is required");
    int64_t v[1];
    int r = ox_const_ints(in[1], v, 1, n, "K", err);
    if (r < 0)
        return r;
    if (r != 1)
        return inferd_err_set(err, INFERD_EINVAL, "TopK: K must have one element");
    *k = v[0];
    return 0;
}

static int topk_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    if (!numeric(x->dt))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "TopK: dtype %s is not supported", inferd_dtype_v2_name(x->dt));
    int64_t axis, k = 0;
    int rc = ox_axis(ox_attr_int(n, "axis", -1), x->rank, &axis, n, "axis", err);
    if (rc < 0 || (rc = topk_k(n, in, &k, err)) < 0)
        return rc;
    if (k < 0 || k > x->dims[axis])
        return inferd_err_set(err, INFERD_EINVAL, "TopK: K = %lld is outside [0, %lld]", (long long)k,
                              (long long)x->dims[axis]);
    int64_t dims[INFERD_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = k;
    if ((rc = ox_set_shape(out[0], x->dt, x->rank, dims, err)) < 0)
        return rc;
    return n->n_out > 1 ? ox_set_shape(out[1], INFERD_INT64, x->rank, dims, err) : 0;
}

/* scratch: index, merge buffer and value per element of the axis */
static size_t topk_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    int64_t axis;
    if (ox_axis(ox_attr_int(n, "axis", -1), in[0]->rank, &axis, n, "axis", NULL) < 0)
        return 0;
    return (size_t)in[0]->dims[axis] * (2 * sizeof(int64_t) + sizeof(double));
}

/* a ranks before b: larger (smaller) value first, the lower index on ties. */
static inline int ranks_before(const double *v, int64_t a, int64_t b, int largest)
{
    if (v[a] != v[b])
        return largest ? v[a] > v[b] : v[a] < v[b];
    return a < b;
}

static int topk_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    int64_t axis, outer, d, inner, k;
    int rc = ox_axis(ox_attr_int(n, "axis", -1), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    k = out[0]->dims[axis];
    split_axis(x, axis, &outer, &d, &inner);
    if (k == 0 || out[0]->numel == 0)
        return 0;
    int largest = ox_attr_int(n, "largest", 1) != 0;
    int64_t *idx = c->scratch, *tmp = idx + d;
    double *val = (double *)(void *)((char *)c->scratch + 2 * (size_t)d * sizeof(int64_t)); /* after idx, tmp */
    int is_int = ox_dtype_is_int(x->dt);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * d * inner + i;
            for (int64_t j = 0; j < d; j++) {
                idx[j] = j;
                val[j] = ox_get_f64(x, base + j * inner);
            }
            /* bottom-up merge sort of idx by val (stable, so ties keep index order) */
            for (int64_t w = 1; w < d; w *= 2) {
                for (int64_t lo = 0; lo < d; lo += 2 * w) {
                    int64_t mid = lo + w < d ? lo + w : d, hi = lo + 2 * w < d ? lo + 2 * w : d;
                    int64_t a = lo, b = mid, t = lo;
                    while (a < mid && b < hi)
                        tmp[t++] = ranks_before(val, idx[b], idx[a], largest) ? idx[b++] : idx[a++];
                    while (a < mid)
                        tmp[t++] = idx[a++];
                    while (b < hi)
                        tmp[t++] = idx[b++];
                }
                memcpy(idx, tmp, (size_t)d * sizeof *idx);
            }
            for (int64_t j = 0; j < k; j++) {
                int64_t oi = o * k * inner + j * inner + i;
                if (is_int)
                    ox_put_i64(out[0], oi, ox_get_i64(x, base + idx[j] * inner));
                else
                    ox_put_f64(out[0], oi, val[idx[j]]);
                if (n->n_out > 1 && out[1])
                    ((int64_t *)out[1]->data)[oi] = idx[j];
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_topk = {
    .name = "TopK", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 2,
    .infer = topk_infer, .exec = topk_exec, .scratch = topk_scratch,
};

/* ---- CumSum ---- */
static int cumsum_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    if (!numeric(in[0]->dt))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "CumSum: dtype %s is not supported",
                              inferd_dtype_v2_name(in[0]->dt));
    if (in[1]->numel != 1 || (in[1]->dt != INFERD_INT32 && in[1]->dt != INFERD_INT64))
        return inferd_err_set(err, INFERD_EINVAL, "CumSum: axis must be an int32 or int64 scalar");
    if (in[0]->rank == 0)
        return inferd_err_set(err, INFERD_ESHAPE, "CumSum: input must have rank >= 1");
    (void)n;
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int cumsum_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    int64_t axis, outer, d, inner;
    int rc = ox_axis(ox_get_i64(in[1], 0), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    split_axis(x, axis, &outer, &d, &inner);
    int excl = ox_attr_int(n, "exclusive", 0) != 0, rev = ox_attr_int(n, "reverse", 0) != 0;
    int is_int = ox_dtype_is_int(x->dt);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            double s = 0;
            uint64_t si = 0;
            for (int64_t t = 0; t < d; t++) {
                int64_t j = rev ? d - 1 - t : t, at = o * d * inner + j * inner + i;
                if (is_int) {
                    uint64_t v = (uint64_t)ox_get_i64(x, at);
                    if (!excl)
                        si += v;
                    ox_put_i64(out[0], at, (int64_t)si);
                    if (excl)
                        si += v;
                } else {
                    double v = ox_get_f64(x, at);
                    if (!excl)
                        s += v;
                    ox_put_f64(out[0], at, s);
                    if (excl)
                        s += v;
                }
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_cumsum = {
    .name = "CumSum", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = cumsum_infer, .exec = cumsum_exec,
};

/* ---- Trilu ---- */
static int trilu_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    if (in[0]->rank < 2)
        return inferd_err_set(err, INFERD_ESHAPE, "Trilu: input must have rank >= 2");
    if (n->n_in > 1 && in[1] && (in[1]->numel != 1 || !ox_dtype_is_int(in[1]->dt)))
        return inferd_err_set(err, INFERD_EINVAL, "Trilu: k must be an int64 scalar");
    if (in[0]->dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Trilu: STRING tensors are not supported");
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int trilu_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0];
    int64_t k = n->n_in > 1 && in[1] ? ox_get_i64(in[1], 0) : 0;
    int upper = ox_attr_int(n, "upper", 1) != 0;
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    size_t es = inferd_dtype_size(x->dt);
    const char *xv = x->data;
    char *yv = out[0]->data;
    for (int64_t e = 0; e < x->numel; e++) {
        int64_t j = e % cols, i = (e / cols) % rows;
        int keep = upper ? j - i >= k : j - i <= k;
        if (keep)
            memcpy(yv + (size_t)e * es, xv + (size_t)e * es, es);
        else
            memset(yv + (size_t)e * es, 0, es);
    }
    return 0;
}

const struct ox_op ox_op_trilu = {
    .name = "Trilu", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = trilu_infer, .exec = trilu_exec,
};

/* ---- ReverseSequence ---- */
static int revseq_axes(const struct ox_node *n, const struct ox_tensor *x, int64_t *ta, int64_t *ba,
                       struct inferd_err *err)
{
    *ta = ox_attr_int(n, "time_axis", 0);
    *ba = ox_attr_int(n, "batch_axis", 1);
    if (x->rank < 2 || (*ta != 0 && *ta != 1) || (*ba != 0 && *ba != 1) || *ta == *ba)
        return inferd_err_set(err, INFERD_EINVAL,
                              "ReverseSequence: needs rank >= 2 and time_axis, batch_axis as 0 and 1 (or 1 and 0)");
    return 0;
}

static int revseq_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    int64_t ta, ba;
    int rc = revseq_axes(n, in[0], &ta, &ba, err);
    if (rc < 0)
        return rc;
    if (in[1]->rank != 1 || in[1]->dims[0] != in[0]->dims[ba] || !ox_dtype_is_int(in[1]->dt))
        return inferd_err_set(err, INFERD_ESHAPE, "ReverseSequence: sequence_lens must be int64 (batch)");
    if (in[0]->dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "ReverseSequence: STRING tensors are not supported");
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int revseq_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    const struct ox_tensor *x = in[0];
    int64_t ta, ba;
    int rc = revseq_axes(n, x, &ta, &ba, err);
    if (rc < 0)
        return rc;
    int64_t seq = x->dims[ta], batch = x->dims[ba], inner = 1;
    for (int d = 2; d < x->rank; d++)
        inner *= x->dims[d];
    size_t row = (size_t)inner * inferd_dtype_size(x->dt);
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = ox_get_i64(in[1], b);
        if (len < 1 || len > seq)
            return inferd_err_set(err, INFERD_EINVAL, "ReverseSequence: sequence_lens[%lld] = %lld is outside [1, %lld]",
                                  (long long)b, (long long)len, (long long)seq);
        for (int64_t t = 0; t < seq; t++) {
            int64_t src = t < len ? len - 1 - t : t;
            int64_t yo = ta == 0 ? t * batch + b : b * seq + t, xo = ta == 0 ? src * batch + b : b * seq + src;
            if (row)
                memcpy((char *)out[0]->data + (size_t)yo * row, (const char *)x->data + (size_t)xo * row, row);
        }
    }
    return 0;
}

const struct ox_op ox_op_reverse_sequence = {
    .name = "ReverseSequence", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = revseq_infer, .exec = revseq_exec,
};
