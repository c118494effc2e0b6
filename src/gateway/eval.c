/* eval.c — canary requests and the comparison of answers (see eval.h). Pure functions: no
 * I/O, no global state. */
#include "gateway/eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define EVAL_DEPTH_MAX 64 /* nesting of an answer key that gw_answer_equal follows */
#define EVAL_PATH_MAX 256 /* bytes of the path named in why (longer paths end in "...") */

/* The fixed canary pattern. Floats: 17 values in [-0.5, 0.5] (exact in FP16/BF16 too, so a
 * server that converts gets the same input); integers: 0..3 (valid as indices into any
 * embedding with 4+ rows); BOOL alternates. */
static json_t *canary_value(const char *dtype, size_t i)
{
    if (strcmp(dtype, "BOOL") == 0)
        return json_boolean(i % 2);
    if (dtype[0] == 'F' || strcmp(dtype, "BF16") == 0)
        return json_real(((double)(i % 17) - 8.0) / 16.0);
    return json_integer((json_int_t)(i % 4));
}

static bool known_dtype(const char *t)
{
    static const char *const known[] = {"BOOL",  "UINT8", "UINT16", "UINT32", "UINT64", "INT8",
                                        "INT16", "INT32", "INT64",  "FP16",   "FP32",   "FP64",
                                        "BF16"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(t, known[i]) == 0)
            return true;
    return false;
}

/* One request input for one metadata input. Returns a new object or NULL with err set. */
static json_t *canary_input(const json_t *in, size_t idx, struct inferd_err *err)
{
    const char *name = json_string_value(json_object_get(in, "name"));
    const char *dtype = json_string_value(json_object_get(in, "datatype"));
    const json_t *shape = json_object_get(in, "shape");
    json_t *out = NULL, *oshape = NULL, *data = NULL;
    size_t i, count = 1;
    const json_t *d;
    if (!name || !dtype || !json_is_array(shape)) {
        inferd_err_set(err, INFERD_EINVAL, "inputs[%zu]: needs \"name\", \"datatype\" and \"shape\"",
                       idx);
        return NULL;
    }
    if (strcmp(dtype, "BYTES") == 0) {
        inferd_err_set(err, INFERD_EUNSUPPORTED, "input \"%s\" is BYTES: no canary for text inputs",
                       name);
        return NULL;
    }
    if (!known_dtype(dtype)) {
        inferd_err_set(err, INFERD_EUNSUPPORTED, "input \"%s\": unknown datatype \"%s\"", name, dtype);
        return NULL;
    }
    oshape = json_array();
    data = json_array();
    if (!oshape || !data)
        goto nomem;
    json_array_foreach(shape, i, d)
    {
        if (!json_is_integer(d) || json_integer_value(d) < -1) {
            inferd_err_set(err, INFERD_EINVAL, "input \"%s\": shape[%zu] is not a dimension", name, i);
            goto fail;
        }
        json_int_t dim = json_integer_value(d) == -1 ? 1 : json_integer_value(d);
        if (dim > 0 && count > GW_CANARY_MAX_ELEMENTS / (size_t)dim) {
            inferd_err_set(err, INFERD_ETOOLARGE, "input \"%s\" has more than %d elements", name,
                           GW_CANARY_MAX_ELEMENTS);
            goto fail;
        }
        count *= (size_t)dim;
        if (json_array_append_new(oshape, json_integer(dim)) < 0)
            goto nomem;
    }
    for (i = 0; i < count; i++)
        if (json_array_append_new(data, canary_value(dtype, i)) < 0)
            goto nomem;
    out = json_pack("{s:s,s:o,s:s,s:o}", "name", name, "shape", oshape, "datatype", dtype, "data", data);
    if (!out) /* json_pack's "o" stole both references even on failure */
        inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    return out;
nomem:
    inferd_err_set(err, INFERD_ENOMEM, "out of memory");
fail:
    json_decref(data);
    json_decref(oshape);
    return NULL;
}

json_t *gw_canary_v2_request(const json_t *meta, struct inferd_err *err)
{
    const json_t *inputs = json_object_get(meta, "inputs");
    const json_t *in;
    json_t *req = NULL, *arr = NULL, *one;
    size_t i;
    if (!json_is_array(inputs) || json_array_size(inputs) == 0) {
        inferd_err_set(err, INFERD_EINVAL, "model metadata has no \"inputs\"");
        return NULL;
    }
    arr = json_array();
    if (!arr)
        goto nomem;
    json_array_foreach(inputs, i, in)
    {
        one = canary_input(in, i, err);
        if (!one)
            goto fail;
        if (json_array_append_new(arr, one) < 0)
            goto nomem;
    }
    req = json_pack("{s:o}", "inputs", arr);
    if (!req)
        inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    return req;
nomem:
    inferd_err_set(err, INFERD_ENOMEM, "out of memory");
fail:
    json_decref(arr);
    return NULL;
}

