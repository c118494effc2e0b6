/* cdir_tmpl.h — the direct conv's fill and tiles (conv_direct.h), written over conv_tmpl.h's
 * vector macros and its epi_vec; included at the end of conv_avx2.c and conv_avx512.c, after
 * conv_tmpl.h.
 *
 * Tile: ROWS rows of a weight panel x two vectors of grid pixels (conv_direct.h); per tap one
 * offset, two unaligned loads from Xp (the lanes with ox >= OW read the columns only taps
 * reach, or the next row: dropped at the store) and ROWS broadcasts, 2 * ROWS FMAs:
 * conv_tmpl.h's GEMM tile with B read in place. Uses conv_tmpl.h's row_load_pad. */

#include "onnx/conv_direct.h"

/* Xp's channels [c0, c1) (conv_direct.h); a row's last vector is stored under a mask, so no
 * write reaches past the row (the next channel may be another thread's). Stride 2 splits X's
 * row into its even and odd columns straight from X (masked loads at the pads). */
void FN(ox_cdir_fill)(const struct ox_cdir *d, int64_t c0, int64_t c1)
{
    const int64_t hq = ox_cdir_hq(d), wq = ox_cdir_wq(d), sh = d->sh, sw = d->sw, w = d->w;
    /* stride 1: the padded row X[iy][i - pl], i < WQ, straight into Xp's row */
    const int64_t lo = d->pl < wq ? d->pl : wq, hi = d->pl + w < wq ? d->pl + w : wq;
    const MASK tail = MASK_N((int)(wq - (wq - 1) / VL * VL)); /* a row's last vector's lanes */
    for (int64_t ci = c0; ci < c1; ci++)
        for (int64_t py = 0; py < sh; py++)
            for (int64_t i = 0; i < hq; i++) {
                float *dst = (float *)d->xp + ((ci * sh + py) * sw * hq + i) * wq; /* phase px at + px HQ WQ */
                int64_t iy = i * sh + py - d->pt;
                if (iy < 0 || iy >= d->h) {
                    for (int64_t px = 0; px < sw; px++)
                        memset(dst + px * hq * wq, 0, (size_t)wq * sizeof(float));
                    continue;
                }
                const float *xr = d->x + (ci * d->h + iy) * w;
                if (sw == 1) {
                    memset(dst, 0, (size_t)lo * sizeof(float));
                    if (hi > lo)
                        memcpy(dst + lo, xr, (size_t)(hi - lo) * sizeof(float));
                    memset(dst + (hi > lo ? hi : lo), 0, (size_t)(wq - (hi > lo ? hi : lo)) * sizeof(float));
                    continue;
                }
                /* Xp[.][0][j] = X[iy][2j - pl], Xp[.][1][j] = X[iy][2j + 1 - pl] */
                float *odd = dst + hq * wq;
                int64_t t = 0;
                for (; t + VL < wq; t += VL) {
                    const int64_t o = 2 * t - d->pl;
                    VSTORE(dst + t, VEVEN(row_load_pad(xr, o, w), row_load_pad(xr, o + VL, w)));
                    VSTORE(odd + t, VEVEN(row_load_pad(xr, o + 1, w), row_load_pad(xr, o + 1 + VL, w)));
                }
                const int64_t o = 2 * t - d->pl;
                VSTOREM(dst + t, tail, VEVEN(row_load_pad(xr, o, w), row_load_pad(xr, o + VL, w)));
                VSTOREM(odd + t, tail, VEVEN(row_load_pad(xr, o + 1, w), row_load_pad(xr, o + 1 + VL, w)));
            }
}

/* Where one vector of grid pixels (q0 on) lands in Y: per output row it touches, the lanes
 * [a, b) with ox < OW, stored at Y + at + lane (at = q0 - oy (WQ - OW), maybe negative for a
 * lane-0 pointer: formed as an integer) */
struct cdir_seg {
    int n;
    int full; /* one row, every lane */
    int64_t at[VL];
    MASK m[VL];
};

