/* tile_split_pad.c — Tile, Split and Pad: ops that copy a tensor's elements to new positions
 * (any dtype). Their shape-deciding inputs (repeats, split, pads, axes) must be known at
 * plan time.
 *
 *   Tile:  X (d0..dn), repeats (n+1,) -> (d0*r0 .. dn*rn)
 *   Split: X (outer, d, inner) -> k outputs (outer, s_i, inner), sum s_i = d
 *   Pad:   X (d_i), pads (2*rank,) [begin..., end...] -> (d_i + b_i + e_i); modes constant,
 *          reflect, edge, wrap; negative pads crop
 */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

/* Row-major strides of a shape, in elements. */
static void strides_of(int rank, const int64_t *dims, int64_t *st)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= dims[d];
    }
}

/* ---- Tile ---- */
static int tile_repeats(const struct ox_node *n, struct ox_tensor *const *in, int64_t *rep, struct inferd_err *err)
{
    int r = ox_const_ints(in[1], rep, INFERD_MAX_RANK, n, "repeats", err);
    if (r < 0)
        return r;
    if (r != in[0]->rank)
        return inferd_err_set(err, INFERD_ESHAPE, "Tile: input 'repeats' has %d entries, input rank is %d", r,
                              in[0]->rank);
    for (int d = 0; d < r; d++)
        if (rep[d] < 0)
            return inferd_err_set(err, INFERD_EINVAL, "Tile: repeats[%d] = %lld is negative", d, (long long)rep[d]);
    return 0;
}

static int tile_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    int64_t rep[INFERD_MAX_RANK], dims[INFERD_MAX_RANK];
    int rc = tile_repeats(n, in, rep, err);
    if (rc < 0)
        return rc;
    for (int d = 0; d < in[0]->rank; d++)
        dims[d] = in[0]->dims[d] * rep[d];
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, dims, err);
}

static int tile_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    int rank = x->rank;
    size_t es = ox_dtype_size(x->dt);
    if (y->numel == 0)
        return 0;
    if (rank == 0) {
        memcpy(y->data, x->data, es);
        return 0;
    }
    /* copy the innermost dim as a row, repeated; walk the outer output index */
    int64_t xs[INFERD_MAX_RANK], idx[INFERD_MAX_RANK] = {0};
    strides_of(rank, x->dims, xs);
    int64_t xin = x->dims[rank - 1], yin = y->dims[rank - 1];
    size_t row = (size_t)xin * es;
    char *yp = y->data;
    for (int64_t o = 0; o < y->numel / yin; o++) {
        int64_t off = 0;
        for (int d = 0; d < rank - 1; d++)
            off += (idx[d] % x->dims[d]) * xs[d];
        const char *src = (const char *)x->data + (size_t)off * es;
        for (int64_t r = 0; r < yin / xin; r++, yp += row)
            memcpy(yp, src, row);
        for (int d = rank - 2; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_tile = {
    .name = "Tile", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = tile_infer, .exec = tile_exec,
};

/* ---- Split ---- */
/* Resolves axis and the size of each output along it into sz[n_out]. */
static int split_sizes(const struct ox_node *n, struct ox_tensor *const *in, int64_t *axis, int64_t *sz,
                       struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    int rc = ox_axis(ox_attr_int(n, "axis", 0), x->rank, axis, n, "axis", err);
    if (rc < 0)
        return rc;
    int64_t d = x->dims[*axis];
    int k = n->n_out;
    const struct ox_attr *a = ox_attr_find(n, "split");
    if (n->n_in > 1 && in[1]) {
        int64_t tmp[OX_MAX_KEYED];
        int r = ox_const_ints(in[1], tmp, OX_MAX_KEYED, n, "split", err);
        if (r < 0)
            return r;
        if (r != k)
            return inferd_err_set(err, INFERD_EINVAL, "Split: input 'split' has %d entries for %d outputs", r, k);
        memcpy(sz, tmp, (size_t)k * sizeof *sz);
    } else if (a && a->n_ints) {
        if (a->n_ints != k)
            return inferd_err_set(err, INFERD_EINVAL, "Split: attribute 'split' has %lld entries for %d outputs",
                                  (long long)a->n_ints, k);
        memcpy(sz, a->ints, (size_t)k * sizeof *sz);
    } else {
        /* equal parts; opset 18's num_outputs lets the last part be smaller */
        int64_t parts = ox_attr_int(n, "num_outputs", k);
        if (parts != k)
            return inferd_err_set(err, INFERD_EINVAL, "Split: attribute 'num_outputs' is %lld, the node has %d outputs",
                                  (long long)parts, k);
        int64_t each = (d + k - 1) / k;
        if (!ox_attr_find(n, "num_outputs") && d % k)
            return inferd_err_set(err, INFERD_ESHAPE, "Split: dim %lld does not split into %d equal parts",
                                  (long long)d, k);
        for (int i = 0; i < k; i++) {
            int64_t lo = each * i < d ? each * i : d, hi = each * (i + 1) < d ? each * (i + 1) : d;
            sz[i] = hi - lo;
        }
    }
    int64_t sum = 0;
    for (int i = 0; i < k; i++) {
        if (sz[i] < 0)
            return inferd_err_set(err, INFERD_EINVAL, "Split: split[%d] = %lld is negative", i, (long long)sz[i]);
        sum += sz[i];
    }
    if (sum != d)
        return inferd_err_set(err, INFERD_ESHAPE, "Split: 'split' sums to %lld, axis dim is %lld", (long long)sum,
                              (long long)d);
    return 0;
}

static int split_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    int64_t axis, sz[OX_MAX_KEYED];
    if (n->n_out > OX_MAX_KEYED)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Split: %d outputs, above the maximum %d", n->n_out,
                              OX_MAX_KEYED);
    int rc = split_sizes(n, in, &axis, sz, err);
    if (rc < 0)
        return rc;
    for (int i = 0; i < n->n_out; i++) {
        int64_t dims[INFERD_MAX_RANK];
        memcpy(dims, in[0]->dims, sizeof dims);
        dims[axis] = sz[i];
        if ((rc = ox_set_shape(out[i], in[0]->dt, in[0]->rank, dims, err)) < 0)
            return rc;
    }
    return 0;
}

