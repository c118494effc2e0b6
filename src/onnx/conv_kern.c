/* conv_kern.c — portable references of the conv kernels (see conv_kern.h), weight packing,
 * and the run-time choice between them and the AVX2 / AVX-512 versions in x86/. */
#include <string.h>

#include "base/cpu.h"
#include "base/vmath.h"
#include "onnx/conv_kern.h"

void ox_conv_pack(const float *w, int64_t m, int64_t k, float *out)
{
    int64_t panels = (m + OX_CV_MR - 1) / OX_CV_MR;
    for (int64_t p = 0; p < panels; p++) {
        float *dst = out + p * k * OX_CV_MR;
        for (int64_t kk = 0; kk < k; kk++)
            for (int r = 0; r < OX_CV_MR; r++) {
                int64_t row = p * OX_CV_MR + r;
                dst[kk * OX_CV_MR + r] = row < m ? w[row * k + kk] : 0.0f;
            }
    }
}

enum ox_isa ox_conv_isa(void)
{
    if (cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX2 | CPU_FMA)) /* the flags the x86 avx512 files are built with */
        return OX_ISA_AVX512;
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        return OX_ISA_AVX2;
    return OX_ISA_REF;
}

void ox_conv_gemm_ref(const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    for (int64_t p = p0; p < p1; p++) {
        const float *panel = g->wp + p * g->k * OX_CV_MR;
        for (int r = 0; r < OX_CV_MR && p * OX_CV_MR + r < g->m; r++) {
            int64_t row = p * OX_CV_MR + r;
            float bias = g->bias ? g->bias[row] : 0.0f;
            for (int64_t j = n0; j < n1; j++) {
                float s = 0.0f;
                for (int64_t kk = 0; kk < g->k; kk++)
                    s += panel[kk * OX_CV_MR + r] * g->b[kk * g->ldb + j];
                g->c[row * g->ldc + j] = ox_act_apply(&g->epi, s + bias);
            }
        }
    }
}

void ox_conv_gemm_run(enum ox_isa isa, const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    if (isa == OX_ISA_AVX512)
        ox_conv_gemm_avx512(g, p0, p1, n0, n1);
    else if (isa == OX_ISA_AVX2)
        ox_conv_gemm_avx2(g, p0, p1, n0, n1);
    else
        ox_conv_gemm_ref(g, p0, p1, n0, n1);
}

/* B[k][j] of im's im2col matrix (see conv_kern.h) */
static float im2col_at(const struct ox_conv_im2col *im, int64_t k, int64_t j)
{
    int64_t ci = k / (im->kh * im->kw), ky = k / im->kw % im->kh, kx = k % im->kw;
    int64_t iy = j / im->ow * im->sh - im->pt + ky * im->dh, ix = j % im->ow * im->sw - im->pl + kx * im->dw;
    return iy >= 0 && iy < im->h && ix >= 0 && ix < im->w ? im->x[(ci * im->h + iy) * im->w + ix] : 0.0f;
}

void ox_conv_gemm_im2col_ref(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t p0, int64_t p1,
                             int64_t n0, int64_t n1)
{
    for (int64_t p = p0; p < p1; p++) {
        const float *panel = g->wp + p * g->k * OX_CV_MR;
        for (int r = 0; r < OX_CV_MR && p * OX_CV_MR + r < g->m; r++) {
            int64_t row = p * OX_CV_MR + r;
            float bias = g->bias ? g->bias[row] : 0.0f;
            for (int64_t j = n0; j < n1; j++) {
                float s = 0.0f;
                for (int64_t kk = 0; kk < g->k; kk++)
                    s += panel[kk * OX_CV_MR + r] * im2col_at(im, kk, j);
                g->c[row * g->ldc + j] = ox_act_apply(&g->epi, s + bias);
            }
        }
    }
}

void ox_conv_gemm_im2col_run(enum ox_isa isa, const struct ox_conv_gemm *g, const struct ox_conv_im2col *im,
                             int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    if (isa == OX_ISA_AVX512)
        ox_conv_gemm_im2col_avx512(g, im, p0, p1, n0, n1);
    else if (isa == OX_ISA_AVX2)
        ox_conv_gemm_im2col_avx2(g, im, p0, p1, n0, n1);
    else
        ox_conv_gemm_im2col_ref(g, im, p0, p1, n0, n1);
}

void ox_dw_ref(const struct ox_dw *d, int64_t p0, int64_t p1)
{
    for (int64_t p = p0; p < p1; p++) {
        int64_t c = p % d->channels;
        const float *x = d->x + p * d->h * d->wd, *k = d->w + c * d->kh * d->kw;
        float *y = d->y + p * d->oh * d->ow;
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                float s = d->bias ? d->bias[c] : 0.0f;
                for (int64_t ky = 0; ky < d->kh; ky++) {
                    int64_t iy = oy * d->sh - d->pt + ky * d->dh;
                    if (iy < 0 || iy >= d->h)
                        continue;
                    for (int64_t kx = 0; kx < d->kw; kx++) {
                        int64_t ix = ox * d->sw - d->pl + kx * d->dw;
                        if (ix >= 0 && ix < d->wd)
                            s += x[iy * d->wd + ix] * k[ky * d->kw + kx];
                    }
                }
                y[oy * d->ow + ox] = ox_act_apply(&d->epi, s);
            }
    }
}

