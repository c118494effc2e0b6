/* test_onnx_qdq.c — QDQ-format int8 models (data/qdq_{conv,mlp}.onnx, made by make_qdq.py:
 * u8 activations, s8 per-channel and u8 per-tensor weights, int32 biases, Relu before a
 * zero-point-0 Q; in qdq_conv_relu10 one Relu feeds a Q with zero point 10, which must not
 * be fused) through the engine with the QDQ fusion (fuse_qdq.c) on and off, 1 and 2
 * threads: the fused model runs QLinearConv / QLinearMatMul (checked in the graph summary),
 * and its outputs equal the unfused FP32 path's and ONNX Runtime's (data/<model>_ort.txt,
 * written by ort_reference.js with 4 cases) within one output quantum. ctest also runs it
 * with INFERD_CPU_DISABLE=avx512f,avxvnni (the AVX2 int8 GEMM) and =all (the reference). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"

static void fill(float *a, int64_t n, uint32_t seed, float scale)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)((((double)(s >> 8) / 16777216.0) * 2 - 1) * scale);
    }
}

static struct inferd_onnx_model *load(const char *path, unsigned off, struct tpool *pool)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = pool, .graph_opt_off = off}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", path, err.msg);
    CHECK(rc == 0);
    return m;
}

static void check_model(const char *root, const char *name, double quantum, int n_fused, struct tpool *pool)
{
    char path[4096], ref[4096], want_sum[64];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/%s.onnx", root, name);
    snprintf(ref, sizeof ref, "%s/tests/unit/onnx/data/%s_ort.txt", root, name);
    FILE *rf = fopen(ref, "r");
    CHECK(rf != NULL);
    struct inferd_onnx_model *fused = load(path, 0, pool), *plain = load(path, INFERD_ONNX_OPT_QDQ, pool);
    if (!rf || !fused || !plain)
        goto out;
    snprintf(want_sum, sizeof want_sum, "%d QDQ int8", n_fused);
    printf("%s: %s\n", name, inferd_onnx_graph_summary(fused));
    CHECK(strstr(inferd_onnx_graph_summary(fused), want_sum) != NULL);
    CHECK(strstr(inferd_onnx_graph_summary(plain), " 0 QDQ int8") != NULL);
    const struct inferd_onnx_io *io = inferd_onnx_input(fused, 0);
    int cases = 0, n_out = 0;
    double scale = 0;
    CHECK(fscanf(rf, "cases %d scale %lf outputs %d", &cases, &scale, &n_out) == 3 && n_out == 1);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = io->rank};
    memcpy(in.dims, io->dims, sizeof in.dims);
    int64_t n = inferd_shape_numel(in.rank, in.dims);
    float *x = malloc((size_t)n * sizeof *x);
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    long total = 0, off_ort = 0, off_plain = 0;
    double worst = 0;
    for (int c = 0; c < cases && x; c++) {
        fill(x, n, 12345u + (uint32_t)c, (float)scale);
        struct inferd_tensor of[1], op[1];
        struct inferd_err err = {0};
        int rc = inferd_onnx_run(fused, &in, 1, of, 1, &err);
        CHECK(rc == 0);
        rc |= inferd_onnx_run(plain, &in, 1, op, 1, &err);
        CHECK(rc == 0);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            break;
        }
        int cc, k;
        long cnt;
        CHECK(fscanf(rf, "%d %d %ld", &cc, &k, &cnt) == 3 && cc == c && k == 0);
        CHECK(cnt == inferd_shape_numel(of[0].rank, of[0].dims));
        for (long i = 0; i < cnt; i++) {
            double want = 0;
            CHECK(fscanf(rf, "%lf", &want) == 1);
            double got = ((const float *)of[0].data)[i], base = ((const float *)op[0].data)[i];
            CHECK(fabs(got - want) <= quantum * 1.001);
            CHECK(fabs(got - base) <= quantum * 1.001);
            off_ort += fabs(got - want) > quantum * 0.5;
            off_plain += fabs(got - base) > quantum * 0.5;
            worst = fmax(worst, fabs(got - want));
        }
        total += cnt;
    }
    printf("%s (%s): %ld values, %ld one quantum off ONNX Runtime, %ld off the unfused path, max diff %.3g\n", name,
           pool ? "2 threads" : "1 thread", total, off_ort, off_plain, worst);
    CHECK(total > 0);
    free(x);
out:
    if (rf)
        fclose(rf);
    inferd_onnx_free(fused);
    inferd_onnx_free(plain);
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    if (!root)
        root = ".";
    struct tpool *pool = tpool_new(2);
    /* the last layer's output scale is one quantum: conv 2/255 (Relu, zero point 0), mlp 4/255 */
    check_model(root, "qdq_conv", 2.0 / 255, 3, NULL);
    check_model(root, "qdq_conv", 2.0 / 255, 3, pool);
    /* a Relu before a Q whose zero point is not the minimum must stay: that layer is not fused */
    check_model(root, "qdq_conv_relu10", 2.0 / 255, 2, NULL);
    check_model(root, "qdq_mlp", 4.0 / 255, 2, NULL);
    check_model(root, "qdq_mlp", 4.0 / 255, 2, pool);
    tpool_free(pool);
    return check_finish();
}
