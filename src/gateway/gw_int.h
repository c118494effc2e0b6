/* gw_int.h — the gateway object and its channels, shared by the files of src/gateway.
 *
 * Who touches what: channel state (health, statistics, the routing table) is guarded by
 * g->mu; the loop thread (loop.h) runs every upstream call, probe and timer; the HTTP
 * threads parse requests, check keys, take a routing snapshot only through gw_pick under
 * g->mu, and never wait for an upstream.
 *
 *   gw_pick(g, model, api, tried, ntried) -> channel (a reference), or NULL
 *   gw_outcome(g, ch, model, &o)          -> passive statistics, ejection
 *   gw_chan_unref(g, ch)
 */
#ifndef INFERD_GATEWAY_GW_INT_H
#define INFERD_GATEWAY_GW_INT_H

#include "gateway/discover.h"
#include "gateway/gateway.h"
#include "gateway/loop.h"
#include "gateway/store.h"
#include "base/rng.h"
#include "observe/access_log.h"
#include "observe/metrics.h"
#include "serve/http/auth.h"
#include "serve/http/http.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define GW_ID_MAX 64
#define GW_URL_MAX 512
#define GW_WIN_SLOTS 30          /* the sliding window: 30 one-second slots */
#define GW_LAT_RING 256          /* recent latencies kept per channel for quantiles */
#define GW_MAX_ATTEMPTS 4        /* attempts of one request (first + retries + hedge) */
#define GW_MAX_CHANNELS 4096

enum gw_proto { GW_PROTO_INFERD, GW_PROTO_OPENAI, GW_PROTO_KSERVE };
/* Which protocol family a request belongs to: a channel must speak it. */
enum gw_api { GW_API_V2, GW_API_OPENAI, GW_API_OLLAMA };
enum gw_state {
    GW_ST_HEALTHY,     /* routed to */
    GW_ST_EJECTED,     /* outlier: not routed to until eject_until, then half-open */
    GW_ST_HALF_OPEN,   /* waiting for a probe to re-admit it */
    GW_ST_CANDIDATE,   /* found by crawling, not yet evaluated */
    GW_ST_BAD_QUALITY, /* its canary answer differs from the expected one */
    GW_ST_DISABLED,    /* enabled: false */
};
const char *gw_state_name(enum gw_state s);
const char *gw_proto_name(enum gw_proto p);

/* One upstream channel: its definition and what the gateway learned of it. */
struct gw_chan {
    /* definition (fixed once made; an update makes a new struct) */
    char id[GW_ID_MAX + 1];
    char name[129];
    char base_url[GW_URL_MAX];
    char source[160];          /* "api", "file", "dns:NAME", "etcd:PREFIX", "crawl" */
    enum gw_proto proto;
    char *api_key;             /* owned; NULL: none; never logged or returned */
    json_t *models;            /* array of names listed in the definition (owned) */
    json_t *model_map;         /* object public name -> upstream name (owned) */
    int priority;
    double weight;
    json_t *tags;              /* array of strings (owned) */
    bool enabled;
    json_t *def;               /* the definition as given (owned), api_key included */
    /* learned (g->mu) */
    json_t *found;             /* array: models the channel said it serves (crawl), owned */
    json_t *found_llm;         /* array: those of them it lists on GET /v1/models, owned */
    enum gw_state state;
    char reason[256];          /* why the state is what it is */
    int outstanding;           /* attempts in flight */
    int consec_fail;
    int ejections;             /* times ejected (the ejection time doubles with each) */
    uint64_t eject_until_ns;
    uint64_t state_since_ns;
    struct gw_win_slot { uint32_t ok, fail, busy; } win[GW_WIN_SLOTS];
    uint64_t win_sec;          /* second of win[win_sec % GW_WIN_SLOTS] */
    double ewma_ms;            /* latency of successful attempts; 0 = none yet */
    float lat[GW_LAT_RING];
    unsigned nlat;
    double p95_ms;             /* of lat, recomputed every 16 samples (routing reads it) */
    double ttft_ewma_ms, tps_ewma;
    double quality;            /* 1 good, 0 bad, -1 not known */
    char quality_why[256];
    double rollout;            /* share of its weight in use (gradual rollout), 0..1 */
    uint64_t rollout_step_ns;
    uint64_t requests, errors;
    uint64_t last_probe_ns;
    bool probing;              /* a probe round is in flight */
    bool listed;               /* a probe round has read its model lists (found is known) */
    bool removed;              /* no longer in the table (a reference keeps it alive) */
    int refs;                  /* the table's + one per attempt */
    struct metrics_series *m_lat; /* latency histogram series (looked up once) */
};

