/* llm_tools.c — tool calling for the Hermes / Qwen 2.5 (ChatML), Llama 3.1 and Mistral v3
 * families (see llm_tools.h). The text written follows the models' own chat templates
 * (Qwen2.5-7B-Instruct's, Llama-3.1-8B-Instruct's, Mistral-7B-Instruct-v0.3's
 * tokenizer_config.json). Stream scanning is in llm_tools_scan.c. */
#include "serve/routes/llm_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "llm/grammar.h"
#include "llm/json_schema.h"

#define FAIL(p, ...)                                        \
    do {                                                    \
        snprintf(param, 64, "%s", p);                       \
        return inferd_err_set(err, INFERD_EINVAL, __VA_ARGS__); \
    } while (0)

static const char QWEN_DEFAULT_SYSTEM[] = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

static int good_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return 1;
}

static int check_tool_calls(const json_t *m, int i, char *param, struct inferd_err *err)
{
    char p[64];
    const json_t *tc = json_object_get(m, "tool_calls"), *call;
    size_t k;
    snprintf(p, sizeof p, "messages[%d].tool_calls", i);
    if (!json_is_array(tc))
        FAIL(p, "%s: must be an array of {id, type: \"function\", function: {name, arguments}}", p);
    json_array_foreach(tc, k, call) {
        const json_t *fn = json_object_get(call, "function");
        const char *ty = json_string_value(json_object_get(call, "type"));
        snprintf(p, sizeof p, "messages[%d].tool_calls[%zu]", i, k);
        if (!json_is_object(call) || (ty && strcmp(ty, "function")) || !json_is_object(fn))
            FAIL(p, "%s: must be {id, type: \"function\", function: {name, arguments}}", p);
        if (!json_is_string(json_object_get(fn, "name")))
            FAIL(p, "%s.function.name: required, a string", p);
        const json_t *a = json_object_get(fn, "arguments");
        if (!json_is_string(a) && !json_is_object(a))
            FAIL(p, "%s.function.arguments: required, a JSON string", p);
    }
    return 0;
}

