/* wino_tmpl.h — the SIMD Winograd F(4x4, 3x3) transforms (see conv_wino.h), written once
 * over GCC/clang vector types of VL floats and included by wino_avx2.c (VL 8) and
 * wino_avx512.c (VL 16). Every vector holds one value of VL horizontally adjacent tiles,
 * so the 6x6 transforms are plain vector adds and multiplies:
 *   input:  6 rows of 4*VL + 2 input columns -> per row 6 "phase" vectors d[k][t] = row[4t + k]
 *           (a deinterleave by 4 through two-source shuffles), B^T down the rows, B across
 *           the phases, 36 stores of VL tiles into V
 *   output: 36 loads of VL tiles from P, A^T then A, bias + activation, the 4 phase vectors
 *           of each output row interleaved back into 4*VL contiguous floats
 * Tiles past the right edge of the map are read from a zero-padded copy of the rows and
 * stored only for columns that exist. Maps of at most VL/2 tile columns put several tile rows
 * in one vector instead (input_rows, output_rows). The includer defines VL, VF (the intrinsic vector
 * type), VMAX(a, b), VMIN(a, b), VSIGMOID(v), VSILU(v), VLOADN(p, n) and VSTOREN(p, n, v) (the
 * first n < VL lanes, the others not touched in memory), VLOADR(p, lo, hi) (lanes [lo, hi),
 * 0 <= lo <= hi <= VL, the others zero and not touched) and FN(name). */
#include "onnx/conv_wino.h"
#include "onnx/v4f.h"

typedef float wv __attribute__((vector_size(VL * 4)));
typedef float wh __attribute__((vector_size(VL * 2)));

#if VL == 8
#define IDX4(k) k, k + 4, k + 8, k + 12
#define CAT 0, 1, 2, 3, 4, 5, 6, 7
#define SHIFT1 1, 2, 3, 4, 5, 6, 7, 8
#define ILO 0, 8, 1, 9, 2, 10, 3, 11
#define IHI 4, 12, 5, 13, 6, 14, 7, 15
#elif VL == 16
#define IDX4(k) k, k + 4, k + 8, k + 12, k + 16, k + 20, k + 24, k + 28
#define CAT 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#define SHIFT1 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
#define ILO 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23
#define IHI 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31
#else
#error "wino_tmpl.h: VL must be 8 or 16"
#endif

#define ROWW (4 * VL + 2) /* input columns one row of VL tiles reads */
/* the 6x6 loops unrolled whole, so the tile's vectors stay in registers (at -O2 GCC kept
 * them in stack arrays: about 2x the transforms' time) */
#define UNROLL _Pragma("GCC unroll 36")

OX_VEC_LOAD_STORE(wv, wld, wst)

/* d[k][t] = r[4t + k], t < VL, k < 6, for r's ROWW floats x0..x3 (4*VL), r4, r5 */
static inline __attribute__((always_inline)) void deint(wv x0, wv x1, wv x2, wv x3, float r4, float r5, wv d[6])
{
#define DEINT(k)                                                                                                       \
    do {                                                                                                               \
        wh lo = __builtin_shufflevector(x0, x1, IDX4(k)), hi = __builtin_shufflevector(x2, x3, IDX4(k));              \
        d[k] = __builtin_shufflevector(lo, hi, CAT);                                                                   \
    } while (0)
    DEINT(0);
    DEINT(1);
    DEINT(2);
    DEINT(3);
#undef DEINT
    wv e4 = (wv){0} + r4, e5 = (wv){0} + r5;
    d[4] = __builtin_shufflevector(d[0], e4, SHIFT1);
    d[5] = __builtin_shufflevector(d[1], e5, SHIFT1);
}

