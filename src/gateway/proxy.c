/* proxy.c — a client request through the gateway: the routes of every inference protocol,
 * the choice of a channel per attempt, retries onto other channels within the retry budget,
 * hedging, streaming with fail-over before the first byte, and what is recorded of it.
 *
 * A request is a struct gw_call. The HTTP thread parses just enough (model, stream flag),
 * checks the key and hands the call to the loop thread (HTTP_ASYNC: the connection waits
 * suspended, no thread waits). On the loop, each attempt is a transfer (loop.h) to one
 * channel. A plain answer is buffered whole, so any failure before its end can still be
 * retried elsewhere; a stream is committed at its first body byte (the client gets a
 * streaming response fed from call->out) and from then on stays on that channel.
 *
 *   HTTP thread                   loop thread
 *   handler: parse, admit  --->   call_start: pick, attempt
 *                                 on_done: ok -> respond   | retryable -> backoff, next channel
 *   stream read: take out  <---   on_data (stream): append to out, wake the connection
 *   on_done hook: drop ref        (every path ends in call_end: record, drop ref)
 */
#include "gateway/gw_int.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/json_write.h"
#include "base/log.h"
#include "base/rng.h"
#include "client/backoff.h"
#include "gateway/store.h"
#include "observe/otlp.h"
#include "observe/trace.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_STREAM_HIGH (1u << 20) /* stream bytes unread by the client: pause upstream above */
#define CALL_MODEL_MAX 256

enum call_kind {
    K_V2_INFER, K_V2_META, K_V2_GENERATE, K_V2_GENERATE_STREAM, K_PREDICT, K_TFS_PREDICT, K_TFS_META,
    K_OAI_CHAT, K_OAI_COMPL, K_OAI_EMB, K_OLLAMA_CHAT, K_OLLAMA_GEN, K_OLLAMA_EMBED, K_OLLAMA_SHOW
};

struct gw_call;

struct attempt {
    struct gw_call *call;
    struct gw_chan *ch;            /* reference */
    struct gw_xfer *x;             /* NULL once done */
    char url[GW_URL_MAX + 512];
    char auth[600];
    char *body;                    /* rewritten request body (owned) or NULL: call->body */
    size_t body_len;
    char span_id[TRACE_SPAN_HEX + 1]; /* this attempt's span: the parent the upstream logs */
    const char *hdrs[8];           /* Content-Type, IHCL, Authorization, X-Request-Id,
                                      traceparent, tracestate, NULL */
    struct buf resp;               /* buffered answer (plain requests) */
    long status;
    char content_type[128], retry_after[128], ihcl[32];
    uint64_t start_ns;
    const char *fail_kind;         /* the transport error of a failed attempt, NULL */
    bool hedge;
};

struct gw_call {
    struct gw *g;
    atomic_int refs;               /* HTTP side + loop side + posted closures */
    pthread_mutex_t mu;            /* out, eof, abort, http_alive, paused, resume_posted */
    struct http_req *r;            /* valid while http_alive */
    bool http_alive;
    struct buf out;                /* committed stream bytes the client has not read */
    bool eof, abort, paused, resume_posted;
    /* fixed before the loop sees the call */
    enum call_kind kind;
    enum gw_api api;
    char model[CALL_MODEL_MAX + 1];
    char version[24];
    char *body;                    /* the request body (owned copy) */
    size_t body_len;
    json_t *json;                  /* the body parsed (OpenAI, predict), owned; NULL otherwise */
    bool stream;
    char ctype_in[128];
    char ihcl_in[32];
    char req_id[ACCESS_LOG_ID_MAX + 1];
    char trace_id[TRACE_ID_HEX + 1];     /* the client request's trace (http_req_trace_id) */
    char span_id[TRACE_SPAN_HEX + 1];    /* the client request's span: the attempts' parent */
    char tracestate[TRACESTATE_MAX + 1]; /* forwarded verbatim; "" for none */
    uint8_t trace_flags;
    char key_id[65];
    uint64_t start_ns;
    /* loop thread only */
    struct attempt *att[GW_MAX_ATTEMPTS];
    int natt, nrunning;
    struct gw_chan *tried[GW_MAX_ATTEMPTS];
    int ntried;
    struct attempt *committed;
    bool answered;                 /* a response was set (or the client left) */
    bool ended;                    /* call_end ran */
    struct gw_timer *retry_timer, *hedge_timer;
    /* what is recorded (written on the loop, read by the access log after the answer) */
    struct buf log;                /* JSON array of attempts */
    char channel[GW_ID_MAX + 1];
    const char *error_kind;
    int status;
    bool busy;
    double ttft_ms;
    int64_t tokens;
    struct gw_call *next_live, *prev_live; /* the loop's list of calls (shutdown cuts them) */
    /* what the access log reads (under mu): a copy made before each answer or stream end */
    char *sealed_log;
    char sealed_channel[GW_ID_MAX + 1];
};

