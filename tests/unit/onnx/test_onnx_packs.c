/* test_onnx_packs.c — a model's plans share its repacked weights (packs.c): one plan per
 * batch size, each packing its steps' constant operands, but one copy of each layout held
 * (inferd_onnx_packed_bytes).
 *   - a conv net whose packed layouts do not depend on the batch (1x1 and 5x5 convs, a Gemm):
 *     after runs at batch 1..20 (20 plans: the cache of 16 evicts four, releasing their
 *     references) the model holds exactly what it held after batch 1;
 *   - a 3x3 conv that takes Winograd at some batches and the GEMM at others holds at most one
 *     copy per layout (never more than the two layouts' sum);
 *   - every run's output equals, bit for bit, that of a fresh model that ran only that batch
 *     (shared buffers are read-only and not mixed up between plans), at 1 and 2 threads;
 *   - freeing the model frees every copy (ASan / LeakSanitizer in CI).
 * ctest runs it again with the AVX2 kernels and with the scalar references. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/tpool.h"
#include "check.h"
#include "graph_build.h"
#include "inferd/onnx.h"
#include "onnx/pb.h"

/* x (N, c, hw, hw) -> Conv k x k (c -> m, pad k/2) -> Relu -> Conv 1x1 (m -> 8) ->
 * GlobalAveragePool -> Flatten -> Gemm (8 -> 10) */
static void encode(int c, int m, int hw, int k, struct buf *out)
{
    struct buf g;
    buf_init(&g, 1 << 20);
    const int64_t p = k / 2;
    gb_node(&g, &(struct gb_node){"Conv", "x,w1,b1", "a", {{.name = "pads", .type = 7, .ints = {p, p, p, p}, .n_ints = 4}}});
    gb_node(&g, &(struct gb_node){"Relu", "a", "ar", {{0}}});
    gb_node(&g, &(struct gb_node){"Conv", "ar,w2", "b", {{0}}});
    gb_node(&g, &(struct gb_node){"GlobalAveragePool", "b", "gp", {{0}}});
    gb_node(&g, &(struct gb_node){"Flatten", "gp", "f", {{0}}});
    gb_node(&g, &(struct gb_node){"Gemm", "f,w3,b3", "out", {{.name = "transB", .type = 2, .i = 1}}});
    pbw_str(&g, 2, "packs");
    gb_init_fill(&g, "w1", 4, (const int64_t[]){m, c, k, k}, 0.2f, 0.1f);
    gb_init_fill(&g, "b1", 1, (const int64_t[]){m}, 0.3f, 0.5f);
    gb_init_fill(&g, "w2", 4, (const int64_t[]){8, m, 1, 1}, 0.3f, 0.9f);
    gb_init_fill(&g, "w3", 2, (const int64_t[]){10, 8}, 0.5f, 1.3f);
    gb_init_fill(&g, "b3", 1, (const int64_t[]){10}, 0.1f, 0.2f);
    pbw_value_info(&g, 11, "x", 1, 4, (const int64_t[]){-1, c, hw, hw});
    pbw_value_info(&g, 12, "out", 1, -1, NULL);
    gb_model(out, &g, 13);
}

/* runs m at batch nb on x; returns a malloc'd copy of the nb x 10 output or NULL */
static float *run(struct inferd_onnx_model *m, int nb, int c, int hw, const float *x)
{
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {nb, c, hw, hw}, .data = (void *)x,
                               .nbytes = (size_t)nb * c * hw * hw * sizeof(float)};
    struct inferd_tensor o;
    struct inferd_err err = {0};
    int rc = inferd_onnx_run(m, &in, 1, &o, 1, &err);
    if (rc < 0)
        fprintf(stderr, "batch %d: %s\n", nb, err.msg);
    CHECK(rc == 0);
    if (rc < 0)
        return NULL;
    CHECK(o.nbytes == (size_t)nb * 10 * sizeof(float));
    float *y = malloc(o.nbytes);
    memcpy(y, o.data, o.nbytes);
    return y;
}

static struct inferd_onnx_model *load(const struct buf *b, struct tpool *pool)
{
    struct inferd_onnx_model *m = NULL;
    struct inferd_err err = {0};
    int rc = inferd_onnx_load_buffer(b->data, b->len, &(struct inferd_onnx_options){.pool = pool}, &m, &err);
    if (rc < 0)
        fprintf(stderr, "load: %s\n", err.msg);
    CHECK(rc == 0);
    return m;
}

/* runs batches 1..max_nb (then 1 again) on one model; each against a fresh model's run;
 * returns the bytes held after batch 1 and, in *after, after all runs */
static size_t check(const char *what, int c, int m, int hw, int k, int max_nb, struct tpool *pool, size_t *after)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    encode(c, m, hw, k, &b);
    float *x = malloc((size_t)max_nb * c * hw * hw * sizeof *x);
    gb_fill(x, (int64_t)max_nb * c * hw * hw, 1.0f, 0.3f);
    struct inferd_onnx_model *shared = load(&b, pool);
    size_t first = 0;
    int bad = 0;
    CHECK(shared && inferd_onnx_packed_bytes(shared) == 0);
    for (int i = 0; shared && i <= max_nb; i++) {
        int nb = i == max_nb ? 1 : i + 1;
        float *y = run(shared, nb, c, hw, x);
        if (i == 0)
            first = inferd_onnx_packed_bytes(shared);
        struct inferd_onnx_model *fresh = load(&b, pool);
        float *want = fresh ? run(fresh, nb, c, hw, x) : NULL;
        bad += !y || !want || memcmp(y, want, (size_t)nb * 10 * sizeof(float)) != 0;
        free(y);
        free(want);
        inferd_onnx_free(fresh);
    }
    CHECK(bad == 0);
    *after = shared ? inferd_onnx_packed_bytes(shared) : 0;
    printf("%-44s %d thread(s): %zu bytes packed after batch 1, %zu after batches 1..%d (%d outputs off)\n", what,
           pool ? 2 : 1, first, *after, max_nb, bad);
    inferd_onnx_free(shared);
    free(x);
    buf_free(&b);
    return first;
}

int main(void)
{
    struct tpool *pool = tpool_new(2);
    CHECK(pool != NULL);
    for (int t = 0; t < 2; t++) {
        struct tpool *p = t ? pool : NULL;
        size_t after = 0;
        /* 5x5 conv + 1x1 conv + Gemm: one layout each at every batch */
        size_t first = check("5x5 conv, 1x1 conv, Gemm", 16, 32, 12, 5, 20, p, &after);
        CHECK(first > 0 && after == first);
        /* a 3x3 conv (Winograd by shape and batch) with the rest */
        first = check("3x3 conv 64 -> 64 on 14x14, 1x1 conv, Gemm", 64, 64, 14, 3, 8, p, &after);
        CHECK(first > 0);
        /* the 3x3 conv's two layouts (Winograd-transformed, GEMM panels) at most once each:
         * at most one more layout than batch 1 held (eight plans would hold ~8x without the
         * sharing) */
        size_t wino = (size_t)36 * 64 * 64 * sizeof(float), gemm = (size_t)9 * 64 * 64 * sizeof(float);
        CHECK(after <= first + (wino > gemm ? wino : gemm) + 4096);
    }
    tpool_free(pool);
    return check_finish();
}
