/* optimize.c — graph rewrites on a decoded model, encoded back to ONNX (see optimize.h).
 *
 * The passes work on names, not value ids: the decoded model's nodes keep their in_names /
 * out_names, initializers live in a small name table here, and a rewrite changes names or
 * marks nodes dead. The encoder then writes the live nodes in their (topological) order,
 * the DequantizeLinear nodes the quantizer made first, and the initializers live nodes read. */
#include "onnx/optimize.h"

#include "base/buf.h"
#include "base/fileio.h"
#include "base/hash.h"
#include "onnx/onnx_int.h"
#include "onnx/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The initializers by name: arrays in the order added, and an open-addressing hash of
 * index + 1 (0 = empty) that points at the newest entry of each name (a name folded twice
 * keeps the newest). */
struct inits {
    const char **names;
    struct ox_tensor **t;
    int n, cap;
    size_t *slots, mask;
};

struct qnode { /* a DequantizeLinear the quantizer adds */
    const char *in[3], *out;
    int64_t axis;
    int per_channel;
};

struct opt {
    struct ox_model *m;
    struct inits in;
    unsigned char *dead;
    int *cons_at, *cons, *cnt; /* readers by value id (index_values) */
    unsigned char *is_out;     /* value id is a graph output */
    struct qnode *q;
    int n_q;
    unsigned seq;
    struct inferd_err *err;
};

/* The hash slot of name: its entry, or the empty slot where it would go. */
static size_t init_slot(const struct inits *in, const char *name)
{
    size_t i = hash_fnv1a_str(HASH_FNV1A_SEED, name) & in->mask;
    while (in->slots[i] && strcmp(in->names[in->slots[i] - 1], name) != 0)
        i = (i + 1) & in->mask;
    return i;
}

/* Index of the newest initializer called name, or -1. */
static int init_index(const struct opt *o, const char *name)
{
    if (!name || !name[0] || !o->in.slots)
        return -1;
    return (int)o->in.slots[init_slot(&o->in, name)] - 1;
}

static struct ox_tensor *init_find(const struct opt *o, const char *name)
{
    int i = init_index(o, name);
    return i >= 0 ? o->in.t[i] : NULL;
}

static int init_add(struct opt *o, const char *name, struct ox_tensor *t)
{
    if (o->in.n == o->in.cap) {
        int cap = o->in.cap ? 2 * o->in.cap : 64;
        const char **nn = realloc(o->in.names, (size_t)cap * sizeof *nn);
        if (nn)
            o->in.names = nn;
        struct ox_tensor **nt = nn ? realloc(o->in.t, (size_t)cap * sizeof *nt) : NULL;
        if (nt)
            o->in.t = nt;
        size_t *slots = nt ? calloc(2 * (size_t)cap, sizeof *slots) : NULL;
        if (!slots)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        free(o->in.slots); /* rehash: the table stays at most half full */
        o->in.slots = slots;
        o->in.mask = 2 * (size_t)cap - 1;
        o->in.cap = cap;
        for (int i = 0; i < o->in.n; i++)
            o->in.slots[init_slot(&o->in, o->in.names[i])] = (size_t)i + 1;
    }
    o->in.names[o->in.n] = name;
    o->in.t[o->in.n] = t;
    o->in.slots[init_slot(&o->in, name)] = (size_t)++o->in.n;
    return 0;
}

static const char *new_name(struct opt *o, const char *base, const char *what)
{
    char b[512];
    snprintf(b, sizeof b, "%.400s/%s_%u", base, what, o->seq++);
    return ox_mem_strdup(o->m->mem, b, strlen(b));
}

/* Who reads what, by value id (the graph is built before the passes run; compact() builds
 * it again from the names the passes leave): cons lists each value's reading nodes as the
 * graph was built, cnt[v] counts v's live reader slots as the passes change them, and
 * is_out marks graph outputs. */
static int index_values(struct opt *o)
{
    struct ox_model *m = o->m;
    int nv = m->n_values;
    int64_t slots = 0;
    for (int i = 0; i < m->n_nodes; i++)
        slots += m->nodes[i].n_in;
    o->cons_at = calloc((size_t)nv + 2, sizeof *o->cons_at);
    o->cons = malloc(((size_t)slots + 1) * sizeof *o->cons);
    o->cnt = calloc((size_t)nv + 1, sizeof *o->cnt);
    o->is_out = calloc((size_t)nv + 1, 1);
    if (!o->cons_at || !o->cons || !o->cnt || !o->is_out)
        return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
    for (int i = 0; i < m->n_outputs; i++)
        if (m->output_ids[i] >= 0)
            o->is_out[m->output_ids[i]] = 1;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0) {
                o->cons_at[m->nodes[i].in[k] + 2]++;
                o->cnt[m->nodes[i].in[k]]++;
            }
    for (int v = 0; v < nv; v++)
        o->cons_at[v + 2] += o->cons_at[v + 1];
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++)
            if (m->nodes[i].in[k] >= 0)
                o->cons[o->cons_at[m->nodes[i].in[k] + 1]++] = i;
    return 0; /* consumers of v: cons[cons_at[v] .. cons_at[v+1]) */
}

