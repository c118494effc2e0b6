/* loss.c — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (evaluation: a model that
 * reports its loss), in double, for FP32/FP64/FP16 inputs.
 *
 *   NLL:  input (N, C, d1..dk) log-probabilities, target (N, d1..dk) class ids, optional
 *         weight (C) -> loss[n, d] = -input[n, target, d] * weight[target]
 *   SCE:  scores (N, C, d1..dk), labels, optional weights -> NLL of log_softmax(scores, 1);
 *         optional second output: that log_softmax (N, C, d1..dk)
 *
 * reduction "none" keeps (N, d1..dk); "sum" adds up; "mean" (default) divides by the sum
 * of the weights used. A target equal to ignore_index contributes 0 with weight 0; any other
 * target outside [0, C) is an error naming it. */
#include <math.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { RED_NONE, RED_SUM, RED_MEAN };

static int loss_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "reduction");
    const char *r = a && a->s ? a->s : "mean";
    if (strcmp(r, "none") == 0)
        n->ip[0] = RED_NONE;
    else if (strcmp(r, "sum") == 0)
        n->ip[0] = RED_SUM;
    else if (strcmp(r, "mean") == 0)
        n->ip[0] = RED_MEAN;
    else
        return inferd_err_set(err, INFERD_EINVAL, "%s: reduction '%s' is not none, sum or mean", n->op_type, r);
    n->ip[1] = ox_attr_find(n, "ignore_index") != NULL;
    n->ip[2] = ox_attr_int(n, "ignore_index", 0);
    n->ip[3] = n->op_type[0] == 'S'; /* SoftmaxCrossEntropyLoss */
    return 0;
}

static int loss_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *t = in[1], *w = n->n_in > 2 ? in[2] : NULL;
    enum inferd_dtype dt = x->dt;
    if (dt != INFERD_FP32 && dt != INFERD_FP64 && dt != INFERD_FP16)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: dtype %s is not supported", n->op_type,
                              inferd_dtype_v2_name(dt));
    if (x->rank < 2 || t->rank != x->rank - 1 || !ox_dtype_is_int(t->dt))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: expects input (N, C, ...) and integer target (N, ...)",
                              n->op_type);
    int64_t dims[INFERD_MAX_RANK];
    for (int d = 0; d < t->rank; d++) {
        dims[d] = x->dims[d ? d + 1 : 0];
        if (t->dims[d] != dims[d])
            return inferd_err_set(err, INFERD_ESHAPE, "%s: target dim %d is %lld, input has %lld", n->op_type, d,
                                  (long long)t->dims[d], (long long)dims[d]);
    }
    if (w && (w->rank != 1 || w->dims[0] != x->dims[1] || w->dt != dt))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: weight must be (C) of the input's dtype", n->op_type);
    int rc = n->ip[0] == RED_NONE ? ox_set_shape(out[0], dt, t->rank, dims, err) : ox_set_shape(out[0], dt, 0, NULL, err);
    if (rc == 0 && n->n_out > 1 && out[1])
        rc = ox_set_shape(out[1], dt, x->rank, x->dims, err);
    return rc;
}

/* SCE keeps its log_softmax in scratch (doubles, the scores' shape). */
static size_t loss_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    return n->ip[3] ? (size_t)in[0]->numel * sizeof(double) : 0;
}

static int loss_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *t = in[1], *w = n->n_in > 2 ? in[2] : NULL;
    int64_t N = x->dims[0], C = x->dims[1], D = N > 0 && C > 0 ? x->numel / (N * C) : 0;
    double *lp = c->scratch;
    if (n->ip[3]) { /* log_softmax over C for each (n, d) */
        for (int64_t b = 0; b < N; b++) {
            for (int64_t d = 0; d < D; d++) {
                double mx = -INFINITY, s = 0;
                for (int64_t k = 0; k < C; k++)
                    mx = fmax(mx, ox_get_f64(x, (b * C + k) * D + d));
                for (int64_t k = 0; k < C; k++)
                    s += exp(ox_get_f64(x, (b * C + k) * D + d) - mx);
                for (int64_t k = 0; k < C; k++) {
                    int64_t i = (b * C + k) * D + d;
                    lp[i] = ox_get_f64(x, i) - mx - log(s);
                }
            }
        }
        if (n->n_out > 1 && out[1])
            for (int64_t i = 0; i < x->numel; i++)
                ox_put_f64(out[1], i, lp[i]);
    }
    double total = 0, wsum = 0;
    for (int64_t b = 0; b < N; b++) {
        for (int64_t d = 0; d < D; d++) {
            int64_t cls = ox_get_i64(t, b * D + d);
            double l = 0, wt = 0;
            if (!(n->ip[1] && cls == n->ip[2])) {
                if (cls < 0 || cls >= C)
                    return inferd_err_set(err, INFERD_EINVAL, "%s: target %lld is outside [0, %lld)", n->op_type,
                                          (long long)cls, (long long)C);
                int64_t i = (b * C + cls) * D + d;
                wt = w ? ox_get_f64(w, cls) : 1.0;
                l = -(n->ip[3] ? lp[i] : ox_get_f64(x, i)) * wt;
            }
            if (n->ip[0] == RED_NONE)
                ox_put_f64(out[0], b * D + d, l);
            total += l;
            wsum += wt;
        }
    }
    if (n->ip[0] == RED_SUM)
        ox_put_f64(out[0], 0, total);
    else if (n->ip[0] == RED_MEAN)
        ox_put_f64(out[0], 0, total / wsum);
    return 0;
}

const struct ox_op ox_op_nll_loss = {
    .name = "NegativeLogLikelihoodLoss", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .prepare = loss_prepare, .infer = loss_infer, .exec = loss_exec, .scratch = loss_scratch,
};
const struct ox_op ox_op_sce_loss = {
    .name = "SoftmaxCrossEntropyLoss", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 2,
    .prepare = loss_prepare, .infer = loss_infer, .exec = loss_exec, .scratch = loss_scratch,
};
