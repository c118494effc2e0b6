/* tensor.h — element types and tensor views exchanged between inferd's engines and
 * the serving layer.
 *
 * A struct inferd_tensor is a view: it never owns `data`; whoever filled it in says
 * in their function comment how long the data lives.
 *
 *   struct inferd_tensor t = { .dtype = INFERD_FP32, .rank = 2, .dims = {1, 4}, .data = buf };
 *   t.nbytes = inferd_tensor_nbytes(&t);
 *   printf("%s %lld elements\n", inferd_dtype_v2_name(t.dtype), (long long)inferd_tensor_numel(&t));
 */
#ifndef INFERD_TENSOR_H
#define INFERD_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum inferd_dtype {
    INFERD_DTYPE_INVALID = 0,
    INFERD_FP32,
    INFERD_FP16,
    INFERD_BF16,
    INFERD_FP64,
    INFERD_INT8,
    INFERD_INT16,
    INFERD_INT32,
    INFERD_INT64,
    INFERD_UINT8,
    INFERD_UINT16,
    INFERD_UINT32,
    INFERD_UINT64,
    INFERD_BOOL,
    INFERD_BYTES, /* variable-length strings, serialized as Triton does: per element a 4-byte
                     little-endian length then that many bytes; nbytes is the total */
    INFERD_DTYPE_COUNT
};

#define INFERD_MAX_RANK 8

struct inferd_tensor {
    enum inferd_dtype dtype;
    int rank;                       /* 0 = scalar */
    int64_t dims[INFERD_MAX_RANK];  /* -1 marks a symbolic (dynamic) dimension in IO specs */
    void *data;                     /* borrowed; row-major, densely packed */
    size_t nbytes;                  /* bytes at data */
};

/* Size of one element in bytes; 0 for INVALID and BYTES. */
size_t inferd_dtype_size(enum inferd_dtype dt);
/* KServe v2 / Triton datatype name: "FP32", "INT64", "BOOL", "BYTES"... */
const char *inferd_dtype_v2_name(enum inferd_dtype dt);
/* Inverse of inferd_dtype_v2_name; INFERD_DTYPE_INVALID when unknown. */
enum inferd_dtype inferd_dtype_from_v2_name(const char *name);
/* ONNX TensorProto.DataType value <-> dtype (1=FLOAT, 7=INT64, 9=BOOL, 10=FLOAT16...). */
enum inferd_dtype inferd_dtype_from_onnx(int onnx_type);
int inferd_dtype_to_onnx(enum inferd_dtype dt);
/* NumPy-style name for TF-Serving/predict answers and messages: "float32", "int64". */
const char *inferd_dtype_np_name(enum inferd_dtype dt);

/* Elements in serialized BYTES data (see INFERD_BYTES), or -1 when a length prefix or
 * string runs past nbytes. */
int64_t inferd_bytes_count(const void *data, size_t nbytes);
/* Byte offset of element k of serialized BYTES data; nbytes when the data ends first. */
size_t inferd_bytes_offset(const void *data, size_t nbytes, int64_t k);

/* Product of dims (1 for a scalar); -1 if any dim is negative or the product overflows. */
int64_t inferd_shape_numel(int rank, const int64_t *dims);
static inline int64_t inferd_tensor_numel(const struct inferd_tensor *t)
{
    return inferd_shape_numel(t->rank, t->dims);
}
/* numel * element size, 0 on overflow or symbolic dims. */
size_t inferd_tensor_nbytes(const struct inferd_tensor *t);
/* Writes "[1,3,224,224]" into buf (always NUL-terminated); returns buf. */
char *inferd_shape_str(int rank, const int64_t *dims, char *buf, size_t cap);

/* IEEE half / bfloat16 conversions (portable; exact round-to-nearest-even). */
float inferd_fp16_to_fp32(uint16_t h);
uint16_t inferd_fp32_to_fp16(float f);
float inferd_bf16_to_fp32(uint16_t b);
uint16_t inferd_fp32_to_bf16(float f);

#endif
