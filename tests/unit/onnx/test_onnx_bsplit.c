/* test_onnx_bsplit.c — plan-level batch splitting (src/onnx/bsplit.c) on small graphs written
 * here: a conv net with channel Slices, a SiLU, a Concat, MaxPool, a broadcast bias,
 * GlobalAveragePool, Flatten, Gemm and Softmax; an MLP (MatMul + bias + Relu); and graphs that
 * mix images and must NOT split: Softmax over axis 0, ReduceSum over axis 0 subtracted back,
 * a Reshape that merges the batch; and x / N with N folded from Shape(x)[0], whose steps are
 * separable op by op but whose constant differs in a batch-1 sub-plan (1, not N), so it must
 * not split either (without bsplit.c's constant check its split outputs are N times too big).
 * For each graph and batch (2, 3, 4) and thread count (1, 2),
 * the model run with INFERD_ONNX_BSPLIT=1 must give the outputs of INFERD_ONNX_BSPLIT=0
 * within 1e-5 relative (a split run uses the batch-1 kernels); through the engine's
 * internals, ox_bsplit_separable must say N for the separable graphs and 0 for the others,
 * and ox_bsplit_prepare must hang sub-plans on the plan exactly for the separable ones. The
 * Softmax-over-axis-0 graph passes the sub-plan's shape check, so without the per-op
 * separability check it would split and its outputs would differ. The automatic rule
 * (INFERD_ONNX_BSPLIT=auto) must split the conv net (its 128x128 activations,
 * tiny weights) and keep the MLP whole (steps too small to run one image at a time), on 1
 * thread and on 2; a chain of 12 small convs (60x60 maps: 1.3 MiB an image, 113 KiB a
 * step) stays whole on 1 thread (steps under 128 KiB) and splits on 2 (1 MiB an image, its
 * weights under 8 times that) at batch 2 and 4 but not 3 (one thread would idle), as
 * bsplit_wanted() says; 12 Sigmoids on such maps with a 14 MiB MatMul after them (weights
 * over 8 times an image's writes) stay whole on 2 threads too. */
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

#define MAXN 16

struct graph {
    const char *what;
    struct gb_node n[MAXN];
    const char *outputs; /* comma-separated */
    int rank;            /* input x: (N, dims...) */
    int64_t dims[3];
    int separable;  /* 1: splits; 2: separable op by op, but a constant depends on N: kept whole */
    int auto_split; /* INFERD_ONNX_BSPLIT=auto's rule for 2+ threads splits it */
    int auto_one;   /* its 1-thread rule splits it (on any thread count) */
    int loose;      /* split vs whole within 1e-5 of the largest output, not of each (a long MatMul) */
};

static uint32_t lcg = 12345;
static float frand(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(lcg >> 8) / (float)(1u << 24) - 0.5f;
}

static void init_rand(struct buf *g, const char *name, int rank, const int64_t *dims)
{
    int64_t n = ox_numel(rank, dims);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = frand();
    gb_init(g, name, 1, rank, dims, v, (size_t)n * sizeof *v);
    free(v);
}

static void init_i64(struct buf *g, const char *name, int n, const int64_t *v)
{
    gb_init(g, name, 7, 1, (const int64_t[]){n}, v, (size_t)n * sizeof *v);
}

