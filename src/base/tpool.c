/* tpool.c — persistent compute thread pool with spin-then-sleep workers. */
#include "tpool.h"

#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TPOOL_SPIN_ITERS 20000
/* The caller waits this many pauses (about 0.1 ms; a pause is 20-150 cycles) for the last
 * parts, then sleeps: a worker another process has preempted mid-part may not run again for
 * a whole scheduler slice, and spinning through it only keeps that worker off the core. */
#define TPOOL_DONE_SPIN_ITERS 5000
/* Spinning threads yield every this many pauses, so a preempted pool thread (or another
 * process) waiting for this core gets it. */
#define TPOOL_YIELD_EVERY 1024

/* Parts of a job are claimed, not assigned. The parts [0, nth) are cut into one contiguous
 * home range per thread (the caller's is the first); a thread runs its own range front to
 * back, then takes parts from the back of the others' ranges. So on an idle machine every
 * thread works through the same slice of the data job after job (what a static split gives:
 * an op reads what the same core wrote in the op before), while a thread that is slow, or
 * that another process has preempted, or a worker the OS has not scheduled yet, holds up at
 * most the part it is running: the others take the rest of its range. A job ends when all
 * parts are done, not when every worker has woken. Each range's claim word packs (job id <<
 * 32 | end << 16 | next): the owner claims next, a thief end - 1, so a late worker can never
 * claim a part of a job other than the one it saw, and fn/ctx/nth stay valid while it holds
 * a claim (the job cannot finish before the claimed part does). */
#define CLAIM(gen, end, next) (((uint64_t)(gen) << 32) | ((uint64_t)(end) << 16) | (uint64_t)(next))

/* Balanced cuts (tpool_cut). Two vCPUs of a cloud VM need not run alike, and a job cut in
 * equal halves waits on the slower half: on the Zen 5 test VM (ResNet-50, batch 1, 2 threads)
 * one thread sat idle for 10-25 % of the pool's time, the same thread in most jobs of a run
 * and a different one from run to run, and some steps' halves ran 1.5x apart every time (the
 * data one half reads sits in the other core's cache, a half holds the map's tail...). So the
 * pool learns each thread's share of a job from the jobs themselves, per job key (tpool_hint:
 * an inference plan's step): after a job whose parts were cut by tpool_cut, ran by their
 * home threads (none stolen) and took long enough to time, each thread's speed is its share
 * over the time its range took, and the key's shares move a step (TPOOL_BAL_STEP) toward
 * those at which all would have ended together. A stolen part, a job under TPOOL_BAL_MIN_NS
 * or one with a thread 4x slower than another (preempted, not slow) teaches nothing; shares
 * stay within [TPOOL_BAL_MIN, 2 - TPOOL_BAL_MIN] x equal. */
#define TPOOL_BAL_STEP 0.25
#define TPOOL_BAL_MIN_NS 20000
#define TPOOL_BAL_MIN 0.5 /* a thread's share stays within [0.5, 1.5] x equal */
#define TPOOL_BAL_KEYS 256 /* shares are learned per job key (tpool_hint), hashed into this many rows */

/* the calling thread's hint (tpool_hint) and its jobs since */
static _Thread_local unsigned hint_key, hint_seq;

void tpool_hint(unsigned key)
{
    hint_key = key;
    hint_seq = 0;
}

/* one home range's claim word, alone on its cache line (threads claim from their own) */
struct tpool_home {
    _Alignas(64) _Atomic uint64_t claim; /* CLAIM(job id, end, next) */
    int64_t fin;                         /* when the home thread ended its last own part (ns) */
};

struct tpool {
    int n;                     /* threads per job, caller included */
    pthread_t *threads;        /* n-1 workers */
    struct tpool_home *homes;  /* n home ranges; the current job uses the first n_homes */
    pthread_mutex_t job_lock;  /* serialises callers */
    pthread_mutex_t mu;        /* guards sleeping workers */
    pthread_cond_t cv;
    pthread_cond_t done_cv;    /* signalled (under mu) when the last part of a job ends */
    atomic_int caller_waiting; /* the caller sleeps on done_cv */
    atomic_uint generation;    /* bumped for every job (wakes workers) */
    atomic_int n_homes;        /* home ranges of the current job */
    atomic_int done;           /* parts finished in the current job */
    atomic_int stop;
    int nth;                   /* parts of the current job */
    tpool_fn fn;               /* current job */
    void *ctx;
    double *shares;            /* TPOOL_BAL_KEYS rows of n shares of a balanced job's work (sum 1) */
    double *share;             /* the current job's row */
    double *cut;               /* the current job's n_homes + 1 cut points in [0, 1] */
    int learn;                 /* learn balanced shares (INFERD_POOL_BALANCE unset or not "0") */
    int bal;                   /* the current job's parts cut by tpool_cut (tpool_parallel_cut) */
    atomic_int stolen;         /* a part of the current job ran off its home thread */
};

struct worker_arg {
    struct tpool *p;
    int ith;
};

