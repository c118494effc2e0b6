/* buf.c — the capped growable byte buffer. */
#include "base/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void buf_free(struct buf *b)
{
    size_t max = b->max;
    free(b->data);
    buf_init(b, max);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->rc = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
    b->rc = 0;
    if (len < b->len)
        b->len = len;
    if (b->data)
        b->data[b->len] = '\0';
}

int buf_rc(const struct buf *b) { return b->rc; }

int buf_err(const struct buf *b, struct inferd_err *err, const char *what)
{
    if (!b->rc)
        return 0;
    if (b->rc == INFERD_ETOOLARGE)
        return inferd_err_set(err, b->rc, "%s: over its cap of %zu bytes", what, b->max);
    return inferd_err_set(err, b->rc, "%s: out of memory", what);
}

const char *buf_str(const struct buf *b)
{
    if (b->rc)
        return NULL;
    return b->data ? b->data : "";
}

/* Makes room for n more bytes plus the NUL. Returns 0, or -1 with b->rc set. */
static int grow(struct buf *b, size_t n)
{
    if (b->rc)
        return -1;
    if (n > b->max - b->len || b->len + n == SIZE_MAX) {
        b->rc = INFERD_ETOOLARGE;
        return -1;
    }
    if (b->len + n + 1 <= b->alloc)
        return 0;
    size_t need = b->len + n + 1; /* no overflow: checked above */
    size_t alloc = b->alloc ? b->alloc : 256;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    if (b->max < SIZE_MAX && alloc > b->max + 1)
        alloc = b->max + 1; /* never allocate more than the cap can use */
    char *d = realloc(b->data, alloc);
    if (!d) {
        b->rc = INFERD_ENOMEM;
        return -1;
    }
    b->data = d;
    b->alloc = alloc;
    return 0;
}

char *buf_take(struct buf *b, size_t *len)
{
    if (b->rc) {
        buf_free(b);
        return NULL;
    }
    if (!b->data && grow(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *d = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = 0;
    return d;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
    if (grow(b, n) < 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_putc(struct buf *b, char c)
{
    if (grow(b, 1) < 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    if (b->rc)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->rc = INFERD_ENOMEM; /* vsnprintf only fails on an encoding error or overflow */
        return;
    }
    if ((size_t)n < sizeof small) {
        buf_put(b, small, (size_t)n);
        return;
    }
    if (grow(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
