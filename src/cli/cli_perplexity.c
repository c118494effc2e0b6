/* cli_perplexity.c — `inferd perplexity -m MODEL.gguf -f TEXT`: a model's perplexity on a
 * text file, computed as llama.cpp's llama-perplexity does (inferd_llm_perplexity). */
#include "cli.h"

#include "inferd/llm.h"

#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: inferd perplexity -m MODEL.gguf -f TEXT [-c N] [--chunks K] [-t THREADS]\n"
                 "  Perplexity of the model on the text, as llama-perplexity computes it: the text is cut\n"
                 "  into chunks of N tokens (default min(512, the model's context)), each chunk is decoded\n"
                 "  alone and the second half of every chunk is scored. Needs at least 2N tokens of text.\n"
                 "options:\n"
                 "  -m, --model M      GGUF model file\n"
                 "  -f, --file FILE    text file\n"
                 "  -c, --ctx N        tokens per chunk\n"
                 "  --chunks K         at most K chunks (default: all)\n"
                 "  -t, --threads T    compute threads (default: all CPUs)\n");
}

static void progress(void *arg, int64_t done, int64_t total)
{
    (void)arg;
    fprintf(stderr, "\rperplexity: chunk %lld/%lld", (long long)done, (long long)total);
    if (done == total)
        fprintf(stderr, "\n");
}

int cli_perplexity(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"file", required_argument, 0, 'f'},
        {"ctx", required_argument, 0, 'c'},   {"chunks", required_argument, 0, 'K'},
        {"threads", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *model = NULL, *file = NULL;
    struct inferd_llm_ppl_params pp = {0};
    int threads = 0, c;
    long long v;
    while ((c = cli_getopt(argc, argv, "m:f:c:t:h", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'f': file = optarg; break;
        case 'c':
            if (cli_int("perplexity", "--ctx", optarg, 4, 1 << 20, NULL, &v) < 0)
                return 2;
            pp.n_ctx = (int)v;
            break;
        case 'K':
            if (cli_int("perplexity", "--chunks", optarg, 1, 1 << 30, NULL, &v) < 0)
                return 2;
            pp.max_chunks = (int)v;
            break;
        case 't':
            if (cli_int("perplexity", "--threads", optarg, 1, 1024, NULL, &v) < 0)
                return 2;
            threads = (int)v;
            break;
        case 'h': usage(stdout); return 0;
        default: return cli_bad_option("perplexity", argv);
        }
    }
    if (!model || !file || optind != argc) {
        usage(stderr);
        return 2;
    }
    pp.progress = progress;
    struct inferd_llm_ppl r;
    struct inferd_err err = {0};
    if (inferd_llm_perplexity_file(model, file, threads, &pp, &r, &err) < 0) {
        fprintf(stderr, "inferd perplexity: %s\n", err.msg);
        return 1;
    }
    printf("perplexity: PPL = %.4f +/- %.5f (%lld tokens scored, %d chunks of %d; text: %d tokens)\n", r.ppl,
           r.ppl_err, (long long)r.n_scored, r.n_chunks, r.n_ctx, r.n_tokens);
    return 0;
}