/* Claims one part of job gen from home range h: from its front when own, else from its
 * back. Returns the part, or -1 when the range is empty or belongs to another job. */
static int claim_part(struct tpool *p, int h, unsigned gen, int own)
{
    for (;;) {
        uint64_t c = atomic_load_explicit(&p->homes[h].claim, memory_order_acquire);
        unsigned end = (unsigned)(c >> 16) & 0xFFFF, next = (unsigned)c & 0xFFFF;
        if ((unsigned)(c >> 32) != gen || next >= end)
            return -1;
        uint64_t to = own ? c + 1 : CLAIM(gen, end - 1, next);
        if (atomic_compare_exchange_weak_explicit(&p->homes[h].claim, &c, to, memory_order_acq_rel,
                                                  memory_order_acquire))
            return (int)(own ? next : end - 1);
    }
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Runs parts of job gen until none is left: thread self's own range first, then the others'. */
static void run_parts(struct tpool *p, unsigned gen, int self)
{
    int nh = atomic_load_explicit(&p->n_homes, memory_order_acquire);
    for (int k = 0; k < nh; k++) { /* a worker past the job's ranges (a job of fewer parts) only steals */
        int h = (self + k) % nh, part, own = k == 0 && self < nh;
        while ((part = claim_part(p, h, gen, own)) >= 0) {
            int nth = p->nth;
            p->fn(p->ctx, part, nth);
            if (p->bal) { /* fin: read by the caller after the done count says the job is over */
                if (own)
                    p->homes[h].fin = now_ns();
                else
                    atomic_store_explicit(&p->stolen, 1, memory_order_relaxed);
            }
            /* seq_cst pairs with run_job's store of caller_waiting and load of done: either
             * this thread sees the caller waiting, or the caller sees this part done */
            if (atomic_fetch_add(&p->done, 1) + 1 == nth && atomic_load(&p->caller_waiting)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->done_cv);
                pthread_mutex_unlock(&p->mu);
            }
        }
    }
}

static void spin_pause(int spins)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (spins % TPOOL_YIELD_EVERY == 0)
        sched_yield();
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct tpool *p = wa->p;
    int self = wa->ith;
    free(wa);
    unsigned seen = 0; /* generation before the first job; a worker that starts late still looks */
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < TPOOL_SPIN_ITERS) {
                spin_pause(spins);
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
        run_parts(p, gen, self);
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
    p->homes = aligned_alloc(_Alignof(struct tpool_home), (size_t)n_threads * sizeof *p->homes);
    p->shares = malloc((size_t)TPOOL_BAL_KEYS * n_threads * sizeof *p->shares);
    p->cut = malloc(((size_t)n_threads + 1) * sizeof *p->cut);
    if (!p->homes || !p->shares || !p->cut) {
        free(p->homes);
        free(p->shares);
        free(p->cut);
        free(p);
        return NULL;
    }
    for (int i = 0; i < n_threads; i++)
        atomic_init(&p->homes[i].claim, 0);
    for (int i = 0; i < TPOOL_BAL_KEYS * n_threads; i++)
        p->shares[i] = 1.0 / n_threads;
    p->share = p->shares;
    const char *bal = getenv("INFERD_POOL_BALANCE");
    p->learn = !(bal && strcmp(bal, "0") == 0);
    pthread_mutex_init(&p->job_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
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
    free(p->homes);
    free(p->shares);
    free(p->cut);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->job_lock);
    free(p);
}

int tpool_size(const struct tpool *p)
{
    return p ? p->n : 1;
}

int tpool_shares_step(double *share, const double *cut, const int64_t *t, int n)
{
    double speed[n], sum = 0;
    int64_t longest = 0, shortest = INT64_MAX;
    for (int h = 0; h < n; h++) {
        if (t[h] <= 0)
            return 0;
        longest = t[h] > longest ? t[h] : longest;
        shortest = t[h] < shortest ? t[h] : shortest;
        speed[h] = (cut[h + 1] - cut[h]) / (double)t[h];
        sum += speed[h];
    }
    /* a thread 4x slower than another was preempted (or woke late), not slow */
    if (longest < TPOOL_BAL_MIN_NS || longest > 4 * shortest || !(sum > 0))
        return 0;
    double lo = TPOOL_BAL_MIN / n, hi = (2.0 - TPOOL_BAL_MIN) / n, total = 0;
    for (int h = 0; h < n; h++) {
        double v = share[h] + TPOOL_BAL_STEP * (speed[h] / sum - share[h]);
        share[h] = v < lo ? lo : v > hi ? hi : v;
        total += share[h];
    }
    for (int h = 0; h < n; h++)
        share[h] /= total;
    return 1;
}

/* After a job whose parts were cut by tpool_cut, a learning step on its key's shares from the
 * home threads' times. Jobs with a stolen part (its thread's time then covers other work) or
 * of fewer homes than threads teach nothing. */
