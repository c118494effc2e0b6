/* test_onnx_conv.c — the conv kernels of conv_kern.h: the packed-weight GEMM with bias and
 * every fused activation, the first-layer direct conv (conv_stem.h; also with X between
 * PROT_NONE pages, as its stride-2 rows are split straight from X), the depthwise kernel
 * (3x3 and 5x5, stride 1 and 2, odd pads and sizes), the GEMM's K / column / panel
 * blocking, its im2col view, a batch as one GEMM, B packed ahead (with a planted fault) and
 * narrow column blocks' larger K blocks (bit-equal to B packed ahead),
 * AVX2 and AVX-512 versions against the portable scalar references
 * (|diff| <= 1e-4 * (1 + |ref|)). A version whose ISA the CPU lacks is skipped with a
 * message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cpu.h"
#include "check.h"
#include "onnx/conv_kern.h"
#include "onnx/conv_stem.h"

#define CONV_TEST_SEED 7
#include "conv_test_rand.h"

static const struct ox_epi epis[] = CONV_TEST_EPIS;
#define N_EPIS (int)(sizeof epis / sizeof *epis)

static int close_all(const float *ref, const float *got, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(ref[i] - got[i]) <= 1e-4f * (1.0f + fabsf(ref[i])))) {
            printf("  element %lld: ref %g got %g\n", (long long)i, ref[i], got[i]);
            return 0;
        }
    return 1;
}

static void test_gemm(enum ox_isa isa, const char *name)
{
    static const int ms[] = {1, 5, 6, 7, 12, 13, 25, 40};
    static const int ns[] = {1, 2, 5, 7, 16, 17, 18, 31, 32, 33, 35, 49, 52, 67, 100};
    static const int ks[] = {1, 3, 8, 27, 144};
    int bad = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                int64_t m = ms[mi], n = ns[ni], k = ks[ki], ldb = n + 3, ldc = n + 5;
                float *w = rnd_buf(m * k, 4.0f), *b = rnd_buf(k * ldb, 4.0f), *bias = rnd_buf(m, 4.0f),
                      *z = rnd_buf(m * ldc, 4.0f);
                float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
                float *c1 = calloc((size_t)(m * ldc), sizeof(float)), *c2 = calloc((size_t)(m * ldc), sizeof(float));
                ox_conv_pack(w, m, k, wp);
                int64_t panels = (m + OX_CV_MR - 1) / OX_CV_MR;
                for (int e = 0; e < 2 * N_EPIS; e++) { /* each activation without and with a sum Z */
                    struct ox_conv_gemm g = {wp, b, c1, (e & 1) ? bias : NULL, m, k, n, ldb, ldc, epis[e % N_EPIS],
                                             e >= N_EPIS ? z : NULL, 0, 0, 0};
                    ox_conv_gemm_ref(&g, 0, panels, 0, n);
                    g.c = c2;
                    /* two calls over split column ranges, as threads would do */
                    ox_conv_gemm_run(isa, &g, 0, panels, 0, n / 2);
                    ox_conv_gemm_run(isa, &g, 0, panels, n / 2, n);
                    if (!close_all(c1, c2, m * ldc) && bad++ < 5)
                        printf("  %s gemm m=%lld n=%lld k=%lld act=%d sum=%d differs\n", name, (long long)m,
                               (long long)n, (long long)k, epis[e % N_EPIS].act, e >= N_EPIS);
                }
                /* the scalar reference itself against a plain triple loop, with the sum Z */
                struct ox_conv_gemm g = {wp, b, c1, bias, m, k, n, ldb, ldc, {OX_ACT_NONE, 0, 0}, z, 0, 0, 0};
                ox_conv_gemm_ref(&g, 0, panels, 0, n);
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        float s = bias[i] + z[i * ldc + j];
                        for (int64_t p = 0; p < k; p++)
                            s += w[i * k + p] * b[p * ldb + j];
                        CHECK(fabsf(s - c1[i * ldc + j]) <= 1e-4f * (1.0f + fabsf(s)));
                    }
                free(w);
                free(b);
                free(bias);
                free(z);
                free(wp);
                free(c1);
                free(c2);
            }
    CHECK(bad == 0);
}

/* The blocking of the SIMD GEMM (conv_kern.h): K over several blocks, not a multiple of
 * OX_CV_KC; N over several column blocks of OX_CV_NB with tails of every strip width; M
 * tails; column ranges split off the block grid, as a thread's range may be. */
