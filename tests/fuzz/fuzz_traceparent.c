/* fuzz_traceparent.c — libFuzzer driver for the W3C traceparent parser: any input is
 * refused or gives valid ids that format back into a traceparent the parser accepts with
 * the same trace id and parent id. */
#include "observe/trace.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace_parent tp;
    char again[TRACEPARENT_LEN + 1];
    if (trace_parse_traceparent((const char *)data, size, &tp) < 0)
        return 0;
    if (!trace_id_ok(tp.trace_id, TRACE_ID_HEX) || !trace_id_ok(tp.parent_id, TRACE_SPAN_HEX))
        abort();
    if (size < TRACEPARENT_LEN || (tp.version == 0 && size != TRACEPARENT_LEN))
        abort();
    trace_format_traceparent(again, tp.trace_id, tp.parent_id, tp.flags);
    struct trace_parent tp2;
    if (trace_parse_traceparent(again, TRACEPARENT_LEN, &tp2) < 0 ||
        strcmp(tp.trace_id, tp2.trace_id) != 0 || strcmp(tp.parent_id, tp2.parent_id) != 0 ||
        tp2.flags != (tp.flags & TRACE_FLAGS_KNOWN))
        abort();
    /* tracestate check never reads past len either */
    (void)trace_state_ok((const char *)data, size);
    return 0;
}
