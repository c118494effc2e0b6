/* stem_tmpl.h — the direct conv kernel for a network's first layer (few input channels, see
 * ox_conv_stem in conv_kern.h), written over conv_tmpl.h's vector macros and its epi_vec;
 * included at the end of conv_avx2.c and conv_avx512.c, after conv_tmpl.h.
 *
 * With C = 3 the im2col GEMM's K is 27: each 12x32 tile does 27 steps between loading and
 * storing its accumulators, and packing im2col was about a fifth of the layer. Here the
 * input rows one output row needs (C * kh of them) are copied once, zero-padded and, at
 * stride 2, split into even and odd columns, so that tap (c, ky, kx) of STEM_NC vectors of
 * output pixels is STEM_NC contiguous loads; every tap is then STEM_NR weight broadcasts and
 * STEM_NR x STEM_NC FMAs, summed in tap order from the bias. */

#include "onnx/conv_stem.h"

/* output channels x vectors of output pixels a group: 4 x 6 zmm accumulators + 6 pixel
 * vectors + 1 weight = 31 of 32 registers (4 x 7 spilled four accumulators to the stack, a
 * load and a store per tap: a 224x224 3 -> 32 stem with Y from memory 540 -> 480 us); AVX2:
 * 4 x 3 of 16 ymm */
#define STEM_NR 4
#if VL == 16
#define STEM_NC 6
#else
#define STEM_NC 3
#endif
#define STEM_SLACK (STEM_NC * VL + 8) /* a split row's floats past its last tap: read, dropped */
#define STEM_ROWF (2 * ((OX_STEM_MAXOW * 2 + OX_STEM_MAXK + 1) / 2 + STEM_SLACK + VL))

/* row iy of plane xp into buf, zero-padded (buf[i] = x[i - pl]); stride 2: even columns at
 * buf[0..], odd ones at buf[odd..] (odd a multiple of VL), so tap kx of output column ox is
 * buf[(kx & 1) * odd + kx / 2 + ox], split straight from X (masked loads at the pads: a copy
 * of the padded row first was 18% of the layer's CPU time). iy outside the image: zeros. */
static void stem_fill(const struct ox_stem *s, const float *xp, int64_t iy, float *buf, int64_t odd)
{
    int64_t wpad = (s->ow - 1) * s->sw + s->kw;
    int64_t n = s->wd < wpad - s->pl ? s->wd : wpad - s->pl; /* image columns the row holds */
    if (s->sw == 2) {
        if (iy < 0 || iy >= s->h) {
            memset(buf, 0, (size_t)(2 * odd) * sizeof(float));
            return;
        }
        const float *xr = xp + iy * s->wd;
        for (int64_t t = 0; t < odd; t += VL) {
            const int64_t o = 2 * t - s->pl;
            if (o >= 0 && o + 2 * VL + 1 <= n) { /* inside the row: one test for the four loads */
                VSTORE(buf + t, VEVEN(VLOAD(xr + o), VLOAD(xr + o + VL)));
                VSTORE(buf + odd + t, VEVEN(VLOAD(xr + o + 1), VLOAD(xr + o + 1 + VL)));
                continue;
            }
            VSTORE(buf + t, VEVEN(row_load_pad(xr, o, n), row_load_pad(xr, o + VL, n)));
            VSTORE(buf + odd + t, VEVEN(row_load_pad(xr, o + 1, n), row_load_pad(xr, o + 1 + VL, n)));
        }
        return;
    }
    if (iy < 0 || iy >= s->h) {
        memset(buf, 0, (size_t)wpad * sizeof(float));
        return;
    }
    memset(buf, 0, (size_t)s->pl * sizeof(float));
    memcpy(buf + s->pl, xp + iy * s->wd, (size_t)n * sizeof(float));
    if (s->pl + n < wpad)
        memset(buf + s->pl + n, 0, (size_t)(wpad - s->pl - n) * sizeof(float));
}

/* the epilogue with act a constant after inlining (its switch folded away: a switch and an
 * indirect jump per stored vector were a tenth of the layer); act < 0: e->act at run time */
static inline __attribute__((always_inline)) VF stem_epi(const struct ox_epi *e, int act, VF v)
{
    if (act < 0)
        return epi_vec(e, v);
    const struct ox_epi k = {act, e->a, e->b};
    return epi_vec(&k, v);
}

/* vector u of channel row r of a group, column ox of the output row at yr (stem_group's
 * names; plane: floats between channel planes): the epilogue, then a store of the columns < OW */
