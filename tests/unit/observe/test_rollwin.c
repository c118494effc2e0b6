/* test_rollwin.c — the dashboard's rolling windows: per-second buckets, totals, latency
 * quantiles, LLM tokens and TTFT, stale buckets after the ring wraps, the key cap, and
 * concurrent recording while the window is read. */
#include "check.h"
#include "observe/rollwin.h"

#include <pthread.h>
#include <string.h>

#define SEC 1000000000ull

static json_t *arr(json_t *w, const char *key, const char *name)
{
    return json_object_get(json_object_get(w, key), name);
}

static json_t *tot(json_t *w, const char *key, const char *name)
{
    return json_object_get(json_object_get(json_object_get(w, key), "total"), name);
}

static void test_buckets(void)
{
    struct rollwin *w = rollwin_new(8);
    uint64_t t0 = 1000 * SEC;
    for (int i = 0; i < 10; i++)
        rollwin_record(w, "m", t0, &(struct rollwin_obs){.latency_s = 0.001});
    rollwin_record(w, "m", t0 + SEC / 2, &(struct rollwin_obs){.latency_s = 1.0, .error = true});
    rollwin_record(w, "m", t0 + 2 * SEC, &(struct rollwin_obs){.latency_s = -1, .client_error = true});
    rollwin_record(w, "llm", t0 + 2 * SEC, &(struct rollwin_obs){.latency_s = 0.2, .tokens = 30, .ttft_s = 0.05});
    rollwin_record(w, "llm", t0 + 2 * SEC, &(struct rollwin_obs){.latency_s = 0.2, .tokens = 10, .ttft_s = 0.15});
    rollwin_record(w, "", t0, &(struct rollwin_obs){.latency_s = 0.001}); /* ignored */
    json_t *j = rollwin_json(w, t0 + 2 * SEC, 4);
    CHECK(json_object_size(j) == 2);
    json_t *req = arr(j, "m", "requests");
    CHECK(json_array_size(req) == 4);
    CHECK(json_integer_value(json_array_get(req, 0)) == 0);
    CHECK(json_integer_value(json_array_get(req, 1)) == 11);
    CHECK(json_integer_value(json_array_get(req, 2)) == 0);
    CHECK(json_integer_value(json_array_get(req, 3)) == 1);
    CHECK(json_integer_value(json_array_get(arr(j, "m", "errors"), 1)) == 1);
    CHECK(json_integer_value(json_array_get(arr(j, "m", "client_errors"), 3)) == 1);
    CHECK(json_is_null(json_array_get(arr(j, "m", "p50_ms"), 0)));
    CHECK(json_is_null(json_array_get(arr(j, "m", "p50_ms"), 3))); /* no latency sample */
    /* 10 at 1 ms, 1 at 1 s: p50 is the 1 ms bucket's bound, p99 the 1 s one's */
    double p50 = json_real_value(json_array_get(arr(j, "m", "p50_ms"), 1));
    double p99 = json_real_value(json_array_get(arr(j, "m", "p99_ms"), 1));
    CHECK(p50 >= 1.0 && p50 < 1.0 * 1.4143);
    CHECK(p99 >= 1000.0 && p99 < 1000.0 * 1.4143);
    CHECK(json_integer_value(tot(j, "m", "requests")) == 12);
    CHECK(json_integer_value(tot(j, "m", "errors")) == 1);
    CHECK(json_integer_value(tot(j, "m", "client_errors")) == 1);
    CHECK_NEAR(json_real_value(tot(j, "m", "rate")), 3.0, 1e-9);
    CHECK_NEAR(json_real_value(tot(j, "m", "error_ratio")), 1.0 / 12, 1e-9);
    CHECK(json_real_value(tot(j, "m", "p95_ms")) >= 1000.0);
    CHECK(json_is_null(tot(j, "m", "ttft_ms")));
    CHECK(json_integer_value(json_array_get(arr(j, "llm", "tokens"), 3)) == 40);
    CHECK_NEAR(json_real_value(json_array_get(arr(j, "llm", "ttft_ms"), 3)), 100.0, 1e-6);
    CHECK_NEAR(json_real_value(tot(j, "llm", "tokens_per_s")), 10.0, 1e-9);
    CHECK_NEAR(json_real_value(tot(j, "llm", "ttft_ms")), 100.0, 1e-6);
    json_decref(j);

    /* a latency past the last bound reports the last bound; seconds are clamped */
    rollwin_record(w, "slow", t0, &(struct rollwin_obs){.latency_s = 1e6});
    j = rollwin_json(w, t0, 100000);
    CHECK(json_array_size(arr(j, "slow", "requests")) == ROLLWIN_SECONDS);
    CHECK(json_real_value(tot(j, "slow", "p99_ms")) > 30000.0);
    json_decref(j);

    /* one full ring later, the old buckets are stale: all zero */
    j = rollwin_json(w, t0 + (ROLLWIN_SECONDS + 2) * SEC, ROLLWIN_SECONDS);
    CHECK(json_integer_value(tot(j, "m", "requests")) == 0);
    CHECK(json_is_null(tot(j, "m", "p50_ms")));
    json_decref(j);
    /* a bucket reused by a later second starts from zero */
    rollwin_record(w, "m", t0 + ROLLWIN_SECONDS * SEC, &(struct rollwin_obs){.latency_s = 0.001});
    j = rollwin_json(w, t0 + ROLLWIN_SECONDS * SEC, 1);
    CHECK(json_integer_value(tot(j, "m", "requests")) == 1);
    json_decref(j);
    rollwin_free(w);
    rollwin_free(NULL);
}

