/* alloc_fail.c — the __wrap_* allocation functions behind alloc_fail.h. */
#include "alloc_fail.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
int __real_posix_memalign(void **p, size_t al, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

/* Test state. _Atomic-free on purpose: the torture runs are single-threaded by contract
 * (ctx and model loads on the calling thread; a compute pool may allocate nothing). */
static int armed;
static long seen;
static long fail_at;
static int injected;

/* Counts one allocation; returns 1 when this one must fail. */
static int tick(void)
{
    if (!armed)
        return 0;
    seen++;
    if (fail_at && seen == fail_at) {
        injected = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t al, size_t n)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_aligned_alloc(al, n);
}
int __wrap_posix_memalign(void **p, size_t al, size_t n)
{
    return tick() ? ENOMEM : __real_posix_memalign(p, al, n);
}
char *__wrap_strdup(const char *s)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n)
{
    return tick() ? (errno = ENOMEM, NULL) : __real_strndup(s, n);
}

void alloc_fail_arm(long n)
{
    seen = 0;
    fail_at = n;
    injected = 0;
    armed = 1;
}

int alloc_fail_disarm(void)
{
    armed = 0;
    return injected;
}

long alloc_fail_seen(void)
{
    return seen;
}

int alloc_fail_supported(void)
{
#ifdef INFERD_TSAN
    return 0;
#else
    return 1;
#endif
}

struct alloc_fail_result alloc_fail_each(const char *what, int (*run)(void *ctx), void *ctx,
                                         int (*accept)(long i, int rc))
{
    struct alloc_fail_result r = {0};
    alloc_fail_arm(0);
    int rc = run(ctx);
    alloc_fail_disarm();
    r.allocs = alloc_fail_seen();
    if (rc != 0) {
        printf("%s: the clean run failed (%d)\n", what, rc);
        r.bad++;
        return r;
    }
    for (long i = 1; i <= r.allocs; i++) {
        alloc_fail_arm(i);
        rc = run(ctx);
        int hit = alloc_fail_disarm();
        if (!hit) {
            /* the run took another path and allocated less: fine if it succeeded */
            if (rc != 0) {
                printf("%s: allocation %ld: not reached, yet the run failed (%d)\n", what, i, rc);
                r.bad++;
            }
        } else if (rc < 0) {
            r.failed_ok++;
        } else if (accept && accept(i, rc)) {
            r.survived++;
        } else {
            printf("%s: allocation %ld failed, yet the run returned %d\n", what, i, rc);
            r.bad++;
        }
    }
    printf("%s: %ld allocations; %ld failed cleanly, %ld absorbed, %ld bad\n", what, r.allocs,
           r.failed_ok, r.survived, r.bad);
    return r;
}