static void test_gemm_blocked(enum ox_isa isa, const char *name)
{
    static const int shapes[][3] = {/* m, n, k */
                                    {13, 130, 300}, {25, 257, 513},  {7, 300, 257},  {40, 129, 700},
                                    {12, 3, 1030},  {30, 160, 256},  {1, 200, 1000}, {36, 49, 4608},
                                    {25, 163, 600}, {24, 50, 700}};
    int bad = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2], ldb = n + 1, ldc = n + 2;
        float *w = rnd_buf(m * k, 4.0f), *b = rnd_buf(k * ldb, 4.0f), *bias = rnd_buf(m, 4.0f),
              *z = rnd_buf(m * ldc, 4.0f);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *c1 = calloc((size_t)(m * ldc), sizeof(float)), *c2 = calloc((size_t)(m * ldc), sizeof(float));
        ox_conv_pack(w, m, k, wp);
        int64_t panels = (m + OX_CV_MR - 1) / OX_CV_MR, cut = n / 3;
        for (int e = 0; e < N_EPIS; e += 3) { /* Z (added after the last K block) with NONE and SILU */
            struct ox_conv_gemm g = {wp, b, c1, bias, m, k, n, ldb, ldc, epis[e], e != 3 ? z : NULL, 0, 0, 0};
            ox_conv_gemm_ref(&g, 0, panels, 0, n);
            g.c = c2;
            ox_conv_gemm_run(isa, &g, 0, panels / 2, 0, n);
            ox_conv_gemm_run(isa, &g, panels / 2, panels, 0, cut);
            ox_conv_gemm_run(isa, &g, panels / 2, panels, cut, n);
            if (!close_all(c1, c2, m * ldc) && bad++ < 5)
                printf("  %s blocked gemm m=%lld n=%lld k=%lld act=%d differs\n", name, (long long)m, (long long)n,
                       (long long)k, epis[e].act);
        }
        free(w);
        free(b);
        free(bias);
        free(z);
        free(wp);
        free(c1);
        free(c2);
    }
    CHECK(bad == 0);
}

/* The GEMM over an im2col view against the reference, and the reference against a GEMM
 * over an explicit im2col matrix: kernels 1..11, strides 1..3, dilation, pads, maps wider
 * and narrower than a strip (down to one column). */
static void test_gemm_im2col(enum ox_isa isa, const char *name)
{
    static const int cases[][9] = {/* c, h, w, kh, kw, s, d, pad, m */
                                   {3, 17, 19, 3, 3, 1, 1, 1, 13}, {4, 23, 40, 7, 7, 2, 1, 3, 16},
                                   {5, 9, 9, 3, 3, 2, 1, 1, 25},   {2, 30, 31, 3, 5, 1, 2, 2, 7},
                                   {40, 7, 7, 3, 3, 1, 1, 1, 12},  {3, 12, 70, 1, 1, 3, 1, 0, 5},
                                   {33, 14, 14, 3, 3, 1, 1, 0, 30}, {2, 12, 30, 3, 11, 1, 1, 4, 7},
                                   {2, 20, 41, 9, 9, 2, 1, 4, 5},  {3, 11, 1, 3, 1, 1, 1, 1, 6}};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int *t = cases[ci];
        int64_t c = t[0], h = t[1], wd = t[2], kh = t[3], kw = t[4], s = t[5], d = t[6], pad = t[7], m = t[8];
        int64_t oh = (h + 2 * pad - d * (kh - 1) - 1) / s + 1, ow = (wd + 2 * pad - d * (kw - 1) - 1) / s + 1;
        int64_t k = c * kh * kw, n = oh * ow, panels = (m + OX_CV_MR - 1) / OX_CV_MR;
        float *x = rnd_buf(c * h * wd, 4.0f), *w = rnd_buf(m * k, 4.0f), *bias = rnd_buf(m, 4.0f),
              *z = rnd_buf(m * n, 4.0f), *cols = malloc(sizeof(float) * (size_t)(k * n));
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *y1 = calloc((size_t)(m * n), sizeof(float)), *y2 = calloc((size_t)(m * n), sizeof(float));
        ox_conv_pack(w, m, k, wp);
        struct ox_conv_im2col im = {x, h, wd, kh, kw, s, s, d, d, pad, pad, ow, 0};
        for (int64_t r = 0; r < k; r++) {
            int64_t cc = r / (kh * kw), ky = r / kw % kh, kx = r % kw;
            for (int64_t j = 0; j < n; j++) {
                int64_t iy = j / ow * s - pad + ky * d, ix = j % ow * s - pad + kx * d;
                cols[r * n + j] = iy >= 0 && iy < h && ix >= 0 && ix < wd ? x[(cc * h + iy) * wd + ix] : 0.0f;
            }
        }
        for (int e = 0; e < N_EPIS; e += 2) {
            struct ox_conv_gemm g = {wp, cols, y1, bias, m, k, n, n, n, epis[e], (e & 2) ? z : NULL, 0, 0, 0};
            ox_conv_gemm_ref(&g, 0, panels, 0, n);
            g.c = y2;
            ox_conv_gemm_im2col_ref(&g, &im, 0, panels, 0, n);
            if (!close_all(y1, y2, m * n) && bad++ < 5)
                printf("  ref im2col gemm case %zu differs from the explicit im2col\n", ci);
            memset(y2, 0, sizeof(float) * (size_t)(m * n));
            g.b = NULL;
            ox_conv_gemm_im2col_run(isa, &g, &im, 0, panels, 0, n / 2);
            ox_conv_gemm_im2col_run(isa, &g, &im, 0, panels, n / 2, n);
            if (!close_all(y1, y2, m * n) && bad++ < 5)
                printf("  %s im2col gemm case %zu act=%d differs\n", name, ci, epis[e].act);
        }
        free(x);
        free(w);
        free(bias);
        free(z);
        free(cols);
        free(wp);
        free(y1);
        free(y2);
    }
    CHECK(bad == 0);
}

/* B packed ahead (ox_conv_prepack + ox_conv_gemm_pre, what ops/conv.c runs on one image with
 * several threads) against the reference: the im2col view (3x3 stride 1 and 2, 1x1 stride 2,
 * a 7x7 map's single block of columns, K over several blocks) and a plain B; the items packed
 * in two calls, the tiles over column ranges cut at a block and panel ranges cut in two, as
 * threads run them; writes stay inside ox_conv_prepack_size (a guard past it is untouched).
 * Then a planted fault: one packed float changed must change Y (the tiles read bp). */
