/* test_llm_sched.c — the continuous-batching scheduler on the real aidreams260K.gguf:
 * greedy output of jobs run together equals each job run alone, stop strings cut the text,
 * cancellation and deadlines free the slot, the wait queue bound gives EBUSY, too-long
 * prompts give EINVAL, a repeated prompt reuses the slot's cache, embeddings are unit-norm;
 * fair admission orders the wait queue by priority and client, and a per-client cap holds
 * a client's extra jobs while another client's run; under kv_unified a full cache preempts the
 * newest low-priority job, whose output stays the same. */
#include "check.h"
#include "serve/sched/llm_sched.h"

#include <stdatomic.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct inferd_llm_model *model;

static int32_t *tok(const char *text, int *n)
{
    int32_t *buf = malloc(256 * sizeof *buf);
    *n = inferd_llm_tokenize(model, text, strlen(text), 1, 1, buf, 256);
    return buf;
}

static struct llm_job *job(const char *text, int max_tokens, const char *stop)
{
    int n;
    int32_t *p = tok(text, &n);
    const char *stops[1] = {stop};
    struct llm_job_params jp = {.prompt = p, .n_prompt = n, .max_tokens = max_tokens, .stop = stops,
                                .n_stop = stop ? 1 : 0, .logprobs = 1, .n_top = 2};
    jp.sampling = (struct inferd_llm_sampling){.temperature = 0, .top_p = 1, .repeat_penalty = 1, .penalty_last_n = 64,
                                               .seed = 1};
    return llm_job_new(&jp, NULL);
}

static void wait_done(struct llm_job *j) { llm_job_wait(j); }

/* A consumer as the HTTP side is one: counts on_publish calls and takes the output in
 * pieces through the cursor API. */
struct consumer {
    atomic_int published, done_calls;
};

static void on_publish(struct llm_job *j, void *arg)
{
    (void)j;
    atomic_fetch_add(&((struct consumer *)arg)->published, 1);
}

static void on_done(struct llm_job *j, void *arg)
{
    (void)j;
    atomic_fetch_add(&((struct consumer *)arg)->done_calls, 1);
}

/* The next request of a client that got its answer (on_done runs on the scheduler thread,
 * when the HTTP side would send the answer): the finished job's room is free by then. */
struct next_req {
    struct llm_sched *s;
    struct llm_job *next[2];
    int rc[2];
    atomic_int sent;
};

static void submit_next(struct llm_job *j, void *arg)
{
    (void)j;
    struct next_req *nr = arg;
    for (int i = 0; i < 2; i++)
        nr->rc[i] = llm_sched_submit(nr->s, nr->next[i], NULL);
    atomic_store(&nr->sent, 1);
}

/* The hand-off: output taken in pieces while it is generated equals the whole answer;
 * every publication calls on_publish; a consumer that takes nothing ends a job whose
 * max_unread it exceeds; a detached job calls nothing. */
static void test_handoff(struct llm_sched *s, const char *whole)
{
    struct consumer cs = {0};
    int n;
    int32_t *p = tok("The", &n);
    struct llm_job_params jp = {.prompt = p, .n_prompt = n, .max_tokens = 40, .logprobs = 1,
                                .on_publish = on_publish, .on_done = on_done, .on_done_arg = &cs};
    jp.sampling = (struct inferd_llm_sampling){.temperature = 0, .top_p = 1, .repeat_penalty = 1, .penalty_last_n = 64,
                                               .seed = 1};
    struct llm_job *j = llm_job_new(&jp, NULL);
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    struct llm_job_cursor cur = {0};
    char got[4096] = "";
    size_t off = 0;
    int toks = 0, done = 0;
    for (int spins = 0; !done && spins < 200000; spins++) {
        struct llm_job_out o;
        CHECK(llm_job_take(j, &cur, &o) == 0);
        CHECK(o.text_off == off);
        if (o.len && off + o.len < sizeof got) {
            memcpy(got + off, o.text, o.len);
            off += o.len;
        }
        toks += o.n_toks;
        done = o.done;
        if (done)
            CHECK(strcmp(o.finish_reason, "length") == 0 && o.completion_tokens == 40);
        llm_job_out_free(&o);
        if (!done)
            usleep(50);
    }
    got[off] = 0;
    CHECK(done && strcmp(got, whole) == 0 && toks == 40);
    /* done is visible to take before the scheduler has run the callbacks: wait (bounded) */
    for (int i = 0; i < 5000 && atomic_load(&cs.done_calls) == 0; i++)
        usleep(1000);
    CHECK(atomic_load(&cs.published) >= 2 && atomic_load(&cs.done_calls) == 1);
    llm_job_release(j);

    /* nobody takes: more than 8 bytes unread ends the job with an error */
    p = tok("The", &n);
    jp.prompt = p;
    jp.n_prompt = n;
    jp.max_unread = 8;
    jp.ignore_eos = 1;
    j = llm_job_new(&jp, NULL);
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    llm_job_wait(j);
    struct llm_job_cursor zero = {0};
    struct llm_job_out o;
    CHECK(llm_job_take(j, &zero, &o) == 0);
    CHECK(strcmp(o.finish_reason, "error") == 0 && o.err_code == INFERD_EBUSY && o.completion_tokens < 40);
    llm_job_out_free(&o);
    llm_job_release(j);

    /* detached before it ends: no callback after llm_job_detach */
    struct consumer quiet = {0};
    p = tok("The", &n);
    jp.prompt = p;
    jp.n_prompt = n;
    jp.max_unread = 0;
    jp.on_done_arg = &quiet;
    j = llm_job_new(&jp, NULL);
    llm_job_detach(j);
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    llm_job_wait(j);
    CHECK(atomic_load(&quiet.published) == 0 && atomic_load(&quiet.done_calls) == 0);
    llm_job_release(j);
}

