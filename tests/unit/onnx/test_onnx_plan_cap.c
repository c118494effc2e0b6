/* test_onnx_plan_cap.c — a plan's memory cap (16 bytes per max_elements, plan.c) holds its
 * arena and its packed weights together: a 1x1 Conv x (1, 64, 2, 2) with weights (256, 64,
 * 1, 1), whose panels (op->pack, about 64 KiB) outweigh its activations (about 4 KiB).
 * Under a cap below the panels alone the run is refused naming the packed weights; the
 * smallest max_elements that runs is found by bisection, and one element less is refused
 * with a message giving both sizes, whose sum lies between the two caps while the arena
 * alone fits (a plan that counted only its arena would have run). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"

#define C 64
#define M 256
#define HW 2

static void encode(struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 18);
    struct gb_node n = {"Conv", "x,w", "y", {{0}}};
    gb_node(&g, &n);
    pbw_str(&g, 2, "plan_cap");
    static float w[M * C];
    for (int i = 0; i < M * C; i++)
        w[i] = 0.05f * sinf(0.71f * (float)i);
    gb_init(&g, "w", 1, 4, (const int64_t[]){M, C, 1, 1}, w, sizeof w);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){1, C, HW, HW});
    pbw_value_info(&g, 12, "y", 1, -1, NULL);
    gb_model(out, &g, 13);
}

/* Loads and runs the model under max_elements; returns 0 or the error code, the message in
 * err. */
static int try_cap(const struct buf *b, int64_t max_elements, struct inferd_err *err)
{
    struct inferd_onnx_model *m = NULL;
    memset(err, 0, sizeof *err);
    int rc = inferd_onnx_load_buffer(b->data, b->len, &(struct inferd_onnx_options){.max_elements = max_elements},
                                     &m, err);
    if (rc == 0) {
        static float x[C * HW * HW];
        for (int i = 0; i < C * HW * HW; i++)
            x[i] = 0.3f * cosf(0.37f * (float)i);
        struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, C, HW, HW}, .data = x,
                                   .nbytes = sizeof x};
        struct inferd_tensor o;
        rc = inferd_onnx_run(m, &in, 1, &o, 1, err);
    }
    inferd_onnx_free(m);
    return rc;
}

int main(void)
{
    struct buf b;
    buf_init(&b, 1 << 18);
    encode(&b);
    struct inferd_err err;
    /* the panels alone over the cap: 1024 elements (the output's count), 16 KiB */
    int rc = try_cap(&b, M * HW * HW, &err);
    CHECK(rc == INFERD_ETOOLARGE && strstr(err.msg, "packed weights need") != NULL);
    printf("cap %d elements: %s\n", M * HW * HW, err.msg);
    /* bisect the smallest cap that runs */
    int64_t lo = M * HW * HW, hi = (int64_t)1 << 20; /* lo refused, hi runs */
    CHECK(try_cap(&b, hi, &err) == 0);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        rc = try_cap(&b, mid, &err);
        CHECK(rc == 0 || rc == INFERD_ETOOLARGE);
        if (rc == 0)
            hi = mid;
        else
            lo = mid;
    }
    rc = try_cap(&b, lo, &err);
    CHECK(rc == INFERD_ETOOLARGE);
    printf("cap %lld elements: %s\n", (long long)lo, err.msg);
    unsigned long long arena = 0, packed = 0;
    const char *at = strstr(err.msg, "activations need ");
    CHECK(at != NULL && sscanf(at, "activations need %llu bytes and packed weights %llu", &arena, &packed) == 2);
    CHECK(packed >= (unsigned long long)M * C * sizeof(float)); /* the panels hold every weight */
    CHECK(arena <= (unsigned long long)lo * 16);                /* the arena alone would fit */
    CHECK(arena + packed > (unsigned long long)lo * 16 && arena + packed <= (unsigned long long)hi * 16);
    printf("plan: %llu bytes of activations + %llu packed = %llu; runs from max_elements %lld (%lld bytes)\n",
           arena, packed, arena + packed, (long long)hi, (long long)hi * 16);
    buf_free(&b);
    return check_finish();
}
