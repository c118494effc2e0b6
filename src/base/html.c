/* html.c — the HTML text escaper (see html.h). */
#include "base/html.h"

#include "base/utf8.h"

#include <string.h>

void html_write_escapedn(struct buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the bytes that go out as they are */
    if (!s)
        return;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        const char *rep = NULL;
        size_t k = 1;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
                rep = UTF8_REPLACEMENT;
            } else if (c >= 0x80) {
                k = utf8_seq_len(u + i, n - i);
                if (!k) {
                    rep = UTF8_REPLACEMENT;
                    k = 1;
                }
            }
        }
        if (rep) {
            buf_put(b, s + run, i - run);
            buf_puts(b, rep);
            run = i + k;
        }
        i += k;
    }
    buf_put(b, s + run, n - run);
}

void html_write_escaped(struct buf *b, const char *s)
{
    if (s)
        html_write_escapedn(b, s, strlen(s));
}
