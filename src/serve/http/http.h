/* http.h — inferd's HTTP front: a libmicrohttpd server with a route table and a small
 * request/response API that protocol files (routes/v2.c, routes/openai.c, ...) use.
 *
 * A protocol is one file holding a table of struct http_route. A route's pattern is a path
 * whose segments are literals or captures: "/v2/models/{m}/versions/{v}/infer"; a capture
 * may carry a literal suffix inside its segment ("/v1/models/{m}:predict"). The first route
 * (in registration order) whose method and pattern match wins. The route, its key and the
 * declared body size are settled from the headers before any body byte is read (an
 * unknown route, a missing key or a body over a limit is answered without reading the
 * body). The handler reads the request (method, captures, headers, the whole body) and either
 * sets a response before returning HTTP_DONE, or returns HTTP_ASYNC after handing the
 * request to another thread, which later sets the response and calls http_req_finish.
 * The connection is suspended meanwhile (no MHD thread waits). Streaming responses
 * (Server-Sent Events) use http_resp_stream with a pull callback.
 *
 *   static int hello(struct http_req *r, void *ctx) {
 *       return http_resp_json_str(r, 200, "{\"hello\":\"world\"}"), HTTP_DONE;
 *   }
 *   static const struct http_route my_routes[] = {{HTTP_GET, "/hello", HTTP_AUTH_NONE, hello, "hello"}};
 *   http_add_routes(srv, my_routes, 1, ctx);
 *
 * Memory: a struct http_req and its body live from the first byte of a request until its
 * response has been sent; every string the API returns is borrowed from it.
 */
#ifndef INFERD_SERVE_HTTP_H
#define INFERD_SERVE_HTTP_H

#include "inferd/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum http_method { HTTP_GET = 1, HTTP_POST = 2, HTTP_PUT = 4, HTTP_DELETE = 8, HTTP_HEAD = 16 };
/* Who may call a route: anyone, holders of an inference key, holders of an admin key. */
enum http_auth { HTTP_AUTH_NONE = 0, HTTP_AUTH_INFER = 1, HTTP_AUTH_ADMIN = 2 };
/* Handler results. */
enum { HTTP_DONE = 0, HTTP_ASYNC = 1 };

#define HTTP_MAX_CAPTURES 4
#define HTTP_MAX_ROUTES 128
#define HTTP_MAX_RESP_HEADERS 8
#define HTTP_CONN_TIMEOUT_S_DEFAULT 120
#define HTTP_MAX_CONNECTIONS_DEFAULT 4096

struct http_req;
struct http_server;

typedef int (*http_handler_fn)(struct http_req *req, void *ctx);

/* A route whose body is streamed to a sink instead of being collected (uploads of any
 * size; --max-body-bytes and --max-buffered-bytes do not apply, the sink keeps its own
 * cap). After the route and key are settled, open(req, route ctx, OUT sink) runs on the
 * MHD thread: it returns 0, or -1 after setting the response (413, 400...), which is sent
 * before any body byte is read. write(sink, bytes, n) gets every chunk as it arrives and
 * returns 0, or -1 to have the rest of the body discarded (it keeps its error for the
 * handler). Registered with http_add_sink_route. The handler then runs as usual with an empty body and finds the sink with
 * http_req_sink. close(sink) runs once the request is over, whatever happened. */
struct http_body_sink {
    int (*open)(struct http_req *req, void *ctx, void **sink);
    int (*write)(void *sink, const char *data, size_t n);
    void (*close)(void *sink);
};

struct http_route {
    unsigned methods;        /* bitmask of enum http_method */
    const char *pattern;     /* "/v2/models/{m}/infer"; static storage */
    enum http_auth auth;     /* key needed (checked from the headers, before any body byte) */
    http_handler_fn handler;
    const char *name;        /* short label for metrics and logs ("v2_infer") */
    /* Optional: writes the 401 in the protocol's own error shape (OpenAI's error object);
     * NULL gives {"error": msg}. The front adds WWW-Authenticate. */
    void (*auth_error)(struct http_req *req, const char *msg);
};