static void test_gemm_pre(enum ox_isa isa, const char *name)
{
    static const int cases[][8] = {/* c, h, w, k (kh = kw), s, pad, m, im2col */
                                   {64, 7, 7, 3, 1, 1, 30, 1},   {40, 14, 14, 3, 2, 1, 25, 1},
                                   {24, 28, 28, 1, 2, 0, 13, 1}, {300, 7, 7, 3, 1, 1, 12, 1},
                                   {20, 19, 17, 3, 1, 1, 40, 1}, {600, 5, 40, 1, 1, 0, 26, 0}};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int *t = cases[ci];
        int64_t c = t[0], h = t[1], wd = t[2], kh = t[3], s = t[4], pad = t[5], m = t[6];
        int64_t oh = (h + 2 * pad - kh) / s + 1, ow = (wd + 2 * pad - kh) / s + 1;
        int64_t k = c * kh * kh, n = oh * ow, panels = (m + OX_CV_MR - 1) / OX_CV_MR;
        int64_t items = ox_conv_prepack_items(k, n), size = ox_conv_prepack_size(isa, k, n);
        float *x = rnd_buf(c * h * wd, 4.0f), *w = rnd_buf(m * k, 4.0f), *bias = rnd_buf(m, 4.0f),
              *z = rnd_buf(m * n, 4.0f), *bp = malloc(sizeof(float) * (size_t)(size + 64));
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *y1 = calloc((size_t)(m * n), sizeof(float)), *y2 = calloc((size_t)(m * n), sizeof(float));
        ox_conv_pack(w, m, k, wp);
        struct ox_conv_im2col im = {x, h, wd, kh, kh, s, s, 1, 1, pad, pad, ow, 0};
        const struct ox_conv_im2col *view = t[7] ? &im : NULL;
        int64_t cut = n > OX_CV_NB ? OX_CV_NB : 0;
        for (int e = 0; e < N_EPIS; e += 2) {
            /* a plain B is X itself, (C, H*W) */
            struct ox_conv_gemm g = {wp, t[7] ? NULL : x, y1, bias, m, k, n, n, n, epis[e], (e & 2) ? z : NULL, 0, 0, 0};
            if (view)
                ox_conv_gemm_im2col_ref(&g, view, 0, panels, 0, n);
            else
                ox_conv_gemm_ref(&g, 0, panels, 0, n);
            for (int i = 0; i < 64; i++)
                bp[size + i] = 12345.0f;
            ox_conv_prepack_run(isa, &g, view, bp, 0, items / 2);
            ox_conv_prepack_run(isa, &g, view, bp, items / 2, items);
            g.c = y2;
            memset(y2, 0, sizeof(float) * (size_t)(m * n));
            ox_conv_gemm_pre_run(isa, &g, bp, 0, panels / 2, 0, n);
            if (cut)
                ox_conv_gemm_pre_run(isa, &g, bp, panels / 2, panels, 0, cut);
            ox_conv_gemm_pre_run(isa, &g, bp, panels / 2, panels, cut, n);
            int guard = 1;
            for (int i = 0; i < 64; i++)
                guard &= bp[size + i] == 12345.0f;
            if ((!guard || !close_all(y1, y2, m * n)) && bad++ < 5)
                printf("  %s prepacked gemm case %zu act=%d differs (guard %d)\n", name, ci, epis[e].act, guard);
        }
        /* planted fault: row 0 of the last block's first column, a float every layout uses */
        bp[(n - 1) / OX_CV_NB * OX_CV_NB * k] += 1000.0f;
        printf("  %s case %zu, a planted fault (an element must differ):\n", name, ci);
        struct ox_conv_gemm g = {wp, t[7] ? NULL : x, y2, bias, m, k, n, n, n, epis[0], NULL, 0, 0, 0};
        ox_conv_gemm_pre_run(isa, &g, bp, 0, panels, 0, n);
        g.c = y1;
        if (view)
            ox_conv_gemm_im2col_ref(&g, view, 0, panels, 0, n);
        else
            ox_conv_gemm_ref(&g, 0, panels, 0, n);
        if (close_all(y1, y2, m * n) && bad++ < 5)
            printf("  %s prepacked gemm case %zu: the planted fault went unseen\n", name, ci);
        free(x);
        free(w);
        free(bias);
        free(z);
        free(bp);
        free(wp);
        free(y1);
        free(y2);
    }
    CHECK(bad == 0);
}

/* A column block of one or two strips whose weights pass 1 MiB (a 7x7 map's 49 columns at
 * batch 1, a Winograd GEMM's 16 tiles): packed in the GEMM, its K blocks are up to
 * OX_CV_KC2 rows (whole ox_conv_kc blocks), B packed ahead keeps ox_conv_kc's; the two must
 * give the same bits (the tiles' sums chain through Y between blocks, strip_col sums per
 * ox_conv_kc block) and stay close to the reference. One and two strips of both ISAs
 * (AVX-512 9-64 columns, AVX2 9-32), one block of K and several (a short last one: 1030,
 * 2700), panels short of 12 rows (strip_col), Z, the im2col view (a 3x3 stride-2 conv to a
 * 7x7 map) and panel ranges cut in two. */
