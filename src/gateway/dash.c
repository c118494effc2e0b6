/* dash.c — the gateway's dashboard: GET / and GET /web/{f} (the page shared with the
 * server, embedded at build time) and GET /api/dashboard (channels with scores and
 * states, rolling windows per model of client requests and per channel of attempts, the
 * recent warn/error log lines). The page holds no data and is open; the JSON needs the
 * admin key when --admin-key-file is set. */
#include "gateway/gw_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "inferd/version.h"
#include "observe/rollwin.h"
#include "serve/http/assets.h"

#include <stdlib.h>

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

static int dashboard(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    int seconds;
    if (http_asset_window(r, ROLLWIN_SECONDS, &seconds) < 0)
        return HTTP_DONE;
    uint64_t now = clock_now_ns();
    json_t *j = json_pack("{s:s,s:s,s:I,s:i,s:o,s:o,s:o,s:o}", "kind", "gateway", "version", INFERD_VERSION, "now_ms",
                          (json_int_t)clock_wall_ms(), "seconds", seconds, "channels", gw_channels_snapshot(g),
                          "series", rollwin_json(g->dash_models, now, seconds), "channel_series",
                          rollwin_json(g->dash_channels, now, seconds), "errors", log_recent(DASH_ERRORS_MAX));
    if (!j) {
        http_resp_error(r, 500, "internal", "out of memory");
        return HTTP_DONE;
    }
    http_resp_header(r, "Cache-Control", "no-store");
    http_resp_json(r, 200, j);
    return HTTP_DONE;
}

const struct http_route gw_routes_dash[] = {
    {HTTP_GET | HTTP_HEAD, "/", HTTP_AUTH_NONE, page, "ops_dashboard", NULL},
    {HTTP_GET | HTTP_HEAD, "/web/{f}", HTTP_AUTH_NONE, asset, "ops_dashboard", NULL},
    {HTTP_GET, "/api/dashboard", HTTP_AUTH_ADMIN, dashboard, "api_dashboard", NULL},
};
const size_t gw_routes_dash_count = sizeof gw_routes_dash / sizeof gw_routes_dash[0];
