/* test_tokenizer_vocab.c — every llama.cpp vocab test vector (ggml-vocab-*.gguf.inp/.out) and
 * the detokenize(encode(x)) == x round trip, per vocabulary, with pass counts. */
#include "check.h"
#include "llm/gguf.h"
#include "llm/tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEP "\n__ggml_vocab_test__\n"

/* Vocabularies with vectors. lossless: detokenize(encode(x)) must give x back. */
static const struct {
    const char *name;
    int lossless;
} vocabs[] = {
    {"llama-spm", 1}, {"phi-3", 1}, {"gpt-2", 1}, {"deepseek-coder", 1}, {"deepseek-llm", 1},
    {"falcon", 1},    {"mpt", 1},   {"refact", 1}, {"starcoder", 1},     {"bert-bge", 0},
};

/* Known, explained failures: none. A vocab listed here reports but does not fail the test. */
static const char *const expected_fail[] = {NULL};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

static void print_ids(const char *what, const int32_t *v, int n)
{
    fprintf(stderr, "    %s:", what);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

/* Returns the number of failed cases for one vocabulary. */
static int run_vocab(const char *dir, const char *name, int lossless, int *n_cases)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    struct gguf_file *g = NULL;
    struct tokenizer *tok = NULL;
    struct inferd_err err = {0};
    if (gguf_open(path, &g, &err) < 0 || tokenizer_from_gguf(g, &tok, &err) < 0) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        gguf_close(g);
        *n_cases = 0;
        return 1;
    }
    gguf_close(g);  /* the tokenizer keeps its own copy */
    size_t inp_len = 0, out_len = 0;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = read_all(path, &inp_len);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *outs = read_all(path, &out_len);
    int fails = 0, cases = 0, rt_fails = 0;
    char *p = inp, *line = outs;
    int32_t ids[4096], want[4096];
    char text[16384];
    while (inp && outs && p < inp + inp_len) {
        char *sep = strstr(p, SEP);
        if (!sep)
            break;
        size_t tl = (size_t)(sep - p);
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        int nw = 0;
        for (char *q = line; *q && nw < 4096;) {
            while (*q == ' ')
                q++;
            if (!*q)
                break;
            want[nw++] = (int32_t)strtol(q, &q, 10);
        }
        int n = tokenizer_encode(tok, p, tl, 0, 0, ids, 4096);
        int ok = n == nw && memcmp(ids, want, (size_t)n * sizeof *ids) == 0;
        if (!ok) {
            fails++;
            fprintf(stderr, "  %s case %d: %.*s\n", name, cases, (int)(tl > 80 ? 80 : tl), p);
            print_ids("want", want, nw);
            print_ids("got ", ids, n > 4096 ? 4096 : n);
        }
        if (!lossless && n > 0 && n <= 4096 && strcmp(name, "bert-bge") == 0 && strncmp(p, "Hello world", tl) == 0 &&
            tl == 11) {
            /* WordPiece decodes to the normalized words, without a leading space */
            int m = tokenizer_detokenize(tok, ids, n, 0, text, sizeof text);
            CHECK(m == 11 && memcmp(text, "hello world", 11) == 0);
        }
        if (lossless && n >= 0 && n <= 4096) {
            int m = tokenizer_detokenize(tok, ids, n, 0, text, sizeof text);
            if (m != (int)tl || memcmp(text, p, tl) != 0) {
                rt_fails++;
                fprintf(stderr, "  %s round trip %d: got '%.*s'\n", name, cases, m > 0 ? (m > 80 ? 80 : m) : 0, text);
            }
        }
        cases++;
        p = sep + strlen(SEP);
        line = nl ? nl + 1 : line + strlen(line);
    }
    printf("%-16s %2d/%2d encode ok", name, cases - fails, cases);
    if (lossless)
        printf(", %2d/%2d round trips ok", cases - rt_fails, cases);
    printf("\n");
    if (cases == 0)
        fails = 1;
    free(inp);
    free(outs);
    tokenizer_free(tok);
    *n_cases = cases;
    return fails + rt_fails;
}

int main(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", check_shared_path("llm/vocab"));
    int total = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        int n_cases;
        int f = run_vocab(dir, vocabs[v].name, vocabs[v].lossless, &n_cases);
        int xfail = 0;
        for (size_t k = 0; expected_fail[k]; k++)
            xfail |= strcmp(expected_fail[k], vocabs[v].name) == 0;
        if (xfail)
            printf("  (%s is an expected failure)\n", vocabs[v].name);
        else
            CHECK(f == 0);
        total += n_cases;
    }
    CHECK(total >= 400);
    return check_finish();
}
