/* test_alerts.c — alert rules over a real registry with a stepped clock: value, rate, ratio,
 * quantile and anomaly rules, pending → firing → resolved (and pending → inactive without a
 * notice), Alertmanager and webhook payloads to a loopback libmicrohttpd server, retries
 * while the receiver is down, the bounded queue's counted drops, annotation templates, the
 * Prometheus-shaped JSON, the rule file loader and its errors, the evaluation thread. */
#include "check.h"
#include "observe/alerts.h"
#include "observe/families.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <math.h>
#include <unistd.h>

struct hook_log {
    pthread_mutex_t lock;
    char bodies[8][8192];
    char paths[8][64];
    int n;
};

static enum MHD_Result hook(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *data,
                            size_t *size, void **state)
{
    struct hook_log *h = cls;
    (void)method, (void)version;
    if (!*state) {
        *state = calloc(1, 8192);
        return *state ? MHD_YES : MHD_NO;
    }
    char *buf = *state;
    if (*size) {
        size_t have = strlen(buf), k = *size < 8191 - have ? *size : 8191 - have;
        memcpy(buf + have, data, k);
        buf[have + k] = '\0';
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&h->lock);
    if (h->n < 8) {
        snprintf(h->bodies[h->n], sizeof h->bodies[0], "%s", buf);
        snprintf(h->paths[h->n], sizeof h->paths[0], "%s", url);
        h->n++;
    }
    pthread_mutex_unlock(&h->lock);
    free(buf);
    *state = NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* Starts the hook server on port (0: any). Returns it or NULL; *port_out the port. */
static struct MHD_Daemon *hook_start(struct hook_log *h, unsigned port, unsigned *port_out)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, hook,
                                            h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_END);
    if (d && port_out)
        *port_out = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

/* Polls until the hook server holds n bodies and a's queues are empty (30 s at most). */
static int wait_delivered(struct alerts *a, struct hook_log *h, int n)
{
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&h->lock);
        int got = h->n;
        pthread_mutex_unlock(&h->lock);
        if (got >= n && alerts_queued(a) == 0)
            return 1;
        usleep(10 * 1000);
    }
    return 0;
}

static double series_value(struct metrics_registry *reg, const char *family, const char *label,
                           const char *value)
{
    struct metrics_snapshot s;
    const char *m[] = {label, value};
    if (metrics_family_snapshot(metrics_family_find(reg, family), m, label ? 1 : 0, &s, NULL) < 0)
        return -1;
    return s.value;
}

