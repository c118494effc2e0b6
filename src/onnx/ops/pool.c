/* pool.c — 2-D pooling, FP32: MaxPool (kernel_shape, strides, pads/auto_pad, dilations,
 * ceil_mode; no Indices output; also uint8 / int8, as opset 12 allows), AveragePool (count_include_pad, ceil_mode) and
 * GlobalAveragePool / GlobalMaxPool (mean / max over every spatial dim, any rank >= 3).
 *
 *   X (N, C, H, W) -> Y (N, C, OH, OW); one (n, c) plane per work item. */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "onnx/conv_kern.h"
#include "onnx/mbconv_kern.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/maxpool.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

static int pool_geometry(const struct ox_node *n, const struct ox_tensor *x, struct ox_window *win,
                         struct inferd_err *err)
{
    int q8 = (x->dt == INFERD_UINT8 || x->dt == INFERD_INT8) && n->op_type[0] == 'M';
    if (x->dt != INFERD_FP32 && !q8)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: only FP32 (and 8-bit for MaxPool) is supported",
                              n->op_type);
    if (x->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: only 2-D pooling (rank-4 input) is supported", n->op_type);
    const struct ox_attr *ks = ox_attr_find(n, "kernel_shape");
    if (!ks || ks->type != OX_ATTR_INTS || ks->n_ints != 2)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: kernel_shape must list 2 dims", n->op_type);
    return ox_window_resolve(n, x->dims[2], x->dims[3], ks->ints[0], ks->ints[1],
                             ox_attr_int(n, "ceil_mode", 0) != 0, win, err);
}

static int pool_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    struct ox_window win;
    int rc = pool_geometry(n, in[0], &win, err);
    if (rc < 0)
        return rc;
    if (n->n_out > 1 && out[1])
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "MaxPool: the Indices output is not supported");
    int64_t dims[4] = {in[0]->dims[0], in[0]->dims[1], win.oh, win.ow};
    return ox_set_shape(out[0], in[0]->dt, 4, dims, err);
}

/* 8-bit MaxPool, one plane per work item: each output the largest byte of its window inside
 * the image (pads never win, as -inf pads do in FP32); a window wholly in the padding gives
 * the type's minimum. Taken by fuse_qdq.c's rewrite of DequantizeLinear -> Relu -> MaxPool. */
struct pool8_job {
    const uint8_t *x;
    uint8_t *y;
    struct ox_window win;
    int64_t h, w;
    int is_signed;
};

/* Dilation 1, separably and in contiguous passes (16 bytes at a time with SSE2): per output row,
 * the maximum of its valid input rows into a zero-padded row (pl zeros on the left; zero is
 * the flipped minimum, so pads never win), then the maximum over the kw taps at every start
 * column, of which every sw-th is the output. */
#define POOL8_ROW 4096
static int pool8_sep_fits(const struct ox_window *v, int64_t w)
{
    return v->dh == 1 && v->dw == 1 && v->ow > 0 && v->pl + w <= 2 * POOL8_ROW && (v->ow - 1) * v->sw + v->kw <= 2 * POOL8_ROW &&
           (v->ow - 1) * v->sw + 1 <= POOL8_ROW;
}

