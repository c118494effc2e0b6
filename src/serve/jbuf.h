/* jbuf.h — a capped, growable byte buffer with JSON writers, used to build responses
 * without building a jansson tree first (the fast path for float arrays).
 *
 * Every append checks the cap; once over, the buffer is marked failed and later appends do
 * nothing, so writers check jbuf_failed() once at the end.
 *
 *   struct jbuf b; jbuf_init(&b, 1 << 20);
 *   jbuf_puts(&b, "{\"x\":"); jbuf_f32s(&b, vals, n); jbuf_putc(&b, '}');
 *   if (jbuf_failed(&b)) ...; char *s = jbuf_take(&b, &len);   // caller frees s
 */
#ifndef INFERD_SERVE_JBUF_H
#define INFERD_SERVE_JBUF_H

#include <stddef.h>
#include <stdint.h>

struct jbuf {
    char *data;      /* owned; NUL-terminated while not failed */
    size_t len, cap; /* bytes used / allocated */
    size_t max;      /* cap on len */
    int failed;      /* out of memory or over max */
};

void jbuf_init(struct jbuf *b, size_t max);
void jbuf_free(struct jbuf *b);
int jbuf_failed(const struct jbuf *b);
/* OUT: the malloc'd NUL-terminated contents (caller frees) and its length; resets b.
 * NULL when b failed. */
char *jbuf_take(struct jbuf *b, size_t *len);

void jbuf_put(struct jbuf *b, const void *p, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);
void jbuf_putc(struct jbuf *b, char c);
/* A JSON string literal with quotes, escaped. */
void jbuf_str(struct jbuf *b, const char *s);
void jbuf_i64(struct jbuf *b, int64_t v);
void jbuf_u64(struct jbuf *b, uint64_t v);
/* Text that reads back to the same float (integers exactly, else 9 significant digits) /
 * double (17 digits); null for NaN and infinities. */
void jbuf_f32(struct jbuf *b, float v);
void jbuf_f64(struct jbuf *b, double v);

#endif
