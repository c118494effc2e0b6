/* llm_sched.h — the continuous-batching scheduler of one LLM: one thread per model that
 * admits requests into n_seq KV-cache slots and runs every step as ONE decode call mixing
 * prompt chunks of new requests with the next token of running ones.
 *
 * A job (one completion or one embedding) is created by the HTTP side, submitted, and then
 * owned jointly: the scheduler and the submitter each hold a reference and each call
 * llm_job_release once. The scheduler publishes output under the job's lock (text that is
 * safe to show — stop strings and partial UTF-8 are held back — token records, and at the
 * end finish_reason and usage) and tells the consumer through callbacks that run on the
 * scheduler thread and must not block: on_publish after every publication (a stream
 * resumes its connection), on_done once at the end. The consumer takes what was published
 * with llm_job_take: the published bytes it has not taken are the job's per-request queue,
 * bounded by max_unread (a consumer that stops reading ends the job with an error, never
 * stalls the scheduler). llm_job_detach stops the callbacks before the consumer goes away.
 * Nothing outside the scheduler reads a job's fields.
 *
 *   struct llm_sched *s;  llm_sched_new(model, &cfg, &s, &err);
 *   struct llm_job *j = llm_job_new(&jp, &err);          // takes the prompt tokens
 *   if (llm_sched_submit(s, j, &err) < 0) ... 503/400;   // on success the job is queued
 *   // on_publish / on_done (scheduler thread) -> wake the consumer, which then:
 *   struct llm_job_out o;  llm_job_take(j, &cursor, &o);  ... llm_job_out_free(&o);
 *   llm_job_detach(j);  llm_job_release(j);  llm_sched_free(s);
 *
 * Per-sequence context: n_ctx / n_seq positions. A slot keeps its previous request's KV
 * cache; a new request goes to the free slot sharing the longest token prefix with it and
 * only the rest of its prompt is computed (prompt-prefix reuse). Beyond the slots, the
 * prefix cache (llm_prefix.h) keeps the KV of every finished sequence's and computed
 * prompt's full blocks, so a request sharing a prefix with any earlier one (not only the
 * slot's last) copies those blocks instead of computing them. With kv_unified the slots share
 * the whole cache (n_ctx positions each at most): when a running job needs a page and none
 * is free, the newest job of the lowest priority is preempted (KV dropped, re-queued first)
 * and later recomputes its tokens, producing the same output. Cancellation (job->cancel)
 * and deadlines are checked before every step, so a slot is freed within one step.
 *
 * Fair admission: a free slot goes to the waiting job with the highest priority; among
 * equals, to the client (job->client) holding the fewest slots, then to the client whose
 * last admission is the oldest (round robin), then to the earliest arrival. A client at
 * max_running_per_client waits while others are admitted. One client's backlog therefore
 * never starves another's request.
 */
#ifndef INFERD_SERVE_LLM_SCHED_H
#define INFERD_SERVE_LLM_SCHED_H

#include "inferd/err.h"
#include "base/buf.h"
#include "inferd/llm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_inferd;

#define LLM_TOP_MAX 20     /* OpenAI's cap on top_logprobs */
#define LLM_STOP_MAX 16    /* stop strings per request (OpenAI's 4, llama.cpp's more) */
#define LLM_STOP_LEN 256   /* bytes per stop string */
#define LLM_JOB_TEXT_MAX (256u << 20) /* bytes of one job's generated text */
#define LLM_PRIORITY_MIN (-10)     /* a request's priority range (vLLM-style `priority`) */
#define LLM_PRIORITY_MAX 10
#define LLM_PREFIX_CACHE_MB_DEFAULT 256 /* prefix cache cap per model unless configured */
#define LLM_FAIR_CLIENTS 64        /* clients whose last admission the scheduler remembers */

/* One generated token, for logprobs. */
struct llm_tok_rec {
    int32_t id;
    float logprob;                 /* under the unmodified softmax */
    int n_top;
    int32_t top_id[LLM_TOP_MAX];
    float top_lp[LLM_TOP_MAX];
    uint32_t text_off;             /* byte offset of this token's text in the job's output */
};

