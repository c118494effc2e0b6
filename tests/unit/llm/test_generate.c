/* test_generate.c — inferd_llm_generate: on a tiny random model (always) prompt chunking
 * does not change the output, the callback sees exactly the result text and can stop it,
 * max_tokens 0, a full context, parameter errors; on ../shared's aidreams260K.gguf greedy
 * text equals llama.cpp's golden text (what `inferd generate --temp 0` prints), and stop
 * strings cut it. Skips (77) the shared part when ../shared is absent. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "inferd/llm.h"
#include "support/model_random.h"

static struct inferd_llm_ctx *new_ctx(struct inferd_llm_model *m, int n_ctx, int n_batch)
{
    struct inferd_llm_ctx *c = NULL;
    struct inferd_err err = {0};
    if (inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = n_ctx, .n_seq = 1, .n_batch = n_batch}, &c,
                           &err) < 0)
        printf("ctx: %s\n", err.msg);
    return c;
}

/* Greedy generation on a fresh context; OUT: *r (free with inferd_llm_gen_result_free). */
static int gen(struct inferd_llm_model *m, int n_ctx, const int32_t *prompt, int n_prompt,
               struct inferd_llm_gen_params p, struct inferd_llm_gen_result *r)
{
    struct inferd_llm_sampling sp;
    struct inferd_err err = {0};
    inferd_llm_sampling_defaults(&sp);
    sp.temperature = 0;
    if (!p.sampling)
        p.sampling = &sp;
    struct inferd_llm_ctx *c = new_ctx(m, n_ctx, 64);
    if (!c)
        return -1;
    int rc = inferd_llm_generate(c, prompt, n_prompt, &p, r, &err);
    if (rc < 0)
        printf("generate: %s\n", err.msg);
    inferd_llm_ctx_free(c);
    return rc;
}

struct collect {
    char buf[8192];
    size_t len;
    int calls, stop_after;
};

static int collect_piece(const char *text, size_t len, void *arg)
{
    struct collect *k = arg;
    CHECK(len > 0);
    if (k->len + len < sizeof k->buf) {
        memcpy(k->buf + k->len, text, len);
        k->len += len;
    }
    k->calls++;
    return k->stop_after && k->calls >= k->stop_after;
}

