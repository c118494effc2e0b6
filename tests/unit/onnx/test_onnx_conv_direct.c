/* test_onnx_conv_direct.c — the direct conv (conv_direct.h): the AVX2 and AVX-512 fill and
 * tiles against the scalar reference, bit-identical for the activations without an exp
 * (none, Relu, Clip; the reference sums the taps by fmaf in the kernels' order) and within
 * |diff| <= 1e-4 * (1 + |ref|) for the others; the reference against the im2col GEMM's
 * reference (same tolerance), so both read the packed weights and the padding alike. Shapes:
 * 1-16 input channels, 1-33 output channels (whole and partial panels), 3x3 / 5x5 / 3x5
 * kernels, strides (1,1) (2,2) (2,1) (1,2) (3,1), no / symmetric / top-left-only pads, maps
 * narrower than a vector and wider than two, with and without bias and Z; the fill split over
 * two channel ranges and the tiles over three, as threads run them; writes stay inside the
 * scratch (a guard past it is untouched). The pointwise run (1x1, X in place) likewise
 * (test_pointwise), and every activation on its Z-free whole-vector store (test_pointwise_epis).
 * A version whose ISA the CPU lacks is skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cpu.h"
#include "check.h"
#include "onnx/conv_direct.h"

#define CONV_TEST_SEED 11
#include "conv_test_rand.h"

static const struct ox_epi epis[] = CONV_TEST_EPIS;
#define N_EPIS (int)(sizeof epis / sizeof *epis)

static int close_all(const float *ref, const float *got, int64_t n, int exact)
{
    for (int64_t i = 0; i < n; i++) {
        int ok = exact ? memcmp(ref + i, got + i, sizeof(float)) == 0
                       : fabsf(ref[i] - got[i]) <= 1e-4f * (1.0f + fabsf(ref[i]));
        if (!ok) {
            printf("  element %lld: ref %.9g got %.9g\n", (long long)i, ref[i], got[i]);
            return 0;
        }
    }
    return 1;
}

#define GUARD 256 /* bytes past the scratch that must stay as written */

/* The shapes a kernel test walks: sizes x kernels x strides x pads (pv < npv: 0 left only,
 * 1 all sides, 2 top only, 3 none, 4 bottom and right only, as SAME_UPPER gives at stride 2),
 * the channel counts taken from cs and ms by the running count cfg. */
struct shape_set {
    const int (*sizes)[2], (*ks)[2], (*strides)[2], *cs, *ms;
    int n_sizes, n_ks, n_strides, npv, n_cs, n_ms;
};
struct shape {
    int cfg, pv;
    int64_t h, wd, kh, kw, sh, sw, c, m, pt, pl, oh, ow;
};

/* shape i of set (from 0; its cfg is i + 1): 1, 0 past the end, -1 when the kernel does not
 * fit the padded map */
static int shape_at(const struct shape_set *set, int i, struct shape *s)
{
    int pv = i % set->npv, sti = i / set->npv % set->n_strides, ki = i / set->npv / set->n_strides % set->n_ks;
    int si = i / set->npv / set->n_strides / set->n_ks;
    if (si >= set->n_sizes)
        return 0;
    s->cfg = i + 1, s->pv = pv;
    s->h = set->sizes[si][0], s->wd = set->sizes[si][1], s->kh = set->ks[ki][0], s->kw = set->ks[ki][1];
    s->sh = set->strides[sti][0], s->sw = set->strides[sti][1];
    s->c = set->cs[s->cfg % set->n_cs], s->m = set->ms[s->cfg % set->n_ms];
    int64_t t = pv == 1 || pv == 2 ? s->kh / 2 : 0, l = pv <= 1 ? s->kw / 2 : 0;
    int64_t b = pv == 1 || pv == 4 ? s->kh / 2 : 0, r = pv == 1 || pv == 4 ? s->kw / 2 : 0;
    if (s->h + t + b < s->kh || s->wd + l + r < s->kw)
        return -1;
    s->pt = t, s->pl = l, s->oh = (s->h + t + b - s->kh) / s->sh + 1, s->ow = (s->wd + l + r - s->kw) / s->sw + 1;
    return 1;
}

/* the first shape of set from *i on that fits, *i moved to it: 0 past the end */
static int next_shape(const struct shape_set *set, int *i, struct shape *s)
{
    int r;
    while ((r = shape_at(set, *i, s)) < 0)
        ++*i;
    return r;
}

#define N_OF(a) (int)(sizeof(a) / sizeof *(a))