/* Live readers of value v: node input slots, and the graph outputs. */
static int readers(const struct opt *o, int v)
{
    return v < 0 ? 0 : o->cnt[v] + o->is_out[v];
}

/* Node i is dropped: its inputs lose a reader. */
static void kill_node(struct opt *o, int i)
{
    const struct ox_node *n = &o->m->nodes[i];
    o->dead[i] = 1;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0)
            o->cnt[n->in[k]]--;
}

/* The readers of value `from` read `to` instead. Only nodes that read `from` as the graph
 * was built can read it: passes move readers to earlier values, never onto `from`. */
static void rename_uses(struct opt *o, int from, int to)
{
    struct ox_model *m = o->m;
    for (int j = o->cons_at[from]; j < o->cons_at[from + 1]; j++) {
        struct ox_node *c = &m->nodes[o->cons[j]];
        for (int k = 0; k < c->n_in; k++)
            if (c->in[k] == from) {
                c->in[k] = to;
                c->in_names[k] = m->values[to].name;
            }
    }
    o->cnt[to] += o->cnt[from];
    o->cnt[from] = 0;
}

/* ---- shape folding ---- */

/* An INT64 initializer of n values (rank 0 when scalar) named like value v. */
static int add_i64(struct opt *o, int v, const int64_t *vals, int n, int scalar)
{
    struct ox_tensor *t = ox_mem_alloc(o->m->mem, sizeof *t);
    int64_t *d = ox_mem_alloc(o->m->mem, (size_t)n * sizeof *d + 1);
    if (!t || !d)
        return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
    memcpy(d, vals, (size_t)n * sizeof *d);
    *t = (struct ox_tensor){.dt = INFERD_INT64, .rank = scalar ? 0 : 1, .dims = {n}, .numel = n, .data = d,
                            .nbytes = (size_t)n * sizeof *d, .is_const = 1};
    return init_add(o, o->m->values[v].name, t);
}

/* The declared dims of graph input v (an input, not an initializer) into *io; NULL otherwise. */
static const struct inferd_onnx_io *graph_input(const struct opt *o, int v)
{
    const struct ox_value *val = v >= 0 ? &o->m->values[v] : NULL;
    if (!val || val->input_index < 0 || val->init || init_find(o, val->name))
        return NULL;
    const struct inferd_onnx_io *io = &o->m->inputs[val->input_index];
    return io->rank >= 0 ? io : NULL;
}

/* Shape(x) of a graph input whose declared dims (in [start, end)) are all fixed, and
 * Gather(Shape(x), constant indices) of fixed dims (the batch may stay symbolic) become
 * INT64 initializers; constant folding then carries them through Unsqueeze / Concat / ... so
 * that a Reshape or Expand gets a constant shape at load. Symbolic dims are never folded. */
static int shape_fold(struct opt *o, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    for (int i = 0; i < m->n_nodes; i++) {
        struct ox_node *n = &m->nodes[i];
        if (o->dead[i] || n->n_out != 1 || n->out[0] < 0 || o->is_out[n->out[0]] || n->n_in < 1)
            continue;
        int64_t vals[INFERD_MAX_RANK];
        int cnt = 0, scalar = 0, rc;
        if (strcmp(n->op_type, "Shape") == 0) {
            const struct inferd_onnx_io *io = graph_input(o, n->in[0]);
            if (!io)
                continue;
            int64_t st = ox_attr_int(n, "start", 0), en = ox_attr_int(n, "end", io->rank);
            st = st < 0 ? st + io->rank : st;
            en = en < 0 ? en + io->rank : en;
            st = st < 0 ? 0 : st > io->rank ? io->rank : st;
            en = en < 0 ? 0 : en > io->rank ? io->rank : en;
            int fixed = 1;
            for (int64_t d = st; d < en; d++) {
                fixed &= io->dims[d] >= 0;
                vals[cnt++] = io->dims[d];
            }
            if (!fixed)
                continue;
        } else if (strcmp(n->op_type, "Gather") == 0 && n->n_in == 2 && ox_attr_int(n, "axis", 0) == 0) {
            int sv = n->in[0], p = sv >= 0 ? m->values[sv].producer : -1;
            const struct ox_node *sh = p >= 0 && !o->dead[p] ? &m->nodes[p] : NULL;
            const struct inferd_onnx_io *io = sh && strcmp(sh->op_type, "Shape") == 0 && !ox_attr_find(sh, "start") &&
                                                      !ox_attr_find(sh, "end") ? graph_input(o, sh->in[0]) : NULL;
            const struct ox_tensor *ix = init_find(o, n->in_names[1]);
            if (!io || !ix || !ox_dtype_is_int(ix->dt) || ix->rank > 1 || ix->numel > INFERD_MAX_RANK)
                continue;
            int fixed = 1;
            for (int64_t k = 0; k < ix->numel; k++) {
                int64_t d = ox_get_i64(ix, k);
                d = d < 0 ? d + io->rank : d;
                fixed &= d >= 0 && d < io->rank && io->dims[d] >= 0;
                vals[cnt++] = fixed ? io->dims[d] : 0;
            }
            if (!fixed)
                continue;
            scalar = ix->rank == 0;
        } else
            continue;
        if ((rc = add_i64(o, n->out[0], vals, cnt, scalar)) < 0)
            return rc;
        kill_node(o, i);
        r->shapes++;
    }
    return 0;
}

