/* openai_choices.c — several choices of one prompt: n > 1, best_of (the n highest mean
 * logprobs of best_of candidates) and echo (the prompt before each choice, with its logprobs).
 * The choices share the prompt's KV (llm_sched_submit_n); non-streamed they answer once the
 * last ends, streamed each chunk carries its choice's index. */
#include "serve/repo/backend_gguf.h"
#include "serve/routes/llm_call.h"
#include "serve/routes/openai_int.h"

#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text a choice echoes: the request's prompt string, or its token ids' pieces. */
static int make_echo(struct llm_call *c, const int32_t *prompt, int n_prompt)
{
    if (c->q.prompt) {
        c->echo_len = strlen(c->q.prompt);
        c->echo = strdup(c->q.prompt);
        return c->echo ? 0 : -1;
    }
    struct buf b;
    buf_init(&b, (size_t)n_prompt * 256 + 1);
    char piece[256];
    for (int i = 0; i < n_prompt; i++) {
        if (i == 0 && prompt[0] == c->lm->info->bos && c->lm->info->add_bos)
            continue; /* the BOS the tokenizer would add is not prompt text */
        int n = inferd_llm_token_to_piece(c->lm->m, prompt[i], piece, sizeof piece);
        if (n > 0)
            buf_put(&b, piece, (size_t)n);
    }
    c->echo = buf_take(&b, &c->echo_len);
    buf_free(&b);
    return c->echo ? 0 : -1;
}

/* Mean logprob per token: best_of's ranking (OpenAI: "the highest log probability per token"). */
static double mean_logprob(const struct llm_job_out *jo)
{
    return jo->completion_tokens > 0 ? jo->sum_logprob / jo->completion_tokens : -1e300;
}

/* Usage of the whole request: the prompt once (it was evaluated once), every candidate's
 * completion tokens. */
static struct llm_oai_out choices_usage(const struct llm_job_out *jos, int n)
{
    struct llm_oai_out u = {.prompt_tokens = jos[0].prompt_tokens, .cached_tokens = jos[0].cached_tokens};
    for (int i = 0; i < n; i++)
        u.completion_tokens += jos[i].completion_tokens;
    return u;
}

/* Scheduler thread: the last candidate of n / best_of answers with the n best choices. */
static void choices_done(struct llm_job *j, void *arg)
{
    (void)j;
    struct llm_call *c = arg;
    if (!oai_last_job(c))
        return;
    int k = c->n_jobs, n = c->q.n, taken = 0, failed = -1;
    struct llm_job_out *jos = calloc((size_t)k, sizeof *jos);
    struct llm_oai_out *outs = calloc((size_t)n, sizeof *outs);
    int *order = calloc((size_t)k, sizeof *order);
    char **texts = calloc((size_t)n, sizeof *texts);
    json_t *resp = NULL;
    for (int i = 0; jos && outs && order && texts && i < k; i++, taken++) {
        struct llm_job_cursor all = {0};
        if (llm_job_take(c->jobs[i], &all, &jos[i]) < 0)
            break;
        if (strcmp(jos[i].finish_reason, "error") == 0 && failed < 0)
            failed = i;
        order[i] = i;
    }
    if (failed >= 0) {
        c->w->error(c->http, jos[failed].err_code, NULL, jos[failed].err_msg);
        goto out;
    }
    if (taken < k)
        goto oom;
    if (k > n) /* best_of: the n highest mean logprobs, best first (ties: the lower index) */
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && mean_logprob(&jos[order[b]]) > mean_logprob(&jos[order[b - 1]]); b--) {
                int t = order[b];
                order[b] = order[b - 1];
                order[b - 1] = t;
            }
    for (int i = 0; i < n; i++) {
        const struct llm_job_out *jo = &jos[order[i]];
        outs[i] = oai_out_of(jo);
        if (c->echo) {
            texts[i] = malloc(c->echo_len + jo->len + 1);
            if (!texts[i])
                goto oom;
            memcpy(texts[i], c->echo, c->echo_len);
            memcpy(texts[i] + c->echo_len, jo->text ? jo->text : "", jo->len);
            texts[i][c->echo_len + jo->len] = 0;
            outs[i].text = texts[i];
            outs[i].len = c->echo_len + jo->len;
            outs[i].echo_len = c->echo_len;
            outs[i].prompt_toks = jos[0].prompt_toks;
            outs[i].n_prompt_toks = jos[0].n_prompt_toks;
        }
    }
    struct llm_oai_out u = choices_usage(jos, k);
    resp = llm_oai_response_n(&c->q, outs, n, c->id, c->created, c->mv->name, oai_piece_cb, c->lm);
    if (!resp || json_object_set_new(resp, "usage", llm_oai_usage(&u)) < 0)
        goto oom;
    for (int i = 0; c->tools.active && i < n; i++) /* each choice's calls, as a single choice's */
        if (oai_tools_choice(c, json_array_get(json_object_get(resp, "choices"), (size_t)i), outs[i].text, outs[i].len,
                             i) < 0)
            goto oom;
    http_resp_json(c->http, 200, resp);
    resp = NULL;
    struct http_llm_stats st = {.prompt_tokens = u.prompt_tokens, .completion_tokens = u.completion_tokens,
                                .ttft_ms = jos[0].ttft_ms, .tokens_per_s = jos[0].tokens_per_s,
                                .finish_reason = jos[order[0]].finish_reason};
    http_req_set_timing(c->http, jos[0].queue_ms, jos[0].compute_ms);
    http_req_set_llm(c->http, &st);
    goto out;
