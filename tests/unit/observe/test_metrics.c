/* test_metrics.c — metrics registry: exact exposition text, escaping, caps, validation. */
#include "check.h"
#include "observe/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *expose(struct metrics_registry *reg)
{
    char *text = NULL;
    size_t len = 0;
    struct inferd_err err = {0};
    CHECK(metrics_expose(reg, &text, &len, &err) == 0);
    CHECK(text && strlen(text) == len);
    return text;
}

static void test_exact_text(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *req, *temp, *lat;
    const char *l2[] = {"model", "code"};
    const char *l1[] = {"model"};
    const double b[] = {0.1, 0.5, 1};
    CHECK(metrics_counter_new(reg, "t_requests_total", "Requests.", l2, 2, &req, &err) == 0);
    CHECK(metrics_gauge_new(reg, "t_temperature", "Temp.", NULL, 0, &temp, &err) == 0);
    CHECK(metrics_histogram_new(reg, "t_latency_seconds", "Latency.", l1, 1, b, 3, &lat, &err) ==
          0);
    metrics_add(metrics_series_get(req, (const char *[]){"a", "200"}), 1);
    metrics_add(metrics_series_get(req, (const char *[]){"a", "200"}), 2);
    metrics_add(metrics_series_get(req, (const char *[]){"b", "503"}), 1);
    metrics_add(metrics_series_get(req, (const char *[]){"b", "503"}), -5); /* ignored */
    metrics_set(metrics_series_get(temp, NULL), 21.5);
    metrics_add(metrics_series_get(temp, NULL), -1);
    struct metrics_series *h = metrics_series_get(lat, (const char *[]){"a"});
    metrics_observe(h, 0.05);
    metrics_observe(h, 0.1); /* le is inclusive */
    metrics_observe(h, 0.7);
    metrics_observe(h, 3);
    metrics_observe(h, NAN); /* ignored */
    char *text = expose(reg);
    const char *want =
        "# HELP t_requests_total Requests.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{model=\"a\",code=\"200\"} 3\n"
        "t_requests_total{model=\"b\",code=\"503\"} 1\n"
        "# HELP t_temperature Temp.\n"
        "# TYPE t_temperature gauge\n"
        "t_temperature 20.5\n"
        "# HELP t_latency_seconds Latency.\n"
        "# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_bucket{model=\"a\",le=\"0.1\"} 2\n"
        "t_latency_seconds_bucket{model=\"a\",le=\"0.5\"} 2\n"
        "t_latency_seconds_bucket{model=\"a\",le=\"1\"} 3\n"
        "t_latency_seconds_bucket{model=\"a\",le=\"+Inf\"} 4\n"
        "t_latency_seconds_sum{model=\"a\"} 3.85\n"
        "t_latency_seconds_count{model=\"a\"} 4\n";
    CHECK(strcmp(text, want) == 0);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", text, want);
    CHECK(metrics_value(h) == 4);
    CHECK_NEAR(metrics_hist_sum(h), 3.85, 1e-12);
    free(text);
    metrics_registry_free(reg);
}

static void test_escaping(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *f;
    const char *l[] = {"path"};
    CHECK(metrics_gauge_new(reg, "t_esc", "Help with \\ and\nnewline \"q\".", l, 1, &f, &err) == 0);
    metrics_set(metrics_series_get(f, (const char *[]){"a\"b\\c\nd"}), 1);
    metrics_set(metrics_series_get(f, (const char *[]){NULL}), 2); /* NULL is "" */
    metrics_set(metrics_series_get(f, (const char *[]){""}), 3);   /* same series */
    char *text = expose(reg);
    const char *want = "# HELP t_esc Help with \\\\ and\\nnewline \"q\".\n"
                       "# TYPE t_esc gauge\n"
                       "t_esc{path=\"a\\\"b\\\\c\\nd\"} 1\n"
                       "t_esc{path=\"\"} 3\n";
    CHECK(strcmp(text, want) == 0);
    if (strcmp(text, want) != 0)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", text, want);
    free(text);
    metrics_registry_free(reg);
}