int llm_tools_parse(const json_t *root, const struct chat_tmpl *tmpl, struct llm_tools *t, char *param,
                    struct inferd_err *err)
{
    memset(t, 0, sizeof *t);
    t->tmpl = *tmpl;
    t->named_ix = -1;
    const json_t *tools = json_object_get(root, "tools"), *tool;
    const json_t *tc = json_object_get(root, "tool_choice");
    size_t i;
    if (json_is_null(tools))
        tools = NULL;
    if (json_is_null(tc))
        tc = NULL;
    if (tools) {
        if (!json_is_array(tools) || json_array_size(tools) > LLM_TOOLS_MAX)
            FAIL("tools", "tools: must be an array of at most %d function tools", LLM_TOOLS_MAX);
        json_array_foreach(tools, i, tool) {
            char p[64];
            snprintf(p, sizeof p, "tools[%zu]", i);
            const char *ty = json_string_value(json_object_get(tool, "type"));
            const json_t *fn = json_object_get(tool, "function");
            if (!json_is_object(tool) || !ty || strcmp(ty, "function") || !json_is_object(fn))
                FAIL(p, "%s: must be {\"type\": \"function\", \"function\": {name, description, parameters}}", p);
            if (!good_name(json_string_value(json_object_get(fn, "name"))))
                FAIL(p, "%s.function.name: required, 1 to 64 of a-z, A-Z, 0-9, _ and -", p);
            const json_t *d = json_object_get(fn, "description"), *pa = json_object_get(fn, "parameters");
            if (d && !json_is_string(d))
                FAIL(p, "%s.function.description: must be a string", p);
            if (pa && !json_is_object(pa))
                FAIL(p, "%s.function.parameters: must be a JSON Schema object", p);
        }
        if (json_array_size(tools) > 0)
            t->tools = (json_t *)tools;
    }
    t->choice = t->tools ? LLM_TOOLS_AUTO : LLM_TOOLS_NONE;
    if (tc) {
        const char *s = json_string_value(tc);
        if (s && strcmp(s, "none") == 0) {
            t->choice = LLM_TOOLS_NONE;
        } else if (s && strcmp(s, "auto") == 0) {
            t->choice = t->tools ? LLM_TOOLS_AUTO : LLM_TOOLS_NONE;
        } else if (s && strcmp(s, "required") == 0) {
            t->choice = LLM_TOOLS_REQUIRED;
        } else if (json_is_object(tc)) {
            const char *ty = json_string_value(json_object_get(tc, "type"));
            const char *nm = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
            if (!ty || strcmp(ty, "function") || !nm)
                FAIL("tool_choice", "tool_choice: an object must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
            t->choice = LLM_TOOLS_NAMED;
            t->named = nm;
            json_array_foreach(t->tools, i, tool) {
                const char *n = json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
                if (t->named_ix < 0 && strcmp(n, nm) == 0)
                    t->named_ix = (int)i;
            }
            if (t->tools && t->named_ix < 0)
                FAIL("tool_choice", "tool_choice: function '%.64s' is not one of tools", nm);
        } else {
            FAIL("tool_choice", "tool_choice: must be \"none\", \"auto\", \"required\" or "
                                "{\"type\": \"function\", \"function\": {\"name\": ...}}");
        }
        if ((t->choice == LLM_TOOLS_REQUIRED || t->choice == LLM_TOOLS_NAMED) && !t->tools)
            FAIL("tool_choice", "tool_choice: requires a non-empty tools array");
    }
    const json_t *msgs = json_object_get(root, "messages"), *m;
    int has_tool_parts = 0;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *calls = json_object_get(m, "tool_calls");
        if (role && strcmp(role, "assistant") == 0 && calls && !json_is_null(calls)) {
            if (check_tool_calls(m, (int)i, param, err) < 0)
                return err->code;
            has_tool_parts = 1;
        }
        if (role && strcmp(role, "tool") == 0) {
            char p[64];
            snprintf(p, sizeof p, "messages[%zu].tool_call_id", i);
            if (!json_is_string(json_object_get(m, "tool_call_id")))
                FAIL(p, "%s: required, a string", p);
            has_tool_parts = 1;
        }
    }
    int llama = tmpl->family == CHAT_TMPL_LLAMA3 && (tmpl->flags & CHAT_TMPL_F_DATE_HEADER);
    int mistral = tmpl->family == CHAT_TMPL_MISTRAL_V3 || tmpl->family == CHAT_TMPL_MISTRAL_V3_TEKKEN ||
                  (tmpl->family == CHAT_TMPL_MISTRAL_V1 && (tmpl->flags & CHAT_TMPL_F_TOOLS));
    t->syntax = llama ? LLM_TOOLS_LLAMA : mistral ? LLM_TOOLS_MISTRAL : LLM_TOOLS_HERMES;
    int supported = tmpl->family == CHAT_TMPL_CHATML || llama || mistral;
    if (!supported && (t->choice != LLM_TOOLS_NONE || has_tool_parts))
        FAIL(t->choice != LLM_TOOLS_NONE ? "tools" : "messages",
             "%s: this model's chat template (%s) has no tool calling", t->choice != LLM_TOOLS_NONE ? "tools" : "messages",
             chat_tmpl_name(tmpl->family));
    t->active = t->choice != LLM_TOOLS_NONE;
    if (t->syntax == LLM_TOOLS_LLAMA) {
        json_array_foreach(msgs, i, m) {
            char p[64];
            snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
            if (json_array_size(json_object_get(m, "tool_calls")) > 1)
                FAIL(p, "%s: this model's chat template (llama3.1) takes one call per assistant turn", p);
        }
        if (t->active)
            t->tmpl.flags |= CHAT_TMPL_F_IPYTHON;
    }
    return 0;
}

