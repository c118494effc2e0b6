/* infer_call.c — the shared inference path of every protocol's routes. */
#include "serve/routes/infer_call.h"
#include "serve/routes/tensor_json.h"

#include "base/clock.h"
#include "base/utf8.h"
#include "base/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int serve_parse_version(const char *s, int64_t *out, struct inferd_err *err)
{
    *out = 0;
    if (!s)
        return 0;
    if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 15 || strtoll(s, NULL, 10) < 1)
        return inferd_err_set(err, INFERD_EINVAL, "version '%s': not a positive integer", s);
    *out = strtoll(s, NULL, 10);
    return 0;
}

void serve_error(struct http_req *r, int predict_style, int code, const char *msg)
{
    int status = http_status_for(code);
    const char *kind = http_kind_for(code);
    if (predict_style) {
        char clean[INFERD_ERR_MSG_MAX];
        utf8_sanitize_into(clean, sizeof clean, msg, strlen(msg)); /* JSON strings are UTF-8 */
        json_t *j = json_pack("{s:s,s:s}", "status", "error", "error", clean);
        http_resp_error(r, status, kind, "%s", msg); /* sets kind; body replaced below */
        http_resp_json(r, status, j);
    } else {
        http_resp_error(r, status, kind, "%s", msg);
    }
    if (code == INFERD_EBUSY || code == INFERD_EUNAVAIL)
        http_resp_header(r, "Retry-After", "1");
}

void infer_call_error(struct infer_call *c, int code, const char *msg)
{
    serve_error(c->http, c->predict_style, code, msg);
}

static void call_free(void *arg)
{
    struct infer_call *c = arg;
    if (c->mv) {
        if (c->srv->m.inflight_requests)
            metrics_add(metrics_series_get(c->srv->m.inflight_requests, (const char *[]){c->mv->name}), -1);
        repo_release(c->mv);
    }
    infer_req_free(c->q);
    free(c->proto);
    free(c);
}

int infer_call_new(struct http_req *r, struct serve_server *s, const char *model, const char *version,
                   int predict_style, struct infer_call **out)
{
    struct inferd_err err = {0};
    int64_t v = 0;
    http_req_set_model(r, model, version);
    if (serve_parse_version(version, &v, &err) < 0) {
        serve_error(r, predict_style, err.code, err.msg);
        return -1;
    }
    struct infer_call *c = calloc(1, sizeof *c);
    if (!c) {
        serve_error(r, predict_style, INFERD_ENOMEM, "out of memory");
        return -1;
    }
    c->http = r;
    c->srv = s;
    c->predict_style = predict_style;
    http_req_on_done(r, call_free, c);
    if (repo_acquire(s->repo, model, v, &c->mv, &err) < 0) {
        c->mv = NULL;
        serve_error(r, predict_style, err.code, err.msg);
        return -1;
    }
    http_req_set_model(r, c->mv->name, c->mv->version_str);
    if (!model_version_can(c->mv, MODEL_CAP_TENSOR)) {
        snprintf(err.msg, sizeof err.msg, "model '%s' does not take tensors: it is a language model (%s)", c->mv->name,
                 model_version_can(c->mv, MODEL_CAP_GENERATE)
                     ? "POST /v2/models/{m}/generate, /v1/chat/completions or /v1/completions"
                                                              : "POST /v1/embeddings");
        repo_release(c->mv);
        c->mv = NULL;
        serve_error(r, predict_style, INFERD_EUNSUPPORTED, err.msg);
        return -1;
    }
    metrics_add(metrics_series_get(s->m.inflight_requests, (const char *[]){c->mv->name}), 1);
    *out = c;
    return 0;
}

static void on_job_done(struct sched_job *job)
{
    struct infer_call *c = job->user;
    http_req_set_timing(c->http, job->queue_s * 1e3, job->compute_s * 1e3);
    uint64_t t0 = clock_now_ns();
    if (job->rc < 0)
        infer_call_error(c, job->rc, job->err.msg);
    else
        c->encode(c, job);
    http_req_set_phases(c->http, c->decode_ms, job->batch_wait_s * 1e3,
                        job->rc < 0 ? 0 : (double)(clock_now_ns() - t0) / 1e6);
    http_req_finish(c->http);
}

int infer_call_submit(struct infer_call *c, struct infer_req *q, infer_encode_fn encode, void *proto)
{
    struct inferd_err err = {0};
    c->q = q;
    c->proto = proto;
    c->encode = encode;
    if (infer_req_check(q, c->mv->in, c->mv->n_in, c->mv->max_batch_size, &err) < 0) {
        infer_call_error(c, err.code, err.msg);
        return HTTP_DONE;
    }
    uint64_t now = http_req_start_ns(c->http);
    const char *h = http_req_header(c->http, "X-Request-Timeout-Ms");
    int64_t timeout_us = q->timeout_us;
    if (h) {
        int64_t ms;
        if (http_parse_timeout_ms("X-Request-Timeout-Ms", h, &ms, &err) < 0) {
            infer_call_error(c, err.code, err.msg);
            return HTTP_DONE;
        }
        timeout_us = ms * 1000;
    }
    uint64_t body = http_req_body_done_ns(c->http);
    uint64_t queued = clock_now_ns();
    c->decode_ms = body && queued > body ? (double)(queued - body) / 1e6 : 0;
    c->job.q = q;
    c->job.user = c;
    c->job.done = on_job_done;
    c->job.deadline_ns = http_deadline_ns(now, timeout_us);
    if (sched_run_inline(c->mv->sched, &c->job))
        return HTTP_ASYNC; /* already finished: http_req_finish ran on this thread */
    if (sched_submit(c->mv->sched, &c->job, &err) < 0) {
        infer_call_error(c, err.code, err.msg);
        return HTTP_DONE;
    }
    return HTTP_ASYNC;
}

struct deferred {
    struct http_req *r;
    struct serve_server *s;
    http_handler_fn handler;
};

/* Parse thread: the handler, then the end of the request unless it went on elsewhere. */
static void run_deferred(void *arg)
{
    struct deferred d = *(struct deferred *)arg;
    free(arg);
    if (d.handler(d.r, d.s) != HTTP_ASYNC)
        http_req_finish(d.r);
}

int serve_defer_large(struct http_req *r, struct serve_server *s, int predict_style, http_handler_fn handler)
{
    size_t len;
    http_req_body(r, &len);
    if (len < SERVE_DEFER_BYTES || !s->parse_q)
        return handler(r, s);
    struct deferred *d = malloc(sizeof *d);
    if (!d) {
        serve_error(r, predict_style, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    *d = (struct deferred){r, s, handler};
    int rc = workq_post(s->parse_q, run_deferred, d);
    if (rc == 0)
        return HTTP_ASYNC;
    free(d);
    char msg[128];
    snprintf(msg, sizeof msg, "server busy: %d large request bodies wait to be parsed; retry", SERVE_PARSE_QUEUE_MAX);
    serve_error(r, predict_style, rc == INFERD_EBUSY ? INFERD_EBUSY : INFERD_EUNAVAIL, msg);
    return HTTP_DONE;
}

int infer_call_prescan(struct infer_call *c, const char *body, size_t len)
{
    struct inferd_err err = {0};
    /* every input at its cap, plus room for the numbers a request carries besides data
     * (shapes, parameters) */
    int64_t max_values = (int64_t)c->mv->n_in * c->srv->opts.max_elements + 4096;
    if (tj_prescan(body, len, max_values, &err) == 0)
        return 0;
    infer_call_error(c, err.code, err.msg);
    return -1;
}
