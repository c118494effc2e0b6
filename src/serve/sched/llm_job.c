/* llm_job.c — the life of one LLM job: creation, references, cancellation, and the text
 * publication rules (stop strings and partial UTF-8 held back) the scheduler applies. */
#include "serve/sched/llm_sched.h"
#include "serve/sched/llm_job_int.h"
#include "llm/grammar.h"
#include "llm/stop.h"

#include "base/clock.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct llm_job *llm_job_new(const struct llm_job_params *p, struct inferd_err *err)
{
    if (p->n_prompt <= 0 || !p->prompt) {
        free(p->prompt);
        inferd_err_set(err, INFERD_EINVAL, "prompt: must hold at least one token");
        return NULL;
    }
    if (p->n_stop < 0 || p->n_stop > LLM_STOP_MAX) {
        free(p->prompt);
        inferd_err_set(err, INFERD_EINVAL, "stop: at most %d sequences", LLM_STOP_MAX);
        return NULL;
    }
    if (p->n_top < 0 || p->n_top > LLM_TOP_MAX) {
        free(p->prompt);
        inferd_err_set(err, INFERD_EINVAL, "top_logprobs: must be between 0 and %d", LLM_TOP_MAX);
        return NULL;
    }
    if (p->priority < LLM_PRIORITY_MIN || p->priority > LLM_PRIORITY_MAX) {
        free(p->prompt);
        inferd_err_set(err, INFERD_EINVAL, "priority: must be between %d and %d", LLM_PRIORITY_MIN, LLM_PRIORITY_MAX);
        return NULL;
    }
    struct llm_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(p->prompt);
        inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        return NULL;
    }
    /* ready to be released from here on (the failures below release it) */
    j->slot = -1;
    atomic_init(&j->cancel, 0);
    atomic_init(&j->refs, 1);
    buf_init(&j->text, LLM_JOB_TEXT_MAX);
    pthread_mutex_init(&j->lock, NULL);
    pthread_mutex_init(&j->cb_lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->prompt = p->prompt;
    j->n_prompt = p->n_prompt;
    j->max_tokens = p->max_tokens;
    j->sampling = p->sampling;
    if (p->n_bias > 0) {
        j->bias = malloc(sizeof *j->bias * (size_t)p->n_bias);
        if (!j->bias) {
            llm_job_release(j);
            inferd_err_set(err, INFERD_ENOMEM, "out of memory");
            return NULL;
        }
        memcpy(j->bias, p->bias, sizeof *j->bias * (size_t)p->n_bias);
        j->n_bias = p->n_bias;
    }
    if (p->share_prompt_of) {
        atomic_fetch_add(&p->share_prompt_of->refs, 1);
        j->leader = p->share_prompt_of;
    }
    for (int i = 0; i < p->n_stop; i++) {
        size_t n = p->stop[i] ? strlen(p->stop[i]) : 0;
        if (n == 0)
            continue;
        if (n >= LLM_STOP_LEN) {
            llm_job_release(j);
            inferd_err_set(err, INFERD_EINVAL, "stop[%d]: longer than %d bytes", i, LLM_STOP_LEN - 1);
            return NULL;
        }
        memcpy(j->stop[j->n_stop++], p->stop[i], n + 1);
    }
    j->n_top = p->n_top;
    j->logprobs = p->logprobs;
    j->rank = p->rank;
    j->prompt_logprobs = p->prompt_logprobs && !p->embed;
    j->embed = p->embed;
    j->ignore_eos = p->ignore_eos;
    j->grammar = p->grammar ? llm_grammar_ref(p->grammar) : NULL;
    j->deadline_ns = p->deadline_ns;
    j->priority = p->priority;
    j->client = p->client;
    j->max_unread = p->max_unread;
    j->on_done = p->on_done;
    j->on_publish = p->on_publish;
    j->on_done_arg = p->on_done_arg;
    return j;
}

void llm_job_release(struct llm_job *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&j->lock);
    pthread_mutex_destroy(&j->cb_lock);
    pthread_cond_destroy(&j->cond);
    free(j->prompt);
    free(j->replay);
    free(j->bias);
    llm_job_release(j->leader);
    llm_grammar_unref(j->grammar);
    free(j->emb_sum);
    free(j->embedding);
    buf_free(&j->text);
    free(j->toks);
    free(j->ptoks);
    free(j);
}

void llm_job_cancel(struct llm_job *j)
{
    if (j)
        atomic_store(&j->cancel, 1);
}

