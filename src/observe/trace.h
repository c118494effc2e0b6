/* trace.h — W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent
 * header parsed and written, tracestate checked, and new trace and span ids.
 *
 * The HTTP front parses an incoming traceparent with trace_parse_traceparent; when it is
 * absent or invalid the request starts a new trace (trace_new_id). Every request gets its
 * own span id; answers and upstream calls carry trace_format_traceparent of the trace id
 * and the span that made them. Nothing here allocates or keeps state.
 *
 *   struct trace_parent tp;
 *   if (trace_parse_traceparent(hdr, strlen(hdr), &tp) < 0) {
 *       trace_new_id(tp.trace_id, TRACE_ID_HEX / 2); // absent or invalid: a new trace
 *       tp.flags = TRACE_FLAG_SAMPLED;
 *   }
 *   char span[TRACE_SPAN_HEX + 1], out[TRACEPARENT_LEN + 1];
 *   trace_new_id(span, TRACE_SPAN_HEX / 2);
 *   trace_format_traceparent(out, tp.trace_id, span, tp.flags);
 *
 * traceparent (version 00, exactly 55 characters, lowercase hex only):
 *
 *   offset  len  field      rule
 *   ------  ---  ---------  -----------------------------------------------------------
 *        0    2  version    2 hex; "ff" is invalid
 *        2    1  "-"
 *        3   32  trace-id   32 hex, not all zero
 *       35    1  "-"
 *       36   16  parent-id  16 hex, not all zero
 *       52    1  "-"
 *       53    2  flags      2 hex; bit 0 = sampled
 *       55       end        version 00: the end of the value. A higher version is read
 *                           as 00 when the value ends here or goes on with "-" (the
 *                           specification's rule for versions not yet written).
 *
 * tracestate is kept verbatim when it is at most TRACESTATE_MAX bytes of printable ASCII
 * (it is only forwarded, never interpreted), and dropped otherwise.
 */
#ifndef INFERD_OBSERVE_TRACE_H
#define INFERD_OBSERVE_TRACE_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define TRACE_ID_HEX 32        /* hex digits of a trace id (128 bits) */
#define TRACE_SPAN_HEX 16      /* hex digits of a span / parent id (64 bits) */
#define TRACEPARENT_LEN 55     /* characters of a version-00 traceparent */
#define TRACESTATE_MAX 512     /* bytes of tracestate kept; longer ones are dropped */
#define TRACE_FLAG_SAMPLED 0x01
#define TRACE_FLAGS_KNOWN 0x01 /* flags a version-00 writer may propagate; others are zeroed */

/* A parsed traceparent. */
struct trace_parent {
    char trace_id[TRACE_ID_HEX + 1];    /* lowercase hex + NUL */
    char parent_id[TRACE_SPAN_HEX + 1]; /* the caller's span, lowercase hex + NUL */
    uint8_t version;
    uint8_t flags;                      /* as received (all 8 bits) */
};

/* Parses the traceparent value s[0..len) (need not be NUL-terminated; no surrounding
 * blanks allowed). OUT: *out, filled only on success. Returns 0 or INFERD_EINVAL for any
 * value the specification says to ignore. Pure: no allocation, no state. */
int trace_parse_traceparent(const char *s, size_t len, struct trace_parent *out);

/* Writes "00-<trace_id>-<span_id>-<flags & TRACE_FLAGS_KNOWN as 2 hex>" and a NUL into out.
 * trace_id and span_id must be valid ids (checked by assert). */
void trace_format_traceparent(char out[TRACEPARENT_LEN + 1], const char *trace_id,
                              const char *span_id, uint8_t flags);

/* Returns 1 when s[0..len) may be kept as tracestate: 1..TRACESTATE_MAX bytes, all
 * printable ASCII (0x20..0x7e, so it can never split a header), else 0. */
int trace_state_ok(const char *s, size_t len);

/* Writes a new random id of n_bytes bytes (8 for a span, 16 for a trace) as 2 * n_bytes
 * lowercase hex digits and a NUL into out; never all zero. Uses getrandom(2), falling back
 * to the clock mixed through splitmix64 when the kernel gives nothing. Never fails. */
void trace_new_id(char *out, size_t n_bytes);

/* Returns 1 when s is exactly n lowercase hex digits, not all zero, followed by a NUL. */
int trace_id_ok(const char *s, size_t n);

#endif
