/* ops.h — the operator table of inferd's ONNX engine: every supported op as a
 * `struct ox_op` defined in the file of its family, and shared shape helpers.
 *
 * Adding an operator: write prepare/infer/exec in the family's file (or a new file under
 * ops/), declare it here, list it in ops.c.
 *
 *   const struct ox_op *op = ox_op_find("Gemm");
 *   op->infer(node, in, out, &err);
 *   op->exec(&ctx, node, in, out, &err);
 */
#ifndef INFERD_ONNX_OPS_H
#define INFERD_ONNX_OPS_H

#include <string.h>

#include "onnx/onnx_int.h"

/* out = broadcast(a, b) by numpy rules; ESHAPE naming both shapes when they do not. */
int ox_broadcast_shape(const struct ox_tensor *a, const struct ox_tensor *b, int *rank, int64_t *dims,
                       const struct ox_node *n, struct inferd_err *err);

/* C (m,n) = alpha * op(A) @ op(B) + beta * C (row-major FP32) through OpenBLAS, split over
 * the pool when the work is large. */
void ox_sgemm(const struct ox_ctx *ctx, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, const float *b, float beta, float *c);
/* Spatial attributes shared by Conv and the pools (2-D): kernel, strides, dilations, pads
 * (top, left, bottom, right) resolved against an input of h x w, and the output size. */
struct ox_window {
    int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow;
};
int ox_window_resolve(const struct ox_node *n, int64_t h, int64_t w, int64_t kh, int64_t kw, int ceil_mode,
                      struct ox_window *win, struct inferd_err *err);

/* count rows of `row` bytes from src (rows sstride bytes apart) to dst (dstride apart). Rows
 * of up to 64 bytes in 4-byte words are moved inline: the head of a YOLO export slices and
 * concatenates rows of 2 to 5 floats, where a libc memcpy call per row cost more than the
 * bytes. */
static inline void ox_copy_rows(char *dst, int64_t dstride, const char *src, int64_t sstride, size_t row,
                                int64_t count)
{
    if (row <= 64 && row % 4 == 0) {
        for (int64_t r = 0; r < count; r++)
            for (size_t k = 0; k < row; k += 4)
                memcpy(dst + r * dstride + k, src + r * sstride + k, 4);
        return;
    }
    for (int64_t r = 0; r < count; r++)
        memcpy(dst + r * dstride, src + r * sstride, row);
}

/* Layout hooks behind ox_op_view_offset / ox_op_place_offset (slice.c, tile_split_pad.c,
 * concat_gather.c). */
int64_t ox_slice_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out);
int64_t ox_split_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                             int k);
int64_t ox_concat_place_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out,
                               int k);

extern const struct ox_op ox_op_add, ox_op_sub, ox_op_mul, ox_op_div, ox_op_pow;
extern const struct ox_op ox_op_sqrt, ox_op_relu, ox_op_sigmoid, ox_op_tanh, ox_op_erf;
extern const struct ox_op ox_op_gemm, ox_op_matmul;
extern const struct ox_op ox_op_softmax, ox_op_reduce_mean, ox_op_layer_norm, ox_op_inferd_attention;
extern const struct ox_op ox_op_inferd_matmul, ox_op_inferd_mbconv, ox_op_inferd_se, ox_op_inferd_stem_dw;
/* conv.c: Y (yd) = act(C + Z), C (cd) a conv's result in Y's first floats, Z broadcast to Y:
 * a fused residual Add the kernel did not take (used by ops/mbconv.c too) */
struct ox_epi;
/* A fused residual Add's other input z against a conv output of dims (N, M, OH, OW): dims
 * becomes the two broadcast (numpy rules). Returns 0, or -1 when they do not broadcast. */
int ox_conv_sum_dims(const struct ox_tensor *z, int64_t dims[4]);
/* y[p] = mean of x[p*len .. p*len + len) for planes p in [lo, hi) (0 when len is 0): GlobalAveragePool's
 * sums (pool.c; 16 lane sums, the tail, the lanes folded in order), shared with InferdSE (se.c). */
void ox_gap_planes(const float *x, float *y, int64_t len, int64_t lo, int64_t hi);
void ox_conv_sum_after(float *y, const int64_t *cd, const int64_t *yd, const struct ox_tensor *z,
                       const struct ox_epi *e);
