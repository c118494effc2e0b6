/* fuzz_retry_after.c — libFuzzer driver for the client's Retry-After parser: any input is
 * either refused or gives a finite, non-negative number of seconds. */
#include "client/backoff.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[256];
    size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';
    double s = -1;
    if (backoff_parse_retry_after(buf, 1795867200, &s) == 0 && (!isfinite(s) || s < 0))
        abort();
    return 0;
}
