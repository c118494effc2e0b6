/* layer_norm.c — LayerNormalization (opset 17, FP32): each row of the trailing dims from
 * `axis` is normalised, Y = (X - mean) / sqrt(var + epsilon) * Scale + B. Optional outputs
 * Mean and InvStdDev have X's leading dims and 1 in the normalised ones. */
#include <math.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int ln_prepare(struct ox_node *n, struct inferd_err *err)
{
    n->ip[0] = ox_attr_int(n, "axis", -1);
    n->fp[0] = ox_attr_float(n, "epsilon", 1e-5f);
    int64_t st = ox_attr_int(n, "stash_type", 1);
    if (st != 1)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "LayerNormalization: stash_type %lld (only 1 = float)",
                              (long long)st);
    return 0;
}

static int ln_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *sc = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    if (x->dt != INFERD_FP32 || sc->dt != INFERD_FP32 || (b && b->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "LayerNormalization: only FP32 is supported");
    int64_t axis;
    int rc = ox_axis(n->ip[0], x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    int64_t len = 1;
    for (int d = (int)axis; d < x->rank; d++)
        len *= x->dims[d];
    if ((sc->numel != len && sc->numel != 1) || (b && b->numel != len && b->numel != 1))
        return inferd_err_set(err, INFERD_ESHAPE, "LayerNormalization: Scale/B must have %lld elements",
                              (long long)len);
    if ((rc = ox_set_shape(out[0], INFERD_FP32, x->rank, x->dims, err)) < 0)
        return rc;
    int64_t sdims[INFERD_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        sdims[d] = d < axis ? x->dims[d] : 1;
    for (int k = 1; k < n->n_out; k++)
        if ((rc = ox_set_shape(out[k], INFERD_FP32, x->rank, sdims, err)) < 0)
            return rc;
    return 0;
}

static int ln_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)err;
    const struct ox_tensor *x = in[0], *sc = in[1], *b = n->n_in > 2 ? in[2] : NULL;
    int64_t axis = n->ip[0] < 0 ? n->ip[0] + x->rank : n->ip[0];
    int64_t len = 1;
    for (int d = (int)axis; d < x->rank; d++)
        len *= x->dims[d];
    int64_t rows = len ? x->numel / len : 0;
    const float *xv = x->data, *sv = sc->data, *bv = b ? b->data : NULL;
    float *yv = out[0]->data;
    float *mv = n->n_out > 1 && out[1] ? out[1]->data : NULL;
    float *iv = n->n_out > 2 && out[2] ? out[2]->data : NULL;
    int sstep = sc->numel != 1, bstep = b && b->numel != 1;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = xv + r * len;
        float *y = yv + r * len;
        /* four independent chains in registers (one chain waits on every add; -O2 does not
         * vectorise these loops), each a float sum of len/4 terms, combined in double */
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int64_t i = 0;
        for (; i + 4 <= len; i += 4) {
            a0 += p[i];
            a1 += p[i + 1];
            a2 += p[i + 2];
            a3 += p[i + 3];
        }
        double s = (double)a0 + a1 + a2 + a3;
        for (; i < len; i++)
            s += p[i];
        float mean = (float)(s / (double)len);
        a0 = a1 = a2 = a3 = 0;
        for (i = 0; i + 4 <= len; i += 4) {
            float d0 = p[i] - mean, d1 = p[i + 1] - mean, d2 = p[i + 2] - mean, d3 = p[i + 3] - mean;
            a0 += d0 * d0;
            a1 += d1 * d1;
            a2 += d2 * d2;
            a3 += d3 * d3;
        }
        double s2 = (double)a0 + a1 + a2 + a3;
        for (; i < len; i++) {
            float d = p[i] - mean;
            s2 += (double)d * d;
        }
        float inv = 1.0f / sqrtf((float)(s2 / (double)len) + n->fp[0]);
        if (sstep && bstep) { /* per-element scale and bias: the common case */
            for (i = 0; i < len; i++)
                y[i] = (p[i] - mean) * inv * sv[i] + bv[i];
        } else {
            for (i = 0; i < len; i++) {
                float v = (p[i] - mean) * inv * sv[i * sstep];
                y[i] = bv ? v + bv[i * bstep] : v;
            }
        }
        if (mv)
            mv[r] = mean;
        if (iv)
            iv[r] = inv;
    }
    return 0;
}

const struct ox_op ox_op_layer_norm = {"LayerNormalization", 2, 3, 1, 3, ln_prepare, ln_infer, ln_exec, 0, NULL, NULL};