extern const struct ox_op ox_op_flatten, ox_op_reshape, ox_op_squeeze, ox_op_unsqueeze, ox_op_identity;
extern const struct ox_op ox_op_shape, ox_op_constant;
extern const struct ox_op ox_op_transpose, ox_op_concat, ox_op_gather, ox_op_cast;
extern const struct ox_op ox_op_conv, ox_op_batch_norm, ox_op_clip, ox_op_hard_sigmoid;
extern const struct ox_op ox_op_max_pool, ox_op_average_pool, ox_op_global_average_pool, ox_op_slice;
extern const struct ox_op ox_op_resize, ox_op_upsample, ox_op_conv_transpose;
/* data movement, indexing, normalisation, quantized (tile_split_pad.c ... quant_conv.c) */
extern const struct ox_op ox_op_tile, ox_op_split, ox_op_pad, ox_op_gather_elements, ox_op_gather_nd,
    ox_op_scatter_elements, ox_op_scatter, ox_op_scatter_nd, ox_op_nonzero, ox_op_onehot, ox_op_einsum,
    ox_op_depth_to_space, ox_op_space_to_depth, ox_op_instance_norm, ox_op_group_norm, ox_op_lrn, ox_op_dropout,
    ox_op_size, ox_op_eyelike, ox_op_quantize_linear, ox_op_dequantize_linear, ox_op_dynamic_quantize_linear,
    ox_op_matmul_integer, ox_op_qlinear_matmul, ox_op_conv_integer, ox_op_qlinear_conv,
    ox_op_inferd_qlinear_conv, ox_op_inferd_qadd, ox_op_inferd_qgemm;
/* elementwise math and activations (math_unary.c), broadcasting ops (broadcast_ops.c),
 * reductions (reduce.c), generators and windows (generate.c), axis ops (index_ops.c),
 * LogSoftmax/Hardmax (softmax.c), CastLike (cast.c), GlobalMaxPool (pool.c), losses
 * (loss.c), recurrent ops (rnn.c), GridSample, Det, RoiAlign (one file each) */
extern const struct ox_op ox_op_exp, ox_op_log, ox_op_neg, ox_op_abs, ox_op_ceil, ox_op_floor, ox_op_round,
    ox_op_sign, ox_op_reciprocal, ox_op_sin, ox_op_cos, ox_op_tan, ox_op_asin, ox_op_acos, ox_op_atan, ox_op_sinh,
    ox_op_cosh, ox_op_asinh, ox_op_acosh, ox_op_atanh, ox_op_leaky_relu, ox_op_elu, ox_op_selu, ox_op_celu,
    ox_op_thresholded_relu, ox_op_hard_swish, ox_op_softplus, ox_op_softsign, ox_op_mish, ox_op_gelu, ox_op_isnan,
    ox_op_isinf, ox_op_not;
extern const struct ox_op ox_op_equal, ox_op_less, ox_op_greater, ox_op_less_or_equal, ox_op_greater_or_equal,
    ox_op_and, ox_op_or, ox_op_xor, ox_op_mod, ox_op_bit_shift, ox_op_prelu, ox_op_min, ox_op_max, ox_op_sum,
    ox_op_mean, ox_op_where, ox_op_expand;
extern const struct ox_op ox_op_reduce_sum, ox_op_reduce_max, ox_op_reduce_min, ox_op_reduce_prod, ox_op_reduce_l1,
    ox_op_reduce_l2, ox_op_reduce_log_sum, ox_op_reduce_log_sum_exp, ox_op_reduce_sum_square;
extern const struct ox_op ox_op_range, ox_op_constant_of_shape, ox_op_argmax, ox_op_argmin, ox_op_topk, ox_op_cumsum,
    ox_op_trilu, ox_op_log_softmax, ox_op_hardmax, ox_op_cast_like, ox_op_global_max_pool, ox_op_shrink,
    ox_op_hann_window, ox_op_hamming_window, ox_op_blackman_window, ox_op_nll_loss, ox_op_sce_loss,
    ox_op_rnn, ox_op_gru, ox_op_lstm, ox_op_grid_sample, ox_op_reverse_sequence, ox_op_det,
    ox_op_roi_align;

#endif