static void test_direct(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{1, 1}, {7, 9}, {20, 20}, {17, 33}, {5, 70}};
    static const int ks[][2] = {{3, 3}, {5, 5}, {3, 5}};
    static const int strides[][2] = {{1, 1}, {2, 2}, {2, 1}, {1, 2}, {3, 1}};
    static const int cs[] = {1, 3, 16};
    static const int ms[] = {1, 5, 12, 13, 16, 17, 33};
    const struct shape_set set = {sizes, ks, strides, cs, ms, N_OF(sizes), N_OF(ks), N_OF(strides), 3, N_OF(cs), N_OF(ms)};
    int bad = 0, ran = 0;
    struct shape s;
    for (int i = 0; next_shape(&set, &i, &s); i++) {
        int e = s.cfg % N_EPIS, exact = epis[e].act <= OX_ACT_CLIP, withz = s.cfg % 2;
        int64_t k = s.c * s.kh * s.kw, ohw = s.oh * s.ow;
        float *x = rnd_buf(s.c * s.h * s.wd, 4.0f), *w = rnd_buf(s.m * k, 4.0f), *bias = rnd_buf(s.m, 4.0f),
              *z = rnd_buf(s.m * ohw, 4.0f);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(s.m, k));
        float *y0 = calloc((size_t)(s.m * ohw), sizeof(float)), *y1 = calloc((size_t)(s.m * ohw), sizeof(float));
        float *y2 = calloc((size_t)(s.m * ohw), sizeof(float));
        ox_conv_pack(w, s.m, k, wp);
        struct ox_cdir d = {.x = x, .wp = wp, .bias = (s.cfg / 2) % 2 ? NULL : bias, .z = withz ? z : NULL,
                            .y = y0, .c = s.c, .h = s.h, .w = s.wd, .m = s.m, .kh = s.kh, .kw = s.kw, .sh = s.sh,
                            .sw = s.sw, .pt = s.pt, .pl = s.pl, .oh = s.oh, .ow = s.ow, .epi = epis[e]};
        ox_cdir_ref(&d);
        /* the im2col GEMM's reference, then the Z and activation by hand */
        struct ox_conv_gemm g = {.wp = wp, .c = y2, .bias = d.bias, .m = s.m, .k = k, .n = ohw, .ldc = ohw,
                                 .epi = epis[e], .sum = d.z};
        struct ox_conv_im2col im = {x, s.h, s.wd, s.kh, s.kw, s.sh, s.sw, 1, 1, s.pt, s.pl, s.ow, 0};
        ox_conv_gemm_im2col_ref(&g, &im, 0, (s.m + OX_CV_MR - 1) / OX_CV_MR, 0, ohw);
        if (!close_all(y2, y0, s.m * ohw, 0) && bad++ < 5)
            printf("  ref vs the im2col GEMM's: %lldx%lld c%lld m%lld k%lldx%lld s%lldx%lld p%d\n",
                   (long long)s.h, (long long)s.wd, (long long)s.c, (long long)s.m, (long long)s.kh, (long long)s.kw,
                   (long long)s.sh, (long long)s.sw, s.pv);
        if (ox_cdir_ok(isa, &d)) {
            size_t sb = ox_cdir_scratch(&d);
            unsigned char *xp = malloc(sb + GUARD);
            memset(xp, 0x7f, sb + GUARD); /* 3.4e38s: what the fill must overwrite where read */
            d.xp = xp;
            d.y = y1;
            ox_cdir_fill(isa, &d, 0, s.c / 2);
            ox_cdir_fill(isa, &d, s.c / 2, s.c);
            int64_t nt = ox_cdir_tiles(isa, &d);
            ox_cdir_run(isa, &d, 0, nt / 3);
            ox_cdir_run(isa, &d, nt / 3, nt - 1 > nt / 3 ? nt - 1 : nt / 3);
            ox_cdir_run(isa, &d, nt - 1 > nt / 3 ? nt - 1 : nt / 3, nt);
            int guard_ok = 1;
            for (int i = 0; i < GUARD; i++)
                guard_ok &= xp[sb + (size_t)i] == 0x7f;
            CHECK(guard_ok);
            ran++;
            if (!close_all(y0, y1, s.m * ohw, exact) && bad++ < 5)
                printf("  %s direct %lldx%lld c%lld m%lld k%lldx%lld s%lldx%lld p%d act=%d z=%d differs\n",
                       name, (long long)s.h, (long long)s.wd, (long long)s.c, (long long)s.m, (long long)s.kh,
                       (long long)s.kw, (long long)s.sh, (long long)s.sw, s.pv, epis[e].act, withz);
            free(xp);
        }
        free(x);
        free(w);
        free(bias);
        free(z);
        free(wp);
        free(y0);
        free(y1);
        free(y2);
    }
    CHECK(bad == 0);
    if (isa != OX_ISA_REF)
        CHECK(ran > 150);
    struct ox_cdir big = {.c = 1, .h = 4, .w = 4, .m = 1, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .oh = 2, .ow = 2};
    CHECK(!ox_cdir_ok(OX_ISA_REF, &big));
    CHECK(isa == OX_ISA_REF || ox_cdir_ok(isa, &big));
    big.sw = 3;
    CHECK(!ox_cdir_ok(isa, &big)); /* column stride 3 */
    big.sw = 1, big.w = big.ow = OX_CDIR_MAXW + 1;
    CHECK(!ox_cdir_ok(isa, &big)); /* too wide for the fill's row */
}

