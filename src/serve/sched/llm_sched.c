/* llm_sched.c — continuous batching: one thread per model packs prompt chunks and next
 * tokens of every active sequence into one decode call per step. */
#include "serve/sched/llm_sched.h"
#include "serve/sched/llm_job_int.h"
#include "serve/sched/llm_prefix.h"
#include "serve/sched/llm_sched_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "llm/grammar.h"
#include "observe/families.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void update_gauges(struct llm_sched *s)
{
    if (!s->metrics)
        return;
    pthread_mutex_lock(&s->lock);
    int running = s->n_running, waiting = s->n_waiting;
    pthread_mutex_unlock(&s->lock);
    metrics_set(s->m_running, running);
    metrics_set(s->m_waiting, waiting);
    int size = inferd_llm_kv_size(s->ctx);
    metrics_set(s->m_kv, size > 0 ? (double)inferd_llm_kv_used(s->ctx) / size : 0);
    metrics_set(s->m_pfx_bytes, (double)atomic_load(&s->pfx_bytes));
    int64_t now = clock_now_ns();
    if (s->m_mem[0] && (s->mem_at_ns == 0 || now - s->mem_at_ns > 10 * (int64_t)1000000000)) {
        struct inferd_llm_memory mem; /* mincore over the weights: not on every step */
        inferd_llm_memory(s->model, s->ctx, &mem);
        metrics_set(s->m_mem[0], (double)mem.weights_bytes);
        metrics_set(s->m_mem[1], (double)mem.weights_resident);
        metrics_set(s->m_mem[2], (double)mem.kv_bytes);
        metrics_set(s->m_mem[3], (double)mem.scratch_bytes);
        s->mem_at_ns = now;
    }
}

/* Publishes the end of a job and hands it back: sets done, wakes readers, calls on_done,
 * drops the scheduler's reference. The slot (if any) must already be released. */
static void finish(struct llm_sched *s, struct llm_job *j, const char *reason, int code, const char *msg)
{
    uint64_t now = clock_now_ns();
    inferd_llm_sampler_free(j->smp); /* scheduler-private, so llm_job.c needs no engine */
    j->smp = NULL;
    llm_gmatch_free(j->gm);
    j->gm = NULL;
    free(j->gmask);
    j->gmask = NULL;
    pthread_mutex_lock(&j->lock);
    j->out_len = j->text.len;
    j->t_end = now;
    j->done = 1;
    j->finish_reason = reason;
    j->err_code = code;
    if (msg)
        snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
    if (j->t_first) {
        j->ttft_s = (j->t_first - j->t_submit) / 1e9;
        j->gen_s = (now - j->t_first) / 1e9;
    }
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    if (s->metrics && j->t_start && code == 0)
        metrics_observe(s->m_e2e, (now - j->t_submit) / 1e9);
    llm_job__notify(j, 1);
    llm_job_release(j);
}

/* Frees j's slot; its KV cache stays for prefix reuse (not for embeddings) and its full
 * blocks go to the prefix cache. */
static void release_slot(struct llm_sched *s, struct llm_job *j)
{
    if (j->slot < 0)
        return;
    if (!j->embed)
        sched_prefix_save(s, j->slot);
    s->slots[j->slot].job = NULL;
    if (j->embed) { /* hidden states of a finished embedding are not worth keeping */
        inferd_llm_seq_clear(s->ctx, j->slot);
        s->slots[j->slot].n_cache = 0;
    }
    j->slot = -1;
}

/* Counts a job popped from the wait queue out of the running set, after it was published
 * (so llm_sched_drain returning means every job's result is visible). */
