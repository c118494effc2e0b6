/* plan.c — the memory plan for one set of input shapes: static shape inference over the
 * sorted nodes, constant folding (a node whose inputs are all known at plan time — weights,
 * Constant outputs, Shape outputs — runs here, once, as a step would: with its scratch and,
 * for an op with a pack hook, its packed operand), and a lifetime-based layout of every
 * remaining intermediate in one arena (first-fit reuse of buffers whose last reader ran).
 * Running a plan touches no allocator.
 *
 * Values share buffers in two ways, recorded as a parent value and a byte offset in it:
 *   - views: a Reshape-type op's output is its input (offset 0); a Slice / Split output
 *     that is one contiguous range of its input (a channel slice of a batch-1 NCHW tensor)
 *     is that range. The op's exec sets the view's data pointer, nothing is copied.
 *   - in-place Concat: an input that is one contiguous range of the Concat's output (every
 *     dim before the axis is 1) is written there by its producer: its root buffer becomes
 *     part of the output's buffer. A root goes in only when its whole extent is covered by
 *     the Concat's inputs that are views of it (a C2f block's cv1 output split into a, b
 *     and concatenated as [a, b, m(b)]), so no other input's copy can overwrite bytes of it.
 * Lifetimes are then taken per root buffer: from the first step that writes any value in it
 * to the last step that reads one. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "onnx/onnx_int.h"

struct block {
    size_t off, size;
    int value;
};

/* First-fit placement among live blocks kept sorted by offset. */
static size_t place(struct block *live, int *n_live, size_t size, int value)
{
    size_t off = 0;
    int at = 0;
    size = (size + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1);
    for (; at < *n_live; at++) {
        if (live[at].off >= off + size)
            break;
        size_t end = live[at].off + live[at].size;
        if (end > off)
            off = end;
    }
    /* live[] has room for every value plus the scratch marker; blocks stay sorted, disjoint */
    assert(at == *n_live || live[at].off >= off + size);
    memmove(&live[at + 1], &live[at], (size_t)(*n_live - at) * sizeof *live);
    live[at] = (struct block){off, size, value};
    (*n_live)++;
    return off;
}

/* The buffer that holds v's bytes and v's byte offset in it. */
static int root_of(const int *parent, const size_t *poff, int v, size_t *off)
{
    size_t o = 0;
    while (parent[v] != v) {
        o += poff[v];
        v = parent[v];
    }
    *off = o;
    return v;
}

#define PLACE_MAX_IN 64 /* Concats with more inputs copy them */

/* Concat node n (step outputs out) may take its inputs' root buffers into its output's
 * buffer: see the file comment for when. Updates parent / poff. */
static int place_inputs(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                        const struct ox_tensor *vals, const unsigned char *planned, const unsigned char *is_out,
                        int *parent, size_t *poff)
{
    int placed = 0;
    int y = n->out[0], r[PLACE_MAX_IN];
    size_t at[PLACE_MAX_IN], len[PLACE_MAX_IN];
    if (y < 0 || n->n_in > PLACE_MAX_IN || !planned[y] || parent[y] != y)
        return 0;
    for (int i = 0; i < n->n_in; i++) {
        size_t off;
        int v = n->in[i];
        int64_t o = v >= 0 && !vals[v].is_const ? ox_op_place_offset(n, in, out, i) : -1;
        r[i] = o >= 0 ? root_of(parent, poff, v, &off) : -1;
        if (r[i] < 0 || !planned[r[i]] || is_out[r[i]] || r[i] == y || (size_t)o < off ||
            (size_t)o - off + vals[r[i]].nbytes > vals[y].nbytes) {
            r[i] = -1;
            continue;
        }
        at[i] = (size_t)o - off; /* where the root would start in y */
        len[i] = in[i]->nbytes;
    }
    for (int i = 0; i < n->n_in; i++) {
        if (r[i] < 0)
            continue;
        int root = r[i], ok = 1, k = 0;
        size_t covered = 0, start = at[i];
        for (int j = i; j < n->n_in; j++) {
            if (r[j] != root)
                continue;
            ok &= at[j] == start;
            covered += len[j];
            r[j] = -1;
            k++;
        }
        if (ok && covered == vals[root].nbytes) {
            parent[root] = y;
            poff[root] = start;
            placed += k;
        }
    }
    return placed;
}

