/* fuse_transformer.c — load-time fusions for the graphs torch and TF export for
 * transformers (BERT, ViT), run by ox_fuse after the Conv fusions, each switchable:
 *
 *   LayerNorm (INFERD_ONNX_OPT_LAYERNORM), axes = [-1], keepdims, eps / gamma / beta constant:
 *     m = ReduceMean(x); d = Sub(x, m); v = ReduceMean(Pow(d, 2) | Mul(d, d));
 *     s = Sqrt(Add(v, eps)); n = Div(d, s) | Mul(d, Reciprocal(s)); y = Add(Mul(n, gamma), beta)
 *                                                 => y = LayerNormalization(x, gamma, beta)
 *   GELU (INFERD_ONNX_OPT_GELU):
 *     e = Erf(Div(x, sqrt 2) | Mul(x, 1/sqrt 2))                               (exact)
 *     e = Tanh(Mul(Add(x, Mul(Pow(x, 3), 0.044715)), sqrt(2/pi)))               (tanh approximation)
 *     then y = Mul(Mul(x, Add(e, 1)), 0.5) | Mul(x, Mul(Add(e, 1), 0.5)) | Mul(Mul(x, 0.5), Add(e, 1))
 *                                                 => y = Gelu(x) (approximate "none" / "tanh")
 *   Transpose pairs (INFERD_ONNX_OPT_TRANSPOSE):
 *     Transpose(Transpose(x, p1), p2)             => Transpose(x, p1∘p2), or x when that is the identity
 *   attention (INFERD_ONNX_OPT_ATTENTION), Q, Kt, V made by 4-D Transposes (torch's head split):
 *     s = Div(MatMul(Q, Kt), c) | Mul(MatMul(Q, Kt), c) | MatMul(Q, Kt);
 *     z = Add(s, mask) | Where(cond, fill, s) | s; Y = MatMul(Softmax(z, axis -1), V)
 *                                                 => Y = InferdAttention(Q, Kt, V[, mask]) (ops/attention.c)
 *     and when Q, Kt, V are Transpose(0,2,1,3 | 0,2,3,1 | 0,2,1,3) of (B,S,H,D) tensors read by
 *     nothing else and Y's one reader is Transpose(0,2,1,3), those four Transposes go too
 *     (InferdAttention layout 1 reads the (B,S,H,D) tensors through strides)
 *   MatMul epilogue (INFERD_ONNX_OPT_MATMUL), W a constant 2-D FP32 matrix, b a constant (N):
 *     y = Add(MatMul(x, W), b) [then Gelu(y), approximate "none"]
 *                                                 => y = InferdMatMul(x, W, b; gelu) (ops/gemm.c:
 *     the bias and GELU applied in the packed GEMM's store, gemm_nt.h)
 *
 * Operands may be in either order where the op commutes. As in fuse.c, a rewrite happens only
 * when every intermediate value has exactly the pattern's consumers and is no graph output;
 * the pattern's last node becomes the fused op (keeping its output), the others are marked
 * dead. Constants must match to 1e-5 relative (exporters print sqrt(2) and friends in float). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "inferd/onnx.h"
#include "onnx/fuse_int.h"

#define SQRT2 1.41421356237309504880
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2 / pi) */

/* a constant scalar equal to want within 1e-5 relative */
static int scalar_is(const struct fuse *f, int v, double want)
{
    float x;
    return fuse__scalar(f, v, &x) && fabs((double)x - want) <= 1e-5 * fabs(want);
}

/* Node n is `type` with inputs {a, constant == c} in either order. */
static int op_with_const(const struct fuse *f, const struct ox_node *n, const char *type, int a, double c)
{
    return n && fuse__is_op(n, type) && n->n_in == 2 && n->n_out == 1 && scalar_is(f, fuse__other_input(n, a), c);
}

/* The value of an INT64 constant holding one element (a ReduceMean axes input), into *out. */
static int const_i64_1(const struct fuse *f, int v, int64_t *out)
{
    const struct ox_tensor *t = v >= 0 ? f->m->values[v].init : NULL;
    const struct ox_node *p = t ? NULL : fuse__producer(f, v);
    if (p && fuse__is_op(p, "Constant")) {
        const struct ox_attr *a = ox_attr_find(p, "value");
        t = a && a->type == OX_ATTR_TENSOR ? a->t : NULL;
    }
    if (!t || t->dt != INFERD_INT64 || t->numel != 1 || !t->data)
        return 0;
    memcpy(out, t->data, sizeof *out);
    return 1;
}

