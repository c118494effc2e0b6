/* rollwin.h — rolling windows of request facts in memory, for the dashboard.
 *
 * A rollwin keeps, per key (a model, a channel), one bucket per second over the last
 * ROLLWIN_SECONDS seconds: requests, errors, a latency histogram (for p50/p95/p99), LLM
 * completion tokens and time-to-first-token. The request-completion hook records each
 * finished request; GET /api/dashboard renders the window as JSON series. Buckets are
 * keyed by monotonic second and reused in a ring, so memory is fixed per key and nothing
 * is allocated after a key's first request.
 *
 *   struct rollwin *w = rollwin_new(64);
 *   rollwin_record(w, "resnet", clock_now_ns(), &(struct rollwin_obs){.latency_s = 0.012});
 *   json_t *j = rollwin_json(w, clock_now_ns(), 300);   // {"resnet": {...}}
 *   json_decref(j);
 *   rollwin_free(w);
 *
 * Thread-safety: record and json may run from any thread at once. A key is found without
 * a lock (keys are published once, append-only); each key's buckets have their own mutex,
 * held for a few stores per request. Past max_keys, new keys share the key "_other".
 */
#ifndef INFERD_OBSERVE_ROLLWIN_H
#define INFERD_OBSERVE_ROLLWIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROLLWIN_SECONDS 300   /* seconds kept per key (5 minutes) */
#define ROLLWIN_KEY_MAX 128   /* bytes of a key, NUL included; longer keys are cut at a
                                 character boundary; ill-formed UTF-8 becomes U+FFFD */
#define ROLLWIN_LAT_BUCKETS 36 /* latency histogram: bounds 0.25 ms * 2^(i/2), i < 35 (to
                                  ~33 s), then +Inf (reported as the last bound) */

struct rollwin;

/* One finished request. */
struct rollwin_obs {
    double latency_s;   /* arrival to last byte; < 0: not observed (no latency sample) */
    bool error;         /* the answer was an error (status >= 500, or a failed attempt) */
    bool client_error;  /* status 400..499 */
    int64_t tokens;     /* LLM completion tokens (0 for other requests) */
    double ttft_s;      /* LLM time to first token; <= 0: none */
};

/* A new window set holding up to max_keys keys (1..4096; other values are clamped).
 * Returns NULL when out of memory. Free with rollwin_free. */
struct rollwin *rollwin_new(size_t max_keys);
/* Frees w and its keys. NULL is a no-op. No other call may be in flight. */
void rollwin_free(struct rollwin *w);

/* Counts o under key at monotonic time now_ns. key "" is ignored (requests that name no
 * model). Allocates only the first time a key is seen (out of memory: the record is lost). */
void rollwin_record(struct rollwin *w, const char *key, uint64_t now_ns, const struct rollwin_obs *o);

/* The last `seconds` (1..ROLLWIN_SECONDS) seconds up to now_ns, per key, oldest first:
 *   {"<key>": {"requests":[n...], "errors":[n...], "client_errors":[n...],
 *              "p50_ms":[x|null...], "p95_ms":[...], "p99_ms":[...],
 *              "tokens":[n...], "ttft_ms":[x|null...],
 *              "total": {"requests":n, "errors":n, "client_errors":n, "rate":req/s,
 *                        "error_ratio":x, "p50_ms":x|null, "p95_ms":.., "p99_ms":..,
 *                        "tokens_per_s":x, "ttft_ms":x|null}}}
 * Each array has `seconds` entries, one per second, the last being the current second.
 * Quantiles are upper bounds of histogram buckets (within a factor of sqrt 2). "total"
 * covers the whole span. Returns a new reference, or NULL when out of memory. */
json_t *rollwin_json(struct rollwin *w, uint64_t now_ns, int seconds);

#endif
