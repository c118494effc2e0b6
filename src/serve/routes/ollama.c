/* ollama.c — Ollama's API for GGUF models on the serving port: /api/chat and /api/generate
 * (NDJSON streams by default, one object with "stream": false), /api/embed, /api/tags,
 * /api/show, /api/ps and /api/version. Requests are translated into the OpenAI request
 * shape and run by the call machinery of llm_call.h; only the wire differs. Errors are
 * Ollama's {"error": "..."}.
 *
 *   Ollama request field          OpenAI request field (llm_oai_parse_root)
 *   ---------------------------   -----------------------------------------
 *   model ("name" or "name:latest")  model ("name")
 *   messages[] {role, content}    messages[]
 *   prompt, system, raw           raw: prompt; else messages [system?, user: prompt]
 *   input (string | [string])     input
 *   stream (default true)         stream
 *   options.num_predict (> 0)     max_tokens (<= 0: until the context is full)
 *   options.temperature, top_p, top_k, min_p, seed, stop, repeat_penalty,
 *   repeat_last_n, presence_penalty, frequency_penalty   the same names
 *   tools[] {type, function}      tools (llm_tools.h)
 *   tool_choice (not Ollama's)    tool_choice: "auto" by default; "none", "required" or
 *                                 {"type": "function", "function": {"name"}} force as OpenAI's
 *   messages[].tool_calls[] {function: {name, arguments: {..}}}   the same, with ids
 *   messages[] {role: "tool", content, tool_name?}   tool_call_id: the id given to the
 *                                 call it answers (by tool_name, else in order)
 *
 * An answer's calls are message.tool_calls [{id, function: {index, name, arguments: {..}}}]
 * (arguments an object, as Ollama writes them); a stream sends them in one line when the
 * generation ends, after the content that came before them.
 */
#include "serve/repo/backend_gguf.h"
#include "serve/routes/infer_call.h"
#include "serve/routes/llm_call.h"
#include "serve/serve_int.h"

#include "base/clock.h"
#include "base/hash.h"
#include "inferd/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { OL_CHAT, OL_GENERATE, OL_EMBED };

#define OL_TAG ":latest" /* the one tag: every name lists as name:latest */

static void ol_error(struct http_req *r, int code, const char *param, const char *msg)
{
    (void)param;
    serve_error(r, 0, code, msg);
}

static void ol_not_found(struct http_req *r, const char *name)
{
    char msg[INFERD_ERR_MSG_MAX];
    snprintf(msg, sizeof msg, "model \"%.200s\" not found, try pulling it first", name);
    serve_error(r, 0, INFERD_ENOTFOUND, msg);
}

/* The repository name of an Ollama model name: "name:latest" is "name". OUT: out (cap). */
static void repo_name_of(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name), t = strlen(OL_TAG);
    if (n > t && strcmp(name + n - t, OL_TAG) == 0)
        n -= t;
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), name);
}

/* The request body as a JSON object with a non-empty string "model". OUT: *root (owned),
 * name (the repository name, cap REPO_NAME_MAX). Returns 0, or -1 after answering 400. */
static int ol_load(struct http_req *r, json_t **root, char name[REPO_NAME_MAX])
{
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    *root = json_loadb(body, len, 0, &je);
    char msg[INFERD_ERR_MSG_MAX];
    if (!*root) {
        snprintf(msg, sizeof msg, "invalid JSON at line %d column %d: %.200s", je.line, je.column, je.text);
        goto fail;
    }
    const char *model = json_string_value(json_object_get(*root, "model"));
    if (!json_is_object(*root) || !model || !*model) {
        snprintf(msg, sizeof msg, json_is_object(*root) ? "model is required" : "request body: not a JSON object");
        goto fail;
    }
    repo_name_of(model, name, REPO_NAME_MAX);
    http_req_set_model(r, name, "");
    return 0;
fail:
    json_decref(*root);
    *root = NULL;
    serve_error(r, 0, INFERD_EINVAL, msg);
    return -1;
}

/* Copies root[key] into o[key] when present (not null). */
static void copy_field(json_t *o, const char *okey, json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_null(v))
        json_object_set(o, okey, v);
}

/* A copy of Ollama chat messages with OpenAI's call ids: assistant tool_calls get
 * "call_<message>_<k>" (and type "function") where they have none; a tool message without
 * tool_call_id gets the id of the last assistant turn's next unanswered call named its
 * tool_name, else of that turn's next call. Returns a new array, or NULL (out of memory). */
