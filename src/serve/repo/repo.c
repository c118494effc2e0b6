/* repo.c — model repository: scanning, version policy, loading/unloading, polling and
 * reference counting of model versions. */
#include "serve/repo/repo.h"

#include "base/hash.h"
#include "base/log.h"
#include "base/path.h"
#include "observe/families.h"
#include "pack/manifest.h"
#include "pack/sign.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define REPO_MAX_FAILED 16

struct failed_version {
    int64_t version;
    uint64_t sig;                    /* files' size+mtime when the load failed */
    char reason[INFERD_ERR_MSG_MAX]; /* the load error, shown by repo_index */
};

struct model_entry {
    char name[REPO_NAME_MAX];
    struct model_version *v[REPO_MAX_VERSIONS]; /* loaded, ascending by version */
    int nv;
    int on_disk;                     /* the folder exists at the last scan */
    int unloaded_by_api;             /* keep unloaded until repo_load */
    char reason[INFERD_ERR_MSG_MAX]; /* why nothing (or not the newest) is loaded */
    struct failed_version failed[REPO_MAX_FAILED];
    int n_failed;
};

struct repo {
    char root[PATH_MAX_LEN];
    struct repo_opts opts;           /* root points at this->root */
    pthread_mutex_t lock;            /* guards models[] and each entry's v[] */
    pthread_mutex_t sync;            /* one sync (poll, load, unload) at a time */
    struct model_entry *models[REPO_MAX_MODELS];
    int n_models;
    pthread_t poller;
    int have_poller;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stop;
    struct pack_keyring *trust;      /* opts.trust_file's keys; NULL = signatures not required */
};

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= REPO_NAME_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static void version_free(struct model_version *mv)
{
    sched_free(mv->sched);
    if (mv->model)
        mv->be->unload(mv->model);
    free(mv);
}

void repo_release(struct model_version *mv)
{
    if (!mv)
        return;
    int before = atomic_fetch_sub(&mv->refs, 1);
    assert(before >= 1); /* a release without its acquire */
    if (before == 1)
        version_free(mv);
}

static struct model_entry *find_entry(struct repo *r, const char *name)
{
    for (int i = 0; i < r->n_models; i++)
        if (strcmp(r->models[i]->name, name) == 0)
            return r->models[i];
    return NULL;
}

/* Size+mtime digest of the files in a version folder. readdir's order is not fixed, so
 * each file's hash is folded in with commutative operations (a sum and an xor): the digest
 * does not depend on the order files are listed in. */
