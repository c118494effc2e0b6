/* clock.h — monotonic and wall-clock time in the units the rest of inferd uses.
 *
 *   uint64_t t0 = clock_now_ns();
 *   work();
 *   double ms = (clock_now_ns() - t0) / 1e6;
 */
#ifndef INFERD_CLOCK_H
#define INFERD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic nanoseconds (CLOCK_MONOTONIC); for durations and deadlines. */
uint64_t clock_now_ns(void);
/* Wall-clock milliseconds since the Unix epoch; for log timestamps. */
uint64_t clock_wall_ms(void);
/* Writes an RFC 3339 UTC timestamp with milliseconds ("2026-11-28T12:00:00.123Z"). */
void clock_rfc3339(uint64_t wall_ms, char *buf, size_t cap);

#endif
