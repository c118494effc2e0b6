/* test_onnx_kernels.c — inferd ONNX engine internals: the protobuf wire reader (varints,
 * packed/unpacked repeated fields, truncation), TensorProto typed fields (int32_data packed
 * and unpacked, double_data, FP16 bits, uint64_data, external data refused), and the AVX2
 * A@B^T and packed-panel kernels against their portable references over odd sizes
 * (|diff| <= 1e-4 * (1 + |ref|)); every int8 GEMM kernel the CPU has (AVX2 vpmaddwd, AVX-VNNI,
 * AVX-512 VNNI) against its reference (exactly equal), every signedness, zero points none /
 * per tensor / row / column including the extremes, odd sizes (K not a multiple of 4 or 16,
 * partial row blocks and column panels) and K past a chunk; the requantisation epilogue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "check.h"
#include "inferd/tensor.h"
#include "onnx/gemm_nt.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/qbytes.h"
#include "onnx/ops/qdwconv.h"
#include "onnx/ops/qgemm.h"
#include "onnx/pb.h"

static void test_pb(void)
{
    struct inferd_err err = {0};
    /* field 1 varint 300, field 2 len "hi", field 3 packed varints {1, 150}, field 4 fixed32 */
    const uint8_t msg[] = {0x08, 0xac, 0x02, 0x12, 0x02, 'h', 'i', 0x1a, 0x03, 0x01, 0x96, 0x01,
                           0x25, 0x00, 0x00, 0x80, 0x3f};
    struct pb_reader r = pb_reader_init(msg, sizeof msg);
    struct pb_field f;
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 1 && f.wire == PB_VARINT && f.v == 300);
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 2 && f.len == 2 && memcmp(f.data, "hi", 2) == 0);
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 3);
    CHECK(pb_repeated_count(&f, PB_ELEM_VARINT, &err) == 2);
    uint64_t v[2];
    CHECK(pb_repeated_read(&f, PB_ELEM_VARINT, v, 2, &err) == 0 && v[0] == 1 && v[1] == 150);
    CHECK(pb_repeated_count(&f, PB_ELEM_FIXED32, &err) < 0); /* 3 bytes is not a multiple of 4 */
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 4 && f.wire == PB_FIXED32);
    float x;
    uint32_t u = (uint32_t)f.v;
    memcpy(&x, &u, 4);
    CHECK(x == 1.0f);
    CHECK(pb_next(&r, &f, &err) == 0);
    /* every truncation of the message is either a clean prefix or EFORMAT, never a read past the end */
    for (size_t cut = 0; cut < sizeof msg; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, msg, cut);
        r = pb_reader_init(copy, cut);
        int rc;
        while ((rc = pb_next(&r, &f, &err)) > 0)
            ;
        CHECK(rc == 0 || rc == INFERD_EFORMAT);
        free(copy);
    }
    const uint8_t longlen[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
    r = pb_reader_init(longlen, sizeof longlen);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
    const uint8_t group[] = {0x0b};
    r = pb_reader_init(group, 1);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
    const uint8_t tenbytes[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    r = pb_reader_init(tenbytes, sizeof tenbytes);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
}

/* TensorProto bytes made with onnx.helper.make_tensor (typed fields, not raw_data) */
static const uint8_t tp_i32[] = {0x08, 0x03, 0x10, 0x06, 0x2a, 0x0d, 0x01, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0x01, 0xac, 0x02, 0x42, 0x03, 0x69, 0x33, 0x32};
static const uint8_t tp_f64[] = {0x08, 0x02, 0x10, 0x0b, 0x42, 0x03, 0x66, 0x36, 0x34, 0x52, 0x10, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0xe0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf4, 0xbf};
static const uint8_t tp_f16[] = {0x08, 0x02, 0x10, 0x0a, 0x2a, 0x06, 0xc0, 0xe7, 0x01, 0x80, 0xf4, 0x01, 0x42, 0x03,
                                 0x66, 0x31, 0x36};
static const uint8_t tp_ext[] = {0x08, 0x02, 0x10, 0x01, 0x42, 0x03, 0x65, 0x78, 0x74, 0x6a, 0x11, 0x0a, 0x08, 0x6c, 0x6f,
                                 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x12, 0x05, 0x77, 0x2e, 0x62, 0x69, 0x6e, 0x70, 0x01};
static const uint8_t tp_u64[] = {0x08, 0x02, 0x10, 0x0d, 0x42, 0x03, 0x75, 0x36, 0x34, 0x5a, 0x07, 0x07, 0x80, 0x80,
                                 0x80, 0x80, 0x80, 0x20};
static const uint8_t tp_i32_unpacked[] = {0x08, 0x02, 0x10, 0x06, 0x28, 0x05, 0x28, 0x07};
static const uint8_t tp_i32_short[] = {0x08, 0x03, 0x10, 0x06, 0x28, 0x05, 0x28, 0x07};

static void test_tensor_proto(void)
{
    struct ox_mem *mem = ox_mem_new();
    struct ox_tensor t;
    struct inferd_err err = {0};
    const char *name;
    CHECK(ox_decode_tensor(mem, tp_i32, sizeof tp_i32, &t, &name, &err) == 0);
    CHECK(t.dt == INFERD_INT32 && t.numel == 3 && strcmp(name, "i32") == 0);
    CHECK(((int32_t *)t.data)[0] == 1 && ((int32_t *)t.data)[1] == -2 && ((int32_t *)t.data)[2] == 300);
    CHECK(ox_decode_tensor(mem, tp_f64, sizeof tp_f64, &t, &name, &err) == 0);
    CHECK(t.dt == INFERD_FP64 && ((double *)t.data)[0] == 0.5 && ((double *)t.data)[1] == -1.25);
    CHECK(ox_decode_tensor(mem, tp_f16, sizeof tp_f16, &t, &name, &err) == 0);
    /* int32_data carries the raw half bits (0x73c0 = 15872.0, 0x7a00 = 49152.0) */
    CHECK(t.dt == INFERD_FP16 && ((uint16_t *)t.data)[0] == 0x73c0 && ((uint16_t *)t.data)[1] == 0x7a00);
    CHECK(inferd_fp16_to_fp32(((uint16_t *)t.data)[0]) == 15872.0f);
    CHECK(ox_decode_tensor(mem, tp_u64, sizeof tp_u64, &t, &name, &err) == 0);
    CHECK(t.dt == INFERD_UINT64 && ((uint64_t *)t.data)[0] == 7 && ((uint64_t *)t.data)[1] == (uint64_t)1 << 40);
    CHECK(ox_decode_tensor(mem, tp_i32_unpacked, sizeof tp_i32_unpacked, &t, &name, &err) == 0);
    CHECK(((int32_t *)t.data)[0] == 5 && ((int32_t *)t.data)[1] == 7);
    CHECK(ox_decode_tensor(mem, tp_i32_short, sizeof tp_i32_short, &t, &name, &err) == INFERD_EFORMAT);
    CHECK(ox_decode_tensor(mem, tp_ext, sizeof tp_ext, &t, &name, &err) == INFERD_EUNSUPPORTED);
    CHECK(strstr(err.msg, "external data") != NULL);
    ox_mem_free(mem);
}

static void test_gemm_nt(void)
{
    if (!cpu_has(CPU_AVX2 | CPU_FMA)) {
        printf("no AVX2+FMA: only the reference runs\n");
        return;
    }
    static const int ks[] = {1, 7, 8, 9, 100, 513, 1100};
    uint32_t s = 1;
    for (int m = 1; m <= 13; m++) {
        for (int n = 1; n <= 35; n += (n < 7 ? 1 : 14)) {
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                int k = ks[ki];
                float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(n * k));
                float *c1 = malloc(sizeof(float) * (size_t)(m * n)), *c2 = malloc(sizeof(float) * (size_t)(m * n));
                for (int i = 0; i < m * k; i++)
                    a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < n * k; i++)
                    b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int acc = 0; acc < 2; acc++) {
                    for (int i = 0; i < m * n; i++)
                        c1[i] = c2[i] = (float)i * 0.25f;
                    struct ox_gemm_nt g1 = {a, b, c1, k, k, k, n, 0.75f, acc}, g2 = g1;
                    g2.c = c2;
                    ox_gemm_nt_ref(&g1, 0, m, 0, n);
                    ox_gemm_nt_avx2(&g2, 0, m, 0, n);
                    for (int i = 0; i < m * n; i++)
                        CHECK(fabsf(c1[i] - c2[i]) <= 1e-4f * (1.0f + fabsf(c1[i])));
                    /* packed reference (B as (N,K), i.e. transB) against the dot-product one */
                    float *bp = aligned_alloc(64, sizeof(float) * (size_t)ox_gemm_pack_size(k, n) + 64);
                    ox_gemm_pack(b, k, n, 1, bp);
                    for (int i = 0; i < m * n; i++)
                        c2[i] = (float)i * 0.25f;
                    struct ox_gemm_pk pk = {a, bp, c2, k, n, k, n, 0.75f, acc, NULL, 0};
                    ox_gemm_pk_ref(&pk, 0, m, 0, ox_gemm_pk_panels(n));
                    for (int i = 0; i < m * n; i++)
                        CHECK(fabsf(c1[i] - c2[i]) <= 1e-4f * (1.0f + fabsf(c1[i])));
                    free(bp);
                }
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
        }
    }
}

