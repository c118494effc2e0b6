/* sampler.c — the sampling chain of llm.h: penalties -> top-k -> top-p -> min-p ->
 * temperature -> draw (greedy when temperature <= 0), with a seeded splitmix64 RNG (base/rng.h).
 * All buffers are allocated at sampler_new; sampling does not allocate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "inferd/llm.h"

#define PENALTY_MAX_N 4096

struct cand {
    int32_t id;
    float logit;
};

struct inferd_llm_sampler {
    struct inferd_llm_sampling p;
    int n_vocab;
    uint64_t rng;
    int32_t *hist;       /* ring of the last penalty_last_n accepted tokens (owned) */
    int hist_n, hist_pos;
    int32_t *counts;     /* occurrences of each id in the ring (owned, n_vocab) */
    struct cand *cand;   /* working set (owned, n_vocab) */
};

void inferd_llm_sampling_defaults(struct inferd_llm_sampling *s)
{
    s->temperature = 0.8f;
    s->top_k = 40;
    s->top_p = 0.95f;
    s->min_p = 0.05f;
    s->repeat_penalty = 1.f;
    s->frequency_penalty = 0.f;
    s->presence_penalty = 0.f;
    s->penalty_last_n = 64;
    s->seed = 0xFFFFFFFFFFFFFFFFull;
}

/* Uniform in [0, 1). The sampler draws from splitmix64 directly (not struct rng), so a
 * seeded request keeps producing the same tokens it always has. */
static double rng_uniform(uint64_t *x)
{
    return (double)(rng_splitmix64(x) >> 11) * 0x1.0p-53;
}

struct inferd_llm_sampler *inferd_llm_sampler_new(const struct inferd_llm_sampling *s, int n_vocab)
{
    if (n_vocab < 1)
        return NULL;
    struct inferd_llm_sampler *sm = calloc(1, sizeof *sm);
    if (!sm)
        return NULL;
    if (s)
        sm->p = *s;
    else
        inferd_llm_sampling_defaults(&sm->p);
    if (sm->p.penalty_last_n < 0)
        sm->p.penalty_last_n = 0;
    if (sm->p.penalty_last_n > PENALTY_MAX_N)
        sm->p.penalty_last_n = PENALTY_MAX_N;
    sm->n_vocab = n_vocab;
    sm->rng = sm->p.seed;
    if (sm->p.seed == 0xFFFFFFFFFFFFFFFFull)
        sm->rng = rng_random_seed();
    sm->hist = malloc(sizeof(int32_t) * (size_t)(sm->p.penalty_last_n > 0 ? sm->p.penalty_last_n : 1));
    sm->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    sm->cand = malloc(sizeof(struct cand) * (size_t)n_vocab);
    if (!sm->hist || !sm->counts || !sm->cand) {
        inferd_llm_sampler_free(sm);
        return NULL;
    }
    return sm;
}

void inferd_llm_sampler_free(struct inferd_llm_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->counts);
    free(s->cand);
    free(s);
}

void inferd_llm_sampler_accept(struct inferd_llm_sampler *s, int32_t tok)
{
    int n = s->p.penalty_last_n;
    if (n <= 0 || tok < 0 || tok >= s->n_vocab)
        return;
    if (s->hist_n == n) { /* evict the oldest */
        s->counts[s->hist[s->hist_pos]]--;
    } else {
        s->hist_n++;
    }
    s->hist[s->hist_pos] = tok;
    s->counts[tok]++;
    s->hist_pos = (s->hist_pos + 1) % n;
}

/* log(sum(exp(logits))) over n, stable. */
static double log_sum_exp(const float *logits, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)logits[i] - mx);
    return mx + log(sum);
}

/* Moves the k largest candidates (by logit) to the front of c[0..n), sorted descending:
 * a bounded min-heap pass, O(n log k). */