static void test_rules(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);

    static struct hook_log h = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {{0}}, 0};
    unsigned port = 1;
    struct MHD_Daemon *d = hook_start(&h, 0, &port);
    CHECK(d != NULL);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook/x", port);
    CHECK(alerts_add_webhook(a, url, &err) == 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u/am/", port);
    CHECK(alerts_add_alertmanager(a, url, &err) == 0);
    CHECK(alerts_configure(a, 0, 0, "http://inferd.test:8080/", &err) == 0);
    CHECK(alerts_start_notifier(a, &err) == 0);

    struct alert_rule none = {.name = "NoModels", .kind = ALERT_VALUE,
                              .metric = "inferd_models_loaded", .above = 0, .threshold = 1,
                              .for_s = 10, .severity = "page", .summary = "no \"model\""};
    struct alert_rule rate = {.name = "Errors", .kind = ALERT_RATE,
                              .metric = "inferd_requests_total", .match = {"code", "5*"},
                              .nmatch = 1, .window_s = 10, .above = 1, .threshold = 1};
    struct alert_rule ratio = {.name = "ErrorRatio", .kind = ALERT_RATIO,
                               .metric = "inferd_requests_total", .match = {"code", "5*"},
                               .nmatch = 1, .denominator = "inferd_requests_total",
                               .window_s = 10, .above = 1, .threshold = 0.1};
    struct alert_rule p99 = {.name = "SlowP99", .kind = ALERT_QUANTILE,
                             .metric = "inferd_request_duration_seconds", .quantile = 0.99,
                             .window_s = 10, .above = 1, .threshold = 2};
    CHECK(alerts_add_rule(a, &none, &err) == 0);
    CHECK(alerts_add_rule(a, &rate, &err) == 0);
    CHECK(alerts_add_rule(a, &ratio, &err) == 0);
    CHECK(alerts_add_rule(a, &p99, &err) == 0);
    CHECK(alerts_add_rule(a, &p99, &err) == INFERD_EINVAL); /* same name twice */

    struct metrics_series *ok = metrics_series_get(m.requests_total,
                                                   (const char *[]){"r", "1", "v2", "200"});
    struct metrics_series *bad = metrics_series_get(m.requests_total,
                                                    (const char *[]){"r", "1", "v2", "503"});
    struct metrics_series *lat = metrics_series_get(m.request_duration,
                                                    (const char *[]){"r", "1"});
    double v;
    CHECK(alerts_eval(a, 100) == 0);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_PENDING && v == 0);
    CHECK(alerts_rule_state(a, 1, &v) == ALERT_INACTIVE && isnan(v)); /* one sample: no rate */

    metrics_add(ok, 80);
    metrics_add(bad, 20);
    for (int i = 0; i < 90; i++)
        metrics_observe(lat, 0.004);
    for (int i = 0; i < 10; i++)
        metrics_observe(lat, 2.0);
    CHECK(alerts_eval(a, 110) == 4);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_FIRING); /* held for 10 s */
    CHECK(alerts_rule_state(a, 1, &v) == ALERT_FIRING && fabs(v - 2.0) < 1e-9);
    CHECK(alerts_rule_state(a, 2, &v) == ALERT_FIRING && fabs(v - 0.2) < 1e-9);
    CHECK(alerts_rule_state(a, 3, &v) == ALERT_FIRING && fabs(v - 2.35) < 1e-9);

    char *json = NULL;
    CHECK(alerts_json(a, &json, &err) == 0);
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    json_t *list = json_object_get(json_object_get(j, "data"), "alerts");
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "status")), "success"));
    CHECK(json_array_size(list) == 4);
    json_t *first = json_array_get(list, 0);
    CHECK(first && strcmp(json_string_value(json_object_get(first, "state")), "firing") == 0);
    CHECK(first && strcmp(json_string_value(json_object_get(json_object_get(first, "annotations"),
                                                            "summary")), "no \"model\"") == 0);
    CHECK(first && !strcmp(json_string_value(json_object_get(json_object_get(first, "labels"),
                                                             "alertname")), "NoModels"));
    CHECK(first && !strcmp(json_string_value(json_object_get(json_object_get(first, "labels"),
                                                             "severity")), "page"));
    CHECK(first && !strcmp(json_string_value(json_object_get(first, "value")), "0"));
    const char *at = first ? json_string_value(json_object_get(first, "activeAt")) : NULL;
    CHECK(at && strlen(at) == 24 && at[10] == 'T' && at[23] == 'Z');
    json_t *second = json_array_get(list, 1);
    CHECK(second && !strcmp(json_string_value(json_object_get(second, "value")), "2"));
    json_decref(j);
    free(json);
    CHECK(wait_delivered(a, &h, 2)); /* the firing notices */

    /* the next window has only successes and fast requests: everything but NoModels ends */
    metrics_set(metrics_series_get(m.models_loaded, NULL), 1);
    metrics_add(ok, 100);
    for (int i = 0; i < 100; i++)
        metrics_observe(lat, 0.004);
    CHECK(alerts_eval(a, 120) == 0);
    CHECK(alerts_rule_state(a, 1, &v) == ALERT_INACTIVE && v == 0);
    CHECK(alerts_rule_state(a, 2, &v) == ALERT_INACTIVE && v == 0);
    CHECK(alerts_rule_state(a, 3, &v) == ALERT_INACTIVE && v < 0.005);

    /* the webhook got one firing and one resolved message of 4 alerts each (Alertmanager's
     * webhook JSON); the Alertmanager path one array of 4 firing, one of 4 resolved */
    CHECK(wait_delivered(a, &h, 4));
    pthread_mutex_lock(&h.lock);
    CHECK(h.n == 4);
    int firing = 0, resolved = 0, am_firing = 0, am_resolved = 0;
    char am_ends[40] = "";
    for (int i = 0; i < h.n; i++) {
        json_t *b = json_loads(h.bodies[i], 0, NULL);
        CHECK(b != NULL);
        if (!strcmp(h.paths[i], "/hook/x")) {
            const char *st = json_string_value(json_object_get(b, "status"));
            CHECK(!strcmp(json_string_value(json_object_get(b, "version")), "4"));
            CHECK(json_array_size(json_object_get(b, "alerts")) == 4);
            json_t *al = json_array_get(json_object_get(b, "alerts"), 0);
            CHECK(!strcmp(json_string_value(json_object_get(al, "status")), st ? st : ""));
            CHECK(strlen(json_string_value(json_object_get(al, "fingerprint"))) == 16);
            CHECK(!strcmp(json_string_value(json_object_get(al, "generatorURL")),
                          "http://inferd.test:8080/api/alerts"));
            CHECK(json_object_get(json_object_get(b, "commonLabels"), "alertname") == NULL);
            firing += st && !strcmp(st, "firing");
            resolved += st && !strcmp(st, "resolved");
        } else {
            CHECK(!strcmp(h.paths[i], "/am/api/v2/alerts"));
            CHECK(json_array_size(b) == 4);
            json_t *al = json_array_get(b, 0);
            const char *starts = json_string_value(json_object_get(al, "startsAt"));
            const char *ends = json_string_value(json_object_get(al, "endsAt"));
            CHECK(starts && ends && strlen(ends) == 24);
            /* one receiver's messages arrive in order: firing (endsAt 4 resend intervals
             * ahead, at 350 s), then resolved (endsAt the evaluation's time, 120 s) */
            if (ends && starts && am_firing == 0) {
                snprintf(am_ends, sizeof am_ends, "%s", ends);
                am_firing++;
            } else if (ends && strcmp(ends, am_ends) < 0 && strcmp(ends, starts) > 0) {
                am_resolved++;
            }
        }
        json_decref(b);
    }
    CHECK(firing == 1 && resolved == 1 && am_firing == 1 && am_resolved == 1);
    pthread_mutex_unlock(&h.lock);
    CHECK(series_value(reg, "inferd_alerts_notifications_total", "outcome", "sent") == 4);

    /* bad rules name the problem */
    struct alert_rule bad_metric = {.name = "X", .metric = "nope", .above = 1};
    CHECK(alerts_add_rule(a, &bad_metric, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "nope") != NULL);
    struct alert_rule bad_label = {.name = "Y", .metric = "inferd_requests_total",
                                   .match = {"colour", "red"}, .nmatch = 1};
    CHECK(alerts_add_rule(a, &bad_label, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "colour") != NULL);
    struct alert_rule bad_q = {.name = "Z", .kind = ALERT_QUANTILE,
                               .metric = "inferd_requests_total", .quantile = 0.5,
                               .window_s = 1};
    CHECK(alerts_add_rule(a, &bad_q, &err) == INFERD_EINVAL);

    alerts_free(a);
    if (d)
        MHD_stop_daemon(d);
    metrics_registry_free(reg);
}


