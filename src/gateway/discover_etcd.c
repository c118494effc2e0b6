/* discover_etcd.c — the etcd discovery source (gw_etcd_*: lists a prefix every second and
 * hands the set to the gateway) and the server's side of it (etcd_register_*: a key under
 * the prefix, attached to a lease kept alive every TTL/3), both over etcd v3's JSON gateway
 * with libcurl's easy interface in the object's own thread. The wire format is drawn in
 * discover_parse.h.
 *
 * Registration's life:
 *   start: grant(TTL) -> put(prefix/<id>, value, lease)      (failures: retried each period)
 *   every TTL/3: keepalive(lease); no TTL in the answer (lease gone: etcd lost it, or it
 *       expired while we could not reach etcd) -> grant + put again; etcd unreachable or
 *       erring -> keepalive again every second (the lease may outlive the outage)
 *   stop: revoke(lease) — the key vanishes at once; after a crash it vanishes after TTL.
 */
#include "gateway/discover.h"
#include "gateway/discover_parse.h"

#include "base/buf.h"
#include "base/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ETCD_LIST_INTERVAL_MS 1000
#define ETCD_CONNECT_TIMEOUT_MS 2000
#define ETCD_TIMEOUT_MS 5000
#define ETCD_RANGE_MAX_BYTES (16u << 20) /* a range answer's cap */
#define ETCD_SMALL_MAX_BYTES (64u << 10) /* grant, put, keepalive, revoke answers' cap */

/* ---- one thread with a stop flag and a prompt wake-up ---- */

struct waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    atomic_int stop;
};

static void waker_init(struct waker *w)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&w->stop, 0);
}

static void waker_destroy(struct waker *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

static void waker_stop(struct waker *w)
{
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits ms milliseconds or until stopped. Returns 1 when stopped. */
static int waker_sleep(struct waker *w, int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) && pthread_cond_timedwait(&w->cv, &w->mu, &t) != ETIMEDOUT) {
    }
    int stopped = atomic_load(&w->stop);
    pthread_mutex_unlock(&w->mu);
    return stopped;
}

/* ---- HTTP to etcd ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_global(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    buf_put(b, p, size * n);
    return buf_rc(b) ? 0 : size * n;
}

/* Aborts a transfer once the owner is stopping (stop NULL: never). */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const atomic_int *stop = ud;
    return stop && atomic_load(stop);
}

/* POSTs the JSON body to endpoint+path. OUT: resp (initialised here with cap max; the caller
 * frees it in every case). Returns 0 for a 200 answer, else INFERD_EUNAVAIL (unreachable,
 * timed out, stopped), INFERD_ETOOLARGE or INFERD_EIO (an HTTP error; err holds etcd's
 * message). */
static int etcd_post(CURL *h, const char *endpoint, const char *path, const char *body, size_t max,
                     atomic_int *stop, struct buf *resp, struct inferd_err *err)
{
    char url[DISCOVER_ENDPOINT_MAX + 64], cerr[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    int rc = 0;
    buf_init(resp, max);
    if (!hdr)
        return inferd_err_set(err, INFERD_ENOMEM, "etcd: out of memory");
    snprintf(url, sizeof url, "%s%s", endpoint, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ETCD_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ETCD_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, stop);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdr);
    if (cc == CURLE_WRITE_ERROR && buf_rc(resp)) {
        rc = buf_err(resp, err, "etcd answer");
    } else if (cc != CURLE_OK) {
        rc = inferd_err_set(err, INFERD_EUNAVAIL, "etcd %s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            json_t *j = json_loadb(resp->data ? resp->data : "", resp->len, 0, NULL);
            const char *m = json_string_value(json_object_get(j, "message"));
            rc = inferd_err_set(err, INFERD_EIO, "etcd %s: HTTP %ld: %.200s", url, status, m ? m : "(no message)");
            json_decref(j);
        }
    }
    return rc;
}

/* An int64 that etcd writes as a JSON string (or, leniently, a number); 0 when absent. */
static int64_t json_i64(const json_t *j)
{
    if (json_is_integer(j))
        return (int64_t)json_integer_value(j);
    if (json_is_string(j))
        return strtoll(json_string_value(j), NULL, 10);
    return 0;
}

/* Lists prefix/ (discover_parse.h's range request). OUT: *defs (caller owns it). Returns 0 or
 * an INFERD_E* code with err set. */
