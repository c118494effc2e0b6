/* tflite.h — TensorFlow Lite flatbuffers (schema v3, "TFL3") converted to ONNX, so
 * `inferd pack model.tflite --name N` packages a float32 TFLite model for the ONNX engine.
 *
 * The flatbuffer is read in place with every offset, vtable and vector checked against the
 * file's bytes (flatbuffers have no lengths of their own to trust). Field numbers follow
 * tensorflow/lite/schema/schema.fbs:
 *
 *   Model     0 version  1 operator_codes  2 subgraphs  3 description  4 buffers
 *   SubGraph  0 tensors  1 inputs  2 outputs  3 operators  4 name
 *   Tensor    0 shape  1 type  2 buffer  3 name  4 quantization
 *   Operator  0 opcode_index  1 inputs  2 outputs  3 builtin_options_type  4 builtin_options
 *   OperatorCode 0 deprecated_builtin_code (int8)  3 builtin_code (int32): the op is the larger
 *   Buffer    0 data  1 offset  2 size (data outside the flatbuffer, for files over 2 GiB)
 *
 * The ONNX graph (opset 13) keeps TFLite's NHWC tensors at its edges and inside element-wise
 * chains; convolutions and pools run on NCHW copies made by Transpose nodes, and a tensor made
 * NCHW once stays available in NCHW, so conv -> activation -> conv chains carry no transposes
 * (a Transpose whose result nobody reads is removed at the end). Weights are re-laid out at
 * conversion: Conv [O,H,W,I] -> [O,I,H,W], DepthwiseConv [1,H,W,C*M] -> [C*M,1,H,W].
 *
 * Supported: ADD SUB MUL DIV (with fused activations), CONV_2D, DEPTHWISE_CONV_2D,
 * AVERAGE_POOL_2D, MAX_POOL_2D, FULLY_CONNECTED, RELU, RELU6, RELU_N1_TO_1, LOGISTIC, TANH,
 * HARD_SWISH, SOFTMAX, RESHAPE, SQUEEZE, CONCATENATION, MEAN, PAD, TRANSPOSE, DEQUANTIZE (of
 * float16 weights). Anything else is refused with the operator's name and index; quantized
 * (int8/uint8) tensors are refused naming the tensor.
 *
 *   struct buf onnx;
 *   buf_init(&onnx, 1u << 31);
 *   if (tflite_to_onnx_mem(data, size, &onnx, &err) < 0) fail(err.msg);
 */
#ifndef INFERD_PACK_TFLITE_H
#define INFERD_PACK_TFLITE_H

#include "inferd/err.h"

#include <stddef.h>

struct buf;

/* 1 when data starts like a TFLite flatbuffer (file identifier "TFL3" at offset 4). */
int tflite_sniff(const void *data, size_t size);
/* Converts the TFLite model in data[0..size) to an ONNX ModelProto appended to out.
 * Returns 0, or INFERD_EFORMAT (malformed flatbuffer: which table/field), INFERD_EUNSUPPORTED
 * (an operator or tensor type the import does not handle, named), INFERD_ETOOLARGE/ENOMEM. */
int tflite_to_onnx_mem(const void *data, size_t size, struct buf *out, struct inferd_err *err);
/* The same from file src to file dst (written atomically). */
int tflite_to_onnx(const char *src, const char *dst, struct inferd_err *err);

#endif
