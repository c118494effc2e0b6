/* test_onnx_qconv_threads.c — the int8 convs (QLinearConv, InferdQLinearConv, ConvInteger)
 * give the same bytes on 1, 2 and 3 pool threads, at batch 1 and 3: quant_conv.c cuts a conv
 * into bands of output rows and ranges of output channels by the thread count, each run on
 * one thread with its own scratch slot (OX_OP_SCRATCH_SLOTS, sized by ox_op_scratch).
 * The cases cover one band cut finer for more threads, several bands, channel ranges (small
 * maps), channel counts off the 8-row blocks, groups, strides, dilation, pointwise convs
 * (x read in place), a conv whose im2col rows are made as packed (not flat), one too small to
 * cut (one item: one scratch slot, op->scratch_slots, at batch 1) and depthwise convs (their
 * own path, split by channel, no slots); each also with the plan's packed weights, which
 * with AVX-512 VNNI run the transposed GEMM (INFERD_QCONV_T=1: on every flat conv), and again
 * with the weights' zero points 0 (int8 weights: the c4 planes, B read in place). InferdQGemm
 * too (qgemm_op_threads: few rows, the columns split over the pool). ctest runs it
 * again with the VNNI kernels off (AVX2) and with every ISA off (the reference). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "onnx/onnx_int.h"

static struct ox_tensor *mk(enum inferd_dtype dt, int rank, const int64_t *dims, uint32_t *s)
{
    struct ox_tensor *t = calloc(1, sizeof *t);
    CHECK(t && ox_set_shape(t, dt, rank, dims, NULL) == 0);
    t->data = calloc(t->nbytes + 64, 1);
    t->is_const = 1;
    for (size_t i = 0; i < t->nbytes && dt != INFERD_FP32 && dt != INFERD_INT32; i++)
        ((uint8_t *)t->data)[i] = (uint8_t)((*s = *s * 1664525u + 1013904223u) >> 24);
    return t;
}

/* Runs node n on a pool of nth threads (NULL pool for 1), with the plan's packed weights when
 * packed (the VNNI row terms and, with AVX-512 VNNI, the panels of the transposed GEMM);
 * returns y's bytes (caller frees). */
static uint8_t *run(struct ox_node *n, struct ox_tensor **in, struct tpool *pool, int nth, int packed, size_t *bytes)
{
    struct ox_tensor y = {0}, *yp = &y;
    struct inferd_err err = {0};
    CHECK(n->op->infer(n, in, &yp, &err) == 0);
    y.data = calloc(y.nbytes + 64, 1);
    struct ox_ctx c = {.pool = pool, .nth = nth};
    int64_t pk = packed && n->op->pack ? n->op->pack(n, in, NULL) : 0;
    float *pbuf = pk > 0 ? aligned_alloc(64, ((size_t)pk * sizeof(float) + 63) & ~(size_t)63) : NULL;
    if (pbuf)
        n->op->pack(n, in, pbuf);
    c.packed = pbuf;
    size_t sb = ox_op_scratch(&c, n, in, &yp);
    c.scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
    c.scratch_size = sb;
    int rc = n->op->exec(&c, n, in, &yp, &err);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", n->op_type, err.msg);
    CHECK(rc == 0);
    free(c.scratch);
    free(pbuf);
    *bytes = y.nbytes;
    return y.data;
}

/* Scratch slots ox_op_scratch lays out for node n on nth threads. */
static size_t slots(struct ox_node *n, struct ox_tensor **in, int nth)
{
    struct ox_tensor y = {0}, *yp = &y;
    CHECK(n->op->infer(n, in, &yp, NULL) == 0);
    struct ox_ctx c1 = {.nth = 1}, cn = {.nth = nth};
    size_t one = ox_op_scratch(&c1, n, in, &yp), all = ox_op_scratch(&cn, n, in, &yp);
    return one ? all / ox_scratch_stride(one) : 0;
}

