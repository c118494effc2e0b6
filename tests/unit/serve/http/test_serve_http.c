/* test_serve_http.c — the HTTP front on its own, on a free loopback port, called with
 * libcurl: route captures (incl. a suffix capture), 404/405, the body cap (413), an async
 * handler finished from another thread, a streamed (chunked) response, request ids and
 * the authorize hook. */
#include "check.h"

#include "serve/http/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int echo(struct http_req *r, void *ctx)
{
    (void)ctx;
    size_t n;
    const char *b = http_req_body(r, &n);
    json_t *j = json_pack("{s:s?,s:s?,s:s?,s:i}", "m", http_req_capture(r, "m"), "v", http_req_capture(r, "v"), "h",
                          http_req_header(r, "X-Test"), "n", (int)n);
    (void)b;
    http_resp_json(r, 200, j);
    return HTTP_DONE;
}

static void *finisher(void *arg)
{
    struct http_req *r = arg;
    usleep(20000);
    http_resp_json_str(r, 202, "{\"async\":true}");
    http_req_finish(r);
    return NULL;
}

static int async_route(struct http_req *r, void *ctx)
{
    (void)ctx;
    pthread_t t;
    pthread_create(&t, NULL, finisher, r);
    pthread_detach(t);
    return HTTP_ASYNC;
}

struct stream_state {
    int left;
};

static ssize_t stream_read(void *ctx, char *buf, size_t cap)
{
    struct stream_state *st = ctx;
    if (st->left == 0)
        return -1;
    int n = snprintf(buf, cap, "data: %d\n\n", st->left--);
    return n;
}

static int stream_route(struct http_req *r, void *ctx)
{
    (void)ctx;
    struct stream_state *st = malloc(sizeof *st);
    st->left = 3;
    http_resp_stream(r, 200, "text/event-stream", stream_read, st, free);
    return HTTP_DONE;
}

/* A stream whose producer is another thread: read returns 0 (the connection is suspended)
 * until the producer has put the next value and called http_req_wake. */
struct wake_state {
    pthread_mutex_t lock;
    int next, sent, end;            /* next: value ready to send (0 = none yet) */
    struct http_req *r;
    pthread_t producer;             /* joined by the done hook: it may still be in http_req_wake */
};

static ssize_t wake_read(void *ctx, char *buf, size_t cap)
{
    struct wake_state *st = ctx;
    pthread_mutex_lock(&st->lock);
    ssize_t n = 0;
    if (st->next) {
        n = snprintf(buf, cap, "data: %d\n\n", st->next);
        st->next = 0;
        st->sent++;
    } else if (st->end) {
        n = -1;
    }
    pthread_mutex_unlock(&st->lock);
    return n;
}

static void *producer(void *arg)
{
    struct wake_state *st = arg;
    for (int i = 1; i <= 3; i++) {
        usleep(20000);
        pthread_mutex_lock(&st->lock);
        st->next = i;
        st->end = i == 3;
        pthread_mutex_unlock(&st->lock);
        http_req_wake(st->r);
        if (i == 3)
            break; /* the stream may end (and the request go) at any moment now */
        for (int k = 0; k < 1000; k++) { /* until taken: one value at a time */
            pthread_mutex_lock(&st->lock);
            int taken = st->next == 0;
            pthread_mutex_unlock(&st->lock);
            if (taken)
                break;
            usleep(1000);
        }
    }
    return NULL;
}