static void encode(const struct graph *gr, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 25); /* m3 is 14.7 MB */
    for (int i = 0; i < MAXN && gr->n[i].op; i++)
        gb_node(&g, &gr->n[i]);
    pbw_str(&g, 2, "bsplit");
    lcg = 12345;
    init_rand(&g, "w1", 4, (const int64_t[]){8, 3, 3, 3});
    init_rand(&g, "b1", 1, (const int64_t[]){8});
    init_rand(&g, "w2", 4, (const int64_t[]){4, 4, 1, 1});
    init_rand(&g, "bias3", 4, (const int64_t[]){1, 12, 1, 1});
    init_rand(&g, "wg", 2, (const int64_t[]){5, 12});
    init_rand(&g, "bg", 1, (const int64_t[]){5});
    init_rand(&g, "m1", 2, (const int64_t[]){16, 32});
    init_rand(&g, "mb1", 1, (const int64_t[]){32});
    init_rand(&g, "m2", 2, (const int64_t[]){32, 4});
    init_rand(&g, "w8", 4, (const int64_t[]){8, 8, 3, 3});
    init_rand(&g, "m3", 2, (const int64_t[]){8 * 10 * 10, 4608});
    init_i64(&g, "s0", 1, (const int64_t[]){0});
    init_i64(&g, "s4", 1, (const int64_t[]){4});
    init_i64(&g, "s8", 1, (const int64_t[]){8});
    init_i64(&g, "ax1", 1, (const int64_t[]){1});
    init_i64(&g, "ax0", 1, (const int64_t[]){0});
    init_i64(&g, "shp32", 2, (const int64_t[]){-1, 32});
    init_i64(&g, "shp16", 2, (const int64_t[]){-1, 16});
    int64_t xd[4] = {-1, gr->dims[0], gr->dims[1], gr->dims[2]};
    pbw_value_info(&g, 11, "x", 1, gr->rank, xd);
    char names[128];
    snprintf(names, sizeof names, "%s", gr->outputs);
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save))
        pbw_value_info(&g, 12, t, 1, -1, NULL);
    gb_model(out, &g, 13);
}

static struct inferd_tensor input(const struct graph *gr, int b, float **x)
{
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = gr->rank, .dims = {b}};
    for (int d = 1; d < gr->rank; d++)
        in.dims[d] = gr->dims[d - 1];
    int64_t n = ox_numel(in.rank, in.dims);
    *x = malloc((size_t)n * sizeof **x);
    for (int64_t i = 0; i < n; i++)
        (*x)[i] = 2.0f * sinf(0.37f * (float)i) + 0.1f * (float)(i % 5);
    in.data = *x;
    in.nbytes = (size_t)n * sizeof **x;
    return in;
}

/* the engine's own view: separable, and whether prepare splits under INFERD_ONNX_BSPLIT=mode */
static void internals(const struct graph *gr, const struct buf *b, int batch, int nth, struct tpool *pool,
                      const char *mode)
{
    struct ox_model *g = NULL;
    struct ox_plan *p = NULL;
    struct inferd_err err = {0};
    float *x;
    struct inferd_tensor in = input(gr, batch, &x);
    unsigned char keyed[1] = {0};
    struct ox_ctx ctx = {.pool = pool, .nth = nth, .in_place = 1};
    int rc = ox_decode_model((const uint8_t *)b->data, b->len, &g, &err);
    if (rc == 0)
        rc = ox_graph_build(g, &err);
    if (rc == 0)
        rc = ox_plan_build(g, &ctx, &in, keyed, 1 << 24, &p, &err);
    if (rc < 0)
        fprintf(stderr, "%s: plan: %s\n", gr->what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        int64_t sep = ox_bsplit_separable(g, p);
        if (sep != (gr->separable ? batch : 0))
            fprintf(stderr, "%s: batch %d: separable says %lld\n", gr->what, batch, (long long)sep);
        CHECK(sep == (gr->separable ? batch : 0));
        setenv("INFERD_ONNX_BSPLIT", mode, 1);
        int busy = batch >= nth && (batch % nth == 0 || batch >= 2 * nth); /* every thread gets images */
        int want = mode[0] == '1' ? gr->separable == 1 : gr->auto_one || (nth > 1 && busy && gr->auto_split);
        CHECK(ox_bsplit_prepare(g, &ctx, p, &in, 1 << 24, &err) == 0);
        if ((p->bsplit != NULL) != want)
            fprintf(stderr, "%s: batch %d, INFERD_ONNX_BSPLIT=%s: %s\n", gr->what, batch, mode,
                    p->bsplit ? "split" : "kept whole");
        CHECK((p->bsplit != NULL) == want);
        CHECK(ox_bsplit_active(p) == want);
    }
    ox_plan_free(p);
    ox_model_free(g);
    free(x);
}

