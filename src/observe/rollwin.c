/* rollwin.c — per-key rings of one-second buckets (observe/rollwin.h). */
#include "observe/rollwin.h"

#include "base/utf8.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RW_MAX_KEYS 4096
#define RW_OTHER "_other"

/* One second of one key. sec is the monotonic second the bucket holds; a bucket whose sec
 * is not the one asked for is stale (counts as empty). */
struct rw_bucket {
    int64_t sec;
    uint32_t req, err, cerr;
    uint32_t lat[ROLLWIN_LAT_BUCKETS];
    uint32_t ttft_n;
    int64_t tokens;
    double ttft_sum;
};

struct rw_key {
    char name[ROLLWIN_KEY_MAX];   /* immutable once published */
    pthread_mutex_t mu;           /* guards ring */
    struct rw_bucket ring[ROLLWIN_SECONDS];
};

struct rollwin {
    pthread_mutex_t add_mu;       /* serialises adding keys */
    size_t max_keys;
    atomic_size_t nkeys;          /* published keys: keys[0..nkeys) are valid (release/acquire) */
    struct rw_key **keys;         /* max_keys slots; the last one is reserved for RW_OTHER */
    double bounds[ROLLWIN_LAT_BUCKETS - 1];
};

struct rollwin *rollwin_new(size_t max_keys)
{
    if (max_keys < 2)
        max_keys = 2;
    if (max_keys > RW_MAX_KEYS)
        max_keys = RW_MAX_KEYS;
    struct rollwin *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->keys = calloc(max_keys, sizeof *w->keys);
    if (!w->keys) {
        free(w);
        return NULL;
    }
    w->max_keys = max_keys;
    atomic_init(&w->nkeys, 0);
    pthread_mutex_init(&w->add_mu, NULL);
    for (int i = 0; i < ROLLWIN_LAT_BUCKETS - 1; i++)
        w->bounds[i] = 0.25e-3 * pow(2.0, i / 2.0);
    return w;
}

void rollwin_free(struct rollwin *w)
{
    if (!w)
        return;
    size_t n = atomic_load(&w->nkeys);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_destroy(&w->keys[i]->mu);
        free(w->keys[i]);
    }
    free(w->keys);
    pthread_mutex_destroy(&w->add_mu);
    free(w);
}

static struct rw_key *find(struct rollwin *w, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w->keys[i]->name, name) == 0)
            return w->keys[i];
    return NULL;
}

/* The key called name (made valid UTF-8, cut at a character boundary to fit
 * ROLLWIN_KEY_MAX), added when new; past the cap the shared RW_OTHER key. NULL only when
 * out of memory. */
static struct rw_key *key_get(struct rollwin *w, const char *name)
{
    char cut[ROLLWIN_KEY_MAX];
    utf8_sanitize_into(cut, sizeof cut, name, strlen(name));
    struct rw_key *k = find(w, cut, atomic_load_explicit(&w->nkeys, memory_order_acquire));
    if (k)
        return k;
    pthread_mutex_lock(&w->add_mu);
    size_t n = atomic_load_explicit(&w->nkeys, memory_order_relaxed);
    k = find(w, cut, n);
    if (!k && n + 1 >= w->max_keys) /* the last slot is kept for RW_OTHER */
        k = find(w, RW_OTHER, n);
    if (!k && n < w->max_keys) {
        k = calloc(1, sizeof *k);
        if (k) {
            snprintf(k->name, sizeof k->name, "%s", n + 1 >= w->max_keys ? RW_OTHER : cut);
            pthread_mutex_init(&k->mu, NULL);
            for (int i = 0; i < ROLLWIN_SECONDS; i++)
                k->ring[i].sec = -1;
            w->keys[n] = k;
            atomic_store_explicit(&w->nkeys, n + 1, memory_order_release);
        }
    }
    pthread_mutex_unlock(&w->add_mu);
    return k;
}

static int lat_index(const struct rollwin *w, double s)
{
    int i = 0;
    while (i < ROLLWIN_LAT_BUCKETS - 1 && s > w->bounds[i])
        i++;
    return i;
}

void rollwin_record(struct rollwin *w, const char *key, uint64_t now_ns, const struct rollwin_obs *o)
{
    if (!w || !key || !key[0])
        return;
    struct rw_key *k = key_get(w, key);
    if (!k)
        return;
    int64_t sec = (int64_t)(now_ns / 1000000000u);
    int li = o->latency_s >= 0 && !isnan(o->latency_s) ? lat_index(w, o->latency_s) : -1;
    pthread_mutex_lock(&k->mu);
    struct rw_bucket *b = &k->ring[sec % ROLLWIN_SECONDS];
    if (b->sec != sec) {
        memset(b, 0, sizeof *b);
        b->sec = sec;
    }
    b->req++;
    b->err += o->error;
    b->cerr += o->client_error;
    if (li >= 0)
        b->lat[li]++;
    if (o->tokens > 0)
        b->tokens += o->tokens;
    if (o->ttft_s > 0) {
        b->ttft_sum += o->ttft_s;
        b->ttft_n++;
    }
    pthread_mutex_unlock(&k->mu);
}

