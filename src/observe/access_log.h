/* access_log.h — the JSON-lines access log (one line per request) and request ids.
 *
 * The caller fills a struct access_record after answering a request and calls
 * access_log_write, which formats one line of at most ACCESS_LOG_LINE_MAX bytes (string
 * fields over ACCESS_LOG_FIELD_MAX are cut at a character boundary and end in "…") and
 * emits it with one write(2) on an O_APPEND descriptor, so concurrent writers never
 * interleave lines. access_log_reopen (safe to call from a signal handler, e.g. on SIGHUP)
 * reopens the file by path so logrotate can move it.
 * There is no field for headers like Authorization: secrets cannot be logged by mistake.
 *
 *   struct access_log *al;
 *   access_log_open("/var/log/inferd/access.log", &al, &err);
 *   struct access_record r = {.method = "POST", .path = "/v2/models/m/infer", .status = 200};
 *   request_id_new(r.request_id);
 *   access_log_write(al, &r, NULL);
 *   access_log_close(al);
 *
 * Line (keys always in this order; LLM keys only when rec->llm is set):
 *   {"ts":"2026-11-28T12:00:00.123Z","request_id":"…","trace_id":"4bf9…4736",
 *    "span_id":"00f0…02b7","parent_span_id":"","method":"POST","path":"…",
 *    "status":200,"model":"m","version":"1","protocol":"v2","bytes_in":10,"bytes_out":20,
 *    "duration_ms":1.250,"queue_ms":0.100,"compute_ms":1.000,"remote_addr":"127.0.0.1",
 *    "user_agent":"curl/8",
 *    "prompt_tokens":5,"completion_tokens":7,"ttft_ms":12.0,"tokens_per_s":40.1,
 *    "finish_reason":"stop",
 *    "channel":"a","attempts":[{"channel":"b","status":0,"result":"connect","ms":1.2,
 *                               "span_id":"…"},...]}
 *
 * trace_id, span_id and parent_span_id are W3C Trace Context ids (observe/trace.h): the
 * trace (32 hex), this request's own span (16 hex, also sent back in the traceparent
 * response header), and the caller's span from its traceparent ("" when the request
 * started a new trace). A gateway attempt's span_id is the parent_span_id the upstream
 * server logs for it.
 */
#ifndef INFERD_ACCESS_LOG_H
#define INFERD_ACCESS_LOG_H

#include "inferd/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCESS_LOG_LINE_MAX 16384  /* bytes per line including the '\n'; every record fits */
#define ACCESS_LOG_FIELD_MAX 1024  /* escaped bytes kept of one string field (path, agent...) */
#define REQUEST_ID_LEN 32          /* hex characters of a generated request id (128 bits) */
#define ACCESS_LOG_ID_MAX 128      /* longest request id logged (client-supplied ids too) */
#define ACCESS_LOG_TRACE_ID_MAX 32 /* hex digits of a trace/span id logged; others log "" */

struct access_log;

/* One request. Strings are borrowed for the call; NULL strings are written as "".
 * Numbers that are unknown may be left 0. */
struct access_record {
    uint64_t ts_ms;                         /* wall-clock ms when the request arrived; 0 = now */
    char request_id[ACCESS_LOG_ID_MAX + 1]; /* from request_id_new, or a client-supplied id */
    /* W3C trace context ids; written as "" unless lowercase hex of at most
     * ACCESS_LOG_TRACE_ID_MAX digits */
    const char *trace_id;                   /* the trace, 32 hex */
    const char *span_id;                    /* this request's span, 16 hex */
    const char *parent_span_id;             /* the caller's span, "" when the trace is new */
    const char *method;                     /* "GET", "POST" ... */
    const char *path;                       /* request path without the query string */
    int status;                             /* HTTP status sent */
    const char *model;                      /* model name, "" when none */
    const char *version;                    /* model version, "" when none */
    const char *protocol;                   /* "v2", "predict", "openai", "ops" ... */
    uint64_t bytes_in;                      /* request body bytes */
    uint64_t bytes_out;                     /* response body bytes */
    double duration_ms;                     /* arrival to last byte queued */
    double queue_ms;                        /* time waiting for a batch / worker */
    double compute_ms;                      /* time in the engine */
    double decode_ms;                       /* body parsed and checked (tensor requests; 0 = none) */
    double batch_wait_ms;                   /* of queue_ms: the engine free, the batch filling */
    double encode_ms;                       /* outputs serialised (tensor requests; 0 = none) */
    const char *remote_addr;                /* peer address as text */
    const char *user_agent;                 /* User-Agent header value */
    bool llm;                               /* set to write the fields below */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double ttft_ms;                         /* time to first token */
    double tokens_per_s;                    /* completion tokens / generation time */
    const char *finish_reason;              /* "stop", "length" ... */
    /* Gateway: the channel that answered and every attempt made (a JSON array written by
     * the gateway itself, copied verbatim; dropped when over ACCESS_LOG_ATTEMPTS_MAX). */
    const char *channel;                    /* NULL: no "channel" member */
    const char *attempts_json;              /* NULL: no "attempts" member */
};
#define ACCESS_LOG_ATTEMPTS_MAX 4096

/* Opens path for appending (created 0644 if missing); NULL or "-" means stdout (then
 * reopen is a no-op). OUT: *out, free with access_log_close.
 * Returns 0, INFERD_EINVAL, INFERD_ENOMEM or INFERD_EIO (err names the path and errno). */
int access_log_open(const char *path, struct access_log **out, struct inferd_err *err);
/* Closes the file and frees al. NULL is a no-op. No write may be in flight. */
void access_log_close(struct access_log *al);
/* Reopens the file by the path given to access_log_open, atomically swapping the
 * descriptor writers use (open + dup2 + close), so concurrent writes go to the old or
 * the new file, never nowhere. Async-signal-safe. Returns 0 or -errno (the old file is
 * kept on failure). */
int access_log_reopen(struct access_log *al);
/* Rotates the file once a line takes it to max_bytes or more (0 = never, the default):
 * path -> path.1 -> ... -> path.keep (keep >= 1; the oldest goes). Set before writes begin;
 * no effect on stdout. */
void access_log_set_rotation(struct access_log *al, size_t max_bytes, int keep);

/* Formats rec as one JSON line ending in '\n' into buf (cap >= ACCESS_LOG_LINE_MAX
 * recommended). OUT: *len (bytes, excluding the NUL). Returns 0 or INFERD_ETOOLARGE. */
int access_log_format(const struct access_record *rec, char *buf, size_t cap, size_t *len,
                      struct inferd_err *err);
/* Formats rec and writes it with one write(2). Returns 0, INFERD_ETOOLARGE or INFERD_EIO. */
int access_log_write(struct access_log *al, const struct access_record *rec,
                     struct inferd_err *err);

/* Writes a new random 128-bit request id as 32 lowercase hex characters + NUL into out
 * (from getrandom(2)). Returns 0 or INFERD_EIO when the kernel gives no randomness. */
int request_id_new(char out[REQUEST_ID_LEN + 1]);

#endif
