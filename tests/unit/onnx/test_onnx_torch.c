/* test_onnx_torch.c — models exported by torch.onnx.export at test time, run by inferd and
 * by ONNX Runtime, outputs compared.
 *
 * torch_export.py (Debian's python3-torch and python3-torchvision, random weights with a
 * fixed seed) writes a BERT-style encoder (2 layers, hidden 64, input_ids + attention_mask,
 * dynamic batch and length so the Shape/Gather/Concat/Range/Expand/Equal/Where chains stay
 * in the graph), a ViT-style classifier, a CRNN-style tail (bidirectional 2-layer LSTM +
 * GRU, batch_first) and MobileNetV3-small, each at opsets 13 and 17, into a fresh temp dir; ort_run.js runs ONNX Runtime (node_modules/onnxruntime-node) on
 * the same inputs. Every output element must satisfy |inferd - ort| <= 1e-4 * max(|ort|, m)
 * where m is the output's largest magnitude / 10 (relative 1e-4, with values far below the
 * output's scale held to its tenth, where float summation order alone moves them more).
 * Each model also runs through a 2-thread pool. Skips (77) when torch, torchvision, node
 * or onnxruntime-node is missing. Everything goes to one temp dir under $TMPDIR (the exporter's
 * and ORT's own temp files too), removed at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/tpool.h"
#include "check.h"
#include "inferd/onnx.h"

#define MAX_IO 8

struct io_set {
    int n;
    char names[MAX_IO][64];
    struct inferd_tensor t[MAX_IO];
};

static void free_set(struct io_set *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->t[i].data);
    s->n = 0;
}

/* Reads a manifest ("<name> <dtype> <rank> <dims...> <file>" per line) and its raw files. */
static int read_set(const char *dir, const char *manifest, struct io_set *s)
{
    char path[8192], file[256], dt[16];
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    FILE *f = fopen(path, "r");
    memset(s, 0, sizeof *s);
    if (!f)
        return -1;
    int rc = 0;
    while (s->n < MAX_IO && fscanf(f, "%63s %15s %d", s->names[s->n], dt, &s->t[s->n].rank) == 3) {
        struct inferd_tensor *t = &s->t[s->n];
        if (t->rank < 0 || t->rank > INFERD_MAX_RANK) {
            rc = -1;
            break;
        }
        for (int d = 0; d < t->rank; d++)
            if (fscanf(f, "%lld", (long long *)&t->dims[d]) != 1)
                rc = -1;
        if (rc < 0 || fscanf(f, "%255s", file) != 1) {
            rc = -1;
            break;
        }
        t->dtype = strcmp(dt, "int64") == 0 ? INFERD_INT64 : INFERD_FP32;
        t->nbytes = (size_t)inferd_shape_numel(t->rank, t->dims) * inferd_dtype_size(t->dtype);
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        s->n++;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        FILE *b = fopen(path, "rb");
        if (!t->data || !b || fread(t->data, 1, t->nbytes, b) != t->nbytes)
            rc = -1;
        if (b)
            fclose(b);
        if (rc < 0)
            break;
    }
    fclose(f);
    if (rc < 0 || s->n == 0) {
        free_set(s);
        return -1;
    }
    return 0;
}