/* ReduceMean over the last axis only, keeping dims, of x (NULL n: no). */
static int mean_last(const struct fuse *f, const struct ox_node *n, int x)
{
    if (!n || !fuse__is_op(n, "ReduceMean") || n->n_out != 1 || n->in[0] != x || ox_attr_int(n, "keepdims", 1) == 0)
        return 0;
    const struct ox_attr *a = ox_attr_find(n, "axes");
    int64_t axis = 0;
    if (a && a->type == OX_ATTR_INTS && a->n_ints == 1 && n->n_in == 1)
        axis = a->ints[0];
    else if (a || n->n_in != 2 || !const_i64_1(f, n->in[1], &axis))
        return 0;
    return axis == -1;
}

/* gamma / beta of a fused LayerNorm: an FP32 constant of rank 1 (a (1, ..., L) one would
 * raise the rank of a lower-rank input in the unfused graph, which the kernel does not). */
static int row_const(const struct fuse *f, int v)
{
    const struct ox_tensor *t = fuse__const_t(f, v);
    return t && t->rank == 1;
}

/* Turns node n (one output, kept) into a default-domain `type` node reading ins[0..n_in)
 * with the given attributes (copied into the model's memory) and prepares it. Returns 1,
 * 0 when the op's prepare refuses, -1 out of memory. */
static int become(struct fuse *f, struct ox_node *n, const char *type, const int *ins, int n_in,
                  const struct ox_attr *attrs, int n_attrs)
{
    struct ox_model *m = f->m;
    const struct ox_op *op = ox_op_find(type);
    int *in = ox_mem_alloc(m->mem, (size_t)n_in * sizeof *in);
    const char **names = ox_mem_alloc(m->mem, (size_t)n_in * sizeof *names);
    struct ox_attr *at = ox_mem_alloc(m->mem, ((size_t)n_attrs + 1) * sizeof *at);
    if (!in || !names || !at)
        return -1;
    if (!op)
        return 0;
    struct ox_node t = *n;
    for (int k = 0; k < n_in; k++) {
        in[k] = ins[k];
        names[k] = m->values[ins[k]].name;
    }
    if (n_attrs)
        memcpy(at, attrs, (size_t)n_attrs * sizeof *at);
    t.op_type = type;
    t.domain = "";
    t.op = op;
    t.in = in;
    t.in_names = names;
    t.n_in = n_in;
    t.attrs = at;
    t.n_attrs = n_attrs;
    memset(t.ip, 0, sizeof t.ip);
    memset(t.fp, 0, sizeof t.fp);
    struct inferd_err e = {0};
    if (op->prepare && op->prepare(&t, &e) < 0)
        return 0;
    *n = t;
    return 1;
}

static void drop_node(struct fuse *f, const struct ox_node *n)
{
    f->dead[n - f->m->nodes] = 1;
}

/* ---- LayerNorm ---- */