/* r = B^T d for six vectors (see bt6 in conv_wino.c) */
static inline __attribute__((always_inline)) void bt6v(wv d0, wv d1, wv d2, wv d3, wv d4, wv d5, wv r[6])
{
    wv t1 = d4 - 4.0f * d2, t2 = d3 - 4.0f * d1, t3 = d4 - d2, t4 = 2.0f * (d3 - d1);
    r[0] = 4.0f * d0 - 5.0f * d2 + d4;
    r[1] = t1 + t2;
    r[2] = t1 - t2;
    r[3] = t3 + t4;
    r[4] = t3 - t4;
    r[5] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* r = A^T q for six vectors (see at6 in conv_wino.c) */
static inline __attribute__((always_inline)) void at6v(wv q0, wv q1, wv q2, wv q3, wv q4, wv q5, wv r[4])
{
    wv s12 = q1 + q2, d12 = q1 - q2, s34 = q3 + q4, d34 = q3 - q4;
    r[0] = q0 + s12 + s34;
    r[1] = d12 + 2.0f * d34;
    r[2] = s12 + 4.0f * s34;
    r[3] = d12 + 8.0f * d34 + q5;
}

/* V at vp (channel stride cs, n of VL lanes) = B^T d B of one vector of tiles: d[i][k] input
 * row i, phase k; B^T down the rows, then along each row */
static inline __attribute__((always_inline)) void bt_store(wv d[6][6], float *vp, int64_t cs, int64_t n)
{
    wv t[6][6]; /* t[i][k]: B^T applied down the rows, for phase k */
    UNROLL for (int k = 0; k < 6; k++) {
        wv r[6];
        bt6v(d[0][k], d[1][k], d[2][k], d[3][k], d[4][k], d[5][k], r);
        UNROLL for (int i = 0; i < 6; i++)
            t[i][k] = r[i];
    }
    UNROLL for (int i = 0; i < 6; i++) {
        wv r[6];
        bt6v(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], r);
        UNROLL for (int k = 0; k < 6; k++) {
            float *dst = vp + (i * 6 + k) * cs;
            if (n == VL)
                wst(dst, r[k]);
            else
                VSTOREN(dst, n, r[k]);
        }
    }
}

/* Maps of at most VL/2 tile columns (AVX-512: ResNet's 28x28, 14x14 and 7x7 maps, 7, 4 and 2
 * tiles; they took AVX2's 8-lane single-row path before, 2.1x the CPU time at 14x14 and 7x7,
 * 1.8x on the input at 28x28, the output about even; perf shares, ResNet-50 b8): rr = VL / tw
 * tile rows share a vector, lane l = r * tw + tx of tile row ty0 + r, so their tiles
 * t = ty * tw + tx stay contiguous in V and P, and the lanes a row of tiles leaves empty are filled. The
 * input transform copies the 6 input rows of each of the rr tile rows (zeros outside the
 * map) into buf at 4 * tw * r, the layout deint reads; phases 4 and 5 of a tile row's last
 * tile (past its segment) come from ex, blended in at the lanes in endm. */
typedef int32_t wiv __attribute__((vector_size(VL * 4)));

