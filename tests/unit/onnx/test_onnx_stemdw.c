/* test_onnx_stemdw.c — fuse_stemdw.c's stem + depthwise fusion and ops/stem_dw.c's
 * InferdStemDw (INFERD_ONNX_OPT_STEMDW) on small graphs written here:
 *   x (N, C, H, W) -> Conv (C -> M, k x k, stride s1, pads) [+b] -> act1
 *                  -> depthwise Conv (M, k2 x k2, stride s2, pads) [+b] -> act2 -> out
 * with Relu / Clip(0, 6) / HardSwish / SiLU (Sigmoid + Mul) / none, odd maps and channel
 * counts (a short channel block), asymmetric pads, MobileNetV3-small's and EfficientNet-B0's
 * first layers at 224x224, and the near misses (the stem's output also a graph output; a
 * grouped second Conv; X's H and W not declared; a stem output too wide for the SIMD stem
 * kernel; a 4-channel stem). The model loaded with the fusion off (1 thread) is
 * the reference for the model with it on at 1, 2 and 3 threads, batch 1 and 3: within 1e-5
 * (abs + rel; the SIMD kernels are the unfused ones, the scalar stem sums in another order
 * than the unfused im2col GEMM), and the "graph optimized" summary counts the blocks fused.
 * ctest runs it with INFERD_CPU_DISABLE=avx512f (AVX2 kernels) and =all (scalar), and with
 * INFERD_ONNX_STEMDW_RING_KB=4 (bands of a row or two: every ring wrap and chunk edge). */
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

static struct tpool *pool, *pool3;

struct sd_case {
    const char *what;
    int c, m, h, w;
    int k1, s1, p1[4]; /* stem kernel, stride, pads (t, l, b, r) */
    int k2, s2, p2[4]; /* depthwise */
    const char *act1, *act2;
    int bias;
    int near; /* 1: stem output also a graph output; 2: second Conv grouped by 2, not depthwise;
               * 3: X's height and width not declared */
    int want;
};

/* act of `in` named `out` into g; "" passes through (returns in) */
static const char *act(struct buf *g, const char *a, const char *in, const char *out, const char *tmp)
{
    if (!a[0])
        return in;
    char io[128];
    snprintf(io, sizeof io, "%s,%s", in, tmp);
    if (strcmp(a, "SiLU") == 0) {
        gb_node(g, &(struct gb_node){"Sigmoid", in, tmp, {{0}}});
        gb_node(g, &(struct gb_node){"Mul", io, out, {{0}}});
    } else if (strcmp(a, "Clip") == 0) {
        char ci[128];
        snprintf(ci, sizeof ci, "%s,lo,hi", in);
        gb_node(g, &(struct gb_node){"Clip", ci, out, {{0}}});
    } else {
        gb_node(g, &(struct gb_node){a, in, out, {{0}}});
    }
    return out;
}

static void encode(const struct sd_case *s, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 20);
    gb_node(&g, &(struct gb_node){"Conv", s->bias ? "x,w1,b1" : "x,w1", "s",
                                  {{.name = "strides", .type = 7, .ints = {s->s1, s->s1}, .n_ints = 2},
                                   {.name = "pads", .type = 7, .ints = {s->p1[0], s->p1[1], s->p1[2], s->p1[3]}, .n_ints = 4}}});
    const char *a1 = act(&g, s->act1, "s", "sa", "st");
    char in2[64];
    snprintf(in2, sizeof in2, "%s,%s", a1, s->bias ? "w2,b2" : "w2");
    int group = s->near == 2 ? s->m / 2 : s->m;
    gb_node(&g, &(struct gb_node){"Conv", in2, "d",
                                  {{.name = "strides", .type = 7, .ints = {s->s2, s->s2}, .n_ints = 2},
                                   {.name = "pads", .type = 7, .ints = {s->p2[0], s->p2[1], s->p2[2], s->p2[3]}, .n_ints = 4},
                                   {.name = "group", .type = 2, .i = group}}});
    act(&g, s->act2, "d", "out", "dt");
    if (!s->act2[0])
        gb_node(&g, &(struct gb_node){"Identity", "d", "out", {{0}}});
    pbw_str(&g, 2, "stemdw");
    gb_init_fill(&g, "w1", 4, (const int64_t[]){s->m, s->c, s->k1, s->k1}, 0.6f, 0.3f);
    gb_init_fill(&g, "b1", 1, (const int64_t[]){s->m}, 0.3f, 0.7f);
    gb_init_fill(&g, "w2", 4, (const int64_t[]){s->m, s->m / group, s->k2, s->k2}, 0.5f, 1.1f);
    gb_init_fill(&g, "b2", 1, (const int64_t[]){s->m}, 0.2f, 0.4f);
    gb_init(&g, "lo", 1, 0, NULL, (const float[]){0.0f}, sizeof(float));
    gb_init(&g, "hi", 1, 0, NULL, (const float[]){6.0f}, sizeof(float));
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, s->c, s->near == 3 ? -1 : s->h, s->near == 3 ? -1 : s->w});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    if (s->near == 1)
        pbw_value_info(&g, 12, a1, 1, -1, NULL);
    gb_model(out, &g, 13);
}

