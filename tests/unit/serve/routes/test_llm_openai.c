/* test_llm_openai.c — OpenAI request parsing (valid shapes and every rejection names its
 * param), response/chunk/embedding JSON shapes, UTF-8 sanitising, and the job's stop-string
 * and partial-UTF-8 hold-back rules. */
#include "check.h"
#include "serve/sched/llm_job_int.h"
#include "serve/routes/openai_wire.h"

#include <stdlib.h>
#include <string.h>

static int parse(enum llm_oai_kind k, const char *body, struct llm_oai_req *q, char *param, struct inferd_err *err)
{
    return llm_oai_parse(k, body, strlen(body), NULL, q, param, err);
}

static void expect_bad(enum llm_oai_kind k, const char *body, const char *want_param)
{
    struct llm_oai_req q;
    char param[64];
    struct inferd_err err = {0};
    int rc = parse(k, body, &q, param, &err);
    CHECK(rc < 0);
    if (rc < 0 && strcmp(param, want_param) != 0) {
        fprintf(stderr, "body %s: param '%s', want '%s' (%s)\n", body, param, want_param, err.msg);
        check_fail(__FILE__, __LINE__, "param");
    }
    CHECK(err.msg[0] != 0);
    llm_oai_req_free(&q);
}

static int fake_piece(void *ctx, int32_t tok, char *buf, size_t cap)
{
    (void)ctx;
    static const char *const pieces[] = {"He", "llo", " world", "\xE2\x82", "\xAC"};
    if (tok < 0 || tok > 4)
        return -1;
    size_t n = strlen(pieces[tok]);
    if (n > cap)
        n = cap;
    memcpy(buf, pieces[tok], n);
    return (int)n;
}

static void test_parse_ok(void)
{
    struct llm_oai_req q;
    char param[64];
    struct inferd_err err = {0};
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
                       "\"max_completion_tokens\":7,\"temperature\":0,\"top_p\":0.5,\"seed\":42,\"stop\":[\"x\",\"yy\"],"
                       "\"logprobs\":true,\"top_logprobs\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"user\":\"u1\",\"n\":1}";
    CHECK(parse(LLM_OAI_CHAT, body, &q, param, &err) == 0);
    CHECK(q.n_msgs == 2 && strcmp(q.msgs[1].content, "ab") == 0 && strcmp(q.msgs[0].role, "system") == 0);
    CHECK(q.max_tokens == 7 && q.sampling.temperature == 0.0f && q.sampling.top_p == 0.5f && q.sampling.seed == 42);
    CHECK(q.n_stop == 2 && strcmp(q.stop[1], "yy") == 0);
    CHECK(q.logprobs == 1 && q.top_logprobs == 3 && q.stream == 1 && q.include_usage == 1);
    CHECK(q.sampling.presence_penalty == 0.5f && q.sampling.frequency_penalty == -0.5f);
    CHECK(q.user && strcmp(q.user, "u1") == 0 && strcmp(q.model, "m") == 0);
    CHECK(q.n == 1 && q.best_of == 1 && !q.echo && q.n_bias == 0);
    llm_oai_req_free(&q);

    /* the sampling parameters of issue 14: n, best_of, echo, logit_bias, 16 stops */
    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":\"p\",\"n\":2,\"best_of\":5,\"echo\":true,\"min_p\":0.1,"
                "\"logit_bias\":{\"7\":-100,\"12\":2.5},\"repeat_penalty\":1.1,\"repeat_last_n\":-1,"
                "\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\"]}",
                &q, param, &err) == 0);
    CHECK(q.n == 2 && q.best_of == 5 && q.echo == 1 && q.n_stop == 16 && strcmp(q.stop[15], "p") == 0);
    CHECK(q.n_bias == 2 && q.sampling.min_p == 0.1f && q.sampling.repeat_penalty == 1.1f &&
          q.sampling.penalty_last_n == 4096);
    int b7 = q.bias[0].id == 7 ? 0 : 1;
    CHECK(q.bias[b7].id == 7 && q.bias[b7].bias == -100.f && q.bias[1 - b7].id == 12 && q.bias[1 - b7].bias == 2.5f);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":3}", &q, param, &err) == 0);
    CHECK(q.n == 3 && q.best_of == 3 && q.priority == 0);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":\"p\",\"priority\":-10}", &q, param, &err) == 0);
    CHECK(q.priority == -10);
    llm_oai_req_free(&q);

    CHECK(parse(LLM_OAI_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2,3],\"max_tokens\":4,\"logprobs\":2,\"stop\":\"\\n\"}",
                &q, param, &err) == 0);
    CHECK(q.n_prompt_ids == 3 && q.prompt_ids[2] == 3 && q.max_tokens == 4 && q.logprobs && q.top_logprobs == 2);
    CHECK(q.n_stop == 1 && strcmp(q.stop[0], "\n") == 0);
    CHECK(q.sampling.temperature == 1.0f); /* OpenAI default */
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":[\"hi\"]}", &q, param, &err) == 0 && strcmp(q.prompt, "hi") == 0);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":[[5,6]]}", &q, param, &err) == 0 && q.n_prompt_ids == 2);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":[\"a\",[7,8,9]]}", &q, param, &err) == 0);
    CHECK(q.n_inputs == 2 && strcmp(q.inputs[0], "a") == 0 && q.n_input_ids[1] == 3 && q.input_ids[1][2] == 9);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_EMBEDDING, "{\"input\":[\"a\",\"bc\"],\"encoding_format\":\"base64\"}", &q, param, &err) == 0);
    CHECK(q.n_inputs == 2 && strcmp(q.inputs[1], "bc") == 0 && q.base64 == 1);
    llm_oai_req_free(&q);
    CHECK(parse(LLM_OAI_EMBEDDING, "{\"input\":\"a\"}", &q, param, &err) == 0 && q.n_inputs == 1 && !q.base64);
    llm_oai_req_free(&q);
}

