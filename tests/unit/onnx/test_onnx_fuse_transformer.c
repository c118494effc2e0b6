/* test_onnx_fuse_transformer.c — the transformer fusions of src/onnx/fuse_transformer.c on
 * small graphs written here with the protobuf writer: each LayerNorm form (Pow or Mul(d,d),
 * Div or Reciprocal+Mul, with and without beta, ReduceMean axes as attribute or opset-18
 * input), each GELU ordering (erf, Div or Mul by 1/sqrt2; the tanh approximation) and
 * Transpose pairs (identity, merged, identity at a graph output) and attention (scale by Div
 * or Mul, additive / Where / no mask) into InferdAttention, and shape folding (fixed dims of
 * a symbolic-batch input become constants, the batch does not), and MatMul + bias [+ Gelu] into
 * InferdMatMul (40 columns: two and a half packed panels). For each graph the model
 * loaded with the rewrite switched off (inferd_onnx_options.graph_opt_off, 1 thread) is the
 * reference for the model with it on (2 threads):
 * the fused model's output must equal it within 1e-5 (abs + rel) at batch 1 and 3, and the
 * "graph optimized" summary must name the number of rewrites expected — 0 for the near
 * misses (an axis other than -1, an intermediate that is a graph output). */
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

#define MAXN 40

static struct tpool *pool; /* the fused model runs on 2 threads, the reference on 1 */


struct graph {
    int opset;
    struct gb_node n[MAXN];
    int nn;
    const char *outputs[3]; /* graph outputs; [0] is compared */
};


static void init_f(struct buf *g, const char *name, int rank, const int64_t *dims, const float *v, size_t n)
{
    gb_init(g, name, 1, rank, dims, v, n * sizeof *v); /* FLOAT */
}

/* a 1-D tensor of n elements of `size` bytes, ONNX data type dt */
static void init_1d(struct buf *g, const char *name, int dt, const void *v, int n, size_t size)
{
    gb_init(g, name, dt, 1, (const int64_t[]){n}, v, (size_t)n * size);
}

/* The model bytes: input x (N, 4, 16), constants every graph may use, the nodes. */
static void encode(const struct graph *gr, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 20);
    for (int i = 0; i < gr->nn; i++) {
        const struct gb_node *n = &gr->n[i];
        gb_node(&g, n);
    }
    pbw_str(&g, 2, "fuse");
    float gamma[16], beta[16];
    for (int i = 0; i < 16; i++) {
        gamma[i] = 1.0f + 0.05f * (float)i;
        beta[i] = 0.1f * (float)(i % 5) - 0.2f;
    }
    const float c[][2] = {{2.0f}, {1e-5f}, {1.4142135f}, {0.70710677f}, {1.0f}, {0.5f}, {3.0f}, {0.044715f},
                          {0.7978846f}};
    const char *cn[] = {"two", "eps", "sqrt2", "rsqrt2", "one", "half", "three", "k044", "k079"};
    for (size_t i = 0; i < sizeof cn / sizeof *cn; i++)
        init_f(&g, cn[i], 0, NULL, c[i], 1);
    init_f(&g, "gamma", 1, (const int64_t[]){16}, gamma, 16);
    init_f(&g, "beta", 3, (const int64_t[]){1, 1, 16}, beta, 16);
    static float w[16 * 40], w16[16 * 16], b40[40];
    for (int i = 0; i < 16 * 40; i++)
        w[i] = 0.3f * sinf(0.71f * (float)i);
    for (int i = 0; i < 16 * 16; i++)
        w16[i] = 0.2f * cosf(0.53f * (float)i);
    for (int i = 0; i < 40; i++)
        b40[i] = 0.05f * (float)i - 1.0f;
    init_f(&g, "w", 2, (const int64_t[]){16, 40}, w, 16 * 40);
    init_f(&g, "w16", 2, (const int64_t[]){16, 16}, w16, 16 * 16);
    init_f(&g, "b40", 1, (const int64_t[]){40}, b40, 40);
    init_1d(&g, "axis_last", 7, (const int64_t[]){-1}, 1, 8);
    init_1d(&g, "heads", 7, (const int64_t[]){0, 4, 2, 8}, 4, 8);  /* (N, 4, 16) -> (N, 4, 2, 8) */
    init_1d(&g, "merge", 7, (const int64_t[]){0, 4, 16}, 3, 8);
    init_1d(&g, "amask", 1, (const float[]){0.0f, -10000.0f, 0.0f, -0.5f}, 4, 4);
    init_1d(&g, "bmask", 9, (const unsigned char[]){0, 0, 1, 0}, 4, 1);
    float m3[12];
    for (int i = 0; i < 12; i++)
        m3[i] = i % 4 == i / 4 ? -10000.0f : 0.25f * (float)(i % 5);
    init_f(&g, "amask3", 4, (const int64_t[]){3, 1, 1, 4}, m3, 12); /* batch 3 over Q's batch 1 */
    init_f(&g, "amaskq", 4, (const int64_t[]){1, 1, 3, 4}, m3, 12); /* 3 query rows */
    init_1d(&g, "ninf", 1, (const float[]){-INFINITY}, 1, 4);
    init_1d(&g, "i0", 7, (const int64_t[]){0}, 1, 8);
    init_1d(&g, "i1", 7, (const int64_t[]){1}, 1, 8);
    init_1d(&g, "i2", 7, (const int64_t[]){2}, 1, 8);
    init_1d(&g, "neg1", 7, (const int64_t[]){-1}, 1, 8);
    init_1d(&g, "c64", 7, (const int64_t[]){64}, 1, 8);
    pbw_value_info(&g, 11, "x", 1, 3, (const int64_t[]){-1, 4, 16});
    for (int k = 0; k < 3 && gr->outputs[k]; k++)
        pbw_value_info(&g, 12, gr->outputs[k], 1, -1, NULL);
    gb_model(out, &g, gr->opset);
}

