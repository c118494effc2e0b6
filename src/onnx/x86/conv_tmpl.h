/* conv_tmpl.h — the body of the SIMD conv kernels (see conv_kern.h), written once over a
 * small set of vector macros and included by conv_avx2.c (8 lanes, 6-row tiles) and
 * conv_avx512.c (16 lanes, 12-row tiles). The includer defines:
 *   VL, ROWS, VF, MASK, VZERO(), VSET1(x), VLOAD(p), VLOADM(p, m), VSTORE(p, v), VSTOREM(p, m, v),
 *   VFMA(a, b, c), VMAX(a, b), VMIN(a, b), VMUL(a, b), VADD(a, b), MASK_N(n) (first n lanes),
 *   VSIGMOID(v), VSILU(v) (src/onnx/x86/act_silu.h, src/base/x86/vexp_*.h), MASK_RANGE(a, b) (lanes [a, b)),
 *   VGATHER(base, first, step, m) (lane l: base[first + l * step] where m, else 0),
 *   VEVEN(lo, hi) (the even lanes of lo then those of hi),
 *   FN(name) (the suffixed public name).
 * GEMM tile: ROWS rows of a weight panel x 2*VL columns of a packed strip of B, 2*ROWS
 * accumulators; per step of K two vectors of the strip and ROWS broadcasts of the panel. */
#include <stdint.h>
#include <string.h>

#include "base/x86/vtr8_avx2.h"
#include "onnx/conv_kern.h"

/* always inlined: a call here would spill every accumulator of the tile (all vector
 * registers are caller-saved), which is what the scalar expf epilogue cost before */
static inline __attribute__((always_inline)) VF epi_vec(const struct ox_epi *e, VF v)
{
    switch (e->act) {
    case OX_ACT_RELU:
        return VMAX(v, VZERO());
    case OX_ACT_CLIP:
        return VMIN(VMAX(v, VSET1(e->a)), VSET1(e->b));
    case OX_ACT_HARDSIGMOID:
        return VMIN(VMAX(VFMA(v, VSET1(e->a), VSET1(e->b)), VZERO()), VSET1(1.0f));
    case OX_ACT_HARDSWISH:
        return VMUL(v, VMIN(VMAX(VFMA(v, VSET1(e->a), VSET1(e->b)), VZERO()), VSET1(1.0f)));
    case OX_ACT_SIGMOID:
        return VSIGMOID(v);
    case OX_ACT_SILU:
        return VSILU(v);
    default:
        return v;
    }
}

#define SW (2 * VL) /* columns per packed strip of B: one tile's width */

/* Extra columns a tile may compute beside its vectors (see tile_kc): AVX-512 only, where one
 * vector holds a whole panel's OX_CV_MR rows and a tile is the whole panel (ROWS == MR) */
#if VL >= OX_CV_MR && ROWS == OX_CV_MR
#define XC_MAX 4
#else
#define XC_MAX 0
#endif

/* where a tile's extra columns are: xc (0..XC_MAX, a constant after inlining) columns of a
 * packed strip from bx on (step SW per K row), Y's at cx (Z's at zx, NULL: none), row stride
 * ldc as the tile's */
struct tile_x {
    const float *bx;
    float *cx;
    const float *zx;
};

/* Y rows [row0, row0 + nrows) (nrows <= rc <= ROWS, rc rows computed: a constant after
 * inlining, so a short tail tile of a panel costs its rows, not ROWS) x nc columns (nc <= SW)
 * of one K block, at c (row stride ldc; Z at zt, same strides, NULL: none): a points at the
 * tile's first row of the panel's block (kc x MR), bs at the packed strip (kc x SW, zero past
 * nc). first: the sums start at zero, else from Y (the earlier blocks' partial sums); last:
 * bias and activation are applied before the store. nv: vectors computed (1: nc <= VL, a
 * constant after inlining, half the FMAs of a two-vector tile on a narrow strip).
 * xc (XC_MAX only, nrows == ROWS == OX_CV_MR): xc more columns at *x, each one vector with
 * the panel's rows in the lanes, one FMA per K step, summed in the same order as the tile's
 * columns (same bits): a strip's last 1-4 columns (N = 49: 32 + 16 + 1; 196: 6 * 32 + 4)
 * ride along with a tile's K loop instead of a loop of their own (strip_col). */
static inline __attribute__((always_inline)) void tile_kc(const struct ox_conv_gemm *g, const float *a,
                                                          const float *bs, int64_t kc, float *c, int64_t ldc,
                                                          const float *zt, int64_t row0, int nrows, int rc, int nc,
                                                          int nv, int first, int last, const float *pf,
                                                          const struct tile_x *x, int xc)
{
    VF acc0[ROWS], acc1[ROWS];
    MASK m0 = MASK_N(nc < VL ? nc : VL), m1 = MASK_N(nc > VL ? nc - VL : 0);
#if XC_MAX
    VF accx[XC_MAX];
    const MASK mr = MASK_N(OX_CV_MR);
#pragma GCC unroll 4
    for (int e = 0; e < XC_MAX; e++) {
        if (e >= xc)
            break;
        if (first) { /* as the tile's Y lines: asked for now, stored at the end */
            accx[e] = VZERO();
            if (e == 0)
                for (int r = 0; r < ROWS; r++)
                    __builtin_prefetch(x->cx + r * ldc, 1);
        } else {
            float t[VL] __attribute__((aligned(64))) = {0};
            for (int r = 0; r < ROWS; r++)
                t[r] = x->cx[r * ldc + e];
            accx[e] = VLOAD(t);
        }
    }
#else
    (void)x;
    (void)xc;
#endif
    if (first) /* Y is only stored: its lines (and Z's) asked for now arrive while the tile runs */
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            if (r >= nrows)
                break;
            __builtin_prefetch(c + r * ldc, 1);
            __builtin_prefetch(c + r * ldc + SW - 1, 1);
            if (last && zt) {
                __builtin_prefetch(zt + r * ldc);
                __builtin_prefetch(zt + r * ldc + SW - 1);
            }
        }
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        if (r >= rc)
            break;
        acc1[r] = VZERO();
        if (first || r >= nrows) {
            acc0[r] = VZERO();
        } else if (nv == 1) {
            acc0[r] = VLOADM(c + r * ldc, m0);
        } else if (nc == SW) {
            acc0[r] = VLOAD(c + r * ldc);
            acc1[r] = VLOAD(c + r * ldc + VL);
        } else {
            acc0[r] = VLOADM(c + r * ldc, m0);
            acc1[r] = VLOADM(c + r * ldc + VL, m1);
        }
    }
    for (int64_t kk = 0; kk < kc; kk++) {
        VF b0 = VLOAD(bs + kk * SW), b1 = nv > 1 ? VLOAD(bs + kk * SW + VL) : VZERO();
        const float *ak = a + kk * OX_CV_MR;
        __builtin_prefetch(pf + kk * OX_CV_MR);
#pragma GCC unroll 16
        for (int r = 0; r < ROWS; r++) {
            if (r >= rc)
                break;
            VF av = VSET1(ak[r]);
            acc0[r] = VFMA(av, b0, acc0[r]);
            if (nv > 1)
                acc1[r] = VFMA(av, b1, acc1[r]);
        }
#if XC_MAX
        if (xc) {
            VF ar = VLOADM(ak, mr);
#pragma GCC unroll 4
            for (int e = 0; e < XC_MAX; e++) {
                if (e >= xc)
                    break;
                accx[e] = VFMA(ar, VSET1(x->bx[kk * SW + e]), accx[e]);
            }
        }
#endif
    }
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; r++) {
        if (r >= nrows)
            break;
        VF v0 = acc0[r], v1 = acc1[r];
        if (last) {
            VF bias = VSET1(g->bias ? g->bias[row0 + r] : 0.0f);
            v0 = VADD(v0, bias);
            v1 = VADD(v1, bias);
            if (zt) { /* Z (a fused residual Add): same layout as Y */
                const float *z = zt + r * ldc;
                v0 = VADD(v0, nc == SW ? VLOAD(z) : VLOADM(z, m0));
                if (nv > 1)
                    v1 = VADD(v1, nc == SW ? VLOAD(z + VL) : VLOADM(z + VL, m1));
            }
            v0 = epi_vec(&g->epi, v0);
            if (nv > 1)
                v1 = epi_vec(&g->epi, v1);
        }
        if (nv == 1) {
            VSTOREM(c + r * ldc, m0, v0);
        } else if (nc == SW) {
            VSTORE(c + r * ldc, v0);
            VSTORE(c + r * ldc + VL, v1);
        } else {
            VSTOREM(c + r * ldc, m0, v0);
            VSTOREM(c + r * ldc + VL, m1, v1);
        }
    }