static char *own(struct llm_tools *t, struct buf *b)
{
    if (buf_rc(b)) {
        buf_free(b);
        return NULL;
    }
    char **list = realloc(t->owned, (size_t)(t->n_owned + 1) * sizeof *list);
    if (!list) {
        buf_free(b);
        return NULL;
    }
    t->owned = list;
    buf_put(b, "", 1);
    char *s = malloc(b->len);
    if (s)
        memcpy(s, b->data, b->len);
    buf_free(b);
    if (s)
        t->owned[t->n_owned++] = s;
    return s;
}

/* tojson: Python json.dumps' default separators (", " and ": "), as the template's tojson. */
static void put_json(struct buf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_ENCODE_ANY);
    if (s)
        buf_puts(b, s);
    else
        buf_put(b, "null", 4); /* out of memory: the buffer's own checks fail the render */
    free(s);
}

/* Llama 3.1's template (tools_in_user_message, its default): the tools open the first
 * message after the system one; a call is {"name": .., "parameters": ..}; results are
 * ipython turns whose content is written with tojson (a string is quoted). */
static int llama_messages(struct llm_tools *t, const json_t *jm, const struct chat_msg *msgs, int n,
                          const struct chat_msg **out, int *n_out, struct inferd_err *err)
{
    int k = 0, i = 0, tools_done = !t->active;
    struct buf b;
    if (n > 0 && strcmp(msgs[0].role, "system") == 0)
        t->msgs[k++] = msgs[i++];
    for (; i < n; i++) {
        const json_t *m = json_array_get(jm, (size_t)i), *calls = json_object_get(m, "tool_calls");
        buf_init(&b, 1 << 24);
        if (!tools_done) {
            tools_done = 1;
            buf_puts(&b, "Given the following functions, please respond with a JSON for a function call with its "
                         "proper arguments that best answers the given prompt.\n\nRespond in the format "
                         "{\"name\": function name, \"parameters\": dictionary of argument name and its value}."
                         "Do not use variables.\n\n");
            size_t x;
            const json_t *tool;
            json_array_foreach(t->tools, x, tool) {
                char *js = json_dumps(tool, JSON_INDENT(4));
                buf_puts(&b, js ? js : "");
                free(js);
                buf_puts(&b, "\n\n");
            }
        }
        t->msgs[k].role = msgs[i].role;
        if (strcmp(msgs[i].role, "assistant") == 0 && json_array_size(calls) > 0) {
            const json_t *fn = json_object_get(json_array_get(calls, 0), "function"), *a = json_object_get(fn, "arguments");
            json_t *parsed = json_is_string(a) ? json_loads(json_string_value(a), JSON_DECODE_ANY, NULL) : NULL;
            buf_printf(&b, "{\"name\": \"%s\", \"parameters\": ", json_string_value(json_object_get(fn, "name")));
            put_json(&b, parsed ? parsed : a);
            json_decref(parsed);
            buf_puts(&b, "}");
        } else if (strcmp(msgs[i].role, "tool") == 0) {
            json_t *str = json_string(msgs[i].content);
            put_json(&b, str);
            json_decref(str);
            t->msgs[k].role = "ipython";
        } else {
            buf_puts(&b, msgs[i].content);
        }
        if (!(t->msgs[k++].content = own(t, &b)))
            return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
    }
    if (!tools_done) /* as the template, which raises an exception */
        return inferd_err_set(err, INFERD_EINVAL, "messages: tools need a message after the system one to go in");
    *out = t->msgs;
    *n_out = k;
    return 0;
}

/* A Mistral call id: 9 letters and digits (the template refuses others). An id that is
 * not one is replaced by 9 characters of its hash, the same for the call and its result. */
static void mistral_id(const char *id, char out[10])
{
    static const char ALNUM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = id ? strlen(id) : 0, ok = n == 9;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9');
    if (ok) {
        memcpy(out, id, 10);
        return;
    }
    uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, id ? id : "", n);
    for (int i = 0; i < 9; i++, h /= 62)
        out[i] = ALNUM[h % 62];
    out[9] = 0;
}