/* Runs the model at batch b; OUT: *out (malloc'd copy of output 0), its element count. */
static int64_t run(struct inferd_onnx_model *m, int b, float **out)
{
    int64_t n = (int64_t)b * 4 * 16;
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = 2.5f * sinf(0.37f * (float)i + (float)b) + 0.3f * (float)(i % 3);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 3, .dims = {b, 4, 16}, .data = x,
                               .nbytes = (size_t)n * sizeof *x};
    int64_t k = gb_run(m, &in, inferd_onnx_n_outputs(m), "run", out);
    CHECK(k >= 0);
    free(x);
    return k < 0 ? 0 : k;
}

/* Loads gr with `bit` off and on; outputs must agree and the summary must contain want. */
static void check(const char *what, const struct graph *gr, unsigned bit, const char *want)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    encode(gr, &b);
    struct inferd_onnx_model *ref = NULL, *got = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(b.data, b.len, &(struct inferd_onnx_options){.graph_opt_off = bit}, &ref, &err);
    if (rc == 0)
        rc = inferd_onnx_load_buffer(b.data, b.len, &(struct inferd_onnx_options){.pool = pool}, &got, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        const char *s = inferd_onnx_graph_summary(got);
        int ok = strstr(s, want) != NULL;
        if (!ok)
            fprintf(stderr, "%s: summary '%s' lacks '%s'\n", what, s, want);
        CHECK(ok);
        double worst = 0;
        for (int batch = 1; batch <= 3; batch += 2) {
            float *r = NULL, *y = NULL;
            int64_t nr = run(ref, batch, &r), ny = run(got, batch, &y);
            CHECK(nr == ny && nr > 0);
            for (int64_t i = 0; i < nr && nr == ny; i++) {
                double d = fabs((double)r[i] - y[i]);
                CHECK(d <= 1e-5 * (1.0 + fabs(r[i])));
                worst = d > worst ? d : worst;
            }
            free(r);
            free(y);
        }
        printf("%-40s %s; max |on - off| = %.3g\n", what, want, worst);
    }
    inferd_onnx_free(ref);
    inferd_onnx_free(got);
    buf_free(&b);
}

#define AX(v) {.name = "axes", .type = 7, .ints = {v}, .n_ints = 1}
#define PERM3(a, b, c) {.name = "perm", .type = 7, .ints = {a, b, c}, .n_ints = 3}

