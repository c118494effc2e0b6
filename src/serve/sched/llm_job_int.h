/* llm_job_int.h — what the scheduler (llm_sched.c) uses of llm_job.c beyond the public
 * job API: appending generated text and publishing it under the stop-string rules.
 *
 *   llm_job__append(j, piece, n);          // under nothing; takes j->lock
 *   if (llm_job__check_stop(j)) finish(j, "stop");
 *   pthread_cond_broadcast(&j->cond);
 */
#ifndef INFERD_SERVE_LLM_JOB_INT_H
#define INFERD_SERVE_LLM_JOB_INT_H

#include <stddef.h>

struct llm_job;
struct inferd_err;

/* Appends n bytes to the job's text (not yet published). Returns 0, or INFERD_ENOMEM /
 * INFERD_ETOOLARGE (LLM_JOB_TEXT_MAX) with err saying which. */
int llm_job__append(struct llm_job *j, const char *piece, size_t n, struct inferd_err *err);
/* Looks for a stop string in the unpublished text: on a match cuts the text there and
 * returns 1 (the caller finishes the job, which publishes the rest). Otherwise publishes
 * everything but a tail that could still begin a stop string or is an incomplete UTF-8
 * sequence, and returns 0. */
int llm_job__check_stop(struct llm_job *j);
/* Runs the consumer's callbacks (on_done first when done) under cb_lock. */
void llm_job__notify(struct llm_job *j, int done);
/* 1 when the consumer left more than max_unread published bytes untaken. */
int llm_job__unread_over(struct llm_job *j);

#endif
