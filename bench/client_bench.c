/* client_bench.c — in-process timings for the client library and the metrics hot path,
 * each beside its bare peer, printed as ratios. Used by bench/client_vs_curl.py.
 *
 *   client_bench http URL MODEL REQUEST.json N
 *     inferd_client_infer_v2 (serialise the request, retry loop, idempotency key, parse the
 *     answer) vs the same POST on one raw libcurl easy handle with the same json_dumps and
 *     json_loadb, N calls each, sequential, keep-alive on both.
 *   client_bench metrics N
 *     metrics_series_get + metrics_add (4 labels) and metrics_observe on a cached series
 *     vs a bare relaxed atomic add, N ops each. */
#include "inferd/client.h"
#include "observe/families.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct buf {
    char *p;
    size_t n;
};

static size_t sink(char *d, size_t s, size_t n, void *ud)
{
    struct buf *b = ud;
    char *np = realloc(b->p, b->n + s * n + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, d, s * n);
    b->p = np;
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

static int bench_http(const char *url, const char *model, const char *file, long n)
{
    struct inferd_err err = {0};
    json_error_t je;
    json_t *req = json_load_file(file, 0, &je);
    if (!req) {
        fprintf(stderr, "%s: %s\n", file, je.text);
        return 1;
    }
    char *body = json_dumps(req, JSON_COMPACT);
    struct inferd_client_opts o = inferd_client_opts_default();
    o.base_urls = url;
    struct inferd_client *c;
    if (inferd_client_new(&o, &c, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        struct inferd_response r = {0};
        if (inferd_client_infer_v2(c, model, NULL, req, &r, &err) < 0 || !r.json) {
            fprintf(stderr, "call %ld: %s\n", i, err.msg);
            return 1;
        }
        inferd_response_clear(&r);
    }
    double ta = (now_s() - t0) / n;

    char full[1024];
    snprintf(full, sizeof full, "%s/v2/models/%s/infer", url, model);
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Expect:");
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        struct buf b = {0};
        free(body);
        body = json_dumps(req, JSON_COMPACT); /* the client serialises every call too */
        curl_easy_setopt(h, CURLOPT_URL, full);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        long st = 0;
        if (curl_easy_perform(h) != CURLE_OK ||
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st) != CURLE_OK || st != 200) {
            fprintf(stderr, "raw call %ld failed (HTTP %ld)\n", i, st);
            return 1;
        }
        json_t *j = json_loadb(b.p, b.n, 0, NULL);
        json_decref(j);
        free(b.p);
    }
    double tb = (now_s() - t0) / n;
    printf("http v2 infer, %ld sequential calls: inferd client %.1f us/call, raw libcurl "
           "%.1f us/call, ratio %.2f\n", n, ta * 1e6, tb * 1e6, ta / tb);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    inferd_client_free(c);
    free(body);
    json_decref(req);
    return 0;
}

static int bench_metrics(long n)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    if (metrics_inferd_register(reg, &m, &err) < 0)
        return 1;
    const char *lv[] = {"resnet50", "1", "v2", "200"};
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        metrics_add(metrics_series_get(m.requests_total, lv), 1);
    double t_lookup = (now_s() - t0) / n;
    struct metrics_series *s = metrics_series_get(m.requests_total, lv);
    t0 = now_s();
    for (long i = 0; i < n; i++)
        metrics_add(s, 1);
    double t_add = (now_s() - t0) / n;
    struct metrics_series *h =
        metrics_series_get(m.request_duration, (const char *[]){"resnet50", "1"});
    t0 = now_s();
    for (long i = 0; i < n; i++)
        metrics_observe(h, (double)(i & 1023) * 1e-4);
    double t_obs = (now_s() - t0) / n;
    static _Atomic uint64_t bare;
    t0 = now_s();
    for (long i = 0; i < n; i++)
        atomic_fetch_add_explicit(&bare, 1, memory_order_relaxed);
    double t_bare = (now_s() - t0) / n;
    printf("metrics, %ld ops: lookup+add %.1f ns, cached add %.1f ns, observe %.1f ns, "
           "bare atomic add %.1f ns; ratios to bare: %.1f / %.1f / %.1f\n", n, t_lookup * 1e9,
           t_add * 1e9, t_obs * 1e9, t_bare * 1e9, t_lookup / t_bare, t_add / t_bare,
           t_obs / t_bare);
    if (metrics_value(s) != 2.0 * n)
        return 1;
    metrics_registry_free(reg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "http") == 0)
        return bench_http(argv[2], argv[3], argv[4], atol(argv[5]));
    if (argc == 3 && strcmp(argv[1], "metrics") == 0)
        return bench_metrics(atol(argv[2]));
    fprintf(stderr, "usage: client_bench http URL MODEL REQUEST.json N | metrics N\n");
    return 2;
}
