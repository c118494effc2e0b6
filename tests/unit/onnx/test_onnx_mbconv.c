/* test_onnx_mbconv.c — fuse_mbconv.c's inverted-residual fusion and ops/mbconv.c's banded
 * run (INFERD_ONNX_OPT_MBCONV) on small graphs written here: x (N, C, H, W) -> Conv 1x1 [+b]
 * -> act -> depthwise Conv k x k (stride, pads, dilation) [+b] -> act [-> Conv 1x1 [+b]
 * [-> Add(., x)] [-> act]], over odd channel counts and map sizes, maps large enough to be cut
 * into bands and small enough to run whole, 3x3 / 5x5 / 7x7, stride 1 and 2, symmetric and
 * asymmetric pads, a dilated depthwise (the plane-kernel fallback), Relu / Clip / HardSwish /
 * SiLU / none, with and without biases, and the near misses (an intermediate read twice, a
 * strided expand). The model loaded with the fusion off (1 thread) is the reference for the
 * model with it on, at 1 thread, batch 1, 3 and 8: outputs equal within 1e-5 (abs + rel); on
 * pools of 2 and 3 threads (whole images per thread where the batch has one for each, the
 * rest split finely: ox_parallel_images) the fused outputs equal the 1-thread ones bit for
 * bit; and the "graph optimized" summary counts the blocks fused. Run it once more with
 * INFERD_CPU_DISABLE=avx512f for the AVX2 kernels and =avx2 for the scalar references, and
 * with INFERD_ONNX_MBCONV_BLOCKED=0 for the planar path and =1 for E blocked, D planar (ctest
 * runs all five). Maps from 14x14 up (7x7 up with a project conv) take the channel-blocked
 * E and D (without an expand conv E is X interleaved; 20 channels leave a short block on
 * AVX2 and AVX-512; 7x7's 49 pixels leave short last tiles); the cases
 * with a project activation, before or after the residual Add, are there for
 * ox_mb_project's epilogue, and project outputs 5 and 8 past a block of 16 (21, 24) for its
 * 256-bit half block on AVX-512 (the second block of a pair; 13 and 40 end in a short block
 * of their own, which runs 512-bit: OX_MB_PRJ_CH cuts 40 into 32 + 8). MobileNetV2's last
 * blocks' shape (7x7, 160 -> 960 -> 160) is where ox_parallel's 3 parts of the channel blocks
 * become 4 on 2 threads (mbconv.c's mb_parallel) and the project's 20 items split by
 * channels. The "rows" cases are maps from 14 output rows up that fit in one band, which on
 * 2 and 3 threads at batch 1 (and batch 3's last image on 2) are cut into 4 and 6 bands of
 * rows (mbconv.c's mb_rows_split) while 1 thread runs one band: the bit-for-bit comparison
 * proves the bands do not change the sums (MobileNetV2's 14x14 blocks, a stride-2 block into
 * 14x14, odd rows with asymmetric pads, and without the expand conv). */
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