static uint64_t version_sig(const char *dir)
{
    uint64_t sum = 0, xr = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    char path[PATH_MAX_LEN];
    while ((e = readdir(d))) {
        struct stat st;
        if (path_join(path, sizeof path, dir, e->d_name, NULL) < 0)
            continue;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        int64_t facts[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        uint64_t x = hash_fnv1a_str(hash_fnv1a(HASH_FNV1A_SEED, facts, sizeof facts), e->d_name);
        sum += x;
        xr ^= x;
    }
    closedir(d);
    return sum ^ (xr * HASH_FNV1A_PRIME);
}

struct llm_model *model_version_llm(const struct model_version *mv, unsigned cap)
{
    if (!cap || !model_version_can(mv, cap) || !mv->be->llm)
        return NULL;
    return mv->be->llm(mv->model);
}

/* Loads version `version` of model `name` with the parsed config cfg: the backend the
 * folder's model file (or config.json "backend") names, its capabilities, and the batching
 * scheduler when it does tensor inference. OUT: *out. Returns 0 or INFERD_E*. */
static int load_version(struct repo *r, const char *name, const struct model_config *cfg, int64_t version,
                        struct model_version **out, struct inferd_err *err)
{
    struct model_version *mv = calloc(1, sizeof *mv);
    char path[PATH_MAX_LEN];
    int rc = 0;
    if (!mv)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    atomic_init(&mv->refs, 1);
    snprintf(mv->name, sizeof mv->name, "%s", name);
    mv->version = version;
    snprintf(mv->version_str, sizeof mv->version_str, "%lld", (long long)version);
    if (snprintf(mv->dir, sizeof mv->dir, "%s/%s/%lld", r->root, name, (long long)version) >= (int)sizeof mv->dir) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "%.200s...: the version folder's path is longer than %zu bytes",
                            r->root, sizeof mv->dir - 1);
        goto fail;
    }
    if (cfg->backend[0] && !backend_find(cfg->backend)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "config.json: backend: unknown backend '%s'", cfg->backend);
        goto fail;
    }
    mv->be = backend_for_dir(mv->dir, cfg->backend[0] ? cfg->backend : NULL);
    if (!mv->be) {
        rc = backend_none_error(mv->dir, err);
        goto fail;
    }
    /* Under --trust the signed manifest must cover every file in the folder (so the model
     * file too); without, the manifest is optional and checked when there. */
    if (r->trust) {
        rc = pack_verify_as(mv->dir, r->trust, name, version, err);
        /* config.json of the model folder is read by the server but lies outside the
         * version's manifest: it must equal the version's signed copy */
        char mdir[PATH_MAX_LEN], mcfg[PATH_MAX_LEN], vcfg[PATH_MAX_LEN];
        snprintf(mdir, sizeof mdir, "%s", mv->dir);
        char *slash = strrchr(mdir, '/');
        if (slash)
            *slash = '\0'; /* the version folder's parent: the model folder */
        if (rc == 0 && (rc = path_join(mcfg, sizeof mcfg, mdir, "config.json", err)) == 0 &&
            (rc = path_join(vcfg, sizeof vcfg, mv->dir, "config.json", err)) == 0 && access(mcfg, F_OK) == 0 &&
            !pack_same_small_file(mcfg, vcfg))
            rc = inferd_err_set(err, INFERD_EFORMAT,
                                "%s: differs from the signed %s (or that is missing): under --trust the model's "
                                "config must be the one its signature covers", mcfg, vcfg);
    } else

        rc = manifest_verify(mv->dir, mv->be->file_name, err);
    if (rc < 0)
        goto fail;
    rc = path_join(path, sizeof path, mv->dir, mv->be->file_name, err);
    if (rc < 0)
        goto fail;
    struct backend_load ld = {.name = mv->name, .version = version, .dir = mv->dir, .path = path, .cfg = cfg,
                              .pool = r->opts.pool, .max_elements = r->opts.max_elements,
                              .prefix_cache_mb = r->opts.prefix_cache_mb, .memory_budget_mb = r->opts.memory_budget_mb,
                              .metrics = r->opts.metrics};
    rc = mv->be->load(&ld, &mv->model, err);
    if (rc < 0) {
        if (err && !strstr(err->msg, path) && !strstr(err->msg, "config.json")) /* usually named already */
            inferd_err_prefix(err, "%s", path);
        goto fail;
    }
    mv->caps = mv->be->caps(mv->model);
    assert(!(mv->caps & MODEL_CAP_TENSOR) || mv->be->infer);
    assert(!(mv->caps & (MODEL_CAP_GENERATE | MODEL_CAP_EMBED)) || mv->be->llm);
    rc = mv->be->describe(mv->model, mv->in, &mv->n_in, mv->out, &mv->n_out, err);
    if (rc < 0)
        goto fail;
    if (!(mv->caps & MODEL_CAP_TENSOR)) { /* nothing to batch: no batching scheduler */
        *out = mv;
        return 0;
    }
    mv->max_batch_size = cfg->sched.max_batch_size;
    if (mv->max_batch_size > 0) {
        for (int i = 0; i < mv->n_in; i++) {
            if (mv->in[i].rank < 1) {
                rc = inferd_err_set(err, INFERD_EINVAL,
                                    "config.json: max_batch_size is %d but input '%s' has no batch dimension",
                                    mv->max_batch_size, mv->in[i].name);
                goto fail;
            }
        }
    }
    struct sched_config sc = cfg->sched;
    struct metrics_inferd *m = r->opts.metrics;
    if (m) {
        const char *lv[] = {mv->name, mv->version_str};
        sc.queue_depth = metrics_series_get(m->queue_depth, lv);
        sc.batch_size = metrics_series_get(m->batch_size, lv);
        sc.queue_duration = metrics_series_get(m->queue_duration, lv);
        sc.batch_wait_duration = metrics_series_get(m->batch_wait_duration, lv);
        sc.compute_duration = metrics_series_get(m->compute_duration, lv);
    }
    char sname[200];
    snprintf(sname, sizeof sname, "model '%s' version %lld", name, (long long)version);
    rc = sched_new(&sc, mv->be, mv->model, mv->n_in, mv->n_out, sname, &mv->sched, err);
    if (rc < 0)
        goto fail;
    *out = mv;
    return 0;
