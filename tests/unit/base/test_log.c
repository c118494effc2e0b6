/* test_log.c — log_event / log_json lines (every value escaped, numbers as numbers, long
 * values cut, oversized fields dropped) and the escaping of what it writes. */
#include "base/json_write.h"
#include "base/log.h"

#include "../check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The last line of the file at path, parsed. */
static json_t *last_line(const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[16384], last[16384] = "";
    while (fp && fgets(line, sizeof line, fp))
        memcpy(last, line, sizeof last);
    if (fp)
        fclose(fp);
    return json_loads(last, 0, NULL);
}

/* The log's escaping is base's one escaper, cut to fit between characters. */
static char *esc(const char *src, char *dst, size_t cap)
{
    json_write_escape(dst, cap, src, src ? strlen(src) : 0, NULL);
    return dst;
}

static void test_escape(void)
{
    char b[64];
    CHECK(strcmp(esc("a\"b\\c\nd\te\x01", b, sizeof b), "a\\\"b\\\\c\\u000ad\\u0009e\\u0001") == 0);
    CHECK(strcmp(esc(NULL, b, sizeof b), "") == 0);
    /* well-formed UTF-8 passes through; stray, overlong and cut-short bytes become U+FFFD */
    CHECK(strcmp(esc("caf\xc3\xa9", b, sizeof b), "caf\xc3\xa9") == 0);
    CHECK(strcmp(esc("x\xffy", b, sizeof b), "x\xef\xbf\xbdy") == 0);
    CHECK(strcmp(esc("\xc0\xaf", b, sizeof b), "\xef\xbf\xbd\xef\xbf\xbd") == 0);
    CHECK(strcmp(esc("e\xe2\x82", b, sizeof b), "e\xef\xbf\xbd\xef\xbf\xbd") == 0);
    /* truncation never splits a character or an escape */
    CHECK(strcmp(esc("ab\xc3\xa9", b, 4), "ab") == 0);
    CHECK(strcmp(esc("ab\"", b, 4), "ab") == 0);
    CHECK(strcmp(esc("abc", b, 4), "abc") == 0);
    CHECK(strcmp(esc("abc", b, 1), "") == 0);
}

static void test_lines(void)
{
    char path[] = "/tmp/inferd_test_log_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(log_open(path, LOG_INFO) == 0);

    log_event(LOG_INFO, "model \"loaded\"", "model", "m\"1\n", "reason", "bad \xff byte", "none", NULL, NULL);
    json_t *j = last_line(path);
    CHECK(j != NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "level")), "info") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "msg")), "model \"loaded\"") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "model")), "m\"1\n") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "reason")), "bad \xef\xbf\xbd byte") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "none")), "") == 0);
    json_decref(j);

    log_json(LOG_WARN, "drained", json_pack("{s:I,s:f,s:b,s:s,s:[i]}", "left", (json_int_t)3, "ms", 1.5, "ok", 1,
                                            "who", "a\\b", "list", 7));
    j = last_line(path);
    CHECK(j != NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "level")), "warn") == 0);
    CHECK(json_integer_value(json_object_get(j, "left")) == 3);
    CHECK(json_real_value(json_object_get(j, "ms")) == 1.5);
    CHECK(json_is_true(json_object_get(j, "ok")));
    CHECK(strcmp(json_string_value(json_object_get(j, "who")), "a\\b") == 0);
    CHECK(json_integer_value(json_array_get(json_object_get(j, "list"), 0)) == 7);
    json_decref(j);

    /* text jansson would refuse goes in unchecked and comes out sanitized */
    json_t *f = json_object();
    json_object_set_new(f, "raw", json_stringn_nocheck("a\xff\"b", 4));
    log_json(LOG_INFO, "unchecked", f);
    j = last_line(path);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "raw")), "a\xef\xbf\xbd\"b") == 0);
    json_decref(j);

    /* below the level: nothing written (and the object is still freed) */
    log_json(LOG_DEBUG, "quiet", json_pack("{s:i}", "n", 1));
    log_event(LOG_DEBUG, "quiet", NULL);
    j = last_line(path);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "msg")), "unchecked") == 0);
    json_decref(j);

    /* a long value is cut; fields that no longer fit are dropped; the line stays JSON */
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    log_event(LOG_ERROR, big, "a", big, "b", big, "c", big, "d", big, "e", big, "f", big, "g", big, "h", big,
              "i", big, "last", "kept", NULL);
    j = last_line(path);
    CHECK(j != NULL);
    CHECK(strlen(json_string_value(json_object_get(j, "msg"))) == LOG_VALUE_MAX);
    CHECK(strlen(json_string_value(json_object_get(j, "a"))) == LOG_VALUE_MAX);
    CHECK(json_object_get(j, "i") == NULL);
    CHECK(strcmp(json_string_value(json_object_get(j, "last")), "kept") == 0);
    json_decref(j);
    free(big);

    log_close();
    unlink(path);
}

