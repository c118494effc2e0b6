/* model.c — inferd's public ONNX API (include/inferd/onnx.h): load (mmap or borrowed
 * buffer), describe inputs/outputs, and run through a cache of per-shape plans. */
#include <cblas.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/tpool.h"
#include "onnx/onnx_int.h"
#include "onnx/optimize.h"

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
    struct ox_opt_report opt_report; /* what the load-time rewrites did */
    struct ox_fuse_report fuse_report;
    char opt_summary[448];
    /* BYTES (string) tensors: the public API carries them serialized (see inferd/tensor.h),
     * the engine as struct ox_str views. Both buffers grow on demand and are reused. */
    struct ox_str *str_views;   /* views of every BYTES input's elements, for one run */
    size_t str_views_cap;       /* elements */
    char *str_out;              /* serialized BYTES outputs of the last run */
    size_t str_out_cap;         /* bytes */
};

/* Reads element k's 4-byte little-endian length prefix at p. */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks that t (BYTES) holds exactly numel serialized elements; with views non-NULL also
 * fills them (pointing into t->data). Returns 0 or EINVAL naming the input and element. */
static int bytes_walk(const struct inferd_tensor *t, int64_t numel, const char *name, struct ox_str *views,
                      struct inferd_err *err)
{
    const unsigned char *d = t->data;
    size_t at = 0;
    for (int64_t k = 0; k < numel; k++) {
        if (t->nbytes - at < 4)
            return inferd_err_set(err, INFERD_EINVAL, "input '%s': BYTES element %lld: data ends before its 4-byte length",
                                  name, (long long)k);
        uint32_t len = le32(d + at);
        at += 4;
        if (len > t->nbytes - at)
            return inferd_err_set(err, INFERD_EINVAL, "input '%s': BYTES element %lld: length %u runs past the data",
                                  name, (long long)k, len);
        if (views)
            views[k] = (struct ox_str){(const char *)d + at, len};
        at += len;
    }
    if (at != t->nbytes)
        return inferd_err_set(err, INFERD_EINVAL, "input '%s': %zu bytes after the %lld BYTES elements of the shape",
                              name, t->nbytes - at, (long long)numel);
    return 0;
}

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
    unsigned off = opt ? opt->graph_opt_off : 0;
    int n_qdq = 0;
    int64_t n0 = m->g->n_nodes;
    if (!(off & INFERD_ONNX_OPT_QDQ) && (rc = ox_fuse_qdq(m->g, &n_qdq, err)) < 0)
        return rc;
    unsigned opt_bits = INFERD_ONNX_OPT_FOLD | INFERD_ONNX_OPT_IDENTITY | INFERD_ONNX_OPT_BN | INFERD_ONNX_OPT_DCE |
                        INFERD_ONNX_OPT_SHAPE;
    if ((off & opt_bits) != opt_bits) {
        struct ox_opt_options oo = {.fold = !(off & INFERD_ONNX_OPT_FOLD), .identity = !(off & INFERD_ONNX_OPT_IDENTITY),
                                    .bn = !(off & INFERD_ONNX_OPT_BN), .dce = !(off & INFERD_ONNX_OPT_DCE),
                                    .shape = !(off & INFERD_ONNX_OPT_SHAPE)};
        if ((rc = ox_optimize_model(m->g, &oo, &m->opt_report, err)) < 0)
            return rc;
    }
    const struct ox_opt_report *r = &m->opt_report;
    const struct ox_fuse_report *fr = &m->fuse_report;
    int64_t before = n0;
    unsigned fuse_bits = INFERD_ONNX_OPT_FUSE | INFERD_ONNX_OPT_LAYERNORM | INFERD_ONNX_OPT_GELU |
                         INFERD_ONNX_OPT_TRANSPOSE | INFERD_ONNX_OPT_ATTENTION | INFERD_ONNX_OPT_MATMUL |
                         INFERD_ONNX_OPT_CONV_SUM | INFERD_ONNX_OPT_MBCONV | INFERD_ONNX_OPT_SE |
                         INFERD_ONNX_OPT_STEMDW;
    if ((off & fuse_bits) != fuse_bits && (rc = ox_fuse(m->g, off, &m->fuse_report, err)) < 0)
        return rc;
    if (off & INFERD_ONNX_OPT_WINOGRAD) /* ops/conv.c: ip[1] != 0 keeps a Conv on im2col + GEMM */
        for (int i = 0; i < m->g->n_nodes; i++)
            if (strcmp(m->g->nodes[i].op_type, "Conv") == 0)
                m->g->nodes[i].ip[1] = 1;
    snprintf(m->opt_summary, sizeof m->opt_summary,
             "%lld -> %lld nodes (%d constant-folded, %d Identity/Dropout, %d BatchNormalization folded, %d dead, "
             "%d shape nodes from fixed dims; "
             "%d fused into convs; %d LayerNorm, %d Gelu, %d attention, %d Transpose pairs, %d MatMul+bias fused, %d inverted-residual blocks, %d squeeze-excitations, %d stem+depthwise; "
             "%d QDQ int8)",
             (long long)before, (long long)m->g->n_nodes, r->folded, r->identities, r->bn_folded, r->dead, r->shapes,
             fr->conv_nodes, fr->layernorm, fr->gelu, fr->attention, fr->transpose, fr->matmul, fr->mbconv, fr->se, fr->stemdw, n_qdq);
    m->value_keyed = calloc((size_t)m->g->n_inputs + 1, 1);
    if (!m->value_keyed)
        return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory");
    m->ctx.pool = opt ? opt->pool : NULL;
    m->ctx.nth = m->ctx.pool ? tpool_size(m->ctx.pool) : 1;
    m->ctx.in_place = !(off & INFERD_ONNX_OPT_INPLACE);
    if (!(m->ctx.packs = ox_packs_new()))
        return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory");
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
    ox_packs_free(m->ctx.packs);
    ox_model_free(m->g);
    free(m->value_keyed);
    free(m->str_views);
    free(m->str_out);
    if (m->map)
        munmap(m->map, m->map_size);
    free(m);
}

