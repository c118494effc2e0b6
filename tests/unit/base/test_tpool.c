/* test_tpool.c — every part of every job runs exactly once, across many jobs; a job whose
 * last part is slow (so the caller stops spinning and sleeps) returns only after it ends. */
#include "base/tpool.h"
#include "check.h"

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

struct job {
    atomic_int hits[8];
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

int main(void)
{
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
        tpool_free(p);
    }
    tpool_free(NULL);
    return check_finish();
}
