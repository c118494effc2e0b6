/* test_onnx_conv_pw.c — a 1x1 Conv through the whole engine (load, fusion, plan, exec) at
 * batch 1, where ops/conv.c takes the direct conv's pointwise run (conv_direct.h: X read in
 * place, OH*OW a multiple of 16), against a double-precision reference computed here: plain,
 * with SiLU fused (Conv -> Sigmoid -> Mul), and with a residual Add fused (Z), on 16x16 and
 * 20x20 maps, 24 -> 40 channels, 1 and 2 threads. |got - ref| <= 1e-4 * (1 + |ref|).
 * Whatever path the CPU takes (AVX-512, AVX2 under INFERD_CPU_DISABLE, the scalar GEMM) must
 * agree. */
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

#define CI 24
#define CO 40

enum tail { PLAIN, SILU, RESID };

static float wv[CO * CI], bv[CO], rv[CO * CI];

/* Conv (1, CI, hw, hw) -> (1, CO, hw, hw) [-> SiLU | + r(x)]; RESID adds a second 1x1 conv
 * of x (weights rv, no bias) so the Add's other operand has the conv's shape */
static void encode(enum tail t, int hw, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    gb_node(&g, &(struct gb_node){"Conv", "x,w,b", t == PLAIN ? "out" : "y", {{0}}});
    if (t == SILU) {
        gb_node(&g, &(struct gb_node){"Sigmoid", "y", "s", {{0}}});
        gb_node(&g, &(struct gb_node){"Mul", "y,s", "out", {{0}}});
    } else if (t == RESID) {
        gb_node(&g, &(struct gb_node){"Conv", "x,r", "q", {{0}}});
        gb_node(&g, &(struct gb_node){"Add", "y,q", "out", {{0}}});
    }
    pbw_str(&g, 2, "conv_pw");
    gb_init(&g, "w", 1, 4, (const int64_t[]){CO, CI, 1, 1}, wv, sizeof wv);
    gb_init(&g, "r", 1, 4, (const int64_t[]){CO, CI, 1, 1}, rv, sizeof rv);
    gb_init(&g, "b", 1, 1, (const int64_t[]){CO}, bv, sizeof bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){1, CI, hw, hw});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(out, &g, 13);
}

static void check_case(enum tail t, int hw, struct tpool *pool)
{
    struct buf bb;
    buf_init(&bb, 1 << 16);
    encode(t, hw, &bb);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "load: %s\n", err.msg);
    CHECK(rc == 0);
    int64_t n = (int64_t)CI * hw * hw, p = (int64_t)hw * hw;
    float *x = malloc((size_t)n * sizeof *x), *y = NULL;
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.0f * sinf(0.37f * (float)i) + 0.1f * (float)(i % 5);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, CI, hw, hw}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = rc == 0 ? gb_run(m, &in, 1, "run", &y) : -1;
    CHECK(k == CO * p);
    int bad = 0;
    for (int64_t o = 0; o < CO && k == CO * p; o++)
        for (int64_t j = 0; j < p; j++) {
            double acc = bv[o], q = 0;
            for (int64_t c = 0; c < CI; c++) {
                acc += (double)wv[o * CI + c] * x[c * p + j];
                q += (double)rv[o * CI + c] * x[c * p + j];
            }
            double ref = t == SILU ? acc / (1.0 + exp(-acc)) : t == RESID ? acc + q : acc;
            float got = y[o * p + j];
            if (!(fabs(got - ref) <= 1e-4 * (1.0 + fabs(ref))) && bad++ < 3)
                printf("  tail %d %dx%d threads %d: y[%lld][%lld] = %.9g, want %.9g\n", (int)t, hw, hw,
                       pool ? 2 : 1, (long long)o, (long long)j, got, ref);
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
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    for (int t = PLAIN; t <= RESID; t++)
        for (int hw = 16; hw <= 20; hw += 4) {
            check_case((enum tail)t, hw, NULL);
            if (pool)
                check_case((enum tail)t, hw, pool);
        }
    tpool_free(pool);
    return check_finish();
}
