/* discover.h — the seam between the gateway and its discovery sources.
 *
 * A discovery source (the static channels file, DNS names, an etcd prefix, the crawler)
 * owns a set of channels. Whenever it learns its current set it hands the whole set to the
 * gateway with a gw_sync_fn: a JSON array of channel definitions (the same objects
 * POST /api/channels takes). The gateway adds the new ones, updates changed ones and removes
 * the channels of that source that are no longer in the set; channels of other sources are
 * untouched. A source never sees the gateway's internals.
 *
 *   static void on_sync(void *ctx, const char *source, json_t *defs) { ... }
 *   struct gw_dns *d;
 *   gw_dns_start(&opts, on_sync, gw, &d, &err);   // calls on_sync("dns:NAME", [...]) on change
 *   gw_dns_stop(d);
 *
 * Channel definition members (validated by the gateway, 400 naming the field on error):
 *   id (required, [A-Za-z0-9._:-]{1,64}), name, base_url (http://host:port[/prefix]),
 *   protocol ("inferd" | "openai" | "kserve"), api_key, models [names], model_map
 *   {public name: upstream name}, priority (int, lower = preferred), weight (> 0),
 *   tags [strings], enabled (bool).
 */
#ifndef INFERD_GATEWAY_DISCOVER_H
#define INFERD_GATEWAY_DISCOVER_H

#include "inferd/err.h"

#include <jansson.h>

/* Called by a source with its whole current set. source: "file", "dns:<name>",
 * "etcd:<prefix>", "crawl". defs: a JSON array of channel definitions, borrowed for the
 * call. Any thread; the callee copies what it keeps. */
typedef void (*gw_sync_fn)(void *ctx, const char *source, json_t *defs);

/* ---- DNS (discover_dns.c) ---- */
struct gw_dns_opts {
    const char *name;        /* "_inferd._tcp.models.local" (SRV) or "models.local" (A/AAAA) */
    const char *server;      /* resolver "127.0.0.1:5353"; NULL = the system's */
    int port;                /* port for A/AAAA answers (SRV answers carry their own) */
    const char *protocol;    /* protocol of the discovered channels ("inferd") */
    int interval_ms;         /* re-resolve period (default 5000) */
};
struct gw_dns;
int gw_dns_start(const struct gw_dns_opts *o, gw_sync_fn fn, void *ctx, struct gw_dns **out,
                 struct inferd_err *err);
void gw_dns_stop(struct gw_dns *d);

/* ---- etcd v3 (discover_etcd.c), through etcd's JSON gateway (/v3/...) ----
 * A registration is the key <prefix>/<id> whose value is a channel definition (JSON),
 * attached to a lease; the server keeps the lease alive (etcd_register_*). */
struct gw_etcd;
/* url: "etcd://HOST:PORT/prefix". */
int gw_etcd_start(const char *url, gw_sync_fn fn, void *ctx, struct gw_etcd **out,
                  struct inferd_err *err);
void gw_etcd_stop(struct gw_etcd *e);

/* The server side: `inferd serve --register etcd://HOST:PORT/prefix --advertise URL`. */
struct etcd_register;
int etcd_register_start(const char *url, const char *advertise_url, int ttl_s,
                        struct etcd_register **out, struct inferd_err *err);
void etcd_register_stop(struct etcd_register *r); /* revokes the lease */

#endif
