/* report.c — the evaluation report and demand mining (see report.h): per-channel numbers
 * and a recommendation from the live snapshot and the history tables, and what the requests
 * table says about demand. The HTML rendering is in report_html.c. */
#include "gateway/report.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_HISTORY_POINTS 120  /* points per channel's history (downsampled) */
#define REPORT_MODELS_MAX 1000     /* models demand mining looks at (most requested first) */
#define REPORT_MIN_REQUESTS 10     /* requests in the window before an error ratio is judged */
#define REPORT_MIN_DOWN_EVIDENCE 3 /* probes (or samples) before "down N%" is judged */
#define REPORT_DEMAND_MIN 20       /* requests of a model before it can be called saturated */
#define REPORT_BUSY_SHARE 0.05     /* busy share from which a model is saturated */
#define REPORT_SLOW_FACTOR 3.0     /* p95 this many times the others' median is slow... */
#define REPORT_SLOW_MIN_MS 10.0    /* ...when also this many ms above it */
#define REPORT_BUSY_CAP 0.9        /* busy share used in the capacity formula at most */

/* A number member of o (nested one level with sub), or def when absent or not a number. */
static double num(const json_t *o, const char *key, const char *sub, double def)
{
    const json_t *v = json_object_get(o, key);
    if (sub)
        v = json_object_get(v, sub);
    return json_is_number(v) ? json_number_value(v) : def;
}

static const char *str(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

static int sql_err(sqlite3 *db, struct inferd_err *err, const char *what)
{
    return inferd_err_set(err, INFERD_EIO, "report: %s: %s", what, sqlite3_errmsg(db));
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, struct inferd_err *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return sql_err(db, err, "preparing a query");
    return 0;
}

/* ---- per channel ---- */

/* What the history tables say about one channel over the window. */
struct chan_window {
    int64_t requests, errors;       /* requests rows served by it */
    int64_t probes, probes_failed;  /* "live" and "ready" probes */
    int64_t samples, samples_down;  /* samples, and those in state "ejected" */
    char canary_detail[160];        /* the latest failed canary's detail, "" when none */
};

/* The queries of one report, prepared once and bound per channel. */
struct chan_queries {
    sqlite3_stmt *requests, *probes, *canary, *samples;
};

static void queries_free(struct chan_queries *q)
{
    sqlite3_finalize(q->requests);
    sqlite3_finalize(q->probes);
    sqlite3_finalize(q->canary);
    sqlite3_finalize(q->samples);
}

static int queries_prepare(sqlite3 *db, struct chan_queries *q, struct inferd_err *err)
{
    if (prepare(db,
                "SELECT COUNT(*), COALESCE(SUM(COALESCE(error, '') != ''), 0) FROM requests "
                "WHERE channel_id = ?1 AND ts_ms > ?2 AND ts_ms <= ?3",
                &q->requests, err) < 0 ||
        prepare(db,
                "SELECT COUNT(*), COALESCE(SUM(ok = 0), 0) FROM probes WHERE channel_id = ?1 "
                "AND kind IN ('live', 'ready') AND ts_ms > ?2 AND ts_ms <= ?3",
                &q->probes, err) < 0 ||
        prepare(db,
                "SELECT detail FROM probes WHERE channel_id = ?1 AND kind = 'canary' AND ok = 0 "
                "AND ts_ms > ?2 AND ts_ms <= ?3 ORDER BY ts_ms DESC LIMIT 1",
                &q->canary, err) < 0 ||
        prepare(db,
                "SELECT ts_ms, state, score, p95, errors, requests FROM samples "
                "WHERE channel_id = ?1 AND ts_ms > ?2 AND ts_ms <= ?3 ORDER BY ts_ms",
                &q->samples, err) < 0)
        return err ? err->code : INFERD_EIO;
    return 0;
}

static void bind3(sqlite3_stmt *st, const char *id, int64_t since, int64_t now)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, since);
    sqlite3_bind_int64(st, 3, now);
}

/* One downsampled history point being summed. */
struct hist_acc {
    int64_t n, ts_ms;
    double score, p95, errors, requests;
    char state[32];
};

