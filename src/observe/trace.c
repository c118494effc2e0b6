/* trace.c — W3C traceparent parse/format, tracestate check, new trace and span ids. */
#include "observe/trace.h"

#include "base/clock.h"
#include "base/rng.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

static int hex_lc(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is not HEXDIGLC: refused */
}

/* 1 when s[0..n) is lowercase hex and not all zero. */
static int hex_id(const char *s, size_t n)
{
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (hex_lc(s[i]) < 0)
            return 0;
        nonzero |= s[i] != '0';
    }
    return nonzero;
}

int trace_parse_traceparent(const char *s, size_t len, struct trace_parent *out)
{
    if (!s || !out || len < TRACEPARENT_LEN)
        return INFERD_EINVAL;
    int v1 = hex_lc(s[0]), v0 = hex_lc(s[1]);
    if (v1 < 0 || v0 < 0 || s[2] != '-')
        return INFERD_EINVAL;
    int version = v1 * 16 + v0;
    if (version == 0xff)
        return INFERD_EINVAL;
    /* version 00 is exactly 55 characters; a later version may add fields after a '-' */
    if (version == 0 ? len != TRACEPARENT_LEN : len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-')
        return INFERD_EINVAL;
    if (!hex_id(s + 3, TRACE_ID_HEX) || s[35] != '-' || !hex_id(s + 36, TRACE_SPAN_HEX) ||
        s[52] != '-')
        return INFERD_EINVAL;
    int f1 = hex_lc(s[53]), f0 = hex_lc(s[54]);
    if (f1 < 0 || f0 < 0)
        return INFERD_EINVAL;
    memcpy(out->trace_id, s + 3, TRACE_ID_HEX);
    out->trace_id[TRACE_ID_HEX] = '\0';
    memcpy(out->parent_id, s + 36, TRACE_SPAN_HEX);
    out->parent_id[TRACE_SPAN_HEX] = '\0';
    out->version = (uint8_t)version;
    out->flags = (uint8_t)(f1 * 16 + f0);
    return 0;
}

int trace_id_ok(const char *s, size_t n)
{
    return s && strnlen(s, n + 1) == n && hex_id(s, n);
}

void trace_format_traceparent(char out[TRACEPARENT_LEN + 1], const char *trace_id,
                              const char *span_id, uint8_t flags)
{
    static const char hex[] = "0123456789abcdef";
    assert(trace_id_ok(trace_id, TRACE_ID_HEX) && trace_id_ok(span_id, TRACE_SPAN_HEX));
    unsigned f = flags & TRACE_FLAGS_KNOWN;
    memcpy(out, "00-", 3);
    memcpy(out + 3, trace_id, TRACE_ID_HEX);
    out[35] = '-';
    memcpy(out + 36, span_id, TRACE_SPAN_HEX);
    out[52] = '-';
    out[53] = hex[f >> 4];
    out[54] = hex[f & 15];
    out[TRACEPARENT_LEN] = '\0';
}

int trace_state_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > TRACESTATE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

void trace_new_id(char *out, size_t n_bytes)
{
    static const char hex[] = "0123456789abcdef";
    assert(n_bytes >= 1 && n_bytes <= 32);
    if (rng_hex(out, n_bytes) < 0) {
        /* no kernel randomness (early boot): the clock and a counter through splitmix64 —
         * unique enough for correlation, which is all an id is for */
        static atomic_uint_fast64_t ctr;
        uint64_t st = clock_now_ns() ^ (atomic_fetch_add(&ctr, 1) << 48);
        for (size_t i = 0; i < n_bytes; i += 8) {
            uint64_t x = rng_splitmix64(&st);
            for (size_t k = 0; k < 8 && i + k < n_bytes; k++) {
                out[2 * (i + k)] = hex[(x >> (8 * k + 4)) & 15];
                out[2 * (i + k) + 1] = hex[(x >> (8 * k)) & 15];
            }
        }
        out[2 * n_bytes] = '\0';
    }
    if (!hex_id(out, 2 * n_bytes))
        out[2 * n_bytes - 1] = '1'; /* all zero is invalid (probability 2^-64 at worst) */
}