struct llm_job;
/* A job's callbacks: scheduler thread, must not block and must not call llm_job_detach. */
typedef void (*llm_job_done_fn)(struct llm_job *job, void *arg);

struct llm_job_params {
    int32_t *prompt;               /* taken by llm_job_new (malloc'd), even on failure */
    int n_prompt;
    int max_tokens;                /* <= 0: until the sequence's context is full */
    struct inferd_llm_sampling sampling;
    const struct inferd_llm_logit_bias *bias; /* copied: n_bias pairs (ids checked at admission) */
    int n_bias;
    /* Another job of the same request with the same prompt (the first choice of n > 1),
     * or NULL. The job takes a reference. When both run, the prompt is evaluated once,
     * by that job: this one waits for it and starts from a copy of its KV cache and the
     * same last logits. */
    struct llm_job *share_prompt_of;
    const char *const *stop;       /* copied; up to LLM_STOP_MAX non-empty strings */
    int n_stop;
    int n_top;                     /* top logprobs per token, 0..LLM_TOP_MAX */
    int logprobs;                  /* keep per-token records (logprob, top) */
    int prompt_logprobs;           /* also records of the prompt tokens (echo): no prefix reuse */
    int rank;                      /* keep sum_logprob (best_of ranks candidates by it) */
    int embed;                     /* embedding job: mean-pooled normalised hidden state */
    int ignore_eos;                /* keep generating past end-of-generation tokens */
    uint64_t deadline_ns;          /* clock_now_ns() deadline; 0 = none */
    size_t max_unread;             /* published bytes not yet taken before the job ends with
                                      an error (a stream whose client stopped reading); 0 = no cap */
    llm_job_done_fn on_done;       /* optional, once, after done is set */
    llm_job_done_fn on_publish;    /* optional, after every publication (text, tokens, end) */
    void *on_done_arg;             /* the argument of both */
    struct llm_grammar *grammar;   /* optional constraint (llm/grammar.h); the job takes its
                                      own reference */
    int priority;                  /* LLM_PRIORITY_MIN..MAX: higher is admitted first (0 default) */
    uint64_t client;               /* who asked (fair admission, per-client limit): a non-secret
                                      id such as the API key's index + 1; 0 = no key (all such
                                      requests are one client) */
};

