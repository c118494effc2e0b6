/* onnx_bench.c — times inferd's ONNX engine on one model: single-request latency and
 * throughput for a given batch and thread count. Used by bench/onnx_vs_ort.
 *
 *   onnx_bench <model.onnx> <batch> <threads> [seconds=2] [dims=1,3,48,192]
 *   -> "inferd batch=64 threads=2 runs=1234 us_per_run=56.7 samples_per_s=1.1e6 checksum=... cpu_per_run_us=..."
 * (cpu_per_run_us: process CPU time per run, all threads)
 *
 * Inputs: symbolic dims = batch (or the given dims for every input, e.g. "1,16" for a BERT's
 * input_ids and attention_mask); FP32 inputs filled with the LCG of ort_reference.js,
 * integer inputs (token ids, masks) with 1 — a valid id and "attend" — as onnx_vs_ort_ort.js.
 * INFERD_ONNX_OPT_OFF=<bits> sets inferd_onnx_options.graph_opt_off (INFERD_ONNX_OPT_*), so
 * one build times a model with and without load-time rewrites; INFERD_ONNX_BENCH_SUMMARY=1
 * prints the "graph optimized" summary (what fired) to stderr. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/tpool.h"
#include "inferd/onnx.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process (every thread): on a shared, loaded machine the CPU time
 * a run consumes is steadier than its wall time */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s model.onnx batch threads [seconds]\n", argv[0]);
        return 2;
    }
    int batch = atoi(argv[2]), threads = atoi(argv[3]);
    double secs = argc > 4 ? atof(argv[4]) : 2.0;
    int64_t fixed[INFERD_MAX_RANK];
    int n_fixed = 0;
    for (const char *p = argc > 5 ? argv[5] : ""; *p && n_fixed < INFERD_MAX_RANK; p += *p == ',') {
        char *end;
        fixed[n_fixed++] = strtoll(p, &end, 10);
        p = end;
    }
    struct tpool *pool = threads > 1 ? tpool_new(threads) : NULL;
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    const char *off = getenv("INFERD_ONNX_OPT_OFF");
    unsigned opt_off = off ? (unsigned)strtoul(off, NULL, 0) : 0;
    if (inferd_onnx_load(argv[1], &(struct inferd_onnx_options){.pool = pool, .graph_opt_off = opt_off}, &m, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    if (getenv("INFERD_ONNX_BENCH_SUMMARY")) /* which load-time rewrites fired */
        fprintf(stderr, "%s: %s\n", argv[1], inferd_onnx_graph_summary(m));
    int ni = inferd_onnx_n_inputs(m), no = inferd_onnx_n_outputs(m);
    struct inferd_tensor in[16], out[16];
    if (ni > 16 || no > 16)
        return 1;
    for (int i = 0; i < ni; i++) {
        const struct inferd_onnx_io *io = inferd_onnx_input(m, i);
        in[i] = (struct inferd_tensor){.dtype = io->dtype, .rank = io->rank};
        if (n_fixed) {
            in[i].rank = n_fixed;
            memcpy(in[i].dims, fixed, (size_t)n_fixed * sizeof *fixed);
        } else {
            for (int d = 0; d < io->rank; d++)
                in[i].dims[d] = io->dims[d] < 0 ? batch : io->dims[d];
        }
        int64_t n = inferd_shape_numel(in[i].rank, in[i].dims);
        size_t es = inferd_dtype_size(io->dtype);
        if (io->dtype != INFERD_FP32 && io->dtype != INFERD_INT64 && io->dtype != INFERD_INT32) {
            fprintf(stderr, "input %s: only FP32, INT64 and INT32 inputs are filled\n", io->name);
            return 1;
        }
        void *x = malloc((size_t)n * es);
        uint32_t s = 12345u + (uint32_t)i * 1000u;
        for (int64_t k = 0; k < n; k++) {
            s = s * 1664525u + 1013904223u;
            if (io->dtype == INFERD_FP32)
                ((float *)x)[k] = (float)((((double)(s >> 8) / 16777216.0) * 2 - 1) * 0.5);
            else if (io->dtype == INFERD_INT64)
                ((int64_t *)x)[k] = 1;
            else
                ((int32_t *)x)[k] = 1;
        }
        in[i].data = x;
        in[i].nbytes = (size_t)n * es;
    }
    /* warm-up: 50 runs or a quarter of the measuring time, whichever ends first; then
     * chunks of up to 50 runs, fewer for slow models so one chunk stays near 0.1 s */
    int chunk = 50;
    double tw = now_s();
    for (int w = 0; w < 50; w++) {
        if (inferd_onnx_run(m, in, ni, out, no, &err) < 0) {
            fprintf(stderr, "run: %s\n", err.msg);
            return 1;
        }
        if (now_s() - tw > secs / 4) {
            chunk = (int)(0.1 / ((now_s() - tw) / (w + 1))) + 1;
            chunk = chunk > 50 ? 50 : chunk;
            break;
        }
    }
    long runs = 0;
    double t0 = now_s(), t1, c0 = cpu_s();
    do {
        for (int k = 0; k < chunk; k++)
            inferd_onnx_run(m, in, ni, out, no, &err);
        runs += chunk;
        t1 = now_s();
    } while (t1 - t0 < secs && runs < 10000000);
    double us = (t1 - t0) / (double)runs * 1e6, cpu_us = (cpu_s() - c0) / (double)runs * 1e6;
    double sum = 0;
    int64_t on = inferd_shape_numel(out[0].rank, out[0].dims);
    for (int64_t k = 0; k < on; k++)
        sum += ((float *)out[0].data)[k];
    printf("inferd batch=%d threads=%d runs=%ld us_per_run=%.2f samples_per_s=%.0f checksum=%.6f cpu_per_run_us=%.2f\n",
           batch, threads, runs, us, batch / (us * 1e-6), sum, cpu_us);
    for (int i = 0; i < ni; i++)
        free(in[i].data);
    inferd_onnx_free(m);
    tpool_free(pool);
    return 0;
}
