/* access_log.c — JSON-lines access log: one write(2) per line, reopen by dup2 on SIGHUP,
 * rotation by size (the writer whose line crosses the size moves the file and dup2s a new
 * one over the descriptor; other writers' lines land in one file or the other, whole). */
#include "observe/access_log.h"

#include "base/clock.h"
#include "base/log.h"
#include "base/json_write.h"
#include "base/rng.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct access_log {
    int fd;      /* the descriptor writers use; reopen swaps the file behind it with dup2 */
    int own_fd;  /* 1 when fd is ours to close (a file), 0 for stdout */
    char *path;  /* owned; NULL for stdout */
    size_t max_bytes;      /* rotate at this size; 0 = never */
    int keep;              /* rotated files kept */
    atomic_size_t size;    /* bytes in the current file, as far as we wrote them */
    atomic_int rotating;   /* one writer rotates; the others go on writing */
};

static size_t fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
}

void access_log_set_rotation(struct access_log *al, size_t max_bytes, int keep)
{
    if (!al || !al->path)
        return;
    al->keep = keep < 1 ? 1 : keep;
    al->max_bytes = max_bytes;
}

/* The file moves to .1 (older ones shift) and a new one takes its place behind al->fd. */
static void rotate(struct access_log *al)
{
    if (log_shift_files(al->path, al->keep) == 0) {
        int fd = open(al->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (dup3(fd, al->fd, O_CLOEXEC) >= 0) /* returns al->fd */
                atomic_store(&al->size, 0);
            close(fd);
        }
    }
    atomic_store(&al->rotating, 0);
}

int access_log_open(const char *path, struct access_log **out, struct inferd_err *err)
{
    struct access_log *al = NULL;
    int rc;
    if (!out)
        return inferd_err_set(err, INFERD_EINVAL, "access_log: out is required");
    al = calloc(1, sizeof *al);
    if (!al)
        return inferd_err_set(err, INFERD_ENOMEM, "access_log: out of memory");
    if (!path || strcmp(path, "-") == 0) {
        al->fd = STDOUT_FILENO;
        *out = al;
        return 0;
    }
    al->path = strdup(path);
    if (!al->path) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "access_log: out of memory");
        goto fail;
    }
    al->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (al->fd < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "access_log: open %s: %s", path, strerror(errno));
        goto fail;
    }
    al->own_fd = 1;
    atomic_init(&al->size, fd_size(al->fd));
    *out = al;
    return 0;
fail:
    free(al->path);
    free(al);
    return rc;
}

void access_log_close(struct access_log *al)
{
    if (!al)
        return;
    if (al->own_fd)
        close(al->fd);
    free(al->path);
    free(al);
}

int access_log_reopen(struct access_log *al)
{
    /* Only async-signal-safe calls: open, dup2, close; errno is preserved for the caller. */
    int saved = errno, rc = 0;
    if (!al || !al->path)
        return 0;
    int fd = open(al->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
    } else {
        if (dup3(fd, al->fd, O_CLOEXEC) < 0)
            rc = -errno;
        else
            atomic_store(&al->size, fd_size(fd)); /* fstat is async-signal-safe too */
        close(fd);
    }
    errno = saved;
    return rc;
}

/* Appends to the caller's fixed buffer (no allocation per request, unlike struct buf);
 * once it overflows, stays overflowed. */
struct line {
    char *p;
    size_t len, cap;
    int over;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->over || l->len + n + 1 > l->cap) {
        l->over = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
    l->p[l->len] = '\0';
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Writes "key":"escaped value", keeping at most ACCESS_LOG_FIELD_MAX bytes of escaped
 * value (cut at a character boundary, then "…"), so any record fits in ACCESS_LOG_LINE_MAX.
 * The escaping is base/json_write.h's: the line is always valid JSON. */
static void put_str(struct line *l, const char *key, const char *v, int comma)
{
    char esc[ACCESS_LOG_FIELD_MAX + 1];
    size_t len = v ? strlen(v) : 0, used;
    size_t n = json_write_escape(esc, sizeof esc, v, len, &used);
    if (comma)
        put(l, ",", 1);
    put(l, "\"", 1);
    puts_(l, key);
    put(l, "\":\"", 3);
    put(l, esc, n);
    if (used < len)
        puts_(l, "\xe2\x80\xa6"); /* U+2026 marks the cut */
    put(l, "\"", 1);
}

/* Writes ,"key":"id" for a trace or span id: at most ACCESS_LOG_TRACE_ID_MAX lowercase
 * hex digits, else "" (so the ids never push a record past ACCESS_LOG_LINE_MAX). */
static void put_id(struct line *l, const char *key, const char *v)
{
    size_t n = v ? strnlen(v, ACCESS_LOG_TRACE_ID_MAX + 1) : 0;
    if (n > ACCESS_LOG_TRACE_ID_MAX || strspn(v ? v : "", "0123456789abcdef") != n)
        n = 0;
    put(l, ",\"", 2);
    puts_(l, key);
    put(l, "\":\"", 3);
    put(l, v ? v : "", n);
    put(l, "\"", 1);
}

static void put_int(struct line *l, const char *key, long long v)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, ",\"%s\":%lld", key, v);
    put(l, buf, (size_t)n);
}

