/* test_eval.c — canaries built from model metadata (shapes, -1 dims, datatypes, the caps,
 * BYTES refused), the chat canary, answer keys of v2 and chat answers, and gw_answer_equal's
 * tolerance and the path its why names. */
#include "gateway/eval.h"

#include "check.h"

#include <string.h>

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        check_fail(__FILE__, __LINE__, text);
    return v;
}

static void test_canary_v2(void)
{
    struct inferd_err err = {0};
    json_t *meta = parse("{\"name\":\"mlp\",\"versions\":[\"1\"],\"platform\":\"onnx\","
                         "\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,4]},"
                         "{\"name\":\"ids\",\"datatype\":\"INT64\",\"shape\":[2,3]},"
                         "{\"name\":\"m\",\"datatype\":\"BOOL\",\"shape\":[3]}],"
                         "\"outputs\":[{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[-1,3]}]}");
    json_t *req = gw_canary_v2_request(meta, &err);
    CHECK(req != NULL);
    const json_t *in = json_object_get(req, "inputs");
    CHECK(json_array_size(in) == 3);
    const json_t *x = json_array_get(in, 0);
    CHECK(strcmp(json_string_value(json_object_get(x, "name")), "x") == 0);
    CHECK(strcmp(json_string_value(json_object_get(x, "datatype")), "FP32") == 0);
    CHECK(json_integer_value(json_array_get(json_object_get(x, "shape"), 0)) == 1); /* -1 -> 1 */
    CHECK(json_integer_value(json_array_get(json_object_get(x, "shape"), 1)) == 4);
    const json_t *xd = json_object_get(x, "data");
    CHECK(json_array_size(xd) == 4 && json_is_real(json_array_get(xd, 0)));
    CHECK_NEAR(json_real_value(json_array_get(xd, 0)), -0.5, 1e-12);
    const json_t *ids = json_object_get(json_array_get(in, 1), "data");
    CHECK(json_array_size(ids) == 6 && json_integer_value(json_array_get(ids, 5)) == 1);
    const json_t *m = json_object_get(json_array_get(in, 2), "data");
    CHECK(json_is_false(json_array_get(m, 0)) && json_is_true(json_array_get(m, 1)));
    /* deterministic: the same metadata gives the same request */
    json_t *again = gw_canary_v2_request(meta, &err);
    CHECK(json_equal(req, again));
    json_decref(again);
    json_decref(req);
    json_decref(meta);

    meta = parse("{\"name\":\"t\",\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1]}]}");
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_EUNSUPPORTED);
    CHECK(strstr(err.msg, "text") && strstr(err.msg, "BYTES"));
    json_decref(meta);
    meta = parse("{\"name\":\"big\",\"inputs\":[{\"name\":\"img\",\"datatype\":\"FP32\","
                 "\"shape\":[1,3,224,224]}]}");
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_ETOOLARGE);
    CHECK(strstr(err.msg, "65536") != NULL);
    json_decref(meta);
    meta = parse("{\"name\":\"huge\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\","
                 "\"shape\":[4294967296,4294967296,4294967296]}]}"); /* no overflow */
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_ETOOLARGE);
    json_decref(meta);
    meta = parse("{\"name\":\"n\",\"inputs\":[]}");
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_EINVAL);
    json_decref(meta);
    meta = parse("{\"name\":\"n\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[\"x\"]}]}");
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_EINVAL);
    json_decref(meta);
    meta = parse("{\"name\":\"n\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP8\",\"shape\":[1]}]}");
    CHECK(gw_canary_v2_request(meta, &err) == NULL && err.code == INFERD_EUNSUPPORTED);
    json_decref(meta);
    CHECK(gw_canary_v2_request(NULL, &err) == NULL && err.code == INFERD_EINVAL);
    /* a zero dimension: an empty tensor is still a request */
    meta = parse("{\"name\":\"z\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"INT8\",\"shape\":[0,2]}]}");
    req = gw_canary_v2_request(meta, &err);
    CHECK(req && json_array_size(json_object_get(json_array_get(json_object_get(req, "inputs"), 0), "data")) == 0);
    json_decref(req);
    json_decref(meta);
}

