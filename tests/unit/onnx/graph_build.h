/* graph_build.h — what the fusion and memory-plan tests (test_onnx_fuse_transformer,
 * test_onnx_fuse_sum, test_onnx_inplace, test_onnx_fuse_qadd, test_onnx_mbconv) write their small ONNX graphs with, over onnx/pb.h's
 * writer: a node from comma-separated input / output names and up to four attributes, and
 * initializer tensors.
 *
 *   struct gb_node n = {"Conv", "x,w", "y", {{.name = "group", .type = 2, .i = 1}}};
 *   gb_node(&graph, &n);
 *   gb_init(&graph, "w", 1, 4, dims, w, sizeof w);   // elem type 1: FLOAT
 */
#ifndef INFERD_TEST_GRAPH_BUILD_H
#define INFERD_TEST_GRAPH_BUILD_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"

struct gb_attr {
    const char *name;
    int type; /* AttributeProto type: 1 float, 2 int, 3 string, 7 ints */
    float f;
    int64_t i;
    const char *s;
    int64_t ints[8];
    int n_ints;
};

struct gb_node {
    const char *op, *in, *out; /* in / out: comma-separated names */
    struct gb_attr a[4];       /* up to four, the first without a name ends the list */
};

/* each name of the comma-separated list as one string of field */
static inline void gb_names(struct buf *nb, uint32_t field, const char *list)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", list);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        pbw_str(nb, field, t);
}

/* a NodeProto into GraphProto g */
static inline void gb_node(struct buf *g, const struct gb_node *n)
{
    struct buf nb;
    buf_init(&nb, 1024);
    gb_names(&nb, 1, n->in);
    gb_names(&nb, 2, n->out);
    pbw_str(&nb, 4, n->op);
    for (int k = 0; k < 4 && n->a[k].name; k++) {
        const struct gb_attr *a = &n->a[k];
        struct buf ab;
        buf_init(&ab, 256);
        pbw_str(&ab, 1, a->name);
        if (a->type == 1)
            pbw_float(&ab, 2, a->f);
        else if (a->type == 2)
            pbw_uint(&ab, 3, (uint64_t)a->i);
        else if (a->type == 3)
            pbw_str(&ab, 4, a->s);
        else
            for (int j = 0; j < a->n_ints; j++)
                pbw_uint(&ab, 8, (uint64_t)a->ints[j]);
        pbw_uint(&ab, 20, (uint64_t)a->type);
        pbw_msg(&nb, 5, &ab);
        buf_free(&ab);
    }
    pbw_msg(g, 1, &nb);
    buf_free(&nb);
}

/* an initializer of elem type dt and the given dims (rank 0: a scalar), bytes of data v */
static inline void gb_init(struct buf *g, const char *name, int dt, int rank, const int64_t *dims, const void *v,
                           size_t bytes)
{
    struct buf t;
    buf_init(&t, bytes + 256);
    for (int d = 0; d < rank; d++)
        pbw_uint(&t, 1, (uint64_t)dims[d]);
    pbw_uint(&t, 2, (uint64_t)dt);
    pbw_str(&t, 8, name);
    pbw_bytes(&t, 9, v, bytes);
    pbw_msg(g, 5, &t);
    buf_free(&t);
}

/* v[0..n): deterministic test data of amplitude about scale, ph shifting the phase */
static inline void gb_fill(float *v, int64_t n, float scale, float ph)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * sinf(0.37f * (float)i + ph) + 0.1f * scale * (float)(i % 5 - 2);
}

/* a FLOAT initializer of the given dims filled by gb_fill */
static inline void gb_init_fill(struct buf *g, const char *name, int rank, const int64_t *dims, float scale, float ph)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    gb_fill(v, n, scale, ph);
    gb_init(g, name, 1, rank, dims, v, (size_t)n * sizeof *v);
    free(v);
}

/* Wraps GraphProto g into a ModelProto (IR version 8, one default-domain opset import),
 * appends it to out and frees g. */
static inline void gb_model(struct buf *out, struct buf *g, int opset)
{
    struct buf m, op;
    buf_init(&m, g->len + 64);
    pbw_uint(&m, 1, 8);
    pbw_msg(&m, 7, g);
    buf_init(&op, 64);
    pbw_uint(&op, 2, (uint64_t)opset);
    pbw_msg(&m, 8, &op);
    buf_free(&op);
    buf_put(out, m.data, m.len);
    buf_free(g);
    buf_free(&m);
}

/* Runs m on the n_in inputs in, asking for n_out (<= 4) outputs; OUT: *out, a malloc'd copy
 * of output 0 (room for one float at least). Returns output 0's element count, or -1 with the
 * error printed after what. gb_run: one input. */
static inline int64_t gb_run_n(struct inferd_onnx_model *m, const struct inferd_tensor *in, int n_in, int n_out,
                               const char *what, float **out)
{
    struct inferd_tensor o[4];
    struct inferd_err err = {0};
    int rc = inferd_onnx_run(m, in, n_in, o, n_out, &err);
    if (rc < 0)
        fprintf(stderr, "%s: run: %s\n", what, err.msg);
    int64_t k = rc == 0 ? inferd_shape_numel(o[0].rank, o[0].dims) : 0;
    *out = malloc(sizeof(float) * (size_t)(k + 1));
    if (k)
        memcpy(*out, o[0].data, sizeof(float) * (size_t)k);
    return rc == 0 ? k : -1;
}

static inline int64_t gb_run(struct inferd_onnx_model *m, const struct inferd_tensor *in, int n_out, const char *what,
                             float **out)
{
    return gb_run_n(m, in, 1, n_out, what, out);
}

#endif
