/* batch_norm.c — BatchNormalization in inference mode (FP32): per channel (dim 1),
 * Y = (X - mean) / sqrt(var + epsilon) * scale + B. Training-mode outputs are not supported. */
#include <math.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

static int bn_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    if (n->n_out > 1)
        for (int k = 1; k < n->n_out; k++)
            if (out[k])
                return inferd_err_set(err, INFERD_EUNSUPPORTED, "BatchNormalization: training-mode outputs are not supported");
    for (int k = 0; k < 5; k++)
        if (in[k]->dt != INFERD_FP32)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "BatchNormalization: only FP32 is supported");
    if (x->rank < 2)
        return inferd_err_set(err, INFERD_ESHAPE, "BatchNormalization: input rank %d < 2", x->rank);
    for (int k = 1; k < 5; k++)
        if (in[k]->numel != x->dims[1])
            return inferd_err_set(err, INFERD_ESHAPE, "BatchNormalization: input %d has %lld entries, want %lld", k,
                                  (long long)in[k]->numel, (long long)x->dims[1]);
    return ox_set_shape(out[0], INFERD_FP32, x->rank, x->dims, err);
}

static int bn_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0];
    const float *sc = in[1]->data, *b = in[2]->data, *mean = in[3]->data, *var = in[4]->data;
    float eps = ox_attr_float(n, "epsilon", 1e-5f);
    int64_t nb = x->dims[0], ch = x->dims[1];
    int64_t len = nb > 0 && ch > 0 ? x->numel / (nb * ch) : 0;
    const float *xv = x->data;
    float *yv = out[0]->data;
    for (int64_t bi = 0; bi < nb; bi++) {
        for (int64_t ci = 0; ci < ch; ci++) {
            float mul = sc[ci] / sqrtf(var[ci] + eps), add = b[ci] - mean[ci] * mul;
            const float *xp = xv + (bi * ch + ci) * len;
            float *yp = yv + (bi * ch + ci) * len;
            int64_t i = 0;
            const ox_v4f vm = ox_v4f_splat(mul), va = ox_v4f_splat(add);
            for (; i + 4 <= len; i += 4) /* four lanes via vector extensions (onnx/v4f.h) */
                ox_v4f_store(yp + i, ox_v4f_load(xp + i) * vm + va);
            for (; i < len; i++)
                yp[i] = xp[i] * mul + add;
        }
    }
    return 0;
}

const struct ox_op ox_op_batch_norm = {
    .name = "BatchNormalization", .min_in = 5, .max_in = 5, .min_out = 1, .max_out = 5,
    .infer = bn_infer, .exec = bn_exec,
};
