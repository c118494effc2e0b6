/* client.c — the client's lifecycle, curl handle pool, and the retry/fail-over loop. */
#include "client/client_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct inferd_client_opts inferd_client_opts_default(void)
{
    return (struct inferd_client_opts){
        .max_retries = 3,
        .timeout_s = 60,
        .connect_timeout_s = 5,
        .backoff_base_s = 0.1,
        .backoff_cap_s = 10,
        .max_body = INFERD_CLIENT_DEFAULT_MAX_BODY,
    };
}

void inferd_client_free(struct inferd_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    for (size_t i = 0; i < c->nurls; i++)
        free(c->urls[i]);
    free(c->api_key);
    free(c->user_agent);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Splits "u1,u2" into c->urls, trimming spaces and a trailing '/'. */
static int parse_urls(struct inferd_client *c, const char *list, struct inferd_err *err)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) {
            s++;
            n--;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '/'))
            n--;
        if (n) {
            if (c->nurls == INFERD_CLIENT_MAX_URLS)
                return inferd_err_set(err, INFERD_EINVAL, "client: more than %d base URLs",
                                      INFERD_CLIENT_MAX_URLS);
            if (!(n > 7 && strncmp(s, "http://", 7) == 0) &&
                !(n > 8 && strncmp(s, "https://", 8) == 0))
                return inferd_err_set(err, INFERD_EINVAL,
                                      "client: base URL '%.*s' must start with http:// or https://",
                                      (int)(n > 200 ? 200 : n), s);
            if (n >= INFERD_CLIENT_URL_MAX / 2)
                return inferd_err_set(err, INFERD_EINVAL, "client: base URL longer than %d bytes",
                                      INFERD_CLIENT_URL_MAX / 2);
            c->urls[c->nurls] = strndup(s, n);
            if (!c->urls[c->nurls])
                return inferd_err_set(err, INFERD_ENOMEM, "client: out of memory");
            c->nurls++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (!c->nurls)
        return inferd_err_set(err, INFERD_EINVAL, "client: base_urls names no URL");
    return 0;
}

int inferd_client_new(const struct inferd_client_opts *opts, struct inferd_client **out,
                      struct inferd_err *err)
{
    struct inferd_client *c = NULL;
    int rc;
    if (!opts || !out || !opts->base_urls)
        return inferd_err_set(err, INFERD_EINVAL, "client: opts with base_urls and out needed");
    if (opts->max_retries < 0 || opts->max_retries > 100)
        return inferd_err_set(err, INFERD_EINVAL, "client: max_retries %d is not in 0..100",
                              opts->max_retries);
    if (!isfinite(opts->timeout_s) || opts->backoff_base_s < 0 || opts->backoff_cap_s < 0 ||
        !isfinite(opts->backoff_base_s) || !isfinite(opts->backoff_cap_s) ||
        opts->connect_timeout_s < 0 || !isfinite(opts->connect_timeout_s) ||
        opts->attempt_timeout_s < 0 || !isfinite(opts->attempt_timeout_s))
        return inferd_err_set(err, INFERD_EINVAL,
                              "client: timeouts and backoff must be finite and not negative");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return inferd_err_set(err, INFERD_EIO, "client: curl_global_init failed");
    c = calloc(1, sizeof *c);
    if (!c)
        return inferd_err_set(err, INFERD_ENOMEM, "client: out of memory");
    pthread_mutex_init(&c->lock, NULL);
    c->opts = *opts;
    c->opts.base_urls = NULL; /* copied into urls */
    if (!c->opts.max_body)
        c->opts.max_body = INFERD_CLIENT_DEFAULT_MAX_BODY;
    rc = parse_urls(c, opts->base_urls, err);
    if (rc < 0)
        goto fail;
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "inferd-client/0.1");
    if (opts->api_key)
        c->api_key = strdup(opts->api_key);
    if (!c->user_agent || (opts->api_key && !c->api_key)) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "client: out of memory");
        goto fail;
    }
    c->opts.api_key = c->api_key;
    c->opts.user_agent = c->user_agent;
    c->opts.traceparent = NULL; /* kept as c->traceparent */
    if (opts->traceparent) {
        struct trace_parent tp;
        if (trace_parse_traceparent(opts->traceparent, strlen(opts->traceparent), &tp) < 0) {
            rc = inferd_err_set(err, INFERD_EINVAL, "client: traceparent \"%.80s\" is not a valid "
                                "W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)", opts->traceparent);
            goto fail;
        }
        trace_format_traceparent(c->traceparent, tp.trace_id, tp.parent_id, tp.flags);
    }
    rng_seed_random(&c->rng);
    *out = c;
    return 0;
