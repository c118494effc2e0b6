/* alerts_notify.c — what the alerts send and how: labels, annotation templates, the
 * Alertmanager v2 and webhook payloads, one bounded FIFO per receiver, and the notifier
 * thread that POSTs them with exponential backoff while a receiver is down. */
#include "observe/alerts_int.h"

#include "base/clock.h"
#include "base/hash.h"
#include "base/log.h"
#include "inferd/client.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_S 0.5
#define BACKOFF_MAX_S 30.0

int alerts_template(const char *tmpl, double value, const char *const *labels, size_t nlabels,
                    char *out, size_t cap)
{
    size_t o = 0;
    int rc = 0;
    if (!cap)
        return INFERD_EINVAL;
#define PUT(s, n)                                                                      \
    do {                                                                               \
        size_t k_ = (n) < cap - 1 - o ? (n) : cap - 1 - o;                             \
        memcpy(out + o, (s), k_);                                                      \
        o += k_;                                                                       \
    } while (0)
    while (tmpl && *tmpl) {
        const char *open = strstr(tmpl, "{{");
        if (!open) {
            PUT(tmpl, strlen(tmpl));
            break;
        }
        PUT(tmpl, (size_t)(open - tmpl));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            rc = INFERD_EINVAL;
            break;
        }
        const char *p = open + 2, *e = close;
        while (p < e && *p == ' ')
            p++;
        while (e > p && e[-1] == ' ')
            e--;
        size_t n = (size_t)(e - p);
        if (n == 6 && !memcmp(p, "$value", 6)) {
            char v[40];
            if (isnan(value))
                snprintf(v, sizeof v, "NaN");
            else if (isinf(value))
                snprintf(v, sizeof v, "%sInf", value > 0 ? "+" : "-");
            else
                snprintf(v, sizeof v, "%.6g", value);
            PUT(v, strlen(v));
        } else if (n > 8 && !memcmp(p, "$labels.", 8)) {
            for (size_t i = 0; i < nlabels; i++)
                if (strlen(labels[2 * i]) == n - 8 && !memcmp(labels[2 * i], p + 8, n - 8)) {
                    PUT(labels[2 * i + 1], strlen(labels[2 * i + 1]));
                    break;
                }
        } else {
            rc = INFERD_EINVAL;
            break;
        }
        tmpl = close + 2;
    }
#undef PUT
    out[o] = '\0';
    return rc;
}

json_t *alerts__labels(const struct alerts *a, const struct alerts_rule *r)
{
    json_t *l = json_object();
    if (!l || json_object_set_new(l, "alertname", json_string(r->name)) < 0)
        goto fail;
    for (size_t i = 0; i < r->nlabels; i++)
        if (json_object_set_new(l, r->labels[2 * i], json_string(r->labels[2 * i + 1])) < 0)
            goto fail;
    for (size_t i = 0; i < a->next; i++) /* external labels never override the rule's */
        if (!json_object_get(l, a->ext[2 * i]) &&
            json_object_set_new(l, a->ext[2 * i], json_string(a->ext[2 * i + 1])) < 0)
            goto fail;
    return l;
fail:
    json_decref(l);
    return NULL;
}

json_t *alerts__annotations(const struct alerts_rule *r, json_t *labels, double value)
{
    const char *pairs[2 * (ALERTS_MAX_LABELS * 2 + 1)];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v) {
        if (n == ALERTS_MAX_LABELS * 2 + 1)
            break;
        pairs[2 * n] = k;
        pairs[2 * n + 1] = json_string_value(v);
        n++;
    }
    json_t *ann = json_object();
    char text[1024];
    for (size_t i = 0; ann && i < r->nannot; i++) {
        alerts_template(r->annot_tmpl[i], value, pairs, n, text, sizeof text);
        if (json_object_set_new(ann, r->annot_names[i], json_string(text)) < 0) {
            json_decref(ann);
            return NULL;
        }
    }
    return ann;
}

