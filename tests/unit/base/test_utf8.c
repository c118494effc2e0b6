/* test_utf8.c — the strict validator, decode, sanitize (U+FFFD per bad byte). */
#include "base/utf8.h"

#include "../check.h"

#include <stdlib.h>
#include <string.h>

static int sanitized_is(const char *in, size_t n, const char *want)
{
    size_t len = 0;
    char *s = utf8_sanitize(in, n, &len);
    int ok = s && len == strlen(want) && memcmp(s, want, len + 1) == 0;
    free(s);
    return ok;
}

int main(void)
{
    const unsigned char *u = (const unsigned char *)"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    CHECK(utf8_seq_len(u, 9) == 2 && utf8_seq_len(u + 2, 7) == 3 && utf8_seq_len(u + 5, 4) == 4);
    CHECK(utf8_seq_len(u + 5, 3) == 0); /* cut short */
    CHECK(utf8_seq_len((const unsigned char *)"\xc1\xbf", 2) == 0);         /* overlong */
    CHECK(utf8_seq_len((const unsigned char *)"\xe0\x9f\xbf", 3) == 0);     /* overlong */
    CHECK(utf8_seq_len((const unsigned char *)"\xf0\x8f\xbf\xbf", 4) == 0); /* overlong */
    CHECK(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3) == 0);     /* surrogate */
    CHECK(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4) == 0); /* > U+10FFFF */
    CHECK(utf8_seq_len((const unsigned char *)"\xed\x9f\xbf", 3) == 3);     /* U+D7FF */

    CHECK(utf8_valid("", 0) && utf8_valid("a\0b", 3) && utf8_valid((const char *)u, 9));
    CHECK(!utf8_valid((const char *)u, 8) && !utf8_valid("\x80", 1) && !utf8_valid("\xed\xb0\x80", 3));

    uint32_t cp;
    CHECK(utf8_decode("A", 1, &cp) == 1 && cp == 'A');
    CHECK(utf8_decode("\xc3\xa9", 2, &cp) == 2 && cp == 0xE9);
    CHECK(utf8_decode("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC);
    CHECK(utf8_decode("\xf0\x9f\x98\x80", 4, &cp) == 4 && cp == 0x1F600);
    CHECK(utf8_decode("\xc4\x80", 2, &cp) == 2 && cp == 0x100);
    CHECK(utf8_decode("\xc0\x80", 2, &cp) == 1 && cp == UTF8_REPLACEMENT_CP);
    CHECK(utf8_decode("\xed\xa0\x80", 3, &cp) == 1 && cp == UTF8_REPLACEMENT_CP);
    CHECK(utf8_decode("\xe2\x82", 2, &cp) == 1 && cp == UTF8_REPLACEMENT_CP);

    CHECK(sanitized_is("", 0, ""));
    CHECK(sanitized_is("caf\xc3\xa9", 5, "caf\xc3\xa9"));
    CHECK(sanitized_is("x\xffy", 3, "x\xef\xbf\xbdy"));
    CHECK(sanitized_is("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(sanitized_is("e\xe2\x82", 3, "e\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(sanitized_is("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));

    char d[6];
    CHECK(utf8_sanitize_into(d, sizeof d, "ab\xc3\xa9z", 5) == 5 && strcmp(d, "ab\xc3\xa9z") == 0);
    CHECK(utf8_sanitize_into(d, 4, "ab\xc3\xa9", 4) == 2 && strcmp(d, "ab") == 0); /* no half char */
    CHECK(utf8_sanitize_into(d, 4, "a\xff", 2) == 1 && strcmp(d, "a") == 0);
    CHECK(utf8_sanitize_into(d, 1, "abc", 3) == 0 && d[0] == '\0');
    return check_finish();
}