#if XC_MAX
#pragma GCC unroll 4
    for (int e = 0; e < XC_MAX; e++) {
        if (e >= xc)
            break;
        float t[VL] __attribute__((aligned(64)));
        VF v = accx[e];
        if (last) { /* as a tile column: + bias, + Z, activation */
            v = VADD(v, g->bias ? VLOADM(g->bias + row0, mr) : VZERO());
            if (x->zx) {
                for (int r = 0; r < ROWS; r++)
                    t[r] = x->zx[r * ldc + e];
                v = VADD(v, VLOADM(t, mr));
            }
            v = epi_vec(&g->epi, v);
        }
        VSTORE(t, v);
        for (int r = 0; r < ROWS; r++)
            x->cx[r * ldc + e] = t[r];
    }
#endif
}

/* B rows [k0, k0 + kc) x columns [j0, j0 + nc) of a matrix into strips of SW columns:
 * dst[(s * kc + kk) * SW + c] = B[k0 + kk][j0 + s * SW + c], zero past nc */
/* floats from the start of B (step bstep) or Y (cstep) to column j of row 0 (g->seg) */
static inline int64_t col_at(const struct ox_conv_gemm *g, int64_t step, int64_t j)
{
    return g->seg ? j / g->seg * step + j % g->seg : j;
}

/* lanes of a tile from column j that lie in j's image (g->seg): nc, or fewer where the
 * next image starts inside the tile */
static inline int seg_split(const struct ox_conv_gemm *g, int64_t j, int nc)
{
    int64_t left = g->seg ? g->seg - j % g->seg : nc;
    return left < nc ? (int)left : nc;
}

static inline MASK lanes_of(int v, int a, int b) /* lanes [a, b) of the strip, in vector v */
{
    a -= v * VL;
    b -= v * VL;
    a = a < 0 ? 0 : a > VL ? VL : a;
    b = b < 0 ? 0 : b > VL ? VL : b;
    return MASK_RANGE(a, b < a ? a : b);
}

/* VL floats of the row xr (w wide) from column o on (o may be negative), 0 outside [0, w):
 * masked lanes are not read (no fault), the pointer formed as an integer (stem_tmpl.h's
 * stride-2 rows, cdir_tmpl.h's fill) */
static inline __attribute__((always_inline)) VF row_load_pad(const float *xr, int64_t o, int64_t w)
{
    if (o >= 0 && o + VL <= w)
        return VLOAD(xr + o);
    int64_t a = o < 0 ? -o : 0, b = w - o;
    a = a > VL ? VL : a;
    b = b < 0 ? 0 : b > VL ? VL : b;
    if (b <= a)
        return VZERO();
    return VLOADM((const float *)((uintptr_t)xr + (uintptr_t)(o * (int64_t)sizeof(float))), MASK_RANGE((int)a, (int)b));
}

static void pack_b(const struct ox_conv_gemm *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float *dst)
{
    for (int64_t s = 0; s * SW < nc; s++) {
        int w = nc - s * SW < SW ? (int)(nc - s * SW) : SW;
        float *d = dst + s * kc * SW;
        const int64_t js = j0 + s * SW;
        const float *src = g->b + k0 * g->ldb + col_at(g, g->bstep, js);
        int split = seg_split(g, js, w);
        if (split < w) { /* two images: lane l >= split reads the next one's column l - split */
            const float *src1 = g->b + k0 * g->ldb + col_at(g, g->bstep, js + split) - split;
            MASK a0 = lanes_of(0, 0, split), a1 = lanes_of(1, 0, split);
            MASK b0 = lanes_of(0, split, w), b1 = lanes_of(1, split, w);
            for (int64_t kk = 0; kk < kc; kk++) {
                const float *p = src + kk * g->ldb, *q = src1 + kk * g->ldb;
                VSTORE(d + kk * SW, VADD(VLOADM(p, a0), VLOADM(q, b0)));
                VSTORE(d + kk * SW + VL, VADD(VLOADM(p + VL, a1), VLOADM(q + VL, b1)));
            }
        } else if (w == SW) {
            for (int64_t kk = 0; kk < kc; kk++) {
                VSTORE(d + kk * SW, VLOAD(src + kk * g->ldb));
                VSTORE(d + kk * SW + VL, VLOAD(src + kk * g->ldb + VL));
            }
        } else {
            MASK m0 = MASK_N(w < VL ? w : VL), m1 = MASK_N(w > VL ? w - VL : 0);
            for (int64_t kk = 0; kk < kc; kk++) {
                VSTORE(d + kk * SW, VLOADM(src + kk * g->ldb, m0));
                VSTORE(d + kk * SW + VL, VLOADM(src + kk * g->ldb + VL, m1));
            }
        }
    }
}

/* ceil(a / d) for a >= 0, d >= 1 without a divide for strides 1 and 2 (a divide per
 * segment and row of taps was most of the packing's cost) */
static inline int64_t up_div(int64_t a, int64_t d)
{
    return d == 1 ? a : d == 2 ? (a + 1) >> 1 : (a + d - 1) / d;
}

/* B rows [k0, k0 + kc) x columns [j0, j0 + nc) of im's im2col matrix into strips (layout
 * as pack_b). A strip's columns are output pixels of one or more output rows (segments);
 * for each row of taps a segment is one masked load of an input row at stride 1, two and a
 * shuffle at stride 2, a masked gather otherwise (gathers are slow: the stride-2 stem conv
 * took 1.5x the time with them), the lanes outside the image (padding) left zero. */
/* How one segment reads one column tap kx: lane l of the strip reads column first + l*sw
 * of an input row; the masks select the lanes whose column is inside the row (per vector v:
 * m[v][0], and at stride 2 m[v][1] for the second load of the pair). */
struct seg_tap {
    int64_t first;
    MASK m[2][2];
    int on[2];
};

