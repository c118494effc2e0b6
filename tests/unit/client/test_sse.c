/* test_sse.c — the SSE parser: any chunking gives the same events; line ends, comments,
 * multi-line data, event names, caps, stop. */
#include "check.h"
#include "client/sse.h"

#include <stdio.h>
#include <string.h>

struct log {
    char text[4096];
    int n;
    int stop_after;
};

static int on_event(const char *event, const char *data, size_t len, void *ctx)
{
    struct log *l = ctx;
    size_t used = strlen(l->text);
    CHECK(strlen(data) == len);
    snprintf(l->text + used, sizeof l->text - used, "[%s|%s]", event, data);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static const char stream[] =
    ": comment\n"
    "data: {\"a\":1}\n\n"
    "event: ping\r\ndata:x\r\n\r\n"
    "data: line1\rdata: line2\r\r"
    "id: 7\nretry: 100\nunknown: z\ndata\n\n"
    "data: [DONE]\n\n"
    "data: unterminated";

static const char want[] = "[message|{\"a\":1}][ping|x][message|line1\nline2][message|]"
                           "[message|[DONE]]";

static void run_chunked(size_t chunk)
{
    struct log l = {{0}, 0, 0};
    struct sse_parser p;
    sse_init(&p, 1024, on_event, &l);
    size_t n = strlen(stream);
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        CHECK(sse_feed(&p, stream + i, k, NULL) == 0);
    }
    CHECK(strcmp(l.text, want) == 0);
    if (strcmp(l.text, want) != 0)
        fprintf(stderr, "chunk %zu got %s\n", chunk, l.text);
    CHECK(p.events == 5);
    sse_free(&p);
}

static void test_caps_and_stop(void)
{
    struct log l = {{0}, 0, 0};
    struct sse_parser p;
    struct inferd_err err = {0};
    sse_init(&p, 8, on_event, &l);
    CHECK(sse_feed(&p, "data: 1234\ndata: 5678\n", 22, &err) == INFERD_ETOOLARGE);
    CHECK(strstr(err.msg, "8-byte cap") != NULL);
    sse_free(&p);

    sse_init(&p, 8, on_event, &l);
    char big[200];
    memset(big, 'x', sizeof big);
    CHECK(sse_feed(&p, big, sizeof big, &err) == INFERD_ETOOLARGE); /* a line with no end */
    sse_free(&p);

    struct log s = {{0}, 0, 1};
    sse_init(&p, 64, on_event, &s);
    CHECK(sse_feed(&p, "data: a\n\ndata: b\n\n", 18, NULL) == 1);
    CHECK(s.n == 1);
    CHECK(sse_feed(&p, "data: c\n\n", 9, NULL) == 1); /* stays stopped */
    CHECK(s.n == 1);
    sse_free(&p);
}

int main(void)
{
    for (size_t chunk = 1; chunk <= sizeof stream; chunk++)
        run_chunked(chunk);
    test_caps_and_stop();
    return check_finish();
}
