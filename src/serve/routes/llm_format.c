/* llm_format.c — response_format / grammar / json_schema of a request into a grammar (see
 * llm_format.h). */
#include "serve/routes/llm_format.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "llm/grammar.h"
#include "llm/json_schema.h"

static int fail(char *param, const char *p, struct inferd_err *err, int code, const char *msg)
{
    snprintf(param, 64, "%s", p);
    return inferd_err_set(err, code, "%s", msg);
}

/* Parses the GBNF in b into *out; errors name p and keep the parser's position. A cap
 * passed is a 400 like any other bad input (not a context-length error). */
static int compile(struct buf *b, const char *p, const char *what, struct llm_grammar **out, char *param,
                   struct inferd_err *err)
{
    struct inferd_err perr = {0};
    int rc = buf_err(b, &perr, what);
    if (rc == 0)
        rc = llm_grammar_parse(b->data, b->len, "root", out, &perr);
    buf_free(b);
    if (rc == 0)
        return 0;
    snprintf(param, 64, "%s", p);
    if (rc == INFERD_ETOOLARGE)
        rc = INFERD_EINVAL;
    return inferd_err_set(err, rc, "%s: %s", what, perr.msg);
}

static int from_schema(const json_t *schema, const char *p, const char *what, struct llm_grammar **out, char *param,
                       struct inferd_err *err)
{
    struct buf b;
    struct inferd_err serr = {0};
    buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
    int rc = llm_json_schema_gbnf(schema, &b, &serr);
    if (rc < 0) {
        buf_free(&b);
        snprintf(param, 64, "%s", p);
        return inferd_err_set(err, rc == INFERD_ETOOLARGE ? INFERD_EINVAL : rc, "%s: %s", what, serr.msg);
    }
    return compile(&b, p, what, out, param, err);
}

int llm_format_grammar(const json_t *root, struct llm_grammar **out, char *param, struct inferd_err *err)
{
    *out = NULL;
    const json_t *rf = json_object_get(root, "response_format");
    const json_t *gr = json_object_get(root, "grammar");
    const json_t *js = json_object_get(root, "json_schema");
    if (json_is_null(rf))
        rf = NULL;
    if (json_is_null(gr))
        gr = NULL;
    if (json_is_null(js))
        js = NULL;
    if (!!rf + !!gr + !!js > 1)
        return fail(param, rf ? "response_format" : "grammar", err, INFERD_EINVAL,
                    "response_format, grammar and json_schema: give at most one of them");
    if (gr) {
        if (!json_is_string(gr))
            return fail(param, "grammar", err, INFERD_EINVAL, "grammar: must be a string of GBNF rules");
        if (json_string_length(gr) == 0)
            return 0;
        struct buf b;
        buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
        buf_put(&b, json_string_value(gr), json_string_length(gr));
        return compile(&b, "grammar", "grammar", out, param, err);
    }
    if (js)
        return from_schema(js, "json_schema", "json_schema", out, param, err);
    if (!rf)
        return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return fail(param, "response_format", err, INFERD_EINVAL,
                    "response_format: must be an object with a type: \"text\", \"json_object\" or \"json_schema\"");
    if (strcmp(type, "text") == 0)
        return 0;
    if (strcmp(type, "json_object") == 0) {
        struct buf b;
        buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
        llm_json_object_gbnf(&b);
        return compile(&b, "response_format", "response_format", out, param, err);
    }
    if (strcmp(type, "json_schema") != 0)
        return fail(param, "response_format", err, INFERD_EINVAL,
                    "response_format.type: must be \"text\", \"json_object\" or \"json_schema\"");
    const json_t *spec = json_object_get(rf, "json_schema");
    if (!json_is_object(spec))
        return fail(param, "response_format", err, INFERD_EINVAL,
                    "response_format.json_schema: required, an object with a schema");
    const json_t *schema = json_object_get(spec, "schema");
    if (!schema) /* {"type":"json_schema","json_schema":{"name":..}} without one: any JSON value */
        schema = json_true();
    return from_schema(schema, "response_format", "response_format.json_schema.schema", out, param, err);
}
