/* fuzz_v2_json.c — libFuzzer driver for the KServe v2 JSON infer request parser, the
 * input checks against a model, the response writer, and the /predict-style nested JSON
 * tensor reader. Input: any bytes, taken as the request body. */
#include "serve/sched/infer_req.h"
#include "base/json_write.h"
#include "serve/routes/tensor_json.h"
#include "serve/routes/v2_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct infer_req *q = infer_req_new();
    if (!q)
        return 0;
    struct inferd_err err = {0};
    if (v2_parse_request((const char *)data, size, -1, 4096, q, &err) == 0) {
        struct model_io in[1] = {{.name = "x", .dtype = INFERD_FP32, .rank = 2, .dims = {-1, 4}}};
        infer_req_check(q, in, 1, 8, &err);
        /* echo the inputs back through the response writer */
        struct infer_tensor outs[INFER_MAX_TENSORS];
        int n = q->n_inputs;
        for (int i = 0; i < n; i++) {
            outs[i] = q->inputs[i];
            outs[i].binary = i & 1;
        }
        struct buf b;
        buf_init(&b, 1 << 22);
        v2_write_response(&b, "m", "1", q->id, outs, n);
        buf_free(&b);
    }
    infer_req_free(q);
    /* the nested-list reader used by /predict and TF-Serving */
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        struct inferd_tensor t;
        if (tj_from_json(j, INFERD_INT16, NULL, -1, 4096, "input_data", &t, &err) == 0) {
            struct buf b;
            buf_init(&b, 1 << 22);
            tj_write(&b, &t, 1, t.rank ? 0 : -1);
            buf_free(&b);
            free(t.data);
        }
        json_decref(j);
    }
    return 0;
}
