/* http.c — the libmicrohttpd front: connection state, body collection, route matching,
 * suspend/resume for handlers that finish on another thread, and response queueing. */
#include "serve/http/http.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/utf8.h"
#include "serve/http/hangup.h"
#include "observe/access_log.h"
#include "observe/otlp.h"
#include "observe/trace.h"

#include "base/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_CAPTURE_MAX 256 /* bytes of one captured path segment */
#define HTTP_ID_MAX ACCESS_LOG_ID_MAX /* a client id is logged whole */
/* A request whose body was at least this big hands free heap memory back to the system
 * when it ends (malloc_trim): parsing such a body (a JSON tree of millions of values) leaves
 * hundreds of MB of freed small blocks that glibc would otherwise keep for the process. */
#define HTTP_TRIM_BODY_BYTES (8u << 20)

struct route_entry {
    const struct http_route *route; /* borrowed from the caller's table */
    void *ctx;
    const struct http_body_sink *sink; /* borrowed; NULL = the body is collected */
};

/* A connection libmicrohttpd has open, from its start to its close, with the worker thread
 * that owns it (thread-pool mode: a connection lives on the worker that accepted it). Only
 * refuse_bad_length uses the list. */
struct conn_entry {
    struct MHD_Connection *conn;
    pthread_t owner;
    struct conn_entry *prev, *next;
};

struct http_server {
    struct http_config cfg;          /* copied at creation; host borrowed */
    struct route_entry routes[HTTP_MAX_ROUTES];
    size_t n_routes;
    struct MHD_Daemon *daemon;       /* NULL until started */
    int port;                        /* bound port */
    atomic_long in_flight;           /* requests accepted and not yet completed */
    atomic_int quiesced;             /* draining: answers carry Connection: close */
    atomic_size_t buffered;          /* body bytes reserved by requests now (max_buffered_bytes) */
    struct hangup_watch *watch;      /* requests with a hang-up hook that have waited */
    atomic_int n_suspended;          /* connections suspended now, or held on their way to a
                                        suspension (hold_begin) */
    atomic_int cutting;              /* http_server_cut began: nothing suspends any more */
    pthread_mutex_t conns_lock;      /* guards conns */
    struct conn_entry *conns;        /* every open connection (on_connection) */
};

enum req_state { REQ_RECEIVING, REQ_DISPATCHED, REQ_READY, REQ_SENT };

struct resp_header {
    char *name, *value;
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    enum req_state state;
    enum http_method method;
    const char *method_str;          /* borrowed from MHD */
    char *path;                      /* owned copy of the (unescaped) URL path */
    uint64_t t_start;
    char id[HTTP_ID_MAX + 1];
    /* W3C trace context (observe/trace.h), settled from the headers on arrival */
    char trace_id[TRACE_ID_HEX + 1];         /* the caller's trace, else a new one */
    char span_id[TRACE_SPAN_HEX + 1];        /* this request's own span (random) */
    char parent_span_id[TRACE_SPAN_HEX + 1]; /* the caller's span; "" for a new trace */
    char tracestate[TRACESTATE_MAX + 1];     /* verbatim; "" when absent or refused */
    uint8_t trace_flags;                     /* the caller's flags; sampled for a new trace */
    /* body: capped at max_body_bytes; too_large once a byte past the cap arrived (1) or
     * the server-wide budget was spent (2) */
    struct buf body;
    size_t reserved;                 /* of srv->buffered, given back at completion */
    int too_large;
    void *sink;                      /* the route's body sink (http_route.sink), or NULL */
    int sink_failed;                 /* its write refused: the rest of the body is dropped */
    /* matched route */
    const struct route_entry *route;
    int n_caps;
    char cap_name[HTTP_MAX_CAPTURES][32];
    char cap_val[HTTP_MAX_CAPTURES][HTTP_CAPTURE_MAX];
    /* labels for metrics */
    char model[128], version[24];
    const char *error_kind;
    double queue_ms, compute_ms, decode_ms, batch_wait_ms, encode_ms;
    uint64_t t_body_ns;              /* when the body was complete (dispatch) */
    struct http_llm_stats llm;     /* valid when has_llm */
    int has_llm;
    size_t bytes_out;
    char remote[64];
    /* response */
    int status;
    char *resp_body;                 /* owned, malloc'd */
    size_t resp_len;
    const char *resp_ctype;          /* static string */
    struct resp_header headers[HTTP_MAX_RESP_HEADERS];
    int n_headers;
    http_stream_read_fn stream_read;
    void *stream_ctx;
    void (*stream_free)(void *);
    /* async hand-off: suspended, finished, wake_pending and watch change under lock */
    pthread_mutex_t lock;
    int suspended, finished;
    int wake_pending;                /* a stream got data since its read last found none */
    int watch;                       /* hangup_watch handle from the first suspension to the
                                        completion, else -1 */
    hangup_fn hup_fn;                /* the route's hang-up hook (NULL: none) */
    void *hup_arg;
    void (*done_fn)(void *);
    void *done_arg;
    void *user;
};