json_t *gw_canary_chat_request(const char *model)
{
    return json_pack("{s:s,s:[{s:s,s:s}],s:i,s:i,s:i,s:b}", "model", model ? model : "",
                     "messages", "role", "user", "content",
                     "Reply with one word: the colour of a clear daytime sky.", "temperature", 0,
                     "seed", 1, "max_tokens", 8, "stream", 0);
}

/* v2: {"outputs":[{"name","shape","data"}...]} sorted by name, so that servers that list
 * outputs in another order still agree. */
static json_t *key_v2(const json_t *outputs, struct inferd_err *err)
{
    json_t *arr = json_array(), *key = NULL;
    const json_t *o;
    size_t i, n = json_array_size(outputs);
    if (!arr)
        goto nomem;
    json_array_foreach(outputs, i, o)
    {
        const json_t *name = json_object_get(o, "name");
        const json_t *data = json_object_get(o, "data");
        if (!json_is_string(name) || !data) {
            inferd_err_set(err, INFERD_EINVAL, "outputs[%zu] has no %s", i,
                           !json_is_string(name) ? "\"name\"" : "\"data\" (binary output?)");
            goto fail;
        }
        json_t *row = json_pack("{s:O,s:O,s:O}", "name", name, "shape",
                                json_object_get(o, "shape") ? json_object_get(o, "shape") : json_null(),
                                "data", data);
        if (!row || json_array_append_new(arr, row) < 0)
            goto nomem;
    }
    /* insertion sort by name: a model has a handful of outputs */
    for (i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(arr, j - 1), *b = json_array_get(arr, j);
            if (strcmp(json_string_value(json_object_get(a, "name")),
                       json_string_value(json_object_get(b, "name"))) <= 0)
                break;
            json_incref(a);
            json_array_set(arr, j - 1, b);
            json_array_set_new(arr, j, a);
        }
    key = json_pack("{s:o}", "outputs", arr);
    if (!key)
        inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    return key;
nomem:
    inferd_err_set(err, INFERD_ENOMEM, "out of memory");
fail:
    json_decref(arr);
    return NULL;
}

json_t *gw_answer_key(const json_t *answer, struct inferd_err *err)
{
    const json_t *outputs = json_object_get(answer, "outputs");
    const json_t *choice = json_array_get(json_object_get(answer, "choices"), 0);
    const json_t *content = json_object_get(json_object_get(choice, "message"), "content");
    const json_t *text = json_object_get(choice, "text");
    json_t *key;
    if (json_is_array(outputs))
        return key_v2(outputs, err);
    if (json_is_string(content))
        key = json_pack("{s:[{s:{s:O}}]}", "choices", "message", "content", content);
    else if (json_is_string(text)) /* a completion rather than a chat answer */
        key = json_pack("{s:[{s:O}]}", "choices", "text", text);
    else {
        inferd_err_set(err, INFERD_EINVAL,
                       "the answer has neither \"outputs\" nor choices[0].message.content");
        return NULL;
    }
    if (!key)
        inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    return key;
}

/* Where the comparison is: a path like outputs[0].data[17], built in place. */
struct eval_path {
    char s[EVAL_PATH_MAX];
    size_t len;
};

/* Appends to p; a path that would not fit ends in "..." and stays so. Returns the old
 * length, for path_cut. */
static size_t path_push(struct eval_path *p, const char *fmt_kind, const char *key, size_t idx)
{
    size_t old = p->len;
    int n;
    if (fmt_kind[0] == '[')
        n = snprintf(p->s + old, sizeof p->s - old, "[%zu]", idx);
    else
        n = snprintf(p->s + old, sizeof p->s - old, "%s%s", old ? "." : "", key);
    if (n < 0 || (size_t)n >= sizeof p->s - old) {
        memcpy(p->s + sizeof p->s - 4, "...", 4);
        p->len = sizeof p->s - 1;
    } else {
        p->len = old + (size_t)n;
    }
    return old;
}

static void path_cut(struct eval_path *p, size_t len)
{
    p->len = len;
    p->s[len] = '\0';
}