static void pool8_plane_sep(const struct pool8_job *j, const uint8_t *x, uint8_t *y, int flip)
{
    const struct ox_window *v = &j->win;
    const int64_t w = j->w, sw = v->sw, ow = v->ow, kw = v->kw, pl = v->pl;
    const int64_t span = (ow - 1) * sw + 1, len = span + kw - 1, n = len > pl + w ? len : pl + w;
    const uint8_t fl = (uint8_t)flip;
    uint8_t hp[2 * POOL8_ROW], hm[POOL8_ROW];
    for (int64_t oy = 0; oy < v->oh; oy++) {
        memset(hp, 0, (size_t)n);
        uint8_t *restrict d = hp + pl;
        for (int64_t ky = 0; ky < v->kh; ky++) {
            int64_t iy = oy * v->sh - v->pt + ky;
            if (iy < 0 || iy >= j->h)
                continue;
            const uint8_t *restrict r = x + iy * w;
            int64_t ix = 0;
#if defined(__SSE2__)
            const __m128i vf = _mm_set1_epi8((char)fl);
            for (; ix + 16 <= w; ix += 16) {
                __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(r + ix)), vf);
                _mm_storeu_si128((__m128i *)(d + ix), _mm_max_epu8(b, _mm_loadu_si128((const __m128i *)(d + ix))));
            }
#endif
            for (; ix < w; ix++) {
                uint8_t b = (uint8_t)(r[ix] ^ fl);
                d[ix] = b > d[ix] ? b : d[ix];
            }
        }
        memcpy(hm, hp, (size_t)span);
        for (int64_t kx = 1; kx < kw; kx++) {
            const uint8_t *restrict s = hp + kx;
            int64_t i = 0;
#if defined(__SSE2__)
            for (; i + 16 <= span; i += 16)
                _mm_storeu_si128((__m128i *)(hm + i), _mm_max_epu8(_mm_loadu_si128((const __m128i *)(s + i)),
                                                                   _mm_loadu_si128((const __m128i *)(hm + i))));
#endif
            for (; i < span; i++)
                hm[i] = s[i] > hm[i] ? s[i] : hm[i];
        }
        uint8_t *yr = y + oy * ow;
        for (int64_t ox = 0; ox < ow; ox++)
            yr[ox] = (uint8_t)(hm[ox * sw] ^ fl);
    }
}

static void pool8_planes(void *arg, int64_t lo, int64_t hi)
{
    const struct pool8_job *j = arg;
    const struct ox_window *v = &j->win;
    const int flip = j->is_signed ? 0x80 : 0; /* compare int8 as uint8 with the top bit flipped */
    for (int64_t p = lo; p < hi; p++) {
        const uint8_t *x = j->x + p * j->h * j->w;
        uint8_t *y = j->y + p * v->oh * v->ow;
        if (pool8_sep_fits(v, j->w)) {
            pool8_plane_sep(j, x, y, flip);
            continue;
        }
        for (int64_t oy = 0; oy < v->oh; oy++)
            for (int64_t ox = 0; ox < v->ow; ox++) {
                int mx = 0;
                for (int64_t ky = 0; ky < v->kh; ky++) {
                    int64_t iy = oy * v->sh - v->pt + ky * v->dh;
                    if (iy < 0 || iy >= j->h)
                        continue;
                    const uint8_t *row = x + iy * j->w;
                    for (int64_t kx = 0; kx < v->kw; kx++) {
                        int64_t ix = ox * v->sw - v->pl + kx * v->dw;
                        int b = ix >= 0 && ix < j->w ? row[ix] ^ flip : 0;
                        mx = b > mx ? b : mx;
                    }
                }
                y[oy * v->ow + ox] = (uint8_t)(mx ^ flip);
            }
    }
}

struct pool_job {
    const float *x;
    float *y;
    struct ox_window win;
    int64_t h, w;
    int is_max, include_pad;
    int isa; /* MaxPool's wide kernels: 2 AVX-512, 1 AVX2, 0 SSE2 / scalar only (ox_conv_isa) */
};

/* Y[oy][ox] of one plane by walking its window: any geometry, both pools. */
static float pool_one(const struct pool_job *j, const float *x, int64_t oy, int64_t ox)
{
    const struct ox_window *v = &j->win;
    float mx = -INFINITY, s = 0.0f;
    int64_t cnt = 0, cnt_pad = 0;
    for (int64_t ky = 0; ky < v->kh; ky++) {
        int64_t iy = oy * v->sh - v->pt + ky * v->dh;
        for (int64_t kx = 0; kx < v->kw; kx++) {
            int64_t ix = ox * v->sw - v->pl + kx * v->dw;
            /* count_include_pad counts the window inside the padded input only */
            if (iy < j->h + v->pb && ix < j->w + v->pr)
                cnt_pad++;
            if (iy < 0 || iy >= j->h || ix < 0 || ix >= j->w)
                continue;
            float val = x[iy * j->w + ix];
            mx = val > mx ? val : mx;
            s += val;
            cnt++;
        }
    }
    if (j->is_max)
        return mx;
    return (j->include_pad ? cnt_pad : cnt) ? s / (float)(j->include_pad ? cnt_pad : cnt) : 0.0f;
}

