/* mb_tmpl.h — InferdMBConv's channel-blocked expand and depthwise (mbconv_kern.h), included
 * by conv_avx2.c and conv_avx512.c after conv_tmpl.h (its macros, epi_vec, dwb_row and
 * dwb_deinterleave). The expand is a GEMM with the pixels as rows: MBPX pixels x two blocks
 * of VL channels (2 * MBPX accumulators), per input channel two weight vectors and MBPX
 * broadcasts of X, and each accumulator is one pixel of VL channels, already the layout the
 * depthwise taps read: no 8x8 transposes into a ring and no planar E between the two. */
#include "onnx/mbconv_kern.h"

#define MBPX (VL == 16 ? 12 : 6) /* pixels per expand tile: 24 zmm / 12 ymm accumulators */

/* a blocked weight matrix's (mbconv_kern.h's wt, k inputs) lanes for output channels
 * [cb * VL, cb * VL + VL): the expand's WA (k = C) and the project's WC (k = M) */
static inline const float *mb_wblk(const float *wt, int64_t k, int64_t cb)
{
    return wt + (cb * VL / OX_MB_BLK * k) * OX_MB_BLK + cb * VL % OX_MB_BLK;
}

/* nb pixels (X columns xp[0..nb), planes hw apart; outputs at dst[u], the second block's
 * bstep floats on) of nv (1, 2) channel blocks from w0 (the second's weights w1) */
static inline __attribute__((always_inline)) void mbx_tile(const struct ox_mb_exp *e, const float *xp, int64_t hw,
                                                           const float *w0, const float *w1, VF b0, VF b1,
                                                           float *const *dst, int64_t bstep, int nb, int nv,
                                                           int silu)
{
    VF a0[MBPX], a1[MBPX];
#pragma GCC unroll 12
    for (int u = 0; u < MBPX; u++) { /* all of them: the unused ones are dropped, and gcc sees them set */
        a0[u] = b0;
        a1[u] = b1;
    }
    for (int64_t k = 0; k < e->c; k++) {
        const float *xk = xp + k * hw;
        VF v0 = VLOAD(w0 + k * OX_MB_BLK), v1 = nv == 2 ? VLOAD(w1 + k * OX_MB_BLK) : v0;
#pragma GCC unroll 12
        for (int u = 0; u < nb; u++) {
            VF xb = VSET1(xk[u]);
            a0[u] = VFMA(xb, v0, a0[u]);
            if (nv == 2)
                a1[u] = VFMA(xb, v1, a1[u]);
        }
    }
    /* silu (a constant after inlining): the activation known here, so its constants are set
     * once for the tile and no switch runs per vector (epi_vec's, re-read after every store:
     * a float store may alias e->epi) */
    const struct ox_epi ep = e->epi;
#pragma GCC unroll 12
    for (int u = 0; u < nb; u++) {
        VSTORE(dst[u], silu ? VSILU(a0[u]) : epi_vec(&ep, a0[u]));
        if (nv == 2)
            VSTORE(dst[u] + bstep, silu ? VSILU(a1[u]) : epi_vec(&ep, a1[u]));
    }
}

/* channel blocks [cb0, cb1) of nb pixels (dst: block cb0's outputs) */
static inline __attribute__((always_inline)) void mbx_pixels(const struct ox_mb_exp *e, int64_t cb0, int64_t cb1,
                                                             const float *xp, float *const *dst, int nb)
{
    int64_t hw = e->h * e->w, bst = e->erows * e->rl * VL;
    float *d1[MBPX];
    for (int64_t cb = cb0; cb < cb1; cb += 2) {
        int nv = cb + 1 < cb1 ? 2 : 1;
        const float *w0 = mb_wblk(e->wt, e->c, cb), *w1 = nv == 2 ? mb_wblk(e->wt, e->c, cb + 1) : w0;
        VF b0 = VLOAD(e->bt + cb * VL), b1 = nv == 2 ? VLOAD(e->bt + (cb + 1) * VL) : b0;
        for (int u = 0; u < nb; u++)
            d1[u] = dst[u] + (cb - cb0) * bst;
        if (e->epi.act == OX_ACT_SILU && nv == 2) /* EfficientNet's expand */
            mbx_tile(e, xp, hw, w0, w1, b0, b1, d1, bst, nb, 2, 1);
        else if (e->epi.act == OX_ACT_SILU)
            mbx_tile(e, xp, hw, w0, w1, b0, b1, d1, bst, nb, 1, 1);
        else if (nv == 2)
            mbx_tile(e, xp, hw, w0, w1, b0, b1, d1, bst, nb, 2, 0);
        else
            mbx_tile(e, xp, hw, w0, w1, b0, b1, d1, bst, nb, 1, 0);
    }
}