static void call_unref(struct gw_call *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (int i = 0; i < c->natt; i++) {
        struct attempt *a = c->att[i];
        gw_chan_unref(c->g, a->ch); /* the reference gw_pick took */
        buf_free(&a->resp);
        free(a->body);
        free(a);
    }
    buf_free(&c->out);
    buf_free(&c->log);
    free(c->sealed_log);
    free(c->body);
    json_decref(c->json);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- the loop's list of live calls (shutdown cuts them); loop thread only ---- */

static void live_add(struct gw_call *c)
{
    c->next_live = c->g->live_calls;
    if (c->next_live)
        c->next_live->prev_live = c;
    c->g->live_calls = c;
}

static void live_remove(struct gw_call *c)
{
    if (c->prev_live)
        c->prev_live->next_live = c->next_live;
    else if (c->g->live_calls == c)
        c->g->live_calls = c->next_live;
    if (c->next_live)
        c->next_live->prev_live = c->prev_live;
    c->next_live = c->prev_live = NULL;
}

/* ---- answers written by the gateway itself, in the protocol's error shape ---- */

static void answer_error(struct gw_call *c, int status, const char *kind, const char *msg)
{
    struct http_req *r = c->r;
    if (c->api == GW_API_OPENAI) {
        json_t *e = json_pack("{s:{s:s,s:s,s:s}}", "error", "message", msg, "type",
                              status == 429 ? "rate_limit_error" : status >= 500 ? "server_error"
                                                                                  : "invalid_request_error",
                              "code", kind);
        http_resp_json(r, status, e);
    } else if (c->kind == K_PREDICT) {
        http_resp_json(r, status, json_pack("{s:s,s:s}", "status", "error", "error", msg));
    } else {
        http_resp_json(r, status, json_pack("{s:s}", "error", msg));
    }
}

/* ---- recording ---- */

static void log_attempt(struct gw_call *c, struct attempt *a, const char *outcome, double ms)
{
    if (!c->log.len)
        buf_putc(&c->log, '[');
    else
        buf_putc(&c->log, ',');
    buf_puts(&c->log, "{\"channel\":");
    json_write_str(&c->log, a->ch->id);
    buf_printf(&c->log, ",\"status\":%ld,\"result\":", a->status);
    json_write_str(&c->log, outcome);
    buf_printf(&c->log, ",\"ms\":%.1f%s,\"span_id\":\"%s\"}", ms, a->hedge ? ",\"hedge\":true" : "",
               a->span_id);
    if (c->g->otlp) { /* the attempt as a client span, child of the client request's span */
        struct otlp_span sp = {.kind = OTLP_KIND_CLIENT, .http_status = (int)a->status};
        memcpy(sp.trace_id, c->trace_id, sizeof sp.trace_id);
        memcpy(sp.span_id, a->span_id, sizeof sp.span_id);
        memcpy(sp.parent_span_id, c->span_id, sizeof sp.parent_span_id);
        snprintf(sp.name, sizeof sp.name, "upstream %s", a->hedge ? "hedge" : "attempt");
        sp.start_ns = otlp_wall_ns(a->start_ns);
        sp.end_ns = sp.start_ns + (uint64_t)(ms > 0 ? ms * 1e6 : 0);
        snprintf(sp.method, sizeof sp.method, "%s", c->kind == K_V2_META || c->kind == K_TFS_META ? "GET" : "POST");
        snprintf(sp.model, sizeof sp.model, "%s", c->model);
        snprintf(sp.peer, sizeof sp.peer, "%s", a->ch->id);
        snprintf(sp.request_id, sizeof sp.request_id, "%s", c->req_id);
        otlp_export(c->g->otlp, &sp);
    }
}

/* Copies the attempts so far for the access log, which reads them on an HTTP thread once
 * the answer is out. Call before http_req_finish and before a stream's end. */
static void seal(struct gw_call *c)
{
    char *copy = malloc(c->log.len + 2);
    if (copy) {
        memcpy(copy, c->log.data ? c->log.data : "", c->log.len);
        copy[c->log.len] = ']';
        copy[c->log.len + 1] = '\0';
        if (!c->log.len)
            copy[0] = '\0';
    }
    pthread_mutex_lock(&c->mu);
    free(c->sealed_log);
    c->sealed_log = copy;
    memcpy(c->sealed_channel, c->channel, sizeof c->channel);
    pthread_mutex_unlock(&c->mu);
}

/* The loop side is over: every attempt ended and the answer (or a stream) was given. */
static void call_end(struct gw_call *c)
{
    if (c->ended || c->nrunning > 0 || !c->answered)
        return;
    struct gw *g = c->g;
    if (c->committed) {
        pthread_mutex_lock(&c->mu);
        bool open = !c->eof;
        pthread_mutex_unlock(&c->mu);
        if (open)
            return; /* the stream's own on_done ends it */
    }
    c->ended = true;
    gw_timer_cancel(c->retry_timer);
    gw_timer_cancel(c->hedge_timer);
    live_remove(c);
    char code[8];
    snprintf(code, sizeof code, "%d", c->status);
    metrics_add(metrics_series_get(g->m.requests, (const char *[]){c->channel[0] ? c->model : "_none", code}), 1);
    metrics_observe(metrics_series_get(g->m.duration, (const char *[]){c->channel[0] ? c->model : "_none"}),
                    (double)(clock_now_ns() - c->start_ns) / 1e9);
    struct gw_request_row row = {
        .request_id = c->req_id,
        .key_id = c->key_id,
        .model = c->model,
        .route = c->api == GW_API_OPENAI   ? "openai"
                 : c->api == GW_API_OLLAMA ? "ollama"
                 : c->kind == K_PREDICT    ? "predict"
                                           : "v2",
        .channel_id = c->channel,
        .error = c->error_kind ? c->error_kind : "",
        .status = c->status,
        .attempts = c->natt,
        .busy = c->busy,
        .latency_ms = (double)(clock_now_ns() - c->start_ns) / 1e6,
        .ttft_ms = c->ttft_ms,
        .tokens = c->tokens,
    };
    gw_store_log_request(g->store, &row);
    if (c->key_id[0])
        gw_keys_charge(g, c->key_id, c->tokens);
    atomic_fetch_sub(&g->in_flight, 1);
    call_unref(c); /* the loop's reference */
}

/* ---- the stream to the client (MHD threads) ---- */

static void call_resume(void *arg);

static ssize_t stream_read(void *ctx, char *dst, size_t cap)
{
    struct gw_call *c = ctx;
    ssize_t n = 0;
    bool post_resume = false;
    pthread_mutex_lock(&c->mu);
    if (c->out.len) {
        size_t k = c->out.len < cap ? c->out.len : cap;
        memcpy(dst, c->out.data, k);
        memmove(c->out.data, c->out.data + k, c->out.len - k);
        buf_truncate(&c->out, c->out.len - k);
        n = (ssize_t)k;
        if (c->paused && c->out.len < CALL_STREAM_HIGH / 2 && !c->resume_posted)
            post_resume = c->resume_posted = true;
    } else if (c->eof) {
        n = c->abort ? HTTP_STREAM_ABORT : -1;
    }
    pthread_mutex_unlock(&c->mu);
    if (post_resume) {
        atomic_fetch_add(&c->refs, 1);
        if (gw_loop_post(c->g->loop, call_resume, c) < 0)
            call_unref(c);
    }
    return n;
}

static void call_resume(void *arg)
{
    struct gw_call *c = arg;
    pthread_mutex_lock(&c->mu);
    c->resume_posted = false;
    bool was = c->paused;
    c->paused = false;
    pthread_mutex_unlock(&c->mu);
    if (was && c->committed && c->committed->x)
        gw_xfer_resume(c->committed->x);
    call_unref(c);
}

static void wake_client(struct gw_call *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->http_alive)
        http_req_wake(c->r);
    pthread_mutex_unlock(&c->mu);
}

