/* test_sampler.c — each transform of the sampling chain on a hand-made 5-token vector:
 * logit bias (ban, add, force), repeat penalty over its window, OpenAI's frequency and
 * presence penalties over generated tokens only, top-k, top-p, min-p, temperature, greedy,
 * and seeded draws. Expected probabilities are computed here from the formulas in llm.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "inferd/err.h"
#include "inferd/llm.h"

#define NV 5
static const float lg[NV] = {2, 1, 0, -1, 3};

/* Plain chain: T = 1, no truncation, no penalties. */
static struct inferd_llm_sampling plain(void)
{
    struct inferd_llm_sampling p;
    inferd_llm_sampling_defaults(&p);
    p.temperature = 1.f;
    p.top_k = 0;
    p.top_p = 1.f;
    p.min_p = 0.f;
    p.seed = 42;
    return p;
}

/* softmax(l / t) into out; -INFINITY entries get 0. */
static void softmax(const float *l, float t, float *out)
{
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < NV; i++)
        if (l[i] > mx)
            mx = l[i];
    for (int i = 0; i < NV; i++)
        sum += l[i] == -INFINITY ? 0 : exp((l[i] - mx) / t);
    for (int i = 0; i < NV; i++)
        out[i] = l[i] == -INFINITY ? 0.f : (float)(exp((l[i] - mx) / t) / sum);
}

static void check_probs(struct inferd_llm_sampler *s, const float *want_logits, float t, int line)
{
    float got[NV], want[NV];
    inferd_llm_sampler_probs(s, lg, got);
    softmax(want_logits, t, want);
    for (int i = 0; i < NV; i++) {
        if (fabsf(got[i] - want[i]) > 1e-6f) {
            CHECK_NEAR(got[i], want[i], 1e-6);
            fprintf(stderr, "  (case at line %d, id %d)\n", line, i);
        }
    }
}
#define CHECK_PROBS(s, l, t) check_probs(s, l, t, __LINE__)

static void test_logit_bias(void)
{
    struct inferd_llm_sampling p = plain();
    struct inferd_llm_sampler *s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, lg, 1.f);
    /* -100 bans, other values add */
    struct inferd_llm_logit_bias b1[] = {{4, -100}, {1, 2.5f}, {2, -0.5f}};
    CHECK(inferd_llm_sampler_set_bias(s, b1, 3) == 0);
    CHECK_PROBS(s, ((float[]){2, 3.5f, -0.5f, -1, -INFINITY}), 1.f);
    /* +100 forces: only the ids so biased stay, at logit + 100 */
    struct inferd_llm_logit_bias b2[] = {{3, 100}, {2, 100}, {0, 5}};
    CHECK(inferd_llm_sampler_set_bias(s, b2, 3) == 0);
    CHECK_PROBS(s, ((float[]){-INFINITY, -INFINITY, 100, 99, -INFINITY}), 1.f);
    /* a repeated id: the last value wins; a new bias replaces the old one */
    struct inferd_llm_logit_bias b3[] = {{0, -100}, {0, 1}};
    CHECK(inferd_llm_sampler_set_bias(s, b3, 2) == 0);
    CHECK_PROBS(s, ((float[]){3, 1, 0, -1, 3}), 1.f);
    /* bad ids and values are refused, the bias in force stays */
    struct inferd_llm_logit_bias bad[] = {{NV, 1}};
    CHECK(inferd_llm_sampler_set_bias(s, bad, 1) == INFERD_EINVAL);
    struct inferd_llm_logit_bias nan_b[] = {{1, NAN}};
    CHECK(inferd_llm_sampler_set_bias(s, nan_b, 1) == INFERD_EINVAL);
    CHECK_PROBS(s, ((float[]){3, 1, 0, -1, 3}), 1.f);
    CHECK(inferd_llm_sampler_set_bias(s, NULL, 0) == 0);
    CHECK_PROBS(s, lg, 1.f);
    inferd_llm_sampler_free(s);
    /* greedy: the ban moves the argmax from 4 to 0; the force moves it to 3 */
    p.temperature = 0;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK(inferd_llm_sample(s, lg, NULL) == 4);
    CHECK(inferd_llm_sampler_set_bias(s, (struct inferd_llm_logit_bias[]){{4, -100}}, 1) == 0);
    CHECK(inferd_llm_sample(s, lg, NULL) == 0);
    CHECK(inferd_llm_sampler_set_bias(s, (struct inferd_llm_logit_bias[]){{3, 100}}, 1) == 0);
    CHECK(inferd_llm_sample(s, lg, NULL) == 3);
    float lp;
    inferd_llm_sample(s, lg, &lp); /* the logprob is the unbiased model's */
    CHECK_NEAR(lp, -1 - log(exp(2) + exp(1) + exp(0) + exp(-1) + exp(3)), 1e-5);
    inferd_llm_sampler_free(s);
    /* sampling at T = 1 with a ban never draws the banned id */
    p = plain();
    s = inferd_llm_sampler_new(&p, NV);
    CHECK(inferd_llm_sampler_set_bias(s, (struct inferd_llm_logit_bias[]){{4, -100}, {0, -100}}, 2) == 0);
    int hit = 0;
    for (int i = 0; i < 500; i++) {
        int32_t t = inferd_llm_sample(s, lg, NULL);
        hit |= t == 4 || t == 0;
    }
    CHECK(!hit);
    inferd_llm_sampler_free(s);
}

