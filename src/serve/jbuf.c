/* jbuf.c — capped growable buffer and JSON scalar writers. */
#include "serve/jbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_init(struct jbuf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void jbuf_free(struct jbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int jbuf_failed(const struct jbuf *b) { return b->failed; }

char *jbuf_take(struct jbuf *b, size_t *len)
{
    if (b->failed) {
        jbuf_free(b);
        return NULL;
    }
    if (!b->data)
        jbuf_put(b, "", 0);
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

static int grow(struct jbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n > b->max - b->len) {
        b->failed = 1;
        return -1;
    }
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void jbuf_put(struct jbuf *b, const void *p, size_t n)
{
    if (grow(b, n) < 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s) { jbuf_put(b, s, strlen(s)); }

void jbuf_putc(struct jbuf *b, char c)
{
    if (grow(b, 1) < 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void jbuf_str(struct jbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    jbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jbuf_put(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            jbuf_put(b, e, 6);
        } else {
            jbuf_putc(b, (char)c);
        }
    }
    jbuf_putc(b, '"');
}

void jbuf_u64(struct jbuf *b, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    jbuf_put(b, t + i, sizeof t - i);
}

void jbuf_i64(struct jbuf *b, int64_t v)
{
    if (v < 0) {
        jbuf_putc(b, '-');
        jbuf_u64(b, (uint64_t)0 - (uint64_t)v); /* also right for INT64_MIN */
        return;
    }
    jbuf_u64(b, (uint64_t)v);
}

void jbuf_f32(struct jbuf *b, float v)
{
    if (!isfinite(v)) {
        jbuf_put(b, "null", 4);
        return;
    }
    /* Integral values in range print exactly without the %g machinery. */
    if (v == (float)(int32_t)v && fabsf(v) < 1e7f) {
        jbuf_i64(b, (int32_t)v);
        return;
    }
    /* 9 significant digits always read back to the same float; one snprintf per value
     * (searching for the shortest form cost 2-3 formats + parses per value). */
    char t[32];
    int n = snprintf(t, sizeof t, "%.9g", (double)v);
    jbuf_put(b, t, (size_t)n);
}

void jbuf_f64(struct jbuf *b, double v)
{
    if (!isfinite(v)) {
        jbuf_put(b, "null", 4);
        return;
    }
    char t[40];
    int n = snprintf(t, sizeof t, "%.17g", v);
    jbuf_put(b, t, (size_t)n);
}
