/* test_onnx_fold.c — a node whose inputs are all constant is run once, outside any plan step
 * (ox_op_run_once): by optimize.c's constant folding at load, or by plan.c when that is off
 * (INFERD_ONNX_OPT_FOLD) or the node is made later by a fusion. It runs as a step would, with
 * its scratch and, for an op with a pack hook (Conv, Gemm, MatMul, the int8 convs and
 * MatMuls, InferdMBConv, InferdSE), its packed operand, so the packed kernels must size their
 * scratch for a constant X too.
 * Each case builds one graph twice: X a graph input (the reference, run as plan steps) and X
 * an initializer; out = f(X) + z, z the one other input (a scalar), so the constant part is
 * all of f. The constant model is loaded with load-time folding on and off, at 1 and 2
 * threads; every output must equal the reference within 1e-5 (abs + rel: a constant X takes
 * the GEMM where the reference may take the direct conv; int8 results are exact). ctest runs
 * it again with the AVX2 kernels and with the scalar references. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/tpool.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"

static struct tpool *pool2;

enum kind { K_CONV, K_GEMM, K_MATMUL, K_MBCONV, K_QLMATMUL, K_QLCONV };

struct fcase {
    const char *what;
    enum kind kind;
    int n, c, h, w; /* X (N, C, H, W); Gemm / MatMul: X (h, w) */
    int m, k, s, p, g; /* conv: M outputs, k x k, stride, pads, groups; Gemm / MatMul: M columns */
};

static void fill_u8(uint8_t *v, int64_t n, int ph)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (uint8_t)((i * 37 + ph * 11 + (i >> 3) * 5) & 0xff);
}

static void scalar_init(struct buf *g, const char *name, int dt, float f, uint8_t q)
{
    if (dt == 1)
        gb_init(g, name, 1, 0, NULL, &f, sizeof f);
    else
        gb_init(g, name, dt, 0, NULL, &q, 1);
}

/* X's elements, dims and ONNX elem type */
static int64_t x_shape(const struct fcase *fc, int64_t *dims, int *rank, int *dt)
{
    int conv = fc->kind == K_CONV || fc->kind == K_MBCONV || fc->kind == K_QLCONV;
    *rank = conv ? 4 : 2;
    *dt = fc->kind == K_QLMATMUL || fc->kind == K_QLCONV ? 2 : 1; /* UINT8 or FLOAT */
    if (conv) {
        dims[0] = fc->n, dims[1] = fc->c, dims[2] = fc->h, dims[3] = fc->w;
        return (int64_t)fc->n * fc->c * fc->h * fc->w;
    }
    dims[0] = fc->h, dims[1] = fc->w;
    return (int64_t)fc->h * fc->w;
}