fail:
    version_free(mv);
    return rc;
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest `cap` numeric version folders of dir, newest first. Returns the count. */
static int list_versions(const char *dir, int64_t *out, int cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    enum { SCAN_MAX = 4096 };
    int64_t *all = malloc(SCAN_MAX * sizeof *all);
    if (!all) {
        closedir(d);
        return 0;
    }
    int n = 0;
    struct dirent *e;
    char path[PATH_MAX_LEN];
    while ((e = readdir(d)) && n < SCAN_MAX) {
        const char *s = e->d_name;
        if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 15)
            continue;
        int64_t v = strtoll(s, NULL, 10);
        struct stat st;
        if (v < 1 || path_join(path, sizeof path, dir, s, NULL) < 0 || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        all[n++] = v;
    }
    closedir(d);
    qsort(all, (size_t)n, sizeof *all, cmp_desc);
    if (n > cap)
        n = cap;
    memcpy(out, all, (size_t)n * sizeof *out);
    free(all);
    return n;
}

static void update_loaded_gauge(struct repo *r)
{
    if (r->opts.metrics)
        metrics_set(metrics_series_get(r->opts.metrics->models_loaded, NULL), repo_loaded_count(r));
}

/* Removes versions not in keep[0..nk) from e (all when nk < 0) and releases them. */
static void drop_versions(struct repo *r, struct model_entry *e, const int64_t *keep, int nk)
{
    struct model_version *gone[REPO_MAX_VERSIONS];
    int ng = 0;
    pthread_mutex_lock(&r->lock);
    int w = 0;
    for (int i = 0; i < e->nv; i++) {
        int k = 0;
        for (int j = 0; j < nk; j++)
            k |= keep[j] == e->v[i]->version;
        if (k)
            e->v[w++] = e->v[i];
        else
            gone[ng++] = e->v[i];
    }
    e->nv = w;
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < ng; i++) {
        log_json(LOG_INFO, "model version unloaded",
                 json_pack("{s:s,s:I}", "model", e->name, "version", (json_int_t)gone[i]->version));
        /* its series leave /metrics (requests still running on it are labelled version "") */
        if (r->opts.metrics)
            metrics_registry_hide(r->opts.metrics->reg,
                                  (const char *[]){"model", e->name, "version", gone[i]->version_str}, 2);
        repo_release(gone[i]);
    }
}

/* A model removed from disk or unloaded through the API: every series naming it leaves
 * /metrics until it loads again. */
static void hide_model_series(struct repo *r, const char *name)
{
    if (r->opts.metrics)
        metrics_registry_hide(r->opts.metrics->reg, (const char *[]){"model", name}, 1);
}

static void add_version(struct repo *r, struct model_entry *e, struct model_version *mv)
{
    pthread_mutex_lock(&r->lock);
    int i = e->nv;
    while (i > 0 && e->v[i - 1]->version > mv->version) {
        e->v[i] = e->v[i - 1];
        i--;
    }
    e->v[i] = mv;
    e->nv++;
    pthread_mutex_unlock(&r->lock);
}

/* Writes e->reason under the lock that readers (acquire, index) take. */
static void set_reason(struct repo *r, struct model_entry *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_reason(struct repo *r, struct model_entry *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->lock);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    pthread_mutex_unlock(&r->lock);
    va_end(ap);
}

static int is_loaded(struct model_entry *e, int64_t v)
{
    for (int i = 0; i < e->nv; i++)
        if (e->v[i]->version == v)
            return 1;
    return 0;
}