/* ---------------- status mapping ---------------- */

int http_parse_timeout_ms(const char *name, const char *text, int64_t *ms, struct inferd_err *err)
{
    int64_t v = 0;
    if (!text || !*text)
        return inferd_err_set(err, INFERD_EINVAL, "%s: empty; want a non-negative integer (ms)", name);
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return inferd_err_set(err, INFERD_EINVAL, "%s: \"%.32s\" is not a non-negative integer (ms)", name,
                                  text);
        if (v <= HTTP_TIMEOUT_MS_MAX)
            v = v * 10 + (*p - '0');
    }
    *ms = v > HTTP_TIMEOUT_MS_MAX ? HTTP_TIMEOUT_MS_MAX : v;
    return 0;
}

uint64_t http_deadline_ns(uint64_t now_ns, int64_t timeout_us)
{
    if (timeout_us <= 0)
        return 0;
    if (timeout_us > HTTP_TIMEOUT_MS_MAX * 1000)
        timeout_us = HTTP_TIMEOUT_MS_MAX * 1000;
    return now_ns + (uint64_t)timeout_us * 1000u;
}

int http_status_for(int code)
{
    switch (code) {
    case 0: return 200;
    case INFERD_EINVAL: case INFERD_EUNSUPPORTED: case INFERD_ESHAPE: case INFERD_ETYPE:
    case INFERD_EFORMAT: return 400;
    case INFERD_ENOTFOUND: return 404;
    case INFERD_ETOOLARGE: return 413;
    case INFERD_EBUSY: case INFERD_EUNAVAIL: return 503;
    case INFERD_ETIMEDOUT: return 504;
    case INFERD_EAUTH: return 401;
    default: return 500;
    }
}

const char *http_kind_for(int code)
{
    switch (code) {
    case INFERD_EINVAL: return "invalid";
    case INFERD_EUNSUPPORTED: return "unsupported";
    case INFERD_ESHAPE: return "shape";
    case INFERD_ETYPE: return "dtype";
    case INFERD_EFORMAT: return "format";
    case INFERD_ENOTFOUND: return "not_found";
    case INFERD_ETOOLARGE: return "too_large";
    case INFERD_EBUSY: return "queue_full";
    case INFERD_EUNAVAIL: return "unavailable";
    case INFERD_ETIMEDOUT: return "timeout";
    case INFERD_EAUTH: return "auth";
    default: return "internal";
    }
}

/* ---------------- route matching ---------------- */

/* Matches path against pat, recording captures in r. Returns 1 on a match. */
static int route_match(const char *pat, const char *path, struct http_req *r)
{
    r->n_caps = 0;
    while (*pat) {
        if (*pat != '{') {
            if (*pat != *path)
                return 0;
            pat++, path++;
            continue;
        }
        const char *close = strchr(pat, '}');
        if (!close || r->n_caps >= HTTP_MAX_CAPTURES)
            return 0;
        size_t nlen = (size_t)(close - pat - 1);
        const char *suffix = close + 1;
        size_t slen = strcspn(suffix, "/");
        size_t seglen = strcspn(path, "/");
        if (seglen <= slen || seglen - slen >= HTTP_CAPTURE_MAX || nlen >= 32)
            return 0;
        if (memcmp(path + seglen - slen, suffix, slen) != 0)
            return 0;
        int i = r->n_caps++;
        memcpy(r->cap_name[i], pat + 1, nlen);
        r->cap_name[i][nlen] = '\0';
        memcpy(r->cap_val[i], path, seglen - slen);
        r->cap_val[i][seglen - slen] = '\0';
        pat = suffix + slen;
        path += seglen;
    }
    return *path == '\0';
}

/* ---------------- request accessors ---------------- */

enum http_method http_req_method(const struct http_req *r) { return r->method; }
const char *http_req_method_str(const struct http_req *r) { return r->method_str; }
const char *http_req_path(const struct http_req *r) { return r->path; }
const char *http_req_id(const struct http_req *r) { return r->id; }
const char *http_req_trace_id(const struct http_req *r) { return r->trace_id; }
const char *http_req_span_id(const struct http_req *r) { return r->span_id; }
const char *http_req_parent_span_id(const struct http_req *r) { return r->parent_span_id; }
const char *http_req_tracestate(const struct http_req *r) { return r->tracestate; }

