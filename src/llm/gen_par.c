/* gen_par.c — how many pool threads a generation step uses.
 *
 * Generation (batches of at most LLM_PAR_MAX_TOK tokens) issues ~100 short pool jobs per
 * token, each ending at a join. When other processes share the cores, the OS preempts the
 * caller or a worker: a worker preempted in the middle of its chunk of rows holds the join
 * for up to a scheduler slice, a preempted caller leaves the worker idle, and 2 threads can
 * run slower than 1 (session 11: 3.6 against 5.6 tokens/s on 2 cores with one busy process
 * beside them). So each context times its generation steps and the time the caller lost in
 * them (wall time off its core, from its thread CPU clock, plus its wait at the joins), and
 * chooses per step between all the pool's threads and one:
 *
 *   all threads --(the caller lost > LLM_PAR_LOST_PCT % of 2 steps in a row)--> probe 1 step
 *                  on one thread; it was LLM_PAR_ONE_MARGIN_PCT % faster than the all-thread
 *                  average: one thread
 *                  (else no probe for `cool` steps, doubled each time, up to LLM_PAR_MAX_BACKOFF)
 *   one thread  --(every `backoff` steps)--> probe 1 step on all threads; faster than the
 *                  one-thread average: all threads (else backoff doubles, up to LLM_PAR_MAX_BACKOFF)
 *
 * On a quiet machine the caller keeps its core and waits ~0.03 ms a step at the joins: no
 * probe runs and nothing changes. A probe that loses costs at most one step in
 * LLM_PAR_MAX_BACKOFF (+1). The result does not depend on the choice: every output row is
 * computed the same way whatever thread computes it (test_model.c's
 * test_threads_generation, test_gen_par.c).
 *
 * INFERD_LLM_GEN_THREADS (read at ctx creation):
 *   unset, "all"  every job on all the pool's threads (the behaviour before the choice; the
 *                 default until the choice is shown to help: on the loaded 2-core VM of
 *                 session 12 the step times varied too much to tell);
 *   "auto"        the adaptive choice above;
 *   "flip"        alternate one thread and all threads job by job (tests: exercises the
 *                 switch inside a step).
 *
 *   llm_par_init(c);                      // at ctx creation
 *   llm_par_begin(c, n_tok);              // start of a decode step: picks c->par.nth
 *   llm_par_run(c, part_fn, &args);       // each pool job of the step
 *   llm_par_end(c);                       // end of the step: times it, maybe switches
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/tpool.h"
#include "llm/llm_int.h"

#define LLM_PAR_LOST_PCT 20     /* lost time, % of a step, that makes a step "slow" */
/* a one-thread probe must beat the all-thread average by this much (steps are noisy on a
 * shared machine, and a wrong move to one thread costs more than a wrong move back) */
#define LLM_PAR_ONE_MARGIN_PCT 15
#define LLM_PAR_FIRST_BACKOFF 4 /* one-thread steps before the first all-thread probe */
#define LLM_PAR_MAX_BACKOFF 32  /* a probe that loses costs at most ~1/32 of the steps */
#define LLM_PAR_EMA 4           /* averages: new = old + (sample - old) / LLM_PAR_EMA */

void llm_par_reset(struct llm_par *p, int mode, int n)
{
    memset(p, 0, sizeof *p);
    p->mode = mode;
    p->n = n;
    p->nth = n;
    p->backoff = LLM_PAR_FIRST_BACKOFF;
    p->cool = LLM_PAR_FIRST_BACKOFF;
}

void llm_par_init(struct inferd_llm_ctx *c)
{
    const char *env = getenv("INFERD_LLM_GEN_THREADS");
    int mode = LLM_PAR_ALL;
    if (env && strcmp(env, "auto") == 0)
        mode = LLM_PAR_AUTO;
    else if (env && strcmp(env, "flip") == 0)
        mode = LLM_PAR_FLIP;
    llm_par_reset(&c->par, mode, tpool_size(c->pool));
}

int llm_par_pick(struct llm_par *p)
{
    int one = p->one ? p->countdown > 0 : p->probe_one;
    p->nth = one ? 1 : p->n;
    return p->nth;
}