/* Mistral v3's template: the tools ([AVAILABLE_TOOLS] [..][/AVAILABLE_TOOLS], each tool
 * {"type": "function", "function": {..}} with string members written unescaped, as the
 * template does) just before the last user turn, which also carries the system text;
 * calls as [TOOL_CALLS] [{"name": .., "arguments": {..}, "id": ".."}, ..]</s>; results as
 * [TOOL_RESULTS] {"content": .., "call_id": ".."}[/TOOL_RESULTS]. v3-tekken writes no
 * space after the markers. */
static int mistral_messages(struct llm_tools *t, const json_t *jm, const struct chat_msg *msgs, int n,
                            const struct chat_msg **out, int *n_out, struct inferd_err *err)
{
    const char *sp = t->tmpl.family == CHAT_TMPL_MISTRAL_V3_TEKKEN ? "" : " ";
    int k = 0, i = 0, last_user = -1;
    const struct chat_msg *sys = NULL;
    struct buf b;
    free(t->msgs); /* up to two more: the tools and the moved system turn */
    if (!(t->msgs = calloc((size_t)n + 2, sizeof *t->msgs)))
        return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
    if (n > 0 && strcmp(msgs[0].role, "system") == 0 && t->active) /* without tools: where it was */
        sys = &msgs[i++];
    for (int x = i; x < n; x++)
        if (strcmp(msgs[x].role, "user") == 0)
            last_user = x;
    if (sys && last_user < 0) /* no user turn to carry it: where it was */
        t->msgs[k++] = *sys;
    for (; i < n; i++) {
        const json_t *m = json_array_get(jm, (size_t)i), *calls = json_object_get(m, "tool_calls"), *call;
        char id[10];
        if (i == last_user && t->active) {
            buf_init(&b, 1 << 24);
            buf_printf(&b, "[AVAILABLE_TOOLS]%s[", sp);
            size_t x;
            const json_t *tool;
            json_array_foreach(t->tools, x, tool) {
                const json_t *fn = json_object_get(tool, "function"), *val;
                const char *key;
                int first = 1;
                buf_printf(&b, "%s{\"type\": \"function\", \"function\": {", x ? ", " : "");
                json_object_foreach((json_t *)fn, key, val) {
                    if (strcmp(key, "return") == 0)
                        continue;
                    buf_printf(&b, "%s\"%s\": ", first ? "" : ", ", key);
                    if (json_is_string(val))
                        buf_printf(&b, "\"%s\"", json_string_value(val));
                    else
                        put_json(&b, val);
                    first = 0;
                }
                buf_puts(&b, "}}");
            }
            buf_puts(&b, "][/AVAILABLE_TOOLS]");
            t->msgs[k].role = CHAT_ROLE_RAW;
            if (!(t->msgs[k++].content = own(t, &b)))
                return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
        }
        if (i == last_user && sys)
            t->msgs[k++] = *sys;
        if (strcmp(msgs[i].role, "assistant") == 0 && json_array_size(calls) > 0) {
            buf_init(&b, 1 << 24);
            buf_printf(&b, "[TOOL_CALLS]%s[", sp);
            size_t x;
            json_array_foreach(calls, x, call) {
                const json_t *fn = json_object_get(call, "function"), *a = json_object_get(fn, "arguments");
                json_t *parsed = json_is_string(a) ? json_loads(json_string_value(a), JSON_DECODE_ANY, NULL) : NULL;
                mistral_id(json_string_value(json_object_get(call, "id")), id);
                buf_printf(&b, "%s{\"name\": \"%s\", \"arguments\": ", x ? ", " : "",
                           json_string_value(json_object_get(fn, "name")));
                put_json(&b, parsed ? parsed : a);
                json_decref(parsed);
                buf_printf(&b, ", \"id\": \"%s\"}", id);
            }
            buf_puts(&b, "]</s>");
            t->msgs[k].role = CHAT_ROLE_RAW;
        } else if (strcmp(msgs[i].role, "tool") == 0) {
            buf_init(&b, 1 << 24);
            mistral_id(json_string_value(json_object_get(m, "tool_call_id")), id);
            buf_printf(&b, "[TOOL_RESULTS]%s{\"content\": %s, \"call_id\": \"%s\"}[/TOOL_RESULTS]", sp, msgs[i].content,
                       id);
            t->msgs[k].role = CHAT_ROLE_RAW;
        } else {
            t->msgs[k++] = msgs[i];
            continue;
        }
        if (!(t->msgs[k++].content = own(t, &b)))
            return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
    }
    *out = t->msgs;
    *n_out = k;
    return 0;
}

