/* test_grammar.c — the GBNF parser (errors with positions, caps), the matcher (text in,
 * completion), the vocabulary mask against token-by-token checks, and JSON schemas compiled
 * to grammars whose random walks always end in valid documents. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "check.h"
#include "inferd/llm.h"
#include "llm/grammar.h"
#include "llm/json_schema.h"

static int parses(const char *g)
{
    struct llm_grammar *gr;
    struct inferd_err err = {0};
    int rc = llm_grammar_parse(g, strlen(g), NULL, &gr, &err);
    llm_grammar_unref(gr);
    return rc;
}

static int parse_err(const char *g, const char *want)
{
    struct llm_grammar *gr;
    struct inferd_err err = {0};
    int rc = llm_grammar_parse(g, strlen(g), NULL, &gr, &err);
    if (rc == 0) {
        llm_grammar_unref(gr);
        fprintf(stderr, "parsed but should not: %s\n", g);
        return 0;
    }
    if (!strstr(err.msg, want)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err.msg, want);
        return 0;
    }
    return 1;
}

/* Whether text matches g completely (1), is a viable prefix (2) or is rejected (0). */
static int match(const char *g, const char *text)
{
    struct llm_grammar *gr;
    struct llm_gvocab *v;
    struct llm_gmatch *gm;
    struct inferd_err err = {0};
    const char *pc[] = {"x"};
    size_t pl[] = {1};
    if (llm_grammar_parse(g, strlen(g), NULL, &gr, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    CHECK(llm_gvocab_from_pieces(pc, pl, NULL, 1, &v, &err) == 0);
    CHECK(llm_gmatch_new(gr, v, &gm, &err) == 0);
    int r = llm_gmatch_accept_text(gm, text, strlen(text), &err) < 0 ? 0 : llm_gmatch_can_end(gm) ? 1 : 2;
    llm_gmatch_free(gm);
    llm_gvocab_free(v);
    llm_grammar_unref(gr);
    return r;
}

/* A small vocabulary: printable ASCII, some words, a 2-byte character, its bytes apart, EOG. */
#define NV 160
static const char *pieces[NV];
static size_t lens[NV];
static uint8_t eog[NV];
static int n_pieces;
static struct llm_gmask_cache *shared; /* one for every walk: grammars must not see each other's masks */

static void add(const char *s, size_t n)
{
    pieces[n_pieces] = s;
    lens[n_pieces++] = n;
}

static void make_vocab(void)
{
    static char ascii[95][2];
    for (int c = 0x20; c < 0x7f; c++) {
        ascii[c - 0x20][0] = (char)c;
        add(ascii[c - 0x20], 1);
    }
    const char *words[] = {"{\"", "\":", "true", "null", "false", "ab", " \"", "\"}", "12", "\n", "\u00e9", "x\u00e9",
                           "\",\"", "[1", "]}", "name", "age", "{}", "\\n", "\\\"", "-0", "1.5"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        add(words[i], strlen(words[i]));
    add("\xc3", 1);  /* the first byte of é */
    add("\xa9", 1);  /* its second */
    add("", 0);      /* a control token */
    eog[n_pieces] = 1;
    add("", 0);      /* end of generation */
}

/* Walks g from the start with random allowed tokens; checks that mask and allows agree at
 * every step. OUT: text (NUL-terminated). Returns 1 when it ended on EOG or done. */
static int walk(const struct llm_grammar *gr, const struct llm_gvocab *v, unsigned seed, char *text, size_t cap)
{
    struct llm_gmatch *gm;
    struct inferd_err err = {0};
    float logits[NV];
    size_t len = 0;
    int ended = 0;
    CHECK(llm_gmatch_new(gr, v, &gm, &err) == 0);
    llm_gmatch_share(gm, shared);
    srand(seed);
    for (int step = 0; step < 400 && !ended; step++) {
        for (int i = 0; i < n_pieces; i++)
            logits[i] = 0;
        int n = llm_gmatch_mask(gm, logits);
        int agree = 1;
        for (int i = 0; i < n_pieces; i++)
            if ((logits[i] == 0) != llm_gmatch_allows(gm, i)) {
                fprintf(stderr, "mask and allows disagree on token %d at \"%.*s\"\n", i, (int)len, text);
                agree = 0;
            }
        CHECK(agree);
        if (n == 0)
            break;
        /* prefer the end half the time it is offered, to keep documents short */
        int pick = -1;
        if (llm_gmatch_can_end(gm) && rand() % 2 == 0)
            pick = n_pieces - 1;
        while (pick < 0) {
            int i = rand() % n_pieces;
            if (logits[i] == 0)
                pick = i;
        }
        CHECK(llm_gmatch_accept(gm, pick, &err) == 0);
        if (eog[pick]) {
            ended = 1;
            break;
        }
        if (len + lens[pick] + 1 < cap) {
            memcpy(text + len, pieces[pick], lens[pick]);
            len += lens[pick];
        }
        if (llm_gmatch_done(gm))
            ended = 1;
    }
    text[len] = 0;
    llm_gmatch_free(gm);
    return ended;
}

static struct llm_grammar *schema_grammar(const char *schema_json, struct inferd_err *err)
{
    json_error_t je;
    json_t *s = json_loads(schema_json, 0, &je);
    CHECK(s != NULL);
    struct buf b;
    buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
    struct llm_grammar *gr = NULL;
    if (llm_json_schema_gbnf(s, &b, err) == 0 && llm_grammar_parse(b.data, b.len, "root", &gr, err) < 0)
        fprintf(stderr, "grammar of %s does not parse: %s\n%s", schema_json, err->msg, b.data);
    buf_free(&b);
    json_decref(s);
    return gr;
}

/* inferd_llm_generate's grammar hook on the shared aidreams260K model (skipped without it). */
static void generate_with_grammar(void)
{
    const char *shared = getenv("INFERD_SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/testdata/llm/aidreams260K.gguf", shared ? shared : "/work/shared");
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "skipping the generate part: %s is absent\n", path);
        return;
    }
    fclose(f);
    struct inferd_llm_model *m;
    struct inferd_llm_ctx *c;
    struct inferd_err err = {0};
    CHECK(inferd_llm_load(path, &(struct inferd_llm_load_params){.n_threads = 1}, &m, &err) == 0);
    CHECK(inferd_llm_ctx_new(m, &(struct inferd_llm_ctx_params){.n_ctx = 128}, &c, &err) == 0);
    int32_t toks[16];
    int n = inferd_llm_tokenize(m, "Once", 4, 1, 0, toks, 16);
    struct inferd_llm_sampling sp;
    inferd_llm_sampling_defaults(&sp);
    sp.temperature = 1.0f;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        sp.seed = seed;
        struct inferd_llm_gen_result r;
        struct inferd_llm_gen_params gp = {.max_tokens = 64, .sampling = &sp,
                                           .grammar = "root ::= \"{\" [a-z]{1,5} (\",\" [0-9])? \"}\""};
        inferd_llm_seq_clear(c, 0);
        CHECK(inferd_llm_generate(c, toks, n, &gp, &r, &err) == 0);
        CHECK(r.finish == INFERD_LLM_FINISH_EOG);
        CHECK(match(gp.grammar, r.text) == 1);
        inferd_llm_gen_result_free(&r);
    }
    struct inferd_llm_gen_result r;
    inferd_llm_seq_clear(c, 0);
    CHECK(inferd_llm_generate(c, toks, n, &(struct inferd_llm_gen_params){.max_tokens = 8, .grammar = "root ::= x"},
                              &r, &err) == INFERD_EINVAL);
    CHECK(strstr(err.msg, "grammar: rule x is used but not defined") != NULL);
    inferd_llm_ctx_free(c);
    inferd_llm_free(m);
}

