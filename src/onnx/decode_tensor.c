/* decode_tensor.c — ONNX TensorProto -> struct ox_tensor, zero-copy for raw_data (and for
 * packed float/double fields) when the bytes are suitably aligned, decoded copies otherwise.
 *
 *   TensorProto fields read here:
 *   +----+-------------+-----------+------------------------------------------------+
 *   | #  | name        | wire      | meaning                                        |
 *   | 1  | dims        | varint*   | shape, packed or not                           |
 *   | 2  | data_type   | varint    | TensorProto.DataType                           |
 *   | 4  | float_data  | fixed32*  | FLOAT                                          |
 *   | 5  | int32_data  | varint*   | INT32/INT16/INT8/UINT16/UINT8/BOOL/FP16/BF16   |
 *   | 6  | string_data | bytes*    | STRING (unsupported)                           |
 *   | 7  | int64_data  | varint*   | INT64                                          |
 *   | 8  | name        | string    |                                                |
 *   | 9  | raw_data    | bytes     | little-endian packed elements                  |
 *   | 10 | double_data | fixed64*  | DOUBLE                                         |
 *   | 11 | uint64_data | varint*   | UINT32/UINT64                                  |
 *   | 13 | external_data | msg*    | weights in another file (unsupported)          |
 *   | 14 | data_location | varint  | 1 = EXTERNAL (unsupported)                     |
 *   +----+-------------+-----------+------------------------------------------------+
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/pb.h"

/* Which typed field carries elements of dt, and how they are encoded. */
static int typed_field(enum inferd_dtype dt, enum pb_elem *kind)
{
    switch (dt) {
    case INFERD_FP32: *kind = PB_ELEM_FIXED32; return 4;
    case INFERD_FP64: *kind = PB_ELEM_FIXED64; return 10;
    case INFERD_INT64: *kind = PB_ELEM_VARINT; return 7;
    case INFERD_UINT32: case INFERD_UINT64: *kind = PB_ELEM_VARINT; return 11;
    case INFERD_INT32: case INFERD_INT16: case INFERD_INT8: case INFERD_UINT16: case INFERD_UINT8:
    case INFERD_BOOL: case INFERD_FP16: case INFERD_BF16: *kind = PB_ELEM_VARINT; return 5;
    default: return 0;
    }
}

static void store_elem(enum inferd_dtype dt, void *data, int64_t i, uint64_t v)
{
    switch (dt) {
    case INFERD_FP32: case INFERD_INT32: case INFERD_UINT32: ((uint32_t *)data)[i] = (uint32_t)v; break;
    case INFERD_FP64: case INFERD_INT64: case INFERD_UINT64: ((uint64_t *)data)[i] = v; break;
    case INFERD_INT16: case INFERD_UINT16: case INFERD_FP16: case INFERD_BF16:
        ((uint16_t *)data)[i] = (uint16_t)v; break;
    case INFERD_INT8: case INFERD_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case INFERD_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    default: break;
    }
}

