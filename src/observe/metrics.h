/* metrics.h — the metrics registry (counters, gauges, histograms) and its Prometheus text
 * exposition (format 0.0.4).
 *
 * A registry holds families; a family has a name, help text, a kind and label names; a
 * family's series (one per set of label values) are found with metrics_series_get and are
 * then updated lock-free with atomics. Series live as long as the registry, so a caller may
 * look a series up once and keep the pointer. Lookups of existing series are lock-free (a
 * hash-table probe); the per-family mutex is taken only the first time a label set is
 * seen. Each family caps its label sets (METRICS_DEFAULT_MAX_SERIES unless
 * metrics_family_set_max_series says otherwise); a lookup past the cap returns the
 * family's hidden "overflow" series, whose updates are never exposed, and the rejected
 * lookup is counted in
 * inferd_metrics_series_dropped_total{family="<name>"} (exposed once any drop happened).
 * metrics_series_get never returns NULL, so the hot path needs no error handling.
 *
 *   struct metrics_registry *reg = metrics_registry_new();
 *   struct metrics_family *req;
 *   const char *labels[] = {"model", "code"};
 *   metrics_counter_new(reg, "app_requests_total", "Requests.", labels, 2, &req, &err);
 *   metrics_add(metrics_series_get(req, (const char *[]){"resnet", "200"}), 1);
 *   char *text; size_t len; metrics_expose(reg, &text, &len, &err); free(text);
 *   metrics_registry_free(reg);
 *
 * Thread-safety: every function may be called from any thread at any time, except
 * metrics_registry_free (no other call may be in flight).
 */
#ifndef INFERD_METRICS_H
#define INFERD_METRICS_H

#include "inferd/err.h"

#include <stddef.h>

#define METRICS_MAX_LABELS 8          /* label names per family */
#define METRICS_MAX_BUCKETS 32        /* histogram upper bounds (not counting +Inf) */
#define METRICS_DEFAULT_MAX_SERIES 1000 /* label sets per family unless changed */
#define METRICS_LABEL_VALUE_MAX 256   /* bytes; longer label values are truncated */
#define METRICS_EXPOSE_MAX (64u << 20) /* cap on one exposition's size: ETOOLARGE past it */

enum metrics_kind { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_registry;
struct metrics_family;
struct metrics_series;

/* A collector runs at the start of every metrics_expose (under no lock of the registry's)
 * to refresh series that mirror outside state (e.g. process metrics from /proc). */
typedef void (*metrics_collect_fn)(void *ctx);

/* Returns a new empty registry, or NULL when out of memory. Free with metrics_registry_free. */
struct metrics_registry *metrics_registry_new(void);
/* Frees the registry, its families and series. NULL is a no-op. */
void metrics_registry_free(struct metrics_registry *reg);

/* Create a family in reg. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, be unique in reg, and
 * (counters) end in "_total"; label names match [a-zA-Z_][a-zA-Z0-9_]*, must not begin
 * with "__" and (histograms) not be "le". label_names is copied; nlabels may be 0.
 * OUT: *out is owned by reg. Returns 0, INFERD_EINVAL (name/label/bucket problems) or
 * INFERD_ENOMEM. */
int metrics_counter_new(struct metrics_registry *reg, const char *name, const char *help,
                        const char *const *label_names, size_t nlabels,
                        struct metrics_family **out, struct inferd_err *err);
int metrics_gauge_new(struct metrics_registry *reg, const char *name, const char *help,
                      const char *const *label_names, size_t nlabels,
                      struct metrics_family **out, struct inferd_err *err);
/* buckets: strictly increasing finite upper bounds, 1..METRICS_MAX_BUCKETS of them
 * (copied); the +Inf bucket is implicit. */
int metrics_histogram_new(struct metrics_registry *reg, const char *name, const char *help,
                          const char *const *label_names, size_t nlabels,
                          const double *buckets, size_t nbuckets,
                          struct metrics_family **out, struct inferd_err *err);

/* Changes the cap on label sets of f (>= 1). Existing series are kept. */
void metrics_family_set_max_series(struct metrics_family *f, size_t max_series);

/* Writes n bucket bounds start, start*factor, ... into out (n <= METRICS_MAX_BUCKETS,
 * start > 0, factor > 1). Returns 0 or INFERD_EINVAL. */
int metrics_buckets_exponential(double start, double factor, size_t n, double *out);

/* Returns the series of f for these label values (one per label name of f, in order;
 * may be NULL when f has no labels; NULL values count as ""). Values are stored as valid
 * UTF-8 (ill-formed bytes become U+FFFD) cut to METRICS_LABEL_VALUE_MAX - 1 bytes at a
 * character boundary; inputs that store the same are the same series. Creates it on first use.
 * Never returns NULL: past the cap or out of memory it returns f's overflow series.
 * The series is owned by the registry and valid until metrics_registry_free. */
struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values);