static void test_parse_bad(void)
{
    expect_bad(LLM_OAI_CHAT, "{", "");
    expect_bad(LLM_OAI_CHAT, "[1]", "");
    expect_bad(LLM_OAI_CHAT, "{\"model\":\"m\"}", "messages");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[]}", "messages");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":5}]}",
               "messages[1].content");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":17}", "n");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":0}", "n");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"best_of\":2}", "best_of");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"echo\":true}", "echo");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"presence_penalty\":2.5}", "presence_penalty");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"frequency_penalty\":-2.01}", "frequency_penalty");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":{\"12\":100.5}}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":{\"-1\":1}}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":{\"01\":1}}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":{\"1x\":1}}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":{\"1\":\"a\"}}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logit_bias\":[1]}", "logit_bias");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"repeat_last_n\":1.5}", "repeat_last_n");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"n\":3,\"best_of\":2}", "best_of");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"best_of\":17}", "best_of");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"priority\":11}", "priority");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"priority\":\"high\"}",
               "priority");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"best_of\":2,\"stream\":true}", "best_of");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"echo\":true,\"logprobs\":1,\"stream\":true}", "echo");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"echo\":1}", "echo");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"temperature\":3}", "temperature");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_p\":\"x\"}", "top_p");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":0}", "max_tokens");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_completion_tokens\":-1}",
               "max_completion_tokens");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
               "stop");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"top_logprobs\":2}", "top_logprobs");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":true,\"top_logprobs\":21}",
               "top_logprobs");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream_options\":{\"include_usage\":true}}",
               "stream_options");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"seed\":1.5}", "seed");
    expect_bad(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"model\":7}", "model");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":[\"a\",5]}", "prompt");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":[1,-2]}", "prompt");
    expect_bad(LLM_OAI_COMPLETION, "{}", "prompt");
    expect_bad(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":true}", "logprobs");
    expect_bad(LLM_OAI_EMBEDDING, "{\"input\":[]}", "input");
    expect_bad(LLM_OAI_EMBEDDING, "{\"input\":\"a\",\"encoding_format\":\"hex\"}", "encoding_format");
}

