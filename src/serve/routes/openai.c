/* openai.c — the OpenAI-compatible protocol for GGUF models: /v1/models,
 * /v1/chat/completions, /v1/completions (both streaming as SSE), /v1/embeddings, and
 * llama.cpp's /tokenize and /detokenize. Errors use OpenAI's error object. */
#include "serve/repo/backend_gguf.h"
#include "serve/routes/openai_wire.h"
#include "serve/serve_int.h"

#include "base/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OAI_MAX_PROMPT_TOKENS 65536
#define OAI_STREAM_WAIT_MS 20

/* One OpenAI request from parse to the last byte; freed when the HTTP request ends. */
struct oai_call {
    struct http_req *http;
    struct serve_server *srv;
    struct model_version *mv;       /* reference, released at the end */
    struct llm_model *lm;           /* borrowed from mv */
    struct llm_oai_req q;           /* owned */
    struct llm_job **jobs;          /* owned references; one, or one per embeddings input */
    int n_jobs;
    atomic_int jobs_left;           /* embeddings: the last on_done answers */
    char id[64];
    long long created;
    uint64_t deadline_ns;           /* from X-Request-Timeout-Ms; 0 = none */
    /* streaming state (MHD thread only) */
    int role_sent, final_sent, usage_sent, done_sent;
    size_t text_sent;
    int toks_sent;
    char *pending;                  /* SSE bytes not yet handed to MHD */
    size_t pending_len, pending_off;
};

static void oai_send_error(struct http_req *r, int status, const char *type, const char *param, const char *code,
                           const char *msg)
{
    http_resp_json(r, status, llm_oai_error(msg, type, param, code));
}

/* Maps an INFERD_E* code to OpenAI's status/type/code. */
static void oai_error_from(struct http_req *r, int code, const char *param, const char *msg)
{
    switch (code) {
    case INFERD_ENOTFOUND:
        oai_send_error(r, 404, "invalid_request_error", param ? param : "model", "model_not_found", msg);
        break;
    case INFERD_EAUTH:
        oai_send_error(r, 401, "invalid_request_error", NULL, "invalid_api_key", msg);
        break;
    case INFERD_EBUSY:
        http_resp_header(r, "Retry-After", "1");
        oai_send_error(r, 503, "server_error", NULL, "overloaded", msg);
        break;
    case INFERD_EUNAVAIL:
        http_resp_header(r, "Retry-After", "1");
        oai_send_error(r, 503, "server_error", NULL, "unavailable", msg);
        break;
    case INFERD_ETIMEDOUT:
        oai_send_error(r, 408, "timeout", NULL, "timeout", msg);
        break;
    case INFERD_EINVAL:
    case INFERD_ETOOLARGE:
    case INFERD_EUNSUPPORTED:
        oai_send_error(r, 400, "invalid_request_error", param, code == INFERD_ETOOLARGE ? "context_length_exceeded" : NULL,
                       msg);
        break;
    default:
        oai_send_error(r, 500, "server_error", NULL, NULL, msg);
        break;
    }
}

static int check_auth(struct http_req *r, struct serve_server *s)
{
    if (!s->infer_keys)
        return 0;
    struct inferd_err err = {0};
    if (keyring_check(s->infer_keys, http_req_header(r, "Authorization"), &err) == 0)
        return 0;
    http_resp_header(r, "WWW-Authenticate", "Bearer");
    oai_error_from(r, INFERD_EAUTH, NULL, err.msg);
    return -1;
}

/* The first loaded GGUF model by name, for requests that name none. */
static int default_llm(struct serve_server *s, struct model_version **out)
{
    json_t *idx = repo_index(s->repo);
    size_t i;
    json_t *e;
    int rc = INFERD_ENOTFOUND;
    json_array_foreach(idx, i, e) {
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *name = json_string_value(json_object_get(e, "name"));
        struct model_version *mv;
        if (!state || strcmp(state, "READY") != 0 || !name || repo_acquire(s->repo, name, 0, &mv, NULL) < 0)
            continue;
        if (mv->be == &backend_gguf) {
            *out = mv;
            rc = 0;
            break;
        }
        repo_release(mv);
    }
    json_decref(idx);
    return rc;
}

/* Finds the named (or, with no name, the default) LLM. OUT: *mv (a reference). Returns 0
 * or INFERD_ENOTFOUND with err's message saying why; answers nothing. */