/* The q-quantile (ms) of a histogram of n samples, or JSON null when n is 0. */
static json_t *quantile(const struct rollwin *w, const uint32_t *lat, uint64_t n, double q)
{
    if (n == 0)
        return json_null();
    double want = q * (double)n, cum = 0;
    for (int i = 0; i < ROLLWIN_LAT_BUCKETS - 1; i++) {
        cum += lat[i];
        if (cum >= want)
            return json_real(w->bounds[i] * 1e3);
    }
    return json_real(w->bounds[ROLLWIN_LAT_BUCKETS - 2] * 1e3);
}

static json_t *key_json(const struct rollwin *w, struct rw_key *k, int64_t now_sec, int seconds)
{
    json_t *req = json_array(), *err = json_array(), *cerr = json_array(), *p50 = json_array(),
           *p95 = json_array(), *p99 = json_array(), *tok = json_array(), *ttft = json_array();
    uint32_t all_lat[ROLLWIN_LAT_BUCKETS] = {0};
    uint64_t nreq = 0, nerr = 0, ncerr = 0, nlat = 0, nttft = 0;
    int64_t ntok = 0;
    double ttft_sum = 0;
    for (int64_t s = now_sec - seconds + 1; s <= now_sec; s++) {
        struct rw_bucket b;
        pthread_mutex_lock(&k->mu);
        b = k->ring[(s < 0 ? s + ROLLWIN_SECONDS : s) % ROLLWIN_SECONDS];
        pthread_mutex_unlock(&k->mu);
        if (b.sec != s)
            memset(&b, 0, sizeof b);
        uint64_t n = 0;
        for (int i = 0; i < ROLLWIN_LAT_BUCKETS; i++) {
            n += b.lat[i];
            all_lat[i] += b.lat[i];
        }
        nreq += b.req, nerr += b.err, ncerr += b.cerr, nlat += n, ntok += b.tokens;
        nttft += b.ttft_n, ttft_sum += b.ttft_sum;
        json_array_append_new(req, json_integer(b.req));
        json_array_append_new(err, json_integer(b.err));
        json_array_append_new(cerr, json_integer(b.cerr));
        json_array_append_new(p50, quantile(w, b.lat, n, 0.50));
        json_array_append_new(p95, quantile(w, b.lat, n, 0.95));
        json_array_append_new(p99, quantile(w, b.lat, n, 0.99));
        json_array_append_new(tok, json_integer(b.tokens));
        json_array_append_new(ttft, b.ttft_n ? json_real(b.ttft_sum / b.ttft_n * 1e3) : json_null());
    }
    json_t *total = json_pack("{s:I,s:I,s:I,s:f,s:f,s:o,s:o,s:o,s:f,s:o}", "requests", (json_int_t)nreq,
                              "errors", (json_int_t)nerr, "client_errors", (json_int_t)ncerr, "rate",
                              (double)nreq / seconds, "error_ratio", nreq ? (double)nerr / (double)nreq : 0.0,
                              "p50_ms", quantile(w, all_lat, nlat, 0.50), "p95_ms", quantile(w, all_lat, nlat, 0.95),
                              "p99_ms", quantile(w, all_lat, nlat, 0.99), "tokens_per_s", (double)ntok / seconds,
                              "ttft_ms", nttft ? json_real(ttft_sum / (double)nttft * 1e3) : json_null());
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "requests", req, "errors", err, "client_errors", cerr,
                     "p50_ms", p50, "p95_ms", p95, "p99_ms", p99, "tokens", tok, "ttft_ms", ttft, "total", total);
}

json_t *rollwin_json(struct rollwin *w, uint64_t now_ns, int seconds)
{
    if (seconds < 1)
        seconds = 1;
    if (seconds > ROLLWIN_SECONDS)
        seconds = ROLLWIN_SECONDS;
    json_t *out = json_object();
    if (!out || !w)
        return out;
    int64_t now_sec = (int64_t)(now_ns / 1000000000u);
    size_t n = atomic_load_explicit(&w->nkeys, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        json_t *j = key_json(w, w->keys[i], now_sec, seconds);
        if (!j || json_object_set_new(out, w->keys[i]->name, j) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
