/* openai_parse.c — OpenAI request bodies (chat completions, completions, embeddings)
 * into struct llm_oai_req, with OpenAI's validation rules and errors naming the member. */
#include "serve/routes/openai_wire.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(code, p, ...)                                  \
    do {                                                    \
        snprintf(param, 64, "%s", p);                       \
        rc = inferd_err_set(err, code, __VA_ARGS__);        \
        goto fail;                                          \
    } while (0)

static int get_number(json_t *v, double *out)
{
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return isfinite(*out) ? 0 : -1;
}

/* Reads an optional number member within [lo, hi] into *out. 1 = set, 0 = absent/null,
 * -1 = not a number in range. */
static int opt_range(json_t *root, const char *key, double lo, double hi, double *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (get_number(v, out) < 0 || *out < lo || *out > hi)
        return -1;
    return 1;
}

/* Token id arrays: every element an integer in [0, 2^31). */
static int read_ids(json_t *arr, int32_t **out, int *n)
{
    size_t cnt = json_array_size(arr);
    if (cnt == 0 || cnt > LLM_OAI_MAX_PROMPT_IDS)
        return -1;
    int32_t *ids = malloc(cnt * sizeof *ids);
    if (!ids)
        return -1;
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX) {
            free(ids);
            return -1;
        }
        ids[i] = (int32_t)json_integer_value(e);
    }
    *out = ids;
    *n = (int)cnt;
    return 0;
}

static int is_int_array(json_t *v)
{
    return json_is_array(v) && json_array_size(v) > 0 && json_is_integer(json_array_get(v, 0));
}

/* Message content: a string, or an array of {"type":"text","text":...} parts (joined). */
static int read_content(struct llm_oai_req *q, json_t *c, const char **out)
{
    if (json_is_string(c)) {
        *out = json_string_value(c);
        return 0;
    }
    if (json_is_null(c)) {
        *out = "";
        return 0;
    }
    if (!json_is_array(c))
        return -1;
    size_t total = 1, i;
    json_t *part;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        const char *ty = json_string_value(json_object_get(part, "type"));
        if (!ty || strcmp(ty, "text") != 0 || !json_is_string(t))
            return -1;
        total += json_string_length(t);
    }
    char *s = malloc(total);
    char **list = realloc(q->owned_strs, (size_t)(q->n_owned + 1) * sizeof *list);
    if (!s || !list) {
        free(s);
        if (list)
            q->owned_strs = list;
        return -2;
    }
    q->owned_strs = list;
    q->owned_strs[q->n_owned++] = s;
    size_t off = 0;
    json_array_foreach(c, i, part) {
        json_t *t = json_object_get(part, "text");
        memcpy(s + off, json_string_value(t), json_string_length(t));
        off += json_string_length(t);
    }
    s[off] = 0;
    *out = s;
    return 0;
}