static inline void seg_tap_make(const struct ox_conv_im2col *im, int l0, int l1, int64_t ox0, int64_t kx,
                                struct seg_tap *t)
{
    int64_t first = (ox0 - l0) * im->sw - im->pl + kx * im->dw;
    int64_t lo = first >= 0 ? 0 : up_div(-first, im->sw);
    int64_t hi = im->w - first > 0 ? up_div(im->w - first, im->sw) : 0;
    lo = lo > l0 ? lo : l0;
    hi = hi < l1 ? hi : l1;
    hi = hi > lo ? hi : lo;
    t->first = first;
    for (int v = 0; v < 2; v++) {
        int a = (int)(lo - v * VL < 0 ? 0 : lo - v * VL > VL ? VL : lo - v * VL);
        int b = (int)(hi - v * VL < 0 ? 0 : hi - v * VL > VL ? VL : hi - v * VL);
        t->on[v] = a < b;
        if (im->sw == 2) { /* source columns [2a, 2b - 1) of the vector's 2*VL */
            int s0 = 2 * a, s1 = a < b ? 2 * b - 1 : s0;
            t->m[v][0] = MASK_RANGE(s0 < VL ? s0 : VL, s1 < VL ? s1 : VL);
            t->m[v][1] = MASK_RANGE(s0 > VL ? s0 - VL : 0, s1 > VL ? s1 - VL : 0);
        } else {
            t->m[v][0] = t->m[v][1] = MASK_RANGE(a, b);
        }
    }
}

#define PK_KW 8 /* column taps whose segment reads are tabled per strip (wider: made per row) */

static void pack_im2col(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t k0, int64_t kc,
                        int64_t j0, int64_t nc, float *dst)
{
    int l0s[SW + 1], oys[SW], ox0s[SW];
    const float *xs[SW]; /* per segment: its image's X */
    struct seg_tap tab[SW][PK_KW];
    const int64_t kwh = im->kh * im->kw, plane = im->h * im->w, kwt = im->kw < PK_KW ? im->kw : PK_KW;
    for (int64_t s = 0; s * SW < nc; s++) {
        int64_t js = j0 + s * SW;
        int w = nc - s * SW < SW ? (int)(nc - s * SW) : SW, nseg = 0;
        for (int l = 0; l < w;) { /* output-row segments of the strip's lanes */
            int64_t jj = g->seg ? (js + l) % g->seg : js + l; /* seg is a multiple of OW */
            int64_t oy = jj / im->ow, ox = jj % im->ow;
            int len = im->ow - ox < w - l ? (int)(im->ow - ox) : w - l;
            xs[nseg] = im->x + (g->seg ? (js + l) / g->seg * im->xstep : 0);
            l0s[nseg] = l;
            oys[nseg] = (int)oy;
            ox0s[nseg++] = (int)ox;
            l += len;
        }
        l0s[nseg] = w;
        for (int sg = 0; sg < nseg; sg++)
            for (int64_t kx = 0; kx < kwt; kx++)
                seg_tap_make(im, l0s[sg], l0s[sg + 1], ox0s[sg], kx, &tab[sg][kx]);
        float *d = dst + s * kc * SW;
        int64_t ci = k0 / kwh, ky = k0 / im->kw % im->kh, kx = k0 % im->kw;
        for (int64_t kk = 0; kk < kc; kk++) {
            VF v0 = VZERO(), v1 = VZERO();
            for (int sg = 0; sg < nseg; sg++) {
                const float *xc = xs[sg] + ci * plane;
                int64_t iy = oys[sg] * im->sh - im->pt + ky * im->dh;
                if (iy < 0 || iy >= im->h)
                    continue;
                struct seg_tap wide;
                const struct seg_tap *t = &tab[sg][kx < PK_KW ? kx : 0];
                if (kx >= PK_KW) {
                    seg_tap_make(im, l0s[sg], l0s[sg + 1], ox0s[sg], kx, &wide);
                    t = &wide;
                }
                if (!t->on[0] && !t->on[1])
                    continue;
                const float *row = xc + iy * im->w;
                /* lane l at row + first + l*sw: formed as an integer, the lanes outside the
                 * row are masked off */
                const float *p = (const float *)((uintptr_t)row + (uintptr_t)(t->first * (int64_t)sizeof(float)));
                /* the same row of the next channel, read kh*kw rows of taps later: the
                 * planes are far apart and a stride-2 conv's input often outgrows L2 */
                __builtin_prefetch(row + plane + (t->first > 0 ? t->first : 0));
                __builtin_prefetch(row + plane + (t->first > 0 ? t->first : 0) + 16);
                if (im->sw == 1) {
                    if (t->on[0])
                        v0 = VADD(v0, VLOADM(p, t->m[0][0]));
                    if (t->on[1])
                        v1 = VADD(v1, VLOADM(p + VL, t->m[1][0]));
                } else if (im->sw == 2) {
                    /* the vector's 2*VL source columns by two masked loads, then the even ones */
                    __builtin_prefetch(row + plane + (t->first > 0 ? t->first : 0) + 32);
                    __builtin_prefetch(row + plane + (t->first > 0 ? t->first : 0) + 48);
                    if (t->on[0])
                        v0 = VADD(v0, VEVEN(VLOADM(p, t->m[0][0]), VLOADM(p + VL, t->m[0][1])));
                    if (t->on[1])
                        v1 = VADD(v1, VEVEN(VLOADM(p + 2 * VL, t->m[1][0]), VLOADM(p + 3 * VL, t->m[1][1])));
                } else {
                    if (t->on[0])
                        v0 = VADD(v0, VGATHER(row, t->first, im->sw, t->m[0][0]));
                    if (t->on[1])
                        v1 = VADD(v1, VGATHER(row, t->first + VL * im->sw, im->sw, t->m[1][0]));
                }
            }
            VSTORE(d + kk * SW, v0);
            VSTORE(d + kk * SW + VL, v1);
            if (++kx == im->kw) {
                kx = 0;
                if (++ky == im->kh) {
                    ky = 0;
                    ci++;
                }
            }
        }
    }
}

#define GV_HI (OX_CV_MR > VL ? OX_CV_MR - VL : 0) /* panel rows in the second vector */
/* out[0, OX_CV_MR) = one packed weight panel a (k steps of OX_CV_MR) times the column b
 * (element kk at b[kk * stride]): the panel's rows in the lanes (VL = 16: one masked vector
 * of 12; VL = 8: 8 + 4), four independent chains over K (strip_col and gemv_panel below). */
static inline void panel_col(const float *a, const float *b, int64_t stride, int64_t k, float out[2 * VL])
{
    MASK mlo = MASK_N(OX_CV_MR < VL ? OX_CV_MR : VL), mhi = MASK_N(GV_HI);
    VF lo[4] = {VZERO(), VZERO(), VZERO(), VZERO()}, hi[4] = {VZERO(), VZERO(), VZERO(), VZERO()};
    int64_t kk = 0;
    for (; kk + 4 <= k; kk += 4)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            VF bv = VSET1(b[(kk + u) * stride]);
            lo[u] = VFMA(VLOADM(a + (kk + u) * OX_CV_MR, mlo), bv, lo[u]);
            if (GV_HI)
                hi[u] = VFMA(VLOADM(a + (kk + u) * OX_CV_MR + VL, mhi), bv, hi[u]);
        }
    for (; kk < k; kk++) {
        VF bv = VSET1(b[kk * stride]);
        lo[0] = VFMA(VLOADM(a + kk * OX_CV_MR, mlo), bv, lo[0]);
        if (GV_HI)
            hi[0] = VFMA(VLOADM(a + kk * OX_CV_MR + VL, mhi), bv, hi[0]);
    }
    VSTORE(out, VADD(VADD(lo[0], lo[1]), VADD(lo[2], lo[3])));
    VSTORE(out + VL, VADD(VADD(hi[0], hi[1]), VADD(hi[2], hi[3])));
}

