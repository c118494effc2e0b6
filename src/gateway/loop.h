/* loop.h — the gateway's event loop: one thread running libcurl's multi interface, with
 * timers and a queue of functions posted from other threads. Every upstream call (proxied
 * requests, probes, crawls) is a transfer on it, so waiting requests and open streams cost
 * memory, never a thread.
 *
 *   struct gw_loop *lp;
 *   gw_loop_start(&lp, &err);
 *   gw_loop_post(lp, start_call, call);            // any thread: runs on the loop thread
 *   // on the loop thread:
 *   struct gw_xfer *x = gw_xfer_start(lp, &req, &callbacks, call, &err);
 *   gw_timer_at(lp, now + 50ms, retry, call);
 *   gw_loop_stop(lp);                                // cancels what is left, joins
 *
 * Callbacks of a transfer run on the loop thread in this order: on_head once (the status
 * line and headers are complete), on_data zero or more times, on_done exactly once —
 * unless gw_xfer_cancel was called first, after which none runs.
 */
#ifndef INFERD_GATEWAY_LOOP_H
#define INFERD_GATEWAY_LOOP_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

struct gw_loop;
struct gw_xfer;
struct gw_timer;

/* Facts of the upstream answer known when its headers are complete; strings borrowed for
 * the callback. */
struct gw_head {
    long status;
    const char *content_type;       /* "" when none */
    const char *retry_after;        /* "" when none */
    const char *infer_header_len;   /* Inference-Header-Content-Length, "" when none */
};

/* What the loop reports when a transfer ends. */
struct gw_done {
    int failed;            /* 0: the exchange completed (any status); else a transport error */
    const char *kind;      /* when failed: "connect", "timeout", "reset", "too_large", "error" */
    const char *msg;       /* curl's words for it ("" when none) */
    long status;           /* 0 when no status line came */
    double total_ms;       /* start to end */
    double first_byte_ms;  /* start to first body byte (or end), 0 when none */
};

struct gw_xfer_cb {
    void (*on_head)(void *ctx, struct gw_xfer *x, const struct gw_head *h);
    /* Returns 0 to go on, 1 to pause the transfer (resume with gw_xfer_resume), -1 to
     * abort it (on_done then reports kind "error"). */
    int (*on_data)(void *ctx, struct gw_xfer *x, const char *p, size_t n);
    void (*on_done)(void *ctx, struct gw_xfer *x, const struct gw_done *d);
};

/* One upstream request. All strings and the body are borrowed until on_done or cancel. */
struct gw_xfer_req {
    const char *method;              /* "GET", "POST" */
    const char *url;
    const char *body;                /* NULL: none */
    size_t body_len;
    const char *const *headers;      /* "Name: value" strings, NULL-terminated; may be NULL */
    long connect_timeout_ms;         /* 0: 2000 */
    long first_byte_timeout_ms;      /* no body byte by then: timeout (0: none) */
    long total_timeout_ms;           /* whole exchange (0: none) */
};

/* Starts the loop thread. OUT: *out. Returns 0 or INFERD_ENOMEM. */
int gw_loop_start(struct gw_loop **out, struct inferd_err *err);
/* Stops the thread: transfers still running are cancelled (no callbacks), timers dropped,
 * posted functions not yet run are run first. NULL is a no-op. */
void gw_loop_stop(struct gw_loop *lp);
/* Runs fn(arg) on the loop thread soon. Any thread. Returns 0 or INFERD_ENOMEM. */
int gw_loop_post(struct gw_loop *lp, void (*fn)(void *arg), void *arg);

/* Loop thread only: starts a transfer. Returns NULL with err on failure (then no callback
 * runs). */
struct gw_xfer *gw_xfer_start(struct gw_loop *lp, const struct gw_xfer_req *req,
                              const struct gw_xfer_cb *cb, void *ctx, struct inferd_err *err);
/* Loop thread only: ends the transfer at once; no callback runs afterwards. */
void gw_xfer_cancel(struct gw_xfer *x);
/* Loop thread only: resumes a transfer whose on_data returned 1. */
void gw_xfer_resume(struct gw_xfer *x);
/* Transfers running now. */
long gw_loop_active(const struct gw_loop *lp);

/* Loop thread only: runs fn(arg) once at monotonic time at_ns (or soon after). The timer
 * belongs to the loop; gw_timer_cancel before it fires stops it. */
struct gw_timer *gw_timer_at(struct gw_loop *lp, uint64_t at_ns, void (*fn)(void *arg), void *arg);
void gw_timer_cancel(struct gw_timer *t);

#endif
