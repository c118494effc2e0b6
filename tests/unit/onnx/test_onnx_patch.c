/* test_onnx_patch.c — a ViT's patch embedding (Conv, kernel == stride, no pad, bias; OH*OW of
 * 16, which ops/conv.c runs at batch > 1 as one GEMM whose 32-column tiles hold two images,
 * conv_kern.h ox_conv_seg_ok) and a padded 3x3 stride-2 conv with the same 4x4 map, models
 * loaded on pools of 1, 2 and 3 threads: at batch 1 and 3 against a direct conv accumulated
 * in double (|diff| <= 1e-5 * (1 + sum |x * w|)), the 2- and 3-thread outputs bit for bit the
 * 1-thread one, and with the 4x4 maps each image of the batch bit for bit its batch-1 run
 * (one image's GEMM; not so with 49 columns, whose batch-1 tail column takes strip_col).
 * The kernels are those cpu_has() picks: ctest runs it again with INFERD_CPU_DISABLE for the
 * AVX2 and the scalar ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"

#define CONV_TEST_SEED 5
#include "conv_test_rand.h"

struct pcase {
    int c, m, h, w, k, s, pad;
};

static void encode(struct buf *out, const struct pcase *p, const float *wv, const float *bv)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    gb_node(&g, &(struct gb_node){"Conv", "x,w,b", "y",
                                  {{.name = "pads", .type = 7, .ints = {p->pad, p->pad, p->pad, p->pad}, .n_ints = 4},
                                   {.name = "strides", .type = 7, .ints = {p->s, p->s}, .n_ints = 2},
                                   {.name = "kernel_shape", .type = 7, .ints = {p->k, p->k}, .n_ints = 2}}});
    pbw_str(&g, 2, "patch");
    gb_init(&g, "w", 1, 4, (const int64_t[]){p->m, p->c, p->k, p->k}, wv,
            (size_t)p->m * p->c * p->k * p->k * sizeof *wv);
    gb_init(&g, "b", 1, 1, (const int64_t[]){p->m}, bv, (size_t)p->m * sizeof *bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, p->c, p->h, p->w});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(out, &g, 13);
}

/* the direct conv's output (double) and sum |x * w| of one output */
static void direct(const struct pcase *p, const float *x, const float *wv, const float *bv, int64_t b, int64_t mo,
                   int64_t oy, int64_t ox, double *val, double *mag)
{
    double s = bv[mo], a = fabs(bv[mo]);
    for (int ci = 0; ci < p->c; ci++)
        for (int ky = 0; ky < p->k; ky++)
            for (int kx = 0; kx < p->k; kx++) {
                int64_t iy = oy * p->s - p->pad + ky, ix = ox * p->s - p->pad + kx;
                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w)
                    continue;
                double t = (double)x[((b * p->c + ci) * p->h + iy) * p->w + ix] *
                           wv[((mo * p->c + ci) * p->k + ky) * p->k + kx];
                s += t;
                a += fabs(t);
            }
    *val = s;
    *mag = a;
}

static void test_case(const struct pcase *p, struct tpool *const *pools)
{
    int64_t oh = (p->h + 2 * p->pad - p->k) / p->s + 1, ow = (p->w + 2 * p->pad - p->k) / p->s + 1;
    int64_t nw = (int64_t)p->m * p->c * p->k * p->k, img = (int64_t)p->c * p->h * p->w, yimg = p->m * oh * ow;
    float *wv = rnd_buf(nw, 1.0f / sqrtf((float)(p->c * p->k * p->k))), *bv = rnd_buf(p->m, 0.2f);
    struct buf mb;
    buf_init(&mb, 1 << 16);
    encode(&mb, p, wv, bv);
    struct inferd_onnx_model *mods[3] = {NULL, NULL, NULL};
    for (int t = 0; t < 3; t++) {
        struct inferd_err err = {0};
        int rc = inferd_onnx_load_buffer(mb.data, mb.len, &(struct inferd_onnx_options){.pool = pools[t]}, &mods[t],
                                         &err);
        if (rc < 0)
            fprintf(stderr, "patch conv k%d s%d: load: %s\n", p->k, p->s, err.msg);
        CHECK(rc == 0);
    }
    const int nb = 3;
    float *x = rnd_buf(nb * img, 1.0f);
    float *one[3] = {NULL, NULL, NULL}; /* image i alone, 1 thread */
    for (int i = 0; i < nb && mods[0]; i++) {
        struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, p->c, p->h, p->w},
                                   .data = x + i * img, .nbytes = (size_t)img * sizeof *x};
        CHECK(gb_run(mods[0], &in, 1, "patch batch 1", &one[i]) == yimg);
    }
    for (int t = 0; t < 3 && mods[t]; t++) {
        float *y = NULL;
        struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, p->c, p->h, p->w}, .data = x,
                                   .nbytes = (size_t)(nb * img) * sizeof *x};
        int64_t ny = gb_run(mods[t], &in, 1, "patch batch 3", &y);
        CHECK(ny == nb * yimg);
        int bad = 0;
        for (int64_t b = 0; b < nb && ny == nb * yimg; b++) {
            if (oh * ow == 16 && one[b] && memcmp(one[b], y + b * yimg, (size_t)yimg * sizeof *y) != 0 && bad++ < 3)
                printf("  k%d s%d: %d threads, image %lld of the batch differs from its batch-1 run\n", p->k, p->s,
                       t + 1, (long long)b);
            for (int64_t mo = 0; mo < p->m; mo++)
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        double v, a;
                        direct(p, x, wv, bv, b, mo, oy, ox, &v, &a);
                        float got = y[b * yimg + (mo * oh + oy) * ow + ox];
                        if (!(fabs(got - v) <= 1e-5 * (1.0 + a)) && bad++ < 3)
                            printf("  k%d s%d: %d threads [%lld,%lld,%lld,%lld]: want %g got %g\n", p->k, p->s,
                                   t + 1, (long long)b, (long long)mo, (long long)oy, (long long)ox, v, got);
                    }
        }
        CHECK(bad == 0);
        free(y);
    }
    for (int i = 0; i < nb; i++)
        free(one[i]);
    for (int t = 0; t < 3; t++)
        inferd_onnx_free(mods[t]);
    free(x);
    free(wv);
    free(bv);
    buf_free(&mb);
}

int main(void)
{
    static const struct pcase cases[] = {
        {3, 64, 32, 32, 8, 8, 0},   /* the bench ViT's patch embedding */
        {3, 40, 16, 16, 4, 4, 0},   /* M not a multiple of 12 */
        {20, 27, 8, 8, 3, 2, 1},    /* a padded 3x3 with a 4x4 map */
        {5, 13, 7, 7, 1, 1, 0},     /* 49 columns (OX_CV_SEGMIN path) beside them */
    };
    struct tpool *pools[3] = {NULL, tpool_new(2), tpool_new(3)};
    CHECK(pools[1] && pools[2]);
    for (size_t i = 0; i < sizeof cases / sizeof *cases && pools[1] && pools[2]; i++)
        test_case(&cases[i], pools);
    tpool_free(pools[1]);
    tpool_free(pools[2]);
    return check_finish();
}
