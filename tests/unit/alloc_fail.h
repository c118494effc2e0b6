/* alloc_fail.h — allocation counting and failure injection for unit tests (curl's
 * "torture" runs): count the allocations a piece of library code makes, or make the Nth
 * one fail and check that the code returns a clean error and leaks nothing.
 *
 * Mechanism: a test built with inferd_alloc_fail_test() is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,... so every allocation call made from inferd_lib's
 * objects and the test's own objects goes through __wrap_* here, which counts it and
 * either fails it or calls __real_*. Calls made inside shared libraries (libc, jansson,
 * OpenBLAS, PCRE2) are neither counted nor failed: only our code is tortured. Because the
 * real allocator is still the one that runs, the same test works in the ASan build, where
 * LeakSanitizer reports at exit anything a failed run left behind.
 *
 *   long n = alloc_fail_count(run, ctx);          // clean run: n allocations
 *   for (long i = 1; i <= n; i++) {
 *       alloc_fail_arm(i);                        // the ith allocation from now returns NULL
 *       int rc = run(ctx);
 *       CHECK(alloc_fail_disarm() ? rc < 0 : rc == 0);
 *   }
 */
#ifndef INFERD_TESTS_ALLOC_FAIL_H
#define INFERD_TESTS_ALLOC_FAIL_H

#include <stddef.h>

/* Starts counting from 0; the fail_at-th allocation from now (1-based) returns NULL, and
 * only that one. fail_at 0 counts without failing. */
void alloc_fail_arm(long fail_at);
/* Stops counting and failing. Returns 1 when the armed failure was injected. */
int alloc_fail_disarm(void);
/* Allocations counted since the last alloc_fail_arm. */
long alloc_fail_seen(void);

/* Outcome of one torture run (alloc_fail_each). */
struct alloc_fail_result {
    long allocs;     /* allocations of the clean run */
    long failed_ok;  /* injected failures that returned a negative code */
    long survived;   /* injected failures the code absorbed and still returned 0 */
    long bad;        /* runs that returned 0 after a failure it could not absorb, or < 0
                        without one (see alloc_fail_each) */
};

/* Runs run(ctx) once clean to count its allocations N (a clean run must return 0), then N
 * more times failing allocation 1, 2, ..., N in turn. run returns 0 or a negative
 * INFERD_E* code and must release everything it acquired either way. A failed allocation
 * must give a negative code, except where the code has a documented fallback; accept(i,
 * rc) may say so (NULL = every injected failure must give rc < 0). Prints one line per
 * bad run and a summary to stdout. Returns the result; the caller CHECKs it. */
struct alloc_fail_result alloc_fail_each(const char *what, int (*run)(void *ctx), void *ctx,
                                         int (*accept)(long i, int rc));

/* Whether this build can wrap the allocator (0 under TSan: its runtime owns malloc and
 * runs too slowly for N full loads; the release and ASan builds run the torture). */
int alloc_fail_supported(void);

#endif
