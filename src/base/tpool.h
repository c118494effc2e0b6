/* tpool.h — one persistent pool of compute threads shared by every engine.
 *
 * Kernels split work with tpool_parallel_for: fn(ctx, ith, nth) runs once for each
 * ith in [0, nth) where nth is the pool size; parts are claimed by whichever thread is free
 * (the caller included), so no part is tied to a thread, and the call returns when every
 * part is done. Workers spin briefly between jobs (token-by-token LLM decoding issues
 * thousands of tiny jobs per second) and then sleep on a condvar; the caller likewise spins
 * about 0.1 ms for parts other threads still run and then sleeps until the last one ends,
 * and spinning threads yield now and then, so a pool sharing its cores with another process
 * (or more threads than cores) loses a time slice at most. Jobs from different
 * callers are serialised by a mutex, so fn must not start a job on the same pool (it would
 * deadlock); a pool of size 1 runs fn inline. Jobs started with tpool_parallel_cut also
 * learn where to cut their work (tpool_cut) so that threads of unequal speed end together;
 * INFERD_POOL_BALANCE=0 keeps those cuts equal.
 *
 *   struct tpool *p = tpool_new(4);
 *   tpool_parallel_for(p, matmul_part, &args);   // matmul_part(&args, ith, 4)
 *   tpool_free(p);
 */
#ifndef INFERD_TPOOL_H
#define INFERD_TPOOL_H

#include <stdint.h>

struct tpool;

typedef void (*tpool_fn)(void *ctx, int ith, int nth);

/* Starts n_threads-1 workers (the caller is the n-th). n_threads <= 0 means the number of
 * online CPUs. Returns NULL on failure. */
struct tpool *tpool_new(int n_threads);
/* Stops and joins the workers. NULL is a no-op. */
void tpool_free(struct tpool *p);
/* Number of threads a job is split over (workers + caller). */
int tpool_size(const struct tpool *p);
/* Runs fn on every thread of the pool and waits. p may be NULL: then fn(ctx, 0, 1). */
void tpool_parallel_for(struct tpool *p, tpool_fn fn, void *ctx);
/* Like tpool_parallel_for but with at most max_threads parts (>= 1). */
void tpool_parallel_for_n(struct tpool *p, int max_threads, tpool_fn fn, void *ctx);
/* Runs fn(ctx, i, n_parts) for every i in [0, n_parts) (n_parts capped at 65535), each part
 * claimed by whichever pool thread is free, and waits. More parts than threads balance the
 * load: a thread another process preempts, or one given slower parts, holds up at most the
 * part it is running while the others take the rest. fn must not assume ith is a thread
 * index. p may be NULL: then the caller runs every part in order. */
void tpool_parallel_parts(struct tpool *p, int n_parts, tpool_fn fn, void *ctx);
/* tpool_parallel_parts for parts that cut their work with tpool_cut: the pool times each
 * thread's range and learns from it where to cut the next such job of the same key. */
void tpool_parallel_cut(struct tpool *p, int n_parts, tpool_fn fn, void *ctx);
/* Where part i of nparts starts when n units of work are cut so that the pool's threads end
 * together: called from inside part i of a tpool_parallel_cut job of nparts parts (fn's ith
 * and nth), it returns the balanced cut in [0, n], the same in every part of the job (cut(0)
 * = 0, cut(nparts) = n, nondecreasing), so parts [cut(i), cut(i + 1)) cover [0, n) once. The
 * cuts follow the shares the pool has learned from earlier such jobs of the key (tpool_hint;
 * each home thread's range timed, tpool.c); equal (n i / nparts) until then, in any other
 * job, on a pool of one thread or p NULL. Only for work whose results do not depend on where
 * it is cut: which thread is slower changes from second to second. */
int64_t tpool_cut(struct tpool *p, int64_t n, int i, int nparts);
/* Keys the jobs the calling thread starts from now on by (key, their order since this call):
 * tpool_cut's shares are learned per key, so the jobs of a step that repeats (an inference
 * plan's steps, run after run) each get the cut that suits them. Without a hint all of a
 * thread's jobs are keyed by their order alone. */
void tpool_hint(unsigned key);
/* The pool's learning step, on its own so that it can be tested without timing: threads
 * [0, n) had shares share[] (summing to 1) of a job cut at cut[0..n] and took t[] ns for
 * their ranges; moves share[] a quarter of the way toward the shares at which all would have
 * ended together (within [0.5, 1.5] x equal) and returns 1, or returns 0 and leaves share[]
 * as it was for a job too short to time (the longest under 20 us) or with one thread 4x
 * slower than another (preempted, not slow). */
int tpool_shares_step(double *share, const double *cut, const int64_t *t, int n);

#endif
