/* slice.c — Slice for any dtype: starts/ends/axes/steps as attributes (opset < 10) or as
 * inputs (opset 10+, known at plan time). Indices clamp as in numpy; negative steps walk
 * backwards. The copy walks the output with per-dim input strides, a contiguous run of elements
 * at a time; a slice that is one contiguous range of X (a channel slice of a batch-1 NCHW tensor)
 * is a view the plan makes without a copy (OX_OP_VIEW). */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

struct slice_spec {
    int64_t start[INFERD_MAX_RANK], step[INFERD_MAX_RANK], len[INFERD_MAX_RANK];
};

static int attr_ints(const struct ox_node *n, const char *name, int64_t *out, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, name);
    if (!a || a->type != OX_ATTR_INTS)
        return 0;
    if (a->n_ints > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_EINVAL, "Slice: %s has too many entries", name);
    memcpy(out, a->ints, (size_t)a->n_ints * sizeof(int64_t));
    return (int)a->n_ints;
}

static int slice_spec(const struct ox_node *n, struct ox_tensor *const *in, struct slice_spec *sp,
                      struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    int64_t st[INFERD_MAX_RANK], en[INFERD_MAX_RANK], ax[INFERD_MAX_RANK], stp[INFERD_MAX_RANK];
    int ns, ne, na = -1, np = -1;
    if (n->opset < 10) {
        if ((ns = attr_ints(n, "starts", st, err)) < 0 || (ne = attr_ints(n, "ends", en, err)) < 0 ||
            (na = attr_ints(n, "axes", ax, err)) < 0)
            return ns < 0 ? ns : ne < 0 ? ne : na;
        if (na == 0)
            na = -1;
    } else {
        if (n->n_in < 3 || !in[1] || !in[2])
            return inferd_err_set(err, INFERD_EFORMAT, "Slice: starts and ends inputs are required");
        if ((ns = ox_const_ints(in[1], st, INFERD_MAX_RANK, n, "starts", err)) < 0)
            return ns;
        if ((ne = ox_const_ints(in[2], en, INFERD_MAX_RANK, n, "ends", err)) < 0)
            return ne;
        if (n->n_in > 3 && in[3] && (na = ox_const_ints(in[3], ax, INFERD_MAX_RANK, n, "axes", err)) < 0)
            return na;
        if (n->n_in > 4 && in[4] && (np = ox_const_ints(in[4], stp, INFERD_MAX_RANK, n, "steps", err)) < 0)
            return np;
    }
    if (ns != ne || (na >= 0 && na != ns) || (np >= 0 && np != ns))
        return inferd_err_set(err, INFERD_EINVAL, "Slice: starts/ends/axes/steps lengths differ");
    for (int d = 0; d < x->rank; d++) {
        sp->start[d] = 0;
        sp->step[d] = 1;
        sp->len[d] = x->dims[d];
    }
    unsigned seen = 0;
    for (int i = 0; i < ns; i++) {
        int64_t a;
        int rc = ox_axis(na >= 0 ? ax[i] : i, x->rank, &a, n, "axes", err);
        if (rc < 0)
            return rc;
        if (seen & (1u << a))
            return inferd_err_set(err, INFERD_EINVAL, "Slice: axis %lld repeated", (long long)a);
        seen |= 1u << a;
        int64_t dim = x->dims[a], step = np >= 0 ? stp[i] : 1, s = st[i], e = en[i];
        if (step == 0)
            return inferd_err_set(err, INFERD_EINVAL, "Slice: step 0");
        if (s < 0)
            s = s < -dim ? 0 : s + dim;
        if (e < 0)
            e = e < -dim ? -1 : e + dim;
        if (step > 0) {
            s = s > dim ? dim : s;
            e = e > dim ? dim : e < 0 ? 0 : e;
            sp->len[a] = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s > dim - 1 ? dim - 1 : s;
            e = e > dim - 1 ? dim - 1 : e;
            sp->len[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        sp->start[a] = s;
        sp->step[a] = step;
    }
    return 0;
}

static int slice_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    struct slice_spec sp;
    int rc = slice_spec(n, in, &sp, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, sp.len, err);
}

/* The copy's shape: dims after `run_d` are taken whole (step 1), so the output is copied in
 * chunks of `chunk` contiguous input elements; an odometer walks the output dims before
 * `odo_end`. Returns the first input element (base). */
static int64_t slice_layout(const struct ox_tensor *x, const struct slice_spec *sp, int64_t *istr, int *odo_end,
                            int64_t *chunk)
{
    int rank = x->rank, d = rank - 1;
    int64_t s = 1, base = 0, inner = 1;
    for (int e = rank - 1; e >= 0; e--) {
        istr[e] = s;
        s *= x->dims[e];
    }
    for (int e = 0; e < rank; e++)
        base += sp->start[e] * istr[e];
    while (d >= 0 && sp->len[d] == x->dims[d] && (sp->step[d] == 1 || sp->len[d] <= 1))
        inner *= sp->len[d--];
    if (d >= 0 && (sp->step[d] == 1 || sp->len[d] <= 1)) { /* a run inside dim d */
        *chunk = inner * sp->len[d];
        *odo_end = d;
    } else {
        *chunk = inner;
        *odo_end = d + 1;
    }
    return base;
}

int64_t ox_slice_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct slice_spec sp;
    int64_t istr[INFERD_MAX_RANK], chunk;
    int odo_end;
    if (out[0]->numel == 0 || slice_spec(n, in, &sp, NULL) < 0)
        return -1;
    int64_t base = slice_layout(in[0], &sp, istr, &odo_end, &chunk);
    return chunk == out[0]->numel ? base * (int64_t)ox_dtype_size(in[0]->dt) : -1;
}

/* Y = X[start::step] per dim: chunks of contiguous elements, or one pointer when the plan
 * made Y a view (alias) of X. */
static int slice_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    struct slice_spec sp;
    int rc = slice_spec(n, in, &sp, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    if (y->numel == 0)
        return 0;
    size_t es = ox_dtype_size(x->dt);
    int64_t istr[INFERD_MAX_RANK], chunk;
    int odo_end;
    int64_t off = slice_layout(x, &sp, istr, &odo_end, &chunk);
    if (y->alias) {
        y->data = (char *)x->data + (size_t)off * es;
        return 0;
    }
    int64_t coord[INFERD_MAX_RANK] = {0};
    const char *xv = x->data;
    char *yv = y->data;
    size_t cb = (size_t)chunk * es;
    /* rows of dim odo_end - 1 in one call, the odometer over the dims before it */
    int inner_d = odo_end - 1;
    int64_t nrow = inner_d >= 0 ? y->dims[inner_d] : 1, sstep = inner_d >= 0 ? sp.step[inner_d] * istr[inner_d] : 0;
    for (int64_t i = 0; i < y->numel; i += chunk * nrow) {
        ox_copy_rows(yv + (size_t)i * es, (int64_t)cb, xv + (size_t)off * es, sstep * (int64_t)es, cb, nrow);
        for (int d = inner_d - 1; d >= 0; d--) {
            coord[d]++;
            off += sp.step[d] * istr[d];
            if (coord[d] < y->dims[d])
                break;
            off -= sp.step[d] * istr[d] * coord[d];
            coord[d] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_slice = {
    .name = "Slice", .min_in = 1, .max_in = 5, .min_out = 1, .max_out = 1,
    .infer = slice_infer, .exec = slice_exec, .flags = OX_OP_VIEW,
};