/* One column of a packed strip (bs at its column) for panel p's rows, one K block (a at
 * the panel's block, c and z at the panel's first row of the column): the panel's rows in
 * the lanes (VL = 16: one masked vector of 12; VL = 8: 8 + 4), four chains over K. A strip's
 * last few columns (N = 49: 32 + 16 + 1; 196: 6 * 32 + 4) cost a load and an FMA per K step
 * here, where a tile would compute a whole vector of columns for them. */
static void strip_col(const struct ox_conv_gemm *g, const float *a, const float *bs, int64_t kc, float *c,
                      const float *z, int64_t row0, int first, int last)
{
    float out[2 * VL];
    const int64_t ldc = g->ldc, sub = ox_conv_kc(g->k);
    /* a sum per ox_conv_kc block added to Y's, as where K blocks are no larger (a block of
     * gemm_blocked_kc2 is whole ones of them): the same bits for any blocking */
    for (int64_t s0 = 0; s0 < kc; s0 += sub) {
        const int64_t n = kc - s0 < sub ? kc - s0 : sub;
        const int head = first && s0 == 0, tail = last && s0 + n == kc;
        panel_col(a + s0 * OX_CV_MR, bs + s0 * SW, SW, n, out);
        for (int r = 0; r < OX_CV_MR && row0 + r < g->m; r++) {
            float v = out[r] + (head ? 0.0f : c[r * ldc]);
            if (tail)
                v = ox_act_apply(&g->epi, v + (g->bias ? g->bias[row0 + r] : 0.0f) + (z ? z[r * ldc] : 0.0f));
            c[r * ldc] = v;
        }
    }
}

/* most strip columns taken one by one by strip_col: a column costs about a load and an FMA
 * per K step (AVX2: two of each, the panel being 8 + 4 lanes), a one-vector tile 13 and 12 */
#define SC_MAX (VL / 4)

/* tile_kc for a tile whose lanes [split, nc) are the next image's first columns (g->seg):
 * Y (and Z) of both images copied into a staging tile of row stride SW and back. c and z
 * point at the tile's first row and column in the first image. */
static __attribute__((noinline)) void tile_split(const struct ox_conv_gemm *g, const float *a, const float *bs,
                                                 int64_t kc, float *c, const float *z, int64_t j, int split,
                                                 int64_t row0, int nrows, int nc, int first, int last,
                                                 const float *pf)
{
    float ct[ROWS * SW] __attribute__((aligned(64))), zt[ROWS * SW] __attribute__((aligned(64)));
    const int64_t ldc = g->ldc, off1 = col_at(g, g->cstep, j + split) - col_at(g, g->cstep, j);
    const size_t n0 = (size_t)split * sizeof(float), n1 = (size_t)(nc - split) * sizeof(float);
    for (int r = 0; r < nrows; r++) {
        if (!first) {
            memcpy(ct + r * SW, c + r * ldc, n0);
            memcpy(ct + r * SW + split, c + r * ldc + off1, n1);
        }
        if (z && last) {
            memcpy(zt + r * SW, z + r * ldc, n0);
            memcpy(zt + r * SW + split, z + r * ldc + off1, n1);
        }
    }
    tile_kc(g, a, bs, kc, ct, SW, z ? zt : NULL, row0, nrows, ROWS, nc, 2, first, last, pf, NULL, 0);
    for (int r = 0; r < nrows; r++) {
        memcpy(c + r * ldc, ct + r * SW, n0);
        memcpy(c + r * ldc + off1, ct + r * SW + split, n1);
    }
}

/* floats from the start of a whole B packed ahead (ox_conv_prepack) to the block of
 * columns [jb, jb + NB) (jb a multiple of OX_CV_NB) and K rows [k0, k0 + kc): every block but
 * the last holds NB columns, the last its columns rounded up to whole strips */
static inline int64_t pre_at(const struct ox_conv_gemm *g, int64_t jb, int64_t k0)
{
    int64_t nbc = g->n - jb < OX_CV_NB ? g->n - jb : OX_CV_NB;
    return jb * g->k + k0 * ((nbc + SW - 1) / SW * SW);
}

/* Columns of strip s + 1 of a block (jb, nbc columns) that strip s's tiles compute as
 * extra columns (tile_kc's xc): all of them when they are the block's last strip, at most
 * SC_MAX wide, and neither strip crosses into another image; else 0. Always 0 without
 * XC_MAX. */
static inline int fold_cols(const struct ox_conv_gemm *g, int64_t jb, int64_t nbc, int64_t s)
{
    if (!XC_MAX || (s + 1) * SW >= nbc || nbc - (s + 1) * SW > SC_MAX)
        return 0;
    int n1 = (int)(nbc - (s + 1) * SW);
    if (seg_split(g, jb + s * SW, SW) < SW || seg_split(g, jb + (s + 1) * SW, n1) < n1)
        return 0;
    return n1;
}

/* whole-panel tiles of nv vectors with xc extra columns, each a function of its own: inlined
 * into gemm_blocked beside its other tiles, GCC kept the 12x32 tile's accumulators on the
 * stack (1.6x slower) */
#define TILE_XC(nv_, xc_)                                                                                              \
    static __attribute__((noinline)) void tile_##nv_##_##xc_(const struct ox_conv_gemm *g, const float *a,           \
                                                             const float *bs, int64_t kc, float *c, const float *z,   \
                                                             int64_t row0, int first, int last, const float *pf,      \
                                                             const struct tile_x *x)                                  \
    {                                                                                                                  \
        tile_kc(g, a, bs, kc, c, g->ldc, z, row0, ROWS, ROWS, nv_ * VL, nv_, first, last, pf, x, xc_);               \
    }
#if XC_MAX
TILE_XC(1, 1)
TILE_XC(1, 2)
TILE_XC(1, 3)
TILE_XC(1, 4)
TILE_XC(2, 1)
TILE_XC(2, 2)
TILE_XC(2, 3)
TILE_XC(2, 4)
#endif

/* a whole-panel tile of nv vectors (nv * VL columns) with xc (0..XC_MAX) extra columns */
static inline __attribute__((always_inline)) void tile_xc(const struct ox_conv_gemm *g, const float *a,
                                                          const float *bs, int64_t kc, float *c, const float *z,
                                                          int64_t row0, int nv, int first, int last,
                                                          const float *pf, const struct tile_x *x, int xc)
{
#if XC_MAX
    static void (*const tab[2][XC_MAX])(const struct ox_conv_gemm *, const float *, const float *, int64_t, float *,
                                        const float *, int64_t, int, int, const float *, const struct tile_x *) = {
        {tile_1_1, tile_1_2, tile_1_3, tile_1_4}, {tile_2_1, tile_2_2, tile_2_3, tile_2_4}};
    if (xc) {
        tab[nv - 1][xc - 1](g, a, bs, kc, c, z, row0, first, last, pf, x);
        return;
    }
#else
    (void)xc;
#endif
    if (nv == 2)
        tile_kc(g, a, bs, kc, c, g->ldc, z, row0, ROWS, ROWS, SW, 2, first, last, pf, x, 0);
    else
        tile_kc(g, a, bs, kc, c, g->ldc, z, row0, ROWS, ROWS, VL, 1, first, last, pf, x, 0);
}

/* Whether a column block of nbc columns is one or two strips whose weights outgrow L2 (1 MiB
 * and up; a 7x7 map's 49 columns at batch 1, a Winograd GEMM's 16 tiles of a 7x7 or 14x14
 * map): gemm_blocked then takes K blocks of up to OX_CV_KC2 rows where B is packed here and,
 * for two strips, walks the weights panel by panel over both. */
