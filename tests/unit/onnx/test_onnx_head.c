/* test_onnx_head.c — the small-batch tails of MobileNet/EfficientNet-style models:
 *  - a squeeze-excitation FC, Conv 1x1 on a 1x1 map (ops/conv.c's packed GEMM with one
 *    column), with and without a bias, followed by each activation fuse.c folds into it
 *    (Relu, HardSigmoid, Sigmoid, SiLU as Sigmoid + Mul, none);
 *  - a classifier Gemm at batch 1, 2 and 5 with weights of N*K >= 2^18 floats (ops/gemm.c
 *    reads the packed panels, GEMV_PK_MIN) and a smaller one (dot products), transB 0 and 1,
 *    alpha, and a C row;
 *  - GlobalAveragePool (ops/pool.c gap_part) over planes of 1 to 12544 floats, bit for bit the
 *    order the op documents (16 lane sums, the tail's sum, the lanes folded 0..15);
 * models loaded on pools of 1, 2 and 3 threads, checked against a double-precision reference
 * within 1e-5 * (1 + sum |terms|) (after the activation, whose slope is at most 1). The
 * kernels are those cpu_has() picks: ctest runs it again with INFERD_CPU_DISABLE for the
 * AVX2 and the scalar ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"

#define CONV_TEST_SEED 23
#include "conv_test_rand.h"

enum { ACT_NONE, ACT_RELU, ACT_HSIG, ACT_SIG, ACT_SILU };

struct fc_case {
    int c, m, act, bias;
};

static double act_ref(int act, double v)
{
    switch (act) {
    case ACT_RELU:
        return v > 0 ? v : 0;
    case ACT_HSIG: {
        double h = v / 6.0 + 0.5; /* HardSigmoid alpha 1/6, beta 0.5 (torch's) */
        return h < 0 ? 0 : h > 1 ? 1 : h;
    }
    case ACT_SIG:
        return 1.0 / (1.0 + exp(-v));
    case ACT_SILU:
        return v / (1.0 + exp(-v));
    default:
        return v;
    }
}

static void load3(const struct buf *mb, struct tpool *const *pools, struct inferd_onnx_model **mods, const char *what)
{
    for (int t = 0; t < 3; t++) {
        struct inferd_err err = {0};
        int rc = inferd_onnx_load_buffer(mb->data, mb->len, &(struct inferd_onnx_options){.pool = pools[t]}, &mods[t],
                                         &err);
        if (rc < 0)
            fprintf(stderr, "%s: load: %s\n", what, err.msg);
        CHECK(rc == 0);
    }
}

