/* metrics.c — metric families, label-set lookup with a cardinality cap, and atomic updates. */
#include "observe/metrics_int.h"
#include "base/hash.h"
#include "base/utf8.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t double_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double bits_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* Adds v to the double stored as bits in *p (compare-and-swap loop; rarely contended). */
static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    uint64_t next;
    do {
        next = double_bits(bits_double(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

struct metrics_registry *metrics_registry_new(void)
{
    struct metrics_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

static void series_free(struct metrics_series *s)
{
    if (!s)
        return;
    free(s->values);
    free(s);
}

static void family_free(struct metrics_family *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nseries; i++)
        series_free(f->order[i]);
    series_free(f->overflow);
    free(f->order);
    free(atomic_load_explicit(&f->table, memory_order_relaxed));
    while (f->retired) {
        struct metrics_table *t = f->retired;
        f->retired = t->next;
        free(t);
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void metrics_registry_free(struct metrics_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->nfamilies; i++)
        family_free(reg->families[i]);
    free(reg->families);
    for (size_t i = 0; i < reg->ncollectors; i++)
        if (reg->collector_free[i])
            reg->collector_free[i](reg->collector_ctx[i]);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static int valid_name(const char *s, int allow_colon)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Copies v into dst (cap bytes incl. NUL) as valid UTF-8: bytes that are not well-formed
 * UTF-8 become U+FFFD, and the copy stops before a character that would not fit.
 * Returns the bytes written (without the NUL). */
static size_t copy_label_value(char *dst, size_t cap, const char *v)
{
    return utf8_sanitize_into(dst, cap, v ? v : "", v ? strlen(v) : 0);
}

/* Is v stored as it is: shorter than the cap and valid UTF-8? */
static int label_value_clean(const char *v)
{
    size_t n = strnlen(v, METRICS_LABEL_VALUE_MAX);
    return n < METRICS_LABEL_VALUE_MAX && utf8_valid(v, n);
}

static uint64_t hash_values(size_t n, const char *const *values)
{
    uint64_t h = HASH_FNV1A_SEED; /* values in order, each followed by 0xff (not in UTF-8) */
    for (size_t i = 0; i < n; i++)
        h = hash_fnv1a_byte(hash_fnv1a_str(h, values && values[i] ? values[i] : ""), 0xff);
    return h;
}

/* Allocates a series for f with the given values (NULL values: the overflow sink). */
static struct metrics_series *series_new(const struct metrics_family *f,
                                         const char *const *values, uint64_t hash)
{
    size_t ncounts = f->kind == METRICS_HISTOGRAM ? f->nbuckets + 1 : 0;
    struct metrics_series *s = calloc(1, sizeof *s + ncounts * sizeof s->counts[0]);
    if (!s)
        return NULL;
    s->fam = f;
    s->hash = hash;
    size_t bytes = f->nlabels * sizeof(char *);
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        size_t n = strlen(v);
        bytes += (n < METRICS_LABEL_VALUE_MAX ? n : METRICS_LABEL_VALUE_MAX) + 1;
    }
    s->values = malloc(bytes ? bytes : 1);
    if (!s->values) {
        free(s);
        return NULL;
    }
    char *p = (char *)(s->values + f->nlabels);
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = p;
        p += copy_label_value(p, METRICS_LABEL_VALUE_MAX, values ? values[i] : NULL) + 1;
    }
    return s;
}

static int family_new(struct metrics_registry *reg, enum metrics_kind kind, const char *name,
                      const char *help, const char *const *label_names, size_t nlabels,
                      const double *buckets, size_t nbuckets, struct metrics_family **out,
                      struct inferd_err *err)
{
    struct metrics_family *f = NULL;
    int rc = INFERD_EINVAL;
    int locked = 0;

    if (!reg || !out)
        return inferd_err_set(err, INFERD_EINVAL, "metrics: registry and out are required");
    if (!valid_name(name, 1))
        return inferd_err_set(err, INFERD_EINVAL, "metrics: name '%s' is not a valid metric name",
                              name ? name : "(null)");
    if (kind == METRICS_COUNTER && !ends_with(name, "_total"))
        return inferd_err_set(err, INFERD_EINVAL, "metrics: counter name '%s' must end in _total",
                              name);
    if (nlabels > METRICS_MAX_LABELS)
        return inferd_err_set(err, INFERD_EINVAL, "metrics: %s: %zu labels, the cap is %d", name,
                              nlabels, METRICS_MAX_LABELS);
    for (size_t i = 0; i < nlabels; i++) {
        const char *l = label_names[i];
        if (!valid_name(l, 0) || strncmp(l, "__", 2) == 0 ||
            (kind == METRICS_HISTOGRAM && strcmp(l, "le") == 0))
            return inferd_err_set(err, INFERD_EINVAL, "metrics: %s: label name '%s' is not allowed",
                                  name, l ? l : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(l, label_names[j]) == 0)
                return inferd_err_set(err, INFERD_EINVAL, "metrics: %s: label '%s' given twice",
                                      name, l);
    }
    if (kind == METRICS_HISTOGRAM) {
        if (nbuckets < 1 || nbuckets > METRICS_MAX_BUCKETS || !buckets)
            return inferd_err_set(err, INFERD_EINVAL, "metrics: %s: %zu buckets, need 1..%d", name,
                                  nbuckets, METRICS_MAX_BUCKETS);
        for (size_t i = 0; i < nbuckets; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                return inferd_err_set(err, INFERD_EINVAL,
                                      "metrics: %s: bucket %zu is not finite and increasing",
                                      name, i);
    }

    f = calloc(1, sizeof *f);
    if (!f)
        return inferd_err_set(err, INFERD_ENOMEM, "metrics: out of memory");
    pthread_mutex_init(&f->lock, NULL);
    f->reg = reg;
    f->kind = kind;
    f->max_series = METRICS_DEFAULT_MAX_SERIES;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help)
        goto nomem;
    for (size_t i = 0; i < nlabels; i++) {
        f->labels[i] = strdup(label_names[i]);
        if (!f->labels[i])
            goto nomem;
        f->nlabels = i + 1;
    }
    if (kind == METRICS_HISTOGRAM) {
        memcpy(f->buckets, buckets, nbuckets * sizeof *buckets);
        f->nbuckets = nbuckets;
    }
    f->overflow = series_new(f, NULL, 0);
    if (!f->overflow)
        goto nomem;

    pthread_mutex_lock(&reg->lock);
    locked = 1;
    for (size_t i = 0; i < reg->nfamilies; i++)
        if (strcmp(reg->families[i]->name, name) == 0) {
            rc = inferd_err_set(err, INFERD_EINVAL, "metrics: family '%s' already exists", name);
            goto fail;
        }
    if (reg->nfamilies == reg->families_cap) {
        size_t cap = reg->families_cap ? reg->families_cap * 2 : 16;
        struct metrics_family **nf = realloc(reg->families, cap * sizeof *nf);
        if (!nf)
            goto nomem;
        reg->families = nf;
        reg->families_cap = cap;
    }
    reg->families[reg->nfamilies++] = f;
    pthread_mutex_unlock(&reg->lock);
    if (nlabels == 0)
        (void)metrics_series_get(f, NULL); /* unlabelled: the one series exists from the start */
    *out = f;
    return 0;

nomem:
    rc = inferd_err_set(err, INFERD_ENOMEM, "metrics: out of memory creating '%s'", name);
fail:
    if (locked)
        pthread_mutex_unlock(&reg->lock);
    family_free(f);
    return rc;
}

int metrics_counter_new(struct metrics_registry *reg, const char *name, const char *help,
                        const char *const *label_names, size_t nlabels,
                        struct metrics_family **out, struct inferd_err *err)
{
    return family_new(reg, METRICS_COUNTER, name, help, label_names, nlabels, NULL, 0, out, err);
}

int metrics_gauge_new(struct metrics_registry *reg, const char *name, const char *help,
                      const char *const *label_names, size_t nlabels,
                      struct metrics_family **out, struct inferd_err *err)
{
    return family_new(reg, METRICS_GAUGE, name, help, label_names, nlabels, NULL, 0, out, err);
}

int metrics_histogram_new(struct metrics_registry *reg, const char *name, const char *help,
                          const char *const *label_names, size_t nlabels,
                          const double *buckets, size_t nbuckets,
                          struct metrics_family **out, struct inferd_err *err)
{
    return family_new(reg, METRICS_HISTOGRAM, name, help, label_names, nlabels, buckets,
                      nbuckets, out, err);
}

void metrics_family_set_max_series(struct metrics_family *f, size_t max_series)
{
    if (!f || max_series < 1)
        return;
    pthread_mutex_lock(&f->lock);
    f->max_series = max_series;
    pthread_mutex_unlock(&f->lock);
}

int metrics_buckets_exponential(double start, double factor, size_t n, double *out)
{
    if (!out || n < 1 || n > METRICS_MAX_BUCKETS || !(start > 0) || !(factor > 1))
        return INFERD_EINVAL;
    double v = start;
    for (size_t i = 0; i < n; i++, v *= factor)
        out[i] = v;
    return 0;
}

/* Does s carry exactly these (normalised) values? */
static int series_matches(const struct metrics_series *s, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return 0;
    return 1;
}

/* Finds values in f's hash table. Lock-free: safe with concurrent inserts (see
 * metrics_int.h); a miss may be stale, so callers re-check under f->lock. */
static struct metrics_series *find(const struct metrics_family *f, const char *const *values,
                                   uint64_t hash)
{
    struct metrics_table *t = atomic_load_explicit(&f->table, memory_order_acquire);
    if (!t)
        return NULL;
    for (size_t i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        struct metrics_series *s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (!s)
            return NULL;
        if (s->hash == hash && series_matches(s, f->nlabels, values))
            return s;
    }
}

static void table_put(struct metrics_table *t, struct metrics_series *s)
{
    size_t i = s->hash & (t->cap - 1);
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed))
        i = (i + 1) & (t->cap - 1);
    atomic_store_explicit(&t->slots[i], s, memory_order_release);
}

/* Inserts s into f's table and order list; caller holds f->lock. Returns 0 or -1. */
static int insert_locked(struct metrics_family *f, struct metrics_series *s)
{
    if (f->nseries == f->order_cap) {
        size_t cap = f->order_cap ? f->order_cap * 2 : 8;
        struct metrics_series **no = realloc(f->order, cap * sizeof *no);
        if (!no)
            return -1;
        f->order = no;
        f->order_cap = cap;
    }
    struct metrics_table *t = atomic_load_explicit(&f->table, memory_order_relaxed);
    if (!t || (f->nseries + 1) * 2 > t->cap) {
        size_t cap = t ? t->cap * 2 : 16;
        struct metrics_table *nt = calloc(1, sizeof *nt + cap * sizeof nt->slots[0]);
        if (!nt)
            return -1;
        nt->cap = cap;
        for (size_t k = 0; k < f->nseries; k++)
            table_put(nt, f->order[k]);
        atomic_store_explicit(&f->table, nt, memory_order_release);
        if (t) { /* readers may still be probing it */
            t->next = f->retired;
            f->retired = t;
        }
        t = nt;
    }
    f->order[f->nseries++] = s;
    table_put(t, s);
    return 0;
}

struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values)
{
    /* Normalise: NULL -> "", over-long or non-UTF-8 values as they will be stored. */
    const char *norm[METRICS_MAX_LABELS];
    char cut[METRICS_MAX_LABELS][METRICS_LABEL_VALUE_MAX];
    for (size_t i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        if (!label_value_clean(v)) {
            copy_label_value(cut[i], sizeof cut[i], v);
            v = cut[i];
        }
        norm[i] = v;
    }
    uint64_t hash = hash_values(f->nlabels, norm);
    struct metrics_series *s = find(f, norm, hash);
    if (s) {
        if (atomic_load_explicit(&s->hidden, memory_order_relaxed))
            atomic_store_explicit(&s->hidden, 0, memory_order_relaxed); /* in use again */
        return s;
    }

    pthread_mutex_lock(&f->lock);
    s = find(f, norm, hash); /* another thread may have made it meanwhile */
    if (!s && f->nseries < f->max_series) {
        s = series_new(f, norm, hash);
        if (s && insert_locked(f, s) < 0) {
            series_free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (s)
        return s;
    atomic_fetch_add_explicit(&f->dropped, 1, memory_order_relaxed);
    return f->overflow;
}

void metrics_add(struct metrics_series *s, double v)
{
    if (!s || isnan(v) || s->fam->kind == METRICS_HISTOGRAM)
        return;
    if (s->fam->kind == METRICS_COUNTER && !(v >= 0))
        return;
    atomic_add_double(&s->bits, v);
}

void metrics_set(struct metrics_series *s, double v)
{
    if (!s || s->fam->kind == METRICS_HISTOGRAM)
        return;
    atomic_store_explicit(&s->bits, double_bits(v), memory_order_relaxed);
}

void metrics_observe(struct metrics_series *s, double v)
{
    if (!s || isnan(v) || s->fam->kind != METRICS_HISTOGRAM)
        return;
    const struct metrics_family *f = s->fam;
    size_t lo = 0, hi = f->nbuckets; /* first bucket whose bound >= v; nbuckets = +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->buckets[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    assert(lo <= f->nbuckets); /* counts has nbuckets + 1 slots, the last for +Inf */
    atomic_fetch_add_explicit(&s->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&s->bits, v);
}

double metrics_value(const struct metrics_series *s)
{
    if (!s)
        return 0;
    if (s->fam->kind != METRICS_HISTOGRAM)
        return bits_double(atomic_load_explicit(&s->bits, memory_order_relaxed));
    uint64_t n = 0;
    for (size_t i = 0; i <= s->fam->nbuckets; i++)
        n += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
    return (double)n;
}

double metrics_hist_sum(const struct metrics_series *s)
{
    if (!s || s->fam->kind != METRICS_HISTOGRAM)
        return 0;
    return bits_double(atomic_load_explicit(&s->bits, memory_order_relaxed));
}

int metrics_add_owned_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx,
                                void (*free_ctx)(void *), struct inferd_err *err)
{
    int rc = 0;
    if (!reg || !fn) {
        rc = inferd_err_set(err, INFERD_EINVAL, "metrics: collector needs a registry and fn");
        goto fail;
    }
    pthread_mutex_lock(&reg->lock);
    if (reg->ncollectors == METRICS_MAX_COLLECTORS) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "metrics: more than %d collectors",
                            METRICS_MAX_COLLECTORS);
    } else {
        reg->collectors[reg->ncollectors] = fn;
        reg->collector_ctx[reg->ncollectors] = ctx;
        reg->collector_free[reg->ncollectors] = free_ctx;
        reg->ncollectors++;
    }
    pthread_mutex_unlock(&reg->lock);
    if (rc == 0)
        return 0;
fail:
    if (free_ctx)
        free_ctx(ctx);
    return rc;
}

int metrics_add_collector(struct metrics_registry *reg, metrics_collect_fn fn, void *ctx,
                          struct inferd_err *err)
{
    return metrics_add_owned_collector(reg, fn, ctx, NULL, err);
}
