/* test_onnx_wino.c — Winograd F(4x4, 3x3) (conv_wino.h): the AVX2 and AVX-512 input and
 * output transforms against the scalar reference (|diff| <= 1e-5 * (1 + |ref|) for the input's,
 * 1e-4 for the output's: its 8x and 64x coefficients cancel on random P, and the vector code
 * contracts to FMAs where the reference does not), and the
 * whole conv (transforms + packed GEMMs, 1 and 2 threads, each kernel set) against a direct
 * 3x3 conv accumulated in double, over odd sizes, pads (symmetric, one-sided, 2), tile
 * tails, maps narrower than a tile, maps of at most VL/2 tile columns (several tile rows to a
 * vector: wino_tmpl.h's input_rows / output_rows), with and without bias, every fused activation:
 * |diff| <= 2e-5 * (1 + sum |x * w| over the output's receptive field). A kernel set the
 * CPU lacks is skipped with a message. And Conv models (Winograd 3x3 with bias, Relu and a
 * fused residual Add; a 1x1 and a strided 3x3 beside it) at batch 1, 3 and 8 on pools of 2,
 * 3 and 4 threads give the 1-thread output bit for bit (whole images per thread where the
 * batch has one for each, the rest split finely: ox_parallel_images; a 7x7 map at batch 8:
 * the batch's tiles side by side, ox_wino_conv_batch, also checked against the direct conv
 * at 2 and 9 images; a 512-channel 7x7 map: F(2x2,3x3) at batch 1). F(2x2,3x3) (ox_wino2_*:
 * the same C transforms on every isa) goes through the same conv tests with each kernel set's
 * GEMMs and the same tolerance. The banded driver (ox_wino_conv_bands: 1, 2 and 3 tile rows a
 * band, F(4x4,3x3) and F(2x2,3x3), 1 and 2 threads) through test_conv the same way, and
 * through the Conv models on 99x101 and 90x61 maps that ox_wino_band_rows cuts into bands,
 * on a 33x41 map (32 channels) it cuts in halves (test_conv's 35x70 map at 32 -> 40 channels
 * takes halves too) and a 56x56 one (64) in bands of 3-4 tile rows (a half's V + P pass
 * OX_WINO_BAND_BYTES); which of those ox_wino_band_rows picks for each map is checked too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/tpool.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"
#include "onnx/conv_wino.h"
#include "onnx/onnx_int.h"

#define CONV_TEST_SEED 11
#include "conv_test_rand.h"

static const struct ox_epi epis[] = CONV_TEST_EPIS;
#define N_EPIS (int)(sizeof epis / sizeof *epis)

/* c, m, h, w, pt, pl, pb, pr */
static const int shapes[][8] = {
    {8, 8, 6, 6, 0, 0, 0, 0},     {16, 13, 9, 11, 1, 1, 1, 1},  {19, 25, 17, 23, 1, 1, 1, 1},
    {32, 40, 35, 70, 1, 1, 1, 1}, {12, 24, 5, 67, 1, 0, 0, 1},  {64, 36, 20, 20, 1, 1, 1, 1},
    {24, 12, 4, 4, 0, 0, 0, 0},   {9, 14, 3, 130, 1, 1, 1, 1},  {20, 16, 28, 28, 2, 2, 0, 0},
    {5, 7, 1, 1, 1, 1, 1, 1},     {48, 64, 14, 14, 1, 1, 1, 1}, {3, 30, 13, 39, 0, 2, 1, 0},
    /* tile rows sharing a vector (tw <= VL / 2): 2 and 1 tile columns over more rows than fit
     * one vector, with a part-filled last one; 3 columns (lanes left over); 7x7 */
    {8, 9, 30, 5, 1, 1, 1, 1},    {6, 10, 70, 3, 1, 0, 1, 1},   {7, 5, 23, 10, 0, 1, 2, 1},
    {16, 16, 7, 7, 1, 1, 1, 1},
};
#define N_SHAPES (int)(sizeof shapes / sizeof *shapes)