static char *run_alone(struct llm_sched *s, const char *text, int max_tokens)
{
    struct llm_job *j = job(text, max_tokens, NULL);
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    wait_done(j);
    char *out = strndup(j->text.data ? j->text.data : "", j->text.len);
    llm_job_release(j);
    return out;
}

static void wait_idle(struct llm_sched *s);

/* n > 1: three greedy choices of one prompt submitted together compute the prompt once
 * and each gives the text of the job alone (the copied KV cache and shared logits are
 * exact); a leader cancelled before its prompt ran leaves its choices to compute it. */
static void test_shared_prompt(struct llm_sched *s, const char *text, const char *want)
{
    struct llm_job *js[3];
    int n;
    int32_t *p0 = tok(text, &n);
    free(p0);
    wait_idle(s);
    struct llm_sched_stats before, after;
    llm_sched_stats(s, &before);
    for (int i = 0; i < 3; i++) {
        js[i] = job(text, 40, NULL);
        if (i > 0) { /* as llm_job_new would with share_prompt_of */
            atomic_fetch_add(&js[0]->refs, 1);
            js[i]->leader = js[0];
        }
    }
    CHECK(llm_sched_submit_n(s, js, 3, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        wait_done(js[i]);
        CHECK(js[i]->text.len == strlen(want) && memcmp(js[i]->text.data, want, js[i]->text.len) == 0);
        CHECK(js[i]->completion_tokens == 40);
    }
    CHECK(js[1]->cached_tokens == n && js[2]->cached_tokens == n);
    llm_sched_stats(s, &after);
    /* the leader computes what the slot cache did not hold; the choices compute nothing */
    CHECK(after.prompt_tokens - before.prompt_tokens == n - js[0]->cached_tokens);
    for (int i = 0; i < 3; i++)
        llm_job_release(js[i]);

    /* the leader cancelled before admission: its choices still finish with the same text */
    for (int i = 0; i < 3; i++) {
        js[i] = job(text, 40, NULL);
        if (i > 0) {
            atomic_fetch_add(&js[0]->refs, 1);
            js[i]->leader = js[0];
        }
    }
    llm_job_cancel(js[0]);
    CHECK(llm_sched_submit_n(s, js, 3, NULL) == 0);
    for (int i = 0; i < 3; i++)
        wait_done(js[i]);
    CHECK(strcmp(js[0]->finish_reason, "cancelled") == 0);
    for (int i = 1; i < 3; i++)
        CHECK(js[i]->text.len == strlen(want) && memcmp(js[i]->text.data, want, js[i]->text.len) == 0);
    for (int i = 0; i < 3; i++)
        llm_job_release(js[i]);
}

static void wait_idle(struct llm_sched *s)
{
    for (int i = 0; i < 2000; i++) {
        struct llm_sched_stats st;
        llm_sched_stats(s, &st);
        if (st.running == 0 && st.waiting == 0)
            return;
        usleep(1000);
    }
}

/* Submits a job for client c at priority p. */
static struct llm_job *job_of(struct llm_sched *s, uint64_t c, int p, int max_tokens)
{
    struct llm_job *j = job("The", max_tokens, NULL);
    j->client = c;
    j->priority = p;
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    return j;
}

static uint64_t started(struct llm_job *j)
{
    pthread_mutex_lock(&j->lock);
    uint64_t t = j->t_start;
    pthread_mutex_unlock(&j->lock);
    return t;
}

static void wait_running(struct llm_sched *s, int n)
{
    for (int i = 0; i < 20000; i++) {
        struct llm_sched_stats st;
        llm_sched_stats(s, &st);
        if (st.running == n)
            return;
        usleep(1000);
    }
}

/* One slot held by a blocker of client 1; queued behind it: three more of client 1, one
 * of client 2, one of client 1 at priority 5. Admission order once the blocker ends: the
 * priority job, client 2's (never admitted: round robin), then client 1's backlog in
 * arrival order (plain FIFO would run client 2 fourth and the priority job last). */
static void test_fair_order(void)
{
    struct llm_sched *s;
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 4096, .n_seq = 1, .model_name = "fair"}, &s,
                        NULL) == 0);
    struct llm_job *blocker = job("The", 3000, NULL);
    blocker->ignore_eos = 1;
    blocker->client = 1;
    CHECK(llm_sched_submit(s, blocker, NULL) == 0);
    wait_running(s, 1);
    struct llm_job *a1 = job_of(s, 1, 0, 4), *a2 = job_of(s, 1, 0, 4), *a3 = job_of(s, 1, 0, 4);
    struct llm_job *b = job_of(s, 2, 0, 4), *p = job_of(s, 1, 5, 4);
    llm_job_cancel(blocker);
    struct llm_job *order[5] = {p, b, a1, a2, a3};
    for (int i = 0; i < 5; i++)
        wait_done(order[i]);
    for (int i = 0; i + 1 < 5; i++)
        CHECK(started(order[i]) != 0 && started(order[i]) < started(order[i + 1]));
    CHECK(strcmp(blocker->finish_reason, "cancelled") == 0);
    llm_job_release(blocker);
    for (int i = 0; i < 5; i++)
        llm_job_release(order[i]);
    /* a priority out of range is refused at creation */
    int n;
    int32_t *pt = tok("The", &n);
    struct inferd_err err = {0};
    CHECK(llm_job_new(&(struct llm_job_params){.prompt = pt, .n_prompt = n, .priority = LLM_PRIORITY_MAX + 1}, &err) ==
          NULL);
    CHECK(err.code == INFERD_EINVAL && strstr(err.msg, "priority") != NULL);
    llm_sched_free(s);
}

