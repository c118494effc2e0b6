/* conv_wino.c — Winograd F(4x4, 3x3) and F(2x2, 3x3) (see conv_wino.h): weight transforms and packing, the
 * scalar reference transforms, the run-time choice of transform kernels and of the shapes
 * that take this path, and the per-image driver that splits the work over the pool. */
#include <stdlib.h>
#include <string.h>

#include "onnx/conv_wino.h"
#include "onnx/onnx_int.h"

void ox_wino_geom(struct ox_wino *g, int64_t c, int64_t m, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t oh,
                  int64_t ow)
{
    ox_wino_geom_r(g, 4, c, m, h, w, pt, pl, oh, ow);
}

void ox_wino_geom_r(struct ox_wino *g, int r, int64_t c, int64_t m, int64_t h, int64_t w, int64_t pt, int64_t pl,
                    int64_t oh, int64_t ow)
{
    g->r = r;
    g->np = (r + 2) * (r + 2);
    g->c = c;
    g->m = m;
    g->h = h;
    g->w = w;
    g->pt = pt;
    g->pl = pl;
    g->oh = oh;
    g->ow = ow;
    g->th = (oh + r - 1) / r;
    g->tw = (ow + r - 1) / r;
    g->nt = g->th * g->tw;
    g->ldt = g->nt;
    g->ys = oh * ow;
    g->pf = 0;
}

