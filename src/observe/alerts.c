/* alerts.c — alert rules: per-rule sample history, value/rate/ratio/quantile evaluation,
 * the inactive/pending/firing state machine, notifications, the evaluation thread, JSON. */
#include "observe/alerts.h"

#include "base/clock.h"
#include "base/json_write.h"
#include "base/log.h"
#include "inferd/client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIELD_MAX 128

struct sample {
    double t;                                /* monotonic seconds */
    double num, den;                         /* value / rate numerator / ratio denominator */
    double counts[METRICS_MAX_BUCKETS + 1];  /* quantile rules: per-bucket counts */
};

struct rule {
    struct alert_rule r;                     /* strings point into the buffers below */
    char name[ALERTS_NAME_MAX], metric[FIELD_MAX], den[FIELD_MAX];
    char severity[64], summary[ALERTS_TEXT_MAX];
    char match[2 * ALERTS_MAX_MATCH][FIELD_MAX], den_match[2 * ALERTS_MAX_MATCH][FIELD_MAX];
    struct sample *hist;                     /* ring of ALERTS_HISTORY (owned) */
    size_t head, count;                      /* next slot, samples held */
    enum alert_state state;
    double since;                            /* when the condition began to hold */
    double value;                            /* last computed value (NaN: no data) */
};

/* A notification decided under the lock, sent after it. */
struct notice {
    char body[1024];
};

struct alerts {
    struct metrics_registry *reg;            /* borrowed */
    pthread_mutex_t lock;                    /* guards rules' state (eval vs json) */
    struct rule *rules[ALERTS_MAX_RULES];    /* owned */
    size_t nrules;
    struct inferd_client *hooks[ALERTS_MAX_WEBHOOKS]; /* owned, one per webhook origin */
    char hook_path[ALERTS_MAX_WEBHOOKS][512];          /* path part of each webhook URL */
    size_t nhooks;
    pthread_t thread;
    int running;                             /* the thread exists */
    int stop;                                /* asks it to end (under lock) */
    pthread_cond_t wake;
    int interval_ms;
};

int alerts_new(struct metrics_registry *reg, struct alerts **out, struct inferd_err *err)
{
    if (!reg || !out)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: registry and out are required");
    struct alerts *a = calloc(1, sizeof *a);
    if (!a)
        return inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
    a->reg = reg;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    *out = a;
    return 0;
}