/* Limits and hooks fixed when the server starts. */
struct http_config {
    const char *host;        /* "127.0.0.1" */
    int port;                /* 0 = pick a free port (see http_port) */
    int threads;             /* MHD worker threads (>= 1) */
    size_t max_body_bytes;   /* request bodies above this get 413 */
    size_t max_buffered_bytes; /* body bytes held over all connections at once; a request that
                                  would pass it gets 503 + Retry-After (0 = 8 x max_body_bytes) */
    unsigned max_conns_per_client; /* connections from one IP address at once (0 = 1024) */
    int conn_timeout_s;      /* idle connection closed after this many seconds;
                                0 = HTTP_CONN_TIMEOUT_S_DEFAULT */
    int max_connections;     /* open connections at most; at the cap a worker stops
                                accepting, so more wait unanswered in the listen backlog.
                                Split evenly over the worker threads (libmicrohttpd gives
                                each its share). 0 = HTTP_MAX_CONNECTIONS_DEFAULT */
    /* Authorisation: returns 0 when the request may use a route with this auth level,
     * or fills err (401) otherwise. NULL = everything allowed. ctx is auth_ctx. */
    int (*authorize)(void *auth_ctx, enum http_auth level, const char *authorization_header,
                     struct inferd_err *err);
    void *auth_ctx;
    /* Called once per finished request (any thread) for metrics and the access log. */
    void (*on_complete)(void *obs_ctx, struct http_req *req);
    void *obs_ctx;
};

/* Creates (does not start) a server. OUT: *out, freed by http_server_free. */
int http_server_new(const struct http_config *cfg, struct http_server **out, struct inferd_err *err);
/* Appends routes (borrowed: the table must outlive the server); ctx is passed to handlers.
 * Call before http_server_start. Returns 0 or INFERD_ETOOLARGE past HTTP_MAX_ROUTES. */
int http_add_routes(struct http_server *srv, const struct http_route *routes, size_t n, void *ctx,
                    struct inferd_err *err);
/* Appends one route whose body goes to sink (borrowed, like the route) instead of being
 * collected. Returns 0 or INFERD_ETOOLARGE past HTTP_MAX_ROUTES. */
int http_add_sink_route(struct http_server *srv, const struct http_route *route, const struct http_body_sink *sink,
                        void *ctx, struct inferd_err *err);
/* Binds and starts the worker threads. Returns 0 or INFERD_EIO naming the address. */
int http_server_start(struct http_server *srv, struct inferd_err *err);
/* The bound port (useful when cfg.port was 0). */
int http_port(const struct http_server *srv);
/* Starts the drain: requests already begun go on; any that begins later is answered 503
 * "draining" (Retry-After: 1), and every answer closes its connection. */
void http_server_quiesce(struct http_server *srv);
/* Requests accepted but not yet answered. */
long http_in_flight(const struct http_server *srv);
/* Runs the hang-up hook of every request waiting suspended (cancelling its work) and waits
 * up to timeout_ms for them to end. From then on nothing waits: a stream with no bytes ready
 * is cut, a request whose body completes is answered 503 "draining". Returns how many still
 * wait. */