static int parse_messages(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *msgs = json_object_get(q->root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        FAIL(INFERD_EINVAL, "messages", "messages: required, a non-empty array of {role, content}");
    if (json_array_size(msgs) > LLM_OAI_MAX_MESSAGES)
        FAIL(INFERD_ETOOLARGE, "messages", "messages: more than %d", LLM_OAI_MAX_MESSAGES);
    q->n_msgs = (int)json_array_size(msgs);
    q->msgs = calloc((size_t)q->n_msgs, sizeof *q->msgs);
    if (!q->msgs)
        FAIL(INFERD_ENOMEM, "messages", "messages: out of memory");
    for (int i = 0; i < q->n_msgs; i++) {
        json_t *m = json_array_get(msgs, (size_t)i);
        const char *role = json_string_value(json_object_get(m, "role"));
        char p[64];
        snprintf(p, sizeof p, "messages[%d].role", i);
        if (!json_is_object(m) || !role)
            FAIL(INFERD_EINVAL, p, "%s: required, one of system, developer, user, assistant, tool", p);
        if (strcmp(role, "system") && strcmp(role, "developer") && strcmp(role, "user") &&
            strcmp(role, "assistant") && strcmp(role, "tool"))
            FAIL(INFERD_EINVAL, p, "%s: '%.40s' is not one of system, developer, user, assistant, tool", p, role);
        q->msgs[i].role = strcmp(role, "developer") == 0 ? "system" : role;
        snprintf(p, sizeof p, "messages[%d].content", i);
        json_t *c = json_object_get(m, "content");
        if (!c && strcmp(role, "assistant") != 0)
            FAIL(INFERD_EINVAL, p, "%s: required", p);
        int r = read_content(q, c ? c : json_null(), &q->msgs[i].content);
        if (r == -2)
            FAIL(INFERD_ENOMEM, p, "%s: out of memory", p);
        if (r < 0)
            FAIL(INFERD_EINVAL, p, "%s: must be a string or an array of text parts", p);
    }
fail:
    return rc;
}

static int parse_prompt(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *p = json_object_get(q->root, "prompt");
    if (json_is_string(p)) {
        q->prompt = json_string_value(p);
    } else if (is_int_array(p)) {
        if (read_ids(p, &q->prompt_ids, &q->n_prompt_ids) < 0)
            FAIL(INFERD_EINVAL, "prompt", "prompt: token ids must be 1..%d non-negative integers", LLM_OAI_MAX_PROMPT_IDS);
    } else if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) {
        q->prompt = json_string_value(json_array_get(p, 0));
    } else if (json_is_array(p) && json_array_size(p) == 1 && is_int_array(json_array_get(p, 0))) {
        if (read_ids(json_array_get(p, 0), &q->prompt_ids, &q->n_prompt_ids) < 0)
            FAIL(INFERD_EINVAL, "prompt", "prompt[0]: token ids must be non-negative integers");
    } else if (json_is_array(p) && json_array_size(p) > 1) {
        if (json_array_size(p) > LLM_OAI_MAX_INPUTS)
            FAIL(INFERD_ETOOLARGE, "prompt", "prompt: more than %d prompts", LLM_OAI_MAX_INPUTS);
        size_t n = json_array_size(p);
        q->n_inputs = (int)n;
        q->inputs = calloc(n, sizeof *q->inputs);
        q->input_ids = calloc(n, sizeof *q->input_ids);
        q->n_input_ids = calloc(n, sizeof *q->n_input_ids);
        if (!q->inputs || !q->input_ids || !q->n_input_ids)
            FAIL(INFERD_ENOMEM, "prompt", "prompt: out of memory");
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(p, i);
            if (json_is_string(e))
                q->inputs[i] = json_string_value(e);
            else if (!is_int_array(e) || read_ids(e, &q->input_ids[i], &q->n_input_ids[i]) < 0)
                FAIL(INFERD_EINVAL, "prompt", "prompt[%zu]: must be a string or an array of token ids", i);
        }
    } else {
        FAIL(INFERD_EINVAL, "prompt", "prompt: required, a string, an array of one string, or an array of token ids");
    }
fail:
    return rc;
}

static int parse_inputs(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *in = json_object_get(q->root, "input");
    size_t n = json_is_string(in) ? 1 : is_int_array(in) ? 1 : json_is_array(in) ? json_array_size(in) : 0;
    if (n == 0)
        FAIL(INFERD_EINVAL, "input", "input: required, a string, an array of strings, or token ids");
    if (n > LLM_OAI_MAX_INPUTS)
        FAIL(INFERD_ETOOLARGE, "input", "input: more than %d items", LLM_OAI_MAX_INPUTS);
    q->n_inputs = (int)n;
    q->inputs = calloc(n, sizeof *q->inputs);
    q->input_ids = calloc(n, sizeof *q->input_ids);
    q->n_input_ids = calloc(n, sizeof *q->n_input_ids);
    if (!q->inputs || !q->input_ids || !q->n_input_ids)
        FAIL(INFERD_ENOMEM, "input", "input: out of memory");
    if (json_is_string(in)) {
        q->inputs[0] = json_string_value(in);
    } else if (is_int_array(in)) {
        if (read_ids(in, &q->input_ids[0], &q->n_input_ids[0]) < 0)
            FAIL(INFERD_EINVAL, "input", "input: token ids must be non-negative integers");
    } else {
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(in, i);
            if (json_is_string(e) && json_string_length(e) > 0)
                q->inputs[i] = json_string_value(e);
            else if (!is_int_array(e) || read_ids(e, &q->input_ids[i], &q->n_input_ids[i]) < 0)
                FAIL(INFERD_EINVAL, "input", "input[%zu]: must be a non-empty string or token ids", i);
        }
    }
    const char *fmt = json_string_value(json_object_get(q->root, "encoding_format"));
    json_t *fv = json_object_get(q->root, "encoding_format");
    if (fv && !json_is_null(fv) && (!fmt || (strcmp(fmt, "float") && strcmp(fmt, "base64"))))
        FAIL(INFERD_EINVAL, "encoding_format", "encoding_format: must be \"float\" or \"base64\"");
    q->base64 = fmt && strcmp(fmt, "base64") == 0;