/* A short rendering of a value for why: numbers %.6g, strings quoted and cut at 40 bytes,
 * containers by their size. */
static void describe(const json_t *v, char *out, size_t cap)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER: snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(out, cap, "%.6g", json_real_value(v)); break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        snprintf(out, cap, "\"%.*s%s\"", n > 40 ? 40 : (int)n, s, n > 40 ? "..." : "");
        break;
    }
    case JSON_TRUE: snprintf(out, cap, "true"); break;
    case JSON_FALSE: snprintf(out, cap, "false"); break;
    case JSON_NULL: snprintf(out, cap, "null"); break;
    case JSON_ARRAY: snprintf(out, cap, "an array of %zu", json_array_size(v)); break;
    case JSON_OBJECT: snprintf(out, cap, "an object of %zu members", json_object_size(v)); break;
    }
}

static bool mismatch(const struct eval_path *p, const json_t *a, const json_t *b, char *why,
                     size_t cap)
{
    char da[64], db[64];
    if (why && cap) {
        describe(a, da, sizeof da);
        describe(b, db, sizeof db);
        snprintf(why, cap, "%s: %s vs %s", p->len ? p->s : "answer", da, db);
    }
    return false;
}

/* Numbers match when |x - y| <= tol * max(1, |x|, |y|): relative tol for magnitudes above 1,
 * absolute tol below (where a relative test would fail 1e-9 vs 0). */
static bool numbers_close(double x, double y, double tol)
{
    double m = fmax(1.0, fmax(fabs(x), fabs(y)));
    return fabs(x - y) <= tol * m;
}

static bool equal_at(struct eval_path *p, const json_t *a, const json_t *b, double tol, int depth,
                     char *why, size_t cap)
{
    if (depth > EVAL_DEPTH_MAX) {
        if (why && cap)
            snprintf(why, cap, "%s: nested deeper than %d", p->len ? p->s : "answer", EVAL_DEPTH_MAX);
        return false;
    }
    if (json_is_number(a) && json_is_number(b))
        return numbers_close(json_number_value(a), json_number_value(b), tol) ? true
                                                                              : mismatch(p, a, b, why, cap);
    if (json_typeof(a) != json_typeof(b))
        return mismatch(p, a, b, why, cap);
    switch (json_typeof(a)) {
    case JSON_STRING:
        if (json_string_length(a) == json_string_length(b) &&
            memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0)
            return true;
        return mismatch(p, a, b, why, cap);
    case JSON_ARRAY: {
        if (json_array_size(a) != json_array_size(b)) {
            if (why && cap)
                snprintf(why, cap, "%s: %zu items vs %zu", p->len ? p->s : "answer",
                         json_array_size(a), json_array_size(b));
            return false;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            size_t old = path_push(p, "[", NULL, i);
            bool ok = equal_at(p, json_array_get(a, i), json_array_get(b, i), tol, depth + 1, why, cap);
            path_cut(p, old);
            if (!ok)
                return false;
        }
        return true;
    }
    case JSON_OBJECT: {
        const char *k;
        const json_t *va;
        json_object_foreach((json_t *)a, k, va)
        {
            const json_t *vb = json_object_get(b, k);
            size_t old = path_push(p, ".", k, 0);
            bool ok;
            if (!vb) {
                if (why && cap)
                    snprintf(why, cap, "%s: missing in the second answer", p->s);
                ok = false;
            } else {
                ok = equal_at(p, va, vb, tol, depth + 1, why, cap);
            }
            path_cut(p, old);
            if (!ok)
                return false;
        }
        json_object_foreach((json_t *)b, k, va)
        {
            if (json_object_get(a, k))
                continue;
            path_push(p, ".", k, 0);
            if (why && cap)
                snprintf(why, cap, "%s: missing in the first answer", p->s);
            return false;
        }
        return true;
    }
    default: return true; /* true, false, null: the type is the value */
    }
}

bool gw_answer_equal(const json_t *a, const json_t *b, double tol, char *why, size_t why_cap)
{
    struct eval_path p = {{0}, 0};
    if (why && why_cap)
        why[0] = '\0';
    if (!a || !b) {
        if (why && why_cap)
            snprintf(why, why_cap, "answer: %s", !a && !b ? "both missing" : a ? "second missing"
                                                                              : "first missing");
        return false;
    }
    if (!(tol >= 0))
        tol = 0;
    return equal_at(&p, a, b, tol, 0, why, why_cap);
}