int http_server_cut(struct http_server *srv, int timeout_ms);
/* Cuts what waits (http_server_cut, 5 s), stops the threads and frees. NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* ---- request side (borrowed strings, valid until the response is sent) ---- */
enum http_method http_req_method(const struct http_req *r);
const char *http_req_method_str(const struct http_req *r);
const char *http_req_path(const struct http_req *r);
/* Value of capture `name` from the route pattern, or NULL. */
const char *http_req_capture(const struct http_req *r, const char *name);
/* Header value (case-insensitive name), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/* Query argument, or NULL. */
const char *http_req_query(const struct http_req *r, const char *name);
/* The whole body (NUL-terminated for convenience; len excludes the NUL). */
const char *http_req_body(const struct http_req *r, size_t *len);
/* The sink of a route with http_route.sink (NULL otherwise or when open failed). */
void *http_req_sink(const struct http_req *r);
/* The request id: the client's X-Request-Id when sane, else a generated one. */
const char *http_req_id(const struct http_req *r);
/* W3C trace context (observe/trace.h): the trace id (the caller's from a valid traceparent
 * header, else a new one; 32 hex), this request's own span id (random, 16 hex), and the
 * caller's span id ("" when the request started a new trace). Every answer carries
 * "traceparent: 00-<trace id>-<span id>-<flags>". */
const char *http_req_trace_id(const struct http_req *r);
const char *http_req_span_id(const struct http_req *r);
const char *http_req_parent_span_id(const struct http_req *r);
/* The caller's tracestate (repeated headers joined with ','), verbatim; "" when absent,
 * over TRACESTATE_MAX bytes, not printable ASCII, or the traceparent was invalid. */
const char *http_req_tracestate(const struct http_req *r);
/* The caller's trace flags (TRACE_FLAG_SAMPLED for a new trace). */
uint8_t http_req_trace_flags(const struct http_req *r);
struct otlp_span;
/* OUT: *out, this request as a finished OTLP server span (observe/otlp.h): its trace, span
 * and parent, the route name, arrival to now, method, status, model, request id. */
void http_req_span(const struct http_req *r, struct otlp_span *out);
/* The matched route's name ("-" when none matched). */
const char *http_req_route_name(const struct http_req *r);
/* Monotonic ns when the request's first byte arrived. */
uint64_t http_req_start_ns(const struct http_req *r);
/* Labels a request for metrics/logs: model and version it addressed (copied, truncated). */
void http_req_set_model(struct http_req *r, const char *model, const char *version);
const char *http_req_model(const struct http_req *r);
const char *http_req_version(const struct http_req *r);
/* Error kind for metrics ("bad_json", "shape", ...); static string; NULL when none. */
const char *http_req_error_kind(const struct http_req *r);
/* Runs fn(arg) once the request is over (response sent or connection gone), on an MHD
 * thread. One hook per request; used to drop references held for the request. */
void http_req_on_done(struct http_req *r, void (*fn)(void *arg), void *arg);
/* Queue and engine milliseconds for the access log (set by inference routes). */
void http_req_set_timing(struct http_req *r, double queue_ms, double compute_ms);
double http_req_queue_ms(const struct http_req *r);
/* The other phases of a tensor request, in milliseconds: decode (last body byte to the
 * request queued: parsing and checks), batch wait (the part of the queue time the engine
 * was free: the batch filling) and encode (outputs serialised into the answer). */
void http_req_set_phases(struct http_req *r, double decode_ms, double batch_wait_ms, double encode_ms);
double http_req_batch_wait_ms(const struct http_req *r);
double http_req_decode_ms(const struct http_req *r);
double http_req_encode_ms(const struct http_req *r);
/* clock_now_ns() when the whole body had arrived (the handler's start). */
uint64_t http_req_body_done_ns(const struct http_req *r);
/* LLM facts for the access log (set by the OpenAI routes; finish_reason static). */
struct http_llm_stats {
    long long prompt_tokens, completion_tokens;
    double ttft_ms, tokens_per_s;
    const char *finish_reason;
};
void http_req_set_llm(struct http_req *r, const struct http_llm_stats *st);
/* NULL until http_req_set_llm was called. */
const struct http_llm_stats *http_req_llm(const struct http_req *r);
double http_req_compute_ms(const struct http_req *r);
/* Request and response body sizes in bytes. */
size_t http_req_bytes_in(const struct http_req *r);
size_t http_req_bytes_out(const struct http_req *r);
/* The peer's IP address as text ("" when unknown); borrowed. */
const char *http_req_remote_addr(struct http_req *r);
/* A per-request user pointer for handlers (NULL initially). */
void *http_req_user(const struct http_req *r);
void http_req_set_user(struct http_req *r, void *user);