static int find_model(struct serve_server *s, const char *name, struct model_version **mv, struct inferd_err *err)
{
    struct inferd_err rerr = {0};
    if (!name || !*name) {
        if (default_llm(s, mv) == 0)
            return 0;
        return inferd_err_set(err, INFERD_ENOTFOUND, "no language model is loaded");
    }
    if (repo_acquire(s->repo, name, 0, mv, &rerr) < 0)
        return inferd_err_set(err, INFERD_ENOTFOUND, "The model '%.200s' does not exist or is not loaded (%.300s)", name,
                              rerr.msg);
    if ((*mv)->be != &backend_gguf) {
        repo_release(*mv);
        *mv = NULL;
        return inferd_err_set(err, INFERD_ENOTFOUND, "The model '%.200s' is not a language model", name);
    }
    return 0;
}

/* Takes the named (or default) LLM. Sets the error response and returns < 0 on failure. */
static int take_model(struct http_req *r, struct serve_server *s, const char *name, struct model_version **mv)
{
    struct inferd_err err = {0};
    if (find_model(s, name, mv, &err) < 0) {
        oai_send_error(r, 404, "invalid_request_error", "model", "model_not_found", err.msg);
        return -1;
    }
    http_req_set_model(r, (*mv)->name, (*mv)->version_str);
    return 0;
}

static int piece_cb(void *ctx, int32_t tok, char *buf, size_t cap)
{
    struct llm_model *lm = ctx;
    return inferd_llm_token_to_piece(lm->m, tok, buf, cap);
}

static void call_free(void *arg)
{
    struct oai_call *c = arg;
    for (int i = 0; i < c->n_jobs; i++) {
        llm_job_cancel(c->jobs[i]); /* client gone or done: a no-op when finished */
        llm_job_release(c->jobs[i]);
    }
    free(c->jobs);
    free(c->pending);
    llm_oai_req_free(&c->q);
    if (c->mv)
        repo_release(c->mv);
    free(c);
}

static struct oai_call *call_new(struct http_req *r, struct serve_server *s, const char *prefix)
{
    struct oai_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->http = r;
    c->srv = s;
    c->created = (long long)time(NULL);
    snprintf(c->id, sizeof c->id, "%s%.40s", prefix, http_req_id(r));
    http_req_on_done(r, call_free, c);
    return c;
}

/* Deadline from X-Request-Timeout-Ms into c->deadline_ns (0 = none). A value that is not
 * a non-negative integer answers 400 naming the header and returns < 0; a huge one is
 * clamped (HTTP_TIMEOUT_MS_MAX), never wrapped into a deadline in the past. */
static int deadline_of(struct oai_call *c)
{
    const char *h = http_req_header(c->http, "X-Request-Timeout-Ms");
    struct inferd_err err = {0};
    int64_t ms = 0;
    if (h && http_parse_timeout_ms("X-Request-Timeout-Ms", h, &ms, &err) < 0) {
        oai_error_from(c->http, err.code, "X-Request-Timeout-Ms", err.msg);
        return -1;
    }
    c->deadline_ns = http_deadline_ns(clock_now_ns(), ms * 1000);
    return 0;
}

/* The opening steps of the generation and embeddings routes: auth, the call (freed with
 * the request), the deadline, the model the body names (or the default LLM), and one parse
 * of the body starting from that model's sampling defaults. The model is looked up before
 * the parse so the body is parsed once; a bad field still answers 400 before an unknown
 * model's 404. Returns the call, or NULL after answering the error. */