/* Alertmanager's fingerprint stand-in: FNV-1a over the sorted label pairs, 16 hex digits. */
static void fingerprint(json_t *labels, char out[17])
{
    const char *keys[2 * ALERTS_MAX_LABELS + 2];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
        if (n < sizeof keys / sizeof keys[0])
            keys[n++] = k;
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of keys */
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    uint64_t h = HASH_FNV1A_SEED;
    for (size_t i = 0; i < n; i++) {
        h = hash_fnv1a_byte(hash_fnv1a_str(h, keys[i]), 0xff);
        h = hash_fnv1a_byte(hash_fnv1a_str(h, json_string_value(json_object_get(labels, keys[i]))),
                            0xff);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* One alert as both APIs spell it; webhook adds status and fingerprint, and a firing
 * webhook alert has Alertmanager's zero endsAt. New reference or NULL. */
static json_t *alert_object(const struct alerts *a, const struct alerts_change *c, int webhook)
{
    char starts[40], ends[40], gen[ALERTS_URL_MAX + 16];
    int firing = c->state == ALERT_FIRING;
    double hold = a->resend_s > a->interval_ms / 1e3 ? a->resend_s : a->interval_ms / 1e3;
    clock_rfc3339((uint64_t)alerts__wall_ms(a, c->since), starts, sizeof starts);
    if (firing && webhook)
        snprintf(ends, sizeof ends, "0001-01-01T00:00:00Z");
    else /* Prometheus: a firing alert is good for 4 resend intervals, a resolve ends now */
        clock_rfc3339((uint64_t)alerts__wall_ms(a, firing ? c->now + 4 * hold : c->now), ends,
                      sizeof ends);
    json_t *labels = alerts__labels(a, c->rule);
    json_t *ann = labels ? alerts__annotations(c->rule, labels, c->value) : NULL;
    json_t *o = ann ? json_pack("{s:O, s:o, s:s, s:s}", "labels", labels, "annotations", ann,
                                "startsAt", starts, "endsAt", ends)
                    : NULL;
    if (o && a->external_url[0]) {
        snprintf(gen, sizeof gen, "%s/api/alerts", a->external_url);
        json_object_set_new(o, "generatorURL", json_string(gen));
    }
    if (o && webhook) {
        char fp[17];
        fingerprint(labels, fp);
        json_object_set_new(o, "status", json_string(firing ? "firing" : "resolved"));
        json_object_set_new(o, "fingerprint", json_string(fp));
        if (!a->external_url[0])
            json_object_set_new(o, "generatorURL", json_string(""));
    }
    json_decref(labels);
    return o;
}

/* The labels (or annotations, by key) every alert of list shares. New reference. */
static json_t *common(json_t *list, const char *key)
{
    json_t *first = json_object_get(json_array_get(list, 0), key);
    json_t *c = json_deep_copy(first ? first : json_object());
    const char *k;
    json_t *v, *tmp;
    size_t i;
    json_t *al;
    json_array_foreach(list, i, al) {
        json_t *o = json_object_get(al, key);
        json_object_foreach_safe(c, tmp, k, v) {
            json_t *w = json_object_get(o, k);
            if (!w || !json_equal(v, w))
                json_object_del(c, k);
        }
    }
    return c;
}

/* Appends body to receiver r's queue, dropping (and counting) the oldest message that is
 * not being sent when the queue is full. Takes ownership of body (malloc'd). */
static void enqueue(struct alerts *a, struct alerts_receiver *r, char *body)
{
    if (!body) { /* the message could not be built (out of memory): counted as dropped */
        metrics_add(r->dropped, 1);
        return;
    }
    size_t len = strlen(body);
    struct alerts_msg *m = malloc(sizeof *m + len + 1);
    if (!m) {
        free(body);
        metrics_add(r->dropped, 1);
        return;
    }
    m->next = NULL;
    m->len = len;
    memcpy(m->body, body, len + 1);
    free(body);
    pthread_mutex_lock(&a->qlock);
    if (r->len >= a->queue_max) {
        struct alerts_msg **victim = r->inflight ? &r->head->next : &r->head;
        struct alerts_msg *d = *victim;
        if (d) {
            *victim = d->next;
            if (r->tail == d)
                r->tail = r->inflight ? r->head : NULL;
            free(d);
            r->len--;
            metrics_add(r->dropped, 1);
        }
    }
    if (r->len >= a->queue_max) { /* queue_max 1 and the head in flight: the new one goes */
        free(m);
        metrics_add(r->dropped, 1);
    } else {
        if (r->tail)
            r->tail->next = m;
        else
            r->head = m;
        r->tail = m;
        r->len++;
    }
    metrics_set(r->queue, (double)r->len);
    pthread_cond_signal(&a->qwake);
    pthread_mutex_unlock(&a->qlock);
}

/* Alertmanager's webhook JSON (version 4) for alerts of one status. New reference. */
static char *webhook_body(const struct alerts *a, json_t *alerts, const char *status)
{
    json_t *cl = common(alerts, "labels"), *ca = common(alerts, "annotations");
    json_t *root = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{}, s:o, s:o, s:s, s:O}",
                             "version", "4", "groupKey", "{}:{}", "truncatedAlerts", 0,
                             "status", status, "receiver", "inferd", "groupLabels",
                             "commonLabels", cl, "commonAnnotations", ca, "externalURL",
                             a->external_url, "alerts", alerts);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return s;
}

