/* test_onnx_fuse_sum.c — fuse.c's Conv -> Add(residual) [-> activation] fusion
 * (INFERD_ONNX_OPT_CONV_SUM) on small graphs written here with the protobuf writer, input x
 * (N, 32, 16, 16): the Add's operands in both orders, Relu / SiLU / nothing after it, each
 * conv path (3x3 by Winograd and, with INFERD_ONNX_OPT_WINOGRAD off, by im2col + GEMM;
 * 1x1; depthwise), a residual computed after the Conv in the file (a downsample branch),
 * a 1x1 stride-2 downsample as the residual, an Add that broadcasts the residual (N, 32, 1, 1) or the conv's output (N, 32, 1, 1), and
 * the near miss: the conv's output read twice (no fusion). The model loaded with the fusion
 * off (1 thread) is the reference for the model with it on (2 threads): outputs equal within
 * 1e-5 (abs + rel) at batch 1 and 3, and the "graph optimized" summary names the nodes fused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"
#include "graph_build.h"

#define MAXN 8
#define C 32
#define HW 16

static struct tpool *pool;


struct graph {
    struct gb_node n[MAXN];
    int nn;
    const char *out;
};


static void init_f(struct buf *g, const char *name, int rank, const int64_t *dims, const float *v, size_t n)
{
    gb_init(g, name, 1, rank, dims, v, n * sizeof *v); /* FLOAT */
}

/* The model bytes: input x (N, C, HW, HW), weights w3 (C,C,3,3), w1 (C,C,1,1), wd (C,1,3,3),
 * bias b, ReduceMean axes, the nodes. */
static void encode(const struct graph *gr, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    for (int i = 0; i < gr->nn; i++) {
        const struct gb_node *n = &gr->n[i];
        gb_node(&g, n);
    }
    pbw_str(&g, 2, "fuse_sum");
    static float w3[C * C * 9], w1[C * C], wd[C * 9], b[C];
    for (int i = 0; i < C * C * 9; i++)
        w3[i] = 0.05f * sinf(0.71f * (float)i);
    for (int i = 0; i < C * C; i++)
        w1[i] = 0.1f * cosf(0.53f * (float)i);
    for (int i = 0; i < C * 9; i++)
        wd[i] = 0.2f * sinf(0.37f * (float)i + 1.0f);
    for (int i = 0; i < C; i++)
        b[i] = 0.05f * (float)(i % 7) - 0.15f;
    init_f(&g, "w3", 4, (const int64_t[]){C, C, 3, 3}, w3, C * C * 9);
    init_f(&g, "w1", 4, (const int64_t[]){C, C, 1, 1}, w1, C * C);
    init_f(&g, "wd", 4, (const int64_t[]){C, 1, 3, 3}, wd, C * 9);
    init_f(&g, "b", 1, (const int64_t[]){C}, b, C);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, C, HW, HW});
    pbw_value_info(&g, 12, gr->out, 1, -1, NULL);
    gb_model(out, &g, 13);
}

/* Runs the model at batch bt; OUT: *out (malloc'd copy of output 0), its element count. */
static int64_t run(struct inferd_onnx_model *m, int bt, float **out)
{
    int64_t n = (int64_t)bt * C * HW * HW;
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = 1.5f * sinf(0.37f * (float)i + (float)bt) + 0.3f * (float)(i % 3) - 0.3f;
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, C, HW, HW}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = gb_run(m, &in, 1, "run", out);
    CHECK(k >= 0);
    free(x);
    return k < 0 ? 0 : k;
}

/* Loads gr with the fusion off and on (both with `also` off); outputs must agree and the
 * summary must name `fused` nodes fused into convs. */
static void check(const char *what, const struct graph *gr, unsigned also, int fused)
{
    struct buf bb;
    buf_init(&bb, 1 << 16);
    encode(gr, &bb);
    struct inferd_onnx_model *ref = NULL, *got = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len,
                                     &(struct inferd_onnx_options){.graph_opt_off = also | INFERD_ONNX_OPT_CONV_SUM},
                                     &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool, .graph_opt_off = also},
                                     &got, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        char want[64];
        snprintf(want, sizeof want, "; %d fused into convs", fused);
        const char *s = inferd_onnx_graph_summary(got);
        int ok = strstr(s, want) != NULL && strstr(inferd_onnx_graph_summary(ref), "; 0 fused into convs") != NULL;
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", what, s, want);
        CHECK(ok);
        double worst = 0;
        for (int bt = 1; bt <= 3; bt += 2) {
            float *r = NULL, *y = NULL;
            int64_t nr = run(ref, bt, &r), ny = run(got, bt, &y);
            CHECK(nr == ny && nr > 0);
            for (int64_t i = 0; i < nr && nr == ny; i++) {
                double d = fabs((double)r[i] - y[i]);
                CHECK(d <= 1e-5 * (1.0 + fabs(r[i])));
                worst = d > worst ? d : worst;
            }
            free(r);
            free(y);
        }
        printf("%-44s %s; max |on - off| = %.3g\n", what, want + 2, worst);
    }
    inferd_onnx_free(ref);
    inferd_onnx_free(got);
    buf_free(&bb);
}