/* MaxPool with dilation 1 runs separably: h[ox] = max over the taps kx of
 * xrow[ox*sw - pl + kx] (each tap over the columns where it lands inside the row), then
 * y[oy][ox] = max over the valid rows ky of h of row oy*sh - pt + ky, ox innermost in both so
 * the compiler vectorises them (YOLO's SPPF 5x5 stride 1 and the 3x3 / 2x2 stride 2 pools
 * spent their time in pool_one's per-element walk). Same comparison as pool_one, so NaNs are
 * skipped alike, and a window wholly in the padding gives -inf too. */
#define MAXPOOL_HBUF 8192 /* floats of row maxima on the stack: all rows of a plane when they fit (a
                           * ResNet stem pool's 112 rows x 56: the row-at-a-time path below redoes
                           * each row's maxima for every output row that reads it, 3x slower) */
#define MAXPOOL_PAD 1024  /* floats of -inf padded input rows on the stack */

/* h[ox] (ox < ow: v->ow, or a block of padded rows' worth) = max over the taps kx, ascending, of xrow[ox*sw - pl + kx] inside the row,
 * from -inf: columns whose taps all land inside run 16 / 8 / 4 at a time (AVX-512 / AVX2 /
 * SSE2, ops/maxpool.h) with the maximum kept in a register (maxps(tap, acc) is acc's scalar compare per lane); edge columns skip the taps in
 * the padding. */
static void maxpool_hrow(const struct pool_job *j, const float *xrow, int64_t w, int64_t pl, int64_t ow, float *h)
{
    const struct ox_window *v = &j->win;
    const int64_t sw = v->sw, kw = v->kw;
    int64_t lo = (pl + sw - 1) / sw, hi = w - kw + pl >= 0 ? (w - kw + pl) / sw + 1 : 0;
    lo = lo < ow ? lo : ow;
    hi = hi < lo ? lo : hi > ow ? ow : hi;
    int64_t ox = lo;
    if (j->isa == 2)
        ox += maxpool_hrow_avx512(xrow + lo * sw - pl, h + lo, sw, kw, hi - lo);
    else if (j->isa == 1)
        ox += maxpool_hrow_avx2(xrow + lo * sw - pl, h + lo, sw, kw, hi - lo);
#if defined(__SSE2__)
    const __m128 ninf = _mm_set1_ps(-INFINITY);
    if (sw == 1) {
        for (; ox + 4 <= hi; ox += 4) {
            __m128 acc = ninf;
            for (int64_t kx = 0; kx < kw; kx++)
                acc = _mm_max_ps(_mm_loadu_ps(xrow + ox - pl + kx), acc);
            _mm_storeu_ps(h + ox, acc);
        }
    } else if (sw == 2) {
        for (; ox + 4 < hi; ox += 4) { /* the odd lanes read one past the last tap: inside the row */
            __m128 acc = ninf;
            for (int64_t kx = 0; kx < kw; kx++) {
                const float *src = xrow + 2 * ox - pl + kx;
                __m128 even = _mm_shuffle_ps(_mm_loadu_ps(src), _mm_loadu_ps(src + 4), _MM_SHUFFLE(2, 0, 2, 0));
                acc = _mm_max_ps(even, acc);
            }
            _mm_storeu_ps(h + ox, acc);
        }
    }
#endif
    for (int64_t o = 0; o < ow; o++) {
        if (o == lo) /* the vector loop did [lo, ox) */
            o = ox;
        if (o >= ow)
            break;
        float m = -INFINITY;
        for (int64_t kx = 0; kx < kw; kx++) {
            int64_t ix = o * sw - pl + kx;
            if (ix >= 0 && ix < w)
                m = xrow[ix] > m ? xrow[ix] : m;
        }
        h[o] = m;
    }
}