int ox_dw_simd_ok(const struct ox_dw *d)
{
    return d->dh == 1 && d->dw == 1 && d->kw <= 7 && d->kh <= 7 && (d->sw == 1 || d->sw == 2) &&
           (d->ow - 1) * d->sw + d->kw <= OX_DW_MAXW && d->pl < d->kw;
}

void ox_dw_run(enum ox_isa isa, const struct ox_dw *d, int64_t p0, int64_t p1)
{
    if (isa != OX_ISA_REF && !ox_dw_simd_ok(d))
        isa = OX_ISA_REF;
    if (isa == OX_ISA_AVX512)
        ox_dw_avx512(d, p0, p1);
    else if (isa == OX_ISA_AVX2)
        ox_dw_avx2(d, p0, p1);
    else
        ox_dw_ref(d, p0, p1);
}

int ox_dw_blk_lanes(enum ox_isa isa)
{
    return isa == OX_ISA_AVX512 ? 16 : isa == OX_ISA_AVX2 ? 8 : 0;
}

int ox_dw_blk_ok(enum ox_isa isa, const struct ox_dw *d)
{
    int64_t lanes = ox_dw_blk_lanes(isa), wp = (d->ow - 1) * d->sw + d->kw;
    return lanes && d->dh == 1 && d->dw == 1 && d->kh <= OX_DWB_MAXKH && d->kw <= OX_DWB_MAXKH &&
           d->ow <= OX_DWB_MAXOW && d->pl < d->kw && d->kh * wp * lanes <= OX_DWB_CAP;
}

int64_t ox_dw_blk_tiles(enum ox_isa isa, const struct ox_dw *d, int64_t batch)
{
    int64_t lanes = ox_dw_blk_lanes(isa), blocks = batch * ((d->channels + lanes - 1) / lanes);
    if (blocks >= 8 || !lanes)
        return 1;
    int64_t t = (8 + blocks - 1) / blocks;
    return t < d->oh ? t : d->oh;
}

int64_t ox_dw_blk_items(enum ox_isa isa, const struct ox_dw *d, int64_t batch)
{
    int64_t lanes = ox_dw_blk_lanes(isa);
    return batch * ((d->channels + lanes - 1) / lanes) * ox_dw_blk_tiles(isa, d, batch);
}

int ox_dw_blk_pick(enum ox_isa isa, const struct ox_dw *d)
{
    /* the plane kernel fills its vectors along a row and interleaves nothing: measured on
     * the MobileNet shapes (bench: c16..960, maps 7..112, 3x3 and 5x5) the blocked one is
     * 1.4-6x faster at stride 2 and on maps up to 4 vectors wide, the plane one ~15%
     * faster on wider rows at stride 1 (112 with AVX-512, 56+ with AVX2) */
    return ox_dw_blk_ok(isa, d) && (d->sw > 1 || d->ow <= 4 * ox_dw_blk_lanes(isa));
}

void ox_dw_blk_run(enum ox_isa isa, const struct ox_dw *d, int64_t tiles, int64_t q0, int64_t q1)
{
    if (isa == OX_ISA_AVX512)
        ox_dw_blk_avx512(d, tiles, q0, q1);
    else
        ox_dw_blk_avx2(d, tiles, q0, q1);
}

/* ---- Winograd F(2x2, 3x3) (see conv_kern.h) ---- */

void ox_wino_weights(const float *w, int64_t m, int64_t c, float *u)
{
    for (int64_t mi = 0; mi < m; mi++)
        for (int64_t ci = 0; ci < c; ci++) {
            const float *g = w + (mi * c + ci) * 9;
            float t[4][3]; /* G g: G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) { /* (G g) G^T */
                float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                              t[i][2]};
                for (int j = 0; j < 4; j++)
                    u[((int64_t)(i * 4 + j) * m + mi) * c + ci] = r[j];
            }
        }
}

