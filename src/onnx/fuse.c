/* fuse.c — load-time rewrites of the sorted graph for the conv kernels (conv_kern.h), the
 * shared matching helpers (fuse_int.h), and ox_fuse, which also runs fuse_transformer.c's
 * passes. (Conv -> BatchNormalization is folded before, by optimize.c's bn_fold.)
 *
 *   Conv -> Mul / Add of a constant scalar or per-channel tensor => W and b rescaled / shifted
 *   Conv -> Relu | Clip (constant bounds) | HardSigmoid | HardSwish | Sigmoid
 *   Conv -> {Sigmoid, Mul(y, ·)}                               (SiLU)
 *   Conv -> {HardSigmoid, Mul(y, ·)}                           (torch's HardSwish before opset 14)
 *   Conv -> {Add(y, 3) -> Clip(0, 6), Mul(y, ·)} -> Div(·, 6)  (PaddleOCR's hardswish; or Mul 1/6)
 *                                                            => Conv with the activation in its epilogue
 *   Conv -> Add(y, z) [-> any activation above]                => Conv adding z (in[3], ip[2] = 1) before
 *                                                               the activation (a residual block's end)
 *
 * A rewrite happens only when every intermediate value has exactly the consumers of the
 * pattern and is no graph output, and the Conv's weights (and bias) are FP32 constants
 * (initializers or Constant nodes) read by that Conv alone: they are replaced by rescaled
 * copies in the model's memory.
 * The Conv takes over the last node's output; the other nodes are dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "inferd/onnx.h"
#include "onnx/conv_kern.h"
#include "onnx/fuse_int.h"

#define is_op fuse__is_op
#define consumer fuse__consumer
#define const_t fuse__const_t
#define scalar fuse__scalar
#define other_input fuse__other_input

int fuse__is_op(const struct ox_node *n, const char *type)
{
    return (!n->domain || !n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

struct ox_node *fuse__consumer(const struct fuse *f, int v, int want, int k)
{
    if (v < 0 || f->is_out[v] || f->cons_at[v + 1] - f->cons_at[v] != want)
        return NULL;
    int ni = f->cons[f->cons_at[v] + k];
    return f->dead[ni] ? NULL : &f->m->nodes[ni];
}

struct ox_node *fuse__producer(const struct fuse *f, int v)
{
    int p = v >= 0 ? f->m->values[v].producer : -1;
    return p >= 0 && !f->dead[p] ? &f->m->nodes[p] : NULL;
}

int fuse__index(struct fuse *f)
{
    struct ox_model *m = f->m;
    int nv = m->n_values, nn = m->n_nodes;
    int64_t slots = 0;
    for (int i = 0; i < nn; i++)
        slots += f->dead[i] ? 0 : m->nodes[i].n_in;
    free(f->cons);
    f->cons = malloc(((size_t)slots + 1) * sizeof *f->cons);
    if (!f->cons)
        return -1;
    memset(f->cons_at, 0, ((size_t)nv + 2) * sizeof *f->cons_at);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in && !f->dead[i]; k++)
            if (m->nodes[i].in[k] >= 0)
                f->cons_at[m->nodes[i].in[k] + 2]++;
    for (int v = 0; v < nv; v++)
        f->cons_at[v + 2] += f->cons_at[v + 1];
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < m->nodes[i].n_in && !f->dead[i]; k++)
            if (m->nodes[i].in[k] >= 0)
                f->cons[f->cons_at[m->nodes[i].in[k] + 1]++] = i;
    /* cons_at[v+1] is now the end of v's run, cons_at[v] its start */
    return 0;
}

const struct ox_tensor *fuse__const_t(const struct fuse *f, int v)
{
    const struct ox_tensor *t = NULL;
    if (v < 0)
        return NULL;
    if (f->m->values[v].init)
        t = f->m->values[v].init;
    else if (f->m->values[v].producer >= 0) {
        const struct ox_node *p = &f->m->nodes[f->m->values[v].producer];
        const struct ox_attr *a = is_op(p, "Constant") ? ox_attr_find(p, "value") : NULL;
        t = a && a->type == OX_ATTR_TENSOR ? a->t : NULL;
    }
    return t && t->dt == INFERD_FP32 && t->data ? t : NULL;
}