static void test_repeat_penalty(void)
{
    struct inferd_llm_sampling p = plain();
    p.repeat_penalty = 2.f;
    struct inferd_llm_sampler *s = inferd_llm_sampler_new(&p, NV);
    /* prompt tokens count; an id seen twice is penalised once; positive logits divide,
     * negative ones multiply */
    inferd_llm_sampler_accept_prompt(s, 0);
    inferd_llm_sampler_accept_prompt(s, 3);
    inferd_llm_sampler_accept(s, 0);
    CHECK_PROBS(s, ((float[]){1, 1, 0, -2, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* the window holds the last penalty_last_n tokens only */
    p.penalty_last_n = 2;
    s = inferd_llm_sampler_new(&p, NV);
    inferd_llm_sampler_accept_prompt(s, 0);
    inferd_llm_sampler_accept_prompt(s, 3);
    inferd_llm_sampler_accept(s, 1);
    CHECK_PROBS(s, ((float[]){2, 0.5f, 0, -2, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* penalty_last_n 0: off */
    p.penalty_last_n = 0;
    s = inferd_llm_sampler_new(&p, NV);
    inferd_llm_sampler_accept(s, 4);
    CHECK_PROBS(s, lg, 1.f);
    inferd_llm_sampler_free(s);
}

static void test_frequency_presence(void)
{
    struct inferd_llm_sampling p = plain();
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    struct inferd_llm_sampler *s = inferd_llm_sampler_new(&p, NV);
    /* OpenAI: l -= count * f + (count > 0) * p, over generated tokens; prompt tokens are not
     * counted */
    inferd_llm_sampler_accept_prompt(s, 1);
    inferd_llm_sampler_accept_prompt(s, 1);
    inferd_llm_sampler_accept(s, 4);
    inferd_llm_sampler_accept(s, 0);
    inferd_llm_sampler_accept(s, 4);
    CHECK_PROBS(s, ((float[]){2 - 0.5f - 0.25f, 1, 0, -1, 3 - 1.f - 0.25f}), 1.f);
    inferd_llm_sampler_free(s);
    /* negative values encourage repetition */
    p.frequency_penalty = -1.f;
    p.presence_penalty = 0;
    s = inferd_llm_sampler_new(&p, NV);
    inferd_llm_sampler_accept(s, 2);
    CHECK_PROBS(s, ((float[]){2, 1, 1, -1, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* frequency counts are not limited to the repeat window */
    p.frequency_penalty = 1.f;
    p.penalty_last_n = 1;
    s = inferd_llm_sampler_new(&p, NV);
    inferd_llm_sampler_accept(s, 4);
    inferd_llm_sampler_accept(s, 4);
    inferd_llm_sampler_accept(s, 4);
    inferd_llm_sampler_accept(s, 1);
    CHECK_PROBS(s, ((float[]){2, 0, 0, -1, 0}), 1.f);
    inferd_llm_sampler_free(s);
}

static void test_truncation(void)
{
    struct inferd_llm_sampling p = plain();
    /* top_k 2 keeps 4 and 0 */
    p.top_k = 2;
    struct inferd_llm_sampler *s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){2, -INFINITY, -INFINITY, -INFINITY, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* min_p 0.3: p >= 0.3 * p(top) <=> l >= 3 + ln 0.3 = 1.796: keeps 4 and 0 */
    p = plain();
    p.min_p = 0.3f;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){2, -INFINITY, -INFINITY, -INFINITY, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* min_p 0.35 (e^-1 = 0.368 > 0.35) still keeps 0; 0.4 drops it */
    p.min_p = 0.4f;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){-INFINITY, -INFINITY, -INFINITY, -INFINITY, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* top_p: p(4) = 0.6364, p(0) = 0.2341: 0.6 keeps 4 alone, 0.8 keeps 4 and 0 */
    p = plain();
    p.top_p = 0.6f;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){-INFINITY, -INFINITY, -INFINITY, -INFINITY, 3}), 1.f);
    inferd_llm_sampler_free(s);
    p.top_p = 0.8f;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){2, -INFINITY, -INFINITY, -INFINITY, 3}), 1.f);
    inferd_llm_sampler_free(s);
    /* temperature scales after truncation */
    p = plain();
    p.temperature = 0.5f;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, lg, 0.5f);
    inferd_llm_sampler_free(s);
    p.temperature = 2.f;
    p.top_k = 3;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){2, 1, -INFINITY, -INFINITY, 3}), 2.f);
    inferd_llm_sampler_free(s);
    /* greedy */
    p.temperature = 0;
    s = inferd_llm_sampler_new(&p, NV);
    CHECK_PROBS(s, ((float[]){-INFINITY, -INFINITY, -INFINITY, -INFINITY, 0}), 1.f);
    inferd_llm_sampler_free(s);
}

static void test_seed(void)
{
    struct inferd_llm_sampling p = plain();
    p.seed = 1234;
    struct inferd_llm_sampler *a = inferd_llm_sampler_new(&p, NV), *b = inferd_llm_sampler_new(&p, NV);
    p.seed = 1235;
    struct inferd_llm_sampler *c = inferd_llm_sampler_new(&p, NV);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 64; i++) {
        int32_t ta = inferd_llm_sample(a, lg, NULL), tb = inferd_llm_sample(b, lg, NULL),
                tc = inferd_llm_sample(c, lg, NULL);
        same_ab &= ta == tb;
        same_ac &= ta == tc;
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    inferd_llm_sampler_free(a);
    inferd_llm_sampler_free(b);
    inferd_llm_sampler_free(c);
}

int main(void)
{
    test_logit_bias();
    test_repeat_penalty();
    test_frequency_presence();
    test_truncation();
    test_seed();
    return check_finish();
}
