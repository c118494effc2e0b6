/* gateway.h — `inferd gateway` as a library: one front door over many upstream channels
 * (inferd servers, OpenAI-compatible and KServe v2 endpoints). It speaks the server's
 * protocols through the server's HTTP front, picks a channel per request by priority and
 * score, retries and fails over, probes and evaluates channels, discovers them (file, DNS,
 * etcd, crawling), keeps its state in SQLite and reports. It links no engine.
 *
 *   struct gw_options o = gw_options_default();
 *   o.channels_file = "channels.json"; o.state_path = "gateway.db"; o.port = 9090;
 *   struct gw *g;
 *   if (gw_start(&o, &g, &err) < 0) die(err.msg);
 *   ... on SIGTERM gw_drain(g, 30000); gw_free(g);
 */
#ifndef INFERD_GATEWAY_GATEWAY_H
#define INFERD_GATEWAY_GATEWAY_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define GW_MAX_DNS 8

struct gw_options {
    const char *host;             /* --host, default 127.0.0.1 */
    int port;                     /* --port, default 9090; 0 = any free port */
    int threads;                  /* --threads: HTTP workers (default 4) */
    const char *channels_file;    /* --channels: static channels, re-read when it changes */
    const char *state_path;       /* --state: SQLite file (default gateway.db; ":memory:") */
    const char *admin_key_file;   /* --admin-key-file: keys for /api/channels, /api/keys */
    const char *api_key_file;     /* --api-key-file: inference keys besides the stored ones */
    const char *access_log;       /* --access-log (JSON lines); NULL = none */
    size_t log_max_bytes;         /* --log-max-bytes: the logs rotate at this size; 0 = never */
    int log_keep;                 /* --log-keep: rotated files kept (default 5) */
    const char *otlp_endpoint;    /* --otlp-endpoint: OTLP/HTTP traces URL; a span per request
                                     and per upstream attempt; NULL = none */
    const char *alerts_file;      /* --alerts: alert rule file (JSON); NULL = none */
    const char *canaries_file;    /* --canaries: [{"model","request","expect"}] */
    const char *dns[GW_MAX_DNS];  /* --dns NAME (repeatable) */
    size_t ndns;
    const char *dns_server;       /* --dns-server host:port */
    int dns_port;                 /* --dns-port: port for A/AAAA answers (default 8080) */
    const char *etcd;             /* --etcd etcd://host:port/prefix */
    size_t max_body_bytes;        /* --max-body-bytes (default 64 MiB) */
    int probe_interval_ms;        /* --probe-interval (default 2000) */
    int canary_interval_ms;       /* --canary-interval (default 10000) */
    int crawl_interval_ms;        /* --crawl-interval (default 10000) */
    int max_attempts;             /* --max-attempts per request (default 3) */
    double retry_budget;          /* --retry-budget: retries <= this share of requests (0.2) */
    long connect_timeout_ms;      /* --connect-timeout (default 1000) */
    long upstream_timeout_ms;     /* --upstream-timeout: whole non-stream attempt (60000) */
    long first_byte_timeout_ms;   /* --first-byte-timeout cap (default 30000); the attempt's
                                     own is min(this, max(1000, 4 x the model's p99)) */
    int eject_failures;           /* --eject-failures: consecutive failures (default 5) */
    double eject_ratio;           /* --eject-ratio: window error ratio (default 0.5) */
    int eject_min_requests;       /* requests in the window before the ratio counts (10) */
    double eject_base_s;          /* first ejection time (default 2 s, doubling, cap 120 s) */
    double max_ejected_share;     /* --max-ejected: share of a model's channels (0.5) */
    const char *hedge_models;     /* --hedge m1,m2: hedge after the fleet's p95 */
    double rollout_start;         /* share a channel added at run time starts at (0.1) */
    int rollout_step_ms;          /* the share doubles every step while healthy (5000) */
    int64_t retention_s;          /* --retention: history kept (default 7 days) */
    int max_connections;          /* --max-connections (default 8192) */
    unsigned max_conns_per_client; /* --max-connections-per-client (default 1024) */
};

struct gw;

struct gw_options gw_options_default(void);
/* Opens the state, loads channels and keys, starts discovery, the loop and the HTTP front.
 * OUT: *out. Returns 0 or INFERD_E* with err naming the flag or file. */
int gw_start(const struct gw_options *o, struct gw **out, struct inferd_err *err);
int gw_port(const struct gw *g);
/* Stops accepting, waits up to timeout_ms for requests in flight. Returns those left. */
long gw_drain(struct gw *g, int timeout_ms);
void gw_reopen_logs(struct gw *g);
/* Stops everything and frees. NULL is a no-op. */
void gw_free(struct gw *g);

#endif
