/* tpool.c — persistent compute thread pool with spin-then-sleep workers. */
#include "tpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define TPOOL_SPIN_ITERS 20000

struct tpool {
    int n;                     /* threads per job, caller included */
    pthread_t *threads;        /* n-1 workers */
    pthread_mutex_t job_lock;  /* serialises callers */
    pthread_mutex_t mu;        /* guards sleeping workers */
    pthread_cond_t cv;
    atomic_uint generation;    /* bumped for every job */
    atomic_int pending;        /* parts not finished yet */
    atomic_int stop;
    tpool_fn fn;               /* current job */
    void *ctx;
    int nth;                   /* parts in the current job */
};

struct worker_arg {
    struct tpool *p;
    int ith;
};

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct tpool *p = wa->p;
    int ith = wa->ith;
    free(wa);
    unsigned seen = 0; /* generation before the first job; a worker that starts late still runs it */
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < TPOOL_SPIN_ITERS) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = gen;
        if (ith < p->nth)
            p->fn(p->ctx, ith, p->nth);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

struct tpool *tpool_new(int n_threads)
{
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    struct tpool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->job_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads)
            goto fail;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            goto fail;
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n = i; /* only i-1 workers exist */
            goto fail;
        }
    }
    return p;
fail:
    tpool_free(p);
    return NULL;
}

void tpool_free(struct tpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++)
        pthread_join(p->threads[i - 1], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->job_lock);
    free(p);
}

int tpool_size(const struct tpool *p)
{
    return p ? p->n : 1;
}

void tpool_parallel_for_n(struct tpool *p, int max_threads, tpool_fn fn, void *ctx)
{
    if (!p || p->n == 1 || max_threads <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->job_lock);
    p->fn = fn;
    p->ctx = ctx;
    p->nth = max_threads < p->n ? max_threads : p->n;
    atomic_store(&p->pending, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->nth);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    pthread_mutex_unlock(&p->job_lock);
}

void tpool_parallel_for(struct tpool *p, tpool_fn fn, void *ctx)
{
    tpool_parallel_for_n(p, p ? p->n : 1, fn, ctx);
}
