/* merge.h — the best-first merge loop SPM and BPE share (merge.c).
 *
 *   struct tok_merge_heap h = {0};
 *   int32_t n_sym;
 *   if (tok_merge_run(t, s, n, sym, &h, &n_sym) == 0)
 *       for (int32_t i = 0; i != -1; i = sym[i].next) use(s + sym[i].off, sym[i].n);
 *   free(h.v);
 */
#ifndef INFERD_TOKENIZER_MERGE_H
#define INFERD_TOKENIZER_MERGE_H

#include "llm/tokenizer/vocab.h"

/* The merge loop SPM and BPE share (merge.c). A symbol is a run of bytes of the
 * text; n = 0 once merged into its left neighbour. */
struct tok_sym {
    int32_t prev, next;  /* -1 at the ends */
    uint32_t off, n;
};
struct tok_pair {
    double key;           /* lower first: BPE merge rank, SPM -score */
    int32_t left, right;  /* symbol indexes */
    uint32_t size;        /* bytes of left + right when queued (detects stale pairs) */
};
struct tok_merge_heap {  /* scratch reused across calls; free v */
    struct tok_pair *v;
    size_t n, cap;
};
/* Cuts s[0..n) into UTF-8 characters in sym (room for n entries), then merges pairs best
 * first by t's rule (BPE: merge rank; otherwise: score of the token the pair forms). OUT:
 * *n_sym; the live symbols are the list from sym[0] along next. Returns 0 or INFERD_ENOMEM. */
int tok_merge_run(const struct tokenizer *t, const char *s, size_t n, struct tok_sym *sym, struct tok_merge_heap *h,
                  int32_t *n_sym);

#endif