static void release(struct block *live, int *n_live, int value)
{
    for (int i = 0; i < *n_live; i++) {
        if (live[i].value == value) {
            memmove(&live[i], &live[i + 1], (size_t)(*n_live - i - 1) * sizeof *live);
            (*n_live)--;
            return;
        }
    }
}

void ox_plan_free(struct ox_plan *p)
{
    if (!p)
        return;
    if (ox_prof_on())
        ox_prof_report(p);
    ox_bsplit_free(p->bsplit);
    for (int s = 0; s < p->n_steps; s++)
        ox_packs_put(p->packs, p->steps[s].packed);
    if (p->own_packs)
        ox_packs_free(p->packs);
    for (int i = 0; i < p->n_folded; i++)
        free(p->folded[i]);
    free(p->folded);
    free(p->arena);
    free(p->ptrs);
    free(p->steps);
    free(p->vals);
    free(p->in_dims);
    free(p->keyed);
    free(p->key_vals);
    free(p);
}

int ox_plan_exec(const struct ox_ctx *c, struct ox_plan *p, struct inferd_err *err)
{
    struct ox_ctx ctx = *c;
    int prof = ox_prof_on();
    for (int s = 0; s < p->n_steps; s++) {
        struct ox_step *st = &p->steps[s];
        ctx.scratch = st->scratch;
        ctx.scratch_size = st->scratch_size;
        ctx.packed = st->packed;
        uint64_t t0 = prof ? ox_prof_now() : 0;
        /* a step's jobs repeat every run: the pool learns their balanced cuts by this key */
        tpool_hint((unsigned)(uintptr_t)p ^ (unsigned)s * 0x9E3779B1u);
        int rc = st->node->op->exec(&ctx, st->node, st->in, st->out, err);
        if (rc < 0) {
            inferd_err_prefix(err, "node '%s' (%s)", st->node->name, st->node->op_type);
            return rc;
        }
        if (prof)
            ox_prof_add(st, ox_prof_now() - t0);
    }
    return 0;
}

/* A node wanted constant data it lacks: flag the small graph inputs it depends on — its
 * own inputs, or the inputs of the chain that computes them (a scalar cast and clamped
 * before it becomes Range's limit) — as value-keyed. Returns OX_ENEEDCONST when one was
 * flagged, else EUNSUPPORTED. */
static int want_keyed(const struct ox_model *m, const struct ox_plan *p, const struct ox_node *n,
                      unsigned char *value_keyed, struct inferd_err *err)
{
    int flagged = 0, top = 0;
    int *stack = malloc(((size_t)m->n_values + 1) * sizeof(int));
    unsigned char *seen = calloc((size_t)m->n_values + 1, 1);
    if (!stack || !seen) {
        free(stack);
        free(seen);
        return inferd_err_set(err, INFERD_ENOMEM, "plan: out of memory");
    }
    for (int k = 0; k < n->n_in; k++) {
        if (n->in[k] >= 0 && !p->vals[n->in[k]].is_const && !seen[n->in[k]]) {
            seen[n->in[k]] = 1;
            stack[top++] = n->in[k];
        }
    }
    while (top > 0) {
        int id = stack[--top];
        const struct ox_value *v = &m->values[id];
        const struct ox_tensor *t = &p->vals[id];
        if (v->input_index >= 0) {
            if ((t->dt == INFERD_INT64 || t->dt == INFERD_INT32 || t->dt == INFERD_FP32 || t->dt == INFERD_BOOL) &&
                t->numel <= OX_MAX_KEYED && !value_keyed[v->input_index]) {
                value_keyed[v->input_index] = 1;
                flagged = 1;
            }
            continue;
        }
        if (v->producer < 0)
            continue;
        const struct ox_node *pn = &m->nodes[v->producer];
        for (int k = 0; k < pn->n_in; k++) {
            int j = pn->in[k];
            if (j >= 0 && !p->vals[j].is_const && !seen[j]) {
                seen[j] = 1;
                stack[top++] = j;
            }
        }
    }
    free(stack);
    free(seen);
    if (flagged)
        return OX_ENEEDCONST;
    if (err)
        err->code = INFERD_EUNSUPPORTED;
    return INFERD_EUNSUPPORTED;
}

