/* test_onnx_torch.c — models exported by torch.onnx.export at test time, run by inferd and
 * by ONNX Runtime, outputs compared. Two ctests run it:
 *
 *   test_onnx_torch  (torch_export.py) a BERT-style encoder (2 layers, hidden 64, input_ids +
 *     attention_mask, dynamic batch and length so the Shape/Gather/Concat/Range/Expand/Equal/
 *     Where chains stay in the graph), a ViT-style classifier, a CRNN-style tail
 *     (bidirectional 2-layer LSTM + GRU, batch_first) and MobileNetV3-small;
 *   test_onnx_zoo    (zoo_export.py) ResNet-18, ResNet-50, MobileNetV2, EfficientNet-B0 and a
 *     small YOLO-style detector, and int8 QDQ versions (qdq_quantize.py: u8 activations, s8
 *     per-channel weights, int32 biases, as ORT's quantize_static writes) of ResNet-18,
 *     MobileNetV2 and the BERT-style encoder;
 *
 * each float model at opsets 13 and 17, random weights with a fixed seed (Debian's
 * python3-torch and python3-torchvision), into a fresh temp dir; the exporter lists what it
 * wrote in models.list. ort_run.js runs ONNX Runtime (node_modules/onnxruntime-node) on the
 * same inputs. Float models ("float" in models.list): every output element must satisfy
 * |inferd - ort| <= 1e-4 * max(|ort|, m) where m is the output's largest magnitude / 10
 * (relative 1e-4, with values far below the output's scale held to its tenth, where float
 * summation order alone moves them more); "float_out" (the zoo): see check_float. int8 QDQ
 * models: see check_qdq. Each model also
 * runs through a 2-thread pool. Skips (77) when torch, torchvision, python3-onnx, node or
 * onnxruntime-node is missing. Everything goes to one temp dir under $TMPDIR (the exporter's
 * and ORT's own temp files too), removed at the end.
 *
 *   test_onnx_torch [exporter script, default torch_export.py]
 */
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
#define MAX_MODELS 32

/* One line of models.list: "<model> <inputs manifest> <kind> [<output> <quantum>]...". */
enum kind {
    KIND_FLOAT,     /* "float": per element, relative 1e-4 (see the top comment) */
    KIND_FLOAT_OUT, /* "float_out": max |inferd - ort| <= 1e-4 * max |ort| per output */
    KIND_QDQ,       /* "qdq": in quanta, see check_qdq */
};
struct entry {
    char model[64], inputs[64];
    enum kind kind;
    int n_quanta;
    char qname[MAX_IO][64];
    double quantum[MAX_IO];
};

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

/* Float models, relative 1e-4: per element (see the top comment), or with per_output, of
 * the output's largest magnitude: max |inferd - ort| <= 1e-4 * max |ort|. The deep
 * random-weight conv nets of zoo_export.py use the latter: there float summation order alone
 * moves a logit near a tenth of the largest by ~2e-4 of itself (ONNX Runtime with graph
 * optimizations on vs off differs by 2.3e-4 on ResNet-50 by the per-element measure, 2.6e-5
 * by the per-output one). Prints both measures; returns 0 or -1. */
static int check_float(const char *tag, const char *name, const float *a, const float *b, int64_t n, int per_output)
{
    int64_t bad = -1;
    double scale = 0, worst = 0, maxd = 0;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-4 * (per_output ? scale : fmax(fabs(b[i]), scale / 10)), d = fabs((double)a[i] - b[i]);
        if (!(d <= tol) && bad < 0)
            bad = i;
        worst = fmax(worst, d / fmax(fabs(b[i]), scale / 10));
        maxd = fmax(maxd, d);
    }
    printf("%s: output %s: %lld values, max |ort| %.4g, worst relative error %.3g per element, %.3g of max |ort|%s\n",
           tag, name, (long long)n, scale, worst, scale > 0 ? maxd / scale : maxd, per_output ? " (bound)" : "");
    if (bad >= 0)
        fprintf(stderr, "%s: output %s[%lld] = %.9g, ONNX Runtime %.9g\n", tag, name, (long long)bad, a[bad], b[bad]);
    return bad < 0 ? 0 : -1;
}

