/* log.h — the process's error/event log as JSON lines.
 *
 * One line per event: {"ts":"…","level":"error","msg":"…", fields…}. Fields are given as
 * values, never as JSON text: log_event takes key/string-value pairs, log_json a jansson
 * object (numbers, booleans); the log escapes every key and value itself (base/json_write.h),
 * cutting a value at LOG_VALUE_MAX escaped bytes and the whole line at LOG_LINE_MAX. The log
 * goes to stderr until log_open names a file; log_reopen (called on SIGHUP) reopens that file
 * so logrotate can move it; log_set_rotation makes the log rotate itself by size (file ->
 * file.1 -> ... -> file.N, the oldest deleted). Thread-safe. Secrets (API keys) must never
 * be passed in.
 *
 *   log_open("/var/log/inferd/error.log", LOG_INFO);
 *   log_event(LOG_ERROR, "model load failed", "model", name, "reason", err.msg, NULL);
 *   log_json(LOG_INFO, "drained", json_pack("{s:I}", "in_flight_left", (json_int_t)n));
 *   log_reopen();
 */
#ifndef INFERD_LOG_H
#define INFERD_LOG_H

#include <jansson.h>

#define LOG_LINE_MAX 8192 /* bytes of one line; fields that do not fit are dropped */
#define LOG_VALUE_MAX 1024 /* escaped bytes kept of msg or one string value */
#define LOG_RECENT_MAX 32  /* warn/error lines kept in memory for log_recent */

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sends the log to path (appending) from now on; NULL means stderr. Returns 0 or -errno. */
int log_open(const char *path, enum log_level min_level);
/* Reopens the current file (for rotation). Returns 0 or -errno; keeps the old FILE on error. */
int log_reopen(void);
void log_close(void);
void log_set_level(enum log_level min_level);
/* Rotates the log file once a line takes it to max_bytes or more (0 = never; the default),
 * keeping keep older files (path.1 newest .. path.keep; keep >= 1). */
void log_set_rotation(size_t max_bytes, int keep);
/* Moves path.(keep-1) to path.keep, ..., path.1 to path.2, path to path.1 (what is at
 * path.keep goes). For any size-rotated log (this one, the access log). Returns 0 or -errno
 * of the rename of path itself. */
int log_shift_files(const char *path, int keep);

/* Writes one JSON line: msg, then the fields given as (const char *key, const char *value)
 * pairs ended by NULL. Every key and value is escaped; a NULL value is written as "". */
void log_event(enum log_level level, const char *msg, ...) __attribute__((sentinel));
/* Writes one JSON line: msg, then the members of the object fields in its order (strings
 * escaped by the log; numbers, booleans and null as they are; arrays and objects as compact
 * JSON). Takes ownership of fields (decref'd here; NULL or a non-object adds nothing), so
 * a json_pack result can be passed straight in. jansson refuses strings that are not valid
 * UTF-8 (json_pack then returns NULL and only msg is logged): pass untrusted text through
 * log_event, or as json_stringn_nocheck, which the log sanitizes itself. */
void log_json(enum log_level level, const char *msg, json_t *fields);

/* The last min(max, LOG_RECENT_MAX) warn/error lines written (whatever the destination),
 * oldest first, as parsed objects ({"ts","level","msg",...}). New reference; NULL when out
 * of memory. For the dashboard's "recent errors". */
json_t *log_recent(size_t max);

#endif