static int layernorm_at(struct fuse *f, struct ox_node *r1)
{
    int x = r1->in[0];
    if (!mean_last(f, r1, x))
        return 0;
    struct ox_node *sub = fuse__consumer(f, r1->out[0], 1, 0);
    if (!sub || !fuse__is_op(sub, "Sub") || sub->n_in != 2 || sub->in[0] != x || sub->in[1] != r1->out[0])
        return 0;
    int d = sub->out[0];
    /* d is read by the square (Pow(d, 2) once, or Mul(d, d) twice) and by the division */
    int nd = d >= 0 && !f->is_out[d] ? f->cons_at[d + 1] - f->cons_at[d] : 0;
    struct ox_node *sq = NULL, *dv = NULL;
    for (int k = 0; k < nd; k++) {
        struct ox_node *c = &f->m->nodes[f->cons[f->cons_at[d] + k]];
        if (f->dead[c - f->m->nodes])
            return 0;
        int is_sq = (fuse__is_op(c, "Pow") && c->n_in == 2 && c->in[0] == d && scalar_is(f, c->in[1], 2.0)) ||
                    (fuse__is_op(c, "Mul") && c->n_in == 2 && c->in[0] == d && c->in[1] == d);
        if (is_sq && (!sq || sq == c))
            sq = c;
        else if (!is_sq && !dv)
            dv = c;
        else if (c != dv)
            return 0;
    }
    if (!sq || !dv || nd != (fuse__is_op(sq, "Pow") ? 2 : 3))
        return 0;
    struct ox_node *r2 = fuse__consumer(f, sq->out[0], 1, 0);
    if (!mean_last(f, r2, sq->out[0]))
        return 0;
    struct ox_node *ae = fuse__consumer(f, r2->out[0], 1, 0);
    float eps;
    if (!ae || !fuse__is_op(ae, "Add") || ae->n_out != 1 || !fuse__scalar(f, fuse__other_input(ae, r2->out[0]), &eps) ||
        !(eps >= 0))
        return 0;
    struct ox_node *sqr = fuse__consumer(f, ae->out[0], 1, 0), *rcp = NULL;
    if (!sqr || !fuse__is_op(sqr, "Sqrt") || sqr->in[0] != ae->out[0])
        return 0;
    if (fuse__is_op(dv, "Div")) {
        if (dv->n_in != 2 || dv->in[0] != d || dv->in[1] != sqr->out[0] || fuse__consumer(f, sqr->out[0], 1, 0) != dv)
            return 0;
    } else {
        rcp = fuse__consumer(f, sqr->out[0], 1, 0);
        if (!rcp || !fuse__is_op(rcp, "Reciprocal") || !fuse__is_op(dv, "Mul") ||
            fuse__other_input(dv, d) != rcp->out[0] || fuse__consumer(f, rcp->out[0], 1, 0) != dv)
            return 0;
    }
    struct ox_node *mg = fuse__consumer(f, dv->out[0], 1, 0);
    int gamma = mg && fuse__is_op(mg, "Mul") && mg->n_out == 1 ? fuse__other_input(mg, dv->out[0]) : -2;
    if (!row_const(f, gamma))
        return 0;
    struct ox_node *ab = fuse__consumer(f, mg->out[0], 1, 0), *last = mg;
    int beta = ab && fuse__is_op(ab, "Add") && ab->n_out == 1 ? fuse__other_input(ab, mg->out[0]) : -2;
    if (row_const(f, beta))
        last = ab;
    struct ox_attr at[2] = {{.name = "axis", .type = OX_ATTR_INT, .i = -1},
                            {.name = "epsilon", .type = OX_ATTR_FLOAT, .f = eps}};
    int ins[3] = {x, gamma, beta};
    int rc = become(f, last, "LayerNormalization", ins, last == ab ? 3 : 2, at, 2);
    if (rc <= 0)
        return rc;
    struct ox_node *gone[] = {r1, sub, sq, r2, ae, sqr, rcp, dv, last == ab ? mg : NULL};
    for (size_t k = 0; k < sizeof gone / sizeof *gone; k++)
        if (gone[k])
            drop_node(f, gone[k]);
    return 1;
}

/* ---- GELU ---- */

/* From a = Add(e, 1) on: the three orderings of x * a * 0.5. Returns the last node (its
 * helpers into drop[]) or NULL. */
static struct ox_node *gelu_tail(const struct fuse *f, int x, const struct ox_node *a, struct ox_node **drop, int *nd)
{
    struct ox_node *c1 = fuse__consumer(f, a->out[0], 1, 0);
    if (!c1 || !fuse__is_op(c1, "Mul") || c1->n_in != 2 || c1->n_out != 1)
        return NULL;
    int o = fuse__other_input(c1, a->out[0]);
    struct ox_node *c2 = fuse__consumer(f, c1->out[0], 1, 0), *h = fuse__producer(f, o);
    if (o == x && op_with_const(f, c2, "Mul", c1->out[0], 0.5)) { /* (x * a) * 0.5 */
        drop[(*nd)++] = c1;
        return c2;
    }
    if (scalar_is(f, o, 0.5) && c2 && fuse__is_op(c2, "Mul") && c2->n_out == 1 &&
        fuse__other_input(c2, c1->out[0]) == x) { /* x * (a * 0.5) */
        drop[(*nd)++] = c1;
        return c2;
    }
    if (h && op_with_const(f, h, "Mul", x, 0.5) && fuse__consumer(f, o, 1, 0) == c1) { /* (x * 0.5) * a */
        drop[(*nd)++] = h;
        return c1;
    }
    return NULL;
}

