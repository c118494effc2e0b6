/* test_onnx_se.c — fuse_se.c's squeeze-excitation fusion and ops/se.c's InferdSE
 * (INFERD_ONNX_OPT_SE) on small graphs written here:
 *   x (N, C, H, W) -> Relu -> a; a -> GlobalAveragePool -> Conv 1x1 [+b] -> act1 -> Conv 1x1
 *   [+b] -> act2 -> g; out = Mul(a, g) (or Mul(g, a)) [-> Add(., a): a read after the Mul]
 * with MobileNetV3's Relu / HardSigmoid(1/6, 1/2), EfficientNet's SiLU (Sigmoid + Mul) /
 * Sigmoid, odd channel counts, 1x1 to 56x56 maps, and the near misses (the pooled value a
 * graph output; the Mul scaling another tensor). The model loaded with the fusion off
 * (1 thread) is the reference for the model with it on at 1, 2 and 3 threads, batch 1, 3 and
 * 8: outputs equal bit for bit (the fused step runs the unfused ops' kernels in the same
 * order); both are checked against a double-precision reference
 * within 1e-4 (abs + rel; the SIMD sigmoid is an approximation); and the "graph optimized"
 * summary counts the blocks fused. At batch 1 on a pool an image of up to SE_ONE_ELEMS (64 Ki)
 * elements runs on one thread (se.c), larger ones split its squeeze, FCs and scale: both
 * kinds are here (1152 channels at 7x7 and at 9x9). check_folded: a block whose X is a
 * constant (constant folding off) is folded by the plan (ox_op_run_once: InferdSE with its
 * own packed weights).
 * ctest runs it again with INFERD_CPU_DISABLE=avx512f (AVX2
 * kernels) and =all (scalar references). */
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

struct se_case {
    const char *what;
    int c, r, h, w;
    int effnet;   /* 1: SiLU / Sigmoid, no biases, Mul(g, a); 0: Relu / HardSigmoid, biases, Mul(a, g) */
    int residual; /* Add(Mul, a) after: a is read again, so Y may not go over it */
    int near;     /* 1: pooled value also a graph output; 2: the Mul scales x, not a */
    int want;     /* blocks the summary must count */
};

static void encode(const struct se_case *s, struct buf *out, float *w1, float *w2, float *bias)
{
    struct buf g;
    buf_init(&g, 1 << 22);
    gb_node(&g, &(struct gb_node){"Relu", "x", "a", {{0}}});
    gb_node(&g, &(struct gb_node){"GlobalAveragePool", "a", "p", {{0}}});
    gb_node(&g, &(struct gb_node){"Conv", s->effnet ? "p,w1" : "p,w1,b1", "f1", {{0}}});
    if (s->effnet) {
        gb_node(&g, &(struct gb_node){"Sigmoid", "f1", "f1s", {{0}}});
        gb_node(&g, &(struct gb_node){"Mul", "f1,f1s", "h", {{0}}});
    } else {
        gb_node(&g, &(struct gb_node){"Relu", "f1", "h", {{0}}});
    }
    gb_node(&g, &(struct gb_node){"Conv", s->effnet ? "h,w2" : "h,w2,b2", "f2", {{0}}});
    if (s->effnet)
        gb_node(&g, &(struct gb_node){"Sigmoid", "f2", "gt", {{0}}});
    else
        gb_node(&g, &(struct gb_node){"HardSigmoid", "f2", "gt",
                                      {{.name = "alpha", .type = 1, .f = 1.0f / 6.0f},
                                       {.name = "beta", .type = 1, .f = 0.5f}}});
    const char *min = s->near == 2 ? "x,gt" : s->effnet ? "gt,a" : "a,gt";
    gb_node(&g, &(struct gb_node){"Mul", min, s->residual ? "m" : "out", {{0}}});
    if (s->residual)
        gb_node(&g, &(struct gb_node){"Add", "m,a", "out", {{0}}});
    pbw_str(&g, 2, "se");
    gb_init(&g, "w1", 1, 4, (const int64_t[]){s->r, s->c, 1, 1}, w1, (size_t)s->r * s->c * sizeof *w1);
    gb_init(&g, "w2", 1, 4, (const int64_t[]){s->c, s->r, 1, 1}, w2, (size_t)s->r * s->c * sizeof *w2);
    gb_init(&g, "b1", 1, 1, (const int64_t[]){s->r}, bias, (size_t)s->r * sizeof *bias);
    gb_init(&g, "b2", 1, 1, (const int64_t[]){s->c}, bias + s->r, (size_t)s->c * sizeof *bias);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, s->c, s->h, s->w});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    if (s->near == 1)
        pbw_value_info(&g, 12, "p", 1, -1, NULL);
    gb_model(out, &g, 13);
}