static void test_canary_chat(void)
{
    json_t *req = gw_canary_chat_request("tiny");
    CHECK(req && strcmp(json_string_value(json_object_get(req, "model")), "tiny") == 0);
    CHECK(json_integer_value(json_object_get(req, "temperature")) == 0);
    CHECK(json_integer_value(json_object_get(req, "seed")) == 1);
    CHECK(json_integer_value(json_object_get(req, "max_tokens")) == 8);
    CHECK(json_is_false(json_object_get(req, "stream")));
    CHECK(json_array_size(json_object_get(req, "messages")) == 1);
    json_decref(req);
}

static void test_keys_and_equal(void)
{
    struct inferd_err err = {0};
    char why[256];
    /* outputs in another order, other members ignored */
    json_t *a = parse("{\"model_name\":\"m\",\"id\":\"1\",\"outputs\":["
                      "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[0.1,0.2,0.0]},"
                      "{\"name\":\"b\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[2]}]}");
    json_t *b = parse("{\"model_name\":\"m\",\"model_version\":\"7\",\"outputs\":["
                      "{\"name\":\"b\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[2]},"
                      "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[0.10004,0.2,1e-9]}]}");
    json_t *ka = gw_answer_key(a, &err), *kb = gw_answer_key(b, &err);
    CHECK(ka && kb);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(ka, "outputs"), 0),
                                                   "name")), "b") == 0);
    CHECK(json_object_get(ka, "model_name") == NULL);
    CHECK(gw_answer_equal(ka, kb, 1e-3, why, sizeof why) && why[0] == '\0');
    CHECK(!gw_answer_equal(ka, kb, 1e-6, why, sizeof why));
    CHECK(strcmp(why, "outputs[1].data[0]: 0.1 vs 0.10004") == 0);
    json_decref(kb);
    json_decref(b);
    /* a clearly different number names its index */
    b = parse("{\"outputs\":[{\"name\":\"y\",\"shape\":[1,3],\"data\":[0.1,0.98,0.0]},"
              "{\"name\":\"b\",\"shape\":[1],\"data\":[2]}]}");
    kb = gw_answer_key(b, &err);
    CHECK(!gw_answer_equal(ka, kb, 1e-3, why, sizeof why));
    CHECK(strcmp(why, "outputs[1].data[1]: 0.2 vs 0.98") == 0);
    json_decref(kb);
    json_decref(b);
    /* relative tolerance for large magnitudes */
    json_t *x = parse("[1000.0, -2e6]"), *y = parse("[1000.5, -2.0015e6]");
    CHECK(gw_answer_equal(x, y, 1e-3, why, sizeof why));
    CHECK(!gw_answer_equal(x, y, 1e-4, why, sizeof why) && strncmp(why, "[0]: 1000 vs 1000.5", 19) == 0);
    json_decref(x);
    json_decref(y);
    /* an integer and a real compare as numbers */
    x = parse("[1, 2]");
    y = parse("[1.0, 2.0000001]");
    CHECK(gw_answer_equal(x, y, 1e-3, why, sizeof why));
    json_decref(x);
    json_decref(y);
    /* shape and length differences */
    b = parse("{\"outputs\":[{\"name\":\"y\",\"shape\":[1,4],\"data\":[0.1,0.2,0.0,0.0]},"
              "{\"name\":\"b\",\"shape\":[1],\"data\":[2]}]}");
    kb = gw_answer_key(b, &err);
    CHECK(!gw_answer_equal(ka, kb, 1e-3, why, sizeof why) && strcmp(why, "outputs[1].shape[1]: 3 vs 4") == 0);
    json_decref(kb);
    json_decref(b);
    b = parse("{\"outputs\":[{\"name\":\"y\",\"shape\":[1,3],\"data\":[0.1,0.2]},"
              "{\"name\":\"b\",\"shape\":[1],\"data\":[2]}]}");
    kb = gw_answer_key(b, &err);
    CHECK(!gw_answer_equal(ka, kb, 1e-3, why, sizeof why) && strcmp(why, "outputs[1].data: 3 items vs 2") == 0);
    json_decref(kb);
    json_decref(b);
    /* a missing output */
    b = parse("{\"outputs\":[{\"name\":\"b\",\"shape\":[1],\"data\":[2]}]}");
    kb = gw_answer_key(b, &err);
    CHECK(!gw_answer_equal(ka, kb, 1e-3, why, sizeof why) && strcmp(why, "outputs: 2 items vs 1") == 0);
    json_decref(kb);
    json_decref(b);
    json_decref(ka);
    json_decref(a);
    /* binary outputs have no "data": no key */
    a = parse("{\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data_size\":12}}]}");
    CHECK(gw_answer_key(a, &err) == NULL && err.code == INFERD_EINVAL && strstr(err.msg, "data"));
    json_decref(a);
    a = parse("{\"error\":\"boom\"}");
    CHECK(gw_answer_key(a, &err) == NULL && err.code == INFERD_EINVAL);
    json_decref(a);

    /* chat answers: the content, exactly */
    a = parse("{\"id\":\"c1\",\"created\":1,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
              "\"content\":\"Blue.\"},\"finish_reason\":\"stop\"}]}");
    b = parse("{\"id\":\"c2\",\"created\":2,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
              "\"content\":\"Blue!\"},\"finish_reason\":\"length\"}]}");
    ka = gw_answer_key(a, &err);
    kb = gw_answer_key(b, &err);
    CHECK(ka && kb);
    CHECK(!gw_answer_equal(ka, kb, 1e-3, why, sizeof why));
    CHECK(strcmp(why, "choices[0].message.content: \"Blue.\" vs \"Blue!\"") == 0);
    json_t *kc = gw_answer_key(a, &err);
    CHECK(gw_answer_equal(ka, kc, 0, why, sizeof why));
    json_decref(kc);
    json_decref(ka);
    json_decref(kb);
    json_decref(a);
    json_decref(b);

    /* objects: a missing member, type differences, null/bool, a tiny why buffer, NULL */
    x = parse("{\"a\":1,\"b\":true,\"c\":null}");
    y = parse("{\"a\":1,\"b\":true}");
    CHECK(!gw_answer_equal(x, y, 0, why, sizeof why) && strcmp(why, "c: missing in the second answer") == 0);
    CHECK(!gw_answer_equal(y, x, 0, why, sizeof why) && strcmp(why, "c: missing in the first answer") == 0);
    json_decref(y);
    y = parse("{\"a\":\"1\",\"b\":true,\"c\":null}");
    CHECK(!gw_answer_equal(x, y, 0, why, sizeof why) && strcmp(why, "a: 1 vs \"1\"") == 0);
    char tiny[4];
    CHECK(!gw_answer_equal(x, y, 0, tiny, sizeof tiny) && strlen(tiny) == 3);
    CHECK(!gw_answer_equal(x, y, 0, NULL, 0));
    CHECK(!gw_answer_equal(x, NULL, 0, why, sizeof why) && strcmp(why, "answer: second missing") == 0);
    CHECK(gw_answer_equal(x, x, 0, why, sizeof why));
    json_decref(x);
    json_decref(y);
    x = parse("\"abc\"");
    y = parse("[1]");
    CHECK(!gw_answer_equal(x, y, 0, why, sizeof why) && strcmp(why, "answer: \"abc\" vs an array of 1") == 0);
    json_decref(x);
    json_decref(y);
    /* deep nesting stops at the cap instead of recursing without end */
    char deep[400];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    x = parse(deep);
    if (x) {
        CHECK(!gw_answer_equal(x, x, 0, why, sizeof why) && strstr(why, "nested deeper than 64"));
        json_decref(x);
    }
}

int main(void)
{
    test_canary_v2();
    test_canary_chat();
    test_keys_and_equal();
    return check_finish();
}
