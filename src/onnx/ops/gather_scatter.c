/* gather_scatter.c — index-driven ops: GatherElements, GatherND, ScatterElements (and its
 * deprecated alias Scatter), ScatterND, NonZero, OneHot. Indices are int32 or int64, negative
 * ones count from the end; an out-of-range index is an error at run time naming the op.
 *
 *   GatherElements: data (.., d, ..), indices I (same rank) -> I's shape, axis picks by index
 *   GatherND:       data (b.., r..), indices (b.., q.., m) -> (b.., q.., r[m:]..)
 *   ScatterElements / ScatterND: data copied to the output, then updates written (or reduced:
 *                   add, mul, max, min) at the indexed places, in order
 *   NonZero:        X -> int64 (rank, nnz), coordinates of non-zero elements (data-dependent
 *                   shape: X must be known at plan time)
 *   OneHot:         indices I, depth (scalar), values [off, on] -> I's shape with depth at axis
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int reduction_of(const struct ox_node *n, int *red, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "reduction");
    const char *s = a && a->s ? a->s : "none";
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *red = i;
            return 0;
        }
    }
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: attribute 'reduction' '%s' is not supported", n->op_type, s);
}

/* y[i] = reduce(y[i], u[j]) in y's dtype (integers exactly, floats through double). */
static void reduce_put(struct ox_tensor *y, int64_t i, const struct ox_tensor *u, int64_t j, int red, size_t es)
{
    if (red == RED_NONE) {
        memcpy((char *)y->data + (size_t)i * es, (const char *)u->data + (size_t)j * es, es);
        return;
    }
    if (ox_dtype_is_int(y->dt)) {
        int64_t a = ox_get_i64(y, i), b = ox_get_i64(u, j);
        ox_put_i64(y, i, red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b));
    } else {
        double a = ox_get_f64(y, i), b = ox_get_f64(u, j);
        ox_put_f64(y, i, red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b) : (a < b ? a : b));
    }
}

static int index_at(const struct ox_node *n, const struct ox_tensor *idx, int64_t i, int64_t d, int64_t *out,
                    struct inferd_err *err)
{
    int64_t j = ox_get_i64(idx, i);
    if (j < -d || j >= d)
        return inferd_err_set(err, INFERD_EINVAL, "%s: index %lld out of range [-%lld, %lld)", n->op_type,
                              (long long)j, (long long)d, (long long)d);
    *out = j < 0 ? j + d : j;
    return 0;
}

static int check_indices(const struct ox_node *n, const struct ox_tensor *idx, struct inferd_err *err)
{
    if (idx->dt != INFERD_INT64 && idx->dt != INFERD_INT32)
        return inferd_err_set(err, INFERD_ETYPE, "%s: input 'indices' must be int32 or int64", n->op_type);
    return 0;
}

/* ---- GatherElements / ScatterElements: walk indices' coordinates ---- */
static int elements_common(const struct ox_node *n, const struct ox_tensor *data, const struct ox_tensor *idx,
                           int64_t *axis, struct inferd_err *err)
{
    int rc = check_indices(n, idx, err);
    if (rc < 0)
        return rc;
    if (idx->rank != data->rank)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'indices' rank %d differs from 'data' rank %d", n->op_type,
                              idx->rank, data->rank);
    return ox_axis(ox_attr_int(n, "axis", 0), data->rank, axis, n, "axis", err);
}

/* For each element k of indices (shape idx->dims), calls back with the flat offset in data of
 * the same coordinate with the axis coordinate replaced by the index. */
static int elements_walk(const struct ox_node *n, const struct ox_tensor *data, const struct ox_tensor *idx,
                         int64_t axis, int64_t *offs, struct inferd_err *err)
{
    int rank = data->rank;
    int64_t ds[INFERD_MAX_RANK], c[INFERD_MAX_RANK] = {0}, s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        ds[d] = s;
        s *= data->dims[d];
    }
    for (int64_t k = 0; k < idx->numel; k++) {
        int64_t j = 0, off = 0;
        int rc = index_at(n, idx, k, data->dims[axis], &j, err);
        if (rc < 0)
            return rc;
        for (int d = 0; d < rank; d++)
            off += (d == axis ? j : c[d]) * ds[d];
        offs[k] = off;
        for (int d = rank - 1; d >= 0; d--) {
            if (++c[d] < idx->dims[d])
                break;
            c[d] = 0;
        }
    }
    return 0;
}

