/* metrics_query.c — reading a registry back: find a family by name, add up the series that
 * match some labels (for alert rules); hide the series of something that is gone. */
#include "observe/metrics_int.h"

#include <string.h>

struct metrics_family *metrics_family_find(struct metrics_registry *reg, const char *name)
{
    struct metrics_family *f = NULL;
    if (!reg || !name)
        return NULL;
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < reg->nfamilies && !f; i++)
        if (strcmp(reg->families[i]->name, name) == 0)
            f = reg->families[i];
    pthread_mutex_unlock(&reg->lock);
    return f;
}

static int pattern_matches(const char *pattern, const char *value)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, value, n - 1) == 0;
    return strcmp(pattern, value) == 0;
}

int metrics_family_snapshot(struct metrics_family *f, const char *const *match, size_t nmatch,
                            struct metrics_snapshot *snap, struct inferd_err *err)
{
    size_t idx[METRICS_MAX_LABELS];
    if (!f || !snap || nmatch > METRICS_MAX_LABELS || (nmatch && !match))
        return inferd_err_set(err, INFERD_EINVAL, "metrics: snapshot needs a family and <= %d "
                              "matchers", METRICS_MAX_LABELS);
    for (size_t m = 0; m < nmatch; m++) {
        size_t i = 0;
        while (i < f->nlabels && strcmp(f->labels[i], match[2 * m]) != 0)
            i++;
        if (i == f->nlabels)
            return inferd_err_set(err, INFERD_EINVAL, "metrics: %s has no label '%s'", f->name,
                                  match[2 * m] ? match[2 * m] : "(null)");
        idx[m] = i;
    }
    memset(snap, 0, sizeof *snap);
    snap->kind = f->kind;
    snap->nbuckets = f->kind == METRICS_HISTOGRAM ? f->nbuckets : 0;
    memcpy(snap->bounds, f->buckets, snap->nbuckets * sizeof f->buckets[0]);
    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < f->nseries; k++) {
        const struct metrics_series *s = f->order[k];
        int ok = 1;
        for (size_t m = 0; m < nmatch && ok; m++)
            ok = pattern_matches(match[2 * m + 1] ? match[2 * m + 1] : "", s->values[idx[m]]);
        if (!ok)
            continue;
        snap->nseries++;
        if (f->kind != METRICS_HISTOGRAM) {
            snap->value += metrics_value(s);
            continue;
        }
        for (size_t b = 0; b <= f->nbuckets; b++) {
            double c = (double)atomic_load_explicit(&s->counts[b], memory_order_relaxed);
            snap->counts[b] += c;
            snap->value += c;
        }
        snap->sum += metrics_hist_sum(s);
    }
    pthread_mutex_unlock(&f->lock);
    return 0;
}

size_t metrics_registry_hide(struct metrics_registry *reg, const char *const *match, size_t nmatch)
{
    size_t hidden = 0;
    if (!reg || !nmatch || nmatch > METRICS_MAX_LABELS || !match)
        return 0;
    pthread_mutex_lock(&reg->lock);
    for (size_t fi = 0; fi < reg->nfamilies; fi++) {
        struct metrics_family *f = reg->families[fi];
        size_t idx[METRICS_MAX_LABELS], m = 0;
        for (; m < nmatch; m++) {
            size_t i = 0;
            while (i < f->nlabels && strcmp(f->labels[i], match[2 * m]) != 0)
                i++;
            if (i == f->nlabels)
                break;
            idx[m] = i;
        }
        if (m < nmatch) /* f lacks one of the labels */
            continue;
        pthread_mutex_lock(&f->lock);
        for (size_t k = 0; k < f->nseries; k++) {
            struct metrics_series *s = f->order[k];
            int ok = 1;
            for (m = 0; m < nmatch && ok; m++)
                ok = strcmp(s->values[idx[m]], match[2 * m + 1] ? match[2 * m + 1] : "") == 0;
            if (ok && !atomic_exchange_explicit(&s->hidden, 1, memory_order_relaxed))
                hidden++;
        }
        pthread_mutex_unlock(&f->lock);
    }
    pthread_mutex_unlock(&reg->lock);
    return hidden;
}
