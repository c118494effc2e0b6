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
}

void sse_free(struct sse_parser *p)
{
    if (!p)
        return;
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

/* Grows *buf to hold need bytes (need <= cap_max + 2). Returns 0 or INFERD_ENOMEM. */
static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    char *nb = realloc(*buf, nc);
    if (!nb)
        return INFERD_ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

static int dispatch(struct sse_parser *p)
{
    if (p->has_data) {
        p->data[p->data_len] = '\0';
        p->events++;
        if (p->fn(p->event[0] ? p->event : "message", p->data, p->data_len, p->ctx) != 0)
            p->stopped = 1;
    }
    p->has_data = 0;
    p->data_len = 0;
    p->event[0] = '\0';
    return p->stopped;
}

/* Handles one complete line (without its end). */
static int take_line(struct sse_parser *p, struct inferd_err *err)
{
    const char *l = p->line ? p->line : "";
    size_t n = p->line_len;
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
        size_t need = p->data_len + (p->has_data ? 1 : 0) + vl;
        if (need > p->max_data)
            return inferd_err_set(err, INFERD_ETOOLARGE,
                                  "sse: event data exceeds the %zu-byte cap", p->max_data);
        if (grow(&p->data, &p->data_cap, need + 1) < 0)
            return inferd_err_set(err, INFERD_ENOMEM, "sse: out of memory");
        if (p->has_data)
            p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, v, vl);
        p->data_len += vl;
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
            p->line_len = 0;
            if (rc != 0)
                return rc;
            continue;
        }
        if (p->line_len + 1 > p->max_data + 64)
            return inferd_err_set(err, INFERD_ETOOLARGE, "sse: line exceeds the %zu-byte cap",
                                  p->max_data + 64);
        if (grow(&p->line, &p->line_cap, p->line_len + 1) < 0)
            return inferd_err_set(err, INFERD_ENOMEM, "sse: out of memory");
        p->line[p->line_len++] = c;
    }
    return p->stopped;
}