int fuse__scalar(const struct fuse *f, int v, float *out)
{
    const struct ox_tensor *t = const_t(f, v);
    if (!t && v >= 0 && f->m->values[v].producer >= 0) {
        const struct ox_node *p = &f->m->nodes[f->m->values[v].producer];
        const struct ox_attr *a = is_op(p, "Constant") ? ox_attr_find(p, "value_float") : NULL;
        if (a && a->type == OX_ATTR_FLOAT) {
            *out = a->f;
            return 1;
        }
    }
    if (!t || t->numel != 1 || t->rank > 1) /* a [1,1] operand would raise the result's rank */
        return 0;
    memcpy(out, t->data, sizeof *out);
    return 1;
}

/* Gives constant value v new contents (it becomes an initializer; a Constant node that
 * made it is dropped). */
static void set_const(struct fuse *f, int v, struct ox_tensor *t)
{
    f->m->values[v].init = t;
    if (f->m->values[v].producer >= 0)
        f->dead[f->m->values[v].producer] = 1;
}

int fuse__other_input(const struct ox_node *n, int v)
{
    return n->n_in == 2 && n->in[0] == v ? n->in[1] : n->n_in == 2 && n->in[1] == v ? n->in[0] : -2;
}

int fuse__ints_in(const struct ox_node *n, const char *name, int64_t lo, int64_t hi)
{
    const struct ox_attr *a = ox_attr_find(n, name);
    if (!a)
        return 1;
    if (a->type != OX_ATTR_INTS)
        return 0;
    for (int64_t k = 0; k < a->n_ints; k++)
        if (a->ints[k] < lo || a->ints[k] > hi)
            return 0;
    return 1;
}

const struct ox_tensor *fuse__conv_consts(const struct fuse *f, const struct ox_node *n)
{
    if (!fuse__is_op(n, "Conv") || n->n_out != 1 || n->out[0] < 0 || n->n_in < 2 || n->in[0] < 0)
        return NULL;
    const struct ox_tensor *w = fuse__const_t(f, n->in[1]);
    if (!w || w->rank != 4 || (n->n_in > 2 && n->in[2] >= 0 && !fuse__const_t(f, n->in[2])))
        return NULL;
    return w;
}

void fuse__two_epis(struct ox_node *t, const struct ox_node *a, const struct ox_node *b)
{
    memset(t->ip, 0, sizeof t->ip);
    memset(t->fp, 0, sizeof t->fp);
    if (a) {
        t->ip[0] = a->ip[0];
        t->fp[0] = a->fp[0];
        t->fp[1] = a->fp[1];
    }
    t->ip[1] = b->ip[0];
    t->fp[2] = b->fp[0];
    t->fp[3] = b->fp[1];
}

int fuse__inputs(const struct fuse *f, const int *vals, int n, int **in, const char ***names)
{
    struct ox_model *m = f->m;
    *in = ox_mem_alloc(m->mem, (size_t)n * sizeof **in);
    *names = ox_mem_alloc(m->mem, (size_t)n * sizeof **names);
    if (!*in || !*names)
        return -1;
    for (int k = 0; k < n; k++) {
        (*in)[k] = vals[k];
        (*names)[k] = vals[k] >= 0 ? m->values[vals[k]].name : "";
    }
    return 0;
}

int fuse__each(struct fuse *f, int (*one)(struct fuse *f, int i), int *count)
{
    if (fuse__index(f) < 0)
        return -1;
    for (int i = 0; i < f->m->n_nodes; i++) {
        int r = one(f, i);
        if (r < 0)
            return -1;
        *count += r;
    }
    return 0;
}