static void heap_down(struct cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].logit < h[m].logit)
            m = l;
        if (r < n && h[r].logit < h[m].logit)
            m = r;
        if (m == i)
            return;
        struct cand t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int top_k_sorted(struct cand *c, int n, int k)
{
    if (k <= 0 || k > n)
        k = n;
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (c[i].logit > c[0].logit) {
            struct cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            heap_down(c, k, 0);
        }
    }
    /* heap sort the k kept (min-heap -> descending order at the end) */
    for (int e = k - 1; e > 0; e--) {
        struct cand t = c[0];
        c[0] = c[e];
        c[e] = t;
        heap_down(c, e, 0);
    }
    return k;
}

int32_t inferd_llm_sample(struct inferd_llm_sampler *s, const float *logits, float *logprob)
{
    const struct inferd_llm_sampling *p = &s->p;
    int n = s->n_vocab;
    struct cand *c = s->cand;
    for (int i = 0; i < n; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
    }
    if (s->hist_n > 0 && (p->repeat_penalty != 1.f || p->frequency_penalty != 0.f || p->presence_penalty != 0.f)) {
        for (int h = 0; h < s->hist_n; h++) {
            int32_t id = s->hist[h];
            int cnt = s->counts[id];
            if (cnt <= 0 || c[id].id < 0)
                continue;
            float l = c[id].logit;
            if (p->repeat_penalty != 1.f && p->repeat_penalty > 0)
                l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
            l -= (float)cnt * p->frequency_penalty + p->presence_penalty;
            c[id].logit = l;
            c[id].id = -1 - id; /* mark as penalised once */
        }
        for (int h = 0; h < s->hist_n; h++) {
            int32_t id = s->hist[h];
            if (c[id].id < 0)
                c[id].id = id;
        }
    }
    int32_t pick;
    if (p->temperature <= 0.f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        pick = c[best].id;
    } else {
        int m = top_k_sorted(c, n, p->top_k);
        /* softmax of the kept candidates (descending) for top-p / min-p */
        double sum = 0, cum = 0;
        float mx = c[0].logit;
        for (int i = 0; i < m; i++)
            sum += exp((double)c[i].logit - mx);
        if (p->top_p < 1.f) {
            int keep = m;
            for (int i = 0; i < m; i++) {
                cum += exp((double)c[i].logit - mx) / sum;
                if (cum >= p->top_p) {
                    keep = i + 1;
                    break;
                }
            }
            m = keep;
        }
        if (p->min_p > 0.f && p->min_p <= 1.f) {
            float cut = mx + logf(p->min_p);
            int keep = 1;
            while (keep < m && c[keep].logit >= cut)
                keep++;
            m = keep;
        }
        /* temperature and draw */
        sum = 0;
        for (int i = 0; i < m; i++)
            sum += exp(((double)c[i].logit - mx) / p->temperature);
        double r = rng_uniform(&s->rng) * sum, acc = 0;
        pick = c[m - 1].id;
        for (int i = 0; i < m; i++) {
            acc += exp(((double)c[i].logit - mx) / p->temperature);
            if (r < acc) {
                pick = c[i].id;
                break;
            }
        }
    }
    if (logprob)
        *logprob = (float)((double)logits[pick] - log_sum_exp(logits, n));
    return pick;
}

int inferd_llm_top_logprobs(const float *logits, int n_vocab, int n, int32_t *ids, float *logprobs)
{
    if (n <= 0 || n_vocab <= 0)
        return 0;
    if (n > n_vocab)
        n = n_vocab;
    /* selection of the n largest without allocation: repeated scans are fine for small n,
     * a heap over a caller-sized window would need memory we do not have here */
    double lse = log_sum_exp(logits, n_vocab);
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int i = 0; i < n_vocab; i++) {
            int taken = 0;
            for (int j = 0; j < k; j++)
                if (ids[j] == i) {
                    taken = 1;
                    break;
                }
            if (taken)
                continue;
            if (best < 0 || logits[i] > logits[best])
                best = i;
        }
        ids[k] = best;
        logprobs[k] = (float)((double)logits[best] - lse);
    }
    return n;
}