static json_t *with_call_ids(const json_t *msgs)
{
    json_t *out = json_deep_copy(msgs), *m, *calls = NULL;
    size_t i, next = 0;
    json_array_foreach(out, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *tc = json_object_get(m, "tool_calls"), *call;
        size_t k;
        if (role && strcmp(role, "assistant") == 0 && json_is_array(tc)) {
            calls = tc;
            next = 0;
            json_array_foreach(tc, k, call) {
                char id[48];
                snprintf(id, sizeof id, "call_%zu_%zu", i, k);
                if (json_is_object(call) && !json_object_get(call, "id"))
                    json_object_set_new(call, "id", json_string(id));
                if (json_is_object(call) && !json_object_get(call, "type"))
                    json_object_set_new(call, "type", json_string("function"));
            }
        } else if (role && strcmp(role, "tool") == 0 && json_is_object(m) && !json_object_get(m, "tool_call_id")) {
            const char *name = json_string_value(json_object_get(m, "tool_name"));
            const json_t *match = NULL;
            size_t at = next; /* the next unanswered call of that name, else the next one */
            for (size_t x = 0; name && !match && x < json_array_size(calls); x++) {
                size_t y = (next + x) % json_array_size(calls);
                const char *n = json_string_value(json_object_get(json_object_get(json_array_get(calls, y),
                                                                                  "function"), "name"));
                if (n && strcmp(n, name) == 0) {
                    match = json_array_get(calls, y);
                    at = y;
                }
            }
            if (!match)
                match = json_array_get(calls, at);
            next = at + 1;
            const char *id = json_string_value(json_object_get(match, "id"));
            char fallback[48];
            snprintf(fallback, sizeof fallback, "call_%zu", i);
            json_object_set_new(m, "tool_call_id", json_string(id ? id : fallback));
        }
    }
    return out;
}

/* The OpenAI-shaped request of an Ollama chat or generate body (see the table above).
 * Returns a new object, or NULL after answering 400 (a field inferd does not support). */
