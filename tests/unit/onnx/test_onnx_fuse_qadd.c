/* test_onnx_fuse_qadd.c — fuse_qdq.c's rewrites of the QDQ groups around the convs
 * (INFERD_ONNX_OPT_QDQ) on small graphs written here, input x (N, 3, 67, 129) FP32 (an odd
 * element count, so the four-lane loops end in the scalar tail):
 *  - DequantizeLinear -> Add [-> Relu] [-> QuantizeLinear] => InferdQAdd: a ResNet residual
 *    (DQ(conv bytes) + FP32 skip -> Relu -> Q, the FP32 sum read on by a second Add), DQ + DQ
 *    -> Add -> Q with u8 and s8 operands and outputs, the DQ as the Add's second operand, an
 *    Add broadcasting an (N, 3, 1, 1) operand, a Relu whose input is also read elsewhere (Add
 *    fused, Relu not), a Relu that is a graph output, and per-channel DQ scales (no fusion);
 *    bit for bit;
 *  - DQ -> Gemm -> Q => InferdQGemm (x reshaped to (N*201, 129)): transB with per-row s8
 *    weights and an int32 bias, W (K, N) per tensor, and the near misses alpha != 1 and a
 *    Relu before a Q whose zero point is not the minimum; within one output quantum;
 *  - DQ -> MaxPool / Transpose / Reshape -> Q with the same scale and zero point: the op on
 *    the bytes (u8, s8), and the near misses (another scale, another zero point, the result
 *    read twice, per-channel parameters); bit for bit;
 *  - DQ [-> Relu] -> Q left over (InferdQAdd without B): a Relu before a Q with zero point 3,
 *    and a DQ -> Q whose FP32 input is read elsewhere too; bit for bit.
 * The model loaded with the QDQ fusion off (1 thread) is the reference for the model with it
 * on (2 threads), at batch 1 and 3; the summary names the rewrites ("N QDQ int8"). ctest also
 * runs it with the int8 GEMM's AVX2 and reference kernels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"
#include "graph_build.h"

#define MAXN 12
#define C 3
#define H 67
#define W 129
#define GN 40 /* Gemm output columns */

static struct tpool *pool;

struct graph {
    struct gb_node n[MAXN];
    int nn;
    const char *out;
};

static void scalar_f(struct buf *g, const char *name, float v)
{
    gb_init(g, name, 1, 0, NULL, &v, sizeof v);
}

/* Scales s1..s4 and zero points: z1 u8 128, z2 u8 3, z3 s8 -5, z4 s8 0 (zy for s8 outputs),
 * zc (C) per channel with its scales sc; axes for ReduceMean. */
static void encode(const struct graph *gr, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 16);
    for (int i = 0; i < gr->nn; i++)
        gb_node(&g, &gr->n[i]);
    pbw_str(&g, 2, "fuse_qadd");
    scalar_f(&g, "s1", 0.0173f);
    scalar_f(&g, "s2", 0.0219f);
    scalar_f(&g, "s3", 0.0131f);
    scalar_f(&g, "s4", 0.0307f);
    uint8_t z1 = 128, z2 = 3;
    int8_t z3 = -5, z4 = 0;
    gb_init(&g, "z1", 2, 0, NULL, &z1, 1); /* UINT8 */
    gb_init(&g, "z2", 2, 0, NULL, &z2, 1);
    gb_init(&g, "z3", 3, 0, NULL, &z3, 1); /* INT8 */
    gb_init(&g, "z4", 3, 0, NULL, &z4, 1);
    float sc[C] = {0.011f, 0.017f, 0.023f};
    uint8_t zc[C] = {120, 128, 131};
    gb_init(&g, "sc", 1, 1, (const int64_t[]){C}, sc, sizeof sc);
    gb_init(&g, "zc", 2, 1, (const int64_t[]){C}, zc, sizeof zc);
    int64_t axes[2] = {2, 3}, shp[2] = {-1, W};
    gb_init(&g, "axes", 7, 1, (const int64_t[]){2}, axes, sizeof axes); /* INT64 */
    gb_init(&g, "shp", 7, 1, (const int64_t[]){2}, shp, sizeof shp);
    /* Gemm weights: wq (GN, W) s8 per row with scales ws, zero points wz, bias gbq (int32,
     * scale gbs = s1 * ws[j]); wt (W, GN) s8 per tensor (s3, z4) */
    int8_t wq[GN * W], wt[W * GN], wz[GN] = {0};
    float ws[GN], bs[GN];
    int32_t bq[GN], bz[GN] = {0};
    for (int i = 0; i < GN * W; i++) {
        wq[i] = (int8_t)((i * 37 + 11) % 255 - 127);
        wt[i] = (int8_t)((i * 53 + 7) % 251 - 125);
    }
    for (int j = 0; j < GN; j++) {
        ws[j] = 0.0004f + 0.00003f * (float)j;
        bs[j] = 0.0173f * ws[j];
        bq[j] = (j * 7919) % 4001 - 2000;
    }
    gb_init(&g, "wq", 3, 2, (const int64_t[]){GN, W}, wq, sizeof wq);
    gb_init(&g, "wt", 3, 2, (const int64_t[]){W, GN}, wt, sizeof wt);
    gb_init(&g, "wz", 3, 1, (const int64_t[]){GN}, wz, sizeof wz);
    gb_init(&g, "ws", 1, 1, (const int64_t[]){GN}, ws, sizeof ws);
    gb_init(&g, "gbs", 1, 1, (const int64_t[]){GN}, bs, sizeof bs);
    gb_init(&g, "gbq", 6, 1, (const int64_t[]){GN}, bq, sizeof bq); /* INT32 */
    gb_init(&g, "gbz", 6, 1, (const int64_t[]){GN}, bz, sizeof bz);
    scalar_f(&g, "s5", 0.08f);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, C, H, W});
    pbw_value_info(&g, 12, gr->out, 1, -1, NULL);
    gb_model(out, &g, 13);
}