/* Hot-path updates (atomic, lock-free, no allocation).
 * metrics_add: counters (v >= 0; negative or NaN v is ignored) and gauges (any v).
 * metrics_set: gauges; on a counter only for collectors mirroring an outside monotonic
 *              total (e.g. CPU seconds).
 * metrics_observe: histograms (NaN is ignored).
 * A call of the wrong kind for the series is ignored. */
void metrics_add(struct metrics_series *s, double v);
void metrics_set(struct metrics_series *s, double v);
void metrics_observe(struct metrics_series *s, double v);

/* Current value of a counter/gauge series; a histogram's count. For tests and dashboards. */
double metrics_value(const struct metrics_series *s);
/* A histogram series' sum of observations (0 for other kinds). */
double metrics_hist_sum(const struct metrics_series *s);

/* Hides, in every family of reg that has all the labels, the series whose values equal
 * match's: match holds nmatch (label, value) pairs, e.g. {"model", "resnet"} when a model
 * is removed, {"model", "resnet", "version", "1"} when a version is unloaded. A hidden
 * series keeps its values and cached pointers stay valid; it is left out of expositions
 * until metrics_series_get asks for it again (the model is back). Snapshots still add it up,
 * so a rate over a window does not go negative. Returns how many were hidden. */
size_t metrics_registry_hide(struct metrics_registry *reg, const char *const *match, size_t nmatch);

/* A family's series that match some labels, added up (for alert rules and dashboards). */
struct metrics_snapshot {
    enum metrics_kind kind;
    size_t nseries;                         /* series that matched */
    double value;                           /* counter/gauge: sum; histogram: count */
    double sum;                             /* histogram: sum of observations */
    size_t nbuckets;                        /* histogram: finite bounds */
    double bounds[METRICS_MAX_BUCKETS];
    double counts[METRICS_MAX_BUCKETS + 1]; /* histogram: per-bucket (not cumulative), +Inf last */
};

/* The family called name in reg, or NULL. Owned by reg. */
struct metrics_family *metrics_family_find(struct metrics_registry *reg, const char *name);
/* Adds up f's series whose labels match: match holds nmatch (label, pattern) pairs, a
 * pattern equals the value or ends in '*' to match a prefix ("5*"). OUT: *snap.
 * Returns 0 or INFERD_EINVAL (a label f does not have). */
int metrics_family_snapshot(struct metrics_family *f, const char *const *match, size_t nmatch,
                            struct metrics_snapshot *snap, struct inferd_err *err);

/* Registers fn(ctx) to run before each exposition (ctx borrowed; must outlive reg).
 * Returns 0 or INFERD_ENOMEM / INFERD_ETOOLARGE (more than 16 collectors). */
int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx,
                          struct inferd_err *err);
/* Same, but takes ownership of ctx: free_ctx(ctx) runs in metrics_registry_free, or at once
 * when this call fails. */
int metrics_add_owned_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx,
                                void (*free_ctx)(void *), struct inferd_err *err);

/* Renders every family, in creation order, with series in creation order, as Prometheus
 * text format 0.0.4 (Content-Type "text/plain; version=0.0.4; charset=utf-8").
 * Families with no series yet print only HELP and TYPE (unlabelled ones print a 0 sample).
 * OUT: *text is NUL-terminated, malloc'd, caller frees; *len excludes the NUL.
 * Returns 0, INFERD_ENOMEM or INFERD_ETOOLARGE (past METRICS_EXPOSE_MAX). */
int metrics_expose(struct metrics_registry *reg, char **text, size_t *len,
                   struct inferd_err *err);

/* Content-Type for the exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