static void test_random_model(const char *dir)
{
    char path[512];
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    struct llm_random_spec spec = llm_random_spec_tiny();
    CHECK(llm_random_model_write(path, &spec, &err) == 0);
    CHECK(inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = 2}, &m, &err) == 0);
    if (!m)
        return;
    unlink(path);
    const int32_t prompt[12] = {1, 17, 260, 261, 99, 280, 5, 33, 270, 271, 2, 150};
    struct inferd_llm_gen_result a, b, r;

    /* prompt in chunks of 1, 5 and the context's 64 rows: the same tokens come out */
    CHECK(gen(m, 64, prompt, 12, (struct inferd_llm_gen_params){.max_tokens = 20, .ignore_eos = 1}, &a) == 0);
    CHECK(a.n_prompt == 12 && a.n_gen == 20 && a.finish == INFERD_LLM_FINISH_LENGTH);
    CHECK(a.text && strcmp(a.finish_reason, "length") == 0 && strlen(a.text) == a.len);
    for (int nb = 1; nb <= 5; nb += 4) {
        CHECK(gen(m, 64, prompt, 12, (struct inferd_llm_gen_params){.max_tokens = 20, .ignore_eos = 1, .n_batch = nb},
                  &b) == 0);
        CHECK(b.len == a.len && memcmp(a.text, b.text, a.len) == 0);
        inferd_llm_gen_result_free(&b);
    }

    /* the callback sees exactly the result text, in order */
    struct collect k = {0};
    CHECK(gen(m, 64, prompt, 12,
              (struct inferd_llm_gen_params){.max_tokens = 20, .ignore_eos = 1, .on_piece = collect_piece, .arg = &k},
              &b) == 0);
    CHECK(k.len == b.len && memcmp(k.buf, b.text, b.len) == 0 && b.len == a.len);
    inferd_llm_gen_result_free(&b);

    /* the callback stops generation */
    struct collect k1 = {.stop_after = 1};
    CHECK(gen(m, 64, prompt, 12,
              (struct inferd_llm_gen_params){.max_tokens = 20, .ignore_eos = 1, .on_piece = collect_piece, .arg = &k1},
              &b) == 0);
    CHECK(b.finish == INFERD_LLM_FINISH_CALLBACK && strcmp(b.finish_reason, "stop") == 0);
    CHECK(k1.calls == 1 && b.n_gen < 20 && b.len == k1.len);
    inferd_llm_gen_result_free(&b);

    /* max_tokens 0: the prompt only */
    CHECK(gen(m, 64, prompt, 12, (struct inferd_llm_gen_params){.max_tokens = 0}, &b) == 0);
    CHECK(b.n_gen == 0 && b.len == 0 && b.text && b.text[0] == 0 && b.finish == INFERD_LLM_FINISH_LENGTH);
    inferd_llm_gen_result_free(&b);

    /* a full KV cache ends generation with "length"; the text so far is kept */
    CHECK(gen(m, 16, prompt, 12, (struct inferd_llm_gen_params){.max_tokens = -1, .ignore_eos = 1}, &b) == 0);
    CHECK(b.finish == INFERD_LLM_FINISH_CONTEXT && strcmp(b.finish_reason, "length") == 0);
    CHECK(b.n_gen == 16 - 12 + 1);
    CHECK(b.len <= a.len && memcmp(a.text, b.text, b.len) == 0);
    inferd_llm_gen_result_free(&b);

    /* bad parameters: an error, *out zeroed, no callback */
    struct inferd_llm_ctx *c = new_ctx(m, 64, 8);
    struct collect k2 = {0};
    const char *many[INFERD_LLM_GEN_STOP_MAX + 1];
    for (int i = 0; i <= INFERD_LLM_GEN_STOP_MAX; i++)
        many[i] = "x";
    char longstop[INFERD_LLM_GEN_STOP_LEN + 2];
    memset(longstop, 'a', sizeof longstop - 1);
    longstop[sizeof longstop - 1] = 0;
    const char *one_long[] = {longstop};
    struct {
        struct inferd_llm_gen_params p;
        int n_prompt, rc;
    } bad[] = {
        {{.max_tokens = 4, .n_batch = 9}, 12, INFERD_EINVAL},        /* more than the context's 8 */
        {{.max_tokens = 4, .seq = 1}, 12, INFERD_EINVAL},            /* the context has one sequence */
        {{.max_tokens = 4}, 0, INFERD_EINVAL},                       /* no prompt */
        {{.max_tokens = 4, .stop = many, .n_stop = INFERD_LLM_GEN_STOP_MAX + 1}, 12, INFERD_ETOOLARGE},
        {{.max_tokens = 4, .stop = one_long, .n_stop = 1}, 12, INFERD_ETOOLARGE},
    };
    for (size_t i = 0; c && i < sizeof bad / sizeof bad[0]; i++) {
        bad[i].p.on_piece = collect_piece;
        bad[i].p.arg = &k2;
        r.text = (char *)"junk";
        err = (struct inferd_err){0};
        CHECK(inferd_llm_generate(c, prompt, bad[i].n_prompt, &bad[i].p, &r, &err) == bad[i].rc);
        CHECK(r.text == NULL && r.n_gen == 0 && err.msg[0] != 0);
    }
    CHECK(k2.calls == 0);
    /* a prompt longer than the cache */
    inferd_llm_ctx_free(c);
    int32_t longp[40];
    for (int i = 0; i < 40; i++)
        longp[i] = prompt[i % 12];
    c = new_ctx(m, 16, 8);
    CHECK(c && inferd_llm_generate(c, longp, 40, &(struct inferd_llm_gen_params){.max_tokens = 1}, &r, &err) ==
                   INFERD_ETOOLARGE);
    inferd_llm_ctx_free(c);
    inferd_llm_gen_result_free(&a);
    inferd_llm_gen_result_free(NULL);
    inferd_llm_free(m);
}