/* Two slots, at most one per client: client 1's long job and second job, client 2's job.
 * Client 2's job runs beside the long one and ends while client 1's second still waits
 * (decode steps are shared, so 8 tokens end long before 2000 do); it runs once the long one
 * is cancelled. */
static void test_client_cap(void)
{
    struct llm_sched *s;
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 4096, .n_seq = 2, .max_running_per_client = 1,
                                                           .model_name = "cap"},
                        &s, NULL) == 0);
    struct llm_sched_stats st;
    llm_sched_stats(s, &st);
    CHECK(st.max_running_per_client == 1);
    struct llm_job *longj = job("The", 2000, NULL);
    longj->ignore_eos = 1;
    longj->client = 1;
    CHECK(llm_sched_submit(s, longj, NULL) == 0);
    struct llm_job *a2 = job_of(s, 1, 0, 8), *b = job_of(s, 2, 0, 8);
    wait_done(b);
    CHECK(strcmp(b->finish_reason, "length") == 0);
    CHECK(started(a2) == 0); /* still waiting: its client holds its one slot */
    pthread_mutex_lock(&longj->lock);
    int long_done = longj->done;
    pthread_mutex_unlock(&longj->lock);
    CHECK(!long_done);
    llm_job_cancel(longj);
    wait_done(a2);
    CHECK(strcmp(a2->finish_reason, "length") == 0 && started(a2) > started(b));
    llm_job_release(longj);
    llm_job_release(a2);
    llm_job_release(b);
    llm_sched_free(s);
}

/* kv_unified: 3 sequences of ~75 positions in a 128-position cache. The scheduler pauses
 * the newest priority-0 job (never the priority-5 one) and resumes it by recomputing; each
 * text equals the job's text run alone, with the prefix cache off and on. */