void alerts__notify(struct alerts *a, const struct alerts_change *ch, size_t n)
{
    json_t *am = json_array(), *fire = json_array(), *res = json_array();
    for (size_t i = 0; am && fire && res && i < n; i++) {
        json_array_append_new(am, alert_object(a, &ch[i], 0));
        if (ch[i].changed)
            json_array_append_new(ch[i].state == ALERT_FIRING ? fire : res,
                                  alert_object(a, &ch[i], 1));
    }
    char *am_body = am ? json_dumps(am, JSON_COMPACT) : NULL;
    for (size_t k = 0; k < a->nrecv; k++) {
        struct alerts_receiver *r = &a->recv[k];
        if (r->alertmanager) {
            if (am_body && json_array_size(am))
                enqueue(a, r, strdup(am_body));
            continue;
        }
        if (json_array_size(fire))
            enqueue(a, r, webhook_body(a, fire, "firing"));
        if (json_array_size(res))
            enqueue(a, r, webhook_body(a, res, "resolved"));
    }
    free(am_body);
    json_decref(am);
    json_decref(fire);
    json_decref(res);
}

/* Adds a receiver: url split into origin and path (default_path when it has none). */
static int add_receiver(struct alerts *a, const char *url, int alertmanager,
                        struct inferd_err *err)
{
    const char *what = alertmanager ? "alertmanager" : "webhook";
    if (!a || !url)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s URL is required", what);
    if (a->nrecv == ALERTS_MAX_WEBHOOKS)
        return inferd_err_set(err, INFERD_ETOOLARGE, "alerts: more than %d webhooks and "
                              "alertmanagers", ALERTS_MAX_WEBHOOKS);
    if (a->qrunning)
        return inferd_err_set(err, INFERD_EBUSY, "alerts: receivers are fixed once started");
    struct alerts_receiver *r = &a->recv[a->nrecv];
    const char *host = strstr(url, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    size_t olen = path ? (size_t)(path - url) : strlen(url);
    int n = 0;
    if (alertmanager) { /* the base URL may carry a path prefix (a proxy); ours follows it */
        size_t plen = path ? strlen(path) : 0;
        while (plen && path[plen - 1] == '/')
            plen--;
        n = snprintf(r->path, sizeof r->path, "%.*s/api/v2/alerts", (int)plen, path ? path : "");
    } else {
        n = snprintf(r->path, sizeof r->path, "%s", path ? path : "/");
    }
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || olen >= sizeof r->origin ||
        olen <= (size_t)(host + 3 - url) || n < 0 || (size_t)n >= sizeof r->path)
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s '%.200s' is not an http(s) URL "
                              "under %d bytes", what, url, ALERTS_URL_MAX);
    memcpy(r->origin, url, olen);
    r->origin[olen] = '\0';
    /* credentials in the URL stay out of metrics and logs */
    const char *at = memchr(r->origin, '@', olen);
    size_t slen = (size_t)(host + 3 - url); /* "http://" */
    memcpy(r->label, r->origin, slen);
    memcpy(r->label + slen, at ? at + 1 : r->origin + slen,
           strlen(at ? at + 1 : r->origin + slen) + 1);
    struct inferd_client_opts o = inferd_client_opts_default();
    o.base_urls = r->origin;
    o.max_retries = 0; /* the notifier retries, with backoff, without blocking the others long */
    o.timeout_s = 5;
    o.connect_timeout_s = 2;
    o.user_agent = "inferd-alerts/0.1";
    int rc = inferd_client_new(&o, &r->client, err);
    if (rc < 0) {
        inferd_err_prefix(err, "alerts: %s", what);
        return rc;
    }
    const char *lv[] = {r->label, "sent"}, *lf[] = {r->label, "failed"};
    r->alertmanager = alertmanager;
    r->sent = metrics_series_get(a->f_sent, lv);
    r->failed = metrics_series_get(a->f_sent, lf);
    r->dropped = metrics_series_get(a->f_dropped, (const char *[]){r->label});
    r->queue = metrics_series_get(a->f_queue, (const char *[]){r->label});
    a->nrecv++;
    return 0;
}

int alerts_add_webhook(struct alerts *a, const char *url, struct inferd_err *err)
{
    return add_receiver(a, url, 0, err);
}

int alerts_add_alertmanager(struct alerts *a, const char *url, struct inferd_err *err)
{
    return add_receiver(a, url, 1, err);
}

