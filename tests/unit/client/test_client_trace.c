/* test_client_trace.c — the client's traceparent option: a valid one reaches the server on
 * every attempt (retries included), written as version 00; an invalid one is refused by
 * inferd_client_new; without one no traceparent is sent. An in-process libmicrohttpd server
 * on 127.0.0.1 echoes the header it got. */
#include "check.h"
#include "inferd/client.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

struct seen {
    int calls;   /* requests answered; the first of each pair gets 503 */
    int retry;   /* answer odd calls with 503 + Retry-After: 0 */
    char last[128];
    int all_same; /* every request of the run carried the same traceparent as the first */
    char first[128];
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    struct seen *s = cls;
    (void)url, (void)method, (void)version, (void)data;
    if (!*state) {
        *state = conn;
        return MHD_YES;
    }
    if (*data_size) {
        *data_size = 0;
        return MHD_YES;
    }
    const char *tp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent");
    snprintf(s->last, sizeof s->last, "%s", tp ? tp : "");
    if (s->calls == 0)
        snprintf(s->first, sizeof s->first, "%s", s->last);
    else if (strcmp(s->first, s->last) != 0)
        s->all_same = 0;
    unsigned status = s->retry && s->calls % 2 == 0 ? 503 : 200;
    s->calls++;
    struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "0");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static int call(const char *url, const char *traceparent, struct inferd_err *err)
{
    struct inferd_client_opts o = inferd_client_opts_default();
    o.base_urls = url;
    o.backoff_base_s = 0.001;
    o.backoff_cap_s = 0.01;
    o.traceparent = traceparent;
    struct inferd_client *c = NULL;
    int rc = inferd_client_new(&o, &c, err);
    if (rc < 0)
        return rc;
    struct inferd_response r = {0};
    rc = inferd_client_get_json(c, "/x", &r, err);
    inferd_response_clear(&r);
    inferd_client_free(c);
    return rc;
}

int main(void)
{
    static struct seen s;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, &s,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!d)
        check_skip("cannot start a loopback HTTP server");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)info->port);
    struct inferd_err err = {0};

    /* sent on the first attempt and on the retry */
    s = (struct seen){.retry = 1, .all_same = 1};
    CHECK(call(url, TP, &err) == 0);
    CHECK(s.calls == 2 && s.all_same && strcmp(s.first, TP) == 0);

    /* a future version is accepted and sent as version 00; unknown flags are zeroed */
    s = (struct seen){.all_same = 1};
    CHECK(call(url, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff-more", &err) == 0);
    CHECK(strcmp(s.last, TP) == 0);

    /* none: no header */
    s = (struct seen){.all_same = 1};
    CHECK(call(url, NULL, &err) == 0);
    CHECK(s.calls == 1 && s.last[0] == '\0');

    /* invalid: refused before any request */
    s = (struct seen){.all_same = 1};
    CHECK(call(url, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "traceparent") != NULL);
    CHECK(call(url, "00-00000000000000000000000000000000-00f067aa0ba902b7-01", &err) == INFERD_EINVAL);
    CHECK(call(url, "", &err) == INFERD_EINVAL);
    CHECK(s.calls == 0);

    MHD_stop_daemon(d);
    return check_finish();
}