/* the graph of fc: f(x) -> "f" (float), out = f + z; x an initializer when x_const */
static void encode(const struct fcase *fc, int x_const, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 20);
    int64_t xd[4];
    int rank, dt;
    int64_t nx = x_shape(fc, xd, &rank, &dt);
    const int64_t pads[4] = {fc->p, fc->p, fc->p, fc->p};
    struct gb_attr conv_attrs[4] = {
        {.name = "strides", .type = 7, .ints = {fc->s, fc->s}, .n_ints = 2},
        {.name = "pads", .type = 7, .ints = {pads[0], pads[1], pads[2], pads[3]}, .n_ints = 4},
        {.name = "group", .type = 2, .i = fc->g},
    };
    switch (fc->kind) {
    case K_CONV: {
        struct gb_node n = {"Conv", "x,w,b", "f", {conv_attrs[0], conv_attrs[1], conv_attrs[2]}};
        gb_node(&g, &n);
        gb_init_fill(&g, "w", 4, (const int64_t[]){fc->m, fc->c / fc->g, fc->k, fc->k}, 0.3f, 0.1f);
        gb_init_fill(&g, "b", 1, (const int64_t[]){fc->m}, 0.5f, 0.4f);
        break;
    }
    case K_GEMM:
        gb_node(&g, &(struct gb_node){"Gemm", "x,w,b", "f", {{.name = "transB", .type = 2, .i = 1}}});
        gb_init_fill(&g, "w", 2, (const int64_t[]){fc->m, fc->w}, 0.3f, 0.1f);
        gb_init_fill(&g, "b", 1, (const int64_t[]){fc->m}, 0.5f, 0.4f);
        break;
    case K_MATMUL:
        gb_node(&g, &(struct gb_node){"MatMul", "x,w", "f", {{0}}});
        gb_init_fill(&g, "w", 2, (const int64_t[]){fc->w, fc->m}, 0.3f, 0.1f);
        break;
    case K_MBCONV: { /* MobileNetV2's block: 1x1 expand, Relu6, 3x3 depthwise, Relu6, 1x1 project (+ x) */
        const int e = fc->m;
        gb_node(&g, &(struct gb_node){"Conv", "x,we,be", "e", {{0}}});
        gb_node(&g, &(struct gb_node){"Clip", "e,lo,hi", "ea", {{0}}});
        gb_node(&g, &(struct gb_node){"Conv", "ea,wd,bd", "d", {conv_attrs[0], {.name = "pads", .type = 7, .ints = {1, 1, 1, 1}, .n_ints = 4}, {.name = "group", .type = 2, .i = e}}});
        gb_node(&g, &(struct gb_node){"Clip", "d,lo,hi", "da", {{0}}});
        gb_node(&g, &(struct gb_node){"Conv", "da,wp,bp", fc->s == 1 ? "pj" : "f", {{0}}});
        if (fc->s == 1)
            gb_node(&g, &(struct gb_node){"Add", "pj,x", "f", {{0}}});
        gb_init_fill(&g, "we", 4, (const int64_t[]){e, fc->c, 1, 1}, 0.3f, 0.1f);
        gb_init_fill(&g, "be", 1, (const int64_t[]){e}, 0.5f, 0.4f);
        gb_init_fill(&g, "wd", 4, (const int64_t[]){e, 1, 3, 3}, 0.4f, 0.7f);
        gb_init_fill(&g, "bd", 1, (const int64_t[]){e}, 0.2f, 0.9f);
        gb_init_fill(&g, "wp", 4, (const int64_t[]){fc->c, e, 1, 1}, 0.2f, 1.3f);
        gb_init_fill(&g, "bp", 1, (const int64_t[]){fc->c}, 0.1f, 0.2f);
        scalar_init(&g, "lo", 1, 0.0f, 0);
        scalar_init(&g, "hi", 1, 6.0f, 0);
        break;
    }
    case K_QLMATMUL:
    case K_QLCONV: {
        if (fc->kind == K_QLMATMUL) {
            gb_node(&g, &(struct gb_node){"QLinearMatMul", "x,sx,zx,w,sw,zw,sy,zy", "q", {{0}}});
            int64_t wn = (int64_t)fc->w * fc->m;
            uint8_t *wv = malloc((size_t)wn);
            fill_u8(wv, wn, 3);
            gb_init(&g, "w", 2, 2, (const int64_t[]){fc->w, fc->m}, wv, (size_t)wn);
            free(wv);
        } else {
            gb_node(&g, &(struct gb_node){"QLinearConv", "x,sx,zx,w,sw,zw,sy,zy", "q", {conv_attrs[0], conv_attrs[1], conv_attrs[2]}});
            int64_t wn = (int64_t)fc->m * (fc->c / fc->g) * fc->k * fc->k;
            uint8_t *wv = malloc((size_t)wn);
            fill_u8(wv, wn, 3);
            gb_init(&g, "w", 2, 4, (const int64_t[]){fc->m, fc->c / fc->g, fc->k, fc->k}, wv, (size_t)wn);
            free(wv);
        }
        gb_node(&g, &(struct gb_node){"DequantizeLinear", "q,sy,zy", "f", {{0}}});
        scalar_init(&g, "sx", 1, 0.02f, 0);
        scalar_init(&g, "zx", 2, 0, 128);
        scalar_init(&g, "sw", 1, 0.004f, 0);
        scalar_init(&g, "zw", 2, 0, 120);
        scalar_init(&g, "sy", 1, 0.7f, 0);
        scalar_init(&g, "zy", 2, 0, 100);
        break;
    }
    }
    gb_node(&g, &(struct gb_node){"Add", "f,z", "out", {{0}}});
    pbw_str(&g, 2, "fold");
    if (x_const) {
        if (dt == 1) {
            gb_init_fill(&g, "x", rank, xd, 1.5f, 0.2f);
        } else {
            uint8_t *xv = malloc((size_t)nx);
            fill_u8(xv, nx, 1);
            gb_init(&g, "x", dt, rank, xd, xv, (size_t)nx);
            free(xv);
        }
    } else {
        pbw_value_info(&g, 11, "x", dt, rank, xd);
    }
    pbw_value_info(&g, 11, "z", 1, 1, (const int64_t[]){1});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(out, &g, 13);
}