static inline int narrow_block(const struct ox_conv_gemm *g, int64_t nbc)
{
    return nbc > 0 && nbc <= 2 * SW && g->m * g->k >= (1 << 18);
}

/* Most K rows per block of such a narrow column block packed by gemm_blocked (the buffer
 * holds two strips), in whole blocks of ox_conv_kc: the panels' K blocks, K * MR floats
 * apart, were each a short run of the weights' one sequential stream, which batch 1 reads
 * from memory once a run; with K in one block (up to 1024 rows) they are the stream itself.
 * Per element the tiles' sums run in the same order (partial sums through Y between
 * blocks) and strip_col sums per ox_conv_kc block as before: same bits. Cold weights (over
 * 96 MB of copies), 1 thread on cpu1, CPU time, best of 6 alternated with the 256-row
 * blocks: M x K @ 49 columns 2048x512 657 -> 562 us, 512x2048 636 -> 578, 2048x1024
 * 1234 -> 1070, 512x4608 1345 -> 1245; one strip, 16 columns: 512x512 60-62 -> 51-52,
 * 256x2304 136 -> 122 (AVX-512, 2026-12-07). */
#define OX_CV_KC2 1024

/* the blocked GEMM of conv_kern.h; im NULL: B is g->b; pre not NULL: B packed ahead of the
 * call (ox_conv_prepack), nothing packed here (n0 a multiple of OX_CV_NB); bpk: the packing
 * buffer, at least OX_CV_KC * OX_CV_NB floats; kc2: the most K rows per block of a
 * narrow column block packed here (bpk holds 2 * SW * kc2 floats) */
static inline __attribute__((always_inline)) void gemm_blocked_in(const struct ox_conv_gemm *g,
                                                                  const struct ox_conv_im2col *im, const float *pre,
                                                                  int64_t p0, int64_t p1, int64_t n0, int64_t n1,
                                                                  float *bpk, int64_t kc2)
{
    const int64_t k = g->k;
    for (int64_t jb = n0; jb < n1; jb += OX_CV_NB) {
        int64_t nbc = n1 - jb < OX_CV_NB ? n1 - jb : OX_CV_NB;
        const int two = narrow_block(g, nbc);
        int64_t kcmax = ox_conv_kc(k);
        /* whole ox_conv_kc blocks, at most kc2 rows (strip_col); folded away for the small buffer */
        if (kc2 > OX_CV_KC && two && !pre && kc2 > kcmax)
            kcmax *= kc2 / kcmax;
        for (int64_t k0 = 0; k0 < k; k0 += kcmax) {
            int64_t kc = k - k0 < kcmax ? k - k0 : kcmax;
            int first = k0 == 0, last = k0 + kc == k;
            const float *bp = bpk;
            if (pre)
                bp = pre + pre_at(g, jb, k0);
            else if (im)
                pack_im2col(g, im, k0, kc, jb, nbc, bpk);
            else
                pack_b(g, k0, kc, jb, nbc, bpk);
            /* panels per pass over the strips: OX_CV_MC, or one where the block is two strips
             * (a 7x7 map's 49 columns at batch 1) and the weights outgrow L2 (1 MiB and up):
             * a panel's block then serves both strips while in L1, its read from memory
             * spread over the whole block instead of the first strip's pass. Weights that
             * stay in L2 (the Winograd GEMMs) measured 1-3% slower that way. */
            const int64_t mc = two && nbc > SW ? 1 : OX_CV_MC;
            for (int64_t pm = p0; pm < p1; pm += mc) {
                int64_t pe = p1 - pm < mc ? p1 : pm + mc;
                int folded = 0; /* columns of this strip that the previous strip's tiles computed */
                for (int64_t s = 0; s * SW < nbc; s++) {
                    if (folded)
                        break; /* only a block's last strip is folded */
                    int nc = nbc - s * SW < SW ? (int)(nbc - s * SW) : SW;
                    const float *bs = bp + s * kc * SW;
                    const int64_t j = jb + s * SW, cj = col_at(g, g->cstep, j);
                    const int split = seg_split(g, j, nc);
                    /* a narrow strip (the last of a row of tiles): its first nt columns by
                     * a one-vector tile where they fit one, its last few (xc, from bx and
                     * Y's column cjx on) beside that tile or, the next strip's last few,
                     * beside this strip's (fold_cols); without a tile for them (AVX2, a
                     * panel short of OX_CV_MR rows) by strip_col */
                    int nt = nc, xc = folded = fold_cols(g, jb, nbc, s);
                    const float *bx = bs + kc * SW;
                    int64_t cjx = xc ? col_at(g, g->cstep, j + SW) : 0;
                    if (split == nc && nc <= SC_MAX) {
                        nt = 0, xc = nc, bx = bs, cjx = cj;
                    } else if (split == nc && nc > VL && nc - VL <= SC_MAX) {
                        nt = VL, xc = nc - VL, bx = bs + VL, cjx = cj + VL;
                    }
                    for (int64_t p = pm; p < pe; p++) {
                        /* the extra columns ride with the panel's tile where it is one whole tile */
                        const int xt = XC_MAX && nt && (p + 1) * OX_CV_MR <= g->m ? xc : 0;
                        for (int cc = xt; cc < xc; cc++)
                            strip_col(g, g->wp + (p * k + k0) * OX_CV_MR, bx + cc, kc,
                                      g->c + p * OX_CV_MR * g->ldc + cjx + cc,
                                      g->sum ? g->sum + p * OX_CV_MR * g->ldc + cjx + cc : NULL, p * OX_CV_MR,
                                      first, last);
                        for (int h = 0; h < OX_CV_MR && nt; h += ROWS) {
                            int64_t row0 = p * OX_CV_MR + h;
                            if (row0 >= g->m)
                                break;
                            int nrows = g->m - row0 < ROWS ? (int)(g->m - row0) : ROWS;
                            const float *a = g->wp + (p * k + k0) * OX_CV_MR + h;
                            /* the next panel's block, which the hardware prefetcher does not
                             * foresee (the blocks of a K block are K * MR floats apart) */
                            const float *pf = a + k * OX_CV_MR;
                            float *c = g->c + row0 * g->ldc + cj;
                            const float *z = g->sum ? g->sum + row0 * g->ldc + cj : NULL;
                            const struct tile_x x = {bx, g->c + row0 * g->ldc + cjx,
                                                     g->sum ? g->sum + row0 * g->ldc + cjx : NULL};
                            if (split < nc) { /* a tile over two images: through a staging tile */
                                tile_split(g, a, bs, kc, c, z, j, split, row0, nrows, nc, first, last, pf);
                                continue;
                            }
                            /* the common full tile with its constants folded in */
                            if (nrows == ROWS && nt == SW)
                                tile_xc(g, a, bs, kc, c, z, row0, 2, first, last, pf, &x, xt);
                            else if (nrows == ROWS && nt == VL && xt)
                                tile_xc(g, a, bs, kc, c, z, row0, 1, first, last, pf, &x, xt);
                            else if (nt <= VL)
                                tile_kc(g, a, bs, kc, c, g->ldc, z, row0, nrows, ROWS, nt, 1, first, last, pf, NULL,
                                        0);
                            else if (nrows <= ROWS / 3) /* M = 64 = 5*12 + 4, 16 = 12 + 4 */
                                tile_kc(g, a, bs, kc, c, g->ldc, z, row0, nrows, ROWS / 3, nt, 2, first, last, pf,
                                        NULL, 0);
                            else if (nrows <= 2 * ROWS / 3)
                                tile_kc(g, a, bs, kc, c, g->ldc, z, row0, nrows, 2 * ROWS / 3, nt, 2, first, last,
                                        pf, NULL, 0);
                            else
                                tile_kc(g, a, bs, kc, c, g->ldc, z, row0, nrows, ROWS, nt, 2, first, last, pf, NULL,
                                        0);
                        }
                    }
                }
            }
        }
    }
}

