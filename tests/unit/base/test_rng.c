/* test_rng.c — splitmix64 and xoshiro256** reference outputs, determinism, unit range, getrandom. */
#include "base/rng.h"

#include "../check.h"

#include <string.h>

int main(void)
{
    /* splitmix64 from state 0: the reference implementation's first outputs */
    uint64_t st = 0;
    CHECK(rng_splitmix64(&st) == 0xe220a8397b1dcdafull);
    CHECK(rng_splitmix64(&st) == 0x6e789e6aa1b965f4ull);
    CHECK(rng_splitmix64(&st) == 0x06c45d188009454full);

    /* xoshiro256** from state {1,2,3,4}: the reference implementation's first outputs */
    struct rng r = {{1, 2, 3, 4}};
    CHECK(rng_next(&r) == 11520ull);
    CHECK(rng_next(&r) == 0ull);
    CHECK(rng_next(&r) == 1509978240ull);
    CHECK(rng_next(&r) == 1215971899390074240ull);

    struct rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    int same = 1, in_range = 1;
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = rng_unit(&a);
        same &= u == rng_unit(&b);
        in_range &= u >= 0 && u < 1;
        sum += u;
    }
    CHECK(same && in_range);
    CHECK(sum / 10000 > 0.47 && sum / 10000 < 0.53);
    rng_seed(&b, 43);
    CHECK(rng_next(&a) != rng_next(&b));
    rng_seed(&a, 0);
    CHECK(a.s[0] | a.s[1] | a.s[2] | a.s[3]);

    rng_seed_random(&a);
    rng_seed_random(&b);
    CHECK(rng_next(&a) != rng_next(&b));

    char id1[33], id2[33];
    CHECK(rng_hex(id1, 16) == 0 && rng_hex(id2, 16) == 0);
    CHECK(strlen(id1) == 32 && strspn(id1, "0123456789abcdef") == 32 && strcmp(id1, id2) != 0);
    char big[200];
    CHECK(rng_hex(big, 65) == INFERD_EINVAL && big[0] == '\0');
    unsigned char raw[8] = {0};
    CHECK(rng_bytes(raw, sizeof raw) == 0 && rng_bytes(raw, 0) == 0);
    return check_finish();
}
