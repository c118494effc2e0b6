/* cli_generate.c — `inferd generate MODEL.gguf -p PROMPT ...`: prints generated text as it
 * comes (stdout) and a timing summary (stderr). The work is the LLM engine's
 * (inferd_llm_generate in inferd/llm.h); this file parses flags and prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/clock.h"
#include "cli.h"
#include "inferd/llm.h"
#include "llm/grammar.h"
#include "llm/json_schema.h"

#define GEN_MAX_PROMPT_TOKENS (1 << 20)
#define GEN_N_BATCH 512

static void usage(FILE *out)
{
    fprintf(out,
            "usage: inferd generate MODEL.gguf -p PROMPT [options]\n"
            "       inferd generate -m MODEL.gguf -p PROMPT [options]\n"
            "  Generates text from a GGUF model on this machine: the text goes to stdout as it\n"
            "  comes, a timing summary to stderr.\n"
            "  Architectures: llama (Llama 2/3, Mistral, Mixtral MoE), qwen2, phi3, gemma2.\n"
            "options:\n"
            "  -m, --model FILE         the GGUF model (or as the first argument)\n"
            "  -p, --prompt TEXT        the prompt (required)\n"
            "  -n, --n-predict N        tokens to generate (default 128; stops early at end-of-generation)\n"
            "      --temp T             sampling temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K            top-k sampling, 0 = off (default 40)\n"
            "      --top-p P            top-p sampling, 1 = off (default 0.95)\n"
            "      --min-p P            min-p sampling, 0 = off (default 0.05)\n"
            "      --repeat-penalty R   repetition penalty, 1 = off (default 1)\n"
            "      --seed S             sampling seed (default random)\n"
            "  -t, --threads N          compute threads (default: all CPUs)\n"
            "      --stop STR           stop when STR appears (up to %d, not printed)\n"
            "      --ctx N              KV cache positions (default: prompt + N, at most the model's)\n"
            "      --batch N            prompt tokens per decode step (default %d)\n"
            "      --kv-f32             F32 KV cache (default F16)\n"
            "      --kv-type T          KV cache type: f16 (default), f32, q8_0 (34 bytes per 32 values)\n"
            "      --memory-budget-mb N refuse to start when weights + KV cache + scratch exceed N MiB\n"
            "  -v, --verbose            print the memory used (weights mapped/resident, KV cache, scratch)\n"
            "      --no-special         special-token text in the prompt is plain text\n"
            "      --grammar GBNF       constrain the output to a GBNF grammar (start rule root)\n"
            "      --json-schema JSON   constrain the output to JSON valid under a JSON schema\n"
            "  -h, --help               this text\n",
            INFERD_LLM_GEN_STOP_MAX, GEN_N_BATCH);
}

/* Streams generated text to stdout as it is released. */
static int print_piece(const char *text, size_t len, void *arg)
{
    (void)arg;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static const char *finish_text(enum inferd_llm_finish f)
{
    switch (f) {
    case INFERD_LLM_FINISH_EOG: return "end of generation";
    case INFERD_LLM_FINISH_STOP_STRING: return "stop string";
    case INFERD_LLM_FINISH_CALLBACK: return "interrupted";
    case INFERD_LLM_FINISH_CONTEXT: return "context full";
    case INFERD_LLM_FINISH_LENGTH: break;
    }
    return "limit";
}

int cli_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"prompt", required_argument, 0, 'p'},    {"n-predict", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 't'},   {"temp", required_argument, 0, 'T'},
        {"top-k", required_argument, 0, 'k'},     {"top-p", required_argument, 0, 'P'},
        {"min-p", required_argument, 0, 'x'},     {"repeat-penalty", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},      {"stop", required_argument, 0, 'S'},
        {"ctx", required_argument, 0, 'c'},       {"batch", required_argument, 0, 'b'},
        {"kv-f32", no_argument, 0, 'f'},          {"no-special", no_argument, 0, 'N'},
        {"grammar", required_argument, 0, 'G'},   {"json-schema", required_argument, 0, 'J'},
        {"model", required_argument, 0, 'm'},     {"help", no_argument, 0, 'h'},
        {"verbose", no_argument, 0, 'v'},         {"memory-budget-mb", required_argument, 0, 'B'},
        {"kv-type", required_argument, 0, 'K'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *prompt = NULL, *stops[INFERD_LLM_GEN_STOP_MAX];
    int n_stop = 0, n_predict = 128, threads = 0, n_ctx = 0, n_batch = GEN_N_BATCH, kv_f32 = 0, special = 1;
    int rc = 1, c, verbose = 0, budget_mb = 0, kv_type = INFERD_LLM_KV_F16;
    long long v;
    double d;
    struct inferd_llm_sampling sp;
    const char *grammar = NULL, *schema = NULL;
    struct buf gbuf;
    buf_init(&gbuf, LLM_GRAMMAR_TEXT_MAX);
    inferd_llm_sampling_defaults(&sp);
    for (;;) {
        c = cli_getopt(argc, argv, "m:p:n:t:hv", opts);
        if (c == -1)
            break;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'm': model = optarg; break;
        case 'G': grammar = optarg; break;
        case 'J': schema = optarg; break;
        case 'f': kv_f32 = 1; break;
        case 'N': special = 0; break;
        case 'S':
            if (n_stop == INFERD_LLM_GEN_STOP_MAX) {
                fprintf(stderr, "inferd generate: --stop: at most %d\n", INFERD_LLM_GEN_STOP_MAX);
                return 2;
            }
            if (strlen(optarg) > INFERD_LLM_GEN_STOP_LEN) {
                fprintf(stderr, "inferd generate: --stop: longer than %d bytes\n", INFERD_LLM_GEN_STOP_LEN);
                return 2;
            }
            stops[n_stop++] = optarg;
            break;
        case 'n':
            if (cli_int("generate", "--n-predict", optarg, 0, 1 << 20, NULL, &v) < 0)
                return 2;
            n_predict = (int)v;
            break;
        case 't':
            if (cli_int("generate", "--threads", optarg, 1, 1024, NULL, &v) < 0)
                return 2;
            threads = (int)v;
            break;
        case 'c':
            if (cli_int("generate", "--ctx", optarg, 1, 1 << 24, NULL, &v) < 0)
                return 2;
            n_ctx = (int)v;
            break;
        case 'b':
            if (cli_int("generate", "--batch", optarg, 1, 1 << 16, NULL, &v) < 0)
                return 2;
            n_batch = (int)v;
            break;
        case 'T':
            if (cli_double("generate", "--temp", optarg, 0, 100, NULL, &d) < 0)
                return 2;
            sp.temperature = (float)d;
            break;
        case 'k':
            if (cli_int("generate", "--top-k", optarg, 0, 1 << 24, NULL, &v) < 0)
                return 2;
            sp.top_k = (int)v;
            break;
        case 'P':
            if (cli_double("generate", "--top-p", optarg, 0, 1, NULL, &d) < 0)
                return 2;
            sp.top_p = (float)d;
            break;
        case 'x':
            if (cli_double("generate", "--min-p", optarg, 0, 1, NULL, &d) < 0)
                return 2;
            sp.min_p = (float)d;
            break;
        case 'r':
            if (cli_double("generate", "--repeat-penalty", optarg, 0, 100, NULL, &d) < 0)
                return 2;
            sp.repeat_penalty = (float)d;
            break;
        case 's': {
            char *end;
            unsigned long long seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "inferd generate: --seed: '%s' is not an unsigned integer\n", optarg);
                return 2;
            }
            sp.seed = (uint64_t)seed;
            break;
        }
        case 'v': verbose = 1; break;
        case 'K':
            if (strcmp(optarg, "f16") == 0 || strcmp(optarg, "F16") == 0)
                kv_type = INFERD_LLM_KV_F16;
            else if (strcmp(optarg, "f32") == 0 || strcmp(optarg, "F32") == 0)
                kv_type = INFERD_LLM_KV_F32;
            else if (strcmp(optarg, "q8_0") == 0 || strcmp(optarg, "Q8_0") == 0)
                kv_type = INFERD_LLM_KV_Q8_0;
            else {
                fprintf(stderr, "inferd generate: --kv-type: '%s' is not f16, f32 or q8_0\n", optarg);
                return 2;
            }
            break;
        case 'B':
            if (cli_int("generate", "--memory-budget-mb", optarg, 1, 1 << 30, "a size in MiB", &v) < 0)
                return 2;
            budget_mb = (int)v;
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_bad_option("generate", argv);
        }
    }
    if (optind < argc && !model)
        model = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "inferd generate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!model || !prompt) {
        fprintf(stderr, "inferd generate: %s is required\n\n", !model ? "MODEL.gguf" : "-p/--prompt");
        usage(stderr);
        return 2;
    }

    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    struct inferd_llm_ctx *ctx = NULL;
    struct inferd_llm_gen_result res = {0};
    int32_t *toks = NULL;
    uint64_t t_load = clock_now_ns();
    if (inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = threads}, &m, &err) < 0) {
        fprintf(stderr, "inferd generate: %s\n", err.msg);
        return 1;
    }
    const struct inferd_llm_info *info = inferd_llm_info(m);
    if (grammar && schema) {
        fprintf(stderr, "inferd generate: --grammar and --json-schema: give one of them\n");
        rc = 2;
        goto done;
    }
    if (schema) { /* compiled to GBNF here; the engine takes grammars */
        json_error_t je;
        json_t *js = json_loads(schema, JSON_DECODE_ANY, &je);
        struct inferd_err serr = {0};
        if (!js || llm_json_schema_gbnf(js, &gbuf, &serr) < 0) {
            fprintf(stderr, "inferd generate: --json-schema: %s\n", js ? serr.msg : je.text);
            json_decref(js);
            rc = 2;
            goto done;
        }
        json_decref(js);
        grammar = gbuf.data;
    }
    size_t plen = strlen(prompt);
    int cap = (int)(plen + 16 < GEN_MAX_PROMPT_TOKENS ? plen + 16 : GEN_MAX_PROMPT_TOKENS);
    toks = malloc(sizeof(int32_t) * (size_t)cap);
    if (!toks) {
        fprintf(stderr, "inferd generate: out of memory\n");
        goto done;
    }
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
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = n_ctx, .n_seq = 1, .n_batch = n_batch,
                                                               .kv_f32 = kv_f32, .kv_type = kv_type,
                                                               .memory_budget_mb = budget_mb},
                           &ctx, &err) < 0) {
        fprintf(stderr, "inferd generate: %s\n", err.msg);
        goto done;
    }
    fprintf(stderr, "inferd generate: %s (%s, %s, %d layers), %d prompt tokens, loaded in %.0f ms\n",
            info->name[0] ? info->name : model, info->arch, info->file_type, info->n_layer, n_prompt,
            (clock_now_ns() - t_load) / 1e6);
    struct inferd_llm_gen_params gp = {
        .max_tokens = n_predict, .sampling = &sp, .stop = stops, .n_stop = n_stop, .on_piece = print_piece,
        .grammar = grammar,
    };
    if (inferd_llm_generate(ctx, toks, n_prompt, &gp, &res, &err) < 0) {
        fprintf(stderr, "\ninferd generate: %s\n", err.msg);
        goto done;
    }
    printf("\n");
    fflush(stdout);
    if (res.finish == INFERD_LLM_FINISH_CONTEXT)
        fprintf(stderr, "inferd generate: %s\n", err.msg);
    double pms = res.prompt_ms, gms = res.gen_ms;
    fprintf(stderr,
            "inferd generate: prompt %d tokens in %.1f ms (%.2f tokens/s); generated %d tokens in %.1f ms "
            "(%.2f tokens/s); stopped: %s\n",
            res.n_prompt, pms, pms > 0 ? res.n_prompt * 1e3 / pms : 0, res.n_gen, gms,
            gms > 0 ? res.n_gen * 1e3 / gms : 0, finish_text(res.finish));
    if (verbose) {
        struct inferd_llm_memory mem;
        inferd_llm_memory(m, ctx, &mem);
        fprintf(stderr,
                "inferd generate: memory: weights %.1f MiB mapped, %.1f MiB resident; KV cache %.3f MiB (%d "
                "positions, %s); scratch %.1f MiB; total resident %.1f MiB\n",
                mem.weights_bytes / 1048576.0, mem.weights_resident / 1048576.0, mem.kv_bytes / 1048576.0, n_ctx,
                kv_f32 || kv_type == INFERD_LLM_KV_F32 ? "F32" : kv_type == INFERD_LLM_KV_Q8_0 ? "Q8_0" : "F16",
                mem.scratch_bytes / 1048576.0,
                (mem.weights_resident + mem.kv_bytes + mem.scratch_bytes) / 1048576.0);
    }
    rc = 0;
done:
    buf_free(&gbuf);
    inferd_llm_gen_result_free(&res);
    free(toks);
    inferd_llm_ctx_free(ctx);
    inferd_llm_free(m);
    return rc;
}
