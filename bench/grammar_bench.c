/* grammar_bench.c — the costs of constrained decoding on one model's vocabulary, in CPU
 * time per operation (steady on a busy machine, unlike tokens/s): building the token table,
 * checking one token, masking the whole vocabulary without and with a remembered mask.
 *
 *   grammar_bench MODEL.gguf 'root ::= ...' 'text already generated'
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inferd/llm.h"
#include "llm/grammar.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: grammar_bench MODEL.gguf GBNF PREFIX\n");
        return 2;
    }
    struct inferd_llm_model *m;
    struct inferd_llm_load_params lp = {.n_threads = 1};
    struct inferd_err err = {0};
    if (inferd_llm_load(argv[1], &lp, &m, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int n = inferd_llm_info(m)->n_vocab, rc = 1, allowed = 0;
    struct llm_gvocab *v = NULL;
    struct llm_grammar *g = NULL;
    struct llm_gmatch *gm = NULL;
    float *logits = malloc(sizeof *logits * (size_t)n);
    double t0 = cpu_s();
    if (!logits || llm_gvocab_new(m, &v, &err) < 0)
        goto out;
    double t_vocab = cpu_s() - t0;
    if (llm_grammar_parse(argv[2], strlen(argv[2]), NULL, &g, &err) < 0)
        goto out;
    /* uncached: a fresh matcher each time */
    int reps = 20;
    double t_walk = 0;
    for (int r = 0; r < reps; r++) {
        llm_gmatch_free(gm);
        gm = NULL;
        if (llm_gmatch_new(g, v, &gm, &err) < 0 || llm_gmatch_accept_text(gm, argv[3], strlen(argv[3]), &err) < 0)
            goto out;
        for (int i = 0; i < n; i++)
            logits[i] = 0;
        t0 = cpu_s();
        allowed = llm_gmatch_mask(gm, logits);
        t_walk += cpu_s() - t0;
    }
    t0 = cpu_s();
    for (int r = 0; r < reps; r++)
        llm_gmatch_mask(gm, logits); /* remembered */
    double t_hit = cpu_s() - t0;
    t0 = cpu_s();
    int yes = 0;
    for (int i = 0; i < n; i++)
        yes += llm_gmatch_allows(gm, i);
    double t_check = cpu_s() - t0;
    printf("vocabulary %d tokens, %d allowed after %s\n", n, allowed, argv[3]);
    printf("token table      %8.2f ms (once per model)\n", t_vocab * 1e3);
    printf("check one token  %8.2f us (mean over the vocabulary; %d allowed)\n", t_check / n * 1e6, yes);
    printf("mask, walked     %8.3f ms\n", t_walk / reps * 1e3);
    printf("mask, remembered %8.3f ms\n", t_hit / reps * 1e3);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    llm_gmatch_free(gm);
    llm_grammar_unref(g);
    llm_gvocab_free(v);
    free(logits);
    inferd_llm_free(m);
    return rc;
}