static int run_cmd(const char *cmd)
{
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Runs one exported model through inferd (pool may be NULL) and compares with ORT's outputs. */
static void check_model(const char *root, const char *dir, const char *model, const char *inputs,
                        struct tpool *pool)
{
    char cmd[32768], path[8192], outs[300];
    snprintf(outs, sizeof outs, "%s.outputs", model);
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' node '%s/tests/unit/onnx/ort_run.js' '%s/%s.onnx' '%s/%s' '%s/%s'", dir, root,
             dir, model, dir, inputs, dir, model);
    struct io_set in, want;
    snprintf(path, sizeof path, "%s/%s.outputs", dir, model);
    struct stat st;
    if (stat(path, &st) != 0) { /* the first, single-threaded pass asks ORT */
        int rc = run_cmd(cmd);
        if (rc != 0)
            fprintf(stderr, "%s: ONNX Runtime failed (%d): %s\n", model, rc, cmd);
        CHECK(rc == 0);
    }
    CHECK(read_set(dir, inputs, &in) == 0);
    CHECK(read_set(dir, outs, &want) == 0);
    if (in.n == 0 || want.n == 0)
        return;
    snprintf(path, sizeof path, "%s/%s.onnx", dir, model);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "%s: load: %s\n", model, err.msg);
    CHECK(rc == 0);
    struct inferd_tensor got[MAX_IO];
    if (rc == 0) {
        CHECK(inferd_onnx_n_inputs(m) == in.n && inferd_onnx_n_outputs(m) == want.n);
        rc = inferd_onnx_run(m, in.t, in.n, got, MAX_IO, &err);
        if (rc < 0)
            fprintf(stderr, "%s: run: %s\n", model, err.msg);
        CHECK(rc == 0);
    }
    for (int k = 0; rc == 0 && k < want.n; k++) {
        const struct inferd_tensor *w = &want.t[k], *g = &got[k];
        CHECK(g->dtype == INFERD_FP32 && g->rank == w->rank);
        CHECK(memcmp(g->dims, w->dims, (size_t)w->rank * sizeof(int64_t)) == 0);
        if (g->nbytes != w->nbytes) {
            CHECK(g->nbytes == w->nbytes);
            continue;
        }
        const float *a = g->data, *b = w->data;
        int64_t n = (int64_t)(w->nbytes / sizeof(float)), bad = -1;
        double scale = 0, worst = 0;
        for (int64_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(b[i]));
        for (int64_t i = 0; i < n; i++) {
            double tol = 1e-4 * fmax(fabs(b[i]), scale / 10), d = fabs((double)a[i] - b[i]);
            if (!(d <= tol) && bad < 0)
                bad = i;
            worst = fmax(worst, d / fmax(fabs(b[i]), scale / 10));
        }
        printf("%s%s: output %s: %lld values, max |ort| %.4g, worst relative error %.3g\n", model,
               pool ? " (2 threads)" : "", want.names[k], (long long)n, scale, worst);
        if (bad >= 0)
            fprintf(stderr, "%s: output %s[%lld] = %.9g, ONNX Runtime %.9g\n", model, want.names[k], (long long)bad,
                    a[bad], b[bad]);
        CHECK(bad < 0);
    }
    inferd_onnx_free(m);
    free_set(&in);
    free_set(&want);
}

int main(void)
{
    const char *root = getenv("INFERD_ROOT"), *tmp = getenv("TMPDIR");
    char ort[4096], dir[4096], cmd[16384];
    if (!root)
        root = ".";
    snprintf(ort, sizeof ort, "%s/node_modules/onnxruntime-node/package.json", root);
    if (access(ort, R_OK) != 0)
        check_skip("node_modules/onnxruntime-node is not installed (npm install)");
    if (run_cmd("node --version > /dev/null 2>&1") != 0)
        check_skip("node is not installed");
    snprintf(dir, sizeof dir, "%s/inferd-torch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return check_finish();
    }
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' /usr/bin/python3 '%s/tests/unit/onnx/torch_export.py' '%s' > '%s/export.log' 2>&1",
             dir, root, dir, dir);
    int rc = run_cmd(cmd);
    if (rc == 77) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        run_cmd(cmd);
        check_skip("python3-torch or python3-torchvision is not installed (Debian: apt install python3-torch "
                   "python3-torchvision)");
    }
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "tail -20 '%s/export.log' >&2", dir);
        run_cmd(cmd);
    }
    CHECK(rc == 0);
    /* every ORT subprocess runs in the first (single-threaded) pass: no fork with a pool alive */
    static const char *const models[] = {"bert", "vit", "recurrent", "mobilenetv3"};
    struct tpool *pool = NULL;
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        if (pass == 1)
            pool = tpool_new(2);
        for (int i = 0; i < 4; i++) {
            for (int opset = 13; opset <= 17; opset += 4) {
                char name[64], inputs[64];
                snprintf(name, sizeof name, "%s_op%d", models[i], opset);
                snprintf(inputs, sizeof inputs, "%s.inputs", models[i]);
                check_model(root, dir, name, inputs, pool);
            }
        }
    }
    tpool_free(pool);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd);
    return check_finish();
}
