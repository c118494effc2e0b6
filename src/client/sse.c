/* sse.c — incremental Server-Sent Events parser. */
#include "client/sse.h"

#include <stdlib.h>
#include <string.h>

void sse_init(struct sse_parser *p, size_t max_data, sse_event_fn fn, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->max_data = max_data ? max_data : 1;
    buf_init(&p->line, p->max_data + 64);
    buf_init(&p->data, p->max_data);
}

void sse_free(struct sse_parser *p)
{
    if (!p)
        return;
    buf_free(&p->line);
    buf_free(&p->data);
}

/* The error of a failed append to b (INFERD_ETOOLARGE names the cap). */
static int append_failed(const struct buf *b, const char *what, struct inferd_err *err)
{
    if (buf_rc(b) == INFERD_ETOOLARGE)
        return inferd_err_set(err, INFERD_ETOOLARGE, "sse: %s exceeds the %zu-byte cap", what, b->max);
    return inferd_err_set(err, INFERD_ENOMEM, "sse: out of memory");
}

static int dispatch(struct sse_parser *p)
{
    if (p->has_data) {
        p->events++;
        if (p->fn(p->event[0] ? p->event : "message", buf_str(&p->data), p->data.len, p->ctx) != 0)
            p->stopped = 1;
    }
    p->has_data = 0;
    buf_reset(&p->data);
    p->event[0] = '\0';
    return p->stopped;
}

/* Handles one complete line (without its end). */
static int take_line(struct sse_parser *p, struct inferd_err *err)
{
    const char *l = buf_str(&p->line);
    size_t n = p->line.len;
    if (n == 0)
        return dispatch(p);
    if (l[0] == ':')
        return 0;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = (size_t)(l + n - v);
    if (vl && *v == ' ') {
        v++;
        vl--;
    }
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (p->has_data)
            buf_putc(&p->data, '\n');
        buf_put(&p->data, v, vl);
        if (buf_rc(&p->data))
            return append_failed(&p->data, "event data", err);
        p->has_data = 1;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        size_t k = vl < sizeof p->event - 1 ? vl : sizeof p->event - 1;
        memcpy(p->event, v, k);
        p->event[k] = '\0';
    }
    return 0;
}

int sse_feed(struct sse_parser *p, const char *buf, size_t n, struct inferd_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (p->stopped)
            return 1;
        char c = buf[i];
        if (c == '\n' && p->saw_cr) { /* the '\n' of a "\r\n" already handled */
            p->saw_cr = 0;
            continue;
        }
        p->saw_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = take_line(p, err);
            buf_reset(&p->line);
            if (rc != 0)
                return rc;
            continue;
        }
        buf_putc(&p->line, c);
        if (buf_rc(&p->line))
            return append_failed(&p->line, "line", err);
    }
    return p->stopped;
}
