/* test_otlp.c — the OTLP span exporter's bounds: a bad endpoint is refused, a full queue
 * drops (counted) instead of growing, a collector that is down costs failed POSTs and
 * dropped spans, never a blocked caller; otlp_free(NULL) is a no-op. The wire format is
 * checked against a fake collector by tests/integration/test_tracing.py. */
#include "check.h"
#include "observe/otlp.h"

#include "base/clock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A loopback port nothing listens on (bound, then closed). */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &n) < 0)
        check_skip("no loopback socket");
    close(fd);
    return ntohs(a.sin_port);
}

int main(void)
{
    struct otlp *ex = NULL;
    struct inferd_err err = {0};
    CHECK(otlp_new("ftp://x/v1/traces", "t", 0, &ex, &err) == INFERD_EINVAL && !ex);
    CHECK(strstr(err.msg, "ftp://x") != NULL);
    CHECK(otlp_new(NULL, "t", 0, &ex, &err) == INFERD_EINVAL);

    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", dead_port());
    CHECK(otlp_new(url, "t", 2, &ex, &err) == 0 && ex);
    struct otlp_span sp = {.kind = OTLP_KIND_SERVER, .http_status = 200};
    trace_new_id(sp.trace_id, TRACE_ID_HEX / 2);
    trace_new_id(sp.span_id, TRACE_SPAN_HEX / 2);
    for (int i = 0; i < 5; i++)
        otlp_export(ex, &sp);
    struct otlp_stats st = otlp_stats(ex);
    CHECK(st.dropped >= 3 && st.sent == 0); /* queue of 2: the rest dropped at once */
    /* the flush (every OTLP_FLUSH_MS) fails: its spans are dropped, the POST counted */
    for (int i = 0; i < 60 && otlp_stats(ex).failed_posts == 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    st = otlp_stats(ex);
    CHECK(st.failed_posts >= 1 && st.dropped == 5 && st.sent == 0);
    otlp_export(ex, &sp); /* queued; otlp_free tries once more and returns */
    otlp_free(ex);
    otlp_free(NULL);
    otlp_export(NULL, &sp);

    /* monotonic -> Unix time: now is now, and an earlier moment is earlier by as much */
    uint64_t mono = clock_now_ns();
    double wall = (double)otlp_wall_ns(mono) / 1e9;
    CHECK(wall > (double)time(NULL) - 2 && wall < (double)time(NULL) + 2);
    CHECK_NEAR((double)(otlp_wall_ns(mono) - otlp_wall_ns(mono - 1000000000ull)) / 1e9, 1.0, 0.01);
    return check_finish();
}
