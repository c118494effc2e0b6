/* flatbuf.h — a bounded reader for FlatBuffers (the TFLite model format), read in place.
 *
 * FlatBuffers carry no lengths of their own to trust: every offset, vtable and vector is
 * checked here against the buffer's size, and the first problem sticks in `why` (later reads
 * return zeros), so a caller reads a whole table and checks `bad` once.
 *
 *   +-----------------------------+------------------------------------------------------------+
 *   | root                        | u32 at 0: offset of the root table                         |
 *   | table at t                  | i32 at t: t - (offset of its vtable)                       |
 *   | vtable at v                 | u16 vtable size, u16 table size, u16 offset per field      |
 *   |                             | (0 = absent: the field has its default)                    |
 *   | offset field (table, vector,| u32 at the field: target = field position + value        |
 *   |  string)                    |                                                            |
 *   | vector / string at v        | u32 count, then the elements (a string: bytes, then NUL)    |
 *   +-----------------------------+------------------------------------------------------------+
 *
 *   struct fb f = {data, size};
 *   size_t model = fb_u32(&f, 0);
 *   uint32_t version = (uint32_t)fb_int(&f, model, 0, 4, 0, 0);
 *   if (f.bad) fail(f.why);
 */
#ifndef INFERD_PACK_FLATBUF_H
#define INFERD_PACK_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

struct fb {
    const uint8_t *p;
    size_t n;
    int bad;
    char why[160];
};

void fb_fail(struct fb *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
uint32_t fb_u32(struct fb *f, size_t off);
uint16_t fb_u16(struct fb *f, size_t off);
/* Absolute offset of field idx (width bytes) of the table at t; 0 when absent or on error. */
size_t fb_field(struct fb *f, size_t t, int idx, size_t width);
/* A scalar field of width 1, 2 or 4 bytes, signed or not; def when absent. */
int64_t fb_int(struct fb *f, size_t t, int idx, int width, int sign, int64_t def);
float fb_f32(struct fb *f, size_t t, int idx, float def);
/* Target of an offset field (table, vector, string); 0 when absent. */
size_t fb_ref(struct fb *f, size_t t, int idx);
/* Length of the vector at v with elements of esize bytes, checked against the buffer. */
uint32_t fb_vlen(struct fb *f, size_t v, size_t esize);
/* Element i of a vector of tables (an offset), and of a vector of int32. */
size_t fb_vtable_at(struct fb *f, size_t v, uint32_t i);
int32_t fb_vi32(struct fb *f, size_t v, uint32_t i);

#endif