/* The activation a single consumer c of y computes, into *e; 0 when c is none we fuse. */
static int single_act(const struct fuse *f, const struct ox_node *c, int y, struct ox_epi *e)
{
    if (c->n_in < 1 || c->in[0] != y || c->n_out != 1)
        return 0;
    if (is_op(c, "Relu"))
        *e = (struct ox_epi){OX_ACT_RELU, 0, 0};
    else if (is_op(c, "Sigmoid"))
        *e = (struct ox_epi){OX_ACT_SIGMOID, 0, 0};
    else if (is_op(c, "HardSigmoid"))
        *e = (struct ox_epi){OX_ACT_HARDSIGMOID, ox_attr_float(c, "alpha", 0.2f), ox_attr_float(c, "beta", 0.5f)};
    else if (is_op(c, "HardSwish"))
        *e = (struct ox_epi){OX_ACT_HARDSWISH, 1.0f / 6.0f, 0.5f};
    else if (is_op(c, "Clip")) {
        float lo = -INFINITY, hi = INFINITY;
        if (c->opset < 11) {
            lo = ox_attr_float(c, "min", lo);
            hi = ox_attr_float(c, "max", hi);
        } else if ((c->n_in > 1 && c->in[1] >= 0 && !scalar(f, c->in[1], &lo)) ||
                   (c->n_in > 2 && c->in[2] >= 0 && !scalar(f, c->in[2], &hi)))
            return 0;
        if (c->n_in > 3)
            return 0;
        *e = (struct ox_epi){OX_ACT_CLIP, lo, hi};
    } else
        return 0;
    return 1;
}

/* y has two consumers: x*sigmoid(x), x*hardsigmoid(x) or x*clip(x+3,0,6)/6. Returns the
 * node whose output ends the pattern (the others go to dead[]) or NULL. */
static struct ox_node *pair_act(struct fuse *f, int y, struct ox_epi *e, int *drop, int *n_drop)
{
    struct ox_node *a = consumer(f, y, 2, 0), *b = consumer(f, y, 2, 1);
    if (!a || !b || a == b)
        return NULL;
    if (is_op(a, "Mul")) { /* the gate first */
        struct ox_node *t = a;
        a = b;
        b = t;
    }
    if (!is_op(b, "Mul") || a->n_out != 1 || b->n_out != 1 || a->n_in < 1 || a->in[0] != y)
        return NULL;
    struct ox_node *mul = b;
    if (is_op(a, "Sigmoid") || is_op(a, "HardSigmoid")) {
        if (other_input(mul, y) != a->out[0] || consumer(f, a->out[0], 1, 0) != mul)
            return NULL;
        *e = is_op(a, "Sigmoid") ? (struct ox_epi){OX_ACT_SILU, 0, 0}
                                 : (struct ox_epi){OX_ACT_HARDSWISH, ox_attr_float(a, "alpha", 0.2f),
                                                   ox_attr_float(a, "beta", 0.5f)};
        drop[(*n_drop)++] = (int)(a - f->m->nodes);
        return mul;
    }
    float v;
    struct ox_node *clip = consumer(f, a->out[0], 1, 0);
    struct ox_epi ce;
    if (!is_op(a, "Add") || !scalar(f, other_input(a, y), &v) || v != 3.0f || !clip || !single_act(f, clip, a->out[0], &ce) ||
        ce.act != OX_ACT_CLIP || ce.a != 0.0f || ce.b != 6.0f || other_input(mul, y) != clip->out[0] ||
        consumer(f, clip->out[0], 1, 0) != mul)
        return NULL;
    struct ox_node *scale = consumer(f, mul->out[0], 1, 0);
    if (!scale || scale->n_out != 1 || scale->n_in != 2 || scale->in[0] != mul->out[0] || !scalar(f, scale->in[1], &v) ||
        !((is_op(scale, "Div") && v == 6.0f) || (is_op(scale, "Mul") && fabsf(v - 1.0f / 6.0f) < 1e-7f)))
        return NULL;
    *e = (struct ox_epi){OX_ACT_HARDSWISH, 1.0f / 6.0f, 0.5f};
    drop[(*n_drop)++] = (int)(a - f->m->nodes);
    drop[(*n_drop)++] = (int)(clip - f->m->nodes);
    drop[(*n_drop)++] = (int)(mul - f->m->nodes);
    return scale;
}

