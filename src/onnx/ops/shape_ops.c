/* shape_ops.c — ops that only re-describe data: Identity, Flatten, Reshape, Squeeze,
 * Unsqueeze (a copy into the output buffer), plus Shape (shape as int64 data, always
 * folded at plan time) and Constant (attribute as data, folded at plan time). Inputs that
 * decide shapes (Reshape's shape, opset-13 axes) must be known at plan time. */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int copy_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    if (out[0]->alias) {
        out[0]->data = in[0]->data;
        return 0;
    }
    if (out[0]->nbytes && out[0]->data != in[0]->data)
        memcpy(out[0]->data, in[0]->data, out[0]->nbytes);
    return 0;
}

/* ---- Identity ---- */
static int identity_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                          struct inferd_err *err)
{
    (void)n;
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}
const struct ox_op ox_op_identity = {
    .name = "Identity", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = identity_infer, .exec = copy_exec, .flags = OX_OP_ALIAS,
};

/* ---- Flatten ---- */
static int flatten_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    int rank = in[0]->rank;
    int64_t axis = ox_attr_int(n, "axis", 1);
    if (axis < -rank || axis > rank)
        return inferd_err_set(err, INFERD_EINVAL, "Flatten: axis %lld out of range for rank %d", (long long)axis,
                              rank);
    if (axis < 0)
        axis += rank;
    int64_t dims[2] = {1, 1};
    for (int d = 0; d < rank; d++)
        dims[d >= axis] *= in[0]->dims[d];
    return ox_set_shape(out[0], in[0]->dt, 2, dims, err);
}
const struct ox_op ox_op_flatten = {
    .name = "Flatten", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = flatten_infer, .exec = copy_exec, .flags = OX_OP_ALIAS,
};

/* ---- Reshape ---- */
static int reshape_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    int64_t shape[INFERD_MAX_RANK];
    int r = ox_const_ints(in[1], shape, INFERD_MAX_RANK, n, "shape", err);
    if (r < 0)
        return r;
    int allowzero = ox_attr_int(n, "allowzero", 0) != 0;
    int neg = -1;
    int64_t known = 1;
    for (int d = 0; d < r; d++) {
        if (shape[d] == 0 && !allowzero) {
            if (d >= in[0]->rank)
                return inferd_err_set(err, INFERD_ESHAPE, "Reshape: 0 at dim %d copies a dim the input lacks", d);
            shape[d] = in[0]->dims[d];
        }
        if (shape[d] == -1) {
            if (neg >= 0)
                return inferd_err_set(err, INFERD_ESHAPE, "Reshape: more than one -1 in shape");
            neg = d;
            continue;
        }
        if (shape[d] < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "Reshape: negative dim %lld", (long long)shape[d]);
        if (shape[d] && known > INT64_MAX / shape[d])
            return inferd_err_set(err, INFERD_ESHAPE, "Reshape: shape overflows");
        known *= shape[d];
    }
    if (neg >= 0) {
        if (known == 0 || in[0]->numel % known)
            return inferd_err_set(err, INFERD_ESHAPE, "Reshape: cannot infer -1 (%lld elements into %lld)",
                                  (long long)in[0]->numel, (long long)known);
        shape[neg] = in[0]->numel / known;
        known *= shape[neg];
    }
    if (known != in[0]->numel)
        return inferd_err_set(err, INFERD_ESHAPE, "Reshape: %lld elements cannot become %lld",
                              (long long)in[0]->numel, (long long)known);
    return ox_set_shape(out[0], in[0]->dt, r, shape, err);
}
const struct ox_op ox_op_reshape = {
    .name = "Reshape", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = reshape_infer, .exec = copy_exec, .flags = OX_OP_ALIAS,
};

/* axes of Squeeze/Unsqueeze: attribute before opset 13, input after. Returns count. */
static int get_axes(const struct ox_node *n, struct ox_tensor *const *in, int64_t *axes, struct inferd_err *err)
{
    if (n->opset >= 13) {
        if (n->n_in < 2 || !in[1])
            return 0;
        return ox_const_ints(in[1], axes, INFERD_MAX_RANK, n, "axes", err);
    }
    const struct ox_attr *a = ox_attr_find(n, "axes");
    if (!a || a->type != OX_ATTR_INTS)
        return 0;
    if (a->n_ints > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_EINVAL, "%s: more than %d axes", n->op_type, INFERD_MAX_RANK);
    memcpy(axes, a->ints, (size_t)a->n_ints * sizeof(int64_t));
    return (int)a->n_ints;
}

/* ---- Squeeze ---- */
static int squeeze_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    int64_t axes[INFERD_MAX_RANK];
    int na = get_axes(n, in, axes, err);
    if (na < 0)
        return na;
    unsigned mask = 0;
    for (int i = 0; i < na; i++) {
        int64_t ax;
        int rc = ox_axis(axes[i], in[0]->rank, &ax, n, "axes", err);
        if (rc < 0)
            return rc;
        if (in[0]->dims[ax] != 1)
            return inferd_err_set(err, INFERD_ESHAPE, "Squeeze: dim %lld is %lld, not 1", (long long)ax,
                                  (long long)in[0]->dims[ax]);
        mask |= 1u << ax;
    }
    int64_t dims[INFERD_MAX_RANK];
    int r = 0;
    for (int d = 0; d < in[0]->rank; d++) {
        int drop = na ? (mask >> d) & 1 : in[0]->dims[d] == 1;
        if (!drop)
            dims[r++] = in[0]->dims[d];
    }
    return ox_set_shape(out[0], in[0]->dt, r, dims, err);
}
const struct ox_op ox_op_squeeze = {
    .name = "Squeeze", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = squeeze_infer, .exec = copy_exec, .flags = OX_OP_ALIAS,
};

