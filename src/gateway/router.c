/* router.c — choosing a channel (priority tiers, score x weight x rollout, the less busy of
 * two weighted random picks), passive statistics, outlier ejection and the retry budget.
 * The formulas are documented in docs/gateway.md ("Routing"). */
#include "gateway/gw_int.h"
#include "observe/rollwin.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EJECT_MAX_S 120.0

static uint64_t now_s(void)
{
    return clock_now_ns() / 1000000000u;
}

/* Moves c's window to second s, clearing the slots that passed. */
static void win_advance(struct gw_chan *c, uint64_t s)
{
    if (s <= c->win_sec)
        return;
    uint64_t gap = s - c->win_sec;
    for (uint64_t k = 1; k <= gap && k <= GW_WIN_SLOTS; k++)
        memset(&c->win[(c->win_sec + k) % GW_WIN_SLOTS], 0, sizeof c->win[0]);
    c->win_sec = s;
}

void gw_chan_window(const struct gw_chan *c, uint64_t s, int seconds, uint64_t *ok, uint64_t *fail)
{
    *ok = *fail = 0;
    for (int k = 0; k < seconds && k < GW_WIN_SLOTS; k++) {
        if (c->win_sec < (uint64_t)k || c->win_sec - (uint64_t)k + (uint64_t)seconds <= s)
            continue; /* no slot yet, or older than the span asked for */
        *ok += c->win[(c->win_sec - (uint64_t)k) % GW_WIN_SLOTS].ok;
        *fail += c->win[(c->win_sec - (uint64_t)k) % GW_WIN_SLOTS].fail;
    }
}

