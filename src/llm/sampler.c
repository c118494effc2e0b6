/* sampler.c — the sampling chain of llm.h: logit bias -> penalties -> top-k -> top-p ->
 * min-p -> temperature -> draw (greedy when temperature <= 0), with a seeded splitmix64 RNG
 * (base/rng.h). All buffers are allocated at sampler_new (the bias at set_bias); sampling
 * does not allocate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/rng.h"
#include "inferd/err.h"
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
    int32_t *gen_counts; /* occurrences of each id among the sampled tokens (owned, n_vocab) */
    int32_t *gen_ids;    /* the distinct sampled ids, in first-seen order (owned, n_vocab) */
    int n_gen_ids;
    float *bias;         /* logit bias per id (owned, n_vocab) or NULL */
    int bias_force;      /* some id has bias >= 100: only those stay candidates */
    struct cand *cand;   /* working set (owned, n_vocab) */
};

#define BIAS_BAN -100.f   /* OpenAI's range is [-100, 100]: the ends ban / force */
#define BIAS_FORCE 100.f

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
    sm->gen_counts = calloc((size_t)n_vocab, sizeof(int32_t));
    sm->gen_ids = malloc(sizeof(int32_t) * (size_t)n_vocab);
    sm->cand = malloc(sizeof(struct cand) * (size_t)n_vocab);
    if (!sm->hist || !sm->counts || !sm->gen_counts || !sm->gen_ids || !sm->cand) {
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
    free(s->gen_counts);
    free(s->gen_ids);
    free(s->bias);
    free(s->cand);
    free(s);
}

int inferd_llm_sampler_set_bias(struct inferd_llm_sampler *s, const struct inferd_llm_logit_bias *b, int n)
{
    for (int i = 0; i < n; i++)
        if (b[i].id < 0 || b[i].id >= s->n_vocab || !isfinite(b[i].bias))
            return INFERD_EINVAL;
    if (n > 0 && !s->bias) {
        s->bias = calloc((size_t)s->n_vocab, sizeof(float));
        if (!s->bias)
            return INFERD_ENOMEM;
    }
    if (s->bias)
        memset(s->bias, 0, sizeof(float) * (size_t)s->n_vocab);
    s->bias_force = 0;
    for (int i = 0; i < n; i++)
        s->bias[b[i].id] = b[i].bias;
    for (int i = 0; i < n; i++)
        s->bias_force |= s->bias[b[i].id] >= BIAS_FORCE;
    return 0;
}

void inferd_llm_sampler_accept(struct inferd_llm_sampler *s, int32_t tok)
{
    if (tok >= 0 && tok < s->n_vocab && s->gen_counts[tok]++ == 0)
        s->gen_ids[s->n_gen_ids++] = tok;
    inferd_llm_sampler_accept_prompt(s, tok);
}

void inferd_llm_sampler_accept_prompt(struct inferd_llm_sampler *s, int32_t tok)
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

/* c[0..n_vocab) = logits with the bias and the penalties applied, in id order. */
static void apply_bias_penalties(struct inferd_llm_sampler *s, const float *logits)
{
    const struct inferd_llm_sampling *p = &s->p;
    int n = s->n_vocab;
    struct cand *c = s->cand;
    for (int i = 0; i < n; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
    }
    if (s->bias) {
        for (int i = 0; i < n; i++) {
            float b = s->bias[i];
            if (b <= BIAS_BAN || (s->bias_force && b < BIAS_FORCE))
                c[i].logit = -INFINITY;
            else
                c[i].logit += b;
        }
    }
    /* repeat_penalty: once per distinct id of the window (counts > 0), marked by a
     * negative id while it is being done */
    if (s->hist_n > 0 && p->repeat_penalty != 1.f && p->repeat_penalty > 0) {
        for (int h = 0; h < s->hist_n; h++) {
            int32_t id = s->hist[h];
            if (s->counts[id] <= 0 || c[id].id < 0)
                continue;
            float l = c[id].logit;
            c[id].logit = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
            c[id].id = -1 - id;
        }
        for (int h = 0; h < s->hist_n; h++) {
            int32_t id = s->hist[h];
            if (c[id].id < 0)
                c[id].id = id;
        }
    }
    if (p->frequency_penalty != 0.f || p->presence_penalty != 0.f) {
        for (int k = 0; k < s->n_gen_ids; k++) {
            int32_t id = s->gen_ids[k];
            c[id].logit -= (float)s->gen_counts[id] * p->frequency_penalty + p->presence_penalty;
        }
    }
}

/* After apply_bias_penalties: the candidates the draw chooses from, c[0..m) sorted by
 * logit descending (top-k, top-p, min-p applied); returns m >= 1. Greedy: m = 1. */
static int truncate_cands(struct inferd_llm_sampler *s)
{
    const struct inferd_llm_sampling *p = &s->p;
    int n = s->n_vocab;
    struct cand *c = s->cand;
    if (p->temperature <= 0.f) {
        int best = 0;
        for (int i = 1; i < n; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        c[0] = c[best];
        return 1;
    }
    int m = top_k_sorted(c, n, p->top_k);
    /* softmax of the kept candidates (descending) for top-p / min-p */
    double sum = 0, cum = 0;
    float mx = c[0].logit;
    if (mx == -INFINITY) /* everything banned: the draw takes the first id */
        return 1;
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
    while (m > 1 && c[m - 1].logit == -INFINITY) /* banned ids are never drawn */
        m--;
    return m;
}

void inferd_llm_sampler_probs(struct inferd_llm_sampler *s, const float *logits, float *probs)
{
    apply_bias_penalties(s, logits);
    int m = truncate_cands(s);
    struct cand *c = s->cand;
    memset(probs, 0, sizeof(float) * (size_t)s->n_vocab);
    if (m == 1) {
        probs[c[0].id] = 1.f;
        return;
    }
    double sum = 0, mx = c[0].logit;
    for (int i = 0; i < m; i++)
        sum += exp(((double)c[i].logit - mx) / s->p.temperature);
    for (int i = 0; i < m; i++)
        probs[c[i].id] = (float)(exp(((double)c[i].logit - mx) / s->p.temperature) / sum);
}

int32_t inferd_llm_sample(struct inferd_llm_sampler *s, const float *logits, float *logprob)
{
    const struct inferd_llm_sampling *p = &s->p;
    struct cand *c = s->cand;
    apply_bias_penalties(s, logits);
    int m = truncate_cands(s);
    int32_t pick = c[0].id;
    if (p->temperature > 0.f) {
        /* temperature and draw: one RNG step per token sampled at temperature > 0, even
         * with one candidate left, so a seed keeps giving the tokens it always gave */
        double r = rng_uniform(&s->rng);
        if (m == 1)
            goto out;
        double sum = 0, mx = c[0].logit;
        for (int i = 0; i < m; i++)
            sum += exp(((double)c[i].logit - mx) / p->temperature);
        double acc = 0;
        r *= sum;
        pick = c[m - 1].id;
        for (int i = 0; i < m; i++) {
            acc += exp(((double)c[i].logit - mx) / p->temperature);
            if (r < acc) {
                pick = c[i].id;
                break;
            }
        }
    }
out:
    if (logprob)
        *logprob = (float)((double)logits[pick] - log_sum_exp(logits, s->n_vocab));
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
