/* graph.c — turns a decoded model into an executable graph: one value per name (hash
 * table), node inputs/outputs resolved to value ids, nodes sorted topologically (Kahn),
 * operators bound and their attributes validated (op->prepare). */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "onnx/onnx_int.h"

struct name_table {
    int *slots; /* value id + 1; 0 = empty */
    size_t mask;
};

static int value_lookup(const struct ox_model *m, const struct name_table *t, const char *name)
{
    for (size_t i = hash_fnv1a_str(HASH_FNV1A_SEED, name) & t->mask;; i = (i + 1) & t->mask) {
        int id = t->slots[i] - 1;
        if (id < 0)
            return -1;
        if (strcmp(m->values[id].name, name) == 0)
            return id;
    }
}

/* Returns the id of name, adding a value when new; -1 when the table is full. */
static int value_intern(struct ox_model *m, struct name_table *t, int cap, const char *name)
{
    size_t i = hash_fnv1a_str(HASH_FNV1A_SEED, name) & t->mask;
    for (;; i = (i + 1) & t->mask) {
        int id = t->slots[i] - 1;
        if (id < 0)
            break;
        if (strcmp(m->values[id].name, name) == 0)
            return id;
    }
    if (m->n_values >= cap)
        return -1;
    int id = m->n_values++;
    struct ox_value *v = &m->values[id];
    v->name = name;
    v->producer = -1;
    v->input_index = -1;
    t->slots[i] = id + 1;
    return id;
}

const struct ox_attr *ox_attr_find(const struct ox_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t ox_attr_int(const struct ox_node *n, const char *name, int64_t dflt)
{
    const struct ox_attr *a = ox_attr_find(n, name);
    return a && a->type == OX_ATTR_INT ? a->i : dflt;
}

float ox_attr_float(const struct ox_node *n, const char *name, float dflt)
{
    const struct ox_attr *a = ox_attr_find(n, name);
    return a && a->type == OX_ATTR_FLOAT ? a->f : dflt;
}

static int bind_op(struct ox_model *m, struct ox_node *n, struct inferd_err *err)
{
    if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "node '%s': op %s of domain '%s' is not supported",
                              n->name, n->op_type, n->domain);
    n->opset = m->opset;
    /* Ops named Inferd* exist only as the target of load-time fusions (fuse_transformer.c
     * builds them after this check; fuse_qdq.c before a rebuild, which keeps the op it bound);
     * a file naming one is refused like an unknown op (decoded nodes have no op yet). */
    if (strncmp(n->op_type, "Inferd", 6) == 0)
        n->op = n->op && strcmp(n->op->name, n->op_type) == 0 ? n->op : NULL;
    else
        n->op = ox_op_find(n->op_type);
    if (!n->op)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "node '%s': operator %s (opset %d) is not supported",
                              n->name, n->op_type, m->opset);
    if (n->n_in < n->op->min_in || n->n_in > n->op->max_in || n->n_out < n->op->min_out ||
        n->n_out > n->op->max_out)
        return inferd_err_set(err, INFERD_EFORMAT, "node '%s': %s takes %d..%d inputs and %d..%d outputs, has %d and %d",
                              n->name, n->op_type, n->op->min_in, n->op->max_in, n->op->min_out,
                              n->op->max_out, n->n_in, n->n_out);
    for (int k = 0; k < n->op->min_in; k++)
        if (n->in[k] < 0)
            return inferd_err_set(err, INFERD_EFORMAT, "node '%s' (%s): required input %d is empty", n->name,
                                  n->op_type, k);
    for (int k = 0; k < n->op->min_out; k++)
        if (n->out[k] < 0)
            return inferd_err_set(err, INFERD_EFORMAT, "node '%s' (%s): required output %d is empty", n->name,
                                  n->op_type, k);
    if (n->op->prepare) {
        int rc = n->op->prepare(n, err);
        if (rc < 0) {
            inferd_err_prefix(err, "node '%s' (%s)", n->name, n->op_type);
            return rc;
        }
    }
    return 0;
}

