/* test_tpool.c — every part of every job runs exactly once, across many jobs; a job whose
 * last part is slow (so the caller stops spinning and sleeps) returns only after it ends;
 * tpool_parallel_parts runs every one of more parts than threads exactly once, also when
 * the first part is slow (the other threads take the rest meanwhile); tpool_cut's cuts
 * cover the work exactly once while they move (per tpool_hint key), and the learning rule
 * (tpool_shares_step) moves shares toward the faster thread on fixed times. */
#include "base/tpool.h"
#include "check.h"

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

struct job {
    atomic_int hits[64];
    atomic_int total;
};

static void count_part(void *ctx, int ith, int nth)
{
    struct job *j = ctx;
    (void)nth;
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->total, 1);
}

/* The last part sleeps 3 ms (far past the caller's spin) before it counts. */
static void slow_part(void *ctx, int ith, int nth)
{
    struct job *j = ctx;
    if (ith == nth - 1) {
        struct timespec ts = {0, 3 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->total, 1);
}

/* Part 0 sleeps 3 ms; the other parts record that they ran before it ended. */
static void first_slow_part(void *ctx, int ith, int nth)
{
    struct job *j = ctx;
    (void)nth;
    if (ith == 0) {
        struct timespec ts = {0, 3 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_fetch_add(&j->total, 1);
}

static void check_parts(struct tpool *p)
{
    for (int parts = 0; parts <= 64; parts += 7) {
        struct job j = {0};
        for (int k = 0; k < 200; k++)
            tpool_parallel_parts(p, parts, count_part, &j);
        CHECK(atomic_load(&j.total) == 200 * parts);
        for (int i = 0; i < parts; i++)
            CHECK(atomic_load(&j.hits[i]) == 200);
    }
    for (int k = 0; k < 10; k++) {
        struct job j = {0};
        tpool_parallel_parts(p, 64, first_slow_part, &j);
        CHECK(atomic_load(&j.total) == 64);
        for (int i = 0; i < 64; i++)
            CHECK(atomic_load(&j.hits[i]) == 1);
    }
}

/* tpool_cut: parts [cut(i), cut(i + 1)) of n items; each item is marked and costs item_ns of
 * busy wait, times `slow` in part `slow_part` (0: the caller's home range), whose thread then
 * looks slower, so the pool should cut that part less */
struct cut_job {
    struct tpool *p;
    int64_t n;
    atomic_int marks[1000];
    atomic_int bad;  /* a cut out of order or out of [0, n] */
    int64_t item_ns; /* busy time an item costs */
    int slow, slow_part;
};

static void spin_ns(int64_t ns)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do
        clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) < ns);
}

static void cut_part(void *ctx, int ith, int nth)
{
    struct cut_job *j = ctx;
    int64_t lo = tpool_cut(j->p, j->n, ith, nth), hi = tpool_cut(j->p, j->n, ith + 1, nth);
    if (lo < 0 || hi > j->n || lo > hi || (ith == 0 && lo != 0) || (ith == nth - 1 && hi != j->n))
        atomic_fetch_add(&j->bad, 1);
    for (int64_t i = lo; i < hi; i++) {
        atomic_fetch_add(&j->marks[i], 1);
        if (j->item_ns)
            spin_ns(j->item_ns * (ith == j->slow_part ? j->slow : 1));
    }
}

/* one job of nparts over n items: every item once, cuts in order */
static void cut_once(struct tpool *p, int64_t n, int nparts, int64_t item_ns, int slow, int slow_part)
{
    static struct cut_job j;
    j.p = p;
    j.n = n;
    j.item_ns = item_ns;
    j.slow = slow;
    j.slow_part = slow_part;
    atomic_store(&j.bad, 0);
    for (int64_t i = 0; i < n; i++)
        atomic_store(&j.marks[i], 0);
    tpool_parallel_cut(p, nparts, cut_part, &j);
    CHECK(atomic_load(&j.bad) == 0);
    for (int64_t i = 0; i < n; i++)
        CHECK(atomic_load(&j.marks[i]) == 1);
}