static double sig(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* the block in double precision: out (bt, C, H, W) */
static void reference(const struct se_case *s, int bt, const float *x, const float *w1, const float *w2,
                      const float *bias, double *out)
{
    int64_t hw = (int64_t)s->h * s->w;
    double *p = malloc((size_t)(s->c + s->r + s->c) * sizeof *p), *h = p + s->c, *g = h + s->r;
    for (int b = 0; b < bt; b++) {
        const float *xb = x + (int64_t)b * s->c * hw;
        for (int c = 0; c < s->c; c++) {
            double t = 0;
            for (int64_t i = 0; i < hw; i++)
                t += xb[c * hw + i] > 0 ? xb[c * hw + i] : 0.0;
            p[c] = t / (double)hw;
        }
        for (int r = 0; r < s->r; r++) {
            double t = s->effnet ? 0 : bias[r];
            for (int c = 0; c < s->c; c++)
                t += (double)w1[r * s->c + c] * p[c];
            h[r] = s->effnet ? t * sig(t) : t > 0 ? t : 0;
        }
        for (int c = 0; c < s->c; c++) {
            double t = s->effnet ? 0 : bias[s->r + c];
            for (int r = 0; r < s->r; r++)
                t += (double)w2[c * s->r + r] * h[r];
            g[c] = s->effnet ? sig(t) : fmin(fmax(t / 6.0 + 0.5, 0.0), 1.0);
        }
        for (int c = 0; c < s->c; c++)
            for (int64_t i = 0; i < hw; i++) {
                int64_t k = ((int64_t)b * s->c + c) * hw + i;
                double a = x[k] > 0 ? x[k] : 0.0;
                out[k] = (s->near == 2 ? x[k] : a) * g[c] + (s->residual ? a : 0.0);
            }
    }
    free(p);
}

static int64_t run(struct inferd_onnx_model *m, const struct se_case *s, int bt, const float *x, float **out)
{
    int64_t n = (int64_t)bt * s->c * s->h * s->w;
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, s->c, s->h, s->w}, .data = (void *)x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = gb_run(m, &in, s->near == 1 ? 2 : 1, s->what, out);
    CHECK(k >= 0);
    return k < 0 ? 0 : k;
}

static void check(const struct se_case *s)
{
    struct buf bb;
    buf_init(&bb, 1 << 22);
    int64_t nw = (int64_t)s->c * s->r;
    float *w1 = malloc((size_t)nw * sizeof *w1), *w2 = malloc((size_t)nw * sizeof *w2);
    float *bias = malloc((size_t)(s->c + s->r) * sizeof *bias);
    gb_fill(w1, nw, 2.0f / sqrtf((float)s->c), 0.3f);
    gb_fill(w2, nw, 2.0f / sqrtf((float)s->r), 1.1f);
    gb_fill(bias, s->c + s->r, 0.3f, 0.7f);
    encode(s, &bb, w1, w2, bias);
    struct inferd_onnx_model *ref = NULL, *m[3] = {NULL, NULL, NULL};
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_SE},
                                     &ref, &err);
    struct tpool *pools[3] = {NULL, pool, pool3};
    for (int t = 0; t < 3 && rc == 0; t++)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pools[t]}, &m[t], &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", s->what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        char want[64];
        snprintf(want, sizeof want, " %d squeeze-excitations", s->want);
        const char *sum = inferd_onnx_graph_summary(m[0]);
        int ok = strstr(sum, want) && strstr(inferd_onnx_graph_summary(ref), " 0 squeeze-excitations");
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", s->what, sum, want);
        CHECK(ok);
        double worst = 0, worst_ref = 0;
        const char *san = getenv("INFERD_SANITIZED");
        int bt_max = san && san[0] == '1' ? 3 : 8;
        for (int bt = 1; bt <= bt_max; bt = bt == 1 ? 3 : bt + 5) {
            int64_t n = (int64_t)bt * s->c * s->h * s->w;
            float *x = malloc((size_t)n * sizeof *x), *r = NULL;
            double *d = malloc((size_t)n * sizeof *d);
            gb_fill(x, n, 1.5f, (float)bt);
            reference(s, bt, x, w1, w2, bias, d);
            int64_t nr = run(ref, s, bt, x, &r);
            CHECK(nr == n);
            for (int64_t i = 0; i < nr && nr == n; i++) {
                double e = fabs(d[i] - r[i]);
                CHECK(e <= 1e-4 * (1.0 + fabs(d[i])));
                worst_ref = e > worst_ref ? e : worst_ref;
            }
            for (int t = 0; t < 3; t++) {
                float *y = NULL;
                int64_t ny = run(m[t], s, bt, x, &y);
                CHECK(ny == n);
                for (int64_t i = 0; i < ny && ny == n && nr == n; i++) {
                    double e = fabs((double)r[i] - y[i]), e2 = fabs(d[i] - y[i]);
                    if (memcmp(&r[i], &y[i], sizeof y[i]) != 0 || e2 > 1e-4 * (1.0 + fabs(d[i]))) {
                        fprintf(stderr, "%s: batch %d, %d threads, [%lld]: %g vs off %g, ref %g\n", s->what, bt, t + 1,
                                (long long)i, y[i], r[i], d[i]);
                        CHECK(0);
                        break;
                    }
                    worst = e > worst ? e : worst;
                    worst_ref = e2 > worst_ref ? e2 : worst_ref;
                }
                free(y);
            }
            free(r);
            free(x);
            free(d);
        }
        printf("%-48s%s; max |on - off| = %.3g, |. - ref| = %.3g\n", s->what, want, worst, worst_ref);
    }
    inferd_onnx_free(ref);
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(m[t]);
    free(w1);
    free(w2);
    free(bias);
    buf_free(&bb);
}

