/* test_access_log.c — access log lines (exact text, JSON validity, truncation), atomic
 * concurrent appends, reopen after rotation, request ids. */
#include "check.h"
#include "observe/access_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_exact_line(void)
{
    char buf[ACCESS_LOG_LINE_MAX];
    size_t len = 0;
    struct access_record r = {
        .ts_ms = 1795867200123ull, .request_id = "0123456789abcdef0123456789abcdef",
        .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736", .span_id = "00f067aa0ba902b7",
        .method = "POST", .path = "/v2/models/m/infer", .status = 200, .model = "m",
        .version = "1", .protocol = "v2", .bytes_in = 10, .bytes_out = 20,
        .duration_ms = 1.25, .queue_ms = 0.1, .compute_ms = 1, .remote_addr = "127.0.0.1",
        .user_agent = "ua \"x\"\n"};
    CHECK(access_log_format(&r, buf, sizeof buf, &len, NULL) == 0);
    const char *want =
        "{\"ts\":\"2026-11-28T12:00:00.123Z\",\"request_id\":\"0123456789abcdef0123456789abcdef\","
        "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\","
        "\"parent_span_id\":\"\","
        "\"method\":\"POST\",\"path\":\"/v2/models/m/infer\",\"status\":200,\"model\":\"m\","
        "\"version\":\"1\",\"protocol\":\"v2\",\"bytes_in\":10,\"bytes_out\":20,"
        "\"duration_ms\":1.250,\"queue_ms\":0.100,\"compute_ms\":1.000,"
        "\"remote_addr\":\"127.0.0.1\",\"user_agent\":\"ua \\\"x\\\"\\u000a\"}\n";
    CHECK(strcmp(buf, want) == 0);
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "got:  %swant: %s", buf, want);
    CHECK(len == strlen(want));

    r.llm = true;
    r.prompt_tokens = 5;
    r.completion_tokens = 7;
    r.ttft_ms = 12;
    r.tokens_per_s = 40.125;
    r.finish_reason = "stop";
    CHECK(access_log_format(&r, buf, sizeof buf, &len, NULL) == 0);
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    CHECK(j != NULL);
    CHECK(json_integer_value(json_object_get(j, "completion_tokens")) == 7);
    CHECK(strcmp(json_string_value(json_object_get(j, "finish_reason")), "stop") == 0);
    CHECK(strcmp(json_string_value(json_object_get(j, "user_agent")), "ua \"x\"\n") == 0);
    CHECK(json_real_value(json_object_get(j, "tokens_per_s")) == 40.125);
    CHECK(json_object_get(j, "authorization") == NULL);
    json_decref(j);

    /* too small a buffer is an error, not a cut line */
    CHECK(access_log_format(&r, buf, 64, &len, NULL) == INFERD_ETOOLARGE);
}

static void test_utf8(void)
{
    char buf[ACCESS_LOG_LINE_MAX];
    size_t len = 0;
    struct access_record r = {.path = "/v2/models/caf\xc3\xa9/\xff\xfe/\xe2\x82",
                              .user_agent = "\xf0\x9f\x98\x80"};
    CHECK(access_log_format(&r, buf, sizeof buf, &len, NULL) == 0);
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je); /* jansson rejects invalid UTF-8 */
    CHECK(j != NULL);
    if (j) {
        const char *p = json_string_value(json_object_get(j, "path"));
        CHECK(p && strcmp(p, "/v2/models/caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd/"
                             "\xef\xbf\xbd\xef\xbf\xbd") == 0);
        const char *ua = json_string_value(json_object_get(j, "user_agent"));
        CHECK(ua && strcmp(ua, "\xf0\x9f\x98\x80") == 0);
    }
    json_decref(j);
}

static void test_truncation(void)
{
    /* Every string field at its worst (all control bytes: 6x when escaped) still fits. */
    static char huge[20000];
    memset(huge, '\x01', sizeof huge - 1);
    static char utf[5000];
    for (size_t i = 0; i + 2 < sizeof utf; i += 2) {
        utf[i] = (char)0xc3;
        utf[i + 1] = (char)0xa9; /* é */
    }
    struct access_record r = {.method = huge, .path = utf, .model = huge, .version = huge,
                              .protocol = huge, .remote_addr = huge, .user_agent = huge,
                              .llm = true, .finish_reason = huge, .trace_id = huge,
                              .span_id = "ABCDEF0123456789", .parent_span_id = huge};
    memset(r.request_id, 'a', REQUEST_ID_LEN);
    static char buf[ACCESS_LOG_LINE_MAX];
    size_t len = 0;
    CHECK(access_log_format(&r, buf, sizeof buf, &len, NULL) == 0);
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    CHECK(j != NULL); /* valid JSON and valid UTF-8 despite the cuts */
    if (j) {
        const char *p = json_string_value(json_object_get(j, "path"));
        CHECK(p && strlen(p) <= ACCESS_LOG_FIELD_MAX + 3);
        CHECK(p && strcmp(p + strlen(p) - 3, "\xe2\x80\xa6") == 0);
        /* ids that are not short lowercase hex are logged as "" */
        const char *t = json_string_value(json_object_get(j, "trace_id"));
        const char *sp = json_string_value(json_object_get(j, "span_id"));
        CHECK(t && sp && !t[0] && !sp[0]);
    }
    json_decref(j);
}

struct writer {
    struct access_log *al;
    int id;
    int failed; /* CHECK is not thread-safe: threads count failures, main checks them */
};

#define LINES 500
static void *write_lines(void *arg)
{
    struct writer *w = arg;
    char path[600];
    for (int i = 0; i < LINES; i++) {
        /* long paths make a torn line likely if writes were not atomic */
        snprintf(path, sizeof path, "/w%d/%d/%0500d", w->id, i, i);
        struct access_record r = {.method = "GET", .path = path, .status = 200};
        if (request_id_new(r.request_id) != 0 || access_log_write(w->al, &r, NULL) != 0)
            w->failed++;
    }
    return NULL;
}