int llm_tools_messages(struct llm_tools *t, const json_t *root, const struct chat_msg *msgs, int n,
                       const struct chat_msg **out, int *n_out, struct inferd_err *err)
{
    const json_t *jm = json_object_get(root, "messages");
    t->msgs = calloc((size_t)n + 1, sizeof *t->msgs);
    if (!t->msgs)
        return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
    int k = 0, i = 0;
    struct buf b;
    if (t->syntax == LLM_TOOLS_LLAMA)
        return llama_messages(t, jm, msgs, n, out, n_out, err);
    if (t->syntax == LLM_TOOLS_MISTRAL)
        return mistral_messages(t, jm, msgs, n, out, n_out, err);
    if (t->active) { /* the system turn: the request's (or the default) and the tools */
        buf_init(&b, 1 << 24);
        if (n > 0 && strcmp(msgs[0].role, "system") == 0)
            buf_puts(&b, msgs[i++].content);
        else if (t->tmpl.flags & CHAT_TMPL_F_QWEN_SYSTEM)
            buf_puts(&b, QWEN_DEFAULT_SYSTEM);
        if (b.len > 0)
            buf_puts(&b, "\n\n");
        buf_puts(&b, "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
                     "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
        size_t x;
        const json_t *tool;
        json_array_foreach(t->tools, x, tool) {
            buf_puts(&b, "\n");
            put_json(&b, tool);
        }
        buf_puts(&b, "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
                     "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                     "\"arguments\": <args-json-object>}\n</tool_call>");
        t->msgs[k].role = "system";
        if (!(t->msgs[k++].content = own(t, &b)))
            return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
    }
    if (t->tmpl.family != CHAT_TMPL_CHATML) { /* no tool syntax: the messages as parsed */
        for (; i < n; i++)
            t->msgs[k++] = msgs[i];
        *out = t->msgs;
        *n_out = k;
        return 0;
    }
    for (; i < n; i++) {
        const json_t *m = json_array_get(jm, (size_t)i), *calls = json_object_get(m, "tool_calls"), *call;
        if (strcmp(msgs[i].role, "assistant") == 0 && json_array_size(calls) > 0) {
            buf_init(&b, 1 << 24);
            if (msgs[i].content[0])
                buf_printf(&b, "%s\n", msgs[i].content);
            size_t x;
            json_array_foreach(calls, x, call) {
                const json_t *fn = json_object_get(call, "function"), *a = json_object_get(fn, "arguments");
                json_t *parsed = json_is_string(a) ? json_loads(json_string_value(a), JSON_DECODE_ANY, NULL) : NULL;
                buf_printf(&b, "%s<tool_call>\n{\"name\": \"%s\", \"arguments\": ", x ? "\n" : "",
                           json_string_value(json_object_get(fn, "name")));
                put_json(&b, parsed ? parsed : a); /* a string that is not JSON: as the string */
                json_decref(parsed);
                buf_puts(&b, "}\n</tool_call>");
            }
            t->msgs[k].role = "assistant";
            if (!(t->msgs[k++].content = own(t, &b)))
                return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
        } else if (strcmp(msgs[i].role, "tool") == 0) { /* consecutive results: one user turn */
            buf_init(&b, 1 << 24);
            for (int first = 1; i < n && strcmp(msgs[i].role, "tool") == 0; i++, first = 0)
                buf_printf(&b, "%s<tool_response>\n%s\n</tool_response>", first ? "" : "\n", msgs[i].content);
            i--;
            t->msgs[k].role = "user";
            if (!(t->msgs[k++].content = own(t, &b)))
                return inferd_err_set(err, INFERD_ENOMEM, "messages: out of memory");
        } else {
            t->msgs[k++] = msgs[i];
        }
    }
    *out = t->msgs;
    *n_out = k;
    return 0;
}

static int ident_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/* Appends GBNF text g with every rule name prefixed by prefix (names are the identifiers
 * outside string literals, character classes and {m,n} repetitions). */
static void put_prefixed(struct buf *out, const char *g, const char *prefix)
{
    for (const char *p = g; *p;) {
        if (*p == '"' || *p == '[') {
            char close = *p == '"' ? '"' : ']';
            const char *q = p + 1;
            while (*q && *q != close)
                q += q[0] == '\\' && q[1] ? 2 : 1;
            if (*q)
                q++;
            buf_put(out, p, (size_t)(q - p));
            p = q;
        } else if (*p == '{') {
            const char *q = strchr(p, '}');
            q = q ? q + 1 : p + strlen(p);
            buf_put(out, p, (size_t)(q - p));
            p = q;
        } else if (ident_char(*p)) {
            const char *q = p;
            while (ident_char(*q))
                q++;
            buf_puts(out, prefix);
            buf_put(out, p, (size_t)(q - p));
            p = q;
        } else {
            buf_put(out, p++, 1);
        }
    }
}

/* The GBNF of tool ix's arguments, start rule "t<ix>-root". A tool without parameters
 * takes none: "{}". */
static int args_gbnf(const json_t *tool, int ix, struct buf *out, struct inferd_err *err)
{
    const json_t *schema = json_object_get(json_object_get(tool, "function"), "parameters");
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t%d-", ix);
    if (!schema) {
        buf_printf(out, "%sroot ::= \"{}\"\n", prefix);
        return 0;
    }
    struct buf s;
    buf_init(&s, LLM_GRAMMAR_TEXT_MAX);
    int rc = llm_json_schema_gbnf(schema, &s, err);
    if (rc == 0 && (rc = buf_err(&s, err, "tools")) == 0 && s.len > 0)
        put_prefixed(out, s.data, prefix);
    buf_free(&s);
    return rc;
}

int llm_tools_grammar(const struct llm_tools *t, struct llm_grammar **out, char *param, struct inferd_err *err)
{
    *out = NULL;
    if (t->choice != LLM_TOOLS_REQUIRED && t->choice != LLM_TOOLS_NAMED)
        return 0;
    struct buf g;
    struct inferd_err gerr = {0};
    buf_init(&g, LLM_GRAMMAR_TEXT_MAX);
    int rc = 0, bad = -1;
    /* root ::= "<tool_call>\n{\"name\": \"" ( "NAME\", \"arguments\": " tN-root | ... ) "}\n</tool_call>" */
    const char *sp = t->tmpl.family == CHAT_TMPL_MISTRAL_V3_TEKKEN ? "" : " ";
    int llama = t->syntax == LLM_TOOLS_LLAMA, mistral = t->syntax == LLM_TOOLS_MISTRAL;
    if (llama)
        buf_puts(&g, "root ::= \"{\\\"name\\\": \\\"\" (");
    else if (mistral)
        buf_printf(&g, "root ::= \"[TOOL_CALLS]%s[{\\\"name\\\": \\\"\" (", sp);
    else
        buf_puts(&g, "root ::= \"<tool_call>\\n{\\\"name\\\": \\\"\" (");
    size_t x;
    const json_t *tool;
    int first = 1;
    json_array_foreach(t->tools, x, tool) {
        if (t->choice == LLM_TOOLS_NAMED && (int)x != t->named_ix)
            continue;
        buf_printf(&g, "%s \"%s\\\", \\\"%s\\\": \" t%zu-root", first ? "" : " |",
                   json_string_value(json_object_get(json_object_get(tool, "function"), "name")),
                   llama ? "parameters" : "arguments", x);
        first = 0;
    }
    buf_puts(&g, llama ? " ) \"}\"\n" : mistral ? " ) \"}]\"\n" : " ) \"}\\n</tool_call>\"\n");
    json_array_foreach(t->tools, x, tool) {
        if (t->choice == LLM_TOOLS_NAMED && (int)x != t->named_ix)
            continue;
        if ((rc = args_gbnf(tool, (int)x, &g, &gerr)) < 0) {
            bad = (int)x;
            break;
        }
    }
    if (rc == 0)
        rc = buf_err(&g, &gerr, "tools");
    if (rc == 0)
        rc = llm_grammar_parse(g.data, g.len, "root", out, &gerr);
    buf_free(&g);
    if (rc < 0) {
        if (bad >= 0)
            snprintf(param, 64, "tools[%d]", bad);
        else
            snprintf(param, 64, "%s", t->choice == LLM_TOOLS_NAMED ? "tool_choice" : "tools");
        if (bad >= 0)
            return inferd_err_set(err, rc == INFERD_ENOMEM ? rc : INFERD_EINVAL, "tools[%d].function.parameters: %s",
                                  bad, gerr.msg);
        return inferd_err_set(err, rc == INFERD_ENOMEM ? rc : INFERD_EINVAL, "tools: %s", gerr.msg);
    }
    return 0;
}

static int is_space(char ch) { return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r'; }

/* The arguments of call k as a JSON string's text: the bytes the model wrote when the
 * scan of the calls found them whole (what a stream sends), else a written compact ("{}"
 * when absent; a string is taken as it is). Returns malloc'd text or NULL (out of memory). */
static char *args_text(const json_t *a, const char *base, const struct llm_tools_part *parts, int n_parts, int k)
{
    if (json_is_object(a) && k < n_parts && parts[k].args_done) {
        char *r = malloc(parts[k].args_len + 1);
        if (r) {
            memcpy(r, base + parts[k].args_off, parts[k].args_len);
            r[parts[k].args_len] = 0;
        }
        return r;
    }
    if (json_is_string(a))
        return strdup(json_string_value(a));
    return a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
}

/* {id, type, function: {name, arguments}} of a parsed call object j (the id
 * id_prefix_k), or NULL when j is not a well-formed call. OUT: *oom on out of memory. */
static json_t *call_of(const json_t *j, const char *akey, const char *base, const struct llm_tools_part *parts,
                       int n_parts, const char *id_prefix, int k, int *oom)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const json_t *a = json_object_get(j, akey);
    if (!a)
        a = json_object_get(j, akey[0] == 'a' ? "parameters" : "arguments");
    if (!json_is_object(j) || !name || !good_name(name) || (a && !json_is_object(a) && !json_is_string(a)))
        return NULL;
    char id[96], *args = args_text(a, base, parts, n_parts, k);
    snprintf(id, sizeof id, "%s_%d", id_prefix, k);
    json_t *c = args ? json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", id, "type", "function", "function", "name", name,
                                 "arguments", args)
                     : NULL;
    free(args);
    if (!c)
        *oom = 1;
    return c;
}

