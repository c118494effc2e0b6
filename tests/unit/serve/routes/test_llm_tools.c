/* test_llm_tools.c — tool calling's text layer (src/serve/routes/llm_tools.h): Mistral v3 and
 * v3-tekken prompts written exactly as Mistral's chat templates write them (the Nemo one is
 * in shared/testdata/llm/templates), Mistral calls parsed back, the forced-call grammar, and
 * llm_tools_scan on every prefix of generated calls (what a stream sends is always a prefix
 * of the whole call, and whole at the end). */
#include "serve/routes/llm_tools.h"

#include "llm/grammar.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_JSON                                                                                  \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Weather\", " \
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}}}}"

static const char REQUEST[] =
    "{\"tools\": [" TOOL_JSON "], \"messages\": ["
    "{\"role\": \"system\", \"content\": \"Be brief.\"},"
    "{\"role\": \"user\", \"content\": \"Weather in Paris?\"},"
    "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"abcDEF123\", \"type\": \"function\","
    " \"function\": {\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
    "{\"role\": \"tool\", \"tool_call_id\": \"abcDEF123\", \"content\": \"18 C\"}]}";

/* Renders root's messages for template name through llm_tools. OUT: malloc'd text or NULL. */
static char *render(const char *name, const char *body, enum llm_tools_syntax *syntax)
{
    json_t *root = json_loads(body, 0, NULL), *m;
    struct chat_tmpl tmpl;
    struct llm_tools t;
    struct inferd_err err = {0};
    char param[64] = "", *text = NULL;
    struct chat_msg msgs[8];
    int n = 0;
    size_t i;
    CHECK(root != NULL);
    CHECK(chat_tmpl_from_name(name, &tmpl) == 0);
    json_array_foreach(json_object_get(root, "messages"), i, m) {
        const char *c = json_string_value(json_object_get(m, "content"));
        msgs[n++] = (struct chat_msg){json_string_value(json_object_get(m, "role")), c ? c : ""};
    }
    const struct chat_msg *out;
    int n_out;
    int rc = llm_tools_parse(root, &tmpl, &t, param, &err);
    CHECK(rc == 0);
    if (rc == 0 && llm_tools_messages(&t, root, msgs, n, &out, &n_out, &err) == 0)
        CHECK(chat_tmpl_render(&t.tmpl, out, n_out, 1, 1 << 20, &text, &err) == 0);
    if (syntax)
        *syntax = t.syntax;
    llm_tools_free(&t);
    json_decref(root);
    return text;
}

static void check_text(const char *got, const char *want, int line)
{
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "line %d:\n got: %s\nwant: %s\n", line, got ? got : "(null)", want);
        check_fail(__FILE__, line, "rendered text");
    }
}