static void test_write(void)
{
    struct llm_oai_req q;
    char param[64];
    struct inferd_err err = {0};
    CHECK(parse(LLM_OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"logprobs\":true,\"top_logprobs\":2}",
                &q, param, &err) == 0);
    struct llm_tok_rec toks[2] = {{.id = 0, .logprob = -0.5f, .n_top = 2, .top_id = {0, 1}, .top_lp = {-0.5f, -1.5f}, .text_off = 0},
                                  {.id = 1, .logprob = -0.25f, .n_top = 1, .top_id = {1}, .top_lp = {-0.25f}, .text_off = 2}};
    struct llm_oai_out o = {.text = "Hello", .len = 5, .finish_reason = "length", .prompt_tokens = 3,
                            .completion_tokens = 2, .toks = toks, .n_toks = 2};
    json_t *r = llm_oai_response(&q, &o, "chatcmpl-1", 1700000000, "m", fake_piece, NULL);
    CHECK(r != NULL);
    json_t *c0 = json_array_get(json_object_get(r, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(r, "object")), "chat.completion") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_object_get(c0, "message"), "content")), "Hello") == 0);
    CHECK(strcmp(json_string_value(json_object_get(c0, "finish_reason")), "length") == 0);
    json_t *lc = json_object_get(json_object_get(c0, "logprobs"), "content");
    CHECK(json_array_size(lc) == 2);
    json_t *t1 = json_array_get(lc, 1);
    CHECK(strcmp(json_string_value(json_object_get(t1, "token")), "llo") == 0);
    CHECK_NEAR(json_real_value(json_object_get(t1, "logprob")), -0.25, 1e-6);
    CHECK(json_array_size(json_object_get(t1, "bytes")) == 3);
    CHECK(json_array_size(json_object_get(json_array_get(lc, 0), "top_logprobs")) == 2);
    json_t *u = json_object_get(r, "usage");
    CHECK(json_integer_value(json_object_get(u, "total_tokens")) == 5);
    json_decref(r);

    /* chunks */
    q.include_usage = 1;
    char *ch = llm_oai_chunk(&q, &(struct llm_oai_out){0}, 1, "id", 1, "m", fake_piece, NULL);
    CHECK(ch && strncmp(ch, "data: {", 7) == 0 && strstr(ch, "\"role\":\"assistant\"") && strstr(ch, "\"usage\":null"));
    CHECK(ch && strstr(ch, "chat.completion.chunk") && strcmp(ch + strlen(ch) - 2, "\n\n") == 0);
    free(ch);
    ch = llm_oai_usage_chunk(&q, &o, "id", 1, "m");
    CHECK(ch && strstr(ch, "\"choices\":[]") && strstr(ch, "\"completion_tokens\":2"));
    free(ch);
    llm_oai_req_free(&q);

    CHECK(parse(LLM_OAI_COMPLETION, "{\"prompt\":\"a\",\"logprobs\":1}", &q, param, &err) == 0);
    r = llm_oai_response(&q, &o, "cmpl-1", 1, "m", fake_piece, NULL);
    c0 = json_array_get(json_object_get(r, "choices"), 0);
    CHECK(strcmp(json_string_value(json_object_get(r, "object")), "text_completion") == 0);
    CHECK(strcmp(json_string_value(json_object_get(c0, "text")), "Hello") == 0);
    json_t *lp = json_object_get(c0, "logprobs");
    CHECK(json_array_size(json_object_get(lp, "tokens")) == 2);
    CHECK(json_integer_value(json_array_get(json_object_get(lp, "text_offset"), 1)) == 2);
    CHECK(json_is_object(json_array_get(json_object_get(lp, "top_logprobs"), 0)));
    json_decref(r);
    /* a completion chunk's text offsets are relative to the whole completion */
    struct llm_oai_out part = {.text = "llo", .len = 3, .toks = &toks[1], .n_toks = 1};
    ch = llm_oai_chunk(&q, &part, 0, "id", 1, "m", fake_piece, NULL);
    CHECK(ch && strstr(ch, "\"text\":\"llo\"") && strstr(ch, "\"text_offset\":[0]"));
    free(ch);
    llm_oai_req_free(&q);

    /* embeddings: float and base64 (1.0f = 00 00 80 3f -> "AACAPw==") */
    CHECK(parse(LLM_OAI_EMBEDDING, "{\"input\":\"a\",\"encoding_format\":\"base64\"}", &q, param, &err) == 0);
    float v[1] = {1.0f};
    const float *vs[1] = {v};
    r = llm_oai_embeddings(&q, vs, 1, 1, "m", 4);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(r, "data"), 0), "embedding")),
                 "AACAPw==") == 0);
    json_decref(r);
    llm_oai_req_free(&q);

    json_t *e = llm_oai_error("bad", "invalid_request_error", "n", NULL);
    json_t *eo = json_object_get(e, "error");
    CHECK(strcmp(json_string_value(json_object_get(eo, "param")), "n") == 0 && json_is_null(json_object_get(eo, "code")));
    json_decref(e);
}

