/* serve_engine.c — the "engine directly" side of bench/serve: loads an ONNX model with
 * inferd's engine and runs it in a loop on one random batch-1 input for a fixed time,
 * printing calls/s and mean latency in microseconds as one JSON line.
 *   serve_engine model.onnx seconds threads */
#include "base/clock.h"
#include "base/tpool.h"
#include "inferd/onnx.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: serve_engine model.onnx seconds threads\n");
        return 2;
    }
    double secs = atof(argv[2]);
    struct tpool *pool = tpool_new(atoi(argv[3]));
    struct inferd_onnx_model *m;
    struct inferd_err err = {0};
    if (inferd_onnx_load(argv[1], &(struct inferd_onnx_options){.pool = pool}, &m, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    const struct inferd_onnx_io *io = inferd_onnx_input(m, 0);
    struct inferd_tensor in = {.dtype = io->dtype, .rank = io->rank};
    for (int i = 0; i < io->rank; i++)
        in.dims[i] = io->dims[i] < 0 ? 1 : io->dims[i];
    in.nbytes = inferd_tensor_nbytes(&in);
    float *x = malloc(in.nbytes);
    for (size_t i = 0; i < in.nbytes / 4; i++)
        x[i] = (float)rand() / (float)RAND_MAX;
    in.data = x;
    struct inferd_tensor out[8];
    int n_out = inferd_onnx_n_outputs(m);
    long calls = 0;
    uint64_t t0 = clock_now_ns(), until = t0 + (uint64_t)(secs * 1e9);
    while (clock_now_ns() < until) {
        if (inferd_onnx_run(m, &in, 1, out, n_out, &err) < 0) {
            fprintf(stderr, "run: %s\n", err.msg);
            return 1;
        }
        calls++;
    }
    double el = (double)(clock_now_ns() - t0) / 1e9;
    printf("{\"calls_per_s\":%.1f,\"mean_us\":%.2f}\n", calls / el, el / calls * 1e6);
    inferd_onnx_free(m);
    tpool_free(pool);
    free(x);
    return 0;
}