struct llm_job {
    /* ---- fixed at creation ---- */
    int32_t *prompt;               /* owned */
    int n_prompt;
    int max_tokens;
    struct inferd_llm_sampling sampling;
    struct inferd_llm_logit_bias *bias; /* owned, n_bias */
    int n_bias;
    struct llm_job *leader;        /* share_prompt_of (a reference), or NULL */
    char stop[LLM_STOP_MAX][LLM_STOP_LEN];
    int n_stop;
    int n_top, logprobs, embed, ignore_eos, prompt_logprobs, rank;
    uint64_t deadline_ns;
    size_t max_unread;
    int priority;                  /* higher first */
    uint64_t client;               /* fair-admission identity (never the key itself) */
    atomic_int cancel;             /* set by the consumer (client gone): slot freed next step */
    atomic_int refs;
    /* ---- scheduler-private ---- */
    struct llm_job *next;          /* wait-queue link */
    struct inferd_llm_sampler *smp;
    int slot;                      /* -1 while waiting */
    int n_past;                    /* prompt tokens already in the KV cache */
    int32_t last_tok;              /* token to feed next step when generating */
    int wait_leader;               /* in a slot, waiting for leader's prompt (no rows) */
    int32_t *feed;                 /* tokens to compute before generating: prompt, or replay */
    int n_feed;
    int32_t *replay;               /* owned: after a preemption while generating, the tokens it
                                      had in its cache plus its pending token (recomputed) */
    int n_replay;
    int preempted;                 /* times paused for KV pages (kv_unified) */
    struct llm_grammar *grammar;   /* owned reference, or NULL (fixed at creation) */
    struct llm_gmatch *gm;         /* grammar's matcher while in a slot */
    float *gmask;                  /* n_vocab masked logits while in a slot */
    int gm_mask_first;             /* steps left that mask before drawing (after a rejection) */
    int publish_pending;           /* published and not yet told (on_publish at a step's end) */
    uint64_t t_notified;           /* when on_publish last ran (0 = never) */
    float *emb_sum;                /* embed: running sum of hidden states (n_embd) */
    uint64_t t_submit, t_first, t_last;
    /* ---- the consumer's callbacks, under cb_lock (cleared by llm_job_detach) ---- */
    pthread_mutex_t cb_lock;
    llm_job_done_fn on_done, on_publish;
    void *on_done_arg;
    /* ---- shared: read and written under lock ---- */
    pthread_mutex_t lock;
    pthread_cond_t cond;           /* broadcast on every publication (llm_job_wait) */
    struct buf text;               /* generated bytes (capped at LLM_JOB_TEXT_MAX); [0, out_len)
                                      are published */
    size_t out_len;
    size_t taken;                  /* bytes the consumer has taken (llm_job_take) */
    struct llm_tok_rec *toks;      /* one per generated token when logprobs */
    int n_toks;
    struct llm_tok_rec *ptoks;     /* prompt_logprobs: one per prompt token (the first has a NaN
                                      logprob: nothing precedes it), written while the prompt runs */
    int n_ptoks;                   /* 0 until the prompt is done, then n_prompt */
    int completion_tokens;
    double sum_logprob;            /* of the sampled tokens under the unmodified softmax */
    int prompt_tokens;             /* = n_prompt once admitted */
    int cached_tokens;             /* prompt tokens reused from the slot's cache */
    int done;
    const char *finish_reason;     /* "stop", "length", "timeout", "cancelled", "error" */
    int err_code;                  /* INFERD_E* when finish_reason is "error" */
    char err_msg[256];
    float *embedding;              /* embed: n_embd floats when done */
    int n_embd;
    double ttft_s, gen_s;          /* for the access log */
    uint64_t t_start, t_end;       /* admitted into a slot, ended (clock_now_ns) */
};

/* Creates a job with one reference for the caller (the scheduler takes its own on
 * submit). Returns NULL (err set, prompt freed) on bad parameters or no memory. */
struct llm_job *llm_job_new(const struct llm_job_params *p, struct inferd_err *err);
/* Drops one reference; the last frees the job. NULL is a no-op. */
void llm_job_release(struct llm_job *j);
/* Asks the scheduler to stop the job at its next step (finish_reason "cancelled"). Any
 * thread; lock-free. */
void llm_job_cancel(struct llm_job *j);
/* Stops the job's callbacks: after it returns none is running or will run. Call before
 * whatever their argument points to goes away. Any thread but the scheduler's. */
void llm_job_detach(struct llm_job *j);
/* Ends a job that was never submitted with an error (the rest of a request whose later
 * submit failed). */
void llm_job_fail(struct llm_job *j, int code, const char *msg);

/* A consumer's position in a job's output. Zero it before the first take. */
struct llm_job_cursor {
    size_t text;                   /* bytes taken */
    int toks;                      /* token records taken */
};

/* What llm_job_take hands over. */
struct llm_job_out {
    char *text;                    /* the published bytes after the cursor (malloc'd, NUL-
                                      terminated; NULL when none): free with llm_job_out_free */
    size_t len, text_off;          /* their length and offset in the whole output */
    const struct llm_tok_rec *toks; /* token records after the cursor (immutable once
                                      published; valid while the job is held) */
    int n_toks;
    const struct llm_tok_rec *prompt_toks; /* prompt_logprobs: every prompt token's record once
                                      the prompt is done (else NULL); valid while held */
    int n_prompt_toks;
    int done;                      /* the job ended: the fields below are final */
    const char *finish_reason;     /* "stop", "length", "timeout", "cancelled", "error"; NULL until done */
    int err_code;                  /* INFERD_E* when finish_reason is "error" */
    char err_msg[256];
    int prompt_tokens, completion_tokens, cached_tokens;
    double sum_logprob;            /* of the generated tokens (best_of ranks by its mean) */
    const float *embedding;        /* embedding jobs once done: n_embd floats (valid while held) */
    int n_embd;
    double queue_ms, compute_ms, ttft_ms, tokens_per_s; /* for the access log */
};