static void test_mistral_render(void)
{
    enum llm_tools_syntax syn;
    char *v3 = render("mistral-v3", REQUEST, &syn);
    CHECK(syn == LLM_TOOLS_MISTRAL);
    /* Mistral-7B-Instruct-v0.3's template; the system text opens the last user turn */
    check_text(v3,
               "[AVAILABLE_TOOLS] [" TOOL_JSON "][/AVAILABLE_TOOLS][INST] Be brief.\n\nWeather in Paris?[/INST]"
               "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcDEF123\"}]</s>"
               "[TOOL_RESULTS] {\"content\": 18 C, \"call_id\": \"abcDEF123\"}[/TOOL_RESULTS]",
               __LINE__);
    free(v3);
    char *nemo = render("mistral-v3-tekken", REQUEST, NULL);
    check_text(nemo,
               "[AVAILABLE_TOOLS][" TOOL_JSON "][/AVAILABLE_TOOLS][INST]Be brief.\n\nWeather in Paris?[/INST]"
               "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcDEF123\"}]</s>"
               "[TOOL_RESULTS]{\"content\": 18 C, \"call_id\": \"abcDEF123\"}[/TOOL_RESULTS]",
               __LINE__);
    free(nemo);
    /* ids that are not 9 letters and digits: the same 9-character stand-in for the call and its result */
    const char *body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"},"
                       "{\"role\": \"assistant\", \"tool_calls\": [{\"id\": \"call_xyz_0\", \"function\": {\"name\": \"f\","
                       " \"arguments\": {}}}]}, {\"role\": \"tool\", \"tool_call_id\": \"call_xyz_0\", \"content\": \"1\"},"
                       "{\"role\": \"assistant\", \"content\": \" Done. \"}, {\"role\": \"user\", \"content\": \"Bye\"}]}";
    char *t = render("mistral-v3", body, NULL);
    const char *a = t ? strstr(t, "\"id\": \"") : NULL, *b = t ? strstr(t, "\"call_id\": \"") : NULL;
    CHECK(a && b && strncmp(a + 7, b + 12, 9) == 0 && a[16] == '"');
    for (int i = 0; a && i < 9; i++)
        CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", a[7 + i]) != NULL);
    CHECK(t && strstr(t, "[/TOOL_RESULTS] Done.</s>[INST] Bye[/INST]") != NULL);
    CHECK(t && strncmp(t, "[INST] Hi[/INST][TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}, \"id\": \"", 68) == 0);
    free(t);
    /* no tools offered: a plain chat renders as the template family always has */
    t = render("mistral-v3", "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
                             "\"content\": \"A\"}, {\"role\": \"assistant\", \"content\": \"B\"}, {\"role\": "
                             "\"user\", \"content\": \"C\"}]}", NULL);
    check_text(t, "[INST] S\n\nA[/INST] B</s>[INST] C[/INST]", __LINE__);
    free(t);
}

/* A Mistral model's tool calling: detected from the template text, calls parsed back. */
static void test_mistral_calls(void)
{
    struct chat_tmpl tmpl;
    chat_tmpl_detect("{{ bos_token }}{% for m in messages %}[INST] {{ m.content }}[/INST]"
                     "{% if tools %}[AVAILABLE_TOOLS] {{ tools|tojson }}[/AVAILABLE_TOOLS]{% endif %}{% endfor %}",
                     &tmpl);
    CHECK(tmpl.family == CHAT_TMPL_MISTRAL_V3 && (tmpl.flags & CHAT_TMPL_F_TOOLS));
    json_t *root = json_loads("{\"tools\": [" TOOL_JSON "], \"tool_choice\": \"required\"}", 0, NULL);
    struct llm_tools t;
    struct inferd_err err = {0};
    char param[64] = "";
    CHECK(llm_tools_parse(root, &tmpl, &t, param, &err) == 0 && t.syntax == LLM_TOOLS_MISTRAL && t.active);
    struct llm_grammar *g = NULL;
    CHECK(llm_tools_grammar(&t, &g, param, &err) == 0 && g != NULL);
    llm_grammar_unref(g);

    const char *out = "Sure. [TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Par\\\"is\"}}, "
                      "{\"name\": \"get_weather\", \"arguments\": {}}]";
    json_t *calls = NULL;
    char *content = NULL;
    CHECK(llm_tools_extract(&t, out, strlen(out), "call_q", &calls, &content) == 0);
    CHECK(json_array_size(calls) == 2);
    json_t *f0 = json_object_get(json_array_get(calls, 0), "function");
    CHECK(strcmp(json_string_value(json_object_get(f0, "name")), "get_weather") == 0);
    CHECK(strcmp(json_string_value(json_object_get(f0, "arguments")), "{\"city\": \"Par\\\"is\"}") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(calls, 1), "id")), "call_q_1") == 0);
    CHECK(content && strcmp(content, "Sure.") == 0);
    json_decref(calls);
    free(content);
    int state = 0;
    CHECK(llm_tools_sendable(&t, "Sure. [TOOL_CA", 14, &state) == 6 && state == 0);
    CHECK(llm_tools_sendable(&t, out, strlen(out), &state) == 6 && state == LLM_TOOLS_STREAM_CALL);
    const char *bad = "[TOOL_CALLS] [{\"name\": \"get weather\", \"arguments\": {}}]";
    CHECK(llm_tools_extract(&t, bad, strlen(bad), "c", &calls, &content) == 0 && !calls && !content);
    llm_tools_free(&t);
    json_decref(root);
}