static void count_out(struct llm_sched *s)
{
    pthread_mutex_lock(&s->lock);
    s->n_running--;
    s->n_ended--;
    if (s->n_running == 0 && s->n_waiting == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

void sched_end_job(struct llm_sched *s, struct llm_job *j, const char *reason, int code, const char *msg)
{
    release_slot(s, j);
    /* Its room is free before its result is out: a client that sends its next request as
     * soon as it has this answer must not find the model full (it did under TSan). */
    pthread_mutex_lock(&s->lock);
    s->n_ended++;
    pthread_mutex_unlock(&s->lock);
    finish(s, j, reason, code, msg); /* may drop the last reference to j */
    count_out(s);
}

/* Ends j when its client left (cancel) or its deadline passed. Returns 1 when it did. */
static int end_if_over(struct llm_sched *s, struct llm_job *j, uint64_t now)
{
    if (atomic_load(&j->cancel))
        sched_end_job(s, j, "cancelled", 0, NULL);
    else if (j->deadline_ns && now > j->deadline_ns)
        sched_end_job(s, j, "timeout", 0, NULL);
    else
        return 0;
    return 1;
}

/* Prompt rows whose logits one step keeps for a job with prompt logprobs (bounds the logits
 * buffer at this many rows of n_vocab floats, whatever n_batch is). */
#define LLM_PROMPT_LOGITS_STEP 32

/* Shortest time between two on_publish calls of one running job (see the end of step). */
#define LLM_NOTIFY_MIN_NS 500000u

int sched_common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Whether a and b have the same prompt (a choice and the leader whose KV it shares). */
static int same_prompt(const struct llm_job *a, const struct llm_job *b)
{
    return a->n_prompt == b->n_prompt && memcmp(a->prompt, b->prompt, sizeof(int32_t) * (size_t)a->n_prompt) == 0;
}

/* A matcher for a job with a grammar (and the model's token table, the first time). */
static int grammar_begin(struct llm_sched *s, struct llm_job *j, struct inferd_err *err)
{
    if (!s->gvocab && llm_gvocab_new(s->model, &s->gvocab, err) < 0)
        return err->code;
    if (!s->gcache && llm_gmask_cache_new(s->info->n_vocab, &s->gcache) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    j->gmask = malloc(sizeof(float) * (size_t)s->info->n_vocab);
    if (!j->gmask)
        return inferd_err_set(err, INFERD_ENOMEM, "grammar: out of memory");
    int rc = llm_gmatch_new(j->grammar, s->gvocab, &j->gm, err);
    if (rc == 0)
        llm_gmatch_share(j->gm, s->gcache);
    return rc;
}

/* log P(tok) under the softmax of logits (n floats), stable. */
static float logprob_of(const float *logits, int n, int32_t tok)
{
    float mx = logits[0];
    for (int i = 1; i < n; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    return (float)((double)logits[tok] - mx - log(sum));
}

/* Samples the next token; under a grammar the sampled token is checked first and only
 * when it does not fit are the logits masked and the draw repeated (llama.cpp's way: the
 * whole-vocabulary mask is the slow path). OUT: *lp, the pick's log-probability under the
 * unmodified softmax, computed only when the job keeps logprobs or is ranked (best_of). Returns the token, or -1
 * with err set when the grammar lets no token follow. */
static int32_t sample_next(struct llm_job *j, const float *logits, int n_vocab, float *lp, struct inferd_err *err)
{
    /* After a rejection the next few steps mask first: a grammar that rejects what the
     * model wants (digits after gibberish) would pay for two draws every token. */
    int32_t tok = -1;
    if (!j->gm || j->gm_mask_first == 0)
        tok = inferd_llm_sample(j->smp, logits, NULL);
    else
        j->gm_mask_first--;
    if (j->gm && (tok < 0 || !llm_gmatch_allows(j->gm, tok))) {
        if (tok >= 0)
            j->gm_mask_first = 8;
        memcpy(j->gmask, logits, sizeof(float) * (size_t)n_vocab);
        if (llm_gmatch_mask(j->gm, j->gmask) == 0) {
            inferd_err_set(err, INFERD_EINVAL, "grammar: no token of the vocabulary can continue the text");
            return -1;
        }
        tok = inferd_llm_sample(j->smp, j->gmask, NULL);
        /* logit_bias may undo the mask (+100 on a token the grammar refuses leaves every
         * allowed one at -inf): the sampler's fallback pick is then not the grammar's */
        if (tok < 0 || j->gmask[tok] == -INFINITY || !llm_gmatch_allows(j->gm, tok)) {
            inferd_err_set(err, INFERD_EINVAL, "logit_bias leaves no token the grammar allows");
            return -1;
        }
    }
    /* an exp over the vocabulary: only for logprobs or best_of's ranking */
    if (j->toks || j->rank)
        *lp = logprob_of(logits, n_vocab, tok);
    return tok;
}

/* Puts job j into the free slot that shares the longest prefix with its prompt. */
static int admit(struct llm_sched *s, struct llm_job *j, struct inferd_err *err)
{
    if (j->preempted)
        return sched_resume(s, j, err);
    int best = -1, best_keep = -1;
    for (int i = 0; i < s->n_seq; i++) {
        if (s->slots[i].job)
            continue;
        int keep = j->embed ? 0 : sched_common_prefix(s->slots[i].cache, s->slots[i].n_cache, j->prompt, j->n_prompt);
        if (keep > best_keep) {
            best = i;
            best_keep = keep;
        }
    }
    if (best < 0)
        return inferd_err_set(err, INFERD_EBUSY, "no free slot");
    j->feed = j->prompt;
    j->n_feed = j->n_prompt;
    if (best_keep >= j->n_prompt)
        best_keep = j->n_prompt - 1; /* the last prompt token must run to give logits */
    if (j->prompt_logprobs)
        best_keep = 0; /* every prompt row must run to give its logits */
    struct slot *sl = &s->slots[best];
    struct llm_job *L = j->leader;
    j->wait_leader = 0;
    if (L && L->slot >= 0 && !L->preempted && L->n_past < L->n_prompt && same_prompt(L, j)) {
        /* the leader is computing the same prompt: wait for it (see fork_from_leader) */
        j->wait_leader = 1;
        best_keep = 0;
    } else if (L && L->slot >= 0 && same_prompt(L, j) && best_keep < j->n_prompt - 1 &&
               inferd_llm_seq_len(s->ctx, L->slot) >= j->n_prompt - 1) { /* (a resumed leader may not hold it yet) */
        /* the leader is generating: its cache starts with the prompt; run the last token
         * (a failed copy has cleared this slot: nothing of it is reused then) */
        if (inferd_llm_seq_copy(s->ctx, L->slot, best, j->n_prompt - 1) == 0) {
            best_keep = j->n_prompt - 1;
            memcpy(sl->cache, s->slots[L->slot].cache, sizeof(int32_t) * (size_t)best_keep);
        } else {
            best_keep = 0;
        }
    }
    if (s->prefix && !j->embed && !j->prompt_logprobs && !j->wait_leader && best_keep < j->n_prompt - 1)
        sched_prefix_load(s, best, j, &best_keep);
    if (best_keep == 0)
        inferd_llm_seq_clear(s->ctx, best);
    else if (best_keep < inferd_llm_seq_len(s->ctx, best))
        inferd_llm_seq_truncate(s->ctx, best, best_keep);
    sl->n_cache = best_keep;
    sl->job = j;
    j->slot = best;
    j->n_past = best_keep;
    pthread_mutex_lock(&j->lock);
    j->t_start = clock_now_ns();
    pthread_mutex_unlock(&j->lock);
    if (!j->embed) {
        j->smp = inferd_llm_sampler_new(&j->sampling, s->info->n_vocab);
        if (!j->smp)
            return inferd_err_set(err, INFERD_ENOMEM, "sampler: out of memory");
        if (inferd_llm_sampler_set_bias(j->smp, j->bias, j->n_bias) < 0) {
            for (int i = 0; i < j->n_bias; i++)
                if (j->bias[i].id < 0 || j->bias[i].id >= s->info->n_vocab)
                    return inferd_err_set(err, INFERD_EINVAL, "logit_bias: token id %d is not below the vocabulary size %d",
                                          j->bias[i].id, s->info->n_vocab);
            return inferd_err_set(err, INFERD_ENOMEM, "logit_bias: out of memory");
        }
        for (int i = 0; i < j->n_prompt; i++)
            inferd_llm_sampler_accept_prompt(j->smp, j->prompt[i]);
        if (j->grammar) {
            int rc = grammar_begin(s, j, err);
            if (rc < 0)
                return rc;
        }
    } else {
        j->emb_sum = calloc((size_t)s->info->n_embd, sizeof(float));
        if (!j->emb_sum)
            return inferd_err_set(err, INFERD_ENOMEM, "embedding: out of memory");
    }
    if (j->prompt_logprobs) {
        j->ptoks = calloc((size_t)j->n_prompt, sizeof *j->ptoks);
        if (!j->ptoks)
            return inferd_err_set(err, INFERD_ENOMEM, "prompt logprobs: out of memory");
        j->ptoks[0].id = j->prompt[0];
        j->ptoks[0].logprob = NAN;
    }
    if (j->logprobs && !j->embed) {
        /* a slot holds at most slot_ctx tokens, whatever max_tokens asks for */
        int cap = j->max_tokens > 0 && j->max_tokens < s->slot_ctx ? j->max_tokens : s->slot_ctx;
        struct llm_tok_rec *toks = calloc((size_t)cap, sizeof *toks);
        if (!toks)
            return inferd_err_set(err, INFERD_ENOMEM, "logprobs: out of memory");
        pthread_mutex_lock(&j->lock); /* llm_job_take reads the pointer under the lock */
        j->toks = toks;
        pthread_mutex_unlock(&j->lock);
    }
    pthread_mutex_lock(&j->lock);
    j->prompt_tokens = j->n_prompt;
    j->cached_tokens = best_keep;
    pthread_mutex_unlock(&j->lock);
    atomic_fetch_add(&s->reused_tokens, best_keep);
    if (s->metrics) {
        metrics_observe(s->m_queue, (j->t_start - j->t_submit) / 1e9);
        metrics_add(s->m_prompt, j->n_prompt);
    }
    return 0;
}

/* Ends waiting jobs whose client left or whose deadline passed, without a slot. */
static void reap_waiting(struct llm_sched *s, uint64_t now)
{
    struct llm_job *dead = NULL;
    pthread_mutex_lock(&s->lock);
    struct llm_job **pp = &s->q_head, *prev = NULL;
    while (*pp) {
        struct llm_job *j = *pp;
        if (atomic_load(&j->cancel) || (j->deadline_ns && now > j->deadline_ns)) {
            *pp = j->next;
            if (s->q_tail == j)
                s->q_tail = prev;
            s->n_waiting--;
            s->n_running++; /* counted out again by end_job */
            j->next = dead;
            dead = j;
            continue;
        }
        prev = j;
        pp = &j->next;
    }
    pthread_mutex_unlock(&s->lock);
    while (dead) {
        struct llm_job *j = dead;
        dead = j->next;
        j->next = NULL;
        sched_end_job(s, j, atomic_load(&j->cancel) ? "cancelled" : "timeout", 0, NULL);
    }
}

/* Slots held by client c's jobs. */
static int client_running(const struct llm_sched *s, uint64_t c)
{
    int n = 0;
    for (int i = 0; i < s->n_seq; i++)
        n += s->slots[i].job && s->slots[i].job->client == c;
    return n;
}

/* When client c was last admitted (s->admissions then); 0 = not among the remembered. */
static uint64_t client_last(const struct llm_sched *s, uint64_t c)
{
    for (int i = 0; i < s->n_fair; i++)
        if (s->fair[i].client == c)
            return s->fair[i].last;
    return 0;
}

/* Records an admission of client c; a full table forgets its least recent client (which
 * then counts as never admitted: it is favoured once, nothing worse). */
static void client_admitted(struct llm_sched *s, uint64_t c)
{
    s->admissions++;
    int at = -1, oldest = 0;
    for (int i = 0; i < s->n_fair && at < 0; i++)
        if (s->fair[i].client == c)
            at = i;
        else if (s->fair[i].last < s->fair[oldest].last)
            oldest = i;
    if (at < 0 && s->n_fair < LLM_FAIR_CLIENTS)
        at = s->n_fair++;
    if (at < 0)
        at = oldest;
    s->fair[at].client = c;
    s->fair[at].last = s->admissions;
}

/* Unlinks and returns the waiting job that fair admission takes next (see llm_sched.h:
 * priority, then the client with fewest slots, then the client least recently admitted,
 * then arrival), skipping clients at max_per_client; NULL when none may go. Linear in the
 * queue. Under s->lock on the scheduler thread. */
static struct llm_job *pick_waiting(struct llm_sched *s)
{
    struct llm_job **best = NULL, *best_prev = NULL, *prev = NULL;
    int best_run = 0;
    uint64_t best_last = 0;
    for (struct llm_job **pp = &s->q_head; *pp; prev = *pp, pp = &(*pp)->next) {
        struct llm_job *j = *pp;
        if (best && j->priority < (*best)->priority)
            continue;
        int run = client_running(s, j->client);
        if (s->max_per_client > 0 && run >= s->max_per_client)
            continue;
        uint64_t last = client_last(s, j->client);
        if (best && j->priority == (*best)->priority) {
            int jp = j->preempted > 0, bp = (*best)->preempted > 0; /* a paused job goes first */
            if (bp > jp || (jp == bp && (run > best_run || (run == best_run && last >= best_last))))
                continue;
        }
        best = pp;
        best_prev = prev;
        best_run = run;
        best_last = last;
    }
    if (!best)
        return NULL;
    struct llm_job *j = *best;
    *best = j->next;
    if (s->q_tail == j)
        s->q_tail = best_prev;
    j->next = NULL;
    return j;
}

/* Moves waiting jobs into free slots; drops cancelled/expired ones. Holds no lock on entry. */
static void admit_waiting(struct llm_sched *s, uint64_t now)
{
    reap_waiting(s, now);
    for (;;) {
        int free_slot = 0;
        for (int i = 0; i < s->n_seq; i++)
            free_slot |= s->slots[i].job == NULL;
        pthread_mutex_lock(&s->lock);
        struct llm_job *j = free_slot ? pick_waiting(s) : NULL;
        if (j && s->kv_unified && !sched_kv_room(s, j)) { /* back to the head: it waits for pages */
            j->next = s->q_head;
            s->q_head = j;
            if (!s->q_tail)
                s->q_tail = j;
            j = NULL;
        }
        if (j) {
            s->n_waiting--;
            s->n_running++;
        }
        pthread_mutex_unlock(&s->lock);
        if (!j)
            return;
        if (end_if_over(s, j, now))
            continue;
        if (!j->preempted)
            client_admitted(s, j->client);
        if (s->kv_unified) {
            int page = inferd_llm_kv_page(), n = j->replay ? j->n_replay : j->n_prompt;
            if (inferd_llm_kv_free(s->ctx) / page < (n + 1 + page - 1) / page)
                sched_clear_idle(s);
        }
        struct inferd_err err = {0};
        if (admit(s, j, &err) < 0)
            sched_end_job(s, j, "error", err.code, err.msg);
    }
}

/* After the decode: sample for a generating row, publish, check every end condition. */
static void on_token(struct llm_sched *s, struct llm_job *j, const float *logits)
{
    struct slot *sl = &s->slots[j->slot];
    float lp = 0;
    struct inferd_err gerr = {0};
    int32_t tok = sample_next(j, logits, s->info->n_vocab, &lp, &gerr);
    if (tok < 0) {
        sched_end_job(s, j, "error", gerr.code, gerr.msg);
        return;
    }
    inferd_llm_sampler_accept(j->smp, tok);
    uint64_t now = clock_now_ns();
    if (s->metrics) {
        if (!j->t_first)
            metrics_observe(s->m_ttft, (now - j->t_submit) / 1e9);
        else
            metrics_observe(s->m_itl, (now - j->t_last) / 1e9);
        metrics_add(s->m_gen, 1);
    }
    if (!j->t_first)
        j->t_first = now;
    j->t_last = now;
    atomic_fetch_add(&s->generated_tokens, 1);
    int eog = !j->ignore_eos && inferd_llm_token_is_eog(s->model, tok);
    if (j->toks) {
        struct llm_tok_rec *r = &j->toks[j->n_toks];
        r->id = tok;
        r->logprob = lp;
        r->n_top = j->n_top ? inferd_llm_top_logprobs(logits, s->info->n_vocab, j->n_top, r->top_id, r->top_lp) : 0;
        r->text_off = (uint32_t)j->text.len;
    }
    pthread_mutex_lock(&j->lock);
    j->completion_tokens++;
    j->sum_logprob += lp;
    if (j->toks)
        j->n_toks++;
    pthread_mutex_unlock(&j->lock);
    if (eog) {
        sched_end_job(s, j, "stop", 0, NULL);
        return;
    }
    if (j->gm && llm_gmatch_accept(j->gm, tok, &gerr) < 0) {
        sched_end_job(s, j, "error", gerr.code, gerr.msg);
        return;
    }
    int n = inferd_llm_token_to_piece(s->model, tok, s->piece, sizeof s->piece);
    struct inferd_err aerr = {0};
    if (n > 0 && llm_job__append(j, s->piece, (size_t)n, &aerr) < 0) {
        sched_end_job(s, j, "error", aerr.code, aerr.msg);
        return;
    }
    int pub = llm_job__check_stop(j);
    if (pub == 1 || (j->gm && llm_gmatch_done(j->gm))) { /* a stop string, or the grammar's end */
        sched_end_job(s, j, "stop", 0, NULL);
        return;
    }
    if (pub == 2) {
        sched_end_job(s, j, "error", INFERD_EBUSY, "the client is not reading its stream (too much output unread)");
        return;
    }
    j->publish_pending = 1; /* told at the end of the step, with every other sequence's token */
    if ((j->max_tokens > 0 && j->completion_tokens >= j->max_tokens) || sl->n_cache >= s->slot_ctx) {
        sched_end_job(s, j, "length", 0, NULL);
        return;
    }
    j->last_tok = tok;
}

static void finish_embedding(struct llm_sched *s, struct llm_job *j)
{
    int n = s->info->n_embd;
    double norm = 0;
    float *e = malloc((size_t)n * sizeof *e);
    if (!e) {
        sched_end_job(s, j, "error", INFERD_ENOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        e[i] = j->emb_sum[i] / (float)j->n_prompt;
        norm += (double)e[i] * e[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < n; i++)
        e[i] = norm > 0 ? (float)(e[i] / norm) : 0.0f;
    pthread_mutex_lock(&j->lock);
    j->embedding = e;
    j->n_embd = n;
    pthread_mutex_unlock(&j->lock);
    sched_end_job(s, j, "stop", 0, NULL);
}

/* Prompt logprobs: batch row r was prompt position j->n_past; its logits predict the next
 * prompt token. The records are published (n_ptoks) when the whole prompt has run. */
static void record_prompt_token(struct llm_sched *s, struct llm_job *j, int r)
{
    int p = j->n_past;
    const float *lg = inferd_llm_logits(s->ctx, r);
    if (p + 1 < j->n_prompt && lg) {
        struct llm_tok_rec *rec = &j->ptoks[p + 1];
        int n = s->info->n_vocab;
        float mx = -INFINITY;
        for (int i = 0; i < n; i++)
            mx = lg[i] > mx ? lg[i] : mx;
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += exp((double)lg[i] - mx);
        rec->id = j->prompt[p + 1];
        rec->logprob = (float)((double)lg[rec->id] - mx - log(sum));
        rec->n_top = j->n_top ? inferd_llm_top_logprobs(lg, n, j->n_top, rec->top_id, rec->top_lp) : 0;
    }
    if (p + 1 == j->n_prompt) {
        pthread_mutex_lock(&j->lock);
        j->n_ptoks = j->n_prompt;
        pthread_mutex_unlock(&j->lock);
    }
}

/* The leader L just computed its whole prompt (its last row gave logits): every job waiting
 * for it starts from a copy of L's KV cache and samples its first token from the same
 * logits, so the prompt of n > 1 choices is evaluated once. A copy that does not fit the
 * cache leaves the job to compute the prompt itself. */
static void fork_from_leader(struct llm_sched *s, struct llm_job *L, const float *logits)
{
    struct slot *ls = &s->slots[L->slot];
    for (int i = 0; i < s->n_seq; i++) {
        struct llm_job *j = s->slots[i].job;
        if (!j || !j->wait_leader || j->leader != L)
            continue;
        j->wait_leader = 0;
        if (inferd_llm_seq_copy(s->ctx, L->slot, i, L->n_prompt) < 0) {
            inferd_llm_seq_clear(s->ctx, i);
            continue;
        }
        memcpy(s->slots[i].cache, ls->cache, sizeof(int32_t) * (size_t)L->n_prompt);
        s->slots[i].n_cache = L->n_prompt;
        j->n_past = j->n_prompt;
        pthread_mutex_lock(&j->lock);
        j->cached_tokens = j->n_prompt;
        pthread_mutex_unlock(&j->lock);
        atomic_fetch_add(&s->reused_tokens, j->n_prompt);
        on_token(s, j, logits);
    }
}

/* One step: build the batch, decode, handle outputs. Returns 1 if it did work. */
static int step(struct llm_sched *s)
{
    uint64_t now = clock_now_ns();
    admit_waiting(s, now);
    update_gauges(s); /* before any token of a newly admitted job can be seen */
    int n = 0, page = inferd_llm_kv_page(), avail = s->kv_unified ? sched_make_room(s) : 0;
    /* 1. cancellations and deadlines; 2. one next-token row per generating job. */
    for (int i = 0; i < s->n_seq; i++) {
        struct llm_job *j = s->slots[i].job;
        if (!j)
            continue;
        if (end_if_over(s, j, now))
            continue;
        if (j->wait_leader && j->leader->slot < 0)
            j->wait_leader = 0; /* the leader ended (or was preempted) before its prompt did: compute it here */
        if (j->n_past < j->n_feed || n >= s->n_batch)
            continue;
        s->b_tok[n] = j->last_tok;
        s->b_pos[n] = s->slots[i].n_cache;
        s->b_seq[n] = i;
        s->b_want[n] = 1;
        s->b_slot[n] = i;
        n++;
    }
    /* 3. prompt chunks fill the rest of the batch, slot by slot. */
    for (int i = 0; i < s->n_seq && n < s->n_batch; i++) {
        struct llm_job *j = s->slots[i].job;
        if (!j || j->n_past >= j->n_feed || j->wait_leader)
            continue;
        struct slot *sl = &s->slots[i];
        int take = j->n_feed - j->n_past;
        if (take > s->n_batch - n)
            take = s->n_batch - n;
        if (s->kv_unified) { /* what the shared pages still hold after the generating rows */
            int len = inferd_llm_seq_len(s->ctx, i), room = (page - len % page) % page + avail * page;
            if (take > room)
                take = room;
            if (take <= 0)
                continue;
            avail -= (len + take + page - 1) / page - (len + page - 1) / page;
        }
        if (j->prompt_logprobs && take > LLM_PROMPT_LOGITS_STEP)
            take = LLM_PROMPT_LOGITS_STEP;
        for (int k = 0; k < take; k++) {
            int p = j->n_past + k;
            s->b_tok[n] = j->feed[p];
            s->b_pos[n] = sl->n_cache + k;
            s->b_seq[n] = i;
            s->b_want[n] = j->embed || j->prompt_logprobs || p == j->n_feed - 1;
            s->b_slot[n] = i;
            n++;
        }
    }
    if (n == 0 && s->kv_unified) /* prompts stuck for pages: pause the newest */
        return sched_preempt_victim(s);
    if (n == 0)
        return 0;
    struct inferd_llm_batch b = {.n = n, .tokens = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .want_logits = s->b_want};
    struct inferd_err err = {0};
    int rc = inferd_llm_decode(s->ctx, &b, &err);
    atomic_fetch_add(&s->steps, 1);
    if (rc < 0) {
        log_json(LOG_ERROR, "llm decode failed",
                 json_pack("{s:s,s:i,s:s,s:o}", "model", s->model_name, "rows", n, "code", inferd_err_name(rc),
                           "reason", json_stringn_nocheck(err.msg, strlen(err.msg))));
        for (int i = 0; i < s->n_seq; i++) {
            struct llm_job *j = s->slots[i].job;
            if (!j)
                continue;
            inferd_llm_seq_clear(s->ctx, i);
            s->slots[i].n_cache = 0;
            sched_end_job(s, j, "error", rc, err.msg);
        }
        return 1;
    }
    /* Record what each sequence now caches, then hand outputs to their jobs. */
    for (int r = 0; r < n; r++) {
        struct slot *sl = &s->slots[s->b_slot[r]];
        if (sl->n_cache < s->slot_ctx)
            sl->cache[sl->n_cache] = s->b_tok[r];
        sl->n_cache++;
    }
    for (int r = 0; r < n; r++) {
        int i = s->b_slot[r];
        struct llm_job *j = s->slots[i].job;
        if (!j)
            continue;
        if (j->n_past < j->n_feed) {
            if (j->ptoks)
                record_prompt_token(s, j, r);
            j->n_past++;
            atomic_fetch_add(&s->prompt_tokens, 1);
            if (j->embed) {
                const float *e = inferd_llm_embedding(s->ctx, r);
                if (!e) {
                    sched_end_job(s, j, "error", INFERD_EUNSUPPORTED, "embeddings: the engine kept no hidden state");
                    continue;
                }
                for (int k = 0; k < s->info->n_embd; k++)
                    j->emb_sum[k] += e[k];
                if (j->n_past == j->n_prompt)
                    finish_embedding(s, j);
                continue;
            }
            if (j->n_past < j->n_feed)
                continue;
            sched_prefix_save(s, i); /* for requests sharing the prompt while this one runs */
        }
        if (!s->b_want[r])
            continue;
        const float *logits = inferd_llm_logits(s->ctx, r);
        if (!logits) {
            sched_end_job(s, j, "error", INFERD_EUNAVAIL, "decode kept no logits");
            continue;
        }
        if (j->completion_tokens == 0)
            fork_from_leader(s, j, logits);
        on_token(s, j, logits);
    }
    /* One round of wake-ups per step, after every token of it is published: the HTTP side
     * resumes all the step's streams together instead of one between two samplings. A job
     * told less than LLM_NOTIFY_MIN_NS ago waits for a later step (its first token and its
     * end are told at once): with steps of tens of microseconds a stream then takes a few
     * tokens per wake-up instead of paying a suspend/resume for each. */
    uint64_t t = clock_now_ns();
    for (int i = 0; i < s->n_seq; i++) {
        struct llm_job *j = s->slots[i].job;
        if (j && j->publish_pending && (!j->t_notified || t - j->t_notified >= LLM_NOTIFY_MIN_NS)) {
            j->publish_pending = 0;
            j->t_notified = t;
            llm_job__notify(j, 0);
        }
    }
    return 1;
}

static void *sched_main(void *arg)
{
    struct llm_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stop && s->n_running == 0 && s->n_waiting == 0)
            pthread_cond_wait(&s->wake, &s->lock);
        int stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        step(s);
        update_gauges(s);
    }
    /* Shutdown: everything left ends as "cancelled". */
    for (int i = 0; i < s->n_seq; i++)
        if (s->slots[i].job)
            sched_end_job(s, s->slots[i].job, "cancelled", 0, NULL);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        struct llm_job *j = s->q_head;
        if (j) {
            s->q_head = j->next;
            s->n_waiting--;
            s->n_running++;
        }
        pthread_mutex_unlock(&s->lock);
        if (!j)
            break;
        sched_end_job(s, j, "cancelled", 0, NULL);
    }
    update_gauges(s);
    return NULL;
}

/* Frees s and everything it owns (slots, batch arrays, the engine context, lock and
 * conditions); the thread must not be running. Used by llm_sched_new's failure path
 * (fields may still be NULL) and by llm_sched_free. */
static void sched_destroy(struct llm_sched *s)
{
    if (s->slots)
        for (int i = 0; i < s->n_seq; i++)
            free(s->slots[i].cache);
    free(s->slots);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_want);
    free(s->b_slot);
    inferd_llm_ctx_free(s->ctx);
    llm_gmask_cache_free(s->gcache);
    llm_gvocab_free(s->gvocab);
    llm_prefix_free(s->prefix);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->idle);
    free(s);
}

int llm_sched_new(struct inferd_llm_model *model, const struct llm_sched_config *cfg,
                  struct llm_sched **out, struct inferd_err *err)
{
    struct llm_sched *s = calloc(1, sizeof *s);
    if (!s)
        return inferd_err_set(err, INFERD_ENOMEM, "scheduler: out of memory");
    int rc;
    s->model = model;
    s->info = inferd_llm_info(model);
    s->n_seq = cfg->n_seq > 0 ? cfg->n_seq : 4;
    s->n_ctx = cfg->n_ctx > 0 ? cfg->n_ctx : s->n_seq * s->info->n_ctx_train;
    s->kv_unified = cfg->kv_unified;
    s->slot_ctx = s->kv_unified ? s->n_ctx : s->n_ctx / s->n_seq;
    s->n_batch = cfg->n_batch > 0 ? cfg->n_batch : 512;
    if (s->n_batch < s->n_seq)
        s->n_batch = s->n_seq;
    s->max_queue = cfg->max_queue > 0 ? cfg->max_queue : 64;
    s->embeddings = cfg->embeddings;
    s->max_per_client = cfg->max_running_per_client > 0 ? cfg->max_running_per_client : 0;
    snprintf(s->model_name, sizeof s->model_name, "%s", cfg->model_name ? cfg->model_name : "");
    if (s->slot_ctx < 2) {
        rc = inferd_err_set(err, INFERD_EINVAL, "context_size: %d positions for %d sequences leaves < 2 each",
                            s->n_ctx, s->n_seq);
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->prefix_cap = cfg->prefix_cache_mb < 0 ? 0
                    : (long long)(cfg->prefix_cache_mb > 0 ? cfg->prefix_cache_mb : LLM_PREFIX_CACHE_MB_DEFAULT) << 20;
    /* the budget covers the weights, the KV cache, the scratch and the prefix cache's cap */
    int budget = cfg->memory_budget_mb;
    if (budget > 0 && (long long)budget <= s->prefix_cap >> 20) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE,
                            "memory_budget_mb: %d MiB leaves nothing after the prefix cache's %lld MiB "
                            "(prefix_cache_mb)", budget, s->prefix_cap >> 20);
        goto fail;
    }
    struct inferd_llm_ctx_params cp = {.n_ctx = s->n_ctx, .n_seq = s->n_seq, .n_batch = s->n_batch,
                                       .embeddings = s->embeddings, .kv_type = cfg->kv_type,
                                       .memory_budget_mb = budget > 0 ? budget - (int)(s->prefix_cap >> 20) : 0};
    rc = inferd_llm_ctx_new(model, &cp, &s->ctx, err);
    if (rc < 0) {
        if (budget > 0 && rc == INFERD_ETOOLARGE && s->prefix_cap)
            inferd_err_prefix(err, "%d MiB budget less the %lld MiB prefix cache", budget, s->prefix_cap >> 20);
        goto fail;
    }
    if (s->prefix_cap > 0 &&
        llm_prefix_new((size_t)s->prefix_cap, inferd_llm_kv_row_bytes(s->ctx) * LLM_PREFIX_BLOCK, &s->prefix) < 0) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "prefix_cache_mb: out of memory");
        goto fail;
    }
    s->slots = calloc((size_t)s->n_seq, sizeof *s->slots);
    s->b_tok = calloc((size_t)s->n_batch, sizeof *s->b_tok);
    s->b_pos = calloc((size_t)s->n_batch, sizeof *s->b_pos);
    s->b_seq = calloc((size_t)s->n_batch, sizeof *s->b_seq);
    s->b_want = calloc((size_t)s->n_batch, sizeof *s->b_want);
    s->b_slot = calloc((size_t)s->n_batch, sizeof *s->b_slot);
    rc = INFERD_ENOMEM;
    if (!s->slots || !s->b_tok || !s->b_pos || !s->b_seq || !s->b_want || !s->b_slot) {
        inferd_err_set(err, rc, "scheduler: out of memory");
        goto fail;
    }
    for (int i = 0; i < s->n_seq; i++) {
        s->slots[i].cache = calloc((size_t)s->slot_ctx, sizeof(int32_t));
        if (!s->slots[i].cache) {
            inferd_err_set(err, rc, "scheduler: out of memory");
            goto fail;
        }
    }
    s->metrics = cfg->metrics;
    if (s->metrics) {
        const char *l[] = {s->model_name};
        s->m_running = metrics_series_get(s->metrics->llm_running, l);
        s->m_waiting = metrics_series_get(s->metrics->llm_waiting, l);
        s->m_kv = metrics_series_get(s->metrics->llm_kv_usage, l);
        s->m_ttft = metrics_series_get(s->metrics->llm_ttft, l);
        s->m_itl = metrics_series_get(s->metrics->llm_itl, l);
        s->m_e2e = metrics_series_get(s->metrics->llm_e2e, l);
        s->m_queue = metrics_series_get(s->metrics->llm_queue_time, l);
        s->m_prompt = metrics_series_get(s->metrics->llm_prompt_tokens, l);
        s->m_gen = metrics_series_get(s->metrics->llm_generation_tokens, l);
        s->m_preempt = metrics_series_get(s->metrics->llm_preemptions, l);
        s->m_pfx_hits = metrics_series_get(s->metrics->llm_prefix_hits, l);
        s->m_pfx_misses = metrics_series_get(s->metrics->llm_prefix_misses, l);
        s->m_pfx_tokens = metrics_series_get(s->metrics->llm_prefix_tokens, l);
        s->m_pfx_bytes = metrics_series_get(s->metrics->llm_prefix_bytes, l);
        static const char *const parts[4] = {"weights_mapped", "weights_resident", "kv_cache", "scratch"};
        for (int k = 0; k < 4; k++)
            s->m_mem[k] = metrics_series_get(s->metrics->llm_memory, (const char *[]){s->model_name, parts[k]});
        update_gauges(s);
    }
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "scheduler: cannot start its thread");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    sched_destroy(s);
    return rc;
}