void FN(ox_mb_expand)(const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t r0, int64_t r1)
{
    int64_t bst = e->erows * e->rl * VL, n = (r1 - r0) * e->w;
    for (int64_t cb = cb0; cb < cb1; cb++) /* the padding columns of the rows written */
        for (int64_t iy = r0; iy < r1; iy++) {
            float *row = e->e + cb * bst + iy % e->erows * e->rl * VL;
            memset(row, 0, (size_t)(e->pl * VL) * sizeof(float));
            memset(row + (e->pl + e->w) * VL, 0, (size_t)((e->rl - e->pl - e->w) * VL) * sizeof(float));
        }
    if (!e->wt) { /* no expand conv: E_c is X's channels interleaved */
        for (int64_t cb = cb0; cb < cb1; cb++) {
            int nc = e->c - cb * VL < VL ? (int)(e->c - cb * VL) : VL;
            const float *xr[VL];
            for (int64_t iy = r0; iy < r1; iy++) {
                float *row = e->e + cb * bst + (iy % e->erows * e->rl + e->pl) * VL;
                if (nc < VL) /* the lanes past C: zero, never stale */
                    memset(row, 0, (size_t)(e->w * VL) * sizeof(float));
                for (int l = 0; l < nc; l++)
                    xr[l] = e->x + (cb * VL + l) * e->h * e->w + iy * e->w;
                dwb_interleave(xr, nc, e->w, row); /* conv_tmpl.h */
            }
        }
        return;
    }
    const float *x = e->x + r0 * e->w; /* rows r0.. of a plane are contiguous: pixels run across rows */
    float *dst[MBPX], *eb = e->e + cb0 * bst + e->pl * VL;
    /* the next pixel's column and ring row, stepped: a division per pixel (its row, column
     * and ring slot) was ~5% of the expand with 16 input channels (MobileNetV2's 112x112) */
    int64_t ix = 0, slot = r0 % e->erows;
    for (int64_t p = 0; p < n; p += MBPX) {
        /* the last group holds only the pixels left: moved back to end at n it recomputed up
         * to MBPX - 1 of them (49 pixels of a 7x7 map took 60), while 2 * nb >= 4 chains
         * already keep the FMA units busy */
        int nb = n - p < MBPX ? (int)(n - p) : MBPX;
        for (int u = 0; u < nb; u++) {
            dst[u] = eb + (slot * e->rl + ix) * VL;
            if (++ix == e->w) {
                ix = 0;
                slot = slot + 1 == e->erows ? 0 : slot + 1;
            }
        }
        if (nb == MBPX)
            mbx_pixels(e, cb0, cb1, x + p, dst, MBPX);
        else
            mbx_pixels(e, cb0, cb1, x + p, dst, nb);
    }
}

