/* test_alloc_fail.c — the torture harness itself (tests/unit/alloc_fail.h): it counts the
 * malloc family, fails exactly the armed allocation, and alloc_fail_each reports a run that
 * swallows a failure. */
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"
#include "check.h"
#include "inferd/err.h"

static void *volatile sink;

/* Three allocations, each checked; frees what it got. */
static int three(void *ctx)
{
    (void)ctx;
    char *a = malloc(16), *b = NULL, *c = NULL;
    if (!a)
        goto fail;
    sink = a;
    if (!(b = strdup("x")))
        goto fail;
    if (!(c = realloc(NULL, 8)))
        goto fail;
    free(a);
    free(b);
    free(c);
    return 0;
fail:
    free(a);
    free(b);
    free(c);
    return INFERD_ENOMEM;
}

/* Ignores a failed second allocation (the bug the harness exists to find). */
static int sloppy(void *ctx)
{
    (void)ctx;
    char *a = malloc(16), *b = calloc(1, 4);
    sink = b;
    int rc = a ? 0 : INFERD_ENOMEM;
    free(a);
    free(b);
    return rc;
}

int main(void)
{
    if (!alloc_fail_supported())
        check_skip("TSan owns malloc (see alloc_fail.h)");
    alloc_fail_arm(0);
    CHECK(three(NULL) == 0);
    CHECK(alloc_fail_disarm() == 0 && alloc_fail_seen() == 3);
    alloc_fail_arm(2);
    CHECK(three(NULL) == INFERD_ENOMEM);
    CHECK(alloc_fail_disarm() == 1 && alloc_fail_seen() == 2);
    /* disarmed: nothing counted, nothing failed */
    sink = malloc(1);
    CHECK(sink != NULL && alloc_fail_seen() == 2);
    free(sink);

    struct alloc_fail_result r = alloc_fail_each("three", three, NULL, NULL);
    CHECK(r.allocs == 3 && r.failed_ok == 3 && r.bad == 0);
    r = alloc_fail_each("sloppy", sloppy, NULL, NULL);
    CHECK(r.allocs == 2 && r.failed_ok == 1 && r.bad == 1);
    return check_finish();
}