int llm_sched_submit(struct llm_sched *s, struct llm_job *j, struct inferd_err *err)
{
    return llm_sched_submit_n(s, &j, 1, err);
}

int llm_sched_submit_n(struct llm_sched *s, struct llm_job *const *jobs, int n, struct inferd_err *err)
{
    for (int i = 0; i < n; i++) {
        struct llm_job *j = jobs[i];
        if (!j->embed && j->n_prompt >= s->slot_ctx)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "prompt: %d tokens do not fit the context of %d tokens per sequence "
                                  "(%s)", j->n_prompt, s->slot_ctx, s->kv_unified ? "context_size" : "context_size / parallel");
        if (j->embed && j->n_prompt > s->slot_ctx)
            return inferd_err_set(err, INFERD_EINVAL, "input: %d tokens exceed the context of %d tokens per sequence",
                                  j->n_prompt, s->slot_ctx);
    }
    pthread_mutex_lock(&s->lock);
    if (s->stop || s->draining) {
        pthread_mutex_unlock(&s->lock);
        return inferd_err_set(err, INFERD_EUNAVAIL, "model %s is shutting down", s->model_name);
    }
    int free_slots = s->n_seq - (s->n_running - s->n_ended);
    if (s->n_waiting + n - 1 >= s->max_queue + (free_slots > 0 ? free_slots : 0)) {
        int running = s->n_running - s->n_ended, waiting = s->n_waiting; /* read under the lock */
        pthread_mutex_unlock(&s->lock);
        return inferd_err_set(err, INFERD_EBUSY, "model %s: %d requests running and %d waiting (queue limit %d)",
                              s->model_name, running, waiting, s->max_queue);
    }
    uint64_t now = clock_now_ns();
    for (int i = 0; i < n; i++) {
        struct llm_job *j = jobs[i];
        atomic_fetch_add(&j->refs, 1);
        j->t_submit = now;
        j->next = NULL;
        if (s->q_tail)
            s->q_tail->next = j;
        else
            s->q_head = j;
        s->q_tail = j;
        s->n_waiting++;
    }
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int llm_sched_drain(struct llm_sched *s, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    s->draining = 1;
    while (s->n_running + s->n_waiting > 0 && rc == 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &ts) == ETIMEDOUT)
            rc = INFERD_ETIMEDOUT;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void llm_sched_free(struct llm_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    sched_destroy(s);
}