/* ---- response side: set exactly one response per request ---- */
int http_resp_status(const struct http_req *r);
/* Takes ownership of body (malloc'd; freed by the server). */
void http_resp_take(struct http_req *r, int status, const char *content_type, char *body, size_t len);
/* Copies body. */
void http_resp_copy(struct http_req *r, int status, const char *content_type, const char *body, size_t len);
void http_resp_json_str(struct http_req *r, int status, const char *json);
/* Serialises and decrefs j (steals the reference). */
void http_resp_json(struct http_req *r, int status, json_t *j);
/* {"error":"<printf message>"}; kind labels the error in metrics (static string). */
void http_resp_error(struct http_req *r, int status, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a response header (both copied); at most HTTP_MAX_RESP_HEADERS. */
void http_resp_header(struct http_req *r, const char *name, const char *value);
/* Streaming (chunked transfer): read(ctx, buf, cap) runs on an MHD worker thread and
 * returns bytes written (> 0), -1 at the end of the stream, or 0 when it has nothing yet:
 * the connection is then suspended — no thread waits — until the producer calls
 * http_req_wake (a wake that comes before the read returns 0 is not lost). read must never
 * block. free_ctx(ctx) runs when the response is over (also when the client went away).
 * Usable from a handler that returns HTTP_DONE or after HTTP_ASYNC. */
typedef ssize_t (*http_stream_read_fn)(void *ctx, char *buf, size_t cap);
/* What a stream's read returns to cut the connection instead of ending the chunked body
 * cleanly (the producer broke mid-stream: the client must not take it as complete). */
#define HTTP_STREAM_ABORT (-2)
void http_resp_stream(struct http_req *r, int status, const char *content_type,
                      http_stream_read_fn read, void *ctx, void (*free_ctx)(void *));
/* Finishes a request that its handler left with HTTP_ASYNC: call once, from any thread,
 * after setting the response. */
void http_req_finish(struct http_req *r);
/* Tells a streaming response that its read has bytes (or the end) again; any thread. The
 * caller must know r is alive: call it only before r's on_done hook has run. */
void http_req_wake(struct http_req *r);
/* Runs fn(arg) if the client closes its connection after the request first waited
 * suspended (after HTTP_ASYNC, or a stream waiting for bytes) and before it completes, or
 * when the server shuts down with it unfinished. fn runs on another thread and must only
 * flag the work to stop (it must not finish the request itself); the work's completion
 * then ends the request as usual. fn never runs once the request's on_done hook has. */
void http_req_on_hangup(struct http_req *r, void (*fn)(void *arg), void *arg);

/* Longest timeout a request may ask for, in ms (about 11.6 days); larger values are
 * clamped to it, so deadline arithmetic never overflows. */
#define HTTP_TIMEOUT_MS_MAX 1000000000LL
/* Parses a timeout in milliseconds given in header `name` (e.g. "X-Request-Timeout-Ms"):
 * decimal digits only (no sign, no spaces), clamped to HTTP_TIMEOUT_MS_MAX.
 * OUT: *ms. Returns 0 or INFERD_EINVAL (err names the header). */
int http_parse_timeout_ms(const char *name, const char *text, int64_t *ms, struct inferd_err *err);
/* The deadline now_ns + timeout_us (microseconds), with timeout_us clamped to
 * HTTP_TIMEOUT_MS_MAX ms; 0 (no deadline) when timeout_us <= 0. */
uint64_t http_deadline_ns(uint64_t now_ns, int64_t timeout_us);

/* Maps an INFERD_E* code to the HTTP status a client should see. */
int http_status_for(int code);
/* Stable error-kind label for an INFERD_E* code ("EINVAL" -> "invalid"). */
const char *http_kind_for(int code);

#endif
