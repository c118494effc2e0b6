/* decode.c — ONNX ModelProto / GraphProto / NodeProto / AttributeProto / ValueInfoProto
 * from the wire format into struct ox_model. Bounded: counts capped (OX_MAX_*), nesting
 * depth capped, every length checked by pb.c. Only the fields the engine uses are read.
 *
 *   ModelProto: 1 ir_version, 2 producer_name, 7 graph, 8 opset_import{1 domain, 2 version}
 *   GraphProto: 1 node*, 5 initializer*, 11 input*, 12 output*
 *   NodeProto:  1 input*, 2 output*, 3 name, 4 op_type, 5 attribute*, 7 domain
 *   AttributeProto: 1 name, 2 f, 3 i, 4 s, 5 t, 6 g, 7 floats, 8 ints, 9 strings, 20 type
 *   ValueInfoProto: 1 name, 2 type{1 tensor_type{1 elem_type, 2 shape{1 dim*{1 value, 2 param}}}}
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/pb.h"

#define FAILF(code, ...) inferd_err_set(err, code, __VA_ARGS__)

/* Counts occurrences of field num in a message. */
static int count_field(const uint8_t *buf, size_t len, uint32_t num, int64_t cap, const char *what,
                       struct inferd_err *err)
{
    struct pb_reader r = pb_reader_init(buf, len);
    struct pb_field f;
    int rc;
    int64_t n = 0;
    while ((rc = pb_next(&r, &f, err)) > 0)
        if (f.num == num && ++n > cap)
            return FAILF(INFERD_ETOOLARGE, "%s: more than %lld entries", what, (long long)cap);
    return rc < 0 ? rc : (int)n;
}

static int want_len(const struct pb_field *f, const char *what, struct inferd_err *err)
{
    if (f->wire != PB_LEN)
        return FAILF(INFERD_EFORMAT, "%s: expected a length-delimited field, got wire type %d", what, f->wire);
    return 0;
}

static int decode_attr(struct ox_mem *mem, const uint8_t *buf, size_t len, struct ox_attr *a,
                       struct inferd_err *err)
{
    struct pb_reader r = pb_reader_init(buf, len);
    struct pb_field f;
    int rc;
    int64_t n_ints = 0, n_floats = 0;
    a->name = "";
    while ((rc = pb_next(&r, &f, err)) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = want_len(&f, "attribute.name", err)) < 0)
                return rc;
            if (!(a->name = ox_mem_strdup(mem, f.data, f.len)))
                return FAILF(INFERD_ENOMEM, "attribute: out of memory");
            break;
        case 20: a->type = (int)f.v; break;
        case 2: {
            uint32_t u = (uint32_t)f.v;
            memcpy(&a->f, &u, 4);
            break;
        }
        case 3: a->i = (int64_t)f.v; break;
        case 4:
            if ((rc = want_len(&f, "attribute.s", err)) < 0)
                return rc;
            if (!(a->s = ox_mem_strdup(mem, f.data, f.len)))
                return FAILF(INFERD_ENOMEM, "attribute: out of memory");
            a->s_len = f.len;
            break;
        case 5:
            if ((rc = want_len(&f, "attribute.t", err)) < 0)
                return rc;
            if (!(a->t = ox_mem_alloc(mem, sizeof *a->t)))
                return FAILF(INFERD_ENOMEM, "attribute: out of memory");
            if ((rc = ox_decode_tensor(mem, f.data, f.len, a->t, NULL, err)) < 0)
                return rc;
            break;
        case 7: case 8: {
            int64_t c = pb_repeated_count(&f, f.num == 7 ? PB_ELEM_FIXED32 : PB_ELEM_VARINT, err);
            if (c < 0)
                return (int)c;
            if (f.num == 7)
                n_floats += c;
            else
                n_ints += c;
            if (n_floats > OX_MAX_ATTR_ELEMS || n_ints > OX_MAX_ATTR_ELEMS)
                return FAILF(INFERD_ETOOLARGE, "attribute '%s': more than %d elements", a->name,
                             OX_MAX_ATTR_ELEMS);
            break;
        }
        default: break; /* graphs, strings, tensors lists: kept out (ops using them are unsupported) */
        }
    }
    if (rc < 0)
        return rc;
    if (n_ints || n_floats) {
        a->ints = ox_mem_alloc(mem, (size_t)n_ints * sizeof(int64_t));
        a->floats = ox_mem_alloc(mem, (size_t)n_floats * sizeof(float));
        uint64_t *tmp = malloc((size_t)(n_ints > n_floats ? n_ints : n_floats) * sizeof *tmp);
        if (!a->ints || !a->floats || !tmp) {
            free(tmp);
            return FAILF(INFERD_ENOMEM, "attribute: out of memory");
        }
        r = pb_reader_init(buf, len);
        while ((rc = pb_next(&r, &f, err)) > 0) {
            if (f.num != 7 && f.num != 8)
                continue;
            enum pb_elem kind = f.num == 7 ? PB_ELEM_FIXED32 : PB_ELEM_VARINT;
            int64_t c = pb_repeated_count(&f, kind, err);
            if (c < 0 || pb_repeated_read(&f, kind, tmp, c, err) < 0) {
                rc = INFERD_EFORMAT;
                break;
            }
            for (int64_t k = 0; k < c; k++) {
                if (f.num == 7) {
                    uint32_t u = (uint32_t)tmp[k];
                    memcpy(&a->floats[a->n_floats++], &u, 4);
                } else {
                    a->ints[a->n_ints++] = (int64_t)tmp[k];
                }
            }
        }
        free(tmp);
        if (rc < 0)
            return rc;
    }
    if (a->type == 0) /* old files leave type out; infer it from what is set */
        a->type = a->t ? OX_ATTR_TENSOR : a->s ? OX_ATTR_STRING : n_ints ? OX_ATTR_INTS
                : n_floats ? OX_ATTR_FLOATS : OX_ATTR_INT;
    return 0;
}

