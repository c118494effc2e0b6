/* json_schema.c — JSON Schema to GBNF (see json_schema.h): one rule per schema node, named
 * r<N>, over a fixed prelude of JSON primitives. */
#include "llm/json_schema.h"
#include "llm/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_NAME 48

/* The JSON primitives every compiled grammar ends with. */
static const char PRELUDE[] =
    "ws ::= \" \"?\n"
    "jchar ::= [^\"\\\\\\x00-\\x1F\\x7F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "jstring ::= \"\\\"\" jchar* \"\\\"\"\n"
    "jint ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "jnum ::= jint (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?\n"
    "jbool ::= \"true\" | \"false\"\n"
    "jnull ::= \"null\"\n"
    "jvalue ::= jobject | jarray | jstring | jnum | jbool | jnull\n"
    "jobject ::= \"{\" ws (jstring ws \":\" ws jvalue (ws \",\" ws jstring ws \":\" ws jvalue)*)? ws \"}\"\n"
    "jarray ::= \"[\" ws (jvalue (ws \",\" ws jvalue)*)? ws \"]\"\n";

struct sc {
    struct buf *out;
    const json_t *root;
    int n_rules;
    json_t *defs_done;      /* owned: $ref path -> rule name, for refs already compiled */
    struct inferd_err *err;
    char path[256];
};

static int fail(struct sc *c, int code, const char *fmt, const char *what)
{
    return inferd_err_set(c->err, code, "%s%s%s", c->path[0] ? c->path : "", c->path[0] ? ": " : "",
                          fmt ? fmt : what);
}

/* Appends s as a GBNF literal. */
static void literal(struct buf *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)ch);
        } else if (ch < 0x20 || ch == 0x7F) {
            buf_printf(b, "\\x%02X", ch);
        } else {
            buf_putc(b, (char)ch);
        }
    }
    buf_putc(b, '"');
}

/* Appends the compact JSON text of v as a GBNF literal. Returns 0 or -1. */
static int json_literal(struct buf *b, const json_t *v)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!t)
        return -1;
    literal(b, t, strlen(t));
    free(t);
    return 0;
}

static void new_name(struct sc *c, char *name)
{
    snprintf(name, SC_NAME, "r%d", c->n_rules++);
}

static int gen(struct sc *c, const json_t *s, char *name, int depth);

/* Extends the path with "/key" (or "[i]") for the duration of a nested gen. */
static size_t path_push(struct sc *c, const char *key, long idx)
{
    size_t at = strlen(c->path);
    if (idx >= 0)
        snprintf(c->path + at, sizeof c->path - at, "[%ld]", idx);
    else
        snprintf(c->path + at, sizeof c->path - at, "%s%s", at ? "." : "", key);
    return at;
}

static int gen_child(struct sc *c, const json_t *s, const char *key, long idx, char *name, int depth)
{
    size_t at = path_push(c, key, idx);
    int rc = gen(c, s, name, depth + 1);
    if (rc == 0)
        c->path[at] = 0;
    return rc;
}

static const char *const UNSUPPORTED[] = {
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "not", "if",
    "then", "else", "uniqueItems", "minProperties", "maxProperties", "patternProperties", "prefixItems",
    "contains", "minContains", "maxContains", "dependentRequired", "dependentSchemas", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems",
};