/* int8 QDQ models. ONNX Runtime with graph optimizations on fuses DQ -> Conv/MatMul -> Q
 * into integer kernels that round differently from the graph as written: on this set it
 * differs from itself with optimizations off by up to 13 output quanta at 44% of MobileNetV2's
 * outputs (a first, partly quantised version of it; 4 quanta, 8% on ResNet-18), so the reference here is ORT with optimizations off
 * (ort_run.js noopt), which runs the QDQ graph node by node, as inferd does. The two then
 * compute the same quantised tensors from values that agree to float precision, so a tensor
 * differs only where a value lies within that precision of a rounding boundary (a tie, in
 * exact arithmetic), by one quantum; a flipped activation moves the values it feeds by a
 * fraction of their quantum, which flips more roundings downstream. Measured on ResNet-18
 * (inferd vs ORT noopt, every Q/DQ pair probed): 1 of 294912 values differs after the first
 * conv, 41 after the third, 733 after the fifth, 7037 of 9216 (by 1 to 10 quanta) after the
 * last; the logits then differ by up to 4 quanta, 10% of them by more than one. MobileNetV2:
 * exact through features.8, 91 one-quantum flips in features.9, then up to 31 quanta at the
 * pooled features and 11 at the logits, 32% of them more than one quantum off, 1.3 quanta on
 * average. The BERT encoder agrees exactly. The unit u is
 * the output's quantum (models.list), or for a float output behind quantised layers (BERT's
 * LayerNorm and tanh) max|ort| / 255, the quantum of a u8 quantisation of that output. Every
 * element must be within QDQ_MAX_UNITS units, at most QDQ_MAX_FRAC of the elements may
 * differ by more than one unit, and the mean difference must stay under QDQ_MAX_MEAN units
 * (about twice what the cascade gives here, to leave room for another kernel's summation
 * order; INFERD_CPU_DISABLE=avx512f,... gave the same numbers). A wrong scale, axis or rounding mode moves most elements by many
 * units and fails these; a subtler error deep in a net may hide inside the cascade, which is
 * why the float versions of the same nets are held to 1e-4. With inferd's QDQ fusion on, the
 * int8 kernels are held to ORT's own int8 kernels (optimizations on) by the same bounds; on
 * these three nets they agree exactly (0 units at 1 and 2 threads, AVX-512 VNNI here). */
#define QDQ_MAX_UNITS 24.0
#define QDQ_MAX_FRAC 0.5
#define QDQ_MAX_MEAN 2.5
static int check_qdq(const char *tag, const struct entry *e, const char *name, const float *a, const float *b,
                     int64_t n)
{
    double u = 0, scale = 0, worst = 0, sum = 0;
    int64_t over1 = 0, bad = -1;
    for (int64_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (int q = 0; q < e->n_quanta; q++)
        if (strcmp(e->qname[q], name) == 0)
            u = e->quantum[q];
    if (!(u > 0))
        u = scale > 0 ? scale / 255 : 1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / u;
        if (d > 1 + 1e-3)
            over1++;
        sum += d;
        if (!(d <= QDQ_MAX_UNITS) && bad < 0)
            bad = i;
        worst = fmax(worst, d);
    }
    double frac = n ? (double)over1 / (double)n : 0, mean = n ? sum / (double)n : 0;
    printf("%s: output %s: %lld values, unit %.4g (max |ort| %.4g), worst %.3g units, mean %.3g, %.3g%% over one unit\n",
           tag, name, (long long)n, u, scale, worst, mean, 100 * frac);
    if (bad >= 0)
        fprintf(stderr, "%s: output %s[%lld] = %.9g, ONNX Runtime %.9g\n", tag, name, (long long)bad, a[bad], b[bad]);
    if (bad < 0 && !(frac <= QDQ_MAX_FRAC && mean <= QDQ_MAX_MEAN))
        fprintf(stderr, "%s: output %s: %.3g%% over one unit (bound %g%%), mean %.3g units (bound %g)\n", tag, name,
                100 * frac, 100 * QDQ_MAX_FRAC, mean, QDQ_MAX_MEAN);
    return bad < 0 && frac <= QDQ_MAX_FRAC && mean <= QDQ_MAX_MEAN ? 0 : -1;
}

/* Runs one exported model through inferd (pool may be NULL) and compares with ORT's outputs.
 * A QDQ model is checked twice: with inferd's QDQ fusion off (DequantizeLinear -> float op ->
 * QuantizeLinear, as written) against ORT with optimizations off, and with the fusion on
 * (int8 QLinearConv / QLinearMatMul kernels) against ORT with its optimizations on, whose
 * QDQ transformer runs the same patterns as int8 kernels. Each pair then rounds the same way
 * up to the cascade described above check_qdq. */
