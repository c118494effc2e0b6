/* test_tokenizer.c — tokenizer API: a hand-built SPM vocab (merge order, byte fallback,
 * specials), metadata errors, golden prompt tokens from llama.cpp, pieces, EOG, timing. */
#include "check.h"
#include "llm/gguf.h"
#include "llm/tokenizer/tokenizer.h"
#include "llm/tokenizer/pretok.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int ids_eq(const int32_t *a, int n, const int32_t *b, int m)
{
    return n == m && memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* Writes a GGUF with the given tokenizer metadata to path. model NULL: no tokenizer keys. */
static int write_vocab(const char *path, const char *model, int with_merges)
{
    struct gguf_writer *w = gguf_writer_new();
    const char *toks[3 + 256 + 8];
    float scores[3 + 256 + 8];
    int32_t types[3 + 256 + 8];
    static char bytes[256][8];
    int n = 0;
    toks[n] = "<unk>", scores[n] = 0, types[n++] = 2;
    toks[n] = "<s>", scores[n] = 0, types[n++] = 3;
    toks[n] = "</s>", scores[n] = 0, types[n++] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[n] = bytes[b], scores[n] = 0, types[n++] = 6;
    }
    /* 259.. */
    const char *extra[] = {"\342\226\201", "a", "b", "c", "ab", "bc", "\342\226\201a", "abc"};
    float esc[] = {-3, -4, -4, -4, -1, -0.5f, -2, -0.1f};
    for (int i = 0; i < 8; i++)
        toks[n] = extra[i], scores[n] = esc[i], types[n++] = 1;
    int rc = 0;
    if (model) {
        rc |= gguf_writer_set_str(w, "tokenizer.ggml.model", model);
        rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n);
        rc |= gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)n);
        rc |= gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)n);
        if (with_merges) {
            const char *merges[] = {"a b", "ab c"};
            rc |= gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 2);
        }
    } else {
        rc |= gguf_writer_set_str(w, "general.architecture", "llama");
    }
    struct inferd_err err = {0};
    rc |= gguf_writer_write(w, path, &err);
    gguf_writer_free(w);
    return rc;
}

static struct tokenizer *load(const char *path, int *rc_out, struct inferd_err *err)
{
    struct gguf_file *g = NULL;
    struct tokenizer *t = NULL;
    int rc = gguf_open(path, &g, err);
    if (rc == 0)
        rc = tokenizer_from_gguf(g, &t, err);
    gguf_close(g);
    if (rc_out)
        *rc_out = rc;
    return t;
}

