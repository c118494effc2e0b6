/* fuzz_v2_binary.c — libFuzzer driver for the KServe v2 binary tensor extension: the
 * first two bytes give the JSON header length (Inference-Header-Content-Length), the
 * rest is the body: JSON header followed by raw tensor bytes. */
#include "serve/sched/infer_req.h"
#include "serve/routes/v2_codec.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long hlen = (long)(data[0] | (data[1] << 8));
    if (data[0] == 0xff && data[1] == 0xff)
        hlen = -1;
    struct infer_req *q = infer_req_new();
    if (!q)
        return 0;
    struct inferd_err err = {0};
    if (v2_parse_request((const char *)data + 2, size - 2, hlen, 1 << 16, q, &err) == 0) {
        for (int i = 0; i < q->n_inputs; i++) {
            /* every parsed tensor must be exactly as large as shape and dtype say */
            const struct inferd_tensor *t = &q->inputs[i].t;
            if (t->dtype == INFERD_BYTES) { /* whole serialized strings, one per element */
                if (inferd_bytes_count(t->data, t->nbytes) != inferd_tensor_numel(t))
                    __builtin_trap();
            } else if ((size_t)inferd_tensor_numel(t) * inferd_dtype_size(t->dtype) != t->nbytes) {
                __builtin_trap();
            }
            volatile uint8_t sink = 0;
            for (size_t k = 0; k < t->nbytes; k++)
                sink ^= ((const uint8_t *)t->data)[k];
            (void)sink;
        }
    }
    infer_req_free(q);
    return 0;
}