int main(void)
{
    /* ---- parser ---- */
    CHECK(parses("root ::= \"a\" | [b-d]+ x?\nx ::= (\"y\" | \"z\"){2,3} # comment\n") == 0);
    CHECK(parses("root ::= \"a\"\n  | \"b\"\n") == 0);
    CHECK(parses("root ::= [^\"\\\\] . \"\\x41\\u00e9\\n\"") == 0);
    CHECK(parse_err("root ::= foo", "rule foo is used but not defined"));
    CHECK(parse_err("other ::= \"a\"", "no rule named root"));
    CHECK(parse_err("root ::= root \"a\"", "left-recursive"));
    CHECK(parse_err("root ::= x \"a\"\nx ::= \"\" | root", "left-recursive"));
    CHECK(parse_err("root ::= (\"a\"?)*", "left-recursive"));
    CHECK(parse_err("root ::= \"abc", "line 1 col 14: unterminated literal"));
    CHECK(parse_err("root ::= \"a\"\nroot ::= \"b\"", "line 2"));
    CHECK(parse_err("root ::= [a", "unterminated character class"));
    CHECK(parse_err("root ::= \"\\q\"", "unknown escape"));
    CHECK(parse_err("root ::= \"a\"{3,2}", "n < m"));
    CHECK(parse_err("root ::= \"a\"{5000}", "over 1000"));
    CHECK(parse_err("root = \"a\"", "expected ::="));
    CHECK(parse_err("root ::= *", "follows nothing"));
    CHECK(parse_err("root ::= ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((\"a\"", "nested"));

    /* ---- matching text ---- */
    const char *g1 = "root ::= \"a\" [0-9]{2,3} (\"x\" | \"yz\")?";
    CHECK(match(g1, "a12") == 1);
    CHECK(match(g1, "a123") == 1);
    CHECK(match(g1, "a1234") == 0);
    CHECK(match(g1, "a1") == 2);
    CHECK(match(g1, "a12y") == 2);
    CHECK(match(g1, "a12yz") == 1);
    CHECK(match(g1, "b") == 0);
    CHECK(match("root ::= [^a-c]+", "xyz\u00e9") == 1);
    CHECK(match("root ::= [^a-c]+", "xaz") == 0);
    CHECK(match("root ::= \"\u00e9\"", "\xc3") == 2);  /* half a character is a viable prefix */
    CHECK(match("root ::= \"e\"", "\xc3") == 0);
    CHECK(match("root ::= item (\",\" item)*\nitem ::= \"[\" root? \"]\"", "[],[[]]") == 1);

    /* ---- the vocabulary mask and walks ---- */
    make_vocab();
    CHECK(llm_gmask_cache_new(n_pieces, &shared) == 0);
    struct llm_gvocab *v;
    struct inferd_err err = {0};
    CHECK(llm_gvocab_from_pieces(pieces, lens, eog, n_pieces, &v, &err) == 0);
    char text[4096];
    struct llm_grammar *gr;
    const char *g2 = "root ::= \"{\\\"\" [a-z\u00e9]{1,6} \"\\\":\" (\"true\" | \"null\" | [0-9]+)  \"}\"";
    CHECK(llm_grammar_parse(g2, strlen(g2), NULL, &gr, &err) == 0);
    for (unsigned s = 1; s <= 30; s++) {
        CHECK(walk(gr, v, s, text, sizeof text) == 1);
        CHECK(match(g2, text) == 1);
    }
    llm_grammar_unref(gr);

    /* ---- JSON schemas: every walk that ends is a valid document ---- */
    const char *schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":5},"
        "\"age\":{\"type\":\"integer\"}},\"required\":[\"name\",\"age\"]}",
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},"
        "\"c\":{\"enum\":[\"x\",1,null]}},\"required\":[\"b\"]}",
        "{\"type\":\"array\",\"items\":{\"type\":\"number\"},\"minItems\":2,\"maxItems\":3}",
        "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":3}]}",
        "{\"type\":[\"boolean\",\"null\"]}",
        "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"maxItems\":2,"
        "\"items\":{\"$ref\":\"#/$defs/node\"}}}}},\"$ref\":\"#/$defs/node\"}",
        "{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"v\"}},"
        "\"required\":[\"k\"]}},\"required\":[\"o\"],\"additionalProperties\":false}",
        "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
    };
    for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++) {
        gr = schema_grammar(schemas[i], &err);
        CHECK(gr != NULL);
        if (!gr)
            continue;
        int ended = 0;
        for (unsigned s = 1; s <= 20; s++) {
            if (!walk(gr, v, s * 7 + (unsigned)i, text, sizeof text))
                continue;
            ended++;
            json_error_t je;
            json_t *doc = json_loads(text, JSON_DECODE_ANY, &je);
            if (!doc)
                fprintf(stderr, "schema %zu walk %u: not JSON: %s\n", i, s, text);
            CHECK(doc != NULL);
            if (i == 0) {
                CHECK(json_is_string(json_object_get(doc, "name")));
                const char *nm = json_string_value(json_object_get(doc, "name"));
                size_t cps = 0;
                for (const char *q = nm ? nm : ""; *q; q++)
                    cps += ((unsigned char)*q & 0xC0) != 0x80;
                CHECK(cps <= 5); /* characters, not bytes */
                CHECK(json_is_integer(json_object_get(doc, "age")));
            } else if (i == 2) {
                CHECK(json_array_size(doc) >= 2 && json_array_size(doc) <= 3);
            } else if (i == 6) {
                CHECK(strcmp(json_string_value(json_object_get(json_object_get(doc, "o"), "k")), "v") == 0);
            } else if (i == 7) { /* a map of integers */
                const char *k;
                json_t *val;
                CHECK(json_is_object(doc));
                json_object_foreach(doc, k, val) CHECK(json_is_integer(val));
            }
            json_decref(doc);
        }
        CHECK(ended > 0);
        llm_grammar_unref(gr);
    }
    /* json_object mode */
    struct buf b;
    buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
    llm_json_object_gbnf(&b);
    CHECK(llm_grammar_parse(b.data, b.len, "root", &gr, &err) == 0);
    buf_free(&b);
    CHECK(match("root ::= \"x\"", "x") == 1);
    llm_grammar_unref(gr);

    /* schema errors name the path */
    const char *bad[][2] = {
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"}}}", "properties.a: type: \"strin\""},
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "pattern: not supported"},
        {"{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"]}", "required: \"x\" is not among"},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":1}", "maxItems: below minItems"},
        {"{\"$ref\":\"#/$defs/none\"}", "$ref: no such definition"},
        {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"b\"]}",
         "required: \"b\" is not among"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *s = json_loads(bad[i][0], 0, NULL);
        buf_init(&b, LLM_GRAMMAR_TEXT_MAX);
        memset(&err, 0, sizeof err);
        int rc = llm_json_schema_gbnf(s, &b, &err);
        CHECK(rc < 0);
        if (!strstr(err.msg, bad[i][1]))
            fprintf(stderr, "schema error \"%s\" lacks \"%s\"\n", err.msg, bad[i][1]);
        CHECK(strstr(err.msg, bad[i][1]) != NULL);
        buf_free(&b);
        json_decref(s);
    }
    llm_gvocab_free(v);
    llm_gmask_cache_free(shared);
    generate_with_grammar();
    return check_finish();
}
