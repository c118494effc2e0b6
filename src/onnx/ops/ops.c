/* ops.c — the list of operators inferd's ONNX engine implements, looked up by op_type. */
#include <string.h>

#include "onnx/ops/ops.h"

static const struct ox_op *const ox_ops[] = {
    &ox_op_add, &ox_op_sub, &ox_op_mul, &ox_op_div, &ox_op_pow,
    &ox_op_sqrt, &ox_op_relu, &ox_op_sigmoid, &ox_op_tanh, &ox_op_erf,
    &ox_op_gemm, &ox_op_matmul,
    &ox_op_softmax, &ox_op_reduce_mean, &ox_op_layer_norm, &ox_op_inferd_attention, &ox_op_inferd_matmul, &ox_op_inferd_mbconv, &ox_op_inferd_se, &ox_op_inferd_stem_dw,
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
    &ox_op_inferd_qlinear_conv, &ox_op_inferd_qadd, &ox_op_inferd_qgemm,
    /* math, activations, broadcasting, reductions, generators, axis ops, losses, RNNs... */
    &ox_op_exp, &ox_op_log, &ox_op_neg, &ox_op_abs, &ox_op_ceil, &ox_op_floor, &ox_op_round, &ox_op_sign,
    &ox_op_reciprocal, &ox_op_sin, &ox_op_cos, &ox_op_tan, &ox_op_asin, &ox_op_acos, &ox_op_atan, &ox_op_sinh,
    &ox_op_cosh, &ox_op_asinh, &ox_op_acosh, &ox_op_atanh, &ox_op_leaky_relu, &ox_op_elu, &ox_op_selu, &ox_op_celu,
    &ox_op_thresholded_relu, &ox_op_hard_swish, &ox_op_softplus, &ox_op_softsign, &ox_op_mish, &ox_op_gelu,
    &ox_op_isnan, &ox_op_isinf, &ox_op_not,
    &ox_op_equal, &ox_op_less, &ox_op_greater, &ox_op_less_or_equal, &ox_op_greater_or_equal, &ox_op_and, &ox_op_or,
    &ox_op_xor, &ox_op_mod, &ox_op_bit_shift, &ox_op_prelu, &ox_op_min, &ox_op_max, &ox_op_sum, &ox_op_mean,
    &ox_op_where, &ox_op_expand,
    &ox_op_reduce_sum, &ox_op_reduce_max, &ox_op_reduce_min, &ox_op_reduce_prod, &ox_op_reduce_l1, &ox_op_reduce_l2,
    &ox_op_reduce_log_sum, &ox_op_reduce_log_sum_exp, &ox_op_reduce_sum_square,
    &ox_op_range, &ox_op_constant_of_shape, &ox_op_argmax, &ox_op_argmin, &ox_op_topk, &ox_op_cumsum, &ox_op_trilu,
    &ox_op_log_softmax, &ox_op_hardmax, &ox_op_cast_like, &ox_op_global_max_pool, &ox_op_shrink,
    &ox_op_hann_window, &ox_op_hamming_window, &ox_op_blackman_window, &ox_op_nll_loss, &ox_op_sce_loss,
    &ox_op_rnn, &ox_op_gru, &ox_op_lstm, &ox_op_grid_sample, &ox_op_reverse_sequence, &ox_op_det,
    &ox_op_roi_align,
};

const struct ox_op *ox_op_find(const char *name)
{
    for (size_t i = 0; i < sizeof ox_ops / sizeof ox_ops[0]; i++)
        if (strcmp(ox_ops[i]->name, name) == 0)
            return ox_ops[i];
    return NULL;
}

int64_t ox_op_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out, int k)
{
    if (n->op == &ox_op_slice)
        return k == 0 ? ox_slice_view_offset(n, in, out) : -1;
    if (n->op == &ox_op_split)
        return ox_split_view_offset(n, in, out, k);
    return -1;
}

int64_t ox_op_place_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out, int k)
{
    return n->op == &ox_op_concat ? ox_concat_place_offset(n, in, out, k) : -1;
}
