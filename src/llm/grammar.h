/* grammar.h — constrained decoding: GBNF grammars (llama.cpp's format) parsed into rules,
 * and a matcher that says which tokens of a model's vocabulary may come next.
 *
 * A grammar is parsed once per request from untrusted text and is immutable afterwards
 * (reference counted: a request and each of its jobs hold one). The token table of a model
 * (llm_gvocab: every token's bytes, sorted so that tokens sharing a prefix are neighbours)
 * is built once per model. A matcher follows one generation: a set of pushdown stacks
 * (llama.cpp's design) advanced code point by code point. A token is allowed when all of
 * its bytes can be consumed by some stack; an end-of-generation token only when a stack is
 * complete. Masking walks the sorted vocabulary as a trie, reusing the stacks of a shared
 * prefix and skipping every token under a dead one.
 *
 *   struct llm_grammar *g;  llm_grammar_parse(text, len, "root", &g, &err);   // 400 on error
 *   struct llm_gvocab *v;   llm_gvocab_new(model, &v, &err);                  // once per model
 *   struct llm_gmatch *gm;  llm_gmatch_new(g, v, &gm, &err);
 *   tok = sample(logits); if (!llm_gmatch_allows(gm, tok)) { llm_gmatch_mask(gm, copy); tok = sample(copy); }
 *   llm_gmatch_accept(gm, tok, &err);  if (llm_gmatch_done(gm)) stop;
 *
 * GBNF: `name ::= alternatives` rules (a rule ends at a newline outside parentheses; a
 * line that starts with `|` continues it), "literals", [classes] and [^negated] ones with
 * ranges, `.` (any character), (groups), postfix * + ? {m} {m,} {m,n}, # comments, escapes
 * \n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH. Left-recursive rules are rejected (the
 * matcher would never terminate on them), as are references to undefined rules.
 */
#ifndef INFERD_LLM_GRAMMAR_H
#define INFERD_LLM_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/err.h"

struct inferd_llm_model;
struct llm_grammar;
struct llm_gvocab;
struct llm_gmatch;

#define LLM_GRAMMAR_TEXT_MAX (1u << 20)  /* bytes of GBNF text */
#define LLM_GRAMMAR_RULES_MAX 4096       /* rules, generated ones included */
#define LLM_GRAMMAR_ELEMS_MAX (1u << 18) /* elements of all rules */
#define LLM_GRAMMAR_NEST_MAX 64          /* nested parentheses */
#define LLM_GRAMMAR_REPEAT_MAX 1000      /* m and n of {m,n} */

/* Parses GBNF text[0..len) with start rule root ("root" when NULL). OUT: *out, one
 * reference (llm_grammar_unref). Returns 0, or INFERD_EINVAL / INFERD_ETOOLARGE with err
 * saying where ("line 3 col 7: expected ::=") and why; *out is NULL then. */
int llm_grammar_parse(const char *text, size_t len, const char *root, struct llm_grammar **out,
                      struct inferd_err *err);
/* Adds a reference (any thread). Returns g. */
struct llm_grammar *llm_grammar_ref(struct llm_grammar *g);
/* Drops one reference; the last frees g. NULL is a no-op. */
void llm_grammar_unref(struct llm_grammar *g);
/* Rules in g (generated ones included), for tests and logs. */
int llm_grammar_n_rules(const struct llm_grammar *g);

/* The bytes of every token of m (inferd_llm_token_to_piece) and which end generation.
 * OUT: *out (llm_gvocab_free). Returns 0 or INFERD_ENOMEM. */
int llm_gvocab_new(const struct inferd_llm_model *m, struct llm_gvocab **out, struct inferd_err *err);
/* The same from explicit pieces (tests): piece i is pieces[i][0..lens[i]), eog[i] != 0 for
 * end-of-generation tokens (eog may be NULL). Copies everything. */
int llm_gvocab_from_pieces(const char *const *pieces, const size_t *lens, const uint8_t *eog, int n,
                           struct llm_gvocab **out, struct inferd_err *err);
void llm_gvocab_free(struct llm_gvocab *v);

/* A matcher at the start of grammar g over vocabulary v (both borrowed; g must outlive it,
 * v too). OUT: *out. Returns 0, INFERD_ENOMEM, or INFERD_ETOOLARGE (the start already
 * needs more stacks than the cap). */
int llm_gmatch_new(const struct llm_grammar *g, const struct llm_gvocab *v, struct llm_gmatch **out,
                   struct inferd_err *err);
void llm_gmatch_free(struct llm_gmatch *gm);
/* A cache of masks shared by the matchers of one thread (the scheduler's), keyed by
 * grammar and state: requests with the same grammar (one response_format, sent over and
 * over) reuse each other's masks instead of each walking the vocabulary. Entries hold a
 * reference to their grammar. Returns 0 or INFERD_ENOMEM. */
struct llm_gmask_cache;
int llm_gmask_cache_new(int n_vocab, struct llm_gmask_cache **out);
void llm_gmask_cache_free(struct llm_gmask_cache *c);
/* Lets gm use c (borrowed: it must outlive gm; one thread at a time). A cache for another
 * vocabulary size is ignored. */
void llm_gmatch_share(struct llm_gmatch *gm, struct llm_gmask_cache *c);
/* 1 when token tok may come next, else 0 (an invalid id gives 0). Does not change gm. */
int llm_gmatch_allows(struct llm_gmatch *gm, int32_t tok);
/* Sets logits[i] (n_vocab floats) to -INFINITY for every token that may not come next.
 * Returns how many may (0: the grammar is stuck, nothing can follow). */
int llm_gmatch_mask(struct llm_gmatch *gm, float *logits);
/* Advances past token tok. Returns 0, or INFERD_EINVAL when tok is not allowed (gm is
 * unchanged) or INFERD_ETOOLARGE when the grammar needs more stacks than the cap. */
int llm_gmatch_accept(struct llm_gmatch *gm, int32_t tok, struct inferd_err *err);
/* 1 when the text so far is a complete match (an end-of-generation token is allowed). */
int llm_gmatch_can_end(const struct llm_gmatch *gm);
/* 1 when the text so far is complete and nothing more may follow: generation is over. */
int llm_gmatch_done(const struct llm_gmatch *gm);
/* Advances past the bytes text[0..n) (tests and fuzzing). Returns 0, or INFERD_EINVAL when
 * they do not continue a match (gm unchanged), or INFERD_ETOOLARGE. */
int llm_gmatch_accept_text(struct llm_gmatch *gm, const char *text, size_t n, struct inferd_err *err);

#endif
