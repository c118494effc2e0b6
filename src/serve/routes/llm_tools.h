/* llm_tools.h — OpenAI tool calling (tools, tool_choice, assistant tool_calls, tool
 * messages) for the chat template families that have it: rendering into the prompt the way
 * the model's own template does, the grammar that forces a call (tool_choice "required" or
 * named) and parsing the generated text back into tool_calls.
 *
 * Supported families: ChatML with Hermes / Qwen 2.5 tool calls (<tools> in the system turn,
 * <tool_call>{"name":..,"arguments":..}</tool_call> in the answer, <tool_response> turns),
 * Llama 3.1+ (tools in the first user turn, the answer {"name":..,"parameters":..},
 * ipython turns) and Mistral v3 / v3-tekken (and v1 when its template has
 * [AVAILABLE_TOOLS]): [AVAILABLE_TOOLS] [..][/AVAILABLE_TOOLS] before the last user turn,
 * the answer [TOOL_CALLS] [{"name":..,"arguments":..}, ..], [TOOL_RESULTS] {..}[/TOOL_RESULTS]
 * turns. Other families answer 400 when tools are offered.
 *
 * Streams (llm_tools_scan): a call whose text reads {"name": "NAME", "arguments": {..
 * is sent as it is generated: the name when the arguments open, then the arguments' bytes.
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
/* How calls are written (the template family's syntax). */
enum llm_tools_syntax { LLM_TOOLS_HERMES = 0, LLM_TOOLS_LLAMA, LLM_TOOLS_MISTRAL };

#define LLM_TOOLS_MAX 128
#define LLM_TOOL_CALL_OPEN "<tool_call>"       /* Hermes: a call opens */
#define LLM_TOOL_CALLS_MISTRAL "[TOOL_CALLS]"  /* Mistral: the calls open */

struct llm_tools {
    json_t *tools;              /* borrowed from the request: the function tools, or NULL */
    enum llm_tool_choice choice;
    const char *named;          /* LLM_TOOLS_NAMED: the function's name (borrowed) */
    int named_ix;               /* its index in tools */
    int active;                 /* tools rendered into the prompt and calls parsed from output */
    enum llm_tools_syntax syntax; /* how the model writes calls */
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
 * (LLM_TOOLS_STREAM_*, 0 at first) moves to CALL when a call began (the rest goes to
 * llm_tools_scan) or, for Llama 3.1, TEXT when the answer is not a call. */
size_t llm_tools_sendable(const struct llm_tools *t, const char *text, size_t len, int *state);
/* Length of the longest suffix of text[0..len) that is a proper prefix of the family's
 * call opening ("<tool_call>", "[TOOL_CALLS]"): text a stream must hold back until it knows. */
size_t llm_tools_partial_open(const struct llm_tools *t, const char *text, size_t len);

/* One call as far as generated text shows it (offsets into the scanned text). */
struct llm_tools_part {
    size_t name_off, name_len; /* the function's name (a good name: no escapes) */
    size_t args_off, args_len; /* the arguments object's bytes so far, never ending inside a
                                * UTF-8 character */
    int args_done;             /* the object is closed: args_len is all of it */
};
/* Reads text (held from where the calls open: "<tool_call>", "[TOOL_CALLS]", or Llama's
 * "{") for calls written name first with an object of arguments. OUT: parts[0..return) the
 * calls whose arguments have opened (at most max); *bad = 1 when text stops following that
 * shape (later text is not read; the stream then holds it). Never fails. */
int llm_tools_scan(const struct llm_tools *t, const char *text, size_t len, struct llm_tools_part *parts, int max,
                   int *bad);
void llm_tools_free(struct llm_tools *t);

#endif
