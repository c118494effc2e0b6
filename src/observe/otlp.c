/* otlp.c — span queue and the thread that POSTs OTLP/HTTP JSON batches with libcurl. */
#include "observe/otlp.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/json_write.h"
#include "base/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OTLP_BODY_MAX (8u << 20) /* bytes of one POST body; a batch always fits */

struct otlp {
    char *endpoint;               /* owned */
    char *service;                /* owned */
    pthread_t thread;
    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t cv;            /* a batch is full, or stop */
    struct otlp_span *ring;       /* queue_cap spans, owned */
    size_t cap, head, len;        /* ring: oldest at head, len queued */
    bool stop;
    bool failing;                 /* the last POST failed (logged once per outage); thread only */
    struct otlp_stats stats;
};

uint64_t otlp_wall_ns(uint64_t mono_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t now = clock_now_ns();
    return mono_ns <= now ? wall - (now - mono_ns) : wall + (mono_ns - now);
}

static void attr_str(struct buf *b, const char *key, const char *v, bool *first)
{
    if (!v || !v[0])
        return;
    buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    json_write_str(b, key);
    buf_puts(b, ",\"value\":{\"stringValue\":");
    json_write_str(b, v);
    buf_puts(b, "}}");
}

static void attr_int(struct buf *b, const char *key, long long v, bool *first)
{
    buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    json_write_str(b, key);
    buf_printf(b, ",\"value\":{\"intValue\":\"%lld\"}}", v);
}

static void put_span(struct buf *b, const struct otlp_span *sp, bool comma)
{
    if (comma)
        buf_putc(b, ',');
    buf_puts(b, "{\"traceId\":");
    json_write_str(b, sp->trace_id);
    buf_puts(b, ",\"spanId\":");
    json_write_str(b, sp->span_id);
    if (sp->parent_span_id[0]) {
        buf_puts(b, ",\"parentSpanId\":");
        json_write_str(b, sp->parent_span_id);
    }
    buf_puts(b, ",\"name\":");
    json_write_str(b, sp->name[0] ? sp->name : "request");
    buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\",\"attributes\":[",
               (int)sp->kind, (unsigned long long)sp->start_ns, (unsigned long long)sp->end_ns);
    bool first = true;
    attr_str(b, "http.request.method", sp->method, &first);
    if (sp->http_status)
        attr_int(b, "http.response.status_code", sp->http_status, &first);
    attr_str(b, "inferd.model", sp->model, &first);
    attr_str(b, "inferd.channel", sp->peer, &first);
    attr_str(b, "inferd.request_id", sp->request_id, &first);
    /* OTLP status: 2 = error (a 5xx answer for a server span, any failure for a client
     * span), else unset (0): 4xx is the caller's fault, not this span's */
    bool error = sp->kind == OTLP_KIND_SERVER ? sp->http_status >= 500
                                              : sp->http_status == 0 || sp->http_status >= 500;
    buf_printf(b, "],\"status\":{\"code\":%d}}", error ? 2 : 0);
}

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p, (void)ctx;
    return size * n;
}

/* POSTs spans[0..n). Returns 0 or -1. */
static int post(struct otlp *ex, CURL *curl, const struct otlp_span *spans, size_t n)
{
    struct buf b;
    buf_init(&b, OTLP_BODY_MAX);
    buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                 "\"value\":{\"stringValue\":");
    json_write_str(&b, ex->service);
    buf_puts(&b, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"inferd\"},\"spans\":[");
    for (size_t i = 0; i < n; i++)
        put_span(&b, &spans[i], i > 0);
    buf_puts(&b, "]}]}]}");
    int rc = -1;
    if (buf_rc(&b) == 0) {
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, ex->endpoint);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b.data);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b.len);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)OTLP_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        CURLcode cc = curl_easy_perform(curl);
        long st = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &st);
        curl_slist_free_all(h);
        if (cc == CURLE_OK && st >= 200 && st < 300)
            rc = 0;
        char why[64];
        snprintf(why, sizeof why, "HTTP %ld", st);
        if (rc < 0 && !ex->failing)
            log_event(LOG_WARN, "otlp export failing, spans dropped", "endpoint", ex->endpoint,
                      "reason", cc != CURLE_OK ? curl_easy_strerror(cc) : why, NULL);
        else if (rc == 0 && ex->failing)
            log_event(LOG_INFO, "otlp export recovered", "endpoint", ex->endpoint, NULL);
        ex->failing = rc < 0;
    }
    buf_free(&b);
    return rc;
}

