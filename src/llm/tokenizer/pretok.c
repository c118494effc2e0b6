/* pretok.c — BPE pre-tokenizers: the regex list each tokenizer.ggml.pre names, run
 * with PCRE2 (UTF + UCP, JIT) so \p{L}, \p{N}, \p{P} and lookaheads mean what they mean in the
 * Hugging Face tokenizers these vocabularies come from. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "llm/tokenizer/pretok.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#define PRETOK_MAX_REGEX 8

struct tok_pretok {
    int n;
    pcre2_code *code[PRETOK_MAX_REGEX];  /* owned */
    const char *src[PRETOK_MAX_REGEX];   /* static pattern text */
};

/* The patterns, as llama.cpp lists them per pre-tokenizer type (llama-vocab.cpp), which in
 * turn transcribe each model's tokenizer.json. Applied in order: each regex splits every
 * piece produced so far into its matches and the unmatched text between them. */
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2 RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

struct pretok_def {
    const char *names;  /* space-separated tokenizer.ggml.pre values */
    const char *rx[PRETOK_MAX_REGEX];
};

static const struct pretok_def defs[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 dbrx smaug-bpe chatglm-bpe",
     {RX_LLAMA3}},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      "\\s+$", RX_CJK, "\\p{N}+"}},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}"}},
    {"deepseek-v3 hunyuan-dense",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder refact command-r smollm codeshell exaone minerva-7b", {"\\p{N}", RX_GPT2}},
    {"gpt-2 mpt olmo jais trillion phi-2 jina-es jina-de gigachat jina-v1-en jina-v2-es jina-v2-de "
     "jina-v2-code roberta-bpe a.x-4.0 mellum modern-bert",
     {RX_GPT2}},
    {"qwen2 deepseek-r1-qwen megrez stablelm2 hunyuan grok-2", {RX_QWEN2}},
    {"seed-coder",
     {RX_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"bailingmoe",
     {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"}},
    {"poro-chat bloom gpt3-finnish",
     {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"}},
    {"viking", {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}"}},
    {"tekken",
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
      "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"chameleon",
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
      "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2}},
    {"gpt-4o",
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
      "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
};

static int name_in(const char *names, const char *pre, size_t pre_len)
{
    const char *p = names;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == pre_len && memcmp(p, pre, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

void tok_pretok_free(struct tok_pretok *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        pcre2_code_free(p->code[i]);
    free(p);
}

int tok_pretok_new(const char *pre, size_t pre_len, struct tok_pretok **out, struct inferd_err *err)
{
    int rc;
    const struct pretok_def *d = NULL;
    *out = NULL;
    if (pre_len == 0) {
        pre = "default";
        pre_len = 7;
    }
    for (size_t i = 0; i < sizeof defs / sizeof defs[0] && !d; i++)
        if (name_in(defs[i].names, pre, pre_len))
            d = &defs[i];
    if (!d)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "tokenizer.ggml.pre: pre-tokenizer '%.*s' is not supported",
                              (int)(pre_len > 64 ? 64 : pre_len), pre);
    struct tok_pretok *p = calloc(1, sizeof *p);
    if (!p)
        return inferd_err_set(err, INFERD_ENOMEM, "tokenizer: out of memory");
    for (int i = 0; i < PRETOK_MAX_REGEX && d->rx[i]; i++) {
        int ecode;
        PCRE2_SIZE eoff;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)d->rx[i], PCRE2_ZERO_TERMINATED,
                                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
        if (!c) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ecode, msg, sizeof msg);
            rc = inferd_err_set(err, INFERD_EUNSUPPORTED, "tokenizer: pre-tokenizer '%.*s' regex %d at %zu: %s",
                                (int)pre_len, pre, i, (size_t)eoff, (const char *)msg);
            goto fail;
        }
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);  /* optional: falls back to the interpreter */
        p->src[p->n] = d->rx[i];
        p->code[p->n++] = c;
    }
    *out = p;
    return 0;
fail:
    tok_pretok_free(p);
    return rc;
}

const char *tok_pretok_source(const struct tok_pretok *p, int i)
{
    return i >= 0 && i < p->n ? p->src[i] : NULL;
}

/* Splits every span of in by one regex into out (matches and the gaps between them). */
static int split_one(const pcre2_code *code, pcre2_match_data *md, const char *text, const struct tok_spans *in,
                     struct tok_spans *out)
{
    for (size_t k = 0; k < in->n; k++) {
        const char *subj = text + in->v[k].off;
        size_t slen = in->v[k].len, base = in->v[k].off;
        size_t pos = 0, last = 0;
        while (pos < slen) {
            int rc = pcre2_match(code, (PCRE2_SPTR)subj, slen, pos, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0)
                return INFERD_EINVAL;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t s = ov[0], e = ov[1];
            if (e <= s) {  /* empty match: step one character, keep the gap open */
                pos = s + tok_char_len(subj + s, slen - s);
                continue;
            }
            if (s > last && tok_spans_push(out, base + last, s - last) < 0)
                return INFERD_ENOMEM;
            if (tok_spans_push(out, base + s, e - s) < 0)
                return INFERD_ENOMEM;
            last = pos = e;
        }
        if (last < slen && tok_spans_push(out, base + last, slen - last) < 0)
            return INFERD_ENOMEM;
    }
    return 0;
}

int tok_pretok_split(const struct tok_pretok *p, const char *text, size_t len, struct tok_spans *out)
{
    int rc = 0;
    struct tok_spans a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    out->n = 0;
    if (len == 0)
        return 0;
    if (tok_spans_push(&a, 0, len) < 0) {
        rc = INFERD_ENOMEM;
        goto fail;
    }
    md = pcre2_match_data_create(4, NULL);
    if (!md) {
        rc = INFERD_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < p->n; i++) {
        b.n = 0;
        rc = split_one(p->code[i], md, text, &a, &b);
        if (rc < 0)
            goto fail;
        struct tok_spans t = a;
        a = b;
        b = t;
    }
    tok_spans_free(out);
    *out = a;
    a.v = NULL;
fail:
    pcre2_match_data_free(md);
    tok_spans_free(&a);
    tok_spans_free(&b);
    return rc;
}