static inline void cdir_segs(const struct ox_cdir *d, int64_t wq, int64_t q0, struct cdir_seg *s)
{
    s->n = 0;
    for (int64_t oy = q0 / wq; oy < d->oh && oy * wq < q0 + VL; oy++) {
        int64_t a = oy * wq - q0, b = oy * wq + d->ow - q0;
        a = a < 0 ? 0 : a;
        b = b > VL ? VL : b;
        if (b <= a)
            continue;
        s->at[s->n] = q0 - oy * (wq - d->ow);
        s->m[s->n++] = MASK_RANGE((int)a, (int)b);
    }
    s->full = s->n == 1 && q0 % wq + VL <= d->ow;
}

static inline __attribute__((always_inline)) float *cdir_at(float *y, int64_t at)
{
    return (float *)((uintptr_t)y + (uintptr_t)(at * (int64_t)sizeof(float)));
}

static inline __attribute__((always_inline)) VF cdir_zload(const float *z, const struct cdir_seg *s)
{
    if (s->full)
        return VLOAD(z + s->at[0]);
    VF v = VZERO();
    for (int i = 0; i < s->n; i++)
        v = VADD(v, VLOADM(cdir_at((float *)z, s->at[i]), s->m[i]));
    return v;
}

static inline __attribute__((always_inline)) void cdir_store(float *y, const struct cdir_seg *s, VF v)
{
    if (s->full) {
        VSTORE(y + s->at[0], v);
        return;
    }
    for (int i = 0; i < s->n; i++)
        VSTOREM(cdir_at(y, s->at[i]), s->m[i], v);
}

/* the lines of a plane of Y (or Z: w 0) that one vector of pixels (s) touches, for writing */
static inline __attribute__((always_inline)) void cdir_prefetch(const float *p, const struct cdir_seg *s, int w)
{
    if (s->n == 0)
        return;
    const char *a = (const char *)cdir_at((float *)p, s->at[0]), *b = (const char *)cdir_at((float *)p, s->at[s->n - 1]);
    if (w) {
        __builtin_prefetch(a, 1);
        __builtin_prefetch(b + VL * sizeof(float) - 1, 1);
    } else {
        __builtin_prefetch(a);
        __builtin_prefetch(b + VL * sizeof(float) - 1);
    }
}

/* rows [row0, row0 + nrows) (nrows <= rc <= ROWS, rc a constant after inlining) x nv (a
 * constant) vectors of grid pixels from xq (Xp at the tile's first pixel); a at the tile's
 * first row of the packed panel; y, z at the rows' channel 0; pf: prefetch the next tile's;
 * off NULL (a constant: the pointwise run): tap kk at xq + kk * OH*OW (X's channel planes) */