void FN(ox_mb_dw)(const struct ox_dw *d, const struct ox_mb_exp *e, int64_t cb0, int64_t cb1, int64_t oy0, int64_t oy1)
{
    float wk[OX_DWB_MAXK * VL] __attribute__((aligned(64)));
    float ob[(OX_DWB_MAXOW + 8) * VL] __attribute__((aligned(64))); /* + 8: read by whole 8x8 blocks */
    int64_t bst = e->erows * e->rl * VL, taps = d->kh * d->kw, yrows = d->yrows ? d->yrows : d->oh;
    for (int64_t cb = cb0; cb < cb1; cb++) {
        int64_t c0 = cb * VL;
        int nc = d->channels - c0 < VL ? (int)(d->channels - c0) : VL;
        VF bias = dwb_lanes(d, c0, nc, taps, wk); /* conv_tmpl.h */
        const float *xb = e->e + cb * bst;
        float *y = d->y + c0 * yrows * d->ow;
        for (int64_t oy = oy0; oy < oy1; oy++) {
            const float *src[OX_DWB_MAXKH], *wr[OX_DWB_MAXKH];
            int nr = 0;
            for (int64_t ky = 0; ky < d->kh; ky++) {
                int64_t iy = oy * d->sh - d->pt + ky;
                if (iy < 0 || iy >= d->h)
                    continue;
                src[nr] = xb + iy % e->erows * e->rl * VL;
                wr[nr++] = wk + ky * d->kw * VL;
            }
            if (e->dc) { /* D_c: the row as the taps leave it */
                dwb_row(d, src, wr, nr, bias, e->dc + cb * e->dbst + (oy - d->y0) * d->ow * VL);
                continue;
            }
            dwb_row(d, src, wr, nr, bias, ob);
            float *yr[VL];
            for (int l = 0; l < nc; l++)
                yr[l] = y + (l * yrows + oy - d->y0) * d->ow;
            dwb_deinterleave(ob, nc, d->ow, yr);
        }
    }
}

/* ---- project from D_c: a GEMM with the pixels as rows again (MBPT pixels x MBPV blocks of VL
 * output channels), each tile's rows stored to a stage [block][16 pixels][VL] and moved to
 * Y's planes by dwb_deinterleave: the 8x8 transposes are on Y's M2 channels, not D's M ---- */
#define MBPT 8                  /* pixels per project tile */
#define MBPV (VL == 16 ? 2 : 1) /* output blocks per project tile: 16 zmm / 8 ymm accumulators */

#if VL == 16
#define MBP_HALF 1 /* a last block of <= 8 output channels (MobileNetV2's 24) in 256-bit FMAs */
#else
#define MBP_HALF 0
#endif

/* nb pixels of D_c (dp) x nv (1, 2) blocks of output channels into the stage rows s0, s1;
 * half (AVX-512 only): the second block has <= 8 channels and runs as 256-bit vectors
 * (on 256-bit units half the cost of a 512-bit FMA; the same sums lane for lane) */
static inline __attribute__((always_inline)) void mbp_tile(const struct ox_mb_prj *j, const float *dp,
                                                           const float *w0, const float *w1, VF b0, VF b1, float *s0,
                                                           float *s1, int nb, int nv, int half, int act)
{
    VF a0[MBPT], a1[MBPT];
#if MBP_HALF
    __m256 h1[MBPT];
#endif
#pragma GCC unroll 8
    for (int u = 0; u < MBPT; u++) {
        a0[u] = b0;
        a1[u] = b1;
#if MBP_HALF
        h1[u] = _mm512_castps512_ps256(b1);
#endif
    }
    for (int64_t k = 0; k < j->k; k++) {
        const float *dk = dp + k / VL * j->dbst + k % VL;
        VF v0 = VLOAD(w0 + k * OX_MB_BLK), v1 = nv == 2 && !half ? VLOAD(w1 + k * OX_MB_BLK) : v0;
#if MBP_HALF
        __m256 vh = _mm256_loadu_ps(w1 + k * OX_MB_BLK);
#endif
#pragma GCC unroll 8
        for (int u = 0; u < nb; u++) {
            VF xb = VSET1(dk[u * VL]);
            a0[u] = VFMA(xb, v0, a0[u]);
#if MBP_HALF
            if (nv == 2 && half)
                h1[u] = _mm256_fmadd_ps(_mm512_castps512_ps256(xb), vh, h1[u]);
#endif
            if (nv == 2 && !half)
                a1[u] = VFMA(xb, v1, a1[u]);
        }
    }
#if MBP_HALF
    if (half)
        for (int u = 0; u < nb; u++)
            a1[u] = _mm512_zextps256_ps512(h1[u]);
#endif
#pragma GCC unroll 8
    for (int u = 0; u < nb; u++) {
        VSTORE(s0 + u * VL, act ? epi_vec(&j->epi, a0[u]) : a0[u]);
        if (nv == 2)
            VSTORE(s1 + u * VL, act ? epi_vec(&j->epi, a1[u]) : a1[u]);
    }
}