void http_req_span(const struct http_req *r, struct otlp_span *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->trace_id, r->trace_id, sizeof out->trace_id);
    memcpy(out->span_id, r->span_id, sizeof out->span_id);
    memcpy(out->parent_span_id, r->parent_span_id, sizeof out->parent_span_id);
    snprintf(out->name, sizeof out->name, "%s", r->route ? r->route->route->name : "-");
    out->kind = OTLP_KIND_SERVER;
    out->start_ns = otlp_wall_ns(r->t_start);
    out->end_ns = otlp_wall_ns(clock_now_ns());
    out->http_status = r->status;
    snprintf(out->method, sizeof out->method, "%s", r->method_str ? r->method_str : "");
    snprintf(out->model, sizeof out->model, "%s", r->model);
    snprintf(out->request_id, sizeof out->request_id, "%s", r->id);
}
uint8_t http_req_trace_flags(const struct http_req *r) { return r->trace_flags; }
uint64_t http_req_start_ns(const struct http_req *r) { return r->t_start; }
const char *http_req_model(const struct http_req *r) { return r->model; }
const char *http_req_version(const struct http_req *r) { return r->version; }
const char *http_req_error_kind(const struct http_req *r) { return r->error_kind; }
void *http_req_user(const struct http_req *r) { return r->user; }
void http_req_set_timing(struct http_req *r, double queue_ms, double compute_ms)
{
    r->queue_ms = queue_ms;
    r->compute_ms = compute_ms;
}
double http_req_queue_ms(const struct http_req *r) { return r->queue_ms; }
void http_req_set_phases(struct http_req *r, double decode_ms, double batch_wait_ms, double encode_ms)
{
    r->decode_ms = decode_ms;
    r->batch_wait_ms = batch_wait_ms;
    r->encode_ms = encode_ms;
}
double http_req_batch_wait_ms(const struct http_req *r) { return r->batch_wait_ms; }
double http_req_decode_ms(const struct http_req *r) { return r->decode_ms; }
double http_req_encode_ms(const struct http_req *r) { return r->encode_ms; }
uint64_t http_req_body_done_ns(const struct http_req *r) { return r->t_body_ns; }
void http_req_set_llm(struct http_req *r, const struct http_llm_stats *st)
{
    r->llm = *st;
    r->has_llm = 1;
}
const struct http_llm_stats *http_req_llm(const struct http_req *r) { return r->has_llm ? &r->llm : NULL; }
double http_req_compute_ms(const struct http_req *r) { return r->compute_ms; }
size_t http_req_bytes_in(const struct http_req *r) { return r->body.len; }
size_t http_req_bytes_out(const struct http_req *r) { return r->bytes_out; }

const char *http_req_remote_addr(struct http_req *r)
{
    if (r->remote[0])
        return r->remote;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, r->remote, sizeof r->remote);
    return r->remote;
}
void http_req_set_user(struct http_req *r, void *user) { r->user = user; }
int http_resp_status(const struct http_req *r) { return r->status; }

const char *http_req_route_name(const struct http_req *r)
{
    return r->route ? r->route->route->name : "-";
}

const char *http_req_capture(const struct http_req *r, const char *name)
{
    for (int i = 0; i < r->n_caps; i++)
        if (strcmp(r->cap_name[i], name) == 0)
            return r->cap_val[i];
    return NULL;
}

const char *http_req_header(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void *http_req_sink(const struct http_req *r)
{
    return r->sink;
}

const char *http_req_body(const struct http_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

void http_req_set_model(struct http_req *r, const char *model, const char *version)
{
    snprintf(r->model, sizeof r->model, "%s", model ? model : "");
    snprintf(r->version, sizeof r->version, "%s", version ? version : "");
}

void http_req_on_done(struct http_req *r, void (*fn)(void *arg), void *arg)
{
    r->done_fn = fn;
    r->done_arg = arg;
}

/* ---------------- responses ---------------- */

static void resp_reset(struct http_req *r)
{
    free(r->resp_body);
    r->resp_body = NULL;
    r->resp_len = 0;
}

void http_resp_take(struct http_req *r, int status, const char *content_type, char *body, size_t len)
{
    resp_reset(r);
    r->status = status;
    r->resp_ctype = content_type;
    r->resp_body = body;
    r->resp_len = len;
}

void http_resp_copy(struct http_req *r, int status, const char *content_type, const char *body, size_t len)
{
    char *b = malloc(len + 1);
    if (!b) {
        http_resp_take(r, 500, "text/plain", NULL, 0);
        return;
    }
    memcpy(b, body, len);
    b[len] = '\0';
    http_resp_take(r, status, content_type, b, len);
}

void http_resp_json_str(struct http_req *r, int status, const char *json)
{
    http_resp_copy(r, status, "application/json", json, strlen(json));
}

void http_resp_json(struct http_req *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        http_resp_json_str(r, 500, "{\"error\":\"out of memory while writing the response\"}");
        return;
    }
    http_resp_take(r, status, "application/json", s, strlen(s));
}

void http_resp_error(struct http_req *r, int status, const char *kind, const char *fmt, ...)
{
    char msg[INFERD_ERR_MSG_MAX], clean[INFERD_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a message may quote the client's bytes (a path, a header): JSON strings must be
     * UTF-8, and jansson refuses anything else (that refusal was answered as a 500) */
    utf8_sanitize_into(clean, sizeof clean, msg, strlen(msg));
    r->error_kind = kind;
    http_resp_json(r, status, json_pack("{s:s}", "error", clean));
}

void http_resp_header(struct http_req *r, const char *name, const char *value)
{
    if (r->n_headers >= HTTP_MAX_RESP_HEADERS)
        return;
    struct resp_header *h = &r->headers[r->n_headers];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return;
    }
    r->n_headers++;
}

void http_resp_stream(struct http_req *r, int status, const char *content_type,
                      http_stream_read_fn read, void *ctx, void (*free_ctx)(void *))
{
    resp_reset(r);
    r->status = status;
    r->resp_ctype = content_type;
    r->stream_read = read;
    r->stream_ctx = ctx;
    r->stream_free = free_ctx;
}

/* MHD aborts when it is stopped with a suspended connection, so http_server_cut waits for
 * n_suspended to reach 0 and nothing may suspend after that. A callback that might suspend
 * counts itself in first (hold_begin) and then reads `cutting`; the cut sets `cutting` and
 * then reads the count (both sequentially consistent): either the cut sees the hold and
 * waits for it, or the callback sees the cut and does not suspend. A stream that a token
 * resumed, and whose next read would suspend it again, so cannot slip in after the cut
 * read 0. Returns -1 (nothing held) when the cut has begun. */
static int hold_begin(struct http_server *s)
{
    atomic_fetch_add(&s->n_suspended, 1);
    if (!atomic_load(&s->cutting))
        return 0;
    atomic_fetch_sub(&s->n_suspended, 1);
    return -1;
}

static void hold_end(struct http_server *s) { atomic_fetch_sub(&s->n_suspended, 1); }

/* Suspends r's connection; the caller's hold becomes the suspension's count (resume_locked
 * gives it back). The first time, a request whose route gave a hang-up hook is
 * put under the watcher until it completes (not per suspension: a stream suspends between
 * every two tokens, and epoll changes each time would cost more than the token). Caller
 * holds r->lock, on an MHD thread inside an MHD callback. */
static void suspend_locked(struct http_req *r)
{
    assert(!r->suspended);
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    if (r->hup_fn && r->watch < 0) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->watch = hangup_watch_add(r->srv->watch, ci ? (int)ci->connect_fd : -1, r->hup_fn, r->hup_arg);
    }
}

