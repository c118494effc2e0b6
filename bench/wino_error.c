/* wino_error.c — how far Winograd F(4x4, 3x3) (src/onnx/conv_wino.h) lands from the exact
 * conv on a real model's weights, next to the im2col + GEMM path's own FP32 error: for every
 * 3x3 stride-1 undilated ungrouped Conv of the model, one image of H x W (pad 1) of
 * post-ReLU-like inputs (half zeros, the rest uniform in (0, 1]) is convolved three ways —
 * in double (the truth), im2col + the packed GEMM, Winograd — and the error of the FP32 ones
 * is printed relative to the layer's largest output (max |err| / max |exact|) and as
 * ||err||_2 / ||exact||_2. Used for the accuracy note in docs/onnx.md.
 *
 *   wino_error <model.onnx> [H=28] [W=H]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/conv_wino.h"
#include "onnx/onnx_int.h"

static uint32_t seed = 5;

static float rnd01(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)((seed >> 8) + 1) / 16777216.0f;
}

static const struct ox_tensor *init_of(const struct ox_model *m, const char *name)
{
    for (int i = 0; i < m->n_inits; i++)
        if (strcmp(m->init_names[i], name) == 0)
            return &m->inits[i];
    return NULL;
}

static int all_ones(const struct ox_node *n, const char *attr)
{
    const struct ox_attr *a = ox_attr_find(n, attr);
    if (!a)
        return 1;
    for (int i = 0; i < a->n_ints; i++)
        if (a->ints[i] != 1)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: wino_error <model.onnx> [H=28] [W=H]\n");
        return 2;
    }
    int64_t h = argc > 2 ? atoll(argv[2]) : 28, w = argc > 3 ? atoll(argv[3]) : h;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = size > 0 ? malloc((size_t)size) : NULL;
    size_t got = data ? fread(data, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!data || got != (size_t)size) {
        fprintf(stderr, "%s: read failed\n", argv[1]);
        free(data);
        return 1;
    }
    struct ox_model *m = NULL;
    struct inferd_err err = {0};
    if (ox_decode_model(data, (size_t)size, &m, &err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err.msg);
        return 1;
    }
    enum ox_isa isa = ox_conv_isa();
    double worst_w = 0, worst_d = 0;
    int layers = 0;
    printf("%-40s %5s %5s  %-11s %-11s  %-11s %-11s\n", "conv", "C", "M", "wino max", "wino l2", "im2col max",
           "im2col l2");
    for (int ni = 0; ni < m->n_nodes; ni++) {
        const struct ox_node *n = &m->nodes[ni];
        if (strcmp(n->op_type, "Conv") != 0 || n->n_in < 2)
            continue;
        const struct ox_tensor *wt = init_of(m, n->in_names[1]);
        const struct ox_tensor *bt = n->n_in > 2 ? init_of(m, n->in_names[2]) : NULL;
        if (!wt || wt->dt != INFERD_FP32 || wt->rank != 4 || wt->dims[2] != 3 || wt->dims[3] != 3 ||
            ox_attr_int(n, "group", 1) != 1 || !all_ones(n, "strides") || !all_ones(n, "dilations"))
            continue;
        int64_t mc = wt->dims[0], c = wt->dims[1], oh = h, ow = w, kk = c * 9, ohw = oh * ow;
        const float *wv = wt->data, *bias = bt ? bt->data : NULL;
        float *x = malloc(sizeof(float) * (size_t)(c * h * w));
        for (int64_t i = 0; i < c * h * w; i++)
            x[i] = rnd01() < 0.5f ? 0.0f : rnd01();
        struct ox_wino g;
        ox_wino_geom(&g, c, mc, h, w, 1, 1, oh, ow);
        float *u = malloc(sizeof(float) * (size_t)ox_wino_pack_size(mc, c));
        float *s = malloc(sizeof(float) * (size_t)ox_wino_scratch(&g));
        float *yw = malloc(sizeof(float) * (size_t)(mc * ohw)), *yd = malloc(sizeof(float) * (size_t)(mc * ohw));
        float *wp = malloc(sizeof(float) * (size_t)ox_conv_pack_size(mc, kk));
        float *cols = malloc(sizeof(float) * (size_t)(kk * ohw));
        ox_wino_pack(wv, mc, c, u);
        struct ox_epi none = {OX_ACT_NONE, 0, 0};
        ox_wino_conv(NULL, isa, &g, x, u, bias, NULL, &none, s, yw);
        for (int64_t ci = 0; ci < c; ci++) /* im2col, pad 1 */
            for (int k = 0; k < 9; k++)
                for (int64_t oy = 0; oy < oh; oy++)
                    for (int64_t ox = 0; ox < ow; ox++) {
                        int64_t iy = oy + k / 3 - 1, ix = ox + k % 3 - 1;
                        cols[(ci * 9 + k) * ohw + oy * ow + ox] =
                            iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(ci * h + iy) * w + ix] : 0.0f;
                    }
        ox_conv_pack(wv, mc, kk, wp);
        struct ox_conv_gemm gm = {wp, cols, yd, bias, mc, kk, ohw, ohw, ohw, none, NULL, 0, 0, 0};
        ox_conv_gemm_run(isa, &gm, 0, (mc + OX_CV_MR - 1) / OX_CV_MR, 0, ohw);
        double emax = 0, ew = 0, ew2 = 0, ed = 0, ed2 = 0, e2 = 0;
        for (int64_t mi = 0; mi < mc; mi++)
            for (int64_t p = 0; p < ohw; p++) {
                double acc = bias ? bias[mi] : 0;
                for (int64_t k = 0; k < kk; k++)
                    acc += (double)wv[mi * kk + k] * cols[k * ohw + p];
                double a = yw[mi * ohw + p] - acc, b = yd[mi * ohw + p] - acc;
                emax = fmax(emax, fabs(acc));
                ew = fmax(ew, fabs(a));
                ed = fmax(ed, fabs(b));
                ew2 += a * a;
                ed2 += b * b;
                e2 += acc * acc;
            }
        printf("%-40.40s %5lld %5lld  %-11.3g %-11.3g  %-11.3g %-11.3g\n", n->name, (long long)c, (long long)mc,
               ew / emax, sqrt(ew2 / e2), ed / emax, sqrt(ed2 / e2));
        worst_w = fmax(worst_w, ew / emax);
        worst_d = fmax(worst_d, ed / emax);
        layers++;
        free(x);
        free(u);
        free(s);
        free(yw);
        free(yd);
        free(wp);
        free(cols);
    }
    printf("%d layers, worst max|err|/max|exact|: winograd %.3g, im2col %.3g\n", layers, worst_w, worst_d);
    ox_model_free(m);
    free(data);
    return 0;
}