/* X at the end of a mapping whose next page is PROT_NONE: a read past X faults */
static float *x_at_page_end(int64_t n, void **map, size_t *len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), xb = (size_t)n * sizeof(float);
    *len = (xb + pg - 1) / pg * pg + pg;
    *map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (*map == MAP_FAILED)
        return NULL;
    mprotect((char *)*map + *len - pg, pg, PROT_NONE);
    float *x = (float *)((char *)*map + *len - pg - xb);
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd() * 4.0f;
    return x;
}

/* the pointwise run (1x1, X read in place) against the reference: the same tolerances, maps
 * of 16-400 pixels (one vector to 25, an odd count ending in a one-vector tile), 1-130 input
 * channels (K past any blocking), 1-64 output channels; X ends where a PROT_NONE page starts;
 * one row's bias of -120 sends SiLU / Sigmoid through exp's overflow (exp(120) = inf) */
static void test_pointwise(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{1, 16}, {4, 4}, {6, 8}, {8, 10}, {16, 20}, {20, 20}, {3, 48}};
    static const int cs[] = {1, 3, 16, 33, 130};
    static const int ms[] = {1, 5, 12, 13, 27, 33, 64};
    int bad = 0, ran = 0, cfg = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++)
            for (int rep = 0; rep < 2; rep++) {
                cfg++;
                int64_t h = sizes[si][0], wd = sizes[si][1], c = cs[ci], m = ms[(size_t)(cfg * 3 + rep) % 7];
                int64_t ohw = h * wd;
                int e = cfg % N_EPIS, exact = epis[e].act <= OX_ACT_CLIP, withz = (cfg + rep) % 2;
                void *map;
                size_t len;
                float *x = x_at_page_end(c * ohw, &map, &len);
                CHECK(x != NULL);
                if (!x)
                    return;
                float *w = rnd_buf(m * c, 1.0f), *bias = rnd_buf(m, 4.0f), *z = rnd_buf(m * ohw, 4.0f);
                bias[0] = -120.0f;
                float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, c));
                float *y0 = calloc((size_t)(m * ohw), sizeof(float)), *y1 = calloc((size_t)(m * ohw), sizeof(float));
                ox_conv_pack(w, m, c, wp);
                struct ox_cdir d = {.x = x, .wp = wp, .bias = rep ? NULL : bias, .z = withz ? z : NULL, .y = y0,
                                    .c = c, .h = h, .w = wd, .m = m, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .oh = h,
                                    .ow = wd, .epi = epis[e]};
                ox_cdir_ref(&d);
                CHECK(isa == OX_ISA_REF ? !ox_cdir_pw_ok(isa, &d) : ox_cdir_pw_ok(isa, &d));
                if (ox_cdir_pw_ok(isa, &d)) {
                    d.y = y1;
                    int64_t nt = ox_cdir_tiles(isa, &d);
                    ox_cdir_pw_run(isa, &d, 0, nt / 2);
                    ox_cdir_pw_run(isa, &d, nt / 2, nt);
                    ran++;
                    if (!close_all(y0, y1, m * ohw, exact) && bad++ < 5)
                        printf("  %s pointwise %lldx%lld c%lld m%lld act=%d z=%d bias=%d differs\n", name, (long long)h,
                               (long long)wd, (long long)c, (long long)m, epis[e].act, withz, !rep);
                }
                munmap(map, len);
                free(w);
                free(bias);
                free(z);
                free(wp);
                free(y0);
                free(y1);
            }
    CHECK(bad == 0);
    if (isa != OX_ISA_REF)
        CHECK(ran == 70);
    struct ox_cdir d = {.c = 4, .h = 5, .w = 5, .m = 4, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .oh = 5, .ow = 5};
    CHECK(!ox_cdir_pw_ok(isa, &d)); /* 25 pixels: the last vector would read past X */
    d.h = d.oh = 4, d.w = d.ow = 4, d.pt = 1;
    CHECK(!ox_cdir_pw_ok(isa, &d)); /* padded */
    d.pt = 0, d.kh = 3;
    CHECK(!ox_cdir_pw_ok(isa, &d));
}

