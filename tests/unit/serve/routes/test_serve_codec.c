/* test_serve_codec.c — v2 request parsing, response writing, JSON tensors, buf caps and
 * input checks against a model. */
#include "check.h"

#include "serve/sched/infer_req.h"
#include "base/json_write.h"
#include "serve/routes/tensor_json.h"
#include "serve/routes/v2_codec.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *s, long hlen, struct infer_req **out, struct inferd_err *err)
{
    *out = infer_req_new();
    return v2_parse_request(s, strlen(s) + (hlen >= 0 ? 0 : 0), hlen, 1000, *out, err);
}

static void test_v2_json(void)
{
    struct infer_req *q;
    struct inferd_err err = {0};
    CHECK(parse("{\"id\":\"a\",\"parameters\":{\"timeout\":5},\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],"
                "\"datatype\":\"FP32\",\"data\":[[1,2],[3,4.5]]}],\"outputs\":[{\"name\":\"y\",\"parameters\":"
                "{\"binary_data\":true}}]}", -1, &q, &err) == 0);
    CHECK(strcmp(q->id, "a") == 0 && q->timeout_us == 5 && q->n_inputs == 1 && q->n_outputs == 1);
    CHECK(q->outputs[0].binary == 1 && q->inputs[0].t.rank == 2 && q->inputs[0].t.nbytes == 16);
    CHECK(((float *)q->inputs[0].t.data)[3] == 4.5f);
    /* checks against a model input [-1,2] FP32, batch max 4 */
    struct model_io in[1] = {{.name = "x", .dtype = INFERD_FP32, .rank = 2, .dims = {-1, 2}}};
    CHECK(infer_req_check(q, in, 1, 4, &err) == 0);
    in[0].dims[1] = 3;
    CHECK(infer_req_check(q, in, 1, 4, &err) == INFERD_ESHAPE && strstr(err.msg, "[2,2]"));
    in[0].dims[1] = 2;
    in[0].dtype = INFERD_INT64;
    CHECK(infer_req_check(q, in, 1, 4, &err) == INFERD_ETYPE && strstr(err.msg, "INT64"));
    in[0].dtype = INFERD_FP32;
    CHECK(infer_req_check(q, in, 1, 1, &err) == INFERD_ESHAPE && strstr(err.msg, "max_batch_size"));
    snprintf(in[0].name, sizeof in[0].name, "other");
    CHECK(infer_req_check(q, in, 1, 4, &err) == INFERD_ENOTFOUND && strstr(err.msg, "'x'"));
    infer_req_free(q);

    /* any nesting is accepted when the flattened count matches (Triton) */
    CHECK(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2,3],\"datatype\":\"FP32\","
                "\"data\":[[1,2,3],[4,5,6]]}]}", -1, &q, &err) == 0);
    CHECK(q->inputs[0].t.rank == 3 && q->inputs[0].t.nbytes == 24 && ((float *)q->inputs[0].t.data)[5] == 6.0f);
    infer_req_free(q);
    CHECK(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[4],\"datatype\":\"INT32\","
                "\"data\":[[1],[[2,3]],4]}]}", -1, &q, &err) == 0);
    CHECK(q->inputs[0].t.nbytes == 16 && ((int32_t *)q->inputs[0].t.data)[2] == 3);
    infer_req_free(q);
    /* real errors keep precise messages */
    CHECK(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\","
                "\"data\":[[1,2],[3,4]]}]}", -1, &q, &err) == INFERD_ESHAPE);
    CHECK(strstr(err.msg, "holds 4 elements") && strstr(err.msg, "[2,3]") && strstr(err.msg, "needs 6"));
    infer_req_free(q);
    CHECK(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
                "\"data\":[1,\"a\"]}]}", -1, &q, &err) == INFERD_ETYPE);
    CHECK(strstr(err.msg, "element 1 is not a number") && strstr(err.msg, "FP32"));
    infer_req_free(q);

    const char *bad[] = {
        "{", "[]", "{\"inputs\":[]}", "{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[300]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1.5]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[2000],\"datatype\":\"FP32\",\"data\":[]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"NOPE\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"data\":[2]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":4}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        CHECK(parse(bad[i], -1, &q, &err) < 0);
        CHECK(err.msg[0] != '\0');
        CHECK(q->n_inputs == 0);
        infer_req_free(q);
    }
}

