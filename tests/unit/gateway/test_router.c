/* test_router.c — the gateway's routing rules on a hand-built channel table (router.c):
 * priority tiers, weights, the tried list, "no channel" vs "unavailable", panic mode,
 * ejection (never on one error; consecutive failures; the window ratio; the cap on the
 * ejected share), half-open re-admission by probe, and the retry budget. */
#include "check.h"
#include "gateway/gw_int.h"

#include <stdlib.h>
#include <string.h>

static struct gw *new_gw(void)
{
    struct gw *g = calloc(1, sizeof *g);
    g->o = gw_options_default();
    pthread_mutex_init(&g->mu, NULL);
    g->reg = metrics_registry_new();
    const char *ch[] = {"channel"};
    metrics_counter_new(g->reg, "t_ejections_total", "x", ch, 1, &g->m.ejections, NULL);
    metrics_counter_new(g->reg, "t_budget_total", "x", NULL, 0, &g->m.budget_exhausted, NULL);
    return g;
}

static struct gw_chan *add(struct gw *g, const char *id, int priority, double weight)
{
    json_t *def = json_pack("{s:s,s:s,s:[s],s:i,s:f}", "id", id, "base_url", "http://127.0.0.1:1", "models", "m",
                            "priority", priority, "weight", weight);
    struct gw_chan *c = NULL;
    struct inferd_err err = {0};
    CHECK(gw_chan_parse(def, "test", &c, &err) == 0);
    json_decref(def);
    g->chans = realloc(g->chans, (g->nchans + 1) * sizeof *g->chans);
    g->chans[g->nchans++] = c;
    return c;
}