/* Bytes before output k along the axis and the outer extent; -1 when some dim before the
 * axis is not 1 (then the outputs are strided ranges of X, not views). */
int64_t ox_split_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                             int k)
{
    int64_t axis = 0, sz[OX_MAX_KEYED] = {0}, inner = 1, at = 0;
    const struct ox_tensor *x = in[0];
    if (!out[k] || out[k]->numel == 0 || split_sizes(n, in, &axis, sz, NULL) < 0)
        return -1;
    for (int d = 0; d < x->rank; d++) {
        if (d < axis && x->dims[d] != 1)
            return -1;
        if (d > axis)
            inner *= x->dims[d];
    }
    for (int i = 0; i < k; i++)
        at += sz[i];
    return at * inner * (int64_t)ox_dtype_size(x->dt);
}

static int split_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    int64_t axis = 0, sz[OX_MAX_KEYED] = {0};
    int rc = split_sizes(n, in, &axis, sz, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *x = in[0];
    size_t es = ox_dtype_size(x->dt);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x->rank; d++) {
        if (d < axis)
            outer *= x->dims[d];
        else if (d > axis)
            inner *= x->dims[d];
    }
    size_t xrow = (size_t)(x->dims[axis] * inner) * es, at = 0;
    for (int i = 0; i < n->n_out; i++) {
        size_t row = (size_t)(sz[i] * inner) * es;
        if (out[i] && out[i]->alias) /* a view the plan made: outer is 1 */
            out[i]->data = (char *)x->data + at;
        else if (out[i] && row)
            for (int64_t o = 0; o < outer; o++)
                memcpy((char *)out[i]->data + (size_t)o * row, (const char *)x->data + (size_t)o * xrow + at, row);
        at += row;
    }
    return 0;
}

const struct ox_op ox_op_split = {
    .name = "Split", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = OX_MAX_KEYED,
    .infer = split_infer, .exec = split_exec, .flags = OX_OP_VIEW,
};