static void test_preempt(int prefix_mb)
{
    struct llm_sched *s = NULL;
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 128, .n_seq = 3, .kv_unified = 1,
                                                           .prefix_cache_mb = prefix_mb, .model_name = "pre"},
                        &s, NULL) == 0);
    if (!s)
        return;
    const char *prompts[3] = {"Once upon a time", "The", "Echoes of"};
    char *alone[3];
    struct llm_job *js[3];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 3; i++) {
            int n;
            int32_t *p = tok(prompts[i], &n);
            struct llm_job_params jp = {.prompt = p, .n_prompt = n, .max_tokens = 70, .ignore_eos = 1,
                                        .priority = i == 0 ? 5 : 0};
            jp.sampling = (struct inferd_llm_sampling){.temperature = 0, .top_p = 1, .repeat_penalty = 1.1f,
                                                       .penalty_last_n = 64, .seed = 1};
            js[i] = llm_job_new(&jp, NULL);
        }
        if (pass == 0) { /* one at a time: no pressure */
            for (int i = 0; i < 3; i++) {
                CHECK(llm_sched_submit(s, js[i], NULL) == 0);
                wait_done(js[i]);
            }
        } else {
            CHECK(llm_sched_submit_n(s, js, 3, NULL) == 0);
            for (int i = 0; i < 3; i++)
                wait_done(js[i]);
        }
        for (int i = 0; i < 3; i++) {
            char *t = strndup(js[i]->text.data ? js[i]->text.data : "", js[i]->text.len);
            CHECK(js[i]->completion_tokens == 70 && strcmp(js[i]->finish_reason, "length") == 0);
            if (pass == 0)
                alone[i] = t;
            else {
                CHECK(strcmp(t, alone[i]) == 0);
                free(t);
                free(alone[i]);
            }
        }
        struct llm_sched_stats st;
        llm_sched_stats(s, &st);
        CHECK(pass == 0 ? st.preemptions == 0 : st.preemptions > 0);
        if (pass == 1)
            CHECK(js[0]->preempted == 0 && js[1]->preempted + js[2]->preempted == st.preemptions);
        for (int i = 0; i < 3; i++)
            llm_job_release(js[i]);
    }
    llm_sched_free(s);
}

