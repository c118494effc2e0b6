/* client_int.h — private parts of the client shared by client.c (the retry loop) and
 * attempt.c (one HTTP exchange over libcurl). */
#ifndef INFERD_CLIENT_INT_H
#define INFERD_CLIENT_INT_H

#include "base/buf.h"
#include "base/rng.h"
#include "client/backoff.h"
#include "client/sse.h"
#include "observe/trace.h"
#include "inferd/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>

#define CLIENT_POOL_MAX 16 /* idle curl handles kept for connection reuse */

struct inferd_client {
    char *urls[INFERD_CLIENT_MAX_URLS]; /* owned base URLs without a trailing '/' */
    size_t nurls;
    struct inferd_client_opts opts;     /* strings below point into owned copies */
    char *api_key;                      /* owned (NULL: none) */
    char *user_agent;                   /* owned */
    char traceparent[TRACEPARENT_LEN + 1]; /* opts.traceparent as version 00; "" for none */
    pthread_mutex_t lock;               /* guards pool, npool, rng, preferred */
    CURL *pool[CLIENT_POOL_MAX];        /* idle handles (owned) */
    size_t npool;
    struct rng rng;
    size_t preferred;                   /* index of the URL that answered last */
};

/* One attempt's inputs and results. */
struct attempt {
    /* in */
    CURL *curl;                  /* borrowed handle, already reset */
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    struct curl_slist *headers;  /* borrowed */
    long timeout_ms;             /* whole attempt; 0 = none */
    long connect_timeout_ms;
    size_t max_body;
    struct sse_parser *sse;      /* non-NULL: stream 2xx bodies into it */
    /* out */
    CURLcode cc;                 /* transport result */
    char curl_msg[CURL_ERROR_SIZE];
    long status;                 /* HTTP status, 0 when none */
    double retry_after_s;        /* -1 when the answer had no (valid) Retry-After */
    struct buf resp;             /* owned: the body when not streamed, at most max_body - 1
                                  * bytes; fails with INFERD_ETOOLARGE past that */
    int stream_started;          /* some 2xx body bytes went to the SSE parser */
    int stream_stopped;          /* the SSE callback asked to stop */
    int stream_rc;               /* negative: the SSE parser failed */
    struct inferd_err stream_err;
};

/* Runs one HTTP exchange on a->curl. Never fails itself: the results are in a (the caller
 * frees a->resp with buf_free). */
void client__attempt(struct attempt *a);

/* The retry/fail-over loop behind every call (client.c). sse non-NULL streams 2xx bodies. */
int client__run(struct inferd_client *c, const char *method, const char *path,
                const char *body, size_t body_len, const char *content_type,
                struct sse_parser *sse, struct inferd_response *resp, struct inferd_err *err);

#endif