/* gemm_blocked_in with the large buffer (AVX-512 256 KiB), in a function of its own so that
 * the common call's frame keeps the small one (128 KiB) */
static __attribute__((noinline)) void gemm_blocked_kc2(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im,
                                                       int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    _Static_assert(2 * SW * OX_CV_KC2 >= OX_CV_KC * OX_CV_NB, "the large buffer serves every block");
    float bpk[2 * SW * OX_CV_KC2] __attribute__((aligned(64)));
    gemm_blocked_in(g, im, NULL, p0, p1, n0, n1, bpk, OX_CV_KC2);
}

static void gemm_blocked(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, const float *pre, int64_t p0,
                         int64_t p1, int64_t n0, int64_t n1)
{
    /* only a range's last column block can be narrower than OX_CV_NB */
    int64_t last = n1 > n0 ? n1 - n0 - (n1 - n0 - 1) / OX_CV_NB * OX_CV_NB : 0;
    if (!pre && narrow_block(g, last)) {
        gemm_blocked_kc2(g, im, p0, p1, n0, n1);
        return;
    }
    float bpk[OX_CV_KC * OX_CV_NB] __attribute__((aligned(64)));
    gemm_blocked_in(g, im, pre, p0, p1, n0, n1, bpk, OX_CV_KC);
}

/* One column j of Y for one panel: y (MR,) = panel (K, MR) ^T-walk @ b[:, j] (panel_col).
 * For N of 1 (SE blocks' 1x1 convs on 1x1 maps, a classifier
 * written as a conv) the tile above computes 2*VL columns to keep one: 32x the work. */
static void gemv_panel(const struct ox_conv_gemm *g, int64_t p, int64_t j)
{
    const float *a = g->wp + p * g->k * OX_CV_MR, *b = g->b + j;
    const int64_t k = g->k, ldb = g->ldb;
    float out[2 * VL];
    panel_col(a, b, ldb, k, out);
    for (int r = 0; r < OX_CV_MR && p * OX_CV_MR + r < g->m; r++) {
        int64_t row = p * OX_CV_MR + r;
        g->c[row * g->ldc + j] = ox_act_apply(&g->epi, out[r] + (g->bias ? g->bias[row] : 0.0f) +
                                                             (g->sum ? g->sum[row * g->ldc + j] : 0.0f));
    }
}

void FN(ox_conv_gemm)(const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    if (n1 - n0 <= 2 && !g->seg) { /* a column or two: matrix-vector products (see gemv_panel) */
        for (int64_t j = n0; j < n1; j++)
            for (int64_t p = p0; p < p1; p++)
                gemv_panel(g, p, j);
        return;
    }
    gemm_blocked(g, NULL, NULL, p0, p1, n0, n1);
}

void FN(ox_conv_gemm_im2col)(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t p0, int64_t p1,
                             int64_t n0, int64_t n1)
{
    gemm_blocked(g, im, NULL, p0, p1, n0, n1);
}

int64_t FN(ox_conv_prepack_size)(int64_t k, int64_t n)
{
    int64_t last = (n - 1) / OX_CV_NB * OX_CV_NB; /* the last block's first column */
    return n > 0 ? last * k + k * ((n - last + SW - 1) / SW * SW) : 0;
}

void FN(ox_conv_prepack)(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, float *bp, int64_t i0,
                         int64_t i1)
{
    const int64_t k = g->k, kcmax = ox_conv_kc(k), nkb = ox_conv_prepack_kblocks(k);
    for (int64_t i = i0; i < i1; i++) {
        int64_t jb = i / nkb * OX_CV_NB, k0 = i % nkb * kcmax;
        int64_t kc = k - k0 < kcmax ? k - k0 : kcmax, nbc = g->n - jb < OX_CV_NB ? g->n - jb : OX_CV_NB;
        if (im)
            pack_im2col(g, im, k0, kc, jb, nbc, bp + pre_at(g, jb, k0));
        else
            pack_b(g, k0, kc, jb, nbc, bp + pre_at(g, jb, k0));
    }
}

void FN(ox_conv_gemm_pre)(const struct ox_conv_gemm *g, const float *bp, int64_t p0, int64_t p1, int64_t n0, int64_t n1)
{
    gemm_blocked(g, NULL, bp, p0, p1, n0, n1);
}

/* ---- depthwise ---- */

#define DW_STRIDE (OX_DW_MAXW + 8 * VL + 8) /* floats per buffered input row */
#define DW_NB 4                         /* output vectors computed together */

/* Copies input row iy into buf, zero-padded: buf[i] = x[iy][i - pl] for stride 1; for
 * stride 2 the padded row is split into even columns (buf[0..]) and odd ones (buf[half..]),
 * so that tap kx of output column ox is buf[(kx & 1) * (half + 4 VL) + kx / 2 + ox], contiguous.
 * Rows hold DW_NB vectors of slack past their end: the last group of columns reads them. */
static void dw_fill(const struct ox_dw *d, const float *xr, float *buf, float *tmp, int64_t half)
{
    int64_t wpad = (d->ow - 1) * d->sw + d->kw;
    float *row = d->sw == 1 ? buf : tmp;
    int64_t n = d->wd < wpad - d->pl ? d->wd : wpad - d->pl;
    /* past wpad the row stays as zeroed once per call: nothing else writes there */
    for (int64_t i = 0; i < d->pl; i++)
        row[i] = 0.0f;
    memcpy(row + d->pl, xr, (size_t)n * sizeof(float));
    for (int64_t i = d->pl + n; i < wpad; i++)
        row[i] = 0.0f;
    if (d->sw == 1)
        return;
    for (int64_t t = 0; t < half + VL; t++) {
        buf[t] = row[2 * t];
        buf[half + 4 * VL + t] = row[2 * t + 1];
    }
}

/* nb (1..DW_NB, a constant after inlining) output vectors of row yr from column ox */
static inline __attribute__((always_inline)) void dw_group(const struct ox_dw *d, const float *const *src,
                                                           const float *const *kr, int nr, int64_t odd, VF bias,
                                                           float *yr, int64_t ox, int nb)
{
    VF acc[DW_NB];
#pragma GCC unroll 4
    for (int u = 0; u < nb; u++)
        acc[u] = bias;
    for (int r = 0; r < nr; r++)
        for (int64_t kx = 0; kx < d->kw; kx++) {
            const float *s = d->sw == 1 ? src[r] + kx + ox : src[r] + (kx & 1) * odd + kx / 2 + ox;
            VF kv = VSET1(kr[r][kx]);
#pragma GCC unroll 4
            for (int u = 0; u < nb; u++)
                acc[u] = VFMA(VLOAD(s + u * VL), kv, acc[u]);
        }
#pragma GCC unroll 4
    for (int u = 0; u < nb; u++) {
        int64_t left = d->ow - ox - u * VL;
        if (left >= VL)
            VSTORE(yr + ox + u * VL, epi_vec(&d->epi, acc[u]));
        else
            VSTOREM(yr + ox + u * VL, MASK_N((int)left), epi_vec(&d->epi, acc[u]));
    }
}

