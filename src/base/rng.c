/* rng.c — splitmix64, xoshiro256**, and getrandom(2). */
#include "base/rng.h"

#include "inferd/err.h"

#include <errno.h>
#include <sys/random.h>
#include <stdint.h>
#include <time.h>

uint64_t rng_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
    /* splitmix64 is a bijection of a counter, so four outputs are never all zero */
}

uint64_t rng_random_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    }
    return seed;
}

void rng_seed_random(struct rng *r) { rng_seed(r, rng_random_seed()); }

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double rng_unit(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

int rng_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(b + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return INFERD_EIO;
        }
        got += (size_t)k;
    }
    return 0;
}

int rng_hex(char *out, size_t n_bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    int rc = n_bytes > sizeof raw ? INFERD_EINVAL : rng_bytes(raw, n_bytes);
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    for (size_t i = 0; i < n_bytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * n_bytes] = '\0';
    return 0;
}