static void test_numbers(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *f;
    const char *l[] = {"k"};
    CHECK(metrics_gauge_new(reg, "t_num", "n", l, 1, &f, &err) == 0);
    metrics_set(metrics_series_get(f, (const char *[]){"a"}), 0.1 + 0.2);
    metrics_set(metrics_series_get(f, (const char *[]){"b"}), INFINITY);
    metrics_set(metrics_series_get(f, (const char *[]){"c"}), NAN);
    metrics_set(metrics_series_get(f, (const char *[]){"d"}), 1e21);
    char *text = expose(reg);
    CHECK(strstr(text, "t_num{k=\"a\"} 0.30000000000000004\n") != NULL);
    CHECK(strstr(text, "t_num{k=\"b\"} +Inf\n") != NULL);
    CHECK(strstr(text, "t_num{k=\"c\"} NaN\n") != NULL);
    CHECK(strstr(text, "t_num{k=\"d\"} 1e+21\n") != NULL);
    free(text);
    metrics_registry_free(reg);
}

static void test_cap(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *f;
    const char *l[] = {"user"};
    CHECK(metrics_counter_new(reg, "t_cap_total", "c", l, 1, &f, &err) == 0);
    metrics_family_set_max_series(f, 3);
    char name[16];
    struct metrics_series *first = NULL;
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "u%d", i);
        struct metrics_series *s = metrics_series_get(f, (const char *[]){name});
        CHECK(s != NULL);
        if (i == 0)
            first = s;
        metrics_add(s, 1);
    }
    CHECK(metrics_series_get(f, (const char *[]){"u0"}) == first); /* existing still found */
    char *text = expose(reg);
    CHECK(strstr(text, "t_cap_total{user=\"u2\"} 1\n") != NULL);
    CHECK(strstr(text, "u3") == NULL);
    CHECK(strstr(text, "inferd_metrics_series_dropped_total{family=\"t_cap_total\"} 7\n"));
    free(text);

    /* Over-long label values are cut; the cut value names one series. */
    struct metrics_family *g;
    CHECK(metrics_gauge_new(reg, "t_long", "g", l, 1, &g, &err) == 0);
    char big[METRICS_LABEL_VALUE_MAX * 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct metrics_series *s1 = metrics_series_get(g, (const char *[]){big});
    big[METRICS_LABEL_VALUE_MAX + 5] = '\0';
    struct metrics_series *s2 = metrics_series_get(g, (const char *[]){big});
    CHECK(s1 == s2);

    /* Invalid UTF-8 becomes U+FFFD (Prometheus needs valid UTF-8); valid UTF-8 is kept. */
    struct metrics_family *u;
    CHECK(metrics_gauge_new(reg, "t_utf8", "u", l, 1, &u, &err) == 0);
    metrics_set(metrics_series_get(u, (const char *[]){"a\xff\xc3(b"}), 1);
    metrics_set(metrics_series_get(u, (const char *[]){"caf\xc3\xa9 \xf0\x9f\x98\x80"}), 2);
    metrics_set(metrics_series_get(u, (const char *[]){"\xed\xa0\x80"}), 3); /* surrogate */
    char *t2 = expose(reg);
    CHECK(strstr(t2, "t_utf8{user=\"a\xef\xbf\xbd\xef\xbf\xbd(b\"} 1\n") != NULL);
    CHECK(strstr(t2, "t_utf8{user=\"caf\xc3\xa9 \xf0\x9f\x98\x80\"} 2\n") != NULL);
    CHECK(strstr(t2, "t_utf8{user=\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 3\n") != NULL);
    /* the same bad input finds the same series */
    CHECK(metrics_series_get(u, (const char *[]){"a\xff\xc3(b"}) ==
          metrics_series_get(u, (const char *[]){"a\xff\xc3(b"}));
    free(t2);
    metrics_registry_free(reg);
}