void FN(ox_dw)(const struct ox_dw *d, int64_t p0, int64_t p1)
{
    float rows[7 * DW_STRIDE], tmp[DW_STRIDE];
    int64_t tag[7];
    /* vectors past a row's end are read (and their results dropped): keep them finite */
    int64_t used = (d->ow - 1) * d->sw + d->kw + 8 * VL + 8; /* a row's floats ever read */
    used = used > DW_STRIDE ? DW_STRIDE : used;
    for (int64_t q = 0; q < d->kh; q++)
        memset(rows + q * DW_STRIDE, 0, (size_t)used * sizeof(float));
    memset(tmp, 0, (size_t)used * sizeof(float));
    int64_t half = ((d->ow - 1) * d->sw + d->kw + 1) / 2; /* stride 2: columns per parity */
    int64_t odd = half + 4 * VL;
    for (int64_t p = p0; p < p1; p++) {
        int64_t ch = p % d->channels;
        const float *x = d->x + p * d->h * d->wd, *k = d->w + ch * d->kh * d->kw;
        float *y = d->y + p * d->oh * d->ow;
        VF bias = VSET1(d->bias ? d->bias[ch] : 0.0f);
        for (int q = 0; q < 7; q++)
            tag[q] = -1;
        for (int64_t oy = 0; oy < d->oh; oy++) {
            const float *src[7];
            const float *kr[7];
            int nr = 0;
            for (int64_t ky = 0; ky < d->kh; ky++) {
                int64_t iy = oy * d->sh - d->pt + ky;
                if (iy < 0 || iy >= d->h)
                    continue;
                int slot = (int)(iy % d->kh);
                float *buf = rows + slot * DW_STRIDE;
                if (tag[slot] != iy) {
                    dw_fill(d, x + iy * d->wd, buf, tmp, half);
                    tag[slot] = iy;
                }
                src[nr] = buf;
                kr[nr++] = k + ky * d->kw;
            }
            float *yr = y + oy * d->ow;
            /* up to DW_NB vectors at a time (independent FMA chains); the last one masked */
            for (int64_t ox = 0; ox < d->ow; ox += DW_NB * VL) {
                int64_t left = d->ow - ox;
                if (left > 3 * VL)
                    dw_group(d, src, kr, nr, odd, bias, yr, ox, 4);
                else if (left > 2 * VL)
                    dw_group(d, src, kr, nr, odd, bias, yr, ox, 3);
                else if (left > VL)
                    dw_group(d, src, kr, nr, odd, bias, yr, ox, 2);
                else
                    dw_group(d, src, kr, nr, odd, bias, yr, ox, 1);
            }
        }
    }
}

/* ---- depthwise, channel-blocked (see ox_dw_blk_run in conv_kern.h) ----
 * One work item is VL channels of one image. Their input rows are interleaved (8x8 register
 * transposes) into a ring of kh padded rows laid out [column][lane], so that one vector holds one pixel of VL
 * channels; every tap is then a full-width FMA whatever OW and the stride are, which is
 * what the plane kernel above lacks on the small late maps (7x7, 14x14) and stride 2. The
 * results go through a row buffer [column][lane] back to the planes. */

/* 8x8 transposes for the interleaving: vtr8_avx2 (base/x86/vtr8_avx2.h; both includers
 * build with AVX2) */
static inline __m256i tr_mask(int64_t n) /* first n (0..8) of 8 lanes */
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

/* the first n (1..8) lanes of v to p. A whole vector is a plain store, and AVX-512 builds
 * use a k-mask: vmaskmovps to memory is microcoded on AMD (about 12 cycles on Zen 2-4) and
 * was half the blocked depthwise kernel's time when every interleaved column went through
 * it. */
static inline __attribute__((always_inline)) void st8_first(float *p, int64_t n, __m256 v)
{
    if (n >= 8)
        _mm256_storeu_ps(p, v);
    else
#ifdef __AVX512VL__
        _mm256_mask_storeu_ps(p, (__mmask8)((1u << n) - 1u), v);
#else
        _mm256_maskstore_ps(p, tr_mask(n), v);
#endif
}

/* dst[ix * VL + l] = src[l][ix] for l < nc, ix < n; lanes [nc, 8 ceil(nc / 8)) get zeros,
 * lanes past those are untouched */
static void dwb_interleave(const float *const *src, int nc, int64_t n, float *dst)
{
    for (int g = 0; g * 8 < nc; g++) {
        int rows = nc - g * 8 < 8 ? nc - g * 8 : 8;
        int64_t i0 = 0;
        for (; i0 + 8 <= n; i0 += 8) { /* whole 8x8 blocks: plain loads and stores */
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < rows ? _mm256_loadu_ps(src[g * 8 + i] + i0) : _mm256_setzero_ps();
            vtr8_avx2(r);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                _mm256_storeu_ps(dst + (i0 + j) * VL + g * 8, r[j]);
        }
        if (i0 < n) { /* the row's last n - i0 < 8 columns: masked loads (not past the row) */
            int64_t cols = n - i0;
            __m256i m = tr_mask(cols);
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < rows ? _mm256_maskload_ps(src[g * 8 + i] + i0, m) : _mm256_setzero_ps();
            vtr8_avx2(r);
            for (int j = 0; j < cols; j++)
                _mm256_storeu_ps(dst + (i0 + j) * VL + g * 8, r[j]);
        }
    }
}

/* dst[l][ix] = src[ix * VL + l] for l < nc, ix < n; src readable for n rounded up to 8 */
static void dwb_deinterleave(const float *src, int nc, int64_t n, float *const *dst)
{
    for (int g = 0; g * 8 < nc; g++) {
        int rows = nc - g * 8 < 8 ? nc - g * 8 : 8;
        int64_t i0 = 0;
        if (rows == 8) /* 16 columns of 8 planes a step: each plane gets 64 adjacent bytes
                        * (one store on AVX-512) instead of 32 into 8 scattered lines */
            for (; i0 + 16 <= n; i0 += 16) {
                __m256 r[8], q[8];
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    r[j] = _mm256_loadu_ps(src + (i0 + j) * VL + g * 8);
                    q[j] = _mm256_loadu_ps(src + (i0 + 8 + j) * VL + g * 8);
                }
                vtr8_avx2(r);
                vtr8_avx2(q);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) {
#if VL == 16
                    __m512 v = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(r[i])),
                                                                   _mm256_castps_pd(q[i]), 1));
                    _mm512_storeu_ps(dst[g * 8 + i] + i0, v);
#else
                    _mm256_storeu_ps(dst[g * 8 + i] + i0, r[i]);
                    _mm256_storeu_ps(dst[g * 8 + i] + i0 + 8, q[i]);
#endif
                }
            }
        for (; i0 < n; i0 += 8) {
            int64_t cols = n - i0 < 8 ? n - i0 : 8;
            __m256 r[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                r[j] = _mm256_loadu_ps(src + (i0 + j) * VL + g * 8);
            vtr8_avx2(r);
            for (int i = 0; i < rows; i++)
                st8_first(dst[g * 8 + i] + i0, cols, r[i]);
        }
    }
}

/* nb (1..DWB_OB, a constant after inlining) output pixels from column ox of one row; kw and
 * sw are constants too where dwb_row specialises them. Each pixel's taps are summed in the
 * same order whatever nb is, so a pixel computed twice (the overlapping last group) gets
 * the same bits both times. */
