/* test_onnx_pool_norm.c — FP32 MaxPool and LayerNormalization on the kernels this CPU runs
 * (ctest runs it again with INFERD_CPU_DISABLE for AVX2 and the scalar code):
 *   - MaxPool against a walk of each window with the scalar `v > m ? v : m` from -inf, bit for
 *     bit: strides 1 / 2 / 3, kernels 1..5, pads, ceil_mode, odd widths (tails of every ISA's
 *     vector), planes over the stack buffers (the row-at-a-time path), inputs with NaNs and
 *     signed zeros; on 1, 2 and 3 threads (planes split over the pool);
 *   - LayerNormalization against a double reference, |diff| <= 1e-5 * (1 + |ref|), lengths
 *     around the 16-lane blocks, per-element and broadcast Scale / B, the Mean / InvStdDev outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/tpool.h"
#include "check.h"
#include "onnx/onnx_int.h"

static uint32_t rng = 7;

static float rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.0f * 4.0f - 2.0f;
}

static struct ox_tensor *mk(int rank, const int64_t *dims)
{
    struct ox_tensor *t = calloc(1, sizeof *t);
    CHECK(ox_set_shape(t, INFERD_FP32, rank, dims, NULL) == 0);
    t->data = calloc(t->nbytes + 64, 1);
    t->is_const = 1;
    return t;
}

static void free_t(struct ox_tensor *t)
{
    if (t)
        free(t->data);
    free(t);
}

/* the window walk; pads never win (they are skipped, as -inf) */
static float maxpool_ref(const float *x, int64_t h, int64_t w, int64_t k, int64_t s, int64_t pt, int64_t pl,
                         int64_t oy, int64_t ox)
{
    float m = -INFINITY;
    for (int64_t ky = 0; ky < k; ky++)
        for (int64_t kx = 0; kx < k; kx++) {
            int64_t iy = oy * s - pt + ky, ix = ox * s - pl + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                m = x[iy * w + ix] > m ? x[iy * w + ix] : m;
        }
    return m;
}

static void test_maxpool(void)
{
    static const int64_t cases[][6] = {/* h, w, k, s, pad, ceil */
                                       {112, 112, 3, 2, 1, 0}, {20, 20, 5, 1, 2, 0}, {40, 40, 2, 2, 0, 0},
                                       {13, 37, 3, 2, 1, 1},   {9, 51, 5, 1, 2, 0},  {7, 67, 3, 1, 1, 0},
                                       {6, 45, 2, 2, 0, 1},    {5, 33, 3, 2, 0, 0},  {11, 5, 4, 3, 1, 1},
                                       {3, 2100, 3, 2, 1, 0},  {3, 17, 1, 1, 0, 0},  {4, 70, 5, 2, 2, 1},
                                       {200, 100, 3, 1, 1, 0}, {2, 31, 3, 2, 2, 1},  {24, 30, 3, 2, 1, 1},
                                       {50, 23, 4, 3, 2, 1}};
    struct tpool *pools[3] = {NULL, tpool_new(2), tpool_new(3)};
    CHECK(pools[1] && pools[2]); /* else the "2 and 3 thread" runs would be 1-thread runs */
    int bad = 0, runs = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int special = 0; special < 9; special++) { /* plain, NaNs, signed zeros; x 1, 2, 3 threads */
            struct tpool *pool = pools[special / 3];
            const int64_t h = cases[ci][0], w = cases[ci][1], k = cases[ci][2], s = cases[ci][3], pd = cases[ci][4];
            int64_t dims[4] = {1, 2, h, w}, ks[2] = {k, k}, st[2] = {s, s}, pads[4] = {pd, pd, pd, pd};
            struct ox_attr attrs[4] = {{.name = "kernel_shape", .type = OX_ATTR_INTS, .ints = ks, .n_ints = 2},
                                       {.name = "strides", .type = OX_ATTR_INTS, .ints = st, .n_ints = 2},
                                       {.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n_ints = 4},
                                       {.name = "ceil_mode", .type = OX_ATTR_INT, .i = cases[ci][5]}};
            struct ox_tensor *x = mk(4, dims), y = {0}, *yp = &y;
            float *xv = x->data;
            for (int64_t i = 0; i < x->numel; i++) {
                xv[i] = rnd();
                if (special % 3 == 1 && rng % 7 == 0)
                    xv[i] = NAN;
                if (special % 3 == 2)
                    xv[i] = rng % 3 == 0 ? 0.0f : rng % 3 == 1 ? -0.0f : -1.0f;
            }
            struct ox_node n = {.op_type = "MaxPool", .name = "p", .domain = "", .n_in = 1, .n_out = 1,
                                .n_attrs = 4, .attrs = attrs};
            const struct ox_op *op = ox_op_find("MaxPool");
            struct inferd_err err = {0};
            CHECK(op->infer(&n, &x, &yp, &err) == 0);
            y.data = calloc(y.nbytes + 64, 1);
            struct ox_ctx c = {.pool = pool, .nth = tpool_size(pool)};
            CHECK(op->exec(&c, &n, &x, &yp, &err) == 0);
            const int64_t oh = y.dims[2], ow = y.dims[3];
            for (int64_t p = 0; p < 2; p++)
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        float want = maxpool_ref(xv + p * h * w, h, w, k, s, pd, pd, oy, ox);
                        float got = ((float *)y.data)[(p * oh + oy) * ow + ox];
                        if (memcmp(&want, &got, sizeof want) != 0 && bad++ < 5)
                            printf("  MaxPool %lldx%lld k%lld s%lld p%lld, %d threads: (%lld,%lld) got %g want %g\n",
                                   (long long)h, (long long)w, (long long)k, (long long)s, (long long)pd,
                                   tpool_size(pool), (long long)oy, (long long)ox, got, want);
                    }
            runs++;
            free(y.data), free_t(x);
        }
    tpool_free(pools[1]);
    tpool_free(pools[2]);
    printf("FP32 MaxPool vs window walk (%s): %d runs, %d mismatches\n",
           cpu_has(CPU_AVX512F) ? "avx512" : cpu_has(CPU_AVX2) ? "avx2" : "sse2/scalar", runs, bad);
    CHECK(bad == 0);
}

