/* test_golden.c — greedy generation on the shared test models reproduces llama.cpp's token
 * ids (golden_*.json) and its top-5 probabilities within a stated tolerance. The prompt ids
 * come from the JSON, so this tests the forward pass independently of the tokenizer; a
 * second pass checks that our tokenizer gives the same prompt ids. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inferd/llm.h"

static double max_dp_seen;

/* tol_p: absolute tolerance on each top-5 probability. */
static void run_golden(const char *model_rel, const char *golden_rel, double tol_p, int kv_f32)
{
    const char *mp = check_shared_path(model_rel);
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s", mp);
    const char *gp = check_shared_path(golden_rel);
    json_error_t jerr;
    json_t *root = json_load_file(gp, 0, &jerr);
    CHECK(root != NULL);
    if (!root)
        return;
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *c = NULL;
    if (inferd_llm_load(mpath, &(struct inferd_llm_load_params){.n_threads = 2}, &m, &err) < 0) {
        printf("load: %s\n", err.msg);
        CHECK(0);
        json_decref(root);
        return;
    }
    int n_vocab = inferd_llm_info(m)->n_vocab;
    CHECK(inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 128, .n_seq = 1, .kv_f32 = kv_f32}, &c,
                             &err) == 0);
    float *probs = malloc(sizeof(float) * n_vocab);
    json_t *cases = json_object_get(root, "cases");
    size_t ci;
    json_t *cs;
    max_dp_seen = 0;
    json_array_foreach(cases, ci, cs)
    {
        json_t *pt = json_object_get(cs, "prompt_tokens"), *toks = json_object_get(cs, "tokens"),
               *top5 = json_object_get(cs, "top5");
        const char *prompt = json_string_value(json_object_get(cs, "prompt"));
        int np = (int)json_array_size(pt);
        int32_t ids[256], pos[256], seq[256];
        for (int i = 0; i < np; i++) {
            ids[i] = (int32_t)json_integer_value(json_array_get(pt, i));
            pos[i] = i;
            seq[i] = 0;
        }
        /* the tokenizer must agree with llama.cpp on the prompt */
        int32_t tk[256];
        int nt = inferd_llm_tokenize(m, prompt, strlen(prompt), 1, 1, tk, 256);
        CHECK(nt == np && memcmp(tk, ids, sizeof(int32_t) * np) == 0);
        inferd_llm_seq_clear(c, 0);
        struct inferd_llm_batch b = {.n = np, .tokens = ids, .pos = pos, .seq = seq};
        CHECK(inferd_llm_decode(c, &b, &err) == 0);
        int n_gen = (int)json_array_size(toks), bad = 0;
        for (int g = 0; g < n_gen; g++) {
            const float *lg = inferd_llm_logits(c, b.n - 1);
            CHECK(lg != NULL);
            if (!lg)
                break;
            int best = 0;
            double mx = lg[0], sum = 0;
            for (int i = 1; i < n_vocab; i++)
                if (lg[i] > lg[best])
                    best = i;
            mx = lg[best];
            for (int i = 0; i < n_vocab; i++)
                sum += exp(lg[i] - mx);
            for (int i = 0; i < n_vocab; i++)
                probs[i] = (float)(exp(lg[i] - mx) / sum);
            int32_t want = (int32_t)json_integer_value(json_array_get(toks, g));
            if (best != want && !bad) {
                printf("%s case %zu step %d: got %d want %d\n", model_rel, ci, g, best, want);
                bad = 1;
            }
            CHECK(best == want);
            json_t *t5 = json_array_get(top5, g);
            for (size_t k = 0; k < json_array_size(t5); k++) {
                json_t *pair = json_array_get(t5, k);
                int id = (int)json_integer_value(json_array_get(pair, 0));
                double p = json_number_value(json_array_get(pair, 1));
                double dp = fabs(probs[id] - p);
                if (dp > max_dp_seen)
                    max_dp_seen = dp;
                CHECK_NEAR(probs[id], p, tol_p);
            }
            /* teacher forcing on the golden token */
            int32_t nt1 = want, np1 = np + g, s0 = 0;
            struct inferd_llm_batch b1 = {.n = 1, .tokens = &nt1, .pos = &np1, .seq = &s0};
            if (g + 1 < n_gen)
                CHECK(inferd_llm_decode(c, &b1, &err) == 0);
            b = b1;
        }
    }
    printf("%s (kv %s): max |dp| vs llama.cpp = %.3g (tolerance %.1g)\n", model_rel, kv_f32 ? "f32" : "f16",
           max_dp_seen, tol_p);
    free(probs);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    json_decref(root);
}

int main(void)
{
    /* llama.cpp ran these with an F16 KV cache; the README measures its distance to an exact
     * float64 pass at 3.8e-4 (aidreams) and 2.5e-9 (tiny-random). We allow 1e-3 for aidreams
     * (ours and theirs round differently) and 1e-6 for tiny-random (near-uniform p ~ 4e-5). */
    run_golden("llm/aidreams260K.gguf", "llm/golden_aidreams260K.json", 1e-3, 0);
    run_golden("llm/aidreams260K.gguf", "llm/golden_aidreams260K.json", 1e-3, 1);
    run_golden("llm/llama-2-tiny-random.gguf", "llm/golden_llama-2-tiny-random.json", 1e-6, 0);
    return check_finish();
}