static inline __attribute__((always_inline)) void cdir_tile(const struct ox_cdir *d, const int32_t *off, int64_t k,
                                                            const float *a, const float *xq, float *y, const float *z,
                                                            const struct cdir_seg *s0, const struct cdir_seg *s1,
                                                            int64_t ohw, int64_t row0, int nrows, int rc, int nv,
                                                            int pf)
{
    VF acc0[ROWS], acc1[ROWS];
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        if (r >= rc)
            break;
        acc0[r] = VZERO();
        acc1[r] = VZERO();
    }
    /* Y is only stored: its lines (and Z's) asked for now arrive while the taps run, as in
     * conv_tmpl.h's tile_kc (a tile's rows are as many planes of Y, too many streams for the
     * hardware prefetcher: YOLO's 1x1 convs spent ~11 ns an output vector past their FMAs) */
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        if (r >= nrows)
            break;
        cdir_prefetch(y + r * ohw, s0, 1);
        if (nv > 1)
            cdir_prefetch(y + r * ohw, s1, 1);
        if (z) {
            cdir_prefetch(z + r * ohw, s0, 0);
            if (nv > 1)
                cdir_prefetch(z + r * ohw, s1, 0);
        }
    }
    for (int64_t kk = 0; kk < k; kk++) {
        const float *xo = off ? xq + off[kk] : xq + kk * ohw;
        VF b0 = VLOAD(xo), b1 = nv > 1 ? VLOAD(xo + VL) : VZERO();
        if (pf) { /* the next tile's pixels: C*kh*kw streams of Xp, too many for the prefetcher */
            __builtin_prefetch(xo + 2 * VL);
            __builtin_prefetch(xo + 3 * VL + VL - 1);
        }
        const float *ak = a + kk * OX_CV_MR;
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            if (r >= rc)
                break;
            VF av = VSET1(ak[r]);
            acc0[r] = VFMA(av, b0, acc0[r]);
            if (nv > 1)
                acc1[r] = VFMA(av, b1, acc1[r]);
        }
    }
    /* The common tile, without Z and each vector in one row of Y (s->full: a pointwise run's
     * tiles but a map's last, most of a direct conv's): bias, activation and store as three
     * passes (SiLU: activation and store as one, below) over the rc rows computed (rows past
     * nrows are the panel's zero rows: 0, bias 0, not stored), the activation picked once per
     * tile, not per vector as the general store below does. The same operations per element
     * (bits unchanged); YOLO's 1x1 convs with SiLU at K = 32 and 48 (80x80 maps, 32 channels)
     * ~8% less CPU time, K >= 64 about the same. */
    if (!z && s0->full && (nv == 1 || s1->full)) {
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            if (r >= rc)
                break;
            VF bias = VSET1(d->bias && r < nrows ? d->bias[row0 + r] : 0.0f);
            acc0[r] = VADD(acc0[r], bias);
            if (nv > 1)
                acc1[r] = VADD(acc1[r], bias);
        }
        float *y0 = y + s0->at[0], *y1 = nv > 1 ? y + s1->at[0] : y;
        switch (d->epi.act) {
        case OX_ACT_NONE:
            break;
        case OX_ACT_SILU:
            /* activation and store in one pass: each vector's register is free once stored, so
             * the SiLU's constants and temporaries fit beside the live accumulators (a pass of
             * its own over all 2 * ROWS spilled them): YOLO's 1x1 SiLU convs at K = 32 (80x80,
             * 32 -> 32 channels) 0.87-0.88x CPU, K = 48 0.91x, K = 128 0.96x, 3x3 the same */
#pragma GCC unroll 16
            for (int r = 0; r < ROWS; r++) {
                if (r >= nrows)
                    break;
                VSTORE(y0 + r * ohw, VSILU(acc0[r]));
                if (nv > 1)
                    VSTORE(y1 + r * ohw, VSILU(acc1[r]));
            }
            return;
        default:
#pragma GCC unroll 16
            for (int r = 0; r < ROWS; r++) {
                if (r >= rc)
                    break;
                acc0[r] = epi_vec(&d->epi, acc0[r]);
                if (nv > 1)
                    acc1[r] = epi_vec(&d->epi, acc1[r]);
            }
        }
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            if (r >= nrows)
                break;
            VSTORE(y0 + r * ohw, acc0[r]);
            if (nv > 1)
                VSTORE(y1 + r * ohw, acc1[r]);
        }
        return;
    }
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        if (r >= nrows)
            break;
        VF bias = VSET1(d->bias ? d->bias[row0 + r] : 0.0f);
        VF v0 = VADD(acc0[r], bias);
        if (z)
            v0 = VADD(v0, cdir_zload(z + r * ohw, s0));
        cdir_store(y + r * ohw, s0, epi_vec(&d->epi, v0));
        if (nv > 1) {
            VF v1 = VADD(acc1[r], bias);
            if (z)
                v1 = VADD(v1, cdir_zload(z + r * ohw, s1));
            cdir_store(y + r * ohw, s1, epi_vec(&d->epi, v1));
        }
    }
}