static struct oai_call *call_open(struct http_req *r, struct serve_server *s, enum llm_oai_kind kind,
                                  const char *prefix)
{
    if (check_auth(r, s) < 0)
        return NULL;
    struct oai_call *c = call_new(r, s, prefix);
    if (!c) {
        oai_error_from(r, INFERD_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    if (deadline_of(c) < 0)
        return NULL;
    size_t len;
    const char *body = http_req_body(r, &len);
    char param[64];
    struct inferd_err err = {0}, merr = {0};
    json_t *root;
    const char *model;
    if (llm_oai_load(body, len, &root, &model, param, &err) < 0) {
        oai_error_from(r, err.code, param, err.msg);
        return NULL;
    }
    http_req_set_model(r, model, ""); /* the log and metrics name it even on a 400 */
    if (find_model(s, model, &c->mv, &merr) == 0) {
        c->lm = c->mv->model;
        http_req_set_model(r, c->mv->name, c->mv->version_str);
    }
    /* Model defaults, then the request's own values (OpenAI's defaults without a model). */
    if (llm_oai_parse_root(kind, root, c->lm ? &c->lm->defaults : NULL, &c->q, param, &err) < 0) {
        oai_error_from(r, err.code, param, err.msg);
        return NULL;
    }
    if (!c->mv) {
        oai_send_error(r, 404, "invalid_request_error", "model", "model_not_found", merr.msg);
        return NULL;
    }
    return c;
}

/* ---------------- completions (chat and plain) ---------------- */

static struct llm_oai_out out_of(struct llm_job *j, const char *text, size_t len)
{
    struct llm_oai_out o = {.text = text, .len = len, .finish_reason = j->finish_reason,
                            .prompt_tokens = j->prompt_tokens, .completion_tokens = j->completion_tokens,
                            .cached_tokens = j->cached_tokens, .toks = j->toks, .n_toks = j->n_toks};
    return o;
}

/* Access-log facts; a stream cut before its end keeps finish_reason "incomplete". */
static void set_timing(struct oai_call *c, struct llm_job *j)
{
    pthread_mutex_lock(&j->lock);
    double queue_ms = j->t_start > j->t_submit ? (j->t_start - j->t_submit) / 1e6 : 0;
    double compute_ms = j->t_start ? (clock_now_ns() - j->t_start) / 1e6 : 0;
    struct http_llm_stats st = {.prompt_tokens = j->prompt_tokens, .completion_tokens = j->completion_tokens,
                                .ttft_ms = j->ttft_s * 1e3,
                                .tokens_per_s = j->gen_s > 0 ? (j->completion_tokens - 1) / j->gen_s : 0,
                                .finish_reason = j->done ? j->finish_reason : "incomplete"};
    pthread_mutex_unlock(&j->lock);
    http_req_set_timing(c->http, queue_ms, compute_ms);
    http_req_set_llm(c->http, &st);
}

/* Scheduler thread: the non-streaming answer. http_req_finish is the last touch of c. */
static void completion_done(struct llm_job *j, void *arg)
{
    struct oai_call *c = arg;
    if (strcmp(j->finish_reason, "error") == 0) {
        oai_error_from(c->http, j->err_code, NULL, j->err_msg);
    } else {
        struct llm_oai_out o = out_of(j, j->text, j->text_len);
        json_t *resp = llm_oai_response(&c->q, &o, c->id, c->created, c->mv->name, piece_cb, c->lm);
        if (resp)
            http_resp_json(c->http, 200, resp);
        else
            oai_send_error(c->http, 500, "server_error", NULL, NULL, "out of memory building the response");
    }
    set_timing(c, j);
    http_req_finish(c->http);
}

/* Appends an SSE event (takes s) to the pending buffer. */
static void pend(struct oai_call *c, char *s)
{
    if (!s)
        return;
    size_t n = strlen(s);
    char *p = realloc(c->pending, c->pending_len + n + 1);
    if (!p) {
        free(s);
        return;
    }
    memcpy(p + c->pending_len, s, n + 1);
    c->pending = p;
    c->pending_len += n;
    free(s);
}

/* Produces the next SSE events into c->pending, waiting briefly for the scheduler. */
static void stream_produce(struct oai_call *c)
{
    struct llm_job *j = c->jobs[0];
    if (!c->role_sent) {
        c->role_sent = 1;
        if (c->q.kind == LLM_OAI_CHAT) {
            struct llm_oai_out o = {0};
            pend(c, llm_oai_chunk(&c->q, &o, 1, c->id, c->created, c->mv->name, piece_cb, c->lm));
            return;
        }
    }
    pthread_mutex_lock(&j->lock);
    if (!j->done && j->out_len == c->text_sent && j->n_toks == c->toks_sent) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += OAI_STREAM_WAIT_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
    }
    size_t out_len = j->out_len;
    int n_toks = j->n_toks, done = j->done;
    char *text = NULL;
    if (out_len > c->text_sent) {
        text = malloc(out_len - c->text_sent);
        if (text)
            memcpy(text, j->text + c->text_sent, out_len - c->text_sent);
    }
    struct llm_oai_out o = out_of(j, text, text ? out_len - c->text_sent : 0);
    pthread_mutex_unlock(&j->lock);

    /* Token records below n_toks are immutable once counted: read them unlocked. */
    if (text || (c->q.logprobs && n_toks > c->toks_sent)) {
        o.finish_reason = NULL;
        o.toks = j->toks ? j->toks + c->toks_sent : NULL;
        o.n_toks = j->toks ? n_toks - c->toks_sent : 0;
        pend(c, llm_oai_chunk(&c->q, &o, 0, c->id, c->created, c->mv->name, piece_cb, c->lm));
        if (!done)
            set_timing(c, j);
        c->text_sent = text ? out_len : c->text_sent;
        c->toks_sent = n_toks;
        free(text);
        return;
    }
    free(text);
    if (!done)
        return;
    if (!c->final_sent) {
        c->final_sent = 1;
        set_timing(c, j);
        if (strcmp(j->finish_reason, "error") == 0) {
            json_t *e = llm_oai_error(j->err_msg, "server_error", NULL, NULL);
            char *body = json_dumps(e, JSON_COMPACT);
            json_decref(e);
            if (body) {
                char *ev = malloc(strlen(body) + 9);
                if (ev)
                    sprintf(ev, "data: %s\n\n", body);
                free(body);
                pend(c, ev);
            }
            return;
        }
        struct llm_oai_out fin = out_of(j, "", 0);
        fin.toks = NULL;
        fin.n_toks = 0;
        pend(c, llm_oai_chunk(&c->q, &fin, 0, c->id, c->created, c->mv->name, piece_cb, c->lm));
        return;
    }
    if (c->q.include_usage && !c->usage_sent) {
        c->usage_sent = 1;
        struct llm_oai_out u = out_of(j, "", 0);
        pend(c, llm_oai_usage_chunk(&c->q, &u, c->id, c->created, c->mv->name));
        return;
    }
    if (!c->done_sent) {
        c->done_sent = 1;
        pend(c, strdup("data: [DONE]\n\n"));
    }
}

static ssize_t stream_read(void *ctx, char *buf, size_t cap)
{
    struct oai_call *c = ctx;
    for (int tries = 0; tries < 2; tries++) {
        if (c->pending_off < c->pending_len) {
            size_t n = c->pending_len - c->pending_off;
            if (n > cap)
                n = cap;
            memcpy(buf, c->pending + c->pending_off, n);
            c->pending_off += n;
            if (c->pending_off == c->pending_len)
                c->pending_off = c->pending_len = 0;
            return (ssize_t)n;
        }
        if (c->done_sent)
            return -1;
        stream_produce(c);
    }
    return 0;
}

static int submit_generation(struct oai_call *c, int32_t *prompt, int n_prompt)
{
    struct inferd_err err = {0};
    struct llm_job_params jp = {
        .prompt = prompt,
        .n_prompt = n_prompt,
        .max_tokens = c->q.max_tokens > 0 ? c->q.max_tokens : c->lm->max_tokens,
        .sampling = c->q.sampling,
        .stop = c->q.stop,
        .n_stop = c->q.n_stop,
        .n_top = c->q.top_logprobs,
        .logprobs = c->q.logprobs,
        .ignore_eos = c->q.ignore_eos,
        .deadline_ns = c->deadline_ns,
        .on_done = c->q.stream ? NULL : completion_done,
        .on_done_arg = c,
    };
    struct llm_job *j = llm_job_new(&jp, &err);
    if (!j) {
        oai_error_from(c->http, err.code, "messages", err.msg);
        return HTTP_DONE;
    }
    c->jobs = malloc(sizeof *c->jobs);
    if (!c->jobs) {
        llm_job_release(j);
        oai_error_from(c->http, INFERD_ENOMEM, NULL, "out of memory");
        return HTTP_DONE;
    }
    c->jobs[0] = j;
    c->n_jobs = 1;
    /* Until the job reports, the access log shows the prompt and "incomplete". Set before
     * the submit: afterwards the scheduler thread may write it (completion_done). */
    struct http_llm_stats st = {.prompt_tokens = n_prompt, .finish_reason = "incomplete"};
    http_req_set_llm(c->http, &st);
    if (llm_sched_submit(c->lm->sched, j, &err) < 0) {
        oai_error_from(c->http, err.code, c->q.kind == LLM_OAI_CHAT ? "messages" : "prompt", err.msg);
        return HTTP_DONE;
    }
    if (!c->q.stream)
        return HTTP_ASYNC;
    http_resp_header(c->http, "Cache-Control", "no-cache");
    http_resp_header(c->http, "X-Accel-Buffering", "no");
    http_resp_stream(c->http, 200, "text/event-stream", stream_read, c, NULL);
    return HTTP_DONE;
}

/* Scheduler thread: the last of several prompts' jobs answers with one choice each. */
static void several_done(struct llm_job *j, void *arg)
{
    (void)j;
    struct oai_call *c = arg;
    if (atomic_fetch_sub(&c->jobs_left, 1) != 1)
        return;
    struct llm_oai_out *outs = calloc((size_t)c->n_jobs, sizeof *outs);
    struct http_llm_stats st = {.finish_reason = "stop"};
    int failed = -1;
    for (int i = 0; i < c->n_jobs; i++) {
        struct llm_job *k = c->jobs[i];
        if (strcmp(k->finish_reason, "error") == 0 && failed < 0)
            failed = i;
        if (outs)
            outs[i] = out_of(k, k->text, k->text_len);
        st.prompt_tokens += k->prompt_tokens;
        st.completion_tokens += k->completion_tokens;
    }
    json_t *resp = NULL;
    if (failed >= 0)
        oai_error_from(c->http, c->jobs[failed]->err_code, "prompt", c->jobs[failed]->err_msg);
    else if (outs && (resp = llm_oai_response_n(&c->q, outs, c->n_jobs, c->id, c->created, c->mv->name, piece_cb,
                                                c->lm)) != NULL)
        http_resp_json(c->http, 200, resp);
    else
        oai_error_from(c->http, INFERD_ENOMEM, NULL, "out of memory building the response");
    free(outs);
    http_req_set_llm(c->http, &st);
    http_req_finish(c->http);
}

/* Completions with a list of prompts: one job per prompt, one choice each (not streamed). */
/* Queues c->jobs[0..n_jobs) (jobs_left already set). If the first submit fails the request
 * gets an OpenAI error naming param; if a later one fails, the rest are marked failed and
 * counted done so that done_fn runs once when the queued ones finish. */
static int submit_jobs(struct oai_call *c, const char *param, void (*done_fn)(struct llm_job *, void *))
{
    struct inferd_err err = {0};
    for (int i = 0; i < c->n_jobs; i++) {
        if (llm_sched_submit(c->lm->sched, c->jobs[i], &err) == 0)
            continue;
        if (i == 0) {
            oai_error_from(c->http, err.code, param, err.msg);
            return HTTP_DONE;
        }
        for (int k = i; k < c->n_jobs; k++) {
            pthread_mutex_lock(&c->jobs[k]->lock);
            c->jobs[k]->done = 1;
            c->jobs[k]->finish_reason = "error";
            c->jobs[k]->err_code = err.code;
            snprintf(c->jobs[k]->err_msg, sizeof c->jobs[k]->err_msg, "%.255s", err.msg);
            pthread_mutex_unlock(&c->jobs[k]->lock);
        }
        if (atomic_fetch_sub(&c->jobs_left, c->n_jobs - i) == c->n_jobs - i)
            done_fn(c->jobs[0], c);
        return HTTP_ASYNC;
    }
    return HTTP_ASYNC;
}

static int submit_several(struct oai_call *c)
{
    struct inferd_err err = {0};
    if (c->q.stream) {
        oai_error_from(c->http, INFERD_EINVAL, "stream", "stream: not supported with several prompts");
        return HTTP_DONE;
    }
    c->jobs = calloc((size_t)c->q.n_inputs, sizeof *c->jobs);
    if (!c->jobs) {
        oai_error_from(c->http, INFERD_ENOMEM, NULL, "out of memory");
        return HTTP_DONE;
    }
    for (int i = 0; i < c->q.n_inputs; i++) {
        int32_t *toks = NULL;
        int n = 0;
        if (c->q.inputs[i]) {
            if (llm_model_tokenize(c->lm, c->q.inputs[i], strlen(c->q.inputs[i]), 1, 1, OAI_MAX_PROMPT_TOKENS, &toks,
                                   &n, &err) < 0) {
                oai_error_from(c->http, err.code, "prompt", err.msg);
                return HTTP_DONE;
            }
        } else {
            toks = c->q.input_ids[i];
            n = c->q.n_input_ids[i];
            c->q.input_ids[i] = NULL;
            for (int k = 0; k < n; k++) {
                if (toks[k] >= c->lm->info->n_vocab) {
                    free(toks);
                    oai_error_from(c->http, INFERD_EINVAL, "prompt", "prompt: token id is not below the vocabulary size");
                    return HTTP_DONE;
                }
            }
        }
        struct llm_job_params jp = {.prompt = toks, .n_prompt = n,
                                    .max_tokens = c->q.max_tokens > 0 ? c->q.max_tokens : c->lm->max_tokens,
                                    .sampling = c->q.sampling, .stop = c->q.stop, .n_stop = c->q.n_stop,
                                    .n_top = c->q.top_logprobs, .logprobs = c->q.logprobs,
                                    .ignore_eos = c->q.ignore_eos, .deadline_ns = c->deadline_ns,
                                    .on_done = several_done, .on_done_arg = c};
        c->jobs[i] = llm_job_new(&jp, &err);
        if (!c->jobs[i]) {
            oai_error_from(c->http, err.code, "prompt", err.msg);
            return HTTP_DONE;
        }
        c->n_jobs++;
    }
    atomic_store(&c->jobs_left, c->n_jobs);
    struct http_llm_stats st = {.finish_reason = "incomplete"};
    http_req_set_llm(c->http, &st);
    return submit_jobs(c, "prompt", several_done);
}

static int handle_generation(struct http_req *r, void *ctx, enum llm_oai_kind kind)
{
    struct oai_call *c = call_open(r, ctx, kind, kind == LLM_OAI_CHAT ? "chatcmpl-" : "cmpl-");
    if (!c)
        return HTTP_DONE;
    struct inferd_err err = {0};

    if (kind == LLM_OAI_COMPLETION && c->q.n_inputs > 1)
        return submit_several(c);
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if (kind == LLM_OAI_CHAT) {
        char *text = NULL;
        if (chat_tmpl_render(&c->lm->tmpl, c->q.msgs, c->q.n_msgs, 1, 4u << 20, &text, &err) < 0) {
            oai_error_from(r, err.code, "messages", err.msg);
            return HTTP_DONE;
        }
        int rc = llm_model_tokenize(c->lm, text, strlen(text), 1, 1, OAI_MAX_PROMPT_TOKENS, &prompt, &n_prompt, &err);
        free(text);
        if (rc < 0) {
            oai_error_from(r, err.code, "messages", err.msg);
            return HTTP_DONE;
        }
    } else if (c->q.prompt) {
        if (llm_model_tokenize(c->lm, c->q.prompt, strlen(c->q.prompt), 1, 1, OAI_MAX_PROMPT_TOKENS, &prompt, &n_prompt,
                               &err) < 0) {
            oai_error_from(r, err.code, "prompt", err.msg);
            return HTTP_DONE;
        }
    } else {
        for (int i = 0; i < c->q.n_prompt_ids; i++) {
            if (c->q.prompt_ids[i] >= c->lm->info->n_vocab) {
                snprintf(err.msg, sizeof err.msg, "prompt[%d]: token id %d is not below the vocabulary size %d", i,
                         c->q.prompt_ids[i], c->lm->info->n_vocab);
                oai_error_from(r, INFERD_EINVAL, "prompt", err.msg);
                return HTTP_DONE;
            }
        }
        prompt = c->q.prompt_ids;
        n_prompt = c->q.n_prompt_ids;
        c->q.prompt_ids = NULL;
        c->q.n_prompt_ids = 0;
    }
    if (n_prompt == 0) {
        free(prompt);
        oai_error_from(r, INFERD_EINVAL, kind == LLM_OAI_CHAT ? "messages" : "prompt", "prompt: empty after tokenization");
        return HTTP_DONE;
    }
    return submit_generation(c, prompt, n_prompt);
}

static int h_chat(struct http_req *r, void *ctx) { return handle_generation(r, ctx, LLM_OAI_CHAT); }
static int h_completions(struct http_req *r, void *ctx) { return handle_generation(r, ctx, LLM_OAI_COMPLETION); }

/* ---------------- embeddings ---------------- */

static void embeddings_done(struct llm_job *j, void *arg)
{
    (void)j;
    struct oai_call *c = arg;
    if (atomic_fetch_sub(&c->jobs_left, 1) != 1)
        return;
    const float **embs = calloc((size_t)c->n_jobs, sizeof *embs);
    int prompt_tokens = 0, n_embd = 0;
    for (int i = 0; i < c->n_jobs; i++) {
        struct llm_job *k = c->jobs[i];
        if (strcmp(k->finish_reason, "stop") != 0 || !k->embedding) {
            oai_error_from(c->http, k->err_code ? k->err_code : INFERD_ETIMEDOUT, "input",
                           k->err_msg[0] ? k->err_msg : "embedding did not finish");
            free(embs);
            http_req_finish(c->http);
            return;
        }
        if (embs)
            embs[i] = k->embedding;
        prompt_tokens += k->n_prompt;
        n_embd = k->n_embd;
    }
    json_t *resp = embs ? llm_oai_embeddings(&c->q, embs, c->n_jobs, n_embd, c->mv->name, prompt_tokens) : NULL;
    struct http_llm_stats st = {.prompt_tokens = prompt_tokens, .finish_reason = "stop"};
    http_req_set_llm(c->http, &st);
    free(embs);
    if (resp)
        http_resp_json(c->http, 200, resp);
    else
        oai_error_from(c->http, INFERD_ENOMEM, NULL, "out of memory building the response");
    http_req_finish(c->http);
}

static int h_embeddings(struct http_req *r, void *ctx)
{
    struct oai_call *c = call_open(r, ctx, LLM_OAI_EMBEDDING, "emb-");
    if (!c)
        return HTTP_DONE;
    struct inferd_err err = {0};
    if (!c->lm->embeddings) {
        oai_error_from(r, INFERD_EUNSUPPORTED, "model", "embeddings are turned off for this model (config.json)");
        return HTTP_DONE;
    }
    c->jobs = calloc((size_t)c->q.n_inputs, sizeof *c->jobs);
    if (!c->jobs) {
        oai_error_from(r, INFERD_ENOMEM, NULL, "out of memory");
        return HTTP_DONE;
    }
    /* Create every job first so a bad input fails the request before any compute. */
    for (int i = 0; i < c->q.n_inputs; i++) {
        int32_t *toks = NULL;
        int n = 0;
        if (c->q.inputs[i]) {
            if (llm_model_tokenize(c->lm, c->q.inputs[i], strlen(c->q.inputs[i]), 1, 0, OAI_MAX_PROMPT_TOKENS, &toks,
                                   &n, &err) < 0) {
                oai_error_from(r, err.code, "input", err.msg);
                return HTTP_DONE;
            }
        } else {
            toks = c->q.input_ids[i];
            n = c->q.n_input_ids[i];
            c->q.input_ids[i] = NULL;
            for (int k = 0; k < n; k++) {
                if (toks[k] >= c->lm->info->n_vocab) {
                    free(toks);
                    oai_error_from(r, INFERD_EINVAL, "input", "input: token id is not below the vocabulary size");
                    return HTTP_DONE;
                }
            }
        }
        struct llm_job_params jp = {.prompt = toks, .n_prompt = n, .embed = 1, .deadline_ns = c->deadline_ns,
                                    .on_done = embeddings_done, .on_done_arg = c};
        c->jobs[i] = llm_job_new(&jp, &err);
        if (!c->jobs[i]) {
            oai_error_from(r, err.code, "input", err.msg);
            return HTTP_DONE;
        }
        c->n_jobs++;
    }
    atomic_store(&c->jobs_left, c->n_jobs);
    return submit_jobs(c, "input", embeddings_done);
}

/* ---------------- tokenize / detokenize / models ---------------- */

/* Opening of /tokenize and /detokenize: auth, then the body as JSON. OUT: *root (NULL when
 * the body is not JSON: the caller's field checks then name the missing field). Returns -1
 * when the request has been answered (401). */
static int tok_open(struct http_req *r, struct serve_server *s, json_t **root)
{
    if (check_auth(r, s) < 0)
        return -1;
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    *root = json_loadb(body, len, 0, &je);
    return 0;
}

static int h_tokenize(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *root;
    if (tok_open(r, s, &root) < 0)
        return HTTP_DONE;
    json_t *content = json_object_get(root, "content");
    if (!json_is_string(content)) {
        json_decref(root);
        oai_error_from(r, INFERD_EINVAL, "content", "content: required, a string");
        return HTTP_DONE;
    }
    json_t *as = json_object_get(root, "add_special"), *ps = json_object_get(root, "parse_special");
    json_t *wp = json_object_get(root, "with_pieces");
    struct model_version *mv;
    if (take_model(r, s, json_string_value(json_object_get(root, "model")), &mv) < 0) {
        json_decref(root);
        return HTTP_DONE;
    }
    struct llm_model *lm = mv->model;
    int32_t *toks = NULL;
    int n = 0;
    struct inferd_err err = {0};
    if (llm_model_tokenize(lm, json_string_value(content), json_string_length(content), json_is_true(as),
                           ps ? json_is_true(ps) : 1, OAI_MAX_PROMPT_TOKENS, &toks, &n, &err) < 0) {
        oai_error_from(r, err.code, "content", err.msg);
    } else {
        json_t *a = json_array();
        for (int i = 0; i < n; i++) {
            if (json_is_true(wp)) {
                char buf[256];
                int pn = inferd_llm_token_to_piece(lm->m, toks[i], buf, sizeof buf);
                char *p = llm_utf8_sanitize(buf, pn > 0 ? (size_t)(pn > 256 ? 256 : pn) : 0, NULL);
                json_array_append_new(a, json_pack("{s:i,s:s}", "id", toks[i], "piece", p ? p : ""));
                free(p);
            } else {
                json_array_append_new(a, json_integer(toks[i]));
            }
        }
        http_resp_json(r, 200, json_pack("{s:o}", "tokens", a));
    }
    free(toks);
    repo_release(mv);
    json_decref(root);
    return HTTP_DONE;
}

static int h_detokenize(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *root;
    if (tok_open(r, s, &root) < 0)
        return HTTP_DONE;
    json_t *toks = json_object_get(root, "tokens");
    if (!json_is_array(toks) || json_array_size(toks) > OAI_MAX_PROMPT_TOKENS) {
        json_decref(root);
        oai_error_from(r, INFERD_EINVAL, "tokens", "tokens: required, an array of token ids");
        return HTTP_DONE;
    }
    struct model_version *mv;
    if (take_model(r, s, json_string_value(json_object_get(root, "model")), &mv) < 0) {
        json_decref(root);
        return HTTP_DONE;
    }
    struct llm_model *lm = mv->model;
    size_t cap = json_array_size(toks) * 64 + 1, off = 0;
    char *text = malloc(cap);
    int bad = -1;
    for (size_t i = 0; text && i < json_array_size(toks); i++) {
        json_t *t = json_array_get(toks, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= lm->info->n_vocab) {
            bad = (int)i;
            break;
        }
        int n = inferd_llm_token_to_piece(lm->m, (int32_t)json_integer_value(t), text + off, cap - off - 1);
        if (n > 0 && (size_t)n <= cap - off - 1)
            off += (size_t)n;
    }
    if (!text) {
        oai_error_from(r, INFERD_ENOMEM, NULL, "out of memory");
    } else if (bad >= 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "tokens[%d]: not a token id of this model (0..%d)", bad, lm->info->n_vocab - 1);
        oai_error_from(r, INFERD_EINVAL, "tokens", msg);
    } else {
        char *clean = llm_utf8_sanitize(text, off, NULL);
        http_resp_json(r, 200, json_pack("{s:s}", "content", clean ? clean : ""));
        free(clean);
    }
    free(text);
    repo_release(mv);
    json_decref(root);
    return HTTP_DONE;
}

