/* test_onnx_plan_cap.c — a plan's memory cap (16 bytes per max_elements, plan.c) holds its
 * arena, not its packed weights: a 1x1 Conv x (1, 64, 2, 2) with weights (256, 64, 1, 1),
 * whose panels (op->pack, 64 KiB) outweigh its activations (about 5 KiB). It runs under a
 * cap of 16 KiB, below the panels alone (a plan that counted its packed weights refused it),
 * and the smallest max_elements that runs, found by bisection, is the output's element count:
 * one less is refused with INFERD_ETOOLARGE. */
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
    /* runs at a cap below the panels alone: 1024 elements (the output's count), 16 KiB */
    int rc = try_cap(&b, M * HW * HW, &err);
    CHECK(rc == 0);
    /* bisect the smallest cap that runs */
    int64_t lo = 1, hi = M * HW * HW; /* lo refused, hi runs */
    CHECK(try_cap(&b, lo, &err) == INFERD_ETOOLARGE);
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
    CHECK(hi == M * HW * HW && strstr(err.msg, "over the cap") != NULL);
    printf("runs from max_elements %lld (%lld bytes of cap); the panels hold %zu bytes\n", (long long)hi,
           (long long)hi * 16, (size_t)M * C * sizeof(float));
    buf_free(&b);
    return check_finish();
}
