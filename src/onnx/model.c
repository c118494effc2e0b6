/* model.c — inferd's public ONNX API (include/inferd/onnx.h): load (mmap or borrowed
 * buffer), describe inputs/outputs, and run through a cache of per-shape plans. */
#include <cblas.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/tpool.h"
#include "onnx/onnx_int.h"

struct inferd_onnx_model {
    struct ox_model *g;         /* decoded graph; weights point into `map` */
    void *map;                  /* mmapped file or NULL when loaded from a buffer */
    size_t map_size;
    struct ox_ctx ctx;
    int64_t max_elements;
    struct ox_plan *plans[OX_MAX_PLANS];
    int n_plans;
    unsigned char *value_keyed; /* per graph input: its values are part of the plan key */
    uint64_t clock;             /* run counter for LRU */
};

static int load_common(const void *data, size_t size, const struct inferd_onnx_options *opt,
                       struct inferd_onnx_model *m, struct inferd_err *err)
{
    int rc = ox_decode_model(data, size, &m->g, err);
    if (rc < 0)
        return rc;
    if (m->g->opset > 22)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "model: opset %d is newer than inferd supports (7..22)",
                              m->g->opset);
    if ((rc = ox_graph_build(m->g, err)) < 0)
        return rc;
    if (!(opt && opt->no_fuse) && (rc = ox_fuse(m->g, err)) < 0)
        return rc;
    m->value_keyed = calloc((size_t)m->g->n_inputs + 1, 1);
    if (!m->value_keyed)
        return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory");
    m->ctx.pool = opt ? opt->pool : NULL;
    m->ctx.nth = m->ctx.pool ? tpool_size(m->ctx.pool) : 1;
    m->max_elements = opt && opt->max_elements > 0 ? opt->max_elements : (int64_t)1 << 28;
    /* GEMMs are split over our own pool; OpenBLAS's threads would oversubscribe it */
    openblas_set_num_threads(1);
    return 0;
}

int inferd_onnx_load_buffer(const void *data, size_t size, const struct inferd_onnx_options *opt,
                            struct inferd_onnx_model **out, struct inferd_err *err)
{
    *out = NULL;
    struct inferd_onnx_model *m = calloc(1, sizeof *m);
    if (!m)
        return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory");
    int rc = load_common(data, size, opt, m, err);
    if (rc < 0) {
        inferd_onnx_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int inferd_onnx_load(const char *path, const struct inferd_onnx_options *opt, struct inferd_onnx_model **out,
                     struct inferd_err *err)
{
    *out = NULL;
    int rc;
    struct inferd_onnx_model *m = calloc(1, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (!m) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory");
        goto fail;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: cannot open", path);
        goto fail;
    }
    if (st.st_size <= 0) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s: empty file", path);
        goto fail;
    }
    m->map_size = (size_t)st.st_size;
    m->map = mmap(NULL, m->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m->map == MAP_FAILED) {
        m->map = NULL;
        rc = inferd_err_set(err, INFERD_EIO, "%s: mmap failed", path);
        goto fail;
    }
    close(fd);
    fd = -1;
    if ((rc = load_common(m->map, m->map_size, opt, m, err)) < 0) {
        if (err && !strstr(err->msg, path)) /* name the file once */
            inferd_err_prefix(err, "%s", path);
        goto fail;
    }
    *out = m;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    inferd_onnx_free(m);
    return rc;
}

void inferd_onnx_free(struct inferd_onnx_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_plans; i++)
        ox_plan_free(m->plans[i]);
    ox_model_free(m->g);
    free(m->value_keyed);
    if (m->map)
        munmap(m->map, m->map_size);
    free(m);
}

int inferd_onnx_n_inputs(const struct inferd_onnx_model *m) { return m->g->n_inputs; }
int inferd_onnx_n_outputs(const struct inferd_onnx_model *m) { return m->g->n_outputs; }
int inferd_onnx_opset(const struct inferd_onnx_model *m) { return m->g->opset; }
const char *inferd_onnx_producer(const struct inferd_onnx_model *m) { return m->g->producer; }

const struct inferd_onnx_io *inferd_onnx_input(const struct inferd_onnx_model *m, int i)
{
    return i >= 0 && i < m->g->n_inputs ? &m->g->inputs[i] : NULL;
}

const struct inferd_onnx_io *inferd_onnx_output(const struct inferd_onnx_model *m, int i)
{
    return i >= 0 && i < m->g->n_outputs ? &m->g->outputs[i] : NULL;
}