#define DWB_OB 8 /* 8 independent FMA chains: two FMA pipes x four cycles of latency */
static inline __attribute__((always_inline)) void dwb_group(const float *const *src, const float *const *wr, int nr,
                                                            int64_t kw, int64_t sw, VF bias, float *ob, int64_t ox,
                                                            const struct ox_epi *e, int nb)
{
    VF acc[DWB_OB];
#pragma GCC unroll 8
    for (int u = 0; u < nb; u++)
        acc[u] = bias;
    for (int r = 0; r < nr; r++)
        for (int64_t kx = 0; kx < kw; kx++) {
            VF wv = VLOAD(wr[r] + kx * VL);
            const float *s = src[r] + (ox * sw + kx) * VL;
#pragma GCC unroll 8
            for (int u = 0; u < nb; u++)
                acc[u] = VFMA(VLOAD(s + u * sw * VL), wv, acc[u]);
        }
#pragma GCC unroll 8
    for (int u = 0; u < nb; u++)
        VSTORE(ob + (ox + u) * VL, epi_vec(e, acc[u]));
}

/* one output row into ob: groups of DWB_OB pixels, the last one moved back to end at OW
 * (recomputing a few pixels) instead of a latency-bound tail of single pixels */
static inline __attribute__((always_inline)) void dwb_row_k(const float *const *src, const float *const *wr, int nr,
                                                            int64_t kw, int64_t sw, VF bias, float *ob, int64_t ow,
                                                            const struct ox_epi *e)
{
    if (ow >= DWB_OB) {
        for (int64_t ox = 0;; ox += DWB_OB) {
            int64_t at = ox + DWB_OB <= ow ? ox : ow - DWB_OB;
            dwb_group(src, wr, nr, kw, sw, bias, ob, at, e, DWB_OB);
            if (at + DWB_OB >= ow)
                break;
        }
    } else if (ow >= 4) { /* 4..7 (the 7x7 maps): two groups of 4, overlapping */
        dwb_group(src, wr, nr, kw, sw, bias, ob, 0, e, 4);
        dwb_group(src, wr, nr, kw, sw, bias, ob, ow - 4, e, 4);
    } else {
        for (int64_t ox = 0; ox < ow; ox++)
            dwb_group(src, wr, nr, kw, sw, bias, ob, ox, e, 1);
    }
}

/* Channels c0 .. c0 + nc - 1's depthwise weights laid out tap by tap in lanes
 * (wk[t * VL + l], lanes past nc zero), and their bias as one vector. */
static inline VF dwb_lanes(const struct ox_dw *d, int64_t c0, int nc, int64_t taps, float *wk)
{
    float bb[VL];
    for (int l = 0; l < VL; l++) {
        bb[l] = l < nc && d->bias ? d->bias[c0 + l] : 0.0f;
        for (int64_t t = 0; t < taps; t++)
            wk[t * VL + l] = l < nc ? d->w[(c0 + l) * taps + t] : 0.0f;
    }
    return VLOAD(bb);
}

/* dwb_row_k with the common kernels' width and stride as constants (the tap loop unrolled) */
static void dwb_row(const struct ox_dw *d, const float *const *src, const float *const *wr, int nr, VF bias, float *ob)
{
    if (d->kw == 3 && d->sw == 1)
        dwb_row_k(src, wr, nr, 3, 1, bias, ob, d->ow, &d->epi);
    else if (d->kw == 3 && d->sw == 2)
        dwb_row_k(src, wr, nr, 3, 2, bias, ob, d->ow, &d->epi);
    else if (d->kw == 5 && d->sw == 1)
        dwb_row_k(src, wr, nr, 5, 1, bias, ob, d->ow, &d->epi);
    else if (d->kw == 5 && d->sw == 2)
        dwb_row_k(src, wr, nr, 5, 2, bias, ob, d->ow, &d->epi);
    else
        dwb_row_k(src, wr, nr, d->kw, d->sw, bias, ob, d->ow, &d->epi);
}

void FN(ox_dw_blk)(const struct ox_dw *d, int64_t tiles, int64_t q0, int64_t q1)
{
    float ring[OX_DWB_CAP] __attribute__((aligned(64)));
    float wk[OX_DWB_MAXK * VL] __attribute__((aligned(64)));
    float ob[(OX_DWB_MAXOW + 8) * VL] __attribute__((aligned(64))); /* + 8: read by whole 8x8 blocks */
    int64_t cblocks = (d->channels + VL - 1) / VL, wp = (d->ow - 1) * d->sw + d->kw;
    int64_t ncols = d->wd < wp - d->pl ? d->wd : wp - d->pl; /* image columns a row holds */
    int64_t tag[OX_DWB_MAXKH];
    /* padding columns stay zero from here; lanes past a short block keep finite stale data
     * whose results are never stored. With no short block only the padding columns are
     * zeroed: InferdMBConv calls this once per band and channel block, and zeroing the whole
     * ring each time was about a tenth of the kernel's time on its 112x112 blocks. */
    if (d->channels % VL)
        memset(ring, 0, (size_t)(d->kh * wp * VL) * sizeof(float));
    else
        for (int64_t i = 0; i < d->kh; i++) {
            memset(ring + i * wp * VL, 0, (size_t)(d->pl * VL) * sizeof(float));
            memset(ring + (i * wp + d->pl + ncols) * VL, 0, (size_t)((wp - d->pl - ncols) * VL) * sizeof(float));
        }
    for (int64_t q = q0; q < q1; q++) {
        int64_t bc = q / tiles, tile = q % tiles, b = bc / cblocks, c0 = bc % cblocks * VL;
        int64_t oy0 = tile * d->oh / tiles, oy1 = (tile + 1) * d->oh / tiles;
        int nc = d->channels - c0 < VL ? (int)(d->channels - c0) : VL;
        const int64_t xrows = d->xrows ? d->xrows : d->h, yrows = d->yrows ? d->yrows : d->oh;
        const float *x = d->x + (b * d->channels + c0) * xrows * d->wd;
        float *y = d->y + (b * d->channels + c0) * yrows * d->ow;
        int64_t taps = d->kh * d->kw;
        VF bias = dwb_lanes(d, c0, nc, taps, wk);
        for (int64_t i = 0; i < d->kh; i++)
            tag[i] = -1;
        for (int64_t oy = oy0; oy < oy1; oy++) {
            const float *src[OX_DWB_MAXKH], *wr[OX_DWB_MAXKH];
            int nr = 0;
            for (int64_t ky = 0; ky < d->kh; ky++) {
                int64_t iy = oy * d->sh - d->pt + ky;
                if (iy < 0 || iy >= d->h)
                    continue;
                int64_t slot = iy % d->kh;
                float *row = ring + slot * wp * VL;
                if (tag[slot] != iy) { /* interleave row iy of the nc planes */
                    const float *xr[VL];
                    int64_t ir = d->xrows ? iy % d->xrows : iy;
                    for (int l = 0; l < nc; l++)
                        xr[l] = x + (l * xrows + ir) * d->wd;
                    dwb_interleave(xr, nc, ncols, row + d->pl * VL);
                    tag[slot] = iy;
                }
                src[nr] = row;
                wr[nr++] = wk + ky * d->kw * VL;
            }
            dwb_row(d, src, wr, nr, bias, ob);
            float *yr[VL]; /* back to the planes */
            for (int l = 0; l < nc; l++)
                yr[l] = y + (l * yrows + oy - d->y0) * d->ow;
            dwb_deinterleave(ob, nc, d->ow, yr);
        }
    }
}
