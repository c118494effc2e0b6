/* alerts.c — alert rules: per-rule sample history, value/rate/ratio/quantile/anomaly
 * evaluation, the inactive/pending/firing state machine, the evaluation thread, and the
 * Prometheus-shaped JSON of the active alerts. Notifications: alerts_notify.c. */
#include "observe/alerts_int.h"

#include "base/clock.h"
#include "base/log.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int alerts_new(struct metrics_registry *reg, struct alerts **out, struct inferd_err *err)
{
    if (!reg || !out)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: registry and out are required");
    struct alerts *a = calloc(1, sizeof *a);
    if (!a)
        return inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
    a->reg = reg;
    a->resend_s = 60;
    a->queue_max = ALERTS_QUEUE_DEFAULT;
    a->last_am = -1;
    a->mono0 = (double)clock_now_ns() / 1e9;
    a->wall0_ms = (double)clock_wall_ms();
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_mutex_init(&a->qlock, NULL);
    pthread_cond_init(&a->qwake, NULL);
    int rc = alerts__families(a, err);
    if (rc < 0) {
        alerts_free(a);
        return rc;
    }
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
    alerts__notify_free(a);
    for (size_t i = 0; i < a->nrules; i++) {
        free(a->rules[i]->hist);
        free(a->rules[i]->bl_t);
        free(a->rules[i]->bl_v);
        free(a->rules[i]);
    }
    pthread_cond_destroy(&a->qwake);
    pthread_mutex_destroy(&a->qlock);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

double alerts__wall_ms(const struct alerts *a, double t)
{
    return a->wall0_ms + (t - a->mono0) * 1000.0;
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

/* Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, not beginning with "__". */
static int valid_label_name(const char *s)
{
    if (!valid_rule_name(s) || (*s >= '0' && *s <= '9') || strncmp(s, "__", 2) == 0)
        return 0;
    return 1;
}

int alerts_add_label(struct alerts *a, const char *name, const char *value,
                     struct inferd_err *err)
{
    if (!a || !valid_label_name(name) || !value || strcmp(name, "alertname") == 0)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: labels: '%s' is not a label name "
                              "([a-zA-Z_][a-zA-Z0-9_]*, not alertname) with a string value",
                              name ? name : "(none)");
    if (a->next == ALERTS_MAX_LABELS)
        return inferd_err_set(err, INFERD_ETOOLARGE, "alerts: labels: more than %d",
                              ALERTS_MAX_LABELS);
    if (copy_field(a->ext[2 * a->next], ALERTS_FIELD_MAX, name) < 0 ||
        copy_field(a->ext[2 * a->next + 1], ALERTS_FIELD_MAX, value) < 0)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: labels: '%.64s' longer than %d "
                              "bytes", name, ALERTS_FIELD_MAX - 1);
    a->next++;
    return 0;
}

int alerts_configure(struct alerts *a, double resend_s, size_t queue_max,
                     const char *external_url, struct inferd_err *err)
{
    if (!a || !(resend_s >= 0) || !isfinite(resend_s))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: resend_s must be > 0");
    if (queue_max > 100000)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: queue_max must be 1..100000");
    if (external_url && copy_field(a->external_url, sizeof a->external_url, external_url) < 0)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: external_url longer than %d bytes",
                              ALERTS_URL_MAX - 1);
    size_t n = strlen(a->external_url);
    while (n && a->external_url[n - 1] == '/')
        a->external_url[--n] = '\0';
    if (resend_s > 0)
        a->resend_s = resend_s;
    if (queue_max > 0)
        a->queue_max = queue_max;
    return 0;
}

const char *alerts_external_url(const struct alerts *a) { return a->external_url; }

int alerts_interval_ms(const struct alerts *a) { return a->interval_ms_cfg; }

/* Copies the rule's labels and annotations (with the severity/summary shorthands) into r,
 * checking names and templates. Returns 0 or INFERD_EINVAL. */
