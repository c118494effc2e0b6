/* pb.h — a bounded reader for the protobuf wire format, the layer under inferd's ONNX decoder.
 *
 * There is no schema compiler here: the ONNX decoder walks messages field by field and
 * picks the field numbers it knows. Every length is checked against the bytes that remain,
 * varints are at most 10 bytes, groups (wire types 3/4) are rejected. Nothing is copied:
 * length-delimited fields point into the caller's buffer.
 *
 *   Wire format of one field:
 *   +----------------------+---------------------------------------------+
 *   | key varint           | (field_number << 3) | wire_type              |
 *   | wire 0 VARINT        | varint (1..10 bytes)                        |
 *   | wire 1 FIXED64       | 8 bytes little-endian                       |
 *   | wire 2 LEN           | varint length n, then n bytes               |
 *   | wire 5 FIXED32       | 4 bytes little-endian                       |
 *   +----------------------+---------------------------------------------+
 *
 *   struct pb_reader r = pb_reader_init(buf, len);
 *   struct pb_field f;
 *   int rc;
 *   while ((rc = pb_next(&r, &f, err)) > 0)
 *       if (f.num == 2 && f.wire == PB_LEN) use(f.data, f.len);
 *   if (rc < 0) fail;
 */
#ifndef INFERD_ONNX_PB_H
#define INFERD_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/err.h"

enum pb_wire { PB_VARINT = 0, PB_FIXED64 = 1, PB_LEN = 2, PB_FIXED32 = 5 };

struct pb_reader {
    const uint8_t *p;   /* next byte to read; borrowed */
    const uint8_t *end; /* one past the last byte */
};

struct pb_field {
    uint32_t num;        /* field number (>= 1) */
    int wire;            /* enum pb_wire */
    uint64_t v;          /* value for VARINT / FIXED64 / FIXED32 */
    const uint8_t *data; /* LEN payload, points into the reader's buffer */
    size_t len;          /* LEN payload size */
};

static inline struct pb_reader pb_reader_init(const void *data, size_t len)
{
    struct pb_reader r = {(const uint8_t *)data, (const uint8_t *)data + len};
    return r;
}

/* Reads a varint. Returns 0 or INFERD_EFORMAT (truncated / longer than 10 bytes). */
int pb_varint(struct pb_reader *r, uint64_t *out);
/* Reads the next field. Returns 1 with *f filled, 0 at the end of the buffer,
 * INFERD_EFORMAT (message in err) on a truncated or malformed field. */
int pb_next(struct pb_reader *r, struct pb_field *f, struct inferd_err *err);

/* Element kinds of repeated scalar fields. */
enum pb_elem { PB_ELEM_VARINT, PB_ELEM_FIXED32, PB_ELEM_FIXED64 };

/* Number of elements one occurrence of a repeated scalar field holds: 1 when unpacked,
 * the packed count when f is LEN. Returns the count or INFERD_EFORMAT (wrong wire type,
 * packed length not a multiple of the element size, truncated varint). */
int64_t pb_repeated_count(const struct pb_field *f, enum pb_elem kind, struct inferd_err *err);
/* Decodes the elements of one occurrence into out[0..n) as raw 64-bit values (fixed32
 * values zero-extended). n must be pb_repeated_count's answer. Returns 0 or INFERD_EFORMAT. */
int pb_repeated_read(const struct pb_field *f, enum pb_elem kind, uint64_t *out, int64_t n,
                     struct inferd_err *err);

/* ---- writing (for tools that emit ONNX: the TFLite import) ----
 * Appends to a struct buf (base/buf.h); a nested message is written into its own buf and
 * added with pbw_msg. Errors stick in the buf (buf_rc). */
struct buf;
void pbw_varint(struct buf *b, uint64_t v);
void pbw_uint(struct buf *b, uint32_t num, uint64_t v);                       /* wire 0 */
void pbw_float(struct buf *b, uint32_t num, float v);                         /* wire 5 */
void pbw_bytes(struct buf *b, uint32_t num, const void *data, size_t len);    /* wire 2 */
void pbw_str(struct buf *b, uint32_t num, const char *s);                     /* wire 2 */
void pbw_msg(struct buf *b, uint32_t num, const struct buf *msg);             /* wire 2 */
/* An ONNX ValueInfoProto (graph input/output) as field `field`: a tensor of ONNX element type
 * elem_type; rank < 0 writes no shape, a dim < 0 is symbolic ("N" first, then "d<i>"). */
void pbw_value_info(struct buf *b, uint32_t field, const char *name, int elem_type, int rank, const int64_t *dims);

static inline uint32_t pb_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t pb_le64(const uint8_t *p)
{
    return (uint64_t)pb_le32(p) | (uint64_t)pb_le32(p + 4) << 32;
}

#endif