static void check_model(const char *root, const char *dir, const struct entry *e, struct tpool *pool, int qdq_fused)
{
    char cmd[32768], path[8192], outs[128], tag[128], prefix[80];
    const char *model = e->model;
    int noopt = e->kind == KIND_QDQ && !qdq_fused;
    snprintf(prefix, sizeof prefix, "%.63s%s", model, e->kind == KIND_QDQ && qdq_fused ? ".opt" : "");
    snprintf(outs, sizeof outs, "%.70s.outputs", prefix);
    snprintf(tag, sizeof tag, "%.63s%s%s", model, e->kind != KIND_QDQ ? "" : qdq_fused ? " fused" : " unfused",
             pool ? " (2 threads)" : "");
    snprintf(cmd, sizeof cmd, "TMPDIR='%.4095s' node '%.4095s/tests/unit/onnx/ort_run.js' '%.4095s/%.63s.onnx' "
             "'%.4095s/%.63s' '%.4095s/%.70s'%s", dir, root, dir, model, dir, e->inputs, dir, prefix,
             noopt ? " noopt" : "");
    struct io_set in, want;
    snprintf(path, sizeof path, "%.4095s/%.70s.outputs", dir, prefix);
    struct stat st;
    if (stat(path, &st) != 0) { /* the first, single-threaded pass asks ORT */
        int rc = run_cmd(cmd);
        if (rc != 0)
            fprintf(stderr, "%s: ONNX Runtime failed (%d): %s\n", model, rc, cmd);
        CHECK(rc == 0);
    }
    CHECK(read_set(dir, e->inputs, &in) == 0);
    CHECK(read_set(dir, outs, &want) == 0);
    if (in.n == 0 || want.n == 0)
        return;
    snprintf(path, sizeof path, "%.4095s/%.63s.onnx", dir, model);
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load(path, &(struct inferd_onnx_options){.pool = pool, .graph_opt_off = noopt ? INFERD_ONNX_OPT_QDQ : 0}, &m, &err);
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
        int64_t n = (int64_t)(w->nbytes / sizeof(float));
        if (e->kind == KIND_QDQ)
            CHECK(check_qdq(tag, e, want.names[k], g->data, w->data, n) == 0);
        else
            CHECK(check_float(tag, want.names[k], g->data, w->data, n, e->kind == KIND_FLOAT_OUT) == 0);
    }
    inferd_onnx_free(m);
    free_set(&in);
    free_set(&want);
}

/* Reads the exporter's models.list; returns the number of entries or -1. */
static int read_list(const char *dir, struct entry *list, int cap)
{
    char path[8192], line[2048];
    snprintf(path, sizeof path, "%s/models.list", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        struct entry *e = &list[n];
        char kind[16];
        int used = 0;
        memset(e, 0, sizeof *e);
        if (sscanf(line, "%63s %63s %15s%n", e->model, e->inputs, kind, &used) != 3)
            continue; /* blank line */
        if (strcmp(kind, "float") == 0)
            e->kind = KIND_FLOAT;
        else if (strcmp(kind, "float_out") == 0)
            e->kind = KIND_FLOAT_OUT;
        else if (strcmp(kind, "qdq") == 0)
            e->kind = KIND_QDQ;
        else
            rc = -1;
        for (const char *p = line + used; rc == 0 && e->n_quanta < MAX_IO;) {
            int k = 0;
            if (sscanf(p, "%63s %lf%n", e->qname[e->n_quanta], &e->quantum[e->n_quanta], &k) != 2)
                break;
            e->n_quanta++;
            p += k;
        }
        if (rc == 0 && ++n == cap)
            rc = -1;
    }
    fclose(f);
    return rc < 0 || n == 0 ? -1 : n;
}

int main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : "torch_export.py";
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
    snprintf(cmd, sizeof cmd, "TMPDIR='%s' /usr/bin/python3 -B '%s/tests/unit/onnx/%s' '%s' > '%s/export.log' 2>&1",
             dir, root, script, dir, dir);
    int rc = run_cmd(cmd);
    if (rc == 77) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        run_cmd(cmd);
        check_skip("python3-torch, python3-torchvision or python3-onnx is not installed (Debian: apt install "
                   "python3-torch python3-torchvision python3-onnx)");
    }
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "tail -20 '%s/export.log' >&2", dir);
        run_cmd(cmd);
    }
    CHECK(rc == 0);
    static struct entry list[MAX_MODELS];
    int n = rc == 0 ? read_list(dir, list, MAX_MODELS) : 0;
    if (rc == 0 && n < 0)
        fprintf(stderr, "%s wrote no readable %s/models.list\n", script, dir);
    CHECK(rc != 0 || n > 0);
    /* every ORT subprocess runs in the first (single-threaded) pass: no fork with a pool alive */
    struct tpool *pool = NULL;
    for (int pass = 0; n > 0 && pass < 2; pass++) {
        if (pass == 1)
            pool = tpool_new(2);
        for (int i = 0; i < n; i++) {
            check_model(root, dir, &list[i], pool, 0);
            if (list[i].kind == KIND_QDQ)
                check_model(root, dir, &list[i], pool, 1);
        }
    }
    tpool_free(pool);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd);
    return check_finish();
}
