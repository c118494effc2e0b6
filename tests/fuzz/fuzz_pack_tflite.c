/* fuzz_pack_tflite.c — libFuzzer driver for the TFLite import (src/pack/tflite.h): bytes go to
 * tflite_to_onnx_mem; whatever it accepts must be an ONNX model the loader reads back (a
 * loader refusal for a missing operator is fine: the import writes opset-13 ops the engine
 * may not have). Must never crash, leak or read out of bounds. */
#include "base/buf.h"
#include "inferd/onnx.h"
#include "pack/tflite.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct inferd_err err = {0};
    struct buf out;
    buf_init(&out, 1 << 24);
    if (tflite_to_onnx_mem(data, size, &out, &err) == 0) {
        struct inferd_onnx_model *m = NULL;
        struct inferd_onnx_options opt = {.pool = NULL, .max_elements = 1 << 16};
        struct inferd_err e2 = {0};
        if (inferd_onnx_load_buffer(out.data, out.len, &opt, &m, &e2) == 0)
            inferd_onnx_free(m);
        else if (e2.code == INFERD_EFORMAT && !strstr(e2.msg, "operator") && !strstr(e2.msg, "op ")) {
            fprintf(stderr, "the import wrote ONNX the loader refuses: %s\n", e2.msg);
            __builtin_trap(); /* the import wrote protobuf the loader cannot read */
        }
    }
    buf_free(&out);
    return 0;
}
