/* metrics_expose.c — renders a metrics registry as Prometheus text format 0.0.4. */
#include "observe/metrics_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable output buffer capped at METRICS_EXPOSE_MAX; the first failure sticks. */
struct outbuf {
    char *p;
    size_t len, cap;
    int rc; /* 0, INFERD_ENOMEM or INFERD_ETOOLARGE */
};

static void out_mem(struct outbuf *o, const char *s, size_t n)
{
    if (o->rc)
        return;
    if (o->len + n + 1 > METRICS_EXPOSE_MAX) {
        o->rc = INFERD_ETOOLARGE;
        return;
    }
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *np = realloc(o->p, cap);
        if (!np) {
            o->rc = INFERD_ENOMEM;
            return;
        }
        o->p = np;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(struct outbuf *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

/* Writes text escaped for HELP (\\ and \n) or, with quote, for a label value (also \"). */
static void out_escaped(struct outbuf *o, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (quote && *s == '"')
            rep = "\\\"";
        if (rep) {
            out_mem(o, run, (size_t)(s - run));
            out_str(o, rep);
            run = s + 1;
        }
    }
    out_mem(o, run, (size_t)(s - run));
}

/* Formats v the way Prometheus parses it back: shortest round-tripping %g, NaN, +Inf. */
static void fmt_double(char *buf, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
}

static void out_double(struct outbuf *o, double v)
{
    char buf[40];
    fmt_double(buf, sizeof buf, v);
    out_str(o, buf);
}

static void out_u64(struct outbuf *o, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    out_str(o, buf);
}

/* Writes `name{l1="v1",...,extra}` (no braces when there is nothing in them). */
static void out_sample_name(struct outbuf *o, const struct metrics_family *f,
                            const struct metrics_series *s, const char *suffix,
                            const char *le)
{
    out_str(o, f->name);
    out_str(o, suffix);
    if (f->nlabels == 0 && !le)
        return;
    out_str(o, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            out_str(o, ",");
        out_str(o, f->labels[i]);
        out_str(o, "=\"");
        out_escaped(o, s->values[i], 1);
        out_str(o, "\"");
    }
    if (le) {
        if (f->nlabels)
            out_str(o, ",");
        out_str(o, "le=\"");
        out_str(o, le);
        out_str(o, "\"");
    }
    out_str(o, "}");
}

static void out_series(struct outbuf *o, const struct metrics_family *f,
                       const struct metrics_series *s)
{
    if (f->kind != METRICS_HISTOGRAM) {
        out_sample_name(o, f, s, "", NULL);
        out_str(o, " ");
        out_double(o, metrics_value(s));
        out_str(o, "\n");
        return;
    }
    /* Read counts once so buckets, +Inf and _count agree within this scrape. */
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbuckets; i++) {
        char le[40];
        if (i < f->nbuckets)
            fmt_double(le, sizeof le, f->buckets[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        out_sample_name(o, f, s, "_bucket", le);
        out_str(o, " ");
        out_u64(o, cum);
        out_str(o, "\n");
    }
    out_sample_name(o, f, s, "_sum", NULL);
    out_str(o, " ");
    out_double(o, metrics_hist_sum(s));
    out_str(o, "\n");
    out_sample_name(o, f, s, "_count", NULL);
    out_str(o, " ");
    out_u64(o, cum);
    out_str(o, "\n");
}

static const char *kind_name(enum metrics_kind k)
{
    switch (k) {
    case METRICS_COUNTER: return "counter";
    case METRICS_GAUGE: return "gauge";
    default: return "histogram";
    }
}

static void out_family(struct outbuf *o, struct metrics_family *f)
{
    out_str(o, "# HELP ");
    out_str(o, f->name);
    out_str(o, " ");
    out_escaped(o, f->help, 0);
    out_str(o, "\n# TYPE ");
    out_str(o, f->name);
    out_str(o, " ");
    out_str(o, kind_name(f->kind));
    out_str(o, "\n");
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nseries; i++)
        out_series(o, f, f->order[i]);
    pthread_mutex_unlock(&f->lock);
}

/* The cardinality-cap drop counter, only when some family dropped a label set. */
static void out_dropped(struct outbuf *o, struct metrics_registry *reg)
{
    int header = 0;
    for (size_t i = 0; i < reg->nfamilies; i++) {
        uint64_t d = atomic_load_explicit(&reg->families[i]->dropped, memory_order_relaxed);
        if (!d)
            continue;
        if (!header) {
            out_str(o, "# HELP inferd_metrics_series_dropped_total Label sets refused because a "
                       "family reached its series cap.\n"
                       "# TYPE inferd_metrics_series_dropped_total counter\n");
            header = 1;
        }
        out_str(o, "inferd_metrics_series_dropped_total{family=\"");
        out_str(o, reg->families[i]->name); /* metric names need no escaping */
        out_str(o, "\"} ");
        out_u64(o, d);
        out_str(o, "\n");
    }
}

int metrics_expose(struct metrics_registry *reg, char **text, size_t *len,
                   struct inferd_err *err)
{
    struct outbuf o = {0};
    metrics_collect_fn fns[METRICS_MAX_COLLECTORS];
    void *ctxs[METRICS_MAX_COLLECTORS];
    size_t n;

    if (!reg || !text || !len)
        return inferd_err_set(err, INFERD_EINVAL, "metrics: expose needs registry, text, len");
    pthread_mutex_lock(&reg->lock);
    n = reg->ncollectors;
    memcpy(fns, reg->collectors, n * sizeof fns[0]);
    memcpy(ctxs, reg->collector_ctx, n * sizeof ctxs[0]);
    pthread_mutex_unlock(&reg->lock);
    for (size_t i = 0; i < n; i++)
        fns[i](ctxs[i]);

    out_mem(&o, "", 0); /* an empty registry still yields "" rather than NULL */
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nfamilies; i++)
        out_family(&o, reg->families[i]);
    out_dropped(&o, reg);
    pthread_mutex_unlock(&reg->lock);
    if (o.rc) {
        free(o.p);
        return inferd_err_set(err, o.rc,
                              o.rc == INFERD_ETOOLARGE
                                  ? "metrics: exposition exceeds the %u-byte cap"
                                  : "metrics: out of memory rendering (%u-byte cap)",
                              METRICS_EXPOSE_MAX);
    }
    *text = o.p;
    *len = o.len;
    return 0;
}
