/* json_write.h — the one JSON string escaper and the JSON scalar writers, on top of
 * struct buf (base/buf.h). Used to build JSON text without building a jansson tree first
 * (response bodies with large float arrays, log lines).
 *
 * Strings are escaped per RFC 8259: '"' and '\' get a backslash; control characters
 * (< 0x20, and DEL) are written \u00XX; well-formed UTF-8 is copied as it is and every byte
 * that is not (see base/utf8.h) becomes U+FFFD, so the output is always valid JSON.
 *
 *   struct buf b; buf_init(&b, 1 << 20);
 *   buf_puts(&b, "{\"name\":"); json_write_str(&b, name);
 *   buf_puts(&b, ",\"x\":"); json_write_f32(&b, x); buf_putc(&b, '}');
 *   if (buf_rc(&b)) ...; char *s = buf_take(&b, &len);   // caller frees s
 *   char esc[64]; json_write_escape(esc, sizeof esc, msg, strlen(msg), NULL);   // no quotes
 */
#ifndef INFERD_BASE_JSON_WRITE_H
#define INFERD_BASE_JSON_WRITE_H

#include "base/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Escapes s[0..n) (without quotes) into dst: cap bytes including the NUL, cap >= 1; stops
 * before a character whose escaped form would not fit, so the result never ends inside an
 * escape or a UTF-8 sequence. OUT: *consumed (may be NULL): input bytes escaped; < n when cut.
 * Returns the bytes written, without the NUL. */
size_t json_write_escape(char *dst, size_t cap, const char *s, size_t n, size_t *consumed);

/* A quoted, escaped JSON string of s[0..n) / of the NUL-terminated s (NULL writes ""). */
void json_write_strn(struct buf *b, const char *s, size_t n);
void json_write_str(struct buf *b, const char *s);
void json_write_i64(struct buf *b, int64_t v);
void json_write_u64(struct buf *b, uint64_t v);
/* Text that reads back to the same float (integers exactly, else 9 significant digits) /
 * double (17 digits); null for NaN and infinities. */
void json_write_f32(struct buf *b, float v);
void json_write_f64(struct buf *b, double v);

#endif
