/* check.h — the tiny assertion kit every C unit test uses.
 *
 * CHECK(cond) records a failure with file:line and goes on; CHECK_NEAR compares floats.
 * main() returns check_finish(): 0 when at least one check ran and none failed. check_skip("why") exits 77,
 * which CTest reports as skipped.
 *
 *   CHECK(x == 3);
 *   CHECK_NEAR(y, 0.5, 1e-6);
 *   return check_finish();
 */
#ifndef INFERD_CHECK_H
#define INFERD_CHECK_H

#include <math.h>

extern int check_failures;
extern int check_count;

void check_fail(const char *file, int line, const char *expr);
int check_finish(void);
void check_skip(const char *why) __attribute__((noreturn));
/* Path under ../shared/testdata (from $INFERD_SHARED); skips the test when absent. */
const char *check_shared_path(const char *rel);

#define CHECK(cond)                                          \
    do {                                                     \
        check_count++;                                       \
        if (!(cond))                                         \
            check_fail(__FILE__, __LINE__, #cond);           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                              \
    do {                                                                   \
        check_count++;                                                     \
        double check_a_ = (double)(a), check_b_ = (double)(b);             \
        if (!(fabs(check_a_ - check_b_) <= (tol)))                          \
            check_fail(__FILE__, __LINE__, #a " ~= " #b);                  \
    } while (0)

#endif