/* anomaly: a steady ~10/s rate builds the baseline; a jump to 100/s is a huge robust
 * z-score and fires after for_s; back to normal it resolves. */
static void test_anomaly(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    struct alert_rule an = {.name = "TrafficAnomaly", .kind = ALERT_ANOMALY,
                            .metric = "inferd_requests_total", .window_s = 2, .baseline_s = 60,
                            .above = 1, .threshold = 4, .for_s = 2};
    CHECK(alerts_add_rule(a, &an, &err) == 0);
    struct alert_rule bad = an;
    bad.name = "B";
    bad.baseline_s = 1; /* not longer than the window */
    CHECK(alerts_add_rule(a, &bad, &err) == INFERD_EINVAL && strstr(err.msg, "baseline_s"));
    struct metrics_series *s = metrics_series_get(m.requests_total,
                                                  (const char *[]){"r", "1", "v2", "200"});
    double v, t = 1000;
    /* rates alternate 9, 10, 11 per second: median 10, MAD 1 */
    static const double steps[] = {9, 10, 11};
    CHECK(alerts_eval(a, t) == 0);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_INACTIVE && isnan(v));
    for (int i = 0; i < 30; i++) {
        metrics_add(s, steps[i % 3]);
        t += 1;
        alerts_eval(a, t);
        CHECK(alerts_rule_state(a, 0, &v) == ALERT_INACTIVE);
        if (i < 8)
            CHECK(isnan(v)); /* fewer than ALERTS_BASELINE_MIN baseline points: no data */
        else
            CHECK(!isnan(v) && fabs(v) < 4);
    }
    /* a spike: the window rate becomes (11+100)/2 then 100 */
    metrics_add(s, 100);
    t += 1;
    CHECK(alerts_eval(a, t) == 0);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_PENDING && v > 4);
    double first = v;
    metrics_add(s, 100);
    t += 1;
    alerts_eval(a, t);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_PENDING && v > first);
    metrics_add(s, 100);
    t += 1;
    CHECK(alerts_eval(a, t) == 1);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_FIRING);
    /* exact: baseline of 30 rate points 9.5/10/10.5 ... checked loosely; z = (100-med)/(1.4826 MAD) */
    CHECK(v > 50);
    for (int i = 0; i < 3; i++) {
        metrics_add(s, 10);
        t += 1;
        alerts_eval(a, t);
    }
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_INACTIVE && fabs(v) < 4);
    alerts_free(a);
    metrics_registry_free(reg);
}

