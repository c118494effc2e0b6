/* test_report.c — the evaluation report and demand mining on an in-memory SQLite database
 * with the tables of store.h filled with synthetic history: a good channel, a failing one
 * (named <b>&"x, to check escaping), a slow one, a candidate, one with wrong answers; unserved
 * and busy requests. Checks the recommendations, the demand numbers and the HTML page. */
#include "gateway/report.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1764900000000LL /* 2025-12-05 02:00:00 UTC */
#define WINDOW_S (6 * 3600)
#define HOUR_MS 3600000LL

/* The schema of store.h's header comment, column for column. */
static const char SCHEMA[] =
    "CREATE TABLE channels(id TEXT PRIMARY KEY, def TEXT, source TEXT, created_ms, updated_ms);"
    "CREATE TABLE api_keys(id TEXT PRIMARY KEY, name TEXT, key_hash TEXT UNIQUE, key_hint TEXT,"
    " rate_per_s REAL, burst REAL, quota_requests INTEGER, quota_tokens INTEGER,"
    " used_requests INTEGER, used_tokens INTEGER, created_ms INTEGER);"
    "CREATE TABLE requests(ts_ms, request_id, key_id, model, route, channel_id, status, latency_ms,"
    " ttft_ms, attempts, error, busy, tokens);"
    "CREATE TABLE probes(ts_ms, channel_id, model, kind, ok, latency_ms, detail);"
    "CREATE TABLE samples(ts_ms, channel_id, state, score, availability, quality, latency_ms, p50,"
    " p95, p99, requests, errors, outstanding);";

static sqlite3 *db;
static sqlite3_stmt *ins_req, *ins_probe, *ins_sample;
static int nreq;

static void request(int64_t ts, const char *model, const char *channel, int status,
                    const char *error, int busy)
{
    char id[32];
    snprintf(id, sizeof id, "r%d", nreq++);
    sqlite3_reset(ins_req);
    sqlite3_bind_int64(ins_req, 1, ts);
    sqlite3_bind_text(ins_req, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins_req, 3, "k1", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_req, 4, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_req, 5, "v2_infer", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_req, 6, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins_req, 7, status);
    sqlite3_bind_double(ins_req, 8, 12.5);
    sqlite3_bind_double(ins_req, 9, 0);
    sqlite3_bind_int(ins_req, 10, 1 + busy);
    sqlite3_bind_text(ins_req, 11, error, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins_req, 12, busy);
    sqlite3_bind_int(ins_req, 13, 0);
    CHECK(sqlite3_step(ins_req) == SQLITE_DONE);
}

static void probe(int64_t ts, const char *channel, const char *kind, int ok, const char *detail)
{
    sqlite3_reset(ins_probe);
    sqlite3_bind_int64(ins_probe, 1, ts);
    sqlite3_bind_text(ins_probe, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_probe, 3, "mlp", -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_probe, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins_probe, 5, ok);
    sqlite3_bind_double(ins_probe, 6, 3.0);
    sqlite3_bind_text(ins_probe, 7, detail, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(ins_probe) == SQLITE_DONE);
}

static void sample(int64_t ts, const char *channel, const char *state, double score, double p95,
                   int errors)
{
    sqlite3_reset(ins_sample);
    sqlite3_bind_int64(ins_sample, 1, ts);
    sqlite3_bind_text(ins_sample, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins_sample, 3, state, -1, SQLITE_STATIC);
    sqlite3_bind_double(ins_sample, 4, score);
    sqlite3_bind_double(ins_sample, 5, 1.0);
    sqlite3_bind_double(ins_sample, 6, 1.0);
    sqlite3_bind_double(ins_sample, 7, p95 / 2);
    sqlite3_bind_double(ins_sample, 8, p95 / 2);
    sqlite3_bind_double(ins_sample, 9, p95);
    sqlite3_bind_double(ins_sample, 10, p95 * 1.5);
    sqlite3_bind_int(ins_sample, 11, 10);
    sqlite3_bind_int(ins_sample, 12, errors);
    sqlite3_bind_int(ins_sample, 13, 0);
    CHECK(sqlite3_step(ins_sample) == SQLITE_DONE);
}