double gw_chan_availability(const struct gw_chan *c, uint64_t s)
{
    uint64_t ok, fail;
    gw_chan_window(c, s, GW_WIN_SLOTS, &ok, &fail);
    return ok + fail ? (double)ok / (double)(ok + fail) : 1.0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double gw_chan_quantile(const struct gw_chan *c, double q)
{
    unsigned n = c->nlat < GW_LAT_RING ? c->nlat : GW_LAT_RING;
    if (!n)
        return 0;
    float v[GW_LAT_RING];
    memcpy(v, c->lat, n * sizeof v[0]);
    qsort(v, n, sizeof v[0], cmp_float);
    size_t i = (size_t)ceil(q * n) - 1;
    return v[i < n ? i : n - 1];
}

/* The lowest latency EWMA among healthy channels (0: none yet). Caller holds g->mu. */
static double fleet_best_ewma(const struct gw *g)
{
    double best = 0;
    for (size_t i = 0; i < g->nchans; i++) {
        double e = g->chans[i]->ewma_ms;
        if (e > 0 && g->chans[i]->state == GW_ST_HEALTHY && (best == 0 || e < best))
            best = e;
    }
    return best;
}

/* The score with the fleet's best latency already known. */
static double score_with(const struct gw_chan *c, double best)
{
    if (c->state == GW_ST_DISABLED || c->state == GW_ST_BAD_QUALITY)
        return 0;
    double avail = gw_chan_availability(c, now_s());
    double quality = c->quality < 0 ? 1.0 : c->quality;
    /* latency relative to the fastest channel seen: 1 for the fastest */
    double lat = c->ewma_ms > 0 && best > 0 ? best / c->ewma_ms : 1.0;
    if (lat < 0.05)
        lat = 0.05;
    return avail * quality * (0.5 + 0.5 * lat);
}

double gw_score(struct gw *g, const struct gw_chan *c)
{
    return score_with(c, fleet_best_ewma(g));
}

static _Thread_local struct rng pick_rng;
static _Thread_local int pick_rng_ready;

static double unit(void)
{
    if (!pick_rng_ready) {
        rng_seed_random(&pick_rng);
        pick_rng_ready = 1;
    }
    return rng_unit(&pick_rng);
}

struct cand {
    struct gw_chan *c;
    const char *up;
    double w;
};

/* One weighted random index of cands (w > 0 somewhere). */
static size_t weighted(const struct cand *cands, size_t n, double total, size_t skip)
{
    double r = unit() * total;
    size_t last = n;
    for (size_t i = 0; i < n; i++) {
        if (i == skip)
            continue;
        last = i;
        if (r < cands[i].w)
            return i;
        r -= cands[i].w;
    }
    return last;
}

struct gw_chan *gw_pick(struct gw *g, const char *model, enum gw_api api, struct gw_chan *const *tried,
                        size_t ntried, const char **upstream_model, const char **why)
{
    struct cand *cands = NULL;
    size_t n = 0;
    bool any_serves = false;
    struct gw_chan *chosen = NULL;
    *why = "no_channel";
    pthread_mutex_lock(&g->mu);
    cands = malloc((g->nchans + 1) * sizeof *cands);
    if (!cands)
        goto out;
    double best = fleet_best_ewma(g);
    /* pass 0: healthy channels; pass 1 (panic: none healthy): every enabled one that is
     * not a mere candidate, so a fleet that looks all-bad still gets tried */
    for (int pass = 0; pass < 2 && n == 0; pass++) {
        int best_prio = 1 << 30;
        for (size_t i = 0; i < g->nchans; i++) {
            struct gw_chan *c = g->chans[i];
            if (!gw_chan_speaks(c, api))
                continue;
            const char *up = gw_chan_upstream_model(c, model);
            if (!up)
                continue;
            if (c->state != GW_ST_CANDIDATE && c->state != GW_ST_DISABLED)
                any_serves = true;
            bool usable = pass == 0 ? c->state == GW_ST_HEALTHY
                                    : c->state != GW_ST_CANDIDATE && c->state != GW_ST_DISABLED;
            if (!usable)
                continue;
            bool was_tried = false;
            for (size_t t = 0; t < ntried && !was_tried; t++)
                was_tried = tried[t] == c;
            if (was_tried)
                continue;
            if (c->priority > best_prio)
                continue;
            if (c->priority < best_prio) {
                best_prio = c->priority;
                n = 0;
            }
            double w = c->weight * fmax(score_with(c, best), 0.01) * fmax(c->rollout, 0.001);
            cands[n++] = (struct cand){c, up, w};
        }
    }
    if (n == 0) {
        *why = any_serves ? "unavailable" : "no_channel";
        goto out;
    }
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += cands[i].w;
    size_t a = weighted(cands, n, total, n);
    size_t pick = a;
    if (n > 1) {
        size_t b = weighted(cands, n, total - cands[a].w, a);
        if (cands[b].c->outstanding < cands[a].c->outstanding)
            pick = b;
    }
    chosen = cands[pick].c;
    *upstream_model = cands[pick].up;
    chosen->refs++;
    chosen->outstanding++;
out:
    pthread_mutex_unlock(&g->mu);
    free(cands);
    return chosen;
}

/* Ejected channels among the enabled ones. Caller holds g->mu. */
static double ejected_share(struct gw *g, const struct gw_chan *also)
{
    size_t on = 0, out = 0;
    for (size_t i = 0; i < g->nchans; i++) {
        const struct gw_chan *c = g->chans[i];
        if (c->state == GW_ST_DISABLED || c->state == GW_ST_CANDIDATE)
            continue;
        on++;
        out += c->state == GW_ST_EJECTED || c->state == GW_ST_HALF_OPEN || c == also;
    }
    return on ? (double)out / (double)on : 0;
}

static void eject_locked(struct gw *g, struct gw_chan *c, const char *why)
{
    c->ejections++;
    double secs = g->o.eject_base_s * pow(2.0, c->ejections - 1);
    if (secs > EJECT_MAX_S)
        secs = EJECT_MAX_S;
    uint64_t now = clock_now_ns();
    c->state = GW_ST_EJECTED;
    c->state_since_ns = now;
    c->eject_until_ns = now + (uint64_t)(secs * 1e9);
    snprintf(c->reason, sizeof c->reason, "ejected for %.0f s: %s", secs, why);
    metrics_add(metrics_series_get(g->m.ejections, (const char *[]){c->id}), 1);
}

void gw_outcome(struct gw *g, struct gw_chan *c, const struct gw_outcome *o)
{
    struct rollwin_obs ob = {.latency_s = o->ok ? o->ms / 1e3 : -1, .error = !o->ok,
                             .ttft_s = o->ttft_ms > 0 ? o->ttft_ms / 1e3 : 0};
    rollwin_record(g->dash_channels, c->id, clock_now_ns(), &ob);
    char why[300] = "";
    pthread_mutex_lock(&g->mu);
    uint64_t s = now_s();
    win_advance(c, s);
    struct gw_win_slot *slot = &c->win[s % GW_WIN_SLOTS];
    c->outstanding--;
    c->requests++;
    if (o->busy)
        slot->busy++;
    if (o->ok) {
        slot->ok++;
        c->consec_fail = 0;
        c->ewma_ms = c->ewma_ms > 0 ? 0.8 * c->ewma_ms + 0.2 * o->ms : o->ms;
        c->lat[c->nlat++ % GW_LAT_RING] = (float)o->ms;
        if (c->nlat % 16 == 0 || c->nlat < 16)
            c->p95_ms = gw_chan_quantile(c, 0.95);
        if (o->ttft_ms > 0)
            c->ttft_ewma_ms = c->ttft_ewma_ms > 0 ? 0.8 * c->ttft_ewma_ms + 0.2 * o->ttft_ms : o->ttft_ms;
        if (o->tps > 0)
            c->tps_ewma = c->tps_ewma > 0 ? 0.8 * c->tps_ewma + 0.2 * o->tps : o->tps;
    } else {
        slot->fail++;
        c->errors++;
        c->consec_fail++;
        /* never on a single error: consecutive failures, or the window's error ratio */
        uint64_t ok, fail;
        gw_chan_window(c, s, GW_WIN_SLOTS, &ok, &fail);
        bool by_streak = c->consec_fail >= g->o.eject_failures;
        bool by_ratio = ok + fail >= (uint64_t)g->o.eject_min_requests &&
                        (double)fail / (double)(ok + fail) >= g->o.eject_ratio && fail >= 2;
        if (c->state == GW_ST_HEALTHY && (by_streak || by_ratio)) {
            if (ejected_share(g, c) <= g->o.max_ejected_share) {
                char what[120];
                if (by_streak)
                    snprintf(what, sizeof what, "%d failures in a row (last: %s)", c->consec_fail, o->kind);
                else
                    snprintf(what, sizeof what, "%.0f%% errors over the last %d s", 100.0 * fail / (ok + fail),
                             GW_WIN_SLOTS);
                eject_locked(g, c, what);
                snprintf(why, sizeof why, "%s", c->reason);
            } else {
                snprintf(c->reason, sizeof c->reason, "failing (%s) but not ejected: %.0f%% of channels already are",
                         o->kind, 100 * g->o.max_ejected_share);
            }
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (why[0])
        log_event(LOG_WARN, "channel ejected", "channel", c->id, "reason", why, NULL);
}

void gw_probe_result(struct gw *g, struct gw_chan *c, bool ok, const char *why)
{
    uint64_t now = clock_now_ns();
    if (c->state == GW_ST_HALF_OPEN || c->state == GW_ST_EJECTED) {
        if (ok && (c->state == GW_ST_HALF_OPEN || now >= c->eject_until_ns)) {
            c->state = GW_ST_HEALTHY;
            c->state_since_ns = now;
            c->consec_fail = 0;
            memset(c->win, 0, sizeof c->win);
            /* re-admitted traffic grows back like a new channel's */
            c->rollout = g->o.rollout_start;
            c->rollout_step_ns = now;
            snprintf(c->reason, sizeof c->reason, "re-admitted after a good probe");
        } else if (!ok && c->state == GW_ST_HALF_OPEN) {
            eject_locked(g, c, why);
            log_event(LOG_WARN, "channel ejected again after a failed probe", "channel", c->id, "reason", c->reason,
                      NULL);
        }
    } else if (c->state == GW_ST_HEALTHY && !ok) {
        /* a failed probe counts like a failed request */
        c->consec_fail++;
        if (c->consec_fail >= g->o.eject_failures && ejected_share(g, c) <= g->o.max_ejected_share) {
            eject_locked(g, c, why);
            log_event(LOG_WARN, "channel ejected", "channel", c->id, "reason", c->reason, NULL);
        }
    } else if (c->state == GW_ST_HEALTHY && ok && now - c->state_since_ns > 300000000000ull) {
        c->ejections = 0; /* healthy for 5 minutes: the next ejection starts short again */
    }
}

static void budget_advance(struct gw *g, uint64_t s)
{
    if (s <= g->budget_sec)
        return;
    for (uint64_t k = 1; k <= s - g->budget_sec && k <= GW_WIN_SLOTS; k++)
        memset(&g->budget[(g->budget_sec + k) % GW_WIN_SLOTS], 0, sizeof g->budget[0]);
    g->budget_sec = s;
}

void gw_budget_request(struct gw *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t s = now_s();
    budget_advance(g, s);
    g->budget[s % GW_WIN_SLOTS].req++;
    pthread_mutex_unlock(&g->mu);
}

bool gw_budget_retry(struct gw *g)
{
    pthread_mutex_lock(&g->mu);
    uint64_t s = now_s();
    budget_advance(g, s);
    uint64_t req = 0, retry = 0;
    for (int k = 0; k < GW_WIN_SLOTS; k++) {
        req += g->budget[k].req;
        retry += g->budget[k].retry;
    }
    /* retries stay under retry_budget of the requests, plus a floor of 3 so that a quiet
     * gateway can still retry */
    bool ok = (double)retry < g->o.retry_budget * (double)req + 3.0;
    if (ok)
        g->budget[s % GW_WIN_SLOTS].retry++;
    pthread_mutex_unlock(&g->mu);
    if (!ok)
        metrics_add(metrics_series_get(g->m.budget_exhausted, NULL), 1);
    return ok;
}

double gw_model_p95(struct gw *g, const char *model)
{
    double p = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        if (c->state != GW_ST_HEALTHY || c->nlat < 20 || !gw_chan_upstream_model(c, model))
            continue;
        if (c->p95_ms > p)
            p = c->p95_ms;
    }
    pthread_mutex_unlock(&g->mu);
    return p;
}