/* season_s: traffic that is high for the first 20 s of every 100 s "day" is normal at that
 * phase for a seasonal rule, while a plain anomaly rule (baseline: the whole last 1000 s)
 * calls it an anomaly; a real spike at the high phase fires the seasonal rule too */
static void test_anomaly_seasonal(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    struct alert_rule plain = {.name = "Plain", .kind = ALERT_ANOMALY,
                               .metric = "inferd_requests_total", .window_s = 2,
                               .baseline_s = 1000, .above = 1, .threshold = 6};
    struct alert_rule seasonal = plain;
    seasonal.name = "Seasonal";
    seasonal.season_s = 100;
    CHECK(alerts_add_rule(a, &plain, &err) == 0);
    CHECK(alerts_add_rule(a, &seasonal, &err) == 0);
    struct alert_rule bad = seasonal;
    bad.name = "Bad";
    bad.season_s = 1000; /* not shorter than the baseline */
    CHECK(alerts_add_rule(a, &bad, &err) == INFERD_EINVAL && strstr(err.msg, "season_s"));
    struct metrics_series *s = metrics_series_get(m.requests_total,
                                                  (const char *[]){"r", "1", "v2", "200"});
    double t0 = 5000, vp, vs;
    alerts_eval(a, t0);
    for (int i = 1; i <= 1011; i++) { /* ten "days", then phase 10 of the eleventh */
        metrics_add(s, (i - 1) % 100 < 20 ? 100 : 10);
        alerts_eval(a, t0 + i);
    }
    CHECK(alerts_rule_state(a, 0, &vp) == ALERT_FIRING && isinf(vp) && vp > 0);
    CHECK(alerts_rule_state(a, 1, &vs) == ALERT_INACTIVE && vs == 0);
    for (int i = 1012; i <= 1050; i++) { /* the low phase: neither */
        metrics_add(s, (i - 1) % 100 < 20 ? 100 : 10);
        alerts_eval(a, t0 + i);
    }
    CHECK(alerts_rule_state(a, 0, &vp) == ALERT_INACTIVE && vp == 0);
    CHECK(alerts_rule_state(a, 1, &vs) == ALERT_INACTIVE && vs == 0);
    for (int i = 1051; i <= 1111; i++) { /* phase 10 of the next day, four times the usual */
        metrics_add(s, (i - 1) % 100 < 20 ? (i >= 1110 ? 400 : 100) : 10);
        alerts_eval(a, t0 + i);
    }
    CHECK(alerts_rule_state(a, 1, &vs) == ALERT_FIRING && vs > 6);
    alerts_free(a);
    metrics_registry_free(reg);
}

/* a flat baseline: no change is z 0, any change is +Inf (and compares) */
static void test_anomaly_flat(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    struct alert_rule an = {.name = "Flat", .kind = ALERT_ANOMALY,
                            .metric = "inferd_model_load_failures_total", .window_s = 1,
                            .baseline_s = 30, .above = 1, .threshold = 3};
    CHECK(alerts_add_rule(a, &an, &err) == 0);
    double v;
    for (int i = 0; i <= 10; i++)
        alerts_eval(a, 10 + i);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_INACTIVE && v == 0);
    metrics_add(metrics_series_get(m.model_load_failures, (const char *[]){"x"}), 1);
    CHECK(alerts_eval(a, 21) == 1);
    CHECK(alerts_rule_state(a, 0, &v) == ALERT_FIRING && isinf(v) && v > 0);
    char *json = NULL;
    CHECK(alerts_json(a, &json, &err) == 0);
    CHECK(json && strstr(json, "\"value\":\"+Inf\""));
    free(json);
    alerts_free(a);
    metrics_registry_free(reg);
}

