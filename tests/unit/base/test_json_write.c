/* test_json_write.c — the JSON escaper (RFC 8259 rules, U+FFFD, cutting between characters)
 * and the scalar writers. */
#include "base/json_write.h"

#include "../check.h"

#include <math.h>
#include <string.h>

static int str_is(const char *in, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, 1 << 10);
    json_write_strn(&b, in, n);
    int ok = buf_rc(&b) == 0 && strcmp(b.data, want) == 0;
    buf_free(&b);
    return ok;
}

int main(void)
{
    CHECK(str_is("plain", 5, "\"plain\""));
    CHECK(str_is("a\"b\\c", 5, "\"a\\\"b\\\\c\""));
    CHECK(str_is("\n\t\r\x01\x1f\x7f", 6, "\"\\u000a\\u0009\\u000d\\u0001\\u001f\\u007f\""));
    CHECK(str_is("a\0b", 3, "\"a\\u0000b\""));
    CHECK(str_is("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""));
    /* stray continuation, overlong, surrogate, past U+10FFFF, cut short: U+FFFD per byte */
    CHECK(str_is("x\x80y", 3, "\"x\xef\xbf\xbdy\""));
    CHECK(str_is("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""));
    CHECK(str_is("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
    CHECK(str_is("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
    CHECK(str_is("e\xe2\x82", 3, "\"e\xef\xbf\xbd\xef\xbf\xbd\""));
    struct buf b;
    buf_init(&b, 64);
    json_write_str(&b, NULL);
    CHECK(strcmp(b.data, "\"\"") == 0);
    buf_free(&b);

    /* bounded escaping never splits a character or an escape */
    char d[16];
    size_t used;
    CHECK(json_write_escape(d, sizeof d, "a\"b", 3, &used) == 4 && strcmp(d, "a\\\"b") == 0 && used == 3);
    CHECK(json_write_escape(d, 4, "ab\xc3\xa9", 4, &used) == 2 && strcmp(d, "ab") == 0 && used == 2);
    CHECK(json_write_escape(d, 4, "ab\"", 3, &used) == 2 && strcmp(d, "ab") == 0 && used == 2);
    CHECK(json_write_escape(d, 4, "abc", 3, &used) == 3 && used == 3);
    CHECK(json_write_escape(d, 7, "\n", 1, &used) == 6 && used == 1);
    CHECK(json_write_escape(d, 6, "\n", 1, &used) == 0 && used == 0 && d[0] == '\0');
    CHECK(json_write_escape(d, 1, "abc", 3, NULL) == 0 && d[0] == '\0');
    CHECK(json_write_escape(d, sizeof d, NULL, 5, &used) == 0 && used == 0);

    /* scalars */
    buf_init(&b, 1024);
    json_write_i64(&b, INT64_MIN);
    buf_putc(&b, ' ');
    json_write_u64(&b, UINT64_MAX);
    buf_putc(&b, ' ');
    json_write_f32(&b, 3.f);
    buf_putc(&b, ' ');
    json_write_f32(&b, 0.1f);
    buf_putc(&b, ' ');
    json_write_f32(&b, 1e30f);
    buf_putc(&b, ' ');
    json_write_f32(&b, NAN);
    buf_putc(&b, ' ');
    json_write_f64(&b, INFINITY);
    buf_putc(&b, ' ');
    json_write_f64(&b, 0.5);
    CHECK(strcmp(b.data, "-9223372036854775808 18446744073709551615 3 0.100000001 1.00000002e+30 null null 0.5") == 0);
    buf_free(&b);
    /* a writer over the cap fails the buffer */
    buf_init(&b, 4);
    json_write_str(&b, "hello");
    CHECK(buf_rc(&b) == INFERD_ETOOLARGE);
    buf_free(&b);
    return check_finish();
}