/* Resumes r's connection when suspended. Caller holds r->lock; any thread. */
static void resume_locked(struct http_req *r)
{
    if (!r->suspended)
        return;
    r->suspended = 0;
    atomic_fetch_sub(&r->srv->n_suspended, 1);
    MHD_resume_connection(r->conn);
}

void http_req_finish(struct http_req *r)
{
    pthread_mutex_lock(&r->lock);
    r->finished = 1;
    resume_locked(r);
    pthread_mutex_unlock(&r->lock);
}

void http_req_wake(struct http_req *r)
{
    pthread_mutex_lock(&r->lock);
    r->wake_pending = 1;
    resume_locked(r);
    pthread_mutex_unlock(&r->lock);
}

void http_req_on_hangup(struct http_req *r, void (*fn)(void *arg), void *arg)
{
    r->hup_fn = fn;
    r->hup_arg = arg;
}

/* ---------------- MHD callbacks ---------------- */

static enum http_method method_of(const char *m)
{
    if (strcmp(m, "GET") == 0) return HTTP_GET;
    if (strcmp(m, "POST") == 0) return HTTP_POST;
    if (strcmp(m, "PUT") == 0) return HTTP_PUT;
    if (strcmp(m, "DELETE") == 0) return HTTP_DELETE;
    if (strcmp(m, "HEAD") == 0) return HTTP_HEAD;
    return 0;
}

static int id_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
}

static void set_request_id(struct http_req *r)
{
    const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given) {
        size_t n = strlen(given);
        int ok = n > 0 && n <= HTTP_ID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = id_char_ok(given[i]);
        if (ok) {
            memcpy(r->id, given, n + 1);
            return;
        }
    }
    char id[REQUEST_ID_LEN + 1];
    if (request_id_new(id) < 0) /* 128 random bits (getrandom), 32 hex */
        snprintf(id, sizeof id, "%032llx", (unsigned long long)clock_now_ns());
    memcpy(r->id, id, sizeof id);
}

/* What the trace headers say: how many traceparent headers came (more than one makes the
 * value invalid) and every tracestate header joined with ',' (the specification treats
 * repeated headers as one list); tracestate over its cap is dropped. */
struct trace_scan {
    const char *parent;
    int n_parent;
    char state[TRACESTATE_MAX + 1];
    size_t state_len;
    int state_bad;
};

static enum MHD_Result scan_trace(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct trace_scan *t = cls;
    if (!key || !value)
        return MHD_YES;
    if (strcasecmp(key, "traceparent") == 0) {
        t->parent = value;
        t->n_parent++;
    } else if (strcasecmp(key, "tracestate") == 0 && !t->state_bad) {
        size_t n = strlen(value), sep = t->state_len ? 1 : 0;
        if (!trace_state_ok(value, n) || t->state_len + sep + n > TRACESTATE_MAX) {
            t->state_bad = 1;
            return MHD_YES;
        }
        if (sep)
            t->state[t->state_len++] = ',';
        memcpy(t->state + t->state_len, value, n);
        t->state_len += n;
        t->state[t->state_len] = '\0';
    }
    return MHD_YES;
}