/* What one attempt's end tells the channel. */
struct gw_outcome {
    const char *model;
    bool ok;                   /* a usable answer (2xx, or a 4xx that is the client's fault) */
    bool busy;                 /* 429 or 503 */
    const char *kind;          /* error kind when !ok: "connect", "timeout", "5xx", "429" ... */
    int status;
    double ms;                 /* latency */
    double ttft_ms, tps;       /* streams */
};

/* Per-API-key limits in memory (mirrors the api_keys table). */
struct gw_key {
    char id[65];
    char hash[65];             /* sha256 hex of the secret */
    double rate_per_s, burst, tokens_avail;
    uint64_t last_refill_ns;
    int64_t quota_requests, quota_tokens, used_requests, used_tokens;
};

struct gw_call;

struct gw {
    struct gw_options o;             /* copied; strings borrowed */
    struct gw_loop *loop;
    struct gw_store *store;
    struct http_server *http;
    struct metrics_registry *reg;
    struct access_log *alog;
    struct otlp *otlp;               /* --otlp-endpoint; NULL: no spans exported */
    struct alerts *alerts;           /* --alerts rule set; NULL: none */
    struct keyring *admin_keys;      /* --admin-key-file; NULL: admin routes open */
    struct keyring *infer_keys;      /* --api-key-file (besides the stored keys) */
    pthread_mutex_t mu;              /* channels, keys, budget */
    struct gw_chan **chans;          /* the table */
    size_t nchans;
    struct gw_key *keys;
    size_t nkeys;
    /* retry budget: requests and retries in the last GW_WIN_SLOTS seconds */
    struct { uint32_t req, retry; } budget[GW_WIN_SLOTS];
    uint64_t budget_sec;
    struct rng loop_rng;             /* backoff jitter (loop thread only) */
    uint64_t started_ns;
    uint64_t started_wall_ms;
    atomic_int draining;
    atomic_long in_flight;
    struct gw_call *live_calls;      /* calls the loop holds (proxy.c; loop thread only) */
    /* canary consensus: per model, the latest answer key per channel (g->mu) */
    json_t *canary;                  /* {model: {channel id: answer key}} */
    json_t *canary_expect;           /* {model: {"request":..., "expect":...}} from --canaries */
    /* discovery */
    struct gw_dns **dns;
    size_t ndns;
    struct gw_etcd *etcd;
    char *file_json;                 /* last text read from --channels */
    int64_t file_mtime_ns;
    struct gw_timer *tick;           /* the loop's periodic work */
    uint64_t last_sample_ns, last_crawl_ns, last_file_ns;
    struct rollwin *dash_models;     /* dashboard: client requests per model (observe/rollwin.h) */
    struct rollwin *dash_channels;   /* dashboard: attempts per channel */
    /* metrics families */
    struct {
        struct metrics_family *requests, *duration, *ch_requests, *ch_errors, *ch_latency, *ch_score,
            *ch_state, *ch_outstanding, *ejections, *retries, *hedges, *rate_limited, *budget_exhausted;
    } m;
};

/* channel.c: parse and validate a definition (400 naming the field). OUT: *out, a new
 * channel with refs 1, state healthy (or disabled). */
int gw_chan_parse(const json_t *def, const char *source, struct gw_chan **out, struct inferd_err *err);
void gw_chan_unref(struct gw *g, struct gw_chan *c);
/* The definition as JSON for the API: api_key replaced by a hint ("sk-1…"); plus runtime
 * members when runtime is set (caller holds g->mu). New reference. */
json_t *gw_chan_json(const struct gw_chan *c, bool runtime);
/* The name the channel knows a public model by, or NULL when it does not serve it. */
const char *gw_chan_upstream_model(const struct gw_chan *c, const char *model);
/* Whether the channel speaks the API family. */
bool gw_chan_speaks(const struct gw_chan *c, enum gw_api api);

/* registry.c: the table. add/replace by id (the old one is unreffed); source sets the
 * owner. Return 0 or INFERD_E*. Take g->mu themselves. */