static void test_gemm_narrow(enum ox_isa isa, const char *name)
{
    static const int cases[][4] = {/* m, n, k, im2col (k: input channels) */
                                   {512, 49, 512, 0},  {512, 49, 2048, 0}, {100, 33, 2700, 0}, {64, 64, 4608, 0},
                                   {512, 25, 1030, 0}, {300, 20, 1024, 0}, {512, 49, 64, 1},  {130, 49, 300, 1},
                                   {512, 16, 512, 0},  {100, 9, 2700, 0}};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int *t = cases[ci];
        int64_t m = t[0], n = t[1], k = t[2], panels = (m + OX_CV_MR - 1) / OX_CV_MR;
        struct ox_conv_im2col im = {NULL, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 7, 0};
        float *x = NULL;
        if (t[3]) { /* c = t[2] channels of 14x14, 3x3 stride 2 pad 1: a 7x7 map */
            x = rnd_buf(k * 14 * 14, 4.0f);
            im.x = x;
            k *= 9;
        }
        const struct ox_conv_im2col *view = t[3] ? &im : NULL;
        int64_t items = ox_conv_prepack_items(k, n), size = ox_conv_prepack_size(isa, k, n);
        float *w = rnd_buf(m * k, 4.0f), *b = view ? NULL : rnd_buf(k * n, 4.0f), *bias = rnd_buf(m, 4.0f),
              *z = rnd_buf(m * n, 4.0f), *bp = malloc(sizeof(float) * (size_t)size);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *y0 = calloc((size_t)(m * n), sizeof(float)), *y1 = calloc((size_t)(m * n), sizeof(float)),
              *y2 = calloc((size_t)(m * n), sizeof(float));
        ox_conv_pack(w, m, k, wp);
        CHECK(m * k >= (1 << 18));
        for (int e = 0; e < N_EPIS; e += 2) {
            struct ox_conv_gemm g = {wp, b, y0, bias, m, k, n, n, n, epis[e], (e & 2) ? z : NULL, 0, 0, 0};
            if (view)
                ox_conv_gemm_im2col_ref(&g, view, 0, panels, 0, n);
            else
                ox_conv_gemm_ref(&g, 0, panels, 0, n);
            g.c = y1;
            if (view) {
                ox_conv_gemm_im2col_run(isa, &g, view, 0, panels / 2, 0, n);
                ox_conv_gemm_im2col_run(isa, &g, view, panels / 2, panels, 0, n);
            } else {
                ox_conv_gemm_run(isa, &g, 0, panels / 2, 0, n);
                ox_conv_gemm_run(isa, &g, panels / 2, panels, 0, n);
            }
            ox_conv_prepack_run(isa, &g, view, bp, 0, items);
            g.c = y2;
            ox_conv_gemm_pre_run(isa, &g, bp, 0, panels, 0, n);
            if ((!close_all(y0, y1, m * n) || memcmp(y1, y2, sizeof(float) * (size_t)(m * n)) != 0) && bad++ < 5)
                printf("  %s narrow-block gemm case %zu act=%d differs\n", name, ci, epis[e].act);
        }
        free(x);
        free(w);
        free(b);
        free(bias);
        free(z);
        free(bp);
        free(wp);
        free(y0);
        free(y1);
        free(y2);
    }
    CHECK(bad == 0);
}

/* A batch as one GEMM (g->seg): the 1x1 view (B the images themselves) and the im2col view,
 * tiles across image boundaries (OH*OW not a multiple of a tile; OH*OW = 16: every 32-column
 * tile two images), several K blocks, Z and column ranges split at odd points (multiples of
 * OH*OW where it is under OX_CV_SEGMIN); against the per-image reference. */