/* G (6x3) of F(4x4, 3x3) on the points 0, 1, -1, 2, -2 (and infinity) */
static const double wino_g[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

/* u (n x n) = G g G^T for the n x 3 matrix G and a 3x3 kernel g, in double */
static void wino_ggt(const double (*G)[3], int n, const float *g, float *u)
{
    double t[6][3]; /* G g */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
    for (int i = 0; i < n; i++) /* (G g) G^T */
        for (int j = 0; j < n; j++)
            u[i * n + j] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

void ox_wino_kernel(const float *g, float *u)
{
    wino_ggt(wino_g, 6, g, u);
}

int64_t ox_wino_pack_size(int64_t m, int64_t c)
{
    return OX_WINO_NP * ox_conv_pack_size(m, c);
}

/* G (4x3) of F(2x2, 3x3) on the points 0, 1, -1 (and infinity) */
static const double wino2_g[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

void ox_wino2_kernel(const float *g, float *u)
{
    wino_ggt(wino2_g, 4, g, u);
}

int64_t ox_wino2_pack_size(int64_t m, int64_t c)
{
    return OX_WINO2_NP * ox_conv_pack_size(m, c);
}

/* the np transformed kernels of W into np matrices in ox_conv_pack's layout */
static void pack_np(const float *w, int64_t m, int64_t c, int np, void (*kern)(const float *, float *), float *u)
{
    int64_t per = ox_conv_pack_size(m, c);
    memset(u, 0, (size_t)(np * per) * sizeof(float));
    float k[OX_WINO_NP];
    for (int64_t mi = 0; mi < m; mi++)
        for (int64_t ci = 0; ci < c; ci++) {
            kern(w + (mi * c + ci) * 9, k);
            /* ox_conv_pack's layout: panel mi / MR, K-major inside, row mi % MR */
            float *dst = u + mi / OX_CV_MR * c * OX_CV_MR + ci * OX_CV_MR + mi % OX_CV_MR;
            for (int xi = 0; xi < np; xi++)
                dst[xi * per] = k[xi];
        }
}

void ox_wino_pack(const float *w, int64_t m, int64_t c, float *u)
{
    pack_np(w, m, c, OX_WINO_NP, ox_wino_kernel, u);
}

void ox_wino2_pack(const float *w, int64_t m, int64_t c, float *u)
{
    pack_np(w, m, c, OX_WINO2_NP, ox_wino2_kernel, u);
}

/* r[k * rs] = (B^T d)[k], d[i * ds], i < 6: B^T =
 *   [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0  4 -4 -1 1 0; 0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0 4 0 -5 0 1] */
static void bt6(const float *d, int ds, float *r, int rs)
{
    float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    r[0] = 4 * d0 - 5 * d2 + d4;
    r[rs] = -4 * d1 - 4 * d2 + d3 + d4;
    r[2 * rs] = 4 * d1 - 4 * d2 - d3 + d4;
    r[3 * rs] = -2 * d1 - d2 + 2 * d3 + d4;
    r[4 * rs] = 2 * d1 - d2 - 2 * d3 + d4;
    r[5 * rs] = 4 * d1 - 5 * d3 + d5;
}

/* r[k * rs] = (A^T q)[k], q[i * qs], i < 6: A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
static void at6(const float *q, int qs, float *r, int rs)
{
    float q0 = q[0], q1 = q[qs], q2 = q[2 * qs], q3 = q[3 * qs], q4 = q[4 * qs], q5 = q[5 * qs];
    r[0] = q0 + q1 + q2 + q3 + q4;
    r[rs] = q1 - q2 + 2 * q3 - 2 * q4;
    r[2 * rs] = q1 + q2 + 4 * q3 + 4 * q4;
    r[3 * rs] = q1 - q2 + 8 * q3 - 8 * q4 + q5;
}

void ox_wino_input_ref(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v)
{
    for (int64_t ci = c0; ci < c1; ci++)
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                float d[36], t[36], r[36];
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++) {
                        int64_t iy = 4 * ty - g->pt + i, ix = 4 * tx - g->pl + j;
                        d[i * 6 + j] = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w ? x[(ci * g->h + iy) * g->w + ix] : 0;
                    }
                for (int j = 0; j < 6; j++) /* B^T d, column by column */
                    bt6(d + j, 6, t + j, 6);
                for (int i = 0; i < 6; i++) /* (B^T d) B, row by row */
                    bt6(t + i * 6, 1, r + i * 6, 1);
                for (int xi = 0; xi < 36; xi++)
                    v[(xi * g->c + ci) * g->ldt + ty * g->tw + tx] = r[xi];
            }
}

void ox_wino_output_ref(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e, int64_t m0,
                        int64_t m1, float *y)
{
    for (int64_t mi = m0; mi < m1; mi++) {
        float b = bias ? bias[mi] : 0.0f;
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx = 0; tx < g->tw; tx++) {
                float q[36], t[24], r[16];
                for (int xi = 0; xi < 36; xi++)
                    q[xi] = p[(xi * g->m + mi) * g->ldt + ty * g->tw + tx];
                for (int j = 0; j < 6; j++) /* A^T q: 4 x 6 */
                    at6(q + j, 6, t + j, 6);
                for (int i = 0; i < 4; i++) /* (A^T q) A: 4 x 4 */
                    at6(t + i * 6, 1, r + i * 4, 1);
                for (int i = 0; i < 4 && 4 * ty + i < g->oh; i++)
                    for (int j = 0; j < 4 && 4 * tx + j < g->ow; j++)
                    {
                        int64_t o = mi * g->ys + (4 * ty + i) * g->ow + 4 * tx + j;
                        y[o] = ox_act_apply(e, r[i * 4 + j] + b + (z ? z[o] : 0.0f));
                    }
            }
    }
}

/* F(2x2, 3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
 * Plain C over runs of up to W2_RUN tiles of a tile row, written so the compiler vectorises
 * the loops over a run's columns: the input's 4 rows are copied zero-padded, B^T combines
 * them column by column, then B each tile's 4 columns; the output combines P's 16 rows with
 * A^T, then A, into the 2 output rows. */
#define W2_RUN 64