static void wake_done(void *arg)
{
    struct wake_state *st = arg;
    pthread_join(st->producer, NULL);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int wake_route(struct http_req *r, void *ctx)
{
    (void)ctx;
    struct wake_state *st = calloc(1, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    st->r = r;
    http_resp_stream(r, 200, "text/event-stream", wake_read, st, wake_done);
    pthread_create(&st->producer, NULL, producer, st);
    return HTTP_DONE;
}

static int authorize(void *ctx, enum http_auth level, const char *h, struct inferd_err *err)
{
    (void)ctx;
    if (level == HTTP_AUTH_ADMIN && (!h || strcmp(h, "Bearer ok") != 0))
        return inferd_err_set(err, INFERD_EAUTH, "admin key needed");
    return 0;
}

static const struct http_route routes[] = {
    {HTTP_POST | HTTP_GET, "/m/{m}/v/{v}", HTTP_AUTH_NONE, echo, "t_echo", NULL},
    {HTTP_POST, "/x/{m}:go", HTTP_AUTH_NONE, echo, "t_suffix", NULL},
    {HTTP_GET, "/async", HTTP_AUTH_NONE, async_route, "t_async", NULL},
    {HTTP_GET, "/stream", HTTP_AUTH_NONE, stream_route, "t_stream", NULL},
    {HTTP_GET, "/wake", HTTP_AUTH_NONE, wake_route, "t_wake", NULL},
    {HTTP_GET, "/admin", HTTP_AUTH_ADMIN, echo, "t_admin", NULL},
};

struct buf {
    char data[8192];
    size_t len;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t k = sz * n;
    if (k > sizeof b->data - 1 - b->len)
        k = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    return on_data(p, sz, n, b);
}

static long call(int port, const char *method, const char *path, const char *body, const char *hdr, struct buf *out,
                 struct buf *hdrs)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = hdr ? curl_slist_append(NULL, hdr) : NULL;
    memset(out, 0, sizeof *out);
    if (hdrs)
        memset(hdrs, 0, sizeof *hdrs);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (hdrs) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

int main(void)
{
    struct http_config cfg = {.host = "127.0.0.1", .port = 0, .threads = 2, .max_body_bytes = 100,
                              .authorize = authorize};
    struct http_server *s;
    struct inferd_err err = {0};
    CHECK(http_server_new(&cfg, &s, &err) == 0);
    CHECK(http_add_routes(s, routes, sizeof routes / sizeof routes[0], NULL, &err) == 0);
    CHECK(http_server_start(s, &err) == 0);
    int port = http_port(s);
    CHECK(port > 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct buf b, h;
    CHECK(call(port, "POST", "/m/abc/v/7", "hello", "X-Test: yes", &b, &h) == 200);
    CHECK(strstr(b.data, "\"m\":\"abc\"") && strstr(b.data, "\"v\":\"7\"") && strstr(b.data, "\"h\":\"yes\"") &&
          strstr(b.data, "\"n\":5"));
    CHECK(strcasestr(h.data, "X-Request-Id: ") != NULL);
    CHECK(call(port, "POST", "/x/model:go", "", NULL, &b, NULL) == 200 && strstr(b.data, "\"m\":\"model\""));
    CHECK(call(port, "POST", "/x/:go", "", NULL, &b, NULL) == 404);
    CHECK(call(port, "GET", "/nothing", NULL, NULL, &b, NULL) == 404 && strstr(b.data, "no route"));
    CHECK(call(port, "DELETE", "/m/a/v/1", NULL, NULL, &b, NULL) == 405);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(call(port, "POST", "/m/a/v/1", big, NULL, &b, NULL) == 413 && strstr(b.data, "100 bytes"));
    CHECK(call(port, "GET", "/async", NULL, "X-Request-Id: my-id-1", &b, &h) == 202 && strstr(b.data, "async"));
    CHECK(strstr(h.data, "my-id-1") != NULL);
    CHECK(call(port, "GET", "/stream", NULL, NULL, &b, &h) == 200);
    CHECK(strcmp(b.data, "data: 3\n\ndata: 2\n\ndata: 1\n\n") == 0);
    CHECK(strcasestr(h.data, "chunked") != NULL);
    /* a stream fed from another thread: suspended while empty, resumed by http_req_wake */
    CHECK(call(port, "GET", "/wake", NULL, NULL, &b, NULL) == 200);
    CHECK(strcmp(b.data, "data: 1\n\ndata: 2\n\ndata: 3\n\n") == 0);
    /* the key is checked from the headers: a body over the cap without a key is a 401 */
    CHECK(call(port, "GET", "/admin", big, NULL, &b, NULL) == 401);
    CHECK(call(port, "GET", "/admin", NULL, NULL, &b, NULL) == 401 && strstr(b.data, "admin key needed"));
    CHECK(call(port, "GET", "/admin", NULL, "Authorization: Bearer ok", &b, NULL) == 200);
    /* timeout parsing: strict digits, clamped, deadline never wraps */
    int64_t ms = -1;
    CHECK(http_parse_timeout_ms("X-T", "250", &ms, &err) == 0 && ms == 250);
    CHECK(http_parse_timeout_ms("X-T", "99999999999999999999999999", &ms, &err) == 0 && ms == HTTP_TIMEOUT_MS_MAX);
    CHECK(http_parse_timeout_ms("X-T", "-1", &ms, &err) == INFERD_EINVAL && strstr(err.msg, "X-T"));
    CHECK(http_parse_timeout_ms("X-T", "", &ms, &err) == INFERD_EINVAL);
    CHECK(http_parse_timeout_ms("X-T", "5s", &ms, &err) == INFERD_EINVAL);
    CHECK(http_deadline_ns(1000, 0) == 0);
    CHECK(http_deadline_ns(1000, 2) == 3000);
    CHECK(http_deadline_ns(1000, INT64_MAX) == 1000 + (uint64_t)HTTP_TIMEOUT_MS_MAX * 1000000u);
    http_server_quiesce(s);
    /* a request leaves in_flight in libmicrohttpd's completion callback, which may run just
     * after the client has read the whole response: wait for it (bounded) */
    for (int i = 0; i < 200 && http_in_flight(s) != 0; i++)
        usleep(10000);
    CHECK(http_in_flight(s) == 0);
    http_server_free(s);
    curl_global_cleanup();
    return check_finish();
}
