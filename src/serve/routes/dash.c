/* dash.c — the dashboard: GET / (the page), GET /web/{f} (its script and style, embedded
 * at build time) and GET /api/dashboard (what the page draws: models and versions with
 * state, per-model rolling windows of requests, errors, latency quantiles, LLM tokens and
 * TTFT, and the recent warn/error log lines). The page itself holds no data, so it is
 * open; the JSON needs the admin key when one is set (the page asks for it). */
#include "inferd/version.h"
#include "serve/http/assets.h"
#include "serve/routes/infer_call.h"

#include "base/clock.h"
#include "base/log.h"
#include "observe/rollwin.h"

#include <stdlib.h>
#include <string.h>

#define DASH_ERRORS_MAX 20 /* recent log lines sent */

static int page(struct http_req *r, void *ctx)
{
    (void)ctx;
    return http_asset_respond(r, "index.html");
}

static int asset(struct http_req *r, void *ctx)
{
    (void)ctx;
    return http_asset_respond(r, http_req_capture(r, "f"));
}

static json_t *caps_json(unsigned caps)
{
    json_t *a = json_array();
    if (caps & MODEL_CAP_TENSOR)
        json_array_append_new(a, json_string("tensor"));
    if (caps & MODEL_CAP_GENERATE)
        json_array_append_new(a, json_string("generate"));
    if (caps & MODEL_CAP_EMBED)
        json_array_append_new(a, json_string("embed"));
    return a;
}

/* [{"name", "caps":[...], "versions":[{"version","state","reason"}]}] from the index. */
static json_t *models_json(struct serve_server *s)
{
    struct repo_entry *rows;
    size_t n;
    if (repo_list(s->repo, &rows, &n) < 0)
        return NULL;
    json_t *models = json_array(), *by_name = json_object();
    for (size_t i = 0; models && by_name && i < n; i++) {
        const struct repo_entry *e = &rows[i];
        json_t *m = json_object_get(by_name, e->name);
        if (!m) {
            m = json_pack("{s:s,s:[],s:[]}", "name", e->name, "caps", "versions");
            if (!m)
                break;
            json_object_set(by_name, e->name, m);
            json_array_append_new(models, m);
        }
        if (e->caps)
            json_object_set_new(m, "caps", caps_json(e->caps));
        json_t *v = json_pack("{s:s,s:s}", "state", e->state == REPO_READY ? "READY" : "UNAVAILABLE", "reason",
                              e->reason);
        if (v && e->version > 0)
            json_object_set_new(v, "version", json_sprintf("%lld", (long long)e->version));
        json_array_append_new(json_object_get(m, "versions"), v);
    }
    json_decref(by_name);
    free(rows);
    return models;
}

static int dashboard(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    int seconds;
    if (http_asset_window(r, ROLLWIN_SECONDS, &seconds) < 0)
        return HTTP_DONE;
    json_t *j = json_pack("{s:s,s:s,s:I,s:i,s:o,s:o,s:o}", "kind", "server", "version", INFERD_VERSION, "now_ms",
                          (json_int_t)clock_wall_ms(), "seconds", seconds, "models", models_json(s), "series",
                          rollwin_json(s->dash, clock_now_ns(), seconds), "errors", log_recent(DASH_ERRORS_MAX));
    if (!j) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_json(r, 200, j);
    return HTTP_DONE;
}

const struct http_route routes_dash[] = {
    {HTTP_GET | HTTP_HEAD, "/", HTTP_AUTH_NONE, page, "ops_dashboard", NULL},
    {HTTP_GET | HTTP_HEAD, "/web/{f}", HTTP_AUTH_NONE, asset, "ops_dashboard", NULL},
    {HTTP_GET, "/api/dashboard", HTTP_AUTH_ADMIN, dashboard, "ops_dashboard", NULL},
};
const size_t routes_dash_count = sizeof routes_dash / sizeof routes_dash[0];