int gw_chan_put(struct gw *g, struct gw_chan *c, bool persist, struct inferd_err *err);
int gw_chan_delete(struct gw *g, const char *id, bool persist, struct inferd_err *err);
/* A reference to channel id, or NULL. */
struct gw_chan *gw_chan_get(struct gw *g, const char *id);
void gw_source_sync(void *ctx, const char *source, json_t *defs);

/* router.c */
/* Chooses a channel for model among those not in tried (ids). Returns a reference (the
 * caller unrefs) with *upstream_model set to the name the channel uses, or NULL with
 * *why: "no_channel" (none serves the model at all) or "unavailable" (none usable now). */
struct gw_chan *gw_pick(struct gw *g, const char *model, enum gw_api api, struct gw_chan *const *tried,
                        size_t ntried, const char **upstream_model, const char **why);
void gw_outcome(struct gw *g, struct gw_chan *c, const struct gw_outcome *o);
/* Score in [0, 1] (caller holds g->mu); the formula is in docs/gateway.md. */
double gw_score(struct gw *g, const struct gw_chan *c);
double gw_chan_quantile(const struct gw_chan *c, double q);
double gw_chan_availability(const struct gw_chan *c, uint64_t now_s);
/* Successes and failures in the last `seconds` (<= GW_WIN_SLOTS) of c's window. */
void gw_chan_window(const struct gw_chan *c, uint64_t now_s, int seconds, uint64_t *ok, uint64_t *fail);
/* Re-admits or keeps ejected after a probe round (caller holds g->mu). */
void gw_probe_result(struct gw *g, struct gw_chan *c, bool ok, const char *why);
/* Retry budget: may one more retry start now? Counts it when yes. */
bool gw_budget_retry(struct gw *g);
void gw_budget_request(struct gw *g);
/* Fleet latency of a model for hedging: the p95 over its healthy channels (ms), 0 = none. */
double gw_model_p95(struct gw *g, const char *model);

/* proxy.c: the inference routes. */
extern const struct http_route gw_routes_proxy[];
extern const size_t gw_routes_proxy_count;
/* Cancels every call in flight (shutdown). Loop thread. */
void gw_proxy_cut_all(struct gw *g);
/* For the access log: the channel that answered a request ("" when none) and a copy of
 * its attempts as a JSON array (*attempts malloc'd, NULL when none; caller frees). */
void gw_call_record(struct http_req *r, char *channel, size_t cap, char **attempts);

/* api.c: /api/channels, /api/keys, /api/report, /report, model lists, health, metrics. */
extern const struct http_route gw_routes_api[];
extern const size_t gw_routes_api_count;
/* dash.c: GET /, /web/{f}, /api/dashboard. */
extern const struct http_route gw_routes_dash[];
extern const size_t gw_routes_dash_count;
/* Snapshot of every channel with runtime members (report.h's "live"). New reference. */
json_t *gw_channels_snapshot(struct gw *g);

/* keys.c: inference keys, rate limits and quotas. */
int gw_keys_load(struct gw *g, struct inferd_err *err);
/* Checks the Authorization header of an inference request. Returns 0 (OUT: key_id, ""
 * when keys are off), INFERD_EAUTH (401) or INFERD_EBUSY (429; *retry_after_s set). */
int gw_keys_admit(struct gw *g, const char *authorization, char key_id[65], double *retry_after_s,
                  struct inferd_err *err);
void gw_keys_charge(struct gw *g, const char *key_id, int64_t tokens);

/* probe.c: what channels answer, parsed (pure; fuzzed). Names longer than 256 bytes are
 * skipped. Return 0, or -1 when the body is not that kind of answer. */
int gw_parse_index(const char *body, size_t len, json_t *models);          /* [{"name","state"}] */
int gw_parse_model_list(const char *body, size_t len, json_t *models, json_t *llms); /* {"data":[{"id"}]} */
/* {"peers":[{"base_url"}]} -> a new array of http(s) URL strings (empty when none). */
json_t *gw_parse_peers(const char *body, size_t len);

/* probe.c: the periodic work on the loop thread (probes, crawl, canaries, samples). */
void gw_tick_start(struct gw *g);
void gw_probe_channel_now(struct gw *g, struct gw_chan *c);

#endif
