/* metrics_expose.c — renders a metrics registry as Prometheus text format 0.0.4. */
#include "observe/metrics_int.h"

#include "base/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes text escaped for HELP (\\ and \n) or, with quote, for a label value (also \"). */
static void out_escaped(struct buf *o, const char *s, int quote)
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
            buf_put(o, run, (size_t)(s - run));
            buf_puts(o, rep);
            run = s + 1;
        }
    }
    buf_put(o, run, (size_t)(s - run));
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

static void out_double(struct buf *o, double v)
{
    char buf[40];
    fmt_double(buf, sizeof buf, v);
    buf_puts(o, buf);
}

static void out_u64(struct buf *o, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    buf_puts(o, buf);
}

/* Writes `name{l1="v1",...,extra}` (no braces when there is nothing in them). */
static void out_sample_name(struct buf *o, const struct metrics_family *f,
                            const struct metrics_series *s, const char *suffix,
                            const char *le)
{
    buf_puts(o, f->name);
    buf_puts(o, suffix);
    if (f->nlabels == 0 && !le)
        return;
    buf_puts(o, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            buf_puts(o, ",");
        buf_puts(o, f->labels[i]);
        buf_puts(o, "=\"");
        out_escaped(o, s->values[i], 1);
        buf_puts(o, "\"");
    }
    if (le) {
        if (f->nlabels)
            buf_puts(o, ",");
        buf_puts(o, "le=\"");
        buf_puts(o, le);
        buf_puts(o, "\"");
    }
    buf_puts(o, "}");
}

static void out_series(struct buf *o, const struct metrics_family *f,
                       const struct metrics_series *s)
{
    if (f->kind != METRICS_HISTOGRAM) {
        out_sample_name(o, f, s, "", NULL);
        buf_puts(o, " ");
        out_double(o, metrics_value(s));
        buf_puts(o, "\n");
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
        buf_puts(o, " ");
        out_u64(o, cum);
        buf_puts(o, "\n");
    }
    out_sample_name(o, f, s, "_sum", NULL);
    buf_puts(o, " ");
    out_double(o, metrics_hist_sum(s));
    buf_puts(o, "\n");
    out_sample_name(o, f, s, "_count", NULL);
    buf_puts(o, " ");
    out_u64(o, cum);
    buf_puts(o, "\n");
}

static const char *kind_name(enum metrics_kind k)
{
    switch (k) {
    case METRICS_COUNTER: return "counter";
    case METRICS_GAUGE: return "gauge";
    default: return "histogram";
    }
}

static void out_family(struct buf *o, struct metrics_family *f)
{
    buf_puts(o, "# HELP ");
    buf_puts(o, f->name);
    buf_puts(o, " ");
    out_escaped(o, f->help, 0);
    buf_puts(o, "\n# TYPE ");
    buf_puts(o, f->name);
    buf_puts(o, " ");
    buf_puts(o, kind_name(f->kind));
    buf_puts(o, "\n");
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < f->nseries; i++)
        if (!atomic_load_explicit(&f->order[i]->hidden, memory_order_relaxed))
            out_series(o, f, f->order[i]);
    pthread_mutex_unlock(&f->lock);
}

/* The cardinality-cap drop counter, only when some family dropped a label set. */
static void out_dropped(struct buf *o, struct metrics_registry *reg)
{
    int header = 0;
    for (size_t i = 0; i < reg->nfamilies; i++) {
        uint64_t d = atomic_load_explicit(&reg->families[i]->dropped, memory_order_relaxed);
        if (!d)
            continue;
        if (!header) {
            buf_puts(o, "# HELP inferd_metrics_series_dropped_total Label sets refused because a "
                       "family reached its series cap.\n"
                       "# TYPE inferd_metrics_series_dropped_total counter\n");
            header = 1;
        }
        buf_puts(o, "inferd_metrics_series_dropped_total{family=\"");
        buf_puts(o, reg->families[i]->name); /* metric names need no escaping */
        buf_puts(o, "\"} ");
        out_u64(o, d);
        buf_puts(o, "\n");
    }
}

int metrics_expose(struct metrics_registry *reg, char **text, size_t *len,
                   struct inferd_err *err)
{
    struct buf o;
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

    buf_init(&o, METRICS_EXPOSE_MAX - 1); /* the cap counts the NUL */
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nfamilies; i++)
        out_family(&o, reg->families[i]);
    out_dropped(&o, reg);
    pthread_mutex_unlock(&reg->lock);
    size_t n_text = 0;
    int rc = buf_rc(&o);
    char *t = buf_take(&o, &n_text); /* "" for an empty registry; NULL when o failed */
    if (!rc && !t)
        rc = INFERD_ENOMEM;
    if (rc)
        return inferd_err_set(err, rc,
                              rc == INFERD_ETOOLARGE ? "metrics: exposition exceeds the %u-byte cap"
                                                     : "metrics: out of memory rendering (%u-byte cap)",
                              METRICS_EXPOSE_MAX);
    *text = t;
    *len = n_text;
    return 0;
}
