/* test_alerts.c — alert rules over a real registry with a stepped clock: value, rate, ratio
 * and quantile rules, pending → firing → resolved, webhooks to a loopback libmicrohttpd
 * server, the JSON state, the rule file loader and its errors, the evaluation thread. */
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
    char bodies[8][1024];
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
        *state = calloc(1, 1024);
        return *state ? MHD_YES : MHD_NO;
    }
    char *buf = *state;
    if (*size) {
        size_t have = strlen(buf), k = *size < 1023 - have ? *size : 1023 - have;
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

static void test_rules(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    struct alerts *a = NULL;
    CHECK(alerts_new(reg, &a, &err) == 0);

    static struct hook_log h = {PTHREAD_MUTEX_INITIALIZER, {{0}}, {{0}}, 0};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, hook,
                                            &h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_END);
    CHECK(d != NULL);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook/x",
             d ? (unsigned)MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port : 1u);
    CHECK(alerts_add_webhook(a, url, &err) == 0);

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
    CHECK(j && json_array_size(json_object_get(j, "alerts")) == 4);
    json_t *first = json_array_get(json_object_get(j, "alerts"), 0);
    CHECK(first && strcmp(json_string_value(json_object_get(first, "state")), "firing") == 0);
    CHECK(first && strcmp(json_string_value(json_object_get(first, "summary")),
                          "no \"model\"") == 0);
    json_decref(j);
    free(json);

    /* the next window has only successes and fast requests: everything but NoModels ends */
    metrics_set(metrics_series_get(m.models_loaded, NULL), 1);
    metrics_add(ok, 100);
    for (int i = 0; i < 100; i++)
        metrics_observe(lat, 0.004);
    CHECK(alerts_eval(a, 120) == 0);
    CHECK(alerts_rule_state(a, 1, &v) == ALERT_INACTIVE && v == 0);
    CHECK(alerts_rule_state(a, 2, &v) == ALERT_INACTIVE && v == 0);
    CHECK(alerts_rule_state(a, 3, &v) == ALERT_INACTIVE && v < 0.005);

    /* 4 firing + 4 resolved notices reached the webhook path */
    pthread_mutex_lock(&h.lock);
    CHECK(h.n == 8);
    int firing = 0, resolved = 0;
    for (int i = 0; i < h.n; i++) {
        json_t *b = json_loads(h.bodies[i], 0, NULL);
        CHECK(b != NULL);
        const char *st = json_string_value(json_object_get(b, "status"));
        firing += st && !strcmp(st, "firing");
        resolved += st && !strcmp(st, "resolved");
        CHECK(strcmp(h.paths[i], "/hook/x") == 0);
        json_decref(b);
    }
    CHECK(firing == 4 && resolved == 4);
    pthread_mutex_unlock(&h.lock);

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
    test_load_and_thread();
    return check_finish();
}