/* Joins the caller's trace (a valid traceparent) or starts a new one (none, or invalid:
 * the specification says to ignore it, and then its tracestate too), and gives the request
 * its own span. */
static void set_trace(struct http_req *r)
{
    struct trace_scan t = {0};
    struct trace_parent tp;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_trace, &t);
    if (t.n_parent == 1 && trace_parse_traceparent(t.parent, strlen(t.parent), &tp) == 0) {
        memcpy(r->trace_id, tp.trace_id, sizeof r->trace_id);
        memcpy(r->parent_span_id, tp.parent_id, sizeof r->parent_span_id);
        r->trace_flags = tp.flags;
        if (!t.state_bad)
            memcpy(r->tracestate, t.state, t.state_len + 1);
    } else {
        trace_new_id(r->trace_id, TRACE_ID_HEX / 2);
        r->trace_flags = TRACE_FLAG_SAMPLED;
    }
    trace_new_id(r->span_id, TRACE_SPAN_HEX / 2);
}

/* MHD asks for the next bytes of a stream. When the producer has none, the connection is
 * suspended (unless a wake came in meanwhile) and http_req_wake resumes it: no worker
 * thread waits for a producer. */
static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_req *r = cls;
    if (hold_begin(r->srv) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* shutting down: what still streams is cut */
    pthread_mutex_lock(&r->lock);
    r->wake_pending = 0;
    pthread_mutex_unlock(&r->lock);
    ssize_t n = r->stream_read(r->stream_ctx, buf, max);
    if (n != 0) {
        hold_end(r->srv);
        if (n == HTTP_STREAM_ABORT)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n < 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
        r->bytes_out = (size_t)pos + (size_t)n; /* body bytes, chunk framing not counted */
        return n;
    }
    pthread_mutex_lock(&r->lock);
    if (!r->wake_pending)
        suspend_locked(r);
    else
        hold_end(r->srv);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static enum MHD_Result queue_response(struct http_req *r)
{
    struct MHD_Response *resp;
    if (r->stream_read) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb, r, NULL);
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp_body ? r->resp_body : (char *)"",
                                               r->resp_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (resp) {
            r->bytes_out = r->resp_len;
            r->resp_body = NULL; /* MHD owns it now */
        }
    }
    if (!resp)
        return MHD_NO;
    if (r->resp_ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    char tp[TRACEPARENT_LEN + 1]; /* the answer names this request's span: clients correlate */
    trace_format_traceparent(tp, r->trace_id, r->span_id, r->trace_flags);
    MHD_add_response_header(resp, "traceparent", tp);
    if (atomic_load(&r->srv->quiesced))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close"); /* keep-alive ends the drain */
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)(r->status ? r->status : 500), resp);
    MHD_destroy_response(resp);
    r->state = REQ_SENT;
    return ok;
}

/* Settles the route and its key from the request line and headers, before any body byte
 * is read. Returns 0 when the request may go on, or -1 after setting the error response
 * (unknown route 404, method 405, key 401). */
static int resolve(struct http_req *r)
{
    struct http_server *s = r->srv;
    int path_found = 0;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route_entry *e = &s->routes[i];
        if (!route_match(e->route->pattern, r->path, r))
            continue;
        path_found = 1;
        if (!(e->route->methods & r->method))
            continue;
        r->route = e;
        if (e->route->auth != HTTP_AUTH_NONE && s->cfg.authorize) {
            struct inferd_err err = {0};
            const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
            if (s->cfg.authorize(s->cfg.auth_ctx, e->route->auth, h, &err) < 0) {
                r->error_kind = "auth";
                if (e->route->auth_error)
                    e->route->auth_error(r, err.msg);
                else
                    http_resp_error(r, 401, "auth", "%s", err.msg);
                http_resp_header(r, "WWW-Authenticate", "Bearer");
                return -1;
            }
        }
        return 0;
    }
    r->n_caps = 0;
    if (path_found)
        http_resp_error(r, 405, "method", "method %s is not allowed on %s", r->method_str, r->path);
    else
        http_resp_error(r, 404, "no_route", "no route for %s %s", r->method_str, r->path);
    return -1;
}

/* Reserves n more body bytes of the server-wide budget. Returns 0, or -1 when the budget
 * would be passed (nothing reserved). */
static int reserve(struct http_req *r, size_t n)
{
    struct http_server *s = r->srv;
    size_t before = atomic_fetch_add(&s->buffered, n);
    if (before + n > s->cfg.max_buffered_bytes) {
        atomic_fetch_sub(&s->buffered, n);
        return -1;
    }
    r->reserved += n;
    return 0;
}

static void busy_response(struct http_req *r)
{
    http_resp_error(r, 503, "busy", "server busy: request bodies being received exceed %zu bytes "
                    "(--max-buffered-bytes); retry", r->srv->cfg.max_buffered_bytes);
    http_resp_header(r, "Retry-After", "1");
}

