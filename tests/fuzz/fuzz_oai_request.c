/* fuzz_oai_request.c — libFuzzer driver for the OpenAI request parser (chat, completions,
 * embeddings), the response/chunk writers fed from what parsed, the chat template
 * detector/renderer over the parsed messages (every family), and the scheduler's admission:
 * every request that parses is turned into jobs as the OpenAI routes do (prompt text
 * tokenized, token ids checked against the vocabulary, max_tokens, stop, logprobs) and
 * submitted to a continuous-batching scheduler over a random-weight tiny llama (made once;
 * 2 slots of 64 positions, a 4-deep queue), so llm_job_new's and llm_sched_submit's checks
 * (prompt against the slot's context, the queue's limit) and the generation up to the
 * slot's context run on fuzzed values; n / best_of choices share their prompt's KV cache
 * (share_prompt_of, llm_sched_submit_n) and logit_bias is checked at admission as the
 * routes do. Must never crash or leak. */
#include "llm/chat_template.h"
#include "serve/routes/openai_wire.h"
#include "serve/sched/llm_sched.h"
#include "support/model_random.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_OAI_JOBS 7 /* n_seq + max_queue + 1: one more than the scheduler holds */
#define FUZZ_OAI_PROMPT_MAX 4096

static struct inferd_llm_model *model; /* made on the first input, freed at exit */
static struct llm_sched *sched;

static void sched_stop(void)
{
    llm_sched_free(sched);
    inferd_llm_free(model);
}

static void sched_start(void)
{
    struct inferd_err err = {0};
    char path[] = "/tmp/fuzz_oai.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_oai_request: mkstemp");
        exit(1);
    }
    close(fd);
    struct llm_random_spec spec = llm_random_spec_tiny();
    struct llm_sched_config cfg = {.n_ctx = 128, .n_seq = 2, .n_batch = 64, .max_queue = 4, .embeddings = 1,
                                   .model_name = "fuzz"};
    int rc = llm_random_model_write(path, &spec, &err);
    if (rc == 0)
        rc = inferd_llm_load(path, NULL, &model, &err);
    unlink(path);
    if (rc == 0)
        rc = llm_sched_new(model, &cfg, &sched, &err);
    if (rc < 0) {
        fprintf(stderr, "fuzz_oai_request: no scheduler: %s\n", err.msg);
        exit(1);
    }
    atexit(sched_stop);
}

/* Tokens of text (BOS added) or a copy of ids, the way the routes check them: NULL when the
 * request would be refused before the scheduler (an id outside the vocabulary, too long). */
static int32_t *job_prompt(const char *text, const int32_t *ids, int n_ids, int *n)
{
    int n_vocab = inferd_llm_info(model)->n_vocab;
    int32_t *t = malloc(FUZZ_OAI_PROMPT_MAX * sizeof *t);
    if (!t)
        return NULL;
    if (text) {
        *n = inferd_llm_tokenize(model, text, strlen(text), 1, 0, t, FUZZ_OAI_PROMPT_MAX);
    } else {
        *n = n_ids;
        for (int i = 0; i < n_ids && i < FUZZ_OAI_PROMPT_MAX; i++) {
            if (ids[i] < 0 || ids[i] >= n_vocab)
                *n = -1;
            t[i] = ids[i];
        }
    }
    if (*n <= 0 || *n > FUZZ_OAI_PROMPT_MAX) {
        free(t);
        return NULL;
    }
    return t;
}

/* Waits for a job that does not fit jobs[] and drops it. */
static void jobs_extra_wait(struct llm_job *j)
{
    llm_job_wait(j);
    llm_job_release(j);
}

