/* fuzz_json_schema.c — libFuzzer driver for the JSON Schema compiler: any JSON document is
 * refused with a reason or compiled into GBNF that the grammar parser accepts, and whose
 * matcher can start. */
#include "llm/grammar.h"
#include "llm/json_schema.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *s = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!s)
        return 0;
    struct buf b;
    struct inferd_err err = {0};
    buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
    if (llm_json_schema_gbnf(s, &b, &err) < 0) {
        if (!err.msg[0])
            abort();
    } else {
        struct llm_grammar *g;
        int rc = llm_grammar_parse(b.data, b.len, "root", &g, &err);
        if (rc < 0 && rc != INFERD_ETOOLARGE) /* only a cap may refuse what the compiler wrote */
            abort();
        llm_grammar_unref(rc == 0 ? g : NULL);
    }
    buf_free(&b);
    json_decref(s);
    return 0;
}
