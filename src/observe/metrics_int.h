/* metrics_int.h — private structures of the metrics registry, shared by metrics.c (families,
 * series, updates) and metrics_expose.c (text rendering). */
#ifndef INFERD_METRICS_INT_H
#define INFERD_METRICS_INT_H

#include "observe/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define METRICS_MAX_COLLECTORS 16

struct metrics_table;

struct metrics_series {
    const struct metrics_family *fam;  /* owner (borrowed back-pointer) */
    char **values;                     /* fam->nlabels label values (owned, one block) */
    uint64_t hash;                     /* hash of the label values */
    _Atomic uint64_t bits;             /* counter/gauge value, or histogram sum, as double bits */
    atomic_int hidden;                 /* left out of expositions (metrics_registry_hide) until
                                        * metrics_series_get asks for it again */
    _Atomic uint64_t counts[];         /* histogram: nbuckets + 1 per-bucket (not cumulative)
                                        * counts, the last one for +Inf; absent otherwise */
};

struct metrics_family {
    struct metrics_registry *reg;      /* owner */
    enum metrics_kind kind;
    char *name;                        /* owned */
    char *help;                        /* owned */
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];  /* owned label names */
    size_t nbuckets;                   /* histograms: finite upper bounds */
    double buckets[METRICS_MAX_BUCKETS];
    size_t max_series;                 /* cap on label sets */
    _Atomic uint64_t dropped;          /* lookups refused by the cap (or out of memory) */
    struct metrics_series *overflow;   /* hidden sink returned past the cap (owned) */
    pthread_mutex_t lock;              /* guards writers and the fields below */
    struct metrics_series **order;     /* series in creation order (owned array + series) */
    size_t nseries, order_cap;
    /* The hash table readers probe without a lock: a slot is set once (release) and never
     * cleared; growing publishes a new table (release) and keeps the old one on the retired
     * list until the family is freed, so a reader holding it stays safe. */
    _Atomic(struct metrics_table *) table;
    struct metrics_table *retired;     /* owned, linked by next */
};

struct metrics_table {
    struct metrics_table *next;        /* retired list */
    size_t cap;                        /* power of two */
    _Atomic(struct metrics_series *) slots[];
};

struct metrics_registry {
    pthread_mutex_t lock;              /* guards families and collectors */
    struct metrics_family **families;  /* creation order (owned) */
    size_t nfamilies, families_cap;
    metrics_collect_fn collectors[METRICS_MAX_COLLECTORS];
    void *collector_ctx[METRICS_MAX_COLLECTORS];
    void (*collector_free[METRICS_MAX_COLLECTORS])(void *); /* NULL: ctx borrowed */
    size_t ncollectors;
};

#endif