static void input_rows(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v)
{
    const int64_t nt = g->ldt, cs = g->c * nt, tw = g->tw, rr = VL / tw, sl = 4 * tw;
    float buf[6][4 * VL + 2], ex[2][6][VL];
    memset(buf, 0, sizeof buf); /* lanes past the last tile row read finite values */
    memset(ex, 0, sizeof ex);
    wiv endm;
    for (int l = 0; l < VL; l++)
        endm[l] = l % tw == tw - 1 ? -1 : 0;
    for (int64_t ci = c0; ci < c1; ci++) {
        const float *xc = x + ci * g->h * g->w;
        if (g->pf && ci + 1 < c1) { /* the next channel's X to read and V to write */
            ox_wino_pf_lines(xc + g->h * g->w, g->h * g->w, 0);
            ox_wino_pf_positions(g, v + (ci + 1) * nt, cs, 1);
        }
        for (int64_t ty0 = 0; ty0 < g->th; ty0 += rr) {
            int64_t nr = g->th - ty0 < rr ? g->th - ty0 : rr, n = nr * tw, col0 = -g->pl;
            for (int i = 0; i < 6; i++)
                for (int64_t r = 0; r < nr; r++) {
                    int64_t iy = 4 * (ty0 + r) - g->pt + i, end = r * tw + tw - 1;
                    float *seg = buf[i] + r * sl;
                    int in = iy >= 0 && iy < g->h;
                    const float *row = in ? xc + iy * g->w : xc; /* read only when in */
                    for (int64_t s = 0; s < sl; s += VL) {
                        int64_t len = sl - s < VL ? sl - s : VL, lo = -(col0 + s), hi = g->w - (col0 + s);
                        lo = lo < 0 ? 0 : lo;
                        hi = hi > len ? len : hi;
                        /* row + col0 + s + lo is inside the row; lanes below lo are masked off */
                        wv xv = in && hi > lo ? (wv)VLOADR(row + (col0 + s + lo) - lo, (int)lo, (int)hi) : (wv){0};
                        if (len == VL)
                            wst(seg + s, xv);
                        else
                            VSTOREN(seg + s, len, xv);
                    }
                    int64_t c4 = col0 + sl;
                    ex[0][i][end] = in && c4 >= 0 && c4 < g->w ? row[c4] : 0.0f;
                    ex[1][i][end] = in && c4 + 1 >= 0 && c4 + 1 < g->w ? row[c4 + 1] : 0.0f;
                }
            wv d[6][6];
            UNROLL for (int i = 0; i < 6; i++) {
                const float *q = buf[i];
                deint(wld(q), wld(q + VL), wld(q + 2 * VL), wld(q + 3 * VL), 0.0f, 0.0f, d[i]);
                d[i][4] = (wv)(((wiv)d[i][4] & ~endm) | ((wiv)wld(ex[0][i]) & endm));
                d[i][5] = (wv)(((wiv)d[i][5] & ~endm) | ((wiv)wld(ex[1][i]) & endm));
            }
            bt_store(d, v + ci * nt + ty0 * tw, cs, n);
        }
    }
}

void FN(ox_wino_input)(const struct ox_wino *g, const float *x, int64_t c0, int64_t c1, float *v)
{
    if (2 * g->tw <= VL) {
        input_rows(g, x, c0, c1, v);
        return;
    }
    const int64_t nt = g->ldt, cs = g->c * nt; /* floats between two rows / positions of V */
    for (int64_t ci = c0; ci < c1; ci++) {
        const float *xc = x + ci * g->h * g->w;
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += VL) {
                int64_t n = g->tw - tx0 < VL ? g->tw - tx0 : VL, col0 = 4 * tx0 - g->pl;
                int inside = col0 >= 0 && col0 + ROWW <= g->w;
                wv d[6][6]; /* d[i][k]: input row i, phase k */
                UNROLL for (int i = 0; i < 6; i++) {
                    int64_t iy = 4 * ty - g->pt + i;
                    if (iy < 0 || iy >= g->h) {
                        for (int k = 0; k < 6; k++)
                            d[i][k] = (wv){0};
                        continue;
                    }
                    const float *r = xc + iy * g->w;
                    if (inside) {
                        const float *q = r + col0;
                        deint(wld(q), wld(q + VL), wld(q + 2 * VL), wld(q + 3 * VL), q[4 * VL], q[4 * VL + 1], d[i]);
                        continue;
                    }
                    /* columns outside [0, W) read as zero: masked loads of [j0, j1) */
                    int64_t j0 = col0 < 0 ? -col0 : 0, j1 = g->w - col0 < ROWW ? g->w - col0 : ROWW;
                    wv xs[4];
                    for (int s = 0; s < 4; s++) {
                        int64_t lo = j0 - s * VL, hi = j1 - s * VL;
                        lo = lo < 0 ? 0 : lo > VL ? VL : lo;
                        hi = hi < lo ? lo : hi > VL ? VL : hi;
                        /* p + lo is inside the row; lanes below lo are masked off */
                        xs[s] = hi > lo ? (wv)VLOADR(r + (col0 + s * VL + lo) - lo, (int)lo, (int)hi) : (wv){0};
                    }
                    float r4 = 4 * VL >= j0 && 4 * VL < j1 ? r[col0 + 4 * VL] : 0.0f;
                    float r5 = 4 * VL + 1 >= j0 && 4 * VL + 1 < j1 ? r[col0 + 4 * VL + 1] : 0.0f;
                    deint(xs[0], xs[1], xs[2], xs[3], r4, r5, d[i]);
                }
                bt_store(d, v + ci * nt + ty * g->tw + tx0, cs, n);
            }
    }
}