#define MBST 24 /* stage pixels a block: 16, and dwb_deinterleave reads up to 8 past a tail */

void FN(ox_mb_project)(const struct ox_mb_prj *j, int64_t i0, int64_t i1)
{
    float st[(OX_MB_MAXM2 / VL + 1) * MBST * VL] __attribute__((aligned(64)));
    int64_t nq = (j->n + 15) / 16;
    int act = j->z == NULL;
    for (int64_t i = i0; i < i1; i++) {
        /* the last pixels' items hold only the pixels left (moved back to end at n they
         * recomputed up to 15: 64 pixels for a 7x7 map's 49); items go channels-major
         * (mbconv_kern.h) */
        int64_t q = i % nq, o0 = i / nq * OX_MB_PRJ_CH, o1 = o0 + OX_MB_PRJ_CH < j->m2 ? o0 + OX_MB_PRJ_CH : j->m2;
        int64_t p = q * 16, cnt = j->n - p < 16 ? j->n - p : 16, cb1 = (o1 + VL - 1) / VL;
        for (int64_t cb = o0 / VL; cb < cb1; cb += MBPV) {
            int nv = MBPV == 2 && cb + 1 < cb1 ? 2 : 1, half = MBP_HALF && nv == 2 && j->m2 - (cb + 1) * VL <= 8;
            const float *w0 = mb_wblk(j->wt, j->k, cb), *w1 = nv == 2 ? mb_wblk(j->wt, j->k, cb + 1) : w0;
            VF b0 = VLOAD(j->bt + cb * VL), b1 = nv == 2 ? VLOAD(j->bt + (cb + 1) * VL) : b0;
            for (int64_t t = 0; t < cnt; t += MBPT) {
                const float *dp = j->dc + (p + t) * VL;
                float *s0 = st + (cb * MBST + t) * VL, *s1 = s0 + MBST * VL;
                int nb = cnt - t < MBPT ? (int)(cnt - t) : MBPT;
                if (nb == MBPT && half)
                    mbp_tile(j, dp, w0, w1, b0, b1, s0, s1, MBPT, 2, 1, act);
                else if (nb == MBPT && nv == 2)
                    mbp_tile(j, dp, w0, w1, b0, b1, s0, s1, MBPT, 2, 0, act);
                else if (nb == MBPT)
                    mbp_tile(j, dp, w0, w1, b0, b1, s0, s1, MBPT, 1, 0, act);
                else
                    mbp_tile(j, dp, w0, w1, b0, b1, s0, s1, nb, nv, half, act);
            }
        }
        for (int64_t cb = o0 / VL; cb < cb1; cb++) {
            int nc = j->m2 - cb * VL < VL ? (int)(j->m2 - cb * VL) : VL;
            float *dst[VL];
            for (int l = 0; l < nc; l++)
                dst[l] = j->y + (cb * VL + l) * j->ldy + p;
            dwb_deinterleave(st + cb * MBST * VL, nc, cnt, dst);
        }
        if (j->z) /* Y = act(W D + b + Z) */
            for (int64_t o = o0; o < o1; o++) {
                float *yr = j->y + o * j->ldy + p;
                const float *zr = j->z + o * j->ldy + p;
                if (j->epi.act == OX_ACT_NONE) /* MobileNetV2's residual blocks: the same sums as
                                                 * y + z a float at a time, which gcc -O2 left
                                                 * scalar (a fifth of the project's time on
                                                 * 24 outputs) */
                    for (int64_t i = 0; i < cnt; i += VL) {
                        MASK m = MASK_N(cnt - i < VL ? (int)(cnt - i) : VL);
                        VSTOREM(yr + i, m, VADD(VLOADM(yr + i, m), VLOADM(zr + i, m)));
                    }
                else
                    for (int64_t i = 0; i < cnt; i++)
                        yr[i] = ox_act_apply(&j->epi, yr[i] + zr[i]);
            }
    }
}