/* ---- attempts ---- */

static void start_attempt(struct gw_call *c, bool hedge);
static void finish_with(struct gw_call *c, struct attempt *a);

/* Cancels every running attempt but keep. A loser that started before the winner and
 * still had not answered at all counts against its channel as "slow": a hung channel
 * loses every hedge and is ejected by the consecutive-failure rule, while a healthy one
 * loses now and then and never five times in a row. A hedge that started later and lost
 * is no mark against its channel. Cancelled for other reasons (the
 * client left, shutdown: keep NULL), only its outstanding count changes. */
static void cancel_others(struct gw_call *c, struct attempt *keep)
{
    for (int i = 0; i < c->natt; i++) {
        struct attempt *a = c->att[i];
        if (a == keep || !a->x)
            continue;
        gw_xfer_cancel(a->x);
        a->x = NULL;
        c->nrunning--;
        double ms = (double)(clock_now_ns() - a->start_ns) / 1e6;
        if (keep && a->status == 0 && a->start_ns < keep->start_ns) {
            struct gw_outcome o = {.model = c->model, .ok = false, .kind = "slow", .ms = ms};
            gw_outcome(c->g, a->ch, &o);
        } else {
            pthread_mutex_lock(&c->g->mu);
            a->ch->outstanding--;
            pthread_mutex_unlock(&c->g->mu);
        }
        log_attempt(c, a, "cancelled", ms);
    }
}

static void on_head(void *ctx, struct gw_xfer *x, const struct gw_head *h)
{
    (void)x;
    struct attempt *a = ctx;
    a->status = h->status;
    snprintf(a->content_type, sizeof a->content_type, "%s", h->content_type);
    snprintf(a->retry_after, sizeof a->retry_after, "%s", h->retry_after);
    snprintf(a->ihcl, sizeof a->ihcl, "%s", h->infer_header_len);
}

static bool is_stream_type(const char *ct)
{
    return strncmp(ct, "text/event-stream", 17) == 0 || strncmp(ct, "application/x-ndjson", 20) == 0;
}

/* The first byte of a 2xx stream: the client gets a streaming answer from this attempt. */
static void commit_stream(struct gw_call *c, struct attempt *a)
{
    c->committed = a;
    cancel_others(c, a);
    gw_timer_cancel(c->retry_timer);
    gw_timer_cancel(c->hedge_timer);
    c->retry_timer = c->hedge_timer = NULL;
    snprintf(c->channel, sizeof c->channel, "%s", a->ch->id);
    c->status = (int)a->status;
    c->ttft_ms = (double)(clock_now_ns() - c->start_ns) / 1e6;
    c->answered = true;
    http_resp_header(c->r, "X-Inferd-Channel", a->ch->id);
    http_resp_stream(c->r, (int)a->status, a->content_type[0] ? a->content_type : "text/event-stream",
                     stream_read, c, NULL);
    seal(c);
    http_req_finish(c->r);
}

static int on_data(void *ctx, struct gw_xfer *x, const char *p, size_t n)
{
    (void)x;
    struct attempt *a = ctx;
    struct gw_call *c = a->call;
    if (!c->committed && a->status >= 200 && a->status < 300 && (c->stream || is_stream_type(a->content_type)) &&
        !c->answered)
        commit_stream(c, a);
    if (c->committed == a) {
        /* count SSE data events as a rough token count */
        for (size_t i = 0; i + 5 < n; i++)
            if (p[i] == 'd' && (i == 0 || p[i - 1] == '\n') && memcmp(p + i, "data:", 5) == 0)
                c->tokens++;
        pthread_mutex_lock(&c->mu);
        buf_put(&c->out, p, n);
        int failed = buf_rc(&c->out);
        bool pause = c->out.len >= CALL_STREAM_HIGH;
        if (pause)
            c->paused = true;
        pthread_mutex_unlock(&c->mu);
        wake_client(c);
        return failed ? -1 : pause ? 1 : 0;
    }
    buf_put(&a->resp, p, n);
    return buf_rc(&a->resp) ? -1 : 0;
}

