/* client.h — inferd's C client library: calls to an inferd (or KServe v2 / OpenAI-compatible)
 * server with retry, backoff, deadlines, fail-over and streaming.
 *
 * A client holds one or more base URLs and a retry policy. Every call is one logical
 * request: it gets a fresh Idempotency-Key (sent unchanged on every attempt), an overall
 * deadline, and up to max_retries further attempts after connect errors, timeouts, HTTP 429
 * and HTTP 5xx (never after other 4xx). Between attempts it sleeps a full-jitter
 * exponential backoff (uniform in [0, min(cap, base * 2^retry)]), or longer when the server
 * sent Retry-After (seconds or an HTTP-date); a failed attempt moves to the next base URL.
 * A stream fails over only before its first body byte. on_retry lets a CLI print each retry.
 *
 *   struct inferd_client_opts o = inferd_client_opts_default();
 *   o.base_urls = "http://10.0.0.1:8080,http://10.0.0.2:8080";
 *   struct inferd_client *c;
 *   inferd_client_new(&o, &c, &err);
 *   struct inferd_response r = {0};
 *   if (inferd_client_infer_v2(c, "resnet", NULL, request_json, &r, &err) == 0)
 *       use(r.json);
 *   inferd_response_clear(&r);
 *   inferd_client_free(c);
 *
 * Thread-safety: one client may be used from many threads at once (each call borrows a
 * curl handle from a small pool); options are fixed at inferd_client_new.
 */
#ifndef INFERD_CLIENT_H
#define INFERD_CLIENT_H

#include "inferd/err.h"

#include <jansson.h>
#include <stddef.h>

#define INFERD_CLIENT_MAX_URLS 16          /* base URLs per client */
#define INFERD_CLIENT_URL_MAX 1024         /* bytes of one full request URL */
#define INFERD_CLIENT_KEY_LEN 32           /* hex characters of an idempotency key */
#define INFERD_CLIENT_DEFAULT_MAX_BODY (64u << 20) /* response body cap */
#define INFERD_CLIENT_SSE_EVENT_MAX (1u << 20)     /* bytes of one SSE event's data */

/* What on_retry is told before each retry sleep. Strings are borrowed for the call. */
struct inferd_retry_info {
    int retry;               /* 1 for the first retry ... */
    int max_retries;         /* the configured maximum */
    double delay_s;          /* the sleep about to happen */
    const char *url;         /* full URL of the attempt that failed */
    const char *next_url;    /* full URL the next attempt will use */
    int http_status;         /* status of the failed attempt, 0 for a transport error */
    const char *reason;      /* "HTTP 503", "connect failed: ...", "timeout" ... */
    double retry_after_s;    /* the server's Retry-After in seconds, -1 when none */
};

typedef void (*inferd_retry_fn)(const struct inferd_retry_info *info, void *ctx);

struct inferd_client_opts {
    const char *base_urls;      /* "http://h:p[,http://h2:p2...]", trailing '/' ignored */
    int max_retries;            /* further attempts after the first (default 3, max 100) */
    double timeout_s;           /* overall deadline of one call, all attempts (default 60;
                                 * <= 0: none; then a Retry-After wait is capped at
                                 * max(backoff_cap_s, 300 s)) */
    double connect_timeout_s;   /* per attempt (default 5) */
    double attempt_timeout_s;   /* cap on one attempt, so a hung server is failed over
                                 * (default 0: the time left of the deadline) */
    double backoff_base_s;      /* default 0.1 */
    double backoff_cap_s;       /* default 10 */
    const char *api_key;        /* sent as "Authorization: Bearer KEY"; NULL: none */
    const char *user_agent;     /* default "inferd-client/0.1" */
    size_t max_body;            /* response body cap (default INFERD_CLIENT_DEFAULT_MAX_BODY) */
    const char *traceparent;    /* W3C traceparent sent on every attempt, so the servers'
                                 * access logs join the caller's trace (the caller's span
                                 * as their parent_span_id); checked and copied by
                                 * inferd_client_new (an invalid one is INFERD_EINVAL).
                                 * NULL: none, each server starts a trace of its own */
    inferd_retry_fn on_retry;   /* NULL: silent */
    void *on_retry_ctx;         /* borrowed */
};

