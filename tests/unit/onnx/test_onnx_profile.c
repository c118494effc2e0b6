/* test_onnx_profile.c — INFERD_ONNX_PROFILE=1 (src/onnx/profile.c): after runs of
 * data/tiny_mlp.onnx, freeing the model prints the per-op-type and slowest-node tables to
 * stderr, with the run count and every op type of the plan; stderr goes to a temp file.
 * `test_onnx_profile min` checks INFERD_ONNX_PROFILE=min the same way (each step's fastest
 * run: no step's time exceeds the total of one run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "inferd/onnx.h"
#include "onnx/onnx_int.h"

int main(int argc, char **argv)
{
    int min = argc > 1 && strcmp(argv[1], "min") == 0;
    setenv("INFERD_ONNX_PROFILE", min ? "min" : "1", 1); /* read once, at the first run */
    /* one step's three runs: =1 adds them, =min keeps the fastest */
    CHECK(ox_prof_on());
    struct ox_step st = {0};
    ox_prof_add(&st, 500);
    ox_prof_add(&st, 300);
    ox_prof_add(&st, 900);
    CHECK(st.prof_runs == 3 && st.prof_ns == (min ? 300u : 1700u));
    const char *root = getenv("INFERD_ROOT"), *tmp = getenv("TMPDIR");
    char path[4096], log[4096];
    snprintf(path, sizeof path, "%s/tests/unit/onnx/data/tiny_mlp.onnx", root ? root : ".");
    snprintf(log, sizeof log, "%s/onnx_profile_%ld.txt", tmp ? tmp : "/tmp", (long)getpid());
    fflush(stderr);
    CHECK(freopen(log, "w", stderr) != NULL);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    CHECK(inferd_onnx_load(path, NULL, &m, &err) == 0);
    float x[2 * 3 * 4] = {0};
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 3, .dims = {2, 3, 4}, .data = x, .nbytes = sizeof x};
    struct inferd_tensor out[4];
    for (int r = 0; r < 7; r++)
        CHECK(inferd_onnx_run(m, &in, 1, out, 4, &err) == 0);
    inferd_onnx_free(m);
    fflush(stderr);
    char buf[16384] = {0};
    FILE *f = fopen(log, "r");
    CHECK(f != NULL);
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    unlink(log);
    printf("%.*s", (int)n, buf);
    CHECK(strstr(buf, min ? "onnx profile (fastest wall time per step):" : "onnx profile (process CPU time):") !=
          NULL);
    const char *per = strstr(buf, " us per run"), *node = strstr(buf, "slowest nodes:");
    CHECK(per != NULL && node != NULL);
    if (per && node) { /* the slowest node took no more than the whole run's (summed) time */
        const char *at = per;
        while (at > buf && at[-1] != ' ')
            at--;
        double total = strtod(at, NULL), first = strtod(node + strlen("slowest nodes:"), NULL);
        CHECK(total > 0.0 && first > 0.0 && first <= total + 0.05);
    }
    CHECK(strstr(buf, " 7 runs,") != NULL);
    CHECK(strstr(buf, "op_type") != NULL && strstr(buf, "slowest nodes:") != NULL);
    CHECK(strstr(buf, "MatMul") != NULL || strstr(buf, "Gemm") != NULL);
    CHECK(strstr(buf, "2x3x4") != NULL); /* the input shape of the first node */
    return check_finish();
}
