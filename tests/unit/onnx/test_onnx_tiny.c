/* test_onnx_tiny.c — data/tiny_mlp.onnx (made by make_tiny.py) through inferd's ONNX
 * engine: symbolic batch (plans for batches 1, 3, 5 and back to 3 from the cache),
 * initializers in typed protobuf fields, a Constant node listed after its consumer, and a
 * Shape->Gather->Unsqueeze->Concat->Reshape chain folded at plan time. Compared with numpy's
 * answers in data/tiny_mlp_expected.txt (rtol 1e-4, atol 1e-5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inferd/onnx.h"

static void run_batch(struct inferd_onnx_model *m, int n, FILE *ref, void **seen_out)
{
    float x[5 * 12];
    for (int i = 0; i < n * 12; i++)
        x[i] = (float)sin(0.37 * i + n);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 3, .dims = {n, 3, 4}, .data = x,
                               .nbytes = (size_t)n * 12 * sizeof(float)};
    struct inferd_tensor out[2];
    struct inferd_err err = {0};
    int rc = inferd_onnx_run(m, &in, 1, out, 2, &err);
    CHECK(rc == 0);
    if (rc < 0) {
        fprintf(stderr, "run batch %d: %s\n", n, err.msg);
        return;
    }
    CHECK(out[0].rank == 2 && out[0].dims[0] == n && out[0].dims[1] == 8);
    CHECK(out[1].rank == 2 && out[1].dims[0] == 8 && out[1].dims[1] == n);
    if (seen_out)
        *seen_out = out[0].data;
    if (!ref)
        return;
    rewind(ref);
    char line[65536];
    while (fgets(line, sizeof line, ref)) {
        char *p = line, *end;
        long bn = strtol(p, &end, 10), k = strtol(end, &p, 10);
        if (bn != n)
            continue;
        const float *got = out[k].data;
        for (int i = 0; i < n * 8; i++) {
            double want = strtod(p, &end);
            CHECK(end != p);
            p = end;
            CHECK_NEAR(got[i], want, 1e-5 + 1e-4 * fabs(want));
        }
    }
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT");
    char path[4096], refp[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/tiny_mlp.onnx", root ? root : ".");
    snprintf(refp, sizeof refp, "%s/tests/unit/onnx/data/tiny_mlp_expected.txt", root ? root : ".");
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, NULL, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == 0);
    if (rc < 0)
        return check_finish();
    const struct inferd_onnx_io *io = inferd_onnx_input(m, 0);
    CHECK(io && io->rank == 3 && io->dims[0] == -1 && io->dims[1] == 3 && io->dims[2] == 4);
    CHECK(inferd_onnx_output(m, 1) && inferd_onnx_output(m, 1)->dims[1] == -1);
    CHECK(inferd_onnx_input(m, 1) == NULL);
    FILE *ref = fopen(refp, "r");
    CHECK(ref != NULL);
    void *o3 = NULL, *o3b = NULL;
    run_batch(m, 1, ref, NULL);
    run_batch(m, 3, ref, &o3);
    run_batch(m, 5, ref, NULL);
    run_batch(m, 3, ref, &o3b);
    CHECK(o3 == o3b); /* batch 3's plan came from the cache */
    /* a non-symbolic dim must match */
    float x[16] = {0};
    struct inferd_tensor bad = {.dtype = INFERD_FP32, .rank = 3, .dims = {1, 4, 4}, .data = x, .nbytes = sizeof x};
    struct inferd_tensor out[2];
    CHECK(inferd_onnx_run(m, &bad, 1, out, 2, &err) == INFERD_ESHAPE);
    CHECK(inferd_onnx_run(m, &bad, 1, out, 1, &err) < 0); /* room for too few outputs */
    if (ref)
        fclose(ref);
    inferd_onnx_free(m);
    return check_finish();
}
