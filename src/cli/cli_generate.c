/* cli_generate.c — `inferd generate MODEL.gguf -p PROMPT ...`: prints generated text as it
 * comes (stdout) and a timing summary (stderr). The work is the LLM engine's (inferd/llm.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli.h"
#include "inferd/llm.h"
#include "llm/stop.h"

#define GEN_MAX_PROMPT_TOKENS (1 << 20)

static void usage(void)
{
    fprintf(stderr,
            "usage: inferd generate MODEL.gguf -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]\n"
            "       [--min-p P] [--repeat-penalty R] [--seed S] [-t THREADS] [--stop STR]...\n"
            "       [--ctx N] [--kv-f32] [--no-special]\n"
            "  -n N             tokens to generate (default 128; stops early at end-of-generation)\n"
            "  --temp T         0 = greedy (default 0.8)\n"
            "  --stop STR       stop when STR appears (up to %d, not printed)\n"
            "  --ctx N          KV cache positions (default: prompt + N, at most the model's)\n",
            LLM_STOP_MAX);
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi) {
        fprintf(stderr, "inferd generate: %s: \"%s\" is not a number in [%g, %g]\n", flag, v, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

int cli_generate(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *stops[LLM_STOP_MAX];
    int n_stop = 0, n_predict = 128, threads = 0, n_ctx = 0, kv_f32 = 0, special = 1, rc = 1;
    struct inferd_llm_sampling sp;
    inferd_llm_sampling_defaults(&sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        if (!strcmp(a, "--kv-f32")) {
            kv_f32 = 1;
            continue;
        }
        if (!strcmp(a, "--no-special")) {
            special = 0;
            continue;
        }
        if (a[0] != '-') {
            if (model) {
                fprintf(stderr, "inferd generate: unexpected argument \"%s\"\n", a);
                return 2;
            }
            model = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "inferd generate: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt"))
            prompt = v;
        else if (!strcmp(a, "--stop")) {
            if (n_stop == LLM_STOP_MAX) {
                fprintf(stderr, "inferd generate: --stop: at most %d\n", LLM_STOP_MAX);
                return 2;
            }
            stops[n_stop++] = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (parse_num(a, v, 0, 1 << 20, &d) < 0)
                return 2;
            n_predict = (int)d;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (parse_num(a, v, 1, 1024, &d) < 0)
                return 2;
            threads = (int)d;
        } else if (!strcmp(a, "--ctx")) {
            if (parse_num(a, v, 1, 1 << 24, &d) < 0)
                return 2;
            n_ctx = (int)d;
        } else if (!strcmp(a, "--temp")) {
            if (parse_num(a, v, 0, 100, &d) < 0)
                return 2;
            sp.temperature = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (parse_num(a, v, 0, 1 << 24, &d) < 0)
                return 2;
            sp.top_k = (int)d;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_num(a, v, 0, 1, &d) < 0)
                return 2;
            sp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (parse_num(a, v, 0, 1, &d) < 0)
                return 2;
            sp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (parse_num(a, v, 0, 100, &d) < 0)
                return 2;
            sp.repeat_penalty = (float)d;
        } else if (!strcmp(a, "--seed")) {
            if (parse_num(a, v, 0, 1.8e19, &d) < 0)
                return 2;
            sp.seed = (uint64_t)strtoull(v, NULL, 10);
        } else {
            fprintf(stderr, "inferd generate: unknown option %s\n", a);
            usage();
            return 2;
        }
    }
    if (!model || !prompt) {
        usage();
        return 2;
    }

    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *c = NULL;
    struct inferd_llm_sampler *smp = NULL;
    int32_t *toks = NULL;
    char *out = NULL;
    struct llm_stop st;
    if (llm_stop_init(&st, stops, n_stop, &err) < 0) {
        fprintf(stderr, "inferd generate: %s\n", err.msg);
        return 2;
    }
    uint64_t t_load = clock_now_ns();
    if (inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = threads}, &m, &err) < 0) {
        fprintf(stderr, "inferd generate: %s\n", err.msg);
        return 1;
    }
    const struct inferd_llm_info *info = inferd_llm_info(m);
    size_t plen = strlen(prompt);
    int cap = (int)(plen + 16 < GEN_MAX_PROMPT_TOKENS ? plen + 16 : GEN_MAX_PROMPT_TOKENS);
    toks = malloc(sizeof(int32_t) * (size_t)cap);
    if (!toks)
        goto oom;
    int n_prompt = inferd_llm_tokenize(m, prompt, plen, 1, special, toks, cap);
    if (n_prompt > cap) {
        fprintf(stderr, "inferd generate: prompt: more than %d tokens\n", cap);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "inferd generate: prompt: no tokens (the model has no tokenizer?)\n");
        goto done;
    }
    if (n_ctx == 0) {
        n_ctx = n_prompt + n_predict;
        if (n_ctx > info->n_ctx_train)
            n_ctx = info->n_ctx_train;
    }
    if (n_prompt >= n_ctx) {
        fprintf(stderr, "inferd generate: prompt has %d tokens, the context holds %d (use --ctx; the model was "
                        "trained with %d)\n", n_prompt, n_ctx, info->n_ctx_train);
        goto done;
    }
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = n_ctx, .n_seq = 1, .n_batch = 512,
                                                               .kv_f32 = kv_f32},
                           &c, &err) < 0) {
        fprintf(stderr, "inferd generate: %s\n", err.msg);
        goto done;
    }
    smp = inferd_llm_sampler_new(&sp, info->n_vocab);
    out = malloc(LLM_STOP_OUT(1024));
    if (!smp || !out)
        goto oom;
    fprintf(stderr, "inferd generate: %s (%s, %s, %d layers), %d prompt tokens, loaded in %.0f ms\n",
            info->name[0] ? info->name : model, info->arch, info->file_type, info->n_layer, n_prompt,
            (clock_now_ns() - t_load) / 1e6);

    /* prompt, in chunks of n_batch */
    int32_t pos[512], seq[512] = {0};
    int last_row = 0;
    uint64_t t0 = clock_now_ns();
    for (int done_n = 0; done_n < n_prompt;) {
        int n = n_prompt - done_n < 512 ? n_prompt - done_n : 512;
        for (int i = 0; i < n; i++)
            pos[i] = done_n + i;
        struct inferd_llm_batch b = {.n = n, .tokens = toks + done_n, .pos = pos, .seq = seq};
        if (inferd_llm_decode(c, &b, &err) < 0) {
            fprintf(stderr, "inferd generate: prompt: %s\n", err.msg);
            goto done;
        }
        done_n += n;
        last_row = n - 1;
    }
    for (int i = 0; i < n_prompt; i++)
        inferd_llm_sampler_accept(smp, toks[i]);
    uint64_t t1 = clock_now_ns();
    int n_gen = 0;
    const char *why = "limit";
    char piece[1024];
    while (n_gen < n_predict) {
        const float *lg = inferd_llm_logits(c, last_row);
        if (!lg) {
            fprintf(stderr, "inferd generate: no logits\n");
            goto done;
        }
        int32_t t = inferd_llm_sample(smp, lg, NULL);
        n_gen++;
        if (inferd_llm_token_is_eog(m, t)) {
            why = "end of generation";
            break;
        }
        int pl = inferd_llm_token_to_piece(m, t, piece, sizeof piece);
        if (pl > 0) {
            size_t w = llm_stop_feed(&st, piece, (size_t)pl, out);
            fwrite(out, 1, w, stdout);
            fflush(stdout);
            if (st.stopped) {
                why = "stop string";
                break;
            }
        }
        inferd_llm_sampler_accept(smp, t);
        if (n_gen == n_predict)
            break;
        int32_t p1 = n_prompt + n_gen - 1, s0 = 0;
        struct inferd_llm_batch b = {.n = 1, .tokens = &t, .pos = &p1, .seq = &s0};
        if (inferd_llm_decode(c, &b, &err) < 0) {
            fprintf(stderr, "\ninferd generate: %s\n", err.msg);
            why = "context full";
            break;
        }
        last_row = 0;
    }
    size_t w = llm_stop_flush(&st, out);
    fwrite(out, 1, w, stdout);
    printf("\n");
    fflush(stdout);
    uint64_t t2 = clock_now_ns();
    double pms = (t1 - t0) / 1e6, gms = (t2 - t1) / 1e6;
    fprintf(stderr,
            "inferd generate: prompt %d tokens in %.1f ms (%.2f tokens/s); generated %d tokens in %.1f ms "
            "(%.2f tokens/s); stopped: %s\n",
            n_prompt, pms, pms > 0 ? n_prompt * 1e3 / pms : 0, n_gen, gms, gms > 0 ? n_gen * 1e3 / gms : 0, why);
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "inferd generate: out of memory\n");
done:
    free(out);
    free(toks);
    inferd_llm_sampler_free(smp);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
    return rc;
}