static int decode_node(struct ox_mem *mem, const uint8_t *buf, size_t len, struct ox_node *n,
                       struct inferd_err *err)
{
    int ni = count_field(buf, len, 1, OX_MAX_NODE_IO, "node.input", err);
    int no = count_field(buf, len, 2, OX_MAX_NODE_IO, "node.output", err);
    int na = count_field(buf, len, 5, OX_MAX_ATTRS, "node.attribute", err);
    if (ni < 0 || no < 0 || na < 0)
        return ni < 0 ? ni : no < 0 ? no : na;
    const char **in_names = ox_mem_alloc(mem, (size_t)(ni + 1) * sizeof(char *));
    const char **out_names = ox_mem_alloc(mem, (size_t)(no + 1) * sizeof(char *));
    n->attrs = ox_mem_alloc(mem, (size_t)(na + 1) * sizeof *n->attrs);
    n->in = ox_mem_alloc(mem, (size_t)(ni + 1) * sizeof(int));
    n->out = ox_mem_alloc(mem, (size_t)(no + 1) * sizeof(int));
    if (!in_names || !out_names || !n->attrs || !n->in || !n->out)
        return FAILF(INFERD_ENOMEM, "node: out of memory");
    n->op_type = n->name = n->domain = "";
    struct pb_reader r = pb_reader_init(buf, len);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num != 1 && f.num != 2 && f.num != 3 && f.num != 4 && f.num != 5 && f.num != 7)
            continue;
        if ((rc = want_len(&f, "node field", err)) < 0)
            return rc;
        if (f.num == 5) {
            if ((rc = decode_attr(mem, f.data, f.len, &n->attrs[n->n_attrs], err)) < 0)
                return rc;
            n->n_attrs++;
            continue;
        }
        char *s = ox_mem_strdup(mem, f.data, f.len);
        if (!s)
            return FAILF(INFERD_ENOMEM, "node: out of memory");
        switch (f.num) {
        case 1: in_names[n->n_in++] = s; break;
        case 2: out_names[n->n_out++] = s; break;
        case 3: n->name = s; break;
        case 4: n->op_type = s; break;
        case 7: n->domain = s; break;
        }
    }
    if (rc < 0)
        return rc;
    n->in_names = in_names; /* resolved to ids in n->in / n->out by graph.c */
    n->out_names = out_names;
    return 0;
}

