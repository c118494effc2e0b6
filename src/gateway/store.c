/* store.c — the gateway's SQLite state: channels and keys written at once, history rows
 * queued and written by one thread in a transaction per second (see store.h). */
#include "gateway/store.h"

#include "base/clock.h"
#include "base/log.h"

#include <nettle/sha2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { Q_REQUEST, Q_PROBE, Q_SAMPLE, Q_USAGE };
#define QS 6 /* strings per queued row */
#define QD 7 /* doubles */
#define QI 4 /* integers */

/* One queued row; kind says which columns s/d/i hold (see the writers below). */
struct qrow {
    int kind;
    int64_t ts_ms;
    char *s[QS];
    double d[QD];
    int64_t i[QI];
};

struct gw_store {
    sqlite3 *w;               /* the writer connection (channels, keys, history) */
    sqlite3 *r;               /* the reader connection (reports) */
    pthread_mutex_t wmu;      /* guards w */
    pthread_mutex_t rmu;      /* guards r (gw_store_reader_lock) */
    pthread_mutex_t qmu;      /* guards q, nq, cap, stop, flush_gen */
    pthread_cond_t qcv;       /* writer wakes: rows, flush or stop */
    pthread_cond_t done_cv;   /* flushers wait for flushed_gen */
    struct qrow *q;
    size_t nq, cap;
    bool stop;
    uint64_t flush_gen, flushed_gen;
    atomic_uint_least64_t dropped;
    int64_t retention_s;
    int64_t last_prune_ms;
    pthread_t writer;
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS channels(id TEXT PRIMARY KEY, def TEXT NOT NULL, source TEXT NOT NULL,"
    " created_ms INTEGER, updated_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS api_keys(id TEXT PRIMARY KEY, name TEXT, key_hash TEXT UNIQUE,"
    " key_hint TEXT, rate_per_s REAL, burst REAL, quota_requests INTEGER, quota_tokens INTEGER,"
    " used_requests INTEGER DEFAULT 0, used_tokens INTEGER DEFAULT 0, created_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS requests(ts_ms INTEGER, request_id TEXT, key_id TEXT, model TEXT,"
    " route TEXT, channel_id TEXT, status INTEGER, latency_ms REAL, ttft_ms REAL, attempts INTEGER,"
    " error TEXT, busy INTEGER, tokens INTEGER);"
    "CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts_ms);"
    "CREATE TABLE IF NOT EXISTS probes(ts_ms INTEGER, channel_id TEXT, model TEXT, kind TEXT, ok INTEGER,"
    " latency_ms REAL, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS probes_ts ON probes(ts_ms);"
    "CREATE TABLE IF NOT EXISTS samples(ts_ms INTEGER, channel_id TEXT, state TEXT, score REAL,"
    " availability REAL, quality REAL, latency_ms REAL, p50 REAL, p95 REAL, p99 REAL, requests INTEGER,"
    " errors INTEGER, outstanding INTEGER);"
    "CREATE INDEX IF NOT EXISTS samples_ts ON samples(channel_id, ts_ms);";

static int sql_fail(sqlite3 *db, const char *what, struct inferd_err *err)
{
    return inferd_err_set(err, INFERD_EIO, "gateway state: %s: %s", what, db ? sqlite3_errmsg(db) : "no database");
}

static void qrow_free(struct qrow *q)
{
    for (int k = 0; k < QS; k++)
        free(q->s[k]);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
    sqlite3_bind_text(st, col, s ? s : "", -1, SQLITE_TRANSIENT);
}

/* Writes rows [0, n) in one transaction. */
static void write_rows(struct gw_store *st, struct qrow *rows, size_t n)
{
    static const char *sql[] = {
        [Q_REQUEST] = "INSERT INTO requests VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [Q_PROBE] = "INSERT INTO probes VALUES(?,?,?,?,?,?,?)",
        [Q_SAMPLE] = "INSERT INTO samples VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [Q_USAGE] = "UPDATE api_keys SET used_requests=used_requests+?2, used_tokens=used_tokens+?3 WHERE id=?1",
    };
    sqlite3_stmt *stmts[4] = {0};
    pthread_mutex_lock(&st->wmu);
    sqlite3_exec(st->w, "BEGIN", NULL, NULL, NULL);
    for (int k = 0; k < 4; k++)
        if (sqlite3_prepare_v2(st->w, sql[k], -1, &stmts[k], NULL) != SQLITE_OK)
            log_event(LOG_ERROR, "gateway state: prepare failed", "reason", sqlite3_errmsg(st->w), NULL);
    for (size_t j = 0; j < n; j++) {
        struct qrow *q = &rows[j];
        sqlite3_stmt *s = stmts[q->kind];
        if (!s)
            continue;
        sqlite3_reset(s);
        switch (q->kind) {
        case Q_REQUEST:
            sqlite3_bind_int64(s, 1, q->ts_ms);
            for (int c = 0; c < 5; c++)
                bind_text(s, 2 + c, q->s[c]);           /* request_id key model route channel */
            sqlite3_bind_int64(s, 7, q->i[0]);           /* status */
            sqlite3_bind_double(s, 8, q->d[0]);          /* latency */
            sqlite3_bind_double(s, 9, q->d[1]);          /* ttft */
            sqlite3_bind_int64(s, 10, q->i[1]);          /* attempts */
            bind_text(s, 11, q->s[5]);                   /* error */
            sqlite3_bind_int64(s, 12, q->i[2]);          /* busy */
            sqlite3_bind_int64(s, 13, q->i[3]);          /* tokens */
            break;
        case Q_PROBE:
            sqlite3_bind_int64(s, 1, q->ts_ms);
            bind_text(s, 2, q->s[0]);
            bind_text(s, 3, q->s[1]);
            bind_text(s, 4, q->s[2]);
            sqlite3_bind_int64(s, 5, q->i[0]);
            sqlite3_bind_double(s, 6, q->d[0]);
            bind_text(s, 7, q->s[3]);
            break;
        case Q_SAMPLE:
            sqlite3_bind_int64(s, 1, q->ts_ms);
            bind_text(s, 2, q->s[0]);
            bind_text(s, 3, q->s[1]);
            for (int c = 0; c < 7; c++)
                sqlite3_bind_double(s, 4 + c, q->d[c]);
            for (int c = 0; c < 3; c++)
                sqlite3_bind_int64(s, 11 + c, q->i[c]);
            break;
        case Q_USAGE:
            bind_text(s, 1, q->s[0]);
            sqlite3_bind_int64(s, 2, q->i[0]);
            sqlite3_bind_int64(s, 3, q->i[1]);
            break;
        }
        if (sqlite3_step(s) != SQLITE_DONE)
            log_event(LOG_ERROR, "gateway state: write failed", "reason", sqlite3_errmsg(st->w), NULL);
    }
    for (int k = 0; k < 4; k++)
        sqlite3_finalize(stmts[k]);
    int64_t now = (int64_t)clock_wall_ms();
    if (now - st->last_prune_ms > 3600 * 1000) {
        st->last_prune_ms = now;
        char q[256];
        int64_t cut = now - st->retention_s * 1000;
        snprintf(q, sizeof q,
                 "DELETE FROM requests WHERE ts_ms<%lld; DELETE FROM probes WHERE ts_ms<%lld;"
                 " DELETE FROM samples WHERE ts_ms<%lld;",
                 (long long)cut, (long long)cut, (long long)cut);
        sqlite3_exec(st->w, q, NULL, NULL, NULL);
    }
    if (sqlite3_exec(st->w, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_event(LOG_ERROR, "gateway state: commit failed", "reason", sqlite3_errmsg(st->w), NULL);
        sqlite3_exec(st->w, "ROLLBACK", NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&st->wmu);
}

static void *writer_main(void *arg)
{
    struct gw_store *st = arg;
    pthread_mutex_lock(&st->qmu);
    for (;;) {
        if (!st->stop && st->flush_gen == st->flushed_gen) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&st->qcv, &st->qmu, &ts);
        }
        struct qrow *rows = st->q;
        size_t n = st->nq;
        uint64_t gen = st->flush_gen;
        bool stop = st->stop;
        st->q = NULL;
        st->nq = st->cap = 0;
        pthread_mutex_unlock(&st->qmu);
        if (n)
            write_rows(st, rows, n);
        for (size_t j = 0; j < n; j++)
            qrow_free(&rows[j]);
        free(rows);
        pthread_mutex_lock(&st->qmu);
        st->flushed_gen = gen;
        pthread_cond_broadcast(&st->done_cv);
        if (stop && st->nq == 0)
            break;
    }
    pthread_mutex_unlock(&st->qmu);
    return NULL;
}

/* Queues a row; takes ownership of its strings (freed here when the queue is full). */
static void enqueue(struct gw_store *st, struct qrow *row)
{
    pthread_mutex_lock(&st->qmu);
    if (st->nq == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        struct qrow *q = st->nq >= GW_STORE_QUEUE_MAX ? NULL : realloc(st->q, cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&st->qmu);
            atomic_fetch_add(&st->dropped, 1);
            qrow_free(row);
            return;
        }
        st->q = q;
        st->cap = cap;
    }
    st->q[st->nq++] = *row;
    pthread_mutex_unlock(&st->qmu);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int gw_store_open(const char *path, int64_t retention_s, struct gw_store **out, struct inferd_err *err)
{
    *out = NULL;
    struct gw_store *st = calloc(1, sizeof *st);
    if (!st)
        return inferd_err_set(err, INFERD_ENOMEM, "gateway state: out of memory");
    st->retention_s = retention_s > 0 ? retention_s : 7 * 86400;
    st->last_prune_ms = 0;
    pthread_mutex_init(&st->wmu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_mutex_init(&st->qmu, NULL);
    pthread_cond_init(&st->qcv, NULL);
    pthread_cond_init(&st->done_cv, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    bool mem = strcmp(path, ":memory:") == 0;
    /* an in-memory database is private to its connection: share it between ours */
    const char *p = mem ? "file:gwstate?mode=memory&cache=shared" : path;
    if (mem)
        flags |= SQLITE_OPEN_URI;
    int rc;
    if (sqlite3_open_v2(p, &st->w, flags, NULL) != SQLITE_OK) {
        rc = inferd_err_set(err, INFERD_EIO, "gateway state %s: %s", path, sqlite3_errmsg(st->w));
        goto fail;
    }
    sqlite3_busy_timeout(st->w, 5000);
    /* it holds upstream API keys: owner-only (SQLite gives -wal and -shm the same mode) */
    if (!mem)
        chmod(path, 0600);
    char *msg = NULL;
    if (sqlite3_exec(st->w, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        rc = inferd_err_set(err, INFERD_EIO, "gateway state %s: %s", path, msg ? msg : "schema failed");
        sqlite3_free(msg);
        goto fail;
    }
    if (sqlite3_open_v2(p, &st->r, (flags & ~SQLITE_OPEN_CREATE), NULL) != SQLITE_OK) {
        rc = inferd_err_set(err, INFERD_EIO, "gateway state %s: %s", path, sqlite3_errmsg(st->r));
        goto fail;
    }
    sqlite3_busy_timeout(st->r, 5000);
    if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "gateway state: cannot start the writer thread");
        goto fail;
    }
    *out = st;
    return 0;
fail:
    sqlite3_close(st->r);
    sqlite3_close(st->w);
    free(st);
    return rc;
}

void gw_store_close(struct gw_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->qmu);
    st->stop = true;
    pthread_cond_signal(&st->qcv);
    pthread_mutex_unlock(&st->qmu);
    pthread_join(st->writer, NULL);
    sqlite3_close(st->r);
    sqlite3_close(st->w);
    pthread_mutex_destroy(&st->wmu);
    pthread_mutex_destroy(&st->rmu);
    pthread_mutex_destroy(&st->qmu);
    pthread_cond_destroy(&st->qcv);
    pthread_cond_destroy(&st->done_cv);
    free(st);
}

/* Runs one statement with text parameters (NULL ends them). */
static int exec_text(struct gw_store *st, const char *sql, const char *what, struct inferd_err *err,
                     int64_t num, const char *a, const char *b, const char *c)
{
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(st->w, sql, -1, &s, NULL) != SQLITE_OK) {
        rc = sql_fail(st->w, what, err);
        goto out;
    }
    if (a)
        bind_text(s, 1, a);
    if (b)
        bind_text(s, 2, b);
    if (c)
        bind_text(s, 3, c);
    if (num >= 0)
        sqlite3_bind_int64(s, 4, num);
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = sql_fail(st->w, what, err);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

int gw_store_put_channel(struct gw_store *st, const char *id, const char *def_json, const char *source,
                         struct inferd_err *err)
{
    return exec_text(st,
                     "INSERT INTO channels(id,def,source,created_ms,updated_ms) VALUES(?1,?2,?3,?4,?4)"
                     " ON CONFLICT(id) DO UPDATE SET def=?2, source=?3, updated_ms=?4",
                     "saving a channel", err, (int64_t)clock_wall_ms(), id, def_json, source);
}

int gw_store_delete_channel(struct gw_store *st, const char *id, struct inferd_err *err)
{
    return exec_text(st, "DELETE FROM channels WHERE id=?1", "deleting a channel", err, -1, id, NULL, NULL);
}

int gw_store_each_channel(struct gw_store *st,
                          void (*fn)(void *ctx, const char *id, const char *def, const char *source), void *ctx,
                          struct inferd_err *err)
{
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(st->w, "SELECT id, def, source FROM channels ORDER BY created_ms, id", -1, &s, NULL) !=
        SQLITE_OK) {
        rc = sql_fail(st->w, "reading channels", err);
        goto out;
    }
    while (sqlite3_step(s) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
           (const char *)sqlite3_column_text(s, 2));
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

static void sha256_hex(const char *key, char hex[65])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, strlen(key), (const uint8_t *)key);
    sha256_digest(&c, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void gw_store_key_hash(const char *key, char hex[65])
{
    sha256_hex(key, hex);
}

int gw_store_put_key(struct gw_store *st, const struct gw_key_row *k, const char *key, struct inferd_err *err)
{
    char hex[65];
    sha256_hex(key, hex);
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(st->w,
                           "INSERT INTO api_keys(id,name,key_hash,key_hint,rate_per_s,burst,quota_requests,"
                           "quota_tokens,used_requests,used_tokens,created_ms) VALUES(?,?,?,?,?,?,?,?,0,0,?)",
                           -1, &s, NULL) != SQLITE_OK) {
        rc = sql_fail(st->w, "saving a key", err);
        goto out;
    }
    bind_text(s, 1, k->id);
    bind_text(s, 2, k->name);
    bind_text(s, 3, hex);
    bind_text(s, 4, k->key_hint);
    sqlite3_bind_double(s, 5, k->rate_per_s);
    sqlite3_bind_double(s, 6, k->burst);
    sqlite3_bind_int64(s, 7, k->quota_requests);
    sqlite3_bind_int64(s, 8, k->quota_tokens);
    sqlite3_bind_int64(s, 9, (int64_t)clock_wall_ms());
    int step = sqlite3_step(s);
    if (step == SQLITE_CONSTRAINT)
        rc = inferd_err_set(err, INFERD_EINVAL, "key: a key with this id or secret is already stored");
    else if (step != SQLITE_DONE)
        rc = sql_fail(st->w, "saving a key", err);
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

int gw_store_delete_key(struct gw_store *st, const char *id, struct inferd_err *err)
{
    return exec_text(st, "DELETE FROM api_keys WHERE id=?1", "deleting a key", err, -1, id, NULL, NULL);
}

int gw_store_each_key(struct gw_store *st, void (*fn)(void *ctx, const struct gw_key_row *k, const char *key_hash),
                      void *ctx, struct inferd_err *err)
{
    pthread_mutex_lock(&st->wmu);
    sqlite3_stmt *s = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(st->w,
                           "SELECT id,name,key_hint,rate_per_s,burst,quota_requests,quota_tokens,used_requests,"
                           "used_tokens,created_ms,key_hash FROM api_keys ORDER BY created_ms, id",
                           -1, &s, NULL) != SQLITE_OK) {
        rc = sql_fail(st->w, "reading keys", err);
        goto out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct gw_key_row k = {0};
        snprintf(k.id, sizeof k.id, "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(k.name, sizeof k.name, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(k.key_hint, sizeof k.key_hint, "%s", (const char *)sqlite3_column_text(s, 2));
        k.rate_per_s = sqlite3_column_double(s, 3);
        k.burst = sqlite3_column_double(s, 4);
        k.quota_requests = sqlite3_column_int64(s, 5);
        k.quota_tokens = sqlite3_column_int64(s, 6);
        k.used_requests = sqlite3_column_int64(s, 7);
        k.used_tokens = sqlite3_column_int64(s, 8);
        k.created_ms = sqlite3_column_int64(s, 9);
        fn(ctx, &k, (const char *)sqlite3_column_text(s, 10));
    }
out:
    sqlite3_finalize(s);
    pthread_mutex_unlock(&st->wmu);
    return rc;
}

void gw_store_add_usage(struct gw_store *st, const char *key_id, int64_t requests, int64_t tokens)
{
    struct qrow q = {.kind = Q_USAGE, .s = {dup_or_null(key_id)}, .i = {requests, tokens}};
    enqueue(st, &q);
}

void gw_store_log_request(struct gw_store *st, const struct gw_request_row *r)
{
    struct qrow q = {.kind = Q_REQUEST,
                     .ts_ms = r->ts_ms ? r->ts_ms : (int64_t)clock_wall_ms(),
                     .s = {dup_or_null(r->request_id), dup_or_null(r->key_id), dup_or_null(r->model),
                           dup_or_null(r->route), dup_or_null(r->channel_id), dup_or_null(r->error)},
                     .d = {r->latency_ms, r->ttft_ms},
                     .i = {r->status, r->attempts, r->busy, r->tokens}};
    enqueue(st, &q);
}

void gw_store_log_probe(struct gw_store *st, const struct gw_probe_row *r)
{
    struct qrow q = {.kind = Q_PROBE,
                     .ts_ms = r->ts_ms ? r->ts_ms : (int64_t)clock_wall_ms(),
                     .s = {dup_or_null(r->channel_id), dup_or_null(r->model), dup_or_null(r->kind),
                           dup_or_null(r->detail)},
                     .d = {r->latency_ms},
                     .i = {r->ok}};
    enqueue(st, &q);
}

void gw_store_log_sample(struct gw_store *st, const struct gw_sample_row *r)
{
    struct qrow q = {.kind = Q_SAMPLE,
                     .ts_ms = r->ts_ms ? r->ts_ms : (int64_t)clock_wall_ms(),
                     .s = {dup_or_null(r->channel_id), dup_or_null(r->state)},
                     .d = {r->score, r->availability, r->quality, r->latency_ms, r->p50, r->p95, r->p99},
                     .i = {r->requests, r->errors, r->outstanding}};
    enqueue(st, &q);
}

void gw_store_flush(struct gw_store *st)
{
    pthread_mutex_lock(&st->qmu);
    uint64_t gen = ++st->flush_gen;
    pthread_cond_signal(&st->qcv);
    while (st->flushed_gen < gen && !st->stop)
        pthread_cond_wait(&st->done_cv, &st->qmu);
    pthread_mutex_unlock(&st->qmu);
}

uint64_t gw_store_dropped(const struct gw_store *st)
{
    return atomic_load(&((struct gw_store *)st)->dropped);
}

sqlite3 *gw_store_reader_lock(struct gw_store *st)
{
    pthread_mutex_lock(&st->rmu);
    return st->r;
}

void gw_store_reader_unlock(struct gw_store *st)
{
    pthread_mutex_unlock(&st->rmu);
}
