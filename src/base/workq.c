/* workq.c — a bounded FIFO of tasks and the threads that run them (workq.h). */
#include "base/workq.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

struct workq_task {
    workq_fn fn;
    void *arg;
};

struct workq {
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* a task was posted, or stopping */
    struct workq_task *ring;    /* max_queued slots */
    int max_queued;
    int head, count;            /* oldest task, tasks waiting */
    int stopping;               /* workq_free began: no posts, threads leave when empty */
    pthread_t *threads;
    int n_threads;              /* threads started */
};

static void *worker(void *arg)
{
    struct workq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->count == 0 && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->count == 0)
            break; /* stopping and nothing left */
        struct workq_task t = q->ring[q->head];
        q->head = (q->head + 1) % q->max_queued;
        q->count--;
        pthread_mutex_unlock(&q->lock);
        t.fn(t.arg);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

int workq_new(int n_threads, int max_queued, struct workq **out, struct inferd_err *err)
{
    if (n_threads < 1 || max_queued < 1)
        return inferd_err_set(err, INFERD_EINVAL, "workq: %d threads, %d queued: both must be >= 1", n_threads,
                              max_queued);
    struct workq *q = calloc(1, sizeof *q);
    if (!q)
        return inferd_err_set(err, INFERD_ENOMEM, "workq: out of memory");
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    q->max_queued = max_queued;
    q->ring = calloc((size_t)max_queued, sizeof *q->ring);
    q->threads = calloc((size_t)n_threads, sizeof *q->threads);
    if (!q->ring || !q->threads)
        goto fail;
    for (; q->n_threads < n_threads; q->n_threads++)
        if (pthread_create(&q->threads[q->n_threads], NULL, worker, q) != 0)
            goto fail;
    *out = q;
    return 0;
fail:
    workq_free(q);
    return inferd_err_set(err, INFERD_ENOMEM, "workq: cannot start %d threads", n_threads);
}

int workq_post(struct workq *q, workq_fn fn, void *arg)
{
    int rc = 0;
    pthread_mutex_lock(&q->lock);
    if (q->stopping) {
        rc = INFERD_EUNAVAIL;
    } else if (q->count == q->max_queued) {
        rc = INFERD_EBUSY;
    } else {
        q->ring[(q->head + q->count) % q->max_queued] = (struct workq_task){fn, arg};
        q->count++;
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int workq_waiting(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    int n = q->count;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void workq_free(struct workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    assert(q->count == 0 || q->n_threads == 0); /* the threads ran everything queued */
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    free(q->threads);
    free(q->ring);
    free(q);
}