static void test_fc(const struct fc_case *p, struct tpool *const *pools)
{
    float *wv = rnd_buf((int64_t)p->m * p->c, 4.0f / sqrtf((float)p->c)), *bv = rnd_buf(p->m, 1.0f);
    struct buf g, mb;
    buf_init(&g, 1 << 24);
    buf_init(&mb, 1 << 24);
    const char *conv_out = p->act == ACT_NONE ? "y" : "t";
    gb_node(&g, &(struct gb_node){"Conv", p->bias ? "x,w,b" : "x,w", conv_out,
                                  {{.name = "kernel_shape", .type = 7, .ints = {1, 1}, .n_ints = 2}}});
    if (p->act == ACT_RELU)
        gb_node(&g, &(struct gb_node){"Relu", "t", "y", {{0}}});
    else if (p->act == ACT_HSIG)
        gb_node(&g, &(struct gb_node){"HardSigmoid", "t", "y",
                                      {{.name = "alpha", .type = 1, .f = 1.0f / 6}, {.name = "beta", .type = 1, .f = 0.5f}}});
    else if (p->act == ACT_SIG)
        gb_node(&g, &(struct gb_node){"Sigmoid", "t", "y", {{0}}});
    else if (p->act == ACT_SILU) {
        gb_node(&g, &(struct gb_node){"Sigmoid", "t", "s", {{0}}});
        gb_node(&g, &(struct gb_node){"Mul", "t,s", "y", {{0}}});
    }
    pbw_str(&g, 2, "fc");
    gb_init(&g, "w", 1, 4, (const int64_t[]){p->m, p->c, 1, 1}, wv, (size_t)p->m * p->c * sizeof *wv);
    if (p->bias)
        gb_init(&g, "b", 1, 1, (const int64_t[]){p->m}, bv, (size_t)p->m * sizeof *bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, p->c, 1, 1});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(&mb, &g, 13);
    struct inferd_onnx_model *mods[3] = {NULL, NULL, NULL};
    load3(&mb, pools, mods, "SE FC");
    for (int nb = 1; nb <= 3; nb += 2) {
        float *x = rnd_buf((int64_t)nb * p->c, 2.0f);
        for (int t = 0; t < 3 && mods[t]; t++) {
            float *y = NULL;
            struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, p->c, 1, 1}, .data = x,
                                       .nbytes = (size_t)nb * p->c * sizeof *x};
            int64_t ny = gb_run(mods[t], &in, 1, "SE FC", &y);
            CHECK(ny == (int64_t)nb * p->m);
            int bad = 0;
            for (int64_t b = 0; b < nb && ny == (int64_t)nb * p->m; b++)
                for (int64_t o = 0; o < p->m; o++) {
                    double s = p->bias ? bv[o] : 0.0, a = fabs(s);
                    for (int64_t ci = 0; ci < p->c; ci++) {
                        double tm = (double)x[b * p->c + ci] * wv[o * p->c + ci];
                        s += tm;
                        a += fabs(tm);
                    }
                    double want = act_ref(p->act, s);
                    float got = y[b * p->m + o];
                    if (!(fabs(got - want) <= 1e-5 * (1.0 + a)) && bad++ < 3)
                        printf("  fc c%d m%d act %d bias %d batch %d, %d threads [%lld,%lld]: want %g got %g\n",
                               p->c, p->m, p->act, p->bias, nb, t + 1, (long long)b, (long long)o, want, got);
                }
            CHECK(bad == 0);
            free(y);
        }
        free(x);
    }
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(mods[t]);
    free(wv);
    free(bv);
    buf_free(&mb);
}

struct gemm_case {
    int k, n, trans_b;
};

static void test_gemm(const struct gemm_case *p, struct tpool *const *pools)
{
    float *wv = rnd_buf((int64_t)p->n * p->k, 2.0f / sqrtf((float)p->k)), *cv = rnd_buf(p->n, 1.0f);
    const float alpha = 0.75f, beta = 0.5f;
    struct buf g, mb;
    buf_init(&g, 1 << 24);
    buf_init(&mb, 1 << 24);
    gb_node(&g, &(struct gb_node){"Gemm", "x,w,c", "y",
                                  {{.name = "transB", .type = 2, .i = p->trans_b},
                                   {.name = "alpha", .type = 1, .f = alpha},
                                   {.name = "beta", .type = 1, .f = beta}}});
    pbw_str(&g, 2, "classifier");
    if (p->trans_b)
        gb_init(&g, "w", 1, 2, (const int64_t[]){p->n, p->k}, wv, (size_t)p->n * p->k * sizeof *wv);
    else
        gb_init(&g, "w", 1, 2, (const int64_t[]){p->k, p->n}, wv, (size_t)p->n * p->k * sizeof *wv);
    gb_init(&g, "c", 1, 1, (const int64_t[]){p->n}, cv, (size_t)p->n * sizeof *cv);
    pbw_value_info(&g, 11, "x", 1, 2, (const int64_t[]){-1, p->k});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(&mb, &g, 13);
    struct inferd_onnx_model *mods[3] = {NULL, NULL, NULL};
    load3(&mb, pools, mods, "Gemm");
    static const int rows[] = {1, 2, 5};
    for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++) {
        int m = rows[ri];
        float *x = rnd_buf((int64_t)m * p->k, 2.0f);
        for (int t = 0; t < 3 && mods[t]; t++) {
            float *y = NULL;
            struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 2, .dims = {m, p->k}, .data = x,
                                       .nbytes = (size_t)m * p->k * sizeof *x};
            int64_t ny = gb_run(mods[t], &in, 1, "Gemm", &y);
            CHECK(ny == (int64_t)m * p->n);
            int bad = 0;
            for (int64_t i = 0; i < m && ny == (int64_t)m * p->n; i++)
                for (int64_t j = 0; j < p->n; j++) {
                    double s = 0, a = 0;
                    for (int64_t kk = 0; kk < p->k; kk++) {
                        double tm = (double)x[i * p->k + kk] * (p->trans_b ? wv[j * p->k + kk] : wv[kk * p->n + j]);
                        s += tm;
                        a += fabs(tm);
                    }
                    double want = alpha * s + beta * cv[j];
                    float got = y[i * p->n + j];
                    if (!(fabs(got - want) <= 1e-5 * (1.0 + a + fabs(cv[j]))) && bad++ < 3)
                        printf("  Gemm k%d n%d transB %d, %d rows, %d threads [%lld,%lld]: want %g got %g\n", p->k,
                               p->n, p->trans_b, m, t + 1, (long long)i, (long long)j, want, got);
                }
            CHECK(bad == 0);
            free(y);
        }
        free(x);
    }
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(mods[t]);
    free(wv);
    free(cv);
    buf_free(&mb);
}