/* Past the cap, new keys share "_other"; long keys are cut. */
static void test_cap(void)
{
    struct rollwin *w = rollwin_new(3);
    char name[300];
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "k%d", i);
        rollwin_record(w, name, 5 * SEC, &(struct rollwin_obs){.latency_s = 0.01});
    }
    json_t *j = rollwin_json(w, 5 * SEC, 1);
    CHECK(json_object_size(j) == 3);
    CHECK(json_integer_value(tot(j, "k0", "requests")) == 1);
    CHECK(json_integer_value(tot(j, "k1", "requests")) == 1);
    CHECK(json_integer_value(tot(j, "_other", "requests")) == 8);
    json_decref(j);
    rollwin_free(w);

    w = rollwin_new(4);
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    rollwin_record(w, name, 5 * SEC, &(struct rollwin_obs){.latency_s = 0.01});
    rollwin_record(w, name, 5 * SEC, &(struct rollwin_obs){.latency_s = 0.01});
    j = rollwin_json(w, 5 * SEC, 1);
    CHECK(json_object_size(j) == 1);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        CHECK(strlen(k) == ROLLWIN_KEY_MAX - 1);
        CHECK(json_integer_value(json_object_get(json_object_get(v, "total"), "requests")) == 2);
    }
    json_decref(j);
    /* a cut never splits a character: 'a' then 2-byte characters */
    char multi[300] = "a";
    for (int i = 0; i < 140; i++)
        strcat(multi, "\xc3\xa9");
    rollwin_record(w, multi, 5 * SEC, &(struct rollwin_obs){.latency_s = 0.01});
    multi[ROLLWIN_KEY_MAX - 1] = '\0'; /* 1 + 63 characters = 127 bytes */
    j = rollwin_json(w, 5 * SEC, 1);
    CHECK(j && json_integer_value(tot(j, multi, "requests")) == 1);
    json_decref(j);
    /* ill-formed UTF-8 is made valid, so the JSON can always be built */
    rollwin_record(w, "bad\xff\xfe", 5 * SEC, &(struct rollwin_obs){.latency_s = 0.01});
    j = rollwin_json(w, 5 * SEC, 1);
    CHECK(j && json_integer_value(tot(j, "bad\xef\xbf\xbd\xef\xbf\xbd", "requests")) == 1);
    json_decref(j);
    rollwin_free(w);
}

#define THREADS 4
#define PER_THREAD 5000

static struct rollwin *shared_w;

static void *writer(void *arg)
{
    const char *keys[] = {"a", "b", "c", "d", "e", "f"};
    long id = (long)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++)
        rollwin_record(shared_w, keys[(id + i) % 6], 77 * SEC, &(struct rollwin_obs){.latency_s = 0.002, .tokens = 1});
    return NULL;
}

/* Writers on several keys (new keys appear while readers scan) and a reader at once:
 * every request is counted exactly once. */
static void test_threads(void)
{
    shared_w = rollwin_new(16);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < 20; i++)
        json_decref(rollwin_json(shared_w, 77 * SEC, 5));
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    json_t *j = rollwin_json(shared_w, 77 * SEC, 1);
    long sum = 0, tokens = 0;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        sum += (long)json_integer_value(json_object_get(json_object_get(v, "total"), "requests"));
        tokens += (long)json_integer_value(json_array_get(json_object_get(v, "tokens"), 0));
    }
    CHECK(json_object_size(j) == 6);
    CHECK(sum == THREADS * PER_THREAD);
    CHECK(tokens == THREADS * PER_THREAD);
    json_decref(j);
    rollwin_free(shared_w);
}

int main(void)
{
    test_buckets();
    test_cap();
    test_threads();
    return check_finish();
}