static void test_utf8(void)
{
    size_t n;
    char *s = llm_utf8_sanitize("a\xE2\x82\xAC\xE2\x82z\xFF", 8, &n);
    CHECK(s && strcmp(s, "a\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD") == 0);
    free(s);
}

static struct llm_job *job_with_stops(const char *const *stops, int n)
{
    int32_t *p = malloc(sizeof *p);
    p[0] = 1;
    struct llm_job_params jp = {.prompt = p, .n_prompt = 1, .stop = stops, .n_stop = n};
    return llm_job_new(&jp, NULL);
}

static void test_stop_rules(void)
{
    const char *stops[] = {"END", "\n\n"};
    struct llm_job *j = job_with_stops(stops, 2);
    CHECK(j != NULL);
    llm_job__append(j, "abc", 3, NULL);
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 3);
    llm_job__append(j, " E", 2, NULL); /* "E" may begin "END": held back */
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 4);
    llm_job__append(j, "Nx", 2, NULL); /* "ENx" is not a stop: released */
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 7);
    llm_job__append(j, "\xE2\x82", 2, NULL); /* incomplete UTF-8: held back */
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 7);
    llm_job__append(j, "\xAC", 1, NULL);
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 10);
    llm_job__append(j, "yEN", 3, NULL);
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 11);
    llm_job__append(j, "Dzz", 3, NULL); /* completes "END": text cut before it */
    CHECK(llm_job__check_stop(j) == 1 && j->text.len == 11 && memcmp(j->text.data, "abc ENx\xE2\x82\xACy", 11) == 0);
    llm_job_release(j);

    j = job_with_stops(NULL, 0);
    llm_job__append(j, "x\n\n", 3, NULL);
    CHECK(llm_job__check_stop(j) == 0 && j->out_len == 3);
    llm_job_release(j);
    int32_t *p = malloc(4);
    CHECK(llm_job_new(&(struct llm_job_params){.prompt = p, .n_prompt = 1, .n_top = 21}, NULL) == NULL);
    CHECK(llm_job_new(&(struct llm_job_params){.prompt = NULL, .n_prompt = 0}, NULL) == NULL);
}

/* llm_oai_load gives the model name before the rest is validated; llm_oai_parse_root then
 * starts from the given defaults and the request's own values win. */
static void test_load_then_parse(void)
{
    const char *body = "{\"model\":\"tiny\",\"temperature\":\"hot\",\"prompt\":\"x\"}";
    json_t *root = NULL;
    const char *model = NULL;
    char param[64];
    struct inferd_err err = {0};
    CHECK(llm_oai_load(body, strlen(body), &root, &model, param, &err) == 0);
    CHECK(root != NULL && model != NULL && strcmp(model, "tiny") == 0);
    struct llm_oai_req q;
    CHECK(llm_oai_parse_root(LLM_OAI_COMPLETION, root, NULL, &q, param, &err) < 0);
    CHECK(strcmp(param, "temperature") == 0);
    llm_oai_req_free(&q);

    const char *bad_model = "{\"model\":5}";
    CHECK(llm_oai_load(bad_model, strlen(bad_model), &root, &model, param, &err) < 0);
    CHECK(root == NULL && model == NULL && strcmp(param, "model") == 0);
    CHECK(llm_oai_load("[1]", 3, &root, &model, param, &err) < 0 && root == NULL);
    CHECK(llm_oai_load("{", 1, &root, &model, param, &err) < 0 && root == NULL);

    const char *good = "{\"prompt\":\"x\",\"top_p\":0.5}";
    CHECK(llm_oai_load(good, strlen(good), &root, &model, param, &err) == 0 && model == NULL);
    struct inferd_llm_sampling d = {.temperature = 0.25f, .top_k = 7, .top_p = 0.9f, .min_p = 0.05f,
                                    .repeat_penalty = 1.1f, .penalty_last_n = 32, .seed = 3};
    CHECK(llm_oai_parse_root(LLM_OAI_COMPLETION, root, &d, &q, param, &err) == 0);
    CHECK_NEAR(q.sampling.temperature, 0.25, 1e-6);
    CHECK(q.sampling.top_k == 7);
    CHECK_NEAR(q.sampling.top_p, 0.5, 1e-6);
    CHECK(q.prompt && strcmp(q.prompt, "x") == 0);
    llm_oai_req_free(&q);
}

int main(void)
{
    test_parse_ok();
    test_parse_bad();
    test_load_then_parse();
    test_write();
    test_utf8();
    test_stop_rules();
    return check_finish();
}
