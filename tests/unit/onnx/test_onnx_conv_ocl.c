/* test_onnx_conv_ocl.c — a 3x3 stride-2 Conv (pads 1) through the whole engine (load, fusion,
 * plan, exec), where ops/conv.c takes the oc-lane kernel on AVX-512 (conv_direct.h ox_cdoc_*:
 * weights packed W^T, X read in place), against a double-precision reference computed here:
 * plain and with SiLU fused (Conv -> Sigmoid -> Mul); 16 -> 40 channels (3 vectors, the last
 * partial), 20x20 and 33x33 inputs (10 and 17 output columns: tiles of 7 both times, the
 * last moved back to end at OW), batch 1 and 3, 1 and 2 threads. That the engine takes the
 * kernel is not checked here (test_onnx_conv_direct's test_cdoc runs it directly).
 * |got - ref| <= 1e-4 * (1 + |ref|). Whatever path the CPU takes (AVX-512, the direct conv or
 * GEMM under INFERD_CPU_DISABLE / INFERD_ONNX_CONV_OCL=0) must agree. */
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

#define CI 16
#define CO 40

static float wv[CO * CI * 9], bv[CO];

static void encode(int silu, int nb, int hw, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    gb_node(&g, &(struct gb_node){"Conv",
                                  "x,w,b",
                                  silu ? "y" : "out",
                                  {{.name = "kernel_shape", .type = 7, .ints = {3, 3}, .n_ints = 2},
                                   {.name = "strides", .type = 7, .ints = {2, 2}, .n_ints = 2},
                                   {.name = "pads", .type = 7, .ints = {1, 1, 1, 1}, .n_ints = 4}}});
    if (silu) {
        gb_node(&g, &(struct gb_node){"Sigmoid", "y", "s", {{0}}});
        gb_node(&g, &(struct gb_node){"Mul", "y,s", "out", {{0}}});
    }
    pbw_str(&g, 2, "conv_ocl");
    gb_init(&g, "w", 1, 4, (const int64_t[]){CO, CI, 3, 3}, wv, sizeof wv);
    gb_init(&g, "b", 1, 1, (const int64_t[]){CO}, bv, sizeof bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){nb, CI, hw, hw});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(out, &g, 13);
}

static void check_case(int silu, int nb, int hw, struct tpool *pool)
{
    struct buf bb;
    buf_init(&bb, 1 << 16);
    encode(silu, nb, hw, &bb);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "load: %s\n", err.msg);
    CHECK(rc == 0);
    const int64_t o = (hw + 2 - 3) / 2 + 1, n = (int64_t)nb * CI * hw * hw, p = o * o;
    float *x = malloc((size_t)n * sizeof *x), *y = NULL;
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * sinf(0.37f * (float)i) + 0.1f * (float)(i % 5);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, CI, hw, hw}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = rc == 0 ? gb_run(m, &in, 1, "run", &y) : -1;
    CHECK(k == nb * CO * p);
    int bad = 0;
    for (int64_t b = 0; b < nb && k == nb * CO * p; b++)
        for (int64_t oc = 0; oc < CO; oc++)
            for (int64_t oy = 0; oy < o; oy++)
                for (int64_t ox = 0; ox < o; ox++) {
                    double acc = bv[oc];
                    for (int64_t c = 0; c < CI; c++)
                        for (int64_t ky = 0; ky < 3; ky++)
                            for (int64_t kx = 0; kx < 3; kx++) {
                                int64_t iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx;
                                if (iy >= 0 && iy < hw && ix >= 0 && ix < hw)
                                    acc += (double)wv[((oc * CI + c) * 3 + ky) * 3 + kx] *
                                           x[((b * CI + c) * hw + iy) * hw + ix];
                            }
                    double ref = silu ? acc / (1.0 + exp(-acc)) : acc;
                    float got = y[((b * CO + oc) * o + oy) * o + ox];
                    if (!(fabs(got - ref) <= 1e-4 * (1.0 + fabs(ref))) && bad++ < 3)
                        printf("  silu %d batch %d %dx%d threads %d: y[%lld][%lld][%lld][%lld] = %.9g, want %.9g\n",
                               silu, nb, hw, hw, pool ? 2 : 1, (long long)b, (long long)oc, (long long)oy,
                               (long long)ox, got, ref);
                }
    CHECK(bad == 0);
    free(x);
    free(y);
    inferd_onnx_free(m);
    buf_free(&bb);
}

int main(void)
{
    for (int i = 0; i < CO * CI * 9; i++)
        wv[i] = 0.2f * cosf(0.53f * (float)i);
    for (int i = 0; i < CO; i++)
        bv[i] = 0.5f * (float)(i % 7) - 1.5f;
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    for (int silu = 0; silu <= 1; silu++)
        for (int nb = 1; nb <= 3; nb += 2)
            for (int hw = 20; hw <= 33; hw += 13) {
                check_case(silu, nb, hw, NULL);
                if (pool)
                    check_case(silu, nb, hw, pool);
            }
    tpool_free(pool);
    return check_finish();
}
