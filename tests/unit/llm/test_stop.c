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
    /* half a UTF-8 character is held back until it is complete, with or without stop strings */
    CHECK(run(NULL, 0, (const char *[]){"a\xE2\x96", "\x81" "b"}, 2, out) == 0);
    CHECK(strcmp(out, "a\xE2\x96\x81" "b") == 0);
    CHECK(llm_stop_init(&st, NULL, 0, NULL) == 0);
    CHECK(llm_stop_feed(&st, "a\xE2\x96", 3, buf) == 1 && buf[0] == 'a');
    CHECK(llm_stop_feed(&st, "\x81", 1, buf) == 3 && memcmp(buf, "\xE2\x96\x81", 3) == 0);
    CHECK(llm_stop_feed(&st, "\xF0\x9F", 2, buf) == 0 && llm_stop_flush(&st, buf) == 2);
    /* over a caller's text: [0, from) is published, matches and held tails lie after it */
    const char *ss[] = {"User:", "", "ab"};
    CHECK(llm_stop_find(ss, 3, "xx User: ab", 0, 11) == 3);
    CHECK(llm_stop_find(ss, 3, "xx User: ab", 4, 11) == 9);
    CHECK(llm_stop_find(ss, 3, "xx User: ab", 10, 11) == 11);
    CHECK(llm_stop_find(ss, 3, NULL, 0, 0) == 0);
    CHECK(llm_stop_hold(ss, 3, "hello Use", 0, 9) == 3);
    CHECK(llm_stop_hold(ss, 3, "hello Use", 7, 9) == 0); /* only "se" is unpublished: no prefix */
    CHECK(llm_stop_hold(ss, 3, "hello a", 0, 7) == 1);
    CHECK(llm_stop_hold(ss, 3, "hello \xE2\x96", 8, 8) == 2); /* partial UTF-8 regardless of from */
    CHECK(llm_stop_hold(ss, 3, NULL, 0, 0) == 0);
    struct inferd_err err = {0};
    CHECK(llm_stop_init(&st, toolong, 1, &err) == INFERD_ETOOLARGE);
    return check_finish();
}