static int64_t run(struct inferd_onnx_model *m, int bt, float **out)
{
    int64_t n = (int64_t)bt * C * H * W;
    float *x = malloc((size_t)n * sizeof *x);
    uint32_t s = 7u + (uint32_t)bt;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)(s >> 8) / 16777216.0 * 5.0 - 2.5);
    }
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {bt, C, H, W}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = gb_run(m, &in, 1, "run", out);
    CHECK(k >= 0);
    free(x);
    return k < 0 ? 0 : k;
}

/* Loads gr with the QDQ fusion off (1 thread) and on (2 threads); outputs must be equal bit
 * for bit (unit 0), or within one output quantum `unit` (the int8 Gemm: an exact int32 sum
 * against the FP32 one, which can round a tie the other way), and the summary must count
 * `fused` QDQ rewrites. */
static void check(const char *what, const struct graph *gr, int fused, double unit)
{
    struct buf bb;
    buf_init(&bb, 1 << 16);
    encode(gr, &bb);
    struct inferd_onnx_model *ref = NULL, *got = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_QDQ},
                                     &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(bb.data, bb.len, &(struct inferd_onnx_options){.pool = pool}, &got, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        char want[64];
        snprintf(want, sizeof want, "; %d QDQ int8)", fused);
        const char *s = inferd_onnx_graph_summary(got);
        int ok = strstr(s, want) != NULL && strstr(inferd_onnx_graph_summary(ref), "; 0 QDQ int8)") != NULL;
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", what, s, want);
        CHECK(ok);
        int64_t diff = 0, total = 0, far = 0;
        for (int bt = 1; bt <= 3; bt += 2) {
            float *r = NULL, *y = NULL;
            int64_t nr = run(ref, bt, &r), ny = run(got, bt, &y);
            CHECK(nr == ny && nr > 0);
            for (int64_t i = 0; i < nr && nr == ny; i++) {
                diff += memcmp(&r[i], &y[i], sizeof r[i]) != 0;
                far += !(fabs((double)r[i] - y[i]) <= unit * 1.001);
            }
            total += nr;
            free(r);
            free(y);
        }
        CHECK(far == 0);
        CHECK(unit > 0 || diff == 0);
        CHECK(diff * 20 <= total); /* one-quantum flips are rare */
        printf("%-52s %d rewritten; %lld of %lld outputs differ\n", what, fused, (long long)diff, (long long)total);
    }
    inferd_onnx_free(ref);
    inferd_onnx_free(got);
    buf_free(&bb);
}

#define Q(x, s, z, y) {"QuantizeLinear", x "," s "," z, y, {{0}}}
#define DQ(x, s, z, y) {"DequantizeLinear", x "," s "," z, y, {{0}}}