/* A new FP32 tensor in the model's memory shaped like t; NULL when out of memory. */
static struct ox_tensor *fresh(struct ox_model *m, int rank, const int64_t *dims)
{
    struct ox_tensor *n = ox_mem_alloc(m->mem, sizeof *n);
    if (!n)
        return NULL;
    n->dt = INFERD_FP32;
    n->rank = rank;
    memcpy(n->dims, dims, (size_t)rank * sizeof *dims);
    n->numel = ox_numel(rank, dims);
    n->nbytes = (size_t)n->numel * sizeof(float);
    n->is_const = 1;
    n->data = ox_mem_alloc(m->mem, n->nbytes + 1);
    return n->data ? n : NULL;
}

/* const_t of a value only one node reads and no graph output: safe to replace */
static const struct ox_tensor *sole_const(const struct fuse *f, int v)
{
    return v >= 0 && f->m->values[v].n_consumers == 1 && !f->is_out[v] ? const_t(f, v) : NULL;
}

/* W'[o] = W[o] * mul[o*ms], b'[o] = b[o] * mul[o*ms] + add[o*as] (ms, as 0: one value for
 * all; add NULL: none). The Conv's weights and bias must be FP32 initializers read by it
 * alone; a Conv without bias gets one in spare_v's slot (a value only the folded node
 * read). Returns 1 when folded, 0 when it does not apply, -1 out of memory. */
static int affine(struct fuse *f, struct ox_node *conv, const float *mul, int64_t ms, const float *add, int64_t as,
                  int spare_v)
{
    struct ox_model *m = f->m;
    const struct ox_tensor *w = sole_const(f, conv->in[1]);
    int has_b = conv->n_in > 2 && conv->in[2] >= 0;
    const struct ox_tensor *b = has_b ? sole_const(f, conv->in[2]) : NULL;
    if (!w || w->rank != 4 || w->dims[0] < 1 || (has_b && (!b || b->numel != w->dims[0])))
        return 0;
    int need_b = has_b || add;
    int bias_v = has_b ? conv->in[2] : spare_v;
    if (need_b && !has_b && (bias_v < 0 || m->values[bias_v].n_consumers != 1 || f->is_out[bias_v]))
        return 0;
    int64_t mo = w->dims[0], per = w->numel / mo;
    struct ox_tensor *nw = fresh(m, w->rank, w->dims), *nb = need_b ? fresh(m, 1, &mo) : NULL;
    if (!nw || (need_b && !nb))
        return -1;
    const float *wv = w->data, *bv = b ? b->data : NULL;
    float *nwv = nw->data;
    for (int64_t o = 0; o < mo; o++) {
        float s = mul ? mul[o * ms] : 1.0f;
        for (int64_t i = 0; i < per; i++)
            nwv[o * per + i] = wv[o * per + i] * s;
        if (nb)
            ((float *)nb->data)[o] = (bv ? bv[o] : 0.0f) * s + (add ? add[o * as] : 0.0f);
    }
    set_const(f, conv->in[1], nw);
    if (!need_b)
        return 1;
    set_const(f, bias_v, nb);
    if (!has_b) {
        int *in = ox_mem_alloc(m->mem, 3 * sizeof *in);
        const char **names = ox_mem_alloc(m->mem, 3 * sizeof *names);
        if (!in || !names)
            return -1;
        in[0] = conv->in[0];
        in[1] = conv->in[1];
        in[2] = bias_v;
        names[0] = conv->in_names[0];
        names[1] = conv->in_names[1];
        names[2] = m->values[bias_v].name;
        conv->in = in;
        conv->in_names = names;
        conv->n_in = 3;
    }
    return 1;
}