static int copy_labels(struct alerts_rule *r, const struct alert_rule *in, const char *name,
                       struct inferd_err *err)
{
    int has_sev = 0, has_sum = 0;
    if (in->nlabels > ALERTS_MAX_LABELS || in->nannotations > ALERTS_MAX_LABELS)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: more than %d labels or "
                              "annotations", name, ALERTS_MAX_LABELS - 1);
    for (size_t i = 0; i < in->nlabels; i++) {
        const char *k = in->labels[2 * i], *v = in->labels[2 * i + 1];
        if (!valid_label_name(k) || !strcmp(k, "alertname"))
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: labels: '%s' is not a "
                                  "label name ([a-zA-Z_][a-zA-Z0-9_]*, not alertname)", name,
                                  k ? k : "(none)");
        if (copy_field(r->labels[2 * i], ALERTS_FIELD_MAX, k) < 0 ||
            copy_field(r->labels[2 * i + 1], ALERTS_FIELD_MAX, v) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: labels.%s: missing or "
                                  "longer than %d bytes", name, k, ALERTS_FIELD_MAX - 1);
        has_sev |= !strcmp(k, "severity");
    }
    r->nlabels = in->nlabels;
    if (!has_sev && (in->severity || in->nlabels == 0)) {
        if (r->nlabels == ALERTS_MAX_LABELS ||
            copy_field(r->labels[2 * r->nlabels + 1], ALERTS_FIELD_MAX,
                       in->severity ? in->severity : "warning") < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: severity too long or too "
                                  "many labels", name);
        memcpy(r->labels[2 * r->nlabels], "severity", sizeof "severity");
        r->nlabels++;
    }
    char probe[8];
    for (size_t i = 0; i < in->nannotations; i++) {
        const char *k = in->annotations[2 * i], *v = in->annotations[2 * i + 1];
        if (!valid_label_name(k))
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: annotations: '%s' is not "
                                  "a name", name, k ? k : "(none)");
        if (copy_field(r->annot_names[i], ALERTS_FIELD_MAX, k) < 0 ||
            copy_field(r->annot_tmpl[i], ALERTS_TEXT_MAX, v) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: annotations.%s: missing "
                                  "or longer than %d bytes", name, k, ALERTS_TEXT_MAX - 1);
        if (alerts_template(v, 0, NULL, 0, probe, sizeof probe) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: annotations.%s: only "
                                  "{{ $value }} and {{ $labels.NAME }} may be used", name, k);
        has_sum |= !strcmp(k, "summary");
    }
    r->nannot = in->nannotations;
    if (!has_sum && in->summary) {
        if (r->nannot == ALERTS_MAX_LABELS ||
            copy_field(r->annot_tmpl[r->nannot], ALERTS_TEXT_MAX, in->summary) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: summary too long or too "
                                  "many annotations", name);
        if (alerts_template(in->summary, 0, NULL, 0, probe, sizeof probe) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: summary: only "
                                  "{{ $value }} and {{ $labels.NAME }} may be used", name);
        memcpy(r->annot_names[r->nannot], "summary", sizeof "summary");
        r->nannot++;
    }
    return 0;
}

int alerts_add_rule(struct alerts *a, const struct alert_rule *in, struct inferd_err *err)
{
    struct alerts_rule *r = NULL;
    int rc = INFERD_EINVAL;
    const char *name = in && in->name ? in->name : "(unnamed)";
    if (!a || !in)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: rule is required");
    if (!valid_rule_name(in->name) || strlen(in->name) >= ALERTS_NAME_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: rule name '%s' must be [A-Za-z0-9_], "
                              "under %d bytes", name, ALERTS_NAME_MAX);
    if (in->kind < ALERT_VALUE || in->kind > ALERT_ANOMALY)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: unknown kind", name);
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
    if (in->kind != ALERT_VALUE && !(in->window_s > 0 && isfinite(in->window_s)))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: window_s must be > 0", name);
    if (in->kind == ALERT_ANOMALY &&
        !(in->baseline_s > in->window_s && isfinite(in->baseline_s)))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: baseline_s must be finite and "
                              "> window_s", name);
    if (in->kind == ALERT_ANOMALY && in->season_s != 0 &&
        !(in->season_s > 0 && in->season_s < in->baseline_s))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: season_s must be > 0 and < "
                              "baseline_s", name);
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
        copy_field(r->den, sizeof r->den, in->denominator ? in->denominator : "") < 0) {
        inferd_err_set(err, INFERD_EINVAL, "alerts: %s: a name field is too long", name);
        goto fail;
    }
    if (copy_labels(r, in, name, err) < 0)
        goto fail;
    for (size_t i = 0; i < 2 * in->nmatch; i++)
        if (copy_field(r->match[i], ALERTS_FIELD_MAX, in->match[i]) < 0) {
            inferd_err_set(err, INFERD_EINVAL, "alerts: %s: match entry missing or too long",
                           name);
            goto fail;
        }
    for (size_t i = 0; i < 2 * in->den_nmatch; i++)
        if (copy_field(r->den_match[i], ALERTS_FIELD_MAX, in->den_match[i]) < 0) {
            inferd_err_set(err, INFERD_EINVAL, "alerts: %s: denominator_match entry missing or "
                           "too long", name);
            goto fail;
        }
    /* re-point the copy's strings at our buffers; validate the matchers against the family */
    r->r.name = r->name;
    r->r.metric = r->metric;
    r->r.denominator = r->den;
    r->r.severity = r->r.summary = NULL;
    r->r.nlabels = r->r.nannotations = 0;
    for (size_t i = 0; i < 2 * ALERTS_MAX_LABELS; i++)
        r->r.labels[i] = r->r.annotations[i] = NULL;
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
    if (in->kind != ALERT_VALUE && !(r->hist = calloc(ALERTS_HISTORY, sizeof *r->hist))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
        goto fail;
    }
    if (in->kind == ALERT_ANOMALY && (!(r->bl_t = calloc(ALERTS_BASELINE, sizeof(double))) ||
                                      !(r->bl_v = calloc(ALERTS_BASELINE, sizeof(double))))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "alerts: out of memory");
        goto fail;
    }
    r->value = NAN;
    r->bl_last = -INFINITY;
    pthread_mutex_lock(&a->lock);
    a->rules[a->nrules++] = r;
    pthread_mutex_unlock(&a->lock);
    return 0;
