/* test_onnx_noalloc.c — inferd_onnx_run must not allocate on a shape it has seen: counts the
 * allocations our code makes (tests/unit/alloc_fail.h wraps the malloc family at link time)
 * during repeated runs of data/tiny_mlp.onnx (batches 1, 3, 8: the dot-product, OpenBLAS
 * and packed-kernel GEMM paths) and of hello_deepa when installed. Calls made inside
 * shared libraries are not counted; the engine's kernels call none that allocate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "check.h"
#include "inferd/onnx.h"

static void runs(const char *path, int rank, const int64_t *dims, const char *what)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    if (inferd_onnx_load(path, NULL, &m, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        CHECK(0);
        return;
    }
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = rank};
    memcpy(in.dims, dims, (size_t)rank * sizeof *dims);
    int64_t n = inferd_shape_numel(rank, dims);
    float *x = calloc((size_t)n, sizeof *x);
    in.data = x;
    in.nbytes = (size_t)n * sizeof *x;
    struct inferd_tensor out[4];
    alloc_fail_arm(0); /* the first run builds the plan: it must allocate (the counter works) */
    CHECK(inferd_onnx_run(m, &in, 1, out, 4, &err) == 0);
    CHECK(alloc_fail_seen() > 0);
    alloc_fail_arm(0);
    for (int r = 0; r < 50; r++)
        CHECK(inferd_onnx_run(m, &in, 1, out, 4, &err) == 0);
    alloc_fail_disarm();
    printf("%s: %ld allocations in 50 runs\n", what, alloc_fail_seen());
    CHECK(alloc_fail_seen() == 0);
    free(x);
    inferd_onnx_free(m);
}

int main(void)
{
    if (!alloc_fail_supported())
        check_skip("TSan owns malloc (see alloc_fail.h)");
    const char *root = getenv("INFERD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/tiny_mlp.onnx", root ? root : ".");
    runs(path, 3, (int64_t[]){1, 3, 4}, "tiny_mlp batch 1");
    runs(path, 3, (int64_t[]){3, 3, 4}, "tiny_mlp batch 3");
    runs(path, 3, (int64_t[]){8, 3, 4}, "tiny_mlp batch 8");
    snprintf(path, sizeof path, "%s/node_modules/openwakeword-js/models/hello_deepa.onnx", root ? root : ".");
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        runs(path, 3, (int64_t[]){1, 25, 96}, "hello_deepa");
    }
    return check_finish();
}