/* Add(e, 1) reading e alone */
static struct ox_node *plus_one(const struct fuse *f, int e)
{
    struct ox_node *a = fuse__consumer(f, e, 1, 0);
    return op_with_const(f, a, "Add", e, 1.0) ? a : NULL;
}

static int gelu_erf_at(struct fuse *f, struct ox_node *erf)
{
    struct ox_node *dv = fuse__producer(f, erf->in[0]), *drop[8];
    int nd = 0;
    if (!dv || fuse__consumer(f, dv->out[0], 1, 0) != erf || dv->n_in != 2)
        return 0;
    int x = dv->in[0];
    if (fuse__is_op(dv, "Mul") && !scalar_is(f, dv->in[1], (1.0 / SQRT2)))
        x = dv->in[1];
    if (!(fuse__is_op(dv, "Div") && dv->n_in == 2 && scalar_is(f, dv->in[1], SQRT2)) &&
        !op_with_const(f, dv, "Mul", x, (1.0 / SQRT2)))
        return 0;
    struct ox_node *a = plus_one(f, erf->out[0]), *last = a ? gelu_tail(f, x, a, drop, &nd) : NULL;
    if (!last)
        return 0;
    int rc = become(f, last, "Gelu", &x, 1, NULL, 0);
    if (rc <= 0)
        return rc;
    drop_node(f, dv);
    drop_node(f, erf);
    drop_node(f, a);
    for (int k = 0; k < nd; k++)
        drop_node(f, drop[k]);
    return 1;
}

static int gelu_tanh_at(struct fuse *f, struct ox_node *th)
{
    struct ox_node *ms = fuse__producer(f, th->in[0]), *drop[8];
    int nd = 0;
    if (!ms || fuse__consumer(f, ms->out[0], 1, 0) != th || !fuse__is_op(ms, "Mul") || ms->n_in != 2)
        return 0;
    int s = scalar_is(f, ms->in[1], SQRT_2_OVER_PI) ? ms->in[0] : ms->in[1];
    struct ox_node *add = fuse__producer(f, s);
    if (!op_with_const(f, ms, "Mul", s, SQRT_2_OVER_PI) || !add || !fuse__is_op(add, "Add") || add->n_in != 2 ||
        fuse__consumer(f, s, 1, 0) != ms)
        return 0;
    for (int side = 0; side < 2; side++) { /* x + c*x^3 or c*x^3 + x */
        int x = add->in[side], p = add->in[!side];
        struct ox_node *mc = fuse__producer(f, p);
        if (!mc || !fuse__is_op(mc, "Mul") || mc->n_in != 2 || fuse__consumer(f, p, 1, 0) != add)
            continue;
        int q = scalar_is(f, mc->in[1], 0.044715) ? mc->in[0] : mc->in[1];
        struct ox_node *pw = fuse__producer(f, q);
        if (!op_with_const(f, mc, "Mul", q, 0.044715) || !pw || !fuse__is_op(pw, "Pow") || pw->n_in != 2 ||
            pw->in[0] != x || !scalar_is(f, pw->in[1], 3.0) || fuse__consumer(f, q, 1, 0) != mc)
            continue;
        struct ox_node *a = plus_one(f, th->out[0]), *last = a ? gelu_tail(f, x, a, drop, &nd) : NULL;
        if (!last)
            return 0;
        struct ox_attr at = {.name = "approximate", .type = OX_ATTR_STRING, .s = "tanh", .s_len = 4};
        int rc = become(f, last, "Gelu", &x, 1, &at, 1);
        if (rc <= 0)
            return rc;
        struct ox_node *gone[] = {pw, mc, add, ms, th, a};
        for (size_t k = 0; k < sizeof gone / sizeof *gone; k++)
            drop_node(f, gone[k]);
        for (int k = 0; k < nd; k++)
            drop_node(f, drop[k]);
        return 1;
    }
    return 0;
}

