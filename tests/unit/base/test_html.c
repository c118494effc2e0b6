/* test_html.c — the HTML escaper: the five special characters, control bytes and invalid
 * UTF-8 to U+FFFD, well-formed UTF-8 kept, the buffer's cap. */
#include "base/html.h"

#include "../check.h"

#include <string.h>

static int esc_is(const char *in, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, 1 << 10);
    buf_puts(&b, ""); /* "" even when nothing is appended */
    html_write_escapedn(&b, in, n);
    int ok = buf_rc(&b) == 0 && strcmp(b.data, want) == 0;
    buf_free(&b);
    return ok;
}

int main(void)
{
    CHECK(esc_is("plain text", 10, "plain text"));
    CHECK(esc_is("<b>&\"x'", 7, "&lt;b&gt;&amp;&quot;x&#39;"));
    CHECK(esc_is("a\tb\nc\r", 6, "a\tb\nc\r"));
    CHECK(esc_is("a\x01" "b\x7f", 4, "a\xef\xbf\xbd" "b\xef\xbf\xbd"));
    CHECK(esc_is("caf\xc3\xa9", 5, "caf\xc3\xa9"));
    CHECK(esc_is("x\x80y", 3, "x\xef\xbf\xbdy"));
    CHECK(esc_is("\xe2\x82", 2, "\xef\xbf\xbd\xef\xbf\xbd")); /* cut short */
    CHECK(esc_is("", 0, ""));
    struct buf b;
    buf_init(&b, 8);
    html_write_escaped(&b, NULL);
    CHECK(buf_rc(&b) == 0 && b.len == 0);
    html_write_escaped(&b, "<<<");
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    buf_free(&b);
    return check_finish();
}