int main(void)
{
    pool = tpool_new(2);
    CHECK(pool != NULL);
    /* ResNet block tail: a = DQ(conv bytes); r = Relu(a + x) -> Q (next conv) and FP32 r read
     * by the next block's Add(DQ(rq), r) (DQ + FP32, no Relu, no Q) */
    struct graph res = {{Q("x", "s1", "z1", "xq"), DQ("xq", "s1", "z1", "a"), {"Add", "a,x", "s", {{0}}},
                         {"Relu", "s", "r", {{0}}}, Q("r", "s2", "z2", "rq"), DQ("rq", "s2", "z2", "rd"),
                         {"Add", "rd,r", "out", {{0}}}},
                        7, "out"};
    check("residual: DQ + x -> Relu -> Q and FP32; DQ + FP32", &res, 2, 0);
    /* DQ(u8) + DQ(s8) -> Q(s8) -> DQ */
    struct graph qq = {{Q("x", "s1", "z1", "aq"), Q("x", "s3", "z3", "bq"), DQ("aq", "s1", "z1", "a"),
                        DQ("bq", "s3", "z3", "b"), {"Add", "a,b", "s", {{0}}}, Q("s", "s4", "z4", "sq"),
                        DQ("sq", "s4", "z4", "out")},
                       7, "out"};
    check("DQ(u8) + DQ(s8) -> Q(s8)", &qq, 1, 0);
    /* FP32 first, DQ second, Relu, Q(u8 zero point 3: the Relu is not a no-op there) */
    struct graph swap = {{Q("x", "s3", "z3", "aq"), DQ("aq", "s3", "z3", "a"), {"Add", "x,a", "s", {{0}}},
                          {"Relu", "s", "r", {{0}}}, Q("r", "s2", "z2", "rq"), DQ("rq", "s2", "z2", "out")},
                         6, "out"};
    check("x + DQ(s8) -> Relu -> Q(u8, zp 3)", &swap, 1, 0);
    /* the FP32 operand broadcast: (N, C, 1, 1) */
    struct graph bc = {{{"ReduceMean", "x,axes", "p", {{0}}}, Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                        {"Add", "a,p", "s", {{0}}}, Q("s", "s2", "z2", "sq"), DQ("sq", "s2", "z2", "out")},
                       6, "out"};
    check("DQ + (N,C,1,1) broadcast -> Q", &bc, 1, 0);
    /* the Add's sum also read by a Mul: Relu stays a node, the Add is fused without it */
    struct graph shared = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"Add", "a,x", "s", {{0}}},
                            {"Relu", "s", "r", {{0}}}, {"Mul", "s,r", "out", {{0}}}},
                           5, "out"};
    check("sum read twice: Relu not taken", &shared, 1, 0);
    /* near miss: per-channel DQ scales */
    struct graph pc = {{{"QuantizeLinear", "x,sc,zc", "aq", {{.name = "axis", .type = 2, .i = 1}}},
                        {"DequantizeLinear", "aq,sc,zc", "a", {{.name = "axis", .type = 2, .i = 1}}},
                        {"Add", "a,x", "s", {{0}}}, Q("s", "s2", "z2", "sq"), DQ("sq", "s2", "z2", "out")},
                       5, "out"};
    check("per-channel DQ: not fused", &pc, 0, 0);
    /* near miss: the Relu's output is the graph output as well as the Q's input: the FP32
     * output is kept as the node's second output */
    struct graph gout = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"Add", "a,x", "s", {{0}}},
                          {"Relu", "s", "out", {{0}}}, Q("out", "s2", "z2", "rq"), DQ("rq", "s2", "z2", "unused")},
                         6, "out"};
    check("Relu output is a graph output and feeds Q", &gout, 1, 0);
    /* DQ -> Gemm(transB, per-row s8 W, int32 bias) -> Q -> DQ: InferdQGemm, within a quantum */
    struct graph gm = {{{"Reshape", "x,shp", "xr", {{0}}}, Q("xr", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                        {"DequantizeLinear", "wq,ws,wz", "w", {{.name = "axis", .type = 2, .i = 0}}},
                        {"DequantizeLinear", "gbq,gbs,gbz", "b", {{.name = "axis", .type = 2, .i = 0}}},
                        {"Gemm", "a,w,b", "y", {{.name = "transB", .type = 2, .i = 1}}}, Q("y", "s2", "z2", "yq"),
                        DQ("yq", "s2", "z2", "out")},
                       8, "out"};
    check("DQ -> Gemm(transB, per-row W, bias) -> Q", &gm, 1, 0.0219);
    /* W (K, N) per tensor, no bias, a Relu before a zero-point-minimum Q (s8 zp -128 is not
     * there: z4 = 0, so the Relu must stay: not fused); then the same with u8 zp 0 */
    struct graph gr = {{{"Reshape", "x,shp", "xr", {{0}}}, Q("xr", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                        DQ("wt", "s3", "z4", "w"), {"Gemm", "a,w", "y", {{0}}}, {"Relu", "y", "r", {{0}}},
                        Q("r", "s5", "z4", "yq"), DQ("yq", "s5", "z4", "out")},
                       8, "out"};
    check("Gemm -> Relu -> Q(s8, zp 0): not fused", &gr, 0, 0);
    struct graph alpha = {{{"Reshape", "x,shp", "xr", {{0}}}, Q("xr", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                           DQ("wt", "s3", "z4", "w"), {"Gemm", "a,w", "y", {{.name = "alpha", .type = 1, .f = 0.5f}}},
                           Q("y", "s5", "z2", "yq"), DQ("yq", "s5", "z2", "out")},
                          7, "out"};
    check("Gemm alpha 0.5: not fused", &alpha, 0, 0);
    struct graph gp = {{{"Reshape", "x,shp", "xr", {{0}}}, Q("xr", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                        DQ("wt", "s3", "z4", "w"), {"Gemm", "a,w", "y", {{0}}}, Q("y", "s5", "z2", "yq"),
                        DQ("yq", "s5", "z2", "out")},
                       7, "out"};
    check("DQ -> Gemm(per-tensor W (K, N)) -> Q", &gp, 1, 0.08);
    /* DQ -> MaxPool / Transpose / Reshape -> Q with DQ's scale and zero point: on the bytes */
#define KS {.name = "kernel_shape", .type = 7, .ints = {3, 3}, .n_ints = 2}
#define ST {.name = "strides", .type = 7, .ints = {2, 2}, .n_ints = 2}
    struct graph mp = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"MaxPool", "a", "p", {KS, ST}},
                        Q("p", "s1", "z1", "pq"), DQ("pq", "s1", "z1", "out")},
                       5, "out"};
    check("DQ -> MaxPool -> Q, same scale: bytes", &mp, 1, 0);
    struct graph mps = {{Q("x", "s3", "z3", "aq"), DQ("aq", "s3", "z3", "a"), {"MaxPool", "a", "p", {KS, ST}},
                         Q("p", "s3", "z3", "pq"), DQ("pq", "s3", "z3", "out")},
                        5, "out"};
    check("DQ -> MaxPool -> Q, s8: bytes", &mps, 1, 0);
    struct graph tr = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"),
                        {"Transpose", "a", "t", {{.name = "perm", .type = 7, .ints = {0, 2, 3, 1}, .n_ints = 4}}},
                        Q("t", "s1", "z1", "tq"), DQ("tq", "s1", "z1", "td"), {"Reshape", "td,shp", "r", {{0}}},
                        Q("r", "s1", "z1", "rq"), DQ("rq", "s1", "z1", "out")},
                       8, "out"};
    check("DQ -> Transpose -> Q -> DQ -> Reshape -> Q: bytes", &tr, 2, 0);
    struct graph mpd = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"MaxPool", "a", "p", {KS, ST}},
                         Q("p", "s2", "z1", "pq"), DQ("pq", "s2", "z1", "out")},
                        5, "out"};
    check("DQ -> MaxPool -> Q, another scale: not fused", &mpd, 0, 0);
    struct graph mpz = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"MaxPool", "a", "p", {KS, ST}},
                         Q("p", "s1", "z2", "pq"), DQ("pq", "s1", "z2", "out")},
                        5, "out"};
    check("DQ -> MaxPool -> Q, another zero point: not fused", &mpz, 0, 0);
    struct graph mp2 = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"MaxPool", "a", "p", {KS, ST}},
                         Q("p", "s1", "z1", "pq"), DQ("pq", "s1", "z1", "d"), {"Mul", "d,p", "out", {{0}}}},
                        6, "out"};
    check("MaxPool result read twice: not fused", &mp2, 0, 0);
    struct graph mpc = {{{"QuantizeLinear", "x,sc,zc", "aq", {{.name = "axis", .type = 2, .i = 1}}},
                         {"DequantizeLinear", "aq,sc,zc", "a", {{.name = "axis", .type = 2, .i = 1}}},
                         {"MaxPool", "a", "p", {KS, ST}},
                         {"QuantizeLinear", "p,sc,zc", "pq", {{.name = "axis", .type = 2, .i = 1}}},
                         {"DequantizeLinear", "pq,sc,zc", "out", {{.name = "axis", .type = 2, .i = 1}}}},
                        5, "out"};
    check("MaxPool between per-channel DQ / Q: not fused", &mpc, 0, 0);
    /* DQ -> Relu -> Q(another scale, zero point 3): one InferdQAdd without B; DQ -> Q whose
     * FP32 input is also read by a Mul (kept as the second output) */
    struct graph dr = {{Q("x", "s1", "z1", "aq"), DQ("aq", "s1", "z1", "a"), {"Relu", "a", "r", {{0}}},
                        Q("r", "s2", "z2", "rq"), DQ("rq", "s2", "z2", "out")},
                       5, "out"};
    check("DQ -> Relu -> Q(zp 3): one pass", &dr, 1, 0);
    struct graph dqq = {{Q("x", "s3", "z3", "aq"), DQ("aq", "s3", "z3", "a"), Q("a", "s1", "z1", "bq"),
                         DQ("bq", "s1", "z1", "b"), {"Mul", "a,b", "out", {{0}}}},
                        5, "out"};
    check("DQ(s8) -> Q(u8), FP32 read twice: one pass", &dqq, 1, 0);
    tpool_free(pool);
    return check_finish();
}
