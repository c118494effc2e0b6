/* test_onnx_conv_sub.c — a 1x1 strided unpadded Conv (ResNet's stride-2 downsample) through
 * the whole engine (load, fusion, plan, exec), where ops/conv.c subsamples X into the step's
 * scratch and runs the pointwise GEMM over it (is_subsample), against a double-precision
 * reference computed here: plain, with Relu fused, and with a residual Add fused (Z: a second
 * strided 1x1 conv of x); strides 2x2, 2x1, 1x2, 3x3; maps whose outputs take the batched GEMM
 * (OH*OW >= 32 or 16) and the per-image loop (3x3 outputs), and the one-image GEMM with B
 * packed ahead (2 threads, batch 1); 20 -> 40 channels (a partial weight panel), batch 1 and
 * 3, 1 and 2 threads. |got - ref| <= 1e-4 * (1 + |ref|). Under INFERD_CPU_DISABLE (the _avx2
 * and _ref runs) the same checks hold for those kernels. */
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

#define CI 20
#define CO 40

enum tail { PLAIN, RELU, RESID };

static float wv[CO * CI], bv[CO], rv[CO * CI];

/* Conv (n, CI, h, w) stride (sh, sw) -> (n, CO, oh, ow) [-> Relu | + conv_r(x), same strides] */
static void encode(enum tail t, int nb, int h, int w, int sh, int sw, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    struct gb_attr st = {.name = "strides", .type = 7, .ints = {sh, sw}, .n_ints = 2};
    gb_node(&g, &(struct gb_node){"Conv", "x,w,b", t == PLAIN ? "out" : "y", {st}});
    if (t == RELU) {
        gb_node(&g, &(struct gb_node){"Relu", "y", "out", {{0}}});
    } else if (t == RESID) {
        gb_node(&g, &(struct gb_node){"Conv", "x,r", "q", {st}});
        gb_node(&g, &(struct gb_node){"Add", "y,q", "out", {{0}}});
    }
    pbw_str(&g, 2, "conv_sub");
    gb_init(&g, "w", 1, 4, (const int64_t[]){CO, CI, 1, 1}, wv, sizeof wv);
    gb_init(&g, "r", 1, 4, (const int64_t[]){CO, CI, 1, 1}, rv, sizeof rv);
    gb_init(&g, "b", 1, 1, (const int64_t[]){CO}, bv, sizeof bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){nb, CI, h, w});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(out, &g, 13);
}

static void check_case(enum tail t, int nb, int h, int w, int sh, int sw, struct tpool *pool)
{
    struct buf bb;
    buf_init(&bb, 1 << 16);
    encode(t, nb, h, w, sh, sw, &bb);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "load: %s\n", err.msg);
    CHECK(rc == 0);
    int64_t oh = (h - 1) / sh + 1, ow = (w - 1) / sw + 1, p = oh * ow, hw = (int64_t)h * w;
    int64_t n = nb * CI * hw;
    float *x = malloc((size_t)n * sizeof *x), *y = NULL;
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * sinf(0.37f * (float)i) + 0.1f * (float)(i % 5);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, CI, h, w}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = rc == 0 ? gb_run(m, &in, 1, "run", &y) : -1;
    CHECK(k == nb * CO * p);
    int bad = 0;
    for (int64_t bi = 0; bi < nb && k == nb * CO * p; bi++)
        for (int64_t o = 0; o < CO; o++)
            for (int64_t j = 0; j < p; j++) {
                const float *xs = x + bi * CI * hw + j / ow * sh * w + j % ow * sw;
                double acc = bv[o], q = 0;
                for (int64_t c = 0; c < CI; c++) {
                    acc += (double)wv[o * CI + c] * xs[c * hw];
                    q += (double)rv[o * CI + c] * xs[c * hw];
                }
                double ref = t == RELU ? (acc > 0 ? acc : 0) : t == RESID ? acc + q : acc;
                float got = y[(bi * CO + o) * p + j];
                if (!(fabs(got - ref) <= 1e-4 * (1.0 + fabs(ref))) && bad++ < 3)
                    printf("  tail %d batch %d %dx%d stride %dx%d threads %d: y[%lld][%lld][%lld] = %.9g, want %.9g\n",
                           (int)t, nb, h, w, sh, sw, pool ? 2 : 1, (long long)bi, (long long)o, (long long)j, got,
                           ref);
            }
    CHECK(bad == 0);
    free(x);
    free(y);
    inferd_onnx_free(m);
    buf_free(&bb);
}

int main(void)
{
    for (int i = 0; i < CO * CI; i++) {
        wv[i] = 0.3f * cosf(0.53f * (float)i);
        rv[i] = 0.2f * sinf(0.29f * (float)i);
    }
    for (int i = 0; i < CO; i++)
        bv[i] = 0.5f * (float)(i % 7) - 1.5f;
    /* h, w, sh, sw: outputs 14x14 (ResNet's shape), 8x8 (odd input), 4x4 (16 columns a
     * image), 3x3 (the per-image loop at batch 3), 14x7 / 7x14, 5x5 at stride 3 */
    static const int shapes[][4] = {{28, 28, 2, 2}, {15, 15, 2, 2}, {7, 8, 2, 2}, {5, 6, 2, 2},
                                    {14, 13, 1, 2}, {13, 14, 2, 1}, {15, 13, 3, 3}};
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    for (int t = PLAIN; t <= RESID; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int nb = 1; nb <= 3; nb += 2) {
                const int *d = shapes[s];
                check_case((enum tail)t, nb, d[0], d[1], d[2], d[3], NULL);
                if (pool)
                    check_case((enum tail)t, nb, d[0], d[1], d[2], d[3], pool);
            }
    tpool_free(pool);
    return check_finish();
}