void ox_wino2_input(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v)
{
    const int64_t cs = g->c * g->ldt; /* floats between two positions of V */
    float d[4][2 * W2_RUN + 2], t[4][2 * W2_RUN + 2];
    for (int64_t ci = c0; ci < c1; ci++) {
        if (g->pf && ci + 1 < c1) {
            ox_wino_pf_lines(x + (ci + 1) * g->h * g->w, g->h * g->w, 0);
            ox_wino_pf_positions(g, v + (ci + 1) * g->ldt, cs, 1);
        }
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += W2_RUN) {
                const int64_t n = g->tw - tx0 < W2_RUN ? g->tw - tx0 : W2_RUN, cols = 2 * n + 2;
                const int64_t col0 = 2 * tx0 - g->pl; /* input column of d[.][0] */
                int64_t j0 = col0 < 0 ? -col0 : 0, j1 = g->w - col0 < cols ? g->w - col0 : cols;
                j1 = j1 < j0 ? j0 : j1;
                for (int i = 0; i < 4; i++) {
                    int64_t iy = 2 * ty - g->pt + i;
                    if (iy < 0 || iy >= g->h || j1 == j0) {
                        memset(d[i], 0, (size_t)cols * sizeof(float));
                        continue;
                    }
                    const float *xr = x + (ci * g->h + iy) * g->w + col0;
                    for (int64_t j = 0; j < j0; j++)
                        d[i][j] = 0.0f;
                    for (int64_t j = j0; j < j1; j++)
                        d[i][j] = xr[j];
                    for (int64_t j = j1; j < cols; j++)
                        d[i][j] = 0.0f;
                }
                for (int64_t j = 0; j < cols; j++) { /* B^T d */
                    t[0][j] = d[0][j] - d[2][j];
                    t[1][j] = d[1][j] + d[2][j];
                    t[2][j] = d[2][j] - d[1][j];
                    t[3][j] = d[1][j] - d[3][j];
                }
                float *vp = v + ci * g->ldt + ty * g->tw + tx0;
                for (int i = 0; i < 4; i++) { /* (B^T d) B */
                    const float *r = t[i];
                    float *v0 = vp + 4 * i * cs, *v1 = v0 + cs, *v2 = v1 + cs, *v3 = v2 + cs;
                    for (int64_t k = 0; k < n; k++) {
                        v0[k] = r[2 * k] - r[2 * k + 2];
                        v1[k] = r[2 * k + 1] + r[2 * k + 2];
                        v2[k] = r[2 * k + 2] - r[2 * k + 1];
                        v3[k] = r[2 * k + 1] - r[2 * k + 3];
                    }
                }
            }
    }
}

void ox_wino2_output(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e,
                     int64_t m0, int64_t m1, float *y)
{
    const int64_t ms = g->m * g->ldt; /* floats between two positions of P */
    float t[2][4][W2_RUN], o[2 * W2_RUN];
    for (int64_t mi = m0; mi < m1; mi++) {
        float b = bias ? bias[mi] : 0.0f;
        if (g->pf && mi + 1 < m1) {
            ox_wino_pf_positions(g, p + (mi + 1) * g->ldt, ms, 0);
            ox_wino_pf_lines(y + (mi + 1) * g->ys, g->oh * g->ow, 1);
        }
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += W2_RUN) {
                const int64_t n = g->tw - tx0 < W2_RUN ? g->tw - tx0 : W2_RUN;
                const float *pp = p + mi * g->ldt + ty * g->tw + tx0;
                for (int j = 0; j < 4; j++) { /* A^T q */
                    const float *q0 = pp + j * ms, *q1 = q0 + 4 * ms, *q2 = q1 + 4 * ms, *q3 = q2 + 4 * ms;
                    for (int64_t k = 0; k < n; k++) {
                        t[0][j][k] = q0[k] + q1[k] + q2[k];
                        t[1][j][k] = q1[k] - q2[k] - q3[k];
                    }
                }
                const int64_t ox0 = 2 * tx0, cols = g->ow - ox0 < 2 * n ? g->ow - ox0 : 2 * n;
                for (int i = 0; i < 2 && 2 * ty + i < g->oh; i++) { /* (A^T q) A, output row 2ty + i */
                    for (int64_t k = 0; k < n; k++) {
                        o[2 * k] = t[i][0][k] + t[i][1][k] + t[i][2][k] + b;
                        o[2 * k + 1] = t[i][1][k] - t[i][2][k] - t[i][3][k] + b;
                    }
                    int64_t at = mi * g->ys + (2 * ty + i) * g->ow + ox0;
                    if (z)
                        for (int64_t k = 0; k < cols; k++)
                            o[k] += z[at + k];
                    for (int64_t k = 0; k < cols; k++)
                        y[at + k] = ox_act_apply(e, o[k]);
                }
            }
    }
}

void ox_wino_input_run(enum ox_isa isa, const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v)
{
    if (g->r == 2)
        ox_wino2_input(g, x, c0, c1, v);
    else
    if (isa == OX_ISA_AVX512)
        ox_wino_input_avx512(g, x, c0, c1, v);
    else if (isa == OX_ISA_AVX2)
        ox_wino_input_avx2(g, x, c0, c1, v);
    else
        ox_wino_input_ref(g, x, c0, c1, v);
}