fail:
    return rc;
}

static int parse_stop(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *s = json_object_get(q->root, "stop");
    if (!s || json_is_null(s))
        return 0;
    if (json_is_string(s)) {
        if (json_string_length(s) >= LLM_STOP_LEN)
            FAIL(INFERD_EINVAL, "stop", "stop: %zu bytes; at most %d", json_string_length(s), LLM_STOP_LEN - 1);
        q->stop[q->n_stop++] = json_string_value(s);
        return 0;
    }
    if (!json_is_array(s) || json_array_size(s) > LLM_STOP_MAX)
        FAIL(INFERD_EINVAL, "stop", "stop: a string or an array of up to %d strings", LLM_STOP_MAX);
    for (size_t i = 0; i < json_array_size(s); i++) {
        json_t *e = json_array_get(s, i);
        if (!json_is_string(e))
            FAIL(INFERD_EINVAL, "stop", "stop[%zu]: must be a string", i);
        if (json_string_length(e) >= LLM_STOP_LEN)
            FAIL(INFERD_EINVAL, "stop", "stop[%zu]: longer than %d bytes", i, LLM_STOP_LEN - 1);
        q->stop[q->n_stop++] = json_string_value(e);
    }
fail:
    return rc;
}

/* logit_bias: {"<token id>": bias in [-100, 100], ...}, at most LLM_OAI_MAX_BIAS entries. */
static int parse_logit_bias(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *lb = json_object_get(q->root, "logit_bias"), *v;
    const char *key;
    if (!lb || json_is_null(lb))
        return 0;
    if (!json_is_object(lb))
        FAIL(INFERD_EINVAL, "logit_bias", "logit_bias: must be an object mapping token ids to numbers");
    if (json_object_size(lb) > LLM_OAI_MAX_BIAS)
        FAIL(INFERD_ETOOLARGE, "logit_bias", "logit_bias: %zu entries; at most %d", json_object_size(lb),
             LLM_OAI_MAX_BIAS);
    if (json_object_size(lb) == 0)
        return 0;
    q->bias = malloc(sizeof *q->bias * json_object_size(lb));
    if (!q->bias)
        FAIL(INFERD_ENOMEM, "logit_bias", "logit_bias: out of memory");
    json_object_foreach(lb, key, v) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        if (!*key || *end || errno || id < 0 || id > INT32_MAX || (key[0] == '0' && key[1]) || key[0] == '+' ||
            key[0] == '-' || key[0] == ' ')
            FAIL(INFERD_EINVAL, "logit_bias", "logit_bias: key '%.40s' is not a token id", key);
        double d;
        if (get_number(v, &d) < 0 || d < -100 || d > 100)
            FAIL(INFERD_EINVAL, "logit_bias", "logit_bias[\"%.40s\"]: must be a number between -100 and 100", key);
        q->bias[q->n_bias].id = (int32_t)id;
        q->bias[q->n_bias].bias = (float)d;
        q->n_bias++;
    }
fail:
    return rc;
}