/* Folds Mul or Add of a constant scalar or per-channel ((M,1,1) / (1,M,1,1)) tensor. */
static int fold_scale(struct fuse *f, struct ox_node *conv, struct ox_node *op)
{
    int y = conv->out[0], cv = other_input(op, y);
    const struct ox_tensor *w = sole_const(f, conv->in[1]), *c = const_t(f, cv);
    if (!w || !c || op->n_out != 1)
        return 0;
    int64_t mo = w->dims[0], step;
    if (c->numel == 1 && c->rank <= 4)
        step = 0;
    else if (c->numel == mo && ((c->rank == 3 && c->dims[0] == mo) || (c->rank == 4 && c->dims[1] == mo)))
        step = 1;
    else
        return 0;
    return is_op(op, "Mul") ? affine(f, conv, c->data, step, NULL, 0, -1) : affine(f, conv, NULL, 0, c->data, step, cv);
}

/* Conv (no activation yet) -> Add(y, z) [-> activation] => one Conv with z its 4th input
 * (ip[2] = 1): Y = act(conv + bias + z). z must be computed at run time (a constant per-channel
 * Add is fold_scale's); shapes are known only when a plan is made, so ops/conv.c checks z's
 * there: Y's shape goes into the kernels' store, one that broadcasts to Y takes a pass after,
 * any other fails the plan naming the switch. z may be computed after the Conv in the
 * sorted order (a downsample branch), so the fused node takes the Add's place. The plan
 * never puts Y over an input of a Conv (no OX_OP_ELEMWISE / PLACE), so Y never aliases z.
 * Returns 1 when fused, 0 when not, -1 out of memory. */
static int fuse_sum(struct fuse *f, int i)
{
    struct ox_model *m = f->m;
    struct ox_node *conv = &m->nodes[i];
    if (f->dead[i] || !is_op(conv, "Conv") || conv->n_out != 1 || conv->out[0] < 0 || conv->ip[0] != OX_ACT_NONE ||
        conv->n_in > 3 || conv->ip[2])
        return 0;
    int y = conv->out[0];
    struct ox_node *add = consumer(f, y, 1, 0);
    if (!add || !is_op(add, "Add") || add->n_out != 1 || add->out[0] < 0 || ox_attr_find(add, "broadcast"))
        return 0;
    int z = other_input(add, y);
    if (z < 0 || z == y || const_t(f, z) || m->values[z].init)
        return 0;
    int drop[4], n_drop = 0, a = (int)(add - m->nodes);
    struct ox_epi e = {OX_ACT_NONE, 0, 0};
    struct ox_node *c = consumer(f, add->out[0], 1, 0), *last = add;
    if (c && single_act(f, c, add->out[0], &e))
        last = c;
    else if ((c = pair_act(f, add->out[0], &e, drop, &n_drop)))
        last = c;
    int *in = ox_mem_alloc(m->mem, 4 * sizeof *in);
    const char **names = ox_mem_alloc(m->mem, 4 * sizeof *names);
    if (!in || !names)
        return -1;
    for (int k = 0; k < 3; k++) {
        in[k] = k < conv->n_in ? conv->in[k] : -1;
        names[k] = k < conv->n_in ? conv->in_names[k] : "";
    }
    in[3] = z;
    names[3] = m->values[z].name;
    struct ox_node fused = *conv;
    fused.in = in;
    fused.in_names = names;
    fused.n_in = 4;
    fused.ip[0] = e.act;
    fused.fp[0] = e.a;
    fused.fp[1] = e.b;
    fused.ip[2] = 1;
    fused.out[0] = last->out[0];
    fused.out_names[0] = last->out_names[0];
    for (int k = 0; k < n_drop; k++)
        f->dead[drop[k]] = 1;
    if (last != add)
        f->dead[last - m->nodes] = 1;
    m->nodes[a] = fused;
    f->dead[i] = 1;
    return 1;
}