int ox_graph_build(struct ox_model *m, struct inferd_err *err)
{
    int rc = INFERD_ENOMEM;
    int cap = m->n_inits + m->n_inputs;
    struct name_table t = {0};
    int *indeg = NULL, *queue = NULL, *first_use = NULL, *next_use = NULL;
    struct ox_node *sorted = NULL;
    int64_t total_io = 0;
    for (int i = 0; i < m->n_nodes; i++)
        total_io += m->nodes[i].n_in + m->nodes[i].n_out;
    if (cap + total_io > OX_MAX_VALUES) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "graph: more than %d values", OX_MAX_VALUES);
        goto fail;
    }
    cap += (int)total_io + 1;
    size_t tsize = 16;
    while (tsize < (size_t)cap * 2)
        tsize <<= 1;
    t.slots = calloc(tsize, sizeof(int));
    t.mask = tsize - 1;
    m->values = ox_mem_alloc(m->mem, (size_t)cap * sizeof *m->values);
    m->input_ids = ox_mem_alloc(m->mem, (size_t)(m->n_inputs + 1) * sizeof(int));
    m->output_ids = ox_mem_alloc(m->mem, (size_t)(m->n_outputs + 1) * sizeof(int));
    if (!t.slots || !m->values || !m->input_ids || !m->output_ids) {
        inferd_err_set(err, INFERD_ENOMEM, "graph: out of memory");
        goto fail;
    }
    /* initializers, then inputs (an input that has an initializer is a constant: IR < 4) */
    for (int i = 0; i < m->n_inits; i++) {
        int id = value_intern(m, &t, cap, m->init_names[i]);
        if (id < 0 || m->values[id].init) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "graph: duplicate initializer '%s'", m->init_names[i]);
            goto fail;
        }
        m->values[id].init = &m->inits[i];
    }
    int kept = 0;
    for (int i = 0; i < m->n_inputs; i++) {
        int id = value_intern(m, &t, cap, m->inputs[i].name);
        if (id < 0)
            goto fail;
        if (m->values[id].init)
            continue;
        if (m->values[id].input_index >= 0) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "graph: duplicate input '%s'", m->inputs[i].name);
            goto fail;
        }
        if (m->inputs[i].dtype == INFERD_DTYPE_INVALID) {
            rc = inferd_err_set(err, INFERD_EUNSUPPORTED,
                                "graph input '%s': only tensor inputs of numeric, bool or string type are supported",
                                m->inputs[i].name);
            goto fail;
        }
        m->inputs[kept] = m->inputs[i];
        m->values[id].input_index = kept;
        m->input_ids[kept++] = id;
    }
    m->n_inputs = kept;
    /* node outputs: exactly one producer each */
    for (int ni = 0; ni < m->n_nodes; ni++) {
        struct ox_node *n = &m->nodes[ni];
        for (int k = 0; k < n->n_out; k++) {
            if (!n->out_names[k][0]) {
                n->out[k] = -1;
                continue;
            }
            int id = value_intern(m, &t, cap, n->out_names[k]);
            struct ox_value *v = id >= 0 ? &m->values[id] : NULL;
            if (!v || v->producer >= 0 || v->init || v->input_index >= 0) {
                rc = inferd_err_set(err, INFERD_EFORMAT, "node '%s': output '%s' is defined twice", n->name,
                                    n->out_names[k]);
                goto fail;
            }
            v->producer = ni;
            n->out[k] = id;
        }
    }
    for (int ni = 0; ni < m->n_nodes; ni++) {
        struct ox_node *n = &m->nodes[ni];
        for (int k = 0; k < n->n_in; k++) {
            if (!n->in_names[k][0]) {
                n->in[k] = -1;
                continue;
            }
            int id = value_lookup(m, &t, n->in_names[k]);
            if (id < 0) {
                rc = inferd_err_set(err, INFERD_EFORMAT, "node '%s' (%s): input '%s' is never defined", n->name,
                                    n->op_type, n->in_names[k]);
                goto fail;
            }
            n->in[k] = id;
            m->values[id].n_consumers++;
        }
    }
    for (int i = 0; i < m->n_outputs; i++) {
        int id = value_lookup(m, &t, m->outputs[i].name);
        if (id < 0) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "graph output '%s' is never defined", m->outputs[i].name);
            goto fail;
        }
        m->output_ids[i] = id;
    }
    /* Kahn's algorithm over node -> consumer edges */
    int nv = m->n_values, nn = m->n_nodes;
    indeg = calloc((size_t)nn + 1, sizeof(int));
    queue = calloc((size_t)nn + 1, sizeof(int));
    first_use = malloc(((size_t)nv + 1) * sizeof(int));
    int64_t n_edges = total_io + 1;
    next_use = malloc((size_t)n_edges * 2 * sizeof(int));
    sorted = ox_mem_alloc(m->mem, ((size_t)nn + 1) * sizeof *sorted);
    if (!indeg || !queue || !first_use || !next_use || !sorted) {
        inferd_err_set(err, INFERD_ENOMEM, "graph: out of memory");
        goto fail;
    }
    for (int i = 0; i < nv; i++)
        first_use[i] = -1;
    int n_links = 0; /* link k: consumer node next_use[2k], next link next_use[2k+1] */
    for (int ni = 0; ni < nn; ni++) {
        struct ox_node *n = &m->nodes[ni];
        for (int k = 0; k < n->n_in; k++) {
            int id = n->in[k];
            if (id < 0 || m->values[id].producer < 0)
                continue;
            indeg[ni]++;
            next_use[2 * n_links] = ni;
            next_use[2 * n_links + 1] = first_use[id];
            first_use[id] = n_links++;
        }
    }
    int qh = 0, qt = 0;
    for (int ni = 0; ni < nn; ni++)
        if (indeg[ni] == 0)
            queue[qt++] = ni;
    while (qh < qt) {
        struct ox_node *n = &m->nodes[queue[qh++]];
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            for (int l = first_use[n->out[k]]; l >= 0; l = next_use[2 * l + 1])
                if (--indeg[next_use[2 * l]] == 0)
                    queue[qt++] = next_use[2 * l];
        }
    }
    if (qt != nn) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "graph: has a cycle (%d of %d nodes are reachable)", qt, nn);
        goto fail;
    }
    for (int i = 0; i < nn; i++)
        sorted[i] = m->nodes[queue[i]];
    m->nodes = sorted;
    for (int i = 0; i < nv; i++)
        m->values[i].producer = -1;
    for (int ni = 0; ni < nn; ni++) {
        for (int k = 0; k < m->nodes[ni].n_out; k++)
            if (m->nodes[ni].out[k] >= 0)
                m->values[m->nodes[ni].out[k]].producer = ni;
        if ((rc = bind_op(m, &m->nodes[ni], err)) < 0)
            goto fail;
    }
    rc = 0;
fail:
    free(t.slots);
    free(indeg);
    free(queue);
    free(first_use);
    free(next_use);
    return rc;
}