/* {{ $value }} and {{ $labels.x }}; anything else is refused at load */
static void test_template(void)
{
    char out[128];
    const char *labels[] = {"alertname", "SlowP99", "model", "resnet"};
    CHECK(alerts_template("p99 {{ $value }}s on {{$labels.model}}{{ $labels.none }}!", 2.5,
                          labels, 2, out, sizeof out) == 0);
    CHECK(!strcmp(out, "p99 2.5s on resnet!"));
    CHECK(alerts_template("{{ .Value }}", 1, labels, 2, out, sizeof out) == INFERD_EINVAL);
    CHECK(alerts_template("{{ $value", 1, labels, 2, out, sizeof out) == INFERD_EINVAL);
    CHECK(alerts_template("{{ $value }} cut", 123456, NULL, 0, out, 4) == 0);
    CHECK(!strcmp(out, "123"));

    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    const char *text =
        "{\"labels\":{\"service\":\"inferd\",\"severity\":\"ignored\"},\"rules\":["
        "{\"name\":\"NoModels\",\"metric\":\"inferd_models_loaded\",\"op\":\"<\","
        "\"threshold\":1,\"labels\":{\"severity\":\"critical\",\"team\":\"ml\"},"
        "\"annotations\":{\"summary\":\"{{ $value }} models ({{ $labels.team }}, "
        "{{ $labels.service }})\",\"runbook_url\":\"http://x/{{ $labels.alertname }}\"}}]}";
    struct alerts *a = NULL;
    CHECK(alerts_load_text(reg, text, strlen(text), &a, &err) == 0);
    CHECK(alerts_eval(a, 1) == 1);
    char *json = NULL;
    CHECK(alerts_json(a, &json, &err) == 0);
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    json_t *al = json_array_get(json_object_get(json_object_get(j, "data"), "alerts"), 0);
    json_t *lab = json_object_get(al, "labels"), *ann = json_object_get(al, "annotations");
    CHECK(!strcmp(json_string_value(json_object_get(ann, "summary")), "0 models (ml, inferd)"));
    CHECK(!strcmp(json_string_value(json_object_get(ann, "runbook_url")), "http://x/NoModels"));
    CHECK(!strcmp(json_string_value(json_object_get(lab, "severity")), "critical"));
    CHECK(!strcmp(json_string_value(json_object_get(lab, "service")), "inferd"));
    CHECK(json_object_size(lab) == 4); /* alertname, severity, team, service */
    json_decref(j);
    free(json);
    alerts_free(a);

    const char *bad = "{\"rules\":[{\"name\":\"T\",\"metric\":\"inferd_models_loaded\","
                      "\"op\":\"<\",\"threshold\":1,\"annotations\":{\"d\":\"{{ .Labels }}\"}}]}";
    a = NULL;
    CHECK(alerts_load_text(reg, bad, strlen(bad), &a, &err) == INFERD_EINVAL && !a);
    CHECK(strstr(err.msg, "annotations.d") != NULL);
    const char *badlab = "{\"rules\":[{\"name\":\"T\",\"metric\":\"inferd_models_loaded\","
                         "\"op\":\"<\",\"threshold\":1,\"labels\":{\"__x\":\"1\"}}]}";
    CHECK(alerts_load_text(reg, badlab, strlen(badlab), &a, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "__x") != NULL);
    const char *dur = "{\"rules\":[{\"name\":\"D\",\"metric\":\"inferd_models_loaded\","
                      "\"op\":\"<\",\"threshold\":1,\"for\":\"1m30s\"}]}";
    CHECK(alerts_load_text(reg, dur, strlen(dur), &a, &err) == 0);
    CHECK(alerts_eval(a, 0) == 0 && alerts_eval(a, 89.5) == 0 && alerts_eval(a, 90) == 1);
    alerts_free(a);
    a = NULL;
    const char *baddur = "{\"rules\":[{\"name\":\"D\",\"metric\":\"inferd_models_loaded\","
                         "\"op\":\"<\",\"threshold\":1,\"for\":\"5x\"}]}";
    CHECK(alerts_load_text(reg, baddur, strlen(baddur), &a, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "for must be a duration") != NULL);
    const char *ms = "{\"rules\":[{\"name\":\"D\",\"metric\":\"inferd_models_loaded\","
                     "\"op\":\"<\",\"threshold\":1,\"for\":\"1m500ms\"}]}";
    CHECK(alerts_load_text(reg, ms, strlen(ms), &a, &err) == 0);
    CHECK(alerts_eval(a, 0) == 0 && alerts_eval(a, 60.4) == 0 && alerts_eval(a, 60.5) == 1);
    alerts_free(a);
    a = NULL;
    const char *badtop = "{\"resend_s\":-1,\"rules\":[]}";
    CHECK(alerts_load_text(reg, badtop, strlen(badtop), &a, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "resend_s") != NULL);
    const char *badam = "{\"alertmanagers\":[\"ftp://x\"],\"rules\":[]}";
    CHECK(alerts_load_text(reg, badam, strlen(badam), &a, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "alertmanager") != NULL);
    metrics_registry_free(reg);
}