/* ---- Pad ---- */
enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* pads[0..rank) begin, pads[rank..2rank) end, per dim of the input. */
static int pad_params(const struct ox_node *n, struct ox_tensor *const *in, int64_t *pads, int *mode,
                      struct inferd_err *err)
{
    int rank = in[0]->rank;
    const struct ox_attr *m = ox_attr_find(n, "mode");
    const char *ms = m && m->s ? m->s : "constant";
    if (strcmp(ms, "constant") == 0)
        *mode = PAD_CONSTANT;
    else if (strcmp(ms, "reflect") == 0)
        *mode = PAD_REFLECT;
    else if (strcmp(ms, "edge") == 0)
        *mode = PAD_EDGE;
    else if (strcmp(ms, "wrap") == 0)
        *mode = PAD_WRAP;
    else
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Pad: attribute 'mode' '%s' is not supported", ms);
    int64_t p[2 * INFERD_MAX_RANK], axes[INFERD_MAX_RANK];
    int np, na = rank;
    if (n->opset < 11) {
        const struct ox_attr *a = ox_attr_find(n, "pads");
        if (!a || a->n_ints > 2 * INFERD_MAX_RANK)
            return inferd_err_set(err, INFERD_EFORMAT, "Pad: attribute 'pads' is missing or too long");
        np = (int)a->n_ints;
        memcpy(p, a->ints, (size_t)np * sizeof *p);
    } else if ((np = ox_const_ints(n->n_in > 1 ? in[1] : NULL, p, 2 * INFERD_MAX_RANK, n, "pads", err)) < 0) {
        return np;
    }
    if (n->n_in > 3 && in[3]) {
        if ((na = ox_const_ints(in[3], axes, INFERD_MAX_RANK, n, "axes", err)) < 0)
            return na;
        for (int i = 0; i < na; i++) {
            int rc = ox_axis(axes[i], rank, &axes[i], n, "axes", err);
            if (rc < 0)
                return rc;
        }
    } else {
        for (int i = 0; i < rank; i++)
            axes[i] = i;
    }
    if (np != 2 * na)
        return inferd_err_set(err, INFERD_EINVAL, "Pad: 'pads' has %d entries, expected %d", np, 2 * na);
    memset(pads, 0, 2 * (size_t)rank * sizeof *pads);
    for (int i = 0; i < na; i++) {
        pads[axes[i]] = p[i];
        pads[rank + axes[i]] = p[na + i];
    }
    for (int d = 0; d < rank; d++) {
        int64_t od = in[0]->dims[d] + pads[d] + pads[rank + d];
        if (od < 0)
            return inferd_err_set(err, INFERD_EINVAL, "Pad: pads crop dim %d below zero", d);
        if (*mode != PAD_CONSTANT && in[0]->dims[d] == 0 && od > 0)
            return inferd_err_set(err, INFERD_EINVAL, "Pad: mode '%s' cannot pad the empty dim %d", ms, d);
    }
    return 0;
}

static int pad_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int64_t pads[2 * INFERD_MAX_RANK], dims[INFERD_MAX_RANK];
    int mode;
    int rc = pad_params(n, in, pads, &mode, err);
    if (rc < 0)
        return rc;
    for (int d = 0; d < in[0]->rank; d++)
        dims[d] = in[0]->dims[d] + pads[d] + pads[in[0]->rank + d];
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, dims, err);
}

/* Source coordinate of output coordinate o (already shifted by the begin pad) in a dim of
 * size d, or -1 for the constant value. */
static int64_t pad_src(int64_t i, int64_t d, int mode)
{
    if (i >= 0 && i < d)
        return i;
    switch (mode) {
    case PAD_EDGE:
        return i < 0 ? 0 : d - 1;
    case PAD_WRAP:
        return ((i % d) + d) % d;
    case PAD_REFLECT:
        if (d == 1)
            return 0;
        {
            int64_t period = 2 * (d - 1), m = ((i % period) + period) % period;
            return m < d ? m : period - m;
        }
    default:
        return -1;
    }
}

static int pad_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    int64_t pads[2 * INFERD_MAX_RANK] = {0};
    int mode = PAD_CONSTANT;
    int rc = pad_params(n, in, pads, &mode, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    int rank = x->rank;
    size_t es = ox_dtype_size(x->dt);
    /* the fill value, converted to the output dtype once */
    char fill[16] = {0};
    struct ox_tensor ft = {.dt = y->dt, .data = fill};
    if (n->opset < 11)
        ox_put_f64(&ft, 0, ox_attr_float(n, "value", 0.0f));
    else if (n->n_in > 2 && in[2] && in[2]->numel > 0)
        memcpy(fill, in[2]->data, es);
    int64_t xs[INFERD_MAX_RANK], idx[INFERD_MAX_RANK] = {0};
    strides_of(rank, x->dims, xs);
    char *yp = y->data;
    for (int64_t o = 0; o < y->numel; o++, yp += es) {
        int64_t off = 0;
        for (int d = 0; d < rank && off >= 0; d++) {
            int64_t s = pad_src(idx[d] - pads[d], x->dims[d], mode);
            off = s < 0 ? -1 : off + s * xs[d];
        }
        memcpy(yp, off < 0 ? fill : (const char *)x->data + (size_t)off * es, es);
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_pad = {
    .name = "Pad", .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = pad_infer, .exec = pad_exec,
};
