/* llm_job_int.h — what the scheduler (llm_sched.c) uses of llm_job.c beyond the public
 * job API: appending generated text and publishing it under the stop-string rules.
 *
 *   llm_job__append(j, piece, n, &err);    // under nothing; takes j->lock
 *   switch (llm_job__check_stop(j)) { case 1: finish "stop"; case 2: finish "error"; }
 *   llm_job__notify(j, 0);                  // at the end of the step
 */
#ifndef INFERD_SERVE_LLM_JOB_INT_H
#define INFERD_SERVE_LLM_JOB_INT_H

#include <stddef.h>

struct llm_job;
struct inferd_err;

/* Appends n bytes to the job's text (not yet published). Returns 0, or INFERD_ENOMEM /
 * INFERD_ETOOLARGE (LLM_JOB_TEXT_MAX) with err saying which. */
int llm_job__append(struct llm_job *j, const char *piece, size_t n, struct inferd_err *err);
/* Publishes what the stop-string rules allow, under one lock: on a stop-string match cuts
 * the text there and returns 1 (the caller finishes the job, which publishes the rest).
 * Otherwise publishes everything but a tail that could still begin a stop string or is an
 * incomplete UTF-8 sequence, wakes llm_job_wait, and returns 0, or 2 when the consumer
 * has left more than max_unread published bytes untaken (the caller ends the job). */
int llm_job__check_stop(struct llm_job *j);
/* Runs the consumer's callbacks (on_done first when done) under cb_lock. */
void llm_job__notify(struct llm_job *j, int done);

#endif