/* x a constant (1, C, H, W): with the load-time constant folding off, the block is fused and
 * then folded at plan time (plan.c runs a node whose inputs are all constant once, with its
 * packed weights: ox_op_run_once); out = Mul(Relu(x), gate) + z, z the one input. The fused
 * model must run (it failed every request when the fold ran without packed weights) and
 * equal the unfused one bit for bit (both fold through the packed conv kernels; 2.4e-7 apart
 * when the unfused Convs folded through the unpacked path). */
static void check_folded(void)
{
    const int c = 24, r = 6, h = 5, w = 7;
    const int64_t n = (int64_t)c * h * w, nw = (int64_t)c * r, dims[4] = {1, c, h, w};
    float *x = malloc((size_t)n * sizeof *x), *z = malloc((size_t)n * sizeof *z);
    float *w1 = malloc((size_t)nw * sizeof *w1), *w2 = malloc((size_t)nw * sizeof *w2), *bias = malloc((size_t)(c + r) * sizeof *bias);
    gb_fill(x, n, 1.5f, 0.2f);
    gb_fill(z, n, 1.0f, 0.9f);
    gb_fill(w1, nw, 0.4f, 0.3f);
    gb_fill(w2, nw, 0.8f, 1.1f);
    gb_fill(bias, c + r, 0.3f, 0.7f);
    struct buf g, bb;
    buf_init(&g, 1 << 20);
    buf_init(&bb, 1 << 20);
    gb_node(&g, &(struct gb_node){"Relu", "x", "a", {{0}}});
    gb_node(&g, &(struct gb_node){"GlobalAveragePool", "a", "p", {{0}}});
    gb_node(&g, &(struct gb_node){"Conv", "p,w1,b1", "f1", {{0}}});
    gb_node(&g, &(struct gb_node){"Relu", "f1", "hh", {{0}}});
    gb_node(&g, &(struct gb_node){"Conv", "hh,w2,b2", "f2", {{0}}});
    gb_node(&g, &(struct gb_node){"HardSigmoid", "f2", "gt",
                                  {{.name = "alpha", .type = 1, .f = 1.0f / 6.0f}, {.name = "beta", .type = 1, .f = 0.5f}}});
    gb_node(&g, &(struct gb_node){"Mul", "a,gt", "m", {{0}}});
    gb_node(&g, &(struct gb_node){"Add", "m,z", "out", {{0}}});
    pbw_str(&g, 2, "se_folded");
    gb_init(&g, "x", 1, 4, dims, x, (size_t)n * sizeof *x);
    gb_init(&g, "w1", 1, 4, (const int64_t[]){r, c, 1, 1}, w1, (size_t)nw * sizeof *w1);
    gb_init(&g, "w2", 1, 4, (const int64_t[]){c, r, 1, 1}, w2, (size_t)nw * sizeof *w2);
    gb_init(&g, "b1", 1, 1, (const int64_t[]){r}, bias, (size_t)r * sizeof *bias);
    gb_init(&g, "b2", 1, 1, (const int64_t[]){c}, bias + r, (size_t)c * sizeof *bias);
    pbw_value_info(&g, 11, "z", 1, 4, dims);
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(&bb, &g, 13);
    struct inferd_onnx_model *off = NULL, *on = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len,
                                     &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_FOLD | INFERD_ONNX_OPT_SE},
                                     &off, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len,
                                     &(struct inferd_onnx_options){.pool = pool, .graph_opt_off = INFERD_ONNX_OPT_FOLD}, &on, &err);
    if (rc < 0)
        fprintf(stderr, "constant X: load: %s\n", err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(strstr(inferd_onnx_graph_summary(on), " 1 squeeze-excitations") != NULL);
        struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, c, h, w}, .data = z, .nbytes = (size_t)n * sizeof *z};
        float *a = NULL, *b = NULL;
        int64_t na = gb_run(off, &in, 1, "constant X, off", &a), nb = gb_run(on, &in, 1, "constant X, on", &b);
        CHECK(na == n && nb == n);
        double worst = 0;
        for (int64_t i = 0; i < n && na == n && nb == n; i++) {
            double e = fabs((double)a[i] - b[i]);
            worst = e > worst ? e : worst;
            CHECK(e == 0);
        }
        printf("%-48s folded at plan time; max |on - off| = %.3g\n", "constant X (constant folding off)", worst);
        free(a);
        free(b);
    }
    inferd_onnx_free(off);
    inferd_onnx_free(on);
    free(x);
    free(z);
    free(w1);
    free(w2);
    free(bias);
    buf_free(&bb);
}