static void fill(void)
{
    const int64_t since = NOW_MS - WINDOW_S * 1000LL;
    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    /* rows before the window must not count */
    for (int i = 0; i < 50; i++)
        request(since - 1000 - i, "old", "", 0, "no_channel", 0);
    for (int i = 0; i < 360; i++) { /* a sample a minute for 6 hours */
        int64_t ts = since + 60000LL * (i + 1);
        sample(ts, "good", "healthy", 0.95, 40, 0);
        sample(ts, "bad1", i < 10 ? "healthy" : "ejected", 0.1, 45, 3);
        sample(ts, "slow", "healthy", 0.6, 400, 0);
        probe(ts, "good", "live", 1, "");
        probe(ts, "bad1", "live", i < 10, i < 10 ? "" : "connect: refused");
        probe(ts, "slow", "live", 1, "");
    }
    probe(NOW_MS - 5000, "wrong", "canary", 0, "outputs[0].data[3]: 0.1 vs 0.5");
    /* mlp: 200 served by good, 20 failed on bad1 */
    for (int i = 0; i < 200; i++)
        request(since + 100000LL * (i + 1), "mlp", "good", 200, "", 0);
    for (int i = 0; i < 20; i++)
        request(since + 1000LL * (i + 1), "mlp", "bad1", 502, "upstream_5xx", 0);
    /* llm: 40 quiet requests at 20:00-21:40, 60 at 23:30 of which 30 met a busy channel
     * (and succeeded on a retry) */
    for (int i = 0; i < 40; i++)
        request(since + 150000LL * (i + 1), "llm", "slow", 200, "", 0);
    for (int i = 0; i < 60; i++)
        request(NOW_MS - 3 * HOUR_MS + 30LL * 60000 + i * 1000, "llm", "slow", 200, "", i % 2 == 0);
    /* a row whose error is NULL rather than '' is a success too */
    CHECK(sqlite3_exec(db, "INSERT INTO requests(ts_ms, model, channel_id, status, error, busy) "
                           "VALUES(1764899000000, 'mlp', 'good', 200, NULL, NULL)",
                       NULL, NULL, NULL) == SQLITE_OK);
    /* ghost: asked for 37 times, no channel serves it */
    for (int i = 0; i < 37; i++)
        request(NOW_MS - 1000LL * (i + 1), "ghost", "", 404, "no_channel", 0);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
}

static json_t *live_snapshot(void)
{
    json_error_t je;
    json_t *live = json_loads(
        "[{\"id\":\"good\",\"name\":\"good\",\"base_url\":\"http://10.0.0.1:8080\",\"protocol\":\"inferd\","
        "  \"source\":\"static\",\"state\":\"healthy\",\"score\":0.95,\"availability\":1.0,\"quality\":1.0,"
        "  \"latency_ms\":{\"ewma\":20,\"p50\":20,\"p95\":40,\"p99\":60},\"requests\":200,\"errors\":0,"
        "  \"models\":[\"mlp\",\"llm\"],\"reason\":\"\"},"
        " {\"id\":\"bad1\",\"name\":\"<b>&\\\"x\",\"base_url\":\"http://10.0.0.2:8080/?a=1&b=<2>\","
        "  \"protocol\":\"inferd\",\"state\":\"ejected\",\"score\":0.1,\"availability\":0.03,\"quality\":1.0,"
        "  \"latency_ms\":{\"p50\":20,\"p95\":45,\"p99\":70},\"requests\":20,\"errors\":20,"
        "  \"models\":[\"mlp\"],\"reason\":\"connect: refused\"},"
        " {\"id\":\"slow\",\"name\":\"slow\",\"base_url\":\"http://10.0.0.3:8080\",\"protocol\":\"openai\","
        "  \"state\":\"healthy\",\"score\":0.6,\"availability\":1.0,\"quality\":1.0,"
        "  \"latency_ms\":{\"p50\":200,\"p95\":400,\"p99\":600},\"requests\":100,\"errors\":30,"
        "  \"models\":[\"llm\"]},"
        " {\"id\":\"cand\",\"name\":\"cand\",\"base_url\":\"http://10.0.0.4:8080\",\"state\":\"candidate\","
        "  \"score\":0.9,\"availability\":1.0,\"quality\":1.0,\"models\":[\"mlp\"]},"
        " {\"id\":\"wrong\",\"name\":\"wrong\",\"base_url\":\"http://10.0.0.5:8080\",\"state\":\"bad_quality\","
        "  \"score\":0.2,\"availability\":1.0,\"quality\":0.0,\"models\":[\"mlp\"]},"
        " {\"id\":\"off\",\"name\":\"off\",\"state\":\"disabled\",\"models\":[\"llm\"]}]",
        0, &je);
    if (!live)
        check_fail(__FILE__, __LINE__, je.text);
    return live;
}

