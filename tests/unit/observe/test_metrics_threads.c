/* test_metrics_threads.c — concurrent updates and lookups give exact totals. */
#include "check.h"
#include "observe/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8
#define ITERS 20000

struct ctx {
    struct metrics_family *counter, *hist, *gauge;
    struct metrics_registry *reg;
    int id;
};

static void *worker(void *arg)
{
    struct ctx *c = arg;
    char label[8];
    for (int i = 0; i < ITERS; i++) {
        snprintf(label, sizeof label, "m%d", i % 4);
        /* Look up every time (the hot path most callers use) and create concurrently. */
        metrics_add(metrics_series_get(c->counter, (const char *[]){label}), 1);
        metrics_observe(metrics_series_get(c->hist, (const char *[]){label}), (i % 3) * 0.5);
        metrics_add(metrics_series_get(c->gauge, NULL), 1);
        metrics_add(metrics_series_get(c->gauge, NULL), -1);
        if (i % 64 == 0) { /* a new label set now and then: the table grows under readers */
            char mine[32];
            snprintf(mine, sizeof mine, "t%d-%d", c->id, i / 64);
            metrics_add(metrics_series_get(c->counter, (const char *[]){mine}), 1);
        }
        if (c->id == 0 && i % 5000 == 0) { /* scrape while others update */
            char *text;
            size_t len;
            if (metrics_expose(c->reg, &text, &len, NULL) == 0)
                free(text);
        }
    }
    return NULL;
}

int main(void)
{
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct ctx base = {.reg = reg};
    const char *l[] = {"model"};
    const double b[] = {0.25, 0.75};
    CHECK(metrics_counter_new(reg, "t_ops_total", "ops", l, 1, &base.counter, &err) == 0);
    CHECK(metrics_histogram_new(reg, "t_v", "v", l, 1, b, 2, &base.hist, &err) == 0);
    CHECK(metrics_gauge_new(reg, "t_inflight", "g", NULL, 0, &base.gauge, &err) == 0);
    metrics_family_set_max_series(base.counter, 4 + THREADS * (ITERS / 64 + 1));
    pthread_t th[THREADS];
    struct ctx cs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        cs[i] = base;
        cs[i].id = i;
        CHECK(pthread_create(&th[i], NULL, worker, &cs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    double total = 0;
    for (int m = 0; m < 4; m++) {
        char label[8];
        snprintf(label, sizeof label, "m%d", m);
        double v = metrics_value(metrics_series_get(base.counter, (const char *[]){label}));
        CHECK(v == THREADS * ITERS / 4);
        total += v;
        struct metrics_series *h = metrics_series_get(base.hist, (const char *[]){label});
        CHECK(metrics_value(h) == THREADS * ITERS / 4);
    }
    CHECK(total == THREADS * ITERS);
    /* every thread's own label sets exist once, each counted exactly once */
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < (ITERS + 63) / 64; k++) {
            char mine[32];
            snprintf(mine, sizeof mine, "t%d-%d", t, k);
            CHECK(metrics_value(metrics_series_get(base.counter, (const char *[]){mine})) == 1);
        }
    CHECK(metrics_value(metrics_series_get(base.gauge, NULL)) == 0);

    /* The exposition's bucket counts are cumulative and end in the count. */
    char *text;
    size_t len;
    CHECK(metrics_expose(reg, &text, &len, &err) == 0);
    char want[128];
    /* per label: i%3 in {0,1,2} -> values 0, 0.5, 1.0; ITERS/4 per label per thread */
    snprintf(want, sizeof want, "t_v_count{model=\"m0\"} %d\n", THREADS * ITERS / 4);
    CHECK(strstr(text, want) != NULL);
    snprintf(want, sizeof want, "t_v_bucket{model=\"m0\",le=\"+Inf\"} %d\n", THREADS * ITERS / 4);
    CHECK(strstr(text, want) != NULL);
    free(text);
    metrics_registry_free(reg);
    return check_finish();
}
