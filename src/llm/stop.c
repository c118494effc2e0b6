/* stop.c — stop-string matching over streamed token pieces (see stop.h). */
#include "llm/stop.h"

#include <string.h>

int llm_stop_init(struct llm_stop *st, const char *const *stops, int n, struct inferd_err *err)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(stops[i]);
        if (l == 0)
            continue;
        if (st->n == LLM_STOP_MAX)
            return inferd_err_set(err, INFERD_ETOOLARGE, "stop: more than %d stop strings", LLM_STOP_MAX);
        if (l > LLM_STOP_LEN)
            return inferd_err_set(err, INFERD_ETOOLARGE, "stop[%d]: longer than %d bytes", i, LLM_STOP_LEN);
        memcpy(st->s[st->n], stops[i], l);
        st->len[st->n++] = l;
    }
    return 0;
}

/* Longest suffix of buf[0..n) that is a proper prefix of some stop string. */
static size_t partial_tail(const struct llm_stop *st, const char *buf, size_t n)
{
    size_t best = 0;
    for (int i = 0; i < st->n; i++) {
        size_t max = st->len[i] - 1 < n ? st->len[i] - 1 : n;
        for (size_t k = max; k > best; k--) {
            if (memcmp(buf + n - k, st->s[i], k) == 0) {
                best = k;
                break;
            }
        }
    }
    return best;
}

/* Earliest position of any stop string in buf[0..n), or n when none. */
static size_t find_stop(const struct llm_stop *st, const char *buf, size_t n)
{
    size_t first = n;
    for (int i = 0; i < st->n; i++) {
        if (st->len[i] > n)
            continue;
        for (size_t p = 0; p + st->len[i] <= n && p < first; p++) {
            if (memcmp(buf + p, st->s[i], st->len[i]) == 0) {
                first = p;
                break;
            }
        }
    }
    return first;
}

size_t llm_stop_feed(struct llm_stop *st, const char *piece, size_t len, char *out)
{
    if (st->stopped)
        return 0;
    if (st->n == 0) {
        memcpy(out, piece, len);
        return len;
    }
    /* out doubles as the work buffer: held tail + piece */
    memcpy(out, st->held, st->n_held);
    memcpy(out + st->n_held, piece, len);
    size_t n = st->n_held + len;
    size_t at = find_stop(st, out, n);
    if (at < n) {
        st->stopped = 1;
        st->n_held = 0;
        return at;
    }
    size_t keep = partial_tail(st, out, n);
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