static int get_count(struct sc *c, const json_t *s, const char *key, long dflt, long *out)
{
    const json_t *v = json_object_get(s, key);
    *out = dflt;
    if (!v)
        return 0;
    char msg[120];
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(msg, sizeof msg, "%s: must be a non-negative integer", key);
        return fail(c, INFERD_EINVAL, msg, NULL);
    }
    if (json_integer_value(v) > 1000) {
        snprintf(msg, sizeof msg, "%s: over 1000 is not supported", key);
        return fail(c, INFERD_EUNSUPPORTED, msg, NULL);
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* "{m,n}" / "{m,}" into rep. */
static void rep(char *out, size_t cap, long min, long max)
{
    if (max < 0)
        snprintf(out, cap, "{%ld,}", min);
    else
        snprintf(out, cap, "{%ld,%ld}", min, max);
}

static int gen_object(struct sc *c, const json_t *s, const char *name, int depth)
{
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props))
        return fail(c, INFERD_EINVAL, NULL, "properties: must be an object");
    if (req && !json_is_array(req))
        return fail(c, INFERD_EINVAL, NULL, "required: must be an array of property names");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r))
            return fail(c, INFERD_EINVAL, NULL, "required: must be an array of property names");
        if (!json_object_get(props, json_string_value(r))) {
            char msg[200];
            snprintf(msg, sizeof msg, "required: \"%.80s\" is not among the properties", json_string_value(r));
            return fail(c, INFERD_EINVAL, msg, NULL);
        }
    }
    size_t n = props ? json_object_size(props) : 0;
    if (n == 0) {
        if (json_is_false(addl)) {
            buf_printf(c->out, "%s ::= \"{\" ws \"}\"\n", name);
        } else if (json_is_object(addl) && json_object_size(addl) > 0) { /* a map: any keys, values of one schema */
            char val[SC_NAME];
            int rc = gen_child(c, addl, "additionalProperties", -1, val, depth);
            if (rc < 0)
                return rc;
            buf_printf(c->out, "%s ::= \"{\" ws (jstring ws \":\" ws %s (ws \",\" ws jstring ws \":\" ws %s)*)? ws \"}\"\n",
                       name, val, val);
        } else {
            buf_printf(c->out, "%s ::= jobject\n", name);
        }
        return 0;
    }
    /* kv_i rules first (children may add rules of their own) */
    char (*kv)[SC_NAME] = calloc(n, SC_NAME);
    int *required = calloc(n, sizeof *required);
    if (!kv || !required) {
        free(kv);
        free(required);
        return fail(c, INFERD_ENOMEM, NULL, "out of memory");
    }
    const char *key;
    json_t *ps;
    int rc = 0;
    i = 0;
    size_t at = path_push(c, "properties", -1);
    json_object_foreach((json_t *)props, key, ps) {
        char child[SC_NAME];
        rc = gen_child(c, ps, key, -1, child, depth);
        if (rc < 0)
            break;
        new_name(c, kv[i]);
        json_t *k = json_string(key);
        buf_printf(c->out, "%s ::= ", kv[i]);
        if (!k || json_literal(c->out, k) < 0) {
            json_decref(k);
            rc = fail(c, INFERD_ENOMEM, NULL, "out of memory");
            break;
        }
        json_decref(k);
        buf_printf(c->out, " ws \":\" ws %s\n", child);
        size_t ri;
        json_array_foreach(req, ri, r) if (strcmp(json_string_value(r), key) == 0) required[i] = 1;
        i++;
    }
    if (rc == 0) {
        c->path[at] = 0;
        /* A_i: nothing emitted yet, from property i on; B_i: something emitted. */
        int base = c->n_rules;
        c->n_rules += 2 * (int)n;
        for (size_t k = 0; k < n; k++) {
            int a = base + 2 * (int)k, b = a + 1, last = k + 1 == n;
            char na[SC_NAME], nb[SC_NAME];
            if (last) {
                snprintf(na, sizeof na, "%s", "");
                snprintf(nb, sizeof nb, "%s", "");
            } else {
                snprintf(na, sizeof na, " r%d", a + 2);
                snprintf(nb, sizeof nb, " r%d", b + 2);
            }
            buf_printf(c->out, "r%d ::= %s%s", a, kv[k], nb);
            if (!required[k])
                buf_printf(c->out, " | %s", last ? "\"\"" : na + 1);
            buf_printf(c->out, "\nr%d ::= ws \",\" ws %s%s", b, kv[k], nb);
            if (!required[k])
                buf_printf(c->out, " | %s", last ? "\"\"" : nb + 1);
            buf_putc(c->out, '\n');
        }
        buf_printf(c->out, "%s ::= \"{\" ws r%d ws \"}\"\n", name, base);
    }
    free(kv);
    free(required);
    return rc;
}

static int gen_array(struct sc *c, const json_t *s, const char *name, int depth)
{
    long min, max;
    if (get_count(c, s, "minItems", 0, &min) < 0 || get_count(c, s, "maxItems", -1, &max) < 0)
        return c->err ? c->err->code : INFERD_EINVAL;
    if (max >= 0 && max < min)
        return fail(c, INFERD_EINVAL, NULL, "maxItems: below minItems");
    const json_t *items = json_object_get(s, "items");
    char item[SC_NAME] = "jvalue";
    if (items) {
        int rc = gen_child(c, items, "items", -1, item, depth);
        if (rc < 0)
            return rc;
    }
    char r[48];
    if (max == 0) {
        buf_printf(c->out, "%s ::= \"[\" ws \"]\"\n", name);
    } else if (min == 0) {
        rep(r, sizeof r, 0, max < 0 ? -1 : max - 1);
        buf_printf(c->out, "%s ::= \"[\" ws (%s (ws \",\" ws %s)%s)? ws \"]\"\n", name, item, item, r);
    } else {
        rep(r, sizeof r, min - 1, max < 0 ? -1 : max - 1);
        buf_printf(c->out, "%s ::= \"[\" ws %s (ws \",\" ws %s)%s ws \"]\"\n", name, item, item, r);
    }
    return 0;
}

