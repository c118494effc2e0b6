/* tensor.c — dtype tables, shape arithmetic and half-precision conversions. */
#include "inferd/tensor.h"

#include <stdio.h>
#include <string.h>

struct dtype_row {
    enum inferd_dtype dt;
    size_t size;
    const char *v2;
    const char *np;
    int onnx;
};

/* ONNX TensorProto.DataType numbering: 1 FLOAT, 2 UINT8, 3 INT8, 4 UINT16, 5 INT16,
 * 6 INT32, 7 INT64, 8 STRING, 9 BOOL, 10 FLOAT16, 11 DOUBLE, 12 UINT32, 13 UINT64, 16 BFLOAT16 */
static const struct dtype_row dtype_rows[] = {
    {INFERD_FP32, 4, "FP32", "float32", 1},   {INFERD_FP16, 2, "FP16", "float16", 10},
    {INFERD_BF16, 2, "BF16", "bfloat16", 16}, {INFERD_FP64, 8, "FP64", "float64", 11},
    {INFERD_INT8, 1, "INT8", "int8", 3},      {INFERD_INT16, 2, "INT16", "int16", 5},
    {INFERD_INT32, 4, "INT32", "int32", 6},   {INFERD_INT64, 8, "INT64", "int64", 7},
    {INFERD_UINT8, 1, "UINT8", "uint8", 2},   {INFERD_UINT16, 2, "UINT16", "uint16", 4},
    {INFERD_UINT32, 4, "UINT32", "uint32", 12}, {INFERD_UINT64, 8, "UINT64", "uint64", 13},
    {INFERD_BOOL, 1, "BOOL", "bool", 9},      {INFERD_BYTES, 0, "BYTES", "object", 8},
};
#define N_DTYPE_ROWS (sizeof dtype_rows / sizeof dtype_rows[0])

static const struct dtype_row *row_of(enum inferd_dtype dt)
{
    for (size_t i = 0; i < N_DTYPE_ROWS; i++)
        if (dtype_rows[i].dt == dt)
            return &dtype_rows[i];
    return NULL;
}

size_t inferd_dtype_size(enum inferd_dtype dt)
{
    const struct dtype_row *r = row_of(dt);
    return r ? r->size : 0;
}

const char *inferd_dtype_v2_name(enum inferd_dtype dt)
{
    const struct dtype_row *r = row_of(dt);
    return r ? r->v2 : "INVALID";
}

const char *inferd_dtype_np_name(enum inferd_dtype dt)
{
    const struct dtype_row *r = row_of(dt);
    return r ? r->np : "invalid";
}

enum inferd_dtype inferd_dtype_from_v2_name(const char *name)
{
    if (!name)
        return INFERD_DTYPE_INVALID;
    for (size_t i = 0; i < N_DTYPE_ROWS; i++)
        if (strcmp(dtype_rows[i].v2, name) == 0)
            return dtype_rows[i].dt;
    return INFERD_DTYPE_INVALID;
}

enum inferd_dtype inferd_dtype_from_onnx(int onnx_type)
{
    for (size_t i = 0; i < N_DTYPE_ROWS; i++)
        if (dtype_rows[i].onnx == onnx_type)
            return dtype_rows[i].dt;
    return INFERD_DTYPE_INVALID;
}

int inferd_dtype_to_onnx(enum inferd_dtype dt)
{
    const struct dtype_row *r = row_of(dt);
    return r ? r->onnx : 0;
}

int64_t inferd_shape_numel(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] != 0 && n > INT64_MAX / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

size_t inferd_tensor_nbytes(const struct inferd_tensor *t)
{
    int64_t n = inferd_tensor_numel(t);
    size_t es = inferd_dtype_size(t->dtype);
    if (n < 0 || es == 0)
        return 0;
    if ((uint64_t)n > SIZE_MAX / es)
        return 0;
    return (size_t)n * es;
}

char *inferd_shape_str(int rank, const int64_t *dims, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap == 0)
        return buf;
    buf[0] = '\0';
    off += (size_t)snprintf(buf + off, cap - off, "[");
    for (int i = 0; i < rank && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ",%lld" : "%lld", (long long)dims[i]);
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
    return buf;
}

float inferd_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t inferd_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent, which is the correct rounding */
    return (uint16_t)half;
}

float inferd_bf16_to_fp32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t inferd_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) /* nan: keep it a quiet nan */
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int64_t inferd_bytes_count(const void *data, size_t nbytes)
{
    const unsigned char *p = data;
    size_t at = 0;
    int64_t n = 0;
    while (at < nbytes) {
        if (nbytes - at < 4)
            return -1;
        uint32_t len = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 |
                       (uint32_t)p[at + 3] << 24;
        at += 4;
        if (len > nbytes - at)
            return -1;
        at += len;
        n++;
    }
    return n;
}

size_t inferd_bytes_offset(const void *data, size_t nbytes, int64_t k)
{
    const unsigned char *p = data;
    size_t at = 0;
    for (; k > 0; k--) {
        if (nbytes - at < 4)
            return nbytes;
        uint32_t len = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 |
                       (uint32_t)p[at + 3] << 24;
        if (len > nbytes - at - 4)
            return nbytes;
        at += 4 + len;
    }
    return at;
}
