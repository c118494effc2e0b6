/* stop.h — the one stop-string engine: stop strings over generated text, for
 * inferd_llm_generate (`inferd generate`) and the server's LLM scheduler.
 *
 * Text is held back only while it could still be the start of a stop string or ends in an
 * incomplete UTF-8 sequence, so a client sees every byte as early as possible, never sees
 * any part of a stop string, and never sees half a character. Two ways in:
 *  - a stream (struct llm_stop): fixed-size state, no allocation; feed pieces, show what
 *    comes out;
 *  - a text the caller keeps (the server's jobs): llm_stop_find and llm_stop_hold over
 *    text[from..len), where [0, from) is already published.
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

#define LLM_STOP_N_MAX 16    /* stop strings in one struct llm_stop */
#define LLM_STOP_LEN_MAX 256 /* bytes of one stop string */
/* Output room llm_stop_feed may need for a piece of len bytes. */
#define LLM_STOP_OUT(len) ((len) + LLM_STOP_LEN_MAX)

struct llm_stop {
    int n;                                    /* stop strings */
    char s[LLM_STOP_N_MAX][LLM_STOP_LEN_MAX + 1]; /* NUL-terminated copies */
    char held[LLM_STOP_LEN_MAX];              /* tail that may begin a stop string or a character */
    size_t n_held;
    int stopped;                              /* 1 once a stop string was seen */
};

/* Copies the n strings (empty ones are ignored). Returns 0 or INFERD_ETOOLARGE naming the cap. */
int llm_stop_init(struct llm_stop *st, const char *const *stops, int n, struct inferd_err *err);
/* Feeds piece[0..len); writes the text now safe to show into out (room LLM_STOP_OUT(len)) and
 * returns its length. After a match st->stopped is 1, out ends before the match, and later
 * feeds return 0. */
size_t llm_stop_feed(struct llm_stop *st, const char *piece, size_t len, char *out);
/* Writes what is still held back (at most LLM_STOP_LEN_MAX bytes) unless stopped; returns its
 * length. */
size_t llm_stop_flush(struct llm_stop *st, char *out);

/* Over a caller's text: stops[0..n) are NUL-terminated (empty ones never match); text[0..from)
 * is already published, so matches and held tails lie in text[from..len). text may be NULL
 * when len is 0. */
/* Offset of the earliest stop string that starts at or after from, or len when none. */
size_t llm_stop_find(const char *const *stops, int n, const char *text, size_t from, size_t len);
/* Bytes at the end of text[0..len) to hold back: the longest tail inside text[from..len) that
 * is a proper prefix of a stop string, or an incomplete UTF-8 sequence at the end, whichever
 * is longer (0 when neither). */
size_t llm_stop_hold(const char *const *stops, int n, const char *text, size_t from, size_t len);

#endif