static void maxpool_plane(const struct pool_job *j, const float *x, float *y)
{
    const struct ox_window *v = &j->win;
    const int64_t ow = v->ow;
    float hbuf[MAXPOOL_HBUF], pad[MAXPOOL_PAD];
    /* rows copied between -inf columns, pr floats apart (a multiple of sw), make every output
     * column an inside one (a -inf tap never wins the compare, as a skipped one), and a block
     * of them one run of h with a row every pr / sw outputs: one kernel call per block rather
     * than per row (YOLO's 20-wide planes spent their time in the per-row calls) */
    const int64_t plen = (ow - 1) * v->sw + v->kw + 1, pr = (plen + v->sw - 1) / v->sw * v->sw;
    const int padded = (v->sw == 1 || v->sw == 2) && pr <= MAXPOOL_PAD && j->h * (pr / v->sw) <= MAXPOOL_HBUF;
    const int all_rows = padded || j->h * ow <= MAXPOOL_HBUF; /* else one row of h at a time */
    const int64_t hs = padded ? pr / v->sw : ow;             /* hbuf's row stride */
    if (padded) {
        const int64_t br = MAXPOOL_PAD / pr < j->h ? MAXPOOL_PAD / pr : j->h; /* rows a block */
        const int64_t n = j->w < pr - v->pl ? j->w : pr - v->pl; /* pads can exceed the window */
        const int64_t p0 = v->pl < pr ? v->pl : pr, p1 = n > 0 ? p0 + n : p0; /* the row's floats go to [p0, p1) */
        for (int64_t r = 0; r < br; r++) { /* the -inf columns, once: the rows go between them */
            for (int64_t i = 0; i < p0; i++)
                pad[r * pr + i] = -INFINITY;
            for (int64_t i = p1; i < pr; i++)
                pad[r * pr + i] = -INFINITY;
        }
        for (int64_t iy = 0; iy < j->h; iy += br) {
            const int64_t rb = j->h - iy < br ? j->h - iy : br;
            for (int64_t r = 0; n > 0 && r < rb; r++)
                memcpy(pad + r * pr + p0, x + (iy + r) * j->w, (size_t)n * sizeof *pad);
            maxpool_hrow(j, pad, rb * pr, 0, (rb - 1) * hs + ow, hbuf + iy * hs);
        }
    } else if (all_rows) {
        for (int64_t iy = 0; iy < j->h; iy++)
            maxpool_hrow(j, x + iy * j->w, j->w, v->pl, ow, hbuf + iy * ow);
    }
    /* output rows [oa, ob) read only inside rows: one wide kernel call for them all */
    int64_t oa = (v->pt + v->sh - 1) / v->sh, ob = j->h + v->pt - v->kh >= 0 ? (j->h + v->pt - v->kh) / v->sh + 1 : 0;
    ob = ob > v->oh ? v->oh : ob;
    for (int64_t oy = 0; oy < v->oh; oy++) {
        float *yrow = y + oy * ow;
        if (all_rows && j->isa && oy == oa && ob > oa) {
            const float *rows = hbuf + (oa * v->sh - v->pt) * hs;
            int64_t o = j->isa == 2 ? maxpool_vmax_avx512(rows, hs, v->kh, yrow, ow, ob - oa, v->sh * hs, ow)
                                    : maxpool_vmax_avx2(rows, hs, v->kh, yrow, ow, ob - oa, v->sh * hs, ow);
            for (int64_t r = 0; o < ow && r < ob - oa; r++) /* AVX2's columns past its last 8 */
                for (int64_t ox = o; ox < ow; ox++) {
                    float m = -INFINITY;
                    for (int64_t ky = 0; ky < v->kh; ky++)
                        m = rows[(r * v->sh + ky) * hs + ox] > m ? rows[(r * v->sh + ky) * hs + ox] : m;
                    yrow[r * ow + ox] = m;
                }
            oy = ob - 1;
            continue;
        }
        int64_t ky0 = v->pt - oy * v->sh, ky1 = j->h + v->pt - oy * v->sh; /* valid rows: ky0 <= ky < ky1 */
        ky0 = ky0 < 0 ? 0 : ky0;
        ky1 = ky1 > v->kh ? v->kh : ky1;
        int64_t ox = 0;
        if (all_rows) { /* y = max over ky, ascending, of the row maxima, 16 / 8 / 4 columns in a register */
            const int64_t iy0 = oy * v->sh - v->pt; /* input row of ky = 0 */
            const float *rows = ky1 > ky0 ? hbuf + (iy0 + ky0) * hs : hbuf;
            const int64_t nrows = ky1 > ky0 ? ky1 - ky0 : 0;
            if (j->isa == 2)
                ox = maxpool_vmax_avx512(rows, hs, nrows, yrow, ow, 1, 0, 0);
            else if (j->isa == 1)
                ox = maxpool_vmax_avx2(rows, hs, nrows, yrow, ow, 1, 0, 0);
#if defined(__SSE2__)
            for (; ox + 4 <= ow; ox += 4) {
                __m128 acc = _mm_set1_ps(-INFINITY);
                for (int64_t ky = ky0; ky < ky1; ky++)
                    acc = _mm_max_ps(_mm_loadu_ps(hbuf + (iy0 + ky) * hs + ox), acc);
                _mm_storeu_ps(yrow + ox, acc);
            }
#endif
            for (; ox < ow; ox++) {
                float m = -INFINITY;
                for (int64_t ky = ky0; ky < ky1; ky++)
                    m = hbuf[(iy0 + ky) * hs + ox] > m ? hbuf[(iy0 + ky) * hs + ox] : m;
                yrow[ox] = m;
            }
            continue;
        }
        for (ox = 0; ox < ow; ox++)
            yrow[ox] = -INFINITY;
        for (int64_t ky = ky0; ky < ky1; ky++) {
            maxpool_hrow(j, x + (oy * v->sh - v->pt + ky) * j->w, j->w, v->pl, ow, hbuf);
            for (ox = 0; ox < ow; ox++)
                yrow[ox] = hbuf[ox] > yrow[ox] ? hbuf[ox] : yrow[ox];
        }
    }
}