json_t *openai_model_object(struct model_version *mv)
{
    struct llm_model *lm = mv->model;
    struct llm_sched_stats st;
    llm_sched_stats(lm->sched, &st);
    json_t *meta = json_object();
    json_object_set_new(meta, "version", json_string(mv->version_str));
    json_object_set_new(meta, "arch", json_string(lm->info->arch ? lm->info->arch : ""));
    json_object_set_new(meta, "n_vocab", json_integer(lm->info->n_vocab));
    json_object_set_new(meta, "n_ctx_train", json_integer(lm->info->n_ctx_train));
    json_object_set_new(meta, "n_embd", json_integer(lm->info->n_embd));
    json_object_set_new(meta, "n_params", json_integer((json_int_t)lm->info->n_params));
    json_object_set_new(meta, "n_ctx", json_integer(st.n_ctx));
    json_object_set_new(meta, "parallel", json_integer(st.n_seq));
    json_object_set_new(meta, "n_ctx_per_seq", json_integer(st.slot_ctx));
    json_object_set_new(meta, "chat_template", json_string(chat_tmpl_name(lm->tmpl.family)));
    json_object_set_new(meta, "chat_template_source", json_string(lm->tmpl_source));
    json_t *e = json_object();
    json_object_set_new(e, "id", json_string(mv->name));
    json_object_set_new(e, "object", json_string("model"));
    json_object_set_new(e, "created", json_integer((json_int_t)lm->created));
    json_object_set_new(e, "owned_by", json_string("inferd"));
    json_object_set_new(e, "meta", meta);
    return e;
}