/* Size rotation: the file moves to .1 once a line takes it past the size, older ones
 * shift, at most keep stay; nothing is lost in between. */
static void test_rotation(void)
{
    char dir[] = "/tmp/inferd_test_logrot_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], name[300];
    snprintf(path, sizeof path, "%s/error.log", dir);
    CHECK(log_open(path, LOG_INFO) == 0);
    log_set_rotation(2000, 3);
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof n, "%d", i);
        log_event(LOG_INFO, "rotation test line", "i", n, NULL); /* ~90 bytes a line */
    }
    log_close();
    log_set_rotation(0, 5);
    int seen = 0, last = -1, ordered = 1;
    for (int k = 3; k >= 0; k--) { /* oldest first */
        if (k)
            snprintf(name, sizeof name, "%s.%d", path, k);
        else
            snprintf(name, sizeof name, "%s", path);
        FILE *fp = fopen(name, "r");
        CHECK(fp != NULL);
        char line[1024];
        size_t bytes = 0;
        while (fp && fgets(line, sizeof line, fp)) {
            json_t *j = json_loads(line, 0, NULL);
            int i = atoi(json_string_value(json_object_get(j, "i")) ? json_string_value(json_object_get(j, "i")) : "-9");
            ordered &= i == last + 1 || last == -1;
            last = i;
            seen++;
            bytes += strlen(line);
            json_decref(j);
        }
        if (fp)
            fclose(fp);
        if (k)
            CHECK(bytes >= 2000 && bytes < 2200); /* rotated once a line crossed 2000 */
        unlink(name);
    }
    snprintf(name, sizeof name, "%s.4", path);
    CHECK(access(name, F_OK) != 0); /* keep 3: no .4 */
    CHECK(ordered);
    CHECK(last == 99);
    CHECK(seen > 0 && seen < 100); /* the oldest lines went with the files past keep */
    rmdir(dir);
}

/* log_recent: the last warn/error lines, oldest first, at most LOG_RECENT_MAX; info and
 * debug lines are not kept; long lines still parse. */
static void test_recent(void)
{
    char path[] = "/tmp/inferd_test_log_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(log_open(path, LOG_INFO) == 0);
    char n[16];
    for (int i = 0; i < LOG_RECENT_MAX + 5; i++) {
        snprintf(n, sizeof n, "%d", i);
        log_event(i % 2 ? LOG_WARN : LOG_ERROR, "numbered", "n", n, NULL);
        log_event(LOG_INFO, "not kept", NULL);
    }
    json_t *a = log_recent(1000);
    CHECK(json_array_size(a) == LOG_RECENT_MAX);
    snprintf(n, sizeof n, "%d", 5);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(a, 0), "n")), n) == 0);
    snprintf(n, sizeof n, "%d", LOG_RECENT_MAX + 4);
    json_t *last = json_array_get(a, LOG_RECENT_MAX - 1);
    CHECK(strcmp(json_string_value(json_object_get(last, "n")), n) == 0);
    CHECK(strcmp(json_string_value(json_object_get(last, "level")), "error") == 0);
    json_decref(a);
    a = log_recent(2);
    CHECK(json_array_size(a) == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(a, 1), "n")), n) == 0);
    json_decref(a);
    /* a line cut to LOG_LINE_MAX is still one object */
    char *big = malloc(5000);
    memset(big, 'y', 4999);
    big[4999] = '\0';
    log_event(LOG_ERROR, "big", "a", big, "b", big, "c", big, "d", big, "e", big, "f", big, "g", big, "h", big, NULL);
    a = log_recent(1);
    CHECK(json_array_size(a) == 1 && strcmp(json_string_value(json_object_get(json_array_get(a, 0), "msg")), "big") == 0);
    json_decref(a);
    free(big);
    log_close();
    unlink(path);
}

int main(void)
{
    test_rotation();
    test_escape();
    test_lines();
    test_recent();
    return check_finish();
}