size_t ox_plan_cap(int64_t max_elements)
{
    return max_elements > 0 && (uint64_t)max_elements <= SIZE_MAX / 16 ? (size_t)max_elements * 16 : SIZE_MAX;
}

int ox_plan_build(const struct ox_model *m, const struct ox_ctx *c, const struct inferd_tensor *inputs,
                  unsigned char *value_keyed, int64_t max_elements, struct ox_plan **out,
                  struct inferd_err *err)
{
    int rc = INFERD_ENOMEM;
    int nv = m->n_values, nn = m->n_nodes;
    /* the plan's activation memory cap; its packed weights (p->packed_size) are counted and
     * reported but not capped: they follow the model the operator loaded, not the request */
    const size_t cap = ox_plan_cap(max_elements);
    int64_t total_io = 0;
    for (int i = 0; i < nn; i++)
        total_io += m->nodes[i].n_in + m->nodes[i].n_out;
    struct ox_plan *p = calloc(1, sizeof *p);
    int *first = NULL, *last = NULL, *offv = NULL, *parent = NULL, *lastcons = NULL;
    unsigned char *is_out = NULL, *planned = NULL, *reused = NULL;
    struct block *live = NULL;
    size_t *offs = NULL, *soffs = NULL, *poff = NULL;
    *out = NULL;
    if (!p)
        goto oom;
    p->packs = c->packs;
    if (!p->packs) {
        p->packs = ox_packs_new();
        p->own_packs = 1;
        if (!p->packs)
            goto oom;
    }
    p->n_inputs = m->n_inputs;
    p->in_dims = calloc((size_t)m->n_inputs * INFERD_MAX_RANK + 1, sizeof(int64_t));
    p->keyed = calloc((size_t)m->n_inputs + 1, 1);
    p->key_vals = calloc((size_t)m->n_inputs * OX_MAX_KEYED + 1, sizeof(int64_t));
    p->vals = calloc((size_t)nv + 1, sizeof *p->vals);
    p->steps = calloc((size_t)nn + 1, sizeof *p->steps);
    p->ptrs = calloc((size_t)total_io + 1, sizeof *p->ptrs);
    p->folded = calloc((size_t)total_io + 1, sizeof *p->folded); /* folded outputs */
    first = malloc(((size_t)nv + 1) * sizeof(int));
    last = malloc(((size_t)nv + 1) * sizeof(int));
    parent = malloc(((size_t)nv + 1) * sizeof(int));
    poff = calloc((size_t)nv + 1, sizeof *poff);
    is_out = calloc((size_t)nv + 1, 1);
    planned = calloc((size_t)nv + 1, 1);
    reused = calloc((size_t)nv + 1, 1);
    lastcons = malloc(((size_t)nv + 1) * sizeof(int));
    if (!lastcons || !reused || !parent || !poff || !is_out || !planned ||!p->in_dims || !p->keyed || !p->key_vals || !p->vals || !p->steps || !p->ptrs || !p->folded || !first || !last)
        goto oom;
    for (int i = 0; i < m->n_outputs; i++)
        is_out[m->output_ids[i]] = 1;
    /* the last node reading each value; -2 when a reader may make a view of it (then the
     * view's readers would count too) */
    for (int i = 0; i < nv; i++)
        lastcons[i] = -1;
    for (int ni = 0; ni < nn; ni++)
        for (int k = 0; k < m->nodes[ni].n_in; k++) {
            int v = m->nodes[ni].in[k];
            if (v >= 0 && lastcons[v] != -2)
                lastcons[v] = (m->nodes[ni].op->flags & (OX_OP_ALIAS | OX_OP_VIEW | OX_OP_PLACE)) ? -2 : ni;
        }
    for (int i = 0; i < nv; i++) {
        first[i] = last[i] = -1;
        parent[i] = i; /* the value whose buffer holds i's bytes (views, in-place Concat) */
        if (m->values[i].init)
            p->vals[i] = *m->values[i].init;
    }
    for (int i = 0; i < m->n_inputs; i++) {
        struct ox_tensor *v = &p->vals[m->input_ids[i]];
        v->dt = inputs[i].dtype;
        v->rank = inputs[i].rank;
        memcpy(v->dims, inputs[i].dims, sizeof v->dims);
        memcpy(&p->in_dims[i * INFERD_MAX_RANK], inputs[i].dims, sizeof v->dims);
        v->numel = ox_numel(v->rank, v->dims);
        v->nbytes = (size_t)v->numel * ox_dtype_size(v->dt);
        if (value_keyed[i] && v->numel <= OX_MAX_KEYED &&
            (v->dt == INFERD_INT64 || v->dt == INFERD_INT32 || v->dt == INFERD_FP32 || v->dt == INFERD_BOOL)) {
            v->data = inputs[i].data; /* the caller's values, read during planning only */
            v->is_const = 1;
            p->keyed[i] = 1;
            memcpy(&p->key_vals[i * OX_MAX_KEYED], inputs[i].data, v->nbytes); /* <= 64 * 8 bytes */
        }
    }
    size_t ptr_at = 0;
    for (int ni = 0; ni < nn; ni++) {
        const struct ox_node *n = &m->nodes[ni];
        assert(ptr_at + (size_t)n->n_in + (size_t)n->n_out <= (size_t)total_io);
        struct ox_tensor **in = &p->ptrs[ptr_at], **outs = &p->ptrs[ptr_at + (size_t)n->n_in];
        int all_const = 1;
        for (int k = 0; k < n->n_in; k++) {
            in[k] = n->in[k] >= 0 ? &p->vals[n->in[k]] : NULL;
            if (in[k] && !in[k]->is_const)
                all_const = 0;
        }
        for (int k = 0; k < n->n_out; k++) {
            outs[k] = n->out[k] >= 0 ? &p->vals[n->out[k]] : NULL;
            if (outs[k])
                memset(outs[k], 0, sizeof *outs[k]);
        }
        if ((rc = n->op->infer(n, in, outs, err)) < 0) {
            if (rc == OX_ENEEDCONST && (rc = want_keyed(m, p, n, value_keyed, err)) == OX_ENEEDCONST)
                goto fail;
            inferd_err_prefix(err, "node '%s' (%s)", n->name, n->op_type);
            goto fail;
        }
        for (int k = 0; k < n->n_out; k++) {
            if (!outs[k])
                continue;
            if (outs[k]->numel > max_elements) {
                rc = inferd_err_set(err, INFERD_ETOOLARGE,
                                    "node '%s' (%s): output '%s' has %lld elements, over the cap of %lld",
                                    n->name, n->op_type, n->out_names[k], (long long)outs[k]->numel,
                                    (long long)max_elements);
                goto fail;
            }
        }
        if (all_const || (n->op->flags & OX_OP_SHAPE_ONLY)) {
            for (int k = 0; k < n->n_out; k++) {
                if (!outs[k])
                    continue;
                void *buf = aligned_alloc(OX_ALIGN, (outs[k]->nbytes + OX_ALIGN) & ~(size_t)(OX_ALIGN - 1));
                if (!buf)
                    goto oom;
                p->folded[p->n_folded++] = buf;
                outs[k]->data = buf;
            }
            if ((rc = ox_op_run_once(c, n, in, outs, err)) < 0) {
                inferd_err_prefix(err, "node '%s' (%s) while folding constants", n->name, n->op_type);
                goto fail;
            }
            for (int k = 0; k < n->n_out; k++)
                if (outs[k])
                    outs[k]->is_const = 1;
            continue;
        }
        int s = p->n_steps++;
        p->steps[s] = (struct ox_step){.node = n, .in = in, .out = outs};
        int64_t pk = n->op->pack ? n->op->pack(n, in, NULL) : 0;
        if (pk > 0) { /* constant operand repacked, or the same bytes another plan packed */
            size_t pbytes = ox_packed_bytes(pk);
            float *buf = aligned_alloc(OX_ALIGN, pbytes);
            if (!buf)
                goto oom;
            memset(buf, 0, pbytes); /* the store compares whole buffers: no byte left unset */
            n->op->pack(n, in, buf);
            if (!(p->steps[s].packed = ox_packs_get(p->packs, n, buf, pbytes)))
                goto oom;
            p->packed_size += pbytes;
        }
        ptr_at += (size_t)(n->n_in + n->n_out);
        if ((n->op->flags & OX_OP_ALIAS) && n->out[0] >= 0 && !is_out[n->out[0]] && !in[0]->is_const) {
            /* output 0 shares input 0's buffer: no copy, the buffer lives until its last alias dies */
            parent[n->out[0]] = n->in[0];
            outs[0]->alias = 1;
            continue;
        }
        int views = c->in_place && (n->op->flags & OX_OP_VIEW) && n->n_in > 0 && in[0] && !in[0]->is_const;
        for (int k = 0; k < n->n_out; k++) {
            int id = n->out[k];
            int64_t vo = id >= 0 && views && !is_out[id] ? ox_op_view_offset(n, in, outs, k) : -1;
            if (vo >= 0) { /* a contiguous range of input 0 */
                parent[id] = n->in[0];
                poff[id] = (size_t)vo;
                outs[k]->alias = 1;
                p->n_views++;
            } else if (id >= 0) {
                planned[id] = 1;
            }
        }
        int y = n->out[0];
        for (int k = 0; y >= 0 && c->in_place && (n->op->flags & OX_OP_ELEMWISE) && planned[y] && !is_out[y] &&
                        k < n->n_in; k++) {
            /* the output overwrites an input that nothing reads after this node (and that no
             * reader made a view of), when that input fills its buffer alone: its own, or one it
             * took over the same way (a chain of elementwise ops runs in one buffer) */
            int v = n->in[k];
            size_t off;
            if (v < 0 || in[k]->is_const || !planned[v] || is_out[v] || lastcons[v] != ni ||
                in[k]->nbytes != outs[0]->nbytes || !outs[0]->nbytes)
                continue;
            int r = root_of(parent, poff, v, &off);
            if ((r == v || reused[v]) && off == 0 && p->vals[r].nbytes == in[k]->nbytes) {
                parent[y] = v;
                reused[y] = 1;
                p->n_reused++;
                break;
            }
        }
        if (c->in_place && (n->op->flags & OX_OP_PLACE))
            p->n_in_place += place_inputs(n, in, outs, p->vals, planned, is_out, parent, poff);
    }
    /* lifetimes per root buffer */
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_node *n = p->steps[s].node;
        size_t off;
        for (int k = 0; k < n->n_in; k++) {
            int id = n->in[k], r = id >= 0 && !p->vals[id].is_const ? root_of(parent, poff, id, &off) : -1;
            if (r >= 0 && planned[r])
                last[r] = s;
        }
        for (int k = 0; k < n->n_out; k++) {
            int r = n->out[k] >= 0 ? root_of(parent, poff, n->out[k], &off) : -1;
            if (r >= 0 && planned[r]) {
                if (first[r] < 0)
                    first[r] = s;
                last[r] = s;
            }
        }
    }
    for (int i = 0; i < m->n_outputs; i++) {
        size_t off;
        int r = root_of(parent, poff, m->output_ids[i], &off);
        if (planned[r])
            last[r] = p->n_steps;
    }
    /* lay out: at step s allocate its outputs (inputs are still live), then free what died */
    live = malloc(((size_t)nv + 1) * sizeof *live);
    offs = calloc((size_t)nv + 1, sizeof *offs);
    offv = malloc(((size_t)total_io + 1) * sizeof(int));
    soffs = calloc((size_t)p->n_steps + 1, sizeof *soffs);
    if (!live || !offs || !offv || !soffs)
        goto oom;
    int n_live = 0;
    size_t arena = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_node *n = p->steps[s].node;
        for (int k = 0; k < n->n_out; k++) {
            size_t off;
            int id = n->out[k] >= 0 ? root_of(parent, poff, n->out[k], &off) : -1;
            if (id < 0 || !planned[id] || first[id] != s || offs[id])
                continue; /* not in the arena, or placed already */
            assert(id < nv && n_live <= nv);
            offs[id] = place(live, &n_live, p->vals[id].nbytes, id) + 1;
            size_t end = offs[id] - 1 + p->vals[id].nbytes;
            if (end > arena)
                arena = end;
        }
        size_t sb = ox_op_scratch(c, n, p->steps[s].in, p->steps[s].out);
        if (sb) { /* scratch lives for this step only: value id nv marks it */
            soffs[s] = place(live, &n_live, sb, nv) + 1;
            if (soffs[s] - 1 + sb > arena)
                arena = soffs[s] - 1 + sb;
            release(live, &n_live, nv);
            p->steps[s].scratch_size = sb;
        }
        int nd = 0;
        for (int k = 0; k < n->n_in + n->n_out; k++) {
            size_t off;
            int id = k < n->n_in ? n->in[k] : n->out[k - n->n_in];
            int r = id >= 0 ? root_of(parent, poff, id, &off) : -1;
            if (r >= 0 && planned[r] && last[r] == s)
                offv[nd++] = r;
        }
        for (int k = 0; k < nd; k++)
            release(live, &n_live, offv[k]);
    }
    if (arena > cap) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE,
                            "plan: activations need %zu bytes, over the memory cap of %zu (16 bytes per max_elements)",
                            arena, cap);
        goto fail;
    }
    p->arena_size = arena;
    p->arena = aligned_alloc(OX_ALIGN, (arena + OX_ALIGN) & ~(size_t)(OX_ALIGN - 1));
    if (!p->arena)
        goto oom;
    for (int i = 0; i < nv; i++) {
        size_t off;
        if (!planned[i] || p->vals[i].alias)
            continue; /* not in the arena, or a view whose exec sets it */
        int r = root_of(parent, poff, i, &off);
        /* every planned value lies inside its root's buffer, inside the arena */
        assert(planned[r] && offs[r] && off + p->vals[i].nbytes <= p->vals[r].nbytes);
        assert(offs[r] - 1 + p->vals[r].nbytes <= arena);
        p->vals[i].data = (char *)p->arena + offs[r] - 1 + off;
    }
    for (int s = 0; s < p->n_steps; s++)
        if (soffs[s])
            p->steps[s].scratch = (char *)p->arena + soffs[s] - 1;
    free(soffs);
    free(parent);
    free(poff);
    free(planned);
    free(reused);
    free(lastcons);
    free(is_out);
    free(first);
    free(last);
    free(live);
    free(offs);
    free(offv);
    *out = p;
    return 0;
oom:
    rc = inferd_err_set(err, INFERD_ENOMEM, "plan: out of memory");
fail:
    free(soffs);
    free(parent);
    free(poff);
    free(planned);
    free(reused);
    free(lastcons);
    free(is_out);
    free(first);
    free(last);
    free(live);
    free(offs);
    free(offv);
    ox_plan_free(p);
    return rc;
}