/* tile size of the geometries below: 4 (F(4x4,3x3)) or 2 (F(2x2,3x3)) */
static int test_r = 4;
/* test_conv's driver: 0 ox_wino_conv (its rule), else ox_wino_conv_bands with this many
 * tile rows a band */
static int test_rows = 0;

static int64_t pack_size(int64_t m, int64_t c)
{
    return test_r == 2 ? ox_wino2_pack_size(m, c) : ox_wino_pack_size(m, c);
}

static void pack(const float *w, int64_t m, int64_t c, float *u)
{
    if (test_r == 2)
        ox_wino2_pack(w, m, c, u);
    else
        ox_wino_pack(w, m, c, u);
}

static void geom(int si, struct ox_wino *g)
{
    const int *s = shapes[si];
    ox_wino_geom_r(g, test_r, s[0], s[1], s[2], s[3], s[4], s[5], s[2] + s[4] + s[6] - 2, s[3] + s[5] + s[7] - 2);
}

static int near(float ref, float got, float tol)
{
    return fabsf(ref - got) <= tol;
}

/* the SIMD transforms of isa against the reference ones */
static void test_transforms(enum ox_isa isa, const char *name)
{
    int bad = 0;
    for (int si = 0; si < N_SHAPES; si++) {
        struct ox_wino g;
        geom(si, &g);
        int64_t nv = OX_WINO_NP * g.c * g.nt, np = OX_WINO_NP * g.m * g.nt, ny = g.m * g.oh * g.ow;
        float *x = rnd_buf(g.c * g.h * g.w, 4.0f), *p = rnd_buf(np, 4.0f), *bias = rnd_buf(g.m, 1.0f);
        float *z = rnd_buf(ny, 2.0f); /* a fused residual Add's Z */
        float *v0 = calloc((size_t)nv, sizeof(float)), *v1 = calloc((size_t)nv, sizeof(float));
        float *y0 = calloc((size_t)ny, sizeof(float)), *y1 = calloc((size_t)ny, sizeof(float));
        ox_wino_input_ref(&g, x, 0, g.c, v0);
        ox_wino_input_run(isa, &g, x, 0, g.c / 2, v1); /* two channel ranges, as two threads would */
        ox_wino_input_run(isa, &g, x, g.c / 2, g.c, v1);
        for (int64_t i = 0; i < nv; i++)
            if (!near(v0[i], v1[i], 1e-5f * (1 + fabsf(v0[i]))) && bad++ < 5)
                printf("  %s input transform shape %d [%lld]: ref %g got %g\n", name, si, (long long)i, v0[i], v1[i]);
        for (int e = 0; e < 2 * N_EPIS; e++) { /* each activation without and with Z */
            const float *b = e % 2 ? bias : NULL, *zs = e >= N_EPIS ? z : NULL;
            const struct ox_epi *ep = &epis[e % N_EPIS];
            ox_wino_output_ref(&g, p, b, zs, ep, 0, g.m, y0);
            ox_wino_output_run(isa, &g, p, b, zs, ep, 0, g.m / 3, y1);
            ox_wino_output_run(isa, &g, p, b, zs, ep, g.m / 3, g.m, y1);
            for (int64_t i = 0; i < ny; i++)
                if (!near(y0[i], y1[i], 1e-4f * (1 + fabsf(y0[i]))) && bad++ < 5)
                    printf("  %s output transform shape %d act %d sum %d [%lld]: ref %g got %g\n", name, si, ep->act,
                           zs != NULL, (long long)i, y0[i], y1[i]);
        }
        free(x);
        free(p);
        free(bias);
        free(z);
        free(v0);
        free(v1);
        free(y0);
        free(y1);
    }
    CHECK(bad == 0);
}

