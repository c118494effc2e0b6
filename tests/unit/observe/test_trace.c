/* test_trace.c — W3C traceparent parsing (valid, invalid versions, all-zero ids, uppercase
 * hex, wrong lengths, future versions with extra fields), formatting, tracestate, new ids. */
#include "check.h"
#include "observe/trace.h"

#include <stdio.h>
#include <string.h>

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static int parse(const char *s, struct trace_parent *tp)
{
    return trace_parse_traceparent(s, strlen(s), tp);
}

static void test_valid(void)
{
    struct trace_parent tp;
    CHECK(parse("00-" TID "-" SID "-01", &tp) == 0);
    CHECK(strcmp(tp.trace_id, TID) == 0);
    CHECK(strcmp(tp.parent_id, SID) == 0);
    CHECK(tp.version == 0 && tp.flags == 1);
    CHECK(parse("00-" TID "-" SID "-00", &tp) == 0 && tp.flags == 0);
    CHECK(parse("00-" TID "-" SID "-ff", &tp) == 0 && tp.flags == 0xff);
    /* not NUL-terminated: only len bytes are read */
    char buf[80];
    snprintf(buf, sizeof buf, "00-" TID "-" SID "-01GARBAGE");
    CHECK(trace_parse_traceparent(buf, TRACEPARENT_LEN, &tp) == 0);
    /* one non-zero digit is enough */
    CHECK(parse("00-00000000000000000000000000000001-0000000000000001-01", &tp) == 0);
}

static void test_versions(void)
{
    struct trace_parent tp;
    CHECK(parse("ff-" TID "-" SID "-01", &tp) == INFERD_EINVAL); /* ff is forbidden */
    CHECK(parse("0g-" TID "-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("0A-" TID "-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("0-" TID "-" SID "-01", &tp) == INFERD_EINVAL);
    /* a future version: read as 00 if it ends after the flags or goes on with '-' */
    CHECK(parse("01-" TID "-" SID "-01", &tp) == 0 && tp.version == 1);
    CHECK(parse("cc-" TID "-" SID "-01-what-the-future-brings", &tp) == 0);
    CHECK(tp.version == 0xcc && strcmp(tp.trace_id, TID) == 0 && tp.flags == 1);
    CHECK(parse("cc-" TID "-" SID "-01what", &tp) == INFERD_EINVAL);
    CHECK(parse("cc-" TID "-" SID "-0", &tp) == INFERD_EINVAL);
    /* version 00 allows nothing after the flags */
    CHECK(parse("00-" TID "-" SID "-01-", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "-01-extra", &tp) == INFERD_EINVAL);
}

static void test_invalid(void)
{
    struct trace_parent tp;
    memset(&tp, 'x', sizeof tp);
    CHECK(parse("00-00000000000000000000000000000000-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(tp.trace_id[0] == 'x'); /* untouched on failure */
    CHECK(parse("00-" TID "-0000000000000000-01", &tp) == INFERD_EINVAL);
    /* uppercase hex anywhere */
    CHECK(parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-00F067AA0BA902B7-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "-0A", &tp) == INFERD_EINVAL);
    /* wrong lengths and separators */
    CHECK(parse("", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "-1", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "0-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-4bf92f3577b34da6a3ce929d0e0e473-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-00f067aa0ba902b-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-00f067aa0ba902b77-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00_" TID "-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "_" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "_01", &tp) == INFERD_EINVAL);
    CHECK(parse(" 00-" TID "-" SID "-01", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "-01 ", &tp) == INFERD_EINVAL);
    CHECK(parse("00-" TID "-" SID "-0\n", &tp) == INFERD_EINVAL);
    CHECK(trace_parse_traceparent(NULL, 0, &tp) == INFERD_EINVAL);
    CHECK(trace_parse_traceparent("00-" TID "-" SID "-01", TRACEPARENT_LEN, NULL) == INFERD_EINVAL);
}

static void test_format_and_ids(void)
{
    char out[TRACEPARENT_LEN + 1];
    trace_format_traceparent(out, TID, SID, 0x01);
    CHECK(strcmp(out, "00-" TID "-" SID "-01") == 0);
    trace_format_traceparent(out, TID, SID, 0xff); /* unknown flags are not propagated */
    CHECK(strcmp(out, "00-" TID "-" SID "-01") == 0);
    trace_format_traceparent(out, TID, SID, 0x00);
    CHECK(strcmp(out, "00-" TID "-" SID "-00") == 0);
    struct trace_parent tp;
    CHECK(parse(out, &tp) == 0); /* round trip */

    char a[TRACE_ID_HEX + 1], b[TRACE_ID_HEX + 1], s[TRACE_SPAN_HEX + 1];
    trace_new_id(a, TRACE_ID_HEX / 2);
    trace_new_id(b, TRACE_ID_HEX / 2);
    trace_new_id(s, TRACE_SPAN_HEX / 2);
    CHECK(trace_id_ok(a, TRACE_ID_HEX) && trace_id_ok(b, TRACE_ID_HEX));
    CHECK(trace_id_ok(s, TRACE_SPAN_HEX));
    CHECK(strcmp(a, b) != 0);
    CHECK(!trace_id_ok("0000000000000000", TRACE_SPAN_HEX));
    CHECK(!trace_id_ok(SID "0", TRACE_SPAN_HEX));
    CHECK(!trace_id_ok("00f067aa0ba902b", TRACE_SPAN_HEX));
    CHECK(!trace_id_ok(NULL, TRACE_SPAN_HEX));
}

static void test_tracestate(void)
{
    char big[TRACESTATE_MAX + 2];
    CHECK(trace_state_ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39));
    CHECK(!trace_state_ok("", 0));
    CHECK(!trace_state_ok("a=1\r\nX-Evil: 1", 14));
    CHECK(!trace_state_ok("a=\xc3\xa9", 4));
    memset(big, 'a', sizeof big);
    CHECK(trace_state_ok(big, TRACESTATE_MAX));
    CHECK(!trace_state_ok(big, TRACESTATE_MAX + 1));
}

int main(void)
{
    test_valid();
    test_versions();
    test_invalid();
    test_format_and_ids();
    test_tracestate();
    return check_finish();
}