static int gen_string(struct sc *c, const json_t *s, const char *name)
{
    long min, max;
    if (get_count(c, s, "minLength", 0, &min) < 0 || get_count(c, s, "maxLength", -1, &max) < 0)
        return c->err ? c->err->code : INFERD_EINVAL;
    if (max >= 0 && max < min)
        return fail(c, INFERD_EINVAL, NULL, "maxLength: below minLength");
    if (min == 0 && max < 0) {
        buf_printf(c->out, "%s ::= jstring\n", name);
    } else {
        char r[48];
        rep(r, sizeof r, min, max);
        buf_printf(c->out, "%s ::= \"\\\"\" jchar%s \"\\\"\"\n", name, r);
    }
    return 0;
}

/* The rule for schema s restricted to one type name. */
static int gen_type(struct sc *c, const json_t *s, const char *type, const char *name, int depth)
{
    if (strcmp(type, "object") == 0)
        return gen_object(c, s, name, depth);
    if (strcmp(type, "array") == 0)
        return gen_array(c, s, name, depth);
    if (strcmp(type, "string") == 0)
        return gen_string(c, s, name);
    const char *prim = strcmp(type, "number") == 0    ? "jnum"
                       : strcmp(type, "integer") == 0 ? "jint"
                       : strcmp(type, "boolean") == 0 ? "jbool"
                       : strcmp(type, "null") == 0    ? "jnull"
                                                      : NULL;
    if (!prim) {
        char msg[160];
        snprintf(msg, sizeof msg, "type: \"%.60s\" is not a JSON Schema type", type);
        return fail(c, INFERD_EINVAL, msg, NULL);
    }
    buf_printf(c->out, "%s ::= %s\n", name, prim);
    return 0;
}

/* A "#/$defs/x" reference: its rule, compiled once (recursive schemas refer to themselves). */
static int gen_ref(struct sc *c, const char *ref, char *name, int depth)
{
    const json_t *done = json_object_get(c->defs_done, ref);
    if (done) {
        snprintf(name, SC_NAME, "%s", json_string_value(done));
        return 0;
    }
    const char *key = NULL;
    const json_t *defs = NULL;
    if (strncmp(ref, "#/$defs/", 8) == 0) {
        key = ref + 8;
        defs = json_object_get(c->root, "$defs");
    } else if (strncmp(ref, "#/definitions/", 14) == 0) {
        key = ref + 14;
        defs = json_object_get(c->root, "definitions");
    } else if (strcmp(ref, "#") == 0) {
        key = NULL;
    } else {
        return fail(c, INFERD_EUNSUPPORTED, NULL, "$ref: only \"#\", \"#/$defs/<name>\" and \"#/definitions/<name>\" are supported");
    }
    const json_t *target = key ? json_object_get(defs, key) : c->root;
    if (!target)
        return fail(c, INFERD_EINVAL, NULL, "$ref: no such definition");
    new_name(c, name);
    if (json_object_set_new(c->defs_done, ref, json_string(name)) < 0)
        return fail(c, INFERD_ENOMEM, NULL, "out of memory");
    char body[SC_NAME];
    int rc = gen_child(c, target, "$ref", -1, body, depth);
    if (rc < 0)
        return rc;
    buf_printf(c->out, "%s ::= %s\n", name, body);
    return 0;
}

