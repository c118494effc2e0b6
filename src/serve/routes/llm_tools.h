/* llm_tools.h — OpenAI tool calling (tools, tool_choice, assistant tool_calls, tool
 * messages) for the chat template families that have it: rendering into the prompt the way
 * the model's own template does, the grammar that forces a call (tool_choice "required" or
 * named) and parsing the generated text back into tool_calls.
 *
 * Supported families: ChatML with Hermes / Qwen 2.5 tool calls (<tools> in the system turn,
 * <tool_call>{"name":..,"arguments":..}</tool_call> in the answer, <tool_response> turns)
 * and Llama 3.1+ (tools in the first user turn, the answer {"name":..,"parameters":..},
 * ipython turns). Other families answer 400 when tools are offered.
 *
 *   struct llm_tools t;
 *   if (llm_tools_parse(root, &tmpl, &t, param, &err) < 0) -> 400 (param names the member)
 *   llm_tools_messages(&t, root, q.msgs, q.n_msgs, &msgs, &n, &err);  render msgs instead
 *   llm_tools_grammar(&t, &grammar, param, &err);                     NULL when not forced
 *   llm_tools_extract(&t, text, len, "call_x", &calls, &content);         calls NULL: no call
 *   llm_tools_free(&t);
 */
#ifndef INFERD_SERVE_LLM_TOOLS_H
#define INFERD_SERVE_LLM_TOOLS_H

#include <jansson.h>
#include <stddef.h>

#include "inferd/err.h"
#include "llm/chat_template.h"

struct llm_grammar;

enum llm_tool_choice { LLM_TOOLS_NONE, LLM_TOOLS_AUTO, LLM_TOOLS_REQUIRED, LLM_TOOLS_NAMED };

#define LLM_TOOLS_MAX 128
#define LLM_TOOL_CALL_OPEN "<tool_call>"

struct llm_tools {
    json_t *tools;              /* borrowed from the request: the function tools, or NULL */
    enum llm_tool_choice choice;
    const char *named;          /* LLM_TOOLS_NAMED: the function's name (borrowed) */
    int named_ix;               /* its index in tools */
    int active;                 /* tools rendered into the prompt and calls parsed from output */
    int llama;                  /* Llama 3.1+ syntax (else Hermes / Qwen 2.5) */
    struct chat_tmpl tmpl;
    struct chat_msg *msgs;      /* owned: the rendered-for-template messages */
    char **owned;               /* owned strings the msgs point into */
    int n_owned;
};

/* Validates tools, tool_choice and the tool parts of messages (assistant tool_calls, tool
 * messages' tool_call_id) of root for a model whose template is tmpl. OUT: *t (free with
 * llm_tools_free, also after a failure). Returns 0 or INFERD_EINVAL with param naming the
 * member ("tools[1].function.name"). */
int llm_tools_parse(const json_t *root, const struct chat_tmpl *tmpl, struct llm_tools *t, char *param,
                    struct inferd_err *err);
/* The messages to render with the template: msgs (n, the parsed request's) with the tools
 * in the system turn, assistant tool_calls and tool results written as the family writes
 * them. OUT: *out (owned by t), *n_out. Returns 0 or INFERD_ENOMEM. */
int llm_tools_messages(struct llm_tools *t, const json_t *root, const struct chat_msg *msgs, int n,
                       const struct chat_msg **out, int *n_out, struct inferd_err *err);
/* The grammar that forces one valid call (tool_choice required or named); *out NULL when
 * the choice does not force one. Returns 0 or an error naming param. */
int llm_tools_grammar(const struct llm_tools *t, struct llm_grammar **out, char *param, struct inferd_err *err);
/* Parses generated text for calls. OUT: *calls, a new array of {id, type, function:{name,
 * arguments (a JSON string)}} (NULL when the text holds no well-formed call), *content
 * (malloc'd text before the first call, trimmed; NULL when empty). ids are
 * id_prefix + "_" + index. Returns 0 or INFERD_ENOMEM. */
int llm_tools_extract(const struct llm_tools *t, const char *text, size_t len, const char *id_prefix, json_t **calls,
                      char **content);
/* Stream states: what the text held so far is. */
enum { LLM_TOOLS_STREAM_UNSURE = 0, LLM_TOOLS_STREAM_CALL, LLM_TOOLS_STREAM_TEXT };
/* How many leading bytes of the held text (len) can be sent as content now; *state
 * (LLM_TOOLS_STREAM_*, 0 at first) moves to CALL when a call began (the rest is held until
 * the end) or, for Llama 3.1, TEXT when the answer is not a call. */
size_t llm_tools_sendable(const struct llm_tools *t, const char *text, size_t len, int *state);
/* Length of the longest suffix of text[0..len) that is a proper prefix of
 * LLM_TOOL_CALL_OPEN (text a stream must hold back until it knows). */
size_t llm_tools_partial_open(const char *text, size_t len);
void llm_tools_free(struct llm_tools *t);

#endif