static void test_v2_binary(void)
{
    const char *hdr = "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}]}";
    size_t hl = strlen(hdr);
    char body[256];
    float v[2] = {1.5f, -2.0f};
    memcpy(body, hdr, hl);
    memcpy(body + hl, v, 8);
    struct infer_req *q = infer_req_new();
    struct inferd_err err = {0};
    CHECK(v2_parse_request(body, hl + 8, (long)hl, 100, q, &err) == 0);
    CHECK(q->n_inputs == 1 && ((float *)q->inputs[0].t.data)[1] == -2.0f);
    /* response with the same tensor as binary output */
    struct infer_tensor o = q->inputs[0];
    o.binary = 1;
    struct buf b;
    buf_init(&b, 1 << 20);
    long h = v2_write_response(&b, "m", "1", "", &o, 1);
    CHECK(h > 0 && b.len == (size_t)h + 8 && memcmp(b.data + h, v, 8) == 0);
    CHECK(strstr(b.data, "\"binary_data_size\":8") != NULL);
    buf_free(&b);
    infer_req_free(q);
    /* wrong sizes */
    q = infer_req_new();
    CHECK(v2_parse_request(body, hl + 4, (long)hl, 100, q, &err) == INFERD_EINVAL && strstr(err.msg, "left"));
    CHECK(v2_parse_request(body, hl + 8, (long)hl + 9, 100, q, &err) == INFERD_EINVAL);
    infer_req_free(q);
}

static void test_tensor_json(void)
{
    struct inferd_err err = {0};
    json_t *j = json_loads("[[1,2,3],[4,5,6]]", 0, NULL);
    struct inferd_tensor t;
    CHECK(tj_from_json(j, INFERD_INT64, NULL, -1, 100, "v", &t, &err) == 0);
    CHECK(t.rank == 2 && t.dims[0] == 2 && t.dims[1] == 3 && ((int64_t *)t.data)[5] == 6);
    struct buf b;
    buf_init(&b, 1024);
    tj_write(&b, &t, 1, -1);
    CHECK(strcmp(b.data, "[[1,2,3],[4,5,6]]") == 0);
    buf_free(&b);
    buf_init(&b, 1024);
    tj_write(&b, &t, 1, 1);
    CHECK(strcmp(b.data, "[4,5,6]") == 0);
    buf_free(&b);
    buf_init(&b, 1024);
    tj_write(&b, &t, 1, 2); /* past the first dim (found by fuzz_v2_json with "[]") */
    CHECK(strcmp(b.data, "null") == 0);
    buf_free(&b);
    /* outputs by name (TF-Serving / predict): one bare, several as an object, squeeze */
    {
        float one[3] = {7, 8, 9};
        struct inferd_tensor ts[2] = {t, {.dtype = INFERD_FP32, .rank = 2, .dims = {1, 3}, .data = one, .nbytes = 12}};
        const char *names[2] = {"a", "b"};
        buf_init(&b, 1024);
        tj_write_outputs(&b, ts, names, 2, 1);
        CHECK(strcmp(b.data, "{\"a\":[[1,2,3],[4,5,6]],\"b\":[7,8,9]}") == 0);
        buf_free(&b);
        buf_init(&b, 1024);
        tj_write_outputs(&b, ts + 1, names + 1, 1, 0);
        CHECK(strcmp(b.data, "[[7,8,9]]") == 0);
        buf_free(&b);
    }
    free(t.data);
    CHECK(tj_from_json(j, INFERD_INT64, NULL, -1, 5, "v", &t, &err) == INFERD_ETOOLARGE);
    json_decref(j);
    j = json_loads("[[1,2,3],[4,5]]", 0, NULL);
    CHECK(tj_from_json(j, INFERD_FP32, NULL, -1, 100, "v", &t, &err) == INFERD_ESHAPE);
    json_decref(j);
    /* floats print back exactly */
    buf_init(&b, 1024);
    json_write_f32(&b, 0.1f);
    buf_putc(&b, ' ');
    json_write_f32(&b, 1.0f / 3.0f);
    CHECK(strtof(b.data, NULL) == 0.1f);
    CHECK(strtof(strchr(b.data, ' ') + 1, NULL) == 1.0f / 3.0f);
    buf_free(&b);
    /* integers, extremes included */
    buf_init(&b, 1024);
    json_write_i64(&b, INT64_MIN);
    buf_putc(&b, ' ');
    json_write_i64(&b, 0);
    buf_putc(&b, ' ');
    json_write_i64(&b, -42);
    buf_putc(&b, ' ');
    json_write_u64(&b, UINT64_MAX);
    CHECK(strcmp(b.data, "-9223372036854775808 0 -42 18446744073709551615") == 0);
    buf_free(&b);
    /* the cap */
    buf_init(&b, 8);
    buf_puts(&b, "0123456789");
    CHECK(buf_rc(&b) && buf_take(&b, NULL) == NULL);
    buf_init(&b, 64);
    json_write_str(&b, "a\"b\n");
    CHECK(strcmp(b.data, "\"a\\\"b\\u000a\"") == 0);
    buf_free(&b);
}

int main(void)
{
    test_v2_json();
    test_v2_binary();
    test_tensor_json();
    return check_finish();
}