struct block {
    const char *what;
    int c, m, m2;      /* input channels, expanded, projected (0: no project conv) */
    int h, w, k, s, d; /* map, depthwise kernel, stride, dilation */
    int pads[4];       /* top, left, bottom, right */
    const char *act;   /* "Relu", "Clip", "HardSwish", "SiLU" or "" after expand and depthwise */
    int bias;          /* every conv has a bias */
    int residual;      /* Add(project, x) (c == m2, stride 1) */
    int near;          /* 1: expand output also a graph output; 2: expand conv strided; 3: no
                          expand conv (x -> depthwise -> project, c == m) */
    int want;          /* blocks the summary must count */
    const char *pact;  /* NULL, or an activation after the project conv (and the Add) */
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

static void encode(const struct block *b, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 24); /* the 960-channel case: 1.2 MB of weights */
    struct gb_node e = {"Conv", b->bias ? "x,wa,ba" : "x,wa", "e", {{0}}};
    if (b->near == 2)
        e.a[0] = (struct gb_attr){.name = "strides", .type = 7, .ints = {2, 2}, .n_ints = 2};
    if (b->near != 3)
        gb_node(&g, &e);
    const char *ea = b->near == 3 ? "x" : act(&g, b->act, "e", "ea", "et");
    char din[64];
    snprintf(din, sizeof din, "%s,wb%s", ea, b->bias ? ",bb" : "");
    const char *dout = b->m2 ? "d" : "dout";
    struct gb_node dw = {"Conv", din, b->act[0] && !b->m2 ? "d" : dout,
                         {{.name = "group", .type = 2, .i = b->m},
                          {.name = "pads", .type = 7, .ints = {b->pads[0], b->pads[1], b->pads[2], b->pads[3]}, .n_ints = 4},
                          {.name = "strides", .type = 7, .ints = {b->s, b->s}, .n_ints = 2},
                          {.name = "dilations", .type = 7, .ints = {b->d, b->d}, .n_ints = 2}}};
    gb_node(&g, &dw);
    const char *da = act(&g, b->act, dw.out, b->m2 ? "da" : "dout", "dt");
    const char *y = da;
    if (b->m2) {
        char pin[64];
        snprintf(pin, sizeof pin, "%s,wc%s", da, b->bias ? ",bc" : "");
        const char *po = b->pact ? "q" : "out";
        gb_node(&g, &(struct gb_node){"Conv", pin, b->residual ? "p" : po, {{0}}});
        if (b->residual)
            gb_node(&g, &(struct gb_node){"Add", "p,x", po, {{0}}});
        if (b->pact)
            act(&g, b->pact, "q", "out", "qt");
        y = "out";
    }
    pbw_str(&g, 2, "mbconv");
    int64_t nwa = (int64_t)b->m * b->c, nwb = (int64_t)b->m * b->k * b->k, nwc = (int64_t)(b->m2 ? b->m2 : 1) * b->m;
    float *wa = malloc((size_t)nwa * sizeof *wa), *wb = malloc((size_t)nwb * sizeof *wb);
    float *wc = malloc((size_t)nwc * sizeof *wc), *bias = malloc((size_t)(b->m + b->m2 + 1) * sizeof *bias);
    gb_fill(wa, nwa, 1.0f / sqrtf((float)b->c), 0.3f);
    gb_fill(wb, nwb, 1.0f / (float)b->k, 1.1f);
    gb_fill(wc, nwc, 1.0f / sqrtf((float)b->m), 2.3f);
    gb_fill(bias, b->m + b->m2 + 1, 0.2f, 0.7f);
    gb_init(&g, "wa", 1, 4, (const int64_t[]){b->m, b->c, 1, 1}, wa, (size_t)nwa * sizeof *wa);
    gb_init(&g, "wb", 1, 4, (const int64_t[]){b->m, 1, b->k, b->k}, wb, (size_t)nwb * sizeof *wb);
    gb_init(&g, "ba", 1, 1, (const int64_t[]){b->m}, bias, (size_t)b->m * sizeof *bias);
    gb_init(&g, "bb", 1, 1, (const int64_t[]){b->m}, bias + 1, (size_t)b->m * sizeof *bias);
    if (b->m2) {
        gb_init(&g, "wc", 1, 4, (const int64_t[]){b->m2, b->m, 1, 1}, wc, (size_t)nwc * sizeof *wc);
        gb_init(&g, "bc", 1, 1, (const int64_t[]){b->m2}, bias + 2, (size_t)b->m2 * sizeof *bias);
    }
    float lo = 0.0f, hi = 6.0f;
    gb_init(&g, "lo", 1, 0, NULL, &lo, sizeof lo);
    gb_init(&g, "hi", 1, 0, NULL, &hi, sizeof hi);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, b->c, b->h, b->w});
    pbw_value_info(&g, 12, y, 1, -1, NULL);
    if (b->near == 1)
        pbw_value_info(&g, 12, "e", 1, -1, NULL);
    gb_model(out, &g, 13);
    free(wa);
    free(wb);
    free(wc);
    free(bias);
}

/* Runs the model at batch bt; OUT: *out (malloc'd copy of output 0), its element count. */
static int64_t run(struct inferd_onnx_model *m, const struct block *b, int bt, float **out)
{
    int64_t n = (int64_t)bt * b->c * b->h * b->w;
    float *x = malloc((size_t)n * sizeof *x);
    gb_fill(x, n, 1.5f, (float)bt);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, b->c, b->h, b->w}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = gb_run(m, &in, b->near == 1 ? 2 : 1, b->what, out);
    CHECK(k >= 0);
    free(x);
    return k < 0 ? 0 : k;
}

