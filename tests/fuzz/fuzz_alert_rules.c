/* fuzz_alert_rules.c — libFuzzer driver for the alert rule-file loader: any input is loaded
 * or refused with a message; a loaded set evaluates twice and renders valid JSON. Inputs
 * that mention webhooks or alertmanagers are skipped, so the fuzzer never makes network
 * calls (receivers only queue without alerts_start, but the loader must not reach out). */
#include "observe/alerts.h"
#include "observe/families.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "webhooks", 8) || memmem(data, size, "alertmanagers", 13))
        return 0; /* no network from a fuzzer */
    struct inferd_err err = {0};
    struct metrics_registry *reg = metrics_registry_new();
    struct metrics_inferd m;
    if (!reg || metrics_inferd_register(reg, &m, &err) < 0)
        abort();
    struct alerts *a = NULL;
    if (alerts_load_text(reg, (const char *)data, size, &a, &err) == 0) {
        metrics_add(metrics_series_get(m.requests_total, (const char *[]){"m", "1", "v2", "500"}),
                    3);
        metrics_observe(metrics_series_get(m.request_duration, (const char *[]){"m", "1"}), 0.2);
        for (int t = 1; t <= 12; t++) /* enough for an anomaly rule's baseline */
            alerts_eval(a, t);
        char *json = NULL;
        if (alerts_json(a, &json, &err) < 0)
            abort();
        json_t *j = json_loads(json, 0, NULL);
        if (!j)
            abort();
        json_decref(j);
        free(json);
        alerts_free(a);
    } else if (!err.msg[0]) {
        abort(); /* a refusal always says why */
    }
    metrics_registry_free(reg);
    return 0;
}