static int gather_el_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                           struct inferd_err *err)
{
    int64_t axis = 0;
    int rc = elements_common(n, in[0], in[1], &axis, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], in[0]->dt, in[1]->rank, in[1]->dims, err);
}

static size_t offs_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)n;
    (void)out;
    return (size_t)(in[1]->numel + 1) * sizeof(int64_t); /* one data offset per index */
}

static int gather_el_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                          struct ox_tensor **out, struct inferd_err *err)
{
    int64_t axis = 0, *offs = c->scratch;
    int rc = elements_common(n, in[0], in[1], &axis, err);
    if (rc < 0 || (rc = elements_walk(n, in[0], in[1], axis, offs, err)) < 0)
        return rc;
    size_t es = ox_dtype_size(in[0]->dt);
    for (int64_t k = 0; k < in[1]->numel; k++)
        memcpy((char *)out[0]->data + (size_t)k * es, (const char *)in[0]->data + (size_t)offs[k] * es, es);
    return 0;
}

const struct ox_op ox_op_gather_elements = {
    .name = "GatherElements", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = gather_el_infer, .exec = gather_el_exec, .scratch = offs_scratch,
};

static int scatter_el_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                            struct inferd_err *err)
{
    int64_t axis = 0;
    int red;
    int rc = elements_common(n, in[0], in[1], &axis, err);
    if (rc < 0 || (rc = reduction_of(n, &red, err)) < 0)
        return rc;
    if (in[2]->dt != in[0]->dt || in[2]->rank != in[1]->rank ||
        memcmp(in[2]->dims, in[1]->dims, (size_t)in[1]->rank * sizeof(int64_t)))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'updates' must match 'indices' in shape and 'data' in dtype",
                              n->op_type);
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int scatter_el_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                           struct ox_tensor **out, struct inferd_err *err)
{
    int64_t axis = 0, *offs = c->scratch;
    int red;
    int rc = elements_common(n, in[0], in[1], &axis, err);
    if (rc < 0 || (rc = reduction_of(n, &red, err)) < 0 || (rc = elements_walk(n, in[0], in[1], axis, offs, err)) < 0)
        return rc;
    size_t es = ox_dtype_size(in[0]->dt);
    if (out[0]->data != in[0]->data && out[0]->nbytes)
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
    for (int64_t k = 0; k < in[1]->numel; k++)
        reduce_put(out[0], offs[k], in[2], k, red, es);
    return 0;
}

const struct ox_op ox_op_scatter_elements = {
    .name = "ScatterElements", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = scatter_el_infer, .exec = scatter_el_exec, .scratch = offs_scratch,
};
const struct ox_op ox_op_scatter = {
    .name = "Scatter", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = scatter_el_infer, .exec = scatter_el_exec, .scratch = offs_scratch,
};

/* ---- GatherND / ScatterND ---- */
/* Shape facts shared by GatherND and ScatterND: b batch dims, m = last dim of indices,
 * n_tuples index tuples per batch, slice = elements of data per tuple. */
struct nd {
    int b;
    int64_t m, n_batch, n_tuples, slice, batch_stride;
};

static int nd_setup(const struct ox_node *n, const struct ox_tensor *data, const struct ox_tensor *idx, int b,
                    struct nd *s, struct inferd_err *err)
{
    int rc = check_indices(n, idx, err);
    if (rc < 0)
        return rc;
    if (idx->rank < 1 || data->rank < 1)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'data' and 'indices' must have rank >= 1", n->op_type);
    s->b = b;
    s->m = idx->dims[idx->rank - 1];
    if (b < 0 || b >= idx->rank || b >= data->rank || s->m < 1 || b + s->m > data->rank)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: indices last dim %lld with batch_dims %d does not fit data rank %d",
                              n->op_type, (long long)s->m, b, data->rank);
    s->n_batch = 1;
    for (int d = 0; d < b; d++) {
        if (idx->dims[d] != data->dims[d])
            return inferd_err_set(err, INFERD_ESHAPE, "%s: batch dim %d differs between 'data' and 'indices'",
                                  n->op_type, d);
        s->n_batch *= data->dims[d];
    }
    s->n_tuples = 1;
    for (int d = b; d < idx->rank - 1; d++)
        s->n_tuples *= idx->dims[d];
    s->slice = 1;
    for (int d = b + (int)s->m; d < data->rank; d++)
        s->slice *= data->dims[d];
    s->batch_stride = 1;
    for (int d = b; d < data->rank; d++)
        s->batch_stride *= data->dims[d];
    return 0;
}

