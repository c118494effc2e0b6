/* llm_sched_kv.c — the scheduler's KV cache room: full blocks copied between slots and the
 * prefix cache (llm_prefix.h), and, with kv_unified, preemption when the cache is full and
 * the resumption of a preempted job. Scheduler thread only. */
#include "serve/sched/llm_prefix.h"
#include "serve/sched/llm_sched_int.h"

#include "observe/families.h"

#include <stdlib.h>
#include <string.h>

/* ---- the prefix cache (llm_prefix.h): blocks copied out of and into slots ---- */

struct pfx_io {
    struct llm_sched *s;
    int slot;
    int first;                     /* match: blocks below it are already in the slot */
    int len;                       /* match: positions the slot holds; -1 until it changed */
};

static void pfx_publish_stats(struct llm_sched *s)
{
    struct llm_prefix_stats st;
    llm_prefix_stats(s->prefix, &st);
    atomic_store(&s->pfx_bytes, (long long)st.bytes);
    atomic_store(&s->pfx_blocks, st.blocks);
    atomic_store(&s->pfx_evictions, st.evictions);
    if (s->m_pfx_bytes) /* at once: update_gauges runs only on the next scheduler step */
        metrics_set(s->m_pfx_bytes, (double)st.bytes);
}

static int pfx_read_slot(void *arg, int i, void *bytes)
{
    struct pfx_io *io = arg;
    return inferd_llm_seq_kv_get(io->s->ctx, io->slot, i * LLM_PREFIX_BLOCK, LLM_PREFIX_BLOCK, bytes) < 0 ? -1 : 0;
}

static int pfx_write_slot(void *arg, int i, void *bytes)
{
    struct pfx_io *io = arg;
    if (i < io->first)
        return 0;
    if (i == io->first) { /* the first block the slot lacks: cut the slot there */
        io->len = i * LLM_PREFIX_BLOCK;
        inferd_llm_seq_truncate(io->s->ctx, io->slot, io->len);
    }
    if (inferd_llm_seq_kv_set(io->s->ctx, io->slot, io->len, LLM_PREFIX_BLOCK, bytes) < 0)
        return -1;
    io->len += LLM_PREFIX_BLOCK;
    return 0;
}

/* Keeps the full blocks of slot i's cached tokens in the prefix cache. */
void sched_prefix_save(struct llm_sched *s, int i)
{
    struct slot *sl = &s->slots[i];
    if (!s->prefix)
        return;
    int n = sl->n_cache < s->slot_ctx ? sl->n_cache : s->slot_ctx;
    int len = inferd_llm_seq_len(s->ctx, i);
    n = (n < len ? n : len) / LLM_PREFIX_BLOCK;
    if (n <= 0)
        return;
    struct pfx_io io = {.s = s, .slot = i};
    if (llm_prefix_put(s->prefix, sl->cache, n, pfx_read_slot, &io) > 0)
        pfx_publish_stats(s);
}

/* Extends slot i, which holds *keep tokens of j's feed (its prompt, or what a preempted
 * job recomputes), with the prompt's blocks found
 * in the prefix cache (never the last prompt token: it must run to give logits). */
void sched_prefix_load(struct llm_sched *s, int i, struct llm_job *j, int *keep)
{
    int n_blocks = (j->n_feed - 1) / LLM_PREFIX_BLOCK;
    struct pfx_io io = {.s = s, .slot = i, .first = *keep / LLM_PREFIX_BLOCK, .len = -1};
    if (n_blocks <= io.first)
        return; /* the slot already holds every block the cache could give */
    llm_prefix_match(s->prefix, j->feed, n_blocks, pfx_write_slot, &io);
    if (io.len > *keep) {
        struct slot *sl = &s->slots[i];
        int from = io.first * LLM_PREFIX_BLOCK;
        memcpy(sl->cache + from, j->feed + from, sizeof(int32_t) * (size_t)(io.len - from));
        atomic_fetch_add(&s->pfx_hits, 1);
        atomic_fetch_add(&s->pfx_tokens, io.len - *keep);
        if (s->metrics) {
            metrics_add(s->m_pfx_hits, 1);
            metrics_add(s->m_pfx_tokens, io.len - *keep);
        }
    } else {
        atomic_fetch_add(&s->pfx_misses, 1);
        if (s->metrics)
            metrics_add(s->m_pfx_misses, 1);
    }
    if (io.len >= 0) /* the slot was cut (a write may have failed after it) */
        *keep = io.len;
}

/* ---- preemption (kv_unified): a full cache sends the newest job back to the queue ----
 * The victim's KV is dropped (its full blocks go to the prefix cache first) and what it had
 * in the cache plus its pending token become its feed: when it is admitted again it
 * recomputes them (copying back whatever blocks the prefix cache still has) and samples
 * on from the same logits, with its sampler and grammar state kept, so its output is the
 * one it would have produced without the pause. */

static int slot_pages(struct llm_sched *s, int i)
{
    int page = inferd_llm_kv_page();
    return (inferd_llm_seq_len(s->ctx, i) + page - 1) / page;
}

/* Drops the caches that free slots keep for prefix reuse. Returns 1 if it freed pages. */
int sched_clear_idle(struct llm_sched *s)
{
    int freed = 0;
    for (int i = 0; i < s->n_seq; i++)
        if (!s->slots[i].job && inferd_llm_seq_len(s->ctx, i) > 0) {
            sched_prefix_save(s, i);
            inferd_llm_seq_clear(s->ctx, i);
            s->slots[i].n_cache = 0;
            freed = 1;
        }
    return freed;
}

