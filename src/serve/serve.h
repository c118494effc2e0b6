/* serve.h — `inferd serve` as a library: the model repository, the schedulers, the HTTP
 * front with every protocol's routes, auth, limits, metrics and logs, in one server object.
 *
 *   struct serve_options o = serve_options_default();
 *   o.models_dir = "models"; o.port = 8080;
 *   struct serve_server *s;
 *   if (serve_start(&o, &s, &err) < 0) die(err.msg);
 *   ... on SIGHUP serve_reopen_logs(s); on SIGTERM serve_drain(s, 30000); ...
 *   serve_free(s);
 */
#ifndef INFERD_SERVE_SERVE_H
#define INFERD_SERVE_SERVE_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

struct serve_options {
    const char *models_dir;     /* --models (required) */
    const char *host;           /* --host, default 127.0.0.1 */
    int port;                   /* --port, default 8080; 0 = any free port */
    int threads;                /* --threads: HTTP workers and compute threads; 0 = CPUs */
    const char *api_key_file;   /* --api-key-file: keys for inference routes */
    const char *admin_key_file; /* --admin-key-file: keys for repository routes */
    const char *access_log;     /* --access-log: JSON lines; NULL = none */
    const char *error_log;      /* --error-log: JSON lines; NULL = stderr */
    size_t log_max_bytes;       /* --log-max-bytes: both logs rotate at this size; 0 = never */
    int log_keep;               /* --log-keep: rotated files kept (default 5) */
    const char *otlp_endpoint;  /* --otlp-endpoint: OTLP/HTTP traces URL (…/v1/traces) that
                                   gets a span per request; NULL = none */
    const char *alerts_file;    /* --alerts: alert rule file (JSON, docs/observe.md); NULL = none */
    size_t max_body_bytes;      /* --max-body-bytes, default 64 MiB */
    size_t max_buffered_bytes;  /* --max-buffered-bytes: bodies held at once, default 8 x max_body_bytes */
    unsigned max_conns_per_client; /* --max-connections-per-client, default 1024 */
    int64_t max_elements;       /* --max-elements per tensor, default 16M */
    int memory_budget_mb;       /* --memory-budget-mb: each LLM's budget unless config.json sets one */
    int prefix_cache_mb;        /* --prefix-cache-mb: LLM prefix cache cap unless config.json
                                   sets one; 0 = the built-in default, < 0 = off */
    int poll_ms;                /* --poll-ms, default 1000; 0 = no polling */
    int conn_timeout_s;         /* --conn-timeout: idle connections closed after, default 120 */
    int max_connections;        /* --max-connections: open connections at most, default 4096 */
    const char *register_url;   /* --register etcd://HOST:PORT/prefix: register under
                                   prefix/<id> with a lease; NULL = none */
    const char *advertise_url;  /* --advertise: the URL registered; NULL = http://<host>:<port> */
    int register_ttl_s;         /* --register-ttl: the lease's TTL, default 10 */
    const char *const *peers;   /* --peer URLs for GET /api/peers (borrowed), n_peers of them */
    int64_t max_upload_bytes;   /* --max-upload-bytes: a package PUT to the repository, default 32 GiB */
    const char *trust_file;     /* --trust: ed25519 public keys; every version must be signed by
                                   one of them (src/pack/sign.h); NULL = signatures not required */
    size_t n_peers;
};

struct serve_server;

struct serve_options serve_options_default(void);
/* Loads the repository, starts schedulers and the HTTP front. OUT: *out.
 * Returns 0 or INFERD_E* (bad key file, models folder, port in use...). */
int serve_start(const struct serve_options *o, struct serve_server **out, struct inferd_err *err);
/* The port the server listens on. */
int serve_port(const struct serve_server *s);
/* Re-scans the model repository now (as the poller does every --poll-ms). */
void serve_rescan(struct serve_server *s);
/* Reopens the error and access logs (SIGHUP). */
void serve_reopen_logs(struct serve_server *s);
/* Stops accepting, marks not-ready, waits up to timeout_ms for in-flight requests.
 * Returns the number of requests still in flight (0 = drained). */
long serve_drain(struct serve_server *s, int timeout_ms);
/* Stops everything and frees. NULL is a no-op. */
void serve_free(struct serve_server *s);

#endif