/* Flat element offset in data of tuple t of batch bi. */
static int nd_offset(const struct ox_node *n, const struct ox_tensor *data, const struct ox_tensor *idx,
                     const struct nd *s, int64_t bi, int64_t t, int64_t *off, struct inferd_err *err)
{
    int64_t o = 0, base = (bi * s->n_tuples + t) * s->m;
    for (int64_t k = 0; k < s->m; k++) {
        int64_t j = 0;
        int rc = index_at(n, idx, base + k, data->dims[s->b + k], &j, err);
        if (rc < 0)
            return rc;
        o = o * data->dims[s->b + k] + j;
    }
    *off = bi * s->batch_stride + o * s->slice;
    return 0;
}

static int gather_nd_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                           struct inferd_err *err)
{
    struct nd s = {0};
    int rc = nd_setup(n, in[0], in[1], (int)ox_attr_int(n, "batch_dims", 0), &s, err);
    if (rc < 0)
        return rc;
    int64_t dims[2 * INFERD_MAX_RANK];
    int r = 0;
    for (int d = 0; d < in[1]->rank - 1; d++)
        dims[r++] = in[1]->dims[d];
    for (int d = s.b + (int)s.m; d < in[0]->rank; d++)
        dims[r++] = in[0]->dims[d];
    return ox_set_shape(out[0], in[0]->dt, r, dims, err);
}

static int gather_nd_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                          struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    struct nd s = {0};
    int rc = nd_setup(n, in[0], in[1], (int)ox_attr_int(n, "batch_dims", 0), &s, err);
    if (rc < 0)
        return rc;
    size_t es = ox_dtype_size(in[0]->dt), row = (size_t)s.slice * es;
    char *yp = out[0]->data;
    for (int64_t bi = 0; bi < s.n_batch; bi++) {
        for (int64_t t = 0; t < s.n_tuples; t++, yp += row) {
            int64_t off = 0;
            if ((rc = nd_offset(n, in[0], in[1], &s, bi, t, &off, err)) < 0)
                return rc;
            memcpy(yp, (const char *)in[0]->data + (size_t)off * es, row);
        }
    }
    return 0;
}

const struct ox_op ox_op_gather_nd = {
    .name = "GatherND", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = gather_nd_infer, .exec = gather_nd_exec,
};

static int scatter_nd_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                            struct inferd_err *err)
{
    struct nd s = {0};
    int red;
    int rc = nd_setup(n, in[0], in[1], 0, &s, err);
    if (rc < 0 || (rc = reduction_of(n, &red, err)) < 0)
        return rc;
    if (in[2]->dt != in[0]->dt || in[2]->numel != s.n_tuples * s.slice)
        return inferd_err_set(err, INFERD_ESHAPE, "ScatterND: 'updates' must have indices.shape[:-1] + "
                                                  "data.shape[m:] and the dtype of 'data'");
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

static int scatter_nd_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                           struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    struct nd s = {0};
    int red;
    int rc = nd_setup(n, in[0], in[1], 0, &s, err);
    if (rc < 0 || (rc = reduction_of(n, &red, err)) < 0)
        return rc;
    size_t es = ox_dtype_size(in[0]->dt);
    if (out[0]->data != in[0]->data && out[0]->nbytes)
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
    for (int64_t t = 0; t < s.n_tuples; t++) {
        int64_t off = 0;
        if ((rc = nd_offset(n, in[0], in[1], &s, 0, t, &off, err)) < 0)
            return rc;
        for (int64_t k = 0; k < s.slice; k++)
            reduce_put(out[0], off + k, in[2], t * s.slice + k, red, es);
    }
    return 0;
}