void ox_wino_output_run(enum ox_isa isa, const struct ox_wino *g, const float *p, const float *bias,
                        const float *z, const struct ox_epi *e, int64_t m0, int64_t m1, float *y)
{
    if (g->r == 2)
        ox_wino2_output(g, p, bias, z, e, m0, m1, y);
    else
    if (isa == OX_ISA_AVX512)
        ox_wino_output_avx512(g, p, bias, z, e, m0, m1, y);
    else if (isa == OX_ISA_AVX2)
        ox_wino_output_avx2(g, p, bias, z, e, m0, m1, y);
    else
        ox_wino_output_ref(g, p, bias, z, e, m0, m1, y);
}

int64_t ox_wino_scratch(const struct ox_wino *g)
{
    return g->np * (g->c + g->m) * g->nt;
}

/* INFERD_ONNX_WINOGRAD: 0 off, 1 F(4x4,3x3) on every eligible shape, else the rule (-1).
 * INFERD_ONNX_WINO2: 0 the rule without F(2x2,3x3), 1 F(2x2,3x3) on every eligible shape
 * (both for measuring; INFERD_ONNX_WINOGRAD=0 still turns every Winograd off), else the rule. */
static struct ox_switch wino_sw = OX_SWITCH("INFERD_ONNX_WINOGRAD", -1);
static struct ox_switch wino2_sw = OX_SWITCH("INFERD_ONNX_WINO2", -1);

int ox_wino_pick(enum ox_isa isa, int64_t c, int64_t m, int64_t oh, int64_t ow)
{
    int wino_mode = ox_switch(&wino_sw);
    if (wino_mode == 0 || c < 8 || m < 8 || oh < 4 || ow < 4)
        return 0;
    int wino2_mode = ox_switch(&wino2_sw);
    if (wino2_mode == 1)
        return 2;
    if (wino_mode == 1)
        return 4;
    (void)isa; /* measured with AVX-512; the AVX2 transforms have the same shape of cost */
    /* the measured rule (docs/onnx.md, 1 thread, CPU time per node, ResNet-18/50 and YOLO):
     * 0.45-0.6x of im2col + GEMM at 64-128 channels on 28x28-56x56 maps, 0.7x at 256 on
     * 14x14 (16 tiles), 0.7-0.85x at 32 channels on 20x20-40x40; a loss at 16 channels
     * (80x80) and on 7x7 maps (4 tiles of 16 outputs for 49: 1.03-1.09x at 512 channels) */
    int64_t tiles = (oh + 3) / 4 * ((ow + 3) / 4);
    if (c >= 32 && m >= 32 && tiles >= 16)
        return 4;
    /* F(2x2,3x3) where F(4x4,3x3) has too few tiles: 0.83x of im2col + GEMM on ResNet-50's
     * 512-channel 7x7 maps (16 tiles, 1 thread, CPU time per node: 2.2 vs 2.65 ms; U 16.8 MB
     * where F(4x4,3x3)'s 37.7 MB took 6-7 ms); on 14x14 at 256 it took 1.07x F(4x4,3x3)'s time.
     * Measured on 7x7 only: the other maps it takes (4x4 to 12x12 at >= 512 channels) have as
     * many or more 2x2 tiles per weight read, or are a batch run side by side (ox_wino_pick_batch) */
    if (wino2_mode != 0 && c >= OX_WINO2_MINC && m >= OX_WINO2_MINC)
        return 2;
    return 0;
}

/* ---- the driver: one image, or a batch's small maps side by side (ox_wino_conv_batch) ---- */

int64_t ox_wino_batch_imgs(const struct ox_wino *g, int64_t nb)
{
    if (nb <= 1 || g->nt >= OX_WINO_BATCH_MAXT)
        return 1;
    int64_t k = (OX_WINO_BATCH_COLS + g->nt - 1) / g->nt;
    return k < nb ? k : nb;
}