int ox_fuse(struct ox_model *m, unsigned off, struct ox_fuse_report *r, struct inferd_err *err)
{
    int nv = m->n_values, nn = m->n_nodes, rc = 0;
    struct fuse f = {m, NULL, NULL, NULL, NULL};
    memset(r, 0, sizeof *r);
    f.cons_at = calloc((size_t)nv + 2, sizeof *f.cons_at);
    f.is_out = calloc((size_t)nv + 1, 1);
    f.dead = calloc((size_t)nn + 1, 1);
    if (!f.cons_at || !f.is_out || !f.dead || fuse__index(&f) < 0)
        goto oom;
    for (int i = 0; i < m->n_outputs; i++)
        f.is_out[m->output_ids[i]] = 1;
    for (int i = 0; i < nn && !(off & INFERD_ONNX_OPT_FUSE); i++) {
        struct ox_node *conv = &m->nodes[i];
        if (f.dead[i] || !is_op(conv, "Conv") || conv->n_out != 1 || conv->out[0] < 0 || conv->ip[0] != OX_ACT_NONE)
            continue;
        struct ox_node *c;
        /* constant Mul / Add (PP-OCRv4's learnable affine blocks; BatchNormalization is
         * folded before, by optimize.c) */
        while ((c = consumer(&f, conv->out[0], 1, 0))) {
            int r = is_op(c, "Mul") || is_op(c, "Add") ? fold_scale(&f, conv, c) : 0;
            if (r < 0)
                goto oom;
            if (r == 0)
                break;
            f.dead[c - m->nodes] = 1;
            conv->out[0] = c->out[0];
            conv->out_names[0] = c->out_names[0];
        }
        int y = conv->out[0], drop[4], n_drop = 0;
        struct ox_epi e;
        struct ox_node *last = NULL;
        if ((c = consumer(&f, y, 1, 0)) && single_act(&f, c, y, &e))
            last = c;
        else
            last = pair_act(&f, y, &e, drop, &n_drop);
        if (!last)
            continue;
        for (int k = 0; k < n_drop; k++)
            f.dead[drop[k]] = 1;
        f.dead[last - m->nodes] = 1;
        conv->ip[0] = e.act;
        conv->fp[0] = e.a;
        conv->fp[1] = e.b;
        conv->out[0] = last->out[0];
        conv->out_names[0] = last->out_names[0];
    }
    if (!(off & INFERD_ONNX_OPT_CONV_SUM) && fuse__index(&f) < 0) /* the loop above changed who reads what */
        goto oom;
    for (int i = 0; i < nn && !(off & INFERD_ONNX_OPT_CONV_SUM); i++) {
        int r = fuse_sum(&f, i);
        if (r < 0)
            goto oom;
    }
    for (int i = 0; i < nn; i++)
        r->conv_nodes += f.dead[i];
    if (fuse__mbconv(&f, off, &r->mbconv) < 0) /* fuse_mbconv.c: after the epilogues above */
        goto oom;
    if (fuse__se(&f, off, &r->se) < 0) /* fuse_se.c: after the epilogues above */
        goto oom;
    if (fuse__stemdw(&f, off, &r->stemdw) < 0) /* fuse_stemdw.c: after mbconv (its depthwise stays) */
        goto oom;
    if (fuse__transformer(&f, off, r) < 0)
        goto oom;
    /* drop the dead nodes, keeping the order; renumber producers and recount consumers */
    int at = 0;
    for (int i = 0; i < nn; i++)
        if (!f.dead[i])
            m->nodes[at++] = m->nodes[i];
    m->n_nodes = at;
    for (int v = 0; v < nv; v++) {
        m->values[v].producer = -1;
        m->values[v].n_consumers = 0;
    }
    for (int i = 0; i < at; i++) {
        for (int k = 0; k < m->nodes[i].n_out; k++)
            if (m->nodes[i].out[k] >= 0)
                m->values[m->nodes[i].out[k]].producer = i;
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                m->values[m->nodes[i].in[k]].n_consumers++;
    }
    goto done;
oom:
    rc = inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory while fusing layers");
done:
    free(f.cons_at);
    free(f.cons);
    free(f.is_out);
    free(f.dead);
    return rc;
}
