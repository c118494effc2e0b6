/* stop.h — stop strings over a stream of token pieces, for `inferd generate` and the server.
 *
 * Text is held back only while it could still be the start of a stop string, so a client sees
 * every byte as early as possible and never sees any part of a stop string. Fixed-size state,
 * no allocation: at most LLM_STOP_MAX strings of at most LLM_STOP_LEN bytes.
 *
 *   struct llm_stop st;  llm_stop_init(&st, (const char *[]){"\n\n", "User:"}, 2, &err);
 *   char out[LLM_STOP_OUT(piece_len)];
 *   size_t n = llm_stop_feed(&st, piece, piece_len, out);   // show out[0..n)
 *   if (st.stopped) break;
 *   n = llm_stop_flush(&st, out);                           // at the end: the held-back tail
 */
#ifndef INFERD_LLM_STOP_H
#define INFERD_LLM_STOP_H

#include <stddef.h>

#include "inferd/err.h"

#define LLM_STOP_MAX 16
#define LLM_STOP_LEN 256
/* Output room llm_stop_feed may need for a piece of len bytes. */
#define LLM_STOP_OUT(len) ((len) + LLM_STOP_LEN)

struct llm_stop {
    int n;                                  /* stop strings */
    char s[LLM_STOP_MAX][LLM_STOP_LEN];     /* copies, not NUL-terminated */
    size_t len[LLM_STOP_MAX];
    char held[LLM_STOP_LEN];                /* tail that may begin a stop string */
    size_t n_held;
    int stopped;                            /* 1 once a stop string was seen */
};

/* Copies the n strings (empty ones are ignored). Returns 0 or INFERD_ETOOLARGE naming the cap. */
int llm_stop_init(struct llm_stop *st, const char *const *stops, int n, struct inferd_err *err);
/* Feeds piece[0..len); writes the text now safe to show into out (room LLM_STOP_OUT(len)) and
 * returns its length. After a match st->stopped is 1, out ends before the match, and later
 * feeds return 0. */
size_t llm_stop_feed(struct llm_stop *st, const char *piece, size_t len, char *out);
/* Writes what is still held back (at most LLM_STOP_LEN bytes) unless stopped; returns its length. */
size_t llm_stop_flush(struct llm_stop *st, char *out);

#endif