int ox_wino_pick_batch(enum ox_isa isa, int64_t c, int64_t m, int64_t oh, int64_t ow, int64_t nb)
{
    struct ox_wino g;
    ox_wino_geom(&g, c, m, oh, ow, 0, 0, oh, ow);
    int64_t k = ox_wino_batch_imgs(&g, nb);
    if (k == 1)
        return ox_wino_pick(isa, c, m, oh, ow);
    if (ox_switch(&wino2_sw) == 1)
        return ox_wino_pick(isa, c, m, oh, ow);
    /* the rule on the columns of a batched GEMM: 7x7 at 8 images is 32 columns of 4x4 tiles
     * (49 of 64 outputs used), where im2col + GEMM took 1.9-2.4x its time (ResNet-50 at
     * batch 8, 1 thread, CPU time per node); where that loses (7x7 at 2-3 images), F(2x2,3x3)
     * image by image if the rule takes it for one image (ResNet-50 at batch 3: 2.0 ms an image
     * against the batched im2col + GEMM's 2.5) */
    if (oh >= 4 && ow >= 4 && ox_wino_pick(isa, c, m, 4 * g.th * k, 4 * g.tw) == 4)
        return 4;
    return ox_wino_pick(isa, c, m, oh, ow) == 2 ? 2 : 0;
}

struct wino_job {
    struct ox_wino g; /* ldt = nb * nt */
    const float *x, *u, *bias, *z;
    const struct ox_epi *e;
    float *v, *p, *y;
    enum ox_isa isa;
    int64_t panels, colw, blocks, per; /* weight panels, columns per block, blocks, floats per U_xi */
    int64_t xsz, ysz;                  /* floats per image of X and of Y (and Z) */
};

/* items: image-major channels of X (c) or of Y (m); each part's range cut at image ends */
static void wino_in_part(void *arg, int64_t lo, int64_t hi)
{
    const struct wino_job *j = arg;
    const int64_t ch = j->g.c;
    for (int64_t i = lo; i < hi;) {
        int64_t b = i / ch, c0 = i % ch, c1 = ch - c0 < hi - i ? ch : c0 + (hi - i);
        ox_wino_input_run(j->isa, &j->g, j->x + b * j->xsz, c0, c1, j->v + b * j->g.nt);
        i += c1 - c0;
    }
}

static void wino_out_part(void *arg, int64_t lo, int64_t hi)
{
    const struct wino_job *j = arg;
    const int64_t ch = j->g.m;
    for (int64_t i = lo; i < hi;) {
        int64_t b = i / ch, m0 = i % ch, m1 = ch - m0 < hi - i ? ch : m0 + (hi - i);
        ox_wino_output_run(j->isa, &j->g, j->p + b * j->g.nt, j->bias, j->z ? j->z + b * j->ysz : NULL, j->e, m0, m1,
                           j->y + b * j->ysz);
        i += m1 - m0;
    }
}

/* item = (xi * blocks + column block) * panels + panel: a thread's contiguous range walks
 * the panels of one position over one block of V's columns, which stays in cache */
static void wino_gemm_part(void *arg, int64_t lo, int64_t hi)
{
    const struct wino_job *j = arg;
    const struct ox_wino *g = &j->g;
    for (int64_t i = lo; i < hi;) {
        int64_t p0 = i % j->panels, rest = i / j->panels, blk = rest % j->blocks, xi = rest / j->blocks;
        int64_t p1 = j->panels - p0 < hi - i ? j->panels : p0 + (hi - i);
        int64_t n0 = blk * j->colw, n1 = n0 + j->colw < g->ldt ? n0 + j->colw : g->ldt;
        struct ox_conv_gemm gm = {.wp = j->u + xi * j->per,
                                  .b = j->v + xi * g->c * g->ldt,
                                  .c = j->p + xi * g->m * g->ldt,
                                  .m = g->m,
                                  .k = g->c,
                                  .n = g->ldt,
                                  .ldb = g->ldt,
                                  .ldc = g->ldt,
                                  .epi = {OX_ACT_NONE, 0, 0}};
        ox_conv_gemm_run(j->isa, &gm, p0, p1, n0, n1);
        i += p1 - p0;
    }
}

