/* pretok.h — BPE/WPM pre-tokenizers: the regex list a tokenizer.ggml.pre name stands for,
 * compiled once with PCRE2, splitting text into words (pretok.c).
 *
 *   struct tok_pretok *p; struct tok_spans w = {0};
 *   if (tok_pretok_new("qwen2", 5, &p, &err) < 0) return err.code;
 *   tok_pretok_split(p, text, len, &w);   // w.v[i] = {off, len}, covering all of text
 *   tok_spans_free(&w); tok_pretok_free(p);
 */
#ifndef INFERD_TOKENIZER_PRETOK_H
#define INFERD_TOKENIZER_PRETOK_H

#include "llm/tokenizer/vocab.h"

/* Pre-tokenizer: the regex list for a tokenizer.ggml.pre name. */
int tok_pretok_new(const char *pre, size_t pre_len, struct tok_pretok **out, struct inferd_err *err);
void tok_pretok_free(struct tok_pretok *p);
/* Pattern i of p as PCRE2 source (static), NULL past the last. */
const char *tok_pretok_source(const struct tok_pretok *p, int i);
/* Splits text[0..len) into words (spans cover the whole text, in order). */
int tok_pretok_split(const struct tok_pretok *p, const char *text, size_t len, struct tok_spans *out);

#endif