/* Llama 3.1: the whole answer (after an optional <|python_tag|>) is one call
 * {"name": .., "parameters": {..}} ("arguments" also read). Mistral: [TOOL_CALLS] then a
 * JSON array of {"name": .., "arguments": {..}}. s is NUL-terminated, at the calls. */
static int whole_extract(const struct llm_tools *t, const char *s, size_t len, const char *id_prefix, json_t **calls)
{
    static const char TAG[] = "<|python_tag|>";
    struct llm_tools_part parts[LLM_TOOLS_MAX];
    int bad, oom = 0, mistral = t->syntax == LLM_TOOLS_MISTRAL;
    int n_parts = llm_tools_scan(t, s, len, parts, LLM_TOOLS_MAX, &bad);
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    if (mistral) {
        i += strlen(LLM_TOOL_CALLS_MISTRAL);
    } else if (len - i >= strlen(TAG) && memcmp(s + i, TAG, strlen(TAG)) == 0) {
        i += strlen(TAG);
    }
    json_t *j = json_loadb(s + i, len - i, mistral ? JSON_DISABLE_EOF_CHECK : 0, NULL), *arr = json_array(), *e;
    size_t k;
    if (!arr)
        oom = 1;
    if (!mistral) {
        json_t *c = arr ? call_of(j, "parameters", s, parts, n_parts, id_prefix, 0, &oom) : NULL;
        if (c)
            json_array_append_new(arr, c);
    } else if (json_is_array(j) && json_array_size(j) <= LLM_TOOLS_MAX) {
        json_array_foreach(j, k, e) {
            json_t *c = arr ? call_of(e, "arguments", s, parts, n_parts, id_prefix, (int)k, &oom) : NULL;
            if (!c) {
                json_array_clear(arr);
                break;
            }
            json_array_append_new(arr, c);
        }
    }
    json_decref(j);
    if (json_array_size(arr) > 0)
        *calls = arr;
    else
        json_decref(arr);
    return oom ? INFERD_ENOMEM : 0;
}

