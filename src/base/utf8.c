/* utf8.c — the strict UTF-8 validator (RFC 3629, Unicode table 3-7) and its helpers. */
#include "base/utf8.h"

#include <stdlib.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq_len(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = utf8_seq_len(u, n);
    switch (k) {
    case 1: *cp = u[0]; break;
    case 2: *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F); break;
    case 3: *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F); break;
    case 4:
        *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 | (uint32_t)(u[2] & 0x3F) << 6 |
              (u[3] & 0x3F);
        break;
    default: *cp = UTF8_REPLACEMENT_CP; return 1;
    }
    return k;
}

size_t utf8_sanitize_into(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
        const char *src = k ? s + i : UTF8_REPLACEMENT;
        size_t outn = k ? k : 3;
        if (o + outn + 1 > cap)
            break;
        memcpy(dst + o, src, outn);
        o += outn;
        i += k ? k : 1;
    }
    dst[o] = '\0';
    return o;
}

char *utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    size_t cap = n * 3 + 1; /* each bad byte may become the 3 bytes of U+FFFD */
    char *d = malloc(cap);
    if (!d)
        return NULL;
    size_t o = utf8_sanitize_into(d, cap, s, n);
    if (out_len)
        *out_len = o;
    return d;
}
