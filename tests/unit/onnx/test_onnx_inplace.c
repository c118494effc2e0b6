/* test_onnx_inplace.c — the memory plan's views and in-place Concats (src/onnx/plan.c,
 * INFERD_ONNX_OPT_INPLACE) on small graphs written here with the protobuf writer: a YOLOv8
 * C2f block (channel Slices of one conv-like output concatenated with a third tensor),
 * concatenations in the other order, with a duplicate input, with only part of a sliced
 * buffer (its other part still read later), nested Concats, Split views (of an intermediate
 * and of the graph input), views and Concat inputs that are graph outputs, Concat along the
 * batch axis and along the last axis; elementwise outputs written over an input read by no
 * one after them (a chain of them, a squeeze-excite scale, an input read later). For each graph the model loaded with the plan rewrite
 * off (1 thread) is the reference for the model with it on (2 threads): outputs must be equal
 * bit for bit at batch 1 (where views and in-place inputs apply) and 3 (where channel ones do
 * not), and the batch-1 plan must make the number of views, in-place inputs and reused
 * buffers expected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"
#include "onnx/onnx_int.h"
#include "onnx/pb.h"
#include "graph_build.h"

#define MAXN 12
#define C 8 /* input x: (N, C, W) */
#define W 6

static struct tpool *pool; /* the model with the rewrite on runs on 2 threads */

struct node {
    const char *op, *in, *out; /* in/out: comma-separated names */
    int64_t axis;              /* Concat / Split axis */
};

struct graph {
    const char *what;
    struct node n[MAXN];
    int nn;
    const char *outputs[3];
    int views, in_place, reused; /* expected in the batch-1 plan */
};


static void init_1d(struct buf *g, const char *name, int dt, const void *v, int n, size_t size)
{
    gb_init(g, name, dt, 1, (const int64_t[]){n}, v, (size_t)n * size);
}

/* The model bytes (opset 13): input x (N, C, W), the constants the graphs use, the nodes. */
static void encode(const struct graph *gr, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    for (int i = 0; i < gr->nn; i++) {
        const struct node *n = &gr->n[i];
        struct buf nb;
        buf_init(&nb, 1024);
        gb_names(&nb, 1, n->in);
        gb_names(&nb, 2, n->out);
        pbw_str(&nb, 4, n->op);
        if (!strcmp(n->op, "Concat") || !strcmp(n->op, "Split")) {
            struct buf ab;
            buf_init(&ab, 64);
            pbw_str(&ab, 1, "axis");
            pbw_uint(&ab, 3, (uint64_t)n->axis);
            pbw_uint(&ab, 20, 2);
            pbw_msg(&nb, 5, &ab);
            buf_free(&ab);
        }
        pbw_msg(&g, 1, &nb);
        buf_free(&nb);
    }
    pbw_str(&g, 2, "inplace");
    init_1d(&g, "two", 1, (const float[]){2.0f}, 1, 4);
    init_1d(&g, "half", 1, (const float[]){0.5f}, 1, 4);
    init_1d(&g, "i0", 7, (const int64_t[]){0}, 1, 8);
    init_1d(&g, "i1", 7, (const int64_t[]){1}, 1, 8);
    init_1d(&g, "i2", 7, (const int64_t[]){2}, 1, 8);
    init_1d(&g, "i3", 7, (const int64_t[]){3}, 1, 8);
    init_1d(&g, "i4", 7, (const int64_t[]){4}, 1, 8);
    init_1d(&g, "i8", 7, (const int64_t[]){8}, 1, 8);
    init_1d(&g, "im1", 7, (const int64_t[]){-1}, 1, 8);
    init_1d(&g, "big", 7, (const int64_t[]){1000}, 1, 8);
    init_1d(&g, "sp35", 7, (const int64_t[]){3, 5}, 2, 8);
    pbw_value_info(&g, 11, "x", 1, 3, (const int64_t[]){-1, C, W});
    for (int k = 0; k < 3 && gr->outputs[k]; k++)
        pbw_value_info(&g, 12, gr->outputs[k], 1, -1, NULL);
    gb_model(out, &g, 13);
}

static float *input(int b)
{
    int64_t n = (int64_t)b * C * W;
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.5f * sinf(0.37f * (float)i + (float)b) - 0.3f * (float)(i % 3);
    return x;
}