void alerts_free(struct alerts *a)
{
    if (!a)
        return;
    if (a->running) {
        pthread_mutex_lock(&a->lock);
        a->stop = 1;
        pthread_cond_signal(&a->wake);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    for (size_t i = 0; i < a->nrules; i++) {
        free(a->rules[i]->hist);
        free(a->rules[i]);
    }
    for (size_t i = 0; i < a->nhooks; i++)
        inferd_client_free(a->hooks[i]);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* Copies src into dst[cap]; fails when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int valid_rule_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

int alerts_add_rule(struct alerts *a, const struct alert_rule *in, struct inferd_err *err)
{
    struct rule *r = NULL;
    int rc = INFERD_EINVAL;
    const char *name = in && in->name ? in->name : "(unnamed)";
    if (!a || !in)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: rule is required");
    if (!valid_rule_name(in->name) || strlen(in->name) >= ALERTS_NAME_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: rule name '%s' must be [A-Za-z0-9_], "
                              "under %d bytes", name, ALERTS_NAME_MAX);
    if (!in->metric || !metrics_family_find(a->reg, in->metric))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: metric '%s' is not registered",
                              name, in->metric ? in->metric : "(none)");
    if (in->kind == ALERT_RATIO &&
        (!in->denominator || !metrics_family_find(a->reg, in->denominator)))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: denominator '%s' is not "
                              "registered", name, in->denominator ? in->denominator : "(none)");
    if (in->kind == ALERT_QUANTILE && !(in->quantile > 0 && in->quantile < 1))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: quantile must be in (0, 1)", name);
    if (in->kind == ALERT_QUANTILE) {
        struct metrics_snapshot s;
        if (metrics_family_snapshot(metrics_family_find(a->reg, in->metric), NULL, 0, &s,
                                    NULL) < 0 || s.kind != METRICS_HISTOGRAM)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: quantile needs a histogram",
                                  name);
    }
    if (in->kind != ALERT_VALUE && !(in->window_s > 0))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: window_s must be > 0", name);
    if (!isfinite(in->threshold) || !(in->for_s >= 0) || !isfinite(in->for_s))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: threshold and for_s must be "
                              "finite (for_s >= 0)", name);
    if (in->nmatch > ALERTS_MAX_MATCH || in->den_nmatch > ALERTS_MAX_MATCH)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: more than %d matchers", name,
                              ALERTS_MAX_MATCH);
    if (a->nrules == ALERTS_MAX_RULES)
        return inferd_err_set(err, INFERD_ETOOLARGE, "alerts: more than %d rules",
                              ALERTS_MAX_RULES);
    for (size_t i = 0; i < a->nrules; i++)
        if (strcmp(a->rules[i]->name, in->name) == 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: rule '%s' given twice", name);

    r = calloc(1, sizeof *r);
    if (!r)
        return inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
    r->r = *in;
    if (copy_field(r->name, sizeof r->name, in->name) < 0 ||
        copy_field(r->metric, sizeof r->metric, in->metric) < 0 ||
        copy_field(r->den, sizeof r->den, in->denominator ? in->denominator : "") < 0 ||
        copy_field(r->severity, sizeof r->severity, in->severity ? in->severity : "warning") < 0 ||
        copy_field(r->summary, sizeof r->summary, in->summary ? in->summary : "") < 0) {
        inferd_err_set(err, INFERD_EINVAL, "alerts: %s: a name or text field is too long", name);
        goto fail;
    }
    for (size_t i = 0; i < 2 * in->nmatch; i++)
        if (copy_field(r->match[i], FIELD_MAX, in->match[i]) < 0) {
            inferd_err_set(err, INFERD_EINVAL, "alerts: %s: match entry missing or too long",
                           name);
            goto fail;
        }
    for (size_t i = 0; i < 2 * in->den_nmatch; i++)
        if (copy_field(r->den_match[i], FIELD_MAX, in->den_match[i]) < 0) {
            inferd_err_set(err, INFERD_EINVAL, "alerts: %s: denominator_match entry missing or "
                           "too long", name);
            goto fail;
        }
    /* re-point the copy's strings at our buffers; validate the matchers against the family */
    r->r.name = r->name;
    r->r.metric = r->metric;
    r->r.denominator = r->den;
    r->r.severity = r->severity;
    r->r.summary = r->summary;
    for (size_t i = 0; i < 2 * ALERTS_MAX_MATCH; i++) {
        r->r.match[i] = r->match[i];
        r->r.den_match[i] = r->den_match[i];
    }
    struct metrics_snapshot snap;
    if (metrics_family_snapshot(metrics_family_find(a->reg, r->metric), r->r.match,
                                r->r.nmatch, &snap, err) < 0 ||
        (in->kind == ALERT_RATIO &&
         metrics_family_snapshot(metrics_family_find(a->reg, r->den), r->r.den_match,
                                 r->r.den_nmatch, &snap, err) < 0)) {
        inferd_err_prefix(err, "alerts: %s", name);
        goto fail;
    }
    if (in->kind != ALERT_VALUE) {
        r->hist = calloc(ALERTS_HISTORY, sizeof *r->hist);
        if (!r->hist) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
            goto fail;
        }
    }
    r->value = NAN;
    pthread_mutex_lock(&a->lock);
    a->rules[a->nrules++] = r;
    pthread_mutex_unlock(&a->lock);
    return 0;
fail:
    free(r);
    return rc;
}

int alerts_add_webhook(struct alerts *a, const char *url, struct inferd_err *err)
{
    if (!a || !url)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: webhook URL is required");
    if (a->nhooks == ALERTS_MAX_WEBHOOKS)
        return inferd_err_set(err, INFERD_ETOOLARGE, "alerts: more than %d webhooks",
                              ALERTS_MAX_WEBHOOKS);
    char origin[512];
    const char *host = strstr(url, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    size_t olen = path ? (size_t)(path - url) : strlen(url);
    if (!host || olen >= sizeof origin || (path && strlen(path) >= sizeof a->hook_path[0]))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: webhook '%.200s' is not an http(s) "
                              "URL under 512 bytes", url);
    memcpy(origin, url, olen);
    origin[olen] = '\0';
    snprintf(a->hook_path[a->nhooks], sizeof a->hook_path[0], "%s", path ? path : "/");
    struct inferd_client_opts o = inferd_client_opts_default();
    o.base_urls = origin;
    o.max_retries = 2;
    o.timeout_s = 5;
    o.user_agent = "inferd-alerts/0.1";
    int rc = inferd_client_new(&o, &a->hooks[a->nhooks], err);
    if (rc < 0) {
        inferd_err_prefix(err, "alerts: webhook");
        return rc;
    }
    a->nhooks++;
    return 0;
}

