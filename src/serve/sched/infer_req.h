/* infer_req.h — one inference request as every protocol hands it to a model scheduler:
 * named input tensors (owned), the outputs asked for, a deadline; plus the checks of the
 * inputs against a model's declared inputs.
 *
 *   struct infer_req *q = infer_req_new();
 *   ... fill q->inputs[0] (name, tensor with malloc'd data) ...
 *   if (infer_req_check(q, io_in, n_in, max_batch, &err) < 0) reply 400 err.msg;
 *   infer_req_free(q);
 */
#ifndef INFERD_SERVE_INFER_REQ_H
#define INFERD_SERVE_INFER_REQ_H

#include "inferd/err.h"
#include "inferd/tensor.h"

#include <stdint.h>

#define INFER_MAX_TENSORS 32
#define INFER_NAME_MAX 128

struct infer_tensor {
    char name[INFER_NAME_MAX];
    struct inferd_tensor t; /* t.data owned by the request (malloc'd) or NULL */
    int binary;             /* requested outputs: answer as binary (v2 extension) */
};

/* A model's declared input or output (names owned by whoever describes the model). */
struct model_io {
    char name[INFER_NAME_MAX];
    enum inferd_dtype dtype;
    int rank;
    int64_t dims[INFERD_MAX_RANK]; /* -1 = any size */
};

struct infer_req {
    char id[INFER_NAME_MAX];        /* the v2 "id", echoed back; "" when none */
    int n_inputs;
    struct infer_tensor inputs[INFER_MAX_TENSORS];
    int n_outputs;                  /* outputs asked for; 0 = all of the model's */
    struct infer_tensor outputs[INFER_MAX_TENSORS]; /* only name and binary are used */
    int binary_default;             /* parameters.binary_data_output */
    int64_t timeout_us;             /* parameters.timeout / X-Request-Timeout-Ms; 0 = none */
};

/* Zeroed request or NULL. Free with infer_req_free (frees tensor data too). */
struct infer_req *infer_req_new(void);
void infer_req_free(struct infer_req *q);

/* Checks q's inputs against the model's: every model input given once, no unknown names,
 * dtype equal, rank equal, fixed dims equal; with max_batch > 0 the first dim must be
 * 1..max_batch. Reorders q->inputs into model order. Returns 0 or ENOTFOUND/EINVAL/ETYPE/
 * ESHAPE with a message naming the input. */
int infer_req_check(struct infer_req *q, const struct model_io *in, int n_in, int max_batch,
                    struct inferd_err *err);

/* Index of the requested output `name` among the model's outputs, or -1. */
int model_io_find(const struct model_io *io, int n, const char *name);

#endif