/* the direct 3x3 conv of one image in double: ref, and sum |x * w| per output in mag */
static void direct(const struct ox_wino *g, const float *x, const float *w, double *ref, double *mag)
{
    for (int64_t mi = 0; mi < g->m; mi++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                double acc = 0, a = 0;
                for (int64_t ci = 0; ci < g->c; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int64_t iy = oy + ky - g->pt, ix = ox + kx - g->pl;
                            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                                continue;
                            double t = (double)x[(ci * g->h + iy) * g->w + ix] * w[((mi * g->c + ci) * 3 + ky) * 3 + kx];
                            acc += t;
                            a += fabs(t);
                        }
                ref[(mi * g->oh + oy) * g->ow + ox] = acc;
                mag[(mi * g->oh + oy) * g->ow + ox] = a;
            }
}

/* the whole conv with the kernels of isa on a pool of nth threads against a direct conv */
static void test_conv(enum ox_isa isa, const char *name, struct tpool *pool, int nth)
{
    struct ox_ctx ctx = {.pool = pool, .nth = nth};
    int bad = 0, ran = 0;
    for (int si = 0; si < N_SHAPES; si++) {
        struct ox_wino g;
        geom(si, &g);
        int64_t ny = g.m * g.oh * g.ow;
        float *x = rnd_buf(g.c * g.h * g.w, 4.0f), *w = rnd_buf(g.m * g.c * 9, 1.0f), *bias = rnd_buf(g.m, 1.0f);
        float *z = rnd_buf(ny, 2.0f);
        float *u = malloc(sizeof(float) * (size_t)pack_size(g.m, g.c));
        float *s = malloc(sizeof(float) * (size_t)ox_wino_scratch(&g));
        float *y = malloc(sizeof(float) * (size_t)ny);
        double *ref = malloc(sizeof(double) * (size_t)ny), *mag = malloc(sizeof(double) * (size_t)ny);
        pack(w, g.m, g.c, u);
        direct(&g, x, w, ref, mag);
        for (int e = 0; e < N_EPIS; e++) {
            const float *b = e % 2 ? NULL : bias, *zs = e & 2 ? z : NULL; /* Z: a fused residual Add */
            memset(y, 0xff, sizeof(float) * (size_t)ny); /* NaN: an output left unwritten fails */
            if (test_rows)
                ox_wino_conv_bands(&ctx, isa, &g, test_rows, x, u, b, zs, &epis[e], s, y);
            else
                ox_wino_conv(&ctx, isa, &g, x, u, b, zs, &epis[e], s, y);
            ran++;
            for (int64_t i = 0; i < ny; i++) {
                float want = ox_act_apply(&epis[e], (float)(ref[i] + (b ? b[i / (g.oh * g.ow)] : 0) + (zs ? zs[i] : 0)));
                if (!near(want, y[i], 2e-5f * (float)(1 + mag[i])) && bad++ < 5)
                    printf("  %s %d thread(s) r %d rows %d shape %d act %d [%lld]: want %g got %g\n", name, nth,
                           test_r, test_rows, si, epis[e].act, (long long)i, want, y[i]);
            }
        }
        free(x);
        free(w);
        free(bias);
        free(z);
        free(u);
        free(s);
        free(y);
        free(ref);
        free(mag);
    }
    CHECK(ran == N_SHAPES * N_EPIS);
    CHECK(bad == 0);
}

/* ox_wino_conv_batch: nb images of a small map (their tiles side by side in each GEMM) on a
 * pool of nth threads, each image against the direct conv (tolerance as test_conv), Z and
 * an activation on every other call */