fail:
    inferd_client_free(c);
    return rc;
}

void inferd_response_clear(struct inferd_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    json_decref(resp->json);
    memset(resp, 0, sizeof *resp);
}

static CURL *pool_take(struct inferd_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->npool)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_reset(h); /* keeps live connections for reuse */
    else
        h = curl_easy_init();
    return h;
}

static void pool_give(struct inferd_client *c, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->npool < CLIENT_POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (!(s > 0))
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void new_key(char out[INFERD_CLIENT_KEY_LEN + 1], struct inferd_client *c)
{
    if (rng_hex(out, INFERD_CLIENT_KEY_LEN / 2) == 0)
        return;
    pthread_mutex_lock(&c->lock); /* fallback: the seeded generator */
    uint64_t a = rng_next(&c->rng), b = rng_next(&c->rng);
    pthread_mutex_unlock(&c->lock);
    snprintf(out, INFERD_CLIENT_KEY_LEN + 1, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static struct curl_slist *build_headers(struct inferd_client *c, const char *content_type,
                                        int stream, const char *key)
{
    char line[INFERD_CLIENT_URL_MAX];
    struct curl_slist *h = NULL, *t;
    const char *lines[7];
    size_t n = 0;
    char ct[256], ua[256], idem[96], tparent[32 + TRACEPARENT_LEN];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
    snprintf(ua, sizeof ua, "User-Agent: %s", c->user_agent);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
    lines[n++] = ct;
    lines[n++] = stream ? "Accept: text/event-stream" : "Accept: application/json";
    lines[n++] = ua;
    lines[n++] = idem;
    lines[n++] = "Expect:"; /* no 100-continue round trip */
    if (c->traceparent[0]) {
        snprintf(tparent, sizeof tparent, "traceparent: %s", c->traceparent);
        lines[n++] = tparent;
    }
    for (size_t i = 0; i < n; i++) {
        t = curl_slist_append(h, lines[i]);
        if (!t)
            goto fail;
        h = t;
    }
    if (c->api_key) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->api_key);
        t = curl_slist_append(h, line);
        explicit_bzero(line, sizeof line);
        if (!t)
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* Which error code a final failed status maps to. */
static int status_code(long st)
{
    if (st == 401 || st == 403)
        return INFERD_EAUTH;
    if (st == 404)
        return INFERD_ENOTFOUND;
    if (st == 429)
        return INFERD_EBUSY;
    if (st >= 500)
        return INFERD_EUNAVAIL;
    return INFERD_EINVAL;
}

/* Is a transport failure worth a retry? Our own aborts and bad URLs are not. */
static int transport_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_ABORTED_BY_CALLBACK:
        return 0;
    default:
        return 1;
    }
}

/* Describes a failed attempt for messages: "HTTP 503" or "connect failed: ...". */
static void describe(const struct attempt *a, char *buf, size_t cap)
{
    if (a->cc == CURLE_OK) {
        snprintf(buf, cap, "HTTP %ld", a->status);
        return;
    }
    const char *what = a->curl_msg[0] ? a->curl_msg : curl_easy_strerror(a->cc);
    if (a->cc == CURLE_OPERATION_TIMEDOUT)
        snprintf(buf, cap, "timeout: %s", what);
    else if (a->cc == CURLE_COULDNT_CONNECT || a->cc == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(buf, cap, "connect failed: %s", what);
    else
        snprintf(buf, cap, "transport error: %s", what);
}

/* Appends the server's {"error":"..."} message to err when the body carries one. */
static void server_error_suffix(const struct inferd_response *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    if (json_is_object(e)) /* OpenAI style {"error":{"message":...}} */
        e = json_object_get(e, "message");
    if (json_is_string(e))
        snprintf(buf, cap, ": %s", json_string_value(e));
}

/* The shared loop of inferd_client_request and inferd_client_stream. */
int client__run(struct inferd_client *c, const char *method, const char *path,
                const char *body, size_t body_len, const char *content_type,
                struct sse_parser *sse, struct inferd_response *resp, struct inferd_err *err)
{
    struct attempt a;
    struct curl_slist *headers = NULL;
    CURL *h = NULL;
    char reason[CURL_ERROR_SIZE + 64], extra[300];
    int rc;

    if (!c || !method || !path || path[0] != '/' || !resp)
        return inferd_err_set(err, INFERD_EINVAL,
                              "client: client, method, path (from '/') and resp needed");
    double start = now_s();
    double deadline = c->opts.timeout_s > 0 ? start + c->opts.timeout_s : 0;
    memset(&a, 0, sizeof a);
    inferd_response_clear(resp);
    new_key(resp->idempotency_key, c);
    headers = build_headers(c, content_type, sse != NULL, resp->idempotency_key);
    h = pool_take(c);
    if (!headers || !h) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "client: out of memory");
        goto done;
    }
    pthread_mutex_lock(&c->lock);
    size_t ui = c->preferred % c->nurls;
    pthread_mutex_unlock(&c->lock);

    if (strlen(path) >= INFERD_CLIENT_URL_MAX / 2) {
        rc = inferd_err_set(err, INFERD_EINVAL, "client: path longer than %d bytes",
                            INFERD_CLIENT_URL_MAX / 2 - 1);
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        /* base URLs are < URL_MAX/2 (checked at new) and so is path: this never truncates */
        snprintf(resp->url, sizeof resp->url, "%s%s", c->urls[ui], path);
        double left = deadline ? deadline - now_s() : 0;
        if (deadline && left <= 0) {
            rc = inferd_err_set(err, INFERD_ETIMEDOUT, "deadline of %.3gs passed after %d attempts",
                                c->opts.timeout_s, attempt);
            goto done;
        }
        buf_free(&a.resp);
        memset(&a, 0, sizeof a);
        if (attempt > 0)
            curl_easy_reset(h);
        a.curl = h;
        a.method = method;
        a.url = resp->url;
        a.body = body;
        a.body_len = body_len;
        a.headers = headers;
        a.max_body = c->opts.max_body;
        a.sse = sse;
        a.timeout_ms = deadline ? (long)ceil(left * 1000) : 0;
        if (c->opts.attempt_timeout_s > 0) {
            long cap = (long)ceil(c->opts.attempt_timeout_s * 1000);
            if (a.timeout_ms == 0 || cap < a.timeout_ms)
                a.timeout_ms = cap;
        }
        a.connect_timeout_ms = (long)ceil(c->opts.connect_timeout_s * 1000);
        if (a.timeout_ms && (a.connect_timeout_ms <= 0 || a.connect_timeout_ms > a.timeout_ms))
            a.connect_timeout_ms = a.timeout_ms;
        client__attempt(&a);
        resp->attempts = attempt + 1;
        resp->status = (int)a.status;

        /* keep this attempt's body (an error answer is worth showing) */
        free(resp->body);
        json_decref(resp->json);
        resp->body = a.resp.data; /* NULL when there was no body; kept even when cut short */
        resp->body_len = a.resp.len;
        resp->json = NULL;
        buf_init(&a.resp, 0);
        if (resp->body && resp->body_len)
            resp->json = json_loadb(resp->body, resp->body_len, 0, NULL);

        if (a.stream_rc < 0) {
            rc = a.stream_rc;
            if (err)
                *err = a.stream_err;
            goto done;
        }
        if (a.stream_stopped || (a.cc == CURLE_OK && a.status >= 200 && a.status < 300)) {
            pthread_mutex_lock(&c->lock);
            c->preferred = ui;
            pthread_mutex_unlock(&c->lock);
            rc = 0;
            goto done;
        }
        if (buf_rc(&a.resp) == INFERD_ETOOLARGE) {
            rc = inferd_err_set(err, INFERD_ETOOLARGE, "response body from %s exceeds %zu bytes",
                                resp->url, c->opts.max_body);
            goto done;
        }
        if (buf_rc(&a.resp)) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "response body from %s: out of memory", resp->url);
            goto done;
        }
        describe(&a, reason, sizeof reason);
        if (a.stream_started) { /* never fail over a stream that has begun */
            rc = inferd_err_set(err, INFERD_EIO, "stream from %s broke after %zu events: %s",
                                resp->url, sse->events, reason);
            goto done;
        }
        int retryable = a.cc == CURLE_OK ? backoff_status_retryable((int)a.status)
                                         : transport_retryable(a.cc);
        server_error_suffix(resp, extra, sizeof extra);
        rc = a.cc == CURLE_OK ? status_code(a.status) : INFERD_EUNAVAIL;
        if (a.cc == CURLE_OPERATION_TIMEDOUT && deadline && now_s() >= deadline) {
            rc = inferd_err_set(err, INFERD_ETIMEDOUT,
                                "deadline of %.3gs passed after %d attempts (last: %s from %s)",
                                c->opts.timeout_s, attempt + 1, reason, resp->url);
            goto done;
        }
        if (!retryable) {
            inferd_err_set(err, rc, "%s from %s%s", reason, resp->url, extra);
            goto done;
        }
        if (attempt >= c->opts.max_retries) {
            inferd_err_set(err, rc, "gave up after %d attempts: %s from %s%s", attempt + 1,
                           reason, resp->url, extra);
            goto done;
        }
        pthread_mutex_lock(&c->lock);
        double u = rng_unit(&c->rng);
        pthread_mutex_unlock(&c->lock);
        double delay = backoff_delay(c->opts.backoff_base_s, c->opts.backoff_cap_s, attempt, u);
        delay = backoff_retry_wait(delay, a.retry_after_s, c->opts.backoff_cap_s, deadline != 0);
        if (deadline && now_s() + delay >= deadline) {
            rc = inferd_err_set(err, INFERD_ETIMEDOUT,
                                "deadline of %.3gs would pass before retry %d (wait %.2fs) "
                                "after %s from %s", c->opts.timeout_s, attempt + 1, delay,
                                reason, resp->url);
            goto done;
        }
        size_t next = (ui + 1) % c->nurls;
        if (c->opts.on_retry) {
            char next_url[INFERD_CLIENT_URL_MAX];
            snprintf(next_url, sizeof next_url, "%s%s", c->urls[next], path);
            struct inferd_retry_info info = {
                .retry = attempt + 1, .max_retries = c->opts.max_retries, .delay_s = delay,
                .url = resp->url, .next_url = next_url, .http_status = (int)a.status,
                .reason = reason, .retry_after_s = a.retry_after_s};
            c->opts.on_retry(&info, c->opts.on_retry_ctx);
        }
        sleep_s(delay);
        ui = next;
    }
done:
    resp->elapsed_s = now_s() - start;
    buf_free(&a.resp);
    curl_slist_free_all(headers);
    pool_give(c, h);
    return rc;
}

int inferd_client_request(struct inferd_client *c, const char *method, const char *path,
                          const char *body, size_t body_len, const char *content_type,
                          struct inferd_response *resp, struct inferd_err *err)
{
    return client__run(c, method, path, body, body_len, content_type, NULL, resp, err);
}