/* Which error kind an attempt's end is; NULL for a usable answer. */
static const char *attempt_error(const struct attempt *a, const struct gw_done *d)
{
    if (d->failed)
        return d->kind;
    if (a->status == 429)
        return "429";
    if (a->status == 404)
        return "404";
    if (a->status >= 500)
        return "5xx";
    return NULL;
}

static void retry_fire(void *arg)
{
    struct gw_call *c = arg;
    c->retry_timer = NULL;
    if (!c->answered)
        start_attempt(c, false);
    call_end(c);
}

static void on_done(void *ctx, struct gw_xfer *x, const struct gw_done *d)
{
    (void)x;
    struct attempt *a = ctx;
    struct gw_call *c = a->call;
    struct gw *g = c->g;
    a->x = NULL;
    c->nrunning--;
    a->fail_kind = d->failed ? d->kind : NULL;
    const char *errk = attempt_error(a, d);
    double ms = d->total_ms;
    /* the channel's view: a 404 for a model it should serve is not its failure, and a
     * 4xx is the client's fault */
    struct gw_outcome o = {.model = c->model, .ok = !errk || strcmp(errk, "404") == 0, .busy = a->status == 429 || a->status == 503,
                           .kind = errk ? errk : "", .status = (int)a->status,
                           .ms = c->committed == a || c->stream ? d->first_byte_ms : ms};
    if (c->committed == a) {
        o.ttft_ms = d->first_byte_ms;
        double gen_s = (d->total_ms - d->first_byte_ms) / 1e3;
        o.tps = gen_s > 0 && c->tokens > 1 ? (double)(c->tokens - 1) / gen_s : 0;
    }
    if (a->status == 429 || a->status == 503)
        c->busy = true;
    gw_outcome(g, a->ch, &o);
    char code[16];
    snprintf(code, sizeof code, "%ld", d->failed ? 0L : a->status);
    metrics_add(metrics_series_get(g->m.ch_requests, (const char *[]){a->ch->id, d->failed ? d->kind : code}), 1);
    if (errk)
        metrics_add(metrics_series_get(g->m.ch_errors, (const char *[]){a->ch->id, errk}), 1);
    else
        metrics_observe(a->ch->m_lat, o.ms / 1e3);
    log_attempt(c, a, errk ? (d->failed ? d->msg : errk) : "ok", ms);
    if (c->committed == a) {
        seal(c);
        pthread_mutex_lock(&c->mu);
        c->eof = true;
        c->abort = d->failed;
        pthread_mutex_unlock(&c->mu);
        if (d->failed)
            c->error_kind = "stream_broken";
        wake_client(c);
        call_end(c);
        return;
    }
    if (c->answered) { /* a hedge partner already answered, or the client left */
        call_end(c);
        return;
    }
    if (!errk || (!d->failed && a->status < 500 && a->status != 429 && a->status != 404)) {
        finish_with(c, a);
        call_end(c);
        return;
    }
    /* retryable: another channel, if the budget allows and one is left */
    if (c->nrunning > 0) { /* a hedge is still running: let it answer */
        call_end(c);
        return;
    }
    if (c->natt < g->o.max_attempts && c->natt < GW_MAX_ATTEMPTS && gw_budget_retry(g)) {
        metrics_add(metrics_series_get(g->m.retries, (const char *[]){c->model}), 1);
        /* the first retry goes at once (another channel); later ones back off */
        double delay = c->natt <= 1 ? 0 : backoff_delay(0.025, 0.5, c->natt - 2, rng_unit(&g->loop_rng));
        if (delay <= 0) {
            start_attempt(c, false);
        } else {
            c->retry_timer = gw_timer_at(g->loop, clock_now_ns() + (uint64_t)(delay * 1e9), retry_fire, c);
            if (!c->retry_timer)
                start_attempt(c, false);
        }
        call_end(c);
        return;
    }
    if (c->natt < g->o.max_attempts)
        c->error_kind = "retry_budget";
    finish_with(c, a);
    call_end(c);
}

static const struct gw_xfer_cb attempt_cb = {on_head, on_data, on_done};

/* Answers the client with attempt a's result (a may have failed at transport level). */
static void finish_with(struct gw_call *c, struct attempt *a)
{
    c->answered = true;
    cancel_others(c, a);
    snprintf(c->channel, sizeof c->channel, "%s", a->ch->id);
    if (a->status == 0) {
        /* no answer at all: 504 for timeouts, 502 otherwise */
        bool to = a->fail_kind && strcmp(a->fail_kind, "timeout") == 0;
        c->status = to ? 504 : 502;
        if (!c->error_kind)
            c->error_kind = to ? "timeout" : "upstream_unreachable";
        char msg[400];
        snprintf(msg, sizeof msg, "model \"%s\": no channel answered after %d attempt(s)", c->model, c->natt);
        answer_error(c, c->status, c->error_kind, msg);
    } else {
        c->status = (int)a->status;
        if (a->status >= 500 && !c->error_kind)
            c->error_kind = "upstream_5xx";
        else if (a->status == 429 && !c->error_kind)
            c->error_kind = "upstream_busy";
        if (c->api == GW_API_OPENAI && a->status >= 200 && a->status < 300) {
            json_t *j = json_loadb(a->resp.data ? a->resp.data : "", a->resp.len, 0, NULL);
            json_t *u = json_object_get(j, "usage");
            json_t *t = json_object_get(u, "total_tokens");
            if (json_is_integer(t))
                c->tokens = json_integer_value(t);
            json_decref(j);
        }
        size_t len = 0;
        char *body = buf_take(&a->resp, &len);
        http_resp_take(c->r, (int)a->status, a->content_type[0] ? a->content_type : "application/json",
                       body ? body : strdup(""), body ? len : 0);
        if (a->ihcl[0])
            http_resp_header(c->r, "Inference-Header-Content-Length", a->ihcl);
        if (a->retry_after[0])
            http_resp_header(c->r, "Retry-After", a->retry_after);
    }
    http_resp_header(c->r, "X-Inferd-Channel", a->ch->id);
    seal(c);
    http_req_finish(c->r);
}