/* Reads what rule r needs from the registry now. Returns 0 or -1 (no such family). */
static int take_sample(struct alerts *a, struct rule *r, double now, struct sample *s)
{
    struct metrics_snapshot snap;
    memset(s, 0, sizeof *s);
    s->t = now;
    if (metrics_family_snapshot(metrics_family_find(a->reg, r->metric), r->r.match, r->r.nmatch,
                                &snap, NULL) < 0)
        return -1;
    s->num = snap.value;
    if (r->r.kind == ALERT_QUANTILE)
        memcpy(s->counts, snap.counts, sizeof s->counts);
    if (r->r.kind == ALERT_RATIO) {
        if (metrics_family_snapshot(metrics_family_find(a->reg, r->den), r->r.den_match,
                                    r->r.den_nmatch, &snap, NULL) < 0)
            return -1;
        s->den = snap.value;
    }
    return 0;
}

/* Counter delta that tolerates a reset (the new value is then all increase). */
static double delta(double now, double then)
{
    return now >= then ? now - then : now;
}

/* Prometheus-style histogram_quantile over per-bucket count deltas. NaN when empty. */
static double quantile(double q, const double *bounds, size_t nb, const double *d)
{
    double total = 0, cum = 0;
    for (size_t i = 0; i <= nb; i++)
        total += d[i];
    if (!(total > 0))
        return NAN;
    double rank = q * total;
    for (size_t i = 0; i <= nb; i++) {
        double prev = cum;
        cum += d[i];
        if (cum >= rank && d[i] > 0) {
            if (i == nb) /* in +Inf: the largest finite bound is all that is known */
                return nb ? bounds[nb - 1] : NAN;
            double lo = i == 0 ? (bounds[0] > 0 ? 0 : bounds[0]) : bounds[i - 1];
            return lo + (bounds[i] - lo) * ((rank - prev) / d[i]);
        }
    }
    return nb ? bounds[nb - 1] : NAN;
}

/* Pushes a sample and computes the rule's value (NaN: not enough data yet). */
static double rule_value(struct alerts *a, struct rule *r, double now)
{
    struct sample cur;
    if (take_sample(a, r, now, &cur) < 0)
        return NAN;
    if (r->r.kind == ALERT_VALUE)
        return cur.num;
    r->hist[r->head] = cur;
    r->head = (r->head + 1) % ALERTS_HISTORY;
    if (r->count < ALERTS_HISTORY)
        r->count++;
    /* the oldest sample still inside the window is the base */
    const struct sample *base = NULL;
    for (size_t k = r->count; k-- > 1;) {
        const struct sample *s = &r->hist[(r->head + ALERTS_HISTORY - 1 - k) % ALERTS_HISTORY];
        if (now - s->t <= r->r.window_s + 1e-9) {
            base = s;
            break;
        }
    }
    if (!base || !(now - base->t > 0))
        return NAN;
    double dt = now - base->t;
    struct metrics_snapshot snap;
    switch (r->r.kind) {
    case ALERT_RATE:
        return delta(cur.num, base->num) / dt;
    case ALERT_RATIO: {
        double dd = delta(cur.den, base->den);
        return dd > 0 ? delta(cur.num, base->num) / dd : NAN;
    }
    case ALERT_QUANTILE: {
        double d[METRICS_MAX_BUCKETS + 1];
        if (metrics_family_snapshot(metrics_family_find(a->reg, r->metric), NULL, 0, &snap,
                                    NULL) < 0)
            return NAN;
        for (size_t i = 0; i <= snap.nbuckets; i++)
            d[i] = delta(cur.counts[i], base->counts[i]);
        return quantile(r->r.quantile, snap.bounds, snap.nbuckets, d);
    }
    default:
        return NAN;
    }
}

static void make_notice(struct notice *n, const struct rule *r, const char *status, double now)
{
    /* escaped strings cut to fit (at most 127 + 159 + 511 bytes), so the body always fits */
    char name[2 * ALERTS_NAME_MAX], sev[160], sum[2 * ALERTS_TEXT_MAX];
    json_write_escape(name, sizeof name, r->name, strlen(r->name), NULL);
    json_write_escape(sev, sizeof sev, r->severity, strlen(r->severity), NULL);
    json_write_escape(sum, sizeof sum, r->summary, strlen(r->summary), NULL);
    snprintf(n->body, sizeof n->body,
             "{\"status\":\"%s\",\"alert\":\"%s\",\"severity\":\"%s\",\"summary\":\"%s\","
             "\"value\":%s%.6g%s,\"op\":\"%s\",\"threshold\":%.6g,\"active_for_s\":%.3f}",
             status, name, sev, sum, isfinite(r->value) ? "" : "\"", r->value,
             isfinite(r->value) ? "" : "\"", r->r.above ? ">" : "<", r->r.threshold,
             now - r->since);
    log_json(strcmp(status, "firing") == 0 ? LOG_WARN : LOG_INFO,
             strcmp(status, "firing") == 0 ? "alert firing" : "alert resolved",
             json_pack("{s:s,s:f,s:f}", "alert", r->name, "value", isfinite(r->value) ? r->value : 0.0,
                       "threshold", r->r.threshold));
}