static void test_gemm_batch(enum ox_isa isa, const char *name)
{
    static const int cases[][10] = {/* batch, c, h, w, kh, kw, s, pad, m, 1x1 view */
                                    {2, 40, 7, 7, 3, 3, 1, 1, 13, 0},  {3, 7, 7, 7, 1, 1, 1, 0, 25, 1},
                                    {3, 300, 6, 7, 1, 1, 1, 0, 12, 1}, {2, 5, 14, 14, 1, 1, 2, 0, 17, 0},
                                    {2, 3, 23, 24, 7, 7, 2, 3, 16, 0}, {4, 9, 9, 9, 3, 3, 1, 1, 5, 0},
                                    {2, 30, 11, 13, 3, 3, 2, 1, 30, 0},
                                    /* OH*OW = 16 (ox_conv_seg_ok): a ViT's patch embedding
                                     * (kernel == stride 8 on 32x32), a padded 3x3 and a 1x1 */
                                    {3, 3, 32, 32, 8, 8, 8, 0, 64, 0}, {5, 3, 32, 32, 8, 8, 8, 0, 40, 0},
                                    {3, 20, 8, 8, 3, 3, 2, 1, 27, 0},  {3, 9, 4, 4, 1, 1, 1, 0, 13, 1}};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int *t = cases[ci];
        int64_t nb = t[0], c = t[1], h = t[2], wd = t[3], kh = t[4], kw = t[5], s = t[6], pad = t[7], m = t[8];
        int64_t oh = (h + 2 * pad - kh) / s + 1, ow = (wd + 2 * pad - kw) / s + 1, ohw = oh * ow, k = c * kh * kw;
        int64_t panels = (m + OX_CV_MR - 1) / OX_CV_MR, n = nb * ohw;
        CHECK(ox_conv_seg_ok(ohw));
        float *x = rnd_buf(nb * c * h * wd, 4.0f), *w = rnd_buf(m * k, 4.0f), *bias = rnd_buf(m, 4.0f),
              *z = rnd_buf(nb * m * ohw, 4.0f);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *y1 = calloc((size_t)(nb * m * ohw), sizeof(float)), *y2 = calloc((size_t)(nb * m * ohw), sizeof(float));
        ox_conv_pack(w, m, k, wp);
        for (int e = 0; e < N_EPIS; e += 3) {
            const float *zz = e ? z : NULL;
            for (int64_t b = 0; b < nb; b++) { /* per image */
                struct ox_conv_im2col im = {x + b * c * h * wd, h, wd, kh, kw, s, s, 1, 1, pad, pad, ow, 0};
                struct ox_conv_gemm g = {wp, x + b * c * h * wd, y1 + b * m * ohw, bias, m, k, ohw, ohw, ohw,
                                         epis[e], zz ? zz + b * m * ohw : NULL, 0, 0, 0};
                if (t[9])
                    ox_conv_gemm_ref(&g, 0, panels, 0, ohw);
                else
                    ox_conv_gemm_im2col_ref(&g, &im, 0, panels, 0, ohw);
            }
            struct ox_conv_im2col im = {x, h, wd, kh, kw, s, s, 1, 1, pad, pad, ow, c * h * wd};
            struct ox_conv_gemm g = {wp, t[9] ? x : NULL, y2, bias, m, k, n, t[9] ? ohw : 0, ohw, epis[e], zz,
                                     ohw, c * h * wd, m * ohw};
            for (int pass = 0; pass < 2; pass++) { /* the reference, then the ISA's */
                memset(y2, 0, sizeof(float) * (size_t)(nb * m * ohw));
                enum ox_isa use = pass ? isa : OX_ISA_REF;
                int64_t cuts[] = {0, ohw / 2 + 1, ohw + 3, n - 1, n}; /* odd column ranges, one a single column */
                if (ohw < OX_CV_SEGMIN) { /* ranges from multiples of seg (ox_conv_seg_ok), a tile's tail */
                    cuts[1] = 2 * ohw, cuts[2] = 2 * ohw, cuts[3] = n - ohw; /* nb >= 3 */
                }
                for (int ri = 0; ri + 1 < (int)(sizeof cuts / sizeof *cuts); ri++) {
                    if (t[9])
                        ox_conv_gemm_run(use, &g, 0, panels, cuts[ri], cuts[ri + 1]);
                    else
                        ox_conv_gemm_im2col_run(use, &g, &im, 0, panels, cuts[ri], cuts[ri + 1]);
                }
                if (!close_all(y1, y2, nb * m * ohw) && bad++ < 5)
                    printf("  %s batch gemm case %zu act=%d (%s) differs\n", name, ci, epis[e].act,
                           pass ? "simd" : "ref");
            }
        }
        free(x);
        free(w);
        free(bias);
        free(z);
        free(wp);
        free(y1);
        free(y2);
    }
    CHECK(bad == 0);
}

static void test_dw(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{1, 1}, {5, 7}, {8, 8}, {13, 17}, {28, 33}, {56, 40}};
    int bad = 0, ran = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int kk = 3; kk <= 5; kk += 2)
            for (int s = 1; s <= 2; s++)
                for (int pad = 0; pad <= kk / 2; pad += kk / 2) {
                    int64_t h = sizes[si][0], wd = sizes[si][1], c = 3, planes = 2 * c;
                    int64_t oh = (h + 2 * pad - kk) / s + 1, ow = (wd + 2 * pad - kk) / s + 1;
                    if (oh < 1 || ow < 1)
                        continue;
                    float *x = rnd_buf(planes * h * wd, 4.0f), *w = rnd_buf(c * kk * kk, 4.0f),
                          *bias = rnd_buf(c, 4.0f);
                    float *y1 = calloc((size_t)(planes * oh * ow), sizeof(float));
                    float *y2 = calloc((size_t)(planes * oh * ow), sizeof(float));
                    for (int e = 0; e < N_EPIS; e++) {
                        struct ox_dw d = {x, w, (e & 1) ? NULL : bias, y1, c, h, wd, kk, kk, s, s, 1, 1, pad, pad,
                                          oh, ow, epis[e], 0, 0, 0};
                        CHECK(ox_dw_simd_ok(&d));
                        ox_dw_ref(&d, 0, planes);
                        d.y = y2;
                        ox_dw_run(isa, &d, 0, 1);
                        ox_dw_run(isa, &d, 1, planes);
                        ran++;
                        if (!close_all(y1, y2, planes * oh * ow) && bad++ < 5)
                            printf("  %s dw %lldx%lld k%d s%d pad%d act=%d differs\n", name, (long long)h,
                                   (long long)wd, kk, s, pad, epis[e].act);
                    }
                    /* reference spot check: output (0,0) of plane 0 with no activation */
                    struct ox_dw d = {x, w, bias, y1, c, h, wd, kk, kk, s, s, 1, 1, pad, pad, oh, ow, {0, 0, 0}, 0, 0, 0};
                    ox_dw_ref(&d, 0, 1);
                    float want = bias[0];
                    for (int ky = 0; ky < kk; ky++)
                        for (int kx = 0; kx < kk; kx++) {
                            int64_t iy = ky - pad, ix = kx - pad;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < wd)
                                want += x[iy * wd + ix] * w[ky * kk + kx];
                        }
                    CHECK(fabsf(want - y1[0]) <= 1e-4f * (1.0f + fabsf(want)));
                    free(x);
                    free(w);
                    free(bias);
                    free(y1);
                    free(y2);
                }
    CHECK(ran > 100);
    CHECK(bad == 0);
}

