/* test_tpool.c — every part of every job runs exactly once, across many jobs; a job whose
 * last part is slow (so the caller stops spinning and sleeps) returns only after it ends;
 * tpool_parallel_parts runs every one of more parts than threads exactly once, also when
 * the first part is slow (the other threads take the rest meanwhile). */
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
    return check_finish();
}