/* Whether j's feed fits the pages free or held by free slots (always, when nothing runs). */
int sched_kv_room(struct llm_sched *s, const struct llm_job *j)
{
    int page = inferd_llm_kv_page(), n = j->replay ? j->n_replay : j->n_prompt, pages = inferd_llm_kv_free(s->ctx) / page;
    int busy = 0;
    for (int i = 0; i < s->n_seq; i++) {
        if (s->slots[i].job)
            busy = 1;
        else
            pages += slot_pages(s, i);
    }
    return !busy || pages >= (n + 1 + page - 1) / page;
}

/* The job to pause: the lowest priority, then the latest arrival, among those holding KV
 * (never embeddings or prompt-logprob jobs); NULL unless at least two jobs hold KV. */
static struct llm_job *pick_victim(struct llm_sched *s)
{
    struct llm_job *v = NULL;
    int holders = 0;
    for (int i = 0; i < s->n_seq; i++) {
        struct llm_job *j = s->slots[i].job;
        if (!j || inferd_llm_seq_len(s->ctx, i) == 0)
            continue;
        holders++;
        if (j->embed || j->prompt_logprobs)
            continue;
        if (!v || j->priority < v->priority || (j->priority == v->priority && j->t_submit >= v->t_submit))
            v = j;
    }
    return holders >= 2 ? v : NULL;
}

static void preempt(struct llm_sched *s, struct llm_job *j)
{
    int i = j->slot;
    struct slot *sl = &s->slots[i];
    if (j->n_past >= j->n_feed && j->completion_tokens > 0) { /* generating: keep what it computed */
        int n = sl->n_cache < s->slot_ctx ? sl->n_cache : s->slot_ctx;
        int32_t *r = malloc(sizeof(int32_t) * (size_t)(n + 1));
        if (!r) {
            sched_end_job(s, j, "error", INFERD_ENOMEM, "preemption: out of memory");
            return;
        }
        memcpy(r, sl->cache, sizeof(int32_t) * (size_t)n);
        r[n] = j->last_tok;
        free(j->replay);
        j->replay = r;
        j->n_replay = n + 1;
    } /* else mid-feed: the same feed again (the prompt, or the replay it was computing) */
    sched_prefix_save(s, i);
    inferd_llm_seq_clear(s->ctx, i);
    sl->n_cache = 0;
    sl->job = NULL;
    j->slot = -1;
    j->n_past = 0;
    j->wait_leader = 0;
    j->preempted++;
    atomic_fetch_add(&s->preemptions, 1);
    if (s->metrics)
        metrics_add(s->m_preempt, 1);
    pthread_mutex_lock(&s->lock);
    j->next = s->q_head; /* first in line among its priority (pick_waiting prefers it) */
    s->q_head = j;
    if (!s->q_tail)
        s->q_tail = j;
    s->n_running--;
    s->n_waiting++;
    pthread_mutex_unlock(&s->lock);
}

int sched_preempt_victim(struct llm_sched *s)
{
    struct llm_job *v = pick_victim(s);
    if (v)
        preempt(s, v);
    return v != NULL;
}

/* Makes sure every generating job's next row has a page: clears free slots' caches, then
 * preempts. Returns the free pages left for prompt chunks. */
int sched_make_room(struct llm_sched *s)
{
    int page = inferd_llm_kv_page();
    for (;;) {
        int need = 0, prompts = 0;
        for (int i = 0; i < s->n_seq; i++) {
            struct llm_job *j = s->slots[i].job;
            if (!j || j->wait_leader)
                continue;
            if (j->n_past >= j->n_feed)
                need += inferd_llm_seq_len(s->ctx, i) % page == 0;
            else
                prompts++;
        }
        int free_pages = inferd_llm_kv_free(s->ctx) / page;
        if (free_pages < need + (prompts > 0) && sched_clear_idle(s)) /* prompts want a page too */
            free_pages = inferd_llm_kv_free(s->ctx) / page;
        if (free_pages >= need)
            return free_pages - need;
        struct llm_job *v = pick_victim(s);
        if (!v)
            return 0;
        preempt(s, v);
    }
}

/* Puts a preempted job back into a free slot: its feed (prompt or replay) is recomputed
 * from the longest prefix the slot or the prefix cache still holds. */
int sched_resume(struct llm_sched *s, struct llm_job *j, struct inferd_err *err)
{
    int best = -1, keep = -1;
    j->feed = j->replay ? j->replay : j->prompt;
    j->n_feed = j->replay ? j->n_replay : j->n_prompt;
    for (int i = 0; i < s->n_seq; i++) {
        if (s->slots[i].job)
            continue;
        int k = sched_common_prefix(s->slots[i].cache, s->slots[i].n_cache, j->feed, j->n_feed);
        if (k > keep) {
            best = i;
            keep = k;
        }
    }
    if (best < 0)
        return inferd_err_set(err, INFERD_EBUSY, "no free slot");
    if (keep >= j->n_feed)
        keep = j->n_feed - 1;
    if (j->prompt_logprobs)
        keep = 0;
    if (s->prefix && !j->prompt_logprobs && keep < j->n_feed - 1)
        sched_prefix_load(s, best, j, &keep);
    if (keep == 0)
        inferd_llm_seq_clear(s->ctx, best);
    else if (keep < inferd_llm_seq_len(s->ctx, best))
        inferd_llm_seq_truncate(s->ctx, best, keep);
    s->slots[best].n_cache = keep;
    s->slots[best].job = j;
    j->slot = best;
    j->n_past = keep;
    return 0;
}

