/* llm_sched_int.h — what llm_sched.c (the step loop, admission, tokens) and llm_sched_kv.c
 * (the KV cache's room: prefix-cache copies in and out of slots, preemption, resuming) share:
 * the scheduler's state and the calls between the two files. Scheduler thread only, except
 * the fields the comments say are guarded by lock or atomic. */
#ifndef INFERD_SERVE_SCHED_LLM_SCHED_INT_H
#define INFERD_SERVE_SCHED_LLM_SCHED_INT_H

#include "serve/sched/llm_job_int.h"
#include "serve/sched/llm_sched.h"

#include <pthread.h>
#include <stdatomic.h>

struct slot {
    struct llm_job *job;           /* NULL when free */
    int32_t *cache;                /* tokens whose K/V this sequence holds (slot_ctx cap) */
    int n_cache;
};

struct llm_sched {
    struct inferd_llm_model *model;     /* borrowed */
    struct inferd_llm_ctx *ctx;         /* owned */
    const struct inferd_llm_info *info; /* borrowed from model */
    int n_seq, n_ctx, slot_ctx, n_batch, max_queue, embeddings;
    int max_per_client;                 /* slots one client may hold (0 = no cap) */
    long long prefix_cap;               /* prefix cache cap in bytes (0 = off) */
    int kv_unified;                     /* every sequence may use the whole cache: pages are
                                           shared, and a full cache preempts (make_room) */
    char model_name[128];
    struct metrics_inferd *metrics;
    struct metrics_series *m_running, *m_waiting, *m_kv, *m_ttft, *m_itl, *m_e2e, *m_queue,
        *m_prompt, *m_gen, *m_preempt, *m_pfx_hits, *m_pfx_misses, *m_pfx_tokens, *m_pfx_bytes;
    struct metrics_series *m_mem[4];     /* weights_mapped, weights_resident, kv_cache, scratch */
    int64_t mem_at_ns;                   /* last memory refresh (update_gauges), 0 = never */
    struct llm_prefix *prefix;          /* owned; NULL when the prefix cache is off */

    pthread_t thread;
    pthread_mutex_t lock;               /* guards the queue, n_waiting, stop, draining, n_running,
                                           n_ended */
    pthread_cond_t wake;                /* new work or stop */
    pthread_cond_t idle;                /* running + waiting reached 0 */
    struct llm_job *q_head, *q_tail;
    int n_waiting, n_running;
    int n_ended;                        /* of n_running: slot given back, result being published
                                           (sched_end_job); admission does not count them */
    int stop, draining;

    struct slot *slots;                 /* n_seq */
    /* decode batch, allocated once (n_batch rows) */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_want;
    int *b_slot;                        /* row -> slot */
    float *scratch_lp;                  /* LLM_TOP_MAX */
    int32_t *scratch_id;
    char piece[512];
    struct llm_gvocab *gvocab;          /* token bytes for grammars, built at the first one */
    struct llm_gmask_cache *gcache;     /* masks shared by the jobs' grammars (same thread) */
    /* fair admission (scheduler thread only): when each recent client was last admitted */
    struct fair_client {
        uint64_t client;                /* job->client */
        uint64_t last;                  /* s->admissions at its latest admission */
    } fair[LLM_FAIR_CLIENTS];
    int n_fair;
    uint64_t admissions;                /* jobs admitted so far */

    atomic_llong steps, prompt_tokens, generated_tokens, reused_tokens;
    /* prefix cache: lookups that found blocks / none, prompt tokens it supplied, and its
     * state copied after every change (the store itself is scheduler-thread only) */
    atomic_llong pfx_hits, pfx_misses, pfx_tokens, pfx_bytes, pfx_blocks, pfx_evictions;
    atomic_llong preemptions;           /* running jobs sent back to the queue (kv_unified) */
};

/* llm_sched.c */
/* Frees j's slot, publishes its end (reason, error code and message) and counts it out. */
void sched_end_job(struct llm_sched *s, struct llm_job *j, const char *reason, int code, const char *msg);
/* Tokens a and b share from the start. */
int sched_common_prefix(const int32_t *a, int na, const int32_t *b, int nb);

/* llm_sched_kv.c */
/* Keeps the full blocks of slot i's cached tokens in the prefix cache. */
void sched_prefix_save(struct llm_sched *s, int i);
/* Extends slot i, holding *keep tokens of j's feed, with blocks from the prefix cache. */
void sched_prefix_load(struct llm_sched *s, int i, struct llm_job *j, int *keep);
/* Drops the caches free slots keep for prefix reuse (blocks saved first). Returns 1 if it
 * freed pages. */
int sched_clear_idle(struct llm_sched *s);
/* Preempts the job pick_victim names (lowest priority, newest). Returns 1 if it did. */
int sched_preempt_victim(struct llm_sched *s);
/* Whether j's feed fits the free pages plus those free slots hold. */
int sched_kv_room(struct llm_sched *s, const struct llm_job *j);
/* Gives every generating job's next row a page (clearing free slots, then preempting);
 * returns the free pages left for prompt chunks. */
int sched_make_room(struct llm_sched *s);
/* Puts a preempted job back into a free slot. Returns 0 or EBUSY. */
int sched_resume(struct llm_sched *s, struct llm_job *j, struct inferd_err *err);

#endif