static int etcd_list(CURL *h, const char *endpoint, const char *prefix, atomic_int *stop, json_t **defs,
                     int *skipped, struct inferd_err *err)
{
    char keys[2][DISCOVER_PREFIX_MAX + 1];
    char *b64[2] = {NULL, NULL}, *body = NULL;
    struct buf resp;
    int rc;
    size_t n = strlen(prefix);
    snprintf(keys[0], sizeof keys[0], "%s/", prefix);
    snprintf(keys[1], sizeof keys[1], "%s0", prefix); /* '0' = '/' + 1: the end of prefix/ */
    buf_init(&resp, 0);
    if (discover_b64_encode(keys[0], n + 1, &b64[0]) < 0 || discover_b64_encode(keys[1], n + 1, &b64[1]) < 0)
        goto nomem;
    json_t *req = json_pack("{s:s,s:s,s:i}", "key", b64[0], "range_end", b64[1], "limit", DISCOVER_MAX_DEFS);
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        goto nomem;
    rc = etcd_post(h, endpoint, "/v3/kv/range", body, ETCD_RANGE_MAX_BYTES, stop, &resp, err);
    if (rc == 0)
        rc = discover_etcd_defs(resp.data ? resp.data : "", resp.len, defs, skipped, err);
    goto done;
nomem:
    rc = inferd_err_set(err, INFERD_ENOMEM, "etcd: out of memory");
done:
    buf_free(&resp);
    free(body);
    free(b64[0]);
    free(b64[1]);
    return rc;
}

static int curl_ready(CURL **h, struct inferd_err *err)
{
    pthread_once(&curl_once, curl_global);
    if (curl_init_rc != CURLE_OK)
        return inferd_err_set(err, INFERD_EIO, "etcd: curl_global_init failed");
    *h = curl_easy_init();
    if (!*h)
        return inferd_err_set(err, INFERD_ENOMEM, "etcd: cannot create a curl handle");
    return 0;
}

/* ---- the discovery source ---- */

struct gw_etcd {
    char endpoint[DISCOVER_ENDPOINT_MAX]; /* "http://HOST:PORT" */
    char prefix[DISCOVER_PREFIX_MAX];
    char source[DISCOVER_PREFIX_MAX + 8]; /* "etcd:<prefix>" */
    gw_sync_fn fn;
    void *ctx;
    CURL *curl;                           /* the thread's */
    struct waker w;
    pthread_t thread;
    int thread_started;
};

static void *etcd_main(void *arg)
{
    struct gw_etcd *e = arg;
    int failing = 0, last_skipped = 0;
    do {
        struct inferd_err err = {0};
        json_t *defs = NULL;
        int skipped = 0;
        if (etcd_list(e->curl, e->endpoint, e->prefix, &e->w.stop, &defs, &skipped, &err) < 0) {
            if (!failing && !atomic_load(&e->w.stop)) /* once per outage, not once a second */
                log_event(LOG_WARN, "etcd discovery failed; keeping the last set", "source", e->source, "reason",
                          err.msg, NULL);
            failing = 1;
            continue;
        }
        if (failing)
            log_event(LOG_INFO, "etcd discovery recovered", "source", e->source, NULL);
        failing = 0;
        if (skipped != last_skipped && skipped) {
            char n[16];
            snprintf(n, sizeof n, "%d", skipped);
            log_event(LOG_WARN, "etcd discovery: values that are not channel definitions skipped", "source", e->source,
                      "skipped", n, NULL);
        }
        last_skipped = skipped;
        discover_defs_sort_unique(defs);
        e->fn(e->ctx, e->source, defs);
        json_decref(defs);
    } while (!waker_sleep(&e->w, ETCD_LIST_INTERVAL_MS));
    return NULL;
}

static void etcd_free(struct gw_etcd *e)
{
    if (e->curl)
        curl_easy_cleanup(e->curl);
    waker_destroy(&e->w);
    free(e);
}

int gw_etcd_start(const char *url, gw_sync_fn fn, void *ctx, struct gw_etcd **out, struct inferd_err *err)
{
    struct gw_etcd *e;
    int rc;
    if (!url || !fn || !out)
        return inferd_err_set(err, INFERD_EINVAL, "etcd discovery: a URL and a callback are needed");
    e = calloc(1, sizeof *e);
    if (!e)
        return inferd_err_set(err, INFERD_ENOMEM, "etcd discovery: out of memory");
    waker_init(&e->w);
    if ((rc = discover_etcd_url(url, e->endpoint, e->prefix, err)) < 0 || (rc = curl_ready(&e->curl, err)) < 0)
        goto fail;
    snprintf(e->source, sizeof e->source, "etcd:%s", e->prefix);
    e->fn = fn;
    e->ctx = ctx;
    if (pthread_create(&e->thread, NULL, etcd_main, e) != 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "etcd discovery: cannot start a thread");
        goto fail;
    }
    e->thread_started = 1;
    *out = e;
    return 0;
