/* infer_req.c — inference request lifetime and input validation against a model. */
#include "serve/sched/infer_req.h"

#include <stdlib.h>
#include <string.h>

struct infer_req *infer_req_new(void) { return calloc(1, sizeof(struct infer_req)); }

void infer_req_free(struct infer_req *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n_inputs; i++)
        free(q->inputs[i].t.data);
    free(q);
}

int model_io_find(const struct model_io *io, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(io[i].name, name) == 0)
            return i;
    return -1;
}

int infer_req_check(struct infer_req *q, const struct model_io *in, int n_in, int max_batch,
                    struct inferd_err *err)
{
    char a[96], b[96];
    for (int i = 0; i < q->n_inputs; i++) {
        if (model_io_find(in, n_in, q->inputs[i].name) < 0)
            return inferd_err_set(err, INFERD_ENOTFOUND, "inputs: '%s' is not an input of the model",
                                  q->inputs[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(q->inputs[i].name, q->inputs[j].name) == 0)
                return inferd_err_set(err, INFERD_EINVAL, "inputs: '%s' is given twice", q->inputs[i].name);
    }
    if (q->n_inputs != n_in) {
        for (int k = 0; k < n_in; k++) {
            int found = 0;
            for (int i = 0; i < q->n_inputs; i++)
                found |= strcmp(q->inputs[i].name, in[k].name) == 0;
            if (!found)
                return inferd_err_set(err, INFERD_EINVAL, "inputs: the model's input '%s' is missing",
                                      in[k].name);
        }
    }
    /* Reorder into model order (swap into place). */
    for (int k = 0; k < n_in; k++) {
        for (int i = k; i < q->n_inputs; i++) {
            if (strcmp(q->inputs[i].name, in[k].name) == 0) {
                struct infer_tensor t = q->inputs[k];
                q->inputs[k] = q->inputs[i];
                q->inputs[i] = t;
                break;
            }
        }
    }
    for (int k = 0; k < n_in; k++) {
        const struct inferd_tensor *t = &q->inputs[k].t;
        if (t->dtype != in[k].dtype)
            return inferd_err_set(err, INFERD_ETYPE, "input '%s': datatype %s, but the model wants %s",
                                  in[k].name, inferd_dtype_v2_name(t->dtype), inferd_dtype_v2_name(in[k].dtype));
        int bad = t->rank != in[k].rank;
        for (int d = 0; !bad && d < t->rank; d++)
            bad = in[k].dims[d] >= 0 && t->dims[d] != in[k].dims[d];
        if (bad)
            return inferd_err_set(err, INFERD_ESHAPE, "input '%s': shape %s does not match the model's %s",
                                  in[k].name, inferd_shape_str(t->rank, t->dims, a, sizeof a),
                                  inferd_shape_str(in[k].rank, in[k].dims, b, sizeof b));
        if (max_batch > 0 && (t->rank < 1 || t->dims[0] < 1 || t->dims[0] > max_batch))
            return inferd_err_set(err, INFERD_ESHAPE,
                                  "input '%s': batch size %lld is outside 1..%d (max_batch_size)",
                                  in[k].name, (long long)(t->rank ? t->dims[0] : 0), max_batch);
        if (max_batch > 0 && k > 0 && t->dims[0] != q->inputs[0].t.dims[0])
            return inferd_err_set(err, INFERD_ESHAPE, "input '%s': batch size %lld differs from input '%s' (%lld)",
                                  in[k].name, (long long)t->dims[0], q->inputs[0].name,
                                  (long long)q->inputs[0].t.dims[0]);
    }
    return 0;
}
