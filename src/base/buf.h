/* buf.h — the one growable byte buffer: capped, with one sticky error (curl's dynbuf).
 *
 * A struct buf grows by doubling up to max bytes of content. Every append can fail, with
 * INFERD_ETOOLARGE when it would pass max or INFERD_ENOMEM when realloc fails; the first
 * failure sticks and every later append is a no-op, so a writer appends freely and checks
 * buf_rc once at the end. While not failed, data is NUL-terminated (after the first append).
 * JSON writers on top of it live in base/json_write.h.
 *
 *   struct buf b;
 *   buf_init(&b, 1 << 20);
 *   buf_puts(&b, "id="); buf_printf(&b, "%d", id);
 *   if (buf_rc(&b)) return buf_err(&b, err, "reply");   // names the cap; frees nothing
 *   char *s = buf_take(&b, &len);                       // caller frees s
 */
#ifndef INFERD_BASE_BUF_H
#define INFERD_BASE_BUF_H

#include "inferd/err.h"

#include <stddef.h>

struct buf {
    char *data;   /* owned; NUL-terminated while not failed; NULL before the first append */
    size_t len;   /* bytes of content, not counting the NUL */
    size_t alloc; /* bytes allocated for data */
    size_t max;   /* cap on len */
    int rc;       /* 0, or the first failure: INFERD_ETOOLARGE or INFERD_ENOMEM (sticky) */
};

/* An empty buffer that will hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the contents; b is empty (same max) afterwards. */
void buf_free(struct buf *b);
/* Empties b and clears its error, keeping the allocation and max. */
void buf_reset(struct buf *b);
/* Cuts b back to its first len bytes (len <= b->len) and clears its error: drops a piece
 * that did not fit (a failed append leaves the bytes before it untouched). */
void buf_truncate(struct buf *b, size_t len);
/* 0, or the first error: INFERD_ETOOLARGE (over max) or INFERD_ENOMEM. */
int buf_rc(const struct buf *b);
/* Writes b's error into err as "<what>: over its cap of <max> bytes" or "<what>: out of
 * memory". Returns buf_rc(b) (0 and err untouched when b has not failed). */
int buf_err(const struct buf *b, struct inferd_err *err, const char *what);
/* The contents ("" before the first append); borrowed, valid until the next append. NULL when
 * b failed. */
const char *buf_str(const struct buf *b);
/* OUT: the malloc'd NUL-terminated contents (caller frees) and *len; empties b. NULL when b
 * failed (b is emptied too) or when the empty string cannot be allocated. */
char *buf_take(struct buf *b, size_t *len);

/* Appends. On failure they set b's error (see above) and append nothing. */
void buf_put(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
