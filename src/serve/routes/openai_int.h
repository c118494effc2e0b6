/* openai_int.h — what the files of the OpenAI API share (openai.c: the call machinery,
 * completions, chat, embeddings; openai_choices.c: n > 1, best_of and echo; openai_models.c:
 * /v1/models, /tokenize, /detokenize). */
#ifndef INFERD_SERVE_ROUTES_OPENAI_INT_H
#define INFERD_SERVE_ROUTES_OPENAI_INT_H

#include "serve/routes/openai_wire.h"
#include "serve/serve_int.h"

#define OAI_MAX_PROMPT_TOKENS 65536 /* tokens of one prompt or input */

#define OAI_STREAM_UNREAD_MAX (4u << 20)

struct model_version;
struct llm_call;
struct llm_tool_stream;
struct llm_job;
struct llm_job_out;
struct llm_model;

/* Answers an INFERD_E* code in OpenAI's status, type and code; param names the field. */
void oai_error_from(struct http_req *r, int code, const char *param, const char *msg);
/* The front's 401 (a missing or unknown key) in OpenAI's error shape. */
void oai_auth_error(struct http_req *r, const char *msg);
/* Takes the named (or default) LLM and labels the request. Returns < 0 after answering. */
int oai_take_model(struct http_req *r, struct serve_server *s, const char *name, struct model_version **mv,
                   struct llm_model **lm);

/* Shared by the one-choice path (openai.c) and the several-choices path (openai_choices.c). */
struct llm_oai_out oai_out_of(const struct llm_job_out *jo);          /* a job's counters for the wire */
int oai_piece_cb(void *ctx, int32_t tok, char *buf, size_t cap);       /* ctx: the llm_model */
void oai_stream_publish(struct llm_job *j, void *arg);                 /* wakes a streaming call */
char *oai_error_event(const char *msg);                                /* an SSE error event */
ssize_t oai_stream_read(void *ctx, char *buf, size_t cap);             /* http_resp_stream's pull */
int oai_last_job(struct llm_call *c);                                  /* 1 for the call's last job */
/* n > 1, best_of > 1 or echo: best_of jobs of one prompt (takes prompt); the stream of them. */
int oai_submit_choices(struct llm_call *c, int32_t *prompt, int n_prompt);
int oai_produce_choices(struct llm_call *c);
/* The stream of one choice of a chat with tools: what the job handed over (jo) in ts's
 * choice. Text is sent until a call may open (llm_tools_sendable: a piece of "<tool_call>"
 * at the end is held back). From a call on, the text is held and read by llm_tools_scan:
 * each call is sent as OpenAI streams one, a delta with its index, id, type, name and empty
 * arguments when its arguments open, then deltas of the arguments' bytes as they come; at
 * the end the finish chunk ("tool_calls"; "length", "timeout" or "cancelled" when the
 * generation ended inside a call, its arguments cut). Calls the scan cannot follow are sent
 * whole at the end, or as content when they do not parse as calls. Returns 0 or -1. */
int oai_produce_tools(struct llm_call *c, struct llm_tool_stream *ts, const struct llm_job_out *jo);
/* A chat choice (index ix, its message built from text) with tools: the calls in text as
 * message.tool_calls, finish_reason "tool_calls". Returns 0 or INFERD_ENOMEM. */
int oai_tools_choice(struct llm_call *c, json_t *choice, const char *text, size_t len, int ix);

#endif
