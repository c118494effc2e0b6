/* html.h — the one HTML text escaper, on top of struct buf (base/buf.h), for pages the
 * server renders itself (the gateway's report).
 *
 * Escaped text is safe both between tags and inside a double- or single-quoted attribute
 * value: & < > " ' become &amp; &lt; &gt; &quot; &#39;. Control characters other than tab,
 * newline and carriage return (which HTML forbids in text) and every byte that is not
 * well-formed UTF-8 (base/utf8.h) become U+FFFD, so the output is always valid UTF-8.
 *
 *   struct buf b; buf_init(&b, 1 << 20);
 *   buf_puts(&b, "<td title=\""); html_write_escaped(&b, name); buf_puts(&b, "\">");
 *   html_write_escaped(&b, name); buf_puts(&b, "</td>");
 *   if (buf_rc(&b)) ...;
 */
#ifndef INFERD_BASE_HTML_H
#define INFERD_BASE_HTML_H

#include "base/buf.h"

#include <stddef.h>

/* Appends s[0..n) escaped (see above) / the NUL-terminated s (NULL appends nothing). Sets b's
 * error like every buf append. */
void html_write_escapedn(struct buf *b, const char *s, size_t n);
void html_write_escaped(struct buf *b, const char *s);

#endif
