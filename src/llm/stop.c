/* stop.c — stop-string matching over generated text (see stop.h). */
#include "llm/stop.h"

#include <string.h>

int llm_stop_init(struct llm_stop *st, const char *const *stops, int n, struct inferd_err *err)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(stops[i]);
        if (l == 0)
            continue;
        if (st->n == LLM_STOP_N_MAX)
            return inferd_err_set(err, INFERD_ETOOLARGE, "stop: more than %d stop strings", LLM_STOP_N_MAX);
        if (l > LLM_STOP_LEN_MAX)
            return inferd_err_set(err, INFERD_ETOOLARGE, "stop[%d]: longer than %d bytes", i, LLM_STOP_LEN_MAX);
        memcpy(st->s[st->n++], stops[i], l + 1);
    }
    return 0;
}

/* Bytes at the end of text[0..len) that begin an incomplete UTF-8 sequence (at most 3). */
static size_t utf8_partial_tail(const char *text, size_t len)
{
    for (size_t back = 1; back <= 4 && back <= len; back++) {
        unsigned char c = (unsigned char)text[len - back];
        if ((c & 0xC0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

size_t llm_stop_find(const char *const *stops, int n, const char *text, size_t from, size_t len)
{
    size_t first = len;
    if (from >= len)
        return len;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        if (sl == 0 || sl > len - from)
            continue;
        const char *hit = memmem(text + from, len - from, stops[i], sl);
        if (hit && (size_t)(hit - text) < first)
            first = (size_t)(hit - text);
    }
    return first;
}

size_t llm_stop_hold(const char *const *stops, int n, const char *text, size_t from, size_t len)
{
    size_t hold = utf8_partial_tail(text, len);
    size_t room = from < len ? len - from : 0;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        if (sl == 0)
            continue;
        for (size_t k = sl - 1 < room ? sl - 1 : room; k > hold; k--) {
            if (memcmp(text + len - k, stops[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return hold;
}

size_t llm_stop_feed(struct llm_stop *st, const char *piece, size_t len, char *out)
{
    if (st->stopped)
        return 0;
    const char *stops[LLM_STOP_N_MAX];
    for (int i = 0; i < st->n; i++)
        stops[i] = st->s[i];
    /* out doubles as the work buffer: held tail + piece */
    memcpy(out, st->held, st->n_held);
    memcpy(out + st->n_held, piece, len);
    size_t n = st->n_held + len;
    size_t at = llm_stop_find(stops, st->n, out, 0, n);
    if (at < n) {
        st->stopped = 1;
        st->n_held = 0;
        return at;
    }
    size_t keep = llm_stop_hold(stops, st->n, out, 0, n);
    memcpy(st->held, out + n - keep, keep);
    st->n_held = keep;
    return n - keep;
}

size_t llm_stop_flush(struct llm_stop *st, char *out)
{
    if (st->stopped)
        return 0;
    size_t n = st->n_held;
    memcpy(out, st->held, n);
    st->n_held = 0;
    return n;
}