#define PADS1 {.name = "pads", .type = 7, .ints = {1, 1, 1, 1}, .n_ints = 4}
#define GROUP(g) {.name = "group", .type = 2, .i = g}
#define STRIDES(s) {.name = "strides", .type = 7, .ints = {s, s}, .n_ints = 2}

int main(void)
{
    pool = tpool_new(2);
    CHECK(pool != NULL);
    struct graph res = {{{"Conv", "x,w3,b", "y", {PADS1}}, {"Add", "y,x", "s", {{0}}}, {"Relu", "s", "out", {{0}}}},
                        3, "out"};
    check("3x3 Winograd + Add(y, x) + Relu", &res, 0, 2);
    check("3x3 im2col GEMM + Add(y, x) + Relu", &res, INFERD_ONNX_OPT_WINOGRAD, 2);
    struct graph swap = {{{"Conv", "x,w3", "y", {PADS1}}, {"Add", "x,y", "out", {{0}}}}, 2, "out"};
    check("3x3 no bias + Add(x, y), no activation", &swap, 0, 1);
    check("3x3 im2col no bias + Add(x, y)", &swap, INFERD_ONNX_OPT_WINOGRAD, 1);
    struct graph pw = {{{"Conv", "x,w1,b", "y", {{0}}}, {"Add", "x,y", "s", {{0}}}, {"Relu", "s", "out", {{0}}}},
                       3, "out"};
    check("1x1 + Add(x, y) + Relu", &pw, 0, 2);
    struct graph dw = {{{"Conv", "x,wd,b", "y", {PADS1, GROUP(C)}}, {"Add", "y,x", "s", {{0}}},
                        {"Relu", "s", "out", {{0}}}},
                       3, "out"};
    check("depthwise 3x3 + Add + Relu", &dw, 0, 2);
    /* the residual's conv comes after the main conv in the file: the fused node must run
     * after both */
    struct graph down = {{{"Conv", "x,w3,b", "y", {PADS1}}, {"Conv", "x,w1", "d", {{0}}}, {"Add", "y,d", "s", {{0}}},
                          {"Relu", "s", "out", {{0}}}},
                         4, "out"};
    check("downsample branch after the conv", &down, 0, 2);
    /* a 1x1 stride-2 downsample (im2col GEMM: at 2 threads and batch 1 with B packed ahead,
     * ops/conv.c) whose output is the residual of the next conv */
    struct graph ds = {{{"Conv", "x,w1", "d", {STRIDES(2)}}, {"Conv", "d,w3,b", "y", {PADS1}}, {"Add", "y,d", "s", {{0}}},
                        {"Relu", "s", "out", {{0}}}},
                       4, "out"};
    check("1x1 stride-2 downsample as the residual", &ds, 0, 2);
    struct graph silu = {{{"Conv", "x,w1,b", "y", {{0}}}, {"Add", "y,x", "s", {{0}}}, {"Sigmoid", "s", "g", {{0}}},
                          {"Mul", "s,g", "out", {{0}}}},
                         4, "out"};
    check("1x1 + Add + SiLU", &silu, 0, 3);
    /* Z (N, C, 1, 1) broadcast over the conv's output */
    struct graph bz = {{{"ReduceMean", "x", "p", {{.name = "axes", .type = 7, .ints = {2, 3}, .n_ints = 2}}},
                        {"Conv", "x,w3,b", "y", {PADS1}}, {"Add", "p,y", "s", {{0}}}, {"Relu", "s", "out", {{0}}}},
                       4, "out"};
    check("Add broadcasting the residual (N,C,1,1)", &bz, 0, 2);
    /* the conv's output (N, C, 1, 1) broadcast over Z (N, C, HW, HW) */
    struct graph by = {{{"Conv", "x,w1,b", "y", {STRIDES(HW)}}, {"Add", "y,x", "s", {{0}}}, {"Relu", "s", "out", {{0}}}},
                       3, "out"};
    check("Add broadcasting the conv's output", &by, 0, 2);
    /* near miss: y read by the Add and by a Relu */
    struct graph twice = {{{"Conv", "x,w3,b", "y", {PADS1}}, {"Add", "y,x", "s", {{0}}}, {"Relu", "y", "r", {{0}}},
                           {"Add", "s,r", "out", {{0}}}},
                          4, "out"};
    check("conv output read twice: not fused", &twice, 0, 0);
    tpool_free(pool);
    return check_finish();
}