int alerts_eval(struct alerts *a, double now)
{
    struct notice notes[ALERTS_MAX_RULES];
    size_t nnotes = 0;
    int firing = 0;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nrules; i++) {
        struct rule *r = a->rules[i];
        r->value = rule_value(a, r, now);
        int holds = isfinite(r->value) &&
                    (r->r.above ? r->value > r->r.threshold : r->value < r->r.threshold);
        if (holds) {
            if (r->state == ALERT_INACTIVE) {
                r->state = ALERT_PENDING;
                r->since = now;
            }
            if (r->state == ALERT_PENDING && now - r->since >= r->r.for_s) {
                r->state = ALERT_FIRING;
                make_notice(&notes[nnotes++], r, "firing", now);
            }
        } else {
            if (r->state == ALERT_FIRING)
                make_notice(&notes[nnotes++], r, "resolved", now);
            r->state = ALERT_INACTIVE;
        }
        firing += r->state == ALERT_FIRING;
    }
    pthread_mutex_unlock(&a->lock);
    for (size_t k = 0; k < nnotes; k++)
        for (size_t h = 0; h < a->nhooks; h++) {
            struct inferd_response resp = {0};
            struct inferd_err err = {0};
            if (inferd_client_request(a->hooks[h], "POST", a->hook_path[h], notes[k].body,
                                      strlen(notes[k].body), "application/json", &resp,
                                      &err) < 0)
                log_event(LOG_WARN, "alert webhook failed", "reason", err.msg, NULL);
            inferd_response_clear(&resp);
        }
    return firing;
}

static void *eval_loop(void *arg)
{
    struct alerts *a = arg;
    pthread_mutex_lock(&a->lock);
    while (!a->stop) {
        pthread_mutex_unlock(&a->lock);
        alerts_eval(a, (double)clock_now_ns() / 1e9);
        pthread_mutex_lock(&a->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until); /* the condvar's default clock */
        until.tv_sec += a->interval_ms / 1000;
        until.tv_nsec += (long)(a->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!a->stop && pthread_cond_timedwait(&a->wake, &a->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

int alerts_start(struct alerts *a, int interval_ms, struct inferd_err *err)
{
    if (!a || interval_ms < 10)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: interval must be >= 10 ms");
    if (a->running)
        return inferd_err_set(err, INFERD_EBUSY, "alerts: already started");
    a->interval_ms = interval_ms;
    if (pthread_create(&a->thread, NULL, eval_loop, a) != 0)
        return inferd_err_set(err, INFERD_ENOMEM, "alerts: cannot start the thread");
    a->running = 1;
    return 0;
}

int alerts_rule_state(struct alerts *a, size_t i, double *value)
{
    int st = -1;
    pthread_mutex_lock(&a->lock);
    if (i < a->nrules) {
        st = (int)a->rules[i]->state;
        if (value)
            *value = a->rules[i]->value;
    }
    pthread_mutex_unlock(&a->lock);
    return st;
}

static const char *state_name(enum alert_state s)
{
    return s == ALERT_FIRING ? "firing" : s == ALERT_PENDING ? "pending" : "inactive";
}

int alerts_json(struct alerts *a, char **json, struct inferd_err *err)
{
    json_t *list = json_array(), *root = json_object();
    int rc = INFERD_ENOMEM;
    double now = (double)clock_now_ns() / 1e9;
    if (!list || !root || json_object_set(root, "alerts", list) < 0)
        goto done;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nrules; i++) {
        const struct rule *r = a->rules[i];
        json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:f, s:f, s:s, s:s, s:f}", "name", r->name,
                              "state", state_name(r->state), "value",
                              isfinite(r->value) ? json_real(r->value) : json_null(), "op",
                              r->r.above ? ">" : "<", "threshold", r->r.threshold, "for_s",
                              r->r.for_s, "severity", r->severity, "summary", r->summary,
                              "active_for_s",
                              r->state == ALERT_INACTIVE ? 0.0 : now - r->since);
        if (!o || json_array_append_new(list, o) < 0) {
            pthread_mutex_unlock(&a->lock);
            goto done;
        }
    }
    pthread_mutex_unlock(&a->lock);
    *json = json_dumps(root, JSON_COMPACT);
    if (*json)
        rc = 0;
done:
    json_decref(list);
    json_decref(root);
    if (rc < 0)
        inferd_err_set(err, rc, "alerts: out of memory rendering JSON");
    return rc;
}