/* Runs m at batch b twice (the second run reuses the plan) and compares every output of
 * the last run with ref's; OUT: nothing, failures are CHECKs. */
static void compare(const char *what, struct inferd_onnx_model *ref, struct inferd_onnx_model *got, int b)
{
    float *x = input(b);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 3, .dims = {b, C, W}, .data = x,
                               .nbytes = (size_t)b * C * W * sizeof *x};
    struct inferd_tensor r[3], y[3];
    struct inferd_err err = {0};
    int no = inferd_onnx_n_outputs(ref), rc = inferd_onnx_run(ref, &in, 1, r, 3, &err);
    for (int t = 0; t < 2 && rc == 0; t++)
        rc = inferd_onnx_run(got, &in, 1, y, 3, &err);
    if (rc < 0)
        fprintf(stderr, "%s: run: %s\n", what, err.msg);
    CHECK(rc == 0);
    for (int k = 0; k < no && rc == 0; k++) {
        int same = r[k].nbytes == y[k].nbytes && r[k].rank == y[k].rank &&
                   memcmp(r[k].dims, y[k].dims, sizeof r[k].dims) == 0 && memcmp(r[k].data, y[k].data, r[k].nbytes) == 0;
        if (!same)
            fprintf(stderr, "%s: batch %d: output %d differs with the plan rewrite on\n", what, b, k);
        CHECK(same);
    }
    free(x);
}

/* Views and in-place inputs of the batch-1 plan, through the engine's internals. */
static void plan_counts(const struct buf *b, int *views, int *in_place, int *reused)
{
    struct ox_model *g = NULL;
    struct ox_plan *p = NULL;
    struct inferd_err err = {0};
    float *x = input(1);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 3, .dims = {1, C, W}, .data = x,
                               .nbytes = C * W * sizeof *x};
    unsigned char keyed[1] = {0};
    struct ox_ctx ctx = {.nth = 1, .in_place = 1};
    *views = *in_place = *reused = -1;
    if (ox_decode_model((const uint8_t *)b->data, b->len, &g, &err) == 0 && ox_graph_build(g, &err) == 0 &&
        ox_plan_build(g, &ctx, &in, keyed, 1 << 20, &p, &err) == 0) {
        *views = p->n_views;
        *in_place = p->n_in_place;
        *reused = p->n_reused;
    }
    ox_plan_free(p);
    ox_model_free(g);
    free(x);
}

static void check(const struct graph *gr)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    encode(gr, &b);
    struct inferd_onnx_model *ref = NULL, *got = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(b.data, b.len, &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_INPLACE},
                                     &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(b.data, b.len, &(struct inferd_onnx_options){.pool = pool}, &got, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", gr->what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        compare(gr->what, ref, got, 1);
        compare(gr->what, ref, got, 3);
        compare(gr->what, ref, got, 1); /* the cached batch-1 plan again */
    }
    int views, in_place, reused;
    plan_counts(&b, &views, &in_place, &reused);
    if (views != gr->views || in_place != gr->in_place || reused != gr->reused)
        fprintf(stderr, "%s: plan made %d views, %d in place, %d reused; expected %d, %d, %d\n", gr->what, views,
                in_place, reused, gr->views, gr->in_place, gr->reused);
    CHECK(views == gr->views && in_place == gr->in_place && reused == gr->reused);
    printf("%-46s %d views, %d Concat inputs in place, %d outputs over an input\n", gr->what, views, in_place, reused);
    inferd_onnx_free(ref);
    inferd_onnx_free(got);
    buf_free(&b);
}

/* X = 2x, a = X[:, 0:4], b = X[:, 4:8], c = b + relu(b) */
#define C2F_HEAD                                                                                     \
    {"Mul", "x,two", "X", 0}, {"Slice", "X,i0,i4,i1", "a", 0}, {"Slice", "X,i4,i8,i1", "b", 0},     \
        {"Relu", "b", "rb", 0}, {"Add", "b,rb", "c", 0}

