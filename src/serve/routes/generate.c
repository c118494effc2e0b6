/* generate.c — Triton's generate extension for GGUF models, so KServe/Triton clients reach
 * the LLMs too: POST /v2/models/{m}[/versions/{v}]/generate answers one JSON object,
 * .../generate_stream the same objects as Server-Sent Events, one per piece of text.
 *
 *   request                                        runs as (OpenAI completion fields)
 *   {"text_input": "...",                          prompt (raw text: no chat template)
 *    "id": "..." (echoed),
 *    "parameters": {"max_tokens", "temperature", "top_p", "top_k", "min_p", "seed",
 *                   "stop" | "stop_words", "presence_penalty", "frequency_penalty",
 *                   "repetition_penalty", "stream" (the URL decides; ignored)}}
 *   The sampling names are also accepted at the top level (TensorRT-LLM's style); any
 *   other name is a 400 naming it.
 *
 *   answer  {"model_name", "model_version", "text_output", "finish_reason", "id"?}
 *   stream  data: {"model_name", "model_version", "text_output": piece}  ...; the last
 *           event carries "finish_reason"; a failure after the first byte is an event
 *           {"error": "..."} (the status was 200 by then, as Triton does).
 * Errors before the answer are Triton's {"error": "..."} with 400 / 404 / 503.
 */
#include "serve/routes/infer_call.h"
#include "serve/routes/llm_call.h"
#include "serve/serve_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sampling names a generate request may carry, and the completion field each becomes. */
static const struct {
    const char *name, *as;
} known_params[] = {
    {"max_tokens", "max_tokens"},
    {"temperature", "temperature"},
    {"top_p", "top_p"},
    {"top_k", "top_k"},
    {"min_p", "min_p"},
    {"seed", "seed"},
    {"stop", "stop"},
    {"stop_words", "stop"},
    {"presence_penalty", "presence_penalty"},
    {"frequency_penalty", "frequency_penalty"},
    {"repetition_penalty", "repeat_penalty"},
};

static void gen_error(struct http_req *r, int code, const char *param, const char *msg)
{
    char full[INFERD_ERR_MSG_MAX];
    if (param && *param && !strstr(msg, param)) {
        snprintf(full, sizeof full, "%s: %s", param, msg);
        msg = full;
    }
    serve_error(r, 0, code, msg);
}

/* Copies in's sampling fields into o. Returns 0, or -1 after answering 400 (unknown name,
 * "stream" of the wrong type). where: "" for the top level, "parameters." inside. */
static int take_params(struct http_req *r, json_t *o, json_t *in, const char *where, int top)
{
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v) {
        if (top && (!strcmp(key, "text_input") || !strcmp(key, "id") || !strcmp(key, "parameters")))
            continue;
        if (!strcmp(key, "stream")) { /* the URL says whether to stream */
            if (!json_is_boolean(v) && !json_is_null(v)) {
                char msg[128];
                snprintf(msg, sizeof msg, "%sstream: must be a boolean", where);
                serve_error(r, 0, INFERD_EINVAL, msg);
                return -1;
            }
            continue;
        }
        size_t i = 0, n = sizeof known_params / sizeof known_params[0];
        while (i < n && strcmp(key, known_params[i].name) != 0)
            i++;
        if (i == n) {
            char msg[INFERD_ERR_MSG_MAX];
            snprintf(msg, sizeof msg,
                     "%s%.100s: not a parameter of generate (known: text_input, id, parameters.{max_tokens, "
                     "temperature, top_p, top_k, min_p, seed, stop, stop_words, presence_penalty, "
                     "frequency_penalty, repetition_penalty})",
                     where, key);
            serve_error(r, 0, INFERD_EINVAL, msg);
            return -1;
        }
        if (!json_is_null(v))
            json_object_set(o, known_params[i].as, v);
    }
    return 0;
}