/* ---- constant folding ---- */

static int fold(struct opt *o, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    struct ox_ctx ctx = {.pool = NULL, .nth = 1};
    for (int i = 0; i < m->n_nodes; i++) {
        struct ox_node *n = &m->nodes[i];
        if (o->dead[i] || !n->op || strncmp(n->op_type, "Random", 6) == 0 || strcmp(n->op_type, "Multinomial") == 0 ||
            n->n_in > 16 || n->n_out > 8)
            continue;
        int feeds_output = 0;
        for (int k = 0; k < n->n_out; k++)
            feeds_output |= n->out[k] >= 0 && o->is_out[n->out[k]];
        if (feeds_output)
            continue; /* a graph output stays the output of a node */
        struct ox_tensor *in[16] = {0}, tin[16], *out[8] = {0}, tout[8];
        int ok = 1;
        size_t in_bytes = 0;
        for (int k = 0; k < n->n_in && ok; k++) {
            if (!n->in_names[k][0])
                continue;
            struct ox_tensor *t = init_find(o, n->in_names[k]);
            if (!t) {
                ok = 0;
                break;
            }
            tin[k] = *t;
            tin[k].is_const = 1;
            in[k] = &tin[k];
            in_bytes += t->nbytes;
        }
        if (!ok)
            continue;
        for (int k = 0; k < n->n_out; k++) {
            memset(&tout[k], 0, sizeof tout[k]);
            out[k] = n->out_names[k][0] ? &tout[k] : NULL;
        }
        struct inferd_err e = {0};
        if (n->op->infer(n, in, out, &e) < 0)
            continue; /* leave it to the engine at load: it will say what is wrong */
        size_t out_bytes = 0;
        for (int k = 0; k < n->n_out; k++)
            if (out[k])
                out_bytes += out[k]->nbytes;
        if (out_bytes > 2 * in_bytes + 4096 || out_bytes > ((size_t)1 << 30))
            continue; /* folding would grow the file (Expand, Tile, ConstantOfShape of a big shape) */
        for (int k = 0; k < n->n_out; k++)
            if (out[k] && !(out[k]->data = ox_mem_alloc(m->mem, out[k]->nbytes + 1)))
                return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        /* A node that fails here (its scratch or packed weights out of memory included) is
         * left unfolded: the engine runs it per request, and the load goes on. */
        int rc = ox_op_run_once(&ctx, n, in, out, &e);
        if (rc < 0)
            continue;
        for (int k = 0; k < n->n_out; k++) {
            if (!out[k])
                continue;
            struct ox_tensor *t = ox_mem_alloc(m->mem, sizeof *t);
            if (!t)
                return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
            *t = *out[k];
            t->is_const = 1;
            if ((rc = init_add(o, n->out_names[k], t)) < 0)
                return rc;
        }
        kill_node(o, i);
        r->folded++;
    }
    return 0;
}

/* ---- Identity / Dropout ---- */

static void identities(struct opt *o, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    for (int i = 0; i < m->n_nodes; i++) {
        struct ox_node *n = &m->nodes[i];
        if (o->dead[i] || n->n_in < 1 || !n->in_names[0][0])
            continue;
        int drop = strcmp(n->op_type, "Dropout") == 0;
        if (strcmp(n->op_type, "Identity") != 0 && !drop)
            continue;
        if (drop && n->n_out > 1 && readers(o, n->out[1]) > 0)
            continue; /* the mask is read */
        if (drop && n->n_in > 2 && n->in_names[2][0]) { /* training_mode input: only a constant false */
            struct ox_tensor *t = init_find(o, n->in_names[2]);
            if (!t || !t->data || ((unsigned char *)t->data)[0])
                continue;
        }
        if (n->out[0] < 0 || o->is_out[n->out[0]] || n->in[0] < 0)
            continue; /* the output's name must stay */
        rename_uses(o, n->out[0], n->in[0]);
        kill_node(o, i);
        r->identities++;
    }
}