/* CPU time of the calling thread: a step's wall time minus it is the time the OS kept the
 * caller off its core (another process ran there). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void llm_par_begin(struct inferd_llm_ctx *c, int n_tok)
{
    struct llm_par *p = &c->par;
    p->nth = p->n;
    p->active = p->n > 1 && p->mode != LLM_PAR_ALL && n_tok <= LLM_PAR_MAX_TOK;
    if (!p->active)
        return;
    if (p->mode == LLM_PAR_AUTO)
        llm_par_pick(p);
    p->wait_ns = 0;
    p->t0 = clock_now_ns();
    p->cpu0 = thread_cpu_ns();
}

static uint64_t ema(uint64_t avg, uint64_t x)
{
    return avg == 0 ? x : avg + ((int64_t)x - (int64_t)avg) / LLM_PAR_EMA;
}

void llm_par_update(struct llm_par *p, uint64_t dt, uint64_t lost)
{
    if (p->nth == 1 && p->one) { /* one-thread steady state */
        p->avg_one = ema(p->avg_one, dt);
        p->countdown--;
    } else if (p->nth == 1) { /* probe of one thread */
        p->probe_one = 0;
        p->avg_one = dt;
        if (dt * (100 + LLM_PAR_ONE_MARGIN_PCT) < p->avg_all * 100) {
            p->one = 1;
            p->backoff = LLM_PAR_FIRST_BACKOFF;
            p->countdown = p->backoff;
            p->n_switch++;
        } else {
            p->cool = p->cool * 2 < LLM_PAR_MAX_BACKOFF ? p->cool * 2 : LLM_PAR_MAX_BACKOFF;
            p->cooldown = p->cool;
        }
    } else if (p->one) { /* probe of all threads */
        if (dt < p->avg_one) {
            p->one = 0;
            p->avg_all = dt;
            p->slow = 0;
            p->cool = LLM_PAR_FIRST_BACKOFF;
            p->cooldown = 0;
            p->n_switch++;
        } else {
            p->backoff = p->backoff * 2 < LLM_PAR_MAX_BACKOFF ? p->backoff * 2 : LLM_PAR_MAX_BACKOFF;
            p->countdown = p->backoff;
        }
    } else { /* all-thread steady state */
        p->avg_all = ema(p->avg_all, dt);
        p->slow = lost * 100 > dt * LLM_PAR_LOST_PCT ? p->slow + 1 : 0;
        if (p->cooldown > 0)
            p->cooldown--;
        else if (p->slow >= 2) {
            p->probe_one = 1;
            p->slow = 0;
        }
    }
}

void llm_par_end(struct inferd_llm_ctx *c)
{
    struct llm_par *p = &c->par;
    if (!p->active || p->mode != LLM_PAR_AUTO)
        return;
    uint64_t dt = clock_now_ns() - p->t0, cpu = thread_cpu_ns() - p->cpu0;
    uint64_t lost = p->wait_ns + (dt > cpu ? dt - cpu : 0);
    llm_par_update(p, dt, lost);
}

/* LLM_PAR_FLIP: the thread count of the next job (odd jobs on one thread) */
static int flip_nth(const struct llm_par *p)
{
    return p->n_jobs & 1 ? 1 : p->n;
}

/* The caller's parts are timed: the join wait is the time from the end of the caller's last
 * part to the end of the job (the caller finds no part left; a worker still runs one). */
struct par_wrap {
    tpool_fn fn;
    void *ctx;
    pthread_t caller;
    uint64_t caller_end;
};

static void par_wrapped(void *ctx, int ith, int nth)
{
    struct par_wrap *w = ctx;
    w->fn(w->ctx, ith, nth);
    if (pthread_equal(pthread_self(), w->caller))
        w->caller_end = clock_now_ns();
}

void llm_par_run(struct inferd_llm_ctx *c, tpool_fn fn, void *ctx)
{
    struct llm_par *p = &c->par;
    if (!p->active) {
        tpool_parallel_for(c->pool, fn, ctx);
        return;
    }
    int nth = p->nth;
    if (p->mode == LLM_PAR_FLIP)
        nth = flip_nth(p);
    p->n_jobs++;
    p->n_one_jobs += nth == 1;
    if (nth == 1 || p->mode != LLM_PAR_AUTO) {
        tpool_parallel_for_n(c->pool, nth, fn, ctx);
        return;
    }
    struct par_wrap w = {fn, ctx, pthread_self(), 0};
    tpool_parallel_for_n(c->pool, nth, par_wrapped, &w);
    uint64_t now = clock_now_ns();
    if (w.caller_end && now > w.caller_end)
        p->wait_ns += now - w.caller_end;
}

int llm_par_threads(const struct inferd_llm_ctx *c)
{
    const struct llm_par *p = &c->par;
    if (p->active && p->mode == LLM_PAR_FLIP)
        return flip_nth(p);
    return p->active ? p->nth : p->n;
}
