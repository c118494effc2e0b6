/* cast.c — Cast and CastLike (target dtype from the second input's) between the numeric dtypes (FP32/FP64/FP16/BF16, signed and unsigned
 * ints, BOOL). Integer to integer goes through int64 (exact); anything involving floats
 * through double. STRING casts are not supported. FP32->FP32 style no-ops are a copy. */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

static int cast_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *a = ox_attr_find(n, "to");
    if (!a)
        return inferd_err_set(err, INFERD_EFORMAT, "Cast: attribute 'to' is required");
    enum inferd_dtype dt = inferd_dtype_from_onnx((int)a->i);
    if (dt == INFERD_DTYPE_INVALID || dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Cast: target type %lld is not supported", (long long)a->i);
    n->ip[0] = dt;
    return 0;
}

static int cast_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    return ox_set_shape(out[0], (enum inferd_dtype)n->ip[0], in[0]->rank, in[0]->dims, err);
}

static int cast_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    if (x->dt == y->dt) {
        if (y->nbytes)
            memcpy(y->data, x->data, y->nbytes);
        return 0;
    }
    if (x->dt == INFERD_FP32 && y->dt == INFERD_FP64) {
        for (int64_t i = 0; i < x->numel; i++)
            ((double *)y->data)[i] = ((const float *)x->data)[i];
        return 0;
    }
    if (ox_dtype_is_int(x->dt) && ox_dtype_is_int(y->dt)) {
        for (int64_t i = 0; i < x->numel; i++)
            ox_put_i64(y, i, ox_get_i64(x, i));
        return 0;
    }
    for (int64_t i = 0; i < x->numel; i++)
        ox_put_f64(y, i, ox_get_f64(x, i));
    return 0;
}

const struct ox_op ox_op_cast = {
    .name = "Cast", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .prepare = cast_prepare, .infer = cast_infer, .exec = cast_exec,
};

static int castlike_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                          struct inferd_err *err)
{
    (void)n;
    if (in[0]->dt == INFERD_BYTES || in[1]->dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "CastLike: STRING tensors are not supported");
    return ox_set_shape(out[0], in[1]->dt, in[0]->rank, in[0]->dims, err);
}

const struct ox_op ox_op_cast_like = {
    .name = "CastLike", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .infer = castlike_infer, .exec = cast_exec,
};
