/* sched.c — per-model-version scheduler thread with dynamic batching. */
#include "serve/sched/sched.h"

#include "base/clock.h"
#include "observe/metrics.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHED_INLINE_MAX_NS 1000000u /* engine runs longer than 1 ms are not run inline */

struct sched {
    struct sched_config cfg;
    const struct backend_ops *be;
    void *model;                     /* borrowed */
    int n_in, n_out;
    char name[160];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sched_job *head, *tail;   /* FIFO */
    int depth;                       /* jobs queued */
    int64_t queued_rows;             /* sum of the batch dims of queued jobs */
    int stop;
    int running;                     /* a batch is being computed (by the thread or inline) */
    uint64_t compute_ewma_ns;        /* recent engine time per run (guarded by lock) */
    uint64_t t_free_ns;              /* when the last run ended (guarded by lock) */
    /* concatenation scratch, one per input, grown as needed; used by the thread only */
    void *scratch[INFER_MAX_TENSORS];
    size_t scratch_cap[INFER_MAX_TENSORS];
};

static int64_t job_rows(const struct sched *s, const struct sched_job *j)
{
    if (s->cfg.max_batch_size <= 0 || j->q->n_inputs == 0 || j->q->inputs[0].t.rank == 0)
        return 1;
    return j->q->inputs[0].t.dims[0];
}

/* Same dtype and non-batch dims for every input: can share one batch. */
static int compatible(const struct sched_job *a, const struct sched_job *b)
{
    for (int i = 0; i < a->q->n_inputs; i++) {
        const struct inferd_tensor *x = &a->q->inputs[i].t, *y = &b->q->inputs[i].t;
        if (x->dtype != y->dtype || x->rank != y->rank)
            return 0;
        for (int d = 1; d < x->rank; d++)
            if (x->dims[d] != y->dims[d])
                return 0;
    }
    return 1;
}

static void finish(struct sched_job *j, int rc, const struct inferd_err *err)
{
    j->rc = rc;
    if (rc < 0 && err && &j->err != err)
        j->err = *err;
    j->done(j);
}

static void fail_all(struct sched_job **jobs, int n, int rc, const struct inferd_err *err)
{
    for (int i = 0; i < n; i++) {
        jobs[i]->n_outputs = 0;
        finish(jobs[i], rc, err);
    }
}

/* Runs jobs[0..n) as one batch and calls their done(). */
/* t_free: when the engine last became free; a job's wait after that (and after its own
 * arrival) was the batch filling, the rest of its wait was the engine busy. */
