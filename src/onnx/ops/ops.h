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

extern const struct ox_op ox_op_add, ox_op_sub, ox_op_mul, ox_op_div, ox_op_pow;
extern const struct ox_op ox_op_sqrt, ox_op_relu, ox_op_sigmoid, ox_op_tanh, ox_op_erf;
extern const struct ox_op ox_op_gemm, ox_op_matmul;
extern const struct ox_op ox_op_softmax, ox_op_reduce_mean, ox_op_layer_norm;
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
    ox_op_matmul_integer, ox_op_qlinear_matmul, ox_op_conv_integer, ox_op_qlinear_conv;

#endif