/* ---- Conv + BatchNormalization ---- */

/* The live node that makes value v, or -1. */
static int producer(const struct opt *o, int v)
{
    int p = v >= 0 ? o->m->values[v].producer : -1;
    return p >= 0 && !o->dead[p] ? p : -1;
}

static int bn_fold(struct opt *o, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    for (int i = 0; i < m->n_nodes; i++) {
        struct ox_node *bn = &m->nodes[i];
        if (o->dead[i] || strcmp(bn->op_type, "BatchNormalization") != 0 || bn->n_in != 5 || bn->n_out < 1)
            continue;
        int more = 0;
        for (int k = 1; k < bn->n_out; k++)
            more |= bn->out_names[k][0] != 0;
        if (more)
            continue; /* training outputs */
        int ci = producer(o, bn->in[0]);
        if (ci < 0 || strcmp(m->nodes[ci].op_type, "Conv") != 0 || readers(o, bn->in[0]) != 1)
            continue;
        struct ox_node *cv = &m->nodes[ci];
        struct ox_tensor *w = cv->n_in > 1 ? init_find(o, cv->in_names[1]) : NULL;
        struct ox_tensor *b = cv->n_in > 2 && cv->in_names[2][0] ? init_find(o, cv->in_names[2]) : NULL;
        struct ox_tensor *s = init_find(o, bn->in_names[1]), *bb = init_find(o, bn->in_names[2]);
        struct ox_tensor *mu = init_find(o, bn->in_names[3]), *var = init_find(o, bn->in_names[4]);
        if (!w || w->dt != INFERD_FP32 || w->rank < 3 || !s || !bb || !mu || !var ||
            (cv->n_in > 2 && cv->in_names[2][0] && !b))
            continue;
        int64_t oc = w->dims[0], per = w->numel / (oc ? oc : 1);
        struct ox_tensor *ts[4] = {s, bb, mu, var};
        int ok = 1;
        for (int k = 0; k < 4; k++)
            ok &= ts[k]->dt == INFERD_FP32 && ts[k]->numel == oc;
        if (!ok || (b && (b->dt != INFERD_FP32 || b->numel != oc)))
            continue;
        float eps = ox_attr_float(bn, "epsilon", 1e-5f);
        struct ox_tensor *nw = ox_mem_alloc(m->mem, sizeof *nw), *nb = ox_mem_alloc(m->mem, sizeof *nb);
        if (!nw || !nb)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        *nw = *w;
        *nb = *s;
        nw->data = ox_mem_alloc(m->mem, w->nbytes);
        nb->data = ox_mem_alloc(m->mem, s->nbytes);
        if (!nw->data || !nb->data)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        const float *W = w->data, *S = s->data, *B = bb->data, *MU = mu->data, *V = var->data;
        const float *B0 = b ? b->data : NULL;
        float *NW = nw->data, *NB = nb->data;
        for (int64_t c = 0; c < oc; c++) {
            double f = (double)S[c] / sqrt((double)V[c] + (double)eps);
            for (int64_t j = 0; j < per; j++)
                NW[c * per + j] = (float)(W[c * per + j] * f);
            NB[c] = (float)(((B0 ? B0[c] : 0.0) - MU[c]) * f + B[c]);
        }
        const char *wn = new_name(o, cv->in_names[1], "bnfold"), *bn_name = new_name(o, cv->in_names[1], "bnbias");
        int rc;
        if (!wn || !bn_name || (rc = init_add(o, wn, nw)) < 0 || (rc = init_add(o, bn_name, nb)) < 0)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        if (cv->n_in < 3) { /* a bias input is added */
            const char **names = ox_mem_alloc(m->mem, 3 * sizeof *names);
            int *ids = ox_mem_alloc(m->mem, 3 * sizeof *ids);
            if (!names || !ids)
                return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
            memcpy(names, cv->in_names, (size_t)cv->n_in * sizeof *names);
            memcpy(ids, cv->in, (size_t)cv->n_in * sizeof *ids);
            ids[2] = -1;
            cv->in_names = names;
            cv->in = ids;
            cv->n_in = 3;
        }
        cv->in_names[1] = wn;
        cv->in_names[2] = bn_name;
        cv->out_names[0] = bn->out_names[0];
        cv->out[0] = bn->out[0];
        o->m->values[bn->out[0]].producer = ci;
        kill_node(o, i);
        r->bn_folded++;
    }
    return 0;
}