static void check(const struct fcase *fc)
{
    struct buf bref, bconst;
    buf_init(&bref, 1 << 20);
    buf_init(&bconst, 1 << 20);
    encode(fc, 0, &bref);
    encode(fc, 1, &bconst);
    int64_t xd[4];
    int rank, dt;
    int64_t nx = x_shape(fc, xd, &rank, &dt);
    size_t xbytes = (size_t)nx * (dt == 1 ? sizeof(float) : 1);
    void *xv = malloc(xbytes);
    if (dt == 1)
        gb_fill(xv, nx, 1.5f, 0.2f);
    else
        fill_u8(xv, nx, 1);
    float z = 0.25f;
    struct inferd_tensor in[2] = {
        {.dtype = dt == 1 ? INFERD_FP32 : INFERD_UINT8, .rank = rank, .data = xv, .nbytes = xbytes},
        {.dtype = INFERD_FP32, .rank = 1, .dims = {1}, .data = &z, .nbytes = sizeof z},
    };
    memcpy(in[0].dims, xd, sizeof xd);
    struct inferd_onnx_model *ref = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bref.data, bref.len, &(struct inferd_onnx_options){0}, &ref, &err);
    if (rc < 0)
        fprintf(stderr, "%s: reference load: %s\n", fc->what, err.msg);
    CHECK(rc == 0);
    float *want = NULL;
    int64_t nw = rc == 0 ? gb_run_n(ref, in, 2, 1, fc->what, &want) : -1;
    CHECK(nw > 0);
    double worst = 0;
    for (int v = 0; v < 4 && nw > 0; v++) {
        int fold_off = v & 1, threads = v >> 1 ? 2 : 1;
        struct inferd_onnx_options o = {.pool = threads > 1 ? pool2 : NULL,
                                        .graph_opt_off = fold_off ? INFERD_ONNX_OPT_FOLD : 0};
        struct inferd_onnx_model *m = NULL;
        rc = inferd_onnx_load_buffer(bconst.data, bconst.len, &o, &m, &err);
        if (rc < 0)
            fprintf(stderr, "%s (folding %s, %d threads): load: %s\n", fc->what, fold_off ? "off" : "on", threads, err.msg);
        CHECK(rc == 0);
        if (rc == 0 && fc->kind == K_MBCONV && fold_off) /* fused, then folded by the plan */
            CHECK(strstr(inferd_onnx_graph_summary(m), " 1 inverted-residual blocks") != NULL);
        float *got = NULL;
        int64_t ng = rc == 0 ? gb_run_n(m, &in[1], 1, 1, fc->what, &got) : -1;
        CHECK(ng == nw);
        int bad = 0;
        for (int64_t i = 0; i < nw && ng == nw; i++) {
            double e = fabs((double)got[i] - want[i]);
            worst = e > worst ? e : worst;
            bad += e > 1e-5 * (1.0 + fabs(want[i]));
        }
        if (bad)
            fprintf(stderr, "%s (folding %s, %d threads): %d of %lld outputs off\n", fc->what, fold_off ? "off" : "on",
                    threads, bad, (long long)nw);
        CHECK(bad == 0);
        free(got);
        inferd_onnx_free(m);
    }
    printf("%-52s %6lld outputs, max |folded - steps| = %.3g\n", fc->what, (long long)nw, worst);
    free(want);
    free(xv);
    inferd_onnx_free(ref);
    buf_free(&bref);
    buf_free(&bconst);
}

int main(void)
{
    pool2 = tpool_new(2);
    CHECK(pool2 != NULL);
    static const struct fcase cases[] = {
        /* what                                       kind       n  c   h   w   m   k  s  p  g */
        {"Conv 3x3 64 -> 64 on 28x28 (Winograd shape)", K_CONV, 1, 64, 28, 28, 64, 3, 1, 1, 1},
        {"Conv 3x3 32 -> 48 on 14x14, batch 2", K_CONV, 2, 32, 14, 14, 48, 3, 1, 1, 1},
        {"Conv 3x3 stride 2, 16 -> 24 on 17x15", K_CONV, 1, 16, 17, 15, 24, 3, 2, 1, 1},
        {"Conv 1x1 48 -> 40 on 7x7, batch 3", K_CONV, 3, 48, 7, 7, 40, 1, 1, 0, 1},
        {"Conv 3x3 groups 4, 16 -> 16 on 9x9", K_CONV, 1, 16, 9, 9, 16, 3, 1, 1, 4},
        {"Conv 3x3 depthwise 24 on 12x12", K_CONV, 1, 24, 12, 12, 24, 3, 1, 1, 24},
        {"Conv stem 3 -> 16, 3x3 stride 2 on 32x32", K_CONV, 2, 3, 32, 32, 16, 3, 2, 1, 1},
        {"Conv 16x16 patches (kernel == stride)", K_CONV, 1, 3, 32, 32, 24, 16, 16, 0, 1},
        {"Gemm 5x64 x (40x64)^T + b", K_GEMM, 0, 0, 5, 64, 40, 0, 0, 0, 0},
        {"MatMul 7x48 x 48x33", K_MATMUL, 0, 0, 7, 48, 33, 0, 0, 0, 0},
        {"MBConv 16 -> 96 -> 16 on 28x28 (+ x)", K_MBCONV, 1, 16, 28, 28, 96, 3, 1, 1, 1},
        {"MBConv 24 -> 144 stride 2 on 14x14, batch 2", K_MBCONV, 2, 24, 14, 14, 144, 3, 2, 1, 1},
        {"QLinearMatMul 6x40 x 40x24", K_QLMATMUL, 0, 0, 6, 40, 24, 0, 0, 0, 0},
        {"QLinearConv 3x3 16 -> 24 on 10x10", K_QLCONV, 1, 16, 10, 10, 24, 3, 1, 1, 1},
        {"QLinearConv 1x1 32 -> 16 on 8x8, batch 2", K_QLCONV, 2, 32, 8, 8, 16, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(&cases[i]);
    tpool_free(pool2);
    return check_finish();
}