static inline __attribute__((always_inline)) wv epi_w(const struct ox_epi *e, wv v)
{
    switch (e->act) {
    case OX_ACT_RELU:
        return VMAX(v, (wv){0});
    case OX_ACT_CLIP:
        return VMIN(VMAX(v, (wv){0} + e->a), (wv){0} + e->b);
    case OX_ACT_HARDSIGMOID:
        return VMIN(VMAX(v * e->a + e->b, (wv){0}), (wv){0} + 1.0f);
    case OX_ACT_HARDSWISH:
        return v * VMIN(VMAX(v * e->a + e->b, (wv){0}), (wv){0} + 1.0f);
    case OX_ACT_SIGMOID:
        return VSIGMOID(v);
    case OX_ACT_SILU:
        return VSILU(v);
    default:
        return v;
    }
}

/* t = A^T q down the rows of a tile's 36 vectors (q[6 * row + col]) */
static inline __attribute__((always_inline)) void at_cols(const wv q[36], wv t[4][6])
{
    UNROLL for (int j = 0; j < 6; j++) {
        wv r[4];
        at6v(q[j], q[6 + j], q[12 + j], q[18 + j], q[24 + j], q[30 + j], r);
        UNROLL for (int k = 0; k < 4; k++)
            t[k][j] = r[k];
    }
}

/* one output row from its t row: A^T across it, plus b, the 4 phases interleaved back into
 * 4 * VL contiguous floats (zt[s] lane j: output column s * VL + j) */
static inline __attribute__((always_inline)) void at_row(const wv tk[6], wv b, wv zt[4])
{
    wv o[4];
    at6v(tk[0], tk[1], tk[2], tk[3], tk[4], tk[5], o);
    UNROLL for (int l = 0; l < 4; l++) /* the activation after Z, in the caller: it works per lane */
        o[l] = o[l] + b;
    /* out[4t + l] = o[l][t] */
    wv al = __builtin_shufflevector(o[0], o[2], ILO), ah = __builtin_shufflevector(o[0], o[2], IHI);
    wv bl = __builtin_shufflevector(o[1], o[3], ILO), bh = __builtin_shufflevector(o[1], o[3], IHI);
    zt[0] = __builtin_shufflevector(al, bl, ILO);
    zt[1] = __builtin_shufflevector(al, bl, IHI);
    zt[2] = __builtin_shufflevector(ah, bh, ILO);
    zt[3] = __builtin_shufflevector(ah, bh, IHI);
}