static void run_batch(struct sched *s, struct sched_job **jobs, int n, int64_t rows, uint64_t t_free)
{
    struct inferd_err err = {0};
    struct inferd_tensor in[INFER_MAX_TENSORS], out[INFER_MAX_TENSORS];
    memset(out, 0, sizeof out);
    const struct infer_req *q0 = jobs[0]->q;
    for (int i = 0; i < s->n_in; i++) {
        in[i] = q0->inputs[i].t;
        if (n == 1)
            continue;
        size_t total = 0;
        for (int k = 0; k < n; k++)
            total += jobs[k]->q->inputs[i].t.nbytes;
        if (total > s->scratch_cap[i]) {
            void *p = realloc(s->scratch[i], total);
            if (!p) {
                inferd_err_set(&err, INFERD_ENOMEM, "%s: out of memory for a batch of %lld rows", s->name,
                               (long long)rows);
                fail_all(jobs, n, INFERD_ENOMEM, &err);
                return;
            }
            s->scratch[i] = p;
            s->scratch_cap[i] = total;
        }
        size_t off = 0;
        for (int k = 0; k < n; k++) {
            const struct inferd_tensor *t = &jobs[k]->q->inputs[i].t;
            memcpy((char *)s->scratch[i] + off, t->data, t->nbytes);
            off += t->nbytes;
        }
        in[i].data = s->scratch[i];
        in[i].nbytes = total;
        in[i].dims[0] = rows;
    }
    uint64_t t0 = clock_now_ns();
    for (int k = 0; k < n; k++) {
        jobs[k]->queue_s = (double)(t0 - jobs[k]->t_enqueue) / 1e9;
        uint64_t from = t_free > jobs[k]->t_enqueue ? t_free : jobs[k]->t_enqueue;
        jobs[k]->batch_wait_s = t0 > from ? (double)(t0 - from) / 1e9 : 0;
        if (s->cfg.queue_duration)
            metrics_observe(s->cfg.queue_duration, jobs[k]->queue_s);
        if (s->cfg.batch_wait_duration)
            metrics_observe(s->cfg.batch_wait_duration, jobs[k]->batch_wait_s);
    }
    int rc = s->be->infer(s->model, in, s->n_in, out, s->n_out, &err);
    uint64_t t1 = clock_now_ns();
    double comp = (double)(t1 - t0) / 1e9;
    pthread_mutex_lock(&s->lock);
    if (rc == 0) /* a refused input says nothing about how long a real run takes */
        s->compute_ewma_ns = s->compute_ewma_ns ? (s->compute_ewma_ns * 7 + (t1 - t0)) / 8 : t1 - t0;
    pthread_mutex_unlock(&s->lock);
    if (s->cfg.compute_duration)
        metrics_observe(s->cfg.compute_duration, comp);
    if (s->cfg.batch_size) /* Triton's meaning: rows per engine execution (inline runs too) */
        metrics_observe(s->cfg.batch_size, (double)rows);
    if (rc < 0) {
        inferd_err_prefix(&err, "%s", s->name);
        fail_all(jobs, n, rc, &err);
        return;
    }
    if (n > 1) {
        for (int o = 0; o < s->n_out; o++) {
            if (out[o].rank < 1 || out[o].dims[0] != rows) {
                inferd_err_set(&err, INFERD_EFORMAT,
                               "%s: output %d does not keep the batch dimension (%lld rows in, %lld out); "
                               "set max_batch_size 0 for this model",
                               s->name, o, (long long)rows, (long long)(out[o].rank ? out[o].dims[0] : 0));
                fail_all(jobs, n, INFERD_EFORMAT, &err);
                return;
            }
        }
    }
    int64_t row = 0;
    for (int k = 0; k < n; k++) {
        struct sched_job *j = jobs[k];
        int64_t r = job_rows(s, j);
        j->n_outputs = s->n_out;
        j->compute_s = comp;
        j->batch_rows = (int)rows;
        for (int o = 0; o < s->n_out; o++) {
            j->outputs[o] = out[o];
            if (n > 1 && out[o].dtype == INFERD_BYTES) { /* variable-size rows: walk to them */
                int64_t per = inferd_shape_numel(out[o].rank - 1, out[o].dims + 1);
                size_t lo = inferd_bytes_offset(out[o].data, out[o].nbytes, row * per);
                size_t hi = inferd_bytes_offset(out[o].data, out[o].nbytes, (row + r) * per);
                j->outputs[o].dims[0] = r;
                j->outputs[o].data = (char *)out[o].data + lo;
                j->outputs[o].nbytes = hi - lo;
            } else if (n > 1) {
                size_t row_bytes = out[o].nbytes / (size_t)rows;
                j->outputs[o].dims[0] = r;
                j->outputs[o].data = (char *)out[o].data + (size_t)row * row_bytes;
                j->outputs[o].nbytes = (size_t)r * row_bytes;
            }
        }
        row += r;
        finish(j, 0, NULL);
    }
}

static int64_t batch_target(const struct sched *s)
{
    int64_t t = s->cfg.max_batch_size;
    if (s->cfg.n_preferred > 0) {
        t = 0;
        for (int i = 0; i < s->cfg.n_preferred; i++)
            if (s->cfg.preferred[i] > t)
                t = s->cfg.preferred[i];
    }
    return t;
}