/* channel-blocked depthwise against the reference: channel counts that are not a multiple
 * of the lanes (3, 13, 19, 37), two images, odd sizes, stride 2, asymmetric pads, 3x3 to
 * 7x7, every epilogue, the work split in two ranges as threads would run it, and one image
 * in bands through a ring of input rows and a band of output rows (ox_dw xrows/yrows/y0) */
static void test_dw_blk(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{1, 1}, {5, 7}, {7, 7}, {13, 17}, {14, 14}, {28, 33}};
    static const int chans[] = {3, 13, 16, 19, 37};
    int bad = 0, ran = 0;
    int64_t lanes = ox_dw_blk_lanes(isa);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t ci = 0; ci < sizeof chans / sizeof *chans; ci++)
            for (int kk = 3; kk <= 7; kk += 2)
                for (int s = 1; s <= 2; s++)
                    for (int pv = 0; pv < 3; pv++) {
                        int64_t h = sizes[si][0], wd = sizes[si][1], c = chans[ci], nb = 2, planes = nb * c;
                        int64_t pt = pv == 0 ? 0 : kk / 2, pl = pv == 2 ? 0 : kk / 2; /* pv 2: top only */
                        int64_t oh = (h + 2 * pt - kk) / s + 1, ow = (wd + 2 * pl - kk) / s + 1;
                        if (oh < 1 || ow < 1)
                            continue;
                        float *x = rnd_buf(planes * h * wd, 4.0f), *w = rnd_buf(c * kk * kk, 4.0f),
                              *bias = rnd_buf(c, 4.0f);
                        float *y1 = calloc((size_t)(planes * oh * ow), sizeof(float));
                        float *y2 = calloc((size_t)(planes * oh * ow), sizeof(float));
                        int e = (int)((si + ci + (size_t)kk + (size_t)pv) % (size_t)N_EPIS);
                        struct ox_dw d = {x, w, (e & 1) ? NULL : bias, y1, c, h, wd, kk, kk, s, s, 1, 1, pt, pl,
                                          oh, ow, epis[e], 0, 0, 0};
                        CHECK(ox_dw_blk_ok(isa, &d));
                        ox_dw_ref(&d, 0, planes);
                        d.y = y2;
                        /* batch 2 as one image each too: more row tiles per block */
                        int64_t items = ox_dw_blk_items(isa, &d, nb), tiles = ox_dw_blk_tiles(isa, &d, nb);
                        CHECK(items == nb * ((c + lanes - 1) / lanes) * tiles);
                        ox_dw_blk_run(isa, &d, tiles, 0, 1);
                        ox_dw_blk_run(isa, &d, tiles, 1, items / 2);
                        ox_dw_blk_run(isa, &d, tiles, items / 2, items);
                        if (!close_all(y1, y2, planes * oh * ow) && bad++ < 5)
                            printf("  %s dw_blk (batch) differs\n", name);
                        memset(y2, 0, (size_t)(planes * oh * ow) * sizeof(float));
                        int64_t t1 = ox_dw_blk_tiles(isa, &d, 1), per = ox_dw_blk_items(isa, &d, 1);
                        for (int64_t b = 0; b < nb; b++) {
                            struct ox_dw one = d;
                            one.x = x + b * c * h * wd;
                            one.y = y2 + b * c * oh * ow;
                            ox_dw_blk_run(isa, &one, t1, 0, per);
                        }
                        if (!close_all(y1, y2, planes * oh * ow) && bad++ < 5)
                            printf("  %s dw_blk (per image) differs\n", name);
                        /* image 0 in bands as InferdMBConv runs it: X rows through a ring of
                         * the rows a band reads (xrows), Y a band's rows (yrows, from y0) */
                        memset(y2, 0, (size_t)(planes * oh * ow) * sizeof(float));
                        int64_t bands = oh < 3 ? oh : 3, db = (oh + bands - 1) / bands;
                        int64_t xrows = (db - 1) * s + kk < h ? (db - 1) * s + kk : h;
                        float *ring = calloc((size_t)(c * xrows * wd), sizeof(float));
                        float *band = calloc((size_t)(c * db * ow), sizeof(float));
                        struct ox_dw rd = d;
                        rd.x = ring, rd.y = band, rd.xrows = xrows, rd.yrows = db;
                        for (int64_t t = 0; t < bands; t++) {
                            int64_t oy0 = t * oh / bands, oy1 = (t + 1) * oh / bands;
                            for (int64_t ci2 = 0; ci2 < c; ci2++)
                                for (int64_t iy = oy0 * s - pt; iy < (oy1 - 1) * s - pt + kk; iy++)
                                    if (iy >= 0 && iy < h)
                                        memcpy(ring + (ci2 * xrows + iy % xrows) * wd, x + (ci2 * h + iy) * wd,
                                               (size_t)wd * sizeof(float));
                            rd.y0 = oy0;
                            for (int64_t cb = 0; cb < (c + lanes - 1) / lanes; cb++)
                                ox_dw_blk_run(isa, &rd, bands, cb * bands + t, cb * bands + t + 1);
                            for (int64_t ci2 = 0; ci2 < c; ci2++)
                                memcpy(y2 + (ci2 * oh + oy0) * ow, band + ci2 * db * ow,
                                       (size_t)((oy1 - oy0) * ow) * sizeof(float));
                        }
                        free(ring);
                        free(band);
                        ran++;
                        if (!close_all(y1, y2, c * oh * ow) && bad++ < 5)
                            printf("  %s dw_blk c%lld %lldx%lld k%d s%d pt%lld pl%lld act=%d differs\n", name,
                                   (long long)c, (long long)h, (long long)wd, kk, s, (long long)pt, (long long)pl,
                                   epis[e].act);
                        free(x);
                        free(w);
                        free(bias);
                        free(y1);
                        free(y2);
                    }
    /* shapes outside the kernel's limits are refused (the op then takes another kernel) */
    struct ox_dw big = {NULL, NULL, NULL, NULL, 8, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 5, 5, {0, 0, 0}, 0, 0, 0};
    CHECK(!ox_dw_blk_ok(isa, &big)); /* dilated */
    big.dh = big.dw = 1;
    big.kh = big.kw = 9;
    CHECK(!ox_dw_blk_ok(isa, &big)); /* 9x9 */
    CHECK(!ox_dw_blk_ok(OX_ISA_REF, &big));
    CHECK(ran > 300);
    CHECK(bad == 0);
}

