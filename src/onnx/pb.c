/* pb.c — bounded protobuf wire-format reading (varints, fields, packed repeated scalars). */
#include "onnx/pb.h"

int pb_varint(struct pb_reader *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (r->p >= r->end)
            return INFERD_EFORMAT;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return INFERD_EFORMAT;
}

int pb_next(struct pb_reader *r, struct pb_field *f, struct inferd_err *err)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (pb_varint(r, &key) < 0)
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated field key");
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->v = 0;
    f->data = NULL;
    f->len = 0;
    if (f->num == 0 || key >> 3 > 0x1fffffff)
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: invalid field number %llu",
                              (unsigned long long)(key >> 3));
    size_t left = (size_t)(r->end - r->p);
    switch (f->wire) {
    case PB_VARINT:
        if (pb_varint(r, &f->v) < 0)
            return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated varint in field %u", f->num);
        return 1;
    case PB_FIXED64:
        if (left < 8)
            return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated fixed64 in field %u", f->num);
        f->v = pb_le64(r->p);
        r->p += 8;
        return 1;
    case PB_FIXED32:
        if (left < 4)
            return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated fixed32 in field %u", f->num);
        f->v = pb_le32(r->p);
        r->p += 4;
        return 1;
    case PB_LEN: {
        uint64_t n;
        if (pb_varint(r, &n) < 0)
            return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated length in field %u", f->num);
        left = (size_t)(r->end - r->p);
        if (n > left)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "protobuf: field %u length %llu exceeds the %zu bytes left", f->num,
                                  (unsigned long long)n, left);
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: unsupported wire type %d in field %u",
                              f->wire, f->num);
    }
}

static int pb_elem_wire(enum pb_elem kind)
{
    return kind == PB_ELEM_VARINT ? PB_VARINT : kind == PB_ELEM_FIXED32 ? PB_FIXED32 : PB_FIXED64;
}

int64_t pb_repeated_count(const struct pb_field *f, enum pb_elem kind, struct inferd_err *err)
{
    if (f->wire == pb_elem_wire(kind))
        return 1;
    if (f->wire != PB_LEN)
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: field %u has wire type %d, expected %d",
                              f->num, f->wire, pb_elem_wire(kind));
    if (kind == PB_ELEM_FIXED32 || kind == PB_ELEM_FIXED64) {
        size_t sz = kind == PB_ELEM_FIXED32 ? 4 : 8;
        if (f->len % sz)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "protobuf: packed field %u length %zu is not a multiple of %zu", f->num,
                                  f->len, sz);
        return (int64_t)(f->len / sz);
    }
    int64_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        if (!(f->data[i] & 0x80))
            n++;
    if (f->len && (f->data[f->len - 1] & 0x80))
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: packed field %u ends inside a varint", f->num);
    return n;
}

int pb_repeated_read(const struct pb_field *f, enum pb_elem kind, uint64_t *out, int64_t n,
                     struct inferd_err *err)
{
    if (f->wire != PB_LEN) {
        if (n != 1)
            return inferd_err_set(err, INFERD_EFORMAT, "protobuf: field %u count mismatch", f->num);
        out[0] = f->v;
        return 0;
    }
    struct pb_reader r = pb_reader_init(f->data, f->len);
    for (int64_t i = 0; i < n; i++) {
        if (kind == PB_ELEM_VARINT) {
            if (pb_varint(&r, &out[i]) < 0)
                return inferd_err_set(err, INFERD_EFORMAT, "protobuf: bad varint in packed field %u", f->num);
        } else if (kind == PB_ELEM_FIXED32) {
            if (r.end - r.p < 4)
                return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated packed field %u", f->num);
            out[i] = pb_le32(r.p);
            r.p += 4;
        } else {
            if (r.end - r.p < 8)
                return inferd_err_set(err, INFERD_EFORMAT, "protobuf: truncated packed field %u", f->num);
            out[i] = pb_le64(r.p);
            r.p += 8;
        }
    }
    if (r.p != r.end)
        return inferd_err_set(err, INFERD_EFORMAT, "protobuf: packed field %u has trailing bytes", f->num);
    return 0;
}

/* ---- writing ---- */

#include "base/buf.h"

#include <stdio.h>
#include <string.h>

void pbw_varint(struct buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    buf_put(b, t, n);
}

void pbw_uint(struct buf *b, uint32_t num, uint64_t v)
{
    pbw_varint(b, (uint64_t)num << 3 | PB_VARINT);
    pbw_varint(b, v);
}

void pbw_float(struct buf *b, uint32_t num, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    uint8_t t[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pbw_varint(b, (uint64_t)num << 3 | PB_FIXED32);
    buf_put(b, t, 4);
}

void pbw_bytes(struct buf *b, uint32_t num, const void *data, size_t len)
{
    pbw_varint(b, (uint64_t)num << 3 | PB_LEN);
    pbw_varint(b, len);
    if (len)
        buf_put(b, data, len);
}

void pbw_str(struct buf *b, uint32_t num, const char *s)
{
    pbw_bytes(b, num, s, strlen(s));
}

void pbw_msg(struct buf *b, uint32_t num, const struct buf *msg)
{
    if (buf_rc(msg) && !b->rc)
        b->rc = buf_rc(msg);
    pbw_bytes(b, num, msg->data, msg->rc ? 0 : msg->len);
}

void pbw_value_info(struct buf *b, uint32_t field, const char *name, int elem_type, int rank, const int64_t *dims)
{
    struct buf vi, tp, tt, sh;
    buf_init(&vi, 1 << 16);
    buf_init(&tp, 1 << 16);
    buf_init(&tt, 1 << 16);
    buf_init(&sh, 1 << 16);
    for (int d = 0; d < rank; d++) { /* TensorShapeProto.dim: 1 dim_value, 2 dim_param */
        struct buf dim;
        buf_init(&dim, 64);
        if (dims[d] >= 0) {
            pbw_uint(&dim, 1, (uint64_t)dims[d]);
        } else {
            char p[16];
            snprintf(p, sizeof p, d == 0 ? "N" : "d%d", d);
            pbw_str(&dim, 2, p);
        }
        pbw_msg(&sh, 1, &dim);
        buf_free(&dim);
    }
    pbw_uint(&tt, 1, (uint64_t)elem_type); /* TypeProto.Tensor: 1 elem_type, 2 shape */
    if (rank >= 0)
        pbw_msg(&tt, 2, &sh);
    pbw_msg(&tp, 1, &tt); /* TypeProto: 1 tensor_type */
    pbw_str(&vi, 1, name); /* ValueInfoProto: 1 name, 2 type */
    pbw_msg(&vi, 2, &tp);
    pbw_msg(b, field, &vi);
    buf_free(&vi);
    buf_free(&tp);
    buf_free(&tt);
    buf_free(&sh);
}
