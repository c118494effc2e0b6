/* serve_int.h — the server object shared by the route files (private to src/serve).
 *
 * Route files (the files in routes/) get a struct serve_server * as their ctx and use its
 * repository, limits and metrics; inference routes go through infer_call.h.
 *
 *   static int h(struct http_req *r, void *ctx) { struct serve_server *s = ctx; ... }
 */
#ifndef INFERD_SERVE_SERVE_INT_H
#define INFERD_SERVE_SERVE_INT_H

#include "observe/access_log.h"
#include "observe/families.h"
#include "serve/http/auth.h"
#include "serve/http/http.h"
#include "serve/repo/repo.h"
#include "serve/serve.h"

#include <pthread.h>
#include <stdatomic.h>

struct tpool;
struct etcd_register;
struct gw_etcd;

#define SERVE_URL_MAX 512 /* bytes of the advertised URL, NUL included */
struct workq;

#define SERVE_PARSE_QUEUE_MAX 64 /* large bodies waiting for a parse thread; past it: 503 */

/* The one documented server struct (STYLE rule 9). */
struct serve_server {
    struct serve_options opts;        /* copied; strings borrowed from the caller */
    struct tpool *pool;               /* compute threads for engines */
    struct metrics_registry *reg;     /* the process's metrics */
    struct metrics_inferd m;          /* families in reg */
    struct access_log *alog;          /* NULL when --access-log not given */
    struct otlp *otlp;                /* span exporter; NULL when --otlp-endpoint not given */
    struct alerts *alerts;            /* --alerts rule set; NULL when not given */
    struct keyring *infer_keys;       /* NULL = inference routes open */
    struct keyring *admin_keys;       /* NULL = repository routes use infer_keys */
    struct repo *repo;
    struct http_server *http;
    struct workq *parse_q;            /* large tensor JSON bodies are parsed here, not on an
                                         HTTP worker (serve_defer_large) */
    atomic_int draining;              /* set by serve_drain: ready answers 503 */
    char advertise[SERVE_URL_MAX];    /* the URL registered in etcd ("" without --register) */
    struct etcd_register *registration; /* NULL without --register; stopped (revoked) first at drain */
    struct gw_etcd *peer_watch;       /* lists the --register prefix for GET /api/peers; or NULL */
    pthread_mutex_t peers_mu;         /* guards peers_etcd */
    json_t *peers_etcd;               /* the last listing of the prefix (array of channel
                                         definitions, owned); NULL before the first */
    struct rollwin *dash;             /* per-model rolling windows for GET /api/dashboard */
};

/* Route tables, one per protocol (each file in routes/). */
extern const struct http_route routes_ops[];
extern const size_t routes_ops_count;
extern const struct http_route routes_v2[];
extern const size_t routes_v2_count;
extern const struct http_route routes_repository[];
extern const size_t routes_repository_count;
/* PUT /v2/repository/models/{m}/versions/{v}: a package as a tar stream, unpacked to disk
 * as it arrives (http_add_sink_route). */
extern const struct http_route route_repository_put;
extern const struct http_body_sink repository_put_sink;
extern const struct http_route routes_predict[];
extern const size_t routes_predict_count;
extern const struct http_route routes_tfserving[];
extern const size_t routes_tfserving_count;
extern const struct http_route routes_openai[];
extern const size_t routes_openai_count;
extern const struct http_route routes_openai_models[];
extern const size_t routes_openai_models_count;
extern const struct http_route routes_ollama[];
extern const size_t routes_ollama_count;
extern const struct http_route routes_generate[];
extern const size_t routes_generate_count;
extern const struct http_route routes_peers[];
extern const size_t routes_peers_count;
extern const struct http_route routes_dash[];
extern const size_t routes_dash_count;
/* OpenAI "model" object of a loaded GGUF model version (routes/openai.c); caller owns it.
 * TF-Serving's GET /v1/models/{m} answers with it for LLMs (OpenAI's "retrieve model"). */
struct model_version;
json_t *openai_model_object(struct model_version *mv);

/* The non-secret identity of the API key r was let in with, for per-key fairness (server.c):
 * an inference key's index in --api-key-file + 1, an admin key's index + 1 + 2^32; 0 when
 * the server has no keys or r sent none that is known. Never derived from the key bytes. */
uint64_t serve_client_id(const struct serve_server *s, const struct http_req *r);

/* Parses a version capture ("3"); NULL gives 0 (= newest). Returns 0 or EINVAL. */
int serve_parse_version(const char *s, int64_t *out, struct inferd_err *err);

#endif