int main(void)
{
    pool = tpool_new(2);
    CHECK(pool != NULL);
    static const struct graph graphs[] = {
        {"c2f: concat(a, b, b + relu(b))", {C2F_HEAD, {"Concat", "a,b,c", "y", 1}, {"Mul", "y,half", "z", 0}}, 7,
         {"z"}, 2, 3, 1},
        {"c2f with the concat as graph output", {C2F_HEAD, {"Concat", "a,b,c", "z", 1}}, 6, {"z"}, 2, 3, 1},
        {"reversed: concat(b, a, c)", {C2F_HEAD, {"Concat", "b,a,c", "y", 1}, {"Mul", "y,half", "z", 0}}, 7, {"z"}, 2,
         1, 1},
        {"duplicate: concat(b, b, a)", {C2F_HEAD, {"Concat", "b,b,a", "y", 1}, {"Mul", "y,half", "z", 0}}, 7, {"z"},
         2, 0, 1},
        {"part of X: concat(a, c), b read after",
         {C2F_HEAD, {"Concat", "a,c", "y", 1}, {"Relu", "b", "rb2", 0}, {"Concat", "y,rb2", "z", 1}}, 8, {"z"}, 2, 3, 1},
        {"nested: concat(concat(a, b), c)",
         {C2F_HEAD, {"Concat", "a,b", "ab", 1}, {"Concat", "ab,c", "y", 1}, {"Mul", "y,half", "z", 0}}, 8, {"z"}, 2,
         4, 1},
        {"view and concat input are graph outputs",
         {C2F_HEAD, {"Concat", "a,b,c", "y", 1}, {"Mul", "y,half", "z", 0}}, 7, {"z", "b", "c"}, 1, 0, 0},
        {"split views of X, concat(s2, s1) and (s1, s2)",
         {{"Mul", "x,two", "X", 0}, {"Split", "X,sp35", "s1,s2", 1}, {"Concat", "s2,s1", "y", 1},
          {"Concat", "s1,s2", "y2", 1}, {"Add", "y,y2", "z", 0}},
         5, {"z"}, 2, 2, 0},
        {"split and slices of the graph input",
         {{"Split", "x,sp35", "s1,s2", 1}, {"Slice", "x,i2,big,i1", "t", 0}, {"Concat", "s2,s1,t", "y", 1},
          {"Mul", "y,half", "z", 0}},
         4, {"z"}, 3, 0, 0},
        {"slices on the last axis (copies)",
         {{"Mul", "x,two", "X", 0}, {"Slice", "X,i0,i2,im1", "a", 0}, {"Slice", "X,i2,big,im1", "b", 0},
          {"Concat", "b,a", "y", 2}, {"Relu", "y", "z", 0}},
         5, {"z"}, 0, 0, 0},
        {"concat along the batch axis",
         {{"Mul", "x,two", "X", 0}, {"Relu", "x", "R", 0}, {"Concat", "X,R", "y", 0}, {"Mul", "y,half", "z", 0}}, 4,
         {"z"}, 0, 2, 0},
        {"slice of a slice, then concat",
         {{"Mul", "x,two", "X", 0}, {"Slice", "X,i2,i8,i1", "a", 0}, {"Slice", "a,i0,i3,i1", "b", 0},
          {"Slice", "a,i3,big,i1", "c", 0}, {"Relu", "X", "R", 0}, {"Concat", "R,c,b", "y", 1},
          {"Mul", "y,half", "z", 0}},
         7, {"z"}, 3, 1, 0},
        {"elementwise chain in one buffer",
         {{"Mul", "x,two", "X", 0}, {"Relu", "X", "A", 0}, {"Sigmoid", "A", "B", 0}, {"Add", "B,half", "C", 0},
          {"Mul", "C,C", "D", 0}, {"Sub", "D,two", "z", 0}},
         6, {"z"}, 0, 0, 4},
        {"squeeze-excite: pool, gate, scale",
         {{"Mul", "x,two", "X", 0}, {"GlobalAveragePool", "X", "s", 0}, {"Sigmoid", "s", "g", 0},
          {"Mul", "X,g", "Y", 0}, {"Relu", "Y", "z", 0}},
         5, {"z"}, 0, 0, 2},
        {"input read after the elementwise op",
         {{"Mul", "x,two", "X", 0}, {"Relu", "X", "A", 0}, {"Add", "A,X", "B", 0}, {"Add", "B,X", "z", 0}}, 4,
         {"z"}, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof graphs / sizeof *graphs; i++)
        check(&graphs[i]);
    tpool_free(pool);
    return check_finish();
}