/* Runs the resolved route's handler on the whole body. */
static void dispatch(struct http_req *r)
{
    struct http_server *s = r->srv;
    r->t_body_ns = clock_now_ns();
    if (r->too_large) {
        if (r->too_large == 2)
            busy_response(r);
        else
            http_resp_error(r, 413, "body_too_large",
                            "request body: larger than the limit of %zu bytes (--max-body-bytes)",
                            s->cfg.max_body_bytes);
        return;
    }
    assert(r->route);
    /* The hold covers the handler's run too: once the handler has started work that will
     * call http_req_finish, the request can neither be answered here nor given up, so the
     * cut must be seen before the work starts (a synchronous handler still running makes the
     * cut wait for it; MHD_stop_daemon would wait for that thread anyway). */
    if (hold_begin(s) < 0) { /* shutting down: no work starts that would have to wait */
        http_resp_error(r, 503, "draining", "the server is shutting down");
        http_resp_header(r, "Retry-After", "1");
        return;
    }
    const struct route_entry *e = r->route;
    if (e->route->handler(r, e->ctx) != HTTP_ASYNC) {
        hold_end(s);
        return;
    }
    pthread_mutex_lock(&r->lock);
    if (!r->finished)
        suspend_locked(r);
    else
        hold_end(s);
    pthread_mutex_unlock(&r->lock);
}

/* 1 when s is a byte count as RFC 9110 writes it: 1 to 19 decimal digits, nothing else. */
static int is_length(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 19 && s[n] == '\0';
}

struct length_scan {
    const char *first; /* the first Content-Length value */
    int differ;        /* another one differs from it */
};

static enum MHD_Result scan_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    struct length_scan *ls = cls;
    if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
        return MHD_YES;
    if (!ls->first)
        ls->first = value ? value : "";
    else if (strcmp(ls->first, value ? value : "") != 0)
        ls->differ = 1;
    return MHD_YES;
}

/* Refuses a request whose framing is ambiguous (RFC 9112 6.3): both Content-Length and
 * Transfer-Encoding, or Content-Length given twice with different values (libmicrohttpd
 * would frame the body by the first). Returns 0, or -1 after setting a 400 that closes. */
static int check_framing(struct http_req *r)
{
    struct length_scan ls = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_length, &ls);
    if (ls.first && MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        http_resp_error(r, 400, "bad_framing", "request: both Content-Length and Transfer-Encoding are set");
    else if (ls.differ)
        http_resp_error(r, 400, "bad_framing", "request: Content-Length is given twice with different values");
    else
        return 0;
    http_resp_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    return -1;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->path = strdup(url);
        if (!r->path) {
            free(r);
            return MHD_NO;
        }
        pthread_mutex_init(&r->lock, NULL);
        r->watch = -1;
        buf_init(&r->body, s->cfg.max_body_bytes);
        r->srv = s;
        r->conn = conn;
        r->t_start = clock_now_ns();
        r->method_str = method;
        r->method = method_of(method);
        set_request_id(r);
        set_trace(r);
        atomic_fetch_add(&s->in_flight, 1);
        *con_cls = r;
        /* Route, key and declared size are settled before any body byte is read: a refused
         * request is answered now and MHD closes the connection instead of reading the rest,
         * so no client without a key can make the server buffer anything. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0; /* digits only: MHD checked */
        if (atomic_load(&s->quiesced)) {
            /* Draining: work that starts now is turned away at once (in_flight then only
             * falls); a client or balancer tries another replica after a second. */
            http_resp_error(r, 503, "draining", "the server is shutting down");
            http_resp_header(r, "Retry-After", "1");
            r->state = REQ_DISPATCHED;
            return queue_response(r);
        }
        if (check_framing(r) < 0) {
            r->state = REQ_DISPATCHED;
            return queue_response(r);
        }
        if (resolve(r) < 0) {
            r->state = REQ_DISPATCHED;
            return queue_response(r);
        }
        const struct http_body_sink *sink = r->route->sink;
        if (sink) { /* streamed: the sink's own cap, nothing buffered here */
            if (sink->open(r, r->route->ctx, &r->sink) < 0) {
                r->sink = NULL;
                r->state = REQ_DISPATCHED;
                http_resp_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
                return queue_response(r);
            }
            return MHD_YES;
        }
        if (declared > s->cfg.max_body_bytes || (declared && reserve(r, (size_t)declared) < 0)) {
            r->too_large = declared > s->cfg.max_body_bytes ? 1 : 2;
            r->state = REQ_DISPATCHED;
            dispatch(r);
            return queue_response(r);
        }
        return MHD_YES;
    }
    if (r->state == REQ_RECEIVING) {
        if (*upload_data_size && r->sink) {
            const struct http_body_sink *sink = r->route->sink;
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (!r->sink_failed && sink->write(r->sink, upload_data, n) < 0)
                r->sink_failed = 1;
            return MHD_YES;
        }
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (r->too_large || n > s->cfg.max_body_bytes - r->body.len) {
                if (!r->too_large)
                    r->too_large = 1;
                return MHD_YES;
            }
            /* a body without Content-Length (chunked) reserves its budget as it arrives */
            if (r->body.len + n > r->reserved && reserve(r, r->body.len + n - r->reserved) < 0) {
                r->too_large = 2;
                return MHD_YES;
            }
            buf_put(&r->body, upload_data, n);
            return buf_rc(&r->body) ? MHD_NO : MHD_YES; /* within the cap: only ENOMEM fails */
        }
        r->state = REQ_DISPATCHED;
        dispatch(r);
        pthread_mutex_lock(&r->lock);
        int wait = r->suspended;
        pthread_mutex_unlock(&r->lock);
        if (wait)
            return MHD_YES;
    }
    if (r->state == REQ_SENT)
        return MHD_YES;
    return queue_response(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct http_server *s = cls;
    struct http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->state != REQ_RECEIVING && s->cfg.on_complete)
        s->cfg.on_complete(s->cfg.obs_ctx, r);
    hangup_watch_remove(s->watch, r->watch); /* after this the hook never runs: done_fn may free its arg */
    r->watch = -1;
    if (r->done_fn)
        r->done_fn(r->done_arg);
    if (r->stream_free)
        r->stream_free(r->stream_ctx);
    if (r->sink)
        r->route->sink->close(r->sink);
    for (int i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->resp_body);
    int trim = r->body.len >= HTTP_TRIM_BODY_BYTES;
    buf_free(&r->body);
    free(r->path);
    atomic_fetch_sub(&s->buffered, r->reserved);
    /* A finisher on another thread may still hold the lock right after resuming us. */
    pthread_mutex_lock(&r->lock);
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_destroy(&r->lock);
    free(r);
    long before = atomic_fetch_sub(&s->in_flight, 1);
    assert(before >= 1); /* one completion per accepted request */
    (void)before;