/* pending that stops holding before for_s goes back to inactive with no notice; the JSON
 * lists pending alerts (Prometheus does) and leaves inactive ones out */
static void test_state_machine(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    struct alert_rule q = {.name = "DeepQueue", .metric = "inferd_queue_depth", .above = 1,
                           .threshold = 10, .for_s = 5};
    CHECK(alerts_add_rule(a, &q, &err) == 0);
    CHECK(alerts_add_webhook(a, "http://127.0.0.1:1/never", &err) == 0);
    struct metrics_series *depth = metrics_series_get(m.queue_depth, (const char *[]){"r", "1"});
    metrics_set(depth, 50);
    CHECK(alerts_eval(a, 10) == 0 && alerts_rule_state(a, 0, NULL) == ALERT_PENDING);
    char *json = NULL;
    CHECK(alerts_json(a, &json, &err) == 0);
    CHECK(json && strstr(json, "\"state\":\"pending\"") && strstr(json, "\"value\":\"50\""));
    free(json);
    CHECK(alerts_eval(a, 14) == 0);
    metrics_set(depth, 0);
    CHECK(alerts_eval(a, 15) == 0 && alerts_rule_state(a, 0, NULL) == ALERT_INACTIVE);
    CHECK(alerts_queued(a) == 0); /* never fired: nothing to say */
    CHECK(alerts_json(a, &json, &err) == 0);
    CHECK(json && !strcmp(json, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}"));
    free(json);
    metrics_set(depth, 50);
    CHECK(alerts_eval(a, 16) == 0);
    CHECK(alerts_eval(a, 20.9) == 0); /* for_s counts from 16 again */
    CHECK(alerts_eval(a, 21) == 1);
    CHECK(alerts_queued(a) == 1);
    CHECK(alerts_eval(a, 22) == 1); /* still firing: webhooks hear of changes only */
    CHECK(alerts_queued(a) == 1);
    metrics_set(depth, 0);
    CHECK(alerts_eval(a, 23) == 0 && alerts_queued(a) == 2);
    alerts_free(a);
    metrics_registry_free(reg);
}

/* Alertmanager resends firing alerts every resend_s; a down receiver keeps them queued and
 * the queue's cap drops (and counts) the oldest */
static void test_queue_bound(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    CHECK(alerts_configure(a, 10, 3, NULL, &err) == 0);
    struct alert_rule none = {.name = "NoModels", .metric = "inferd_models_loaded", .above = 0,
                              .threshold = 1};
    CHECK(alerts_add_rule(a, &none, &err) == 0);
    CHECK(alerts_add_alertmanager(a, "http://user:secret@127.0.0.1:1", &err) == 0);
    CHECK(alerts_eval(a, 100) == 1 && alerts_queued(a) == 1); /* fired */
    CHECK(alerts_eval(a, 105) == 1 && alerts_queued(a) == 1); /* resend not due */
    CHECK(alerts_eval(a, 110) == 1 && alerts_queued(a) == 2); /* resent */
    CHECK(alerts_eval(a, 120) == 1 && alerts_queued(a) == 3);
    CHECK(alerts_eval(a, 130) == 1 && alerts_queued(a) == 3); /* full: the oldest goes */
    CHECK(alerts_eval(a, 140) == 1 && alerts_queued(a) == 3);
    CHECK(series_value(reg, "inferd_alerts_notifications_dropped_total", NULL, NULL) == 2);
    /* the receiver label leaves the URL's credentials out */
    CHECK(series_value(reg, "inferd_alerts_notifications_dropped_total", "receiver",
                       "http://127.0.0.1:1") == 2);
    CHECK(series_value(reg, "inferd_alerts_queue_length", NULL, NULL) == 3);
    alerts_free(a);
    metrics_registry_free(reg);
}

/* a receiver that is down: the notice waits, failures are counted, and it is delivered
 * once the receiver is back on the same port */
static void test_retry(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    static struct hook_log h = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {{0}}, 0};
    unsigned port = 0;
    struct MHD_Daemon *d = hook_start(&h, 0, &port);
    CHECK(d != NULL);
    if (d)
        MHD_stop_daemon(d); /* the port is now closed */
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", port);
    CHECK(alerts_add_webhook(a, url, &err) == 0);
    struct alert_rule none = {.name = "NoModels", .metric = "inferd_models_loaded", .above = 0,
                              .threshold = 1};
    CHECK(alerts_add_rule(a, &none, &err) == 0);
    CHECK(alerts_start_notifier(a, &err) == 0);
    CHECK(alerts_eval(a, 1) == 1);
    int failed = 0;
    for (int i = 0; i < 3000 && !failed; i++) { /* at least one failed try */
        failed = series_value(reg, "inferd_alerts_notifications_total", "outcome", "failed") >= 1;
        usleep(10 * 1000);
    }
    CHECK(failed);
    CHECK(alerts_queued(a) == 1); /* nothing lost */
    d = hook_start(&h, port, NULL);
    CHECK(d != NULL);
    CHECK(wait_delivered(a, &h, 1));
    pthread_mutex_lock(&h.lock);
    CHECK(h.n == 1 && strstr(h.bodies[0], "\"status\":\"firing\"") != NULL);
    pthread_mutex_unlock(&h.lock);
    CHECK(series_value(reg, "inferd_alerts_notifications_total", "outcome", "sent") == 1);
    alerts_free(a);
    if (d)
        MHD_stop_daemon(d);
    metrics_registry_free(reg);
}

