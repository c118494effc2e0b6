/* rng.h — the one random number generator, and where unpredictable bytes come from.
 *
 * struct rng is xoshiro256** (Blackman & Vigna): fast, 256 bits of state, good enough for
 * jitter, sampling and test data, never for secrets. rng_seed expands a 64-bit seed into
 * that state with splitmix64, so equal seeds give equal sequences on every platform;
 * rng_seed_random seeds from getrandom(2). rng_splitmix64 is also exposed as a generator in
 * its own right: the LLM sampler and the random test models are pinned to its sequence.
 * rng_bytes / rng_hex give unpredictable bytes straight from the kernel (request ids,
 * idempotency keys).
 *
 *   struct rng r;
 *   rng_seed(&r, 42);                        // or rng_seed_random(&r)
 *   double u = rng_unit(&r);                 // uniform in [0, 1)
 *   char id[33];
 *   if (rng_hex(id, 16) < 0) ...;            // 128 random bits as 32 hex digits + NUL
 */
#ifndef INFERD_BASE_RNG_H
#define INFERD_BASE_RNG_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

struct rng {
    uint64_t s[4]; /* xoshiro256** state, never all zero */
};

/* One step of splitmix64: advances *state and returns the next output. */
uint64_t rng_splitmix64(uint64_t *state);
/* Seeds r from seed (any value, 0 included) through splitmix64. */
void rng_seed(struct rng *r, uint64_t seed);
/* A 64-bit seed from getrandom(2), falling back to the clock when the kernel has no
 * randomness yet (early boot); never fails. */
uint64_t rng_random_seed(void);
/* rng_seed(r, rng_random_seed()). */
void rng_seed_random(struct rng *r);
/* The next 64 random bits. */
uint64_t rng_next(struct rng *r);
/* Uniform double in [0, 1) with 53 random bits. */
double rng_unit(struct rng *r);

/* Fills p[0..n) from getrandom(2) (retrying on EINTR and short reads). Returns 0 or
 * INFERD_EIO. */
int rng_bytes(void *p, size_t n);
/* Writes n_bytes random bytes from rng_bytes as 2 * n_bytes lowercase hex digits and a NUL
 * into out (2 * n_bytes + 1 bytes; n_bytes <= 64). Returns 0, or INFERD_EINVAL (n_bytes too big) or INFERD_EIO, with out = "". */
int rng_hex(char *out, size_t n_bytes);

#endif