void ox_wino_conv_batch(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, int64_t nb, const float *x,
                        const float *u, const float *bias, const float *z, const struct ox_epi *e, float *scratch,
                        float *y)
{
    int64_t colw = isa == OX_ISA_AVX512 ? 32 : 16, cols = nb * g->nt;
    struct wino_job j = {.g = *g,
                         .x = x,
                         .u = u,
                         .bias = bias,
                         .z = z,
                         .e = e,
                         .v = scratch,
                         .p = scratch + g->np * g->c * cols,
                         .y = y,
                         .isa = isa,
                         .panels = (g->m + OX_CV_MR - 1) / OX_CV_MR,
                         .colw = colw,
                         .blocks = (cols + colw - 1) / colw,
                         .per = ox_conv_pack_size(g->m, g->c),
                         .xsz = g->c * g->h * g->w,
                         .ysz = g->m * g->oh * g->ow};
    j.g.ldt = cols;
    /* on several threads the transforms split channels and the GEMMs positions, so half the V
     * lines an input transform writes and the P lines an output transform reads are in the
     * other core's cache, as are the X and Y lines the 1x1 convs around it wrote or read
     * (~570 ns a line between Zen 5's two vCPUs): the transforms prefetch a channel ahead */
    j.g.pf = c && c->nth > 1;
    /* per channel: 36 * T transformed values at ~4 vector ops each */
    ox_parallel_bal(c, nb * g->c, 1 + (1 << 14) / (g->np * g->nt + 1), wino_in_part, &j);
    int64_t items = g->np * j.blocks * j.panels;
    ox_parallel_bal(c, items, 1 + (1 << 18) / (colw * OX_CV_MR * g->c + 1), wino_gemm_part, &j);
    ox_parallel_bal(c, nb * g->m, 1 + (1 << 14) / (g->np * g->nt + 1), wino_out_part, &j);
}



/* ---- bands of tile rows: input transform, GEMMs and output transform per band ---- */

struct band_job {
    struct ox_wino g;
    const float *x, *u, *bias, *z;
    const struct ox_epi *e;
    float *s, *y;
    enum ox_isa isa;
    int64_t nbands, rowsz, panels, per; /* bands, floats of V and P per tile row, weight panels, floats per U_xi */
};

/* tile rows [ty0, ty0 + nr) of the map through the three phases, V then P at v: a band of
 * the map with its own tile rows, top pad and output rows, Y's channel stride kept */
static void wino_band(const struct band_job *j, int64_t ty0, int64_t nr, float *v)
{
    const struct ox_wino *g = &j->g;
    struct ox_wino b = *g;
    b.th = nr;
    b.nt = b.ldt = nr * g->tw;
    b.pt = g->pt - g->r * ty0;
    b.oh = g->oh - g->r * ty0 < g->r * nr ? g->oh - g->r * ty0 : g->r * nr;
    float *p = v + g->np * g->c * b.nt;
    const int64_t yo = g->r * ty0 * g->ow; /* Y's first row of the band */
    ox_wino_input_run(j->isa, &b, j->x, 0, g->c, v);
    for (int64_t xi = 0; xi < g->np; xi++) {
        struct ox_conv_gemm gm = {.wp = j->u + xi * j->per,
                                  .b = v + xi * g->c * b.nt,
                                  .c = p + xi * g->m * b.nt,
                                  .m = g->m,
                                  .k = g->c,
                                  .n = b.nt,
                                  .ldb = b.nt,
                                  .ldc = b.nt,
                                  .epi = {OX_ACT_NONE, 0, 0}};
        ox_conv_gemm_run(j->isa, &gm, 0, j->panels, 0, b.nt);
    }
    ox_wino_output_run(j->isa, &b, p, j->bias, j->z ? j->z + yo : NULL, j->e, 0, g->m, j->y + yo);
}

/* first tile row of band b of nb: the bands' sizes differ by one row at most */
static int64_t band_row(const struct band_job *j, int64_t b)
{
    return b * j->g.th / j->nbands;
}

/* bands [lo, hi), V and P in the scratch of band lo's rows on: the part's rows, which no
 * other part's range reaches. The bands are cut from the map alone, not from the parts, so
 * a result does not depend on the threads (each tile's GEMM columns are the same) */
static void wino_band_part(void *arg, int64_t lo, int64_t hi)
{
    const struct band_job *j = arg;
    float *v = j->s + band_row(j, lo) * j->rowsz;
    for (int64_t b = lo; b < hi; b++)
        wino_band(j, band_row(j, b), band_row(j, b + 1) - band_row(j, b), v);
}