oom:
    c->w->error(c->http, INFERD_ENOMEM, NULL, "out of memory building the response");
out:
    json_decref(resp);
    for (int i = 0; i < taken; i++)
        llm_job_out_free(&jos[i]);
    for (int i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(order);
    free(outs);
    free(jos);
    http_req_finish(c->http);
}

/* Streams of several choices: each chunk carries its choice's index; the usage chunk and
 * [DONE] follow the last choice's finish. */
int oai_produce_choices(struct llm_call *c)
{
    int rc = 0;
    if (!c->role_sent) {
        c->role_sent = 1;
        for (int i = 0; i < c->n_jobs && rc == 0; i++) {
            struct llm_oai_out o = {.index = i, .text = c->echo, .len = c->echo_len};
            if (c->q.kind == LLM_OAI_CHAT)
                rc = llm_call_pend(c, llm_oai_chunk(&c->q, &o, 1, c->id, c->created, c->mv->name, oai_piece_cb, c->lm));
            else if (c->echo)
                rc = llm_call_pend(c, llm_oai_chunk(&c->q, &o, 0, c->id, c->created, c->mv->name, oai_piece_cb, c->lm));
        }
        if (rc < 0 || c->pending.len > 0)
            return rc;
    }
    if (c->final_sent) {
        if (c->q.include_usage && !c->usage_sent) {
            c->usage_sent = 1;
            struct llm_job_out *jos = calloc((size_t)c->n_jobs, sizeof *jos);
            int taken = 0;
            for (; jos && taken < c->n_jobs; taken++) {
                struct llm_job_cursor none = c->curs[taken];
                if (llm_job_take(c->jobs[taken], &none, &jos[taken]) < 0)
                    break;
            }
            if (jos && taken == c->n_jobs) {
                struct llm_oai_out u = choices_usage(jos, c->n_jobs);
                rc = llm_call_pend(c, llm_oai_usage_chunk(&c->q, &u, c->id, c->created, c->mv->name));
            } else {
                rc = -1;
            }
            for (int i = 0; i < taken; i++)
                llm_job_out_free(&jos[i]);
            free(jos);
            return rc;
        }
        c->done_sent = 1;
        return llm_call_pend(c, strdup("data: [DONE]\n\n"));
    }
    for (int i = 0; i < c->n_jobs && rc == 0; i++) {
        if (c->ended[i])
            continue;
        struct llm_job_out jo;
        if (llm_job_take(c->jobs[i], &c->curs[i], &jo) < 0)
            return -1;
        if (c->tool_n) { /* a chat with tools: each choice its own calls */
            rc = oai_produce_tools(c, &c->tool_n[i], &jo);
            if (jo.done) {
                c->ended[i] = 1;
                c->n_ended++;
            }
        } else if (jo.len || (c->q.logprobs && jo.n_toks)) {
            struct llm_oai_out o = oai_out_of(&jo);
            o.finish_reason = NULL;
            o.index = i;
            rc = llm_call_pend(c, llm_oai_chunk(&c->q, &o, 0, c->id, c->created, c->mv->name, oai_piece_cb, c->lm));
        }
        if (rc == 0 && jo.done && !c->tool_n) {
            c->ended[i] = 1;
            c->n_ended++;
            if (strcmp(jo.finish_reason, "error") == 0) {
                rc = llm_call_pend(c, oai_error_event(jo.err_msg));
            } else {
                struct llm_oai_out fin = oai_out_of(&jo);
                fin.text = "";
                fin.len = 0;
                fin.toks = NULL;
                fin.n_toks = 0;
                fin.index = i;
                rc = llm_call_pend(c, llm_oai_chunk(&c->q, &fin, 0, c->id, c->created, c->mv->name, oai_piece_cb, c->lm));
            }
        }
        if (i == 0)
            llm_call_set_timing(c, &jo);
        llm_job_out_free(&jo);
    }
    if (rc == 0 && c->n_ended == c->n_jobs)
        c->final_sent = 1;
    return rc;
}

/* n > 1 / best_of > 1 / echo: best_of jobs (n when best_of is not given) of one prompt.
 * Job 0 evaluates the prompt; the others share its KV cache (share_prompt_of). Choice i
 * draws with seed + i when the request has a seed. Takes prompt. */