/* Every activation on the tiles' Z-free store of whole vectors (cdir_tmpl.h's cdir_tile:
 * each vector in one row of Y; the activation picked once per tile): maps whose pixels fill
 * two-vector tiles (8x8, 16x20), one one-vector tile (4x4) and both (6x8), 7 and 33 input
 * channels, 5, 13, 33 output channels (partial panels), with and without bias (row 0's
 * -120 overflows exp), tiles split over two calls; the same tolerances as test_pointwise.
 * The general store keeps a map's wrapped vectors and Z (test_pointwise, test_direct). */
static void test_pointwise_epis(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{8, 8}, {16, 20}, {4, 4}, {6, 8}};
    static const int cs[] = {7, 33};
    static const int ms[] = {5, 13, 33};
    int bad = 0, ran = 0;
    for (int e = 0; e < N_EPIS; e++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (int rep = 0; rep < 2; rep++) {
                int64_t h = sizes[si][0], wd = sizes[si][1], ohw = h * wd;
                int64_t c = cs[(size_t)(e + rep) % 2], m = ms[(size_t)(e + (int)si + rep) % 3];
                int exact = epis[e].act <= OX_ACT_CLIP;
                float *x = rnd_buf(c * ohw, 4.0f), *w = rnd_buf(m * c, 1.0f), *bias = rnd_buf(m, 4.0f);
                bias[0] = -120.0f;
                float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(m, c));
                float *y0 = calloc((size_t)(m * ohw), sizeof(float)), *y1 = calloc((size_t)(m * ohw), sizeof(float));
                ox_conv_pack(w, m, c, wp);
                struct ox_cdir d = {.x = x, .wp = wp, .bias = rep ? NULL : bias, .y = y0, .c = c, .h = h, .w = wd,
                                    .m = m, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .oh = h, .ow = wd, .epi = epis[e]};
                ox_cdir_ref(&d);
                if (ox_cdir_pw_ok(isa, &d)) {
                    d.y = y1;
                    int64_t nt = ox_cdir_tiles(isa, &d);
                    ox_cdir_pw_run(isa, &d, 0, nt / 2);
                    ox_cdir_pw_run(isa, &d, nt / 2, nt);
                    ran++;
                    if (!close_all(y0, y1, m * ohw, exact) && bad++ < 5)
                        printf("  %s pointwise store %lldx%lld c%lld m%lld act=%d bias=%d differs\n", name,
                               (long long)h, (long long)wd, (long long)c, (long long)m, epis[e].act, !rep);
                }
                free(x);
                free(w);
                free(bias);
                free(wp);
                free(y0);
                free(y1);
            }
    CHECK(bad == 0);
    CHECK(ran == (isa == OX_ISA_REF ? 0 : N_EPIS * 8));
}

/* The oc-lane kernel (ox_cdoc_*, AVX-512) against the reference (weights packed for each):
 * bit-identical for the activations without an exp (same tap order from zero), the usual
 * tolerance else. 1-64 output channels (1-4 vectors, partial ones), 1-24 input channels,
 * 3x3 / 5x5 / 3x5 kernels, strides (2,2) (1,1) (2,1) (1,2), pads left-only / symmetric /
 * top-only / none / bottom-right-only (SAME_UPPER at stride 2), maps narrower than a tile, a
 * row ending in a moved-back tile, rows of more than 16 tiles (a row's tiles in groups), edge
 * tiles through the buffer; items split over three calls as threads run them. The output
 * starts as NaN with a guard tail after it: every value written, nothing past the end. */