/* Greedy text of aidreams260K.gguf == the golden text `inferd generate --temp 0` prints. */
static void test_golden(const char *model, const char *golden)
{
    struct inferd_err err = {0};
    struct inferd_llm_model *m = NULL;
    json_error_t je;
    json_t *g = json_load_file(golden, 0, &je);
    CHECK(g != NULL);
    CHECK(inferd_llm_load(model, &(struct inferd_llm_load_params){.n_threads = 2}, &m, &err) == 0);
    if (!g || !m) {
        json_decref(g);
        inferd_llm_free(m);
        return;
    }
    json_t *cases = json_object_get(g, "cases");
    for (size_t i = 0; i < json_array_size(cases) && i < 3; i++) {
        json_t *cs = json_array_get(cases, i);
        const char *prompt = json_string_value(json_object_get(cs, "prompt"));
        const char *text = json_string_value(json_object_get(cs, "text"));
        json_t *ptoks = json_object_get(cs, "prompt_tokens");
        int n_tokens = (int)json_array_size(json_object_get(cs, "tokens"));
        int32_t toks[256];
        int n = inferd_llm_tokenize(m, prompt, strlen(prompt), 1, 1, toks, 256);
        CHECK(n == (int)json_array_size(ptoks));
        struct inferd_llm_gen_result r;
        /* chunks of 2 prompt tokens and the whole prompt at once give the same text */
        for (int nb = 2; nb <= 64; nb += 62) {
            struct inferd_llm_ctx *c = new_ctx(m, n + n_tokens, 64);
            struct inferd_llm_sampling sp;
            inferd_llm_sampling_defaults(&sp);
            sp.temperature = 0;
            CHECK(c && inferd_llm_generate(c, toks, n, &(struct inferd_llm_gen_params){.max_tokens = n_tokens,
                                           .n_batch = nb, .sampling = &sp}, &r, &err) == 0);
            CHECK(r.text && strcmp(r.text, text) == 0);
            if (r.text && strcmp(r.text, text) != 0)
                printf("case %zu (n_batch %d):\n  got  %s\n  want %s\n", i, nb, r.text, text);
            CHECK(r.n_prompt == n && r.n_gen == n_tokens && r.finish == INFERD_LLM_FINISH_LENGTH);
            inferd_llm_gen_result_free(&r);
            inferd_llm_ctx_free(c);
        }
    }
    /* a stop string from the middle of the golden text cuts it there (test_llm_cli.py too) */
    json_t *cs = json_array_get(cases, 1);
    const char *prompt = json_string_value(json_object_get(cs, "prompt"));
    const char *text = json_string_value(json_object_get(cs, "text"));
    char stop[9];
    memcpy(stop, text + 20, 8);
    stop[8] = 0;
    const char *stops[] = {"never appears", stop};
    int32_t toks[256];
    int n = inferd_llm_tokenize(m, prompt, strlen(prompt), 1, 1, toks, 256);
    struct inferd_llm_ctx *c = new_ctx(m, n + 48, 64);
    struct inferd_llm_sampling sp;
    inferd_llm_sampling_defaults(&sp);
    sp.temperature = 0;
    struct inferd_llm_gen_result r;
    struct collect k = {0};
    CHECK(c && inferd_llm_generate(c, toks, n, &(struct inferd_llm_gen_params){.max_tokens = 48, .sampling = &sp,
                                   .stop = stops, .n_stop = 2, .on_piece = collect_piece, .arg = &k},
                                   &r, &err) == 0);
    CHECK(r.len == 20 && memcmp(r.text, text, 20) == 0);
    CHECK(r.finish == INFERD_LLM_FINISH_STOP_STRING && strcmp(r.finish_reason, "stop") == 0);
    CHECK(k.len == 20 && memcmp(k.buf, text, 20) == 0);
    inferd_llm_gen_result_free(&r);
    inferd_llm_ctx_free(c);
    json_decref(g);
    inferd_llm_free(m);
}

int main(void)
{
    char dir[] = "/tmp/inferd_test_generate.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_random_model(dir);
    rmdir(dir);

    char model[4096], golden[4096];
    const char *root = getenv("INFERD_SHARED");
    snprintf(model, sizeof model, "%s/testdata/llm/aidreams260K.gguf", root ? root : "../shared");
    snprintf(golden, sizeof golden, "%s/testdata/llm/golden_aidreams260K.json", root ? root : "../shared");
    struct stat st;
    if (stat(model, &st) != 0 || stat(golden, &st) != 0) {
        if (check_failures)
            return check_finish();
        check_skip("../shared/testdata/llm/aidreams260K.gguf absent: the golden-text half did not run");
    }
    test_golden(model, golden);
    return check_finish();
}