void llm_job_detach(struct llm_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->cb_lock);
    j->on_done = NULL;
    j->on_publish = NULL;
    pthread_mutex_unlock(&j->cb_lock);
}

void llm_job_fail(struct llm_job *j, int code, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    assert(!j->done);
    j->done = 1;
    j->finish_reason = "error";
    j->err_code = code;
    snprintf(j->err_msg, sizeof j->err_msg, "%.255s", msg);
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

void llm_job__notify(struct llm_job *j, int done)
{
    pthread_mutex_lock(&j->cb_lock);
    if (done && j->on_done)
        j->on_done(j, j->on_done_arg);
    if (j->on_publish)
        j->on_publish(j, j->on_done_arg);
    pthread_mutex_unlock(&j->cb_lock);
}

int llm_job_take(struct llm_job *j, struct llm_job_cursor *cur, struct llm_job_out *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_lock(&j->lock);
    assert(cur->text <= j->out_len && cur->toks <= j->n_toks);
    if (j->out_len > cur->text) {
        o->len = j->out_len - cur->text;
        o->text = malloc(o->len + 1);
        if (!o->text) {
            pthread_mutex_unlock(&j->lock);
            return INFERD_ENOMEM;
        }
        memcpy(o->text, j->text.data + cur->text, o->len);
        o->text[o->len] = 0;
    }
    o->text_off = cur->text;
    o->toks = j->toks ? j->toks + cur->toks : NULL;
    o->n_toks = j->toks ? j->n_toks - cur->toks : 0;
    o->prompt_toks = j->n_ptoks ? j->ptoks : NULL;
    o->n_prompt_toks = j->n_ptoks;
    cur->text = j->out_len;
    cur->toks = j->n_toks;
    if (cur->text > j->taken)
        j->taken = cur->text;
    o->done = j->done;
    o->prompt_tokens = j->prompt_tokens;
    o->completion_tokens = j->completion_tokens;
    o->sum_logprob = j->sum_logprob;
    o->cached_tokens = j->cached_tokens;
    if (j->done) {
        o->finish_reason = j->finish_reason;
        o->err_code = j->err_code;
        memcpy(o->err_msg, j->err_msg, sizeof o->err_msg);
        o->embedding = j->embedding;
        o->n_embd = j->n_embd;
    }
    uint64_t now = clock_now_ns();
    o->queue_ms = j->t_start > j->t_submit ? (j->t_start - j->t_submit) / 1e6 : 0;
    o->compute_ms = j->t_start ? ((j->done && j->t_end ? j->t_end : now) - j->t_start) / 1e6 : 0;
    o->ttft_ms = j->ttft_s * 1e3;
    o->tokens_per_s = j->gen_s > 0 ? (j->completion_tokens - 1) / j->gen_s : 0;
    pthread_mutex_unlock(&j->lock);
    return 0;
}

void llm_job_out_free(struct llm_job_out *o)
{
    free(o->text);
    o->text = NULL;
}

void llm_job_wait(struct llm_job *j)
{
    pthread_mutex_lock(&j->lock);
    while (!j->done)
        pthread_cond_wait(&j->cond, &j->lock);
    pthread_mutex_unlock(&j->lock);
}

int llm_job__append(struct llm_job *j, const char *piece, size_t n, struct inferd_err *err)
{
    pthread_mutex_lock(&j->lock);
    buf_put(&j->text, piece, n);
    int rc = buf_err(&j->text, err, "generated text");
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int llm_job__check_stop(struct llm_job *j)
{
    /* The stop-string engine is llm/stop.c's. No match can start before out_len: a prefix
     * of a stop string at the end of the text is never published (see the hold-back). */
    const char *stops[LLM_STOP_MAX];
    for (int i = 0; i < j->n_stop; i++)
        stops[i] = j->stop[i];
    pthread_mutex_lock(&j->lock);
    if (j->text.len == 0) { /* nothing generated yet (or only empty pieces) */
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    size_t at = llm_stop_find(stops, j->n_stop, j->text.data, j->out_len, j->text.len);
    if (at < j->text.len) {
        buf_truncate(&j->text, at);
        pthread_mutex_unlock(&j->lock);
        return 1;
    }
    size_t pub = j->text.len - llm_stop_hold(stops, j->n_stop, j->text.data, j->out_len, j->text.len);
    if (pub > j->out_len)
        j->out_len = pub;
    int over = j->max_unread && j->out_len - j->taken > j->max_unread;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    return over ? 2 : 0;
}