fail:
    if (r) {
        free(r->hist);
        free(r->bl_t);
        free(r->bl_v);
    }
    free(r);
    return rc;
}

/* Reads what rule r needs from the registry now. Returns 0 or -1 (no such family). */
static int take_sample(struct alerts *a, struct alerts_rule *r, double now,
                       struct alerts_sample *s)
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

static int cmp_double(const void *x, const void *y)
{
    double p = *(const double *)x, q = *(const double *)y;
    return p < q ? -1 : p > q;
}

/* Median of v[n] (n >= 1; sorts v). */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Anomaly: the robust z-score (x - median) / (1.4826 MAD) of rate x against the baseline
 * points of the last baseline_s, then x joins the baseline (at most ALERTS_BASELINE points
 * spread over baseline_s). With season_s, only points whose age is within
 * max(window_s, point spacing) of a whole number of seasons count (the same hour of earlier
 * days, say). NaN with fewer than ALERTS_BASELINE_MIN points; with a flat baseline (MAD 0)
 * any change is ±Inf, no change 0. */
static double anomaly_z(struct alerts_rule *r, double now, double x)
{
    double v[ALERTS_BASELINE], dev[ALERTS_BASELINE], z = NAN;
    double spacing = r->r.baseline_s / ALERTS_BASELINE;
    double tol = r->r.window_s > spacing ? r->r.window_s : spacing;
    size_t n = 0;
    for (size_t k = 0; k < r->bl_count; k++) {
        size_t i = (r->bl_head + ALERTS_BASELINE - 1 - k) % ALERTS_BASELINE;
        double age = now - r->bl_t[i];
        if (age > r->r.baseline_s + 1e-9)
            break;
        if (r->r.season_s > 0) {
            double seasons = round(age / r->r.season_s);
            if (seasons < 1 || fabs(age - seasons * r->r.season_s) > tol + 1e-9)
                continue;
        }
        v[n++] = r->bl_v[i];
    }
    if (n >= ALERTS_BASELINE_MIN) {
        double med = median(v, n);
        for (size_t i = 0; i < n; i++)
            dev[i] = fabs(v[i] - med);
        double scale = 1.4826 * median(dev, n);
        z = scale > 0 ? (x - med) / scale : x == med ? 0 : x > med ? INFINITY : -INFINITY;
    }
    if (now - r->bl_last >= r->r.baseline_s / ALERTS_BASELINE - 1e-9) {
        r->bl_t[r->bl_head] = now;
        r->bl_v[r->bl_head] = x;
        r->bl_head = (r->bl_head + 1) % ALERTS_BASELINE;
        if (r->bl_count < ALERTS_BASELINE)
            r->bl_count++;
        r->bl_last = now;
    }
    return z;
}