/* input_rows' output transform: output row k of tile row ty0 + r is ob[k][4 * tw * r ...] */
static void output_rows(const struct ox_wino *g, const float *p, const float *bias, const float *z,
                        const struct ox_epi *e, int64_t m0, int64_t m1, float *y)
{
    const int64_t nt = g->ldt, ms = g->m * nt, tw = g->tw, rr = VL / tw, sl = 4 * tw;
    const int64_t cols = g->ow < sl ? g->ow : sl;
    for (int64_t mi = m0; mi < m1; mi++) {
        wv b = (wv){0} + (bias ? bias[mi] : 0.0f);
        if (g->pf && mi + 1 < m1) { /* the next channel's P to read and Y to write */
            ox_wino_pf_positions(g, p + (mi + 1) * nt, ms, 0);
            ox_wino_pf_lines(y + (mi + 1) * g->ys, g->oh * g->ow, 1);
        }
        for (int64_t ty0 = 0; ty0 < g->th; ty0 += rr) {
            int64_t nr = g->th - ty0 < rr ? g->th - ty0 : rr, n = nr * tw;
            const float *pp = p + mi * nt + ty0 * tw;
            wv q[36], t[4][6];
            UNROLL for (int xi = 0; xi < 36; xi++)
                q[xi] = n == VL ? wld(pp + xi * ms) : (wv)VLOADN(pp + xi * ms, n);
            at_cols(q, t);
            float ob[4][4 * VL];
            UNROLL for (int k = 0; k < 4; k++) {
                wv zt[4];
                at_row(t[k], b, zt);
                UNROLL for (int s = 0; s < 4; s++)
                    wst(ob[k] + s * VL, zt[s]);
            }
            for (int64_t r = 0; r < nr; r++)
                for (int k = 0; k < 4 && 4 * (ty0 + r) + k < g->oh; k++) {
                    int64_t at = mi * g->ys + (4 * (ty0 + r) + k) * g->ow;
                    const float *src = ob[k] + r * sl, *zs = z ? z + at : NULL;
                    float *dst = y + at;
                    for (int64_t s = 0; s < cols; s += VL) {
                        int64_t left = cols - s;
                        if (left >= VL)
                            wst(dst + s, epi_w(e, zs ? wld(src + s) + wld(zs + s) : wld(src + s)));
                        else { /* a part row: a whole vector from src could pass ob's end */
                            wv v = (wv)VLOADN(src + s, left);
                            VSTOREN(dst + s, left, epi_w(e, zs ? v + (wv)VLOADN(zs + s, left) : v));
                        }
                    }
                }
        }
    }
}

void FN(ox_wino_output)(const struct ox_wino *g, const float *p, const float *bias, const float *z, const struct ox_epi *e,
                        int64_t m0, int64_t m1, float *y)
{
    if (2 * g->tw <= VL) {
        output_rows(g, p, bias, z, e, m0, m1, y);
        return;
    }
    const int64_t nt = g->ldt, ms = g->m * nt; /* floats between two rows / positions of P */
    for (int64_t mi = m0; mi < m1; mi++) {
        wv b = (wv){0} + (bias ? bias[mi] : 0.0f);
        for (int64_t ty = 0; ty < g->th; ty++)
            for (int64_t tx0 = 0; tx0 < g->tw; tx0 += VL) {
                int64_t n = g->tw - tx0 < VL ? g->tw - tx0 : VL;
                const float *pp = p + mi * nt + ty * g->tw + tx0;
                wv q[36], t[4][6];
                UNROLL for (int xi = 0; xi < 36; xi++) {
                    q[xi] = n == VL ? wld(pp + xi * ms) : (wv)VLOADN(pp + xi * ms, n);
                }
                at_cols(q, t);
                int64_t cols = g->ow - 4 * tx0 < 4 * VL ? g->ow - 4 * tx0 : 4 * VL;
                for (int k = 0; k < 4 && 4 * ty + k < g->oh; k++) {
                    wv zt[4];
                    at_row(t[k], b, zt);
                    int64_t at = mi * g->ys + (4 * ty + k) * g->ow + 4 * tx0;
                    float *dst = y + at;
                    const float *zs = z ? z + at : NULL; /* Z (M, OH, OW), indexed like Y */
                    for (int s = 0; s < 4; s++) {
                        int64_t left = cols - s * VL;
                        if (left >= VL)
                            wst(dst + s * VL, epi_w(e, zs ? zt[s] + wld(zs + s * VL) : zt[s]));
                        else if (left > 0)
                            VSTOREN(dst + s * VL, left, epi_w(e, zs ? zt[s] + (wv)VLOADN(zs + s * VL, left) : zt[s]));
                    }
                }
            }
    }
}