static int h_models(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    if (check_auth(r, s) < 0)
        return HTTP_DONE;
    json_t *data = json_array();
    json_t *idx = repo_index(s->repo);
    size_t i;
    json_t *e;
    json_array_foreach(idx, i, e) {
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *ver = json_string_value(json_object_get(e, "version"));
        struct model_version *mv;
        if (!state || strcmp(state, "READY") != 0 || !name || !ver)
            continue;
        if (repo_acquire(s->repo, name, strtoll(ver, NULL, 10), &mv, NULL) < 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < json_array_size(data); k++)
            dup |= strcmp(json_string_value(json_object_get(json_array_get(data, k), "id")), name) == 0;
        if (mv->be == &backend_gguf && !dup)
            json_array_append_new(data, openai_model_object(mv));
        repo_release(mv);
    }
    json_decref(idx);
    http_resp_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
    return HTTP_DONE;
}

/* GET /v1/models/{m} is shared with TF-Serving's model status route (routes/tfserving.c),
 * which answers with openai_model_object for a GGUF model: OpenAI's "retrieve model". */
const struct http_route routes_openai[] = {
    {HTTP_GET, "/v1/models", HTTP_AUTH_NONE, h_models, "openai_models"},
    {HTTP_POST, "/v1/chat/completions", HTTP_AUTH_NONE, h_chat, "openai_chat"},
    {HTTP_POST, "/v1/completions", HTTP_AUTH_NONE, h_completions, "openai_completions"},
    {HTTP_POST, "/v1/embeddings", HTTP_AUTH_NONE, h_embeddings, "openai_embeddings"},
    {HTTP_POST, "/tokenize", HTTP_AUTH_NONE, h_tokenize, "openai_tokenize"},
    {HTTP_POST, "/detokenize", HTTP_AUTH_NONE, h_detokenize, "openai_detokenize"},
};
const size_t routes_openai_count = sizeof routes_openai / sizeof routes_openai[0];