/* tiles [t0, t1); pw (a constant): the pointwise run, X read in place (off NULL) */
static inline __attribute__((always_inline)) void cdir_run(const struct ox_cdir *d, int64_t t0, int64_t t1, int pw)
{
    const int64_t wq = ox_cdir_wq(d), k = d->c * d->kh * d->kw, ohw = d->oh * d->ow;
    const float *xp = pw ? d->x : d->xp;
    const int32_t *off = pw ? NULL : (const int32_t *)(xp + ox_cdir_xpf(d));
    if (!pw && !off)
        __builtin_unreachable(); /* so the tiles' off ? : folds at compile time */
    const int64_t vecs = (d->oh * wq + VL - 1) / VL, panels = (d->m + OX_CV_MR - 1) / OX_CV_MR;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t q0 = 2 * t * VL;
        const int nv = 2 * t + 1 < vecs ? 2 : 1;
        struct cdir_seg s0, s1;
        cdir_segs(d, wq, q0, &s0);
        cdir_segs(d, wq, q0 + VL, &s1);
        for (int64_t p = 0; p < panels; p++) {
            for (int h = 0; h < OX_CV_MR; h += ROWS) {
                int64_t row0 = p * OX_CV_MR + h;
                if (row0 >= d->m)
                    break;
                int nrows = d->m - row0 < ROWS ? (int)(d->m - row0) : ROWS;
                const float *a = d->wp + p * k * OX_CV_MR + h;
                float *y = d->y + row0 * ohw;
                const float *z = d->z ? d->z + row0 * ohw : NULL;
                const int pf = p == 0 && h == 0;
                if (nv == 1)
                    cdir_tile(d, off, k, a, xp + q0, y, z, &s0, &s1, ohw, row0, nrows, ROWS, 1, 0);
                else if (nrows == ROWS)
                    cdir_tile(d, off, k, a, xp + q0, y, z, &s0, &s1, ohw, row0, nrows, ROWS, 2, pf);
                else if (nrows <= ROWS / 3)
                    cdir_tile(d, off, k, a, xp + q0, y, z, &s0, &s1, ohw, row0, nrows, ROWS / 3, 2, pf);
                else if (nrows <= 2 * ROWS / 3)
                    cdir_tile(d, off, k, a, xp + q0, y, z, &s0, &s1, ohw, row0, nrows, 2 * ROWS / 3, 2, pf);
                else
                    cdir_tile(d, off, k, a, xp + q0, y, z, &s0, &s1, ohw, row0, nrows, ROWS, 2, pf);
            }
        }
    }
}

void FN(ox_cdir_run)(const struct ox_cdir *d, int64_t t0, int64_t t1)
{
    cdir_run(d, t0, t1, 0);
}

void FN(ox_cdir_pw_run)(const struct ox_cdir *d, int64_t t0, int64_t t1)
{
    cdir_run(d, t0, t1, 1);
}

#if VL == 16
/* The oc-lane kernel (conv_direct.h ox_cdoc_*): NV vectors of 16 output channels x P pixels
 * of one output row, sw (1 or 2) a constant. */

