/* flatbuf.c — the bounded FlatBuffers reader (see flatbuf.h). */
#include "pack/flatbuf.h"

#include "onnx/pb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fb_fail(struct fb *f, const char *fmt, ...)
{
    if (f->bad)
        return;
    f->bad = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

uint32_t fb_u32(struct fb *f, size_t off)
{
    if (f->bad || off > f->n || f->n - off < 4) {
        fb_fail(f, "offset %zu is outside the file", off);
        return 0;
    }
    return pb_le32(f->p + off);
}

uint16_t fb_u16(struct fb *f, size_t off)
{
    if (f->bad || off > f->n || f->n - off < 2) {
        fb_fail(f, "offset %zu is outside the file", off);
        return 0;
    }
    return (uint16_t)(f->p[off] | f->p[off + 1] << 8);
}

/* Absolute offset of field idx of the table at t, or 0 when absent (or on error). */
size_t fb_field(struct fb *f, size_t t, int idx, size_t width)
{
    if (f->bad || t == 0)
        return 0;
    int64_t vt = (int64_t)t - (int32_t)fb_u32(f, t);
    if (f->bad || vt < 0 || (uint64_t)vt + 4 > f->n) {
        fb_fail(f, "table at %zu: its vtable is outside the file", t);
        return 0;
    }
    uint16_t vsize = fb_u16(f, (size_t)vt), tsize = fb_u16(f, (size_t)vt + 2);
    if (vsize < 4 || (vsize & 1) || (uint64_t)vt + vsize > f->n || t + tsize > f->n) {
        fb_fail(f, "table at %zu: bad vtable", t);
        return 0;
    }
    if (4 + 2 * (size_t)idx + 2 > vsize)
        return 0;
    uint16_t o = fb_u16(f, (size_t)vt + 4 + 2 * (size_t)idx);
    if (!o)
        return 0;
    if (o + width > tsize) {
        fb_fail(f, "table at %zu: field %d lies outside the table", t, idx);
        return 0;
    }
    return t + o;
}

int64_t fb_int(struct fb *f, size_t t, int idx, int width, int sign, int64_t def)
{
    size_t at = fb_field(f, t, idx, (size_t)width);
    if (!at)
        return def;
    switch (width) {
    case 1: return sign ? (int64_t)(int8_t)f->p[at] : (int64_t)f->p[at];
    case 2: return sign ? (int64_t)(int16_t)fb_u16(f, at) : (int64_t)fb_u16(f, at);
    default: return sign ? (int64_t)(int32_t)fb_u32(f, at) : (int64_t)fb_u32(f, at);
    }
}

float fb_f32(struct fb *f, size_t t, int idx, float def)
{
    size_t at = fb_field(f, t, idx, 4);
    if (!at)
        return def;
    uint32_t u = fb_u32(f, at);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

/* Target of an offset field (table, vector, string), or 0 when absent. */
size_t fb_ref(struct fb *f, size_t t, int idx)
{
    size_t at = fb_field(f, t, idx, 4);
    if (!at)
        return 0;
    uint64_t to = (uint64_t)at + fb_u32(f, at);
    if (f->bad || to >= f->n) {
        fb_fail(f, "table at %zu: field %d points outside the file", t, idx);
        return 0;
    }
    return (size_t)to;
}

/* Length of the vector at v (elements of esize bytes), checked against the file. */
uint32_t fb_vlen(struct fb *f, size_t v, size_t esize)
{
    if (!v)
        return 0;
    uint32_t n = fb_u32(f, v);
    if (f->bad || (uint64_t)n * esize > f->n - v - 4) {
        fb_fail(f, "vector at %zu: %u elements run past the end of the file", v, n);
        return 0;
    }
    return n;
}

size_t fb_vtable_at(struct fb *f, size_t v, uint32_t i)
{
    size_t at = v + 4 + 4 * (size_t)i;
    uint64_t to = (uint64_t)at + fb_u32(f, at);
    if (f->bad || to >= f->n) {
        fb_fail(f, "vector at %zu: element %u points outside the file", v, i);
        return 0;
    }
    return (size_t)to;
}

int32_t fb_vi32(struct fb *f, size_t v, uint32_t i)
{
    return (int32_t)fb_u32(f, v + 4 + 4 * (size_t)i);
}