#define CDOC_GUARD 64 /* floats after the output that must stay as they were */
static void test_cdoc(enum ox_isa isa, const char *name)
{
    static const int sizes[][2] = {{1, 1}, {7, 9}, {20, 20}, {17, 33}, {5, 70}, {40, 40}, {4, 530}};
    static const int ks[][2] = {{3, 3}, {5, 5}, {3, 5}};
    static const int strides[][2] = {{2, 2}, {1, 1}, {2, 1}, {1, 2}};
    static const int cs[] = {1, 3, 16, 24}; /* 24: 2-3 channel blocks; 40 would pass the edge buffer at 5x5 */
    static const int ms[] = {1, 5, 16, 17, 32, 33, 48, 63, 64};
    const struct shape_set set = {sizes, ks, strides, cs, ms, N_OF(sizes), N_OF(ks), N_OF(strides), 5, N_OF(cs), N_OF(ms)};
    int bad = 0, ran = 0;
    struct shape s;
    for (int i = 0; next_shape(&set, &i, &s); i++) {
        int e = s.cfg % N_EPIS, exact = epis[e].act <= OX_ACT_CLIP;
        int64_t k = s.c * s.kh * s.kw, ohw = s.oh * s.ow;
        float *x = rnd_buf(s.c * s.h * s.wd, 4.0f), *w = rnd_buf(s.m * k, 4.0f), *bias = rnd_buf(s.m, 4.0f);
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(s.m, k));
        float *wo = malloc(sizeof(float) * (size_t)ox_cdoc_pack_size(s.m, k));
        float *y0 = calloc((size_t)(s.m * ohw), sizeof(float));
        float *y1 = malloc(sizeof(float) * (size_t)(s.m * ohw + CDOC_GUARD));
        for (int64_t i = 0; i < s.m * ohw + CDOC_GUARD; i++)
            y1[i] = i < s.m * ohw ? NAN : 12345.0f;
        ox_conv_pack(w, s.m, k, wp);
        ox_cdoc_pack(w, s.m, k, wo);
        struct ox_cdir d = {.x = x, .wp = wp, .bias = (s.cfg / 2) % 2 ? NULL : bias, .y = y0, .c = s.c,
                            .h = s.h, .w = s.wd, .m = s.m, .kh = s.kh, .kw = s.kw, .sh = s.sh, .sw = s.sw, .pt = s.pt,
                            .pl = s.pl, .oh = s.oh, .ow = s.ow, .epi = epis[e]};
        ox_cdir_ref(&d);
        CHECK(isa == OX_ISA_AVX512 ? ox_cdoc_ok(isa, &d) : !ox_cdoc_ok(isa, &d));
        if (ox_cdoc_ok(isa, &d)) {
            d.wp = wo;
            d.y = y1;
            int64_t n = s.oh * ox_cdoc_row_tiles(&d);
            ox_cdoc_run(isa, &d, 0, n / 3);
            ox_cdoc_run(isa, &d, n / 3, n - 1 > n / 3 ? n - 1 : n / 3);
            ox_cdoc_run(isa, &d, n - 1 > n / 3 ? n - 1 : n / 3, n);
            ran++;
            int guard = 1;
            for (int64_t i = s.m * ohw; i < s.m * ohw + CDOC_GUARD; i++)
                guard &= y1[i] == 12345.0f;
            if ((!close_all(y0, y1, s.m * ohw, exact) || !guard) && bad++ < 5)
                printf("  %s oc-lane %lldx%lld c%lld m%lld k%lldx%lld s%lldx%lld p%d act=%d differs\n",
                       name, (long long)s.h, (long long)s.wd, (long long)s.c, (long long)s.m, (long long)s.kh,
                       (long long)s.kw, (long long)s.sh, (long long)s.sw, s.pv, epis[e].act);
        }
        free(x);
        free(w);
        free(bias);
        free(wp);
        free(wo);
        free(y0);
        free(y1);
    }
    CHECK(bad == 0);
    printf("  %s oc-lane: %d shapes\n", name, ran);
    if (isa == OX_ISA_AVX512)
        CHECK(ran > 180);
    struct ox_cdir d = {.c = 16, .h = 8, .w = 8, .m = 65, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .oh = 4, .ow = 4};
    CHECK(!ox_cdoc_ok(isa, &d)); /* 65 channels */
    d.m = 64, d.c = 1000;
    CHECK(!ox_cdoc_ok(isa, &d)); /* an edge tile's slice past the buffer */
}

int main(void)
{
    test_direct(OX_ISA_REF, "ref");
    test_pointwise(OX_ISA_REF, "ref");
    test_pointwise_epis(OX_ISA_REF, "ref");
    test_cdoc(OX_ISA_REF, "ref");
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        test_direct(OX_ISA_AVX2, "avx2"), test_pointwise(OX_ISA_AVX2, "avx2"), test_pointwise_epis(OX_ISA_AVX2, "avx2");
    else
        printf("no AVX2+FMA: AVX2 direct conv not tested\n");
    if (cpu_has(CPU_AVX512F | CPU_AVX2 | CPU_FMA))
        test_direct(OX_ISA_AVX512, "avx512"), test_pointwise(OX_ISA_AVX512, "avx512"),
            test_pointwise_epis(OX_ISA_AVX512, "avx512"), test_cdoc(OX_ISA_AVX512, "avx512");
    else
        printf("no AVX-512F: AVX-512 direct conv not tested\n");
    return check_finish();
}
