/* test_client_threads.c — one client shared by several threads against an in-process
 * libmicrohttpd server on 127.0.0.1 that answers the first attempt of every logical request
 * (told apart by Idempotency-Key) with 503 + Retry-After: 0 and the second with 200: every
 * call succeeds after exactly one retry, keys are unique per call and constant across its
 * retries, and the answers reach the thread that asked. */
#include "check.h"
#include "inferd/client.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define CALLS 25
#define MAX_KEYS (THREADS * CALLS + 8)

struct seen {
    pthread_mutex_t lock;
    char keys[MAX_KEYS][INFERD_CLIENT_KEY_LEN + 1];
    int count[MAX_KEYS];
    int nkeys;
    int overflow;
};

/* Returns how many times key has been seen, counting this one. */
static int seen_bump(struct seen *s, const char *key)
{
    int n = 0;
    pthread_mutex_lock(&s->lock);
    int i;
    for (i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i], key) == 0)
            break;
    if (i == s->nkeys) {
        if (s->nkeys == MAX_KEYS || strlen(key) != INFERD_CLIENT_KEY_LEN) {
            s->overflow++;
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
        snprintf(s->keys[i], sizeof s->keys[i], "%s", key);
        s->nkeys++;
    }
    n = ++s->count[i];
    pthread_mutex_unlock(&s->lock);
    return n;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **state)
{
    struct seen *s = cls;
    (void)url, (void)method, (void)version, (void)data;
    if (!*state) { /* first call: headers only */
        *state = conn;
        return MHD_YES;
    }
    if (*data_size) { /* body chunk: ignored */
        *data_size = 0;
        return MHD_YES;
    }
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
    int n = seen_bump(s, key ? key : "");
    char body[128];
    unsigned status = n == 1 ? 503 : 200;
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"n\":%d}", key ? key : "", n);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "0");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

struct worker {
    struct inferd_client *c;
    int ok, bad_attempts, bad_echo, failed;
};

static void *run(void *arg)
{
    struct worker *w = arg;
    json_t *body = json_pack("{s:[{s:s,s:[i],s:s,s:[f]}]}", "inputs", "name", "x", "shape", 1,
                             "datatype", "FP32", "data", 1.0);
    for (int i = 0; i < CALLS; i++) {
        struct inferd_response r = {0};
        struct inferd_err err = {0};
        if (inferd_client_infer_v2(w->c, "m", NULL, body, &r, &err) != 0) {
            w->failed++;
            fprintf(stderr, "call failed: %s\n", err.msg);
        } else {
            w->ok++;
            if (r.attempts != 2)
                w->bad_attempts++;
            const char *k = json_string_value(json_object_get(r.json, "key"));
            if (!k || strcmp(k, r.idempotency_key) != 0 ||
                json_integer_value(json_object_get(r.json, "n")) != 2)
                w->bad_echo++;
        }
        inferd_response_clear(&r);
    }
    json_decref(body);
    return NULL;
}

int main(void)
{
    static struct seen s;
    pthread_mutex_init(&s.lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL, answer,
        &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!d)
        check_skip("cannot start a loopback HTTP server");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)info->port);

    struct inferd_client_opts o = inferd_client_opts_default();
    o.base_urls = url;
    o.backoff_base_s = 0.001;
    o.backoff_cap_s = 0.01;
    o.timeout_s = 120;
    struct inferd_client *c = NULL;
    struct inferd_err err = {0};
    CHECK(inferd_client_new(&o, &c, &err) == 0);

    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){c, 0, 0, 0, 0};
        CHECK(pthread_create(&th[i], NULL, run, &w[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
        CHECK(w[i].failed == 0);
        CHECK(w[i].bad_attempts == 0);
        CHECK(w[i].bad_echo == 0);
    }
    CHECK(ok == THREADS * CALLS);
    CHECK(s.nkeys == THREADS * CALLS); /* a fresh key per logical call */
    CHECK(s.overflow == 0);
    for (int i = 0; i < s.nkeys; i++)
        CHECK(s.count[i] == 2); /* the same key on the first attempt and its retry */

    /* an over-long path is refused, not truncated */
    char longpath[INFERD_CLIENT_URL_MAX];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    struct inferd_response lr = {0};
    CHECK(inferd_client_request(c, "GET", longpath, NULL, 0, NULL, &lr, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "path longer") != NULL);
    inferd_response_clear(&lr);
    inferd_client_free(c);

    /* bad options are refused with a message */
    struct inferd_client *c2 = NULL;
    o.base_urls = "ftp://x";
    CHECK(inferd_client_new(&o, &c2, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "http://") != NULL);
    o.base_urls = " , ";
    CHECK(inferd_client_new(&o, &c2, &err) == INFERD_EINVAL);
    o.base_urls = url;
    o.max_retries = -1;
    CHECK(inferd_client_new(&o, &c2, &err) == INFERD_EINVAL);
    CHECK(c2 == NULL);

    MHD_stop_daemon(d);
    return check_finish();
}