/* ---- Transpose pairs ---- */

/* perm of a Transpose into p (returns its length), 0 when left to the default (reversed) */
static int perm_of(const struct ox_node *n, int64_t *p)
{
    const struct ox_attr *a = ox_attr_find(n, "perm");
    if (!a || a->type != OX_ATTR_INTS || a->n_ints < 1 || a->n_ints > INFERD_MAX_RANK)
        return a ? -1 : 0;
    for (int64_t d = 0; d < a->n_ints; d++) {
        if (a->ints[d] < 0 || a->ints[d] >= a->n_ints)
            return -1;
        p[d] = a->ints[d];
    }
    return (int)a->n_ints;
}

static int transpose_at(struct fuse *f, struct ox_node *t2)
{
    struct ox_model *m = f->m;
    struct ox_node *t1 = fuse__producer(f, t2->in[0]);
    if (!t1 || !fuse__is_op(t1, "Transpose") || t1->n_out != 1 || fuse__consumer(f, t1->out[0], 1, 0) != t2)
        return 0;
    int64_t p1[INFERD_MAX_RANK], p2[INFERD_MAX_RANK], p[INFERD_MAX_RANK];
    int r1 = perm_of(t1, p1), r2 = perm_of(t2, p2), x = t1->in[0], y = t2->out[0], ident = 1;
    if (r1 < 0 || r2 < 0 || r1 != r2)
        return 0; /* one default and one explicit perm: compose when the rank is known (not here) */
    for (int j = 0; j < r1; j++) { /* out[j] = mid[p2[j]] = x[p1[p2[j]]] */
        p[j] = p1[p2[j]];
        ident &= p[j] == j;
    }
    if (ident && !f->is_out[y]) { /* the readers of y read x */
        for (int k = f->cons_at[y]; k < f->cons_at[y + 1]; k++) {
            struct ox_node *c = &m->nodes[f->cons[k]];
            for (int i = 0; i < c->n_in; i++)
                if (c->in[i] == y) {
                    c->in[i] = x;
                    c->in_names[i] = m->values[x].name;
                }
        }
        drop_node(f, t1);
        drop_node(f, t2);
        return 1;
    }
    struct ox_attr at = {.name = "perm", .type = OX_ATTR_INTS, .n_ints = r1};
    if (!ident) {
        if (!(at.ints = ox_mem_alloc(m->mem, (size_t)r1 * sizeof *at.ints)))
            return -1;
        memcpy(at.ints, p, (size_t)r1 * sizeof *p);
    }
    int rc = ident ? become(f, t2, "Identity", &x, 1, NULL, 0) : become(f, t2, "Transpose", &x, 1, &at, 1);
    if (rc > 0)
        drop_node(f, t1);
    return rc;
}

/* ---- attention ---- */

/* v is made by a 4-D Transpose (so that its rank is known to be 4 at load) */
static int from_transpose4(const struct fuse *f, int v)
{
    const struct ox_node *t = fuse__producer(f, v);
    int64_t p[INFERD_MAX_RANK];
    return t && fuse__is_op(t, "Transpose") && perm_of(t, p) == 4;
}

/* t is a Transpose with perm (a, b, c, d) */
static int perm_is(const struct ox_node *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t p[INFERD_MAX_RANK];
    return t && fuse__is_op(t, "Transpose") && perm_of(t, p) == 4 && p[0] == a && p[1] == b && p[2] == c && p[3] == d;
}

/* s = MatMul(Q, Kt) scaled by Div(c) / Mul(c) or not, read by `reader` alone: *sp the
 * scaling node (or NULL), *mm1 the MatMul, *scale its factor. */
