/* log.c — JSON-lines event log with reopen-on-SIGHUP support. */
#include "log.h"

#include "clock.h"
#include "utf8.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;          /* NULL = stderr */
static char *log_path;        /* owned copy of the file name, NULL for stderr */
static atomic_int log_min = LOG_INFO; /* read without the lock by log_msg */

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

char *log_json_escape(const char *src, char *dst, unsigned long cap)
{
    unsigned long o = 0;
    if (cap == 0)
        return dst;
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t len = strlen((const char *)s);
    for (size_t i = 0; i < len;) {
        char tmp[8];
        const char *out = tmp;
        size_t n, in = 1; /* bytes written, bytes consumed */
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            tmp[0] = '\\';
            tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else if (c < 0x20) {
            n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
        } else if (c < 0x80) {
            out = (const char *)s + i;
            n = 1;
        } else {
            /* JSON is UTF-8: a well-formed sequence goes whole, a bad byte as U+FFFD */
            size_t k = utf8_seq_len(s + i, len - i);
            out = k ? (const char *)s + i : UTF8_REPLACEMENT;
            n = k ? k : 3;
            in = k ? k : 1;
        }
        if (o + n >= cap)
            break; /* truncate between characters, never inside one */
        memcpy(dst + o, out, n);
        o += n;
        i += in;
    }
    dst[o] = '\0';
    return dst;
}

void log_msg(enum log_level level, const char *msg, const char *extra_fmt, ...)
{
    if ((int)level < atomic_load_explicit(&log_min, memory_order_relaxed))
        return;
    char ts[40];
    char esc[1024];
    char extra[2048] = "";
    clock_rfc3339(clock_wall_ms(), ts, sizeof ts);
    log_json_escape(msg, esc, sizeof esc);
    if (extra_fmt) {
        va_list ap;
        va_start(ap, extra_fmt);
        vsnprintf(extra, sizeof extra, extra_fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&log_mu);
    FILE *fp = log_fp ? log_fp : stderr;
    fprintf(fp, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"%s%s}\n", ts, level_name(level), esc,
            extra[0] ? "," : "", extra);
    fflush(fp);
    pthread_mutex_unlock(&log_mu);
}