/* InferdQGemm (ops/quant.c) on 1, 2 and 3 threads, batch 1 and 3: a GEMM of too few rows to
 * split by rows runs its columns split over the pool (qgemm_u8_pool, VNNI kernels); the
 * bytes equal one thread's. Odd and whole panel widths, zero points != 0 (per tensor and per
 * column), W as (K, N) and transposed, with and without the plan's packed W. */
static int qgemm_op_threads(struct tpool *p2, struct tpool *p3, uint32_t *s, int *runs)
{
    static const struct { int64_t n, k; } cases[] = {{1000, 512}, {203, 130}, {96, 1280}, {33, 7}};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int batch = 1; batch <= 3; batch += 2)
            for (int mode = 0; mode < 4; mode++) {
                const int64_t N = cases[ci].n, K = cases[ci].k, trans = mode & 1, perc = mode >> 1;
                int64_t ad[2] = {batch, K}, wd[2] = {trans ? N : K, trans ? K : N}, one[1] = {1}, nd[1] = {N};
                struct ox_tensor *a = mk(mode == 3 ? INFERD_INT8 : INFERD_UINT8, 2, ad, s);
                struct ox_tensor *w = mk(ci % 2 ? INFERD_UINT8 : INFERD_INT8, 2, wd, s);
                struct ox_tensor *sa = mk(INFERD_FP32, 0, one, s), *za = mk(a->dt, 0, one, s);
                struct ox_tensor *sw = mk(INFERD_FP32, perc, perc ? nd : one, s);
                struct ox_tensor *zw = mk(w->dt, perc, perc ? nd : one, s);
                struct ox_tensor *sy = mk(INFERD_FP32, 0, one, s), *zy = mk(INFERD_UINT8, 0, one, s);
                struct ox_tensor *b = mk(INFERD_INT32, 1, nd, s);
                *(float *)sa->data = 0.02f, *(float *)sy->data = 0.7f;
                for (int64_t o = 0; o < sw->numel; o++)
                    ((float *)sw->data)[o] = 0.001f * (float)(o % 7 + 1);
                for (int64_t o = 0; o < N; o++)
                    ((int32_t *)b->data)[o] = (int32_t)(o * 997 % 4001) - 2000;
                struct ox_tensor *in[9] = {a, sa, za, w, sw, zw, sy, zy, b};
                struct ox_node n = {.op_type = "InferdQGemm", .name = "g", .domain = "", .n_out = 1, .n_in = 9};
                n.op = ox_op_find(n.op_type);
                CHECK(n.op != NULL);
                n.ip[0] = trans;
                for (int packed = 0; packed < 2; packed++) {
                    size_t b1, b2, b3;
                    uint8_t *y1 = run(&n, in, NULL, 1, packed, &b1), *y2 = run(&n, in, p2, 2, packed, &b2);
                    uint8_t *y3 = run(&n, in, p3, 3, packed, &b3);
                    int diff = b1 != b2 || b1 != b3 || memcmp(y1, y2, b1) != 0 || memcmp(y1, y3, b1) != 0;
                    if (diff)
                        fprintf(stderr, "InferdQGemm case %zu batch %d mode %d packed %d: 1, 2 and 3 threads differ\n",
                                ci, batch, mode, packed);
                    bad += diff;
                    (*runs)++;
                    free(y1), free(y2), free(y3);
                }
                struct ox_tensor *all[] = {a, sa, za, w, sw, zw, sy, zy, b};
                for (size_t t = 0; t < sizeof all / sizeof all[0]; t++)
                    free(all[t]->data), free(all[t]);
            }
    return bad;
}