static void test_hand_built(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/inferd_tok_%d.gguf", (int)getpid());
    struct inferd_err err = {0};
    int rc;
    CHECK(write_vocab(path, "llama", 0) == 0);
    struct tokenizer *t = load(path, &rc, &err);
    CHECK(t != NULL);
    if (t) {
        int32_t ids[16];
        /* "▁abc": pairs ▁a(-2) ab(-1) bc(-0.5); bc first, then a+bc = abc(-0.1); "▁abc" is no token. */
        int n = tokenizer_encode(t, "abc", 3, 0, 0, ids, 16);
        CHECK(ids_eq(ids, n, (int32_t[]){259, 266}, 2));
        n = tokenizer_encode(t, "abc", 3, 1, 0, ids, 16);
        CHECK(ids_eq(ids, n, (int32_t[]){1, 259, 266}, 3));
        CHECK(tokenizer_encode(t, "", 0, 1, 0, ids, 16) == 1 && ids[0] == 1);
        CHECK(tokenizer_encode(t, "", 0, 0, 0, ids, 16) == 0);
        /* "é" is no token: UTF-8 bytes C3 A9 as <0xC3> <0xA9> (id = 3 + byte). */
        n = tokenizer_encode(t, "\xc3\xa9", 2, 0, 0, ids, 16);
        CHECK(ids_eq(ids, n, (int32_t[]){259, 3 + 0xC3, 3 + 0xA9}, 3));
        /* capacity: the count comes back, only cap ids are written */
        ids[1] = -7;
        CHECK(tokenizer_encode(t, "\xc3\xa9", 2, 0, 0, ids, 1) == 3 && ids[0] == 259 && ids[1] == -7);
        /* specials: "<s>" is CONTROL: text unless parse_special; text after it gets "▁" again */
        n = tokenizer_encode(t, "<s>abc", 6, 0, 1, ids, 16);
        CHECK(ids_eq(ids, n, (int32_t[]){1, 259, 266}, 3));
        n = tokenizer_encode(t, "<s>abc", 6, 0, 0, ids, 16);
        CHECK(n > 3 && ids[0] == 259 && ids[1] == 3 + '<');
        char buf[32];
        int m = tokenizer_detokenize(t, ids, n, 0, buf, sizeof buf);
        CHECK(m == 6 && memcmp(buf, "<s>abc", 6) == 0);
        /* pieces */
        CHECK(tokenizer_token_to_piece(t, 265, buf, sizeof buf) == 2 && memcmp(buf, " a", 2) == 0);
        CHECK(tokenizer_token_to_piece(t, 3 + 'A', buf, sizeof buf) == 1 && buf[0] == 'A');
        CHECK(tokenizer_token_to_piece(t, 1, buf, sizeof buf) == 3 && memcmp(buf, "<s>", 3) == 0);
        CHECK(tokenizer_token_to_piece(t, 266, buf, 1) == 3 && buf[0] == 'a');
        CHECK(tokenizer_token_to_piece(t, 9999, buf, sizeof buf) == INFERD_EINVAL);
        CHECK(tokenizer_token_to_piece(t, -1, buf, sizeof buf) == INFERD_EINVAL);
        /* detokenize drops CONTROL unless asked; strips the one prefix space */
        int32_t seq[] = {1, 265, 261, 2};
        m = tokenizer_detokenize(t, seq, 4, 0, buf, sizeof buf);
        CHECK(m == 2 && memcmp(buf, "ab", 2) == 0);
        m = tokenizer_detokenize(t, seq, 4, 1, buf, sizeof buf);
        CHECK(m == 10 && memcmp(buf, "<s> ab</s>", 10) == 0);  /* a rendered BOS is the first piece */
        CHECK(tokenizer_detokenize(t, seq, 4, 1, buf, 4) == 10);
        /* accessors */
        CHECK(tokenizer_get_kind(t) == TOKENIZER_SPM && tokenizer_n_vocab(t) == 267);
        CHECK(tokenizer_bos(t) == 1 && tokenizer_eos(t) == 2 && tokenizer_unk(t) == 0 && tokenizer_eot(t) == -1);
        CHECK(tokenizer_add_bos(t) == 1 && tokenizer_add_eos(t) == 0);
        CHECK(tokenizer_is_eog(t, 2) && !tokenizer_is_eog(t, 1) && !tokenizer_is_eog(t, -1));
        CHECK(tokenizer_find_token(t, "abc") == 266 && tokenizer_find_token(t, "zzz") == -1);
        size_t len;
        const char *tx = tokenizer_token_text(t, 265, &len);
        CHECK(tx && len == 4 && strcmp(tx, "\342\226\201a") == 0);
        CHECK(tokenizer_token_text(t, 267, &len) == NULL);
        CHECK(tokenizer_token_type(t, 0) == TOKEN_TYPE_UNKNOWN && tokenizer_token_type(t, 3) == TOKEN_TYPE_BYTE);
        CHECK(tokenizer_encode(t, "x", (size_t)TOKENIZER_MAX_TEXT + 1, 0, 0, ids, 16) == INFERD_ETOOLARGE);
        tokenizer_free(t);
    }
    /* errors */
    CHECK(write_vocab(path, NULL, 0) == 0);
    t = load(path, &rc, &err);
    CHECK(t == NULL && rc == INFERD_ENOTFOUND);
    CHECK(write_vocab(path, "t5", 0) == 0);
    t = load(path, &rc, &err);
    CHECK(t == NULL && rc == INFERD_EUNSUPPORTED && strstr(err.msg, "t5"));
    CHECK(write_vocab(path, "gpt2", 0) == 0);
    t = load(path, &rc, &err);
    CHECK(t == NULL && rc == INFERD_EFORMAT && strstr(err.msg, "merges"));
    /* with merges and no tokenizer.ggml.pre key: the default pre-tokenizer */
    CHECK(write_vocab(path, "gpt2", 1) == 0);
    t = load(path, &rc, &err);
    CHECK(t != NULL);
    tokenizer_free(t);
    unlink(path);
    tokenizer_free(NULL);
}