/* The outcome of a call. Fill with {0}; release with inferd_response_clear. */
struct inferd_response {
    int status;              /* HTTP status of the last attempt, 0 when none answered */
    char *body;              /* owned, NUL-terminated; NULL when none (or streamed) */
    size_t body_len;
    json_t *json;            /* owned: the body parsed as JSON, NULL when it is not JSON */
    int attempts;            /* attempts made (1 + retries) */
    double elapsed_s;        /* wall time of the whole call */
    char url[INFERD_CLIENT_URL_MAX];            /* full URL of the last attempt */
    char idempotency_key[INFERD_CLIENT_KEY_LEN + 1]; /* the key every attempt carried */
};

struct inferd_client;

/* Defaults described in struct inferd_client_opts (base_urls NULL). */
struct inferd_client_opts inferd_client_opts_default(void);

/* Creates a client; copies everything in opts (strings included) except on_retry_ctx.
 * OUT: *out, free with inferd_client_free. Returns 0, INFERD_EINVAL (no/bad URL, bad
 * numbers) or INFERD_ENOMEM. */
int inferd_client_new(const struct inferd_client_opts *opts, struct inferd_client **out,
                      struct inferd_err *err);
/* Frees c. NULL is a no-op. No call may be in flight. */
void inferd_client_free(struct inferd_client *c);

/* One logical request: method ("GET"/"POST"...) to path (begins with '/') on each base URL
 * in turn, body (borrowed, may be NULL) with content_type (NULL: application/json).
 * Fills *resp (the caller clears it, on failure too). Returns 0 for a 2xx answer;
 * otherwise a negative code with err saying why and resp holding the last answer:
 * INFERD_EINVAL (4xx, or bad arguments), INFERD_EAUTH (401/403), INFERD_ENOTFOUND (404),
 * INFERD_EBUSY (429 with no retries left), INFERD_EUNAVAIL (5xx or transport error with no
 * retries left), INFERD_ETIMEDOUT (deadline passed), INFERD_ETOOLARGE (body over the cap). */
int inferd_client_request(struct inferd_client *c, const char *method, const char *path,
                          const char *body, size_t body_len, const char *content_type,
                          struct inferd_response *resp, struct inferd_err *err);

/* GET path; resp->json holds the parsed answer. Returns as inferd_client_request. */
int inferd_client_get_json(struct inferd_client *c, const char *path,
                           struct inferd_response *resp, struct inferd_err *err);
/* POST body (borrowed) serialized as JSON to path. Returns as inferd_client_request. */
int inferd_client_post_json(struct inferd_client *c, const char *path, const json_t *body,
                            struct inferd_response *resp, struct inferd_err *err);

/* KServe v2 infer: POST /v2/models/{model}[/versions/{version}]/infer with request
 * ({"inputs":[...]}, borrowed). version NULL or "" means the default version. */
int inferd_client_infer_v2(struct inferd_client *c, const char *model, const char *version,
                           const json_t *request, struct inferd_response *resp,
                           struct inferd_err *err);
/* Simple predict: POST /predict with {"model":model,"input_data":input_data}
 * (input_data borrowed: a nested array, or any JSON value the model takes). */
int inferd_client_predict(struct inferd_client *c, const char *model, const json_t *input_data,
                          struct inferd_response *resp, struct inferd_err *err);

/* Called once per Server-Sent Event with its data (data lines joined by '\n', NUL-
 * terminated, borrowed) and event name ("message" when none). Return 0 to go on, non-zero
 * to stop reading (the call then returns 0). */
typedef int (*inferd_sse_fn)(const char *event, const char *data, size_t len, void *ctx);

/* POST body (JSON, borrowed) to path and deliver the text/event-stream answer event by
 * event to on_event(ctx). Retries and fails over like inferd_client_request until the first
 * body byte of a 2xx answer arrives, never after. An error answer (non-2xx) is read whole
 * into resp->body/json and not streamed. Returns 0 when the stream ended (or on_event
 * stopped it), else the codes of inferd_client_request, or INFERD_EIO when the stream broke
 * after it began, INFERD_ETOOLARGE for an event over INFERD_CLIENT_SSE_EVENT_MAX. */
int inferd_client_stream(struct inferd_client *c, const char *path, const json_t *body,
                         inferd_sse_fn on_event, void *ctx, struct inferd_response *resp,
                         struct inferd_err *err);

/* Frees what resp owns and zeroes it. */
void inferd_response_clear(struct inferd_response *resp);

#endif
