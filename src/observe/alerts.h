/* alerts.h — alert rules evaluated over a metrics registry, with Alertmanager and webhook
 * notifiers.
 *
 * A rule computes one number from the registry — a gauge/counter value, a counter's rate,
 * a ratio of two counters' rates, a histogram quantile over a window, or the robust z-score
 * of a rate against its recent baseline (anomaly) — compares it with a threshold, and moves
 * inactive → pending → firing once the condition has held for for_s seconds, and back to
 * inactive (a "resolved" notice) when it stops holding. Each alert carries labels
 * (alertname, the rule's labels, the file's external labels) and annotations, which may use
 * {{ $value }} and {{ $labels.NAME }}. Changes are written to the error log and queued for
 * the notifier thread, which POSTs them to Alertmanagers (/api/v2/alerts, firing alerts
 * resent every resend_s) and webhooks (Alertmanager's webhook JSON), retrying with backoff
 * while a receiver is down; each receiver's queue is bounded (the oldest message is dropped
 * and counted past it). alerts_eval is explicit-time so tests can step the clock;
 * alerts_start runs it on a thread. alerts_json renders the active alerts in Prometheus's
 * /api/v1/alerts shape for GET /api/alerts.
 *
 *   struct alerts *a;
 *   alerts_load(reg, "alerts.json", &a, &err);     // or alerts_new + alerts_add_rule
 *   alerts_start(a, 0, &err);                      // the file's interval_s, and the notifier
 *   char *json; alerts_json(a, &json, &err); ...; free(json);
 *   alerts_free(a);                                // stops the threads
 *
 * Rule file (JSON; docs/observe.md has every field):
 *   {"interval_s": 15, "resend_s": 60, "queue_max": 256, "external_url": "http://h:8080",
 *    "labels": {"service": "inferd"},
 *    "alertmanagers": ["http://127.0.0.1:9093"], "webhooks": ["http://127.0.0.1:9000/hook"],
 *    "rules": [{"name": "HighErrorRatio", "kind": "ratio",
 *               "metric": "inferd_requests_total", "match": {"code": "5*"},
 *               "denominator": "inferd_requests_total", "window_s": 60,
 *               "op": ">", "threshold": 0.05, "for_s": 30,
 *               "labels": {"severity": "page"},
 *               "annotations": {"summary": "{{ $value }} of requests fail"}}]}
 * kind: "value" | "rate" | "ratio" | "quantile" (with "quantile": 0.99) | "anomaly" (with
 * "baseline_s", optional "season_s"). match patterns equal a label value or end in '*' (prefix).
 * "denominator_match" filters the denominator. "severity" / "summary" are shorthands for
 * labels.severity / annotations.summary.
 */
#ifndef INFERD_ALERTS_H
#define INFERD_ALERTS_H

#include "inferd/err.h"
#include "observe/metrics.h"

#define ALERTS_MAX_RULES 64
#define ALERTS_MAX_WEBHOOKS 8     /* webhooks and Alertmanagers together */
#define ALERTS_MAX_MATCH 4        /* label matchers per metric */
#define ALERTS_MAX_LABELS 8       /* labels (and annotations) per rule, and external labels */
#define ALERTS_HISTORY 512        /* samples kept per rule (bounds window_s / interval) */
#define ALERTS_BASELINE 256       /* anomaly: rate points kept over baseline_s */
#define ALERTS_BASELINE_MIN 8     /* anomaly: fewer points in the baseline = no data */
#define ALERTS_NAME_MAX 64
#define ALERTS_TEXT_MAX 256
#define ALERTS_QUEUE_DEFAULT 256  /* messages waiting per receiver unless queue_max says */

enum alert_kind { ALERT_VALUE, ALERT_RATE, ALERT_RATIO, ALERT_QUANTILE, ALERT_ANOMALY };
enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING };

/* What a rule computes; strings are copied by alerts_add_rule. */
struct alert_rule {
    const char *name;                          /* [A-Za-z0-9_]+, unique */
    enum alert_kind kind;
    const char *metric;                        /* family name */
    const char *match[2 * ALERTS_MAX_MATCH];   /* label, pattern pairs */
    size_t nmatch;
    const char *denominator;                   /* ALERT_RATIO: family name */
    const char *den_match[2 * ALERTS_MAX_MATCH];
    size_t den_nmatch;
    double quantile;                           /* ALERT_QUANTILE: 0 < q < 1 */
    double window_s;                           /* rate/ratio/quantile/anomaly window (> 0) */
    double baseline_s;                         /* ALERT_ANOMALY: baseline span (> window_s) */
    double season_s;                           /* ALERT_ANOMALY: 0, or a period (e.g. 86400):
                                                  the baseline is then only the points at the
                                                  same phase of earlier periods */
    int above;                                 /* 1: fire when value > threshold; 0: < */
    double threshold;
    double for_s;                              /* how long it must hold before firing */
    const char *severity;                      /* shorthand for labels.severity (NULL: none
                                                  unless labels has it, then "warning") */
    const char *summary;                       /* shorthand for annotations.summary */
    const char *labels[2 * ALERTS_MAX_LABELS]; /* name, value pairs added to the alert */
    size_t nlabels;
    const char *annotations[2 * ALERTS_MAX_LABELS]; /* name, template pairs */
    size_t nannotations;
};

