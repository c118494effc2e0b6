/* llm_prefix.h — the prefix cache of one LLM scheduler: KV blocks of LLM_PREFIX_BLOCK
 * tokens kept after the requests that computed them, found again by any later request whose
 * tokens start with the same prefix (vLLM's automatic prefix caching, llama.cpp's cache
 * reuse), evicted least recently used under a byte cap.
 *
 * A block is named by a chain hash of its whole prefix: h_0 = H(seed, tokens[0..B)),
 * h_i = H(h_{i-1}, tokens[iB..(i+1)B)) with the one hash of src/base/hash.h. FNV is not
 * collision-resistant, so a hit is also checked exactly: the entry keeps its block's
 * tokens and the id of its parent entry, and a lookup walks the chain from block 0, so an
 * entry matches only when its parent matched and its tokens are equal.
 *
 * The store is engine-agnostic: each block holds block_bytes opaque bytes (the K/V rows of
 * its B positions, see inferd_llm_seq_kv_get) that the caller fills and reads through a
 * callback. Memory: entries are allocated as blocks are added until the cap, then the
 * least recently used entry is reused in place (no allocation in steady state). A lookup
 * or insert touches a path deepest block first, so a parent is always at least as recent
 * as its children and eviction takes leaves before the prefixes they hang from.
 *
 *   struct llm_prefix *p;  llm_prefix_new(256 << 20, row_bytes * LLM_PREFIX_BLOCK, &p);
 *   int n = llm_prefix_match(p, toks, n_toks / LLM_PREFIX_BLOCK, read_block, arg);
 *   llm_prefix_put(p, toks, n_toks / LLM_PREFIX_BLOCK, write_block, arg);
 *   struct llm_prefix_stats st;  llm_prefix_stats(p, &st);
 *   llm_prefix_free(p);
 * Single-threaded: the scheduler thread owns it (stats are copied under no lock by that
 * thread into the scheduler's atomics).
 */
#ifndef INFERD_SERVE_LLM_PREFIX_H
#define INFERD_SERVE_LLM_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#define LLM_PREFIX_BLOCK 16        /* tokens per cached block (= the KV page) */

struct llm_prefix;

/* Called with block i of the chain and its bytes: match reads them (copies K/V into a
 * sequence), put fills them (copies K/V out of a sequence). Return 0, or < 0 to stop
 * (match: the blocks before i count; put: block i is dropped, the ones before kept). */
typedef int (*llm_prefix_block_fn)(void *arg, int i, void *bytes);

/* A store of blocks of block_bytes each under cap_bytes (entry overhead included). A cap
 * smaller than one block gives a store that holds nothing (matches 0, adds nothing).
 * Returns 0 or INFERD_ENOMEM / INFERD_EINVAL (block_bytes 0). */
int llm_prefix_new(size_t cap_bytes, size_t block_bytes, struct llm_prefix **out);
void llm_prefix_free(struct llm_prefix *p);

/* The chain hash of block i given its parent's (0 for block 0). */
uint64_t llm_prefix_hash(uint64_t parent, const int32_t *block_tokens);

/* Finds the longest run of cached blocks 0..n-1 of toks (n full blocks of toks are
 * readable) and calls fn on each, in order, touching them. Returns how many blocks were
 * matched and read (0..n). */
int llm_prefix_match(struct llm_prefix *p, const int32_t *toks, int n_blocks, llm_prefix_block_fn fn, void *arg);

/* Adds blocks 0..n-1 of toks that are missing (fn fills each new one), evicting least
 * recently used blocks when the cap is reached, and touches the whole path. Returns the
 * number of blocks added. */
int llm_prefix_put(struct llm_prefix *p, const int32_t *toks, int n_blocks, llm_prefix_block_fn fn, void *arg);

/* Drops every block (the engine's cache layout changed, tests). */
void llm_prefix_clear(struct llm_prefix *p);

struct llm_prefix_stats {
    size_t cap_bytes, bytes;       /* the cap and the bytes held now (entries + blocks) */
    int blocks, max_blocks;        /* blocks held now and at most */
    long long evictions;           /* blocks dropped to make room */
};
void llm_prefix_stats(const struct llm_prefix *p, struct llm_prefix_stats *out);

#endif
