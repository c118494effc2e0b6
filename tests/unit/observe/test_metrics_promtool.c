/* test_metrics_promtool.c — `promtool check metrics` accepts inferd's full exposition with no
 * warnings (skipped when promtool is not installed). */
#include "check.h"
#include "observe/families.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        check_skip("promtool is not installed");
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    CHECK(metrics_inferd_register(reg, &m, &err) == 0);
    CHECK(metrics_process_register(reg, &err) == 0);
    /* the same families twice is refused */
    struct metrics_inferd m2;
    CHECK(metrics_inferd_register(reg, &m2, &err) == INFERD_EINVAL);

    const char *mv[] = {"resnet \"50\"", "1"};
    metrics_add(metrics_series_get(m.requests_total, (const char *[]){"resnet \"50\"", "1", "v2",
                                                                      "200"}), 3);
    metrics_observe(metrics_series_get(m.request_duration, mv), 0.012);
    metrics_observe(metrics_series_get(m.queue_duration, mv), 0.001);
    metrics_observe(metrics_series_get(m.compute_duration, mv), 0.01);
    metrics_observe(metrics_series_get(m.batch_size, mv), 4);
    metrics_add(metrics_series_get(m.inflight_requests, mv), 1);
    metrics_set(metrics_series_get(m.queue_depth, mv), 2);
    metrics_set(metrics_series_get(m.models_loaded, NULL), 1);
    metrics_add(metrics_series_get(m.model_load_failures, (const char *[]){"bad\nmodel"}), 1);
    metrics_add(metrics_series_get(m.errors_total, (const char *[]){"timeout"}), 1);
    /* a model name taken from a URL with bytes that are not UTF-8 must not break the scrape */
    metrics_add(metrics_series_get(m.requests_total,
                                   (const char *[]){"bad\xff\xfe", "1", "v2", "404"}), 1);
    const char *q[] = {"qwen\\path"};
    metrics_observe(metrics_series_get(m.llm_ttft, q), 0.2);
    metrics_observe(metrics_series_get(m.llm_itl, q), 0.02);
    metrics_observe(metrics_series_get(m.llm_e2e, q), 2);
    metrics_observe(metrics_series_get(m.llm_queue_time, q), 0.003);
    metrics_add(metrics_series_get(m.llm_prompt_tokens, q), 17);
    metrics_add(metrics_series_get(m.llm_generation_tokens, q), 30);
    metrics_set(metrics_series_get(m.llm_running, q), 1);
    metrics_set(metrics_series_get(m.llm_waiting, q), 0);
    metrics_set(metrics_series_get(m.llm_kv_usage, q), 0.25);
    metrics_family_set_max_series(m.errors_total, 1);
    metrics_add(metrics_series_get(m.errors_total, (const char *[]){"other"}), 1); /* dropped */

    char *text;
    size_t len;
    CHECK(metrics_expose(reg, &text, &len, &err) == 0);
    CHECK(strstr(text, "process_resident_memory_bytes ") != NULL);
    CHECK(strstr(text, "process_open_fds ") != NULL);
    CHECK(strstr(text, "process_cpu_seconds_total ") != NULL);
    CHECK(strstr(text, "process_start_time_seconds 1") != NULL); /* after 2001 */
    CHECK(strstr(text, "process_max_fds 0\n") == NULL);
    CHECK(strstr(text, "inferd_metrics_series_dropped_total{family=\"inferd_errors_total\"} 1"));

    char path[] = "/tmp/inferd_promtool_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, len) == (ssize_t)len);
    close(fd);
    char cmd[256], out[4096] = "";
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1; echo rc=$?", path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    CHECK(strcmp(out, "rc=0\n") == 0); /* exit 0 and not one warning line */
    if (strcmp(out, "rc=0\n") != 0)
        fprintf(stderr, "promtool said:\n%s\n--- exposition:\n%s", out, text);
    unlink(path);
    free(text);
    metrics_registry_free(reg);
    return check_finish();
}