/* Brings one model in line with the disk. Caller holds r->sync. Returns the last load
 * error code (0 when none) with its message in err. */
static int sync_model(struct repo *r, const char *name, struct inferd_err *err)
{
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    if (!e && r->n_models < REPO_MAX_MODELS) {
        e = calloc(1, sizeof *e);
        if (e) {
            snprintf(e->name, sizeof e->name, "%s", name);
            r->models[r->n_models++] = e;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (!e)
        return inferd_err_set(err, INFERD_ETOOLARGE, "repository: more than %d models", REPO_MAX_MODELS);
    char dir[PATH_MAX_LEN];
    int rc = path_join(dir, sizeof dir, r->root, name, err);
    if (rc < 0)
        return rc;
    struct stat st;
    int on_disk = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    pthread_mutex_lock(&r->lock);
    e->on_disk = on_disk;
    pthread_mutex_unlock(&r->lock);
    if (!on_disk || e->unloaded_by_api) {
        int had = e->nv; /* the poller comes here every round for a removed model */
        drop_versions(r, e, NULL, 0);
        if (had)
            hide_model_series(r, name);
        set_reason(r, e, "%s", on_disk ? "unloaded through the repository API" : "removed from disk");
        return 0;
    }
    struct model_config cfg;
    struct inferd_err lerr = {0};
    rc = model_config_load(dir, &cfg, &lerr);
    if (rc < 0) {
        if (strcmp(e->reason, lerr.msg) != 0) {
            log_event(LOG_ERROR, "model config rejected; loaded versions keep serving", "model", name, "reason",
                      lerr.msg, NULL);
            set_reason(r, e, "%s", lerr.msg);
            if (r->opts.metrics)
                metrics_add(metrics_series_get(r->opts.metrics->model_load_failures, (const char *[]){name}), 1);
        }
        if (err)
            *err = lerr;
        return rc;
    }
    int64_t vers[REPO_MAX_VERSIONS], keep[REPO_MAX_VERSIONS] = {0}, bad[REPO_MAX_VERSIONS];
    int nv = list_versions(dir, vers, REPO_MAX_VERSIONS), nk = 0, nb = 0;
    int last_rc = 0;
    if (nv == 0) {
        last_rc = inferd_err_set(&lerr, INFERD_ENOTFOUND, "%s: no numeric version folder (e.g. %s/1/model.onnx)", dir, dir);
        set_reason(r, e, "%s", lerr.msg);
    }
    for (int i = 0; i < nv; i++) {
        int64_t v = vers[i];
        if (cfg.policy == POLICY_LATEST && nk >= cfg.num_versions)
            break;
        if (cfg.policy == POLICY_SPECIFIC) {
            int want = 0;
            for (int j = 0; j < cfg.n_versions; j++)
                want |= cfg.versions[j] == v;
            if (!want)
                continue;
        }
        if (is_loaded(e, v)) {
            keep[nk++] = v;
            continue;
        }
        char vdir[PATH_MAX_LEN], vname[24];
        snprintf(vname, sizeof vname, "%lld", (long long)v);
        if (path_join(vdir, sizeof vdir, dir, vname, NULL) < 0)
            continue; /* load_version names the cap for a path this long */
        uint64_t sig = version_sig(vdir);
        int seen = 0;
        for (int j = 0; j < e->n_failed; j++)
            seen |= e->failed[j].version == v && e->failed[j].sig == sig;
        if (seen) {
            bad[nb++] = v;
            continue;
        }
        struct model_version *mv = NULL;
        rc = load_version(r, name, &cfg, v, &mv, &lerr);
        if (rc < 0) {
            log_json(LOG_ERROR, "model version failed to load; older versions keep serving",
                     json_pack("{s:s,s:I,s:o}", "model", name, "version", (json_int_t)v, "reason",
                               json_stringn_nocheck(lerr.msg, strlen(lerr.msg))));
            if (r->opts.metrics)
                metrics_add(metrics_series_get(r->opts.metrics->model_load_failures, (const char *[]){name}), 1);
            pthread_mutex_lock(&r->lock);
            int slot = -1;
            for (int j = 0; j < e->n_failed && slot < 0; j++)
                if (e->failed[j].version == v)
                    slot = j;
            if (slot < 0)
                slot = e->n_failed < REPO_MAX_FAILED ? e->n_failed++ : (int)(v % REPO_MAX_FAILED);
            e->failed[slot].version = v;
            e->failed[slot].sig = sig;
            snprintf(e->failed[slot].reason, sizeof e->failed[slot].reason, "%s", lerr.msg);
            pthread_mutex_unlock(&r->lock);
            bad[nb++] = v;
            set_reason(r, e, "version %lld: %.480s", (long long)v, lerr.msg);
            last_rc = rc;
            continue;
        }
        log_json(LOG_INFO, "model version loaded",
                 json_pack("{s:s,s:I,s:s}", "model", name, "version", (json_int_t)v, "backend", mv->be->name));
        add_version(r, e, mv);
        keep[nk++] = v;
    }
    model_config_free(&cfg);
    drop_versions(r, e, keep, nk);
    /* Forget failures of versions no longer on disk or outside the policy. */
    pthread_mutex_lock(&r->lock);
    int nf = 0;
    for (int j = 0; j < e->n_failed; j++) {
        int still = 0;
        for (int k = 0; k < nb; k++)
            still |= bad[k] == e->failed[j].version;
        if (still)
            e->failed[nf++] = e->failed[j];
    }
    e->n_failed = nf;
    pthread_mutex_unlock(&r->lock);
    if (nk > 0 && last_rc == 0)
        set_reason(r, e, "%s", "");
    if (last_rc < 0 && err)
        *err = lerr;
    return nk > 0 ? 0 : last_rc;
}

void repo_poll(struct repo *r)
{
    pthread_mutex_lock(&r->sync);
    char(*names)[REPO_NAME_MAX] = malloc(REPO_MAX_MODELS * sizeof *names);
    int n = 0;
    DIR *d = names ? opendir(r->root) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && n < REPO_MAX_MODELS) {
            char path[PATH_MAX_LEN];
            struct stat st;
            if (!name_ok(e->d_name) || path_join(path, sizeof path, r->root, e->d_name, NULL) < 0 ||
                stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            snprintf(names[n++], REPO_NAME_MAX, "%.127s", e->d_name);
        }
        closedir(d);
    }
    for (int i = 0; i < n; i++)
        sync_model(r, names[i], NULL);
    /* models that vanished from disk */
    pthread_mutex_lock(&r->lock);
    int nm = r->n_models;
    pthread_mutex_unlock(&r->lock);
    for (int i = 0; i < nm; i++) {
        pthread_mutex_lock(&r->lock);
        struct model_entry *e = r->models[i];
        int on_disk = e->on_disk;
        pthread_mutex_unlock(&r->lock);
        int listed = 0;
        for (int j = 0; j < n; j++)
            listed |= strcmp(names[j], e->name) == 0;
        if (!listed && on_disk)
            sync_model(r, e->name, NULL);
    }
    update_loaded_gauge(r);
    free(names);
    pthread_mutex_unlock(&r->sync);
}

static void *poller_main(void *arg)
{
    struct repo *r = arg;
    pthread_mutex_lock(&r->stop_lock);
    while (!r->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)r->opts.poll_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&r->stop_cond, &r->stop_lock, &ts);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->stop_lock);
        repo_poll(r);
        pthread_mutex_lock(&r->stop_lock);
    }
    pthread_mutex_unlock(&r->stop_lock);
    return NULL;
}