static const char *ln_want = "1 LayerNorm, 0 Gelu";

int main(void)
{
    pool = tpool_new(2);
    CHECK(pool != NULL);
    /* LayerNorm as torch exports it at opset 13 */
    struct graph ln = {13, {{"ReduceMean", "x", "m", {AX(-1)}},
                            {"Sub", "x,m", "d", {{0}}},
                            {"Pow", "d,two", "d2", {{0}}},
                            {"ReduceMean", "d2", "v", {AX(-1)}},
                            {"Add", "v,eps", "ve", {{0}}},
                            {"Sqrt", "ve", "s", {{0}}},
                            {"Div", "d,s", "nrm", {{0}}},
                            {"Mul", "nrm,gamma", "g", {{0}}},
                            {"Add", "beta,g", "y", {{0}}}},
                       9, {"y"}};
    check("layernorm pow/div/gamma/beta", &ln, INFERD_ONNX_OPT_LAYERNORM, ln_want);
    /* Mul(d, d), Reciprocal, no beta */
    struct graph ln2 = {13, {{"ReduceMean", "x", "m", {AX(-1)}},
                             {"Sub", "x,m", "d", {{0}}},
                             {"Mul", "d,d", "d2", {{0}}},
                             {"ReduceMean", "d2", "v", {AX(-1)}},
                             {"Add", "eps,v", "ve", {{0}}},
                             {"Sqrt", "ve", "s", {{0}}},
                             {"Reciprocal", "s", "rs", {{0}}},
                             {"Mul", "rs,d", "nrm", {{0}}},
                             {"Mul", "gamma,nrm", "y", {{0}}},
                             {"Relu", "y", "z", {{0}}}},
                        10, {"z"}};
    check("layernorm mul/reciprocal/gamma", &ln2, INFERD_ONNX_OPT_LAYERNORM, ln_want);
    /* opset 18: ReduceMean's axes are an input */
    struct graph ln3 = {18, {{"ReduceMean", "x,axis_last", "m", {{0}}},
                             {"Sub", "x,m", "d", {{0}}},
                             {"Pow", "d,two", "d2", {{0}}},
                             {"ReduceMean", "d2,axis_last", "v", {{0}}},
                             {"Add", "v,eps", "ve", {{0}}},
                             {"Sqrt", "ve", "s", {{0}}},
                             {"Div", "d,s", "nrm", {{0}}},
                             {"Mul", "nrm,gamma", "g", {{0}}},
                             {"Add", "g,beta", "y", {{0}}}},
                        9, {"y"}};
    check("layernorm opset 18 axes input", &ln3, INFERD_ONNX_OPT_LAYERNORM, ln_want);
    /* near miss: normalised over axis 1, not the last */
    struct graph ln4 = ln;
    ln4.n[0].a[0] = (struct gb_attr)AX(1);
    ln4.n[3].a[0] = (struct gb_attr)AX(1);
    check("layernorm axis 1 (not fused)", &ln4, INFERD_ONNX_OPT_LAYERNORM, "0 LayerNorm");
    /* near miss: the centred value is also a graph output */
    struct graph ln5 = ln;
    ln5.outputs[1] = "d";
    check("layernorm intermediate output (not fused)", &ln5, INFERD_ONNX_OPT_LAYERNORM, "0 LayerNorm");

    /* GELU, erf form: (x * (1 + erf(x / sqrt2))) * 0.5, as torch exports nn.GELU() */
    struct graph g1 = {13, {{"Div", "x,sqrt2", "a", {{0}}},
                            {"Erf", "a", "e", {{0}}},
                            {"Add", "e,one", "p", {{0}}},
                            {"Mul", "x,p", "q", {{0}}},
                            {"Mul", "q,half", "y", {{0}}}},
                       5, {"y"}};
    check("gelu erf (x*p)*0.5", &g1, INFERD_ONNX_OPT_GELU, "0 LayerNorm, 1 Gelu");
    /* x * ((1 + erf(x * 1/sqrt2)) * 0.5) */
    struct graph g2 = {13, {{"Mul", "rsqrt2,x", "a", {{0}}},
                            {"Erf", "a", "e", {{0}}},
                            {"Add", "one,e", "p", {{0}}},
                            {"Mul", "p,half", "q", {{0}}},
                            {"Mul", "q,x", "y", {{0}}}},
                       5, {"y"}};
    check("gelu erf x*(p*0.5)", &g2, INFERD_ONNX_OPT_GELU, "1 Gelu");
    /* (x * 0.5) * (1 + erf(x / sqrt2)) */
    struct graph g3 = {13, {{"Mul", "x,half", "h", {{0}}},
                            {"Div", "x,sqrt2", "a", {{0}}},
                            {"Erf", "a", "e", {{0}}},
                            {"Add", "e,one", "p", {{0}}},
                            {"Mul", "h,p", "y", {{0}}}},
                       5, {"y"}};
    check("gelu erf (x*0.5)*p", &g3, INFERD_ONNX_OPT_GELU, "1 Gelu");
    /* tanh approximation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) */
    struct graph g4 = {13, {{"Pow", "x,three", "c", {{0}}},
                            {"Mul", "k044,c", "kc", {{0}}},
                            {"Add", "x,kc", "s", {{0}}},
                            {"Mul", "s,k079", "u", {{0}}},
                            {"Tanh", "u", "t", {{0}}},
                            {"Add", "t,one", "p", {{0}}},
                            {"Mul", "x,half", "h", {{0}}},
                            {"Mul", "h,p", "y", {{0}}}},
                       8, {"y"}};
    check("gelu tanh", &g4, INFERD_ONNX_OPT_GELU, "1 Gelu");
    /* near miss: erf(x / 2) is no GELU */
    struct graph g5 = g1;
    g5.n[0].in = "x,two";
    check("gelu wrong constant (not fused)", &g5, INFERD_ONNX_OPT_GELU, "0 Gelu");

    /* Transpose pairs: identity (the reader of the second reads x), merged, at an output */
    struct graph t1 = {13, {{"Transpose", "x", "a", {PERM3(0, 2, 1)}},
                            {"Transpose", "a", "b", {PERM3(0, 2, 1)}},
                            {"Relu", "b", "y", {{0}}}},
                       3, {"y"}};
    check("transpose pair -> identity", &t1, INFERD_ONNX_OPT_TRANSPOSE, "0 attention, 1 Transpose pairs");
    struct graph t2 = {13, {{"Transpose", "x", "a", {PERM3(1, 0, 2)}},
                            {"Transpose", "a", "b", {PERM3(0, 2, 1)}},
                            {"Relu", "b", "y", {{0}}}},
                       3, {"y"}};
    check("transpose pair -> one transpose", &t2, INFERD_ONNX_OPT_TRANSPOSE, "1 Transpose pairs");
    struct graph t3 = {13, {{"Relu", "x", "r", {{0}}},
                            {"Transpose", "r", "a", {PERM3(2, 0, 1)}},
                            {"Transpose", "a", "y", {PERM3(1, 2, 0)}}},
                       3, {"y"}};
    check("transpose pair at graph output", &t3, INFERD_ONNX_OPT_TRANSPOSE, "1 Transpose pairs");
    struct graph t4 = {13, {{"Transpose", "x", "a", {PERM3(1, 0, 2)}},
                            {"Transpose", "a", "b", {PERM3(0, 2, 1)}},
                            {"Relu", "a", "r", {{0}}},
                            {"Add", "b,b", "y", {{0}}}},
                       4, {"y", "r"}};
    check("transpose read twice (not fused)", &t4, INFERD_ONNX_OPT_TRANSPOSE, "0 Transpose pairs");

    /* attention as torch exports it: heads split by Reshape + Transpose, K transposed to
     * (N, H, D, T), scaled scores, a mask, Softmax, the context merged back */
#define HEADS {"Reshape", "x,heads", "x4", {{0}}}, {"Relu", "x4", "v4", {{0}}},                 \
              {"Transpose", "x4", "q", {{.name = "perm", .type = 7, .ints = {0, 2, 1, 3}, .n_ints = 4}}}, \
              {"Transpose", "x4", "kt", {{.name = "perm", .type = 7, .ints = {0, 2, 3, 1}, .n_ints = 4}}}, \
              {"Transpose", "v4", "v", {{.name = "perm", .type = 7, .ints = {0, 2, 1, 3}, .n_ints = 4}}}
#define MERGE {"Transpose", "ctx", "ct", {{.name = "perm", .type = 7, .ints = {0, 2, 1, 3}, .n_ints = 4}}}, \
              {"Reshape", "ct,merge", "y", {{0}}}
    struct graph a1 = {13, {HEADS, {"MatMul", "q,kt", "sc", {{0}}}, {"Div", "sc,two", "ss", {{0}}},
                            {"Add", "ss,amask", "sm", {{0}}}, {"Softmax", "sm", "p", {{.name = "axis", .type = 2, .i = -1}}},
                            {"MatMul", "p,v", "ctx", {{0}}}, MERGE},
                       12, {"y"}};
    check("attention div + additive mask", &a1, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a2 = {13, {HEADS, {"MatMul", "q,kt", "sc", {{0}}}, {"Div", "sc,two", "ss", {{0}}},
                            {"Where", "bmask,ninf,ss", "sm", {{0}}}, {"Softmax", "sm", "p", {{0}}},
                            {"MatMul", "p,v", "ctx", {{0}}}, MERGE},
                       12, {"y"}};
    check("attention div + where mask", &a2, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a3 = {13, {HEADS, {"MatMul", "q,kt", "sc", {{0}}}, {"Mul", "half,sc", "ss", {{0}}},
                            {"Softmax", "ss", "p", {{0}}}, {"MatMul", "p,v", "ctx", {{0}}}, MERGE},
                       11, {"y"}};
    check("attention mul scale, no mask", &a3, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a4 = a3; /* Softmax over axis 2: not attention */
    a4.n[7].a[0] = (struct gb_attr){.name = "axis", .type = 2, .i = 2};
    check("attention softmax axis 2 (not fused)", &a4, INFERD_ONNX_OPT_ATTENTION, "0 attention");
    struct graph a5 = a1; /* the probabilities are also an output */
    a5.outputs[1] = "p";
    check("attention probs output (not fused)", &a5, INFERD_ONNX_OPT_ATTENTION, "0 attention");
    struct graph a6 = a1; /* the context is the output: layout 0 (heads first), Transposes stay */
    a6.outputs[0] = "ctx";
    check("attention, heads-first layout", &a6, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a7 = a1; /* K's head split read twice: layout 0 */
    a7.outputs[1] = "kt";
    check("attention, K split also an output", &a7, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a8 = {13, {HEADS, {"MatMul", "q,kt", "sc", {{0}}}, {"Div", "sc,two", "ss", {{0}}},
                            {"Mul", "amask,half", "hm", {{0}}}, {"Add", "hm,ss", "sm", {{0}}}, {"Softmax", "sm", "p", {{0}}},
                            {"MatMul", "p,v", "ctx", {{0}}}, MERGE},
                       13, {"y"}};
    check("attention, Add(Mul(mask), scores)", &a8, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    /* masks with more batch rows than Q (batch 1 run: the unfused graph broadcasts Q, K, V up
     * to the mask's 3) and with 3 query rows over a single-row Q */
    struct graph a9 = a1;
    a9.n[7].in = "ss,amask3";
    check("attention, mask batch over Q's", &a9, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a10 = a6;
    a10.n[7].in = "ss,amask3";
    check("attention, mask batch, heads first", &a10, INFERD_ONNX_OPT_ATTENTION, "1 attention");
#define P4(a, b, c, d) {.name = "perm", .type = 7, .ints = {a, b, c, d}, .n_ints = 4}
    struct graph a11 = {13, {{"Reshape", "x,heads", "x4", {{0}}}, {"Relu", "x4", "v4", {{0}}},
                             {"ReduceMean", "x4", "xr", {AX(1)}}, {"Transpose", "xr", "q1", {P4(0, 2, 1, 3)}},
                             {"Transpose", "x4", "kt", {P4(0, 2, 3, 1)}}, {"Transpose", "v4", "v", {P4(0, 2, 1, 3)}},
                             {"MatMul", "q1,kt", "sc", {{0}}}, {"Div", "sc,two", "ss", {{0}}},
                             {"Add", "ss,amaskq", "sm", {{0}}}, {"Softmax", "sm", "p", {{0}}},
                             {"MatMul", "p,v", "ctx", {{0}}}, {"Transpose", "ctx", "ct", {P4(0, 2, 1, 3)}}},
                        12, {"ct"}};
    check("attention, one query row, mask of 3", &a11, INFERD_ONNX_OPT_ATTENTION, "1 attention");
    struct graph a12 = a11; /* the same, heads first */
    a12.nn = 11;
    a12.outputs[0] = "ctx";
    check("attention, one query row, heads first", &a12, INFERD_ONNX_OPT_ATTENTION, "1 attention");

    /* MatMul by constant weights + bias [+ GELU]: one InferdMatMul */
    struct graph mb1 = {13, {{"MatMul", "x,w", "mm", {{0}}}, {"Add", "mm,b40", "y", {{0}}}}, 2, {"y"}};
    check("matmul + bias", &mb1, INFERD_ONNX_OPT_MATMUL, "1 MatMul+bias");
    struct graph mb2 = {13, {{"MatMul", "x,w", "mm", {{0}}},
                             {"Add", "b40,mm", "h", {{0}}},
                             {"Div", "h,sqrt2", "a", {{0}}},
                             {"Erf", "a", "e", {{0}}},
                             {"Add", "e,one", "p", {{0}}},
                             {"Mul", "h,p", "q", {{0}}},
                             {"Mul", "q,half", "y", {{0}}}},
                        7, {"y"}};
    check("matmul + bias + gelu", &mb2, INFERD_ONNX_OPT_MATMUL, "1 Gelu, 0 attention, 0 Transpose pairs, 1 MatMul+bias");
    struct graph mb3 = {13, {{"MatMul", "x,w", "mm", {{0}}}, /* the tanh GELU stays a node */
                             {"Add", "mm,b40", "h", {{0}}},
                             {"Pow", "h,three", "c", {{0}}},
                             {"Mul", "k044,c", "kc", {{0}}},
                             {"Add", "h,kc", "s", {{0}}},
                             {"Mul", "s,k079", "u", {{0}}},
                             {"Tanh", "u", "t", {{0}}},
                             {"Add", "t,one", "p", {{0}}},
                             {"Mul", "h,half", "hh", {{0}}},
                             {"Mul", "hh,p", "y", {{0}}}},
                        10, {"y"}};
    check("matmul + bias, then tanh gelu", &mb3, INFERD_ONNX_OPT_MATMUL, "1 Gelu, 0 attention, 0 Transpose pairs, 1 MatMul+bias");
    struct graph mb4 = {13, {{"MatMul", "x,w16", "mm", {{0}}}, {"Add", "mm,beta", "y", {{0}}}}, 2, {"y"}};
    check("matmul + (1,1,N) bias (not fused)", &mb4, INFERD_ONNX_OPT_MATMUL, "0 MatMul+bias");
    struct graph mb5 = mb1;
    mb5.outputs[1] = "mm";
    check("matmul also an output (not fused)", &mb5, INFERD_ONNX_OPT_MATMUL, "0 MatMul+bias");

    /* shape folding: the fixed dims 1 and 2 of x (N, 4, 16) become constants, the batch not */
    struct graph s1 = {13, {{"Shape", "x", "xs", {{0}}},
                            {"Gather", "xs,i1", "d1", {{.name = "axis", .type = 2, .i = 0}}},
                            {"Gather", "xs,i2", "d2", {{0}}},
                            {"Concat", "neg1,d1,d2", "shp", {{.name = "axis", .type = 2, .i = 0}}},
                            {"Reshape", "x,shp", "r", {{0}}},
                            {"Gather", "xs,i0", "d0", {{0}}},
                            {"Concat", "d0,c64", "shp2", {{.name = "axis", .type = 2, .i = 0}}},
                            {"Reshape", "r,shp2", "y", {{0}}}},
                       8, {"y"}};
    check("shape folding, symbolic batch kept", &s1, INFERD_ONNX_OPT_SHAPE, "2 shape nodes from fixed dims");
    tpool_free(pool);
    return check_finish();
}