struct alerts;

/* A rule set over reg (borrowed: must outlive the alerts). Registers the notifier's
 * families in reg (inferd_alerts_*) unless present. OUT: *out. Returns 0/ENOMEM. */
int alerts_new(struct metrics_registry *reg, struct alerts **out, struct inferd_err *err);
/* Stops the threads if running and frees a (queued notifications are dropped). NULL: no-op. */
void alerts_free(struct alerts *a);
/* Adds a rule (copied). Returns 0, INFERD_EINVAL (err names the field) or ETOOLARGE. */
int alerts_add_rule(struct alerts *a, const struct alert_rule *rule, struct inferd_err *err);
/* Adds a webhook URL that gets Alertmanager's webhook JSON on firing/resolved.
 * Returns 0, EINVAL or ETOOLARGE. */
int alerts_add_webhook(struct alerts *a, const char *url, struct inferd_err *err);
/* Adds an Alertmanager base URL ("http://h:9093"); alerts go to <url>/api/v2/alerts.
 * Returns 0, EINVAL or ETOOLARGE. */
int alerts_add_alertmanager(struct alerts *a, const char *url, struct inferd_err *err);
/* Adds an external label (name [a-zA-Z_][a-zA-Z0-9_]*) to every alert. 0, EINVAL, ETOOLARGE. */
int alerts_add_label(struct alerts *a, const char *name, const char *value,
                     struct inferd_err *err);
/* Notifier settings: resend_s between resends of firing alerts to Alertmanagers (0: keep),
 * queue_max messages per receiver (0: keep), external_url (NULL: keep; copied) the base of
 * each alert's generatorURL (<url>/api/alerts). Returns 0 or EINVAL. */
int alerts_configure(struct alerts *a, double resend_s, size_t queue_max,
                     const char *external_url, struct inferd_err *err);
/* The external URL set so far ("" when none). Borrowed. */
const char *alerts_external_url(const struct alerts *a);
/* The rule file's interval_s in ms (0 when the file gave none). */
int alerts_interval_ms(const struct alerts *a);

/* alerts_new + the settings, rules and receivers of a JSON file (format above). */
int alerts_load(struct metrics_registry *reg, const char *path, struct alerts **out,
                struct inferd_err *err);
/* The same from a rule file's text (len bytes, need not be NUL-terminated). */
int alerts_load_text(struct metrics_registry *reg, const char *text, size_t len,
                     struct alerts **out, struct inferd_err *err);

/* Evaluates every rule at time now_s (monotonic seconds; must not go backwards) and queues
 * the notifications due. Returns the number of rules firing afterwards. */
int alerts_eval(struct alerts *a, double now_s);
/* Starts the notifier thread and a thread that calls alerts_eval every interval_ms (<= 0:
 * the file's interval_s, else 15 s). Returns 0, EINVAL, EBUSY. */
int alerts_start(struct alerts *a, int interval_ms, struct inferd_err *err);
/* Starts only the notifier thread (tests that step the clock). Returns 0, EBUSY, ENOMEM. */
int alerts_start_notifier(struct alerts *a, struct inferd_err *err);
/* Messages queued (not yet delivered) over all receivers. */
size_t alerts_queued(struct alerts *a);

/* State of rule i (0-based) for tests: returns its state, *value the last computed value
 * (NaN when there was no data). Returns -1 when i is out of range. */
int alerts_rule_state(struct alerts *a, size_t i, double *value);
/* Prometheus's /api/v1/alerts body for the pending and firing alerts:
 * {"status":"success","data":{"alerts":[{"labels","annotations","state","activeAt",
 * "value"}]}} (value a string, annotations expanded). OUT: *json malloc'd, caller frees.
 * Returns 0 or ENOMEM. */
int alerts_json(struct alerts *a, char **json, struct inferd_err *err);

/* Expands {{ $value }}, {{ $labels.NAME }} (spaces inside the braces optional) in tmpl
 * into out[cap] (cut to fit); labels holds nlabels name/value pairs. Returns 0, or
 * INFERD_EINVAL for any other {{ ... }} (so rule files are checked at load). */
int alerts_template(const char *tmpl, double value, const char *const *labels, size_t nlabels,
                    char *out, size_t cap);

#endif
