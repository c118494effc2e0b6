/* log.c — JSON-lines event log with reopen-on-SIGHUP support and rotation by size. */
#include "base/log.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/json_write.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;          /* NULL = stderr */
static char *log_path;        /* owned copy of the file name, NULL for stderr */
static atomic_int log_min = LOG_INFO; /* read without the lock by the writers */
/* The last LOG_RECENT_MAX warn/error lines (for the dashboard), a ring under log_mu. */
static char log_recent_lines[LOG_RECENT_MAX][LOG_LINE_MAX];
static unsigned log_recent_next;  /* total lines ever kept; the next slot is next % MAX */
static size_t log_max_bytes;  /* rotate at this size; 0 = never (under log_mu) */
static int log_keep = 5;      /* rotated files kept */
static size_t log_size;       /* bytes in the current file, as far as we wrote them */

/* The size of fp's file, or 0. */
static size_t file_size(FILE *fp)
{
    struct stat st;
    return fp && fstat(fileno(fp), &st) == 0 ? (size_t)st.st_size : 0;
}

int log_shift_files(const char *path, int keep)
{
    size_t n = strlen(path) + 16;
    char *from = malloc(n), *to = malloc(n);
    int rc = 0;
    if (!from || !to) {
        rc = -ENOMEM;
        goto out;
    }
    /* only the run of files that exists moves (a young log has few): .1 .. .top-1 */
    int top = 1;
    struct stat st;
    for (; top < keep; top++) {
        snprintf(from, n, "%s.%d", path, top);
        if (stat(from, &st) < 0)
            break;
    }
    for (int i = top - 1; i >= 1; i--) {
        snprintf(from, n, "%s.%d", path, i);
        snprintf(to, n, "%s.%d", path, i + 1);
        rename(from, to);
    }
    snprintf(to, n, "%s.1", path);
    if (rename(path, to) < 0)
        rc = -errno;
out:
    free(from);
    free(to);
    return rc;
}

/* Size rotation, under log_mu: the file moves to .1 and a new one starts. On failure the
 * log keeps writing where it was (and tries again after the next line). */
static void rotate_locked(void)
{
    if (log_shift_files(log_path, log_keep) < 0)
        return;
    FILE *fp = fopen(log_path, "a");
    if (!fp)
        return; /* the old FILE (now at .1) goes on */
    setvbuf(fp, NULL, _IOLBF, 0);
    fclose(log_fp);
    log_fp = fp;
    log_size = 0;
}

void log_set_rotation(size_t max_bytes, int keep)
{
    pthread_mutex_lock(&log_mu);
    log_max_bytes = max_bytes;
    log_keep = keep < 1 ? 1 : keep;
    pthread_mutex_unlock(&log_mu);
}

static const char *level_name(enum log_level l)
{
    switch (l) {
    case LOG_DEBUG: return "debug";
    case LOG_INFO: return "info";
    case LOG_WARN: return "warn";
    default: return "error";
    }
}