static void check(const struct block *b)
{
    struct buf bb;
    buf_init(&bb, 1 << 24);
    encode(b, &bb);
    struct inferd_onnx_model *ref = NULL, *one = NULL, *two = NULL, *three = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_MBCONV},
                                     &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){0}, &one, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool}, &two, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool3}, &three, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", b->what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        char want[64];
        snprintf(want, sizeof want, " %d inverted-residual blocks", b->want);
        const char *s = inferd_onnx_graph_summary(one);
        int ok = strstr(s, want) && strstr(inferd_onnx_graph_summary(ref), " 0 inverted-residual blocks");
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", b->what, s, want);
        CHECK(ok);
        double worst = 0;
        /* batches 1, 3, 8; under ASan/TSan (scripts/test sets INFERD_SANITIZED) 1 and 3, which
         * reach the same paths (3 >= the thread counts: whole images per thread) in a third of
         * the time: the four ISA / layout variants run there too */
        const char *san = getenv("INFERD_SANITIZED");
        int bt_max = san && san[0] == '1' ? 3 : 8;
        for (int bt = 1; bt <= bt_max; bt = bt == 1 ? 3 : bt + 5) {
            float *r = NULL, *y1 = NULL, *y2 = NULL, *y3 = NULL;
            int64_t nr = run(ref, b, bt, &r), n1 = run(one, b, bt, &y1), n2 = run(two, b, bt, &y2);
            int64_t n3 = run(three, b, bt, &y3);
            CHECK(nr == n1 && nr == n2 && nr == n3 && nr > 0);
            for (int64_t i = 0; i < nr && nr == n1; i++) {
                double d1 = fabs((double)r[i] - y1[i]);
                CHECK(d1 <= 1e-5 * (1.0 + fabs(r[i])));
                worst = d1 > worst ? d1 : worst;
            }
            if (nr == n1 && nr == n2 && nr == n3) {
                int same2 = memcmp(y1, y2, (size_t)nr * sizeof *y1) == 0, same3 = memcmp(y1, y3, (size_t)nr * sizeof *y1) == 0;
                if (!same2 || !same3)
                    fprintf(stderr, "%s batch %d: 2 threads %s, 3 threads %s the 1-thread output\n", b->what, bt,
                            same2 ? "equal" : "differ from", same3 ? "equal" : "differ from");
                CHECK(same2 && same3);
            }
            free(r);
            free(y1);
            free(y2);
            free(y3);
        }
        printf("%-52s%s; max |on - off| = %.3g\n", b->what, want, worst);
    }
    inferd_onnx_free(ref);
    inferd_onnx_free(one);
    inferd_onnx_free(two);
    inferd_onnx_free(three);
    buf_free(&bb);
}