/* 16 rows of 16 floats -> their transpose (r[i]: column i) */
static inline __attribute__((always_inline)) void cdoc_tr16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[4a + j] lanes: rows 4a..4a+3's columns j, 4 + j, 8 + j, 12 + j (one per 128 bits) */
    for (int j = 0; j < 4; j++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88), u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
        t[4 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* a tile's taps of input channels [c0, c1): pixel p's sums (NV vectors of channels) at
 * t[p * 16 NV + 16 v], from zero (first) or from t; tap (ci, ky, kx) of pixel p at xr + (ci -
 * c0) * cs + ky * ys + kx + p * SW_. A function of its own per variant (inlined into the run,
 * GCC spilled the accumulators, as conv_tmpl.h's tiles) */
static inline __attribute__((always_inline)) void cdoc_taps(const struct ox_cdir *d, const float *xr, int64_t cs,
                                                            int64_t ys, int64_t c0, int64_t c1, int first, float *t,
                                                            int NV, int P, int SW_, int KW)
{
    VF a[16][4];
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            a[p][v] = first ? VZERO() : VLOAD(t + (p * NV + v) * 16);
    const int64_t kw = KW ? KW : d->kw, kh = d->kh; /* KW: a constant (3), the taps of a row unrolled */
    const float *wk = d->wp + c0 * kh * kw * 16 * NV;
    for (int64_t ci = 0; ci < c1 - c0; ci++)
        for (int64_t ky = 0; ky < kh; ky++) {
            const float *r = xr + ci * cs + ky * ys;
            /* the row's slice two tiles on: C * kh streams, too many for the prefetcher (YOLO's
             * 160x160 input, 1.6 MB, is read from L3) */
            __builtin_prefetch(r + 2 * SW_ * P);
            __builtin_prefetch(r + 2 * SW_ * P + 16);
#pragma GCC unroll 4
            for (int64_t kx = 0; kx < kw; kx++, wk += 16 * NV, r++) {
                /* r opaque: else GCC carries the loads that the next kx shares (r[kx + p * SW_])
                 * in scalar registers and spills (predictive commoning), 2x slower */
                __asm__("" : "+r"(r));
                VF w[4];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    w[v] = VLOAD(wk + 16 * v);
#pragma GCC unroll 16
                for (int p = 0; p < P; p++) {
                    VF b = _mm512_broadcastss_ps(_mm_load_ss(r + p * SW_));
#pragma GCC unroll 4
                    for (int v = 0; v < NV; v++)
                        a[p][v] = VFMA(b, w[v], a[p][v]);
                }
            }
        }
#pragma GCC unroll 16
    for (int p = 0; p < P; p++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            VSTORE(t + (p * NV + v) * 16, a[p][v]);
}

#define CDOC_TAPS(nv, p, sw)                                                                                           \
    static __attribute__((noinline)) void cdoc_taps_##nv##_##p##_##sw(const struct ox_cdir *d, const float *xr,      \
                                                                        int64_t cs, int64_t ys, int64_t c0,            \
                                                                        int64_t c1, int first, float *t)               \
    {                                                                                                                  \
        if (d->kw == 3)                                                                                                \
            cdoc_taps(d, xr, cs, ys, c0, c1, first, t, nv, p, sw, 3);                                                  \
        else                                                                                                           \
            cdoc_taps(d, xr, cs, ys, c0, c1, first, t, nv, p, sw, 0);                                                  \
    }
#define CDOC_TAPS_SW(nv, p)                                                                                            \
    CDOC_TAPS(nv, p, 1)                                                                                                \
    CDOC_TAPS(nv, p, 2)
CDOC_TAPS_SW(1, 16)
CDOC_TAPS_SW(2, 12)
CDOC_TAPS_SW(2, 10)
CDOC_TAPS_SW(3, 8)
CDOC_TAPS_SW(3, 7)
CDOC_TAPS_SW(4, 6)
CDOC_TAPS_SW(4, 5)
#undef CDOC_TAPS_SW
#undef CDOC_TAPS

typedef void (*cdoc_taps_fn)(const struct ox_cdir *d, const float *xr, int64_t cs, int64_t ys, int64_t c0,
                             int64_t c1, int first, float *t);

/* bias and activation per vector of channels of the tile t (P pixels), then 16 x 16 transposes
 * to Y's rows (y at the tile's pixel 0, lanes st stored) */
static inline __attribute__((always_inline)) void cdoc_store(const struct ox_cdir *d, const float *t, float *y,
                                                             int64_t ohw, MASK st, int NV, int P)
{
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const int64_t o0 = 16 * v, no = d->m - o0 < 16 ? d->m - o0 : 16;
        VF bias = d->bias ? VLOADM(d->bias + o0, MASK_N((int)no)) : VZERO();
        VF r[16];
#pragma GCC unroll 16
        for (int p = 0; p < 16; p++)
            r[p] = p < P ? epi_vec(&d->epi, VADD(VLOAD(t + p * 16 * NV + o0), bias)) : VZERO();
        cdoc_tr16(r);
        float *yo = y + o0 * ohw;
        if (no == 16) {
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++)
                VSTOREM(yo + l * ohw, st, r[l]);
        } else {
            for (int l = 0; l < no; l++)
                VSTOREM(yo + l * ohw, st, r[l]);
        }
    }
}

#define CDOC_GROUP 16 /* tiles of a row whose partial sums the channel blocks chain */

/* items [i0, i1) at NV vectors of channels, P pixels, column stride SW_ (constants). The
 * items of one row go in groups of up to CDOC_GROUP tiles; the input channels in blocks
 * whose weights (cb * kh * kw * 16 NV floats) stay within ~24 KiB of L1, each block over
 * every tile of the group, the partial sums kept in t (64 KiB of 64-channel weights, 32 ->
 * 64 or 64 -> 64 channels, streamed from L2 per tile evicted the tiles' input lines) */