static void learn_shares(struct tpool *p, int nh, int64_t t0)
{
    if (!p->bal || !p->learn || nh != p->n || atomic_load_explicit(&p->stolen, memory_order_relaxed))
        return;
    int64_t t[nh];
    for (int h = 0; h < nh; h++)
        t[h] = p->homes[h].fin - t0;
    tpool_shares_step(p->share, p->cut, t, nh);
}

int64_t tpool_cut(struct tpool *p, int64_t n, int i, int nparts)
{
    if (!p || p->n == 1 || nparts <= 1 || i <= 0 || i >= nparts || nparts != p->nth || !p->bal)
        return i <= 0 ? 0 : i >= nparts ? n : n * i / nparts;
    /* home h holds parts [nparts h / nh, nparts (h + 1) / nh) (run_job), an equal slice each of
     * the home's share */
    int nh = atomic_load_explicit(&p->n_homes, memory_order_relaxed);
    int h = 0;
    while (h + 1 < nh && (int64_t)nparts * (h + 1) / nh <= i)
        h++;
    int64_t a = (int64_t)nparts * h / nh, b = (int64_t)nparts * (h + 1) / nh;
    double f = p->cut[h] + (p->cut[h + 1] - p->cut[h]) * (double)(i - a) / (double)(b - a);
    int64_t at = (int64_t)(f * (double)n + 0.5);
    return at < 0 ? 0 : at > n ? n : at;
}

/* Runs parts [0, nth) of fn over the pool (2 <= nth <= 0xFFFF) and waits for all of them;
 * bal: the parts cut their work by tpool_cut (the job is timed and teaches its key's shares). */
static void run_job(struct tpool *p, int nth, tpool_fn fn, void *ctx, int bal)
{
    pthread_mutex_lock(&p->job_lock);
    p->fn = fn;
    p->ctx = ctx;
    p->nth = nth;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->stolen, 0, memory_order_relaxed);
    p->bal = bal;
    unsigned gen = atomic_load(&p->generation) + 1;
    int nh = nth < p->n ? nth : p->n;
    int64_t t0 = 0;
    if (bal) { /* the row of this job's key (the caller's hint and the job's order since): cuts */
        uint32_t key = (hint_key * 2654435761u) ^ (hint_seq++ * 40503u);
        p->share = p->shares + (size_t)((key ^ key >> 16) % TPOOL_BAL_KEYS) * p->n;
        double total = 0;
        for (int h = 0; h < nh; h++)
            total += p->share[h];
        p->cut[0] = 0;
        for (int h = 0; h < nh; h++)
            p->cut[h + 1] = h + 1 == nh ? 1.0 : p->cut[h] + p->share[h] / total;
        t0 = now_ns();
    }
    for (int h = 0; h < nh; h++)
        atomic_store_explicit(&p->homes[h].claim, CLAIM(gen, (int64_t)nth * (h + 1) / nh, (int64_t)nth * h / nh),
                              memory_order_release);
    atomic_store_explicit(&p->n_homes, nh, memory_order_release);
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->generation, gen, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    run_parts(p, gen, 0);
    for (int spins = 1; atomic_load_explicit(&p->done, memory_order_acquire) < nth; spins++) {
        if (spins < TPOOL_DONE_SPIN_ITERS) {
            spin_pause(spins);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_waiting, 1);
        while (atomic_load(&p->done) < nth)
            pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->caller_waiting, 0);
        pthread_mutex_unlock(&p->mu);
    }
    /* each part ran exactly once: a claim never outlives its job */
    assert(atomic_load(&p->done) == nth);
    learn_shares(p, nh, t0);
    pthread_mutex_unlock(&p->job_lock);
}

void tpool_parallel_for_n(struct tpool *p, int max_threads, tpool_fn fn, void *ctx)
{
    if (!p || p->n == 1 || max_threads <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    run_job(p, max_threads < p->n ? max_threads : p->n, fn, ctx, 0);
}

/* parts [0, n_parts) (capped at 65535) over the pool, or in order on the caller; bal: cut by
 * tpool_cut */
static void parallel_parts(struct tpool *p, int n_parts, tpool_fn fn, void *ctx, int bal)
{
    if (n_parts > 0xFFFF)
        n_parts = 0xFFFF;
    if (!p || p->n == 1 || n_parts <= 1) {
        for (int i = 0; i < n_parts; i++)
            fn(ctx, i, n_parts);
        return;
    }
    run_job(p, n_parts, fn, ctx, bal);
}

void tpool_parallel_parts(struct tpool *p, int n_parts, tpool_fn fn, void *ctx)
{
    parallel_parts(p, n_parts, fn, ctx, 0);
}

void tpool_parallel_cut(struct tpool *p, int n_parts, tpool_fn fn, void *ctx)
{
    parallel_parts(p, n_parts, fn, ctx, 1);
}

void tpool_parallel_for(struct tpool *p, tpool_fn fn, void *ctx)
{
    tpool_parallel_for_n(p, p ? p->n : 1, fn, ctx);
}
