/* conv_direct.c — the direct conv's geometry, offset table, scalar reference and dispatch
 * (conv_direct.h); the SIMD fill and tiles are x86/cdir_tmpl.h, built into conv_avx2.c and
 * conv_avx512.c. */
#include "onnx/conv_direct.h"

#include <assert.h>
#include <math.h>
#include <string.h>

int ox_cdir_ok(enum ox_isa isa, const struct ox_cdir *d)
{
    if (isa == OX_ISA_REF || d->c < 1 || d->m < 1 || d->kh < 1 || d->kw < 1 || d->sh < 1 ||
        (d->sw != 1 && d->sw != 2) || d->pt < 0 || d->pl < 0 || d->oh < 1 || d->ow < 1 || d->w < 1 || d->h < 1)
        return 0;
    int64_t wq = ox_cdir_wq(d);
    /* the fill's stride-2 row copy is on the stack; offsets are int32 */
    return wq <= OX_CDIR_MAXW && ox_cdir_xpf(d) < ((int64_t)1 << 30) && d->c * d->kh * d->kw < ((int64_t)1 << 24);
}

size_t ox_cdir_scratch(const struct ox_cdir *d)
{
    size_t xp = (size_t)ox_cdir_xpf(d) * sizeof(float);
    return xp + (size_t)(d->c * d->kh * d->kw) * sizeof(int32_t) + 64;
}

/* the offset table after Xp (conv_direct.h), and Xp's slack zeroed (read, dropped) */
static void fill_offsets(const struct ox_cdir *d)
{
    const int64_t hq = ox_cdir_hq(d), wq = ox_cdir_wq(d), end = d->c * d->sh * d->sw * hq * wq;
    float *xp = d->xp;
    int32_t *off = (int32_t *)(xp + ox_cdir_xpf(d));
    memset(xp + end, 0, (size_t)(ox_cdir_xpf(d) - end) * sizeof(float));
    for (int64_t ci = 0; ci < d->c; ci++)
        for (int64_t ky = 0; ky < d->kh; ky++)
            for (int64_t kx = 0; kx < d->kw; kx++)
                off[(ci * d->kh + ky) * d->kw + kx] =
                    (int32_t)((((ci * d->sh + ky % d->sh) * d->sw + kx % d->sw) * hq + ky / d->sh) * wq + kx / d->sw);
}

void ox_cdir_fill(enum ox_isa isa, const struct ox_cdir *d, int64_t c0, int64_t c1)
{
    assert(ox_cdir_ok(isa, d));
    if (c0 == 0)
        fill_offsets(d);
    if (isa == OX_ISA_AVX512)
        ox_cdir_fill_avx512(d, c0, c1);
    else
        ox_cdir_fill_avx2(d, c0, c1);
}

int64_t ox_cdir_tiles(enum ox_isa isa, const struct ox_cdir *d)
{
    int64_t vl = isa == OX_ISA_AVX512 ? 16 : 8, vecs = (d->oh * ox_cdir_wq(d) + vl - 1) / vl;
    return isa == OX_ISA_REF ? 0 : (vecs + 1) / 2;
}

void ox_cdir_run(enum ox_isa isa, const struct ox_cdir *d, int64_t t0, int64_t t1)
{
    assert(ox_cdir_ok(isa, d));
    if (isa == OX_ISA_AVX512)
        ox_cdir_run_avx512(d, t0, t1);
    else
        ox_cdir_run_avx2(d, t0, t1);
}

int ox_cdir_pw_ok(enum ox_isa isa, const struct ox_cdir *d)
{
    return isa != OX_ISA_REF && d->c >= 1 && d->m >= 1 && d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 &&
           d->pt == 0 && d->pl == 0 && d->oh == d->h && d->ow == d->w && d->oh >= 1 && d->ow >= 1 &&
           d->oh * d->ow % 16 == 0;
}