static void test_load_and_thread(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    char path[] = "/tmp/inferd_alerts_XXXXXX";
    int fd = mkstemp(path);
    const char *good =
        "{\"rules\":[{\"name\":\"HighErrorRatio\",\"kind\":\"ratio\","
        "\"metric\":\"inferd_requests_total\",\"match\":{\"code\":\"5*\"},"
        "\"denominator\":\"inferd_requests_total\",\"window_s\":60,\"op\":\">\","
        "\"threshold\":0.05,\"for_s\":30,\"severity\":\"page\",\"summary\":\"s\"},"
        "{\"name\":\"NoModels\",\"metric\":\"inferd_models_loaded\",\"op\":\"<\","
        "\"threshold\":1}]}";
    CHECK(write(fd, good, strlen(good)) == (ssize_t)strlen(good));
    close(fd);
    struct alerts *a = NULL;
    CHECK(alerts_load(reg, path, &a, &err) == 0);
    CHECK(alerts_rule_state(a, 1, NULL) == ALERT_INACTIVE);
    CHECK(alerts_rule_state(a, 2, NULL) == -1);
    CHECK(alerts_start(a, 20, &err) == 0);
    CHECK(alerts_start(a, 20, &err) == INFERD_EBUSY);
    usleep(100 * 1000); /* the thread evaluates a few times */
    CHECK(alerts_rule_state(a, 1, NULL) == ALERT_FIRING); /* no models, for_s 0 */
    alerts_free(a); /* stops the thread */

    const char *bad = "{\"rules\":[{\"name\":\"B\",\"kind\":\"median\",\"metric\":"
                      "\"inferd_models_loaded\",\"op\":\">\",\"threshold\":1}]}";
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    close(fd);
    a = NULL;
    CHECK(alerts_load(reg, path, &a, &err) == INFERD_EINVAL && a == NULL);
    CHECK(strstr(err.msg, "median") != NULL);
    CHECK(alerts_load(reg, "/nonexistent.json", &a, &err) == INFERD_EFORMAT);
    unlink(path);
    metrics_registry_free(reg);
}

int main(void)
{
    test_rules();
    test_anomaly();
    test_anomaly_flat();
    test_anomaly_seasonal();
    test_template();
    test_state_machine();
    test_queue_bound();
    test_retry();
    test_load_and_thread();
    return check_finish();
}
