/* ctc.h — a text recogniser's character list and greedy CTC decoding of its output.
 *
 * The list is PaddleOCR's keys file: one character (UTF-8) per line. Class 0 of the
 * recogniser is the CTC blank, classes 1..n the lines in order, and class n + 1 the space
 * that PaddleOCR appends (use_space_char). Decoding takes the best class of every time step,
 * merges repeats, drops blanks, and scores the line as the mean probability of the kept steps.
 *
 *   struct vision_charset cs;
 *   if (vision_charset_load("keys.txt", &cs, &err) < 0) ...
 *   char text[1024]; float score;
 *   vision_ctc_greedy(probs, steps, classes, &cs, text, sizeof text, &score, &err);
 *   vision_charset_free(&cs);
 */
#ifndef INFERD_VISION_CTC_H
#define INFERD_VISION_CTC_H

#include "inferd/err.h"

#include <stddef.h>

#define VISION_CHARSET_MAX_BYTES (4u << 20) /* a keys file larger than this is refused */
#define VISION_CHARSET_MAX_CHARS 100000

struct vision_charset {
    char *blob;    /* the file's bytes, each line NUL-terminated in place (owned) */
    char **chars;  /* chars[i] = line i; chars[n - 1] is the appended " " (owned array) */
    int n;         /* lines + 1 */
};

/* Parses a keys file's bytes (copied). Lines must be valid UTF-8 and non-empty ("\r\n"
 * accepted; a final line without "\n" too). Returns 0 or INFERD_EFORMAT naming the line,
 * INFERD_ETOOLARGE, INFERD_ENOMEM. */
int vision_charset_parse(const char *data, size_t len, struct vision_charset *cs, struct inferd_err *err);
/* Reads and parses path (at most VISION_CHARSET_MAX_BYTES). Returns 0 or INFERD_EIO /
 * the parse errors, with the path in the message. */
int vision_charset_load(const char *path, struct vision_charset *cs, struct inferd_err *err);
/* NULL or a zeroed charset is a no-op. */
void vision_charset_free(struct vision_charset *cs);

/* Greedy CTC decode of probs (steps x classes, row-major). Classes must be cs->n + 1 (blank
 * + characters). OUT: out (NUL-terminated UTF-8), *score (0 for an empty line). Returns 0,
 * INFERD_EFORMAT when classes does not fit the charset, INFERD_ETOOLARGE when the text
 * does not fit in cap. */
int vision_ctc_greedy(const float *probs, int steps, int classes, const struct vision_charset *cs, char *out,
                      size_t cap, float *score, struct inferd_err *err);

#endif