fail:
    etcd_free(e);
    return rc;
}

void gw_etcd_stop(struct gw_etcd *e)
{
    if (!e)
        return;
    waker_stop(&e->w);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    etcd_free(e);
}

/* ---- the server's registration ---- */

struct etcd_register {
    char endpoint[DISCOVER_ENDPOINT_MAX];
    char prefix[DISCOVER_PREFIX_MAX];
    char id[DISCOVER_ID_MAX + 1];
    char *key_b64;      /* base64 of prefix/<id> (owned) */
    char *value_b64;    /* base64 of the channel definition (owned) */
    int ttl_s;
    int64_t lease;      /* 0 = none held (the thread's; read by stop after the join) */
    CURL *curl;         /* the thread's, then stop's */
    struct waker w;
    pthread_t thread;
    int thread_started;
};

/* POSTs body (a jansson value, taken) and returns the answer's JSON in *ans (caller owns).
 * Returns 0 or an INFERD_E* code with err set. */
static int reg_call(struct etcd_register *r, const char *path, json_t *body, atomic_int *stop, json_t **ans,
                    struct inferd_err *err)
{
    struct buf resp;
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *ans = NULL;
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "etcd: out of memory");
    int rc = etcd_post(r->curl, r->endpoint, path, text, ETCD_SMALL_MAX_BYTES, stop, &resp, err);
    free(text);
    if (rc == 0) {
        *ans = json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
        if (!json_is_object(*ans)) {
            json_decref(*ans);
            *ans = NULL;
            rc = inferd_err_set(err, INFERD_EFORMAT, "etcd %s: the answer is not a JSON object", path);
        }
    }
    buf_free(&resp);
    return rc;
}

/* Grants a lease and puts the key on it. Returns 0 (r->lease set) or an INFERD_E* code. */
static int reg_put(struct etcd_register *r, struct inferd_err *err)
{
    char id[24];
    json_t *ans;
    int rc = reg_call(r, "/v3/lease/grant", json_pack("{s:i}", "TTL", r->ttl_s), &r->w.stop, &ans, err);
    if (rc < 0)
        return rc;
    int64_t lease = json_i64(json_object_get(ans, "ID"));
    json_decref(ans);
    if (lease == 0)
        return inferd_err_set(err, INFERD_EFORMAT, "etcd /v3/lease/grant: no lease ID in the answer");
    snprintf(id, sizeof id, "%" PRId64, lease);
    rc = reg_call(r, "/v3/kv/put", json_pack("{s:s,s:s,s:s}", "key", r->key_b64, "value", r->value_b64, "lease", id),
                  &r->w.stop, &ans, err);
    json_decref(ans);
    if (rc < 0)
        return rc; /* the lease expires by itself */
    r->lease = lease;
    return 0;
}

/* Renews r->lease. Returns 0, or INFERD_ENOTFOUND when etcd no longer has it, or another
 * INFERD_E* code. */
static int reg_keepalive(struct etcd_register *r, struct inferd_err *err)
{
    char id[24];
    json_t *ans;
    snprintf(id, sizeof id, "%" PRId64, r->lease);
    int rc = reg_call(r, "/v3/lease/keepalive", json_pack("{s:s}", "ID", id), &r->w.stop, &ans, err);
    if (rc < 0)
        return rc;
    int64_t ttl = json_i64(json_object_get(json_object_get(ans, "result"), "TTL"));
    json_decref(ans);
    if (ttl <= 0)
        return inferd_err_set(err, INFERD_ENOTFOUND, "etcd: lease %s is gone", id);
    return 0;
}

static void *reg_main(void *arg)
{
    struct etcd_register *r = arg;
    int period_ms = r->ttl_s * 1000 / 3, failing = !r->lease;
    if (period_ms < 100)
        period_ms = 100;
    int wait_ms = r->lease ? period_ms : 1000;
    while (!waker_sleep(&r->w, wait_ms)) {
        struct inferd_err err = {0};
        if (r->lease) {
            int rc = reg_keepalive(r, &err);
            if (rc == 0) {
                if (failing)
                    log_event(LOG_INFO, "etcd registration: keepalive recovered", "id", r->id, NULL);
                failing = 0;
                wait_ms = period_ms;
                continue;
            }
            if (atomic_load(&r->w.stop))
                break;
            if (rc != INFERD_ENOTFOUND) {
                /* etcd unreachable or erring: the lease (and key) may well still be there;
                 * retry the keepalive, and re-register only when etcd says it is gone. */
                if (!failing)
                    log_event(LOG_WARN, "etcd registration: keepalive failed; retrying every second", "id", r->id,
                              "reason", err.msg, NULL);
                failing = 1;
                wait_ms = 1000;
                continue;
            }
            log_event(LOG_WARN, "etcd registration: lease lost; registering again", "id", r->id, "reason", err.msg,
                      NULL);
            r->lease = 0;
        }
        if (reg_put(r, &err) == 0) {
            log_event(LOG_INFO, "etcd registration: registered", "prefix", r->prefix, "id", r->id, NULL);
            failing = 0;
            wait_ms = period_ms;
        } else {
            if (!failing && !atomic_load(&r->w.stop))
                log_event(LOG_WARN, "etcd registration failed; retrying every second", "prefix", r->prefix, "reason",
                          err.msg, NULL);
            failing = 1;
            wait_ms = 1000;
        }
    }
    return NULL;
}