void ox_wino_input(const float *x, int64_t c, int64_t h, int64_t w, int64_t pt, int64_t pl, int64_t oh, int64_t ow,
                   int64_t c0, int64_t c1, float *v)
{
    enum { CAP = OX_WINO_MAXT + 1 };
    int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, nt = th * tw;
    /* per row of tiles: the 4 input rows split into even (e) and odd (o) padded columns, so
     * tile t's patch row i is e[i][t], o[i][t], e[i][t+1], o[i][t+1]; then B^T down the
     * rows (a) and B across them, each step a loop over t on contiguous arrays */
    float e[4][CAP], o[4][CAP], ae[4][CAP], ao[4][CAP];
    for (int64_t ci = c0; ci < c1; ci++) {
        const float *xc = x + ci * h * w;
        for (int64_t ty = 0; ty < th; ty++) {
            for (int i = 0; i < 4; i++) {
                int64_t iy = 2 * ty - pt + i;
                const float *xr = xc + iy * w;
                int in_row = iy >= 0 && iy < h;
                float *restrict ei = e[i], *restrict oi = o[i];
                if (!in_row) {
                    memset(ei, 0, (size_t)(tw + 1) * sizeof(float));
                    memset(oi, 0, (size_t)(tw + 1) * sizeof(float));
                    continue;
                }
                /* t in [t0, t1): both columns 2t - pl and 2t + 1 - pl inside the row */
                int64_t t0 = (pl + 1) / 2, t1 = (w + pl - 1) / 2;
                t1 = t1 > tw + 1 ? tw + 1 : t1;
                t0 = t0 > t1 ? t1 : t0;
                for (int64_t t = 0; t < t0; t++) {
                    int64_t col = 2 * t - pl;
                    ei[t] = col >= 0 && col < w ? xr[col] : 0.0f;
                    oi[t] = col + 1 >= 0 && col + 1 < w ? xr[col + 1] : 0.0f;
                }
                const float *xp = xr - pl;
                for (int64_t t = t0; t < t1; t++) {
                    ei[t] = xp[2 * t];
                    oi[t] = xp[2 * t + 1];
                }
                for (int64_t t = t1; t <= tw; t++) {
                    int64_t col = 2 * t - pl;
                    ei[t] = col >= 0 && col < w ? xr[col] : 0.0f;
                    oi[t] = col + 1 >= 0 && col + 1 < w ? xr[col + 1] : 0.0f;
                }
            }
            for (int par = 0; par < 2; par++) { /* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
                const float *restrict d0 = par ? o[0] : e[0], *restrict d1 = par ? o[1] : e[1];
                const float *restrict d2 = par ? o[2] : e[2], *restrict d3 = par ? o[3] : e[3];
                float *restrict a0 = par ? ao[0] : ae[0], *restrict a1 = par ? ao[1] : ae[1];
                float *restrict a2 = par ? ao[2] : ae[2], *restrict a3 = par ? ao[3] : ae[3];
                for (int64_t t = 0; t <= tw; t++) {
                    a0[t] = d0[t] - d2[t];
                    a1[t] = d1[t] + d2[t];
                    a2[t] = d2[t] - d1[t];
                    a3[t] = d1[t] - d3[t];
                }
            }
            for (int k = 0; k < 4; k++) {
                float *restrict v0 = v + ((int64_t)(k * 4 + 0) * c + ci) * nt + ty * tw;
                float *restrict v1 = v0 + c * nt, *restrict v2 = v1 + c * nt, *restrict v3 = v2 + c * nt;
                const float *restrict pe = ae[k], *restrict po = ao[k];
                for (int64_t t = 0; t < tw; t++) {
                    v0[t] = pe[t] - pe[t + 1];
                    v1[t] = po[t] + pe[t + 1];
                    v2[t] = pe[t + 1] - po[t];
                    v3[t] = po[t] - po[t + 1];
                }
            }
        }
    }
}

void ox_wino_output(const float *p, int64_t m, int64_t oh, int64_t ow, const float *bias, const struct ox_epi *e,
                    int64_t m0, int64_t m1, float *y)
{
    int64_t th = (oh + 1) / 2, tw = (ow + 1) / 2, nt = th * tw;
    /* sigmoid and SiLU run over the finished plane through the vector exp (base/vmath.h) */
    const struct ox_epi plain = {OX_ACT_NONE, 0, 0};
    vmath_fn plane_act = e->act == OX_ACT_SIGMOID ? vmath_sigmoid : e->act == OX_ACT_SILU ? vmath_silu : NULL;
    if (plane_act)
        e = &plain;
    for (int64_t mi = m0; mi < m1; mi++) {
        float b = bias ? bias[mi] : 0.0f;
        float *ym = y + mi * oh * ow;
        for (int64_t ty = 0; ty < th; ty++)
            for (int64_t tx = 0; tx < tw; tx++) {
                int64_t at = ty * tw + tx;
                float q[4][4], t[2][4];
                for (int xi = 0; xi < 16; xi++)
                    q[xi / 4][xi % 4] = p[((int64_t)xi * m + mi) * nt + at];
                /* A^T q A: A^T = [1 1 1 0; 0 1 -1 -1] */
                for (int j = 0; j < 4; j++) {
                    t[0][j] = q[0][j] + q[1][j] + q[2][j];
                    t[1][j] = q[1][j] - q[2][j] - q[3][j];
                }
                for (int i = 0; i < 2; i++) {
                    int64_t oy = 2 * ty + i;
                    if (oy >= oh)
                        break;
                    float r0 = t[i][0] + t[i][1] + t[i][2], r1 = t[i][1] - t[i][2] - t[i][3];
                    ym[oy * ow + 2 * tx] = ox_act_apply(e, r0 + b);
                    if (2 * tx + 1 < ow)
                        ym[oy * ow + 2 * tx + 1] = ox_act_apply(e, r1 + b);
                }
            }
        if (plane_act)
            plane_act(ym, ym, (size_t)(oh * ow));
    }
}
