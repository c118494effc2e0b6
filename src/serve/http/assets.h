/* assets.h — answers a request with one of the dashboard's embedded files
 * (observe/web_assets.h), for the server's and the gateway's GET / and GET /web/{f}.
 *
 *   static int page(struct http_req *r, void *ctx) { return http_asset_respond(r, "index.html"); }
 */
#ifndef INFERD_SERVE_HTTP_ASSETS_H
#define INFERD_SERVE_HTTP_ASSETS_H

#include "serve/http/http.h"

/* Sets a 200 with the asset's bytes and type (plus a Content-Security-Policy that allows
 * only this origin, nosniff and no-cache), or a 404 naming the file. Returns HTTP_DONE. */
int http_asset_respond(struct http_req *r, const char *name);
/* The dashboard JSON's ?seconds=N (1..max; absent: max). OUT: *out. Returns 0, or -1 after
 * answering 400 naming the parameter. */
int http_asset_window(struct http_req *r, int max, int *out);

#endif