/* Where the calls open in s (NUL-terminated, len bytes): Hermes' first <tool_call>,
 * Mistral's [TOOL_CALLS], Llama's first visible byte. NULL: no call. */
static const char *calls_start(const struct llm_tools *t, const char *s, size_t len)
{
    if (strlen(s) != len) /* a NUL inside: no call */
        return NULL;
    if (t->syntax == LLM_TOOLS_HERMES)
        return strstr(s, LLM_TOOL_CALL_OPEN);
    if (t->syntax == LLM_TOOLS_MISTRAL)
        return strstr(s, LLM_TOOL_CALLS_MISTRAL);
    return s;
}

int llm_tools_extract(const struct llm_tools *t, const char *text, size_t len, const char *id_prefix, json_t **calls,
                      char **content)
{
    static const char OPEN[] = LLM_TOOL_CALL_OPEN, CLOSE[] = "</tool_call>";
    *calls = NULL;
    *content = NULL;
    char *s = malloc(len + 1);
    if (!s)
        return INFERD_ENOMEM;
    memcpy(s, text, len);
    s[len] = 0;
    char *first = (char *)calls_start(t, s, len);
    if (first && t->syntax != LLM_TOOLS_HERMES) {
        int rc = whole_extract(t, first, len - (size_t)(first - s), id_prefix, calls);
        if (rc < 0 || !*calls) {
            free(s);
            return rc;
        }
    } else if (first) {
        struct llm_tools_part parts[LLM_TOOLS_MAX];
        int bad, oom = 0;
        int n_parts = llm_tools_scan(t, first, len - (size_t)(first - s), parts, LLM_TOOLS_MAX, &bad);
        json_t *arr = json_array();
        for (char *p = first; p && arr;) {
            char *body = p + strlen(OPEN), *end = strstr(body, CLOSE);
            size_t blen = end ? (size_t)(end - body) : strlen(body);
            json_t *j = json_loadb(body, blen, 0, NULL);
            json_t *c = json_array_size(arr) < LLM_TOOLS_MAX
                            ? call_of(j, "arguments", first, parts, n_parts, id_prefix, (int)json_array_size(arr), &oom)
                            : NULL;
            json_decref(j);
            if (!c) {
                json_decref(arr); /* not a well-formed call: the text is the answer */
                arr = NULL;
                break;
            }
            json_array_append_new(arr, c);
            if (!end)
                break;
            p = end + strlen(CLOSE);
            while (*p && is_space(*p))
                p++;
            if (!*p)
                break;
            p = strncmp(p, OPEN, strlen(OPEN)) == 0 ? p : NULL; /* text after the calls: ignored */
        }
        if (oom || !arr) {
            json_decref(arr);
            free(s);
            return oom ? INFERD_ENOMEM : 0;
        }
        *calls = arr;
    } else {
        free(s);
        return 0;
    }
    size_t a = 0, b = (size_t)(first - s);
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (b > a) {
        memmove(s, s + a, b - a);
        s[b - a] = 0;
        *content = s;
    } else {
        free(s);
    }
    return 0;
}

void llm_tools_free(struct llm_tools *t)
{
    for (int i = 0; i < t->n_owned; i++)
        free(t->owned[i]);
    free(t->owned);
    free(t->msgs);
    memset(t, 0, sizeof *t);
}