static inline __attribute__((always_inline)) void stem_put(const struct ox_stem *s, float *yr, int64_t plane,
                                                           int64_t ox, int r, int u, int full, int act, VF a)
{
    int64_t left = s->ow - ox - u * VL;
    float *yp = yr + r * plane + ox + u * VL;
    if (full || left >= VL)
        VSTORE(yp, stem_epi(&s->epi, act, a));
    else if (left > 0)
        VSTOREM(yp, MASK_N((int)left), stem_epi(&s->epi, act, a));
}

/* STEM_NR output channels (weights wg, STEM_NR x taps, rows past M zero) x nc (1..STEM_NC, a
 * constant after inlining) vectors of pixels from column ox of the output row at yr (its
 * first channel's; channel planes plane floats apart, the next output row at yr + next, 0:
 * none); stores only channels < nm and columns < OW (full: all nc vectors inside the row);
 * act as stem_epi's */
static inline __attribute__((always_inline)) void stem_group(const struct ox_stem *s, const float *const *tap,
                                                             const float *wg, const float *bg, int nm, float *yr,
                                                             int64_t plane, int64_t next, int64_t ox, int nc,
                                                             int full, int act)
{
    int64_t taps = s->c * s->kh * s->kw;
    VF acc[STEM_NR][STEM_NC];
    /* the next row's lines of Y asked for ahead of their stores (a batch's Y is out of cache:
     * 3 -> 32 at batch 8 about 510 -> 440 us an image, CPU time on a loaded VM) */
    if (full && next)
#pragma GCC unroll 8
        for (int r = 0; r < STEM_NR; r++)
#pragma GCC unroll 6
            for (int u = 0; u < nc; u++)
                __builtin_prefetch(yr + next + r * plane + ox + u * VL, 1);
#pragma GCC unroll 8
    for (int r = 0; r < STEM_NR; r++)
#pragma GCC unroll 6
        for (int u = 0; u < nc; u++)
            acc[r][u] = VSET1(bg[r]);
    for (int64_t t = 0; t < taps; t++) {
        VF xv[STEM_NC];
#pragma GCC unroll 6
        for (int u = 0; u < nc; u++)
            xv[u] = VLOAD(tap[t] + ox + u * VL);
#pragma GCC unroll 8
        for (int r = 0; r < STEM_NR; r++) {
            VF wv = VSET1(wg[r * taps + t]);
#pragma GCC unroll 6
            for (int u = 0; u < nc; u++)
                acc[r][u] = VFMA(xv[u], wv, acc[r][u]);
        }
    }
    if (act == OX_ACT_SILU || act < 0) { /* a long epilogue: once in a loop, acc through the stack */
        for (int r = 0; r < nm; r++)
#pragma GCC unroll 6
            for (int u = 0; u < nc; u++)
                stem_put(s, yr, plane, ox, r, u, full, act, acc[r][u]);
        return;
    }
    /* a short one unrolled (r < nm tested inside), acc kept in registers */
#pragma GCC unroll 8
    for (int r = 0; r < STEM_NR; r++) {
        if (r >= nm)
            break;
#pragma GCC unroll 6
        for (int u = 0; u < nc; u++)
            stem_put(s, yr, plane, ox, r, u, full, act, acc[r][u]);
    }
}

/* one output row's groups of STEM_NR channels (tap: its C kh kw taps' split rows; y: the
 * image's Y, planes of `plane` floats; the row at yo, the next one at yo + next, 0: none) */
static inline __attribute__((always_inline)) void stem_row(const struct ox_stem *s, const float *const *tap,
                                                           float *y, int64_t plane, int64_t yo, int64_t next,
                                                           int act)
{
    float wpad[STEM_NR * OX_STEM_MAXC * OX_STEM_MAXK * OX_STEM_MAXK], bpad[STEM_NR]; /* the last group's */
    int64_t taps = s->c * s->kh * s->kw;
    int64_t groups = (s->m + STEM_NR - 1) / STEM_NR;
    for (int64_t g = 0; g < groups; g++) {
        int64_t m0 = g * STEM_NR;
        int nm = s->m - m0 < STEM_NR ? (int)(s->m - m0) : STEM_NR;
        static const float nobias[STEM_NR];
        const float *wg = s->w + m0 * taps, *bg = s->bias ? s->bias + m0 : nobias;
        if (nm < STEM_NR) { /* rows past M: zero weights, results not stored */
            for (int r = 0; r < STEM_NR; r++) {
                bpad[r] = r < nm && s->bias ? s->bias[m0 + r] : 0.0f;
                for (int64_t t = 0; t < taps; t++)
                    wpad[r * taps + t] = r < nm ? s->w[(m0 + r) * taps + t] : 0.0f;
            }
            wg = wpad;
            bg = bpad;
        }
        float *yg = y + m0 * plane + yo;
        /* the row's nv vectors in ng runs of at most STEM_NC, their sizes within one of each
         * other: a lone last vector (112 columns = 6 + 1 at 16 lanes) had only STEM_NR
         * accumulators, each tap's FMAs waiting on the last tap's (half the FMA rate on a
         * seventh of ResNet's and MobileNet's stems); 4 + 3 keeps 12+ in flight. Each output
         * sums its taps in the same order whatever its run: the same bits. */
        const int64_t nv = (s->ow + VL - 1) / VL, ng = (nv + STEM_NC - 1) / STEM_NC;
        int64_t ox = 0;
        for (int64_t k = 0; k < ng; k++) {
            const int nc = (int)((k + 1) * nv / ng - k * nv / ng);
            const int full = ox + nc * VL <= s->ow; /* every vector inside the row */
            switch (nc) {
#if STEM_NC == 6
            case 6: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 6, full, act); break;
            case 5: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 5, full, act); break;
            case 4: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 4, full, act); break;
#endif
            case 3: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 3, full, act); break;
            case 2: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 2, full, act); break;
            case 1: stem_group(s, tap, wg, bg, nm, yg, plane, next, ox, 1, full, act); break;
            default: break;
            }
            ox += nc * VL;
        }
    }
}