/* prompt_tokens of the golden files: tokenize(prompt, add_special=1, parse_special=1). */
static void test_golden(const char *model, const char *golden)
{
    char mp[4096], gp[4096];
    snprintf(mp, sizeof mp, "%s", check_shared_path(model));
    snprintf(gp, sizeof gp, "%s", check_shared_path(golden));
    struct inferd_err err = {0};
    struct tokenizer *t = load(mp, NULL, &err);
    CHECK(t != NULL);
    json_error_t jerr;
    json_t *root = json_load_file(gp, 0, &jerr);
    CHECK(root != NULL);
    if (!t || !root) {
        tokenizer_free(t);
        json_decref(root);
        return;
    }
    json_t *cases = json_object_get(root, "cases");
    size_t i, ok = 0;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        json_t *want = json_object_get(c, "prompt_tokens");
        int32_t ids[512];
        int n = tokenizer_encode(t, prompt, strlen(prompt), 1, 1, ids, 512);
        int good = n == (int)json_array_size(want);
        for (int k = 0; good && k < n; k++)
            good = ids[k] == (int32_t)json_integer_value(json_array_get(want, (size_t)k));
        CHECK(good);
        ok += good;
        if (!good)
            fprintf(stderr, "golden %s: prompt '%s' differs\n", golden, prompt);
        /* the generated tokens' pieces concatenate to the server's text */
        json_t *gen = json_object_get(c, "tokens");
        const char *text = json_string_value(json_object_get(c, "text"));
        char buf[8192];
        size_t pos = 0;
        size_t k;
        json_t *tok;
        json_array_foreach(gen, k, tok) {
            int m = tokenizer_token_to_piece(t, (int32_t)json_integer_value(tok), buf + pos, sizeof buf - pos);
            CHECK(m >= 0 && (size_t)m < sizeof buf - pos);
            if (m < 0 || (size_t)m >= sizeof buf - pos)
                break;
            pos += (size_t)m;
        }
        CHECK(text && pos == strlen(text) && memcmp(buf, text, pos) == 0);
    }
    printf("%s: %zu/%zu prompts tokenize as llama.cpp\n", golden, ok, json_array_size(cases));
    json_decref(root);
    tokenizer_free(t);
}