static const json_t *chan(const json_t *rep, const char *id)
{
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(rep, "channels"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
            return c;
    }
    return NULL;
}

static const char *rec(const json_t *rep, const char *id)
{
    const char *s = json_string_value(json_object_get(chan(rep, id), "recommendation"));
    return s ? s : "(none)";
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_report(const json_t *live)
{
    struct inferd_err err = {0};
    json_t *rep = gw_report_build(db, live, NOW_MS, WINDOW_S, &err);
    CHECK(rep != NULL);
    if (!rep) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(json_integer_value(json_object_get(rep, "generated_ms")) == NOW_MS);
    CHECK(json_integer_value(json_object_get(rep, "window_s")) == WINDOW_S);
    CHECK(json_array_size(json_object_get(rep, "channels")) == 6);
    CHECK(strcmp(rec(rep, "good"), "keep") == 0);
    CHECK(strcmp(rec(rep, "bad1"), "remove: down 97% of the window") == 0);
    CHECK(strncmp(rec(rep, "slow"), "investigate: p95 9.4x the fleet's (400 ms vs ", 44) == 0);
    CHECK(strcmp(rec(rep, "cand"), "admit") == 0);
    CHECK(strcmp(rec(rep, "wrong"), "remove: wrong canary answers (outputs[0].data[3]: 0.1 vs 0.5)") == 0);
    CHECK(strcmp(rec(rep, "off"), "keep") == 0);
    fprintf(stderr, "good: %s\nbad1: %s\nslow: %s\ncand: %s\nwrong: %s\n", rec(rep, "good"),
            rec(rep, "bad1"), rec(rep, "slow"), rec(rep, "cand"), rec(rep, "wrong"));
    /* numbers */
    const json_t *b1 = chan(rep, "bad1");
    CHECK_NEAR(json_real_value(json_object_get(b1, "error_ratio")), 1.0, 1e-9);
    CHECK(json_integer_value(json_object_get(b1, "window_requests")) == 20);
    CHECK_NEAR(json_real_value(json_object_get(b1, "down_share")), 350.0 / 360.0, 1e-9);
    CHECK(strcmp(json_string_value(json_object_get(b1, "reason")), "connect: refused") == 0);
    CHECK_NEAR(json_real_value(json_object_get(chan(rep, "slow"), "error_ratio")), 0.0, 1e-9);
    CHECK_NEAR(json_real_value(json_object_get(chan(rep, "good"), "error_ratio")), 0.0, 1e-9);
    CHECK(json_integer_value(json_object_get(chan(rep, "good"), "window_requests")) == 201);
    CHECK(json_integer_value(json_object_get(chan(rep, "good"), "window_errors")) == 0);
    CHECK(json_is_null(json_object_get(chan(rep, "cand"), "down_share")));
    /* live members are kept */
    CHECK(json_number_value(json_object_get(json_object_get(chan(rep, "slow"), "latency_ms"), "p95")) == 400);
    /* history: 360 samples downsampled to at most 120 points, in time order */
    const json_t *h = json_object_get(chan(rep, "good"), "history");
    CHECK(json_array_size(h) <= 120 && json_array_size(h) >= 100);
    const json_t *p0 = json_array_get(h, 0), *pl = json_array_get(h, json_array_size(h) - 1);
    CHECK(json_integer_value(json_object_get(pl, "ts_ms")) == NOW_MS);
    CHECK(json_integer_value(json_object_get(p0, "ts_ms")) < json_integer_value(json_object_get(pl, "ts_ms")));
    CHECK_NEAR(json_real_value(json_object_get(p0, "score")), 0.95, 1e-9);
    CHECK_NEAR(json_real_value(json_object_get(p0, "p95")), 40, 1e-9);
    CHECK(strcmp(json_string_value(json_object_get(p0, "state")), "healthy") == 0);
    h = json_object_get(b1, "history");
    CHECK_NEAR(json_real_value(json_object_get(json_array_get(h, 10), "errors")), 3, 1e-9);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(h, 100), "state")), "ejected") == 0);
    CHECK(json_array_size(json_object_get(chan(rep, "cand"), "history")) == 0);

    /* demand */
    const json_t *d = json_object_get(rep, "demand");
    const json_t *un = json_object_get(d, "unserved");
    CHECK(json_array_size(un) == 1); /* "old" is before the window */
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(un, 0), "model")), "ghost") == 0);
    CHECK(json_integer_value(json_object_get(json_array_get(un, 0), "requests")) == 37);
    const json_t *sat = json_object_get(d, "saturated");
    CHECK(json_array_size(sat) == 1);
    const json_t *s0 = json_array_get(sat, 0);
    CHECK(strcmp(json_string_value(json_object_get(s0, "model")), "llm") == 0);
    CHECK(json_integer_value(json_object_get(s0, "requests")) == 100);
    CHECK_NEAR(json_real_value(json_object_get(s0, "busy_share")), 0.3, 1e-9);
    CHECK_NEAR(json_real_value(json_object_get(s0, "peak_busy_share")), 0.5, 1e-9);
    CHECK(json_integer_value(json_object_get(s0, "channels")) == 2); /* good and slow; off is disabled */
    CHECK(json_integer_value(json_object_get(s0, "peak_hour")) == 23);
    /* N = ceil(c * b / (1 - b)) with b = max(0.3, 0.5): 2 * 0.5 / 0.5 = 2 */
    CHECK(json_integer_value(json_object_get(s0, "add_channels")) == 2);
    const json_t *recs = json_object_get(d, "recommendations");
    CHECK(json_array_size(recs) == 2);
    CHECK(strcmp(json_string_value(json_array_get(recs, 0)), "add a channel for \"ghost\" (37 requests found none)") == 0);
    const char *r1 = json_string_value(json_array_get(recs, 1));
    CHECK(r1 && strncmp(r1, "raise capacity of \"llm\" by 2 channel(s): 30% of its 100 requests", 64) == 0);
    CHECK(r1 && strstr(r1, "peak 23:00 UTC with 60 requests, 50% busy") != NULL);
    fprintf(stderr, "demand: %s\n", r1 ? r1 : "(none)");
    const json_t *bh = json_object_get(d, "by_hour");
    CHECK(json_array_size(bh) == 24);
    json_int_t total = 0;
    size_t i;
    const json_t *x;
    json_array_foreach(bh, i, x)
    {
        CHECK(json_integer_value(json_object_get(x, "hour")) == (json_int_t)i);
        total += json_integer_value(json_object_get(x, "requests"));
    }
    CHECK(total == 201 + 20 + 100 + 37);
    CHECK(json_integer_value(json_object_get(json_array_get(bh, 3), "requests")) == 0);

    /* gw_demand_build alone gives the same member */
    json_t *d2 = gw_demand_build(db, live, NOW_MS, WINDOW_S, &err);
    CHECK(d2 && json_equal(d2, d));
    json_decref(d2);

    /* the page */
    struct buf page;
    buf_init(&page, 4u << 20);
    CHECK(gw_report_html(rep, &page, &err) == 0);
    const char *html = buf_str(&page);
    CHECK(html && strncmp(html, "<!DOCTYPE html>", 15) == 0);
    if (html) {
        CHECK(count(html, "<svg") == 6 * 3 + 1 && count(html, "</svg>") == 6 * 3 + 1);
        CHECK(count(html, "<table") == count(html, "</table>") && count(html, "<table") == 3);
        CHECK(count(html, "<section") == count(html, "</section>"));
        CHECK(count(html, "<tr") == count(html, "</tr>"));
        CHECK(count(html, "<polyline") == 3 * 3); /* cand, wrong, off have no samples */
        CHECK(count(html, "no samples in the window") == 3 * 3);
        CHECK(strstr(html, "&lt;b&gt;&amp;&quot;x") != NULL);
        CHECK(strstr(html, "<b>&\"x") == NULL);
        CHECK(strstr(html, "?a=1&amp;b=&lt;2&gt;") != NULL);
        CHECK(strstr(html, "add a channel for &quot;ghost&quot; (37 requests found none)") != NULL);
        CHECK(strstr(html, "<script") == NULL && strstr(html, "href=") == NULL && strstr(html, "src=") == NULL);
        CHECK(count(html, "http://") == count(html, "xmlns=\"http://www.w3.org/2000/svg\"") + 2 * 5);
        CHECK(strstr(html, "p95 latency (ms)") && strstr(html, "errors per sample") && strstr(html, "UTC"));
        CHECK(strstr(html, "</body></html>") != NULL);
        if (getenv("REPORT_HTML_OUT")) {
            FILE *f = fopen(getenv("REPORT_HTML_OUT"), "w");
            if (f) {
                fputs(html, f);
                fclose(f);
            }
        }
    }
    /* a cap too small: ETOOLARGE naming the page */
    struct buf small;
    buf_init(&small, 1000);
    CHECK(gw_report_html(rep, &small, &err) == INFERD_ETOOLARGE && strstr(err.msg, "report page"));
    buf_free(&small);
    buf_free(&page);
    json_decref(rep);
}