/* Submits the request's prompts as the routes would and waits for the admitted jobs. */
static void admit(const struct llm_oai_req *q, const char *chat_text)
{
    struct llm_job *jobs[FUZZ_OAI_JOBS];
    int n_jobs = 0;
    int n_prompts = q->kind == LLM_OAI_CHAT ? 1 : q->n_inputs > 0 ? q->n_inputs : 1;
    for (int i = 0; i < n_prompts && n_jobs < FUZZ_OAI_JOBS; i++) {
        int n = 0;
        int32_t *prompt;
        if (q->kind == LLM_OAI_CHAT)
            prompt = chat_text ? job_prompt(chat_text, NULL, 0, &n) : NULL;
        else if (q->n_inputs > 0)
            prompt = job_prompt(q->inputs ? q->inputs[i] : NULL, q->input_ids ? q->input_ids[i] : NULL,
                                q->n_input_ids ? q->n_input_ids[i] : 0, &n);
        else
            prompt = job_prompt(q->prompt, q->prompt_ids, q->n_prompt_ids, &n);
        if (!prompt)
            continue;
        int32_t *copy = n_prompts == 1 && q->best_of > 1 ? malloc(sizeof *copy * (size_t)n) : NULL;
        if (copy)
            memcpy(copy, prompt, sizeof *copy * (size_t)n);
        struct llm_job_params jp = {.prompt = prompt, .n_prompt = n, .max_tokens = q->max_tokens,
                                    .sampling = q->sampling, .bias = q->bias, .n_bias = q->n_bias,
                                    .stop = q->stop, .n_stop = q->n_stop,
                                    .n_top = q->top_logprobs, .logprobs = q->logprobs, .ignore_eos = q->ignore_eos,
                                    .embed = q->kind == LLM_OAI_EMBEDDING, .max_unread = q->stream ? 64 : 0};
        struct inferd_err err = {0};
        struct llm_job *j = llm_job_new(&jp, &err); /* takes prompt */
        if (!j) {
            free(copy);
            continue;
        }
        /* the other choices of n / best_of: the same prompt, shared with j */
        struct llm_job *group[FUZZ_OAI_JOBS] = {j};
        int n_group = 1;
        for (int c = 1; copy && c < q->best_of && n_group < FUZZ_OAI_JOBS; c++) {
            jp.prompt = malloc(sizeof *copy * (size_t)n);
            if (!jp.prompt)
                break;
            memcpy(jp.prompt, copy, sizeof *copy * (size_t)n);
            jp.share_prompt_of = j;
            jp.sampling.seed = q->sampling.seed + (uint64_t)c;
            struct llm_job *o = llm_job_new(&jp, &err);
            if (o)
                group[n_group++] = o;
        }
        free(copy);
        if (llm_sched_submit_n(sched, group, n_group, &err) < 0) {
            for (int g = 0; g < n_group; g++)
                llm_job_release(group[g]);
            continue;
        }
        for (int g = 0; g < n_group; g++) {
            if (n_jobs < FUZZ_OAI_JOBS)
                jobs[n_jobs++] = group[g];
            else
                jobs_extra_wait(group[g]);
        }
    }
    for (int i = 0; i < n_jobs; i++) {
        llm_job_wait(jobs[i]);
        struct llm_job_cursor cur = {0};
        struct llm_job_out o;
        if (llm_job_take(jobs[i], &cur, &o) == 0)
            llm_job_out_free(&o);
        llm_job_release(jobs[i]);
    }
}

static int piece(void *ctx, int32_t tok, char *buf, size_t cap)
{
    (void)ctx;
    int n = snprintf(buf, cap, "<%d>", (int)tok);
    return n < 0 ? -1 : n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = LLM_OAI_CHAT; kind <= LLM_OAI_EMBEDDING; kind++) {
        struct llm_oai_req q;
        char param[64];
        struct inferd_err err = {0};
        if (llm_oai_parse((enum llm_oai_kind)kind, (const char *)data, size, NULL, &q, param, &err) == 0) {
            char *chat_text = NULL;
            if (kind == LLM_OAI_CHAT) {
                for (int f = 0; f < CHAT_TMPL_COUNT; f++) {
                    struct chat_tmpl t = {(enum chat_tmpl_family)f, 0xF};
                    char *out = NULL;
                    if (chat_tmpl_render(&t, q.msgs, q.n_msgs, 1, 1 << 20, &out, &err) == 0) {
                        if (!chat_text)
                            chat_text = out;
                        else
                            free(out);
                    }
                }
            }
            if (!sched)
                sched_start();
            admit(&q, chat_text);
            free(chat_text);
            if (kind != LLM_OAI_EMBEDDING) {
                struct llm_tok_rec rec = {.id = 3, .logprob = -1.0f, .n_top = 1, .top_id = {3}, .top_lp = {-1.0f}};
                struct llm_oai_out o = {.text = (const char *)data, .len = size, .finish_reason = "stop",
                                        .prompt_tokens = 1, .completion_tokens = 1, .toks = &rec, .n_toks = 1};
                json_t *j = llm_oai_response(&q, &o, "id", 1, "m", piece, NULL);
                json_decref(j);
                free(llm_oai_chunk(&q, &o, 0, "id", 1, "m", piece, NULL));
            }
        }
        llm_oai_req_free(&q);
    }
    /* the raw bytes as a template text */
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
        struct chat_tmpl t;
        chat_tmpl_detect(text, &t);
        free(text);
    }
    return 0;
}
