/* ops.c — operations routes: liveness, readiness, server metadata, /metrics. */
#include "inferd/version.h"
#include "observe/alerts.h"
#include "serve/routes/infer_call.h"

#include <stdlib.h>
#include <string.h>

static int live(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json_str(r, 200, "{\"live\":true}");
    return HTTP_DONE;
}

static int ready(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    if (atomic_load(&s->draining)) {
        http_resp_error(r, 503, "draining", "the server is shutting down");
        return HTTP_DONE;
    }
    http_resp_json_str(r, 200, "{\"ready\":true}");
    return HTTP_DONE;
}

static int server_meta(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json_str(r, 200,
                       "{\"name\":\"inferd\",\"version\":\"" INFERD_VERSION "\",\"extensions\":"
                       "[\"binary_tensor_data\",\"model_repository\"]}");
    return HTTP_DONE;
}

static int metrics_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    char *text = NULL;
    size_t len = 0;
    struct inferd_err err = {0};
    if (metrics_expose(s->reg, &text, &len, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    http_resp_take(r, 200, METRICS_CONTENT_TYPE, text, len);
    return HTTP_DONE;
}

/* GET /api/alerts: the pending and firing alerts, in Prometheus's /api/v1/alerts shape
 * (an empty list without --alerts). */
static int alerts_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    char *json = NULL;
    struct inferd_err err = {0};
    if (!s->alerts) {
        http_resp_json_str(r, 200, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
        return HTTP_DONE;
    }
    if (alerts_json(s->alerts, &json, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    http_resp_take(r, 200, "application/json", json, strlen(json));
    return HTTP_DONE;
}

const struct http_route routes_ops[] = {
    {HTTP_GET | HTTP_HEAD, "/v2/health/live", HTTP_AUTH_NONE, live, "ops_live", NULL},
    {HTTP_GET | HTTP_HEAD, "/v2/health/ready", HTTP_AUTH_NONE, ready, "ops_ready", NULL},
    {HTTP_GET, "/v2", HTTP_AUTH_NONE, server_meta, "v2_server", NULL},
    {HTTP_GET, "/metrics", HTTP_AUTH_NONE, metrics_route, "ops_metrics", NULL},
    {HTTP_GET, "/api/alerts", HTTP_AUTH_ADMIN, alerts_route, "ops_alerts", NULL},
};
const size_t routes_ops_count = sizeof routes_ops / sizeof routes_ops[0];
