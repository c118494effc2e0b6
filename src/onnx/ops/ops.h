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

extern const struct ox_op ox_op_add, ox_op_sub, ox_op_mul, ox_op_div, ox_op_pow;
extern const struct ox_op ox_op_sqrt, ox_op_relu, ox_op_sigmoid, ox_op_tanh, ox_op_erf;
extern const struct ox_op ox_op_gemm, ox_op_matmul;
extern const struct ox_op ox_op_softmax, ox_op_reduce_mean, ox_op_layer_norm;
extern const struct ox_op ox_op_flatten, ox_op_reshape, ox_op_squeeze, ox_op_unsqueeze, ox_op_identity;
extern const struct ox_op ox_op_shape, ox_op_constant;
extern const struct ox_op ox_op_transpose, ox_op_concat, ox_op_gather, ox_op_cast;

#endif