static void test_errors(const json_t *live)
{
    struct inferd_err err = {0};
    json_t *notarr = json_object();
    CHECK(gw_report_build(db, live, NOW_MS, 0, &err) == NULL && err.code == INFERD_EINVAL);
    CHECK(gw_report_build(db, notarr, NOW_MS, 60, &err) == NULL && err.code == INFERD_EINVAL);
    CHECK(gw_report_build(NULL, live, NOW_MS, 60, &err) == NULL && err.code == INFERD_EINVAL);
    CHECK(gw_demand_build(db, live, NOW_MS, -5, &err) == NULL && err.code == INFERD_EINVAL);
    json_decref(notarr);
    json_t *noid = json_loads("[{\"name\":\"x\"}]", 0, NULL);
    CHECK(gw_report_build(db, noid, NOW_MS, 60, &err) == NULL && strstr(err.msg, "\"id\""));
    json_decref(noid);
    /* an empty fleet and an empty history still make a report */
    json_t *empty = json_array();
    json_t *rep = gw_report_build(db, empty, NOW_MS + 400LL * 86400 * 1000, 60, &err);
    CHECK(rep && json_array_size(json_object_get(rep, "channels")) == 0);
    CHECK(rep && json_array_size(json_object_get(json_object_get(rep, "demand"), "recommendations")) == 0);
    struct buf page;
    buf_init(&page, 1u << 20);
    CHECK(rep && gw_report_html(rep, &page, &err) == 0 && strstr(buf_str(&page), "room to spare"));
    buf_free(&page);
    json_decref(rep);
    /* a database without the tables: EIO with SQLite's message */
    sqlite3 *bare;
    CHECK(sqlite3_open(":memory:", &bare) == SQLITE_OK);
    CHECK(gw_report_build(bare, live, NOW_MS, 60, &err) == NULL && err.code == INFERD_EIO);
    CHECK(strstr(err.msg, "no such table") != NULL);
    CHECK(gw_demand_build(bare, empty, NOW_MS, 60, &err) == NULL && err.code == INFERD_EIO);
    sqlite3_close(bare);
    json_decref(empty);
    buf_init(&page, 1024);
    CHECK(gw_report_html(NULL, &page, &err) == INFERD_EINVAL);
    buf_free(&page);
}

int main(void)
{
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, SCHEMA, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO requests VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &ins_req, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO probes VALUES(?,?,?,?,?,?,?)", -1, &ins_probe, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO samples VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &ins_sample, NULL) == SQLITE_OK);
    fill();
    json_t *live = live_snapshot();
    test_report(live);
    test_errors(live);
    json_decref(live);
    sqlite3_finalize(ins_req);
    sqlite3_finalize(ins_probe);
    sqlite3_finalize(ins_sample);
    sqlite3_close(db);
    return check_finish();
}
