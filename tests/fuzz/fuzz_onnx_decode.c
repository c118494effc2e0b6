/* fuzz_onnx_decode.c — libFuzzer target for inferd's ONNX loader: bytes go to
 * inferd_onnx_load_buffer; a model that loads is run once on zero-filled inputs (symbolic
 * dims = 2) under a small element cap. Must never crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inferd/onnx.h"

#define FUZZ_MAX_ELEMENTS (1 << 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    struct inferd_onnx_options opt = {.pool = NULL, .max_elements = FUZZ_MAX_ELEMENTS};
    if (inferd_onnx_load_buffer(data, size, &opt, &m, &err) < 0)
        return 0;
    int ni = inferd_onnx_n_inputs(m), no = inferd_onnx_n_outputs(m);
    struct inferd_tensor *in = calloc((size_t)ni + 1, sizeof *in);
    struct inferd_tensor *out = calloc((size_t)no + 1, sizeof *out);
    void **bufs = calloc((size_t)ni + 1, sizeof *bufs);
    int ok = in && out && bufs;
    for (int i = 0; ok && i < ni; i++) {
        const struct inferd_onnx_io *io = inferd_onnx_input(m, i);
        in[i].dtype = io->dtype;
        in[i].rank = io->rank < 0 ? 1 : io->rank;
        for (int d = 0; d < in[i].rank; d++)
            in[i].dims[d] = io->rank < 0 || io->dims[d] < 0 ? 2 : io->dims[d];
        int64_t n = inferd_shape_numel(in[i].rank, in[i].dims);
        size_t es = inferd_dtype_size(io->dtype);
        if (n < 0 || n > FUZZ_MAX_ELEMENTS || es == 0) {
            ok = 0;
            break;
        }
        in[i].nbytes = (size_t)n * es;
        bufs[i] = calloc(1, in[i].nbytes + 1);
        in[i].data = bufs[i];
        ok = bufs[i] != NULL;
    }
    if (ok)
        inferd_onnx_run(m, in, ni, out, no, &err);
    for (int i = 0; bufs && i < ni; i++)
        free(bufs[i]);
    free(bufs);
    free(in);
    free(out);
    inferd_onnx_free(m);
    return 0;
}
