/* test_onnx_conv_pool.c — ops/conv.c's pool drivers of the packed GEMM, ox_conv_gemm_pool
 * and ox_conv_gemm_pool_pre (one image: split by columns or by panels, each thread packing
 * its own B, else B packed ahead, then the tiles), at 2 and 3 threads against the same call
 * on one thread: the results must be equal bit for bit, whatever ranges of column blocks,
 * strips and panels (or prepack items) the threads took. The shapes are ResNet-style
 * maps whose last column block is narrower than OX_CV_NB (784 = 6 x 128 + 16, 196 = 128 +
 * 68, 3136 = 24 x 128 + 64), which the drivers cut by columns rather than by item counts,
 * plus a map of whole blocks, single blocks (49: 7x7, split by panels; 100 and 3), 1024
 * rows over 196 columns (a 1x1 split by panels over two blocks), one
 * narrower than a tile, and 160 columns (5 strips: by columns at 2 threads, packed ahead at
 * 3); C starts as NaN, so an item no part ran shows. AVX2 and AVX-512 where the CPU has them (the
 * prepack is SIMD only); ox_conv_gemm_pool on the scalar kernels too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/tpool.h"
#include "check.h"
#include "onnx/conv_kern.h"
#include "onnx/onnx_int.h"

static float *rnd(int64_t n, unsigned *s)
{
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        *s = *s * 1664525u + 1013904223u;
        p[i] = (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    return p;
}

static void nan_fill(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = NAN;
}

/* bit-equal, and no NaN left (every output written) */
static int same(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (isnan(a[i]) || memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return 0;
    return 1;
}

static void check_isa(enum ox_isa isa, const char *name, struct tpool *const *pools, int npools)
{
    static const int shapes[][3] = {/* m, n (columns), k */
                                    {128, 784, 1152}, {256, 196, 2304}, {64, 3136, 576}, {100, 256, 300},
                                    {512, 49, 4608},  {37, 100, 64},    {24, 3, 130},    {40, 784, 128},
                                    {256, 196, 1024}, {512, 49, 2048},  {64, 160, 256},  {1024, 196, 256},
                                    /* n % 32 in 1..4: the last block's tail folded or not
                                     * (colsplit_part's grid), 17x17 and 30x30 maps */
                                    {192, 289, 768},  {96, 289, 576},   {96, 132, 144},  {96, 900, 288}};
    unsigned s = 11;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int64_t m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        if (isa == OX_ISA_REF && m * n * k > ((int64_t)1 << 24)) /* the scalar kernels: the small shapes */
            continue;
        float *w = rnd(m * k, &s), *b = rnd(k * n, &s), *bias = rnd(m, &s), *z = rnd(m * n, &s);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, k));
        float *c1 = malloc(sizeof(float) * (size_t)(m * n)), *c2 = malloc(sizeof(float) * (size_t)(m * n));
        int64_t pre = isa == OX_ISA_REF ? 0 : ox_conv_prepack_size(isa, k, n);
        float *bp = pre ? malloc(sizeof(float) * (size_t)pre) : NULL;
        ox_conv_pack(w, m, k, wp);
        /* a 1x1 conv's B (X itself) then a 3x3 one's im2col view of a (k / 9, h, w) image */
        int64_t side = (int64_t)sqrt((double)n), ci = k / 9;
        int views = side * side == n && ci * 9 == k ? 2 : 1;
        float *x = views > 1 ? rnd(ci * n, &s) : NULL;
        struct ox_conv_im2col im = {.x = x, .h = side, .w = side, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                                    .pt = 1, .pl = 1, .ow = side};
        for (int v = 0; v < views; v++)
            for (int use_pre = 0; use_pre <= (pre ? 1 : 0); use_pre++) {
                const struct ox_conv_im2col *iv = v ? &im : NULL;
                struct ox_conv_gemm g = {.wp = wp, .b = v ? NULL : b, .c = c1, .bias = bias, .m = m, .k = k, .n = n,
                                         .ldb = v ? 0 : n, .ldc = n, .epi = {OX_ACT_RELU, 0, 0}, .sum = z};
                struct ox_ctx one = {.nth = 1};
                nan_fill(c1, m * n);
                if (use_pre)
                    ox_conv_gemm_pool_pre(&one, isa, &g, iv, bp);
                else
                    ox_conv_gemm_pool(&one, isa, &g, iv);
                for (int pi = 0; pi < npools; pi++) {
                    struct ox_ctx c = {.pool = pools[pi], .nth = tpool_size(pools[pi])};
                    g.c = c2;
                    nan_fill(c2, m * n);
                    if (use_pre) {
                        nan_fill(bp, pre);
                        ox_conv_gemm_pool_pre(&c, isa, &g, iv, bp);
                    } else {
                        ox_conv_gemm_pool(&c, isa, &g, iv);
                    }
                    g.c = c1;
                    if (!same(c1, c2, m * n))
                        printf("  %s m=%lld n=%lld k=%lld %s%s at %d threads differs from 1 thread\n", name,
                               (long long)m, (long long)n, (long long)k, v ? "im2col" : "1x1",
                               use_pre ? " prepacked" : "", c.nth);
                    CHECK(same(c1, c2, m * n));
                }
            }
        free(w);
        free(b);
        free(bias);
        free(z);
        free(wp);
        free(c1);
        free(c2);
        free(bp);
        free(x);
    }
}

int main(void)
{
    struct tpool *pools[3] = {tpool_new(2), tpool_new(3), tpool_new(4)};
    CHECK(pools[0] && pools[1] && pools[2]);
    check_isa(OX_ISA_REF, "ref", pools, 3);
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        check_isa(OX_ISA_AVX2, "avx2", pools, 3);
    else
        printf("no AVX2+FMA: AVX2 pool GEMM not tested\n");
    if (cpu_has(CPU_AVX512F | CPU_AVX2 | CPU_FMA))
        check_isa(OX_ISA_AVX512, "avx512", pools, 3);
    else
        printf("no AVX-512F: AVX-512 pool GEMM not tested\n");
    tpool_free(pools[0]);
    tpool_free(pools[1]);
    tpool_free(pools[2]);
    return check_finish();
}