int main(void)
{
    /* one: at batch 1 on 3 threads the plan lays out one scratch slot (op->scratch_slots) */
    static const struct { int64_t c, h, w, m, k, s, d, g, p; int one; } cases[] = {
        {8, 28, 28, 16, 3, 1, 1, 1, 1, 0},  /* one band of 28 rows: cut into 2 or 3 for the threads */
        {6, 58, 56, 12, 3, 1, 1, 1, 1, 0},  /* several bands of 1024 columns */
        {16, 7, 7, 40, 3, 1, 1, 1, 1, 0},   /* too small to cut: channel ranges (40 = 5 blocks) */
        {16, 14, 14, 20, 3, 1, 1, 1, 1, 0}, /* 20 channels: blocks of 8, 8 and 4 */
        {3, 61, 60, 16, 7, 2, 1, 1, 3, 0},  /* a stem: stride-2 phase planes */
        {8, 30, 30, 16, 3, 2, 1, 1, 1, 0},  /* stride 2, one band */
        {8, 23, 21, 16, 3, 3, 1, 1, 1, 0},  /* stride 3 (c4 planes: bytes gathered one by one) */
        {12, 20, 20, 18, 3, 1, 2, 3, 2, 0}, /* groups, dilation */
        {32, 28, 28, 24, 1, 1, 1, 1, 0, 0}, /* pointwise: x is its own plane */
        {16, 30, 29, 32, 1, 2, 1, 1, 0, 0}, /* strided 1x1 */
        {4, 6, 6, 8, 5, 1, 1, 1, 0, 1},     /* im2col rows made as packed (not flat) */
        {8, 5, 5, 8, 3, 1, 1, 1, 1, 1},     /* one item at batch 1: fewer parts (slots) than threads */
        {96, 14, 14, 96, 3, 2, 1, 96, 1, 1}, /* depthwise (qdw_exec: channels split), stride 2 */
        {40, 21, 21, 40, 3, 1, 1, 40, 1, 1}, /* depthwise, stride 1 */
    };
    static const char *const ops[] = {"QLinearConv", "InferdQLinearConv", "ConvInteger"};
    struct tpool *p2 = tpool_new(2), *p3 = tpool_new(3);
    CHECK(p2 && p3);
    uint32_t s = 7;
    int runs = 0, bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int oi = 0; oi < 3; oi++)
            for (int batch = 1; batch <= 3; batch += 2) {
                const int64_t C = cases[ci].c, M = cases[ci].m, k = cases[ci].k, G = cases[ci].g;
                const int mode = (int)(ci + (size_t)oi) % 4, xs = mode & 1, ws = mode >> 1;
                int64_t xd[4] = {batch, C, cases[ci].h, cases[ci].w}, wd[4] = {M, C / G, k, k};
                int64_t one[1] = {1}, md[1] = {M};
                struct ox_tensor *x = mk(xs ? INFERD_INT8 : INFERD_UINT8, 4, xd, &s);
                struct ox_tensor *w = mk(ws ? INFERD_INT8 : INFERD_UINT8, 4, wd, &s);
                struct ox_tensor *zx = mk(x->dt, 0, one, &s), *zw = mk(w->dt, ci % 2 ? 1 : 0, ci % 2 ? md : one, &s);
                struct ox_tensor *sx = mk(INFERD_FP32, 0, one, &s), *sw = mk(INFERD_FP32, 1, md, &s);
                struct ox_tensor *sy = mk(INFERD_FP32, 0, one, &s), *zy = mk(INFERD_UINT8, 0, one, &s);
                struct ox_tensor *b = mk(INFERD_INT32, 1, md, &s);
                struct ox_tensor *s1 = mk(INFERD_FP32, 0, one, &s), *z1 = mk(INFERD_UINT8, 0, one, &s);
                struct ox_tensor *s2 = mk(INFERD_FP32, 0, one, &s), *z2 = mk(INFERD_INT8, 0, one, &s);
                *(float *)sx->data = 0.02f, *(float *)sy->data = 0.9f, *(float *)s1->data = 0.05f;
                *(float *)s2->data = 0.031f;
                for (int64_t o = 0; o < M; o++) {
                    ((float *)sw->data)[o] = 0.001f * (float)(o % 7 + 1);
                    ((int32_t *)b->data)[o] = (int32_t)(o * 997 % 4001) - 2000;
                }
                int64_t strides[2] = {cases[ci].s, cases[ci].s}, dil[2] = {cases[ci].d, cases[ci].d};
                int64_t pads[4] = {cases[ci].p, cases[ci].p, cases[ci].p, cases[ci].p};
                struct ox_attr attrs[4] = {{.name = "group", .type = OX_ATTR_INT, .i = G},
                                           {.name = "strides", .type = OX_ATTR_INTS, .ints = strides, .n_ints = 2},
                                           {.name = "dilations", .type = OX_ATTR_INTS, .ints = dil, .n_ints = 2},
                                           {.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n_ints = 4}};
                struct ox_tensor *qin[13] = {x, sx, zx, w, sw, zw, sy, zy, b, s1, z1, s2, z2};
                struct ox_tensor *cin[4] = {x, w, zx, zw};
                struct ox_node n = {.op_type = ops[oi], .name = "t", .domain = "", .n_out = 1, .n_attrs = 4,
                                    .attrs = attrs, .n_in = oi == 0 ? 9 : oi == 1 ? 13 : 4};
                n.op = ox_op_find(n.op_type);
                CHECK(n.op != NULL);
                n.ip[0] = (int64_t)(ci % 2); /* InferdQLinearConv: a Relu in the chain */
                struct ox_tensor **in = oi == 2 ? cin : qin;
                size_t ns = slots(&n, in, 3);
                if (ns < 1 || ns > 3 || (cases[ci].one && batch == 1 && ns != 1)) {
                    fprintf(stderr, "case %zu %s batch %d: %zu scratch slots on 3 threads\n", ci, ops[oi], batch, ns);
                    bad++;
                }
                size_t b1, b2, b3;
                uint8_t *y1 = run(&n, in, NULL, 1, 0, &b1), *y2 = run(&n, in, p2, 2, 0, &b2);
                uint8_t *y3 = run(&n, in, p3, 3, 0, &b3);
                int diff = b1 != b2 || b1 != b3 || memcmp(y1, y2, b1) != 0 || memcmp(y1, y3, b1) != 0;
                if (diff)
                    fprintf(stderr, "case %zu %s batch %d: 1, 2 and 3 threads differ\n", ci, ops[oi], batch);
                bad += diff;
                runs++;
                free(y2), free(y3);
                /* packed weights, the transposed GEMM on every flat conv (AVX-512 VNNI) */
                setenv("INFERD_QCONV_T", "1", 1);
                y2 = run(&n, in, NULL, 1, 1, &b2), y3 = run(&n, in, p3, 3, 1, &b3);
                unsetenv("INFERD_QCONV_T");
                diff = b1 != b2 || b1 != b3 || memcmp(y1, y2, b1) != 0 || memcmp(y1, y3, b1) != 0;
                if (diff)
                    fprintf(stderr, "case %zu %s batch %d: packed weights (1, 3 threads) differ\n", ci, ops[oi],
                            batch);
                bad += diff;
                free(y1), free(y2), free(y3);
                /* zero points 0: with int8 weights, the c4 planes read in place (no B pack) */
                memset(zw->data, 0, zw->nbytes);
                y1 = run(&n, in, NULL, 1, 0, &b1);
                setenv("INFERD_QCONV_T", "1", 1);
                y2 = run(&n, in, NULL, 1, 1, &b2), y3 = run(&n, in, p3, 3, 1, &b3);
                unsetenv("INFERD_QCONV_T");
                diff = b1 != b2 || b1 != b3 || memcmp(y1, y2, b1) != 0 || memcmp(y1, y3, b1) != 0;
                if (diff)
                    fprintf(stderr, "case %zu %s batch %d: packed weights, zero points 0 (1, 3 threads) differ\n", ci,
                            ops[oi], batch);
                bad += diff;
                free(y1), free(y2), free(y3);
                struct ox_tensor *all[] = {x, w, zx, zw, sx, sw, sy, zy, b, s1, z1, s2, z2};
                for (size_t t = 0; t < sizeof all / sizeof all[0]; t++)
                    free(all[t]->data), free(all[t]);
            }
    printf("int8 convs on 1, 2 and 3 threads: %d runs, %d differ\n", runs, bad);
    int qruns = 0, qbad = qgemm_op_threads(p2, p3, &s, &qruns);
    printf("InferdQGemm on 1, 2 and 3 threads: %d runs, %d differ\n", qruns, qbad);
    bad += qbad;
    CHECK(bad == 0);
    tpool_free(p2);
    tpool_free(p3);
    return check_finish();
}
