/* hash.h — the one hash: 64-bit FNV-1a, for hash tables keyed by names and byte strings
 * (GGUF keys, vocab entries, metric label values, ONNX value names). Not for anything an
 * attacker must not steer: FNV is fast and simple, not collision-resistant.
 *
 * Hashing is incremental: start from HASH_FNV1A_SEED and feed bytes in order; the result
 * depends on the order (hashing "ab" then "c" equals hashing "abc"). To hash several fields
 * so that ("ab","c") and ("a","bc") differ, put a separator between them (hash_fnv1a_byte
 * with a byte the fields cannot hold, e.g. 0xff after UTF-8 text).
 *
 *   uint64_t h = hash_fnv1a(HASH_FNV1A_SEED, key, key_len);
 *   size_t slot = h & mask;
 *   uint64_t pair = hash_fnv1a(hash_fnv1a_byte(hash_fnv1a(HASH_FNV1A_SEED, l, ln), 0xff), r, rn);
 */
#ifndef INFERD_BASE_HASH_H
#define INFERD_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_SEED 14695981039346656037ull /* the FNV-1a 64-bit offset basis */
#define HASH_FNV1A_PRIME 1099511628211ull

/* h extended by one byte. */
static inline uint64_t hash_fnv1a_byte(uint64_t h, unsigned char c)
{
    return (h ^ c) * HASH_FNV1A_PRIME;
}

/* h extended by p[0..n). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        h = hash_fnv1a_byte(h, b[i]);
    return h;
}

/* h extended by the bytes of the NUL-terminated s (not the NUL). */
static inline uint64_t hash_fnv1a_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = hash_fnv1a_byte(h, (unsigned char)*s);
    return h;
}

#endif