int oai_submit_choices(struct llm_call *c, int32_t *prompt, int n_prompt)
{
    struct inferd_err err = {0};
    int k = c->q.best_of;
    int32_t **copies = calloc((size_t)k, sizeof *copies);
    c->jobs = calloc((size_t)k, sizeof *c->jobs);
    if (c->q.stream) {
        c->curs = calloc((size_t)k, sizeof *c->curs);
        c->ended = calloc((size_t)k, 1);
    }
    if (c->q.stream && c->tools.active && (c->tool_n = calloc((size_t)k, sizeof *c->tool_n)) != NULL)
        for (int i = 0; i < k; i++) {
            buf_init(&c->tool_n[i].hold, c->tool.hold.max);
            c->tool_n[i].index = i;
        }
    int bad = !copies || !c->jobs || (c->q.stream && (!c->curs || !c->ended)) ||
              (c->q.stream && c->tools.active && !c->tool_n);
    for (int i = 1; !bad && i < k; i++) {
        copies[i] = malloc(sizeof(int32_t) * (size_t)n_prompt);
        bad = !copies[i];
        if (!bad)
            memcpy(copies[i], prompt, sizeof(int32_t) * (size_t)n_prompt);
    }
    if (!bad && c->q.echo)
        bad = make_echo(c, prompt, n_prompt) < 0;
    if (bad) {
        for (int i = 1; copies && i < k; i++)
            free(copies[i]);
        free(copies);
        free(prompt);
        c->w->error(c->http, INFERD_ENOMEM, NULL, "out of memory");
        return HTTP_DONE;
    }
    copies[0] = prompt;
    int rc = HTTP_DONE;
    for (int i = 0; i < k; i++) {
        struct llm_job_params jp = {
            .prompt = copies[i],
            .n_prompt = n_prompt,
            .max_tokens = c->q.max_tokens > 0 ? c->q.max_tokens : c->lm->max_tokens,
            .sampling = c->q.sampling,
            .bias = c->q.bias,
            .n_bias = c->q.n_bias,
            .share_prompt_of = i > 0 ? c->jobs[0] : NULL,
            .prompt_logprobs = i == 0 && c->q.echo && c->q.logprobs, /* the same for every choice */
            .rank = k > c->q.n, /* best_of: the n highest mean logprobs win */
            .grammar = c->grammar,
            .stop = c->q.stop,
            .n_stop = c->q.n_stop,
            .n_top = c->q.top_logprobs,
            .logprobs = c->q.logprobs,
            .ignore_eos = c->q.ignore_eos,
            .priority = c->q.priority,
            .client = serve_client_id(c->srv, c->http),
            .deadline_ns = c->deadline_ns,
            .max_unread = c->q.stream ? OAI_STREAM_UNREAD_MAX : 0,
            .on_done = c->q.stream ? NULL : choices_done,
            .on_publish = c->q.stream ? oai_stream_publish : NULL,
            .on_done_arg = c,
        };
        if (c->q.sampling.seed != UINT64_MAX) { /* UINT64_MAX is "random": never reached by a seed */
            jp.sampling.seed = c->q.sampling.seed + (uint64_t)i;
            if (jp.sampling.seed == UINT64_MAX)
                jp.sampling.seed = 0;
        }
        copies[i] = NULL;
        c->jobs[i] = llm_job_new(&jp, &err);
        if (!c->jobs[i]) {
            c->w->error(c->http, err.code, c->q.kind == LLM_OAI_CHAT ? "messages" : "prompt", err.msg);
            goto out;
        }
        c->n_jobs++;
    }
    atomic_store(&c->jobs_left, c->n_jobs);
    struct http_llm_stats st = {.prompt_tokens = n_prompt, .finish_reason = "incomplete"};
    http_req_set_llm(c->http, &st);
    const char *param = c->q.best_of > c->q.n ? "best_of" : "n";
    struct llm_sched_stats ss;
    llm_sched_stats(c->lm->sched, &ss);
    if (c->n_jobs > ss.n_seq + ss.max_queue) { /* could never be admitted whole: not a 503 to retry */
        snprintf(err.msg, sizeof err.msg, "%s: %d choices; model '%s' holds at most %d sequences at once "
                 "(parallel %d + max_queue_size %d)", param, c->n_jobs, c->mv->name, ss.n_seq + ss.max_queue,
                 ss.n_seq, ss.max_queue);
        c->w->error(c->http, INFERD_EINVAL, param, err.msg);
        goto out;
    }
    if (llm_sched_submit_n(c->lm->sched, c->jobs, c->n_jobs, &err) < 0) {
        c->w->error(c->http, err.code, err.code == INFERD_EINVAL ? "prompt" : NULL, err.msg);
        goto out;
    }
    rc = HTTP_ASYNC;
    if (!c->q.stream)
        goto out;
    http_resp_header(c->http, "Cache-Control", "no-cache");
    http_resp_header(c->http, "X-Accel-Buffering", "no");
    http_resp_stream(c->http, 200, c->w->stream_type, oai_stream_read, c, NULL);
    rc = HTTP_DONE;
out:
    for (int i = 0; i < k; i++)
        free(copies[i]);
    free(copies);
    return rc;
}

