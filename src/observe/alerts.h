/* alerts.h — alert rules evaluated over a metrics registry, with webhook and log notifiers.
 *
 * A rule computes one number from the registry — a gauge/counter value, a counter's rate,
 * a ratio of two counters' rates, or a histogram quantile over a window — compares it with
 * a threshold, and moves inactive → pending → firing once the condition has held for for_s
 * seconds, and back to inactive (a "resolved" notice) when it stops holding. Each change to
 * firing or resolved is written to the error log and POSTed as JSON to every webhook (with
 * the client library's retries). alerts_eval is explicit-time so tests can step the clock;
 * alerts_start runs it on a thread. alerts_json renders the state for GET /api/alerts.
 *
 *   struct alerts *a;
 *   alerts_load(reg, "alerts.json", &a, &err);     // or alerts_new + alerts_add_rule
 *   alerts_start(a, 5000, &err);                   // evaluate every 5 s
 *   char *json; alerts_json(a, &json, &err); ...; free(json);
 *   alerts_free(a);                                // stops the thread
 *
 * Rule file (JSON):
 *   {"webhooks": ["http://127.0.0.1:9000/hook"],
 *    "rules": [{"name": "HighErrorRatio", "kind": "ratio",
 *               "metric": "inferd_requests_total", "match": {"code": "5*"},
 *               "denominator": "inferd_requests_total", "window_s": 60,
 *               "op": ">", "threshold": 0.05, "for_s": 30,
 *               "severity": "page", "summary": "more than 5% of requests fail"}]}
 * kind: "value" | "rate" | "ratio" | "quantile" (with "quantile": 0.99). match patterns equal
 * a label value or end in '*' (prefix). "denominator_match" filters the denominator.
 */
#ifndef INFERD_ALERTS_H
#define INFERD_ALERTS_H

#include "inferd/err.h"
#include "observe/metrics.h"

#define ALERTS_MAX_RULES 64
#define ALERTS_MAX_WEBHOOKS 8
#define ALERTS_MAX_MATCH 4       /* label matchers per metric */
#define ALERTS_HISTORY 512       /* samples kept per rule (bounds window_s / interval) */
#define ALERTS_NAME_MAX 64
#define ALERTS_TEXT_MAX 256

enum alert_kind { ALERT_VALUE, ALERT_RATE, ALERT_RATIO, ALERT_QUANTILE };
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
    double window_s;                           /* rate/ratio/quantile window (> 0) */
    int above;                                 /* 1: fire when value > threshold; 0: < */
    double threshold;
    double for_s;                              /* how long it must hold before firing */
    const char *severity;                      /* free text, e.g. "page"; NULL = "warning" */
    const char *summary;                       /* free text; NULL = "" */
};

struct alerts;

/* A rule set over reg (borrowed: must outlive the alerts). OUT: *out. Returns 0/ENOMEM. */
int alerts_new(struct metrics_registry *reg, struct alerts **out, struct inferd_err *err);
/* Stops the evaluation thread if running and frees a. NULL is a no-op. */
void alerts_free(struct alerts *a);
/* Adds a rule (copied). Returns 0, INFERD_EINVAL (err names the field) or ETOOLARGE. */
int alerts_add_rule(struct alerts *a, const struct alert_rule *rule, struct inferd_err *err);
/* Adds a webhook URL notified on firing/resolved. Returns 0, EINVAL or ETOOLARGE. */
int alerts_add_webhook(struct alerts *a, const char *url, struct inferd_err *err);
/* alerts_new + the rules and webhooks of a JSON file (format above). */
int alerts_load(struct metrics_registry *reg, const char *path, struct alerts **out,
                struct inferd_err *err);

/* The same from a rule file's text (len bytes, need not be NUL-terminated). */
int alerts_load_text(struct metrics_registry *reg, const char *text, size_t len,
                     struct alerts **out, struct inferd_err *err);

/* Evaluates every rule at time now_s (monotonic seconds; must not go backwards) and sends
 * the notifications due. Returns the number of rules firing afterwards. */
int alerts_eval(struct alerts *a, double now_s);
/* Starts a thread that calls alerts_eval every interval_ms. Returns 0, EINVAL, EBUSY. */
int alerts_start(struct alerts *a, int interval_ms, struct inferd_err *err);

/* State of rule i (0-based) for tests: returns its state, *value the last computed value
 * (NaN when there was no data). Returns -1 when i is out of range. */
int alerts_rule_state(struct alerts *a, size_t i, double *value);
/* {"alerts":[{"name","state","value","op","threshold","for_s","severity","summary",
 *   "active_for_s"}...]}. OUT: *json malloc'd, caller frees. Returns 0 or ENOMEM. */
int alerts_json(struct alerts *a, char **json, struct inferd_err *err);

#endif