static void pool_planes(void *arg, int64_t lo, int64_t hi)
{
    const struct pool_job *j = arg;
    const struct ox_window *v = &j->win;
    const int separable = j->is_max && v->dh == 1 && v->dw == 1 && v->ow <= MAXPOOL_HBUF;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = j->x + p * j->h * j->w;
        float *y = j->y + p * v->oh * v->ow;
        if (separable) {
            maxpool_plane(j, x, y);
            continue;
        }
        for (int64_t oy = 0; oy < v->oh; oy++)
            for (int64_t ox = 0; ox < v->ow; ox++)
                y[oy * v->ow + ox] = pool_one(j, x, oy, ox);
    }
}

static int pool_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    struct pool_job j = {.x = in[0]->data, .y = out[0]->data, .h = in[0]->dims[2], .w = in[0]->dims[3]};
    int rc = pool_geometry(n, in[0], &j.win, err);
    if (rc < 0)
        return rc;
    j.is_max = n->op_type[0] == 'M';
    if (in[0]->dt != INFERD_FP32) {
        struct pool8_job q = {in[0]->data, out[0]->data, j.win, j.h, j.w, in[0]->dt == INFERD_INT8};
        if (out[0]->numel)
            ox_parallel(c, in[0]->dims[0] * in[0]->dims[1], 1 + (1 << 14) / (j.win.oh * j.win.ow * j.win.kh * j.win.kw + 1),
                        pool8_planes, &q);
        return 0;
    }
    j.include_pad = ox_attr_int(n, "count_include_pad", 0) != 0;
    /* the kernels' files are built with the conv kernels' flags (AVX-512 F/BW/VL, AVX2 + FMA) */
    const enum ox_isa isa = ox_conv_isa();
    j.isa = isa == OX_ISA_AVX512 ? 2 : isa == OX_ISA_AVX2 ? 1 : 0;
    if (out[0]->numel)
        ox_parallel_bal(c, in[0]->dims[0] * in[0]->dims[1],
                        1 + (1 << 14) / (j.win.oh * j.win.ow * j.win.kh * j.win.kw + 1), pool_planes, &j);
    return 0;
}