int ox_decode_tensor(struct ox_mem *mem, const uint8_t *buf, size_t len, struct ox_tensor *t,
                     const char **name, struct inferd_err *err)
{
    struct pb_reader r = pb_reader_init(buf, len);
    struct pb_field f;
    int rc;
    int64_t n_dims = 0;
    int onnx_type = 0, location = 0, has_raw = 0, has_external = 0;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    const char *nm = NULL;
    int64_t typed_count[12] = {0};
    int typed_occ[12] = {0};
    struct pb_field first_typed[12];

    memset(t, 0, sizeof *t);
    if (name)
        *name = NULL;
    /* pass 1: scalars, counts */
    while ((rc = pb_next(&r, &f, err)) > 0) {
        switch (f.num) {
        case 1: {
            int64_t c = pb_repeated_count(&f, PB_ELEM_VARINT, err);
            if (c < 0)
                return (int)c;
            n_dims += c;
            if (n_dims > INFERD_MAX_RANK)
                return inferd_err_set(err, INFERD_EUNSUPPORTED, "tensor: rank %lld exceeds the maximum %d",
                                      (long long)n_dims, INFERD_MAX_RANK);
            break;
        }
        case 2:
            if (f.wire != PB_VARINT)
                return inferd_err_set(err, INFERD_EFORMAT, "tensor: data_type has wire type %d", f.wire);
            onnx_type = (int)f.v;
            break;
        case 8:
            if (f.wire != PB_LEN)
                return inferd_err_set(err, INFERD_EFORMAT, "tensor: name is not a string");
            nm = ox_mem_strdup(mem, f.data, f.len);
            if (!nm)
                return inferd_err_set(err, INFERD_ENOMEM, "tensor: out of memory");
            break;
        case 9:
            if (f.wire != PB_LEN)
                return inferd_err_set(err, INFERD_EFORMAT, "tensor: raw_data is not bytes");
            has_raw = 1;
            raw = f.data;
            raw_len = f.len;
            break;
        case 4: case 5: case 7: case 10: case 11: {
            enum pb_elem kind = f.num == 4 ? PB_ELEM_FIXED32 : f.num == 10 ? PB_ELEM_FIXED64 : PB_ELEM_VARINT;
            int64_t c = pb_repeated_count(&f, kind, err);
            if (c < 0)
                return (int)c;
            if (typed_occ[f.num]++ == 0)
                first_typed[f.num] = f;
            typed_count[f.num] += c;
            break;
        }
        case 6:
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "tensor '%s': string tensors are not supported",
                                  nm ? nm : "");
        case 13:
            has_external = 1;
            break;
        case 14:
            if (f.wire == PB_VARINT)
                location = (int)f.v;
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (name)
        *name = nm ? nm : "";
    if (has_external || location == 1)
        return inferd_err_set(err, INFERD_EUNSUPPORTED,
                              "tensor '%s': external data (weights in a separate file) is not supported",
                              nm ? nm : "");
    enum inferd_dtype dt = inferd_dtype_from_onnx(onnx_type);
    if (dt == INFERD_DTYPE_INVALID || dt == INFERD_BYTES)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "tensor '%s': data_type %d is not supported",
                              nm ? nm : "", onnx_type);
    t->dt = dt;
    t->rank = (int)n_dims;
    t->is_const = 1;

    /* pass 2: dims */
    r = pb_reader_init(buf, len);
    int di = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num != 1)
            continue;
        uint64_t v[INFERD_MAX_RANK];
        int64_t c = pb_repeated_count(&f, PB_ELEM_VARINT, err);
        if (c < 0 || pb_repeated_read(&f, PB_ELEM_VARINT, v, c, err) < 0)
            return INFERD_EFORMAT;
        for (int64_t k = 0; k < c; k++) {
            if ((int64_t)v[k] < 0)
                return inferd_err_set(err, INFERD_EFORMAT, "tensor '%s': negative dim %lld", nm ? nm : "",
                                      (long long)(int64_t)v[k]);
            t->dims[di++] = (int64_t)v[k];
        }
    }
    if (rc < 0)
        return rc;
    t->numel = inferd_shape_numel(t->rank, t->dims);
    size_t es = inferd_dtype_size(dt);
    if (t->numel < 0 || (uint64_t)t->numel > SIZE_MAX / 16)
        return inferd_err_set(err, INFERD_EFORMAT, "tensor '%s': element count overflows", nm ? nm : "");
    t->nbytes = (size_t)t->numel * es;

    if (has_raw) {
        if (raw_len != t->nbytes)
            return inferd_err_set(err, INFERD_EFORMAT, "tensor '%s': raw_data has %zu bytes, shape needs %zu",
                                  nm ? nm : "", raw_len, t->nbytes);
        if (((uintptr_t)raw % (es < 16 ? es : 16)) == 0 && raw_len > 0) {
            t->data = (void *)raw; /* zero-copy: points into the caller's buffer / mmap */
        } else {
            t->data = ox_mem_alloc(mem, raw_len);
            if (!t->data)
                return inferd_err_set(err, INFERD_ENOMEM, "tensor '%s': out of memory", nm ? nm : "");
            if (raw_len)
                memcpy(t->data, raw, raw_len);
        }
        return 0;
    }
    enum pb_elem kind;
    int fnum = typed_field(dt, &kind);
    int64_t count = fnum ? typed_count[fnum] : 0;
    if (count != t->numel)
        return inferd_err_set(err, INFERD_EFORMAT, "tensor '%s': has %lld elements of data, shape needs %lld",
                              nm ? nm : "", (long long)count, (long long)t->numel);
    if (count > 0 && typed_occ[fnum] == 1 && first_typed[fnum].wire == PB_LEN && kind != PB_ELEM_VARINT &&
        ((uintptr_t)first_typed[fnum].data % es) == 0) {
        t->data = (void *)first_typed[fnum].data; /* zero-copy packed float/double */
        return 0;
    }
    t->data = ox_mem_alloc(mem, t->nbytes);
    if (!t->data)
        return inferd_err_set(err, INFERD_ENOMEM, "tensor '%s': out of memory", nm ? nm : "");
    if (count == 0)
        return 0;
    uint64_t *tmp = malloc((size_t)count * sizeof *tmp);
    if (!tmp)
        return inferd_err_set(err, INFERD_ENOMEM, "tensor '%s': out of memory", nm ? nm : "");
    r = pb_reader_init(buf, len);
    int64_t at = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if ((int)f.num != fnum)
            continue;
        int64_t c = pb_repeated_count(&f, kind, err);
        if (c < 0 || at + c > count || pb_repeated_read(&f, kind, tmp + at, c, err) < 0) {
            rc = INFERD_EFORMAT;
            break;
        }
        at += c;
    }
    if (rc >= 0)
        for (int64_t i = 0; i < count; i++)
            store_elem(dt, t->data, i, tmp[i]);
    free(tmp);
    return rc < 0 ? inferd_err_set(err, INFERD_EFORMAT, "tensor '%s': bad typed data", nm ? nm : "") : 0;
}
