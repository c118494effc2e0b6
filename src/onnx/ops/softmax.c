/* softmax.c — Softmax, LogSoftmax and Hardmax (FP32). Opset < 13 coerces the input to 2-D
 * at `axis` (default 1) and normalises each row; opset >= 13 normalises along the single
 * `axis` (default -1). LogSoftmax is x - max - log(sum exp(x - max)); Hardmax puts 1 at the
 * first maximum of each row, 0 elsewhere.
 * Both reduce to (outer, len, inner) loops: element (o, l, i) at (o*len + l)*inner + i. */
#include <math.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int softmax_prepare(struct ox_node *n, struct inferd_err *err)
{
    (void)err;
    n->ip[0] = ox_attr_int(n, "axis", n->opset >= 13 ? -1 : 1);
    n->ip[1] = n->op_type[0] == 'L' ? 1 : n->op_type[0] == 'H' ? 2 : 0; /* Log, Hard, plain */
    return 0;
}

static int softmax_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: only FP32 is supported", n->op_type);
    int64_t axis;
    int rc = ox_axis(n->ip[0], in[0]->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, in[0]->dims, err);
}

struct sm_job {
    const float *x;
    float *y;
    int64_t len, inner;
    int mode; /* 0 Softmax, 1 LogSoftmax, 2 Hardmax */
};

static void sm_rows(void *arg, int64_t lo, int64_t hi)
{
    struct sm_job *j = arg;
    for (int64_t r = lo; r < hi; r++) {
        int64_t o = r / j->inner, i = r % j->inner;
        const float *x = j->x + o * j->len * j->inner + i;
        float *y = j->y + o * j->len * j->inner + i;
        int64_t st = j->inner;
        float mx = -INFINITY;
        int64_t at = 0;
        for (int64_t l = 0; l < j->len; l++) {
            if (x[l * st] > mx || l == 0) {
                at = l;
                mx = x[l * st];
            }
        }
        if (j->mode == 2) {
            for (int64_t l = 0; l < j->len; l++)
                y[l * st] = l == at ? 1.0f : 0.0f;
            continue;
        }
        double sum = 0;
        for (int64_t l = 0; l < j->len; l++) {
            float e = expf(x[l * st] - mx);
            y[l * st] = e;
            sum += e;
        }
        if (j->mode == 1) {
            float lse = mx + (float)log(sum);
            for (int64_t l = 0; l < j->len; l++)
                y[l * st] = x[l * st] - lse;
            continue;
        }
        float inv = (float)(1.0 / sum);
        for (int64_t l = 0; l < j->len; l++)
            y[l * st] *= inv;
    }
}

static int softmax_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                        struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    int64_t axis;
    int rc = ox_axis(n->ip[0], x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < x->rank; d++) {
        if (d < axis)
            outer *= x->dims[d];
        else if (d == axis || n->opset < 13)
            len *= x->dims[d];
        else
            inner *= x->dims[d];
    }
    if (x->numel == 0)
        return 0;
    struct sm_job j = {x->data, out[0]->data, len, inner, (int)n->ip[1]};
    ox_parallel(c, outer * inner, (1 << 14) / (len + 1) + 1, sm_rows, &j);
    return 0;
}

const struct ox_op ox_op_softmax = {
    .name = "Softmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = softmax_prepare, .infer = softmax_infer, .exec = softmax_exec,
};
const struct ox_op ox_op_log_softmax = {
    .name = "LogSoftmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = softmax_prepare, .infer = softmax_infer, .exec = softmax_exec,
};
const struct ox_op ox_op_hardmax = {
    .name = "Hardmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = softmax_prepare, .infer = softmax_infer, .exec = softmax_exec,
};