static void test_conv_batch(enum ox_isa isa, const char *name, struct tpool *pool, int nth)
{
    static const int bshapes[][8] = {/* c, m, h, w, pt, pl, pb, pr: 7x7 (4 tiles), 5x6, 12x9 */
                                     {40, 36, 7, 7, 1, 1, 1, 1}, {17, 29, 5, 6, 1, 1, 1, 1}, {33, 20, 12, 9, 1, 1, 1, 1}};
    struct ox_ctx ctx = {.pool = pool, .nth = nth};
    int bad = 0;
    for (size_t si = 0; si < sizeof bshapes / sizeof *bshapes; si++) {
        const int *sh = bshapes[si];
        struct ox_wino g;
        ox_wino_geom_r(&g, test_r, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[2] + sh[4] + sh[6] - 2, sh[3] + sh[5] + sh[7] - 2);
        for (int nb = 2; nb <= 9; nb += 7) { /* 2, 9 (more columns than a block at 7x7) */
            int64_t xs = g.c * g.h * g.w, ys = g.m * g.oh * g.ow;
            float *x = rnd_buf(nb * xs, 4.0f), *w = rnd_buf(g.m * g.c * 9, 1.0f), *bias = rnd_buf(g.m, 1.0f);
            float *z = rnd_buf(nb * ys, 2.0f), *y = malloc(sizeof(float) * (size_t)(nb * ys));
            float *u = malloc(sizeof(float) * (size_t)pack_size(g.m, g.c));
            float *s = malloc(sizeof(float) * (size_t)(ox_wino_scratch(&g) * nb));
            double *ref = malloc(sizeof(double) * (size_t)ys), *mag = malloc(sizeof(double) * (size_t)ys);
            pack(w, g.m, g.c, u);
            const struct ox_epi *ep = &epis[(si + (size_t)nb) % N_EPIS];
            const float *zs = nb % 2 ? z : NULL;
            memset(y, 0xff, sizeof(float) * (size_t)(nb * ys)); /* NaN: an output left unwritten fails */
            ox_wino_conv_batch(&ctx, isa, &g, nb, x, u, bias, zs, ep, s, y);
            for (int b = 0; b < nb; b++) {
                direct(&g, x + b * xs, w, ref, mag);
                for (int64_t i = 0; i < ys; i++) {
                    float want = ox_act_apply(ep, (float)(ref[i] + bias[i / (g.oh * g.ow)] + (zs ? zs[b * ys + i] : 0)));
                    if (!near(want, y[b * ys + i], 2e-5f * (float)(1 + mag[i])) && bad++ < 5)
                        printf("  %s batch %d of %d, %d thread(s), shape %zu [%lld]: want %g got %g\n", name, b, nb, nth,
                               si, (long long)i, want, y[b * ys + i]);
                }
            }
            free(x);
            free(w);
            free(bias);
            free(z);
            free(y);
            free(u);
            free(s);
            free(ref);
            free(mag);
        }
    }
    CHECK(bad == 0);
}

/* the 36 values of one transformed kernel, against G g G^T written out for a delta kernel */
static void test_kernel(void)
{
    float g[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, u[36];
    ox_wino_kernel(g, u); /* centre tap: U = G[:,1] G[:,1]^T */
    static const double g1[6] = {0, -1.0 / 6, 1.0 / 6, 1.0 / 12, -1.0 / 12, 0};
    for (int i = 0; i < 36; i++)
        CHECK(fabs(u[i] - g1[i / 6] * g1[i % 6]) < 1e-7);
}

/* Conv (k x k, stride s, pad k/2, bias) -> Relu [-> Add(., x) when res] on x (N, c, h, w)
 * into *out */
static void encode_conv(struct buf *out, int c, int m, int h, int w, int k, int s, int res)
{
    struct buf g;
    buf_init(&g, 1 << 24); /* room for a 512x512x3x3 weight */
    gb_node(&g, &(struct gb_node){"Conv", "x,w,b", "cv",
                                  {{.name = "pads", .type = 7, .ints = {k / 2, k / 2, k / 2, k / 2}, .n_ints = 4},
                                   {.name = "strides", .type = 7, .ints = {s, s}, .n_ints = 2}}});
    gb_node(&g, &(struct gb_node){"Relu", "cv", res ? "r" : "y", {{0}}});
    if (res)
        gb_node(&g, &(struct gb_node){"Add", "r,x", "y", {{0}}});
    pbw_str(&g, 2, "conv");
    int64_t nw = (int64_t)m * c * k * k;
    float *wv = rnd_buf(nw, 1.0f / sqrtf((float)(c * k * k))), *bv = rnd_buf(m, 0.2f);
    gb_init(&g, "w", 1, 4, (const int64_t[]){m, c, k, k}, wv, (size_t)nw * sizeof *wv);
    gb_init(&g, "b", 1, 1, (const int64_t[]){m}, bv, (size_t)m * sizeof *bv);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, c, h, w});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(out, &g, 13);
    free(wv);
    free(bv);
}