static int hist_emit(json_t *hist, struct hist_acc *a)
{
    if (!a->n)
        return 0;
    json_t *pt = json_pack("{s:I,s:f,s:f,s:f,s:f,s:s}", "ts_ms", (json_int_t)a->ts_ms, "score",
                           a->score / (double)a->n, "p95", a->p95, "errors",
                           a->errors / (double)a->n, "requests", a->requests / (double)a->n,
                           "state", a->state);
    memset(a, 0, sizeof *a);
    return pt && json_array_append_new(hist, pt) == 0 ? 0 : INFERD_ENOMEM;
}

/* Fills w and the history array from the tables. Returns 0 or INFERD_EIO/ENOMEM with err. */
static int chan_read(sqlite3 *db, struct chan_queries *q, const char *id, int64_t since,
                     int64_t now, struct chan_window *w, json_t *hist, struct inferd_err *err)
{
    int rc;
    memset(w, 0, sizeof *w);
    bind3(q->requests, id, since, now);
    if (sqlite3_step(q->requests) != SQLITE_ROW) /* an aggregate always has its row */
        return sql_err(db, err, "reading requests");
    w->requests = sqlite3_column_int64(q->requests, 0);
    w->errors = sqlite3_column_int64(q->requests, 1);
    bind3(q->probes, id, since, now);
    if (sqlite3_step(q->probes) != SQLITE_ROW)
        return sql_err(db, err, "reading probes");
    w->probes = sqlite3_column_int64(q->probes, 0);
    w->probes_failed = sqlite3_column_int64(q->probes, 1);
    bind3(q->canary, id, since, now);
    rc = sqlite3_step(q->canary);
    if (rc == SQLITE_ROW && sqlite3_column_text(q->canary, 0))
        snprintf(w->canary_detail, sizeof w->canary_detail, "%s",
                 (const char *)sqlite3_column_text(q->canary, 0));
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_err(db, err, "reading probes");

    /* History: the window cut into REPORT_HISTORY_POINTS equal spans; a point per span that
     * has samples, at its last sample's time: mean score, the highest p95, mean errors and
     * requests per sample, the last state. */
    int64_t span = (now - since + REPORT_HISTORY_POINTS - 1) / REPORT_HISTORY_POINTS;
    int64_t cur = -1;
    struct hist_acc a;
    memset(&a, 0, sizeof a);
    bind3(q->samples, id, since, now);
    while ((rc = sqlite3_step(q->samples)) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(q->samples, 0);
        const char *state = (const char *)sqlite3_column_text(q->samples, 1);
        int64_t b = span > 0 ? (ts - since - 1) / span : 0; /* ts in (since, now]: 0..POINTS-1 */
        if (b != cur && hist_emit(hist, &a) < 0)
            return inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        cur = b;
        a.n++;
        a.ts_ms = ts;
        a.score += sqlite3_column_double(q->samples, 2);
        a.p95 = fmax(a.p95, sqlite3_column_double(q->samples, 3));
        a.errors += sqlite3_column_double(q->samples, 4);
        a.requests += sqlite3_column_double(q->samples, 5);
        snprintf(a.state, sizeof a.state, "%s", state ? state : "");
        w->samples++;
        w->samples_down += state && strcmp(state, "ejected") == 0;
    }
    if (rc != SQLITE_DONE)
        return sql_err(db, err, "reading samples");
    if (hist_emit(hist, &a) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
    return 0;
}

/* The median of the other channels' p95 (those with one), or 0 when none has one. */
static double others_p95(const json_t *live, size_t self)
{
    double v[256];
    size_t n = 0, i;
    const json_t *c;
    json_array_foreach(live, i, c)
    {
        double p = num(c, "latency_ms", "p95", 0);
        if (i == self || !(p > 0) || strcmp(str(c, "state", ""), "disabled") == 0)
            continue;
        if (n < sizeof v / sizeof v[0])
            v[n++] = p;
    }
    if (!n)
        return 0;
    for (i = 1; i < n; i++) /* insertion sort: a fleet is tens of channels */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Whether the channel's canary answers are wrong, and how badly. quality is a number in
 * [0, 1] (the share of canaries that matched) or a string ("good", "bad (why)"). */
static bool quality_bad(const json_t *ch, double *q)
{
    const json_t *v = json_object_get(ch, "quality");
    *q = 1;
    if (json_is_number(v))
        *q = json_number_value(v);
    else if (json_is_string(v) && strncmp(json_string_value(v), "bad", 3) == 0)
        *q = 0;
    return strcmp(str(ch, "state", ""), "bad_quality") == 0 || *q < 0.5;
}

/* The recommendation for channel ch (see report.h's rules and docs/gateway.md). */
static void recommend(const json_t *ch, const struct chan_window *w, double error_ratio,
                      double down_share, int64_t down_evidence, int64_t ratio_requests,
                      double fleet_p95, char *out, size_t cap)
{
    const char *state = str(ch, "state", "");
    const char *reason = str(ch, "reason", "");
    const char *why = w->canary_detail[0] ? w->canary_detail : reason;
    double q, p95 = num(ch, "latency_ms", "p95", 0);
    bool bad = quality_bad(ch, &q);
    bool judged_down = down_evidence >= REPORT_MIN_DOWN_EVIDENCE;
    bool judged_errors = ratio_requests >= REPORT_MIN_REQUESTS;

    if (strcmp(state, "disabled") == 0) {
        snprintf(out, cap, "keep");
        return;
    }
    if (strcmp(state, "candidate") == 0) {
        if (bad)
            snprintf(out, cap, "remove: candidate failed its canary%s%s%s", why[0] ? " (" : "", why,
                     why[0] ? ")" : "");
        else if (judged_down && down_share >= 0.05)
            snprintf(out, cap, "remove: candidate down %.0f%% of the window", down_share * 100);
        else if (q >= 0.999 && num(ch, "availability", NULL, 0) >= 0.99)
            snprintf(out, cap, "admit");
        else
            snprintf(out, cap, "investigate: candidate not proven yet (availability %.0f%%, quality %.2f)",
                     num(ch, "availability", NULL, 0) * 100, q);
        return;
    }
    if (judged_down && down_share >= 0.95)
        snprintf(out, cap, "remove: down %.0f%% of the window", down_share * 100);
    else if (bad)
        snprintf(out, cap, "remove: wrong canary answers%s%s%s", why[0] ? " (" : "", why,
                 why[0] ? ")" : "");
    else if (judged_errors && error_ratio >= 0.5)
        snprintf(out, cap, "remove: %.0f%% of %lld requests failed in the window", error_ratio * 100,
                 (long long)ratio_requests);
    else if (judged_errors && error_ratio >= 0.05)
        snprintf(out, cap, "investigate: %.0f%% of %lld requests failed", error_ratio * 100,
                 (long long)ratio_requests);
    else if (q < 0.99)
        snprintf(out, cap, "investigate: %.0f%% of canaries disagreed%s%s%s", (1 - q) * 100,
                 why[0] ? " (" : "", why, why[0] ? ")" : "");
    else if (judged_down && down_share >= 0.2)
        snprintf(out, cap, "investigate: down %.0f%% of the window", down_share * 100);
    else if (strcmp(state, "ejected") == 0 || strcmp(state, "half_open") == 0)
        snprintf(out, cap, "investigate: %s now%s%s%s", state, reason[0] ? " (" : "", reason,
                 reason[0] ? ")" : "");
    else if (fleet_p95 > 0 && p95 >= REPORT_SLOW_FACTOR * fleet_p95 && p95 - fleet_p95 >= REPORT_SLOW_MIN_MS)
        snprintf(out, cap, "investigate: p95 %.1fx the fleet's (%.0f ms vs %.0f ms)", p95 / fleet_p95, p95,
                 fleet_p95);
    else
        snprintf(out, cap, "keep");
}

/* One channel of the report: a copy of the live member plus the window's numbers. */
static json_t *chan_build(sqlite3 *db, struct chan_queries *q, const json_t *live, size_t idx,
                          int64_t since, int64_t now, struct inferd_err *err)
{
    const json_t *src = json_array_get(live, idx);
    json_t *ch = json_is_object(src) ? json_deep_copy(src) : NULL;
    json_t *hist = json_array();
    struct chan_window w;
    char rec[512];
    if (!ch || !hist) {
        if (!json_is_object(src))
            inferd_err_set(err, INFERD_EINVAL, "report: live[%zu] is not an object", idx);
        else
            inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        goto fail;
    }
    const char *id = str(ch, "id", NULL);
    if (!id) {
        inferd_err_set(err, INFERD_EINVAL, "report: live[%zu] has no \"id\"", idx);
        goto fail;
    }
    if (chan_read(db, q, id, since, now, &w, hist, err) < 0)
        goto fail;

    /* error ratio: the window's requests rows when there are any, else the live counters */
    int64_t nreq = w.requests, nerr = w.errors;
    if (!nreq) {
        nreq = (int64_t)num(ch, "requests", NULL, 0);
        nerr = (int64_t)num(ch, "errors", NULL, 0);
    }
    double error_ratio = nreq > 0 ? (double)nerr / (double)nreq : 0;
    /* down share: failed live/ready probes, else samples in state "ejected" */
    int64_t evidence = w.probes ? w.probes : w.samples;
    double down = w.probes ? (double)w.probes_failed / (double)w.probes
                : w.samples ? (double)w.samples_down / (double)w.samples
                            : 0;
    recommend(ch, &w, error_ratio, down, evidence, nreq, others_p95(live, idx), rec, sizeof rec);
    int set = json_object_set_new(ch, "history", hist);
    hist = NULL; /* set_new consumed it, on failure too */
    if (set < 0 || json_object_set_new(ch, "error_ratio", json_real(error_ratio)) < 0 ||
        json_object_set_new(ch, "window_requests", json_integer(w.requests)) < 0 ||
        json_object_set_new(ch, "window_errors", json_integer(w.errors)) < 0 ||
        json_object_set_new(ch, "down_share", evidence ? json_real(down) : json_null()) < 0 ||
        json_object_set_new(ch, "recommendation", json_string(rec)) < 0) {
        inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        goto fail;
    }
    return ch;
fail:
    json_decref(hist);
    json_decref(ch);
    return NULL;
}

static int check_args(sqlite3 *db, const json_t *live, int64_t window_s, struct inferd_err *err)
{
    if (!db)
        return inferd_err_set(err, INFERD_EINVAL, "report: no database");
    if (live && !json_is_array(live))
        return inferd_err_set(err, INFERD_EINVAL, "report: the live snapshot is not an array");
    if (window_s <= 0 || window_s > 366LL * 86400)
        return inferd_err_set(err, INFERD_EINVAL, "report: window of %lld s is not in 1..%lld",
                              (long long)window_s, 366LL * 86400);
    return 0;
}

json_t *gw_report_build(sqlite3 *db, const json_t *live, int64_t now_ms, int64_t window_s,
                        struct inferd_err *err)
{
    struct chan_queries q = {0};
    json_t *rep = NULL, *chans = NULL, *demand = NULL;
    int64_t since = now_ms - window_s * 1000;
    if (check_args(db, live, window_s, err) < 0)
        return NULL;
    if (queries_prepare(db, &q, err) < 0)
        goto fail;
    chans = json_array();
    if (!chans) {
        inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(live); i++) {
        json_t *ch = chan_build(db, &q, live, i, since, now_ms, err);
        if (!ch)
            goto fail;
        if (json_array_append_new(chans, ch) < 0) {
            inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
            goto fail;
        }
    }
    demand = gw_demand_build(db, live, now_ms, window_s, err);
    if (!demand)
        goto fail;
    rep = json_pack("{s:I,s:I,s:o,s:o}", "generated_ms", (json_int_t)now_ms, "window_s",
                    (json_int_t)window_s, "channels", chans, "demand", demand);
    chans = demand = NULL; /* json_pack's "o" took them, on failure too */
    if (!rep)
        inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
fail:
    json_decref(demand);
    json_decref(chans);
    queries_free(&q);
    return rep;
}

/* ---- demand ---- */

/* One model's requests in the window, from the per-hour rows. */
struct model_demand {
    char name[256];
    int64_t requests, busy;           /* all rows but no_channel ones; busy=1 rows */
    int64_t hour_req[24], hour_busy[24];
};

/* Channels that serve model in the live snapshot (any state but "disabled"). */
static int64_t live_channels(const json_t *live, const char *model)
{
    int64_t n = 0;
    size_t i, j;
    const json_t *c, *m;
    json_array_foreach(live, i, c)
    {
        if (strcmp(str(c, "state", ""), "disabled") == 0)
            continue;
        json_array_foreach(json_object_get(c, "models"), j, m)
        {
            if (json_is_string(m) && strcmp(json_string_value(m), model) == 0) {
                n++;
                break;
            }
        }
    }
    return n;
}

/* Distinct channels that served model in the window (when the live snapshot knows none). */
static int64_t row_channels(sqlite3 *db, const char *model, int64_t since, int64_t now)
{
    sqlite3_stmt *st = NULL;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT COUNT(DISTINCT channel_id) FROM requests WHERE model = ?1 "
                           "AND channel_id != '' AND ts_ms > ?2 AND ts_ms <= ?3",
                           -1, &st, NULL) == SQLITE_OK) {
        bind3(st, model, since, now);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int add_rec(json_t *recs, const char *fmt_text)
{
    return json_array_append_new(recs, json_string(fmt_text));
}

/* Appends the unserved list and its recommendations. */
static int demand_unserved(sqlite3 *db, int64_t since, int64_t now, json_t *unserved, json_t *recs,
                           struct inferd_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    char line[512];
    if (prepare(db,
                "SELECT model, COUNT(*) FROM requests WHERE error = 'no_channel' AND ts_ms > ?1 "
                "AND ts_ms <= ?2 GROUP BY model ORDER BY 2 DESC, 1 LIMIT 1000",
                &st, err) < 0)
        return err ? err->code : INFERD_EIO;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        model = model ? model : "";
        snprintf(line, sizeof line, "add a channel for \"%s\" (%lld request%s found none)", model,
                 (long long)n, n == 1 ? "" : "s");
        if (json_array_append_new(unserved, json_pack("{s:s,s:I}", "model", model, "requests",
                                                      (json_int_t)n)) < 0 ||
            add_rec(recs, line) < 0) {
            sqlite3_finalize(st);
            return inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_err(db, err, "reading requests");
}

/* Reads requests per model and hour (rows that reached a channel) into *out (malloc'd,
 * at most REPORT_MODELS_MAX, most requested first) and by_hour. */
static int demand_rows(sqlite3 *db, int64_t since, int64_t now, int64_t by_hour[24],
                       struct model_demand **out, size_t *nout, struct inferd_err *err)
{
    sqlite3_stmt *st = NULL;
    struct model_demand *md = NULL;
    size_t n = 0;
    int rc;
    *out = NULL;
    *nout = 0;
    if (prepare(db,
                "SELECT (ts_ms / 3600000) % 24, COUNT(*) FROM requests WHERE ts_ms > ?1 AND "
                "ts_ms <= ?2 GROUP BY 1",
                &st, err) < 0)
        return err ? err->code : INFERD_EIO;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t h = sqlite3_column_int64(st, 0);
        if (h >= 0 && h < 24)
            by_hour[h] += sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sql_err(db, err, "reading requests");

    /* The most requested models first, so the cap drops the least requested. */
    if (prepare(db,
                "WITH r AS (SELECT model, (ts_ms / 3600000) % 24 AS h, busy FROM requests "
                "WHERE ts_ms > ?1 AND ts_ms <= ?2 AND COALESCE(error, '') != 'no_channel' AND model != ''), "
                "t AS (SELECT model, COUNT(*) AS total FROM r GROUP BY model "
                "ORDER BY total DESC, model LIMIT ?3) "
                "SELECT r.model, r.h, COUNT(*), COALESCE(SUM(r.busy != 0), 0) FROM r JOIN t "
                "USING (model) GROUP BY r.model, r.h ORDER BY t.total DESC, r.model",
                &st, err) < 0)
        return err ? err->code : INFERD_EIO;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int(st, 3, REPORT_MODELS_MAX);
    md = calloc(REPORT_MODELS_MAX, sizeof *md);
    if (!md) {
        sqlite3_finalize(st);
        return inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 0);
        int64_t h = sqlite3_column_int64(st, 1);
        model = model ? model : "";
        if (!n || strncmp(md[n - 1].name, model, sizeof md[0].name - 1) != 0) {
            if (n == REPORT_MODELS_MAX)
                break;
            snprintf(md[n++].name, sizeof md[0].name, "%s", model);
        }
        if (h >= 0 && h < 24) {
            md[n - 1].hour_req[h] += sqlite3_column_int64(st, 2);
            md[n - 1].hour_busy[h] += sqlite3_column_int64(st, 3);
        }
        md[n - 1].requests += sqlite3_column_int64(st, 2);
        md[n - 1].busy += sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        free(md);
        return sql_err(db, err, "reading requests");
    }
    *out = md;
    *nout = n;
    return 0;
}

/* Capacity formula (docs/gateway.md): c channels turned away a share b of the demand, so
 * they served (1 - b) of it; serving all of it takes c / (1 - b) channels, i.e.
 * N = ceil(c * b / (1 - b)) more, at least 1, with b capped at REPORT_BUSY_CAP. */
static int64_t extra_channels(int64_t c, double b)
{
    b = fmin(b, REPORT_BUSY_CAP);
    if (c < 1)
        c = 1;
    int64_t n = (int64_t)ceil((double)c * b / (1 - b) - 1e-9);
    return n < 1 ? 1 : n;
}

/* Appends the saturated models and their recommendations. */
static int demand_saturated(sqlite3 *db, const json_t *live, int64_t since, int64_t now,
                            const struct model_demand *md, size_t n, json_t *saturated, json_t *recs,
                            struct inferd_err *err)
{
    char line[640];
    for (size_t i = 0; i < n; i++) {
        const struct model_demand *m = &md[i];
        int peak = 0;
        for (int h = 1; h < 24; h++)
            if (m->hour_req[h] > m->hour_req[peak])
                peak = h;
        double share = m->requests ? (double)m->busy / (double)m->requests : 0;
        double peak_share = m->hour_req[peak] ? (double)m->hour_busy[peak] / (double)m->hour_req[peak] : 0;
        if (m->requests < REPORT_DEMAND_MIN || fmax(share, peak_share) < REPORT_BUSY_SHARE)
            continue;
        int64_t c = live_channels(live, m->name);
        if (!c)
            c = row_channels(db, m->name, since, now);
        int64_t extra = extra_channels(c, fmax(share, peak_share));
        snprintf(line, sizeof line,
                 "raise capacity of \"%s\" by %lld channel(s): %.0f%% of its %lld requests were "
                 "turned away busy (429/503) by its %lld channel(s); peak %02d:00 UTC with %lld "
                 "requests, %.0f%% busy",
                 m->name, (long long)extra, share * 100, (long long)m->requests, (long long)c, peak,
                 (long long)m->hour_req[peak], peak_share * 100);
        json_t *row = json_pack("{s:s,s:I,s:f,s:f,s:I,s:i,s:I,s:I}", "model", m->name, "requests",
                                (json_int_t)m->requests, "busy_share", share, "peak_busy_share",
                                peak_share, "channels", (json_int_t)c, "peak_hour", peak,
                                "peak_requests", (json_int_t)m->hour_req[peak], "add_channels",
                                (json_int_t)extra);
        if (!row || json_array_append_new(saturated, row) < 0 || add_rec(recs, line) < 0)
            return inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
    }
    return 0;
}

json_t *gw_demand_build(sqlite3 *db, const json_t *live, int64_t now_ms, int64_t window_s,
                        struct inferd_err *err)
{
    int64_t since = now_ms - window_s * 1000, by_hour[24] = {0};
    struct model_demand *md = NULL;
    size_t n = 0;
    json_t *unserved = json_array(), *saturated = json_array(), *hours = json_array();
    json_t *recs = json_array(), *out = NULL;
    if (check_args(db, live, window_s, err) < 0)
        goto fail;
    if (!unserved || !saturated || !hours || !recs) {
        inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
        goto fail;
    }
    if (demand_unserved(db, since, now_ms, unserved, recs, err) < 0 ||
        demand_rows(db, since, now_ms, by_hour, &md, &n, err) < 0 ||
        demand_saturated(db, live, since, now_ms, md, n, saturated, recs, err) < 0)
        goto fail;
    for (int h = 0; h < 24; h++)
        if (json_array_append_new(hours, json_pack("{s:i,s:I}", "hour", h, "requests",
                                                   (json_int_t)by_hour[h])) < 0) {
            inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
            goto fail;
        }
    out = json_pack("{s:o,s:o,s:o,s:o}", "unserved", unserved, "saturated", saturated, "by_hour", hours,
                    "recommendations", recs);
    unserved = saturated = hours = recs = NULL; /* taken by json_pack, on failure too */
    if (!out)
        inferd_err_set(err, INFERD_ENOMEM, "report: out of memory");
fail:
    free(md);
    json_decref(recs);
    json_decref(hours);
    json_decref(saturated);
    json_decref(unserved);
    return out;
}