const struct ox_op ox_op_max_pool = {
    .name = "MaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
    .infer = pool_infer, .exec = pool_exec,
};
const struct ox_op ox_op_average_pool = {
    .name = "AveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = pool_infer, .exec = pool_exec,
};

static int gap_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32 || in[0]->rank < 3)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: FP32 input of rank >= 3 expected", n->op_type);
    int64_t dims[INFERD_MAX_RANK];
    for (int d = 0; d < in[0]->rank; d++)
        dims[d] = d < 2 ? in[0]->dims[d] : 1;
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, dims, err);
}

struct gap_job {
    const float *x;
    float *y;
    int64_t len;
    enum ox_isa isa;
};

/* plane means (ox_gap_planes, ops.h; also InferdSE's squeeze); 16 partial sums in four ox_v4f
 * (v4f.h) held in registers: a float[16] of partial sums stayed on the stack, each add a load and a store behind the last one's
 * (EfficientNet-B0's 17 GlobalAveragePools 530 -> 260 us a run, 1 thread). Lane l sums x[l],
 * x[16 + l], ... and the lanes fold into the tail's sum in order 0..15, as the scalar loop
 * did: the same bits. */

void ox_gap_planes(const float *xs, float *y, int64_t len, int64_t lo, int64_t hi)
{
    for (int64_t p = lo; p < hi; p++) {
        const float *x = xs + p * len;
        ox_v4f a0 = ox_v4f_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 16 <= len; i += 16) {
            a0 += ox_v4f_load(x + i);
            a1 += ox_v4f_load(x + i + 4);
            a2 += ox_v4f_load(x + i + 8);
            a3 += ox_v4f_load(x + i + 12);
        }
        float s = 0.0f;
        for (; i < len; i++)
            s += x[i];
        const ox_v4f acc[4] = {a0, a1, a2, a3};
        for (int v = 0; v < 4; v++)
            for (int l = 0; l < 4; l++)
                s += acc[v][l];
        y[p] = len ? s / (float)len : 0.0f;
    }
}

void ox_gap_planes_isa(enum ox_isa isa, const float *x, float *y, int64_t len, int64_t lo, int64_t hi)
{
    if (isa == OX_ISA_AVX512)
        ox_se_gap_avx512(x, y, len, lo, hi);
    else if (isa == OX_ISA_AVX2)
        ox_se_gap_avx2(x, y, len, lo, hi);
    else
        ox_gap_planes(x, y, len, lo, hi);
}

static void gap_part(void *arg, int64_t lo, int64_t hi)
{
    const struct gap_job *j = arg;
    ox_gap_planes_isa(j->isa, j->x, j->y, j->len, lo, hi);
}

static int gap_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    (void)err;
    int64_t planes = in[0]->dims[0] * in[0]->dims[1];
    int64_t len = planes ? in[0]->numel / planes : 0;
    const float *x = in[0]->data;
    float *y = out[0]->data;
    if (n->op_type[6] == 'M') { /* GlobalMaxPool */
        for (int64_t p = 0; p < planes; p++) {
            float m = -INFINITY;
            for (int64_t i = 0; i < len; i++)
                m = x[p * len + i] > m ? x[p * len + i] : m;
            y[p] = m;
        }
        return 0;
    }
    struct gap_job j = {x, y, len, ox_conv_isa()};
    ox_parallel(c, planes, 1 + (1 << 15) / (len + 1), gap_part, &j);
    return 0;
}

const struct ox_op ox_op_global_average_pool = {
    .name = "GlobalAveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = gap_infer, .exec = gap_exec,
};
const struct ox_op ox_op_global_max_pool = {
    .name = "GlobalMaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
    .infer = gap_infer, .exec = gap_exec,
};