/* ' ' .. '~' minus the reserved characters of a path segment are percent-encoded. */
static void put_segment(struct buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch))
            buf_putc(b, (char)ch);
        else
            buf_printf(b, "%%%02X", ch);
    }
}

static void build_url(struct gw_call *c, struct attempt *a, const char *up)
{
    struct buf b;
    buf_init(&b, sizeof a->url - 1);
    buf_puts(&b, a->ch->base_url);
    switch (c->kind) {
    case K_V2_INFER:
    case K_V2_META:
    case K_V2_GENERATE:
    case K_V2_GENERATE_STREAM:
        buf_puts(&b, "/v2/models/");
        put_segment(&b, up);
        if (c->version[0]) {
            buf_puts(&b, "/versions/");
            put_segment(&b, c->version);
        }
        if (c->kind == K_V2_INFER)
            buf_puts(&b, "/infer");
        else if (c->kind == K_V2_GENERATE)
            buf_puts(&b, "/generate");
        else if (c->kind == K_V2_GENERATE_STREAM)
            buf_puts(&b, "/generate_stream");
        break;
    case K_TFS_PREDICT:
    case K_TFS_META:
        buf_puts(&b, "/v1/models/");
        put_segment(&b, up);
        if (c->kind == K_TFS_PREDICT)
            buf_puts(&b, ":predict");
        break;
    case K_PREDICT: buf_puts(&b, "/predict"); break;
    case K_OAI_CHAT: buf_puts(&b, "/v1/chat/completions"); break;
    case K_OAI_COMPL: buf_puts(&b, "/v1/completions"); break;
    case K_OAI_EMB: buf_puts(&b, "/v1/embeddings"); break;
    case K_OLLAMA_CHAT: buf_puts(&b, "/api/chat"); break;
    case K_OLLAMA_GEN: buf_puts(&b, "/api/generate"); break;
    case K_OLLAMA_EMBED: buf_puts(&b, "/api/embed"); break;
    case K_OLLAMA_SHOW: buf_puts(&b, "/api/show"); break;
    }
    snprintf(a->url, sizeof a->url, "%s", buf_rc(&b) ? a->ch->base_url : buf_str(&b));
    buf_free(&b);
    /* bodies naming the model get the channel's name for it */
    if (c->json && strcmp(up, c->model) != 0) {
        json_t *copy = json_copy(c->json);
        json_object_set_new(copy, "model", json_string(up));
        a->body = json_dumps(copy, JSON_COMPACT);
        a->body_len = a->body ? strlen(a->body) : 0;
        json_decref(copy);
    }
}

/* A plain request waits for its first byte at most 5 x the model's p95 (at least 1 s, at
 * most the cap), so a hung channel is left quickly. A stream waits the cap: its first byte
 * may sit behind a busy server's queue, which is no fault of the channel. */
static long first_byte_timeout(struct gw_call *c)
{
    struct gw *g = c->g;
    long cap = g->o.first_byte_timeout_ms;
    if (g->o.upstream_timeout_ms < cap && !c->stream)
        cap = g->o.upstream_timeout_ms;
    if (c->stream)
        return cap;
    double p95 = gw_model_p95(g, c->model);
    if (p95 <= 0)
        return cap;
    long t = (long)(5 * p95);
    if (t < 1000)
        t = 1000;
    return t < cap ? t : cap;
}

static void hedge_fire(void *arg)
{
    struct gw_call *c = arg;
    c->hedge_timer = NULL;
    if (c->answered || c->nrunning == 0 || c->natt >= GW_MAX_ATTEMPTS || c->natt >= c->g->o.max_attempts + 1)
        return;
    if (!gw_budget_retry(c->g))
        return;
    metrics_add(metrics_series_get(c->g->m.hedges, (const char *[]){c->model}), 1);
    start_attempt(c, true);
}

static bool hedged_model(const struct gw *g, const char *model)
{
    const char *h = g->o.hedge_models;
    size_t n = strlen(model);
    while (h && *h) {
        const char *e = strchr(h, ',');
        size_t k = e ? (size_t)(e - h) : strlen(h);
        if (k == n && strncmp(h, model, n) == 0)
            return true;
        h = e ? e + 1 : NULL;
    }
    return false;
}