static void free_gw(struct gw *g)
{
    for (size_t i = 0; i < g->nchans; i++)
        gw_chan_unref(NULL, g->chans[i]);
    free(g->chans);
    metrics_registry_free(g->reg);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Picks n times; counts[i] = picks of g->chans[i]. Each pick is released as a success. */
static void pick_many(struct gw *g, int n, int *counts)
{
    for (int k = 0; k < n; k++) {
        const char *up = NULL, *why = NULL;
        struct gw_chan *c = gw_pick(g, "m", GW_API_V2, NULL, 0, &up, &why);
        CHECK(c != NULL);
        if (!c)
            return;
        for (size_t i = 0; i < g->nchans; i++)
            if (g->chans[i] == c)
                counts[i]++;
        struct gw_outcome o = {.model = "m", .ok = true, .ms = 1};
        gw_outcome(g, c, &o);
        gw_chan_unref(g, c);
    }
}

static void fail(struct gw *g, struct gw_chan *c, const char *kind)
{
    pthread_mutex_lock(&g->mu);
    c->outstanding++; /* as gw_pick would have */
    pthread_mutex_unlock(&g->mu);
    struct gw_outcome o = {.model = "m", .ok = false, .kind = kind, .ms = 1};
    gw_outcome(g, c, &o);
}

static void test_tiers_and_weights(void)
{
    struct gw *g = new_gw();
    struct gw_chan *a = add(g, "a", 0, 3), *b = add(g, "b", 0, 1), *z = add(g, "z", 1, 100);
    int counts[3] = {0};
    pick_many(g, 4000, counts);
    CHECK(counts[2] == 0); /* the lower tier is never used while the best one has a channel */
    CHECK(counts[0] > counts[1] * 2); /* weight 3 against 1 (two-choice evens it out a little) */
    /* the tried list moves the request on, to the next tier at the end */
    struct gw_chan *tried[2] = {a, b};
    const char *up, *why;
    struct gw_chan *c = gw_pick(g, "m", GW_API_V2, tried, 2, &up, &why);
    CHECK(c == z && strcmp(up, "m") == 0);
    pthread_mutex_lock(&g->mu);
    c->outstanding--;
    pthread_mutex_unlock(&g->mu);
    gw_chan_unref(g, c);
    /* a model nobody serves, and one whose every channel is out */
    CHECK(gw_pick(g, "nosuch", GW_API_V2, NULL, 0, &up, &why) == NULL && strcmp(why, "no_channel") == 0);
    struct gw_chan *all[3] = {a, b, z};
    CHECK(gw_pick(g, "m", GW_API_V2, all, 3, &up, &why) == NULL && strcmp(why, "unavailable") == 0);
    free_gw(g);
}

static void test_ejection(void)
{
    struct gw *g = new_gw();
    struct gw_chan *a = add(g, "a", 0, 1);
    add(g, "b", 0, 1);
    add(g, "c", 0, 1);
    fail(g, a, "5xx");
    CHECK(a->state == GW_ST_HEALTHY); /* never on a single error */
    for (int i = 0; i < 3; i++)
        fail(g, a, "connect");
    CHECK(a->state == GW_ST_HEALTHY);
    fail(g, a, "connect"); /* the fifth in a row */
    CHECK(a->state == GW_ST_EJECTED && a->ejections == 1);
    CHECK(strstr(a->reason, "5 failures in a row") != NULL);
    /* ejected channels get no traffic */
    int counts[3] = {0};
    pick_many(g, 300, counts);
    CHECK(counts[0] == 0 && counts[1] > 0 && counts[2] > 0);
    /* the cap: with a ejected, ejecting b too would put 2 of 3 out (> 50%) */
    struct gw_chan *b = g->chans[1];
    for (int i = 0; i < 10; i++)
        fail(g, b, "timeout");
    CHECK(b->state == GW_ST_HEALTHY && strstr(b->reason, "not ejected") != NULL);
    /* half-open: a good probe re-admits, at the rollout's starting share */
    a->state = GW_ST_HALF_OPEN;
    pthread_mutex_lock(&g->mu);
    gw_probe_result(g, a, true, "");
    pthread_mutex_unlock(&g->mu);
    CHECK(a->state == GW_ST_HEALTHY && a->rollout < 1);
    /* a bad probe in half-open ejects again, for twice as long */
    a->state = GW_ST_HALF_OPEN;
    pthread_mutex_lock(&g->mu);
    gw_probe_result(g, a, false, "probe failed");
    pthread_mutex_unlock(&g->mu);
    CHECK(a->state == GW_ST_EJECTED && a->ejections == 2 && strstr(a->reason, "for 4 s") != NULL);
    free_gw(g);
}

static void test_window_ratio(void)
{
    struct gw *g = new_gw();
    struct gw_chan *a = add(g, "a", 0, 1);
    add(g, "b", 0, 1);
    add(g, "c", 0, 1);
    /* alternate success and failure: never 5 in a row, but half the window fails */
    for (int i = 0; i < 12 && a->state == GW_ST_HEALTHY; i++) {
        if (i % 2) {
            fail(g, a, "5xx");
        } else {
            pthread_mutex_lock(&g->mu);
            a->outstanding++;
            pthread_mutex_unlock(&g->mu);
            struct gw_outcome o = {.model = "m", .ok = true, .ms = 1};
            gw_outcome(g, a, &o);
        }
    }
    CHECK(a->state == GW_ST_EJECTED && strstr(a->reason, "errors over the last") != NULL);
    free_gw(g);
}

static void test_panic_and_budget(void)
{
    struct gw *g = new_gw();
    struct gw_chan *a = add(g, "a", 0, 1);
    a->state = GW_ST_EJECTED; /* the only channel is out: it is still tried */
    const char *up, *why;
    struct gw_chan *c = gw_pick(g, "m", GW_API_V2, NULL, 0, &up, &why);
    CHECK(c == a);
    if (c) {
        pthread_mutex_lock(&g->mu);
        c->outstanding--;
        pthread_mutex_unlock(&g->mu);
        gw_chan_unref(g, c);
    }
    a->state = GW_ST_CANDIDATE; /* an unevaluated candidate is never tried */
    CHECK(gw_pick(g, "m", GW_API_V2, NULL, 0, &up, &why) == NULL);
    /* the retry budget: 3 with no traffic, then 20% of requests */
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += gw_budget_retry(g);
    CHECK(ok == 3);
    for (int i = 0; i < 100; i++)
        gw_budget_request(g);
    ok = 0;
    for (int i = 0; i < 100; i++)
        ok += gw_budget_retry(g);
    CHECK(ok == 20); /* 3 + 0.2 x 100 in all, 3 used before */
    free_gw(g);
}

int main(void)
{
    test_tiers_and_weights();
    test_ejection();
    test_window_ratio();
    test_panic_and_budget();
    return check_finish();
}
