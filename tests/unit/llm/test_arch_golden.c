/* test_arch_golden.c — one architecture at a time against llama.cpp: the tiny random-weight
 * models of ../shared/testdata/llm/arch/ (llama3-style with rope_freqs, its Q8_0 and Q4_K_M
 * variants, qwen2, phi3, gemma2, mixtral-moe) and llama.cpp's greedy generations on them.
 *
 * Usage: test_llm_arch_golden <model> [kv_f32|kv_q8_0]   (<model> = file name without .gguf;
 * kv_q8_0 is for goldens made with llama.cpp's -ctk q8_0 -ctv q8_0 -fa, not the shipped ones)
 *
 * For every case of golden_<model>.json: our tokenizer must give the golden prompt ids; the
 * prompt is decoded in one batch (as llama-server does), then one token per step. Each step
 * checks that our argmax is the golden token and that the golden top-5 probabilities agree
 * within 1e-3. The steps are teacher-forced (the golden token is fed back), so one step's
 * mismatch cannot hide the others. A step where our top-1 and top-2 logits are closer than
 * NEAR_TIE (the README lists margins down to 7e-4 in llama.cpp's own logits) may legitimately
 * pick the other token; it is reported, and accepted only when the golden token is our
 * runner-up. Separately, a free-running greedy pass must reproduce the golden tokens up to
 * the first such near tie (every token when there is none). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "inferd/llm.h"
#include "llm/kernels/kernels.h"

#define TOL_P 1e-3
/* Without SIMD kernels (INFERD_CPU_DISABLE=all, non-x86) the sums run in another order than
 * llama.cpp's AVX2 ones; where activations are quantized to Q8_0 that flips an occasional
 * rounding (the README's "jumpy" results) and moves probabilities by up to ~7e-3. The
 * tokens must still match. */
#define TOL_P_PORTABLE_QUANT 1e-2
#define NEAR_TIE 2e-3 /* logit margin below which llama.cpp's own rounding can flip the argmax */
#define MAX_TOK 512

struct step_stats {
    double max_dp;
    int n_steps, n_near_tie;
};

/* argmax and runner-up of a logit row */
static void top2(const float *lg, int n, int *b1, int *b2)
{
    *b1 = lg[0] >= lg[1] ? 0 : 1;
    *b2 = 1 - *b1;
    for (int i = 2; i < n; i++) {
        if (lg[i] > lg[*b1]) {
            *b2 = *b1;
            *b1 = i;
        } else if (lg[i] > lg[*b2]) {
            *b2 = i;
        }
    }
}

/* Checks one step's logits against the golden token and top-5; returns 1 when the step is a
 * near tie whose argmax differs from the golden token. */
static double tol_p = TOL_P;

static int check_step(const char *model, size_t ci, int g, const float *lg, int n_vocab, int32_t want, json_t *t5,
                      struct step_stats *st)
{
    int b1, b2, tie_flip = 0;
    top2(lg, n_vocab, &b1, &b2);
    double mx = lg[b1], sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp((double)lg[i] - mx);
    st->n_steps++;
    if (b1 != want) {
        double margin = (double)lg[b1] - lg[want];
        if (b2 == want && margin < NEAR_TIE) {
            printf("%s case %zu step %d: near tie (margin %.2g): got %d, llama.cpp %d\n", model, ci, g, margin, b1,
                   want);
            st->n_near_tie++;
            tie_flip = 1;
        } else {
            printf("%s case %zu step %d: got %d want %d (logit margin %.3g)\n", model, ci, g, b1, want, margin);
            CHECK(b1 == want);
        }
    }
    for (size_t k = 0; k < json_array_size(t5); k++) {
        json_t *pair = json_array_get(t5, k);
        int id = (int)json_integer_value(json_array_get(pair, 0));
        double p = json_number_value(json_array_get(pair, 1));
        CHECK(id >= 0 && id < n_vocab);
        if (id < 0 || id >= n_vocab)
            continue;
        double ours = exp((double)lg[id] - mx) / sum, dp = fabs(ours - p);
        if (dp > st->max_dp)
            st->max_dp = dp;
        if (dp > tol_p)
            printf("%s case %zu step %d: p(%d) = %.6f, llama.cpp %.6f\n", model, ci, g, id, ours, p);
        CHECK_NEAR(ours, p, tol_p);
    }
    return tie_flip;
}

static int decode_one(struct inferd_llm_ctx *c, int32_t tok, int32_t pos)
{
    int32_t s0 = 0;
    struct inferd_err err = {0};
    struct inferd_llm_batch b = {.n = 1, .tokens = &tok, .pos = &pos, .seq = &s0};
    int rc = inferd_llm_decode(c, &b, &err);
    if (rc < 0)
        printf("decode: %s\n", err.msg);
    return rc;
}

static int decode_prompt(struct inferd_llm_ctx *c, const int32_t *ids, int np)
{
    int32_t pos[MAX_TOK], seq[MAX_TOK];
    for (int i = 0; i < np; i++) {
        pos[i] = i;
        seq[i] = 0;
    }
    struct inferd_err err = {0};
    inferd_llm_seq_clear(c, 0);
    struct inferd_llm_batch b = {.n = np, .tokens = ids, .pos = pos, .seq = seq};
    int rc = inferd_llm_decode(c, &b, &err);
    if (rc < 0)
        printf("decode: %s\n", err.msg);
    return rc;
}