static void check(const struct sd_case *s)
{
    struct buf bb;
    buf_init(&bb, 1 << 20);
    encode(s, &bb);
    struct inferd_onnx_model *ref = NULL, *m[3] = {NULL, NULL, NULL};
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len,
                                     &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_STEMDW}, &ref, &err);
    struct tpool *pools[3] = {NULL, pool, pool3};
    for (int t = 0; t < 3 && rc == 0; t++)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pools[t]}, &m[t], &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", s->what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        char want[64];
        snprintf(want, sizeof want, " %d stem+depthwise", s->want);
        const char *sum = inferd_onnx_graph_summary(m[0]);
        int ok = strstr(sum, want) && strstr(inferd_onnx_graph_summary(ref), " 0 stem+depthwise");
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", s->what, sum, want);
        CHECK(ok);
        double worst = 0;
        for (int bt = 1; bt <= 3; bt += 2) {
            int64_t n = (int64_t)bt * s->c * s->h * s->w;
            float *x = malloc((size_t)n * sizeof *x), *r = NULL;
            gb_fill(x, n, 1.5f, (float)bt);
            struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, s->c, s->h, s->w}, .data = x,
                                       .nbytes = (size_t)n * sizeof *x};
            int64_t nr = gb_run(ref, &in, s->near == 1 ? 2 : 1, s->what, &r);
            CHECK(nr > 0);
            for (int t = 0; t < 3; t++) {
                float *y = NULL;
                int64_t ny = gb_run(m[t], &in, s->near == 1 ? 2 : 1, s->what, &y);
                CHECK(ny == nr);
                for (int64_t i = 0; i < ny && ny == nr; i++) {
                    double e = fabs((double)r[i] - y[i]);
                    if (!(e <= 1e-5 * (1.0 + fabs(r[i])))) {
                        fprintf(stderr, "%s: batch %d, %d threads, [%lld]: %g vs off %g\n", s->what, bt, t + 1,
                                (long long)i, y[i], r[i]);
                        CHECK(0);
                        break;
                    }
                    worst = e > worst ? e : worst;
                }
                free(y);
            }
            free(r);
            free(x);
        }
        printf("%-56s%s; max |on - off| = %.3g\n", s->what, want, worst);
    }
    inferd_onnx_free(ref);
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(m[t]);
    buf_free(&bb);
}

int main(void)
{
    pool = tpool_new(2);
    pool3 = tpool_new(3);
    CHECK(pool != NULL && pool3 != NULL);
    static const struct sd_case cases[] = {
        /* what                               c   m    h    w  k1 s1 p1            k2 s2 p2            act1  act2  bias near want */
        {"MobileNetV3-small: 3->16 s2 HS, dw s2 Relu", 3, 16, 224, 224, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "HardSwish", "Relu", 1, 0, 1},
        {"EfficientNet-B0: 3->32 s2 SiLU, dw s1 SiLU", 3, 32, 224, 224, 3, 2, {1, 1, 1, 1}, 3, 1, {1, 1, 1, 1}, "SiLU", "SiLU", 0, 0, 1},
        {"MobileNetV2-like: Clip, dw s1 Clip", 3, 32, 64, 64, 3, 2, {1, 1, 1, 1}, 3, 1, {1, 1, 1, 1}, "Clip", "Clip", 1, 0, 1},
        {"odd 61x45, 20 ch, asymmetric pads, no acts", 3, 20, 61, 45, 3, 2, {0, 1, 1, 0}, 3, 2, {1, 0, 0, 1}, "", "", 1, 0, 1},
        {"1 ch, 5x5 s1 Relu, dw 5x5 s2 HardSwish", 1, 8, 37, 29, 5, 1, {2, 2, 2, 2}, 5, 2, {2, 2, 2, 2}, "Relu", "HardSwish", 0, 0, 1},
        {"2 ch 7x7 s2 SiLU, dw 3x3 s1 unpadded Clip", 2, 24, 50, 77, 7, 2, {3, 3, 3, 3}, 3, 1, {0, 0, 0, 0}, "SiLU", "Clip", 1, 0, 1},
        {"tiny 9x7, 17 ch, dw s2", 3, 17, 9, 7, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 0, 1},
        {"near miss: stem output is a graph output", 3, 16, 32, 32, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 1, 0},
        {"near miss: grouped, not depthwise", 3, 16, 32, 32, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 2, 0},
        {"near miss: X's H and W not declared", 3, 16, 32, 32, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 3, 0},
        {"near miss: stem output 300 wide (> OX_STEM_MAXOW)", 3, 8, 6, 600, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 0, 0},
        {"near miss: 4 input channels", 4, 16, 32, 32, 3, 2, {1, 1, 1, 1}, 3, 2, {1, 1, 1, 1}, "Relu", "Relu", 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(&cases[i]);
    tpool_free(pool);
    tpool_free(pool3);
    return check_finish();
}
