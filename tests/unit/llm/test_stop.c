/* test_stop.c — stop strings over streamed pieces: early output, hold-back, split matches. */
#include <string.h>

#include "check.h"
#include "llm/stop.h"

/* Feeds pieces, returns what a client would see (NUL-terminated in out). */
static int run(const char *const *stops, int ns, const char *const *pieces, int np, char *out)
{
    struct llm_stop st;
    char buf[LLM_STOP_OUT(64)];
    size_t o = 0;
    if (llm_stop_init(&st, stops, ns, NULL) < 0)
        return -1;
    for (int i = 0; i < np && !st.stopped; i++) {
        size_t n = llm_stop_feed(&st, pieces[i], strlen(pieces[i]), buf);
        memcpy(out + o, buf, n);
        o += n;
    }
    size_t n = llm_stop_flush(&st, buf);
    memcpy(out + o, buf, n);
    out[o + n] = 0;
    return st.stopped;
}

int main(void)
{
    char out[1024];
    const char *stops[] = {"User:", "\n\n"};
    CHECK(run(stops, 2, (const char *[]){"Hello", " world", "\n", "\n", "more"}, 5, out) == 1);
    CHECK(strcmp(out, "Hello world") == 0);
    CHECK(run(stops, 2, (const char *[]){"a Us", "e", "r: x"}, 3, out) == 1);
    CHECK(strcmp(out, "a ") == 0);
    CHECK(run(stops, 2, (const char *[]){"a Us", "e", "d it"}, 3, out) == 0);
    CHECK(strcmp(out, "a Used it") == 0);
    CHECK(run(stops, 2, (const char *[]){"tail U"}, 1, out) == 0);
    CHECK(strcmp(out, "tail U") == 0); /* flushed at the end */
    CHECK(run(NULL, 0, (const char *[]){"x", "y"}, 2, out) == 0);
    CHECK(strcmp(out, "xy") == 0);
    /* held-back text is released as soon as it cannot start a stop string */
    struct llm_stop st;
    char buf[LLM_STOP_OUT(16)];
    CHECK(llm_stop_init(&st, stops, 2, NULL) == 0);
    CHECK(llm_stop_feed(&st, "ab U", 4, buf) == 3);
    CHECK(llm_stop_feed(&st, "x", 1, buf) == 2 && memcmp(buf, "Ux", 2) == 0);
    char big[LLM_STOP_LEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const char *toolong[] = {big};
    struct inferd_err err = {0};
    CHECK(llm_stop_init(&st, toolong, 1, &err) == INFERD_ETOOLARGE);
    return check_finish();
}