static void run_case(const char *model, struct inferd_llm_model *m, struct inferd_llm_ctx *c, size_t ci, json_t *cs,
                     struct step_stats *st)
{
    int n_vocab = inferd_llm_info(m)->n_vocab;
    json_t *pt = json_object_get(cs, "prompt_tokens"), *toks = json_object_get(cs, "tokens"),
           *top5 = json_object_get(cs, "top5");
    const char *prompt = json_string_value(json_object_get(cs, "prompt"));
    int np = (int)json_array_size(pt), n_gen = (int)json_array_size(toks);
    CHECK(prompt != NULL && np > 0 && np + n_gen < MAX_TOK && json_array_size(top5) == (size_t)n_gen);
    if (!prompt || np <= 0 || np + n_gen >= MAX_TOK)
        return;
    int32_t ids[MAX_TOK], gold[MAX_TOK], tk[MAX_TOK];
    for (int i = 0; i < np; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(pt, i));
    for (int g = 0; g < n_gen; g++)
        gold[g] = (int32_t)json_integer_value(json_array_get(toks, g));

    /* the tokenizer must agree with llama.cpp on the prompt (BOS / space prefix included) */
    int nt = inferd_llm_tokenize(m, prompt, strlen(prompt), 1, 1, tk, MAX_TOK);
    if (nt != np || memcmp(tk, ids, sizeof(int32_t) * np) != 0)
        printf("%s case %zu: tokenizer gives %d ids, llama.cpp %d\n", model, ci, nt, np);
    CHECK(nt == np && memcmp(tk, ids, sizeof(int32_t) * np) == 0);

    /* teacher-forced: every step's argmax and top-5 */
    int first_tie = n_gen;
    CHECK(decode_prompt(c, ids, np) == 0);
    for (int g = 0; g < n_gen; g++) {
        const float *lg = inferd_llm_logits(c, g == 0 ? np - 1 : 0);
        CHECK(lg != NULL);
        if (!lg)
            return;
        if (check_step(model, ci, g, lg, n_vocab, gold[g], json_array_get(top5, g), st) && g < first_tie)
            first_tie = g;
        if (g + 1 < n_gen && decode_one(c, gold[g], np + g) < 0) {
            CHECK(0);
            return;
        }
    }

    /* free-running greedy generation, as `inferd generate --temp 0` does */
    CHECK(decode_prompt(c, ids, np) == 0);
    for (int g = 0; g < first_tie; g++) {
        const float *lg = inferd_llm_logits(c, g == 0 ? np - 1 : 0);
        int b1, b2;
        if (!lg)
            break;
        top2(lg, n_vocab, &b1, &b2);
        if (b1 != gold[g])
            printf("%s case %zu: greedy step %d gives %d, llama.cpp %d\n", model, ci, g, b1, gold[g]);
        CHECK(b1 == gold[g]);
        if (b1 != gold[g] || (g + 1 < first_tie && decode_one(c, b1, np + g) < 0))
            break;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <model> [kv_f32|kv_q8_0]\n", argv[0]);
        return 2;
    }
    const char *model = argv[1];
    int kv_f32 = argc > 2 && strcmp(argv[2], "kv_f32") == 0, kv_q8 = argc > 2 && strcmp(argv[2], "kv_q8_0") == 0;
    /* Every SIMD kernel set (AVX2, AVX-VNNI, AVX-512, AVX-512 VNNI) sums Q8_0 batches in
     * llama.cpp's tinyBLAS order (8 lanes, block by block): 3.8e-4 on llama3-style-q8_0; the
     * portable kernels do not (6.5e-3, an occasional Q8_0 rounding flip). */
    int other_order = !kern_simd_active();
    if (other_order && (strstr(model, "q8_0") || strstr(model, "q4_k"))) {
        tol_p = TOL_P_PORTABLE_QUANT;
        printf("%s: %s kernels: top-5 tolerance %.0e (tokens must still match)\n", model, kern_isa_name(), tol_p);
    }
    char rel[256], mpath[4096];
    snprintf(rel, sizeof rel, "llm/arch/%s.gguf", model);
    snprintf(mpath, sizeof mpath, "%s", check_shared_path(rel));
    snprintf(rel, sizeof rel, "llm/arch/golden_%s.json", model);
    const char *gp = check_shared_path(rel);
    json_error_t jerr;
    json_t *root = json_load_file(gp, 0, &jerr);
    CHECK(root != NULL);
    if (!root)
        return check_finish();
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *c = NULL;
    if (inferd_llm_load(mpath, &(struct inferd_llm_load_params){.n_threads = 2}, &m, &err) < 0) {
        printf("load: %s\n", err.msg);
        CHECK(0);
        json_decref(root);
        return check_finish();
    }
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){
                                  .n_ctx = 256, .n_seq = 1, .kv_f32 = kv_f32, .kv_type = kv_q8 ? INFERD_LLM_KV_Q8_0 : 0}, &c,
                           &err) < 0) {
        printf("ctx: %s\n", err.msg);
        CHECK(0);
    } else {
        struct step_stats st = {0};
        json_t *cs;
        size_t ci;
        json_array_foreach(json_object_get(root, "cases"), ci, cs) run_case(model, m, c, ci, cs, &st);
        CHECK(st.n_steps > 0);
        printf("%s (kv %s): %d steps, max |dp| vs llama.cpp = %.3g (tolerance %.0e), near ties %d\n", model,
               kv_f32 ? "f32" : kv_q8 ? "q8_0" : "f16", st.n_steps, st.max_dp, tol_p, st.n_near_tie);
    }
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    json_decref(root);
    return check_finish();
}
