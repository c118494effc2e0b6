/* web_assets.h — the dashboard's static files (web/), compiled into the binary.
 *
 * cmake/embed_web.cmake turns every file under web/ into a byte array at build time; the
 * server and the gateway answer GET / and GET /web/<name> from this table, so the page
 * needs no files on disk and nothing from the network (no CDN).
 *
 *   const struct web_asset *a = web_asset_find("index.html");
 *   if (a) http_resp_copy(req, 200, a->content_type, (const char *)a->data, a->len);
 */
#ifndef INFERD_OBSERVE_WEB_ASSETS_H
#define INFERD_OBSERVE_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *name;          /* file name under web/ ("dash.js") */
    const char *content_type;  /* from the extension */
    const unsigned char *data; /* static */
    size_t len;                /* bytes */
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

/* The asset called name, or NULL (names with '/' or ".." never match). */
const struct web_asset *web_asset_find(const char *name);

#endif