static json_t *translate(struct http_req *r, json_t *in, const char *name, int variant, int *raw)
{
    json_t *fmt = json_object_get(in, "format"), *tools = json_object_get(in, "tools");
    if (tools && !json_is_null(tools) && variant != OL_CHAT) {
        serve_error(r, 0, INFERD_EINVAL, "tools: only /api/chat takes tools");
        return NULL;
    }
    if (fmt && !json_is_null(fmt) && !(json_is_string(fmt) && json_string_length(fmt) == 0) &&
        !(json_is_string(fmt) && strcmp(json_string_value(fmt), "json") == 0) && !json_is_object(fmt)) {
        serve_error(r, 0, INFERD_EINVAL, "format: must be \"json\" or a JSON schema object");
        return NULL;
    }
    json_t *o = json_object(), *opts = json_object_get(in, "options");
    if (!o)
        goto oom;
    /* format "json" / a schema: the same grammar as OpenAI's response_format */
    if (json_is_string(fmt) && json_string_length(fmt) > 0)
        json_object_set_new(o, "response_format", json_pack("{s:s}", "type", "json_object"));
    else if (json_is_object(fmt))
        json_object_set_new(o, "response_format",
                            json_pack("{s:s,s:{s:s,s:O}}", "type", "json_schema", "json_schema", "name", "format",
                                      "schema", fmt));
    json_object_set_new(o, "model", json_string(name));
    json_t *st = json_object_get(in, "stream");
    json_object_set_new(o, "stream", json_boolean(!st || json_is_null(st) || !json_is_false(st)));
    if (variant == OL_CHAT) {
        json_t *msgs = json_object_get(in, "messages");
        if (json_is_array(msgs))
            json_object_set_new(o, "messages", with_call_ids(msgs));
        else
            copy_field(o, "messages", in, "messages");
        copy_field(o, "tools", in, "tools");
        copy_field(o, "tool_choice", in, "tool_choice"); /* inferd's extension: OpenAI's values */
    } else if (variant == OL_GENERATE) {
        *raw = json_is_true(json_object_get(in, "raw"));
        if (*raw) {
            copy_field(o, "prompt", in, "prompt");
        } else {
            json_t *msgs = json_array();
            const char *sys = json_string_value(json_object_get(in, "system"));
            if (sys && *sys)
                json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", sys));
            json_t *p = json_object_get(in, "prompt");
            json_array_append_new(msgs, json_pack("{s:s,s:O}", "role", "user", "content", p));
            json_object_set_new(o, "messages", msgs);
        }
    } else {
        copy_field(o, "input", in, "input");
    }
    if (json_is_object(opts)) {
        static const char *const same[] = {"temperature", "top_p", "top_k", "min_p", "seed", "stop",
                                           "repeat_penalty", "repeat_last_n", "presence_penalty",
                                           "frequency_penalty", "priority"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
            copy_field(o, same[i], opts, same[i]);
        json_t *np = json_object_get(opts, "num_predict");
        if (np && !json_is_integer(np) && !json_is_null(np)) {
            json_decref(o);
            serve_error(r, 0, INFERD_EINVAL, "options.num_predict: must be an integer");
            return NULL;
        }
        if (json_integer_value(np) > 0) /* -1 (infinite) and -2 (fill the context): no cap */
            json_object_set(o, "max_tokens", np);
    } else if (opts && !json_is_null(opts)) {
        json_decref(o);
        serve_error(r, 0, INFERD_EINVAL, "options: must be an object");
        return NULL;
    }
    return o;
oom:
    serve_error(r, 0, INFERD_ENOMEM, "out of memory");
    return NULL;
}

/* ---------------- the wire ---------------- */

/* {"model","created_at"} of every answer object. */
static json_t *head(const char *model)
{
    char at[40];
    clock_rfc3339(clock_wall_ms(), at, sizeof at);
    return json_pack("{s:s,s:s}", "model", model, "created_at", at);
}

/* One chat or generate object: text as "message" or "response"; when the job is done,
 * "done": true with the reason and Ollama's counters (durations in nanoseconds). */
static json_t *answer(struct llm_call *c, const struct llm_job_out *jo, const char *text, size_t len)
{
    json_t *o = head(c->mv->name);
    char *clean = llm_utf8_sanitize(text ? text : "", text ? len : 0, NULL);
    if (!o || !clean) {
        json_decref(o);
        free(clean);
        return NULL;
    }
    if (c->variant == OL_GENERATE)
        json_object_set_new(o, "response", json_string(clean));
    else
        json_object_set_new(o, "message", json_pack("{s:s,s:s}", "role", "assistant", "content", clean));
    free(clean);
    json_object_set_new(o, "done", json_boolean(jo->done));
    if (!jo->done)
        return o;
    double prompt_ms = jo->ttft_ms > jo->queue_ms ? jo->ttft_ms - jo->queue_ms : 0;
    double eval_s = jo->tokens_per_s > 0 ? jo->completion_tokens / jo->tokens_per_s : 0;
    json_object_set_new(o, "done_reason", json_string(jo->finish_reason));
    json_object_set_new(o, "total_duration", json_integer((json_int_t)(clock_now_ns() - c->start_ns)));
    json_object_set_new(o, "load_duration", json_integer(0)); /* loaded at startup */
    /* as Ollama counts it: the prompt tokens evaluated, not those reused from a cache */
    json_object_set_new(o, "prompt_eval_count", json_integer(jo->prompt_tokens - jo->cached_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer((json_int_t)(prompt_ms * 1e6)));
    json_object_set_new(o, "eval_count", json_integer(jo->completion_tokens));
    json_object_set_new(o, "eval_duration", json_integer((json_int_t)(eval_s * 1e9)));
    return o;
}

/* OpenAI-shaped calls (llm_tools_extract) as Ollama writes them: {id, function: {index,
 * name, arguments: {..}}}. Returns a new array or NULL. */
static json_t *ollama_calls(const json_t *calls)
{
    json_t *out = json_array(), *call;
    size_t k;
    json_array_foreach(calls, k, call) {
        const json_t *fn = json_object_get(call, "function");
        json_t *args = json_loads(json_string_value(json_object_get(fn, "arguments")), JSON_DECODE_ANY, NULL);
        if (!json_is_object(args)) { /* not an object (a string the model wrote): none */
            json_decref(args);
            args = json_object();
        }
        json_array_append_new(out, json_pack("{s:O,s:{s:I,s:O,s:o}}", "id", json_object_get(call, "id"), "function",
                                             "index", (json_int_t)k, "name", json_object_get(fn, "name"),
                                             "arguments", args));
    }
    if (out && json_array_size(out) != json_array_size(calls)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Tool calls in text (llm_tools_extract) in Ollama's shape. OUT: *calls (NULL: none),
 * *content (malloc'd text before them or NULL). Returns 0 or INFERD_ENOMEM. */
static int extract_calls(struct llm_call *c, const char *text, size_t len, json_t **calls, char **content)
{
    char prefix[64];
    json_t *oai = NULL;
    snprintf(prefix, sizeof prefix, "call_%.40s", http_req_id(c->http));
    *calls = NULL;
    int rc = llm_tools_extract(&c->tools, text, len, prefix, &oai, content);
    if (rc == 0 && oai && !(*calls = ollama_calls(oai)))
        rc = INFERD_ENOMEM;
    json_decref(oai);
    if (rc < 0) {
        free(*content);
        *content = NULL;
    }
    return rc;
}

/* answer() with calls (taken; may be NULL) as message.tool_calls. */
static json_t *answer_calls(struct llm_call *c, const struct llm_job_out *jo, const char *text, size_t len,
                            json_t *calls)
{
    json_t *o = answer(c, jo, text, len);
    if (o && calls)
        json_object_set_new(json_object_get(o, "message"), "tool_calls", calls);
    else
        json_decref(calls);
    return o;
}

static json_t *ol_response(struct llm_call *c, const struct llm_job_out *jo)
{
    if (!c->tools.active || c->variant != OL_CHAT)
        return answer(c, jo, jo->text, jo->len);
    json_t *calls = NULL;
    char *content = NULL;
    if (extract_calls(c, jo->text, jo->len, &calls, &content) < 0)
        return NULL;
    json_t *o = calls ? answer_calls(c, jo, content ? content : "", content ? strlen(content) : 0, calls)
                      : answer(c, jo, jo->text, jo->len);
    free(content);
    return o;
}

/* o as one NDJSON line (takes o). Returns malloc'd text or NULL. */
static char *line_of(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    char *l = s ? malloc(strlen(s) + 2) : NULL;
    if (l)
        sprintf(l, "%s\n", s);
    free(s);
    return l;
}

/* The NDJSON stream: a line per published piece of text, then the "done" line (or an
 * {"error"} line when the job failed: the status was sent already). */
/* The stream of a chat with tools: content lines until a call may open (llm_tools_sendable),
 * then the text is held; at the end the calls go in one line (or the held text as content
 * when it holds no well-formed call), then the done line. */
static int produce_tools(struct llm_call *c, struct llm_job_out *jo)
{
    struct buf *h = &c->tool.hold;
    int rc = 0, done = jo->done;
    buf_put(h, jo->text, jo->len);
    if (buf_rc(h))
        return -1;
    jo->done = 0;
    size_t send = h->len ? llm_tools_sendable(&c->tools, h->data, h->len, &c->tool.state) : 0;
    if (send > 0) {
        rc = llm_call_pend(c, line_of(answer(c, jo, h->data, send)));
        memmove(h->data, h->data + send, h->len - send);
        h->len -= send;
        h->data[h->len] = 0;
    }
    jo->done = done;
    if (rc < 0 || !done || strcmp(jo->finish_reason, "error") == 0)
        return rc;
    json_t *calls = NULL;
    char *content = NULL;
    if (c->tool.state == LLM_TOOLS_STREAM_CALL && extract_calls(c, h->data, h->len, &calls, &content) < 0)
        return -1;
    free(content); /* the text before the calls was sent already */
    jo->done = 0;
    if (calls)
        rc = llm_call_pend(c, line_of(answer_calls(c, jo, "", 0, calls)));
    else if (h->len > 0)
        rc = llm_call_pend(c, line_of(answer(c, jo, h->data, h->len)));
    jo->done = done;
    return rc;
}

static int ol_produce(struct llm_call *c)
{
    struct llm_job_out jo;
    if (llm_job_take(c->jobs[0], &c->cur, &jo) < 0)
        return -1;
    int rc = 0, done = jo.done;
    if (c->tools.active && c->variant == OL_CHAT) {
        rc = produce_tools(c, &jo);
        jo.len = 0; /* taken: the hold has it */
    }
    if (jo.len) {
        jo.done = 0;
        rc = llm_call_pend(c, line_of(answer(c, &jo, jo.text, jo.len)));
        jo.done = done;
    }
    if (rc == 0 && done) {
        c->done_sent = 1;
        if (strcmp(jo.finish_reason, "error") == 0)
            rc = llm_call_pend(c, line_of(json_pack("{s:s}", "error", jo.err_msg)));
        else
            rc = llm_call_pend(c, line_of(answer(c, &jo, "", 0)));
    }
    llm_call_set_timing(c, &jo);
    llm_job_out_free(&jo);
    return rc;
}

static json_t *ol_embeddings(struct llm_call *c, const float *const *embs, int n, int n_embd, int prompt_tokens)
{
    json_t *all = json_array();
    for (int i = 0; all && i < n; i++) {
        json_t *e = json_array();
        for (int k = 0; e && k < n_embd; k++)
            json_array_append_new(e, json_real(embs[i][k]));
        json_array_append_new(all, e);
    }
    json_t *o = all ? json_pack("{s:s,s:o,s:I,s:i,s:i}", "model", c->mv->name, "embeddings", all, "total_duration",
                                (json_int_t)(clock_now_ns() - c->start_ns), "load_duration", 0,
                                "prompt_eval_count", prompt_tokens)
                    : NULL;
    return o;
}

static const struct llm_wire ol_wire = {
    .stream_type = "application/x-ndjson",
    .error = ol_error,
    .not_found = ol_not_found,
    .response = ol_response,
    .produce = ol_produce,
    .embeddings = ol_embeddings,
};

/* ---------------- generation and embeddings ---------------- */

/* Ollama's answer to a generate without a prompt: the model is loaded (it always is). */
static int loaded_answer(struct http_req *r, struct serve_server *s, const char *name)
{
    struct model_version *mv;
    struct llm_model *lm;
    struct inferd_err err = {0};
    if (llm_call_find_model(s, name, MODEL_CAP_GENERATE, &mv, &lm, &err) < 0) {
        if (err.code == INFERD_ENOTFOUND)
            ol_not_found(r, name);
        else
            serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    json_t *o = head(mv->name);
    repo_release(mv);
    if (!o) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    json_object_set_new(o, "response", json_string(""));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string("load"));
    http_resp_json(r, 200, o);
    return HTTP_DONE;
}

/* The call of a chat, generate or embed body in (taken): translated, then opened by the
 * shared machinery. Returns the call, or NULL after answering the error. */
static struct llm_call *ol_open(struct http_req *r, struct serve_server *s, json_t *in, const char *name,
                                int variant)
{
    int raw = 0;
    json_t *root = translate(r, in, name, variant, &raw);
    json_decref(in);
    if (!root)
        return NULL;
    enum llm_oai_kind kind = variant == OL_EMBED ? LLM_OAI_EMBEDDING
                             : variant == OL_GENERATE && raw ? LLM_OAI_COMPLETION
                                                             : LLM_OAI_CHAT;
    struct llm_call *c = llm_call_open(r, s, kind, "ollama-", &ol_wire, root);
    if (c)
        c->variant = variant;
    return c;
}

static int handle_generation(struct http_req *r, void *ctx, int variant)
{
    struct serve_server *s = ctx;
    char name[REPO_NAME_MAX];
    json_t *in;
    if (ol_load(r, &in, name) < 0)
        return HTTP_DONE;
    json_t *p = json_object_get(in, "prompt");
    if (variant == OL_GENERATE && (!p || json_is_null(p) || (json_is_string(p) && json_string_length(p) == 0))) {
        json_decref(in);
        return loaded_answer(r, s, name);
    }
    if (variant == OL_GENERATE && !json_is_string(p)) {
        json_decref(in);
        serve_error(r, 0, INFERD_EINVAL, "prompt: must be a string");
        return HTTP_DONE;
    }
    struct llm_call *c = ol_open(r, s, in, name, variant);
    if (!c)
        return HTTP_DONE;
    int32_t *prompt = NULL;
    int n_prompt = 0;
    if (llm_call_prompt(c, &prompt, &n_prompt) < 0)
        return HTTP_DONE;
    return llm_call_submit(c, prompt, n_prompt);
}

static int h_chat(struct http_req *r, void *ctx) { return handle_generation(r, ctx, OL_CHAT); }
static int h_generate(struct http_req *r, void *ctx) { return handle_generation(r, ctx, OL_GENERATE); }

static int h_embed(struct http_req *r, void *ctx)
{
    char name[REPO_NAME_MAX];
    json_t *in;
    if (ol_load(r, &in, name) < 0)
        return HTTP_DONE;
    struct llm_call *c = ol_open(r, ctx, in, name, OL_EMBED);
    return c ? llm_call_embed(c) : HTTP_DONE;
}

/* ---------------- models ---------------- */

/* The language model of mv (generation or embeddings), or NULL for other backends. */
static struct llm_model *llm_of(struct model_version *mv)
{
    struct llm_model *lm = model_version_llm(mv, MODEL_CAP_GENERATE);
    return lm ? lm : model_version_llm(mv, MODEL_CAP_EMBED);
}

/* "260K", "7.2B": Ollama's parameter_size. */
static void param_size(uint64_t n, char *buf, size_t cap)
{
    static const char units[] = {'K', 'M', 'B', 'T'};
    double v = (double)n;
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (u < 0)
        snprintf(buf, cap, "%llu", (unsigned long long)n);
    else if (v < 10)
        snprintf(buf, cap, "%.1f%c", v, units[u]);
    else
        snprintf(buf, cap, "%.0f%c", v, units[u]);
}

static json_t *details_of(const struct llm_model *lm)
{
    char ps[32];
    param_size(lm->info->n_params, ps, sizeof ps);
    const char *arch = lm->info->arch ? lm->info->arch : "";
    return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family", arch, "families",
                     arch, "parameter_size", ps, "quantization_level", lm->info->file_type ? lm->info->file_type : "");
}

/* An identity of the loaded version (its folder, size and shape), shown where Ollama shows
 * the blob's sha256; hashing a multi-gigabyte file per listing would cost too much. */
static void digest_of(const struct model_version *mv, const struct llm_model *lm, char *buf, size_t cap)
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, mv->dir, strlen(mv->dir));
    h = hash_fnv1a(hash_fnv1a_byte(h, 0xff), &lm->info->file_bytes, sizeof lm->info->file_bytes);
    h = hash_fnv1a(h, &lm->info->n_params, sizeof lm->info->n_params);
    snprintf(buf, cap, "%016llx", (unsigned long long)h);
}

/* One /api/tags (ps: /api/ps) entry of a loaded GGUF model version. */
static json_t *model_entry(const struct model_version *mv, const struct llm_model *lm, int ps)
{
    char name[REPO_NAME_MAX + 8], digest[24], at[40];
    snprintf(name, sizeof name, "%s%s", mv->name, OL_TAG);
    digest_of(mv, lm, digest, sizeof digest);
    struct stat st;
    uint64_t mtime_ms = stat(mv->dir, &st) == 0 ? (uint64_t)st.st_mtime * 1000u : 0;
    clock_rfc3339(ps ? clock_wall_ms() + 24ull * 3600 * 1000 * 365 : mtime_ms, at, sizeof at);
    json_t *e = json_pack("{s:s,s:s,s:I,s:s,s:o}", "name", name, "model", name, "size",
                          (json_int_t)lm->info->file_bytes, "digest", digest, "details", details_of(lm));
    if (!e)
        return NULL;
    if (ps) { /* loaded until the server stops: expires_at a year ahead */
        json_object_set_new(e, "expires_at", json_string(at));
        json_object_set_new(e, "size_vram", json_integer(0));
        json_object_set_new(e, "context_length", json_integer(lm->n_ctx));
    } else {
        json_object_set_new(e, "modified_at", json_string(at));
    }
    return e;
}

/* /api/tags and /api/ps: every loaded GGUF model (its newest version). */
static int list_models(struct http_req *r, struct serve_server *s, int ps)
{
    struct repo_entry *rows;
    size_t n;
    if (repo_list(s->repo, &rows, &n) < 0) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    json_t *models = json_array();
    for (size_t i = 0; models && i < n; i++) {
        const struct repo_entry *e = &rows[i];
        if (e->state != REPO_READY || !(e->caps & (MODEL_CAP_GENERATE | MODEL_CAP_EMBED)) ||
            (i > 0 && !strcmp(rows[i - 1].name, e->name)))
            continue;
        struct model_version *mv;
        if (repo_acquire(s->repo, e->name, 0, &mv, NULL) < 0)
            continue;
        struct llm_model *lm = llm_of(mv);
        json_t *obj = lm ? model_entry(mv, lm, ps) : NULL;
        if (obj)
            json_array_append_new(models, obj);
        repo_release(mv);
    }
    free(rows);
    json_t *body = models ? json_pack("{s:o}", "models", models) : NULL;
    if (body)
        http_resp_json(r, 200, body);
    else
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
    return HTTP_DONE;
}

static int h_tags(struct http_req *r, void *ctx) { return list_models(r, ctx, 0); }
static int h_ps(struct http_req *r, void *ctx) { return list_models(r, ctx, 1); }

/* Ollama's "parameters" text: one "name value" line per sampling default. */
static char *parameters_of(const struct llm_model *lm)
{
    const struct inferd_llm_sampling *d = &lm->defaults;
    char *t = malloc(512);
    if (t)
        snprintf(t, 512, "temperature %g\ntop_k %d\ntop_p %g\nmin_p %g\nrepeat_penalty %g\nnum_ctx %d\n",
                 d->temperature, d->top_k, d->top_p, d->min_p, d->repeat_penalty, lm->n_ctx);
    return t;
}

static int h_show(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    char name[REPO_NAME_MAX];
    json_t *in;
    if (ol_load(r, &in, name) < 0)
        return HTTP_DONE;
    json_decref(in);
    struct model_version *mv;
    if (repo_acquire(s->repo, name, 0, &mv, NULL) < 0) {
        ol_not_found(r, name);
        return HTTP_DONE;
    }
    struct llm_model *lm = llm_of(mv);
    if (!lm) {
        repo_release(mv);
        serve_error(r, 0, INFERD_EUNSUPPORTED, "model is not a GGUF language model");
        return HTTP_DONE;
    }
    const struct inferd_llm_info *mi = lm->info;
    const char *arch = mi->arch ? mi->arch : "";
    char modelfile[REPO_NAME_MAX + 640], key[160];
    snprintf(modelfile, sizeof modelfile, "# Modelfile of inferd's model %s\nFROM %.512s\n", mv->name, mv->dir);
    json_t *info = json_object();
    json_object_set_new(info, "general.architecture", json_string(arch));
    json_object_set_new(info, "general.name", json_string(mi->name ? mi->name : ""));
    json_object_set_new(info, "general.parameter_count", json_integer((json_int_t)mi->n_params));
    static const char *const keys[] = {"context_length", "embedding_length", "block_count", "attention.head_count",
                                       "attention.head_count_kv", "feed_forward_length", "vocab_size"};
    const int vals[] = {mi->n_ctx_train, mi->n_embd, mi->n_layer, mi->n_head, mi->n_head_kv, mi->n_ff,
                        mi->n_vocab};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(key, sizeof key, "%.100s.%s", arch, keys[i]);
        json_object_set_new(info, key, json_integer(vals[i]));
    }
    json_t *caps = json_array();
    if (model_version_can(mv, MODEL_CAP_GENERATE))
        json_array_append_new(caps, json_string("completion"));
    if (model_version_can(mv, MODEL_CAP_EMBED))
        json_array_append_new(caps, json_string("embedding"));
    char *params = parameters_of(lm);
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "modelfile", modelfile, "parameters", params ? params : "",
                          "template", mi->chat_template ? mi->chat_template : "", "details", details_of(lm),
                          "model_info", info, "capabilities", caps);
    free(params);
    repo_release(mv);
    if (o)
        http_resp_json(r, 200, o);
    else
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
    return HTTP_DONE;
}

static int h_version(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json(r, 200, json_pack("{s:s}", "version", INFERD_VERSION));
    return HTTP_DONE;
}

const struct http_route routes_ollama[] = {
    {HTTP_POST, "/api/chat", HTTP_AUTH_INFER, h_chat, "ollama_chat", NULL},
    {HTTP_POST, "/api/generate", HTTP_AUTH_INFER, h_generate, "ollama_generate", NULL},
    {HTTP_POST, "/api/embed", HTTP_AUTH_INFER, h_embed, "ollama_embed", NULL},
    {HTTP_GET, "/api/tags", HTTP_AUTH_INFER, h_tags, "ollama_tags", NULL},
    {HTTP_POST, "/api/show", HTTP_AUTH_INFER, h_show, "ollama_show", NULL},
    {HTTP_GET, "/api/ps", HTTP_AUTH_INFER, h_ps, "ollama_ps", NULL},
    {HTTP_GET, "/api/version", HTTP_AUTH_INFER, h_version, "ollama_version", NULL},
};
const size_t routes_ollama_count = sizeof routes_ollama / sizeof routes_ollama[0];
