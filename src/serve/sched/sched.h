/* sched.h — the per-model-version scheduler: one thread, one bounded queue, dynamic
 * batching along the first (batch) dimension, deadlines checked before compute.
 *
 * Route threads submit jobs; the scheduler thread takes the oldest job plus every queued
 * job with the same non-batch shapes (up to max_batch_size rows), waiting up to
 * max_queue_delay_us for the batch to reach the largest preferred size. The inputs are
 * concatenated along dim 0, the backend runs once, and each job's done callback receives
 * views of its rows of the outputs. Expired jobs get ETIMEDOUT and are never computed.
 *
 *   struct sched *s; sched_new(&cfg, be, model, n_in, n_out, "mlp:1", &s, &err);
 *   job->q = req; job->done = on_done; job->deadline_ns = now + 1e9;
 *   if (sched_submit(s, job, &err) == INFERD_EBUSY) reply 503;
 *   sched_free(s);   // runs what is queued, then stops the thread
 *
 * Threading: sched_submit from any thread; done() runs on the scheduler thread and the
 * output views it gets are valid only until it returns.
 */
#ifndef INFERD_SERVE_SCHED_H
#define INFERD_SERVE_SCHED_H

#include "inferd/err.h"
#include "serve/repo/backend.h"
#include "serve/sched/infer_req.h"

#include <stdint.h>

struct metrics_series;

#define SCHED_MAX_PREFERRED 8

struct sched_config {
    int max_batch_size;             /* 0: the model has no batch dim; jobs run one by one */
    int dynamic;                    /* dynamic_batching configured: merge queued jobs */
    int preferred[SCHED_MAX_PREFERRED];
    int n_preferred;
    int64_t max_queue_delay_us;     /* how long the oldest job may wait for a fuller batch */
    int max_queue_size;             /* jobs queued at most; more get EBUSY */
    /* metrics series (borrowed, may be NULL) */
    struct metrics_series *queue_depth, *batch_size, *queue_duration, *compute_duration, *batch_wait_duration;
};

struct sched_job {
    struct infer_req *q;            /* borrowed until done(); inputs already checked */
    uint64_t deadline_ns;           /* monotonic; 0 = none */
    void (*done)(struct sched_job *job); /* called once, on the scheduler thread */
    void *user;                     /* for done() */
    /* filled by the scheduler before done() */
    int rc;                         /* 0 or INFERD_E* */
    struct inferd_err err;
    int n_outputs;
    struct inferd_tensor outputs[INFER_MAX_TENSORS]; /* views, valid during done() only */
    double queue_s, compute_s;      /* waiting and engine time */
    double batch_wait_s;            /* the part of queue_s the engine was free (filling a batch) */
    int batch_rows;                 /* rows in the batch this job ran in */
    /* private */
    uint64_t t_enqueue;
    struct sched_job *next;
};

struct sched;

/* Starts the scheduler thread for model (borrowed; must outlive the scheduler). name is
 * used in messages. OUT: *out. Returns 0 or ENOMEM/EIO. */
int sched_new(const struct sched_config *cfg, const struct backend_ops *be, void *model, int n_in,
              int n_out, const char *name, struct sched **out, struct inferd_err *err);
/* Queues job. Returns 0 (done() will run) or EBUSY (queue full) / EUNAVAIL (stopping);
 * then done() never runs. */
int sched_submit(struct sched *s, struct sched_job *job, struct inferd_err *err);
/* Fast path without batching: when nothing is queued or running and recent engine runs
 * took under 1 ms, runs job on the calling thread (done() included) and returns 1;
 * otherwise returns 0 and the caller submits.
 * Never used with dynamic batching, where requests must meet in the queue. */
int sched_run_inline(struct sched *s, struct sched_job *job);
/* Jobs queued now. */
int sched_depth(struct sched *s);
/* Finishes queued jobs, stops and joins the thread, frees. NULL is a no-op. */
void sched_free(struct sched *s);

#endif