/* ---- Unsqueeze ---- */
static int unsqueeze_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                           struct inferd_err *err)
{
    int64_t axes[INFERD_MAX_RANK];
    int na = get_axes(n, in, axes, err);
    if (na < 0)
        return na;
    int r = in[0]->rank + na;
    if (r > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Unsqueeze: rank %d above %d", r, INFERD_MAX_RANK);
    unsigned mask = 0;
    for (int i = 0; i < na; i++) {
        int64_t ax;
        int rc = ox_axis(axes[i], r, &ax, n, "axes", err);
        if (rc < 0)
            return rc;
        if (mask & (1u << ax))
            return inferd_err_set(err, INFERD_EINVAL, "Unsqueeze: axis %lld repeated", (long long)ax);
        mask |= 1u << ax;
    }
    int64_t dims[INFERD_MAX_RANK];
    for (int d = 0, s = 0; d < r; d++)
        dims[d] = (mask >> d) & 1 ? 1 : in[0]->dims[s++];
    return ox_set_shape(out[0], in[0]->dt, r, dims, err);
}
const struct ox_op ox_op_unsqueeze = {
    .name = "Unsqueeze", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = unsqueeze_infer, .exec = copy_exec, .flags = OX_OP_ALIAS,
};

/* ---- Shape ---- */
static void shape_range(const struct ox_node *n, int rank, int64_t *lo, int64_t *hi)
{
    int64_t s = ox_attr_int(n, "start", 0), e = ox_attr_int(n, "end", rank);
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    *lo = s < 0 ? 0 : s > rank ? rank : s;
    *hi = e < 0 ? 0 : e > rank ? rank : e;
    if (*hi < *lo)
        *hi = *lo;
}

static int shape_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    int64_t lo, hi;
    shape_range(n, in[0]->rank, &lo, &hi);
    int64_t d = hi - lo;
    return ox_set_shape(out[0], INFERD_INT64, 1, &d, err);
}

static int shape_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    int64_t lo, hi;
    shape_range(n, in[0]->rank, &lo, &hi);
    for (int64_t i = lo; i < hi; i++)
        ((int64_t *)out[0]->data)[i - lo] = in[0]->dims[i];
    return 0;
}
const struct ox_op ox_op_shape = {
    .name = "Shape", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = shape_infer, .exec = shape_exec, .flags = OX_OP_SHAPE_ONLY,
};

/* ---- Constant ---- */
static int constant_prepare(struct ox_node *n, struct inferd_err *err)
{
    if (n->n_attrs != 1)
        return inferd_err_set(err, INFERD_EFORMAT, "Constant: needs exactly one attribute, has %d", n->n_attrs);
    const struct ox_attr *a = &n->attrs[0];
    if (strcmp(a->name, "value") == 0 && a->t)
        return 0;
    if ((strcmp(a->name, "value_float") == 0 && a->type == OX_ATTR_FLOAT) ||
        (strcmp(a->name, "value_int") == 0 && a->type == OX_ATTR_INT) ||
        (strcmp(a->name, "value_floats") == 0 && a->type == OX_ATTR_FLOATS) ||
        (strcmp(a->name, "value_ints") == 0 && a->type == OX_ATTR_INTS))
        return 0;
    return inferd_err_set(err, INFERD_EUNSUPPORTED, "Constant: attribute '%s' is not supported", a->name);
}

static int constant_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                          struct inferd_err *err)
{
    (void)in;
    const struct ox_attr *a = &n->attrs[0];
    if (a->t)
        return ox_set_shape(out[0], a->t->dt, a->t->rank, a->t->dims, err);
    int64_t len = a->type == OX_ATTR_FLOATS ? a->n_floats : a->n_ints;
    switch (a->type) {
    case OX_ATTR_FLOAT: return ox_set_shape(out[0], INFERD_FP32, 0, NULL, err);
    case OX_ATTR_INT: return ox_set_shape(out[0], INFERD_INT64, 0, NULL, err);
    case OX_ATTR_FLOATS: return ox_set_shape(out[0], INFERD_FP32, 1, &len, err);
    default: return ox_set_shape(out[0], INFERD_INT64, 1, &len, err);
    }
}

static int constant_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                         struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)in;
    (void)err;
    const struct ox_attr *a = &n->attrs[0];
    const void *src = a->t ? a->t->data : a->type == OX_ATTR_FLOAT ? (const void *)&a->f
                      : a->type == OX_ATTR_INT ? (const void *)&a->i : a->type == OX_ATTR_FLOATS ? (const void *)a->floats
                      : (const void *)a->ints;
    if (out[0]->nbytes)
        memcpy(out[0]->data, src, out[0]->nbytes);
    return 0;
}
const struct ox_op ox_op_constant = {
    .name = "Constant", .min_in = 0, .max_in = 0, .min_out = 1, .max_out = 1,
    .prepare = constant_prepare, .infer = constant_infer, .exec = constant_exec,
};