static void start_attempt(struct gw_call *c, bool hedge)
{
    struct gw *g = c->g;
    const char *up = NULL, *why = "no_channel";
    struct gw_chan *ch = gw_pick(g, c->model, c->api, c->tried, (size_t)c->ntried, &up, &why);
    if (!ch) {
        if (c->nrunning > 0)
            return; /* a hedge found nothing extra: the first attempt goes on */
        /* nothing (more) to try: the last attempt's answer, else an error of our own */
        struct attempt *last = c->natt ? c->att[c->natt - 1] : NULL;
        if (last) {
            finish_with(c, last);
            return;
        }
        c->answered = true;
        char msg[400];
        if (strcmp(why, "no_channel") == 0) {
            c->status = 404;
            c->error_kind = "no_channel";
            snprintf(msg, sizeof msg, "model \"%s\": no channel serves it (GET /v1/models or POST "
                     "/v2/repository/index lists the models this gateway routes)", c->model);
        } else {
            c->status = 503;
            c->error_kind = "no_healthy_channel";
            snprintf(msg, sizeof msg, "model \"%s\": every channel serving it is ejected or failing; "
                     "retry later", c->model);
            http_resp_header(c->r, "Retry-After", "1");
        }
        answer_error(c, c->status, c->error_kind, msg);
        seal(c);
        http_req_finish(c->r);
        return;
    }
    struct attempt *a = calloc(1, sizeof *a);
    if (!a) {
        pthread_mutex_lock(&g->mu);
        ch->outstanding--;
        pthread_mutex_unlock(&g->mu);
        gw_chan_unref(g, ch);
        return;
    }
    a->call = c;
    a->ch = ch; /* the reference gw_pick took; dropped when the call is freed */
    a->hedge = hedge;
    buf_init(&a->resp, g->o.max_body_bytes);
    c->att[c->natt++] = a;
    c->tried[c->ntried++] = ch;
    build_url(c, a, up);
    size_t nh = 0;
    char ct[160], ihcl[80], rid[200], tparent[32 + TRACEPARENT_LEN], tstate[32 + TRACESTATE_MAX];
    snprintf(ct, sizeof ct, "Content-Type: %s", c->ctype_in[0] ? c->ctype_in : "application/json");
    a->hdrs[nh++] = ct;
    if (c->ihcl_in[0]) {
        snprintf(ihcl, sizeof ihcl, "Inference-Header-Content-Length: %s", c->ihcl_in);
        a->hdrs[nh++] = ihcl;
    }
    if (ch->api_key) {
        snprintf(a->auth, sizeof a->auth, "Authorization: Bearer %s", ch->api_key);
        a->hdrs[nh++] = a->auth;
    }
    snprintf(rid, sizeof rid, "X-Request-Id: %s", c->req_id);
    a->hdrs[nh++] = rid;
    /* Each attempt (retry, hedge) is a span of its own in the client's trace: the upstream
     * logs it as its parent_span_id, the attempts array of our access log names it. */
    char tp[TRACEPARENT_LEN + 1];
    trace_new_id(a->span_id, TRACE_SPAN_HEX / 2);
    trace_format_traceparent(tp, c->trace_id, a->span_id, c->trace_flags);
    snprintf(tparent, sizeof tparent, "traceparent: %s", tp);
    a->hdrs[nh++] = tparent;
    if (c->tracestate[0]) {
        snprintf(tstate, sizeof tstate, "tracestate: %s", c->tracestate);
        a->hdrs[nh++] = tstate;
    }
    assert(nh < sizeof a->hdrs / sizeof a->hdrs[0]);
    a->hdrs[nh] = NULL;
    bool get = c->kind == K_V2_META || c->kind == K_TFS_META;
    struct gw_xfer_req req = {
        .method = get ? "GET" : "POST",
        .url = a->url,
        .body = get ? NULL : a->body ? a->body : c->body,
        .body_len = a->body ? a->body_len : c->body_len,
        .headers = a->hdrs,
        .connect_timeout_ms = g->o.connect_timeout_ms,
        .first_byte_timeout_ms = first_byte_timeout(c),
        .total_timeout_ms = c->stream ? 0 : g->o.upstream_timeout_ms,
    };
    a->start_ns = clock_now_ns();
    struct inferd_err err = {0};
    a->x = gw_xfer_start(g->loop, &req, &attempt_cb, a, &err); /* copies the headers */
    if (!a->x) {
        struct gw_outcome o = {.model = c->model, .ok = false, .kind = "error"};
        gw_outcome(g, ch, &o);
        log_attempt(c, a, err.msg, 0);
        if (!c->answered && c->nrunning == 0) {
            c->answered = true;
            c->status = 500;
            c->error_kind = "internal";
            answer_error(c, 500, "internal", err.msg);
            seal(c);
            http_req_finish(c->r);
        }
        return;
    }
    c->nrunning++;
    if (!hedge && !c->stream && c->natt == 1 && hedged_model(g, c->model)) {
        double p95 = gw_model_p95(g, c->model);
        if (p95 > 0)
            c->hedge_timer = gw_timer_at(g->loop, a->start_ns + (uint64_t)(p95 * 1e6), hedge_fire, c);
    }
}

static void call_start(void *arg)
{
    struct gw_call *c = arg;
    live_add(c);
    pthread_mutex_lock(&c->mu);
    bool alive = c->http_alive;
    pthread_mutex_unlock(&c->mu);
    if (!alive) { /* the client left before the loop saw the call */
        c->answered = true;
        call_end(c);
        return;
    }
    gw_budget_request(c->g);
    start_attempt(c, false);
    call_end(c);
}

/* The client went away (hang-up watcher thread): stop the attempts on the loop. */
static void call_cancel(void *arg)
{
    struct gw_call *c = arg;
    if (!c->ended) {
        cancel_others(c, NULL);
        gw_timer_cancel(c->retry_timer);
        gw_timer_cancel(c->hedge_timer);
        c->retry_timer = c->hedge_timer = NULL;
        if (c->committed) {
            pthread_mutex_lock(&c->mu);
            c->eof = c->abort = true;
            pthread_mutex_unlock(&c->mu);
            wake_client(c);
        } else if (!c->answered) {
            c->answered = true;
            c->status = 499;
            c->error_kind = "client_gone";
            answer_error(c, 499, "client_gone", "the client closed the connection");
            seal(c);
            http_req_finish(c->r);
        }
        call_end(c);
    }
    call_unref(c);
}

static void on_hangup(void *arg)
{
    struct gw_call *c = arg;
    atomic_fetch_add(&c->refs, 1);
    if (gw_loop_post(c->g->loop, call_cancel, c) < 0)
        call_unref(c);
}

