/* encoders.h — the three tokenization algorithms the dispatcher (tokenizer.c) chooses
 * from: SentencePiece-style (spm.c), byte-level BPE (bpe.c) and WordPiece (wpm.c). Each
 * appends ids for one run of plain text (no special tokens in it) to a bounded id vector;
 * they use the vocabulary (vocab.h) and never call back into tokenizer.c.
 *
 *   struct tok_ids v = {0};
 *   tok_spm_encode(t, "Hello world", 11, 1, &v);   // appends ids
 *   tok_ids_free(&v);
 */
#ifndef INFERD_TOKENIZER_ENCODERS_H
#define INFERD_TOKENIZER_ENCODERS_H

#include "llm/tokenizer/vocab.h"

/* Algorithms: append ids for plain text (no special tokens) to out. Return 0 or INFERD_E*. */
int tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, int space_prefix, struct tok_ids *out);
int tok_bpe_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out);
int tok_wpm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out);

#endif
