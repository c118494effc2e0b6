/* clip.c — parametrised activations: Clip (FP32, FP64, ints; min/max as attributes before
 * opset 11, as optional scalar inputs after, read at run time) and HardSigmoid
 * (max(0, min(1, alpha*x + beta)), alpha 0.2, beta 0.5 by default). */
#include <float.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

/* at_run: min/max inputs have data (run time); else only their dtype/size are checked */
static int clip_bounds(const struct ox_node *n, struct ox_tensor *const *in, float *lo, float *hi, int at_run,
                       struct inferd_err *err)
{
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (n->opset < 11) {
        *lo = ox_attr_float(n, "min", -FLT_MAX);
        *hi = ox_attr_float(n, "max", FLT_MAX);
        return 0;
    }
    for (int k = 1; k < n->n_in && k < 3; k++) {
        if (!in[k])
            continue;
        if (in[k]->numel != 1 || in[k]->dt != in[0]->dt)
            return inferd_err_set(err, INFERD_EINVAL, "Clip: %s must be a scalar of the input's dtype",
                                  k == 1 ? "min" : "max");
        if (!at_run && !in[k]->is_const)
            continue;
        if (in[0]->dt != INFERD_FP32)
            continue;
        if (k == 1)
            *lo = *(const float *)in[k]->data;
        else
            *hi = *(const float *)in[k]->data;
    }
    return 0;
}

static int act_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    int clip = n->op_type[0] == 'C';
    if (in[0]->dt != INFERD_FP32 && !(clip && (ox_dtype_is_int(in[0]->dt) || in[0]->dt == INFERD_FP64)))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(in[0]->dt));
    if (clip) {
        float lo, hi;
        int rc = clip_bounds(n, in, &lo, &hi, 0, err);
        if (rc < 0)
            return rc;
    }
    return ox_set_shape(out[0], in[0]->dt, in[0]->rank, in[0]->dims, err);
}

struct act_job {
    const float *x;
    float *y;
    float a, b;
    int clip;
};

static void act_range(void *arg, int64_t lo, int64_t hi)
{
    const struct act_job *j = arg;
    /* ternaries, not fminf/fmaxf: these compile to maxss/minss instead of libm calls */
    float a = j->a, b = j->b;
    if (j->clip) {
        for (int64_t i = lo; i < hi; i++) {
            float v = j->x[i];
            v = v < a ? a : v;
            j->y[i] = v > b ? b : v;
        }
    } else {
        for (int64_t i = lo; i < hi; i++) {
            float v = a * j->x[i] + b;
            v = v < 0.0f ? 0.0f : v;
            j->y[i] = v > 1.0f ? 1.0f : v;
        }
    }
}

static int act_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    struct act_job j = {in[0]->data, out[0]->data, 0, 0, n->op_type[0] == 'C'};
    if (j.clip && in[0]->dt != INFERD_FP32) { /* integer / double Clip through double */
        for (int64_t i = 0; i < in[0]->numel; i++) {
            double v = ox_get_f64(in[0], i);
            if (n->n_in > 1 && in[1] && v < ox_get_f64(in[1], 0))
                v = ox_get_f64(in[1], 0);
            if (n->n_in > 2 && in[2] && v > ox_get_f64(in[2], 0))
                v = ox_get_f64(in[2], 0);
            ox_put_f64(out[0], i, v);
        }
        return 0;
    }
    if (j.clip) {
        int rc = clip_bounds(n, in, &j.a, &j.b, 1, err);
        if (rc < 0)
            return rc;
    } else {
        j.a = ox_attr_float(n, "alpha", 0.2f);
        j.b = ox_attr_float(n, "beta", 0.5f);
    }
    ox_parallel(c, in[0]->numel, 1 << 16, act_range, &j);
    return 0;
}

const struct ox_op ox_op_clip = {
    .name = "Clip", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = act_infer, .exec = act_exec,
};
const struct ox_op ox_op_hard_sigmoid = {
    .name = "HardSigmoid", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = act_infer, .exec = act_exec,
};