static int decode_value_info(struct ox_mem *mem, const uint8_t *buf, size_t len, struct inferd_onnx_io *io,
                             struct inferd_err *err)
{
    struct pb_reader r = pb_reader_init(buf, len), rt, rtt, rs, rd;
    struct pb_field f, g, h, s, d;
    int rc;
    io->name = "";
    io->dtype = INFERD_DTYPE_INVALID;
    io->rank = -1; /* unknown */
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num == 1 && f.wire == PB_LEN) {
            if (!(io->name = ox_mem_strdup(mem, f.data, f.len)))
                return FAILF(INFERD_ENOMEM, "value_info: out of memory");
        } else if (f.num == 2 && f.wire == PB_LEN) {
            rt = pb_reader_init(f.data, f.len);
            while ((rc = pb_next(&rt, &g, err)) > 0) {
                if (g.num != 1 || g.wire != PB_LEN)
                    continue; /* sequence/map/optional types: left unknown */
                rtt = pb_reader_init(g.data, g.len);
                while ((rc = pb_next(&rtt, &h, err)) > 0) {
                    if (h.num == 1 && h.wire == PB_VARINT) {
                        io->dtype = inferd_dtype_from_onnx((int)h.v);
                    } else if (h.num == 2 && h.wire == PB_LEN) {
                        io->rank = 0;
                        rs = pb_reader_init(h.data, h.len);
                        while ((rc = pb_next(&rs, &s, err)) > 0) {
                            if (s.num != 1 || s.wire != PB_LEN)
                                continue;
                            if (io->rank >= INFERD_MAX_RANK)
                                return FAILF(INFERD_EUNSUPPORTED, "value '%s': rank above %d", io->name,
                                             INFERD_MAX_RANK);
                            int64_t dv = -1;
                            rd = pb_reader_init(s.data, s.len);
                            while ((rc = pb_next(&rd, &d, err)) > 0)
                                if (d.num == 1 && d.wire == PB_VARINT)
                                    dv = (int64_t)d.v > 0 ? (int64_t)d.v : -1;
                            if (rc < 0)
                                return rc;
                            io->dims[io->rank++] = dv;
                        }
                        if (rc < 0)
                            return rc;
                    }
                }
                if (rc < 0)
                    return rc;
            }
            if (rc < 0)
                return rc;
        }
    }
    return rc < 0 ? rc : 0;
}