/* The packed-weight GEMM of each ISA against ox_gemm_pk_ref: every row / column edge of the
 * 6x16 and 12x32 blocks, K across the K chunks, accumulate, bias and GELU, the work split
 * into row and panel ranges as the op splits it, and C's padding columns left alone. */
static void test_gemm_pk_isa(int isa)
{
    const char *name = isa == 2 ? "AVX-512" : "AVX2";
    if (ox_gemm_pk_isa() < isa) {
        printf("SKIP packed GEMM %s: this CPU lacks it (or INFERD_CPU_DISABLE)\n", name);
        return;
    }
    static const int ms[] = {1, 5, 6, 7, 12, 13, 25};
    static const int ns[] = {1, 5, 16, 17, 32, 33, 48, 80};
    static const int ks[] = {1, 7, 64, 300}; /* 300: two K chunks */
    uint32_t s = 11;
    int bad = 0, runs = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                int m = ms[mi], n = ns[ni], k = ks[ki], ldc = n + 3;
                int64_t panels = ox_gemm_pk_panels(n);
                float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(n * k));
                float *bias = malloc(sizeof(float) * (size_t)n), *c1 = malloc(sizeof(float) * (size_t)(m * ldc));
                float *c2 = malloc(sizeof(float) * (size_t)(m * ldc));
                float *bp = aligned_alloc(64, sizeof(float) * (size_t)ox_gemm_pack_size(k, n) + 64);
                CHECK(a && b && bias && c1 && c2 && bp);
                if (!a || !b || !bias || !c1 || !c2 || !bp)
                    return;
                for (int i = 0; i < m * k; i++)
                    a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < n * k; i++)
                    b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < n; i++)
                    bias[i] = (float)i * 0.125f - 2.0f;
                ox_gemm_pack(b, k, n, (int)(ki & 1), bp); /* (N,K) and (K,N) layouts alike */
                for (int mode = 0; mode < 8; mode++) { /* bit 0 accumulate, 1 bias, 2 GELU */
                    for (int i = 0; i < m * ldc; i++)
                        c1[i] = c2[i] = (float)i * 0.25f - 3.0f;
                    struct ox_gemm_pk g1 = {a, bp, c1, k, n, k, ldc, 0.75f, mode & 1, mode & 2 ? bias : NULL,
                                            (mode >> 2) & 1};
                    struct ox_gemm_pk g2 = g1;
                    g2.c = c2;
                    ox_gemm_pk_ref(&g1, 0, m, 0, panels);
                    if (mode & 1) { /* in four parts */
                        int64_t mh = m / 2, ph = panels / 2 / 2 * 2;
                        ox_gemm_pk_run(isa, &g2, 0, mh, 0, ph);
                        ox_gemm_pk_run(isa, &g2, mh, m, 0, ph);
                        ox_gemm_pk_run(isa, &g2, 0, mh, ph, panels);
                        ox_gemm_pk_run(isa, &g2, mh, m, ph, panels);
                    } else {
                        ox_gemm_pk_run(isa, &g2, 0, m, 0, panels);
                    }
                    runs++;
                    for (int i = 0; i < m * ldc; i++) {
                        float tol = 2e-5f * (float)k + 1e-4f * fabsf(c1[i]);
                        if (!(fabsf(c1[i] - c2[i]) <= tol) && bad++ < 5)
                            fprintf(stderr, "  %s m=%d n=%d k=%d mode=%d at %d: %g vs ref %g\n", name, m, n, k,
                                    mode, i, (double)c2[i], (double)c1[i]);
                    }
                }
                free(a);
                free(b);
                free(bias);
                free(c1);
                free(c2);
                free(bp);
            }
    printf("packed GEMM %s: %d runs against the reference, %d differ\n", name, runs, bad);
    CHECK(bad == 0);
}

/* The in-place small GEMM (attention's P @ V) of each ISA against ox_gemm_nn_ref, with row
 * strides wider than the rows and C's padding left alone. */
static void test_gemm_nn_isa(int isa)
{
    const char *name = isa == 2 ? "AVX-512" : "AVX2";
    if (ox_gemm_pk_isa() < isa) {
        printf("SKIP small GEMM %s: this CPU lacks it (or INFERD_CPU_DISABLE)\n", name);
        return;
    }
    uint32_t s = 5;
    int bad = 0, runs = 0;
    for (int m = 1; m <= 9; m++)
        for (int n = 1; n <= 70; n += (n < 18 ? 1 : 13))
            for (int k = 1; k <= 40; k += 13) {
                int lda = k + 2, ldb = n + 5, ldc = n + 3;
                float *a = malloc(sizeof(float) * (size_t)(m * lda)), *b = malloc(sizeof(float) * (size_t)(k * ldb));
                float *c1 = malloc(sizeof(float) * (size_t)(m * ldc)), *c2 = malloc(sizeof(float) * (size_t)(m * ldc));
                CHECK(a && b && c1 && c2);
                if (!a || !b || !c1 || !c2)
                    return;
                for (int i = 0; i < m * lda; i++)
                    a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < k * ldb; i++)
                    b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < m * ldc; i++)
                    c1[i] = c2[i] = (float)i;
                struct ox_gemm_nn g1 = {a, b, c1, m, n, k, lda, ldb, ldc}, g2 = g1;
                g2.c = c2;
                ox_gemm_nn_ref(&g1);
                ox_gemm_nn_run(isa, &g2);
                runs++;
                for (int i = 0; i < m * ldc; i++)
                    if (!(fabsf(c1[i] - c2[i]) <= 1e-5f * (float)k + 1e-5f * fabsf(c1[i])) && bad++ < 5)
                        fprintf(stderr, "  %s m=%d n=%d k=%d at %d: %g vs ref %g\n", name, m, n, k, i, (double)c2[i],
                                (double)c1[i]);
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
    printf("small GEMM %s: %d runs against the reference, %d differ\n", name, runs, bad);
    CHECK(bad == 0);
}

struct brows_src {
    const uint8_t *b;
    int64_t n;
    int calls;
};

/* qgemm_args.b_row for the test: rows of a B held whole, copied (odd rows) or in place */
static const uint8_t *brows_copy(void *ctx, int64_t k, uint8_t *tmp)
{
    struct brows_src *src = ctx;
    src->calls++;
    if (k & 1)
        return src->b + k * src->n;
    memcpy(tmp, src->b + k * src->n, (size_t)src->n);
    return tmp;
}

/* C = (A - za)(B - zb), bytes as uint8 or int8: each SIMD kernel equals the reference, with
 * B read whole and made a row at a time (b_row). */