/* ---- int8 QDQ weights ---- */

static int quantize(struct opt *o, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    if (m->opset < 10)
        return 0; /* DequantizeLinear is opset 10 */
    for (int i = 0; i < m->n_nodes; i++) {
        struct ox_node *n = &m->nodes[i];
        int conv = strcmp(n->op_type, "Conv") == 0, gemm = strcmp(n->op_type, "Gemm") == 0;
        if (o->dead[i] || n->n_in < 2 || (!conv && !gemm && strcmp(n->op_type, "MatMul") != 0))
            continue;
        struct ox_tensor *w = init_find(o, n->in_names[1]);
        if (!w || w->dt != INFERD_FP32 || w->rank < 2 || w->numel < 256 || (!conv && w->rank != 2))
            continue;
        /* the output-channel axis: Conv 0; Gemm 0 with transB else 1; MatMul 1 */
        int64_t axis = conv ? 0 : gemm ? (ox_attr_int(n, "transB", 0) ? 0 : 1) : 1;
        int per_channel = m->opset >= 13;
        int64_t nc = per_channel ? w->dims[axis] : 1;
        int64_t inner = 1;
        for (int d = (int)axis + 1; d < w->rank; d++)
            inner *= w->dims[d];
        struct ox_tensor *tq = ox_mem_alloc(m->mem, sizeof *tq), *ts = ox_mem_alloc(m->mem, sizeof *ts),
                         *tz = ox_mem_alloc(m->mem, sizeof *tz);
        if (!tq || !ts || !tz)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        *tq = *w;
        tq->dt = INFERD_INT8;
        tq->nbytes = (size_t)w->numel;
        memset(ts, 0, sizeof *ts);
        ts->dt = INFERD_FP32;
        ts->rank = per_channel ? 1 : 0;
        ts->dims[0] = nc;
        ts->numel = nc;
        ts->nbytes = (size_t)nc * 4;
        *tz = *ts;
        tz->dt = INFERD_INT8;
        tz->nbytes = (size_t)nc;
        tq->data = ox_mem_alloc(m->mem, tq->nbytes);
        ts->data = ox_mem_alloc(m->mem, ts->nbytes);
        tz->data = ox_mem_alloc(m->mem, tz->nbytes + 1); /* zeroed: symmetric */
        if (!tq->data || !ts->data || !tz->data)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        const float *W = w->data;
        float *S = ts->data;
        int8_t *Q = tq->data;
        for (int64_t c = 0; c < nc; c++)
            S[c] = 0;
        for (int64_t j = 0; j < w->numel; j++) { /* channel of element j: (j / inner) % dims[axis] */
            int64_t c = per_channel ? (j / inner) % w->dims[axis] : 0;
            float a = fabsf(W[j]);
            if (a > S[c])
                S[c] = a;
        }
        for (int64_t c = 0; c < nc; c++)
            S[c] = S[c] > 0 ? S[c] / 127.0f : 1.0f;
        for (int64_t j = 0; j < w->numel; j++) {
            int64_t c = per_channel ? (j / inner) % w->dims[axis] : 0;
            float v = nearbyintf(W[j] / S[c]);
            Q[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        struct qnode *q = realloc(o->q, (size_t)(o->n_q + 1) * sizeof *q);
        if (!q)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        o->q = q;
        struct qnode *qn = &o->q[o->n_q++];
        const char *base = n->in_names[1];
        qn->in[0] = new_name(o, base, "int8");
        qn->in[1] = new_name(o, base, "scale");
        qn->in[2] = new_name(o, base, "zero_point");
        qn->out = new_name(o, base, "dequantized");
        qn->axis = axis;
        qn->per_channel = per_channel;
        int rc;
        if (!qn->in[0] || !qn->in[1] || !qn->in[2] || !qn->out || (rc = init_add(o, qn->in[0], tq)) < 0 ||
            (rc = init_add(o, qn->in[1], ts)) < 0 || (rc = init_add(o, qn->in[2], tz)) < 0)
            return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
        n->in_names[1] = qn->out;
        r->quantized++;
    }
    return 0;
}

/* ---- liveness ---- */

struct nameset {
    const char **s;
    size_t n, cap, *slots, mask;
};

static int ns_has(const struct nameset *ns, const char *s)
{
    for (size_t i = hash_fnv1a_str(HASH_FNV1A_SEED, s) & ns->mask;; i = (i + 1) & ns->mask) {
        if (!ns->slots[i])
            return 0;
        if (strcmp(ns->s[ns->slots[i] - 1], s) == 0)
            return 1;
    }
}

static void ns_add(struct nameset *ns, const char *s)
{
    size_t i = hash_fnv1a_str(HASH_FNV1A_SEED, s) & ns->mask;
    for (; ns->slots[i]; i = (i + 1) & ns->mask)
        if (strcmp(ns->s[ns->slots[i] - 1], s) == 0)
            return;
    if (ns->n < ns->cap) {
        ns->s[ns->n++] = s;
        ns->slots[i] = ns->n;
    }
}

/* Marks live names (graph outputs and what they need); kills the other nodes when dce. */
static int liveness(struct opt *o, struct nameset *live, int dce, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    size_t cap = (size_t)m->n_outputs + 3 * (size_t)o->n_q + 16;
    for (int i = 0; i < m->n_nodes; i++)
        cap += (size_t)m->nodes[i].n_in;
    size_t tsize = 64;
    while (tsize < 2 * cap)
        tsize *= 2;
    live->s = malloc(cap * sizeof *live->s);
    live->slots = calloc(tsize, sizeof *live->slots);
    live->cap = cap;
    live->mask = tsize - 1;
    if (!live->s || !live->slots)
        return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
    for (int i = 0; i < m->n_outputs; i++)
        ns_add(live, m->outputs[i].name);
    for (int i = m->n_nodes; i-- > 0;) {
        const struct ox_node *n = &m->nodes[i];
        if (o->dead[i])
            continue;
        int used = 0;
        for (int k = 0; k < n->n_out && !used; k++)
            used = n->out_names[k][0] && ns_has(live, n->out_names[k]);
        if (!used && dce) {
            o->dead[i] = 1;
            r->dead++;
            continue;
        }
        for (int k = 0; k < n->n_in; k++)
            if (n->in_names[k][0])
                ns_add(live, n->in_names[k]);
    }
    for (int k = 0; k < o->n_q; k++)
        if (ns_has(live, o->q[k].out))
            for (int j = 0; j < 3; j++)
                ns_add(live, o->q[k].in[j]);
    return 0;
}

/* ---- encoding ---- */

static void enc_tensor(struct buf *b, uint32_t field, const char *name, const struct ox_tensor *t)
{
    struct buf tb;
    buf_init(&tb, b->max);
    for (int d = 0; d < t->rank; d++)
        pbw_uint(&tb, 1, (uint64_t)t->dims[d]);
    pbw_uint(&tb, 2, (uint64_t)inferd_dtype_to_onnx(t->dt));
    if (name)
        pbw_str(&tb, 8, name);
    pbw_bytes(&tb, 9, t->data, t->nbytes);
    pbw_msg(b, field, &tb);
    buf_free(&tb);
}

static int enc_attr(struct opt *o, struct buf *nb, const struct ox_node *n, const struct ox_attr *a)
{
    struct buf ab;
    buf_init(&ab, nb->max);
    pbw_str(&ab, 1, a->name);
    switch (a->type) {
    case OX_ATTR_FLOAT: pbw_float(&ab, 2, a->f); break;
    case OX_ATTR_INT: pbw_uint(&ab, 3, (uint64_t)a->i); break;
    case OX_ATTR_STRING: pbw_bytes(&ab, 4, a->s ? a->s : "", a->s ? a->s_len : 0); break;
    case OX_ATTR_TENSOR:
        if (a->t)
            enc_tensor(&ab, 5, NULL, a->t);
        break;
    case OX_ATTR_FLOATS:
        for (int64_t k = 0; k < a->n_floats; k++)
            pbw_float(&ab, 7, a->floats[k]);
        break;
    case OX_ATTR_INTS:
        for (int64_t k = 0; k < a->n_ints; k++)
            pbw_uint(&ab, 8, (uint64_t)a->ints[k]);
        break;
    default:
        buf_free(&ab);
        return inferd_err_set(o->err, INFERD_EUNSUPPORTED,
                              "optimize: node '%s' (%s): attribute '%s' is a graph or a list of strings/tensors, "
                              "which the optimizer does not write back",
                              n->name, n->op_type, a->name);
    }
    pbw_uint(&ab, 20, (uint64_t)a->type);
    pbw_msg(nb, 5, &ab);
    buf_free(&ab);
    return 0;
}

static void enc_io(struct buf *g, uint32_t field, const struct inferd_onnx_io *io)
{
    pbw_value_info(g, field, io->name, inferd_dtype_to_onnx(io->dtype), io->rank, io->dims);
}

static int encode(struct opt *o, const struct nameset *live, struct buf *out, struct ox_opt_report *r)
{
    struct ox_model *m = o->m;
    struct buf g, mb;
    int rc = 0;
    buf_init(&g, out->max);
    buf_init(&mb, out->max);
    for (int k = 0; k < o->n_q; k++) {
        struct buf nb;
        buf_init(&nb, 1 << 16);
        for (int j = 0; j < 3; j++)
            pbw_str(&nb, 1, o->q[k].in[j]);
        pbw_str(&nb, 2, o->q[k].out);
        pbw_str(&nb, 3, o->q[k].out);
        pbw_str(&nb, 4, "DequantizeLinear");
        if (o->q[k].per_channel) {
            struct buf ab;
            buf_init(&ab, 256);
            pbw_str(&ab, 1, "axis");
            pbw_uint(&ab, 3, (uint64_t)o->q[k].axis);
            pbw_uint(&ab, 20, OX_ATTR_INT);
            pbw_msg(&nb, 5, &ab);
            buf_free(&ab);
        }
        pbw_msg(&g, 1, &nb);
        buf_free(&nb);
    }
    r->nodes_after = o->n_q;
    for (int i = 0; i < m->n_nodes && rc == 0; i++) {
        const struct ox_node *n = &m->nodes[i];
        if (o->dead[i])
            continue;
        struct buf nb;
        buf_init(&nb, out->max);
        for (int k = 0; k < n->n_in; k++)
            pbw_str(&nb, 1, n->in_names[k]);
        for (int k = 0; k < n->n_out; k++)
            pbw_str(&nb, 2, n->out_names[k]);
        pbw_str(&nb, 3, n->name);
        pbw_str(&nb, 4, n->op_type);
        for (int k = 0; k < n->n_attrs && rc == 0; k++)
            rc = enc_attr(o, &nb, n, &n->attrs[k]);
        if (n->domain && n->domain[0])
            pbw_str(&nb, 7, n->domain);
        pbw_msg(&g, 1, &nb);
        buf_free(&nb);
        r->nodes_after++;
    }
    pbw_str(&g, 2, "optimized");
    for (int i = 0; i < o->in.n; i++) {
        int later = init_index(o, o->in.names[i]) != i; /* a name folded twice keeps the newest */
        if (!later && ns_has(live, o->in.names[i]))
            enc_tensor(&g, 5, o->in.names[i], o->in.t[i]);
    }
    for (int i = 0; i < m->n_inputs; i++)
        enc_io(&g, 11, &m->inputs[i]);
    for (int i = 0; i < m->n_outputs; i++)
        enc_io(&g, 12, &m->outputs[i]);
    pbw_uint(&mb, 1, (uint64_t)(m->ir_version > 0 ? m->ir_version : 8));
    pbw_str(&mb, 2, "inferd pack --optimize");
    pbw_msg(&mb, 7, &g);
    /* opset imports: the default domain, and each other domain the live nodes use */
    const char *doms[16];
    int vers[16], nd = 0;
    doms[nd] = "";
    vers[nd++] = m->opset;
    for (int i = 0; i < m->n_nodes; i++) {
        const char *d = m->nodes[i].domain ? m->nodes[i].domain : "";
        if (o->dead[i] || !d[0] || strcmp(d, "ai.onnx") == 0)
            continue;
        int seen = 0;
        for (int k = 0; k < nd; k++)
            seen |= strcmp(doms[k], d) == 0;
        if (!seen && nd < 16) {
            doms[nd] = d;
            vers[nd++] = m->nodes[i].opset > 0 ? m->nodes[i].opset : 1;
        }
    }
    for (int k = 0; k < nd; k++) {
        struct buf x;
        buf_init(&x, 256);
        if (doms[k][0])
            pbw_str(&x, 1, doms[k]);
        pbw_uint(&x, 2, (uint64_t)vers[k]);
        pbw_msg(&mb, 8, &x);
        buf_free(&x);
    }
    if (rc == 0 && buf_rc(&mb))
        rc = buf_err(&mb, o->err, "the optimized model");
    if (rc == 0) {
        buf_put(out, mb.data, mb.len);
        if (buf_rc(out))
            rc = buf_err(out, o->err, "the optimized model");
    }
    buf_free(&g);
    buf_free(&mb);
    return rc;
}

/* The live nodes and initializers become the model's, and the graph is built again. */
static int compact(struct opt *o, const struct nameset *live)
{
    struct ox_model *m = o->m;
    int nn = 0, ni = 0;
    for (int i = 0; i < m->n_nodes; i++)
        nn += !o->dead[i];
    struct ox_node *nodes = ox_mem_alloc(m->mem, ((size_t)nn + 1) * sizeof *nodes);
    struct ox_tensor *inits = ox_mem_alloc(m->mem, ((size_t)o->in.n + 1) * sizeof *inits);
    const char **names = ox_mem_alloc(m->mem, ((size_t)o->in.n + 1) * sizeof *names);
    if (!nodes || !inits || !names)
        return inferd_err_set(o->err, INFERD_ENOMEM, "optimize: out of memory");
    nn = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (!o->dead[i])
            nodes[nn++] = m->nodes[i];
    for (int i = 0; i < o->in.n; i++) {
        if (init_index(o, o->in.names[i]) != i || !ns_has(live, o->in.names[i]))
            continue;
        inits[ni] = *o->in.t[i];
        names[ni++] = o->in.names[i];
    }
    m->nodes = nodes;
    m->n_nodes = nn;
    m->inits = inits;
    m->init_names = names;
    m->n_inits = ni;
    m->n_values = 0;
    return ox_graph_build(m, o->err);
}

int ox_optimize_model(struct ox_model *m, const struct ox_opt_options *oo, struct ox_opt_report *r,
                      struct inferd_err *err)
{
    memset(r, 0, sizeof *r);
    struct opt o = {0};
    struct nameset live = {0};
    o.m = m;
    o.err = err;
    int rc = 0;
    if (!(o.dead = calloc((size_t)m->n_nodes + 1, 1)))
        rc = inferd_err_set(err, INFERD_ENOMEM, "optimize: out of memory");
    if (rc == 0)
        rc = index_values(&o);
    for (int i = 0; rc == 0 && i < m->n_inits; i++)
        rc = init_add(&o, m->init_names[i], &m->inits[i]);
    r->nodes_before = m->n_nodes;
    if (rc == 0 && oo->identity)
        identities(&o, r);
    if (rc == 0 && oo->shape)
        rc = shape_fold(&o, r);
    if (rc == 0 && oo->fold)
        rc = fold(&o, r);
    if (rc == 0 && oo->bn)
        rc = bn_fold(&o, r);
    if (rc == 0)
        rc = liveness(&o, &live, oo->dce, r);
    if (rc == 0 && (r->folded || r->identities || r->bn_folded || r->dead || r->shapes))
        rc = compact(&o, &live);
    r->nodes_after = m->n_nodes;
    free(live.s);
    free(live.slots);
    free(o.dead);
    free(o.in.names);
    free(o.in.t);
    free(o.in.slots);
    free(o.cons_at);
    free(o.cons);
    free(o.cnt);
    free(o.is_out);
    return rc;
}

int ox_optimize_file(const char *src, const char *dst, const struct ox_opt_options *oo, struct ox_opt_report *r,
                     struct inferd_err *err)
{
    memset(r, 0, sizeof *r);
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
        if (fd >= 0)
            close(fd);
        return inferd_err_set(err, INFERD_EIO, "%s: cannot read", src);
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return inferd_err_set(err, INFERD_EIO, "%s: mmap: %s", src, strerror(errno));
    struct opt o = {0};
    struct nameset live = {0};
    struct buf out;
    buf_init(&out, size * 2 + (64u << 20));
    o.err = err;
    int rc = ox_decode_model(map, size, &o.m, err);
    if (rc == 0)
        rc = ox_graph_build(o.m, err);
    if (rc == 0 && !(o.dead = calloc((size_t)o.m->n_nodes + 1, 1)))
        rc = inferd_err_set(err, INFERD_ENOMEM, "optimize: out of memory");
    if (rc == 0)
        rc = index_values(&o);
    for (int i = 0; rc == 0 && i < o.m->n_inits; i++)
        rc = init_add(&o, o.m->init_names[i], &o.m->inits[i]);
    if (rc == 0) {
        r->nodes_before = o.m->n_nodes;
        if (oo->identity)
            identities(&o, r);
        if (oo->shape)
            rc = shape_fold(&o, r);
        if (rc == 0 && oo->fold)
            rc = fold(&o, r);
        if (rc == 0 && oo->bn)
            rc = bn_fold(&o, r);
        if (rc == 0 && oo->qdq)
            rc = quantize(&o, r);
        if (rc == 0)
            rc = liveness(&o, &live, oo->dce, r);
        if (rc == 0)
            rc = encode(&o, &live, &out, r);
    }
    if (rc == 0)
        rc = file_write_atomic(dst, out.data, out.len, 0644, err);
    else if (!strstr(err->msg, src))
        inferd_err_prefix(err, "%s", src);
    buf_free(&out);
    free(live.s);
    free(live.slots);
    free(o.dead);
    free(o.q);
    free(o.in.names);
    free(o.in.t);
    free(o.in.slots);
    free(o.cons_at);
    free(o.cons);
    free(o.cnt);
    free(o.is_out);
    if (o.m)
        ox_model_free(o.m);
    munmap(map, size);
    return rc;
}