static void on_http_done(void *arg)
{
    struct gw_call *c = arg;
    pthread_mutex_lock(&c->mu);
    c->http_alive = false;
    c->r = NULL;
    bool open = c->committed && !c->eof;
    pthread_mutex_unlock(&c->mu);
    if (open) { /* the client left mid-stream: stop the upstream */
        atomic_fetch_add(&c->refs, 1);
        if (gw_loop_post(c->g->loop, call_cancel, c) < 0)
            call_unref(c);
    }
    call_unref(c); /* the HTTP side's reference */
}

void gw_proxy_cut_all(struct gw *g)
{
    while (g->live_calls) {
        struct gw_call *c = g->live_calls;
        atomic_fetch_add(&c->refs, 1);
        live_remove(c);
        call_cancel(c);
    }
}

/* ---- the routes (HTTP threads) ---- */

static void reply_early(struct http_req *r, enum gw_api api, enum call_kind kind, int status, const char *code,
                        const char *msg)
{
    struct gw_call tmp = {.r = r, .api = api, .kind = kind};
    answer_error(&tmp, status, code, msg);
}

static int submit(struct http_req *r, struct gw *g, enum call_kind kind, enum gw_api api, const char *model,
                  json_t *json)
{
    if (atomic_load(&g->draining)) {
        json_decref(json);
        http_resp_header(r, "Retry-After", "1");
        reply_early(r, api, kind, 503, "draining", "the gateway is shutting down");
        return HTTP_DONE;
    }
    char key_id[65] = "";
    double retry_after = 0;
    struct inferd_err err = {0};
    int rc = gw_keys_admit(g, http_req_header(r, "Authorization"), key_id, &retry_after, &err);
    if (rc < 0) {
        json_decref(json);
        if (rc == INFERD_EBUSY) {
            char ra[32];
            snprintf(ra, sizeof ra, "%.0f", retry_after < 1 ? 1 : retry_after);
            http_resp_header(r, "Retry-After", ra);
            metrics_add(metrics_series_get(g->m.rate_limited, (const char *[]){key_id}), 1);
            reply_early(r, api, kind, 429, "rate_limited", err.msg);
        } else {
            http_resp_header(r, "WWW-Authenticate", "Bearer");
            reply_early(r, api, kind, 401, "unauthorized", err.msg);
        }
        return HTTP_DONE;
    }
    if (strlen(model) > CALL_MODEL_MAX) {
        json_decref(json);
        reply_early(r, api, kind, 400, "invalid_model", "model: longer than 256 bytes");
        return HTTP_DONE;
    }
    struct gw_call *c = calloc(1, sizeof *c);
    size_t blen = 0;
    const char *body = http_req_body(r, &blen);
    char *copy = malloc(blen + 1);
    if (!c || !copy) {
        free(c);
        free(copy);
        json_decref(json);
        reply_early(r, api, kind, 503, "out_of_memory", "the gateway is out of memory");
        return HTTP_DONE;
    }
    memcpy(copy, body, blen);
    copy[blen] = '\0';
    c->g = g;
    atomic_init(&c->refs, 2);
    pthread_mutex_init(&c->mu, NULL);
    c->r = r;
    c->http_alive = true;
    buf_init(&c->out, 64u << 20);
    buf_init(&c->log, 8192);
    c->kind = kind;
    c->api = api;
    snprintf(c->model, sizeof c->model, "%s", model);
    const char *v = http_req_capture(r, "v");
    snprintf(c->version, sizeof c->version, "%s", v ? v : "");
    c->body = copy;
    c->body_len = blen;
    c->json = json;
    json_t *st = json_object_get(json, "stream");
    /* Ollama streams unless told not to; OpenAI only when asked */
    c->stream = kind == K_V2_GENERATE_STREAM || (api == GW_API_OLLAMA ? !json_is_false(st) : json_is_true(st));
    const char *ct = http_req_header(r, "Content-Type");
    snprintf(c->ctype_in, sizeof c->ctype_in, "%s", ct && !strpbrk(ct, "\r\n") ? ct : "");
    const char *ih = http_req_header(r, "Inference-Header-Content-Length");
    snprintf(c->ihcl_in, sizeof c->ihcl_in, "%s", ih && !strpbrk(ih, "\r\n") ? ih : "");
    snprintf(c->req_id, sizeof c->req_id, "%s", http_req_id(r));
    snprintf(c->trace_id, sizeof c->trace_id, "%s", http_req_trace_id(r));
    snprintf(c->span_id, sizeof c->span_id, "%s", http_req_span_id(r));
    snprintf(c->tracestate, sizeof c->tracestate, "%s", http_req_tracestate(r));
    c->trace_flags = http_req_trace_flags(r);
    snprintf(c->key_id, sizeof c->key_id, "%s", key_id);
    c->start_ns = clock_now_ns();
    http_req_set_model(r, model, c->version);
    http_req_set_user(r, c);
    http_req_on_done(r, on_http_done, c);
    http_req_on_hangup(r, on_hangup, c);
    atomic_fetch_add(&g->in_flight, 1);
    if (gw_loop_post(g->loop, call_start, c) < 0) {
        atomic_fetch_sub(&g->in_flight, 1);
        http_req_set_user(r, NULL);
        atomic_fetch_sub(&c->refs, 1); /* the loop never gets it */
        reply_early(r, api, kind, 503, "out_of_memory", "the gateway is out of memory");
        return HTTP_DONE;
    }
    return HTTP_ASYNC;
}