/* BPE details on the gpt-2 vocab: pieces map bytes back, <|endoftext|> is special and EOG. */
static void test_gpt2(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", check_shared_path("llm/vocab/ggml-vocab-gpt-2.gguf"));
    struct inferd_err err = {0};
    struct tokenizer *t = load(p, NULL, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    int32_t eot = tokenizer_find_token(t, "<|endoftext|>");
    CHECK(eot == 50256 && tokenizer_is_eog(t, eot));
    int32_t ids[64];
    int n = tokenizer_encode(t, "a<|endoftext|>b", 15, 0, 1, ids, 64);
    CHECK(n == 3 && ids[1] == eot);
    n = tokenizer_encode(t, "a<|endoftext|>b", 15, 0, 0, ids, 64);
    CHECK(n > 3);
    char buf[64];
    int32_t world = tokenizer_find_token(t, "\xc4\xa0world");  /* "Ġworld" */
    CHECK(world >= 0 && tokenizer_token_to_piece(t, world, buf, sizeof buf) == 6 && memcmp(buf, " world", 6) == 0);
    /* a newline byte token: "Ċ" -> "\n" */
    int32_t nl = tokenizer_find_token(t, "\xc4\x8a");
    CHECK(nl >= 0 && tokenizer_token_to_piece(t, nl, buf, sizeof buf) == 1 && buf[0] == '\n');
    CHECK(tokenizer_get_kind(t) == TOKENIZER_BPE);
    tokenizer_free(t);
}

/* Speed: a ~4 KB English prompt, SPM and BPE (printed, not asserted). */
static void time_4k(const char *vocab)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", check_shared_path(vocab));
    struct inferd_err err = {0};
    struct tokenizer *t = load(p, NULL, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    static const char para[] =
        "The quick brown fox jumps over the lazy dog. Serving models well means tokenizing prompts "
        "fast, batching requests, and streaming tokens back as soon as they are sampled; 1234 5678! ";
    char text[4200];
    size_t n = 0;
    while (n + sizeof para - 1 < 4096) {
        memcpy(text + n, para, sizeof para - 1);
        n += sizeof para - 1;
    }
    static int32_t ids[8192];
    int iters = 200, count = 0;
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    for (int i = 0; i < iters; i++)
        count = tokenizer_encode(t, text, n, 1, 0, ids, 8192);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / iters;
    CHECK(count > 500);
    printf("%s: %zu bytes -> %d tokens in %.1f us CPU per call\n", vocab, n, count, us);
    tokenizer_free(t);
}

/* SPM's per-word chunking (taken when no token has "▁" after another char) must give the
 * same ids as running the algorithm over the whole text at once. */
static void test_spm_chunking(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", check_shared_path("llm/vocab/ggml-vocab-llama-spm.gguf.inp"));
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    static char text[8192];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    snprintf(p, sizeof p, "%s", check_shared_path("llm/vocab/ggml-vocab-llama-spm.gguf"));
    struct inferd_err err = {0};
    struct tokenizer *t = load(p, NULL, &err);
    CHECK(t != NULL && t->spm_split_words == 1);
    if (!t)
        return;
    static int32_t a[8192], b[8192];
    int na = tokenizer_encode(t, text, n, 1, 0, a, 8192);
    t->spm_split_words = 0;
    int nb = tokenizer_encode(t, text, n, 1, 0, b, 8192);
    CHECK(na > 100 && ids_eq(a, na, b, nb));
    tokenizer_free(t);
}

/* Phi-3 (general.name "Phi3"): its specials eat the whitespace after them, as llama.cpp and
 * the model's tokenizer.json (rstrip) say; without parse_special nothing is stripped. */
static void test_phi3_rstrip(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", check_shared_path("llm/vocab/ggml-vocab-phi-3.gguf"));
    struct inferd_err err = {0};
    struct tokenizer *t = load(p, NULL, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    int32_t user = tokenizer_find_token(t, "<|user|>"), end = tokenizer_find_token(t, "<|end|>");
    int32_t asst = tokenizer_find_token(t, "<|assistant|>"), hello = tokenizer_find_token(t, "\342\226\201Hello");
    CHECK(user >= 0 && end >= 0 && asst >= 0 && hello >= 0);
    const char *chat = "<|user|>\nHello<|end|>\n<|assistant|>\n";
    int32_t ids[64];
    int n = tokenizer_encode(t, chat, strlen(chat), 0, 1, ids, 64);
    CHECK(ids_eq(ids, n, (int32_t[]){user, hello, end, asst}, 4));
    n = tokenizer_encode(t, "a<s>  b", 7, 0, 1, ids, 64);  /* <s> does not strip */
    CHECK(n > 3 && ids[1] == 1);
    tokenizer_free(t);
}

/* One tokenizer, four threads encoding at once: same ids as a single-threaded run. */
struct mt_arg {
    const struct tokenizer *t;
    const char *text;
    size_t len;
    const int32_t *want;
    int n_want;
    int ok;
};

static void *mt_worker(void *p)
{
    struct mt_arg *a = p;
    int32_t ids[4096];
    a->ok = 1;
    for (int i = 0; i < 50; i++) {
        int n = tokenizer_encode(a->t, a->text, a->len, 1, 1, ids, 4096);
        a->ok &= ids_eq(ids, n, a->want, a->n_want);
    }
    return NULL;
}

static void test_threads(const char *vocab)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", check_shared_path(vocab));
    struct inferd_err err = {0};
    struct tokenizer *t = load(p, NULL, &err);
    CHECK(t != NULL);
    if (!t)
        return;
    const char *text = "Hello <|endoftext|> world!\n\n  I've 3333 \xf0\x9f\xa6\x99 caf\xc3\xa9 \xe6\x88\x91\xe6\x83\xb3";
    static int32_t want[4096];
    int n = tokenizer_encode(t, text, strlen(text), 1, 1, want, 4096);
    CHECK(n > 5);
    pthread_t th[4];
    struct mt_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct mt_arg){t, text, strlen(text), want, n, 0};
        CHECK(pthread_create(&th[i], NULL, mt_worker, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(args[i].ok);
    }
    tokenizer_free(t);
}

int main(void)
{
    test_threads("llm/vocab/ggml-vocab-gpt-2.gguf");
    test_threads("llm/vocab/ggml-vocab-llama-spm.gguf");
    test_threads("llm/vocab/ggml-vocab-bert-bge.gguf");
    test_phi3_rstrip();
    test_spm_chunking();
    test_hand_built();
    test_golden("llm/aidreams260K.gguf", "llm/golden_aidreams260K.json");
    test_golden("llm/llama-2-tiny-random.gguf", "llm/golden_llama-2-tiny-random.json");
    test_gpt2();
    time_4k("llm/vocab/ggml-vocab-llama-spm.gguf");
    time_4k("llm/vocab/ggml-vocab-gpt-2.gguf");
    time_4k("llm/vocab/ggml-vocab-deepseek-llm.gguf");
    return check_finish();
}
