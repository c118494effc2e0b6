/* generate.c — inferd_llm_generate: prompt in chunks, then sample token by token with stop
 * strings (llm/stop.c), max tokens, EOG handling and a streaming callback (see llm.h). */
#include "inferd/llm.h"
#include "base/clock.h"
#include "llm/grammar.h"
#include "llm/llm_int.h"
#include "llm/stop.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(INFERD_LLM_GEN_STOP_MAX == LLM_STOP_N_MAX, "llm.h and stop.h caps agree");
_Static_assert(INFERD_LLM_GEN_STOP_LEN == LLM_STOP_LEN_MAX, "llm.h and stop.h caps agree");

#define GEN_PIECE_MAX 1024          /* bytes of one token's piece (longer ones are cut) */
#define GEN_TEXT_MAX (256u << 20)   /* bytes of result text */

/* Generation state; one per call, freed at its end. */
struct gen {
    const struct inferd_llm_gen_params *p;    /* borrowed */
    struct inferd_llm_gen_result *r;          /* borrowed: the caller's result */
    size_t cap;                               /* bytes allocated at r->text */
    int stopped_by_callback;
};

/* Appends shown text to the result and hands it to the callback. Returns 0, 1 when the
 * callback asked to stop, or INFERD_ETOOLARGE / INFERD_ENOMEM (err set). */
