/* fuzz_sse.c — libFuzzer driver for the client's SSE parser: the first byte picks a chunk
 * size, the rest is the stream; every event must be NUL-terminated at its length, and
 * feeding whole or in chunks must give the same events. */
#include "client/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tally {
    size_t events;
    uint64_t hash; /* of every event name and data, in order */
};

static int on_event(const char *event, const char *data, size_t len, void *ctx)
{
    struct tally *t = ctx;
    if (data[len] != '\0' || strlen(event) >= 64)
        abort();
    for (size_t i = 0; i < len; i++)
        t->hash = (t->hash ^ (unsigned char)data[i]) * 1099511628211ull;
    for (const char *p = event; *p; p++)
        t->hash = (t->hash ^ (unsigned char)*p) * 1099511628211ull;
    t->events++;
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t chunk, struct tally *t)
{
    struct sse_parser p;
    int rc = 0;
    sse_init(&p, 4096, on_event, t);
    for (size_t i = 0; i < size && rc == 0; i += chunk) {
        size_t k = size - i < chunk ? size - i : chunk;
        rc = sse_feed(&p, (const char *)data + i, k, NULL);
    }
    sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    struct tally whole = {0, 1469598103934665603ull}, parts = {0, 1469598103934665603ull};
    int a = run(data + 1, size - 1, size, &whole);
    int b = run(data + 1, size - 1, chunk, &parts);
    if (a != b || (a == 0 && (whole.events != parts.events || whole.hash != parts.hash)))
        abort();
    return 0;
}