static void test_validation(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *f;
    const char *le[] = {"le"};
    const char *dup[] = {"a", "a"};
    const char *rsv[] = {"__x"};
    const double bad[] = {1, 1};
    const double ok[] = {1, 2};
    CHECK(metrics_counter_new(reg, "t_requests", "no suffix", NULL, 0, &f, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "_total") != NULL);
    CHECK(metrics_gauge_new(reg, "9bad", "x", NULL, 0, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_gauge_new(reg, "bad-name", "x", NULL, 0, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_gauge_new(reg, "t_g", "x", dup, 2, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_gauge_new(reg, "t_g", "x", rsv, 1, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_histogram_new(reg, "t_h", "x", le, 1, ok, 2, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_histogram_new(reg, "t_h", "x", NULL, 0, bad, 2, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_histogram_new(reg, "t_h", "x", NULL, 0, ok, 0, &f, &err) == INFERD_EINVAL);
    CHECK(metrics_gauge_new(reg, "t_g", "x", NULL, 0, &f, &err) == 0);
    CHECK(metrics_gauge_new(reg, "t_g", "x", NULL, 0, &f, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "already exists") != NULL);
    double b[4];
    CHECK(metrics_buckets_exponential(0.5, 2, 4, b) == 0);
    CHECK(b[0] == 0.5 && b[3] == 4);
    CHECK(metrics_buckets_exponential(0, 2, 4, b) == INFERD_EINVAL);
    /* wrong-kind updates are ignored */
    struct metrics_series *s = metrics_series_get(f, NULL);
    metrics_observe(s, 5);
    CHECK(metrics_value(s) == 0);
    metrics_registry_free(reg);
    metrics_registry_free(NULL);
}

static int collected;
static void collector(void *ctx)
{
    collected++;
    metrics_set(ctx, 42);
}

static void test_collector(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *f;
    CHECK(metrics_gauge_new(reg, "t_c", "c", NULL, 0, &f, &err) == 0);
    CHECK(metrics_add_collector(reg, collector, metrics_series_get(f, NULL), &err) == 0);
    char *text = expose(reg);
    CHECK(collected == 1);
    CHECK(strstr(text, "t_c 42\n") != NULL);
    free(text);
    metrics_registry_free(reg);
}

/* metrics_registry_hide: the series of a removed model/version leave the exposition, keep
 * their values (snapshots still add them up) and come back when asked for again. */
static void test_hide(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_family *req, *per_model, *other;
    const char *mvc[] = {"model", "version", "code"}, *m[] = {"model"}, *k[] = {"kind"};
    CHECK(metrics_counter_new(reg, "t_req_total", "r", mvc, 3, &req, &err) == 0);
    CHECK(metrics_gauge_new(reg, "t_running", "g", m, 1, &per_model, &err) == 0);
    CHECK(metrics_counter_new(reg, "t_err_total", "e", k, 1, &other, &err) == 0);
    struct metrics_series *a1 = metrics_series_get(req, (const char *[]){"a", "1", "200"});
    struct metrics_series *a2 = metrics_series_get(req, (const char *[]){"a", "2", "200"});
    metrics_add(a1, 3);
    metrics_add(a2, 4);
    metrics_add(metrics_series_get(req, (const char *[]){"b", "1", "200"}), 5);
    metrics_set(metrics_series_get(per_model, (const char *[]){"a"}), 1);
    metrics_add(metrics_series_get(other, (const char *[]){"a"}), 1); /* "a" as a kind, not a model */
    /* version 1 of a unloaded: only its series go */
    CHECK(metrics_registry_hide(reg, (const char *[]){"model", "a", "version", "1"}, 2) == 1);
    char *text = expose(reg);
    CHECK(!strstr(text, "t_req_total{model=\"a\",version=\"1\""));
    CHECK(strstr(text, "t_req_total{model=\"a\",version=\"2\",code=\"200\"} 4\n") != NULL);
    CHECK(strstr(text, "t_running{model=\"a\"} 1\n") != NULL);
    free(text);
    struct metrics_snapshot snap;
    CHECK(metrics_family_snapshot(req, (const char *[]){"model", "a"}, 1, &snap, &err) == 0);
    CHECK(snap.value == 7); /* hidden series still count: rates stay monotonic */
    /* model a removed: every family with a "model" label loses its series; others stay */
    CHECK(metrics_registry_hide(reg, (const char *[]){"model", "a"}, 1) == 2);
    text = expose(reg);
    CHECK(!strstr(text, "model=\"a\""));
    CHECK(strstr(text, "t_req_total{model=\"b\",version=\"1\",code=\"200\"} 5\n") != NULL);
    CHECK(strstr(text, "t_err_total{kind=\"a\"} 1\n") != NULL);
    free(text);
    CHECK(metrics_registry_hide(reg, (const char *[]){"model", "a"}, 1) == 0); /* already hidden */
    CHECK(metrics_registry_hide(reg, (const char *[]){"nolabel", "a"}, 1) == 0);
    /* a is back: asking for the series shows it again with its value kept */
    metrics_add(metrics_series_get(req, (const char *[]){"a", "2", "200"}), 1);
    text = expose(reg);
    CHECK(strstr(text, "t_req_total{model=\"a\",version=\"2\",code=\"200\"} 5\n") != NULL);
    CHECK(!strstr(text, "version=\"1\",code=\"200\"} 3"));
    free(text);
    metrics_registry_free(reg);
}

int main(void)
{
    test_hide();
    test_exact_text();
    test_escaping();
    test_numbers();
    test_cap();
    test_validation();
    test_collector();
    return check_finish();
}
