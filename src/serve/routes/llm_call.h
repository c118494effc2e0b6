/* llm_call.h — one LLM request from its parsed body to the last byte, shared by the
 * protocols that serve GGUF models (OpenAI in openai.c, Ollama in ollama.c; implemented in
 * openai.c). A protocol supplies a wire (how errors, answers, stream chunks and embeddings
 * look); the call does the rest: the model by capability, the deadline, the chat template,
 * the scheduler job(s), streaming through http_resp_stream / http_req_wake, hang-ups.
 *
 *   json_t *root = ...;  (OpenAI-shaped request: model, messages|prompt|input, sampling)
 *   struct llm_call *c = llm_call_open(r, s, LLM_OAI_CHAT, "chat-", &my_wire, root);
 *   if (!c) return HTTP_DONE;            (the error is answered; c is freed with r)
 *   if (llm_call_prompt(c, &toks, &n) < 0) return HTTP_DONE;
 *   return llm_call_submit(c, toks, n);  (HTTP_ASYNC or HTTP_DONE)
 */
#ifndef INFERD_SERVE_ROUTES_LLM_CALL_H
#define INFERD_SERVE_ROUTES_LLM_CALL_H

#include "serve/routes/llm_tools.h"
#include "serve/routes/openai_wire.h"
#include "serve/serve_int.h"

#include "base/buf.h"

#include <stdatomic.h>
#include <stdint.h>

struct llm_call;
struct model_version;

/* A tool-calling chat stream of one choice (MHD thread only). */
struct llm_tool_stream {
    struct buf hold;                /* generated text not yet sent (may open a call) */
    int state;                      /* LLM_TOOLS_STREAM_* of the held text */
    int opened;                     /* calls whose id and name were sent */
    int cur;                        /* the call whose arguments are being sent */
    size_t args_sent;               /* bytes of cur's arguments sent */
    int index;                      /* the choice */
};
struct llm_model;

/* How one protocol speaks. Every callback runs with the call alive; none may finish it. */
struct llm_wire {
    const char *stream_type; /* Content-Type of a streamed answer */
    /* Answers an error for an INFERD_E* code; param names the field (may be NULL). */
    void (*error)(struct http_req *r, int code, const char *param, const char *msg);
    /* Optional: answers "no such model" for name (else error() with INFERD_ENOTFOUND). */
    void (*not_found)(struct http_req *r, const char *name);
    /* The whole answer of a finished, successful generation. Returns a new reference or
     * NULL (out of memory). */
    json_t *(*response)(struct llm_call *c, const struct llm_job_out *jo);
    /* Streams: turns what jobs[0] published since c->cur into bytes via llm_call_pend, never
     * waiting; sets c->done_sent after the last bytes. Returns 0, or -1 to end the stream. */
    int (*produce)(struct llm_call *c);
    /* The embeddings answer: embs[i] has n_embd floats. Returns a new reference or NULL. */
    json_t *(*embeddings)(struct llm_call *c, const float *const *embs, int n, int n_embd, int prompt_tokens);
};

/* One request from parse to the last byte; freed when the HTTP request ends. */
struct llm_call {
    struct http_req *http;
    struct serve_server *srv;
    const struct llm_wire *w;       /* static */
    struct model_version *mv;       /* reference, released at the end */
    struct llm_model *lm;           /* borrowed from mv */
    struct llm_oai_req q;           /* owned */
    struct llm_grammar *grammar;    /* owned reference: the output constraint, or NULL */
    struct llm_job **jobs;          /* owned references; one, or one per embeddings input */
    int n_jobs;
    atomic_int jobs_left;           /* embeddings: the last on_done answers */
    char id[64];
    long long created;              /* Unix seconds */
    uint64_t start_ns;              /* clock_now_ns() at open, for durations */
    uint64_t deadline_ns;           /* from X-Request-Timeout-Ms; 0 = none */
    int variant;                    /* the protocol's own (Ollama: generate vs chat) */
    /* streaming state (MHD thread only) */
    struct llm_job_cursor cur;      /* what the stream has taken from jobs[0] */
    int role_sent, final_sent, usage_sent, done_sent;
    struct buf pending;             /* stream bytes not yet handed to MHD (capped) */
    size_t pending_off;
    /* OpenAI's n > 1 / best_of / echo: jobs[i] is choice i (best_of: candidate i) */
    struct llm_job_cursor *curs;    /* owned, n_jobs: what a stream took from each job */
    unsigned char *ended;           /* owned, n_jobs: the stream sent job i's finish chunk */
    int n_ended;
    char *echo;                     /* owned: the prompt text echoed before each choice, or NULL */
    size_t echo_len;
    /* tool calling (chat; OpenAI and Ollama) */
    struct llm_tools tools;         /* owned */
    struct llm_tool_stream tool;    /* stream of one choice */
    struct llm_tool_stream *tool_n; /* owned, n_jobs: a stream of several choices (each its own) */
};

/* Opens the call of a generation or embeddings route: the call (freed with the request),
 * the deadline, the model root names (or the first one that can), one parse of root
 * starting from that model's defaults. root: an OpenAI-shaped request body, taken whatever
 * happens; NULL = read the request body. Returns the call, or NULL after answering. */
struct llm_call *llm_call_open(struct http_req *r, struct serve_server *s, enum llm_oai_kind kind,
                               const char *prefix, const struct llm_wire *w, json_t *root);
/* The prompt tokens of a chat (rendered by the model's template) or completion. OUT:
 * *prompt (malloc'd), *n. Returns 0, or -1 after answering the error. */
int llm_call_prompt(struct llm_call *c, int32_t **prompt, int *n);
/* Queues the generation of prompt (takes it) and answers when it ends (or streams with
 * w->produce when c->q.stream). Returns HTTP_ASYNC or HTTP_DONE. */
int llm_call_submit(struct llm_call *c, int32_t *prompt, int n_prompt);
/* Queues one embedding job per input and answers with w->embeddings. Returns HTTP_ASYNC or
 * HTTP_DONE. */
int llm_call_embed(struct llm_call *c);
/* Appends stream bytes (takes ev; NULL = out of memory). Returns 0 or -1. */
int llm_call_pend(struct llm_call *c, char *ev);
/* Access-log facts of what a job handed over. */
void llm_call_set_timing(struct llm_call *c, const struct llm_job_out *jo);

/* Finds the named (or, with no name, the first) model with capability cap. OUT: *mv (a
 * reference) and *lm (borrowed from it). Returns 0, INFERD_ENOTFOUND or INFERD_EUNSUPPORTED
 * (the model cannot do it: 400) with err's message; answers nothing. */
int llm_call_find_model(struct serve_server *s, const char *name, unsigned cap, struct model_version **mv,
                        struct llm_model **lm, struct inferd_err *err);

#endif