#ifdef __GLIBC__
    if (trim)
        malloc_trim(0); /* the body and what was parsed from it are freed by now */
#else
    (void)trim;
#endif
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* MHD's URL unescaper with one difference: "%00" stays as those three characters. Decoding
 * it to a NUL byte silently cut the path (and so the model name in it) at that point. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *p = s; *p; p++) {
        int hi = p[0] == '%' ? hex_val(p[1]) : -1;
        int lo = hi >= 0 ? hex_val(p[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* Keeps s->conns: every open connection and the worker thread that owns it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;
    struct conn_entry *e = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        e = calloc(1, sizeof *e);
        if (!e)
            return; /* not listed: a bad Content-Length on it gets libmicrohttpd's own answer */
        e->conn = conn;
        e->owner = pthread_self();
        pthread_mutex_lock(&s->conns_lock);
        e->next = s->conns;
        if (s->conns)
            s->conns->prev = e;
        s->conns = e;
        pthread_mutex_unlock(&s->conns_lock);
        *socket_context = e;
    } else if (e) {
        pthread_mutex_lock(&s->conns_lock);
        if (e->prev)
            e->prev->next = e->next;
        else
            s->conns = e->next;
        if (e->next)
            e->next->prev = e->prev;
        pthread_mutex_unlock(&s->conns_lock);
        free(e);
        *socket_context = NULL;
    }
}

/* libmicrohttpd 0.9.75 answers a request whose Content-Length is not a number ("abc", "-1",
 * "1, 2") or too large for 64 bits itself, before any callback of ours, and writes its
 * error head twice (its state machine builds the reply again after the error one). The
 * only hook it runs then is its log line, on the worker thread that owns the connection.
 * So: find this thread's connection(s) whose Content-Length is bad, write one 400 (413 for
 * too many digits) that closes, and shut the socket, so the doubled head never leaves.
 * Called from on_mhd_log only; a connection of this thread is not touched by any other. */
static void refuse_bad_length(struct http_server *s)
{
    static const char head[] = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                               "Content-Length: %zu\r\n\r\n%s";
    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->conns_lock);
    for (struct conn_entry *e = s->conns; e; e = e->next) {
        if (!pthread_equal(e->owner, self))
            continue;
        /* Only a connection whose headers are in and that has no response yet: a closed one's
         * header strings are freed already (its pool goes before our CLOSED notice), and one
         * that got libmicrohttpd's error answer has had its read buffer (the strings) reused. */
        if (!MHD_get_connection_info(e->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE) ||
            MHD_get_connection_info(e->conn, MHD_CONNECTION_INFO_HTTP_STATUS))
            continue;
        const char *cl = MHD_lookup_connection_value(e->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!cl || is_length(cl))
            continue;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(e->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            continue;
        int digits = cl[0] && strspn(cl, "0123456789") == strlen(cl);
        const char *body = digits ? "{\"error\":\"request: Content-Length is larger than 64 bits\"}"
                                  : "{\"error\":\"request: Content-Length is not a byte count (decimal digits only)\"}";
        char msg[256];
        int n = snprintf(msg, sizeof msg, head, digits ? 413 : 400, digits ? "Content Too Large" : "Bad Request",
                         strlen(body), body);
        if (n > 0 && (size_t)n < sizeof msg && send(ci->connect_fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            log_event(LOG_DEBUG, "bad Content-Length: answer not sent", NULL);
        shutdown(ci->connect_fd, SHUT_RDWR); /* libmicrohttpd's own (doubled) answer fails and it closes */
    }
    pthread_mutex_unlock(&s->conns_lock);
}

/* libmicrohttpd's log lines go to the error log (they name bad requests and its own
 * failures); a bad Content-Length is refused from here (refuse_bad_length). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (strstr(msg, "Content-Length") && (strstr(msg, "Failed to parse") || strstr(msg, "Too large value")))
        refuse_bad_length(s);
    log_event(LOG_INFO, "libmicrohttpd", "message", msg, NULL);
}

/* ---------------- server lifecycle ---------------- */

int http_server_new(const struct http_config *cfg, struct http_server **out, struct inferd_err *err)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        return inferd_err_set(err, INFERD_ENOMEM, "http: out of memory");
    s->cfg = *cfg;
    pthread_mutex_init(&s->conns_lock, NULL);
    if (s->cfg.threads < 1)
        s->cfg.threads = 1;
    if (s->cfg.max_body_bytes == 0)
        s->cfg.max_body_bytes = 64u << 20;
    if (s->cfg.max_buffered_bytes == 0)
        s->cfg.max_buffered_bytes = s->cfg.max_body_bytes * 8;
    if (s->cfg.max_conns_per_client == 0)
        s->cfg.max_conns_per_client = 1024;
    if (s->cfg.conn_timeout_s <= 0)
        s->cfg.conn_timeout_s = HTTP_CONN_TIMEOUT_S_DEFAULT;
    if (s->cfg.max_connections <= 0)
        s->cfg.max_connections = HTTP_MAX_CONNECTIONS_DEFAULT;
    int rc = hangup_watch_new(s->cfg.max_connections, &s->watch, err);
    if (rc < 0) {
        pthread_mutex_destroy(&s->conns_lock);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int http_add_routes(struct http_server *srv, const struct http_route *routes, size_t n, void *ctx,
                    struct inferd_err *err)
{
    if (srv->n_routes + n > HTTP_MAX_ROUTES)
        return inferd_err_set(err, INFERD_ETOOLARGE, "http: more than %d routes", HTTP_MAX_ROUTES);
    for (size_t i = 0; i < n; i++)
        srv->routes[srv->n_routes++] = (struct route_entry){&routes[i], ctx, NULL};
    return 0;
}

int http_add_sink_route(struct http_server *srv, const struct http_route *route, const struct http_body_sink *sink,
                        void *ctx, struct inferd_err *err)
{
    if (srv->n_routes + 1 > HTTP_MAX_ROUTES)
        return inferd_err_set(err, INFERD_ETOOLARGE, "http: more than %d routes", HTTP_MAX_ROUTES);
    srv->routes[srv->n_routes++] = (struct route_entry){route, ctx, sink};
    return 0;
}

int http_server_start(struct http_server *s, struct inferd_err *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
    const char *host = s->cfg.host ? s->cfg.host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return inferd_err_set(err, INFERD_EINVAL, "--host: '%s' is not an IPv4 address", host);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, /* first: it logs the rest */
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->cfg.threads,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.conn_timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.max_conns_per_client,
                                 MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                 MHD_OPTION_END);
    if (!s->daemon)
        return inferd_err_set(err, INFERD_EIO, "http: cannot listen on %s:%d (in use?)", host, s->cfg.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg.port;
    return 0;
}

int http_port(const struct http_server *s) { return s->port; }

void http_server_quiesce(struct http_server *s)
{
    /* Not MHD_quiesce_daemon: with epoll and a thread pool it races the workers' own
     * removal of the listen socket from their epoll sets (an open libmicrohttpd defect, seen
     * here as a rare MHD_PANIC and SIGABRT at shutdown, most often near the connection
     * limit). The socket stays open until MHD_stop_daemon; requests that begin from now on
     * are answered 503 "draining" with Retry-After by the access handler, and every answer
     * carries Connection: close. */
    atomic_store(&s->quiesced, 1);
}

long http_in_flight(const struct http_server *s) { return atomic_load(&s->in_flight); }

int http_server_cut(struct http_server *s, int timeout_ms)
{
    atomic_store(&s->cutting, 1); /* before reading n_suspended: see hold_begin */
    hangup_watch_fire_all(s->watch);
    uint64_t until = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int n;
    while ((n = atomic_load(&s->n_suspended)) > 0 && clock_now_ns() < until) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return n;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    if (s->daemon) {
        /* MHD aborts when stopped with suspended connections: cut what still waits. */
        int left = http_server_cut(s, 5000);
        if (left > 0)
            log_json(LOG_ERROR, "requests still waiting at shutdown", json_pack("{s:i}", "count", left));
        MHD_stop_daemon(s->daemon);
    }
    hangup_watch_free(s->watch);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}
