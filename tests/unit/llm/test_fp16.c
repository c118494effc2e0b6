/* test_fp16.c — fp16_round and fp16_round_unit (the f16 rounding of activations and
 * probabilities that forward.c applies as ggml does): fp16_round equals the round trip
 * through fp16_from_f32 / fp16_to_f32 on every 1021st float bit pattern (all exponents,
 * subnormals, overflow, inf, NaN) and on the edges of its fast path; fp16_round_unit equals
 * fp16_round on [0, 1]. (Both were checked on every pattern when they were written; the
 * sample keeps the sanitizer runs short.) */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "llm/kernels/fp16.h"

static int same(float f)
{
    float a = fp16_round(f), b = fp16_to_f32(fp16_from_f32(f));
    if (a != a && b != b)
        return 1;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    if (ua != ub)
        printf("fp16_round(%a) = %a, round trip %a\n", f, a, b);
    return ua == ub;
}

int main(void)
{
    unsigned long bad = 0;
    for (uint64_t i = 0; i <= 0xffffffffu; i += 1021) {
        uint32_t u = (uint32_t)i;
        float f;
        memcpy(&f, &u, 4);
        bad += !same(f);
    }
    CHECK(bad == 0);
    /* fp16_round_unit on [0, 1]: every 251st pattern (all of them when it was written) */
    bad = 0;
    for (uint32_t u = 0; u <= 0x3f800000u; u += 251) {
        float f, a, b;
        memcpy(&f, &u, 4);
        a = fp16_round_unit(f);
        b = fp16_round(f);
        bad += memcmp(&a, &b, 4) != 0;
    }
    CHECK(bad == 0);
    CHECK(fp16_round_unit(1.f) == 1.f && fp16_round_unit(0.f) == 0.f && fp16_round_unit(0x1p-25f) == 0.f &&
          fp16_round_unit(0x3p-25f) == 0x1p-23f && fp16_round_unit(0x1.fffp-15f) == 0x1p-14f);
    /* fast-path edges: smallest normal half, largest half, the overflow tie, ties to even */
    static const float edge[] = {0x1p-14f, 0x1.ffep-15f, 0x1.fffp-15f, 65504.f, 65519.f, 65520.f, 65536.f,
                                 1.f + 0x1p-11f, 1.f + 0x3p-11f, -0.f, INFINITY, -INFINITY, 0x1p-25f, 0x1p-24f};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        CHECK(same(edge[i]));
        CHECK(same(-edge[i]));
    }
    CHECK(fp16_round(1.f + 0x1p-11f) == 1.f && fp16_round(1.f + 0x3p-11f) == 1.f + 0x1p-9f);
    CHECK(isinf(fp16_round(65520.f)) && fp16_round(65519.f) == 65504.f);
    return check_finish();
}