/* InferdSE's squeeze (mbconv_kern.h): each lane of a plane's 16 sums is one chain of adds
 * (ox_gap_planes' bits), 3 cycles an add, so several planes go at once; the sums then fold
 * in lane order as ox_gap_planes' do. Eight planes at a time fold in registers: their 16
 * lane sums are transposed (vtr8_avx2) so that lane q of one vector holds plane q, and the
 * fold is 16 vector adds after the tail's (gathered) elements. Folding each plane by scalar
 * loads of its stored sums (the planes left, below) read each value back from a
 * vector store, which does not forward: ~40 cycles a plane, most of the squeeze on 7x7
 * maps (MobileNetV3-small's 2296 planes an image took ~38 us, 1 thread). */
#define SEG_GR 8 /* planes a register fold */
#define SEG_PL 4 /* planes at once in the rest */
static inline __attribute__((always_inline)) float seg_fold(const float *x, int64_t i, int64_t len, const float *t)
{
    float s = 0.0f;
    for (; i < len; i++)
        s += x[i];
    for (int l = 0; l < 16; l++)
        s += t[l];
    return len ? s / (float)len : 0.0f;
}

/* a[q] = the 16 lane sums of plane q of x (len floats each) over [0, body), for np planes
 * (a constant where inlined: its loops unroll) */
static inline __attribute__((always_inline)) void seg_sums(const float *x, int64_t len, int64_t body, int np,
                                                           VF a[][16 / VL])
{
#pragma GCC unroll 8
    for (int q = 0; q < np; q++)
        for (int v = 0; v < 16 / VL; v++)
            a[q][v] = VZERO();
    for (int64_t i = 0; i < body; i += 16)
#pragma GCC unroll 8
        for (int q = 0; q < np; q++)
            for (int v = 0; v < 16 / VL; v++)
                a[q][v] = VADD(a[q][v], VLOAD(x + q * len + i + v * VL));
}

/* planes [p, p + SEG_GR) of xs (len > 0 floats each, body = len rounded down to 16) */
static inline __attribute__((always_inline)) void seg_group(const float *xs, float *y, int64_t len, int64_t body,
                                                            int64_t p)
{
    const float *x = xs + p * len;
    VF a[SEG_GR][16 / VL];
    seg_sums(x, len, body, SEG_GR, a);
    __m256 l8[SEG_GR], h8[SEG_GR]; /* plane q's lanes 0..7, 8..15 */
#pragma GCC unroll 8
    for (int q = 0; q < SEG_GR; q++) {
#if VL == 16
        l8[q] = _mm512_castps512_ps256(a[q][0]);
        h8[q] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[q][0]), 1));
#else
        l8[q] = a[q][0];
        h8[q] = a[q][1];
#endif
    }
    vtr8_avx2(l8); /* l8[l]: lane l of planes 0..7 */
    vtr8_avx2(h8);
    __m256 s = _mm256_setzero_ps();
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)len));
    for (int64_t i = body; i < len; i++) /* the tail first, in order, as ox_gap_planes */
        s = _mm256_add_ps(s, _mm256_i32gather_ps(x + i, at, 4));
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++)
        s = _mm256_add_ps(s, l8[l]);
#pragma GCC unroll 8
    for (int l = 0; l < 8; l++)
        s = _mm256_add_ps(s, h8[l]);
    _mm256_storeu_ps(y + p, _mm256_div_ps(s, _mm256_set1_ps((float)len)));
}

void FN(ox_se_gap)(const float *xs, float *y, int64_t len, int64_t lo, int64_t hi)
{
    int64_t p = lo, body = len / 16 * 16;
    float t[SEG_PL][16];
    if (len > 0 && len <= INT32_MAX / SEG_GR) /* the gather's offsets in int32 */
        for (; p + SEG_GR <= hi; p += SEG_GR)
            seg_group(xs, y, len, body, p);
    for (; p + SEG_PL <= hi; p += SEG_PL) {
        const float *x = xs + p * len;
        VF a[SEG_PL][16 / VL];
        seg_sums(x, len, body, SEG_PL, a);
        for (int q = 0; q < SEG_PL; q++) {
            for (int v = 0; v < 16 / VL; v++)
                VSTORE(t[q] + v * VL, a[q][v]);
            y[p + q] = seg_fold(x + q * len, body, len, t[q]);
        }
    }
    for (; p < hi; p++) {
        const float *x = xs + p * len;
        VF a[1][16 / VL];
        seg_sums(x, len, body, 1, a);
        for (int v = 0; v < 16 / VL; v++)
            VSTORE(t[0] + v * VL, a[0][v]);
        y[p] = seg_fold(x, body, len, t[0]);
    }
}
#undef SEG_PL
#undef SEG_GR

