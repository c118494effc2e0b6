/* layer_norm.c — LayerNormalization (opset 17, FP32): each row of the trailing dims from
 * `axis` is normalised, Y = (X - mean) / sqrt(var + epsilon) * Scale + B. Optional outputs
 * Mean and InvStdDev have X's leading dims and 1 in the normalised ones. */
#include <math.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

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

/* The row sums run in 16 float lanes (four ox_v4f of GCC's vector extension, SSE2 on
 * any x86-64; the order is fixed by the source, so every CPU gets the same bits), folded in
 * double with the scalar tail: the scalar loop's one chain
 * waited on every add (3.6 cycles an element over the three passes). */

/* the 16 lanes' sum as a tree, floats to 4 then double: a chain of 16 double adds per fold
 * cost a 64-wide row (ViT's) 2 cycles an element */
static double ln_fold(ox_v4f a, ox_v4f b, ox_v4f c, ox_v4f d)
{
    ox_v4f t = (a + b) + (c + d);
    return ((double)t[0] + (double)t[2]) + ((double)t[1] + (double)t[3]);
}

/* sum of p (len) */
static double ln_sum(const float *p, int64_t len)
{
    ox_v4f a = ox_v4f_splat(0), b = a, c = a, d = a;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        a += ox_v4f_load(p + i);
        b += ox_v4f_load(p + i + 4);
        c += ox_v4f_load(p + i + 8);
        d += ox_v4f_load(p + i + 12);
    }
    double s = ln_fold(a, b, c, d);
    for (; i < len; i++)
        s += p[i];
    return s;
}

/* sum of (p[i] - mean)^2, each square in float */
static double ln_sqdev(const float *p, int64_t len, float mean)
{
    const ox_v4f vm = ox_v4f_splat(mean);
    ox_v4f a = ox_v4f_splat(0), b = a, c = a, d = a;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
        ox_v4f d0 = ox_v4f_load(p + i) - vm, d1 = ox_v4f_load(p + i + 4) - vm, d2 = ox_v4f_load(p + i + 8) - vm,
               d3 = ox_v4f_load(p + i + 12) - vm;
        a += d0 * d0;
        b += d1 * d1;
        c += d2 * d2;
        d += d3 * d3;
    }
    double s = ln_fold(a, b, c, d);
    for (; i < len; i++) {
        float d = p[i] - mean;
        s += (double)d * d;
    }
    return s;
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
    const double rlen = len ? 1.0 / (double)len : 0.0;
    float mean[8], inv[8];
    for (int64_t r0 = 0; r0 < rows; r0 += 8) {
        /* the statistics of 8 rows before their outputs: a row's divide / sqrt / divide chain
         * then overlaps the next row's sums (ViT's 64-wide rows waited on it) */
        const int nb = rows - r0 < 8 ? (int)(rows - r0) : 8;
        for (int k = 0; k < nb; k++) {
            const float *p = xv + (r0 + k) * len;
            mean[k] = (float)(ln_sum(p, len) * rlen);
            inv[k] = 1.0f / sqrtf((float)(ln_sqdev(p, len, mean[k]) * rlen) + n->fp[0]);
        }
        for (int k = 0; k < nb; k++) {
            const float *p = xv + (r0 + k) * len;
            float *y = yv + (r0 + k) * len;
            const float m = mean[k], is = inv[k];
            int64_t i = 0;
            if (sstep && bstep) { /* per-element scale and bias: the common case */
                const ox_v4f vm = ox_v4f_splat(m), vi = ox_v4f_splat(is);
                for (; i + 4 <= len; i += 4)
                    ox_v4f_store(y + i, (ox_v4f_load(p + i) - vm) * vi * ox_v4f_load(sv + i) + ox_v4f_load(bv + i));
                for (; i < len; i++)
                    y[i] = (p[i] - m) * is * sv[i] + bv[i];
            } else {
                for (i = 0; i < len; i++) {
                    float v = (p[i] - m) * is * sv[i * sstep];
                    y[i] = bv ? v + bv[i * bstep] : v;
                }
            }
            if (mv)
                mv[r0 + k] = m;
            if (iv)
                iv[r0 + k] = is;
        }
    }
    return 0;
}

const struct ox_op ox_op_layer_norm = {
    .name = "LayerNormalization", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 3,
    .prepare = ln_prepare, .infer = ln_infer, .exec = ln_exec,
};
