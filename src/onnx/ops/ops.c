/* ops.c — the list of operators inferd's ONNX engine implements, looked up by op_type. */
#include <string.h>

#include "onnx/ops/ops.h"

static const struct ox_op *const ox_ops[] = {
    &ox_op_add, &ox_op_sub, &ox_op_mul, &ox_op_div, &ox_op_pow,
    &ox_op_sqrt, &ox_op_relu, &ox_op_sigmoid, &ox_op_tanh, &ox_op_erf,
    &ox_op_gemm, &ox_op_matmul,
    &ox_op_softmax, &ox_op_reduce_mean, &ox_op_layer_norm,
    &ox_op_flatten, &ox_op_reshape, &ox_op_squeeze, &ox_op_unsqueeze, &ox_op_identity,
    &ox_op_shape, &ox_op_constant,
    &ox_op_transpose, &ox_op_concat, &ox_op_gather, &ox_op_cast,
    &ox_op_conv, &ox_op_batch_norm, &ox_op_clip, &ox_op_hard_sigmoid,
    &ox_op_max_pool, &ox_op_average_pool, &ox_op_global_average_pool, &ox_op_slice,
    &ox_op_resize, &ox_op_upsample, &ox_op_conv_transpose,
    &ox_op_tile, &ox_op_split, &ox_op_pad, &ox_op_gather_elements, &ox_op_gather_nd,
    &ox_op_scatter_elements, &ox_op_scatter, &ox_op_scatter_nd, &ox_op_nonzero, &ox_op_onehot, &ox_op_einsum,
    &ox_op_depth_to_space, &ox_op_space_to_depth, &ox_op_instance_norm, &ox_op_group_norm, &ox_op_lrn,
    &ox_op_dropout, &ox_op_size, &ox_op_eyelike, &ox_op_quantize_linear, &ox_op_dequantize_linear,
    &ox_op_dynamic_quantize_linear, &ox_op_matmul_integer, &ox_op_qlinear_matmul, &ox_op_conv_integer,
    &ox_op_qlinear_conv,
};

const struct ox_op *ox_op_find(const char *name)
{
    for (size_t i = 0; i < sizeof ox_ops / sizeof ox_ops[0]; i++)
        if (strcmp(ox_ops[i]->name, name) == 0)
            return ox_ops[i];
    return NULL;
}