static int gen(struct sc *c, const json_t *s, char *name, int depth)
{
    if (depth > LLM_SCHEMA_DEPTH_MAX)
        return fail(c, INFERD_ETOOLARGE, NULL, "schemas nested too deep");
    if (json_is_true(s)) {
        snprintf(name, SC_NAME, "jvalue");
        return 0;
    }
    if (!json_is_object(s))
        return fail(c, INFERD_EINVAL, NULL, "a schema must be an object or true");
    for (size_t i = 0; i < sizeof UNSUPPORTED / sizeof *UNSUPPORTED; i++)
        if (json_object_get(s, UNSUPPORTED[i])) {
            char msg[160];
            snprintf(msg, sizeof msg, "%s: not supported by constrained decoding", UNSUPPORTED[i]);
            return fail(c, INFERD_EUNSUPPORTED, msg, NULL);
        }
    const json_t *ref = json_object_get(s, "$ref"), *en = json_object_get(s, "enum");
    const json_t *cst = json_object_get(s, "const"), *type = json_object_get(s, "type");
    const json_t *any = json_object_get(s, "anyOf");
    const json_t *all = json_object_get(s, "allOf");
    if (!any)
        any = json_object_get(s, "oneOf");
    if (all) {
        if (!json_is_array(all) || json_array_size(all) != 1)
            return fail(c, INFERD_EUNSUPPORTED, NULL, "allOf: only a single schema is supported");
        return gen_child(c, json_array_get(all, 0), "allOf", 0, name, depth);
    }
    if (ref) {
        if (!json_is_string(ref))
            return fail(c, INFERD_EINVAL, NULL, "$ref: must be a string");
        return gen_ref(c, json_string_value(ref), name, depth);
    }
    if (cst || en) {
        if (en && (!json_is_array(en) || json_array_size(en) == 0))
            return fail(c, INFERD_EINVAL, NULL, "enum: must be a non-empty array");
        new_name(c, name);
        buf_printf(c->out, "%s ::= ", name);
        if (cst) {
            json_literal(c->out, cst);
        } else {
            size_t i;
            json_t *v;
            json_array_foreach(en, i, v) {
                if (i)
                    buf_puts(c->out, " | ");
                if (json_literal(c->out, v) < 0)
                    return fail(c, INFERD_ENOMEM, NULL, "out of memory");
            }
        }
        buf_putc(c->out, '\n');
        return 0;
    }
    if (any) {
        if (!json_is_array(any) || json_array_size(any) == 0)
            return fail(c, INFERD_EINVAL, NULL, "anyOf: must be a non-empty array of schemas");
        size_t n = json_array_size(any);
        char(*alt)[SC_NAME] = calloc(n, SC_NAME);
        if (!alt)
            return fail(c, INFERD_ENOMEM, NULL, "out of memory");
        int rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = gen_child(c, json_array_get(any, i), json_object_get(s, "anyOf") ? "anyOf" : "oneOf", -1, alt[i],
                           depth);
        if (rc == 0) {
            new_name(c, name);
            buf_printf(c->out, "%s ::= ", name);
            for (size_t i = 0; i < n; i++)
                buf_printf(c->out, "%s%s", i ? " | " : "", alt[i]);
            buf_putc(c->out, '\n');
        }
        free(alt);
        return rc;
    }
    if (!type) { /* implied by the keywords present, else any value */
        if (json_object_get(s, "properties"))
            type = json_string("object");
        else if (json_object_get(s, "items"))
            type = json_string("array");
        else {
            snprintf(name, SC_NAME, "jvalue");
            return 0;
        }
        new_name(c, name);
        int rc = gen_type(c, s, json_string_value(type), name, depth);
        json_decref((json_t *)type);
        return rc;
    }
    if (json_is_string(type)) {
        new_name(c, name);
        return gen_type(c, s, json_string_value(type), name, depth);
    }
    if (!json_is_array(type) || json_array_size(type) == 0)
        return fail(c, INFERD_EINVAL, NULL, "type: must be a type name or a non-empty array of them");
    size_t n = json_array_size(type);
    char(*alt)[SC_NAME] = calloc(n, SC_NAME);
    if (!alt)
        return fail(c, INFERD_ENOMEM, NULL, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *t = json_string_value(json_array_get(type, i));
        if (!t) {
            rc = fail(c, INFERD_EINVAL, NULL, "type: must be a type name or a non-empty array of them");
            break;
        }
        new_name(c, alt[i]);
        rc = gen_type(c, s, t, alt[i], depth);
    }
    if (rc == 0) {
        new_name(c, name);
        buf_printf(c->out, "%s ::= ", name);
        for (size_t i = 0; i < n; i++)
            buf_printf(c->out, "%s%s", i ? " | " : "", alt[i]);
        buf_putc(c->out, '\n');
    }
    free(alt);
    return rc;
}

int llm_json_schema_gbnf(const json_t *schema, struct buf *out, struct inferd_err *err)
{
    struct sc c = {.out = out, .root = schema, .err = err, .defs_done = json_object()};
    if (!c.defs_done)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    char name[SC_NAME];
    int rc = gen(&c, schema, name, 0);
    json_decref(c.defs_done);
    if (rc < 0)
        return rc;
    buf_printf(out, "root ::= %s\n", name);
    buf_puts(out, PRELUDE);
    if ((rc = buf_err(out, err, "schema grammar")) < 0)
        return rc;
    /* A $ref chain that comes back to itself before any object or array ("$ref": "#" at the
     * root) compiles to a rule that only calls itself: refuse it here, naming why, rather
     * than hand the caller a grammar its parser refuses. */
    struct llm_grammar *g = NULL;
    rc = llm_grammar_parse(out->data, out->len, "root", &g, err);
    llm_grammar_unref(rc == 0 ? g : NULL);
    if (rc == INFERD_ETOOLARGE)
        return 0; /* the caller's parse reports the cap */
    if (rc < 0) {
        inferd_err_prefix(err, "schema cannot be enforced (a $ref cycle that reads nothing?)");
        return INFERD_EINVAL;
    }
    return 0;
}

void llm_json_object_gbnf(struct buf *out)
{
    buf_puts(out, "root ::= jobject\n");
    buf_puts(out, PRELUDE);
}