void llm_sched_stats(struct llm_sched *s, struct llm_sched_stats *o)
{
    pthread_mutex_lock(&s->lock);
    o->running = s->n_running;
    o->waiting = s->n_waiting;
    pthread_mutex_unlock(&s->lock);
    o->n_seq = s->n_seq;
    o->n_ctx = s->n_ctx;
    o->slot_ctx = s->slot_ctx;
    o->n_batch = s->n_batch;
    o->max_queue = s->max_queue;
    o->max_running_per_client = s->max_per_client;
    o->steps = atomic_load(&s->steps);
    o->prompt_tokens = atomic_load(&s->prompt_tokens);
    o->generated_tokens = atomic_load(&s->generated_tokens);
    o->reused_tokens = atomic_load(&s->reused_tokens);
    o->kv_unified = s->kv_unified;
    o->preemptions = atomic_load(&s->preemptions);
    o->prefix_cap_bytes = s->prefix_cap;
    o->prefix_bytes = atomic_load(&s->pfx_bytes);
    o->prefix_blocks = atomic_load(&s->pfx_blocks);
    o->prefix_hits = atomic_load(&s->pfx_hits);
    o->prefix_misses = atomic_load(&s->pfx_misses);
    o->prefix_tokens = atomic_load(&s->pfx_tokens);
    o->prefix_evictions = atomic_load(&s->pfx_evictions);
}