static void test_qgemm_isa(enum qgemm_isa isa)
{
    if (!qgemm_isa_usable(isa)) {
        printf("SKIP int8 GEMM %s: this CPU lacks it (or INFERD_CPU_DISABLE)\n", qgemm_isa_name(isa));
        return;
    }
    static const int ks[] = {1, 2, 3, 4, 5, 7, 16, 17, 33, 64, 513, 1100};
    uint32_t s = 7;
    int bad = 0, runs = 0, cols_runs = 0;
    for (int m = 1; m <= 19; m += (m < 9 ? 2 : 5)) {
        for (int n = 1; n <= 201; n += (n < 9 ? 1 : n < 17 ? 8 : n < 73 ? 16 : 64)) {
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                int k = ks[ki];
                uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n)), za[32], zb[256];
                int32_t *c1 = malloc(sizeof(int32_t) * (size_t)(m * n)), *c2 = malloc(sizeof(int32_t) * (size_t)(m * n));
                void *pack = aligned_alloc(32, (qgemm_scratch_bytes(k, n) + 31) & ~(size_t)31);
                uint8_t *btmp = malloc((size_t)(QGEMM_B_ROWS * n));
                for (int i = 0; i < m * k; i++)
                    a[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                for (int i = 0; i < k * n; i++)
                    b[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                if (ki % 3 == 0) { /* extremes: every product at its largest */
                    for (int i = 0; i < m * k; i++)
                        a[i] = (uint8_t)(i & 1 ? 0x80 : 0xff);
                    for (int i = 0; i < k * n; i++)
                        b[i] = (uint8_t)(i & 2 ? 0x80 : 0x7f);
                }
                for (int i = 0; i < 32; i++) /* per-row / per-column zero points: m <= 19, n <= 201 */
                    za[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                for (int i = 0; i < 256; i++)
                    zb[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                za[0] = (uint8_t)(m & 2 ? 0x80 : 0xff), zb[0] = (uint8_t)(n & 2 ? 0x7f : 0x00);
                for (int mode = 0; mode < 12; mode++) {
                    struct qgemm_args g = {.M = m, .N = n, .K = k, .a = a, .a_signed = mode & 1, .b = b,
                                           .b_signed = (mode >> 1) & 1, .c = c1};
                    if (mode >= 8) { /* zero point on one side only */
                        if (mode & 1)
                            g.za = za, g.za_len = 1;
                        else
                            g.zb = zb, g.zb_len = n;
                    } else if (mode & 4) { /* per-row / per-column zero points */
                        g.za = za, g.za_len = m, g.zb = zb, g.zb_len = n;
                    } else if (mode & 2) {
                        g.za = za, g.za_len = 1, g.zb = zb, g.zb_len = 1;
                    }
                    qgemm_u8_ref(&g);
                    g.c = c2;
                    g.pack = pack;
                    qgemm_u8_isa(&g, isa);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    /* rows in two parts, as the pool splits them */
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    qgemm_u8_isa_pack(&g, isa);
                    qgemm_u8_isa_rows(&g, isa, 4 < m ? 4 : m, m);
                    qgemm_u8_isa_rows(&g, isa, 0, 4 < m ? 4 : m);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    /* columns in two parts, as the pool splits a GEMM of few rows (the kernels
                     * without a column range compute them all, once) */
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    const int cut = qgemm_isa_has_cols(isa) && n > QGEMM_COL_STEP ? QGEMM_COL_STEP * (1 + (n > 96)) : 0;
                    if (cut)
                        qgemm_u8_isa_cols(&g, isa, 0, m, cut, n);
                    qgemm_u8_isa_cols(&g, isa, 0, m, 0, cut ? cut : n);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    cols_runs += cut > 0;
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    struct brows_src src = {b, n, 0};
                    struct qgemm_args gr = g;
                    gr.b = NULL, gr.b_row = brows_copy, gr.b_ctx = &src, gr.b_tmp = btmp;
                    qgemm_u8_isa(&gr, isa);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0 || src.calls == 0;
                    /* B's rows apart (b_ld: a pointwise conv's channels read in place) */
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    uint8_t *bl = malloc((size_t)(k * (n + 3)));
                    for (int kk = 0; kk < k; kk++)
                        memcpy(bl + kk * (n + 3), b + kk * n, (size_t)n), memset(bl + kk * (n + 3) + n, 0xa5, 3);
                    struct qgemm_args gl = g;
                    gl.b = bl, gl.b_ld = n + 3;
                    qgemm_u8_isa(&gl, isa);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    gl.pack = NULL;
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    qgemm_u8_ref(&gl);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    free(bl);
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    int32_t terms[2 * 19]; /* A's row terms made once (constant weights) */
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    qgemm_a_terms(&g, terms);
                    gr.a_terms = terms;
                    qgemm_u8_isa(&gr, isa);
                    bad += memcmp(c1, c2, sizeof(int32_t) * (size_t)(m * n)) != 0;
                    runs++;
                }
                free(pack);
                free(btmp);
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
        }
    }
    printf("int8 GEMM %s: %d runs (%d split by columns), %d mismatches\n", qgemm_isa_name(isa), runs, cols_runs,
           bad);
    CHECK(bad == 0);
    CHECK(runs > 100);
    CHECK(!qgemm_isa_has_cols(isa) || cols_runs > 100);
}

/* qgemm_u8_avx512vbmi_rows_t_rq on g (panels pan, B packed) against the reference sums c1
 * (rows x pw columns) requantised by qgemm_requant_ref / qgemm_requant_chain_ref (odd modes: a
 * DQ -> Q table, with a Relu in modes 3 and 7): per-row scales that tie, saturate both ways
 * and overflow to inf, both signs of y, the rows cut at cut (two calls), y rows T + 5 bytes
 * apart (the gaps must stay untouched). Returns 1 on a mismatch. */
static int qgemm_t_rq_bad(const struct qgemm_args *g, const uint8_t *pan, const int32_t *c1, int rows, int ow,
                          int pw, int cut, int mode, uint32_t *s)
{
    static const float muls[] = {0.5f, 1e-3f, 3.0f, 1e30f, -0.25f, 0.0371f, 1.0f};
    const int m = (int)g->M, T = rows * ow, ys = T + 5, sg = (mode >> 2) & 1, chain = mode & 1;
    const int32_t zp = sg ? -5 : 120;
    struct qgemm_chain ch = {.s1 = 0.0235f, .s2 = 0.0125f, .z1 = sg ? 3 : 131, .z2 = 17, .v_signed = sg,
                             .y_signed = (mode >> 1) & 1, .relu = (mode & 3) == 3};
    qgemm_chain_init(&ch);
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)m), *row = malloc(sizeof(int32_t) * (size_t)T);
    float *mul = malloc(sizeof(float) * (size_t)m);
    uint8_t *y1 = malloc((size_t)(m * ys)), *y2 = malloc((size_t)(m * ys));
    memset(y1, 0xa5, (size_t)(m * ys));
    memset(y2, 0xa5, (size_t)(m * ys));
    for (int i = 0; i < m; i++) {
        mul[i] = muls[(i + mode) % 7] * (i % 2 ? 1e-3f : 1.0f);
        bias[i] = i % 3 == 0 ? 0 : (int32_t)((*s = *s * 1664525u + 1013904223u) >> 16) - 32768;
        for (int t = 0; t < T; t++)
            row[t] = c1[i * g->N + t / ow * pw + t % ow];
        if (chain)
            qgemm_requant_chain_ref(row, T, bias[i], &mul[i], 0, zp, sg, &ch, y1 + i * ys);
        else
            qgemm_requant_ref(row, T, bias[i], &mul[i], 0, zp, sg, y1 + i * ys);
    }
    for (int part = 0; part < 2; part++) {
        const int m0 = part ? 0 : cut, m1 = part ? cut : m;
        const struct qgemm_rq rq = {.bias = bias + m0, .mul = mul + m0, .zp = zp, .out_signed = sg,
                                    .y = y2 + m0 * ys, .ys = ys, .m0 = m0, .lut8 = chain ? ch.lut8 : NULL};
        if (m1 > m0)
            qgemm_u8_avx512vbmi_rows_t_rq(g, pan, NULL, NULL, 0, m0, m1, rows, ow, pw, &rq);
    }
    const int bad = memcmp(y1, y2, (size_t)(m * ys)) != 0;
    free(bias), free(row), free(mul), free(y1), free(y2);
    return bad;
}

/* The transposed AVX-512 VNNI GEMM (qgemm_u8_avx512vnni_rows_t) equals the reference on the
 * kept columns of flat layouts (rows x ow of rows x pw, pw >= ow), stored compacted: tiles of
 * 4-8 pixels and 1-3 panels, rows off the 16-row panels, row ranges split anywhere (as the
 * threads split channels), K past the last whole quad, both signs, zero points per tensor,
 * per row of A and per column of B, and the extremes. */