static int scores_of(const struct fuse *f, int s, const struct ox_node *reader, float *scale, struct ox_node **sp,
                     struct ox_node **mm1)
{
    struct ox_node *p = fuse__producer(f, s);
    float c;
    if (!p || fuse__consumer(f, s, 1, 0) != reader)
        return 0;
    *sp = NULL;
    *mm1 = p;
    *scale = 1.0f;
    int div = fuse__is_op(p, "Div"), mul = fuse__is_op(p, "Mul");
    if ((div || mul) && p->n_in == 2) {
        int mv = fuse__scalar(f, p->in[1], &c) ? p->in[0] : mul && fuse__scalar(f, p->in[0], &c) ? p->in[1] : -1;
        if (mv < 0 || (div && c == 0) || !(*mm1 = fuse__producer(f, mv)) || fuse__consumer(f, mv, 1, 0) != p)
            return 0;
        *sp = p;
        *scale = div ? 1.0f / c : c;
    }
    return fuse__is_op(*mm1, "MatMul") && (*mm1)->n_in == 2 && (*mm1)->n_out == 1;
}

/* At the second MatMul of Y = MatMul(Softmax(mask(scale(MatMul(Q, Kt)))), V). */
static int attention_at(struct fuse *f, struct ox_node *mm2)
{
    struct ox_node *sm = fuse__producer(f, mm2->in[0]), *zp, *sp = NULL, *mm1 = NULL, *mp = NULL;
    if (mm2->n_in != 2 || !sm || !fuse__is_op(sm, "Softmax") || fuse__consumer(f, sm->out[0], 1, 0) != mm2 ||
        ox_attr_int(sm, "axis", sm->opset >= 13 ? -1 : 1) != -1)
        return 0; /* before opset 13, axis -1 coerces to rows of the last dim: the same */
    int z = sm->in[0], mask = -1, mode = 0, found = 0;
    float fill = -INFINITY, scale = 1.0f;
    if ((zp = fuse__producer(f, z)) && fuse__consumer(f, z, 1, 0) == sm) {
        if (fuse__is_op(zp, "Where") && zp->n_in == 3 && fuse__scalar(f, zp->in[1], &fill) &&
            scores_of(f, zp->in[2], zp, &scale, &sp, &mm1)) {
            mp = zp;
            mask = zp->in[0];
            mode = 2;
            found = 1;
        } else if (fuse__is_op(zp, "Add") && zp->n_in == 2 && zp->in[0] != zp->in[1]) {
            for (int side = 0; side < 2 && !found; side++)
                if (scores_of(f, zp->in[side], zp, &scale, &sp, &mm1)) {
                    mp = zp;
                    mask = zp->in[!side];
                    mode = 1;
                    found = 1;
                }
        }
    }
    if (!found && !scores_of(f, z, sm, &scale, &sp, &mm1))
        return 0;
    int q = mm1->in[0], kt = mm1->in[1], v = mm2->in[1];
    if (!from_transpose4(f, q) || !from_transpose4(f, kt) || !from_transpose4(f, v))
        return 0; /* Q, Kt, V of rank 4 (as torch's head split leaves them) */
    /* layout 1: the head-split Transposes of Q, K, V and the merge Transpose after Y are
     * read through strides instead, when nothing else reads their outputs */
    struct ox_node *tq = fuse__producer(f, q), *tk = fuse__producer(f, kt), *tv = fuse__producer(f, v);
    struct ox_node *to = fuse__consumer(f, mm2->out[0], 1, 0), *last = mm2;
    int layout = to && fuse__is_op(to, "Transpose") && to->n_out == 1 && perm_is(to, 0, 2, 1, 3) &&
                 perm_is(tq, 0, 2, 1, 3) && perm_is(tk, 0, 2, 3, 1) && perm_is(tv, 0, 2, 1, 3) &&
                 fuse__consumer(f, q, 1, 0) == mm1 && fuse__consumer(f, kt, 1, 0) == mm1 &&
                 fuse__consumer(f, v, 1, 0) == mm2;
    if (layout) {
        q = tq->in[0];
        kt = tk->in[0];
        v = tv->in[0];
        last = to;
    }
    struct ox_attr at[4] = {{.name = "scale", .type = OX_ATTR_FLOAT, .f = scale},
                            {.name = "mask_mode", .type = OX_ATTR_INT, .i = mode},
                            {.name = "fill", .type = OX_ATTR_FLOAT, .f = fill},
                            {.name = "layout", .type = OX_ATTR_INT, .i = layout}};
    int ins[4] = {q, kt, v, mask};
    int rc = become(f, last, "InferdAttention", ins, mode ? 4 : 3, at, 4);
    if (rc <= 0)
        return rc;
    if (layout) {
        drop_node(f, tq);
        drop_node(f, tk);
        drop_node(f, tv);
        drop_node(f, mm2);
    }
    struct ox_node *gone[] = {sm, mp, sp, mm1};
    for (size_t k = 0; k < sizeof gone / sizeof *gone; k++)
        if (gone[k])
            drop_node(f, gone[k]);
    return 1;
}