int alerts__families(struct alerts *a, struct inferd_err *err)
{
    static const char *const ro[] = {"receiver", "outcome"}, *const rv[] = {"receiver"};
    int rc = 0;
    if (!(a->f_sent = metrics_family_find(a->reg, "inferd_alerts_notifications_total")))
        rc = metrics_counter_new(a->reg, "inferd_alerts_notifications_total",
                                 "Alert notification POSTs by receiver and outcome (sent, or "
                                 "failed and retried).", ro, 2, &a->f_sent, err);
    if (rc == 0 &&
        !(a->f_dropped = metrics_family_find(a->reg, "inferd_alerts_notifications_dropped_total")))
        rc = metrics_counter_new(a->reg, "inferd_alerts_notifications_dropped_total",
                                 "Alert notifications dropped because the receiver's queue was "
                                 "full.", rv, 1, &a->f_dropped, err);
    if (rc == 0 && !(a->f_queue = metrics_family_find(a->reg, "inferd_alerts_queue_length")))
        rc = metrics_gauge_new(a->reg, "inferd_alerts_queue_length",
                               "Alert notifications waiting per receiver.", rv, 1, &a->f_queue,
                               err);
    return rc;
}

size_t alerts_queued(struct alerts *a)
{
    size_t n = 0;
    pthread_mutex_lock(&a->qlock);
    for (size_t k = 0; k < a->nrecv; k++)
        n += a->recv[k].len;
    pthread_mutex_unlock(&a->qlock);
    return n;
}

/* Sends receiver r's head once (qlock not held). Returns 0 when it was delivered. */
static int send_head(struct alerts_receiver *r, const struct alerts_msg *m)
{
    struct inferd_response resp = {0};
    struct inferd_err err = {0};
    int rc = inferd_client_request(r->client, "POST", r->path, m->body, m->len,
                                   "application/json", &resp, &err);
    inferd_response_clear(&resp);
    if (rc < 0 && !r->failing)
        log_event(LOG_WARN, "alert notification failed; retrying", "receiver", r->label,
                  "reason", err.msg, NULL);
    return rc;
}

static void *notify_loop(void *arg)
{
    struct alerts *a = arg;
    pthread_mutex_lock(&a->qlock);
    while (!a->qstop) {
        double now = (double)clock_now_ns() / 1e9, next = now + 1.0;
        struct alerts_receiver *due = NULL;
        for (size_t k = 0; k < a->nrecv; k++) {
            struct alerts_receiver *r = &a->recv[k];
            if (!r->head)
                continue;
            if (r->next_try <= now) {
                due = r;
                break;
            }
            if (r->next_try < next)
                next = r->next_try;
        }
        if (due) {
            due->inflight = 1;
            struct alerts_msg *m = due->head;
            pthread_mutex_unlock(&a->qlock);
            int rc = send_head(due, m);
            pthread_mutex_lock(&a->qlock);
            due->inflight = 0;
            if (rc == 0) { /* m is still the head: drops skip a message in flight */
                due->head = m->next;
                if (!due->head)
                    due->tail = NULL;
                due->len--;
                free(m);
                metrics_add(due->sent, 1);
                metrics_set(due->queue, (double)due->len);
                if (due->failing)
                    log_event(LOG_INFO, "alert notifications delivered again", "receiver",
                              due->label, NULL);
                due->failing = 0;
                due->backoff = 0;
                due->next_try = 0;
            } else {
                metrics_add(due->failed, 1);
                due->failing = 1;
                due->backoff = due->backoff > 0 ? due->backoff * 2 : BACKOFF_FIRST_S;
                if (due->backoff > BACKOFF_MAX_S)
                    due->backoff = BACKOFF_MAX_S;
                due->next_try = (double)clock_now_ns() / 1e9 + due->backoff;
            }
            continue;
        }
        double wait = next - now;
        if (wait < 0.001)
            wait = 0.001;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until); /* the condvar's default clock */
        long ns = (long)(wait * 1e9);
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec += ns % 1000000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->qwake, &a->qlock, &until);
    }
    pthread_mutex_unlock(&a->qlock);
    return NULL;
}

int alerts_start_notifier(struct alerts *a, struct inferd_err *err)
{
    if (a->qrunning)
        return inferd_err_set(err, INFERD_EBUSY, "alerts: notifier already started");
    if (pthread_create(&a->qthread, NULL, notify_loop, a) != 0)
        return inferd_err_set(err, INFERD_ENOMEM, "alerts: cannot start the notifier thread");
    a->qrunning = 1;
    return 0;
}

void alerts__notify_free(struct alerts *a)
{
    if (a->qrunning) {
        pthread_mutex_lock(&a->qlock);
        a->qstop = 1;
        pthread_cond_signal(&a->qwake);
        pthread_mutex_unlock(&a->qlock);
        pthread_join(a->qthread, NULL);
        a->qrunning = 0;
    }
    for (size_t k = 0; k < a->nrecv; k++) {
        struct alerts_receiver *r = &a->recv[k];
        while (r->head) {
            struct alerts_msg *m = r->head;
            r->head = m->next;
            free(m);
        }
        inferd_client_free(r->client);
    }
    a->nrecv = 0;
}
