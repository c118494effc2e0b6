/* json_write.c — the JSON string escaper and scalar writers. */
#include "base/json_write.h"

#include "base/utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The escaped form of the character at s (n >= 1 bytes left): OUT *out (pointing into s,
 * tmp or a constant) and *out_n. Returns the input bytes it stands for. */
static size_t escape_one(const unsigned char *s, size_t n, char tmp[6], const char **out, size_t *out_n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = s[0];
    if (c == '"' || c == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        *out = tmp;
        *out_n = 2;
        return 1;
    }
    if (c < 0x20 || c == 0x7f) {
        memcpy(tmp, "\\u00", 4);
        tmp[4] = hex[c >> 4];
        tmp[5] = hex[c & 15];
        *out = tmp;
        *out_n = 6;
        return 1;
    }
    if (c < 0x80) {
        *out = (const char *)s;
        *out_n = 1;
        return 1;
    }
    size_t k = utf8_seq_len(s, n);
    if (!k) {
        *out = UTF8_REPLACEMENT;
        *out_n = 3;
        return 1;
    }
    *out = (const char *)s;
    *out_n = k;
    return k;
}

size_t json_write_escape(char *dst, size_t cap, const char *s, size_t n, size_t *consumed)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t o = 0, i = 0;
    if (!s)
        n = 0;
    while (i < n) {
        char tmp[6];
        const char *out;
        size_t outn, in = escape_one(u + i, n - i, tmp, &out, &outn);
        if (o + outn + 1 > cap)
            break;
        memcpy(dst + o, out, outn);
        o += outn;
        i += in;
    }
    if (cap)
        dst[o] = '\0';
    if (consumed)
        *consumed = i;
    return o;
}

void json_write_strn(struct buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t run = 0; /* start of the bytes that go out as they are */
    if (!s)
        n = 0;
    buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        char tmp[6];
        const char *out;
        size_t outn, in = escape_one(u + i, n - i, tmp, &out, &outn);
        if (out != (const char *)u + i) {
            buf_put(b, u + run, i - run);
            buf_put(b, out, outn);
            run = i + in;
        }
        i += in;
    }
    buf_put(b, u + run, n - run);
    buf_putc(b, '"');
}

void json_write_str(struct buf *b, const char *s) { json_write_strn(b, s, s ? strlen(s) : 0); }

void json_write_u64(struct buf *b, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_put(b, t + i, sizeof t - i);
}

void json_write_i64(struct buf *b, int64_t v)
{
    if (v < 0) {
        buf_putc(b, '-');
        json_write_u64(b, (uint64_t)0 - (uint64_t)v); /* also right for INT64_MIN */
        return;
    }
    json_write_u64(b, (uint64_t)v);
}

void json_write_f32(struct buf *b, float v)
{
    if (!isfinite(v)) {
        buf_put(b, "null", 4);
        return;
    }
    /* Integral values in range print exactly without the %g machinery. */
    if (fabsf(v) < 1e7f && v == (float)(int32_t)v) {
        json_write_i64(b, (int32_t)v);
        return;
    }
    /* 9 significant digits always read back to the same float; one snprintf per value
     * (searching for the shortest form cost 2-3 formats + parses per value). */
    char t[32];
    int n = snprintf(t, sizeof t, "%.9g", (double)v);
    buf_put(b, t, (size_t)n);
}

void json_write_f64(struct buf *b, double v)
{
    if (!isfinite(v)) {
        buf_put(b, "null", 4);
        return;
    }
    char t[40];
    int n = snprintf(t, sizeof t, "%.17g", v);
    buf_put(b, t, (size_t)n);
}
