/* test_backoff.c — full-jitter backoff bounds, Retry-After parsing, retryable statuses. */
#include "check.h"
#include "base/rng.h"
#include "client/backoff.h"

#include <time.h>

static void test_delay(void)
{
    /* ceiling doubles per retry and stops at the cap; u scales it */
    CHECK_NEAR(backoff_delay(0.1, 10, 0, 0.5), 0.05, 1e-12);
    CHECK_NEAR(backoff_delay(0.1, 10, 1, 0.5), 0.1, 1e-12);
    CHECK_NEAR(backoff_delay(0.1, 10, 3, 0.5), 0.4, 1e-12);
    CHECK_NEAR(backoff_delay(0.1, 10, 10, 0.5), 5, 1e-12); /* 102.4 capped at 10 */
    CHECK_NEAR(backoff_delay(0.1, 10, 1000, 0.999), 9.99, 1e-9); /* no overflow */
    CHECK(backoff_delay(0.1, 10, 2, 0) == 0);
    CHECK(backoff_delay(0.1, 10, 2, 1.5) < 0.4); /* u clamped below 1 */
    CHECK(backoff_delay(0, 10, 2, 0.5) == 0);
    CHECK(backoff_delay(0.1, 10, -3, 0.5) == 0.05);

    /* the generator is uniform-ish in [0,1) and reproducible from a seed */
    struct rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    double sum = 0, lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_unit(&a);
        CHECK(u == rng_unit(&b));
        CHECK(u >= 0 && u < 1);
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    CHECK_NEAR(sum / 100000, 0.5, 0.01);
    CHECK(lo < 0.001 && hi > 0.999);
    /* every full-jitter delay stays inside [0, ceiling) */
    for (int r = 0; r < 12; r++)
        for (int i = 0; i < 100; i++) {
            double d = backoff_delay(0.2, 3, r, rng_unit(&a));
            double ceil = 0.2 * (1 << r) < 3 ? 0.2 * (1 << r) : 3;
            CHECK(d >= 0 && d < ceil);
        }
}

static void test_retry_after(void)
{
    double s = -1;
    /* 1994-11-06 08:49:37 UTC = 784111777 */
    time_t now = 784111777 - 100;
    CHECK(backoff_parse_retry_after("120", now, &s) == 0 && s == 120);
    CHECK(backoff_parse_retry_after("  7 \r\n", now, &s) == 0 && s == 7);
    CHECK(backoff_parse_retry_after("0", now, &s) == 0 && s == 0);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, &s) == 0 && s == 100);
    CHECK(backoff_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, &s) == 0 &&
          s == 100);
    CHECK(backoff_parse_retry_after("Sun Nov  6 08:49:37 1994", now, &s) == 0 && s == 100);
    /* a date in the past means "now" */
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 1000, &s) == 0 &&
          s == 0);
    CHECK(backoff_parse_retry_after("-5", now, &s) == -1);
    CHECK(backoff_parse_retry_after("1.5", now, &s) == -1);
    CHECK(backoff_parse_retry_after("12abc", now, &s) == -1);
    CHECK(backoff_parse_retry_after("", now, &s) == -1);
    CHECK(backoff_parse_retry_after("tomorrow", now, &s) == -1);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT junk", now, &s) == -1);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT 5", now, &s) == -1);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994", now, &s) == -1);
    CHECK(backoff_parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", now, &s) == -1);
    CHECK(backoff_parse_retry_after("Sun Nov  6 08:49:37 1994 x", now, &s) == -1);
    CHECK(backoff_parse_retry_after("99999999999", now, &s) == -1);
    CHECK(backoff_parse_retry_after(NULL, now, &s) == -1);
}

static void test_statuses(void)
{
    CHECK(backoff_status_retryable(429));
    CHECK(backoff_status_retryable(500));
    CHECK(backoff_status_retryable(503));
    CHECK(backoff_status_retryable(599));
    CHECK(!backoff_status_retryable(400));
    CHECK(!backoff_status_retryable(404));
    CHECK(!backoff_status_retryable(409));
    CHECK(!backoff_status_retryable(200));
    CHECK(!backoff_status_retryable(0));
}

static void test_retry_wait(void)
{
    CHECK(backoff_retry_wait(0.5, -1, 10, 0) == 0.5);
    CHECK(backoff_retry_wait(0.5, 2, 10, 0) == 2);
    /* no deadline: a huge Retry-After is capped at max(cap, 300 s) */
    CHECK(backoff_retry_wait(0.5, 999999999, 10, 0) == BACKOFF_NO_DEADLINE_WAIT_MAX_S);
    CHECK(backoff_retry_wait(0.5, 999999999, 1000, 0) == 1000);
    /* with a deadline the caller's deadline check bounds it */
    CHECK(backoff_retry_wait(0.5, 999999999, 10, 1) == 999999999);
}

int main(void)
{
    test_retry_wait();
    test_delay();
    test_retry_after();
    test_statuses();
    return check_finish();
}