/* Milliseconds with microsecond resolution; non-finite values (not JSON) become 0. */
static void put_ms(struct line *l, const char *key, double v)
{
    char buf[96];
    int n = snprintf(buf, sizeof buf, ",\"%s\":%.3f", key, isfinite(v) ? v : 0.0);
    put(l, buf, (size_t)n);
}

int access_log_format(const struct access_record *rec, char *buf, size_t cap, size_t *len,
                      struct inferd_err *err)
{
    char ts[40];
    struct line l = {buf, 0, cap, 0};
    if (!rec || !buf || !cap)
        return inferd_err_set(err, INFERD_EINVAL, "access_log: record and buffer are required");
    clock_rfc3339(rec->ts_ms ? rec->ts_ms : clock_wall_ms(), ts, sizeof ts);
    put(&l, "{", 1);
    put_str(&l, "ts", ts, 0);
    put_str(&l, "request_id", rec->request_id, 1);
    put_id(&l, "trace_id", rec->trace_id);
    put_id(&l, "span_id", rec->span_id);
    put_id(&l, "parent_span_id", rec->parent_span_id);
    put_str(&l, "method", rec->method, 1);
    put_str(&l, "path", rec->path, 1);
    put_int(&l, "status", rec->status);
    put_str(&l, "model", rec->model, 1);
    put_str(&l, "version", rec->version, 1);
    put_str(&l, "protocol", rec->protocol, 1);
    put_int(&l, "bytes_in", (long long)rec->bytes_in);
    put_int(&l, "bytes_out", (long long)rec->bytes_out);
    put_ms(&l, "duration_ms", rec->duration_ms);
    put_ms(&l, "queue_ms", rec->queue_ms);
    put_ms(&l, "compute_ms", rec->compute_ms);
    if (rec->decode_ms > 0 || rec->encode_ms > 0) { /* the phases of a tensor request */
        put_ms(&l, "decode_ms", rec->decode_ms);
        put_ms(&l, "batch_wait_ms", rec->batch_wait_ms);
        put_ms(&l, "encode_ms", rec->encode_ms);
    }
    put_str(&l, "remote_addr", rec->remote_addr, 1);
    put_str(&l, "user_agent", rec->user_agent, 1);
    if (rec->llm) {
        put_int(&l, "prompt_tokens", (long long)rec->prompt_tokens);
        put_int(&l, "completion_tokens", (long long)rec->completion_tokens);
        put_ms(&l, "ttft_ms", rec->ttft_ms);
        put_ms(&l, "tokens_per_s", rec->tokens_per_s);
        put_str(&l, "finish_reason", rec->finish_reason, 1);
    }
    if (rec->channel)
        put_str(&l, "channel", rec->channel, 1);
    if (rec->attempts_json && strlen(rec->attempts_json) <= ACCESS_LOG_ATTEMPTS_MAX) {
        puts_(&l, ",\"attempts\":");
        puts_(&l, rec->attempts_json);
    }
    put(&l, "}\n", 2);
    if (l.over) {
        if (cap)
            buf[0] = '\0';
        return inferd_err_set(err, INFERD_ETOOLARGE,
                              "access_log: line does not fit in %zu bytes", cap);
    }
    if (len)
        *len = l.len;
    return 0;
}

int access_log_write(struct access_log *al, const struct access_record *rec,
                     struct inferd_err *err)
{
    char buf[ACCESS_LOG_LINE_MAX];
    size_t len;
    if (!al)
        return inferd_err_set(err, INFERD_EINVAL, "access_log: log is required");
    int rc = access_log_format(rec, buf, sizeof buf, &len, err);
    if (rc < 0)
        return rc;
    for (;;) {
        ssize_t n = write(al->fd, buf, len);
        if (n == (ssize_t)len) {
            if (al->max_bytes && atomic_fetch_add(&al->size, len) + len >= al->max_bytes &&
                !atomic_exchange(&al->rotating, 1))
                rotate(al);
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* A short write would split the line; report it rather than write the rest later. */
        return inferd_err_set(err, INFERD_EIO, "access_log: write: %s",
                              n < 0 ? strerror(errno) : "short write");
    }
}

int request_id_new(char out[REQUEST_ID_LEN + 1])
{
    return rng_hex(out, REQUEST_ID_LEN / 2);
}