static void test_conv_threads(void)
{
    static const int cases[][7] = {/* c, m, h, w, k, s, residual */
                                   {32, 40, 19, 21, 3, 1, 0}, {36, 36, 17, 24, 3, 1, 1}, {33, 48, 12, 13, 1, 1, 0},
                                   {32, 40, 19, 21, 3, 2, 0}, {40, 40, 7, 7, 3, 1, 1},
                                   {512, 512, 7, 7, 3, 1, 1},  /* F(2x2,3x3) at batch 1 */
                                   {32, 32, 99, 101, 3, 1, 1}, /* 25 tile rows: bands of 4 at most (7) */
                                   {40, 40, 90, 61, 3, 1, 0},  /* 23 tile rows: bands of 5 at most (5) */
                                   {64, 64, 56, 56, 3, 1, 1},  /* bands of 4 tile rows at most (ox_wino_band_rows): 3+4+3+4 */
                                   {32, 32, 33, 41, 3, 1, 0},  /* halves of an odd count (99 tiles): 4 + 5 tile rows */
                                   {128, 128, 28, 28, 3, 1, 1}, /* whole map: 49 tiles, 32 + 17 columns */
                                   {256, 256, 14, 14, 3, 1, 0}}; /* whole map: 16 tiles */
    enum { NP = 4 }; /* 1, 2, 3 and 4 threads */
    struct tpool *pools[NP] = {NULL, tpool_new(2), tpool_new(3), tpool_new(4)};
    const int have_pools = pools[1] && pools[2] && pools[3];
    CHECK(have_pools);
    uint32_t keep = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0] && have_pools; ci++) {
        const int *cs = cases[ci];
        if (ci == 6)
            keep = seed;
        struct buf mb;
        buf_init(&mb, 1 << 24);
        encode_conv(&mb, cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6]);
        struct inferd_onnx_model *mods[NP] = {NULL, NULL, NULL, NULL};
        int loaded = 1;
        for (int t = 0; t < NP; t++) {
            struct inferd_err err = {0};
            int rc = inferd_onnx_load_buffer(mb.data, mb.len, &(struct inferd_onnx_options){.pool = pools[t]},
                                             &mods[t], &err);
            if (rc < 0)
                fprintf(stderr, "conv case %zu: load: %s\n", ci, err.msg);
            CHECK(rc == 0);
            loaded = loaded && rc == 0;
        }
        for (int bt = 1; bt <= 8 && loaded; bt = bt == 1 ? 3 : bt + 5) { /* 1, 3, 8 */
            int64_t n = (int64_t)bt * cs[0] * cs[2] * cs[3];
            float *x = rnd_buf(n, 1.0f), *y[NP] = {NULL, NULL, NULL, NULL};
            struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, cs[0], cs[2], cs[3]}, .data = x,
                                       .nbytes = (size_t)n * sizeof *x};
            int64_t ny[NP];
            for (int t = 0; t < NP; t++) {
                ny[t] = gb_run(mods[t], &in, 1, "conv", &y[t]);
                CHECK(ny[t] > 0 && ny[t] == ny[0]);
            }
            for (int t = 1; t < NP && ny[0] > 0 && ny[0] == ny[t]; t++) {
                int same = memcmp(y[0], y[t], (size_t)ny[0] * sizeof *y[0]) == 0;
                if (!same)
                    printf("  conv case %zu batch %d: %d threads differ from 1\n", ci, bt, t + 1);
                CHECK(same);
            }
            for (int t = 0; t < NP; t++)
                free(y[t]);
            free(x);
        }
        for (int t = 0; t < NP; t++)
            inferd_onnx_free(mods[t]);
        buf_free(&mb);
    }
    /* the banded cases leave the sequence where the six before left it: the tests after
     * draw the inputs they were written against (test_transforms' 1e-5 is tight on some) */
    seed = keep ? keep : seed;
    for (int t = 1; t < NP; t++)
        tpool_free(pools[t]);
}

