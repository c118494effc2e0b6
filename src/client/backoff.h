/* backoff.h — the client's retry arithmetic: full-jitter exponential backoff, Retry-After
 * parsing, and which failures are worth a retry. The jitter's random numbers come from
 * base/rng.h.
 *
 * Kept apart from the HTTP code so it can be tested exactly.
 *
 *   struct rng rng;
 *   rng_seed_random(&rng);
 *   double d = backoff_delay(0.1, 10, retry, rng_unit(&rng));
 *   double ra;
 *   if (backoff_parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", time(NULL), &ra) == 0)
 *       d = ra > d ? ra : d;
 */
#ifndef INFERD_CLIENT_BACKOFF_H
#define INFERD_CLIENT_BACKOFF_H

#include <stdint.h>
#include <time.h>

/* Full jitter: u * min(cap, base * 2^retry), retry counted from 0 for the first retry,
 * u in [0, 1). Non-positive base or cap give 0; retry is clamped so 2^retry cannot overflow. */
double backoff_delay(double base, double cap, int retry, double u);

/* Longest wait a Retry-After can impose when the call has no overall deadline (seconds);
 * the bound is max(cap, BACKOFF_NO_DEADLINE_WAIT_MAX_S). */
#define BACKOFF_NO_DEADLINE_WAIT_MAX_S 300.0

/* The sleep before a retry: max(jitter, retry_after_s) (retry_after_s < 0: none). With no
 * overall deadline (has_deadline 0) it is capped at max(cap, BACKOFF_NO_DEADLINE_WAIT_MAX_S),
 * so a server saying "Retry-After: 999999999" cannot park the caller for years; with a
 * deadline the caller's deadline check bounds it instead. */
double backoff_retry_wait(double jitter, double retry_after_s, double cap, int has_deadline);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date (IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", or asctime
 * "Sun Nov  6 08:49:37 1994"), relative to now (Unix seconds). A date in the past gives 0.
 * OUT: *seconds. Returns 0, or -1 when value is none of these (leading/trailing spaces ok). */
int backoff_parse_retry_after(const char *value, time_t now, double *seconds);

/* Is this HTTP status worth a retry? 429 and 5xx yes; everything else no. */
int backoff_status_retryable(int status);

#endif
