/* test_serve_sched.c — the scheduler with a small in-test backend (y = 2x + batch rows
 * seen, so merged batches are visible): batching merges and splits back, queue full
 * gives EBUSY, expired deadlines give ETIMEDOUT without compute. */
#include "check.h"

#include "base/clock.h"
#include "serve/sched/sched.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct twice {
    float out[1024];
    int runs;
};

static int twice_infer(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out, int n_out,
                       struct inferd_err *err)
{
    (void)n_in, (void)n_out, (void)err;
    struct twice *m = model;
    int64_t n = inferd_tensor_numel(&in[0]);
    for (int64_t i = 0; i < n; i++)
        m->out[i] = 2 * ((const float *)in[0].data)[i];
    out[0] = in[0];
    out[0].data = m->out;
    m->runs++;
    return 0;
}

static const struct backend_ops twice_ops = {.name = "twice", .infer = twice_infer};

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
static float results[16][4];
static int rcs[16];

static void on_done(struct sched_job *j)
{
    int idx = (int)(intptr_t)j->user;
    rcs[idx] = j->rc;
    if (j->rc == 0)
        memcpy(results[idx], j->outputs[0].data, j->outputs[0].nbytes);
    pthread_mutex_lock(&w.mu);
    w.done++;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
}

static void wait_done(int n)
{
    pthread_mutex_lock(&w.mu);
    while (w.done < n)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
}

static void make_job(struct sched_job *j, struct infer_req *q, float *data, int idx)
{
    memset(j, 0, sizeof *j);
    memset(q, 0, sizeof *q);
    q->n_inputs = 1;
    q->inputs[0].t = (struct inferd_tensor){.dtype = INFERD_FP32, .rank = 2, .dims = {1, 4}, .data = data, .nbytes = 16};
    for (int k = 0; k < 4; k++)
        data[k] = (float)(idx * 10 + k);
    j->q = q;
    j->done = on_done;
    j->user = (void *)(intptr_t)idx;
}

int main(void)
{
    struct twice m = {0};
    struct inferd_err err = {0};
    static struct infer_req qs[16];
    static struct sched_job jobs[16];
    static float data[16][4];
    /* batching: 6 jobs submitted together wait for up to 2 s for a batch of 8; the
     * scheduler takes them as one batch as soon as the delay ends */
    struct sched_config cfg = {.max_batch_size = 8, .dynamic = 1, .preferred = {6}, .n_preferred = 1,
                               .max_queue_delay_us = 2000000, .max_queue_size = 6};
    struct sched *s;
    CHECK(sched_new(&cfg, &twice_ops, &m, 1, 1, "twice", &s, &err) == 0);
    for (int i = 0; i < 6; i++) {
        make_job(&jobs[i], &qs[i], data[i], i);
        CHECK(sched_submit(s, &jobs[i], &err) == 0);
    }
    wait_done(6);
    CHECK(m.runs == 1);
    for (int i = 0; i < 6; i++) {
        CHECK(rcs[i] == 0);
        for (int k = 0; k < 4; k++)
            CHECK(results[i][k] == 2.0f * (float)(i * 10 + k));
        CHECK(jobs[i].batch_rows == 6);
    }
    sched_free(s);

    /* queue full and deadlines: a long delay keeps jobs queued */
    w.done = 0;
    cfg = (struct sched_config){.max_batch_size = 8, .dynamic = 1, .preferred = {8}, .n_preferred = 1,
                                .max_queue_delay_us = 300000, .max_queue_size = 2};
    m.runs = 0;
    CHECK(sched_new(&cfg, &twice_ops, &m, 1, 1, "twice", &s, &err) == 0);
    make_job(&jobs[0], &qs[0], data[0], 0);
    jobs[0].deadline_ns = clock_now_ns() + 1000000; /* 1 ms: expires while queued */
    make_job(&jobs[1], &qs[1], data[1], 1);
    make_job(&jobs[2], &qs[2], data[2], 2);
    CHECK(sched_submit(s, &jobs[0], &err) == 0);
    CHECK(sched_submit(s, &jobs[1], &err) == 0);
    CHECK(sched_submit(s, &jobs[2], &err) == INFERD_EBUSY && strstr(err.msg, "max_queue_size 2"));
    wait_done(2);
    CHECK(rcs[0] == INFERD_ETIMEDOUT && strstr(jobs[0].err.msg, "deadline"));
    CHECK(rcs[1] == 0 && results[1][3] == 26.0f);
    CHECK(m.runs == 1);
    sched_free(s);

    /* no batching: an idle scheduler runs the job on the caller's thread */
    w.done = 0;
    m.runs = 0;
    cfg = (struct sched_config){.max_queue_size = 4};
    CHECK(sched_new(&cfg, &twice_ops, &m, 1, 1, "twice", &s, &err) == 0);
    make_job(&jobs[3], &qs[3], data[3], 3);
    CHECK(sched_run_inline(s, &jobs[3]) == 1);
    CHECK(w.done == 1 && rcs[3] == 0 && results[3][0] == 60.0f && m.runs == 1);
    make_job(&jobs[4], &qs[4], data[4], 4);
    CHECK(sched_submit(s, &jobs[4], &err) == 0);
    wait_done(2);
    CHECK(rcs[4] == 0 && results[4][1] == 82.0f);
    sched_free(s);
    /* with dynamic batching the fast path is never taken */
    cfg = (struct sched_config){.max_batch_size = 4, .dynamic = 1, .max_queue_size = 4};
    CHECK(sched_new(&cfg, &twice_ops, &m, 1, 1, "twice", &s, &err) == 0);
    CHECK(sched_run_inline(s, &jobs[3]) == 0);
    sched_free(s);
    return check_finish();
}