static void reg_free(struct etcd_register *r)
{
    if (r->curl)
        curl_easy_cleanup(r->curl);
    waker_destroy(&r->w);
    free(r->key_b64);
    free(r->value_b64);
    free(r);
}

int etcd_register_start(const char *url, const char *advertise_url, int ttl_s, struct etcd_register **out,
                        struct inferd_err *err)
{
    struct etcd_register *r;
    char key[DISCOVER_PREFIX_MAX + DISCOVER_ID_MAX + 2];
    char *value = NULL;
    int rc;
    if (!url || !advertise_url || !out)
        return inferd_err_set(err, INFERD_EINVAL, "etcd registration: a URL and an advertised URL are needed");
    if (ttl_s < 1 || ttl_s > 86400)
        return inferd_err_set(err, INFERD_EINVAL, "etcd registration: TTL %d s is not in 1..86400", ttl_s);
    if (strncmp(advertise_url, "http://", 7) != 0 && strncmp(advertise_url, "https://", 8) != 0)
        return inferd_err_set(err, INFERD_EINVAL, "--advertise '%s': not an http:// or https:// URL", advertise_url);
    r = calloc(1, sizeof *r);
    if (!r)
        return inferd_err_set(err, INFERD_ENOMEM, "etcd registration: out of memory");
    waker_init(&r->w);
    if ((rc = discover_etcd_url(url, r->endpoint, r->prefix, err)) < 0 || (rc = curl_ready(&r->curl, err)) < 0)
        goto fail;
    r->ttl_s = ttl_s;
    discover_advertise_id(r->id, advertise_url);
    snprintf(key, sizeof key, "%s/%s", r->prefix, r->id);
    json_t *def = json_pack("{s:s,s:s,s:s,s:s}", "id", r->id, "name", strstr(advertise_url, "://") + 3, "base_url",
                            advertise_url, "protocol", "inferd");
    value = def ? json_dumps(def, JSON_COMPACT) : NULL;
    json_decref(def);
    if (!value || discover_b64_encode(key, strlen(key), &r->key_b64) < 0 ||
        discover_b64_encode(value, strlen(value), &r->value_b64) < 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "etcd registration: out of memory");
        goto fail;
    }
    free(value);
    value = NULL;
    /* The first registration here, so that the key is there when serve says it is ready;
     * an etcd that is down is not fatal: the thread keeps trying. */
    struct inferd_err perr = {0};
    if (reg_put(r, &perr) == 0)
        log_event(LOG_INFO, "etcd registration: registered", "prefix", r->prefix, "id", r->id, NULL);
    else
        log_event(LOG_WARN, "etcd registration failed; retrying every second", "prefix", r->prefix, "reason", perr.msg,
                  NULL);
    if (pthread_create(&r->thread, NULL, reg_main, r) != 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "etcd registration: cannot start a thread");
        goto fail;
    }
    r->thread_started = 1;
    *out = r;
    return 0;
fail:
    free(value);
    reg_free(r);
    return rc;
}

void etcd_register_stop(struct etcd_register *r)
{
    if (!r)
        return;
    waker_stop(&r->w);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    if (r->lease) {
        char id[24];
        json_t *ans;
        struct inferd_err err = {0};
        snprintf(id, sizeof id, "%" PRId64, r->lease);
        /* stop NULL: this call must not be cut by the stop flag. */
        if (reg_call(r, "/v3/lease/revoke", json_pack("{s:s}", "ID", id), NULL, &ans, &err) < 0)
            log_event(LOG_WARN, "etcd registration: revoke failed; the key expires with its lease", "id", r->id,
                      "reason", err.msg, NULL);
        else
            log_event(LOG_INFO, "etcd registration: revoked", "prefix", r->prefix, "id", r->id, NULL);
        json_decref(ans);
    }
    reg_free(r);
}
