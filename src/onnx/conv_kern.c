/* conv_kern.c — portable references of the conv kernels (see conv_kern.h), weight packing,
 * and the run-time choice between them and the AVX2 / AVX-512 versions in x86/. */
#include <assert.h>
#include <string.h>

#include "base/cpu.h"
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

/* floats from the start of B (bstep) or Y (cstep) to column j of row 0 (see g->seg) */
static int64_t col_at(const struct ox_conv_gemm *g, int64_t step, int64_t j)
{
    return g->seg ? j / g->seg * step + j % g->seg : j;
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
                int64_t bj = col_at(g, g->bstep, j), cj = row * g->ldc + col_at(g, g->cstep, j);
                for (int64_t kk = 0; kk < g->k; kk++)
                    s += panel[kk * OX_CV_MR + r] * g->b[kk * g->ldb + bj];
                g->c[cj] = ox_act_apply(&g->epi, s + bias + (g->sum ? g->sum[cj] : 0.0f));
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

/* B[k][j] of im's im2col matrix (see conv_kern.h), images seg columns apart (0: one) */
static float im2col_at(const struct ox_conv_im2col *im, int64_t seg, int64_t k, int64_t j)
{
    const float *x = im->x + (seg ? j / seg * im->xstep : 0);
    j = seg ? j % seg : j;
    int64_t ci = k / (im->kh * im->kw), ky = k / im->kw % im->kh, kx = k % im->kw;
    int64_t iy = j / im->ow * im->sh - im->pt + ky * im->dh, ix = j % im->ow * im->sw - im->pl + kx * im->dw;
    return iy >= 0 && iy < im->h && ix >= 0 && ix < im->w ? x[(ci * im->h + iy) * im->w + ix] : 0.0f;
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
                int64_t cj = row * g->ldc + col_at(g, g->cstep, j);
                for (int64_t kk = 0; kk < g->k; kk++)
                    s += panel[kk * OX_CV_MR + r] * im2col_at(im, g->seg, kk, j);
                g->c[cj] = ox_act_apply(&g->epi, s + bias + (g->sum ? g->sum[cj] : 0.0f));
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

int64_t ox_conv_prepack_size(enum ox_isa isa, int64_t k, int64_t n)
{
    return isa == OX_ISA_AVX512 ? ox_conv_prepack_size_avx512(k, n)
           : isa == OX_ISA_AVX2 ? ox_conv_prepack_size_avx2(k, n)
                                : 0;
}

void ox_conv_prepack_run(enum ox_isa isa, const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, float *bp,
                         int64_t i0, int64_t i1)
{
    assert(isa != OX_ISA_REF); /* ox_conv_prepack_size was 0: no caller packs */
    if (isa == OX_ISA_AVX512)
        ox_conv_prepack_avx512(g, im, bp, i0, i1);
    else
        ox_conv_prepack_avx2(g, im, bp, i0, i1);
}

void ox_conv_gemm_pre_run(enum ox_isa isa, const struct ox_conv_gemm *g, const float *bp, int64_t p0, int64_t p1,
                          int64_t n0, int64_t n1)
{
    assert(isa != OX_ISA_REF && n0 % OX_CV_NB == 0);
    if (isa == OX_ISA_AVX512)
        ox_conv_gemm_pre_avx512(g, bp, p0, p1, n0, n1);
    else
        ox_conv_gemm_pre_avx2(g, bp, p0, p1, n0, n1);
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