int repo_open(const struct repo_opts *opts, struct repo **out, struct inferd_err *err)
{
    struct stat st;
    if (!opts->root || stat(opts->root, &st) != 0 || !S_ISDIR(st.st_mode))
        return inferd_err_set(err, INFERD_ENOTFOUND, "--models: '%s' is not a readable folder",
                              opts->root ? opts->root : "(none)");
    struct repo *r = calloc(1, sizeof *r);
    if (!r)
        return inferd_err_set(err, INFERD_ENOMEM, "repository: out of memory");
    int rc = path_copy(r->root, sizeof r->root, opts->root, err);
    if (rc < 0) {
        free(r);
        return rc;
    }
    r->opts = *opts;
    r->opts.root = r->root;
    if (opts->trust_file) {
        r->trust = malloc(sizeof *r->trust);
        if (!r->trust || (rc = pack_keyring_load(opts->trust_file, r->trust, err)) < 0) {
            if (!r->trust)
                rc = inferd_err_set(err, INFERD_ENOMEM, "repository: out of memory");
            else
                inferd_err_prefix(err, "--trust");
            free(r->trust);
            free(r);
            return rc;
        }
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->sync, NULL);
    pthread_mutex_init(&r->stop_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->stop_cond, &ca);
    pthread_condattr_destroy(&ca);
    repo_poll(r);
    if (opts->poll_ms > 0) {
        if (pthread_create(&r->poller, NULL, poller_main, r) != 0) {
            repo_close(r);
            return inferd_err_set(err, INFERD_EIO, "repository: cannot start the poll thread");
        }
        r->have_poller = 1;
    }
    *out = r;
    return 0;
}