/* Pushes a sample and computes the rule's value (NaN: not enough data yet). */
static double rule_value(struct alerts *a, struct alerts_rule *r, double now)
{
    struct alerts_sample cur;
    if (take_sample(a, r, now, &cur) < 0)
        return NAN;
    if (r->r.kind == ALERT_VALUE)
        return cur.num;
    r->hist[r->head] = cur;
    r->head = (r->head + 1) % ALERTS_HISTORY;
    if (r->count < ALERTS_HISTORY)
        r->count++;
    /* the oldest sample still inside the window is the base */
    const struct alerts_sample *base = NULL;
    for (size_t k = r->count; k-- > 1;) {
        const struct alerts_sample *s =
            &r->hist[(r->head + ALERTS_HISTORY - 1 - k) % ALERTS_HISTORY];
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
    case ALERT_ANOMALY:
        return anomaly_z(r, now, delta(cur.num, base->num) / dt);
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

static void log_change(const struct alerts_rule *r, int firing)
{
    log_json(firing ? LOG_WARN : LOG_INFO, firing ? "alert firing" : "alert resolved",
             json_pack("{s:s,s:f,s:f}", "alert", r->name,
                       "value", isfinite(r->value) ? r->value : 0.0, "threshold",
                       r->r.threshold));
}

int alerts_eval(struct alerts *a, double now)
{
    struct alerts_change ch[ALERTS_MAX_RULES];
    size_t nch = 0, nchanged = 0;
    int firing = 0;
    pthread_mutex_lock(&a->lock);
    int resend = a->last_am < 0 || now - a->last_am >= a->resend_s - 1e-9;
    for (size_t i = 0; i < a->nrules; i++) {
        struct alerts_rule *r = a->rules[i];
        r->value = rule_value(a, r, now);
        /* no data (NaN) never holds; ±Inf (an anomaly off a flat baseline) compares */
        int holds = !isnan(r->value) &&
                    (r->r.above ? r->value > r->r.threshold : r->value < r->r.threshold);
        int changed = 0;
        if (holds) {
            if (r->state == ALERT_INACTIVE) {
                r->state = ALERT_PENDING;
                r->since = now;
            }
            if (r->state == ALERT_PENDING && now - r->since >= r->r.for_s - 1e-9) {
                r->state = ALERT_FIRING;
                changed = 1;
                log_change(r, 1);
            }
        } else {
            if (r->state == ALERT_FIRING) {
                changed = 1;
                log_change(r, 0);
            }
            r->state = ALERT_INACTIVE;
        }
        firing += r->state == ALERT_FIRING;
        if (changed || r->state == ALERT_FIRING)
            ch[nch++] = (struct alerts_change){r, changed && r->state != ALERT_FIRING
                                                      ? ALERT_INACTIVE : r->state,
                                               changed, r->value, r->since, now};
        nchanged += changed;
    }
    /* Alertmanagers get every firing alert on a change and every resend_s, like Prometheus */
    if (nchanged || (nch && resend))
        a->last_am = now;
    else
        nch = 0;
    pthread_mutex_unlock(&a->lock);
    if (nch)
        alerts__notify(a, ch, nch);
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
    if (!a)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: no rule set");
    if (interval_ms <= 0)
        interval_ms = a->interval_ms_cfg > 0 ? a->interval_ms_cfg : 15000;
    if (interval_ms < 10)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: interval must be >= 10 ms");
    if (a->running)
        return inferd_err_set(err, INFERD_EBUSY, "alerts: already started");
    int rc = a->qrunning ? 0 : alerts_start_notifier(a, err);
    if (rc < 0)
        return rc;
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

/* Prometheus's rendering of a sample value as a string ("+Inf", "NaN", "0.25"). */
static void value_string(double v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else if (isinf(v))
        snprintf(buf, cap, "%sInf", v > 0 ? "+" : "-");
    else
        snprintf(buf, cap, "%.15g", v);
}

int alerts_json(struct alerts *a, char **json, struct inferd_err *err)
{
    json_t *list = json_array(), *root = NULL;
    int rc = INFERD_ENOMEM;
    if (!list)
        goto done;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->nrules; i++) {
        const struct alerts_rule *r = a->rules[i];
        if (r->state == ALERT_INACTIVE)
            continue;
        char at[40], val[40];
        clock_rfc3339((uint64_t)alerts__wall_ms(a, r->since), at, sizeof at);
        value_string(r->value, val, sizeof val);
        json_t *labels = alerts__labels(a, r);
        json_t *ann = labels ? alerts__annotations(r, labels, r->value) : NULL;
        json_t *o = ann ? json_pack("{s:O, s:o, s:s, s:s, s:s}", "labels", labels,
                                    "annotations", ann, "state",
                                    r->state == ALERT_FIRING ? "firing" : "pending",
                                    "activeAt", at, "value", val)
                        : NULL;
        json_decref(labels);
        if (!o || json_array_append_new(list, o) < 0) {
            pthread_mutex_unlock(&a->lock);
            goto done;
        }
    }
    pthread_mutex_unlock(&a->lock);
    root = json_pack("{s:s, s:{s:O}}", "status", "success", "data", "alerts", list);
    *json = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (*json)
        rc = 0;
done:
    json_decref(list);
    json_decref(root);
    if (rc < 0)
        inferd_err_set(err, rc, "alerts: out of memory rendering JSON");
    return rc;
}
