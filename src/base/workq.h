/* workq.h — a few threads that run posted tasks in order, with a cap on how many wait.
 *
 * For work that must leave the thread that received it and is one task, not a kernel split
 * over the compute pool (tpool.h): parsing a large request body off the HTTP workers. A post
 * past the cap is refused (the caller answers "busy"), never blocks. Freeing runs every task
 * still queued, then joins the threads, so a task's completion is never lost.
 *
 *   struct workq *q;
 *   if (workq_new(1, 64, &q, &err) < 0) ...;
 *   if (workq_post(q, parse_body, req) < 0) ... 503: 64 tasks wait already;
 *   workq_free(q);   // runs what is queued, joins
 */
#ifndef INFERD_BASE_WORKQ_H
#define INFERD_BASE_WORKQ_H

#include "inferd/err.h"

struct workq;

typedef void (*workq_fn)(void *arg);

/* Starts n_threads (>= 1) threads; at most max_queued (>= 1) tasks wait at once.
 * OUT: *out. Returns 0, INFERD_EINVAL or INFERD_ENOMEM (err says which). */
int workq_new(int n_threads, int max_queued, struct workq **out, struct inferd_err *err);
/* Queues fn(arg) to run on one of the threads. Returns 0, INFERD_EBUSY when max_queued
 * tasks wait already, or INFERD_EUNAVAIL once workq_free has begun; fn never runs then. */
int workq_post(struct workq *q, workq_fn fn, void *arg);
/* Tasks waiting now (for metrics and tests). */
int workq_waiting(struct workq *q);
/* Refuses new posts, runs every queued task, joins the threads, frees. NULL is a no-op. */
void workq_free(struct workq *q);

#endif