/* InferdSE's scale: Y planes [lo, hi) = X planes * g, two vectors a step, the tail masked */
void FN(ox_se_scale)(const float *xs, float *ys, const float *g, int64_t hw, int64_t lo, int64_t hi)
{
    for (int64_t c = lo; c < hi; c++) {
        const float *x = xs + c * hw;
        float *y = ys + c * hw;
        VF gv = VSET1(g[c]);
        int64_t i = 0;
        for (; i + 2 * VL <= hw; i += 2 * VL) {
            VF a = VLOAD(x + i), b = VLOAD(x + i + VL);
            VSTORE(y + i, VMUL(a, gv));
            VSTORE(y + i + VL, VMUL(b, gv));
        }
        for (; i < hw; i += VL) {
            int n = hw - i < VL ? (int)(hw - i) : VL;
            MASK m = MASK_N(n);
            VSTOREM(y + i, m, VMUL(VLOADM(x + i, m), gv));
        }
    }
}

#if VL == 16
/* InferdSE's FCs, SEF_COLS columns a pass (mbconv_kern.h): per column panel_col's four
 * chains (conv_tmpl.h), each weight vector loaded once for the pass's columns */
#define SEF_COLS 4
static inline __attribute__((always_inline)) void sef_panel(const float *a, const float *x, int64_t k, int nc,
                                                            float out[SEF_COLS][VL])
{
    const MASK m = MASK_N(OX_CV_MR);
    VF acc[SEF_COLS][4];
#pragma GCC unroll 4
    for (int j = 0; j < SEF_COLS; j++)
        for (int u = 0; u < 4; u++)
            acc[j][u] = VZERO();
    int64_t kk = 0;
    for (; kk + 4 <= k; kk += 4)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            VF w = VLOADM(a + (kk + u) * OX_CV_MR, m);
#pragma GCC unroll 4
            for (int j = 0; j < nc; j++)
                acc[j][u] = VFMA(w, VSET1(x[j * k + kk + u]), acc[j][u]);
        }
    for (; kk < k; kk++) {
        VF w = VLOADM(a + kk * OX_CV_MR, m);
        for (int j = 0; j < nc; j++)
            acc[j][0] = VFMA(w, VSET1(x[j * k + kk]), acc[j][0]);
    }
    for (int j = 0; j < nc; j++)
        VSTORE(out[j], VADD(VADD(acc[j][0], acc[j][1]), VADD(acc[j][2], acc[j][3])));
}

void FN(ox_se_fc)(const struct ox_se_fc *f, int64_t p0, int64_t p1)
{
    float out[SEF_COLS][VL];
    for (int64_t j0 = 0; j0 < f->cols; j0 += SEF_COLS) {
        int nc = f->cols - j0 < SEF_COLS ? (int)(f->cols - j0) : SEF_COLS;
        const float *x = f->x + j0 * f->k;
        for (int64_t p = p0; p < p1; p++) {
            const float *a = f->wp + p * f->k * OX_CV_MR;
            if (nc == SEF_COLS)
                sef_panel(a, x, f->k, SEF_COLS, out);
            else
                sef_panel(a, x, f->k, nc, out);
            for (int j = 0; j < nc; j++)
                for (int r = 0; r < OX_CV_MR && p * OX_CV_MR + r < f->m; r++) {
                    int64_t row = p * OX_CV_MR + r;
                    /* gemv_panel's expression, its Z term 0 */
                    f->y[(j0 + j) * f->m + row] =
                        ox_act_apply(&f->epi, out[j][r] + (f->bias ? f->bias[row] : 0.0f) + 0.0f);
                }
        }
    }
}
#undef SEF_COLS
#endif
