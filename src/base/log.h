/* log.h — the process's error/event log as JSON lines.
 *
 * One line per event: {"ts":"…","level":"error","msg":"…", extra fields…}. The log goes
 * to stderr until log_open names a file; log_reopen (called on SIGHUP) reopens that file
 * so logrotate can move it. Thread-safe. Secrets (API keys) must never be passed in.
 *
 *   log_open("/var/log/inferd/error.log", LOG_INFO);
 *   log_msg(LOG_ERROR, "model load failed", "\"model\":\"%s\",\"reason\":\"%s\"", name, why);
 *   log_reopen();
 */
#ifndef INFERD_LOG_H
#define INFERD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sends the log to path (appending) from now on; NULL means stderr. Returns 0 or -errno. */
int log_open(const char *path, enum log_level min_level);
/* Reopens the current file (for rotation). Returns 0 or -errno; keeps the old FILE on error. */
int log_reopen(void);
void log_close(void);
void log_set_level(enum log_level min_level);

/* Writes one JSON line. msg is escaped. extra_fmt, if not NULL, is a printf format that
 * yields extra members already in JSON form ("\"model\":\"a\",\"n\":3") — callers must
 * escape strings they put there with log_json_escape. */
void log_msg(enum log_level level, const char *msg, const char *extra_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* JSON-escapes src into dst (always NUL-terminated, truncated to cap between characters).
 * Bytes that are not well-formed UTF-8 become U+FFFD, so the result is always valid JSON
 * string content. Returns dst. */
char *log_json_escape(const char *src, char *dst, unsigned long cap);

#endif
