/* perplexity.c — perplexity of a text under a model, the llama-perplexity way (llm.h). */
#include "inferd/llm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PPL_DEFAULT_CTX 512

/* -log softmax(logits)[tok], with llama.cpp's float max and double sum of expf. */
static double nll_of(const float *logits, int n_vocab, int tok)
{
    float max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += expf(logits[i] - max);
    return -((double)(logits[tok] - max) - log(sum));
}

int inferd_llm_perplexity(struct inferd_llm_model *m, const char *text, size_t len,
                          const struct inferd_llm_ppl_params *p, struct inferd_llm_ppl *out, struct inferd_err *err)
{
    const struct inferd_llm_info *info = inferd_llm_info(m);
    struct inferd_llm_ctx *c = NULL;
    int32_t *toks = NULL, *pos = NULL, *seq = NULL, *chunk = NULL;
    int8_t *want = NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    int n_ctx = p && p->n_ctx > 0 ? p->n_ctx : PPL_DEFAULT_CTX;
    if (!(p && p->n_ctx > 0) && info->n_ctx_train > 0 && n_ctx > info->n_ctx_train)
        n_ctx = info->n_ctx_train;
    if (n_ctx < 4 || n_ctx > (1 << 20))
        return inferd_err_set(err, INFERD_EINVAL, "context size %d: not in 4..%d", n_ctx, 1 << 20);
    if (len > (size_t)INT32_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "text of %zu bytes: too large", len);
    int n = inferd_llm_tokenize(m, text, len, 1, 0, NULL, 0);
    if (n < 2 * n_ctx)
        return inferd_err_set(err, INFERD_EINVAL,
                              "the text gives %d tokens; perplexity with a context of %d needs at least %d", n, n_ctx,
                              2 * n_ctx);
    toks = malloc(sizeof *toks * (size_t)n);
    chunk = malloc(sizeof *chunk * (size_t)n_ctx);
    pos = malloc(sizeof *pos * (size_t)n_ctx);
    seq = calloc((size_t)n_ctx, sizeof *seq);
    want = malloc((size_t)n_ctx);
    if (!toks || !chunk || !pos || !seq || !want) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    inferd_llm_tokenize(m, text, len, 1, 0, toks, n);
    struct inferd_llm_ctx_params cp = {.n_ctx = n_ctx, .n_seq = 1, .n_batch = n_ctx};
    if ((rc = inferd_llm_ctx_new(m, &cp, &c, err)) < 0)
        goto fail;
    int n_chunks = n / n_ctx;
    if (p && p->max_chunks > 0 && p->max_chunks < n_chunks)
        n_chunks = p->max_chunks;
    const int first = n_ctx / 2;
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    for (int i = 0; i < n_ctx; i++) {
        pos[i] = i;
        want[i] = i >= first;
    }
    for (int ch = 0; ch < n_chunks; ch++) {
        memcpy(chunk, toks + (size_t)ch * (size_t)n_ctx, sizeof *chunk * (size_t)n_ctx);
        if (info->add_bos && info->bos >= 0)
            chunk[0] = info->bos;
        inferd_llm_seq_clear(c, 0);
        struct inferd_llm_batch b = {.n = n_ctx, .tokens = chunk, .pos = pos, .seq = seq, .want_logits = want};
        if ((rc = inferd_llm_decode(c, &b, err)) < 0)
            goto fail;
        const int32_t *next = toks + (size_t)ch * (size_t)n_ctx;
        for (int i = first; i < n_ctx - 1; i++) {
            const float *lg = inferd_llm_logits(c, i);
            double v = nll_of(lg, info->n_vocab, next[i + 1]);
            nll += v;
            nll2 += v * v;
            count++;
        }
        if (p && p->progress)
            p->progress(p->arg, ch + 1, n_chunks);
    }
    double av = nll / (double)count, av2 = nll2 / (double)count - av * av;
    out->nll = av;
    out->ppl = exp(av);
    out->ppl_err = av2 > 0 && count > 1 ? sqrt(av2 / (double)(count - 1)) * out->ppl : 0;
    out->n_scored = count;
    out->n_chunks = n_chunks;
    out->n_ctx = n_ctx;
    out->n_tokens = n;
fail:
    inferd_llm_ctx_free(c);
    free(toks);
    free(chunk);
    free(pos);
    free(seq);
    free(want);
    return rc;
}

int inferd_llm_perplexity_file(const char *model_path, const char *text_path, int n_threads,
                               const struct inferd_llm_ppl_params *p, struct inferd_llm_ppl *out,
                               struct inferd_err *err)
{
    struct inferd_llm_model *m = NULL;
    char *text = NULL;
    size_t len = 0, cap = 1 << 16;
    int rc;
    memset(out, 0, sizeof *out);
    FILE *f = fopen(text_path, "rb");
    if (!f)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", text_path,
                              strerror(errno));
    text = malloc(cap);
    while (text) {
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        if (cap >= INFERD_LLM_PPL_TEXT_MAX) {
            fclose(f);
            free(text);
            return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %u bytes", text_path,
                                  INFERD_LLM_PPL_TEXT_MAX);
        }
        char *t = realloc(text, cap * 2);
        if (!t) {
            free(text);
            text = NULL;
            break;
        }
        text = t;
        cap *= 2;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", text_path);
    if (ioerr) {
        free(text);
        return inferd_err_set(err, INFERD_EIO, "%s: read error", text_path);
    }
    if ((rc = inferd_llm_load(model_path, &(struct inferd_llm_load_params){.n_threads = n_threads}, &m, err)) == 0) {
        rc = inferd_llm_perplexity(m, text, len, p, out, err);
        if (rc < 0)
            inferd_err_prefix(err, "%s on %s", model_path, text_path);
    }
    inferd_llm_free(m);
    free(text);
    return rc;
}