int main(void)
{
    pool = tpool_new(2);
    pool3 = tpool_new(3);
    CHECK(pool != NULL && pool3 != NULL);
    static const struct se_case cases[] = {
        /* what                                          c    r    h   w  eff res near want */
        {"MobileNetV3 block 1: 16 -> 8, 56x56", 16, 8, 56, 56, 0, 0, 0, 1},
        {"MobileNetV3 576 -> 144, 7x7", 576, 144, 7, 7, 0, 0, 0, 1},
        {"EfficientNet 96 -> 4, 28x28 (Mul(g, a))", 96, 4, 28, 28, 1, 0, 0, 1},
        {"EfficientNet odd 37 -> 11, 13x9", 37, 11, 13, 9, 1, 0, 0, 1},
        {"1x1 map, 40 -> 10", 40, 10, 1, 1, 0, 0, 0, 1},
        /* the wide squeeze (x86/mb_tmpl.h): planes of exactly 16, under 16 and 16 k + 15
         * floats, channel counts 4 k + 3 and 4 k + 2 (its four planes at once, then one) */
        {"EfficientNet 39 -> 5, 4x4", 39, 5, 4, 4, 1, 0, 0, 1},
        {"EfficientNet 6 -> 3, 3x5", 6, 3, 3, 5, 1, 0, 0, 1},
        {"EfficientNet 43 -> 7, 7x9 (tail 15)", 43, 7, 7, 9, 1, 0, 0, 1},
        /* batch 1 on 2 and 3 threads: the FCs split over W1's and W2's panels (the last
         * partial), each with its channels' scale */
        {"EfficientNet 1152 -> 48, 7x7 (one thread at batch 1)", 1152, 48, 7, 7, 1, 0, 0, 1},
        {"EfficientNet 1152 -> 48, 9x9 (FCs split)", 1152, 48, 9, 9, 1, 0, 0, 1},
        {"odd 1203 -> 50, 7x8 (FCs split, last panel partial)", 1203, 50, 7, 8, 0, 0, 0, 1},
        {"odd 203 -> 50, 5x5 (last panel partial)", 203, 50, 5, 5, 0, 0, 0, 1},
        {"a read after the Mul (Y not over X), 24 -> 6", 24, 6, 15, 17, 0, 1, 0, 1},
        {"near miss: pooled value is a graph output", 24, 6, 15, 17, 0, 0, 1, 0},
        {"near miss: the Mul scales another tensor", 24, 6, 15, 17, 1, 0, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(&cases[i]);
    check_folded();
    tpool_free(pool);
    tpool_free(pool3);
    return check_finish();
}
