/* test_log.c — log_json_escape: escapes, invalid UTF-8 -> U+FFFD, truncation between characters. */
#include "base/log.h"

#include "../check.h"

#include <string.h>

int main(void)
{
    char b[64];
    CHECK(strcmp(log_json_escape("a\"b\\c\nd\te\x01", b, sizeof b), "a\\\"b\\\\c\\nd\\te\\u0001") == 0);
    CHECK(strcmp(log_json_escape(NULL, b, sizeof b), "") == 0);
    /* well-formed UTF-8 passes through; stray, overlong and cut-short bytes become U+FFFD */
    CHECK(strcmp(log_json_escape("caf\xc3\xa9", b, sizeof b), "caf\xc3\xa9") == 0);
    CHECK(strcmp(log_json_escape("x\xffy", b, sizeof b), "x\xef\xbf\xbdy") == 0);
    CHECK(strcmp(log_json_escape("\xc0\xaf", b, sizeof b), "\xef\xbf\xbd\xef\xbf\xbd") == 0);
    CHECK(strcmp(log_json_escape("e\xe2\x82", b, sizeof b), "e\xef\xbf\xbd\xef\xbf\xbd") == 0);
    /* truncation never splits a character or an escape */
    CHECK(strcmp(log_json_escape("ab\xc3\xa9", b, 4), "ab") == 0);
    CHECK(strcmp(log_json_escape("ab\"", b, 4), "ab") == 0);
    CHECK(strcmp(log_json_escape("abc", b, 4), "abc") == 0);
    CHECK(strcmp(log_json_escape("abc", b, 1), "") == 0);
    return check_finish();
}