static int emit(struct gen *g, const char *s, size_t n, struct inferd_err *err)
{
    struct inferd_llm_gen_result *r = g->r;
    if (n == 0)
        return 0;
    if (r->len + n + 1 > GEN_TEXT_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "generate: text over %u bytes", GEN_TEXT_MAX);
    if (r->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return inferd_err_set(err, INFERD_ENOMEM, "generate: out of memory");
        r->text = t;
        g->cap = cap;
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = 0;
    if (g->p->on_piece && g->p->on_piece(s, n, g->p->arg) != 0) {
        g->stopped_by_callback = 1;
        return 1;
    }
    return 0;
}

/* Decodes prompt[0..n) on seq from position pos0 in chunks of n_batch; the last chunk's last
 * row keeps logits. Returns 0 or the decode's error. */
static int decode_prompt(struct inferd_llm_ctx *c, int seq, int pos0, const int32_t *prompt, int n, int n_batch,
                         int32_t *pos, int32_t *seqs, struct inferd_err *err)
{
    for (int i = 0; i < n_batch; i++)
        seqs[i] = seq;
    for (int done = 0; done < n;) {
        int k = n - done < n_batch ? n - done : n_batch;
        for (int i = 0; i < k; i++)
            pos[i] = pos0 + done + i;
        struct inferd_llm_batch b = {.n = k, .tokens = prompt + done, .pos = pos, .seq = seqs};
        int rc = inferd_llm_decode(c, &b, err);
        if (rc < 0)
            return rc;
        done += k;
    }
    return 0;
}

int inferd_llm_generate(struct inferd_llm_ctx *c, const int32_t *prompt, int n_prompt,
                        const struct inferd_llm_gen_params *p, struct inferd_llm_gen_result *out,
                        struct inferd_err *err)
{
    struct inferd_llm_model *m = c->m;
    struct inferd_llm_sampler *smp = NULL;
    int32_t *pos = NULL, *seqs = NULL;
    struct llm_stop st;
    struct inferd_llm_sampling defaults;
    struct gen g = {.p = p, .r = out};
    struct llm_grammar *gr = NULL;
    struct llm_gvocab *gv = NULL;
    struct llm_gmatch *gm = NULL;
    float *gmask = NULL;
    char piece[GEN_PIECE_MAX], shown[LLM_STOP_OUT(GEN_PIECE_MAX)];
    int rc;

    memset(out, 0, sizeof *out);
    out->finish_reason = "length";
    if (n_prompt <= 0 || !prompt)
        return inferd_err_set(err, INFERD_EINVAL, "prompt: must hold at least one token");
    if (p->seq < 0 || p->seq >= c->n_seq)
        return inferd_err_set(err, INFERD_EINVAL, "seq: %d is not in 0..%d", p->seq, c->n_seq - 1);
    int n_batch = p->n_batch ? p->n_batch : c->n_batch;
    if (n_batch < 1 || n_batch > c->n_batch)
        return inferd_err_set(err, INFERD_EINVAL, "n_batch: %d is not in 1..%d (the context's n_batch)", n_batch,
                              c->n_batch);
    if (p->n_stop < 0 || p->n_stop > INFERD_LLM_GEN_STOP_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "stop: more than %d stop strings", INFERD_LLM_GEN_STOP_MAX);
    rc = llm_stop_init(&st, p->stop, p->n_stop, err);
    if (rc < 0)
        return rc;
    if (!p->sampling)
        inferd_llm_sampling_defaults(&defaults);
    smp = inferd_llm_sampler_new(p->sampling ? p->sampling : &defaults, m->hp.n_vocab);
    pos = malloc(sizeof *pos * (size_t)n_batch);
    seqs = malloc(sizeof *seqs * (size_t)n_batch);
    if (!smp || !pos || !seqs) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "generate: out of memory");
        goto fail;
    }
    if (p->grammar) {
        rc = llm_grammar_parse(p->grammar, strlen(p->grammar), "root", &gr, err);
        if (rc == 0)
            rc = llm_gvocab_new(m, &gv, err);
        if (rc == 0)
            rc = llm_gmatch_new(gr, gv, &gm, err);
        if (rc == 0 && !(gmask = malloc(sizeof *gmask * (size_t)m->hp.n_vocab)))
            rc = inferd_err_set(err, INFERD_ENOMEM, "generate: out of memory");
        if (rc < 0) {
            inferd_err_prefix(err, "grammar");
            goto fail;
        }
    }

    int pos0 = inferd_llm_seq_len(c, p->seq);
    uint64_t t0 = clock_now_ns();
    rc = decode_prompt(c, p->seq, pos0, prompt, n_prompt, n_batch, pos, seqs, err);
    if (rc < 0)
        goto fail;
    for (int i = 0; i < n_prompt; i++)
        inferd_llm_sampler_accept_prompt(smp, prompt[i]);
    out->n_prompt = n_prompt;
    uint64_t t1 = clock_now_ns();
    out->prompt_ms = (t1 - t0) / 1e6;

    enum inferd_llm_finish finish = INFERD_LLM_FINISH_LENGTH;
    int row = c->n_rows - 1; /* the row of the last decode that kept logits */
    while (p->max_tokens < 0 || out->n_gen < p->max_tokens) {
        const float *lg = inferd_llm_logits(c, row);
        if (!lg) {
            rc = inferd_err_set(err, INFERD_EINVAL, "generate: the last decode kept no logits");
            goto fail;
        }
        int32_t t = inferd_llm_sample(smp, lg, NULL);
        if (gm && !llm_gmatch_allows(gm, t)) { /* the grammar's hook: mask only on a miss */
            memcpy(gmask, lg, sizeof *gmask * (size_t)m->hp.n_vocab);
            if (llm_gmatch_mask(gm, gmask) == 0) {
                rc = inferd_err_set(err, INFERD_EINVAL, "grammar: no token of the vocabulary can continue the text");
                goto fail;
            }
            t = inferd_llm_sample(smp, gmask, NULL);
        }
        if (gm && (rc = llm_gmatch_accept(gm, t, err)) < 0)
            goto fail;
        out->n_gen++;
        if (!p->ignore_eos && inferd_llm_token_is_eog(m, t)) {
            finish = INFERD_LLM_FINISH_EOG;
            break;
        }
        int pl = inferd_llm_token_to_piece(m, t, piece, sizeof piece);
        if (pl > 0) {
            size_t w = llm_stop_feed(&st, piece, (size_t)pl, shown);
            rc = emit(&g, shown, w, err);
            if (rc < 0)
                goto fail;
            if (st.stopped) {
                finish = INFERD_LLM_FINISH_STOP_STRING;
                break;
            }
            if (rc == 1) {
                finish = INFERD_LLM_FINISH_CALLBACK;
                break;
            }
        }
        if (gm && llm_gmatch_done(gm)) { /* the document is complete */
            finish = INFERD_LLM_FINISH_EOG;
            break;
        }
        inferd_llm_sampler_accept(smp, t);
        if (out->n_gen == p->max_tokens)
            break;
        int32_t p1 = pos0 + n_prompt + out->n_gen - 1, s1 = p->seq;
        struct inferd_llm_batch b = {.n = 1, .tokens = &t, .pos = &p1, .seq = &s1};
        rc = inferd_llm_decode(c, &b, err);
        if (rc == INFERD_ETOOLARGE) {
            finish = INFERD_LLM_FINISH_CONTEXT;
            break;
        }
        if (rc < 0)
            goto fail;
        row = 0;
    }
    if (finish != INFERD_LLM_FINISH_CALLBACK) {
        size_t w = llm_stop_flush(&st, shown);
        rc = emit(&g, shown, w, err);
        if (rc < 0)
            goto fail;
    }
    out->finish = finish;
    out->finish_reason = finish == INFERD_LLM_FINISH_LENGTH || finish == INFERD_LLM_FINISH_CONTEXT ? "length" : "stop";
    out->gen_ms = (clock_now_ns() - t1) / 1e6;
    if (!out->text) { /* always a string, even when nothing was shown */
        out->text = calloc(1, 1);
        if (!out->text) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "generate: out of memory");
            goto fail;
        }
    }
    free(gmask);
    llm_gmatch_free(gm);
    llm_gvocab_free(gv);
    llm_grammar_unref(gr);
    free(seqs);
    free(pos);
    inferd_llm_sampler_free(smp);
    return 0;
fail:
    free(gmask);
    llm_gmatch_free(gm);
    llm_gvocab_free(gv);
    llm_grammar_unref(gr);
    free(seqs);
    free(pos);
    inferd_llm_sampler_free(smp);
    inferd_llm_gen_result_free(out);
    return rc;
}

void inferd_llm_gen_result_free(struct inferd_llm_gen_result *r)
{
    if (!r)
        return;
    free(r->text);
    memset(r, 0, sizeof *r);
}
