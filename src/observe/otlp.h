/* otlp.h — exports finished spans to an OpenTelemetry collector (OTLP/HTTP, JSON encoding).
 *
 * Request handlers and the gateway's loop hand a finished span to otlp_export, which only
 * copies it into a bounded queue (no I/O, no allocation); one thread per exporter POSTs
 * what has queued to <endpoint> (e.g. http://127.0.0.1:4318/v1/traces) every flush
 * interval, or sooner when OTLP_BATCH_MAX spans wait. Bounded everything: a full queue
 * drops the new span, a failed POST drops its batch (no retry), both counted in
 * otlp_stats. otlp_free sends what is queued (one last try) and stops.
 *
 *   struct otlp *ex;
 *   otlp_new("http://127.0.0.1:4318/v1/traces", "inferd-serve", 0, &ex, &err);
 *   struct otlp_span sp = {.kind = OTLP_KIND_SERVER, .start_ns = t0, .end_ns = t1, ...};
 *   otlp_export(ex, &sp);                   // any thread; never blocks on the network
 *   otlp_free(ex);
 *
 * Body of one POST (ids as lowercase hex, times as decimal strings of Unix ns, as the OTLP
 * JSON mapping asks):
 *   {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name",
 *     "value":{"stringValue":"inferd-serve"}}]},"scopeSpans":[{"scope":{"name":"inferd"},
 *     "spans":[{"traceId":"…","spanId":"…","parentSpanId":"…","name":"v2_infer","kind":2,
 *       "startTimeUnixNano":"…","endTimeUnixNano":"…","attributes":[…],
 *       "status":{"code":1}}]}]}]}
 */
#ifndef INFERD_OBSERVE_OTLP_H
#define INFERD_OBSERVE_OTLP_H

#include "inferd/err.h"
#include "observe/access_log.h"
#include "observe/trace.h"

#include <stddef.h>
#include <stdint.h>

#define OTLP_QUEUE_DEFAULT 4096 /* spans waiting at most (otlp_new's queue_cap 0) */
#define OTLP_BATCH_MAX 512      /* spans per POST */
#define OTLP_FLUSH_MS 1000      /* a POST at least this often while spans wait */
#define OTLP_TIMEOUT_MS 5000    /* one POST, connect included */

enum otlp_kind { OTLP_KIND_SERVER = 2, OTLP_KIND_CLIENT = 3 }; /* OTLP SpanKind values */

/* One finished span; copied by otlp_export (strings longer than their field are cut). */
struct otlp_span {
    char trace_id[TRACE_ID_HEX + 1];
    char span_id[TRACE_SPAN_HEX + 1];
    char parent_span_id[TRACE_SPAN_HEX + 1]; /* "" for a root span */
    char name[64];                           /* route name ("v2_infer") or "upstream" */
    enum otlp_kind kind;
    uint64_t start_ns, end_ns;               /* Unix time in ns (clock_wall_ms * 1e6 based) */
    int http_status;                         /* 0: none (a transport error) */
    char method[8];                          /* "POST" */
    char model[257];                         /* "" when none (cut at 256 bytes) */
    char peer[128];                          /* CLIENT spans: the channel id; "" otherwise */
    char request_id[ACCESS_LOG_ID_MAX + 1];     /* X-Request-Id, an attribute */
};

struct otlp;

/* Starts an exporter POSTing to endpoint (http:// or https:// URL, copied) with resource
 * attribute service.name = service. queue_cap 0 means OTLP_QUEUE_DEFAULT. OUT: *out, free
 * with otlp_free. Returns 0, INFERD_EINVAL (bad URL) or INFERD_ENOMEM/INFERD_EIO. */
int otlp_new(const char *endpoint, const char *service, size_t queue_cap, struct otlp **out,
             struct inferd_err *err);
/* Queues a copy of sp; drops it (counted) when the queue is full. NULL ex is a no-op. */
void otlp_export(struct otlp *ex, const struct otlp_span *sp);
/* Spans sent, dropped (queue full or failed POST), and POSTs that failed. */
struct otlp_stats {
    uint64_t sent, dropped, failed_posts;
};
struct otlp_stats otlp_stats(struct otlp *ex);
/* Sends what is queued (one try), stops the thread and frees. NULL is a no-op. */
void otlp_free(struct otlp *ex);

/* Unix ns of a moment given on the monotonic clock (clock_now_ns). */
uint64_t otlp_wall_ns(uint64_t mono_ns);

#endif