static void test_layer_norm(void)
{
    static const int64_t lens[] = {1, 3, 4, 15, 16, 17, 31, 64, 67, 192, 768, 1000};
    int bad = 0, runs = 0;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int bcast = 0; bcast < 2; bcast++) {
            const int64_t len = lens[li], rows = 11; /* a block of 8 rows and a part */
            int64_t dims[2] = {rows, len}, sdims[1] = {bcast ? 1 : len};
            struct ox_tensor *x = mk(2, dims), *sc = mk(1, sdims), *b = mk(1, sdims);
            struct ox_tensor y = {0}, mean = {0}, inv = {0};
            float *xv = x->data, *sv = sc->data, *bv = b->data;
            for (int64_t i = 0; i < x->numel; i++)
                xv[i] = rnd() * (float)(1 + i % 5) + 3.0f; /* an offset, as activations have */
            for (int64_t i = 0; i < sc->numel; i++)
                sv[i] = rnd(), bv[i] = rnd();
            struct ox_attr attrs[2] = {{.name = "axis", .type = OX_ATTR_INT, .i = -1},
                                       {.name = "epsilon", .type = OX_ATTR_FLOAT, .f = 1e-5f}};
            struct ox_node n = {.op_type = "LayerNormalization", .name = "ln", .domain = "", .n_in = 3,
                                .n_out = 3, .n_attrs = 2, .attrs = attrs};
            const struct ox_op *op = ox_op_find("LayerNormalization");
            struct inferd_err err = {0};
            struct ox_tensor *in[3] = {x, sc, b}, *out[3] = {&y, &mean, &inv};
            CHECK(op->prepare(&n, &err) == 0);
            CHECK(op->infer(&n, in, out, &err) == 0);
            y.data = calloc(y.nbytes + 64, 1), mean.data = calloc(mean.nbytes + 64, 1);
            inv.data = calloc(inv.nbytes + 64, 1);
            struct ox_ctx c = {.nth = 1};
            CHECK(op->exec(&c, &n, in, out, &err) == 0);
            for (int64_t r = 0; r < rows; r++) {
                const float *p = xv + r * len;
                double m = 0, v = 0;
                for (int64_t i = 0; i < len; i++)
                    m += p[i];
                m /= (double)len;
                for (int64_t i = 0; i < len; i++)
                    v += (p[i] - m) * (p[i] - m);
                double is = 1.0 / sqrt(v / (double)len + 1e-5);
                bad += fabs(((float *)mean.data)[r] - m) > 1e-5 * (1 + fabs(m));
                bad += fabs(((float *)inv.data)[r] - is) > 1e-5 * (1 + fabs(is));
                for (int64_t i = 0; i < len; i++) {
                    double want = (p[i] - m) * is * sv[bcast ? 0 : i] + bv[bcast ? 0 : i];
                    double got = ((float *)y.data)[r * len + i];
                    if (fabs(got - want) > 1e-5 * (1 + fabs(want)) && bad++ < 5)
                        printf("  LayerNorm len %lld row %lld [%lld]: got %.9g want %.9g\n", (long long)len,
                               (long long)r, (long long)i, got, want);
                }
            }
            runs++;
            free(y.data), free(mean.data), free(inv.data), free_t(x), free_t(sc), free_t(b);
        }
    printf("LayerNormalization vs double reference: %d runs, %d over 1e-5 * (1 + |ref|)\n", runs, bad);
    CHECK(bad == 0);
}

int main(void)
{
    test_maxpool();
    test_layer_norm();
    return check_finish();
}