static int parse_generation(struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    json_t *r = q->root, *v;
    double d;
    int got;
    if ((got = opt_range(r, "temperature", 0, 2, &d)) < 0)
        FAIL(INFERD_EINVAL, "temperature", "temperature: must be a number between %g and %g", 0.0, 2.0);
    if (got)
        q->sampling.temperature = (float)d;
    if ((got = opt_range(r, "top_p", 0, 1, &d)) < 0)
        FAIL(INFERD_EINVAL, "top_p", "top_p: must be a number between %g and %g", 0.0, 1.0);
    if (got)
        q->sampling.top_p = (float)d;
    if ((got = opt_range(r, "presence_penalty", -2, 2, &d)) < 0)
        FAIL(INFERD_EINVAL, "presence_penalty", "presence_penalty: must be a number between %g and %g", -2.0, 2.0);
    if (got)
        q->sampling.presence_penalty = (float)d;
    if ((got = opt_range(r, "frequency_penalty", -2, 2, &d)) < 0)
        FAIL(INFERD_EINVAL, "frequency_penalty", "frequency_penalty: must be a number between %g and %g", -2.0, 2.0);
    if (got)
        q->sampling.frequency_penalty = (float)d;
    /* llama.cpp extensions accepted as-is: top_k, min_p, repeat_penalty */
    if ((got = opt_range(r, "top_k", 0, 1e6, &d)) < 0)
        FAIL(INFERD_EINVAL, "top_k", "top_k: must be a number between %g and %g", 0.0, 1e6);
    if (got)
        q->sampling.top_k = (int)d;
    if ((got = opt_range(r, "min_p", 0, 1, &d)) < 0)
        FAIL(INFERD_EINVAL, "min_p", "min_p: must be a number between %g and %g", 0.0, 1.0);
    if (got)
        q->sampling.min_p = (float)d;
    if ((got = opt_range(r, "repeat_penalty", 0, 10, &d)) < 0)
        FAIL(INFERD_EINVAL, "repeat_penalty", "repeat_penalty: must be a number between %g and %g", 0.0, 10.0);
    if (got)
        q->sampling.repeat_penalty = (float)d;
    v = json_object_get(r, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v))
            FAIL(INFERD_EINVAL, "seed", "seed: must be an integer");
        q->sampling.seed = (uint64_t)json_integer_value(v);
        if (q->sampling.seed == UINT64_MAX)
            q->sampling.seed = 0;
    }
    const char *mt_key = json_object_get(r, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    v = json_object_get(r, mt_key);
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000)
            FAIL(INFERD_EINVAL, mt_key, "%s: must be an integer from 1 to 1000000", mt_key);
        q->max_tokens = (int)json_integer_value(v);
    }
    if ((got = opt_range(r, "repeat_last_n", -1, 4096, &d)) < 0 || (got && d != floor(d)))
        FAIL(INFERD_EINVAL, "repeat_last_n", "repeat_last_n: must be an integer from -1 to 4096 (-1 = 4096)");
    if (got)
        q->sampling.penalty_last_n = d < 0 ? 4096 : (int)d;
    q->n = 1;
    v = json_object_get(r, "n");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > LLM_OAI_MAX_CHOICES)
            FAIL(INFERD_EINVAL, "n", "n: must be an integer from 1 to %d", LLM_OAI_MAX_CHOICES);
        q->n = (int)json_integer_value(v);
    }
    q->best_of = q->n;
    v = json_object_get(r, "best_of");
    if (v && !json_is_null(v)) {
        if (q->kind != LLM_OAI_COMPLETION)
            FAIL(INFERD_EINVAL, "best_of", "best_of: only for /v1/completions");
        if (!json_is_integer(v) || json_integer_value(v) < q->n || json_integer_value(v) > LLM_OAI_MAX_CHOICES)
            FAIL(INFERD_EINVAL, "best_of", "best_of: must be an integer from n (%d) to %d", q->n, LLM_OAI_MAX_CHOICES);
        q->best_of = (int)json_integer_value(v);
    }
    rc = parse_logit_bias(q, param, err);
    if (rc < 0)
        goto fail;
    v = json_object_get(r, "stream");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        FAIL(INFERD_EINVAL, "stream", "stream: must be a boolean");
    q->stream = json_is_true(v);
    v = json_object_get(r, "stream_options");
    if (v && !json_is_null(v)) {
        if (!json_is_object(v))
            FAIL(INFERD_EINVAL, "stream_options", "stream_options: must be an object");
        if (!q->stream)
            FAIL(INFERD_EINVAL, "stream_options", "stream_options: only allowed when stream is true");
        json_t *iu = json_object_get(v, "include_usage");
        if (iu && !json_is_boolean(iu))
            FAIL(INFERD_EINVAL, "stream_options.include_usage", "stream_options.include_usage: must be a boolean");
        q->include_usage = json_is_true(iu);
    }
    v = json_object_get(r, "ignore_eos");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        FAIL(INFERD_EINVAL, "ignore_eos", "ignore_eos: must be a boolean");
    q->ignore_eos = json_is_true(v);
    v = json_object_get(r, "priority"); /* vLLM's: higher is admitted first */
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < LLM_PRIORITY_MIN || json_integer_value(v) > LLM_PRIORITY_MAX)
            FAIL(INFERD_EINVAL, "priority", "priority: must be an integer from %d to %d", LLM_PRIORITY_MIN,
                 LLM_PRIORITY_MAX);
        q->priority = (int)json_integer_value(v);
    }
    v = json_object_get(r, "echo");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        FAIL(INFERD_EINVAL, "echo", "echo: must be a boolean");
    if (json_is_true(v) && q->kind != LLM_OAI_COMPLETION)
        FAIL(INFERD_EINVAL, "echo", "echo: only for /v1/completions");
    q->echo = json_is_true(v);
    if (q->best_of > q->n && q->stream)
        FAIL(INFERD_EINVAL, "best_of", "best_of: cannot be streamed when greater than n");
    v = json_object_get(r, "user");
    if (v && !json_is_null(v) && !json_is_string(v))
        FAIL(INFERD_EINVAL, "user", "user: must be a string");
    q->user = json_string_value(v);
    v = json_object_get(r, "logprobs");
    json_t *tl = json_object_get(r, "top_logprobs");
    if (q->kind == LLM_OAI_CHAT) {
        if (v && !json_is_null(v) && !json_is_boolean(v))
            FAIL(INFERD_EINVAL, "logprobs", "logprobs: must be a boolean");
        q->logprobs = json_is_true(v);
        if (tl && !json_is_null(tl)) {
            if (!json_is_integer(tl) || json_integer_value(tl) < 0 || json_integer_value(tl) > LLM_TOP_MAX)
                FAIL(INFERD_EINVAL, "top_logprobs", "top_logprobs: must be an integer between 0 and %d", LLM_TOP_MAX);
            if (!q->logprobs)
                FAIL(INFERD_EINVAL, "top_logprobs", "top_logprobs: requires logprobs to be true");
            q->top_logprobs = (int)json_integer_value(tl);
        }
    } else if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > LLM_TOP_MAX)
            FAIL(INFERD_EINVAL, "logprobs", "logprobs: must be an integer between 0 and %d", LLM_TOP_MAX);
        q->logprobs = 1;
        q->top_logprobs = (int)json_integer_value(v);
    }
    rc = parse_stop(q, param, err);
    if (rc == 0 && q->echo && q->logprobs && q->stream)
        FAIL(INFERD_EINVAL, "echo", "echo: with logprobs (prompt logprobs) it cannot be streamed");