void FN(ox_conv_stem)(const struct ox_stem *s, int64_t q0, int64_t q1)
{
    float rows[OX_STEM_MAXC * OX_STEM_MAXK * STEM_ROWF];
    const float *tap[OX_STEM_MAXC * OX_STEM_MAXK * OX_STEM_MAXK];
    const int64_t plane = (s->yrows ? s->yrows : s->oh) * s->ow; /* Y's floats a channel */
    int64_t odd = ((s->ow - 1) * s->sw + s->kw + 1) / 2 + STEM_SLACK; /* stride 2: floats per parity */
    odd = (odd + VL - 1) / VL * VL;
    int64_t rstride = s->sw == 1 ? (s->ow - 1) + s->kw + STEM_SLACK : 2 * odd;
    /* the slack past a stride-1 row is read and never written: keep it finite */
    memset(rows, 0, (size_t)(s->c * s->kh * rstride) * sizeof(float));
    /* input row iy of channel c lives in slot c kh + (iy mod kh): the kh rows of an output row
     * take kh different slots, and the kh - sh it shares with the row before (one in three for
     * a 3x3 at stride 2) stay where they were, filled once */
    int64_t held_b[OX_STEM_MAXC * OX_STEM_MAXK], held_iy[OX_STEM_MAXC * OX_STEM_MAXK];
    for (int64_t i = 0; i < s->c * s->kh; i++)
        held_b[i] = -1, held_iy[i] = 0;
    for (int64_t q = q0; q < q1; q++) { /* q: output row q % OH of image q / OH */
        int64_t b = q / s->oh, oy = q % s->oh;
        const float *x = s->x + b * s->c * s->h * s->wd;
        float *y = s->y + b * s->m * plane;
        /* the row's offset in its plane (a ring of yrows rows: oy mod yrows), the next one's */
        const int64_t yo = (s->yrows ? oy % s->yrows : oy) * s->ow;
        const int64_t next = oy + 1 >= s->oh ? 0 : (s->yrows ? (oy + 1) % s->yrows : oy + 1) * s->ow - yo;
        for (int64_t c = 0; c < s->c; c++)
            for (int64_t ky = 0; ky < s->kh; ky++) {
                const int64_t iy = oy * s->sh - s->pt + ky, slot = c * s->kh + (iy % s->kh + s->kh) % s->kh;
                float *row = rows + slot * rstride;
                if (held_b[slot] != b || held_iy[slot] != iy) {
                    stem_fill(s, x + c * s->h * s->wd, iy, row, odd);
                    held_b[slot] = b, held_iy[slot] = iy;
                }
                for (int64_t kx = 0; kx < s->kw; kx++)
                    tap[(c * s->kh + ky) * s->kw + kx] = s->sw == 1 ? row + kx : row + (kx & 1) * odd + kx / 2;
            }
        switch (s->epi.act) { /* the common activations' epilogues compiled in, the rest looked up */
        case OX_ACT_NONE: stem_row(s, tap, y, plane, yo, next, OX_ACT_NONE); break;
        case OX_ACT_RELU: stem_row(s, tap, y, plane, yo, next, OX_ACT_RELU); break;
        case OX_ACT_CLIP: stem_row(s, tap, y, plane, yo, next, OX_ACT_CLIP); break;
        case OX_ACT_HARDSWISH: stem_row(s, tap, y, plane, yo, next, OX_ACT_HARDSWISH); break;
        case OX_ACT_SILU: stem_row(s, tap, y, plane, yo, next, OX_ACT_SILU); break;
        default: stem_row(s, tap, y, plane, yo, next, -1); break;
        }
    }
}
