/* peers.c — GET /api/peers: the other servers this one knows, for the gateway's crawler.
 *
 *   {"peers":[{"base_url":"http://10.0.0.2:8080","source":"flag"},
 *             {"base_url":"http://10.0.0.3:8080","source":"etcd","id":"10.0.0.3_8080"}]}
 *
 * "flag": a --peer URL; "etcd": another registration under this server's --register prefix
 * (the last listing, refreshed every second by a background gw_etcd source; this server's
 * own registration is left out). No request ever waits on etcd. */
#include "serve/routes/infer_call.h"

#include <string.h>

/* 1 when peers already holds an entry with base_url u. */
static int listed(const json_t *peers, const char *u)
{
    size_t i;
    const json_t *p;
    json_array_foreach(peers, i, p)
    {
        const char *v = json_string_value(json_object_get(p, "base_url"));
        if (v && strcmp(v, u) == 0)
            return 1;
    }
    return 0;
}

static int peers_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *peers = json_array();
    for (size_t i = 0; peers && i < s->opts.n_peers; i++)
        if (!listed(peers, s->opts.peers[i]))
            json_array_append_new(peers, json_pack("{s:s,s:s}", "base_url", s->opts.peers[i], "source", "flag"));
    pthread_mutex_lock(&s->peers_mu);
    size_t i;
    const json_t *d;
    json_array_foreach(s->peers_etcd, i, d)
    {
        const char *u = json_string_value(json_object_get(d, "base_url"));
        const char *id = json_string_value(json_object_get(d, "id"));
        if (!peers || !u || strcmp(u, s->advertise) == 0 || listed(peers, u))
            continue;
        json_array_append_new(peers, json_pack("{s:s,s:s,s:s}", "base_url", u, "source", "etcd", "id", id ? id : ""));
    }
    pthread_mutex_unlock(&s->peers_mu);
    json_t *body = peers ? json_pack("{s:o}", "peers", peers) : NULL;
    if (!body) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    http_resp_json(r, 200, body);
    return HTTP_DONE;
}

const struct http_route routes_peers[] = {
    {HTTP_GET, "/api/peers", HTTP_AUTH_INFER, peers_route, "ops_peers", NULL},
};
const size_t routes_peers_count = sizeof routes_peers / sizeof routes_peers[0];
