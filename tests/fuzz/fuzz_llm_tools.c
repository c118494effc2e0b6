/* fuzz_llm_tools.c — libFuzzer driver for tool calling: any request body goes through
 * llm_tools_parse (ChatML, Llama 3.1 or Mistral v3 template), the message rewrite and the
 * forced-call grammar (refused with a reason, or a grammar the parser accepts); any bytes go
 * through llm_tools_extract as model output (calls with string arguments, or none) and
 * llm_tools_scan (parts inside the text, in order). */
#include "llm/grammar.h"
#include "serve/routes/llm_tools.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i;
    for (int syntax = LLM_TOOLS_HERMES; syntax <= LLM_TOOLS_MISTRAL; syntax++) {
        struct llm_tools syn = {.syntax = (enum llm_tools_syntax)syntax};
        struct llm_tools_part parts[8];
        int bad, n = llm_tools_scan(&syn, (const char *)data, size, parts, 8, &bad);
        for (int k = 0; k < n; k++)
            if (parts[k].name_off + parts[k].name_len > size || parts[k].args_off + parts[k].args_len > size ||
                parts[k].name_len == 0 || parts[k].args_len == 0 || data[parts[k].args_off] != '{' ||
                (k > 0 && parts[k].args_off <= parts[k - 1].args_off))
                abort();
        json_t *calls = NULL, *c;
        char *content = NULL;
        if (llm_tools_extract(&syn, (const char *)data, size, "call_f", &calls, &content) == 0) {
            json_array_foreach(calls, i, c)
                if (!json_is_string(json_object_get(json_object_get(c, "function"), "arguments")))
                    abort();
        }
        json_decref(calls);
        free(content);
        int state = 0;
        if (llm_tools_sendable(&syn, (const char *)data, size, &state) > size)
            abort();
    }

    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0;
    }
    struct chat_tmpl tmpl;
    chat_tmpl_from_name(size % 3 == 2 ? "mistral-v3" : size % 3 ? "llama3.1" : "chatml", &tmpl);
    struct llm_tools t;
    struct inferd_err err = {0};
    char param[64];
    if (llm_tools_parse(root, &tmpl, &t, param, &err) < 0) {
        if (!err.msg[0] || !param[0])
            abort();
    } else {
        json_t *msgs = json_object_get(root, "messages"), *m;
        int n = 0;
        struct chat_msg *cm = calloc(json_array_size(msgs) + 1, sizeof *cm);
        json_array_foreach(msgs, i, m) {
            const char *role = json_string_value(json_object_get(m, "role"));
            const char *text = json_string_value(json_object_get(m, "content"));
            if (cm && role)
                cm[n++] = (struct chat_msg){role, text ? text : ""};
        }
        const struct chat_msg *out;
        int n_out;
        if (cm && llm_tools_messages(&t, root, cm, n, &out, &n_out, &err) == 0 && n_out > n + 1)
            abort();
        free(cm);
        struct llm_grammar *g = NULL;
        if (llm_tools_grammar(&t, &g, param, &err) < 0 && !err.msg[0])
            abort();
        llm_grammar_unref(g);
    }
    llm_tools_free(&t);
    json_decref(root);
    return 0;
}