/* Bodies that name the model: parsed here for "model" (and "stream"). */
static int body_model(struct http_req *r, struct gw *g, enum call_kind kind, enum gw_api api)
{
    size_t len = 0;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    char msg[400];
    if (!j) {
        snprintf(msg, sizeof msg, "request body: invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        reply_early(r, api, kind, 400, "bad_json", msg);
        return HTTP_DONE;
    }
    json_t *m = json_object_get(j, "model");
    if (!json_is_string(m) || json_string_length(m) == 0) {
        json_decref(j);
        reply_early(r, api, kind, 400, "invalid_model", "model: required, the name of a model this gateway routes");
        return HTTP_DONE;
    }
    char model[CALL_MODEL_MAX + 2];
    snprintf(model, sizeof model, "%s", json_string_value(m));
    /* Ollama's "name:latest" is the model called name (the body keeps what was sent) */
    size_t ml = strlen(model);
    if (api == GW_API_OLLAMA && ml > 7 && strcmp(model + ml - 7, ":latest") == 0)
        model[ml - 7] = '\0';
    return submit(r, g, kind, api, model, j);
}

static int h_ollama_chat(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OLLAMA_CHAT, GW_API_OLLAMA);
}
static int h_ollama_gen(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OLLAMA_GEN, GW_API_OLLAMA);
}
static int h_ollama_embed(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OLLAMA_EMBED, GW_API_OLLAMA);
}

static int h_ollama_show(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OLLAMA_SHOW, GW_API_OLLAMA);
}

static int h_v2_infer(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_V2_INFER, GW_API_V2, http_req_capture(r, "m"), NULL);
}
/* Triton's generate extension: the model is in the path; the stream is in the URL */
static int h_v2_generate(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_V2_GENERATE, GW_API_V2, http_req_capture(r, "m"), NULL);
}
static int h_v2_generate_stream(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_V2_GENERATE_STREAM, GW_API_V2, http_req_capture(r, "m"), NULL);
}
static int h_v2_meta(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_V2_META, GW_API_V2, http_req_capture(r, "m"), NULL);
}
static int h_tfs_predict(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_TFS_PREDICT, GW_API_V2, http_req_capture(r, "m"), NULL);
}
static int h_tfs_meta(struct http_req *r, void *ctx)
{
    return submit(r, ctx, K_TFS_META, GW_API_V2, http_req_capture(r, "m"), NULL);
}
static int h_predict(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_PREDICT, GW_API_V2);
}
static int h_chat(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OAI_CHAT, GW_API_OPENAI);
}
static int h_compl(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OAI_COMPL, GW_API_OPENAI);
}
static int h_emb(struct http_req *r, void *ctx)
{
    return body_model(r, ctx, K_OAI_EMB, GW_API_OPENAI);
}

const struct http_route gw_routes_proxy[] = {
    {HTTP_POST, "/v2/models/{m}/infer", HTTP_AUTH_NONE, h_v2_infer, "v2_infer", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/infer", HTTP_AUTH_NONE, h_v2_infer, "v2_infer", NULL},
    {HTTP_GET, "/v2/models/{m}", HTTP_AUTH_NONE, h_v2_meta, "v2_model", NULL},
    {HTTP_GET, "/v2/models/{m}/versions/{v}", HTTP_AUTH_NONE, h_v2_meta, "v2_model", NULL},
    {HTTP_POST, "/v2/models/{m}/generate", HTTP_AUTH_NONE, h_v2_generate, "v2_generate", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/generate", HTTP_AUTH_NONE, h_v2_generate, "v2_generate", NULL},
    {HTTP_POST, "/v2/models/{m}/generate_stream", HTTP_AUTH_NONE, h_v2_generate_stream, "v2_generate_stream", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/generate_stream", HTTP_AUTH_NONE, h_v2_generate_stream,
     "v2_generate_stream", NULL},
    {HTTP_POST, "/predict", HTTP_AUTH_NONE, h_predict, "predict", NULL},
    {HTTP_POST, "/v1/models/{m}:predict", HTTP_AUTH_NONE, h_tfs_predict, "tfs_predict", NULL},
    {HTTP_GET, "/v1/models/{m}", HTTP_AUTH_NONE, h_tfs_meta, "tfs_model", NULL},
    {HTTP_POST, "/v1/chat/completions", HTTP_AUTH_NONE, h_chat, "openai_chat", NULL},
    {HTTP_POST, "/v1/completions", HTTP_AUTH_NONE, h_compl, "openai_completions", NULL},
    {HTTP_POST, "/v1/embeddings", HTTP_AUTH_NONE, h_emb, "openai_embeddings", NULL},
    {HTTP_POST, "/api/chat", HTTP_AUTH_NONE, h_ollama_chat, "ollama_chat", NULL},
    {HTTP_POST, "/api/generate", HTTP_AUTH_NONE, h_ollama_gen, "ollama_generate", NULL},
    {HTTP_POST, "/api/embed", HTTP_AUTH_NONE, h_ollama_embed, "ollama_embed", NULL},
    {HTTP_POST, "/api/show", HTTP_AUTH_NONE, h_ollama_show, "ollama_show", NULL},
};
const size_t gw_routes_proxy_count = sizeof gw_routes_proxy / sizeof gw_routes_proxy[0];

/* For the access log (gateway.c's on_complete): the call behind a request, or NULL. */
void gw_call_record(struct http_req *r, char *channel, size_t cap, char **attempts)
{
    struct gw_call *c = http_req_user(r);
    channel[0] = '\0';
    *attempts = NULL;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    snprintf(channel, cap, "%s", c->sealed_channel);
    if (c->sealed_log && c->sealed_log[0])
        *attempts = strdup(c->sealed_log);
    pthread_mutex_unlock(&c->mu);
}
