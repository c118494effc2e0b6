/* assets.c — the dashboard's embedded files over HTTP (serve/http/assets.h). */
#include "serve/http/assets.h"

#include "observe/web_assets.h"

#include <stdlib.h>

int http_asset_respond(struct http_req *r, const char *name)
{
    const struct web_asset *a = web_asset_find(name);
    if (!a) {
        http_resp_error(r, 404, "not_found", "no such file: %s", name ? name : "");
        return HTTP_DONE;
    }
    http_resp_copy(r, 200, a->content_type, (const char *)a->data, a->len);
    /* Only this origin: no inline script, nothing from a CDN, no framing by other sites. */
    http_resp_header(r, "Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    http_resp_header(r, "X-Content-Type-Options", "nosniff");
    http_resp_header(r, "Cache-Control", "no-cache");
    return HTTP_DONE;
}

int http_asset_window(struct http_req *r, int max, int *out)
{
    *out = max;
    const char *q = http_req_query(r, "seconds");
    if (!q)
        return 0;
    char *end;
    long v = strtol(q, &end, 10);
    if (*end || v < 1 || v > max) {
        http_resp_error(r, 400, "invalid", "seconds: must be an integer from 1 to %d", max);
        return -1;
    }
    *out = (int)v;
    return 0;
}
