/* check.c — failure counting and skip support for the unit tests. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int check_failures;
int check_count;

void check_fail(const char *file, int line, const char *expr)
{
    check_failures++;
    fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
}

int check_finish(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    if (check_count == 0) { /* a test that checked nothing proves nothing */
        fprintf(stderr, "FAIL: no CHECK ran\n");
        return 1;
    }
    return check_failures ? 1 : 0;
}

void check_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

const char *check_shared_path(const char *rel)
{
    static char path[4096];
    const char *root = getenv("INFERD_SHARED");
    struct stat st;
    snprintf(path, sizeof path, "%s/testdata/%s", root ? root : "../shared", rel);
    if (stat(path, &st) != 0) {
        char why[4200];
        snprintf(why, sizeof why, "%s not found (../shared/testdata is absent on this machine)", path);
        check_skip(why);
    }
    return path;
}
