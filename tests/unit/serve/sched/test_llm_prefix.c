/* test_llm_prefix.c — the prefix cache's block store: chain hashes, exact matching of a
 * path from block 0, LRU eviction under the cap (leaves before their prefixes), and a
 * failing callback. No model: blocks carry bytes derived from their tokens. */
#include "serve/sched/llm_prefix.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B LLM_PREFIX_BLOCK
#define BYTES 64

/* A block's bytes: a digest of the tokens of its block (what a fill would copy). */
static void expect_bytes(const int32_t *toks, int i, unsigned char *out)
{
    for (int k = 0; k < BYTES; k++)
        out[k] = (unsigned char)(toks[i * B + k % B] * 31 + k + i);
}

struct io {
    const int32_t *toks;
    int calls, fail_at, bad;
};

static int fill(void *arg, int i, void *bytes)
{
    struct io *io = arg;
    io->calls++;
    if (i == io->fail_at)
        return -1;
    expect_bytes(io->toks, i, bytes);
    return 0;
}

static int read_back(void *arg, int i, void *bytes)
{
    struct io *io = arg;
    unsigned char want[BYTES];
    io->calls++;
    if (i == io->fail_at)
        return -1;
    expect_bytes(io->toks, i, want);
    if (memcmp(want, bytes, BYTES) != 0)
        io->bad++;
    return 0;
}

static int match(struct llm_prefix *p, const int32_t *toks, int n)
{
    struct io io = {.toks = toks, .fail_at = -1};
    int m = llm_prefix_match(p, toks, n, read_back, &io);
    CHECK(io.bad == 0);
    return m;
}

static int put(struct llm_prefix *p, const int32_t *toks, int n)
{
    struct io io = {.toks = toks, .fail_at = -1};
    return llm_prefix_put(p, toks, n, fill, &io);
}

static void seq(int32_t *t, int n, int base)
{
    for (int i = 0; i < n; i++)
        t[i] = base + i;
}

int main(void)
{
    struct llm_prefix *p = NULL;
    struct llm_prefix_stats st;
    int32_t a[8 * B], b[8 * B], c[8 * B];

    /* chain hash: depends on the parent and on every token of the block */
    seq(a, 8 * B, 100);
    uint64_t h0 = llm_prefix_hash(0, a), h1 = llm_prefix_hash(h0, a + B);
    CHECK(h0 == llm_prefix_hash(0, a));
    CHECK(h1 != llm_prefix_hash(h0 + 1, a + B));
    memcpy(b, a, sizeof a);
    b[B - 1]++;
    CHECK(llm_prefix_hash(0, b) != h0);
    CHECK(llm_prefix_new(1 << 20, 0, &p) < 0 && p == NULL);

    /* a big cap: put, then any request sharing the prefix matches it, up to where it differs */
    CHECK(llm_prefix_new(1 << 20, BYTES, &p) == 0);
    CHECK(match(p, a, 4) == 0);
    CHECK(put(p, a, 4) == 4);
    CHECK(put(p, a, 4) == 0);                      /* already there */
    CHECK(match(p, a, 4) == 4);
    CHECK(match(p, a, 3) == 3);
    CHECK(match(p, a, 8) == 4);
    memcpy(b, a, sizeof a);
    b[2 * B + 5] = 7;                              /* differs in block 2 */
    CHECK(match(p, b, 4) == 2);
    CHECK(put(p, b, 4) == 2);                      /* blocks 2, 3 of b are new; 0, 1 shared */
    CHECK(match(p, b, 4) == 4 && match(p, a, 4) == 4);
    /* the same tokens at another depth are another block (the parent differs) */
    seq(c, 8 * B, 100 + B);                        /* c's block 0 = a's block 1 */
    CHECK(match(p, c, 2) == 0);
    llm_prefix_stats(p, &st);
    CHECK(st.blocks == 6 && st.bytes > 6 * BYTES && st.evictions == 0 && st.cap_bytes == 1 << 20);

    /* a failing read stops the match there; a failing fill keeps the blocks before it */
    struct io io = {.toks = a, .fail_at = 2};
    CHECK(llm_prefix_match(p, a, 4, read_back, &io) == 2);
    seq(c, 8 * B, 5000);
    io = (struct io){.toks = c, .fail_at = 1};
    CHECK(llm_prefix_put(p, c, 3, fill, &io) == 1);
    CHECK(match(p, c, 3) == 1);
    llm_prefix_clear(p);
    llm_prefix_stats(p, &st);
    CHECK(st.blocks == 0 && match(p, a, 4) == 0);
    llm_prefix_free(p);

    /* a cap of 4 blocks: the least recently used go first, leaves before their prefixes */
    CHECK(llm_prefix_new(1 << 20, BYTES, &p) == 0);
    llm_prefix_stats(p, &st);
    size_t entry = 0;
    CHECK(put(p, a, 1) == 1);
    llm_prefix_stats(p, &st);
    entry = st.bytes;
    llm_prefix_free(p);
    CHECK(llm_prefix_new(4 * entry, BYTES, &p) == 0);
    llm_prefix_stats(p, &st);
    CHECK(st.max_blocks == 4);
    seq(a, 8 * B, 100);
    seq(b, 8 * B, 900);
    seq(c, 8 * B, 1700);
    CHECK(put(p, a, 3) == 3);                      /* a0 a1 a2 */
    CHECK(put(p, b, 1) == 1);                      /* b0: full */
    CHECK(put(p, c, 1) == 1);                      /* evicts a2, the oldest leaf */
    llm_prefix_stats(p, &st);
    CHECK(st.blocks == 4 && st.evictions == 1 && st.bytes <= st.cap_bytes);
    CHECK(match(p, a, 3) == 2);                    /* a0 a1 still there; touches them */
    CHECK(put(p, c, 2) == 1);                      /* c1 evicts b0 (a was just used) */
    CHECK(match(p, b, 1) == 0);
    CHECK(match(p, c, 2) == 2 && match(p, a, 2) == 2);
    /* a path longer than the cap keeps what fits and never evicts its own blocks */
    int32_t d[8 * B];
    seq(d, 8 * B, 3000);
    CHECK(put(p, d, 8) == 4);
    CHECK(match(p, d, 8) == 4);
    llm_prefix_stats(p, &st);
    CHECK(st.blocks == 4 && st.evictions == 6);
    llm_prefix_free(p);

    /* a cap below one block holds nothing */
    CHECK(llm_prefix_new(10, BYTES, &p) == 0);
    CHECK(put(p, a, 2) == 0 && match(p, a, 2) == 0);
    llm_prefix_free(p);
    llm_prefix_free(NULL);
    return check_finish();
}