static void test_qgemm_t(void)
{
    if (!qgemm_isa_usable(QGEMM_AVX512VNNI)) {
        printf("SKIP transposed int8 GEMM: this CPU lacks AVX-512 VNNI (or INFERD_CPU_DISABLE)\n");
        return;
    }
    static const int ms[] = {1, 8, 17, 40, 64, 100};
    static const int ks[] = {3, 4, 17, 64, 577};
    static const int lay[][3] = {{1, 1, 1}, {7, 7, 9}, {1, 49, 49}, {3, 5, 5}, {14, 14, 16}, {2, 13, 15}, {1, 3, 4}};
    uint32_t s = 11;
    int bad = 0, runs = 0, rq_runs = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (size_t li = 0; li < sizeof lay / sizeof *lay; li++)
                for (int mode = 0; mode < 8; mode++) {
                    const int m = ms[mi], k = ks[ki], rows = lay[li][0], ow = lay[li][1], pw = lay[li][2];
                    const int n = rows * pw, T = rows * ow;
                    uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n)), za[100], zb[256];
                    for (int i = 0; i < m * k; i++)
                        a[i] = mode == 7 ? (uint8_t)(i & 1 ? 0x80 : 0xff) : (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    for (int i = 0; i < k * n; i++)
                        b[i] = mode == 7 ? (uint8_t)(i & 2 ? 0x80 : 0x7f) : (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    for (int i = 0; i < 100; i++)
                        za[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    for (int i = 0; i < 256; i++)
                        zb[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    int32_t *c1 = malloc(sizeof(int32_t) * (size_t)(m * n)), *c2 = malloc(sizeof(int32_t) * (size_t)(m * n));
                    int32_t *terms = malloc(sizeof(int32_t) * (size_t)(2 * m));
                    uint8_t *pan = malloc(qgemm_a_panels_bytes(m, k));
                    void *pack = aligned_alloc(64, (qgemm_scratch_bytes(k, n) + 127) & ~(size_t)63);
                    struct qgemm_args g = {.M = m, .N = n, .K = k, .a = a, .a_signed = mode & 1, .b = b,
                                           .b_signed = (mode >> 1) & 1, .c = c1};
                    if (mode & 4) /* per-row / per-column zero points */
                        g.za = za, g.za_len = m, g.zb = zb, g.zb_len = n;
                    else if (mode & 2)
                        g.za = za, g.za_len = 1, g.zb = zb, g.zb_len = 1;
                    else if (mode == 1) /* int8 weights, no zero point (the usual conv): no column sums */
                        g.zb = zb, g.zb_len = 1;
                    qgemm_u8_ref(&g);
                    g.c = c2, g.pack = pack;
                    qgemm_a_terms(&g, terms);
                    g.a_terms = terms;
                    qgemm_a_panels(&g, 0, pan);
                    qgemm_u8_isa_pack(&g, QGEMM_AVX512VNNI);
                    memset(c2, 0x55, sizeof(int32_t) * (size_t)(m * n));
                    const int cut = (int)(mi * 7 + li) % (m + 1); /* two row ranges, cut anywhere */
                    qgemm_u8_avx512vnni_rows_t(&g, pan, cut, m, rows, ow, pw);
                    qgemm_u8_avx512vnni_rows_t(&g, pan, 0, cut, rows, ow, pw);
                    for (int i = 0; i < m; i++)
                        for (int t = 0; t < T; t++)
                            bad += c2[i * n + t] != c1[i * n + t / ow * pw + t % ow];
                    runs++;
                    if (qgemm_chain_lut_usable()) /* the same with the requantisation in the epilogue */
                        bad += qgemm_t_rq_bad(&g, pan, c1, rows, ow, pw, cut, mode, &s), rq_runs++;
                    free(a), free(b), free(c1), free(c2), free(terms), free(pan), free(pack);
                }
    printf("transposed int8 GEMM (AVX-512 VNNI): %d runs (%d requantising), %d mismatches\n", runs, rq_runs, bad);
    CHECK(bad == 0);
}

/* The AVX-512 VNNI GEMM with the requantisation in its epilogue (qgemm_u8_avx512vnni_rows_rq;
 * qgemm_u8_avx512vbmi_rows_rq with a DQ -> Q pair's table) equals the reference GEMM followed by
 * qgemm_requant_ref / qgemm_requant_chain_ref: odd row counts (a lone last row), columns
 * around the 16-lane panels and 32-column pairs, row ranges cut at 4, both signs of A, B and
 * y, zero points, per-row scales that tie (x.5), saturate both ways and overflow to inf. */
static void test_qgemm_rq(void)
{
    if (!qgemm_isa_usable(QGEMM_AVX512VNNI)) {
        printf("SKIP requantising int8 GEMM: this CPU lacks AVX-512 VNNI (or INFERD_CPU_DISABLE)\n");
        return;
    }
    static const int ms[] = {1, 3, 8, 13, 40};
    static const int ns[] = {1, 15, 16, 17, 31, 32, 33, 49, 100};
    static const int ks[] = {2, 16, 17, 64};
    static const float muls[] = {0.5f, 1e-3f, 3.0f, 1e30f, -0.25f, 0.0371f, 1.0f};
    uint32_t s = 5;
    int bad = 0, runs = 0;
    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (int mode = 0; mode < 16; mode++) {
                    const int m = ms[mi], n = ns[ni], k = ks[ki], sg = (mode >> 2) & 1;
                    uint8_t *a = malloc((size_t)(m * k)), *b = malloc((size_t)(k * n)), za[40], zb = 0x83;
                    for (int i = 0; i < m * k; i++)
                        a[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    for (int i = 0; i < k * n; i++)
                        b[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    for (int i = 0; i < 40; i++)
                        za[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    int32_t *c = malloc(sizeof(int32_t) * (size_t)(m * n)), bias[40], terms[80];
                    float mul[40];
                    uint8_t *y1 = malloc((size_t)(m * (n + 3))), *y2 = malloc((size_t)(m * (n + 3)));
                    void *pack = aligned_alloc(64, (qgemm_scratch_bytes(k, n) + 127) & ~(size_t)63);
                    struct qgemm_args g = {.M = m, .N = n, .K = k, .a = a, .a_signed = mode & 1, .b = b,
                                           .b_signed = (mode >> 1) & 1, .c = c};
                    if (mode & 8)
                        g.za = za, g.za_len = m, g.zb = &zb, g.zb_len = 1;
                    else if (mode & 1) /* int8 weights, zero point 0: no column sums */
                        g.zb = &zb, g.zb_len = 1;
                    qgemm_u8_ref(&g);
                    const int32_t zp = sg ? -5 : 120;
                    struct qgemm_chain ch = {.s1 = 0.0235f, .s2 = 0.0125f, .z1 = sg ? 3 : 131, .z2 = 17,
                                             .v_signed = sg, .y_signed = mode & 1, .relu = (mode >> 1) & 1};
                    qgemm_chain_init(&ch);
                    const int chain = (mode >> 3) & 1 && qgemm_chain_lut_usable();
                    memset(y1, 0xa5, (size_t)(m * (n + 3)));
                    memset(y2, 0xa5, (size_t)(m * (n + 3)));
                    for (int i = 0; i < m; i++) { /* y rows n + 3 bytes apart: the gaps stay untouched */
                        mul[i] = muls[(i + mode) % 7];
                        bias[i] = i % 3 == 0 ? 0 : (int32_t)((s = s * 1664525u + 1013904223u) >> 16) - 32768;
                        if (chain)
                            qgemm_requant_chain_ref(c + i * n, n, bias[i], &mul[i], 0, zp, sg, &ch, y1 + i * (n + 3));
                        else
                            qgemm_requant_ref(c + i * n, n, bias[i], &mul[i], 0, zp, sg, y1 + i * (n + 3));
                    }
                    g.c = NULL, g.pack = pack;
                    if (mode & 4) {
                        qgemm_a_terms(&g, terms);
                        g.a_terms = terms;
                    }
                    qgemm_u8_isa_pack(&g, QGEMM_AVX512VNNI);
                    const int cut = m > 4 ? 4 : 0;
                    for (int part = 0; part < 2; part++) {
                        const int m0 = part ? 0 : cut, m1 = part ? cut : m;
                        struct qgemm_rq rq = {.bias = bias + m0, .mul = mul + m0, .zp = zp, .out_signed = sg,
                                              .y = y2 + m0 * (n + 3), .ys = n + 3, .m0 = m0,
                                              .lut8 = chain ? ch.lut8 : NULL};
                        if (m1 > m0 && chain)
                            qgemm_u8_avx512vbmi_rows_rq(&g, m0, m1, &rq);
                        else if (m1 > m0)
                            qgemm_u8_avx512vnni_rows_rq(&g, m0, m1, &rq);
                    }
                    bad += memcmp(y1, y2, (size_t)(m * (n + 3))) != 0;
                    runs++;
                    free(a), free(b), free(c), free(y1), free(y2), free(pack);
                }
    printf("requantising int8 GEMM (AVX-512 VNNI): %d runs, %d mismatches\n", runs, bad);
    CHECK(bad == 0);
    CHECK(runs > 100);
}

/* qb_rows (the depthwise conv's plane fill) equals its definition: strides 1-3, flipped or
 * not, rows of 1-70 bytes around the 32 / 64-byte steps, pitches wider than the rows; the
 * bytes past each row stay as they were. */
static void test_qb_rows(void)
{
    enum { R = 5, DP = 80, SP = 3 * 72 };
    uint8_t src[R * SP], d1[R * DP], d2[R * DP];
    uint32_t s = 3;
    for (int i = 0; i < R * SP; i++)
        src[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    int bad = 0;
    for (int st = 1; st <= 3; st++)
        for (int n = 1; n <= 70; n++)
            for (int f = 0; f < 2; f++) {
                const uint8_t flip = f ? 0x80 : 0;
                memset(d1, 0x3c, sizeof d1), memset(d2, 0x3c, sizeof d2);
                for (int r = 0; r < R; r++)
                    for (int j = 0; j < n; j++)
                        d1[r * DP + j] = (uint8_t)(src[r * SP + j * st] ^ flip);
                qb_rows(d2, DP, src, SP, R, n, st, flip);
                bad += memcmp(d1, d2, sizeof d1) != 0;
            }
    printf("qb_rows: %d mismatches\n", bad);
    CHECK(bad == 0);
}

static void test_qgemm(void)
{
    printf("int8 GEMM picked here: %s\n",
           qgemm_isa_name(qgemm_isa_pick(&(struct qgemm_args){.M = 1, .N = 1, .K = 1, .pack = (void *)1})));
    test_qgemm_isa(QGEMM_AVX2);
    test_qgemm_isa(QGEMM_AVXVNNI);
    test_qgemm_isa(QGEMM_AVX512VNNI);
    test_qgemm_t();
    test_qgemm_rq();
    test_qb_rows();
}

/* qgemm_vnni_pack's layout for both panel widths (16: AVX-512, 8: AVX-VNNI, which this CPU
 * may not run), written out from its definition in qgemm.h: widths around the 32-column
 * vector blocks (the last columns come through padded copies), K past the last whole quad. */
static void test_vnni_pack(void)
{
    if (!cpu_has(CPU_AVX2)) {
        printf("SKIP VNNI pack: this CPU lacks AVX2\n");
        return;
    }
    static const int ns[] = {1, 7, 8, 9, 16, 17, 31, 32, 33, 40, 47, 48, 63, 64, 65, 986};
    static const int ks[] = {1, 3, 4, 6, 9};
    uint32_t s = 5;
    int bad = 0, runs = 0;
    for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
            for (int mode = 0; mode < 4; mode++)
                for (int pw = 8; pw <= 16; pw += 8) {
                    const int n = ns[ni], k = ks[ki], kq = (k + 3) / 4, np = (n + pw - 1) / pw;
                    uint8_t *b = malloc((size_t)(k * n)), zb = 3;
                    for (int i = 0; i < k * n; i++)
                        b[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
                    uint8_t *pack = aligned_alloc(64, (qgemm_scratch_bytes(k, n) + 63) & ~(size_t)63);
                    memset(pack, 0xee, qgemm_scratch_bytes(k, n));
                    struct qgemm_args g = {.M = 1, .N = n, .K = k, .b = b, .b_signed = mode & 1, .zb = &zb,
                                           .zb_len = 1, .a_signed = (mode >> 1) & 1, .pack = pack};
                    qgemm_vnni_pack(&g, pw);
                    const int32_t *zbv = (const int32_t *)(const void *)(pack + np * pw * kq * 4), *cs = zbv + np * pw;
                    const uint8_t f = g.b_signed ? 0x80 : 0;
                    for (int p = 0; p < np; p++)
                        for (int q = 0; q < kq; q++)
                            for (int jj = 0; jj < pw; jj++)
                                for (int t = 0; t < 4; t++) {
                                    const int j = p * pw + jj, kk = 4 * q + t;
                                    const uint8_t want = j < n && kk < k ? (uint8_t)(b[kk * n + j] ^ f) : 0;
                                    bad += pack[((p * kq + q) * pw + jj) * 4 + t] != want;
                                }
                    for (int j = 0; j < np * pw; j++) {
                        const int32_t z = j < n ? (g.b_signed ? (int8_t)zb + 128 : zb) : 0;
                        uint32_t sum = 0;
                        for (int kk = 0; j < n && kk < k; kk++)
                            sum += (uint8_t)(b[kk * n + j] ^ f);
                        const int32_t want = g.a_signed ? 0 : (int32_t)(sum - (uint32_t)k * (uint32_t)z);
                        bad += zbv[j] != z || cs[j] != want; /* int8 A with no zero point: no sums */
                    }
                    runs++;
                    free(pack), free(b);
                }
    printf("VNNI pack (panels of 8 and 16): %d runs, %d mismatches\n", runs, bad);
    CHECK(bad == 0);
}

/* the vectorised requantisation equals the reference: ties, saturation, per-column scales */
static void test_requant(void)
{
    if (!cpu_has(CPU_AVX2)) {
        printf("SKIP requant AVX2: this CPU lacks AVX2\n");
        return;
    }
    enum { n = 203 };
    int32_t acc[n];
    float mul[n];
    uint8_t y1[n], y2[n];
    uint32_t s = 11;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        acc[i] = i < 40 ? (i - 20) : (int32_t)(s >> 8) - (1 << 23); /* small ones hit x.5 ties with mul 0.5 */
        mul[i] = i < 60 ? 0.5f : (float)((s >> 20) + 1) * 1e-6f;
    }
    acc[41] = INT32_MAX - 5, acc[42] = INT32_MIN + 5;
    acc[43] = INT32_MAX - 100, acc[44] = INT32_MIN + 100, mul[43] = mul[44] = 4.0f; /* floats past int32 */
    int bad = 0;
    for (int mode = 0; mode < 8; mode++) {
        int sg = mode & 1, step = (mode >> 1) & 1;
        int32_t bias = mode & 4 ? -3 : 0, zp = sg ? -7 : 131;
        qgemm_requant_ref(acc, n, bias, mul, step, zp, sg, y1);
        qgemm_requant_avx2(acc, n, bias, mul, step, zp, sg, y2);
        bad += memcmp(y1, y2, n) != 0;
        for (int len = n; qgemm_chain_lut_usable() && len > 0; len -= 61) { /* 64-output blocks, 16-lane tails */
            memset(y2, 0xa5, n);
            qgemm_requant_chain_avx512vbmi(acc, len, bias, mul, step, zp, sg, NULL, y2);
            bad += memcmp(y1, y2, (size_t)len) != 0 || (len < n && y2[len] != 0xa5);
        }
        /* with a DequantizeLinear -> QuantizeLinear pair after it: against the two steps as
         * written (float (v - z1) * s1, then / s2, half to even, saturated) */
        struct qgemm_chain ch = {.s1 = mode & 2 ? 0.0235f : 0.5f, .s2 = mode & 2 ? 0.0125f : 0.25f,
                                 .z1 = sg ? 3 : 131, .z2 = mode & 4 ? 0 : 17, .v_signed = sg,
                                 .y_signed = (mode >> 2) & 1};
        qgemm_chain_init(&ch);
        uint8_t y3[n], y4[n];
        qgemm_requant_chain_ref(acc, n, bias, mul, step, zp, sg, &ch, y3);
        qgemm_requant_chain(acc, n, bias, mul, step, zp, sg, &ch, y4);
        bad += memcmp(y3, y4, n) != 0;
        for (int i = 0; i < n; i++) {
            int32_t v = sg ? (int8_t)y1[i] : y1[i];
            float f = (float)(v - ch.z1) * ch.s1;
            double r = nearbyint((double)(f / ch.s2)) + ch.z2;
            double lo = ch.y_signed ? -128 : 0, hi = ch.y_signed ? 127 : 255;
            int32_t want = (int32_t)(r < lo ? lo : r > hi ? hi : r);
            bad += (ch.y_signed ? (int8_t)y3[i] : y3[i]) != want;
        }
        ch.relu = 1; /* DequantizeLinear -> Relu -> QuantizeLinear */
        qgemm_chain_init(&ch);
        qgemm_requant_chain_ref(acc, n, bias, mul, step, zp, sg, &ch, y3);
        qgemm_requant_chain(acc, n, bias, mul, step, zp, sg, &ch, y4);
        bad += memcmp(y3, y4, n) != 0;
        for (int relu = 0; relu < 2; relu++) { /* each SIMD form, not only the one picked */
            ch.relu = relu;
            qgemm_chain_init(&ch); /* the table follows relu (the formula forms read it directly) */
            qgemm_requant_chain_ref(acc, n, bias, mul, step, zp, sg, &ch, y3);
            qgemm_requant_chain_avx2(acc, n, bias, mul, step, zp, sg, &ch, y4);
            bad += memcmp(y3, y4, n) != 0;
            if (qgemm_isa_usable(QGEMM_AVX512VNNI)) {
                qgemm_requant_chain_avx512(acc, n, bias, mul, step, zp, sg, &ch, y4);
                bad += memcmp(y3, y4, n) != 0;
            }
            if (qgemm_chain_lut_usable()) {
                memset(y4, 0xa5, n);
                qgemm_requant_chain_avx512vbmi(acc, n, bias, mul, step, zp, sg, &ch, y4);
                bad += memcmp(y3, y4, n) != 0;
            }
        }
    }
    CHECK(bad == 0);
    /* every table entry: v runs over all 256 values (mul 1), lengths around the 16-lane blocks */
    if (!qgemm_chain_lut_usable())
        printf("SKIP requant chain AVX-512 VBMI: this CPU lacks it (or INFERD_CPU_DISABLE)\n");
    bad = 0;
    for (int mode = 0; mode < 8; mode++) {
        const int sg = mode & 1, len = 256 + 17 * (mode >> 1);
        const int32_t zp = sg ? 5 : 77, lo = sg ? -128 : 0;
        int32_t a[256 + 17 * 3];
        float one = 1.0f;
        uint8_t r1[sizeof a / sizeof a[0] + 1], r2[sizeof r1], r3[sizeof r1];
        for (int i = 0; i < len; i++)
            a[i] = (i * 7) % 256 + lo - zp; /* v = (7 i) mod 256 + lo */
        struct qgemm_chain ch = {.s1 = 0.0387f, .s2 = mode & 2 ? 0.0235f : 0.0387f, .z1 = sg ? -3 : 124,
                                 .z2 = mode & 4 ? 0 : 124, .v_signed = sg, .y_signed = (mode >> 2) & 1,
                                 .relu = (mode >> 1) & 1};
        qgemm_chain_init(&ch);
        memset(r2, 0x5a, sizeof r2), memset(r3, 0x5a, sizeof r3);
        qgemm_requant_chain_ref(a, len, 0, &one, 0, zp, sg, &ch, r1);
        qgemm_requant_chain(a, len, 0, &one, 0, zp, sg, &ch, r2);
        bad += memcmp(r1, r2, (size_t)len) != 0 || r2[len] != 0x5a;
        if (qgemm_chain_lut_usable()) {
            qgemm_requant_chain_avx512vbmi(a, len, 0, &one, 0, zp, sg, &ch, r3);
            bad += memcmp(r1, r3, (size_t)len) != 0 || r3[len] != 0x5a;
        }
    }
    CHECK(bad == 0);
}

/* the depthwise row kernels equal the reference: odd and even tap counts, extreme bytes and
 * weights (255 * -32768 products; int8 ones for the VNNI quads), lengths around the
 * 16/32-output blocks */
static void test_qdw_isa(enum qdw_isa isa)
{
    if (!qdw_isa_usable(isa)) {
        printf("SKIP depthwise int8 %s: this CPU lacks it (or INFERD_CPU_DISABLE)\n", qdw_isa_name(isa));
        return;
    }
    enum { maxn = 200, maxt = 25 };
    static uint8_t data[maxt][QDW_ROUND(maxn)];
    int32_t w[maxt], want[maxn], got[QDW_ROUND(maxn)];
    const uint8_t *src[maxt];
    uint32_t s = 7;
    int bad = 0, runs = 0;
    for (int taps = 1; taps <= maxt; taps += 3)
        for (int n = 1; n <= maxn; n += 13) {
            for (int t = 0; t < taps; t++) {
                for (int j = 0; j < QDW_ROUND(maxn); j++) {
                    s = s * 1664525u + 1013904223u;
                    data[t][j] = (uint8_t)(runs % 3 == 0 ? 255 : s >> 24);
                }
                s = s * 1664525u + 1013904223u;
                w[t] = runs % 3 == 0 ? (t & 1 ? -32768 : 32767) : (int32_t)(s >> 23) - 256;
                if (runs % 3 == 1) /* int8 weights (the VNNI kernel's quads), extremes included */
                    w[t] = t % 4 == 0 ? -128 : t % 4 == 1 ? 127 : (int32_t)(s >> 24) - 128;
                src[t] = data[t] + (t % 3);
            }
            qdw_row_ref(want, src, w, taps, n);
            qdw_row_isa(got, src, w, taps, n, isa);
            bad += memcmp(want, got, (size_t)n * sizeof *got) != 0;
            runs++;
        }
    printf("depthwise int8 %s: %d runs, %d mismatches\n", qdw_isa_name(isa), runs, bad);
    CHECK(bad == 0);
}

/* QLinearConv's depthwise path (group == channels) against its GEMM path on the same conv
 * written densely (group 1, every weight off the diagonal equal to its row's zero point, so it
 * adds nothing): all three layouts (flat phase planes at strides 1..3, prebuilt strided planes,
 * planes too big for the stack rebuilt row by row), strides 1..3, dilation, asymmetric padding, uint8 and
 * int8 x and weights, zero points per tensor and per channel, with and without bias, and the
 * requantising DequantizeLinear -> QuantizeLinear chain of InferdQLinearConv. */
static struct ox_tensor *mk(enum inferd_dtype dt, int rank, const int64_t *dims)
{
    struct ox_tensor *t = calloc(1, sizeof *t);
    CHECK(ox_set_shape(t, dt, rank, dims, NULL) == 0);
    t->data = calloc(t->nbytes + 64, 1);
    t->is_const = 1;
    return t;
}

static void run_qconv(int64_t group, struct ox_attr *attrs, int n_attrs, struct ox_tensor **in, int n_in,
                      struct ox_tensor *y)
{
    struct ox_node n = {.op_type = n_in == 13 ? "InferdQLinearConv" : "QLinearConv", .name = "t", .domain = "",
                        .n_in = n_in, .n_out = 1, .n_attrs = n_attrs, .attrs = attrs};
    attrs[0].i = group;
    const struct ox_op *op = ox_op_find(n.op_type);
    struct inferd_err err = {0};
    CHECK(op && op->infer(&n, in, &y, &err) == 0);
    y->data = calloc(y->nbytes + 64, 1);
    size_t sb = op->scratch(&n, in, &y);
    struct ox_ctx c = {.nth = 1, .scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL};
    int rc = op->exec(&c, &n, in, &y, &err);
    if (rc < 0)
        fprintf(stderr, "qconv: %s\n", err.msg);
    CHECK(rc == 0);
    free(c.scratch);
}

static void test_qdw_conv(void)
{
    static const struct { int64_t c, h, w, k, s, d, pt, pl, pb, pr; } cases[] = {
        {3, 14, 14, 3, 1, 1, 1, 1, 1, 1},  {5, 7, 9, 3, 2, 1, 1, 1, 1, 1},    {2, 112, 112, 3, 1, 1, 1, 1, 1, 1},
        {2, 113, 111, 3, 2, 1, 0, 1, 1, 0}, {3, 20, 17, 5, 1, 2, 4, 4, 4, 4}, {2, 11, 13, 3, 3, 1, 2, 0, 0, 2},
        {2, 300, 700, 3, 1, 1, 1, 1, 1, 1}, {1, 9, 9, 1, 1, 1, 0, 0, 0, 0},  {2, 6, 40, 7, 2, 1, 3, 3, 3, 3},
        {2, 200, 100, 3, 2, 1, 1, 1, 1, 1}, {3, 14, 14, 3, 2, 1, 1, 1, 1, 1}, {2, 15, 16, 5, 2, 2, 4, 3, 2, 4},
        {2, 12, 13, 3, 3, 2, 2, 2, 2, 2},
    };
    uint32_t s = 99;
    int bad = 0, runs = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int mode = 0; mode < 8; mode++) {
            const int64_t C = cases[ci].c, K = cases[ci].k;
            const int xs = mode & 1, ws = (mode >> 1) & 1, per_ch = (mode >> 2) & 1, chain = mode == 5 || mode == 2;
            enum inferd_dtype xdt = xs ? INFERD_INT8 : INFERD_UINT8, wdt = ws ? INFERD_INT8 : INFERD_UINT8;
            int64_t xd[4] = {1, C, cases[ci].h, cases[ci].w}, wd[4] = {C, 1, K, K}, wdd[4] = {C, C, K, K};
            int64_t one[1] = {1}, cd[1] = {C};
            struct ox_tensor *x = mk(xdt, 4, xd), *w = mk(wdt, 4, wd), *wdn = mk(wdt, 4, wdd);
            struct ox_tensor *sx = mk(INFERD_FP32, 0, one), *zx = mk(xdt, 0, one), *sw = mk(INFERD_FP32, 1, cd);
            struct ox_tensor *zw = mk(wdt, per_ch ? 1 : 0, per_ch ? cd : one), *sy = mk(INFERD_FP32, 0, one);
            struct ox_tensor *zy = mk(INFERD_UINT8, 0, one), *b = mk(INFERD_INT32, 1, cd);
            struct ox_tensor *s1 = mk(INFERD_FP32, 0, one), *z1 = mk(INFERD_UINT8, 0, one);
            struct ox_tensor *s2 = mk(INFERD_FP32, 0, one), *z2 = mk(INFERD_INT8, 0, one);
            for (int64_t i = 0; i < x->numel; i++) {
                s = s * 1664525u + 1013904223u;
                ((uint8_t *)x->data)[i] = (uint8_t)(s >> 24);
            }
            for (int64_t i = 0; i < zw->numel; i++)
                ((uint8_t *)zw->data)[i] = (uint8_t)(ws ? (int8_t)(i * 3 - 2) : 120 + i);
            for (int64_t o = 0; o < C; o++) {
                uint8_t z = ((uint8_t *)zw->data)[per_ch ? o : 0];
                for (int64_t i = 0; i < C * K * K; i++)
                    ((uint8_t *)wdn->data)[o * C * K * K + i] = z;
                for (int64_t t = 0; t < K * K; t++) {
                    s = s * 1664525u + 1013904223u;
                    uint8_t v = (uint8_t)(s >> 24);
                    ((uint8_t *)w->data)[o * K * K + t] = v;
                    ((uint8_t *)wdn->data)[(o * C + o) * K * K + t] = v;
                }
                ((float *)sw->data)[o] = 0.001f * (float)(o + 1);
                ((int32_t *)b->data)[o] = mode & 4 ? (int32_t)(o * 1000) - 700 : 0;
            }
            *(uint8_t *)zx->data = (uint8_t)(xs ? -5 : 131);
            *(float *)sx->data = 0.02f, *(float *)sy->data = 0.05f + 0.01f * (float)mode;
            *(uint8_t *)zy->data = 128;
            *(float *)s1->data = 0.05f, *(uint8_t *)z1->data = 128, *(float *)s2->data = 0.031f;
            *(int8_t *)z2->data = -3;
            int64_t strides[2] = {cases[ci].s, cases[ci].s}, dil[2] = {cases[ci].d, cases[ci].d};
            int64_t pads[4] = {cases[ci].pt, cases[ci].pl, cases[ci].pb, cases[ci].pr};
            struct ox_attr attrs[4] = {{.name = "group", .type = OX_ATTR_INT},
                                       {.name = "strides", .type = OX_ATTR_INTS, .ints = strides, .n_ints = 2},
                                       {.name = "dilations", .type = OX_ATTR_INTS, .ints = dil, .n_ints = 2},
                                       {.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n_ints = 4}};
            struct ox_tensor *in_dw[13] = {x, sx, zx, w, sw, zw, sy, zy, mode & 4 ? b : NULL, s1, z1, s2, z2};
            struct ox_tensor *in_dn[13] = {x, sx, zx, wdn, sw, zw, sy, zy, mode & 4 ? b : NULL, s1, z1, s2, z2};
            struct ox_tensor y1 = {0}, y2 = {0};
            run_qconv(C, attrs, 4, in_dw, chain ? 13 : 9, &y1);
            run_qconv(1, attrs, 4, in_dn, chain ? 13 : 9, &y2);
            bad += y1.nbytes != y2.nbytes || memcmp(y1.data, y2.data, y1.nbytes) != 0;
            runs++;
            free(y1.data), free(y2.data);
            struct ox_tensor *all[] = {x, w, wdn, sx, zx, sw, zw, sy, zy, b, s1, z1, s2, z2};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
                free(all[k]->data), free(all[k]);
        }
    printf("depthwise QLinearConv vs dense: %d runs, %d mismatches\n", runs, bad);
    CHECK(bad == 0);
}

/* ConvInteger (the dense GEMM path: im2col made QGEMM_B_ROWS rows at a time as the packer
 * takes them, or whole for the reference) against a direct loop over the definition: a
 * 3-channel 7x7 stride-2 stem, 3x3 stride 1 to 3, dilation, asymmetric padding, groups,
 * a strided 1x1, K and N off every tile size, planes read in place ("flat") and a 5x5 conv
 * over a 6x6 input that makes its rows instead, pointwise and strided maps split over several
 * GEMM calls of whole output rows; uint8 and int8 x and w, zero points per tensor
 * and per output channel. */
static void test_qconv_dense(void)
{
    static const struct { int64_t c, h, w, m, k, s, d, g, pt, pl, pb, pr; } cases[] = {
        {3, 30, 29, 16, 7, 2, 1, 1, 3, 3, 3, 3}, {16, 9, 9, 24, 3, 1, 1, 1, 1, 1, 1, 1},
        {8, 7, 7, 12, 3, 1, 2, 2, 2, 2, 2, 2},   {5, 10, 11, 9, 1, 2, 1, 1, 0, 0, 0, 0},
        {6, 13, 8, 20, 3, 2, 1, 1, 0, 1, 1, 0},  {32, 14, 14, 40, 3, 1, 1, 1, 1, 1, 1, 1},
        {4, 6, 6, 8, 5, 1, 1, 1, 0, 0, 0, 0},    {3, 17, 16, 5, 3, 3, 2, 1, 2, 1, 0, 2},
        {8, 40, 40, 12, 1, 1, 1, 1, 0, 0, 0, 0}, {4, 70, 66, 6, 3, 2, 1, 1, 1, 1, 1, 1},
        /* narrow rows: the c4 planes' 8- and 4-pixel steps (the last moved back) and scalar ends */
        {4, 6, 5, 8, 3, 1, 1, 1, 1, 1, 1, 1},    {8, 5, 3, 4, 3, 1, 1, 1, 1, 1, 1, 1},
        {4, 9, 13, 8, 3, 2, 1, 1, 1, 1, 1, 1},   {4, 7, 23, 8, 3, 2, 1, 1, 1, 0, 1, 1},
        {4, 6, 11, 4, 3, 1, 1, 1, 1, 0, 1, 1},   {4, 5, 36, 4, 3, 2, 1, 1, 1, 1, 1, 0},
    };
    uint32_t s = 5;
    int bad = 0, runs = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int mode = 0; mode < 16; mode++) { /* mode 8..15: packed weights, the transposed GEMM */
            const int64_t C = cases[ci].c, M = cases[ci].m, k = cases[ci].k, G = cases[ci].g, cg = C / G;
            const int xs = mode & 1, ws = (mode >> 1) & 1, per_ch = (mode >> 2) & 1;
            int64_t xd[4] = {1, C, cases[ci].h, cases[ci].w}, wd[4] = {M, cg, k, k}, one[1] = {1}, md[1] = {M};
            struct ox_tensor *x = mk(xs ? INFERD_INT8 : INFERD_UINT8, 4, xd);
            struct ox_tensor *w = mk(ws ? INFERD_INT8 : INFERD_UINT8, 4, wd);
            struct ox_tensor *zx = mk(x->dt, 0, one), *zw = mk(w->dt, per_ch ? 1 : 0, per_ch ? md : one);
            for (int64_t i = 0; i < x->numel; i++)
                ((uint8_t *)x->data)[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
            for (int64_t i = 0; i < w->numel; i++)
                ((uint8_t *)w->data)[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
            for (int64_t i = 0; i < zw->numel; i++)
                ((uint8_t *)zw->data)[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
            *(uint8_t *)zx->data = (uint8_t)(mode & 4 ? 0x80 : 17);
            if ((mode & 8) && !per_ch) /* zero points 0: int8 weights take the c4 planes */
                memset(zw->data, 0, zw->nbytes);
            int64_t strides[2] = {cases[ci].s, cases[ci].s}, dil[2] = {cases[ci].d, cases[ci].d};
            int64_t pads[4] = {cases[ci].pt, cases[ci].pl, cases[ci].pb, cases[ci].pr};
            struct ox_attr attrs[4] = {{.name = "group", .type = OX_ATTR_INT, .i = G},
                                       {.name = "strides", .type = OX_ATTR_INTS, .ints = strides, .n_ints = 2},
                                       {.name = "dilations", .type = OX_ATTR_INTS, .ints = dil, .n_ints = 2},
                                       {.name = "pads", .type = OX_ATTR_INTS, .ints = pads, .n_ints = 4}};
            struct ox_node n = {.op_type = "ConvInteger", .name = "t", .domain = "", .n_in = 4, .n_out = 1,
                                .n_attrs = 4, .attrs = attrs};
            struct ox_tensor *in[4] = {x, w, zx, zw}, y = {0}, *yp = &y;
            const struct ox_op *op = ox_op_find(n.op_type);
            struct inferd_err err = {0};
            CHECK(op && op->infer(&n, in, &yp, &err) == 0);
            y.data = calloc(y.nbytes + 64, 1);
            size_t sb = op->scratch(&n, in, &yp);
            struct ox_ctx c = {.nth = 1, .scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL};
            if (mode & 8) /* set before the pack, which makes panels only where a run can take them */
                setenv("INFERD_QCONV_T", "1", 1);
            const int64_t pk = (mode & 8) && op->pack ? op->pack(&n, in, NULL) : 0;
            float *pbuf = pk > 0 ? aligned_alloc(64, ((size_t)pk * sizeof(float) + 63) & ~(size_t)63) : NULL;
            if (pbuf) {
                op->pack(&n, in, pbuf);
                c.packed = pbuf;
            }
            CHECK(op->exec(&c, &n, in, &yp, &err) == 0);
            unsetenv("INFERD_QCONV_T");
            free(pbuf);
            const int64_t H = xd[2], W = xd[3], OH = y.dims[2], OW = y.dims[3];
            int diff = 0;
            for (int64_t m = 0; m < M; m++) {
                int32_t z_w = ws ? ((int8_t *)zw->data)[per_ch ? m : 0] : ((uint8_t *)zw->data)[per_ch ? m : 0];
                int32_t z_x = xs ? *(int8_t *)zx->data : *(uint8_t *)zx->data;
                for (int64_t oy = 0; oy < OH; oy++)
                    for (int64_t ox = 0; ox < OW; ox++) {
                        int32_t acc = 0;
                        for (int64_t cc = 0; cc < cg; cc++)
                            for (int64_t ky = 0; ky < k; ky++)
                                for (int64_t kx = 0; kx < k; kx++) {
                                    int64_t iy = oy * strides[0] - pads[0] + ky * dil[0];
                                    int64_t ix = ox * strides[1] - pads[1] + kx * dil[1];
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                        continue;
                                    int64_t xi = ((m / (M / G)) * cg + cc) * H * W + iy * W + ix;
                                    int64_t wi = ((m * cg + cc) * k + ky) * k + kx;
                                    int32_t xv = xs ? ((int8_t *)x->data)[xi] : ((uint8_t *)x->data)[xi];
                                    int32_t wv = ws ? ((int8_t *)w->data)[wi] : ((uint8_t *)w->data)[wi];
                                    acc += (xv - z_x) * (wv - z_w);
                                }
                        diff += ((int32_t *)y.data)[(m * OH + oy) * OW + ox] != acc;
                    }
            }
            bad += diff != 0;
            runs++;
            free(c.scratch), free(y.data);
            struct ox_tensor *all[] = {x, w, zx, zw};
            for (size_t t = 0; t < sizeof all / sizeof all[0]; t++)
                free(all[t]->data), free(all[t]);
        }
    printf("dense ConvInteger vs direct loops (int8 GEMM %s): %d runs, %d mismatches\n",
           qgemm_isa_name(qgemm_isa_pick(&(struct qgemm_args){.M = 1, .N = 1, .K = 1, .pack = (void *)1})), runs, bad);
    CHECK(bad == 0);
}

/* 8-bit MaxPool equals FP32 MaxPool on the same values (max only picks elements): separable
 * and dilated geometries, padding, ceil_mode, uint8 and int8. */
static void run_pool(struct ox_attr *attrs, int n_attrs, struct ox_tensor *x, struct ox_tensor *y)
{
    struct ox_node n = {.op_type = "MaxPool", .name = "p", .domain = "", .n_in = 1, .n_out = 1, .n_attrs = n_attrs,
                        .attrs = attrs};
    const struct ox_op *op = ox_op_find("MaxPool");
    struct inferd_err err = {0};
    CHECK(op->infer(&n, &x, &y, &err) == 0);
    y->data = calloc(y->nbytes + 1, 1);
    struct ox_ctx c = {.nth = 1};
    CHECK(op->exec(&c, &n, &x, &y, &err) == 0);
}

static void test_maxpool8(void)
{
    static const int64_t cases[][8] = {/* h, w, k, s, d, pad, ceil */
                                       {112, 112, 3, 2, 1, 1, 0}, {9, 13, 2, 2, 1, 0, 1}, {7, 7, 3, 1, 2, 2, 0},
                                       {10, 6, 5, 3, 1, 2, 1}};
    uint32_t s = 5;
    int bad = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (int sg = 0; sg < 2; sg++) {
            int64_t dims[4] = {1, 3, cases[ci][0], cases[ci][1]};
            int64_t ks[2] = {cases[ci][2], cases[ci][2]}, st[2] = {cases[ci][3], cases[ci][3]};
            int64_t dl[2] = {cases[ci][4], cases[ci][4]}, pd[4] = {cases[ci][5], cases[ci][5], cases[ci][5], cases[ci][5]};
            struct ox_attr attrs[5] = {{.name = "kernel_shape", .type = OX_ATTR_INTS, .ints = ks, .n_ints = 2},
                                       {.name = "strides", .type = OX_ATTR_INTS, .ints = st, .n_ints = 2},
                                       {.name = "dilations", .type = OX_ATTR_INTS, .ints = dl, .n_ints = 2},
                                       {.name = "pads", .type = OX_ATTR_INTS, .ints = pd, .n_ints = 4},
                                       {.name = "ceil_mode", .type = OX_ATTR_INT, .i = cases[ci][6]}};
            struct ox_tensor *xq = mk(sg ? INFERD_INT8 : INFERD_UINT8, 4, dims), *xf = mk(INFERD_FP32, 4, dims);
            for (int64_t i = 0; i < xq->numel; i++) {
                s = s * 1664525u + 1013904223u;
                uint8_t b = (uint8_t)(s >> 24);
                ((uint8_t *)xq->data)[i] = b;
                ((float *)xf->data)[i] = sg ? (float)(int8_t)b : (float)b;
            }
            struct ox_tensor yq = {0}, yf = {0};
            run_pool(attrs, 5, xq, &yq);
            run_pool(attrs, 5, xf, &yf);
            CHECK(yq.numel == yf.numel && yq.dt == xq->dt);
            for (int64_t i = 0; i < yq.numel && i < yf.numel; i++) {
                float q = sg ? (float)((int8_t *)yq.data)[i] : (float)((uint8_t *)yq.data)[i];
                bad += q != ((float *)yf.data)[i];
            }
            free(yq.data), free(yf.data), free(xq->data), free(xq), free(xf->data), free(xf);
        }
    printf("8-bit MaxPool vs FP32: %d mismatches\n", bad);
    CHECK(bad == 0);
}

int main(void)
{
    test_maxpool8();
    test_qdw_conv();
    test_qdw_isa(QDW_AVX2);
    test_qdw_isa(QDW_AVX512);
    test_qdw_isa(QDW_AVX512VNNI);
    test_pb();
    test_tensor_proto();
    test_gemm_nt();
    test_gemm_pk_isa(1);
    test_gemm_pk_isa(2);
    test_gemm_nn_isa(1);
    test_gemm_nn_isa(2);
    test_qgemm();
    test_qconv_dense();
    test_vnni_pack();
    test_requant();
    return check_finish();
}
