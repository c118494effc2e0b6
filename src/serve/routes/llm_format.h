/* llm_format.h — the output constraint of a generation request: OpenAI's response_format
 * ({"type":"json_object"} or {"type":"json_schema","json_schema":{"schema":...}}), and
 * llama.cpp's own members `grammar` (GBNF text) and `json_schema` (a schema), compiled
 * into one grammar (llm/grammar.h) that the scheduler enforces token by token. Ollama's
 * `format` is translated into response_format before it gets here.
 *
 *   struct llm_grammar *g = NULL;  char param[64];
 *   if (llm_format_grammar(root, &g, param, &err) < 0) ... 400 naming param, err.msg
 *   jp.grammar = g;  ...  llm_grammar_unref(g);
 */
#ifndef INFERD_SERVE_LLM_FORMAT_H
#define INFERD_SERVE_LLM_FORMAT_H

#include <jansson.h>

#include "inferd/err.h"

struct llm_grammar;

/* Reads root's constraint members (root borrowed). OUT: *out, a grammar reference or NULL
 * when the request has none; param (cap 64) names the member on error. Returns 0, or
 * INFERD_EINVAL / INFERD_EUNSUPPORTED / INFERD_ENOMEM with err saying where and why. */
int llm_format_grammar(const json_t *root, struct llm_grammar **out, char *param, struct inferd_err *err);

#endif