static void check_cuts(void)
{
    for (int t = 1; t <= 4; t++) {
        struct tpool *p = tpool_new(t);
        CHECK(p != NULL);
        for (int k = 0; k < 50; k++) { /* uneven parts, so the cuts move while they are checked */
            tpool_hint(7);
            cut_once(p, 1000, t, 200, 3, 0);
            cut_once(p, 1000, 2 * t, 100, 3, 1);
            cut_once(p, 7, t + 1, 0, 1, 0);
            cut_once(p, 0, t, 0, 1, 0);
            cut_once(p, 3, 5, 0, 1, 0);
        }
        tpool_free(p);
    }
    CHECK(tpool_cut(NULL, 10, 1, 2) == 5 && tpool_cut(NULL, 10, 2, 2) == 10);
    /* two keys, part 0 slow under one and part 1 slow under the other (an item 3x the time):
     * the cuts move while every item is still covered once. How far they move depends on the
     * machine's load (a job with a stolen part or a preempted thread teaches nothing), so the
     * learning rule itself is checked on fixed times below (tpool_shares_step). */
    struct tpool *p = tpool_new(2);
    CHECK(p != NULL);
    for (int k = 0; k < 100; k++) {
        tpool_hint(1);
        cut_once(p, 100, 2, 2000, 3, 0);
        tpool_hint(2);
        cut_once(p, 100, 2, 2000, 3, 1);
    }
    tpool_free(p);
    /* the rule: thread 0 took 3x as long for the same share: its share moves a quarter of the
     * way toward 0.25, and on toward it (clamped at 0.25) over more such jobs */
    double share[2] = {0.5, 0.5}, cut[3] = {0, 0.5, 1};
    int64_t slow0[2] = {300000, 100000};
    CHECK(tpool_shares_step(share, cut, slow0, 2) == 1);
    CHECK(share[0] > 0.4374 && share[0] < 0.4376 && share[1] > 0.5624 && share[1] < 0.5626);
    for (int k = 0; k < 50; k++) {
        double c2[3] = {0, share[0], 1};
        int64_t t2[2] = {(int64_t)(share[0] * 600000), (int64_t)(share[1] * 200000)}; /* 3x slower per unit */
        tpool_shares_step(share, c2, t2, 2);
    }
    CHECK(share[0] > 0.249 && share[0] < 0.2505);
    /* too short, or a thread 4x slower (preempted): no step */
    double keep[2] = {0.5, 0.5};
    int64_t brief[2] = {15000, 5000}, stalled[2] = {500000, 100000};
    CHECK(tpool_shares_step(keep, cut, brief, 2) == 0 && tpool_shares_step(keep, cut, stalled, 2) == 0);
    CHECK(keep[0] == 0.5 && keep[1] == 0.5);
    /* three threads, thread 2 twice as fast: the shares move toward 1/4, 1/4, 1/2 */
    double s3[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, c3[4] = {0, 1.0 / 3, 2.0 / 3, 1};
    int64_t t3[3] = {200000, 200000, 100000};
    CHECK(tpool_shares_step(s3, c3, t3, 3) == 1);
    CHECK(s3[2] > s3[0] && s3[0] == s3[1] && s3[0] + s3[1] + s3[2] > 0.9999 && s3[0] + s3[1] + s3[2] < 1.0001);
}

int main(void)
{
    check_parts(NULL);
    for (int n = 1; n <= 4; n++) {
        struct tpool *p = tpool_new(n);
        CHECK(p != NULL);
        CHECK(tpool_size(p) == n);
        struct job j = {0};
        for (int k = 0; k < 2000; k++)
            tpool_parallel_for(p, count_part, &j);
        CHECK(atomic_load(&j.total) == 2000 * n);
        for (int i = 0; i < n; i++)
            CHECK(atomic_load(&j.hits[i]) == 2000);
        struct job j2 = {0};
        tpool_parallel_for_n(p, 2, count_part, &j2);
        CHECK(atomic_load(&j2.total) == (n < 2 ? 1 : 2));
        for (int k = 0; k < 20; k++) {
            struct job j3 = {0};
            tpool_parallel_for(p, slow_part, &j3);
            CHECK(atomic_load(&j3.total) == n && atomic_load(&j3.hits[n - 1]) == 1);
        }
        check_parts(p);
        tpool_free(p);
    }
    tpool_free(NULL);
    check_cuts();
    return check_finish();
}