static int decode_graph(struct ox_model *m, const uint8_t *buf, size_t len, struct inferd_err *err)
{
    struct ox_mem *mem = m->mem;
    int nn = count_field(buf, len, 1, OX_MAX_NODES, "graph.node", err);
    int ninit = count_field(buf, len, 5, OX_MAX_VALUES, "graph.initializer", err);
    int nin = count_field(buf, len, 11, OX_MAX_GRAPH_IO, "graph.input", err);
    int nout = count_field(buf, len, 12, OX_MAX_GRAPH_IO, "graph.output", err);
    if (nn < 0 || ninit < 0 || nin < 0 || nout < 0)
        return err && err->code ? err->code : INFERD_EFORMAT;
    m->nodes = ox_mem_alloc(mem, (size_t)(nn + 1) * sizeof *m->nodes);
    m->inits = ox_mem_alloc(mem, (size_t)(ninit + 1) * sizeof *m->inits);
    m->init_names = ox_mem_alloc(mem, (size_t)(ninit + 1) * sizeof(char *));
    m->inputs = ox_mem_alloc(mem, (size_t)(nin + 1) * sizeof *m->inputs);
    m->outputs = ox_mem_alloc(mem, (size_t)(nout + 1) * sizeof *m->outputs);
    if (!m->nodes || !m->inits || !m->init_names || !m->inputs || !m->outputs)
        return FAILF(INFERD_ENOMEM, "graph: out of memory");
    struct pb_reader r = pb_reader_init(buf, len);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num == 1 || f.num == 5 || f.num == 11 || f.num == 12) {
            if ((rc = want_len(&f, "graph field", err)) < 0)
                return rc;
        }
        switch (f.num) {
        case 1:
            if ((rc = decode_node(mem, f.data, f.len, &m->nodes[m->n_nodes], err)) < 0) {
                inferd_err_prefix(err, "node %d", m->n_nodes);
                return rc;
            }
            m->n_nodes++;
            break;
        case 5:
            if ((rc = ox_decode_tensor(mem, f.data, f.len, &m->inits[m->n_inits], &m->init_names[m->n_inits],
                                       err)) < 0) {
                inferd_err_prefix(err, "initializer %d", m->n_inits);
                return rc;
            }
            m->n_inits++;
            break;
        case 11: case 12: {
            struct inferd_onnx_io *io = f.num == 11 ? &m->inputs[m->n_inputs++] : &m->outputs[m->n_outputs++];
            if ((rc = decode_value_info(mem, f.data, f.len, io, err)) < 0)
                return rc;
            break;
        }
        default: break;
        }
    }
    return rc < 0 ? rc : 0;
}

int ox_decode_model(const uint8_t *data, size_t size, struct ox_model **out, struct inferd_err *err)
{
    *out = NULL;
    struct ox_model *m = calloc(1, sizeof *m);
    int rc = INFERD_ENOMEM;
    if (!m || !(m->mem = ox_mem_new())) {
        FAILF(INFERD_ENOMEM, "model: out of memory");
        goto fail;
    }
    m->producer = "";
    m->opset = -1;
    struct pb_reader r = pb_reader_init(data, size);
    struct pb_field f, g;
    const uint8_t *graph = NULL;
    size_t graph_len = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        switch (f.num) {
        case 1: m->ir_version = (int64_t)f.v; break;
        case 2:
            if (f.wire == PB_LEN && !(m->producer = ox_mem_strdup(m->mem, f.data, f.len))) {
                rc = FAILF(INFERD_ENOMEM, "model: out of memory");
                goto fail;
            }
            break;
        case 7:
            if ((rc = want_len(&f, "model.graph", err)) < 0)
                goto fail;
            graph = f.data;
            graph_len = f.len;
            break;
        case 8: {
            if ((rc = want_len(&f, "model.opset_import", err)) < 0)
                goto fail;
            struct pb_reader ro = pb_reader_init(f.data, f.len);
            size_t dlen = 0;
            const uint8_t *dom = NULL;
            int64_t ver = -1;
            while ((rc = pb_next(&ro, &g, err)) > 0) {
                if (g.num == 1 && g.wire == PB_LEN)
                    dom = g.data, dlen = g.len;
                else if (g.num == 2 && g.wire == PB_VARINT)
                    ver = (int64_t)g.v;
            }
            if (rc < 0)
                goto fail;
            if (dlen == 0 || (dlen == 7 && memcmp(dom, "ai.onnx", 7) == 0))
                m->opset = ver > 0 && ver < 1000 ? (int)ver : m->opset;
            break;
        }
        default: break;
        }
    }
    if (rc < 0)
        goto fail;
    if (!graph) {
        rc = FAILF(INFERD_EFORMAT, "model: no graph (is this an ONNX file?)");
        goto fail;
    }
    if (m->opset < 0) /* IR version 1/2 files carry no opset_import: ONNX says opset 1 */
        m->opset = 1;
    if ((rc = decode_graph(m, graph, graph_len, err)) < 0) {
        inferd_err_prefix(err, "graph");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    ox_model_free(m);
    return rc < 0 ? rc : INFERD_EFORMAT;
}

void ox_model_free(struct ox_model *m)
{
    if (!m)
        return;
    ox_mem_free(m->mem);
    free(m);
}
