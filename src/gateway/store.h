/* store.h — the gateway's state in SQLite (the embedded default; `--state gateway.db`):
 * channels, API keys with their limits and usage, and the history (requests, probes,
 * per-channel samples) that the report and demand mining read. WAL mode, so the report's
 * reads never wait for the writer. History rows are queued in memory and written by one
 * thread in one transaction per second; rows older than the retention are deleted hourly.
 *
 *   struct gw_store *st;
 *   gw_store_open("gateway.db", 7 * 86400, &st, &err);
 *   gw_store_put_channel(st, "a", def_json_text, "api", &err);
 *   gw_store_log_request(st, &rec);        // queued, written within a second
 *   sqlite3 *db = gw_store_reader(st);     // for report queries (one reader per thread)
 *   gw_store_close(st);                    // flushes the queue
 *
 * Schema (times in Unix ms):
 *   channels(id TEXT PRIMARY KEY, def TEXT, source TEXT, created_ms, updated_ms)
 *   api_keys(id TEXT PRIMARY KEY, name TEXT, key_hash TEXT UNIQUE, key_hint TEXT,
 *            rate_per_s REAL, burst REAL, quota_requests INTEGER, quota_tokens INTEGER,
 *            used_requests INTEGER, used_tokens INTEGER, created_ms INTEGER)
 *            -- key_hash: sha256 hex of the key; key_hint: its first 4 characters + "…"
 *            -- limits <= 0 mean none
 *   requests(ts_ms, request_id, key_id, model, route, channel_id, status, latency_ms,
 *            ttft_ms, attempts, error, busy, tokens)
 *            -- one row per client request; channel_id '' when no channel served the model;
 *            -- error: '' or the kind of the final failure ("no_channel", "upstream_5xx",
 *            -- "timeout", "connect", "rate_limited", ...); busy: 1 when any attempt got
 *            -- 429 or 503 from its channel (demand outrunning capacity); tokens: completion
 *            -- tokens when known
 *   probes(ts_ms, channel_id, model, kind, ok, latency_ms, detail)
 *            -- kind: "live", "ready", "canary", "models"; detail: why it failed
 *   samples(ts_ms, channel_id, state, score, availability, quality, latency_ms, p50, p95,
 *           p99, requests, errors, outstanding)
 *            -- every 5 s per channel: what the report's charts draw
 */
#ifndef INFERD_GATEWAY_STORE_H
#define INFERD_GATEWAY_STORE_H

#include "inferd/err.h"

#include <sqlite3.h>
#include <stdint.h>

#define GW_STORE_QUEUE_MAX 100000 /* history rows waiting for the writer; more are dropped
                                     (counted in gw_store_dropped) */

struct gw_store;

struct gw_request_row {
    int64_t ts_ms;
    const char *request_id, *key_id, *model, *route, *channel_id, *error;
    int status, attempts, busy;
    double latency_ms, ttft_ms;
    int64_t tokens;
};
struct gw_probe_row {
    int64_t ts_ms;
    const char *channel_id, *model, *kind, *detail;
    int ok;
    double latency_ms;
};
struct gw_sample_row {
    int64_t ts_ms;
    const char *channel_id, *state;
    double score, availability, quality, latency_ms, p50, p95, p99;
    int64_t requests, errors, outstanding;
};
struct gw_key_row {
    char id[65], name[129], key_hint[16];
    double rate_per_s, burst;
    int64_t quota_requests, quota_tokens, used_requests, used_tokens, created_ms;
};

/* Opens (creating) path; ":memory:" works for tests. retention_s <= 0: 7 days.
 * OUT: *out. Returns 0 or INFERD_EIO naming the path and SQLite's message. */
int gw_store_open(const char *path, int64_t retention_s, struct gw_store **out,
                  struct inferd_err *err);
/* Flushes queued rows and closes. NULL is a no-op. */
void gw_store_close(struct gw_store *st);

/* Channels: written at once (a transaction, fsynced by SQLite). */
int gw_store_put_channel(struct gw_store *st, const char *id, const char *def_json,
                         const char *source, struct inferd_err *err);
int gw_store_delete_channel(struct gw_store *st, const char *id, struct inferd_err *err);
/* Calls fn(ctx, id, def_json, source) for every stored channel. */
int gw_store_each_channel(struct gw_store *st,
                          void (*fn)(void *ctx, const char *id, const char *def, const char *source),
                          void *ctx, struct inferd_err *err);

/* API keys. key: the secret (only its sha256 is stored). Returns 0, INFERD_EINVAL (a key or id already stored) or INFERD_EIO. */
int gw_store_put_key(struct gw_store *st, const struct gw_key_row *k, const char *key,
                     struct inferd_err *err);
int gw_store_delete_key(struct gw_store *st, const char *id, struct inferd_err *err);
int gw_store_each_key(struct gw_store *st, void (*fn)(void *ctx, const struct gw_key_row *k,
                                                      const char *key_hash),
                      void *ctx, struct inferd_err *err);
/* The sha256 hex of a key secret, as api_keys.key_hash holds it. */
void gw_store_key_hash(const char *key, char hex[65]);
/* Adds usage to a key (queued like history rows). */
void gw_store_add_usage(struct gw_store *st, const char *key_id, int64_t requests, int64_t tokens);

/* History (queued; never blocks on the disk). */
void gw_store_log_request(struct gw_store *st, const struct gw_request_row *r);
void gw_store_log_probe(struct gw_store *st, const struct gw_probe_row *r);
void gw_store_log_sample(struct gw_store *st, const struct gw_sample_row *r);
/* Writes what is queued now (tests, shutdown). */
void gw_store_flush(struct gw_store *st);
uint64_t gw_store_dropped(const struct gw_store *st);

/* A read-only connection to the same database for the calling thread's queries (report,
 * demand). Owned by st; use it from one thread at a time (it is guarded by a mutex the
 * caller takes with gw_store_reader_lock/unlock). */
sqlite3 *gw_store_reader_lock(struct gw_store *st);
void gw_store_reader_unlock(struct gw_store *st);

#endif