/* ox_wino_conv_bands at 1, 2 and 3 tile rows a band (bands cutting every map above
 * unevenly: 1 to 33 tile rows, one-sided and 2-wide pads) on 1 and 2 threads */
static void test_conv_bands(enum ox_isa isa, const char *name, struct tpool *pool)
{
    for (test_rows = 1; test_rows <= 3; test_rows++) {
        test_conv(isa, name, NULL, 1);
        test_conv(isa, name, pool, 2);
    }
    test_rows = 0;
}

static void run_isa(enum ox_isa isa, const char *name, struct tpool *pool)
{
    test_transforms(isa, name);
    test_conv(isa, name, NULL, 1);
    test_conv(isa, name, pool, 2);
    test_conv_bands(isa, name, pool);
    test_conv_batch(isa, name, NULL, 1);
    test_conv_batch(isa, name, pool, 2);
    test_r = 2; /* F(2x2,3x3): its transforms are the reference's on every isa, its GEMMs isa's */
    test_conv(isa, name, NULL, 1);
    test_conv(isa, name, pool, 2);
    test_conv_bands(isa, name, pool);
    test_conv_batch(isa, name, NULL, 1);
    test_conv_batch(isa, name, pool, 2);
    test_r = 4;
}

/* ox_wino_band_rows on the maps test_conv_threads runs: which take halves, bands within a
 * half, or bands (F(4x4,3x3), pads 1, the output the input's size) */
static void test_band_rule(void)
{
    static const int64_t cases[][4] = {/* c (= m), h, w, want rows */
                                       {64, 56, 56, 4},   /* 14 tile rows, 1.8 MB of V + P a half: bands of 4 */
                                       {32, 33, 41, 5},   /* 9 tile rows, a half within 1 MB: halves (5 + 4) */
                                       {32, 99, 101, 4},  /* past OX_WINO_BAND_MIN: bands within 1 MB */
                                       {128, 28, 28, 0},  /* U 2.4 MB: the whole map */
                                       {256, 14, 14, 0}}; /* the whole map */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t *cs = cases[i];
        struct ox_wino g;
        ox_wino_geom(&g, cs[0], cs[0], cs[1], cs[2], 1, 1, cs[1], cs[2]);
        int64_t rows = ox_wino_band_rows(&g);
        if (rows != cs[3])
            printf("  band rule: %lldx%lld at %lld channels took %lld tile rows a band, want %lld\n",
                   (long long)cs[1], (long long)cs[2], (long long)cs[0], (long long)rows, (long long)cs[3]);
        CHECK(rows == cs[3]);
    }
}

int main(void)
{
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    test_kernel();
    test_band_rule();
    test_conv_threads(); /* the kernels cpu_has() picks (INFERD_CPU_DISABLE for the others) */
    run_isa(OX_ISA_REF, "ref", pool);
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        run_isa(OX_ISA_AVX2, "avx2", pool);
    else
        printf("no AVX2+FMA: AVX2 Winograd kernels not tested\n");
    if (cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX2 | CPU_FMA))
        run_isa(OX_ISA_AVX512, "avx512", pool);
    else
        printf("no AVX-512F: AVX-512 Winograd kernels not tested\n");
    tpool_free(pool);
    return check_finish();
}
