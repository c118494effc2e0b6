/* eval.h — how a channel's answers are judged, shared by the gateway's probes and
 * `inferd eval`: the canary request sent to a model and the comparison of two answers.
 *
 * A canary is a fixed, deterministic request. For a tensor model (v2) it is built from the
 * model's metadata (GET /v2/models/{m}): every input filled with a fixed pattern of its
 * shape and datatype (-1 dims become 1). For an LLM it is a chat completion with
 * temperature 0, seed 1 and max_tokens 8. Two channels serving "the same model" must give
 * the same answer to it (within a tolerance for floats); the expected answer is either
 * configured or the one most channels agree on.
 *
 *   json_t *req = gw_canary_v2_request(meta, &err);       // POST /v2/models/m/infer
 *   char why[256];
 *   if (!gw_answer_equal(expected, got, 1e-3, why, sizeof why)) mark_bad(why);
 */
#ifndef INFERD_GATEWAY_EVAL_H
#define INFERD_GATEWAY_EVAL_H

#include "inferd/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define GW_CANARY_MAX_ELEMENTS 65536 /* a model whose input is larger gets no canary */

/* The v2 infer request for a model's metadata object (borrowed). Returns a new object or
 * NULL with err (no inputs, a BYTES input, an input over GW_CANARY_MAX_ELEMENTS). */
json_t *gw_canary_v2_request(const json_t *meta, struct inferd_err *err);
/* The OpenAI chat request for an LLM called model. Returns a new object. */
json_t *gw_canary_chat_request(const char *model);
/* The part of an answer that must match: v2 -> its "outputs" (name, shape, data);
 * chat -> choices[0].message.content. Returns a new reference or NULL when the answer has
 * none of these (err says what is missing). */
json_t *gw_answer_key(const json_t *answer, struct inferd_err *err);
/* Whether two answer keys match: same structure, strings equal, numbers within
 * tol relative (or tol absolute near zero). On a mismatch why says where. */
bool gw_answer_equal(const json_t *a, const json_t *b, double tol, char *why, size_t why_cap);

#endif
