/* test_hash.c — FNV-1a 64 against the published test vectors; incremental = one pass. */
#include "base/hash.h"

#include "../check.h"

#include <string.h>

int main(void)
{
    /* vectors from the FNV reference (draft-eastlake-fnv) */
    CHECK(hash_fnv1a(HASH_FNV1A_SEED, "", 0) == 0xcbf29ce484222325ull);
    CHECK(hash_fnv1a(HASH_FNV1A_SEED, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(hash_fnv1a(HASH_FNV1A_SEED, "foobar", 6) == 0x85944171f73967e8ull);
    CHECK(hash_fnv1a_str(HASH_FNV1A_SEED, "foobar") == 0x85944171f73967e8ull);
    /* feeding in pieces is the same as feeding at once (and therefore order-dependent) */
    uint64_t h = hash_fnv1a(hash_fnv1a_byte(HASH_FNV1A_SEED, 'f'), "oobar", 5);
    CHECK(h == 0x85944171f73967e8ull);
    CHECK(hash_fnv1a_str(HASH_FNV1A_SEED, "ab") != hash_fnv1a_str(HASH_FNV1A_SEED, "ba"));
    /* a separator tells ("ab","c") from ("a","bc") */
    uint64_t x = hash_fnv1a(hash_fnv1a_byte(hash_fnv1a(HASH_FNV1A_SEED, "ab", 2), 0xff), "c", 1);
    uint64_t y = hash_fnv1a(hash_fnv1a_byte(hash_fnv1a(HASH_FNV1A_SEED, "a", 1), 0xff), "bc", 2);
    CHECK(x != y);
    return check_finish();
}
