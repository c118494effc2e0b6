/* test_onnx_models.c — real trained models from npm's openwakeword-js (hello_deepa and
 * friends, small MLPs) through inferd's ONNX engine, compared with ONNX Runtime's outputs
 * recorded by ort_reference.js in data/<model>_ort.txt (|diff| <= 1e-4). Also checks plan
 * reuse (same output buffer on a repeated shape) and input validation errors.
 * Skips when node_modules/openwakeword-js is absent. */
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

static int check_model(const char *root, const char *name, struct tpool *pool)
{
    char path[4096], ref[4096];
    snprintf(path, sizeof path, "%s/node_modules/openwakeword-js/models/%s.onnx", root, name);
    snprintf(ref, sizeof ref, "%s/tests/unit/onnx/data/%s_ort.txt", root, name);
    FILE *rf = fopen(ref, "r");
    FILE *mf = fopen(path, "rb");
    if (!mf) {
        if (rf)
            fclose(rf);
        return 0; /* not installed */
    }
    fclose(mf);
    CHECK(rf != NULL);
    if (!rf)
        return 1;
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", name, err.msg);
    CHECK(rc == 0);
    if (rc < 0) {
        fclose(rf);
        return 1;
    }
    CHECK(inferd_onnx_n_inputs(m) == 1 && inferd_onnx_n_outputs(m) == 1);
    CHECK(inferd_onnx_opset(m) == 13);
    CHECK(strcmp(inferd_onnx_producer(m), "pytorch") == 0);
    const struct inferd_onnx_io *io = inferd_onnx_input(m, 0);
    int cases = 0, n_out = 0;
    double scale = 0;
    CHECK(fscanf(rf, "cases %d scale %lf outputs %d", &cases, &scale, &n_out) == 3);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = io->rank};
    memcpy(in.dims, io->dims, sizeof in.dims);
    int64_t n = inferd_shape_numel(in.rank, in.dims);
    CHECK(n > 0);
    float *x = malloc((size_t)n * sizeof *x);
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    double worst = 0;
    void *first_out = NULL;
    for (int c = 0; c < cases; c++) {
        fill(x, n, 12345u + (uint32_t)c, (float)scale);
        struct inferd_tensor out[1];
        rc = inferd_onnx_run(m, &in, 1, out, 1, &err);
        CHECK(rc == 0);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", name, err.msg);
            break;
        }
        if (c == 0)
            first_out = out[0].data;
        CHECK(out[0].data == first_out); /* the cached plan's arena is reused */
        int cc, k;
        long cnt;
        CHECK(fscanf(rf, "%d %d %ld", &cc, &k, &cnt) == 3 && cc == c && k == 0);
        CHECK(cnt == inferd_shape_numel(out[0].rank, out[0].dims));
        for (long i = 0; i < cnt; i++) {
            double want = 0;
            CHECK(fscanf(rf, "%lf", &want) == 1);
            double got = ((float *)out[0].data)[i];
            CHECK_NEAR(got, want, 1e-4);
            if (fabs(got - want) > worst)
                worst = fabs(got - want);
        }
    }
    printf("%s: %d cases, max |inferd - onnxruntime| = %.3g\n", name, cases, worst);
    /* validation errors name the input */
    struct inferd_tensor bad = in, out[1];
    bad.dtype = INFERD_INT64;
    CHECK(inferd_onnx_run(m, &bad, 1, out, 1, &err) == INFERD_ETYPE);
    bad = in;
    bad.dims[1] += 1;
    CHECK(inferd_onnx_run(m, &bad, 1, out, 1, &err) == INFERD_ESHAPE);
    CHECK(strstr(err.msg, io->name) != NULL);
    bad = in;
    bad.nbytes -= 4;
    CHECK(inferd_onnx_run(m, &bad, 1, out, 1, &err) == INFERD_EINVAL);
    free(x);
    fclose(rf);
    inferd_onnx_free(m);
    return 1;
}

static void check_truncated(const char *root)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/node_modules/openwakeword-js/models/hello_deepa.onnx", root);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    static unsigned char buf[400000];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    for (size_t cut = 1; cut < len; cut += len / 37 + 1) {
        int rc = inferd_onnx_load_buffer(buf, cut, NULL, &m, &err);
        if (rc == 0)
            inferd_onnx_free(m);
        CHECK(rc < 0 || rc == 0);
    }
    CHECK(inferd_onnx_load_buffer(buf, len / 2, NULL, &m, &err) < 0);
    CHECK(err.msg[0] != '\0');
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    if (!root)
        root = ".";
    struct tpool *pool = tpool_new(2);
    int found = 0;
    const char *models[] = {"hello_deepa", "hello_deepa_old", "namaste_deepa"};
    for (int i = 0; i < 3; i++)
        found += check_model(root, models[i], i == 1 ? pool : NULL);
    tpool_free(pool);
    if (!found)
        check_skip("node_modules/openwakeword-js is not installed");
    check_truncated(root);
    return check_finish();
}