/* Takes everything published since *cur and advances *cur. Never blocks on generation.
 * Returns 0 or INFERD_ENOMEM (nothing taken). */
int llm_job_take(struct llm_job *j, struct llm_job_cursor *cur, struct llm_job_out *out);
void llm_job_out_free(struct llm_job_out *out);
/* Blocks until the job is done (for tests and tools; never on an HTTP thread). */
void llm_job_wait(struct llm_job *j);

struct llm_sched_config {
    int n_ctx;                     /* KV positions in all (0 = n_seq * n_ctx_train) */
    int n_seq;                     /* parallel sequences = slots (0 = 4) */
    int n_batch;                   /* tokens per decode call (0 = 512) */
    int max_queue;                 /* waiting requests beyond the slots (0 = 64) */
    int embeddings;                /* keep hidden states (needed for embedding jobs) */
    int max_running_per_client;    /* slots one client (job->client) may hold at once; its
                                      other jobs wait while other clients' are admitted (0 = no cap) */
    int kv_unified;                /* each sequence may hold up to n_ctx positions of one shared
                                      cache (llama.cpp's --kv-unified); when it is full the
                                      newest job is preempted and recomputed later */
    int kv_type;                   /* INFERD_LLM_KV_* (config.json kv_type) */
    int memory_budget_mb;          /* > 0: refuse at load when weights + KV cache + scratch + the
                                      prefix cache cap would exceed it (config.json memory_budget_mb,
                                      serve --memory-budget-mb) */
    int prefix_cache_mb;           /* prefix cache cap in MiB (llm_prefix.h): 0 = the default
                                      LLM_PREFIX_CACHE_MB_DEFAULT, < 0 = off */
    const char *model_name;        /* metrics label (copied) */
    struct metrics_inferd *metrics; /* borrowed, may be NULL */
};

struct llm_sched;

/* Creates the KV context and starts the scheduler thread. model is borrowed and must
 * outlive the scheduler. Returns 0 or INFERD_E* (context allocation, thread). */
int llm_sched_new(struct inferd_llm_model *model, const struct llm_sched_config *cfg,
                  struct llm_sched **out, struct inferd_err *err);
/* Queues j (the scheduler takes a reference). Returns 0; INFERD_EBUSY when the wait queue
 * is full (send 503 + Retry-After); INFERD_EINVAL when the prompt does not fit a
 * sequence's context; INFERD_EUNAVAIL while draining. On error the caller keeps its ref
 * and on_done is never called. */
int llm_sched_submit(struct llm_sched *s, struct llm_job *j, struct inferd_err *err);
/* Queues jobs[0..n) together, all or none (errors as llm_sched_submit): the choices of one
 * request, so that those that find free slots are admitted in the same step and share the
 * prompt of the first (share_prompt_of). */
int llm_sched_submit_n(struct llm_sched *s, struct llm_job *const *jobs, int n, struct inferd_err *err);
/* Stops admitting and waits up to timeout_ms for running and waiting jobs to end.
 * Returns 0 or INFERD_ETIMEDOUT. */
int llm_sched_drain(struct llm_sched *s, int timeout_ms);
/* Cancels what is left, joins the thread, frees. NULL is a no-op. */
void llm_sched_free(struct llm_sched *s);

/* Facts for /v1/models, metrics and tests. */
struct llm_sched_stats {
    int n_seq, n_ctx, slot_ctx, n_batch, max_queue, max_running_per_client;
    int running, waiting;
    long long steps, prompt_tokens, generated_tokens, reused_tokens; /* prompt_tokens: computed */
    /* prefix cache: cap and bytes held (0 when off), blocks held, lookups that found
     * blocks / none, prompt tokens it supplied, blocks evicted */
    int kv_unified;
    long long preemptions;         /* jobs paused for KV pages and resumed later */
    long long prefix_cap_bytes, prefix_bytes, prefix_blocks, prefix_hits, prefix_misses, prefix_tokens,
        prefix_evictions;
};
void llm_sched_stats(struct llm_sched *s, struct llm_sched_stats *out);

#endif