int main(void)
{
    const char *path = check_shared_path("llm/aidreams260K.gguf");
    struct inferd_err err = {0};
    if (inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = 1}, &model, &err) < 0) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    struct llm_sched *s;
    /* the engine refuses the context: the failure path frees what was made (ASan: no leak) */
    s = NULL;
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 1 << 25, .n_seq = 1, .model_name = "big"}, &s,
                        &err) == INFERD_EINVAL);
    CHECK(s == NULL && strstr(err.msg, "n_ctx") != NULL);
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 1024, .n_seq = 8, .n_batch = 64, .max_queue = 2,
                                                           .embeddings = 1, .model_name = "t"},
                        &s, &err) == 0);
    const char *prompts[8] = {"The", "Once upon a time", "Echoes of", "I sense the weights", "whispers through",
                              "Dimensions", "a gentle hum", "precision"};
    char *alone[8];
    for (int i = 0; i < 8; i++)
        alone[i] = run_alone(s, prompts[i], 40);
    test_handoff(s, alone[0]);
    char *shared_alone = run_alone(s, "a gentle hum of the", 40);
    test_shared_prompt(s, "a gentle hum of the", shared_alone);
    free(shared_alone);
    /* all 8 together, one decode per step */
    struct llm_sched_stats before, after;
    llm_sched_stats(s, &before);
    struct llm_job *js[8];
    for (int i = 0; i < 8; i++) {
        js[i] = job(prompts[i], 40, NULL);
        CHECK(llm_sched_submit(s, js[i], NULL) == 0);
    }
    for (int i = 0; i < 8; i++) {
        wait_done(js[i]);
        CHECK(js[i]->text.len == strlen(alone[i]) && memcmp(js[i]->text.data, alone[i], js[i]->text.len) == 0);
        CHECK(js[i]->completion_tokens == 40 && strcmp(js[i]->finish_reason, "length") == 0);
        CHECK(js[i]->n_toks == 40 && js[i]->toks[0].n_top == 2 && js[i]->toks[0].top_id[0] == js[i]->toks[0].id);
        llm_job_release(js[i]);
    }
    llm_sched_stats(s, &after);
    /* 8 x 40 tokens took far fewer than 8 x 40 steps: they were batched */
    CHECK(after.steps - before.steps < 8 * 40 / 2);
    CHECK(after.reused_tokens > before.reused_tokens); /* same prompts again: cache reused */

    /* stop string */
    struct llm_job *j = job("The", 40, " within");
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    wait_done(j);
    CHECK(strcmp(j->finish_reason, "stop") == 0 && j->text.len == strlen(" dissolve") &&
          memcmp(j->text.data, " dissolve", j->text.len) == 0);
    llm_job_release(j);

    /* cancellation frees the slot; deadline gives "timeout" */
    j = job("The", 100, NULL);
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    llm_job_cancel(j);
    wait_done(j);
    CHECK(strcmp(j->finish_reason, "cancelled") == 0 && j->completion_tokens < 100);
    llm_job_release(j);
    j = job("The", 100, NULL);
    j->deadline_ns = 1; /* long past */
    CHECK(llm_sched_submit(s, j, NULL) == 0);
    wait_done(j);
    CHECK(strcmp(j->finish_reason, "timeout") == 0);
    llm_job_release(j);
    wait_idle(s);

    /* a prompt longer than a sequence's context */
    int32_t *big = calloc(200, sizeof *big);
    for (int i = 0; i < 200; i++)
        big[i] = 300;
    j = llm_job_new(&(struct llm_job_params){.prompt = big, .n_prompt = 200, .max_tokens = 1}, NULL);
    CHECK(llm_sched_submit(s, j, &err) == INFERD_EINVAL && strstr(err.msg, "context") != NULL);
    llm_job_release(j);

    /* embeddings: unit norm, deterministic */
    float e1[64];
    for (int k = 0; k < 2; k++) {
        int n;
        int32_t *p = tok("hello world", &n);
        j = llm_job_new(&(struct llm_job_params){.prompt = p, .n_prompt = n, .embed = 1}, NULL);
        CHECK(llm_sched_submit(s, j, NULL) == 0);
        wait_done(j);
        CHECK(j->embedding != NULL && j->n_embd == 64);
        if (j->embedding) {
            double norm = 0;
            for (int i = 0; i < 64; i++)
                norm += j->embedding[i] * j->embedding[i];
            CHECK_NEAR(norm, 1.0, 1e-4);
            if (k == 0)
                memcpy(e1, j->embedding, sizeof e1);
            else
                CHECK(memcmp(e1, j->embedding, sizeof e1) == 0);
        }
        llm_job_release(j);
    }
    llm_sched_free(s);

    /* queue bound: 1 slot, queue 1 -> the third concurrent job gets EBUSY */
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 4096, .n_seq = 1, .max_queue = 1, .model_name = "q"},
                        &s, &err) == 0);
    struct llm_job *a = job("The", 3000, NULL), *b = job("The", 10, NULL), *c = job("The", 10, NULL);
    a->ignore_eos = 1;
    CHECK(llm_sched_submit(s, a, NULL) == 0);
    for (int i = 0; i < 2000; i++) { /* until a holds the slot */
        struct llm_sched_stats st;
        llm_sched_stats(s, &st);
        if (st.running == 1)
            break;
        usleep(1000);
    }
    CHECK(llm_sched_submit(s, b, NULL) == 0);
    CHECK(llm_sched_submit(s, c, &err) == INFERD_EBUSY);
    CHECK(llm_sched_drain(s, 1) == INFERD_ETIMEDOUT);
    llm_job_cancel(a);
    CHECK(llm_sched_drain(s, 60000) == 0);
    CHECK(strcmp(a->finish_reason, "cancelled") == 0 && strcmp(b->finish_reason, "length") == 0);
    struct llm_job *d = job("The", 2, NULL);
    CHECK(llm_sched_submit(s, d, &err) == INFERD_EUNAVAIL); /* draining */
    llm_job_release(a);
    llm_job_release(b);
    llm_job_release(c);
    llm_job_release(d);
    llm_sched_free(s);

    /* 1 slot + queue 1 hold 2: when a's answer is out, two more fit (a's room was counted
     * taken until after its result was published: the second got EBUSY) */
    CHECK(llm_sched_new(model, &(struct llm_sched_config){.n_ctx = 4096, .n_seq = 1, .max_queue = 1, .model_name = "q"},
                        &s, &err) == 0);
    struct next_req nr = {.s = s, .next = {job("The", 2, NULL), job("The", 2, NULL)}, .rc = {-1, -1}};
    a = job("The", 2, NULL);
    a->on_done = submit_next;
    a->on_done_arg = &nr;
    CHECK(llm_sched_submit(s, a, NULL) == 0);
    for (int i = 0; i < 60000 && !atomic_load(&nr.sent); i++)
        usleep(1000);
    CHECK(atomic_load(&nr.sent) && nr.rc[0] == 0 && nr.rc[1] == 0);
    CHECK(llm_sched_drain(s, 60000) == 0);
    CHECK(strcmp(nr.next[0]->finish_reason, "length") == 0 && strcmp(nr.next[1]->finish_reason, "length") == 0);
    llm_job_release(a);
    llm_job_release(nr.next[0]);
    llm_job_release(nr.next[1]);
    llm_sched_free(s);
    test_fair_order();
    test_client_cap();
    test_preempt(-1);
    test_preempt(0);
    for (int i = 0; i < 8; i++)
        free(alone[i]);
    inferd_llm_free(model);
    return check_finish();
}