/* The completion request of a generate body. Returns a new object, or NULL after answering. */
static json_t *translate(struct http_req *r, json_t *in, const char *model, int stream)
{
    if (!json_is_object(in)) {
        serve_error(r, 0, INFERD_EINVAL, "request body: not a JSON object");
        return NULL;
    }
    json_t *text = json_object_get(in, "text_input");
    if (!json_is_string(text)) {
        serve_error(r, 0, INFERD_EINVAL,
                    text ? "text_input: must be a string" : "text_input is required (the prompt, as text)");
        return NULL;
    }
    json_t *id = json_object_get(in, "id");
    if (id && !json_is_string(id)) {
        serve_error(r, 0, INFERD_EINVAL, "id: must be a string");
        return NULL;
    }
    json_t *params = json_object_get(in, "parameters");
    if (params && !json_is_object(params) && !json_is_null(params)) {
        serve_error(r, 0, INFERD_EINVAL, "parameters: must be an object");
        return NULL;
    }
    json_t *o = json_pack("{s:s,s:O,s:b}", "model", model, "prompt", text, "stream", stream);
    if (o && id)
        json_object_set(o, "id", id);
    if (!o) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return NULL;
    }
    if (take_params(r, o, in, "", 1) < 0 || (json_is_object(params) && take_params(r, o, params, "parameters.", 0) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---------------- the wire ---------------- */

/* One answer object: text, and when done the finish reason (and the request's id). */
static json_t *answer(struct llm_call *c, const char *text, size_t len, const char *finish)
{
    char *clean = llm_utf8_sanitize(text ? text : "", text ? len : 0, NULL);
    json_t *o = clean ? json_pack("{s:s,s:s,s:s}", "model_name", c->mv->name, "model_version", c->mv->version_str,
                                  "text_output", clean)
                      : NULL;
    free(clean);
    /* the request's "id" rides in the translated body (the OpenAI parser ignores it) */
    json_t *id = c->q.root ? json_object_get(c->q.root, "id") : NULL;
    if (o && json_is_string(id))
        json_object_set(o, "id", id);
    if (o && finish)
        json_object_set_new(o, "finish_reason", json_string(finish));
    return o;
}

static json_t *gen_response(struct llm_call *c, const struct llm_job_out *jo)
{
    return answer(c, jo->text, jo->len, jo->finish_reason);
}

static int gen_produce(struct llm_call *c)
{
    struct llm_job_out jo;
    if (llm_job_take(c->jobs[0], &c->cur, &jo) < 0)
        return -1;
    int rc = 0;
    int failed = jo.done && strcmp(jo.finish_reason, "error") == 0;
    if (jo.len || (jo.done && !failed))
        rc = llm_call_pend(c, llm_oai_sse(answer(c, jo.text, jo.len, jo.done ? jo.finish_reason : NULL)));
    if (rc == 0 && jo.done) {
        c->done_sent = 1;
        if (failed)
            rc = llm_call_pend(c, llm_oai_sse(json_pack("{s:s}", "error", jo.err_msg)));
    }
    llm_call_set_timing(c, &jo);
    llm_job_out_free(&jo);
    return rc;
}

static const struct llm_wire gen_wire = {
    .stream_type = "text/event-stream; charset=utf-8",
    .error = gen_error,
    .response = gen_response,
    .produce = gen_produce,
};

/* ---------------- routes ---------------- */

static int handle(struct http_req *r, void *ctx, int stream)
{
    struct serve_server *s = ctx;
    const char *name = http_req_capture(r, "m");
    const char *vs = http_req_capture(r, "v");
    http_req_set_model(r, name, vs ? vs : "");
    if (vs) {
        /* generation runs on the newest loaded version: another one is not served here */
        int64_t want;
        struct inferd_err err = {0};
        struct model_version *mv;
        if (serve_parse_version(vs, &want, &err) < 0) {
            serve_error(r, 0, INFERD_EINVAL, err.msg);
            return HTTP_DONE;
        }
        if (repo_acquire(s->repo, name, 0, &mv, &err) < 0) {
            serve_error(r, 0, INFERD_ENOTFOUND, err.msg);
            return HTTP_DONE;
        }
        int64_t newest = mv->version;
        repo_release(mv);
        if (want != newest) {
            char msg[INFERD_ERR_MSG_MAX];
            snprintf(msg, sizeof msg,
                     "model '%.200s' version %lld: generate serves the newest loaded version (%lld) only", name,
                     (long long)want, (long long)newest);
            serve_error(r, 0, INFERD_ENOTFOUND, msg);
            return HTTP_DONE;
        }
    }
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    json_t *in = json_loadb(body, len, 0, &je);
    if (!in) {
        char msg[INFERD_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "invalid JSON at line %d column %d: %.200s", je.line, je.column, je.text);
        serve_error(r, 0, INFERD_EINVAL, msg);
        return HTTP_DONE;
    }
    json_t *root = translate(r, in, name, stream);
    json_decref(in);
    if (!root)
        return HTTP_DONE;
    struct llm_call *c = llm_call_open(r, s, LLM_OAI_COMPLETION, "gen-", &gen_wire, root);
    if (!c)
        return HTTP_DONE;
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if (llm_call_prompt(c, &prompt, &n_prompt) < 0)
        return HTTP_DONE;
    return llm_call_submit(c, prompt, n_prompt);
}

static int h_generate(struct http_req *r, void *ctx) { return handle(r, ctx, 0); }
static int h_generate_stream(struct http_req *r, void *ctx) { return handle(r, ctx, 1); }

const struct http_route routes_generate[] = {
    {HTTP_POST, "/v2/models/{m}/generate", HTTP_AUTH_INFER, h_generate, "v2_generate", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/generate", HTTP_AUTH_INFER, h_generate, "v2_generate", NULL},
    {HTTP_POST, "/v2/models/{m}/generate_stream", HTTP_AUTH_INFER, h_generate_stream, "v2_generate_stream", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/generate_stream", HTTP_AUTH_INFER, h_generate_stream,
     "v2_generate_stream", NULL},
};
const size_t routes_generate_count = sizeof routes_generate / sizeof routes_generate[0];
