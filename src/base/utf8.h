/* utf8.h — the one UTF-8 validator (strict: RFC 3629, Unicode table 3-7), and the few
 * helpers built on it: checking a whole string, decoding one code point, and copying text
 * with every invalid byte replaced by U+FFFD.
 *
 * utf8_seq_len tells how many bytes the well-formed UTF-8 sequence at s takes (1..4), or 0
 * when the bytes there are not one (stray continuation, overlong form, surrogate, past
 * U+10FFFF, or cut short by n). Callers replace an invalid byte with U+FFFD and go on; U+0000
 * is valid UTF-8 (a one-byte sequence).
 *
 *   for (size_t i = 0; i < n;) {
 *       size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
 *       if (k) { emit(s + i, k); i += k; } else { emit(UTF8_REPLACEMENT, 3); i++; }
 *   }
 *   char *clean = utf8_sanitize(s, n, &len);   // the same loop, malloc'd; caller frees
 */
#ifndef INFERD_BASE_UTF8_H
#define INFERD_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD, 3 bytes */
#define UTF8_REPLACEMENT_CP 0xFFFDu

/* Bytes of the well-formed sequence at s (1..4), or 0 (see above). n = bytes left. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* 1 when s[0..n) is entirely well-formed UTF-8, else 0. */
int utf8_valid(const char *s, size_t n);
/* Decodes the sequence at s (n >= 1 bytes left). OUT: *cp. Returns its length; an invalid
 * byte gives 1 and *cp = U+FFFD. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
/* A malloc'd NUL-terminated copy of s[0..n) in which every byte that does not start a
 * well-formed sequence is replaced by U+FFFD (caller frees). OUT: *out_len (may be NULL).
 * Returns NULL when out of memory. */
char *utf8_sanitize(const char *s, size_t n, size_t *out_len);
/* Like utf8_sanitize into dst (cap bytes including the NUL; cap >= 1), stopping before a
 * character that would not fit. Returns the bytes written, without the NUL. */
size_t utf8_sanitize_into(char *dst, size_t cap, const char *s, size_t n);

#endif
