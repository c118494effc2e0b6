/* utf8.h — UTF-8 validation for text that must be valid UTF-8 on the way out (Prometheus
 * label values, JSON access-log and event-log strings).
 *
 * utf8_seq_len tells how many bytes the well-formed UTF-8 sequence at s takes (1..4), or 0
 * when the bytes there are not one (stray continuation, overlong form, surrogate, past
 * U+10FFFF, or cut short by n). Callers replace an invalid byte with U+FFFD and go on.
 *
 *   for (size_t i = 0; i < n;) {
 *       size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
 *       if (k) { emit(s + i, k); i += k; } else { emit(UTF8_REPLACEMENT, 3); i++; }
 *   }
 */
#ifndef INFERD_BASE_UTF8_H
#define INFERD_BASE_UTF8_H

#include <stddef.h>

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD, 3 bytes */

size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