/* ---- MatMul + bias [+ Gelu] ---- */

static int matmul_epi_at(struct fuse *f, struct ox_node *mm)
{
    if (mm->n_in != 2 || mm->in[0] < 0 || mm->in[1] < 0)
        return 0;
    const struct ox_tensor *w = fuse__const_t(f, mm->in[1]);
    int y = mm->out[0];
    struct ox_node *add = fuse__consumer(f, y, 1, 0);
    if (!w || w->rank != 2 || !add || !fuse__is_op(add, "Add") || add->n_out != 1 || add->out[0] < 0)
        return 0;
    int bv = fuse__other_input(add, y);
    const struct ox_tensor *b = bv >= 0 ? fuse__const_t(f, bv) : NULL;
    if (!b || b->rank != 1 || b->dims[0] != w->dims[1])
        return 0;
    struct ox_node *last = add, *g = fuse__consumer(f, add->out[0], 1, 0);
    const struct ox_attr *ap = g ? ox_attr_find(g, "approximate") : NULL;
    int gelu = g && fuse__is_op(g, "Gelu") && g->n_in == 1 && g->n_out == 1 && g->out[0] >= 0 &&
               (!ap || (ap->s && strcmp(ap->s, "none") == 0));
    if (gelu)
        last = g;
    struct ox_attr at = {.name = "gelu", .type = OX_ATTR_INT, .i = gelu};
    int ins[3] = {mm->in[0], mm->in[1], bv};
    int rc = become(f, last, "InferdMatMul", ins, 3, &at, 1);
    if (rc <= 0)
        return rc;
    drop_node(f, mm);
    if (gelu)
        drop_node(f, add);
    return 1;
}

/* ---- driver ---- */

int fuse__transformer(struct fuse *f, unsigned off, struct ox_fuse_report *r)
{
    static const struct {
        unsigned bit;
        const char *op;
        int (*at)(struct fuse *, struct ox_node *);
        size_t count; /* offset of the counter in the report */
    } pass[] = {
        {INFERD_ONNX_OPT_LAYERNORM, "ReduceMean", layernorm_at, offsetof(struct ox_fuse_report, layernorm)},
        {INFERD_ONNX_OPT_GELU, "Erf", gelu_erf_at, offsetof(struct ox_fuse_report, gelu)},
        {INFERD_ONNX_OPT_GELU, "Tanh", gelu_tanh_at, offsetof(struct ox_fuse_report, gelu)},
        {INFERD_ONNX_OPT_TRANSPOSE, "Transpose", transpose_at, offsetof(struct ox_fuse_report, transpose)},
        {INFERD_ONNX_OPT_ATTENTION, "MatMul", attention_at, offsetof(struct ox_fuse_report, attention)},
        {INFERD_ONNX_OPT_MATMUL, "MatMul", matmul_epi_at, offsetof(struct ox_fuse_report, matmul)},
    };
    for (size_t p = 0; p < sizeof pass / sizeof *pass; p++) {
        if (off & pass[p].bit)
            continue;
        if (fuse__index(f) < 0) /* the previous pass changed who reads what */
            return -1;
        int *count = (int *)((char *)r + pass[p].count);
        for (int i = 0; i < f->m->n_nodes; i++) {
            struct ox_node *n = &f->m->nodes[i];
            if (f->dead[i] || !fuse__is_op(n, pass[p].op) || n->n_in < 1 || n->n_out != 1 || n->out[0] < 0)
                continue;
            int rc = pass[p].at(f, n);
            if (rc < 0)
                return -1;
            *count += rc;
        }
    }
    return 0;
}
