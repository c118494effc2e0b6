/* alerts_load.c — reads an alert rule file (JSON, format in alerts.h) into a rule set. */
#include "observe/alerts_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fills pairs[] from a {"label":"pattern",...} object. Returns 0 or INFERD_EINVAL. */
static int read_pairs(json_t *obj, const char *rule, const char *field, const char **pairs,
                      size_t *n, size_t max, struct inferd_err *err)
{
    const char *k;
    json_t *v;
    *n = 0;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: %s must be an object", rule,
                              field);
    json_object_foreach(obj, k, v) {
        if (*n == max || !json_is_string(v))
            return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: %s: at most %zu string "
                                  "values", rule, field, max);
        pairs[2 * *n] = k;
        pairs[2 * *n + 1] = json_string_value(v);
        (*n)++;
    }
    return 0;
}

/* A Prometheus duration ("90s", "5m", "1h30m", "500ms"; units ms s m h d w y, each at most
 * once, largest first) in seconds. Returns 0 or -1. */
static int parse_duration(const char *s, double *out)
{
    static const struct { const char *unit; double s; } units[] = {
        {"y", 365 * 86400.0}, {"w", 7 * 86400.0}, {"d", 86400}, {"h", 3600}, {"m", 60},
        {"s", 1}, {"ms", 0.001}};
    double total = 0;
    size_t next = 0;
    if (!*s)
        return -1;
    while (*s) {
        double n = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 12) {
            n = n * 10 + (*s++ - '0');
            digits++;
        }
        if (!digits)
            return -1;
        size_t u = next;
        while (u < sizeof units / sizeof units[0]) {
            size_t len = strlen(units[u].unit);
            /* "m" must not take the "m" of "ms" */
            if (!strncmp(s, units[u].unit, len) && !(len == 1 && s[0] == 'm' && s[1] == 's'))
                break;
            u++;
        }
        if (u == sizeof units / sizeof units[0])
            return -1;
        total += n * units[u].s;
        s += strlen(units[u].unit);
        next = u + 1;
    }
    *out = total;
    return 0;
}

static int read_rule(struct alerts *a, json_t *o, size_t idx, struct inferd_err *err)
{
    struct alert_rule r = {0};
    char label[48];
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *thr = json_object_get(o, "threshold");
    snprintf(label, sizeof label, "rules[%zu]", idx);
    if (!json_is_object(o))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s must be an object", label);
    r.name = json_string_value(json_object_get(o, "name"));
    const char *who = r.name ? r.name : label;
    if (!kind || !strcmp(kind, "value"))
        r.kind = ALERT_VALUE;
    else if (!strcmp(kind, "rate"))
        r.kind = ALERT_RATE;
    else if (!strcmp(kind, "ratio"))
        r.kind = ALERT_RATIO;
    else if (!strcmp(kind, "quantile"))
        r.kind = ALERT_QUANTILE;
    else if (!strcmp(kind, "anomaly"))
        r.kind = ALERT_ANOMALY;
    else
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: kind '%s' is not value, rate, "
                              "ratio, quantile or anomaly", who, kind);
    if (!op || (strcmp(op, ">") && strcmp(op, "<")))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: op must be \">\" or \"<\"", who);
    if (!json_is_number(thr))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: threshold must be a number",
                              who);
    r.above = op[0] == '>';
    r.threshold = json_number_value(thr);
    r.metric = json_string_value(json_object_get(o, "metric"));
    r.denominator = json_string_value(json_object_get(o, "denominator"));
    r.quantile = json_number_value(json_object_get(o, "quantile"));
    r.window_s = json_number_value(json_object_get(o, "window_s"));
    r.baseline_s = json_number_value(json_object_get(o, "baseline_s"));
    r.season_s = json_number_value(json_object_get(o, "season_s"));
    r.for_s = json_number_value(json_object_get(o, "for_s"));
    json_t *dur = json_object_get(o, "for"); /* Prometheus's spelling: "for": "5m" */
    if (dur && (!json_is_string(dur) || json_object_get(o, "for_s") ||
                parse_duration(json_string_value(dur), &r.for_s) < 0))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: for must be a duration like "
                              "\"90s\", \"5m\" or \"1h30m\" (and not given with for_s)", who);
    r.severity = json_string_value(json_object_get(o, "severity"));
    r.summary = json_string_value(json_object_get(o, "summary"));
    int rc = read_pairs(json_object_get(o, "match"), who, "match", r.match, &r.nmatch,
                        ALERTS_MAX_MATCH, err);
    if (rc == 0)
        rc = read_pairs(json_object_get(o, "denominator_match"), who, "denominator_match",
                        r.den_match, &r.den_nmatch, ALERTS_MAX_MATCH, err);
    if (rc == 0)
        rc = read_pairs(json_object_get(o, "labels"), who, "labels", r.labels, &r.nlabels,
                        ALERTS_MAX_LABELS, err);
    if (rc == 0)
        rc = read_pairs(json_object_get(o, "annotations"), who, "annotations", r.annotations,
                        &r.nannotations, ALERTS_MAX_LABELS, err);
    if (rc == 0)
        rc = alerts_add_rule(a, &r, err);
    return rc;
}