static int count_valid_lines(const char *path, int *bad)
{
    FILE *fp = fopen(path, "r");
    static char line[ACCESS_LOG_LINE_MAX + 2];
    int n = 0;
    *bad = 0;
    if (!fp)
        return -1;
    while (fgets(line, sizeof line, fp)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (j && json_is_object(j))
            n++;
        else
            (*bad)++;
        json_decref(j);
    }
    fclose(fp);
    return n;
}

static void test_concurrent_and_reopen(void)
{
    char dir[] = "/tmp/inferd_alog_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], moved[256];
    snprintf(path, sizeof path, "%s/access.log", dir);
    snprintf(moved, sizeof moved, "%s/access.log.1", dir);
    struct access_log *al = NULL;
    struct inferd_err err = {0};
    CHECK(access_log_open(path, &al, &err) == 0);

    pthread_t th[4];
    struct writer ws[4];
    for (int i = 0; i < 4; i++) {
        ws[i] = (struct writer){al, i, 0};
        pthread_create(&th[i], NULL, write_lines, &ws[i]);
    }
    /* rotate while writers run: each line lands whole in one file or the other */
    usleep(1000);
    CHECK(rename(path, moved) == 0);
    CHECK(access_log_reopen(al) == 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(ws[i].failed == 0);
    }
    struct access_record r = {.method = "GET", .path = "/after", .status = 204};
    CHECK(access_log_write(al, &r, NULL) == 0);
    access_log_close(al);

    int bad1 = 0, bad2 = 0;
    int n1 = count_valid_lines(moved, &bad1);
    int n2 = count_valid_lines(path, &bad2);
    CHECK(bad1 == 0 && bad2 == 0);
    CHECK(n2 >= 1); /* the line after reopen went to the new file */
    CHECK(n1 + n2 == 4 * LINES + 1);
    unlink(path);
    unlink(moved);
    rmdir(dir);

    CHECK(access_log_open("/nonexistent-dir/x.log", &al, &err) == INFERD_EIO);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.log") != NULL);
    access_log_close(NULL);
}

/* Size rotation under 4 concurrent writers: no line lost or torn; then one writer: every
 * rotated file ends with the line that crossed the size, and keep bounds the files. */
static void test_rotation(void)
{
    char dir[] = "/tmp/inferd_alog_rot_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], name[300];
    snprintf(path, sizeof path, "%s/access.log", dir);
    struct access_log *al = NULL;
    struct inferd_err err = {0};
    CHECK(access_log_open(path, &al, &err) == 0);
    const size_t max = 64 * 1024;
    const int keep = 1000; /* keep them all: every line must be somewhere */
    access_log_set_rotation(al, max, keep);
    pthread_t th[4];
    struct writer ws[4];
    for (int i = 0; i < 4; i++) {
        ws[i] = (struct writer){al, i, 0};
        pthread_create(&th[i], NULL, write_lines, &ws[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(ws[i].failed == 0);
    }
    access_log_close(al);
    int total = 0, bad = 0, files = 0;
    for (int k = 0; k <= keep; k++) {
        if (k == 0)
            snprintf(name, sizeof name, "%s", path);
        else
            snprintf(name, sizeof name, "%s.%d", path, k);
        int b = 0, n = count_valid_lines(name, &b);
        if (n < 0)
            break;
        files++;
        total += n;
        bad += b;
        /* (no size bound here: lines other writers add while one rotates land in the file
         * being moved, however many the scheduler lets them write meanwhile) */
        unlink(name);
    }
    CHECK(bad == 0);
    CHECK(total == 4 * LINES);           /* ~2.2 MB over 64 KiB files: many rotations */
    CHECK(files > 3);
    /* keep bounds the files: with keep 2, only .1 and .2 remain beside the file */
    CHECK(access_log_open(path, &al, &err) == 0);
    access_log_set_rotation(al, 4096, 2);
    struct access_record r = {.method = "GET", .path = "/p", .status = 200};
    char line[ACCESS_LOG_LINE_MAX];
    size_t one = 0;
    CHECK(access_log_format(&r, line, sizeof line, &one, NULL) == 0);
    for (int i = 0; i < 400; i++)
        CHECK(access_log_write(al, &r, NULL) == 0);
    access_log_close(al);
    for (int k = 1; k <= 2; k++) {
        struct stat st;
        snprintf(name, sizeof name, "%s.%d", path, k);
        CHECK(stat(name, &st) == 0 && (size_t)st.st_size >= 4096 && (size_t)st.st_size < 4096 + one);
    }
    snprintf(name, sizeof name, "%s.3", path);
    CHECK(access(name, F_OK) != 0);
    snprintf(name, sizeof name, "%s.2", path);
    CHECK(access(name, F_OK) == 0);
    unlink(name);
    snprintf(name, sizeof name, "%s.1", path);
    unlink(name);
    unlink(path);
    rmdir(dir);
}

static void test_request_ids(void)
{
    char a[REQUEST_ID_LEN + 1], b[REQUEST_ID_LEN + 1];
    CHECK(request_id_new(a) == 0);
    CHECK(request_id_new(b) == 0);
    CHECK(strlen(a) == REQUEST_ID_LEN);
    CHECK(strspn(a, "0123456789abcdef") == REQUEST_ID_LEN);
    CHECK(strcmp(a, b) != 0);
}

int main(void)
{
    test_rotation();
    test_exact_line();
    test_utf8();
    test_truncation();
    test_concurrent_and_reopen();
    test_request_ids();
    return check_finish();
}