/* Every prefix of text: the scanned arguments are a prefix of the whole call's, the call
 * count never falls, and the end has want_n calls with these whole arguments. */
static void check_prefixes(enum llm_tools_syntax syn, const char *text, int want_n, const char *const *want_args,
                           int line)
{
    struct llm_tools t = {.syntax = syn};
    struct llm_tools_part parts[4];
    size_t len = strlen(text);
    int prev = 0, bad, n = 0;
    for (size_t l = 0; l <= len; l++) {
        n = llm_tools_scan(&t, text, l, parts, 4, &bad);
        if (bad || n < prev || n > want_n) {
            fprintf(stderr, "line %d: prefix %zu: %d calls, bad %d\n", line, l, n, bad);
            check_fail(__FILE__, line, "scan");
            return;
        }
        for (int k = 0; k < n; k++) {
            size_t wl = strlen(want_args[k]);
            if (parts[k].args_len > wl || memcmp(text + parts[k].args_off, want_args[k], parts[k].args_len) != 0 ||
                (parts[k].args_done && parts[k].args_len != wl) || (k + 1 < n && !parts[k].args_done)) {
                fprintf(stderr, "line %d: prefix %zu call %d: %.*s\n", line, l, k, (int)parts[k].args_len,
                        text + parts[k].args_off);
                check_fail(__FILE__, line, "scan args");
                return;
            }
        }
        prev = n;
    }
    CHECK(n == want_n);
    for (int k = 0; k < n; k++)
        CHECK(parts[k].args_done && strncmp(text + parts[k].name_off, "get_", 4) == 0);
}

static void test_scan(void)
{
    const char *a[] = {"{\"city\": \"Z\xc3\xbcrich\", \"n\": [1, {\"x\": \"}\"}]}", "{}"};
    check_prefixes(LLM_TOOLS_HERMES,
                   "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\xc3\xbcrich\", \"n\": [1, "
                   "{\"x\": \"}\"}]}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
                   2, a, __LINE__);
    check_prefixes(LLM_TOOLS_LLAMA,
                   "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Z\xc3\xbcrich\", \"n\": [1, "
                   "{\"x\": \"}\"}]}}",
                   1, a, __LINE__);
    check_prefixes(LLM_TOOLS_MISTRAL,
                   "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\xc3\xbcrich\", \"n\": [1, "
                   "{\"x\": \"}\"}]}, \"id\": \"abcDEF123\"}, {\"name\": \"get_time\", \"arguments\": {}}]",
                   2, a, __LINE__);
    /* never half a UTF-8 character */
    struct llm_tools t = {.syntax = LLM_TOOLS_HERMES};
    struct llm_tools_part p[2];
    int bad;
    const char *s = "<tool_call>{\"name\": \"f\", \"arguments\": {\"c\": \"Z\xc3";
    CHECK(llm_tools_scan(&t, s, strlen(s), p, 2, &bad) == 1 && !bad && p[0].args_len == strlen("{\"c\": \"Z"));
    /* written otherwise: not followed (held and sent whole) */
    s = "<tool_call>{\"arguments\": {}, \"name\": \"f\"}</tool_call>";
    CHECK(llm_tools_scan(&t, s, strlen(s), p, 2, &bad) == 0 && bad);
    s = "<tool_call>{\"name\": \"f\", \"arguments\": \"{}\"}</tool_call>";
    CHECK(llm_tools_scan(&t, s, strlen(s), p, 2, &bad) == 0 && bad);
    s = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>trailing";
    CHECK(llm_tools_scan(&t, s, strlen(s), p, 2, &bad) == 1 && bad);
}

int main(void)
{
    test_mistral_render();
    test_mistral_calls();
    test_scan();
    return check_finish();
}