/* A top-level number: absent gives dflt; present must be a number in [lo, hi]. */
static int read_num(json_t *root, const char *key, double dflt, double lo, double hi,
                    double *out, const char *where, struct inferd_err *err)
{
    json_t *v = json_object_get(root, key);
    *out = v ? json_number_value(v) : dflt;
    if (v && (!json_is_number(v) || !(*out >= lo && *out <= hi)))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: %s must be a number in "
                              "[%g, %g]", where, key, lo, hi);
    return 0;
}

/* Adds each URL string of list (borrowed; may be NULL) with add. */
static int read_urls(struct alerts *a, json_t *list, const char *key,
                     int (*add)(struct alerts *, const char *, struct inferd_err *),
                     struct inferd_err *err)
{
    size_t i;
    json_t *v;
    if (list && !json_is_array(list))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s must be an array of URLs", key);
    json_array_foreach(list, i, v) {
        int rc = json_is_string(v) ? add(a, json_string_value(v), err)
                                   : inferd_err_set(err, INFERD_EINVAL, "alerts: %s[%zu] "
                                                    "must be a URL string", key, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Builds the rule set from a parsed rule file (borrowed); where names it in messages. */
static int load_root(struct metrics_registry *reg, json_t *root, const char *where,
                     struct alerts **out, struct inferd_err *err)
{
    struct alerts *a = NULL;
    int rc;
    double interval, resend, qmax;
    json_t *rules = json_object_get(root, "rules"), *ext = json_object_get(root, "labels");
    json_t *url = json_object_get(root, "external_url");
    if (!json_is_array(rules))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: needs \"rules\": [...]", where);
    if ((url && !json_is_string(url)) || (ext && !json_is_object(ext)))
        return inferd_err_set(err, INFERD_EINVAL, "alerts: %s: external_url must be a string "
                              "and labels an object", where);
    if ((rc = read_num(root, "interval_s", 0, 0.01, 86400, &interval, where, err)) < 0 ||
        (rc = read_num(root, "resend_s", 60, 0.01, 86400, &resend, where, err)) < 0 ||
        (rc = read_num(root, "queue_max", ALERTS_QUEUE_DEFAULT, 1, 100000, &qmax, where, err)) < 0)
        return rc;
    rc = alerts_new(reg, &a, err);
    if (rc < 0)
        return rc;
    if ((rc = alerts_configure(a, resend, (size_t)qmax, json_string_value(url), err)) < 0)
        goto fail;
    a->interval_ms_cfg = (int)lround(interval * 1000);
    const char *k;
    json_t *v;
    json_object_foreach(ext, k, v) {
        rc = json_is_string(v) ? alerts_add_label(a, k, json_string_value(v), err)
                               : inferd_err_set(err, INFERD_EINVAL, "alerts: labels.%s must "
                                                "be a string", k);
        if (rc < 0)
            goto fail;
    }
    size_t i;
    json_array_foreach(rules, i, v) {
        rc = read_rule(a, v, i, err);
        if (rc < 0)
            goto fail;
    }
    if ((rc = read_urls(a, json_object_get(root, "webhooks"), "webhooks", alerts_add_webhook,
                        err)) < 0 ||
        (rc = read_urls(a, json_object_get(root, "alertmanagers"), "alertmanagers",
                        alerts_add_alertmanager, err)) < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    alerts_free(a);
    return rc;
}

int alerts_load_text(struct metrics_registry *reg, const char *text, size_t len,
                     struct alerts **out, struct inferd_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return inferd_err_set(err, INFERD_EFORMAT, "alerts: rules: line %d: %s", je.line,
                              je.text);
    int rc = load_root(reg, root, "rules", out, err);
    json_decref(root);
    return rc;
}

int alerts_load(struct metrics_registry *reg, const char *path, struct alerts **out,
                struct inferd_err *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return inferd_err_set(err, INFERD_EFORMAT, "alerts: %s: line %d: %s", path, je.line,
                              je.text);
    int rc = load_root(reg, root, path, out, err);
    json_decref(root);
    return rc;
}