const struct ox_op ox_op_scatter_nd = {
    .name = "ScatterND", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = scatter_nd_infer, .exec = scatter_nd_exec,
};

/* ---- NonZero ---- */
static int64_t count_nonzero(const struct ox_tensor *x)
{
    int64_t nz = 0;
    for (int64_t i = 0; i < x->numel; i++)
        nz += ox_get_f64(x, i) != 0;
    return nz;
}

static int nonzero_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    if (!in[0]->is_const)
        return inferd_err_set(err, OX_ENEEDCONST,
                              "NonZero: input 'X' must be computable at load time (its output shape depends on its values)");
    (void)n;
    int64_t dims[2] = {in[0]->rank > 0 ? in[0]->rank : 1, count_nonzero(in[0])};
    return ox_set_shape(out[0], INFERD_INT64, 2, dims, err);
}

static int nonzero_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                        struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    const struct ox_tensor *x = in[0];
    int64_t nz = out[0]->dims[1], k = 0, coord[INFERD_MAX_RANK] = {0};
    int64_t *y = out[0]->data;
    for (int64_t i = 0; i < x->numel && k < nz; i++) {
        if (ox_get_f64(x, i) != 0) {
            for (int d = 0; d < x->rank; d++)
                y[d * nz + k] = coord[d];
            if (x->rank == 0)
                y[k] = 0;
            k++;
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            if (++coord[d] < x->dims[d])
                break;
            coord[d] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_nonzero = {
    .name = "NonZero", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = nonzero_infer, .exec = nonzero_exec,
};

/* ---- OneHot ---- */
static int onehot_params(const struct ox_node *n, struct ox_tensor *const *in, int64_t *depth, int64_t *axis,
                         struct inferd_err *err)
{
    if (!in[1]->is_const)
        return inferd_err_set(err, OX_ENEEDCONST, "OneHot: input 'depth' must be computable at load time");
    if (in[1]->numel != 1)
        return inferd_err_set(err, INFERD_ESHAPE, "OneHot: input 'depth' must hold one value");
    if (in[2]->numel != 2)
        return inferd_err_set(err, INFERD_ESHAPE, "OneHot: input 'values' must hold [off, on]");
    if (!ox_dtype_is_int(in[0]->dt) && in[0]->dt != INFERD_FP32 && in[0]->dt != INFERD_FP64)
        return inferd_err_set(err, INFERD_ETYPE, "OneHot: input 'indices' must be numeric");
    *depth = ox_get_i64(in[1], 0);
    if (*depth < 1)
        return inferd_err_set(err, INFERD_EINVAL, "OneHot: depth %lld must be positive", (long long)*depth);
    return ox_axis(ox_attr_int(n, "axis", -1), in[0]->rank + 1, axis, n, "axis", err);
}

static int onehot_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    int64_t depth = 1, axis = 0, dims[INFERD_MAX_RANK + 1];
    int rc = onehot_params(n, in, &depth, &axis, err);
    if (rc < 0)
        return rc;
    for (int d = 0, k = 0; d <= in[0]->rank; d++)
        dims[d] = d == axis ? depth : in[0]->dims[k++];
    return ox_set_shape(out[0], in[2]->dt, in[0]->rank + 1, dims, err);
}

static int onehot_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    int64_t depth = 1, axis = 0;
    int rc = onehot_params(n, in, &depth, &axis, err);
    if (rc < 0)
        return rc;
    size_t es = ox_dtype_size(in[2]->dt);
    const char *off = in[2]->data, *on = off + es;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < in[0]->rank; d++) {
        if (d < axis)
            outer *= in[0]->dims[d];
        else
            inner *= in[0]->dims[d];
    }
    char *y = out[0]->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < depth; j++) {
            for (int64_t i = 0; i < inner; i++) {
                int64_t v = ox_get_i64(in[0], o * inner + i);
                if (v < 0)
                    v += depth;
                memcpy(y + (size_t)((o * depth + j) * inner + i) * es, v == j ? on : off, es);
            }
        }
    }
    return 0;
}

const struct ox_op ox_op_onehot = {
    .name = "OneHot", .min_in = 3, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = onehot_infer, .exec = onehot_exec,
};