/* the first-layer direct conv (conv_stem.h) against its reference: 1-3 input channels,
 * 1x1 to 7x7, strides 1 and 2, no / symmetric / top-left-only pads, output channels that are
 * and are not a multiple of a group, rows narrower and wider than a group of pixels (up to
 * 224: rows of 1 to 14 vectors in runs of 1 to 6), two images with the rows split in three ranges as threads would run them */
static void test_stem(enum ox_isa isa, const char *name)
{
    /* widths 90, 150 and 224: rows of 3 to 14 vectors, cut into runs of 3 to 6 (7 = 3 + 4, 10 = 5 + 5,
     * 14 = 4 + 5 + 5 at 16 lanes), the last run partial or not */
    static const int sizes[][2] = {{1, 1}, {7, 9}, {17, 33}, {9, 224}, {5, 90}, {4, 150}};
    static const int ms[] = {3, 8, 16, 17, 32};
    int bad = 0, ran = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (int c = 1; c <= OX_STEM_MAXC; c++)
            for (int kk = 1; kk <= 7; kk += 2)
                for (int st = 1; st <= 2; st++)
                    for (int pv = 0; pv < 3; pv++) {
                        int64_t h = sizes[si][0], wd = sizes[si][1], m = ms[(si + (size_t)kk + (size_t)pv) % 5];
                        int64_t pt = pv == 0 ? 0 : kk / 2, pl = pv == 2 ? 0 : kk / 2, nb = 2;
                        int64_t oh = (h + 2 * pt - kk) / st + 1, ow = (wd + 2 * pl - kk) / st + 1;
                        if (oh < 1 || ow < 1)
                            continue;
                        float *x = rnd_buf(nb * c * h * wd, 4.0f), *w = rnd_buf(m * c * kk * kk, 4.0f),
                              *bias = rnd_buf(m, 4.0f);
                        float *y1 = calloc((size_t)(nb * m * oh * ow), sizeof(float));
                        float *y2 = calloc((size_t)(nb * m * oh * ow), sizeof(float));
                        int e = (int)((si + (size_t)c + (size_t)kk + (size_t)pv) % (size_t)N_EPIS);
                        struct ox_stem sd = {x, w, (e & 1) ? NULL : bias, y1, c, h, wd, m, kk, kk, st, st, pt, pl,
                                             oh, ow, epis[e], 0};
                        CHECK(ox_conv_stem_ok(isa, &sd));
                        ox_conv_stem_ref(&sd, 0, nb * oh);
                        sd.y = y2;
                        ox_conv_stem_run(isa, &sd, 0, 1);
                        ox_conv_stem_run(isa, &sd, 1, oh + 1);
                        ox_conv_stem_run(isa, &sd, oh + 1, nb * oh);
                        /* image 1 row by row into a ring of 3 rows (InferdStemDw's), each row
                         * checked against the whole-plane run while it is in the ring */
                        struct ox_stem sr = sd;
                        float *ring = calloc((size_t)(m * 3 * ow), sizeof(float));
                        sr.x = x + c * h * wd;
                        sr.y = ring;
                        sr.yrows = 3;
                        for (int64_t oy = 0; oy < oh; oy++) {
                            ox_conv_stem_run(isa, &sr, oy, oy + 1);
                            for (int64_t r = 0; r < m; r++)
                                if (!close_all(y1 + ((m + r) * oh + oy) * ow, ring + (r * 3 + oy % 3) * ow, ow) &&
                                    bad++ < 5)
                                    printf("  %s stem ring c%d m%lld row %lld differs\n", name, c, (long long)r,
                                           (long long)oy);
                        }
                        free(ring);
                        ran++;
                        if (!close_all(y1, y2, nb * m * oh * ow) && bad++ < 5)
                            printf("  %s stem c%d %lldx%lld m%lld k%d s%d pt%lld pl%lld act=%d differs\n", name, c,
                                   (long long)h, (long long)wd, (long long)m, kk, st, (long long)pt, (long long)pl,
                                   epis[e].act);
                        free(x);
                        free(w);
                        free(bias);
                        free(y1);
                        free(y2);
                    }
    CHECK(bad == 0);
    CHECK(ran > 200);
    struct ox_stem big = {0};
    big.c = 4, big.kh = big.kw = 3, big.sh = big.sw = 1, big.oh = big.ow = big.m = 1;
    CHECK(!ox_conv_stem_ok(isa, &big)); /* 4 input channels */
    big.c = 3, big.ow = OX_STEM_MAXOW + 1;
    CHECK(!ox_conv_stem_ok(isa, &big)); /* too wide */
    big.ow = 1, big.sw = 3;
    CHECK(!ox_conv_stem_ok(isa, &big)); /* stride 3 */
    big.sw = 1;
    CHECK(ox_conv_stem_ok(isa, &big) && !ox_conv_stem_ok(OX_ISA_REF, &big));
}