static void *sched_main(void *arg)
{
    struct sched *s = arg;
    struct sched_job *jobs[256];
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while ((!s->head && !s->stop) || s->running)
            pthread_cond_wait(&s->cond, &s->lock);
        if (!s->head)
            break;
        int batching = s->cfg.max_batch_size > 0 && s->cfg.dynamic;
        if (batching && s->cfg.max_queue_delay_us > 0) {
            uint64_t until = s->head->t_enqueue + (uint64_t)s->cfg.max_queue_delay_us * 1000u;
            int64_t target = batch_target(s);
            while (!s->stop && s->queued_rows < target && clock_now_ns() < until) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                uint64_t left = until - clock_now_ns();
                if (left > until)
                    break;
                uint64_t ns = (uint64_t)ts.tv_nsec + left;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                int w = pthread_cond_timedwait(&s->cond, &s->lock, &ts);
                if (w == ETIMEDOUT)
                    break;
            }
        }
        /* Take the head and (when batching) every compatible job that fits. */
        int n = 0;
        int64_t rows = 0;
        struct sched_job *prev = NULL, *j = s->head;
        uint64_t now = clock_now_ns();
        struct sched_job *expired = NULL;
        while (j && n < (int)(sizeof jobs / sizeof jobs[0])) {
            struct sched_job *next = j->next;
            int take = 0, drop = j->deadline_ns && now > j->deadline_ns;
            if (!drop) {
                int64_t r = job_rows(s, j);
                if (n == 0)
                    take = 1;
                else if (batching && rows + r <= s->cfg.max_batch_size && compatible(jobs[0], j))
                    take = 1;
                if (take) {
                    jobs[n++] = j;
                    rows += r;
                }
            }
            if (take || drop) {
                if (prev)
                    prev->next = next;
                else
                    s->head = next;
                if (s->tail == j)
                    s->tail = prev;
                s->depth--;
                s->queued_rows -= job_rows(s, j);
                assert(s->depth >= 0 && s->queued_rows >= 0);
                if (drop) {
                    j->next = expired;
                    expired = j;
                }
            } else {
                prev = j;
            }
            if (!batching && n == 1)
                break;
            j = next;
        }
        if (s->cfg.queue_depth)
            metrics_set(s->cfg.queue_depth, s->depth);
        s->running = n > 0;
        uint64_t t_free = s->t_free_ns;
        pthread_mutex_unlock(&s->lock);
        while (expired) {
            struct sched_job *e = expired;
            expired = e->next;
            struct inferd_err err;
            inferd_err_set(&err, INFERD_ETIMEDOUT,
                           "%s: the request's deadline passed after %.3f s in the queue; it was not computed",
                           s->name, (double)(now - e->t_enqueue) / 1e9);
            e->queue_s = (double)(now - e->t_enqueue) / 1e9;
            e->n_outputs = 0;
            finish(e, INFERD_ETIMEDOUT, &err);
        }
        if (n > 0)
            run_batch(s, jobs, n, rows, t_free);
        pthread_mutex_lock(&s->lock);
        s->running = 0;
        s->t_free_ns = clock_now_ns();
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sched_new(const struct sched_config *cfg, const struct backend_ops *be, void *model, int n_in,
              int n_out, const char *name, struct sched **out, struct inferd_err *err)
{
    struct sched *s = calloc(1, sizeof *s);
    if (!s)
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory for the scheduler", name);
    s->cfg = *cfg;
    if (s->cfg.max_queue_size <= 0)
        s->cfg.max_queue_size = 1024;
    s->be = be;
    s->model = model;
    s->n_in = n_in;
    s->n_out = n_out;
    snprintf(s->name, sizeof s->name, "%s", name);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return inferd_err_set(err, INFERD_EIO, "%s: cannot start the scheduler thread", name);
    }
    *out = s;
    return 0;
}

int sched_submit(struct sched *s, struct sched_job *job, struct inferd_err *err)
{
    job->t_enqueue = clock_now_ns();
    job->next = NULL;
    job->rc = 0;
    job->n_outputs = 0;
    pthread_mutex_lock(&s->lock);
    if (s->stop) {
        pthread_mutex_unlock(&s->lock);
        return inferd_err_set(err, INFERD_EUNAVAIL, "%s: is being unloaded", s->name);
    }
    if (s->depth >= s->cfg.max_queue_size) {
        pthread_mutex_unlock(&s->lock);
        return inferd_err_set(err, INFERD_EBUSY, "%s: the queue is full (max_queue_size %d); retry later",
                              s->name, s->cfg.max_queue_size);
    }
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    s->depth++;
    s->queued_rows += job_rows(s, job);
    assert(s->depth <= s->cfg.max_queue_size && (s->head != NULL) == (s->depth > 0));
    if (s->cfg.queue_depth)
        metrics_set(s->cfg.queue_depth, s->depth);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int sched_run_inline(struct sched *s, struct sched_job *job)
{
    if (s->cfg.dynamic && s->cfg.max_batch_size > 0)
        return 0; /* batching wants requests to meet in the queue */
    if (s->be->never_inline)
        return 0; /* run time depends on the input (a pipeline): never on an HTTP worker */
    pthread_mutex_lock(&s->lock);
    /* Long runs stay on the scheduler thread so they never hold an HTTP worker (and the
     * health checks it serves) for long. */
    if (s->stop || s->running || s->head || s->compute_ewma_ns > SCHED_INLINE_MAX_NS) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    s->running = 1;
    pthread_mutex_unlock(&s->lock);
    job->t_enqueue = clock_now_ns();
    job->next = NULL;
    job->rc = 0;
    job->n_outputs = 0;
    if (job->deadline_ns && job->t_enqueue > job->deadline_ns) {
        struct inferd_err err;
        inferd_err_set(&err, INFERD_ETIMEDOUT, "%s: the request's deadline passed before compute", s->name);
        finish(job, INFERD_ETIMEDOUT, &err);
    } else {
        run_batch(s, &job, 1, job_rows(s, job), job->t_enqueue);
    }
    pthread_mutex_lock(&s->lock);
    s->running = 0;
    s->t_free_ns = clock_now_ns();
    if (s->head)
        pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 1;
}

int sched_depth(struct sched *s)
{
    pthread_mutex_lock(&s->lock);
    int d = s->depth;
    pthread_mutex_unlock(&s->lock);
    return d;
}

void sched_free(struct sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < INFER_MAX_TENSORS; i++)
        free(s->scratch[i]);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