int main(void)
{
    pool = tpool_new(2);
    pool3 = tpool_new(3);
    CHECK(pool != NULL && pool3 != NULL);
    static const struct block cases[] = {
        /* what                                          c   m   m2  h    w    k  s  d  pads         act          bias res near want */
        {"small 3x3 s1 Relu + project + residual (whole)", 5, 19, 5, 9, 11, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 1, 0, 1, NULL},
        {"banded 3x3 s1 Clip + project, no bias", 16, 72, 24, 61, 67, 3, 1, 1, {1, 1, 1, 1}, "Clip", 0, 0, 0, 1, NULL},
        {"banded 5x5 s1 SiLU + project + residual", 12, 60, 12, 53, 57, 5, 1, 1, {2, 2, 2, 2}, "SiLU", 1, 1, 0, 1, NULL},
        {"banded 7x7 s1 HardSwish, no project", 9, 40, 0, 97, 95, 7, 1, 1, {3, 3, 3, 3}, "HardSwish", 1, 0, 0, 1, NULL},
        {"banded 3x3 no activation, pads 0", 8, 33, 16, 70, 70, 3, 1, 1, {0, 0, 0, 0}, "", 1, 0, 0, 1, NULL},
        {"banded 3x3 s2 Clip + project (MobileNetV2 block 2)", 16, 96, 24, 113, 113, 3, 2, 1, {1, 1, 1, 1}, "Clip", 1, 0, 0, 1, NULL},
        {"banded 3x3 s2 pads (0,0,1,1) Relu + project", 7, 48, 13, 90, 76, 3, 2, 1, {0, 0, 1, 1}, "Relu", 1, 0, 0, 1, NULL},
        {"banded 5x5 s2 SiLU, no project", 11, 40, 0, 99, 101, 5, 2, 1, {2, 2, 2, 2}, "SiLU", 0, 0, 0, 1, NULL},
        {"whole 5x5 s2 HardSwish + project (7x7 out)", 21, 67, 30, 14, 14, 5, 2, 1, {2, 2, 2, 2}, "HardSwish", 1, 0, 0, 1, NULL},
        {"whole 3x3 s1 Relu + project + residual, 1x1 map", 6, 17, 6, 1, 1, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 1, 0, 1, NULL},
        {"dilated 3x3 (plane kernel) Relu + project", 10, 36, 10, 75, 75, 3, 1, 2, {2, 2, 2, 2}, "Relu", 1, 1, 0, 1, NULL},
        {"banded 3x3 s1 Relu + project + Clip (E, D blocked)", 13, 70, 21, 58, 60, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 0, 1, "Clip"},
        {"banded 3x3 s1 + project + residual + HardSwish", 20, 44, 20, 45, 47, 3, 1, 1, {1, 1, 1, 1}, "HardSwish", 1, 1, 0, 1, "HardSwish"},
        {"banded 3x3 s2 SiLU + project (36 outputs) + SiLU", 24, 88, 36, 57, 55, 3, 2, 1, {1, 1, 1, 1}, "SiLU", 0, 0, 0, 1, "SiLU"},
        {"no expand: depthwise 3x3 s1 Relu -> project (banded)", 32, 32, 16, 113, 113, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 3, 1, NULL},
        {"no expand: depthwise 5x5 s2 Clip -> project + act", 24, 24, 40, 77, 81, 5, 2, 1, {2, 1, 2, 1}, "Clip", 0, 0, 3, 1, NULL},
        {"no expand: depthwise 3x3 s1 Clip -> project + residual (20)", 20, 20, 20, 60, 58, 3, 1, 1, {1, 1, 1, 1}, "Clip", 1, 1, 3, 1, NULL},
        {"whole 3x3 s1 7x7 Clip + project (40) + residual", 40, 120, 40, 7, 7, 3, 1, 1, {1, 1, 1, 1}, "Clip", 1, 1, 0, 1, NULL},
        {"whole 3x3 s1 7x7 Clip, M = 960 (3 parts -> 4)", 160, 960, 160, 7, 7, 3, 1, 1, {1, 1, 1, 1}, "Clip", 1, 1, 0, 1, NULL},
        {"whole 5x5 s1 14x14 SiLU, M = 232: expand pairs outer, 15 blocks", 40, 232, 40, 14, 14, 5, 1, 1, {2, 2, 2, 2}, "SiLU", 1, 1, 0, 1, NULL},
        {"rows 3x3 s1 14x14 Clip, M = 576 + residual (by rows)", 96, 576, 96, 14, 14, 3, 1, 1, {1, 1, 1, 1}, "Clip", 1, 1, 0, 1, NULL},
        {"rows 3x3 s2 28x28 -> 14x14 Clip + project (64)", 32, 192, 64, 28, 28, 3, 2, 1, {1, 1, 1, 1}, "Clip", 1, 0, 0, 1, NULL},
        {"rows 5x5 s1 17x15 pads (2,1,2,3) HardSwish + project (21) + act", 13, 40, 21, 17, 15, 5, 1, 1, {2, 1, 2, 3}, "HardSwish", 0, 0, 0, 1, "HardSwish"},
        {"rows no expand: depthwise 3x3 s1 16x16 Relu -> project (24)", 32, 32, 24, 16, 16, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 3, 1, NULL},
        {"whole 3x3 s1 6x6 Relu + project (planar)", 8, 30, 12, 6, 6, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 0, 1, NULL},
        {"no expand, no project: not fused", 24, 24, 0, 20, 20, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 3, 0, NULL},
        /* near misses: the expand stays a Conv, the depthwise -> project pair still fuses */
        {"near miss: expand output is a graph output", 8, 24, 8, 20, 20, 3, 1, 1, {1, 1, 1, 1}, "", 1, 0, 1, 1, NULL},
        {"near miss: strided expand", 8, 24, 8, 20, 20, 3, 1, 1, {1, 1, 1, 1}, "Relu", 1, 0, 2, 1, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(&cases[i]);
    tpool_free(pool);
    tpool_free(pool3);
    return check_finish();
}