void repo_close(struct repo *r)
{
    if (!r)
        return;
    if (r->have_poller) {
        pthread_mutex_lock(&r->stop_lock);
        r->stop = 1;
        pthread_cond_signal(&r->stop_cond);
        pthread_mutex_unlock(&r->stop_lock);
        pthread_join(r->poller, NULL);
    }
    for (int i = 0; i < r->n_models; i++) {
        drop_versions(r, r->models[i], NULL, 0);
        free(r->models[i]);
    }
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->sync);
    pthread_mutex_destroy(&r->stop_lock);
    pthread_cond_destroy(&r->stop_cond);
    free(r->trust);
    free(r);
}

int repo_acquire(struct repo *r, const char *name, int64_t version, struct model_version **mv,
                 struct inferd_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    if (!e || (!e->on_disk && e->nv == 0)) {
        rc = inferd_err_set(err, INFERD_ENOTFOUND, "model '%s' is not in the repository", name);
    } else if (e->nv == 0) {
        rc = inferd_err_set(err, INFERD_EUNAVAIL, "model '%s' has no loaded version%s%s", name, e->reason[0] ? ": " : "",
                            e->reason);
    } else if (version == 0) {
        *mv = e->v[e->nv - 1];
    } else {
        *mv = NULL;
        for (int i = 0; i < e->nv; i++)
            if (e->v[i]->version == version)
                *mv = e->v[i];
        if (!*mv) {
            char have[256] = "";
            size_t off = 0;
            for (int i = 0; i < e->nv && off < sizeof have - 24; i++)
                off += (size_t)snprintf(have + off, sizeof have - off, "%s%lld", i ? ", " : "", (long long)e->v[i]->version);
            rc = inferd_err_set(err, INFERD_ENOTFOUND, "model '%s' has no loaded version %lld (loaded: %s)", name,
                                (long long)version, have);
        }
    }
    if (rc == 0)
        atomic_fetch_add(&(*mv)->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int repo_load(struct repo *r, const char *name, struct inferd_err *err)
{
    if (!name_ok(name))
        return inferd_err_set(err, INFERD_EINVAL, "model name '%s': not a valid folder name", name);
    pthread_mutex_lock(&r->sync);
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    if (e) {
        e->unloaded_by_api = 0;
        e->n_failed = 0; /* an explicit load retries failed versions */
    }
    pthread_mutex_unlock(&r->lock);
    char dir[PATH_MAX_LEN];
    struct stat st;
    int rc = path_join(dir, sizeof dir, r->root, name, err);
    if (rc == 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        if (e)
            sync_model(r, name, NULL); /* its folder is gone: unload what it had */
        rc = inferd_err_set(err, INFERD_ENOTFOUND, "model '%s': no folder %s in the repository", name, dir);
    } else if (rc == 0)
        rc = sync_model(r, name, err);
    if (rc == 0) {
        pthread_mutex_lock(&r->lock);
        e = find_entry(r, name);
        if (!e || e->nv == 0)
            rc = inferd_err_set(err, INFERD_ENOTFOUND, "model '%s': no version matches its version policy", name);
        pthread_mutex_unlock(&r->lock);
    }
    update_loaded_gauge(r);
    pthread_mutex_unlock(&r->sync);
    return rc;
}

int repo_unload(struct repo *r, const char *name, struct inferd_err *err)
{
    pthread_mutex_lock(&r->sync);
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    if (e)
        e->unloaded_by_api = 1;
    pthread_mutex_unlock(&r->lock);
    int rc = 0;
    if (!e) {
        rc = inferd_err_set(err, INFERD_ENOTFOUND, "model '%s' is not in the repository", name);
    } else {
        drop_versions(r, e, NULL, 0);
        hide_model_series(r, name);
        set_reason(r, e, "unloaded through the repository API");
    }
    update_loaded_gauge(r);
    pthread_mutex_unlock(&r->sync);
    return rc;
}

int repo_acquire_first(struct repo *r, unsigned cap, struct model_version **mv)
{
    int rc = INFERD_ENOTFOUND;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n_models && rc != 0; i++) {
        struct model_entry *e = r->models[i];
        if (e->nv > 0 && model_version_can(e->v[e->nv - 1], cap)) {
            *mv = e->v[e->nv - 1];
            atomic_fetch_add(&(*mv)->refs, 1);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Appends one row to *rows (grown by doubling). Returns 0 or INFERD_ENOMEM. */
static int list_add(struct repo_entry **rows, size_t *n, size_t *cap, const char *name, int64_t version,
                    enum repo_state state, unsigned caps, const char *reason)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct repo_entry *g = realloc(*rows, nc * sizeof *g);
        if (!g)
            return INFERD_ENOMEM;
        *rows = g;
        *cap = nc;
    }
    struct repo_entry *x = &(*rows)[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->version = version;
    x->state = state;
    x->caps = caps;
    snprintf(x->reason, sizeof x->reason, "%s", reason);
    return 0;
}

int repo_list(struct repo *r, struct repo_entry **out, size_t *n_out)
{
    struct repo_entry *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n_models && rc == 0; i++) {
        struct model_entry *e = r->models[i];
        if (!e->on_disk && e->nv == 0)
            continue;
        for (int j = 0; j < e->nv && rc == 0; j++)
            rc = list_add(&rows, &n, &cap, e->name, e->v[j]->version, REPO_READY, e->v[j]->caps, "");
        /* versions that failed to load (Triton lists them as UNAVAILABLE with the reason) */
        int shown = 0;
        for (int j = 0; rc == 0 && e->on_disk && !e->unloaded_by_api && j < e->n_failed; j++, shown++)
            rc = list_add(&rows, &n, &cap, e->name, e->failed[j].version, REPO_UNAVAILABLE, 0, e->failed[j].reason);
        if (rc == 0 && e->nv == 0 && shown == 0)
            rc = list_add(&rows, &n, &cap, e->name, 0, REPO_UNAVAILABLE, 0, e->reason);
    }
    pthread_mutex_unlock(&r->lock);
    if (rc < 0) {
        free(rows);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

int repo_versions(struct repo *r, const char *name, int64_t *out, int cap)
{
    int n = 0;
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    for (int j = 0; e && j < e->nv; j++, n++)
        if (n < cap)
            out[n] = e->v[j]->version;
    pthread_mutex_unlock(&r->lock);
    return n;
}

int repo_has(struct repo *r, const char *name)
{
    pthread_mutex_lock(&r->lock);
    struct model_entry *e = find_entry(r, name);
    int known = e && (e->on_disk || e->nv > 0);
    pthread_mutex_unlock(&r->lock);
    return known;
}

int repo_loaded_count(struct repo *r)
{
    int n = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->n_models; i++)
        n += r->models[i]->nv;
    pthread_mutex_unlock(&r->lock);
    return n;
}

const struct pack_keyring *repo_trust(const struct repo *r)
{
    return r->trust;
}

const char *repo_root(const struct repo *r)
{
    return r->root;
}
