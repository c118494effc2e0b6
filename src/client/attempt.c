/* attempt.c — one HTTP exchange over libcurl: headers in, status/Retry-After/body out,
 * optionally streaming a 2xx body into an SSE parser. */
#include "client/client_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct attempt *a = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        a->retry_after_s = -1; /* a new response (e.g. after 100 Continue) starts */
        return len;
    }
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char v[128];
        size_t k = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        memcpy(v, buf + 12, k);
        v[k] = '\0';
        double s;
        if (backoff_parse_retry_after(v, time(NULL), &s) == 0)
            a->retry_after_s = s;
    }
    return len;
}

/* Keeps the body in a->resp; a failed append (over the cap, out of memory) aborts the
 * transfer and stays in buf_rc(&a->resp). */
static size_t keep_body(struct attempt *a, const char *buf, size_t len)
{
    buf_put(&a->resp, buf, len);
    return buf_rc(&a->resp) ? 0 : len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *ud)
{
    struct attempt *a = ud;
    size_t len = size * n;
    if (a->sse && !a->stream_started && a->resp.len == 0) {
        /* First body bytes: a 2xx answer is the stream; anything else is an error body. */
        long st = 0;
        curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200 && st < 300)
            a->stream_started = 1;
    }
    if (!a->stream_started)
        return keep_body(a, buf, len);
    int rc = sse_feed(a->sse, buf, len, &a->stream_err);
    if (rc == 1) {
        a->stream_stopped = 1;
        return 0; /* abort the transfer: the caller has what it wants */
    }
    if (rc < 0) {
        a->stream_rc = rc;
        return 0;
    }
    return len;
}

void client__attempt(struct attempt *a)
{
    CURL *h = a->curl;
    a->status = 0;
    a->retry_after_s = -1;
    a->curl_msg[0] = '\0';
    buf_free(&a->resp);
    buf_init(&a->resp, a->max_body ? a->max_body - 1 : 0); /* room for the NUL, as always */
    curl_easy_setopt(h, CURLOPT_URL, a->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->curl_msg);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (a->timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    if (a->connect_timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, a->connect_timeout_ms);
    if (strcmp(a->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(a->method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, a->method);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, a->body ? a->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(a->body ? a->body_len : 0));
    }
    a->cc = curl_easy_perform(h);
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    a->status = st;
}