/* n floats of X right after a PROT_NONE page (at_end 0) or right before one (1): a read
 * before or past X faults */
static float *x_guarded(int64_t n, int at_end, void **map, size_t *len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), xb = (size_t)n * sizeof(float);
    *len = (xb + pg - 1) / pg * pg + 2 * pg;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED)
        return NULL;
    mprotect(*map, pg, PROT_NONE);
    mprotect((char *)*map + *len - pg, pg, PROT_NONE);
    float *x = at_end ? (float *)((char *)*map + *len - pg - xb) : (float *)((char *)*map + pg);
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd() * 4.0f;
    return x;
}

/* the stem's stride-2 rows are split straight from X (masked loads at the pads): with X
 * between PROT_NONE pages, left pads 0-3 and widths that end a row mid-vector, the kernel
 * reads nothing outside X and matches the reference */
static void test_stem_edges(enum ox_isa isa, const char *name)
{
    static const int wds[] = {5, 16, 33, 150, 321};
    int bad = 0;
    for (size_t wi = 0; wi < sizeof wds / sizeof *wds; wi++)
        for (int kk = 3; kk <= 7; kk += 2)
            for (int pl = 0; pl <= kk / 2; pl++)
                for (int at_end = 0; at_end < 2; at_end++) {
                    int64_t c = 3, h = 6, wd = wds[wi], m = 5, st = 2;
                    int64_t oh = (h + 2 * pl - kk) / st + 1, ow = (wd + 2 * pl - kk) / st + 1;
                    if (oh < 1 || ow < 1)
                        continue;
                    void *map;
                    size_t len;
                    float *x = x_guarded(c * h * wd, at_end, &map, &len);
                    CHECK(x != NULL);
                    if (!x)
                        return;
                    float *w = rnd_buf(m * c * kk * kk, 1.0f), *bias = rnd_buf(m, 1.0f);
                    float *y1 = calloc((size_t)(m * oh * ow), sizeof(float));
                    float *y2 = calloc((size_t)(m * oh * ow), sizeof(float));
                    struct ox_stem sd = {x, w, bias, y1, c, h, wd, m, kk, kk, st, st, pl, pl, oh, ow, epis[0], 0};
                    CHECK(ox_conv_stem_ok(isa, &sd));
                    ox_conv_stem_ref(&sd, 0, oh);
                    sd.y = y2;
                    ox_conv_stem_run(isa, &sd, 0, oh);
                    if (!close_all(y1, y2, m * oh * ow) && bad++ < 5)
                        printf("  %s stem edges w%lld k%d pl%d at_end %d differs\n", name, (long long)wd, kk, pl,
                               at_end);
                    munmap(map, len);
                    free(w);
                    free(bias);
                    free(y1);
                    free(y2);
                }
    CHECK(bad == 0);
}

int main(void)
{
    test_gemm(OX_ISA_REF, "ref");
    test_gemm_blocked(OX_ISA_REF, "ref");
    test_gemm_im2col(OX_ISA_REF, "ref");
    test_gemm_batch(OX_ISA_REF, "ref");
    test_dw(OX_ISA_REF, "ref");
    if (cpu_has(CPU_AVX2 | CPU_FMA)) {
        test_gemm(OX_ISA_AVX2, "avx2");
        test_gemm_blocked(OX_ISA_AVX2, "avx2");
        test_gemm_im2col(OX_ISA_AVX2, "avx2");
        test_gemm_batch(OX_ISA_AVX2, "avx2");
        test_gemm_pre(OX_ISA_AVX2, "avx2");
        test_gemm_narrow(OX_ISA_AVX2, "avx2");
        test_dw(OX_ISA_AVX2, "avx2");
        test_dw_blk(OX_ISA_AVX2, "avx2");
        test_stem(OX_ISA_AVX2, "avx2");
        test_stem_edges(OX_ISA_AVX2, "avx2");
    } else {
        printf("no AVX2+FMA: AVX2 conv kernels not tested\n");
    }
    if (cpu_has(CPU_AVX512F | CPU_AVX2 | CPU_FMA)) {
        test_gemm(OX_ISA_AVX512, "avx512");
        test_gemm_blocked(OX_ISA_AVX512, "avx512");
        test_gemm_im2col(OX_ISA_AVX512, "avx512");
        test_gemm_batch(OX_ISA_AVX512, "avx512");
        test_gemm_pre(OX_ISA_AVX512, "avx512");
        test_gemm_narrow(OX_ISA_AVX512, "avx512");
        test_dw(OX_ISA_AVX512, "avx512");
        test_dw_blk(OX_ISA_AVX512, "avx512");
        test_stem(OX_ISA_AVX512, "avx512");
        test_stem_edges(OX_ISA_AVX512, "avx512");
    } else {
        printf("no AVX-512F: AVX-512 conv kernels not tested\n");
    }
    return check_finish();
}
