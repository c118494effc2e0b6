/* fuzz_gateway_eval.c — libFuzzer driver for the gateway's canary builder, answer keys and
 * answer comparison (gateway/eval.h), and the HTML escaper (base/html.h). The input is two
 * JSON texts split at the first newline: each is read as model metadata (canary) and as an
 * answer (key); the two values and the two keys are compared. Must never crash or leak. */
#include "base/html.h"
#include "gateway/eval.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void one(const json_t *v, json_t **key)
{
    struct inferd_err err = {0};
    json_decref(gw_canary_v2_request(v, &err));
    *key = gw_answer_key(v, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t n1 = nl ? (size_t)(nl - text) : size;
    json_t *a = json_loadb(text, n1, JSON_DECODE_ANY, NULL);
    json_t *b = nl ? json_loadb(nl + 1, size - n1 - 1, JSON_DECODE_ANY, NULL) : NULL;
    json_t *ka = NULL, *kb = NULL;
    char why[128];
    one(a, &ka);
    one(b, &kb);
    gw_answer_equal(a, b, 1e-3, why, sizeof why);
    gw_answer_equal(ka, kb, 0, why, sizeof why);
    gw_answer_equal(a, a, 0, NULL, 0);
    struct buf h;
    buf_init(&h, 1 << 16);
    html_write_escapedn(&h, text, size);
    buf_free(&h);
    json_decref(ka);
    json_decref(kb);
    json_decref(a);
    json_decref(b);
    return 0;
}