/* outputs of the split model (INFERD_ONNX_BSPLIT=1) against the unsplit one's */
static void compare(const struct graph *gr, const struct buf *b, int batch, struct tpool *pool)
{
    struct inferd_onnx_model *ref = NULL, *got = NULL;
    struct inferd_err err = {0};
    struct inferd_onnx_options opt = {.pool = pool};
    int rc = inferd_onnx_load_buffer(b->data, b->len, &opt, &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(b->data, b->len, &opt, &got, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", gr->what, err.msg);
    CHECK(rc == 0);
    float *x;
    struct inferd_tensor in = input(gr, batch, &x), r[2], y[2];
    setenv("INFERD_ONNX_BSPLIT", "0", 1);
    if (rc == 0)
        rc = inferd_onnx_run(ref, &in, 1, r, 2, &err);
    setenv("INFERD_ONNX_BSPLIT", "1", 1);
    for (int t = 0; t < 2 && rc == 0; t++) /* the second run reuses the plan and its sub-plans */
        rc = inferd_onnx_run(got, &in, 1, y, 2, &err);
    if (rc < 0)
        fprintf(stderr, "%s: run: %s\n", gr->what, err.msg);
    CHECK(rc == 0);
    for (int k = 0; rc == 0 && k < inferd_onnx_n_outputs(ref); k++) {
        int same = r[k].nbytes == y[k].nbytes && r[k].rank == y[k].rank &&
                   memcmp(r[k].dims, y[k].dims, sizeof r[k].dims) == 0;
        double worst = 0, scale = 0;
        const float *a = r[k].data, *c = y[k].data;
        size_t n = same ? r[k].nbytes / sizeof(float) : 0;
        for (size_t i = 0; gr->loose && i < n; i++)
            scale = fabs((double)a[i]) > scale ? fabs((double)a[i]) : scale;
        for (size_t i = 0; i < n; i++) {
            /* loose: against the largest output (the batched GEMM sums 800 terms in another
             * order, and sums that cancel keep their terms' rounding); else each value's */
            double d = fabs((double)a[i] - (double)c[i]) / (gr->loose ? scale + 1e-30 : fabs((double)a[i]) + 1e-3);
            worst = d > worst ? d : worst;
        }
        double tol = 1e-5;
        if (!same || worst > tol)
            fprintf(stderr, "%s: batch %d, %d threads: output %d differs split (worst rel %.3g)\n", gr->what, batch,
                    pool ? tpool_size(pool) : 1, k, worst);
        CHECK(same && worst <= tol);
    }
    inferd_onnx_free(ref);
    inferd_onnx_free(got);
    free(x);
}

#define INT_A(nm, v) {.name = nm, .type = 2, .i = v}
#define INTS_A(nm, ...) {.name = nm, .type = 7, .ints = {__VA_ARGS__}, .n_ints = sizeof((int64_t[]){__VA_ARGS__}) / 8}

int main(void)
{
    unsetenv("INFERD_ONNX_BSPLIT_SUB"); /* one image a sub-batch: ox_bsplit_active's count */
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    static const struct graph graphs[] = {
        {"conv net: slices, SiLU, concat, pools, Gemm",
         {{"Conv", "x,w1,b1", "c1", {INTS_A("pads", 1, 1, 1, 1), INTS_A("kernel_shape", 3, 3)}},
          {"Relu", "c1", "r1", {{0}}},
          {"Slice", "r1,s0,s4,ax1", "a", {{0}}},
          {"Slice", "r1,s4,s8,ax1", "b", {{0}}},
          {"Conv", "a,w2", "c2", {{0}}},
          {"Sigmoid", "b", "sb", {{0}}},
          {"Mul", "b,sb", "m", {{0}}},
          {"Concat", "c2,m,a", "cat", {INT_A("axis", 1)}},
          {"MaxPool", "cat", "mp", {INTS_A("kernel_shape", 2, 2), INTS_A("strides", 2, 2)}},
          {"Add", "mp,bias3", "ad", {{0}}},
          {"GlobalAveragePool", "ad", "gp", {{0}}},
          {"Flatten", "gp", "f", {{0}}},
          {"Gemm", "f,wg,bg", "g", {INT_A("transB", 1)}},
          {"Softmax", "g", "y", {INT_A("axis", 1)}}},
         "y,mp", 4, {3, 128, 128}, 1, 1, 1, 0},
        {"MLP: MatMul + bias, Relu, MatMul",
         {{"MatMul", "x,m1", "h", {{0}}}, {"Add", "h,mb1", "hb", {{0}}}, {"Relu", "hb", "hr", {{0}}},
          {"MatMul", "hr,m2", "y", {{0}}}},
         "y", 2, {16}, 1, 0, 0, 0},
#define C8(a, b) {"Conv", a ",w8", b, {INTS_A("pads", 1, 1, 1, 1), INTS_A("kernel_shape", 3, 3)}}
#define U8(a, b) {"Sigmoid", a, b, {{0}}}
        {"conv chain: 12 small steps",
         {C8("x", "k1"), C8("k1", "k2"), C8("k2", "k3"), C8("k3", "k4"), C8("k4", "k5"), C8("k5", "k6"),
          C8("k6", "k7"), C8("k7", "k8"), C8("k8", "k9"), C8("k9", "k10"), C8("k10", "k11"), C8("k11", "y")},
         "y", 4, {8, 60, 60}, 1, 1, 0, 0},
        {"12 Sigmoids, then a MatMul of 14 MiB",
         {U8("x", "k1"), U8("k1", "k2"), U8("k2", "k3"), U8("k3", "k4"), U8("k4", "k5"), U8("k5", "k6"),
          U8("k6", "k7"), U8("k7", "k8"), U8("k8", "k9"), U8("k9", "k10"), U8("k10", "k11"), U8("k11", "k12"),
          {"MaxPool", "k12", "mp", {INTS_A("kernel_shape", 6, 6), INTS_A("strides", 6, 6)}},
          {"Flatten", "mp", "f", {{0}}}, {"MatMul", "f,m3", "y", {{0}}}},
         "y", 4, {8, 60, 60}, 1, 0, 0, 1},
#undef C8
#undef U8
        {"mixing: Softmax over axis 0",
         {{"MatMul", "x,m1", "h", {{0}}}, {"Softmax", "h", "y", {INT_A("axis", 0)}}}, "y", 2, {16}, 0, 0, 0, 0},
        {"mixing: x - ReduceSum(x, axis 0)",
         {{"ReduceSum", "x,ax0", "s", {INT_A("keepdims", 1)}}, {"Sub", "x,s", "y", {{0}}}}, "y", 2, {16}, 0, 0, 0, 0},
        {"batch-size constant: Relu(x) / N, N from Shape",
         {{"Shape", "x", "sh", {{0}}}, {"Gather", "sh,s0", "n", {{0}}}, {"Cast", "n", "nf", {INT_A("to", 1)}},
          {"Relu", "x", "r", {{0}}}, {"Div", "r,nf", "y", {{0}}}},
         "y", 2, {16}, 2, 0, 0, 0},
        {"mixing: Reshape merging the batch",
         {{"Reshape", "x,shp32", "h", {{0}}}, {"Relu", "h", "hr", {{0}}}, {"Reshape", "hr,shp16", "y", {{0}}}},
         "y", 2, {16}, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof graphs / sizeof graphs[0]; i++) {
        struct buf b;
        buf_init(&b, 1 << 25);
        encode(&graphs[i], &b);
        for (int batch = 4; batch >= 2; batch--) {
            if (batch == 3 && !graphs[i].separable)
                continue; /* the merging Reshape needs an even batch */
            internals(&graphs[i], &b, batch, 1, NULL, "1");
            internals(&graphs[i], &b, batch, 2, pool, "1");
            internals(&graphs[i], &b, batch, 1, NULL, "auto");
            internals(&graphs[i], &b, batch, 2, pool, "auto");
            compare(&graphs[i], &b, batch, NULL);
            compare(&graphs[i], &b, batch, pool);
        }
        printf("%-46s %s\n", graphs[i].what, graphs[i].separable == 1 ? "split" : "kept whole");
        buf_free(&b);
    }
    tpool_free(pool);
    return check_finish();
}