fail:
    return rc;
}

int llm_oai_load(const char *body, size_t len, json_t **root, const char **model, char *param,
                 struct inferd_err *err)
{
    int rc = 0;
    json_error_t jerr;
    *root = NULL;
    *model = NULL;
    param[0] = 0;
    json_t *r = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r)
        FAIL(INFERD_EINVAL, "", "request body: invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(r))
        FAIL(INFERD_EINVAL, "", "request body: must be a JSON object");
    json_t *m = json_object_get(r, "model");
    if (m && !json_is_string(m))
        FAIL(INFERD_EINVAL, "model", "model: must be a string");
    *root = r;
    *model = json_string_value(m);
    return 0;
fail:
    json_decref(r);
    return rc;
}

int llm_oai_parse_root(enum llm_oai_kind kind, json_t *root, const struct inferd_llm_sampling *defaults,
                       struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    int rc = 0;
    memset(q, 0, sizeof *q);
    param[0] = 0;
    q->kind = kind;
    q->max_tokens = -1;
    q->root = root;
    if (defaults) {
        q->sampling = *defaults;
    } else {
        /* OpenAI's defaults: plain sampling at T=1, no truncation, no penalties */
        q->sampling = (struct inferd_llm_sampling){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                                                   .repeat_penalty = 1.0f, .penalty_last_n = 64, .seed = UINT64_MAX};
    }
    q->model = json_string_value(json_object_get(root, "model"));
    if (kind == LLM_OAI_CHAT)
        rc = parse_messages(q, param, err);
    else if (kind == LLM_OAI_COMPLETION)
        rc = parse_prompt(q, param, err);
    else
        rc = parse_inputs(q, param, err);
    if (rc < 0 || kind == LLM_OAI_EMBEDDING)
        return rc;
    return parse_generation(q, param, err);
}

int llm_oai_parse(enum llm_oai_kind kind, const char *body, size_t len,
                  const struct inferd_llm_sampling *defaults, struct llm_oai_req *q, char *param,
                  struct inferd_err *err)
{
    json_t *root;
    const char *model;
    memset(q, 0, sizeof *q);
    int rc = llm_oai_load(body, len, &root, &model, param, err);
    if (rc < 0)
        return rc;
    return llm_oai_parse_root(kind, root, defaults, q, param, err);
}

void llm_oai_req_free(struct llm_oai_req *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n_owned; i++)
        free(q->owned_strs[i]);
    free(q->owned_strs);
    free(q->msgs);
    free(q->prompt_ids);
    free(q->bias);
    if (q->input_ids)
        for (int i = 0; i < q->n_inputs; i++)
            free(q->input_ids[i]);
    free(q->input_ids);
    free(q->n_input_ids);
    free(q->inputs);
    json_decref(q->root);
    memset(q, 0, sizeof *q);
}