static inline __attribute__((always_inline)) void cdoc_run(const struct ox_cdir *d, int64_t i0, int64_t i1,
                                                           cdoc_taps_fn taps, int NV, int P, int SW_)
{
    const int64_t nt = (d->ow + P - 1) / P, ohw = d->oh * d->ow, bw = SW_ * (P - 1) + d->kw;
    const int64_t bwp = (bw + VL - 1) / VL * VL; /* a buffered row, whole vectors */
    const int64_t tap = d->kh * d->kw * 16 * NV, cbm = OX_CDOC_CHBLK / tap > 1 ? OX_CDOC_CHBLK / tap : 1;
    const int64_t nb = (d->c + cbm - 1) / cbm, cb = (d->c + nb - 1) / nb; /* channels a block */
    float buf[OX_CDOC_BUF] __attribute__((aligned(64)));
    float t[CDOC_GROUP * OX_CDOC_TILE] __attribute__((aligned(64))); /* a tile: P * 16 NV floats */
    for (int64_t g0 = i0; g0 < i1;) {
        const int64_t oy = g0 / nt, row_end = (oy + 1) * nt;
        const int64_t g1 = row_end < i1 ? (row_end - g0 < CDOC_GROUP ? row_end : g0 + CDOC_GROUP)
                                        : (i1 - g0 < CDOC_GROUP ? i1 : g0 + CDOC_GROUP);
        const int64_t iy0 = oy * d->sh - d->pt;
        for (int64_t c0 = 0; c0 < d->c; c0 += cb) {
            const int64_t c1 = c0 + cb < d->c ? c0 + cb : d->c;
            for (int64_t it = g0; it < g1; it++) {
                int64_t ox0 = it % nt * P;
                if (ox0 + P > d->ow && d->ow >= P)
                    ox0 = d->ow - P;
                const int64_t ix0 = ox0 * SW_ - d->pl;
                float *tt = t + (it - g0) * P * 16 * NV;
                if (iy0 >= 0 && iy0 + d->kh <= d->h && ix0 >= 0 && ix0 + bw <= d->w) {
                    taps(d, d->x + (c0 * d->h + iy0) * d->w + ix0, d->h * d->w, d->w, c0, c1, c0 == 0, tt);
                    continue;
                }
                /* the tile's input slice, zero-padded */
                for (int64_t ci = c0; ci < c1; ci++)
                    for (int64_t ky = 0; ky < d->kh; ky++) {
                        float *br = buf + ((ci - c0) * d->kh + ky) * bwp;
                        const int64_t iy = iy0 + ky;
                        if (iy < 0 || iy >= d->h) {
                            for (int64_t u = 0; u < bwp; u += VL)
                                VSTORE(br + u, VZERO());
                            continue;
                        }
                        const float *xr = d->x + (ci * d->h + iy) * d->w;
                        for (int64_t u = 0; u < bwp; u += VL)
                            VSTORE(br + u, row_load_pad(xr, ix0 + u, d->w));
                    }
                taps(d, buf, d->kh * bwp, bwp, c0, c1, c0 == 0, tt);
            }
        }
        for (int64_t it = g0; it < g1; it++) {
            int64_t ox0 = it % nt * P;
            int s0 = 0, e = P;
            if (ox0 + P > d->ow) {
                if (d->ow >= P) { /* the row's last tile, moved back to end at OW: lanes < s0 done */
                    s0 = (int)(ox0 + P - d->ow);
                    ox0 = d->ow - P;
                } else { /* a map narrower than a tile */
                    e = (int)d->ow;
                }
            }
            cdoc_store(d, t + (it - g0) * P * 16 * NV, d->y + oy * d->ow + ox0, ohw, (MASK)(MASK_N(e) & ~MASK_N(s0)),
                       NV, P);
        }
        g0 = g1;
    }
}

void FN(ox_cdoc_run)(const struct ox_cdir *d, int64_t i0, int64_t i1)
{
#define CDOC_CASE(nv, p)                                                                                               \
    if (px == (p)) {                                                                                                   \
        if (d->sw == 2)                                                                                                \
            cdoc_run(d, i0, i1, cdoc_taps_##nv##_##p##_2, nv, p, 2);                                                   \
        else                                                                                                           \
            cdoc_run(d, i0, i1, cdoc_taps_##nv##_##p##_1, nv, p, 1);                                                   \
        return;                                                                                                        \
    }
    const int64_t px = ox_cdoc_px(d);
    switch ((d->m + 15) / 16) {
    case 1:
        CDOC_CASE(1, 16)
        break;
    case 2:
        CDOC_CASE(2, 12)
        CDOC_CASE(2, 10)
        break;
    case 3:
        CDOC_CASE(3, 8)
        CDOC_CASE(3, 7)
        break;
    default:
        CDOC_CASE(4, 6)
        CDOC_CASE(4, 5)
    }
#undef CDOC_CASE
}
#endif