static void *run(void *arg)
{
    struct otlp *ex = arg;
    struct otlp_span *batch = malloc(OTLP_BATCH_MAX * sizeof *batch);
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        if (!ex->stop && ex->len < OTLP_BATCH_MAX) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += OTLP_FLUSH_MS / 1000;
            pthread_cond_timedwait(&ex->cv, &ex->mu, &until);
        }
        bool stop = ex->stop;
        while (ex->len) {
            size_t n = 0;
            while (ex->len && n < OTLP_BATCH_MAX) {
                if (batch)
                    batch[n] = ex->ring[ex->head];
                n++;
                ex->head = (ex->head + 1) % ex->cap;
                ex->len--;
            }
            pthread_mutex_unlock(&ex->mu);
            int rc = batch && curl ? post(ex, curl, batch, n) : -1;
            pthread_mutex_lock(&ex->mu);
            if (rc == 0) {
                ex->stats.sent += n;
            } else {
                ex->stats.dropped += n;
                ex->stats.failed_posts++;
            }
            if (!stop && ex->len < OTLP_BATCH_MAX)
                break; /* a part batch waits for the next flush, unless stopping */
        }
        if (stop)
            break;
    }
    pthread_mutex_unlock(&ex->mu);
    curl_easy_cleanup(curl);
    free(batch);
    return NULL;
}

int otlp_new(const char *endpoint, const char *service, size_t queue_cap, struct otlp **out,
             struct inferd_err *err)
{
    int rc;
    if (!endpoint || !out || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
        return inferd_err_set(err, INFERD_EINVAL, "otlp: endpoint \"%.200s\" is not an http(s) URL",
                              endpoint ? endpoint : "");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return inferd_err_set(err, INFERD_EIO, "otlp: curl_global_init failed");
    struct otlp *ex = calloc(1, sizeof *ex);
    if (!ex)
        return inferd_err_set(err, INFERD_ENOMEM, "otlp: out of memory");
    ex->cap = queue_cap ? queue_cap : OTLP_QUEUE_DEFAULT;
    ex->endpoint = strdup(endpoint);
    ex->service = strdup(service ? service : "inferd");
    ex->ring = calloc(ex->cap, sizeof *ex->ring);
    if (!ex->endpoint || !ex->service || !ex->ring) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "otlp: out of memory");
        goto fail;
    }
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    if (pthread_create(&ex->thread, NULL, run, ex) != 0) {
        pthread_cond_destroy(&ex->cv);
        pthread_mutex_destroy(&ex->mu);
        rc = inferd_err_set(err, INFERD_EIO, "otlp: cannot start the export thread");
        goto fail;
    }
    *out = ex;
    return 0;
fail:
    free(ex->ring);
    free(ex->service);
    free(ex->endpoint);
    free(ex);
    return rc;
}

void otlp_export(struct otlp *ex, const struct otlp_span *sp)
{
    if (!ex || !sp)
        return;
    pthread_mutex_lock(&ex->mu);
    if (ex->len == ex->cap || ex->stop) {
        ex->stats.dropped++;
    } else {
        ex->ring[(ex->head + ex->len) % ex->cap] = *sp;
        if (++ex->len == OTLP_BATCH_MAX)
            pthread_cond_signal(&ex->cv);
    }
    pthread_mutex_unlock(&ex->mu);
}

struct otlp_stats otlp_stats(struct otlp *ex)
{
    struct otlp_stats s = {0};
    if (!ex)
        return s;
    pthread_mutex_lock(&ex->mu);
    s = ex->stats;
    pthread_mutex_unlock(&ex->mu);
    return s;
}

void otlp_free(struct otlp *ex)
{
    if (!ex)
        return;
    pthread_mutex_lock(&ex->mu);
    ex->stop = true;
    pthread_cond_signal(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    pthread_join(ex->thread, NULL);
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    free(ex->ring);
    free(ex->service);
    free(ex->endpoint);
    free(ex);
}
