/* test_torture.c (test_llm_torture) — allocation-failure run over the LLM engine: load a
 * GGUF model (../shared/testdata/llm: aidreams260K, llama-2-tiny-random, arch/qwen2), make a
 * context, tokenize a prompt, decode it and three greedy tokens, failing each of the N
 * allocations of a clean run in turn. Every failure must give a negative code and leak
 * nothing (LeakSanitizer in the ASan build). Skips (77) when the shared models are absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "check.h"
#include "inferd/llm.h"

struct job {
    char path[4096];
    int n_threads;
    struct inferd_err err;
};

static int generate(struct inferd_llm_model *m, struct inferd_llm_ctx *c, struct inferd_err *err)
{
    int32_t toks[64], pos[64], seq[64];
    int n = inferd_llm_tokenize(m, "Once upon a time", 16, 1, 0, toks, 60);
    if (n <= 0 || n > 60)
        return -1;
    for (int i = 0; i < n; i++)
        pos[i] = i, seq[i] = 0;
    struct inferd_llm_batch b = {.n = n, .tokens = toks, .pos = pos, .seq = seq};
    int rc = inferd_llm_decode(c, &b, err);
    struct inferd_llm_sampling sp;
    inferd_llm_sampling_defaults(&sp);
    sp.temperature = 0;
    struct inferd_llm_sampler *s = rc < 0 ? NULL : inferd_llm_sampler_new(&sp, inferd_llm_info(m)->n_vocab);
    if (rc == 0 && !s)
        rc = INFERD_ENOMEM;
    for (int k = 0; rc == 0 && k < 3; k++) {
        const float *lg = inferd_llm_logits(c, b.n - 1);
        int32_t t = inferd_llm_sample(s, lg, NULL);
        inferd_llm_sampler_accept(s, t);
        int32_t p = n + k, q = 0;
        b = (struct inferd_llm_batch){.n = 1, .tokens = &t, .pos = &p, .seq = &q};
        rc = inferd_llm_decode(c, &b, err);
    }
    inferd_llm_sampler_free(s);
    return rc;
}

static int load_and_decode(void *arg)
{
    struct job *j = arg;
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *c = NULL;
    int rc = inferd_llm_load(j->path, &(struct inferd_llm_load_params){.n_threads = j->n_threads}, &m, &j->err);
    if (rc < 0)
        return rc;
    rc = inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 64, .n_seq = 2}, &c, &j->err);
    if (rc == 0)
        rc = generate(m, c, &j->err);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    return rc;
}

int main(void)
{
    if (!alloc_fail_supported())
        check_skip("TSan owns malloc (see alloc_fail.h)");
    /* SPM (llama) and BPE (qwen2: PCRE2 pre-tokenizer) tokenizers */
    static const char *const models[] = {"llm/aidreams260K.gguf", "llm/llama-2-tiny-random.gguf",
                                         "llm/arch/qwen2.gguf"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        /* two compute threads: the pool is created and torn down on every failure path */
        struct job j = {.n_threads = 2};
        snprintf(j.path, sizeof j.path, "%s", check_shared_path(models[i]));
        struct alloc_fail_result r = alloc_fail_each(models[i], load_and_decode, &j, NULL);
        CHECK(r.allocs > 0);
        CHECK(r.bad == 0);
        CHECK(r.failed_ok + r.survived == r.allocs);
    }
    return check_finish();
}