int log_open(const char *path, enum log_level min_level)
{
    FILE *fp = NULL;
    char *copy = NULL;
    if (path) {
        fp = fopen(path, "a");
        if (!fp)
            return -errno;
        copy = strdup(path);
        if (!copy) {
            fclose(fp);
            return -ENOMEM;
        }
        setvbuf(fp, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    free(log_path);
    log_fp = fp;
    log_path = copy;
    log_size = file_size(fp);
    atomic_store(&log_min, (int)min_level);
    pthread_mutex_unlock(&log_mu);
    return 0;
}

int log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&log_mu);
    if (log_path) {
        FILE *fp = fopen(log_path, "a");
        if (!fp) {
            rc = -errno;
        } else {
            setvbuf(fp, NULL, _IOLBF, 0);
            fclose(log_fp);
            log_fp = fp;
            log_size = file_size(fp);
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (log_fp)
        fclose(log_fp);
    free(log_path);
    log_fp = NULL;
    log_path = NULL;
    pthread_mutex_unlock(&log_mu);
}

void log_set_level(enum log_level min_level)
{
    atomic_store(&log_min, (int)min_level);
}

/* A string field value: escaped, cut at LOG_VALUE_MAX escaped bytes. */
static void put_value(struct buf *b, const char *v, size_t n)
{
    char esc[LOG_VALUE_MAX + 1];
    json_write_escape(esc, sizeof esc, v, n, NULL);
    buf_putc(b, '"');
    buf_puts(b, esc);
    buf_putc(b, '"');
}

/* Starts a line in b: {"ts":…,"level":…,"msg":… (no closing brace). */
static void line_open(struct buf *b, enum log_level level, const char *msg)
{
    char ts[40];
    clock_rfc3339(clock_wall_ms(), ts, sizeof ts);
    buf_init(b, LOG_LINE_MAX - 2); /* room for "}\n" */
    buf_puts(b, "{\"ts\":\"");
    buf_puts(b, ts);
    buf_puts(b, "\",\"level\":\"");
    buf_puts(b, level_name(level));
    buf_puts(b, "\",\"msg\":");
    put_value(b, msg, msg ? strlen(msg) : 0);
}

/* Appends one field to b, or leaves b as it was when the field does not fit. */
static void line_field(struct buf *b, const char *key, const char *v, size_t n, const json_t *j)
{
    size_t mark = b->len;
    buf_putc(b, ',');
    put_value(b, key, strlen(key));
    buf_putc(b, ':');
    if (!j) {
        put_value(b, v, n);
    } else if (json_is_string(j)) {
        put_value(b, json_string_value(j), json_string_length(j));
    } else if (json_is_integer(j)) {
        json_write_i64(b, (int64_t)json_integer_value(j));
    } else if (json_is_real(j)) {
        json_write_f64(b, json_real_value(j));
    } else {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_puts(b, s ? s : "null");
        free(s);
    }
    if (buf_rc(b) == INFERD_ETOOLARGE)
        buf_truncate(b, mark); /* drop this field, keep the line */
}

/* Ends the line and writes it under the lock; keeps warnings and errors in the ring. */
static void line_write(struct buf *b, enum log_level level)
{
    const char *line = buf_str(b);
    if (line) {
        pthread_mutex_lock(&log_mu);
        FILE *fp = log_fp ? log_fp : stderr;
        int n = fprintf(fp, "%s}\n", line);
        fflush(fp);
        if (level >= LOG_WARN)
            snprintf(log_recent_lines[log_recent_next++ % LOG_RECENT_MAX], LOG_LINE_MAX, "%s}", line);
        log_size += n > 0 ? (size_t)n : 0;
        if (log_max_bytes && log_fp && log_size >= log_max_bytes)
            rotate_locked();
        pthread_mutex_unlock(&log_mu);
    }
    buf_free(b);
}

static int enabled(enum log_level level)
{
    return (int)level >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

void log_event(enum log_level level, const char *msg, ...)
{
    if (!enabled(level))
        return;
    struct buf b;
    line_open(&b, level, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *v = va_arg(ap, const char *);
        line_field(&b, key, v, v ? strlen(v) : 0, NULL);
    }
    va_end(ap);
    line_write(&b, level);
}

void log_json(enum log_level level, const char *msg, json_t *fields)
{
    if (enabled(level)) {
        struct buf b;
        line_open(&b, level, msg);
        const char *key;
        json_t *v;
        if (json_is_object(fields))
            json_object_foreach(fields, key, v) line_field(&b, key, NULL, 0, v);
        line_write(&b, level);
    }
    json_decref(fields);
}

json_t *log_recent(size_t max)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    pthread_mutex_lock(&log_mu);
    unsigned n = log_recent_next < LOG_RECENT_MAX ? log_recent_next : LOG_RECENT_MAX;
    if (max < n)
        n = (unsigned)max;
    for (unsigned i = log_recent_next - n; i != log_recent_next; i++) {
        json_t *j = json_loads(log_recent_lines[i % LOG_RECENT_MAX], 0, NULL);
        if (j)
            json_array_append_new(a, j);
    }
    pthread_mutex_unlock(&log_mu);
    return a;
}