void ox_wino_conv_bands(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, int64_t rows,
                        const float *x, const float *u, const float *bias, const float *z, const struct ox_epi *e,
                        float *scratch, float *y)
{
    struct band_job j = {.g = *g,
                         .x = x,
                         .u = u,
                         .bias = bias,
                         .z = z,
                         .e = e,
                         .s = scratch,
                         .y = y,
                         .isa = isa,
                         .nbands = rows < 1 ? g->th : (g->th + rows - 1) / rows,
                         .rowsz = g->np * (g->c + g->m) * g->tw,
                         .panels = (g->m + OX_CV_MR - 1) / OX_CV_MR,
                         .per = ox_conv_pack_size(g->m, g->c)};
    j.g.ldt = g->nt;
    ox_parallel(c, j.nbands, 1, wino_band_part, &j);
}

/* INFERD_ONNX_WINO_BAND: 0 every map whole, 1 bands on every map of two tile rows or more
 * (for measuring), else the rule below */
static struct ox_switch band_sw = OX_SWITCH("INFERD_ONNX_WINO_BAND", -1);
/* INFERD_ONNX_WINO_HALF: 0 no halves (below; the whole map where bands are not taken), else the rule */
static struct ox_switch half_sw = OX_SWITCH("INFERD_ONNX_WINO_HALF", -1);

int64_t ox_wino_band_rows(const struct ox_wino *g)
{
    int mode = ox_switch(&band_sw);
    if (mode == 0 || g->th < 2)
        return 0;
    /* measured (1 thread, CPU time, F(4x4,3x3) at 64 channels): the whole map and bands tie
     * on 56x56 (V + P 3.6 MB; the transforms are bound by their arithmetic there, not by
     * L2), bands take 0.88x on 80x80 (7.4 MB) and 0.77x on 112x112 (14.4 MB); bands of
     * 1-2 MB: 1.05-1.15x of bands within 1 MB */
    int64_t row = (int64_t)sizeof(float) * g->np * (g->c + g->m) * g->tw; /* bytes of V and P per tile row */
    int64_t fit = OX_WINO_BAND_BYTES / row; /* tile rows whose V and P fit a band */
    fit = fit < 1 ? 1 : fit;
    if (mode != 1 && row * g->th <= OX_WINO_BAND_MIN) {
        /* halves where U stays in L2 (walked once per half, position by position) and each
         * half keeps GEMMs of 48+ columns: two threads then run the three phases on a half
         * each, V and P stay on the core that wrote them, one fork/join. Measured alone
         * (docs/onnx.md, wall, pinned): 56x56 at 64 channels 0.75x the whole map's time at 2
         * threads, 0.93-0.95x at 1; 40x40 at 32 0.6x at 2, even at 1; not taken: 28x28 at
         * 128 (U 2.4 MB: even at 2, 1.1x at 1), 20x20 at 32 (halves of 10-15 tiles: 1.25x at 1).
         * Where a half's V + P pass OX_WINO_BAND_BYTES, bands within it instead (56x56 at 64
         * channels: 1.8 MB a half, 4 bands of 3-4 tile rows): in the model at 2 threads its
         * three convs 0.91x of halves (ResNet-50, 6 of 6 rounds; ResNet-18's 0.95x), at 1
         * thread 1.08x (U read once a band); the same bands on any thread count, so the same
         * bits */
        int64_t ub = (int64_t)sizeof(float) * g->np * g->c * g->m;
        int64_t half = (g->th + 1) / 2;
        if (ox_switch(&half_sw) != 0 && ub <= OX_WINO_HALF_U && g->nt >= OX_WINO_HALF_MINT)
            return fit < half ? fit : half;
        return 0;
    }
    return fit < g->th ? fit : g->th;
}

void ox_wino_conv(const struct ox_ctx *c, enum ox_isa isa, const struct ox_wino *g, const float *x, const float *u, const float *bias,
                  const float *z, const struct ox_epi *e, float *scratch, float *y)
{
    int64_t rows = ox_wino_band_rows(g);
    if (rows > 0)
        ox_wino_conv_bands(c, isa, g, rows, x, u, bias, z, e, scratch, y);
    else
        ox_wino_conv_batch(c, isa, g, 1, x, u, bias, z, e, scratch, y);
}