void ox_cdir_pw_run(enum ox_isa isa, const struct ox_cdir *d, int64_t t0, int64_t t1)
{
    assert(ox_cdir_pw_ok(isa, d));
    if (isa == OX_ISA_AVX512)
        ox_cdir_pw_run_avx512(d, t0, t1);
    else
        ox_cdir_pw_run_avx2(d, t0, t1);
}

void ox_cdir_ref(const struct ox_cdir *d)
{
    int64_t k = d->c * d->kh * d->kw, ohw = d->oh * d->ow;
    for (int64_t m = 0; m < d->m; m++) {
        const float *wm = d->wp + m / OX_CV_MR * k * OX_CV_MR + m % OX_CV_MR; /* W[m][t] = wm[t * MR] */
        for (int64_t oy = 0; oy < d->oh; oy++)
            for (int64_t ox = 0; ox < d->ow; ox++) {
                float acc = 0.0f;
                for (int64_t ci = 0; ci < d->c; ci++)
                    for (int64_t ky = 0; ky < d->kh; ky++)
                        for (int64_t kx = 0; kx < d->kw; kx++) {
                            int64_t iy = oy * d->sh - d->pt + ky, ix = ox * d->sw - d->pl + kx;
                            float v = iy >= 0 && iy < d->h && ix >= 0 && ix < d->w ? d->x[(ci * d->h + iy) * d->w + ix]
                                                                                   : 0.0f;
                            acc = fmaf(wm[((ci * d->kh + ky) * d->kw + kx) * OX_CV_MR], v, acc);
                        }
                acc += d->bias ? d->bias[m] : 0.0f;
                if (d->z)
                    acc += d->z[m * ohw + oy * d->ow + ox];
                d->y[m * ohw + oy * d->ow + ox] = ox_act_apply(&d->epi, acc);
            }
    }
}

int64_t ox_cdoc_px(const struct ox_cdir *d)
{
    /* per vector count of channels: the widest tile, and a narrower one (as many registers'
     * worth of FMAs) taken where it wastes fewer pixels of a row (OW 20: 4 tiles of 5, not 24
     * pixels in tiles of 6) */
    static const int64_t px[4][2] = {{16, 16}, {12, 10}, {8, 7}, {6, 5}};
    int64_t v = (d->m + 15) / 16;
    v = v < 1 ? 1 : v > 4 ? 4 : v;
    int64_t a = px[v - 1][0], b = px[v - 1][1];
    return (d->ow + b - 1) / b * b < (d->ow + a - 1) / a * a ? b : a;
}

int ox_cdoc_ok(enum ox_isa isa, const struct ox_cdir *d)
{
    if (isa != OX_ISA_AVX512 || d->z || d->c < 1 || d->m < 1 || d->m > OX_CDOC_MAXM || d->kh < 1 || d->kw < 1 ||
        d->kh > 7 || d->kw > 7 || (d->sh != 1 && d->sh != 2) || (d->sw != 1 && d->sw != 2) || d->pt < 0 ||
        d->pl < 0 || d->oh < 1 || d->ow < 1 || d->h < 1 || d->w < 1)
        return 0;
    return d->c * d->kh * ((d->sw * (ox_cdoc_px(d) - 1) + d->kw + 15) / 16 * 16) <= OX_CDOC_BUF;
}

int64_t ox_cdoc_pack_size(int64_t m, int64_t k)
{
    return (m + 15) / 16 * 16 * k;
}

void ox_cdoc_pack(const float *w, int64_t m, int64_t k, float *dst)
{
    int64_t mp = (m + 15) / 16 * 16;
    for (int64_t t = 0; t < k; t++)
        for (int64_t o = 0; o < mp; o++)
            dst[t * mp + o] = o < m ? w[o * k + t] : 0.0f;
}

void ox_cdoc_run(enum ox_isa isa, const struct ox_cdir *d, int64_t i0, int64_t i1)
{
    assert(ox_cdoc_ok(isa, d));
    assert(ox_cdoc_px(d) * 16 * ((d->m + 15) / 16) <= OX_CDOC_TILE);
    (void)isa;
    ox_cdoc_run_avx512(d, i0, i1);
}