static int check_inputs(const struct inferd_onnx_model *m, const struct inferd_tensor *in, int n,
                        struct inferd_err *err)
{
    if (n != m->g->n_inputs)
        return inferd_err_set(err, INFERD_EINVAL, "model takes %d inputs, got %d", m->g->n_inputs, n);
    for (int i = 0; i < n; i++) {
        const struct inferd_onnx_io *io = &m->g->inputs[i];
        if (in[i].dtype != io->dtype)
            return inferd_err_set(err, INFERD_ETYPE, "input '%s': dtype %s, model wants %s", io->name,
                                  inferd_dtype_v2_name(in[i].dtype), inferd_dtype_v2_name(io->dtype));
        if (in[i].rank < 0 || in[i].rank > INFERD_MAX_RANK || (io->rank >= 0 && in[i].rank != io->rank))
            return inferd_err_set(err, INFERD_ESHAPE, "input '%s': rank %d, model wants %d", io->name,
                                  in[i].rank, io->rank);
        for (int d = 0; d < in[i].rank; d++) {
            if (in[i].dims[d] < 0 || (io->rank >= 0 && io->dims[d] >= 0 && in[i].dims[d] != io->dims[d]))
                return inferd_err_set(err, INFERD_ESHAPE, "input '%s': dim %d is %lld, model wants %lld",
                                      io->name, d, (long long)in[i].dims[d], (long long)io->dims[d]);
        }
        int64_t numel = inferd_shape_numel(in[i].rank, in[i].dims);
        if (numel < 0 || numel > m->max_elements)
            return inferd_err_set(err, INFERD_ETOOLARGE, "input '%s': %lld elements, over the cap of %lld",
                                  io->name, (long long)numel, (long long)m->max_elements);
        size_t need = (size_t)numel * inferd_dtype_size(io->dtype);
        if (in[i].nbytes < need || (need && !in[i].data))
            return inferd_err_set(err, INFERD_EINVAL, "input '%s': %zu bytes given, shape needs %zu", io->name,
                                  in[i].nbytes, need);
    }
    return 0;
}

static int key_matches(const struct ox_plan *pl, int i, const struct inferd_tensor *t)
{
    /* dtype and dims already match the plan's, so the byte counts agree */
    size_t nbytes = (size_t)inferd_shape_numel(t->rank, t->dims) * inferd_dtype_size(t->dtype);
    return memcmp(&pl->key_vals[i * OX_MAX_KEYED], t->data, nbytes) == 0;
}

static struct ox_plan *find_plan(struct inferd_onnx_model *m, const struct inferd_tensor *in)
{
    for (int p = 0; p < m->n_plans; p++) {
        struct ox_plan *pl = m->plans[p];
        int i = 0;
        for (; i < pl->n_inputs; i++)
            if (pl->vals[m->g->input_ids[i]].rank != in[i].rank ||
                memcmp(&pl->in_dims[i * INFERD_MAX_RANK], in[i].dims, (size_t)in[i].rank * sizeof(int64_t)) ||
                (pl->keyed[i] && !key_matches(pl, i, &in[i])))
                break;
        if (i == pl->n_inputs)
            return pl;
    }
    return NULL;
}

int inferd_onnx_run(struct inferd_onnx_model *m, const struct inferd_tensor *inputs, int n_inputs,
                    struct inferd_tensor *outputs, int n_outputs, struct inferd_err *err)
{
    int rc = check_inputs(m, inputs, n_inputs, err);
    if (rc < 0)
        return rc;
    if (n_outputs < m->g->n_outputs)
        return inferd_err_set(err, INFERD_EINVAL, "model has %d outputs, room for %d given", m->g->n_outputs,
                              n_outputs);
    struct ox_plan *p = find_plan(m, inputs);
    if (!p) {
        for (int tries = 0;; tries++) {
            rc = ox_plan_build(m->g, &m->ctx, inputs, m->value_keyed, m->max_elements, &p, err);
            if (rc != OX_ENEEDCONST)
                break;
            if (tries > m->g->n_inputs)
                return inferd_err_set(err, INFERD_EUNSUPPORTED, "plan: shape inputs did not settle");
        }
        if (rc < 0)
            return rc;
        if (m->n_plans == OX_MAX_PLANS) { /* evict the least recently used */
            int lru = 0;
            for (int i = 1; i < m->n_plans; i++)
                if (m->plans[i]->last_used < m->plans[lru]->last_used)
                    lru = i;
            ox_plan_free(m->plans[lru]);
            m->plans[lru] = m->plans[--m->n_plans];
        }
        m->plans[m->n_plans++] = p;
    }
    p->last_used = ++m->clock;
    for (int i = 0; i < n_inputs; i++)
        p->vals[m->g->input_ids[i]].data = inputs[i].data;
    struct ox_ctx ctx = m->ctx;
    for (int s = 0; s < p->n_steps; s++) {
        const struct ox_step *st = &p->steps[s];
        ctx.scratch = st->scratch;
        ctx.packed = st->packed;
        if ((rc = st->node->op->exec(&ctx, st->node, st->in, st->out, err)) < 0) {
            inferd_err_prefix(err, "node '%s' (%s)", st->node->name, st->node->op_type);
            return rc;
        }
    }
    for (int i = 0; i < m->g->n_outputs; i++) {
        const struct ox_tensor *v = &p->vals[m->g->output_ids[i]];
        struct inferd_tensor *o = &outputs[i];
        memset(o, 0, sizeof *o);
        o->dtype = v->dt;
        o->rank = v->rank;
        memcpy(o->dims, v->dims, sizeof o->dims);
        o->data = v->data;
        o->nbytes = v->nbytes;
    }
    return 0;
}
