/* sse.h — an incremental parser for Server-Sent Events (text/event-stream).
 *
 * Feed it the body in chunks of any size; it calls fn once per complete event (a blank
 * line ends an event) with the event name and the data lines joined by '\n'. Lines end in
 * "\n", "\r\n" or "\r"; lines starting with ':' are comments; "id" and "retry" fields and
 * unknown fields are ignored; one space after the colon is dropped. An event whose data
 * exceeds max_data is an error (INFERD_ETOOLARGE); an unfinished event at the end of the
 * stream is dropped, as the standard says.
 *
 *   struct sse_parser p;
 *   sse_init(&p, 1 << 20, on_event, ctx);
 *   while ((n = read_some(buf)) > 0)
 *       if ((rc = sse_feed(&p, buf, n, &err)) != 0) break;   // 1: fn asked to stop
 *   sse_free(&p);
 */
#ifndef INFERD_CLIENT_SSE_H
#define INFERD_CLIENT_SSE_H

#include "base/buf.h"
#include "inferd/err.h"

#include <stddef.h>

/* data is NUL-terminated and borrowed for the call; return non-zero to stop. */
typedef int (*sse_event_fn)(const char *event, const char *data, size_t len, void *ctx);

struct sse_parser {
    sse_event_fn fn;
    void *ctx;          /* borrowed */
    size_t max_data;    /* cap on one event's data (and on one line) */
    struct buf line;    /* owned: the line being read, capped at max_data + 64 */
    int saw_cr;         /* the last byte was '\r' (a following '\n' belongs to it) */
    struct buf data;    /* owned: the event's data so far, capped at max_data */
    int has_data;       /* a data field was seen in this event */
    char event[64];     /* the event's name ("" = "message") */
    int stopped;        /* fn returned non-zero; further input is ignored */
    size_t events;      /* events delivered */
};

/* Prepares p. Never fails (buffers grow on demand). */
void sse_init(struct sse_parser *p, size_t max_data, sse_event_fn fn, void *ctx);
/* Parses n bytes. Returns 0, 1 when fn asked to stop (now or earlier), INFERD_ETOOLARGE
 * or INFERD_ENOMEM. */
int sse_feed(struct sse_parser *p, const char *buf, size_t n, struct inferd_err *err);
/* Frees p's buffers. */
void sse_free(struct sse_parser *p);

#endif