/* GlobalAveragePool on (2, 5, h, w) against its documented order, bit for bit */
static void test_gap(int h, int w, struct tpool *const *pools)
{
    const int nb = 2, ch = 13; /* 26 planes: three of eight folded in registers, then 2 */
    int64_t len = (int64_t)h * w;
    struct buf g, mb;
    buf_init(&g, 1 << 16);
    buf_init(&mb, 1 << 16);
    gb_node(&g, &(struct gb_node){"GlobalAveragePool", "x", "y", {{0}}});
    pbw_str(&g, 2, "gap");
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){nb, ch, h, w});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(&mb, &g, 13);
    struct inferd_onnx_model *mods[3] = {NULL, NULL, NULL};
    load3(&mb, pools, mods, "GlobalAveragePool");
    float *x = rnd_buf(nb * ch * len, 8.0f);
    for (int t = 0; t < 3 && mods[t]; t++) {
        float *y = NULL;
        struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, ch, h, w}, .data = x,
                                   .nbytes = (size_t)(nb * ch * len) * sizeof *x};
        CHECK(gb_run(mods[t], &in, 1, "GlobalAveragePool", &y) == nb * ch);
        int bad = 0;
        for (int64_t p = 0; p < nb * ch; p++) {
            const float *xp = x + p * len;
            float lane[16] = {0}, s = 0.0f;
            int64_t i = 0;
            for (; i + 16 <= len; i += 16)
                for (int l = 0; l < 16; l++)
                    lane[l] += xp[i + l];
            for (; i < len; i++)
                s += xp[i];
            for (int l = 0; l < 16; l++)
                s += lane[l];
            float want = s / (float)len;
            if (memcmp(&want, &y[p], sizeof want) != 0 && bad++ < 3)
                printf("  GAP %dx%d, %d threads, plane %lld: want %.9g got %.9g\n", h, w, t + 1, (long long)p,
                       (double)want, (double)y[p]);
        }
        CHECK(bad == 0);
        free(y);
    }
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(mods[t]);
    free(x);
    buf_free(&mb);
}

int main(void)
{
    static const struct fc_case fcs[] = {
        {576, 144, ACT_RELU, 1}, /* MobileNetV3-small's SE FCs */
        {144, 576, ACT_HSIG, 1},
        {48, 1152, ACT_SIG, 1},  /* EfficientNet-B0's */
        {1152, 48, ACT_SILU, 1},
        {20, 7, ACT_NONE, 0},    /* odd sizes, no bias */
        {9, 3, ACT_RELU, 0},
    };
    static const struct gemm_case gemms[] = {
        {1280, 1000, 1}, /* MobileNetV2 / EfficientNet's classifier: packed panels */
        {576, 1024, 0},  /* MobileNetV3-small's first */
        {300, 37, 1},    /* small: dot products */
    };
    struct tpool *pools[3] = {NULL, tpool_new(2), tpool_new(3)};
    CHECK(pools[1] && pools[2]);
    for (size_t i = 0; i < sizeof fcs / sizeof *fcs && pools[1] && pools[2]; i++)
        test_fc(&fcs[i], pools);
    for (size_t i = 0; i < sizeof gemms / sizeof *gemms && pools[1] && pools[2]; i++)
        test_gemm(&gemms[i], pools);
    static const int gaps[][2] = {{1, 1}, {3, 5}, {4, 4}, {7, 7}, {17, 3}, {56, 56}, {112, 112}};
    for (size_t i = 0; i < sizeof gaps / sizeof *gaps && pools[1] && pools[2]; i++)
        test_gap(gaps[i][0], gaps[i][1], pools);
    tpool_free(pools[1]);
    tpool_free(pools[2]);
    return check_finish();
}