size_t inferd_onnx_packed_bytes(const struct inferd_onnx_model *m) { return ox_packs_bytes(m->ctx.packs); }
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
        if (io->dtype == INFERD_BYTES) {
            if (numel && !in[i].data)
                return inferd_err_set(err, INFERD_EINVAL, "input '%s': no data", io->name);
            int rc = bytes_walk(&in[i], numel, io->name, NULL, err);
            if (rc < 0)
                return rc;
            continue;
        }
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

/* Points the plan's graph inputs at this run's data; BYTES inputs become ox_str views in
 * m->str_views (grown here when a run has more strings than any before). */
static int bind_inputs(struct inferd_onnx_model *m, struct ox_plan *p, const struct inferd_tensor *in, int n,
                       struct inferd_err *err)
{
    size_t n_str = 0;
    for (int i = 0; i < n; i++)
        if (in[i].dtype == INFERD_BYTES)
            n_str += (size_t)inferd_shape_numel(in[i].rank, in[i].dims);
    if (n_str > m->str_views_cap) {
        struct ox_str *v = realloc(m->str_views, n_str * sizeof *v);
        if (!v)
            return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory for %zu string views", n_str);
        m->str_views = v;
        m->str_views_cap = n_str;
    }
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        struct ox_tensor *v = &p->vals[m->g->input_ids[i]];
        if (in[i].dtype != INFERD_BYTES) {
            v->data = in[i].data;
            continue;
        }
        int rc = bytes_walk(&in[i], v->numel, m->g->inputs[i].name, m->str_views + at, err);
        if (rc < 0)
            return rc;
        v->data = m->str_views + at;
        at += (size_t)v->numel;
    }
    return 0;
}

/* Rewrites BYTES outputs (ox_str views) into the serialized form, in m->str_out. */
static int serialize_outputs(struct inferd_onnx_model *m, const struct ox_plan *p, struct inferd_tensor *out,
                             struct inferd_err *err)
{
    size_t total = 0;
    for (int i = 0; i < m->g->n_outputs; i++) {
        const struct ox_tensor *v = &p->vals[m->g->output_ids[i]];
        const struct ox_str *s = v->data;
        for (int64_t k = 0; v->dt == INFERD_BYTES && k < v->numel; k++) {
            if (s[k].n > UINT32_MAX)
                return inferd_err_set(err, INFERD_ETOOLARGE, "output '%s': string %lld is over 4 GiB",
                                      m->g->outputs[i].name, (long long)k);
            total += 4 + (size_t)s[k].n;
        }
    }
    if (total > m->str_out_cap) {
        char *b = realloc(m->str_out, total);
        if (!b)
            return inferd_err_set(err, INFERD_ENOMEM, "onnx: out of memory for %zu bytes of string outputs", total);
        m->str_out = b;
        m->str_out_cap = total;
    }
    size_t at = 0;
    for (int i = 0; i < m->g->n_outputs; i++) {
        const struct ox_tensor *v = &p->vals[m->g->output_ids[i]];
        if (v->dt != INFERD_BYTES)
            continue;
        const struct ox_str *s = v->data;
        out[i].data = m->str_out + at;
        for (int64_t k = 0; k < v->numel; k++) {
            unsigned char *d = (unsigned char *)m->str_out + at;
            uint32_t len = (uint32_t)s[k].n;
            d[0] = (unsigned char)len, d[1] = (unsigned char)(len >> 8), d[2] = (unsigned char)(len >> 16);
            d[3] = (unsigned char)(len >> 24);
            if (len)
                memcpy(d + 4, s[k].p, len);
            at += 4 + len;
        }
        out[i].nbytes = (size_t)(m->str_out + at - (char *)out[i].data);
    }
    return 0;
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
        if ((rc = ox_bsplit_prepare(m->g, &m->ctx, p, inputs, m->max_elements, err)) < 0) {
            ox_plan_free(p);
            return rc;
        }
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
    if (p->bsplit)
        rc = ox_bsplit_run(m->g, &m->ctx, p, inputs, err);
    else if ((rc = bind_inputs(m, p, inputs, n_inputs, err)) == 0)
        rc = ox_plan_exec(&m->ctx, p, err);
    if (rc < 0)
        return rc;
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
    return serialize_outputs(m, p, outputs, err);
}

const char *inferd_onnx_graph_summary(const struct inferd_onnx_model *m)
{
    return m->opt_summary;
}
