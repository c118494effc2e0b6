/* quant_conv.c — ConvInteger and QLinearConv, 2-D: 8-bit X and W, im2col (padding filled
 * with X's zero point, so it contributes nothing) made a few rows at a time as the int8 GEMM
 * of qgemm.c packs them (or whole, into the step's scratch, for the reference), per group;
 * QLinearConv adds its int32 bias and requantises.
 *
 *   X (N, C, H, W) u8/i8, W (M, C/g, kh, kw) u8/i8, w_zp (scalar | M) -> Y (N, M, OH, OW)
 *   per group: Y_g (M/g, OH*OW) = (W_g - w_zp) (M/g, C/g*kh*kw) @ (col - x_zp) (C/g*kh*kw, OH*OW)
 */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/cpu.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/ops/qbytes.h"
#include "onnx/ops/qdwconv.h"
#include "onnx/ops/qgemm.h"
#include "onnx/ops/qrows.h"

/* Input positions: ConvInteger (x, w, x_zp, w_zp); QLinearConv (x, xs, xzp, w, ws, wzp, ys, yzp, B);
 * InferdQLinearConv (internal, made by fuse_qdq.c): QLinearConv's, then the scale / zero point
 * of a DequantizeLinear and of the QuantizeLinear after it (s1, z1, s2, z2), applied to the
 * requantised bytes in the epilogue (qgemm_requant_chain); node ip[0] = 1 puts a Relu between
 * them. */
struct qconv_io {
    int x, w, zx, zw, sx, sw, sy, zy, bias, s1, z1, s2, z2;
};
static const struct qconv_io CI = {0, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1, -1, -1};
static const struct qconv_io QLC = {0, 3, 2, 5, 1, 4, 6, 7, 8, -1, -1, -1, -1};
static const struct qconv_io IQLC = {0, 3, 2, 5, 1, 4, 6, 7, 8, 9, 10, 11, 12};

static const struct qconv_io *io_of(const struct ox_node *n)
{
    return strcmp(n->op_type, "QLinearConv") == 0 ? &QLC : strcmp(n->op_type, "InferdQLinearConv") == 0 ? &IQLC : &CI;
}

static int is_q8(enum inferd_dtype dt)
{
    return dt == INFERD_UINT8 || dt == INFERD_INT8;
}

static int qconv_geometry(const struct ox_node *n, struct ox_tensor *const *in, struct ox_window *win, int64_t *group,
                          struct inferd_err *err)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *x = in[io->x], *w = in[io->w], *zx = ox_opt_in(n, in, io->zx), *zw = ox_opt_in(n, in, io->zw);
    if (!is_q8(x->dt) || !is_q8(w->dt))
        return inferd_err_set(err, INFERD_ETYPE, "%s: inputs 'x' and 'w' must be uint8 or int8", n->op_type);
    if (x->rank != 4 || w->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: only 2-D convolutions (rank-4 x and w) are supported",
                              n->op_type);
    int64_t g = ox_attr_int(n, "group", 1);
    if (g < 1 || x->dims[1] % g || w->dims[0] % g || w->dims[1] != x->dims[1] / g)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: channels %lld, weights (%lld,%lld,..) and group %lld disagree",
                              n->op_type, (long long)x->dims[1], (long long)w->dims[0], (long long)w->dims[1],
                              (long long)g);
    if (zx && (zx->numel != 1 || zx->dt != x->dt))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'x_zero_point' must be a scalar of x's dtype", n->op_type);
    if (zw && ((zw->numel != 1 && zw->numel != w->dims[0]) || zw->dt != w->dt))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: 'w_zero_point' must be a scalar or hold M values of w's dtype",
                              n->op_type);
    if (io->sy >= 0) {
        const struct ox_tensor *sw = in[io->sw], *zy = ox_opt_in(n, in, io->zy), *b = ox_opt_in(n, in, io->bias);
        if (in[io->sx]->numel != 1 || in[io->sy]->numel != 1 || (sw->numel != 1 && sw->numel != w->dims[0]))
            return inferd_err_set(err, INFERD_ESHAPE, "QLinearConv: scales must be scalars (w_scale may hold M values)");
        if (zy && (zy->numel != 1 || !is_q8(zy->dt)))
            return inferd_err_set(err, INFERD_ESHAPE, "QLinearConv: 'y_zero_point' must be a uint8/int8 scalar");
        if (b && (b->dt != INFERD_INT32 || b->numel != w->dims[0]))
            return inferd_err_set(err, INFERD_ESHAPE, "QLinearConv: 'B' must be int32 with M values");
    }
    if (io->s1 >= 0) {
        const struct ox_tensor *s1 = in[io->s1], *z1 = in[io->z1], *s2 = in[io->s2], *z2 = in[io->z2];
        enum inferd_dtype y1 = ox_opt_in(n, in, io->zy) ? in[io->zy]->dt : INFERD_UINT8;
        if (s1->numel != 1 || s2->numel != 1 || s1->dt != INFERD_FP32 || s2->dt != INFERD_FP32 || z1->numel != 1 ||
            z2->numel != 1 || z1->dt != y1 || !is_q8(z2->dt))
            return inferd_err_set(err, INFERD_ESHAPE, "%s: the requantisation's scales and zero points must be "
                                  "FP32 and 8-bit scalars", n->op_type);
    }
    *group = g;
    return ox_window_resolve(n, x->dims[2], x->dims[3], w->dims[2], w->dims[3], 0, win, err);
}

/* The output columns [lo, hi) of a row of n whose input column j * sw + off lies in [0, W). */
static void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t n, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + sw - 1) / sw, h = W - off <= 0 ? 0 : (W - off + sw - 1) / sw;
    l = l < n ? l : n;
    h = h < n ? h : n;
    *lo = l;
    *hi = h > l ? h : l;
}

/* row[j] = src[j * sw + off] for j in [lo, hi), pad in the rest of [0, n) */
static void padded_row(uint8_t *row, const uint8_t *src, int64_t n, int64_t lo, int64_t hi, int64_t sw, int64_t off,
                       uint8_t pad)
{
    memset(row, pad, (size_t)lo);
    if (sw == 1)
        memcpy(row + lo, src + lo + off, (size_t)(hi - lo));
    else if (sw == 2)
        qb_gather2(row + lo, src + 2 * lo + off, hi - lo);
    else
        for (int64_t j = lo; j < hi; j++)
            row[j] = src[j * sw + off];
    memset(row + hi, pad, (size_t)(n - hi));
}

/* One im2col row: tap (ky, kx) of one input channel x (H, W) at every output position,
 * pad outside the image. Per output row, the valid columns form one range [lo, hi):
 * ix = ox * sw + off must lie in [0, W). */
static void im2col_row(uint8_t *row, const uint8_t *x, int64_t H, int64_t W, const struct ox_window *win, int64_t ky,
                       int64_t kx, uint8_t pad)
{
    const int64_t ow = win->ow, sw = win->sw, off = kx * win->dw - win->pl;
    int64_t lo, hi;
    valid_cols(off, sw, W, ow, &lo, &hi);
    for (int64_t oy = 0; oy < win->oh; oy++, row += ow) {
        int64_t iy = oy * win->sh - win->pt + ky * win->dh;
        if (iy < 0 || iy >= H) {
            memset(row, pad, (size_t)ow);
            continue;
        }
        padded_row(row, x + iy * W, ow, lo, hi, sw, off, pad);
    }
}

static int qconv_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    const struct qconv_io *io = io_of(n);
    struct ox_window win;
    int64_t g;
    int rc = qconv_geometry(n, in, &win, &g, err);
    if (rc < 0)
        return rc;
    int64_t dims[4] = {in[io->x]->dims[0], in[io->w]->dims[0], win.oh, win.ow};
    enum inferd_dtype dt = INFERD_INT32;
    if (io->zy >= 0)
        dt = ox_opt_in(n, in, io->zy) ? in[io->zy]->dt : INFERD_UINT8;
    if (io->z2 >= 0)
        dt = in[io->z2]->dt;
    return ox_set_shape(out[0], dt, 4, dims, err);
}

/* The DequantizeLinear -> QuantizeLinear pair of InferdQLinearConv, or NULL. */
static const struct qgemm_chain *chain_of(const struct ox_node *n, struct ox_tensor *const *in, struct qgemm_chain *ch)
{
    const struct qconv_io *io = io_of(n);
    if (io->s1 < 0)
        return NULL;
    ch->s1 = (float)ox_get_f64(in[io->s1], 0);
    ch->s2 = (float)ox_get_f64(in[io->s2], 0);
    ch->z1 = (int32_t)ox_get_i64(in[io->z1], 0);
    ch->z2 = (int32_t)ox_get_i64(in[io->z2], 0);
    ch->y_signed = in[io->z2]->dt == INFERD_INT8;
    ch->v_signed = in[io->z1]->dt == INFERD_INT8;
    ch->relu = (int)n->ip[0]; /* set by fuse_qdq.c: DQ -> Relu -> Q */
    qgemm_chain_init(ch);
    return ch;
}

/* ---- depthwise path: one input and one output channel per group (MobileNets' 3x3 layers) ----
 * A channel's input is laid out padded (pad bytes hold x's zero point), each padded row split
 * into sw stride phases of L bytes, so that every tap reads one contiguous run:
 *   tap (ky, kx) at output (oy, ox) reads phase (kx*dw) % sw of padded row oy*sh + ky*dh, at
 *   ox + (kx*dw) / sw.
 * With the same stride s both ways ("flat"), the padded plane is split into s x s phase planes
 * (phase (py, px) row r, column c holds padded (r*s + py, c*s + px)) of pitch L = ow +
 * (kw-1)*dw/s: tap (ky, kx) at output (oy, ox) reads phase ((ky*dh) % s, (kx*dw) % s) at row
 * oy + (ky*dh)/s, column ox + (kx*dw)/s, so output (oy, ox) is element oy*L + ox of one kernel
 * call over oh*L outputs (the columns past ow are computed and dropped): small planes (7x7,
 * 14x14) cost one call, not oh calls of a whole 32-output block each.
 * Padding needs no special case: with x' the bytes as uint8 (int8 x read with its top bit
 * flipped, x' = x + 128, and zx' likewise), every output sums all taps, and
 *   acc = sum_t (x_t - zx) (w_t - zw) = sum_t x'_t (w_t - zw) - zx' * sum_t (w_t - zw)
 * where the second term is one constant per channel, folded into the bias. The int32 sum is
 * the GEMM path's exactly, so the requantised bytes are too. Everything lives on the stack
 * (QDW_BUF bytes of rows, QDW_ACC sums); a plane too large for it runs row by row, rebuilding
 * the kh padded rows each output row needs. */
#define QDW_MAX_TAPS 64
#define QDW_BUF 32768 /* bytes of padded rows */
#define QDW_ACC 4096  /* int32 sums of one kernel call */

enum qdw_mode { QDW_ROWS, QDW_PLANE, QDW_FLAT };

struct qdw_job {
    const struct ox_window *win;
    const struct ox_tensor *x, *w, *zw, *sw, *b, *y;
    int64_t C, H, W;
    int64_t L;  /* bytes of one stride phase of a padded row (QDW_FLAT: the phase planes' pitch) */
    int64_t R;  /* padded rows of the plane (QDW_PLANE), rows of each phase plane (QDW_FLAT) */
    enum qdw_mode mode;
    float sx, sy;
    int32_t zy;
    int y1_signed;                  /* the requantised bytes are int8 */
    const struct qgemm_chain *chain; /* InferdQLinearConv's DQ -> Q pair, or NULL */
    uint8_t zx; /* zx' */
    int quant;  /* QLinearConv (requantise) rather than ConvInteger (int32 out) */
};

/* Picks the mode and sizes for win into j; 0 when the depthwise path does not take it. */
static int qdw_plan(const struct ox_window *win, struct qdw_job *j)
{
    int64_t s = win->sw, taps = win->kh * win->kw;
    if (taps > QDW_MAX_TAPS || s < 1 || s > 4 || win->ow < 1 || win->oh < 1 || win->ow > QDW_ACC - QDW_BLOCK)
        return 0;
    const int64_t P = win->ow + (win->kw - 1) * win->dw / s, RP = win->oh + (win->kh - 1) * win->dh / s;
    if (win->sh == s && QDW_ROUND(win->oh * P) <= QDW_ACC && s * s * RP * P + P + QDW_BLOCK <= QDW_BUF) {
        j->mode = QDW_FLAT, j->L = P, j->R = RP;
        return 1;
    }
    j->R = (win->oh - 1) * win->sh + (win->kh - 1) * win->dh + 1;
    j->L = QDW_ROUND(win->ow) + (win->kw - 1) * win->dw / s + 1;
    if ((j->R + 1) * s * j->L <= QDW_BUF) {
        j->mode = QDW_PLANE;
        return 1;
    }
    j->mode = QDW_ROWS;
    return (win->kh + 1) * s * j->L + j->L <= QDW_BUF;
}

/* Padded row iy of one channel (x' bytes, zx' outside the image; iy may lie outside) as sw
 * phases of L bytes at dst; tmp holds sw * L bytes. */
static void qdw_pad_row(const struct qdw_job *j, const uint8_t *xc, int64_t iy, int64_t L, uint8_t *dst, uint8_t *tmp,
                        int flip)
{
    const int64_t s = j->win->sw, pl = j->win->pl, len = s * L;
    uint8_t *row = s == 1 ? dst : tmp;
    int64_t n = iy >= 0 && iy < j->H ? j->W : 0; /* image columns [0, n) land at pl */
    if (pl + n > len)
        n = len - pl > 0 ? len - pl : 0;
    const uint8_t *xrow = xc + iy * j->W;
    memset(row, j->zx, (size_t)(pl < len ? pl : len));
    if (n > 0) {
        if (flip)
            for (int64_t i = 0; i < n; i++)
                row[pl + i] = (uint8_t)(xrow[i] ^ 0x80);
        else
            memcpy(row + pl, xrow, (size_t)n);
    }
    if (pl + n < len)
        memset(row + pl + n, j->zx, (size_t)(len - pl - n));
    for (int64_t p = 0; s > 1 && p < s; p++) {
        if (s == 2) {
            qb_gather2(dst + p * L, row + p, L);
            continue;
        }
        for (int64_t i = 0; i < L; i++)
            dst[p * L + i] = row[p + i * s];
    }
}

/* The padded plane of one channel (QDW_PLANE, QDW_FLAT) at buf, whose pad bytes are already
 * there: only the image's bytes are written, where qdw_pad_row (QDW_PLANE) or the phase-plane
 * layout (QDW_FLAT) puts them. Every channel puts its pad bytes (zx') at the same places, so
 * qdw_part writes them once per part, not per channel and row (small planes cost a few calls
 * a row otherwise). */
struct qdw_fill { /* where qdw_fill_plane puts a row's bytes: the same for every channel */
    int64_t c0s[4], cnt[4], at[4]; /* phase p holds columns c0s[p], c0s[p] + s, ... (cnt[p]) from at[p] */
};

static void qdw_fill_geom(const struct qdw_job *j, struct qdw_fill *f)
{
    const int64_t s = j->win->sw, pl = j->win->pl, L = j->L, len = s * L, flat = j->mode == QDW_FLAT;
    const int64_t n = j->W < len - pl ? j->W : len - pl; /* image columns [0, n) land at pl */
    for (int64_t p = 0; p < s; p++) {
        f->c0s[p] = ((p - pl) % s + s) % s;
        f->cnt[p] = n > f->c0s[p] ? (n - f->c0s[p] + s - 1) / s : 0;
        f->at[p] = (flat ? p * j->R * L : p * L) + (pl + f->c0s[p]) / s;
    }
}

static void qdw_fill_plane(const struct qdw_job *j, const struct qdw_fill *f, const uint8_t *xc, uint8_t *buf,
                           int flip)
{
    const int64_t s = j->win->sw, L = j->L, flat = j->mode == QDW_FLAT, pt = j->win->pt; /* pt >= 0 */
    const int64_t ss = flat ? s : 1; /* flat: image rows q, q + s, ... go to phase plane (pt + q) % s */
    for (int64_t q = 0; q < ss && q < j->H; q++) {
        const int64_t py = (pt + q) % ss, r = (pt + q) / ss; /* padded row pt + q: plane py, its row r */
        int64_t rows = (j->H - q + ss - 1) / ss;
        rows = rows < j->R - r ? rows : j->R - r;
        uint8_t *row = flat ? buf + py * s * j->R * L + r * L : buf + r * s * L;
        for (int64_t p = 0; p < s; p++) /* phase p of each row at row + at[p], columns c0s[p], c0s[p] + s, ... */
            qb_rows(row + f->at[p], flat ? L : s * L, xc + q * j->W + f->c0s[p], ss * j->W, rows, f->cnt[p], s,
                    flip ? 0x80 : 0);
    }
}

/* ConvInteger's output: the sums plus the channel's constant (wrapping, as the GEMM's). */
static void qdw_store_i32(int32_t *y, const int32_t *acc, int64_t n, int32_t corr)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (int32_t)((uint32_t)acc[i] + (uint32_t)corr);
}

static void qdw_part(void *arg, int64_t lo, int64_t hi)
{
    const struct qdw_job *j = arg;
    const struct ox_window *win = j->win;
    const int64_t s = win->sw, L = j->L, taps = win->kh * win->kw, ow = win->ow;
    const int w_signed = j->w->dt == INFERD_INT8, flip = j->x->dt == INFERD_INT8;
    uint8_t buf[QDW_BUF];
    int32_t acc[QDW_ACC], wv[QDW_MAX_TAPS];
    uint8_t yb[QDW_ACC]; /* QDW_FLAT, requantising: the plane's bytes, dropped columns included */
    const uint8_t *src[QDW_MAX_TAPS + 3];
    uint32_t wq[QDW_MAX_QUADS]; /* the VNNI kernel's weights (qdw_quads), when vnni */
    const int vnni_cpu = qdw_isa_pick() == QDW_AVX512VNNI;
    uint8_t *tmp = buf + (j->mode == QDW_ROWS ? win->kh : j->R) * s * L;
    const int64_t phase = j->mode == QDW_FLAT ? j->R * L : L; /* bytes from one phase (column) to the next */
    int64_t tap_at[QDW_MAX_TAPS]; /* tap kx's offset in a padded row: phase, then column */
    for (int64_t kx = 0; kx < win->kw; kx++)
        tap_at[kx] = (kx * win->dw % s) * phase + kx * win->dw / s;
    struct qdw_fill fill;
    qdw_fill_geom(j, &fill);
    if (j->mode != QDW_ROWS) /* the pad bytes; the part's channels write only their image bytes */
        memset(buf, j->zx, (size_t)(j->mode == QDW_FLAT ? s * s * j->R * L + L + QDW_BLOCK : j->R * s * L));
    for (int64_t u = lo; u < hi; u++) {
        const int64_t ch = u % j->C;
        const uint8_t *wr = (const uint8_t *)j->w->data + ch * taps;
        int32_t zw = 0;
        if (j->zw) {
            const uint8_t *zp = (const uint8_t *)j->zw->data + (j->zw->numel == 1 ? 0 : ch);
            zw = w_signed ? (int8_t)*zp : *zp;
        }
        uint32_t wsum = 0;
        for (int64_t t = 0; t < taps; t++) {
            wv[t] = (w_signed ? (int8_t)wr[t] : wr[t]) - zw;
            wsum += (uint32_t)wv[t];
        }
        const int vnni = vnni_cpu && qdw_quads(wv, (int)taps, wq);
        uint32_t bias = j->b ? (uint32_t)((const int32_t *)j->b->data)[ch] : 0;
        int32_t corr = (int32_t)(bias - (uint32_t)j->zx * wsum);
        float mul = 0;
        if (j->quant)
            mul = j->sx * (float)ox_get_f64(j->sw, j->sw->numel == 1 ? 0 : ch) / j->sy;
        const uint8_t *xc = (const uint8_t *)j->x->data + u * j->H * j->W;
        if (j->mode != QDW_ROWS) /* (QDW_FLAT: the pad past the plane covers what the last block over-reads) */
            qdw_fill_plane(j, &fill, xc, buf, flip);
        int64_t rows = j->mode == QDW_FLAT ? 1 : win->oh, n = j->mode == QDW_FLAT ? win->oh * L : ow;
        const int whole = j->mode == QDW_FLAT || win->oh * ow + QDW_BLOCK <= QDW_ACC;
        for (int64_t oy = 0; oy < rows; oy++) {
            for (int64_t ky = 0, t = 0; ky < win->kh; ky++) {
                const uint8_t *row;
                const int64_t dy = ky * win->dh;
                if (j->mode == QDW_ROWS) {
                    row = buf + ky * s * L;
                    qdw_pad_row(j, xc, oy * win->sh - win->pt + dy, L, (uint8_t *)row, tmp, flip);
                } else if (j->mode == QDW_FLAT) { /* phase plane (dy % s, .), its row dy / s */
                    row = buf + (dy % s) * s * j->R * L + dy / s * L;
                } else {
                    row = buf + (oy * win->sh + dy) * s * L;
                }
                for (int64_t kx = 0; kx < win->kw; kx++, t++)
                    src[t] = row + tap_at[kx];
            }
            /* a whole plane's sums gathered at acc[oy * ow] when they fit: then one
             * requantisation call per channel instead of one per row */
            int32_t *a = whole && j->mode != QDW_FLAT ? acc + oy * ow : acc;
            if (vnni) {
                for (int64_t t = taps; t % 4; t++) /* whole quads: the extra taps weigh 0 */
                    src[t] = src[0];
                qdw_row_avx512vnni_q(a, src, wq, (int)taps, n);
            } else if (vnni_cpu) { /* a weight - zero point past int8: the vpmaddwd kernel */
                qdw_row_isa(a, src, wv, (int)taps, n, QDW_AVX512);
            } else {
                qdw_row(a, src, wv, (int)taps, n);
            }
            if (whole && j->mode == QDW_FLAT && j->quant) {
                /* the plane's oh rows of L sums requantised at once (the dropped columns too:
                 * fewer bytes than moving the kept int32 sums together), then its kept bytes */
                qgemm_requant_chain(acc, win->oh * L, corr, &mul, 0, j->zy, j->y1_signed, j->chain, yb);
                qb_rows((uint8_t *)j->y->data + u * win->oh * ow, ow, yb, L, win->oh, ow, 1, 0);
                break;
            }
            if (whole) {
                for (int64_t r = 1; j->mode == QDW_FLAT && r < win->oh; r++)
                    memmove(acc + r * ow, acc + r * L, (size_t)ow * sizeof *acc);
                continue;
            }
            if (j->quant)
                qgemm_requant_chain(a, ow, corr, &mul, 0, j->zy, j->y1_signed, j->chain,
                                    (uint8_t *)j->y->data + (u * win->oh + oy) * ow);
            else
                qdw_store_i32((int32_t *)j->y->data + (u * win->oh + oy) * ow, a, ow, corr);
        }
        if (!whole || (j->mode == QDW_FLAT && j->quant))
            continue;
        if (j->quant)
            qgemm_requant_chain(acc, win->oh * ow, corr, &mul, 0, j->zy, j->y1_signed, j->chain,
                                (uint8_t *)j->y->data + u * win->oh * ow);
        else
            qdw_store_i32((int32_t *)j->y->data + u * win->oh * ow, acc, win->oh * ow, corr);
    }
}

/* Runs the depthwise path when it applies; returns 1 then, 0 to leave it to the GEMM path. */
static int qdw_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *y,
                    const struct ox_window *win, int64_t g, const struct qgemm_chain *ch)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *x = in[io->x], *w = in[io->w], *zx = ox_opt_in(n, in, io->zx);
    struct qdw_job j = {
        .win = win, .x = x, .w = w, .zw = ox_opt_in(n, in, io->zw), .y = y,
        .C = x->dims[1], .H = x->dims[2], .W = x->dims[3],
        .quant = io->sy >= 0,
    };
    if (g != x->dims[1] || g != w->dims[0] || w->dims[1] != 1 || !qdw_plan(win, &j))
        return 0;
    uint8_t z = zx ? *(const uint8_t *)zx->data : 0;
    j.zx = x->dt == INFERD_INT8 ? (uint8_t)(z ^ 0x80) : z;
    if (j.quant) {
        const struct ox_tensor *zy = ox_opt_in(n, in, io->zy);
        j.sw = in[io->sw];
        j.b = ox_opt_in(n, in, io->bias);
        j.sx = (float)ox_get_f64(in[io->sx], 0);
        j.sy = (float)ox_get_f64(in[io->sy], 0);
        j.zy = zy ? (int32_t)ox_get_i64(zy, 0) : 0;
        j.y1_signed = zy && zy->dt == INFERD_INT8;
        j.chain = ch;
    }
    /* a channel costs its taps and its padded rows (a 7x7 map's channel about 0.4 us): worth a
     * thread from about 2^15 of those, so the small late layers (576 channels of 7x7) split too */
    int64_t per = win->oh * win->ow * win->kh * win->kw + j.H * j.W;
    ox_parallel(c, x->dims[0] * j.C, ((int64_t)1 << 15) / per + 1, qdw_part, &j);
    return 1;
}

/* How the GEMM reads B, the im2col matrix (K = C/g * kh * kw rows):
 *  - the reference reads it whole, written into the scratch first;
 *  - the SIMD GEMMs pack it a few rows at a time (qgemm_args.b_row), never held whole:
 *    "flat" when few columns are wasted: the rows of x a call needs are laid out as padded
 *    planes split into sh x sw stride phases (phase (py, px) row r, column j holds padded x at
 *    ((r0 + r)*sh + py, j*sw + px), the pad bytes x's zero point), pw bytes a row, pw = ow +
 *    (kw-1)*dw/sw. Then tap (ky, kx) at output (oy0 + oy, ox) reads phase ((ky*dh)%sh,
 *    (kx*dw)%sw) at row oy + ky*dh/sh, column ox + kx*dw/sw: over the columns oy*pw + ox of a
 *    GEMM with N = rows*pw, every row of B is one run of a plane, read in place. The pw - ow
 *    columns past each output row are computed and dropped (one slack row per plane covers
 *    what the last ones read). Otherwise each row is made by im2col_row as it is packed.
 * The flat path's work split (qconv_split): a call (item) is one image, one group, one band
 * of output rows and one range of output channels; each runs whole on one thread, which lays
 * out the band's planes, packs its B and runs its GEMM and requantisation in its own slot of
 * the scratch (OX_OP_SCRATCH_SLOTS): nothing runs on the calling thread alone and an op
 * forks once. Bands are cut finer, then channel ranges, only when there are fewer items than
 * threads (batch 1, small maps). Every output byte is the same sum whichever call makes it,
 * so the bytes do not depend on the thread count.
 * With AVX-512 VNNI and constant weights (qconv_pack: panels of 16 output channels), a flat
 * conv with K >= QCONV_T_K runs the transposed GEMM (qconv_use_t): output pixels are the
 * broadcast side, so its tiles hold only the kept columns. For int8 weights with zero points
 * 0, more than one tap and channels a multiple of 4 (ResNets' 3x3 convs), the planes are laid
 * out with 4 channels interleaved (qconv_planes_c4) and the GEMM reads each pixel's quad of B
 * in place through an offset table (qconv_c4_offsets): no B pack at all. */
static int qconv_fused(void)
{
    return qgemm_isa_usable(QGEMM_AVX2);
}

#define QCONV_CHUNK 1024   /* GEMM columns per call (whole output rows): packed B, sums in cache */
#define QCONV_MIN_COLS 96 /* bands are not cut below this many columns to feed more threads */
#define QCONV_PARTS 8     /* pool parts per thread at most (items are grouped beyond that) */
#define QCONV_C4_Q 4096  /* quads of K at most for the c4 planes (their offsets on the stack) */
#define QCONV_T_K 512     /* K from which the transposed GEMM runs (below, its stores cost more) */

struct qconv_layout {
    int flat;       /* B's rows read in place: from phase planes, or x itself (pointwise: qgemm_args.b_ld) */
    int pointwise;
    int64_t pw;     /* flat: bytes of a plane row */
    int64_t halo;   /* flat: plane rows a band needs past its output rows (slack row included) */
    int64_t n;      /* GEMM columns of one call: rows_per_call*pw when flat, else oh*ow */
    int64_t rows_per_call; /* flat: output rows of one call (the last may have fewer) */
    size_t col;     /* bytes of the scratch part holding B (or its planes, or b_row's rows) */
};

static void qconv_layout(const struct ox_window *win, int64_t cg, int pointwise, struct qconv_layout *L)
{
    const int64_t sp = win->oh * win->ow, pw = win->ow + (win->kw - 1) * win->dw / win->sw;
    *L = (struct qconv_layout){.n = sp, .rows_per_call = win->oh, .col = (size_t)(cg * win->kh * win->kw * sp)};
    if (!qconv_fused())
        return;
    L->col = (size_t)(QGEMM_B_ROWS * sp);
    if (!pointwise && win->oh * pw * 4 > sp * 5 + 64) /* more than about a quarter dropped */
        return;
    L->flat = 1, L->pointwise = pointwise, L->pw = pw;
    L->rows_per_call = QCONV_CHUNK / pw > 1 ? QCONV_CHUNK / pw : 1;
    L->rows_per_call = L->rows_per_call < win->oh ? L->rows_per_call : win->oh;
    L->n = L->rows_per_call * pw;
    L->halo = pointwise ? 0 : (win->kh - 1) * win->dh / win->sh + 1;
    size_t planes = pointwise ? 0 : (size_t)(cg * win->sh * win->sw * (L->rows_per_call + L->halo) * pw);
    L->col = planes > (size_t)(QGEMM_B_ROWS * L->n) ? planes : (size_t)(QGEMM_B_ROWS * L->n);
}

struct qconv_cols {
    const uint8_t *x; /* the group's first input channel */
    int64_t H, W, sp;
    const struct ox_window *win;
    const struct qconv_layout *L;
    const uint8_t *planes; /* flat: the call's phase planes (x itself when pointwise) */
    int64_t rp;            /* flat: rows of each plane */
    int64_t r0;            /* flat: the padded row (over sh) of the planes' row 0 */
    int64_t oy0;           /* flat: the plane row of the call's first output row */
    uint8_t pad;
};

/* Whether some tap reads stride phase p (of stride s, taps k, dilation d): a 1x1 stride-2
 * conv reads one phase of four, and the others are not laid out. */
static int qconv_phase_read(int64_t p, int64_t s, int64_t k, int64_t d)
{
    for (int64_t t = 0; t < k; t++)
        if (t * d % s == p)
            return 1;
    return 0;
}

/* Fills the group's phase planes, cc->rp rows from row cc->r0, at dst (flat layout); the
 * phases no tap reads are left as they are. */
static void qconv_planes(const struct qconv_cols *cc, int64_t cg, uint8_t *dst)
{
    const struct ox_window *win = cc->win;
    const int64_t pw = cc->L->pw, rp = cc->rp, sw = win->sw, W = cc->W;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t py = 0; py < win->sh; py++)
            for (int64_t px = 0; px < sw; px++, dst += rp * pw) {
                if (!qconv_phase_read(py, win->sh, win->kh, win->dh) || !qconv_phase_read(px, sw, win->kw, win->dw))
                    continue;
                const int64_t off = px - win->pl; /* plane column j holds x column j*sw + off */
                int64_t lo, hi;
                valid_cols(off, sw, W, pw, &lo, &hi);
                for (int64_t r = 0; r < rp; r++) {
                    uint8_t *row = dst + r * pw;
                    const int64_t iy = (cc->r0 + r) * win->sh + py - win->pt;
                    if (iy < 0 || iy >= cc->H) {
                        memset(row, cc->pad, (size_t)pw);
                        continue;
                    }
                    padded_row(row, cc->x + (ci * cc->H + iy) * W, pw, lo, hi, sw, off, cc->pad);
                }
            }
}

/* The c4 planes (qgemm_u8_avx512vnni_rows_c4): qconv_planes' phase planes of 4 channels at
 * a time, their bytes interleaved (plane row r, column j: 4 bytes, channels 4c..4c+3) and
 * flipped to B' (flip 0x80: int8 x); rp rows filled of planes rstride rows apart:
 *   quad c, phase (py, px), row r, column j at 4 * (((c * sh * sw + py * sw + px) * rstride + r) * pw + j)
 * so that a tap of 4 channels at one pixel is one 32-bit lane, read where it lies. */
static void qconv_planes_c4(const struct qconv_cols *cc, int64_t cg, int64_t rstride, uint8_t *dst, uint8_t flip)
{
    const struct ox_window *win = cc->win;
    const int64_t pw = cc->L->pw, rp = cc->rp, sw = win->sw, W = cc->W, S = win->sh * sw;
    const uint8_t padb = (uint8_t)(cc->pad ^ flip);
    for (int64_t c4 = 0; c4 < cg / 4; c4++)
        for (int64_t py = 0; py < win->sh; py++)
            for (int64_t px = 0; px < sw; px++) {
                if (!qconv_phase_read(py, win->sh, win->kh, win->dh) || !qconv_phase_read(px, sw, win->kw, win->dw))
                    continue;
                const int64_t off = px - win->pl;
                int64_t lo, hi;
                valid_cols(off, sw, W, pw, &lo, &hi);
                uint8_t *pd = dst + (c4 * S + py * sw + px) * rstride * pw * 4;
                for (int64_t r = 0; r < rp; r++, pd += pw * 4) {
                    const int64_t iy = (cc->r0 + r) * win->sh + py - win->pt;
                    if (iy < 0 || iy >= cc->H) {
                        memset(pd, padb, (size_t)(4 * pw));
                        continue;
                    }
                    /* the image's columns straight from x (column j at j * sw + off), the pad around them */
                    const uint8_t *src[4];
                    for (int e = 0; e < 4; e++)
                        src[e] = cc->x + ((4 * c4 + e) * cc->H + iy) * W + lo * sw + off;
                    memset(pd, padb, (size_t)(4 * lo));
                    if (sw <= 2) {
                        qb_interleave4(pd + 4 * lo, src, hi - lo, (int)sw, flip);
                    } else {
                        for (int64_t jx = lo; jx < hi; jx++)
                            for (int e = 0; e < 4; e++)
                                pd[4 * jx + e] = (uint8_t)(src[e][(jx - lo) * sw] ^ flip);
                    }
                    memset(pd + 4 * hi, padb, (size_t)(4 * (pw - hi)));
                }
            }
}

/* off[q] for the c4 planes (rstride rows a plane): quad q = tap * cg / 4 + c, tap = ky * kw +
 * kx, reads phase ((ky dh) % sh, (kx dw) % sw) of channel quad c at row (ky dh) / sh, column
 * (kx dw) / sw from the pixel's own place. */
static void qconv_c4_offsets(const struct ox_window *win, int64_t cg, int64_t rstride, int64_t pw, int32_t *off)
{
    const int64_t S = win->sh * win->sw;
    for (int64_t ky = 0, q = 0; ky < win->kh; ky++)
        for (int64_t kx = 0; kx < win->kw; kx++) {
            const int64_t dy = ky * win->dh, dx = kx * win->dw, ph = (dy % win->sh) * win->sw + dx % win->sw;
            for (int64_t c = 0; c < cg / 4; c++, q++)
                off[q] = (int32_t)(4 * (((c * S + ph) * rstride + dy / win->sh) * pw + dx / win->sw));
        }
}

/* Every za' of the plan's row terms is 0 (int8 weights with zero points 0): no column sums */
static int qconv_za0(const int32_t *a_terms, int64_t M)
{
    for (int64_t i = 0; a_terms && i < M; i++)
        if (a_terms[2 * i])
            return 0;
    return a_terms != NULL;
}

/* qgemm_args.b_row: row k of the im2col matrix (of the call's columns), in place in a plane
 * (flat) or made into tmp */
static const uint8_t *qconv_im2col(void *ctx, int64_t k, uint8_t *tmp)
{
    const struct qconv_cols *cc = ctx;
    const struct ox_window *win = cc->win;
    const int64_t taps = win->kh * win->kw, ci = k / taps, ky = k % taps / win->kw, kx = k % taps % win->kw;
    if (cc->L->flat) {
        const int64_t oy = ky * win->dh, ox = kx * win->dw, pw = cc->L->pw;
        const int64_t plane = (ci * win->sh + oy % win->sh) * win->sw + ox % win->sw;
        return cc->planes + plane * cc->rp * pw + (cc->oy0 + oy / win->sh) * pw + ox / win->sw;
    }
    im2col_row(tmp, cc->x + ci * cc->H * cc->W, cc->H, cc->W, win, ky, kx, cc->pad);
    return tmp;
}

static int qconv_pointwise(const struct ox_window *win, int64_t H, int64_t W)
{
    return win->kh == 1 && win->kw == 1 && win->sh == 1 && win->sw == 1 && win->pt == 0 && win->pl == 0 &&
           win->oh == H && win->ow == W;
}

/* scratch, per thread (OX_OP_SCRATCH_SLOTS; only the flat path uses more than the first
 * thread's): the slot's header (qconv_slot_hdr, 64 bytes), B's part (qconv_layout's col), int32
 * accumulators of one call, the int8 GEMM's packed B (each part rounded to 64 bytes) */
static size_t qconv_slot_bytes(const struct qconv_layout *L, int64_t mg, int64_t kk)
{
    return 64 + ox_scratch_stride(L->col) + ox_scratch_stride((size_t)(mg * L->n) * sizeof(int32_t)) +
           ox_scratch_stride(qgemm_scratch_bytes(kk, L->n) + QGEMM_SCRATCH_PAD);
}

static size_t qconv_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *x = in[io->x], *w = in[io->w];
    struct ox_window win = {0};
    struct inferd_err err = {0};
    int64_t g = 1;
    (void)out;
    if (qconv_geometry(n, in, &win, &g, &err) < 0)
        return 0; /* exec fails the same way before it touches the scratch */
    struct qconv_layout L;
    const int64_t cg = x->dims[1] / g, kk = cg * w->dims[2] * w->dims[3];
    qconv_layout(&win, cg, qconv_pointwise(&win, x->dims[2], x->dims[3]), &L);
    return qconv_slot_bytes(&L, w->dims[0] / g, kk);
}

static int qconv_packable(const struct ox_node *n, struct ox_tensor *const *in);
static int qconv_packed_panels(const float *packed, int64_t M);
static int qconv_c4_ok(const struct ox_tensor *w, int64_t g);
static size_t qconv_panels_at(int64_t M);

/* Whether a flat conv runs the transposed GEMM (qgemm_u8_avx512vnni_rows_t) on the plan's
 * weight panels: its tiles hold only kept columns (up to 8 pixels, the count spread evenly),
 * where the flat layout's 16-column panels waste the pw - ow columns past each row and the
 * last panel's tail (7x7: 49 of 64 lanes kept, 14x14 196 of 224, 56x56 bands 952 of 992),
 * but its transposing stores cost about as much on small K (the stem, 1x1 convs: slower
 * there). INFERD_QCONV_T=0 never, =1 always (tests, benches); read on every run of the op. */
static int qconv_use_t(const struct ox_window *win, const struct qconv_layout *L, int64_t kk)
{
    const char *e = getenv("INFERD_QCONV_T");
    if (e && (e[0] == '0' || e[0] == '1'))
        return e[0] == '1';
    (void)win, (void)L;
    return kk >= QCONV_T_K;
}

/* One flat conv, cut into items (qconv_split) run over the pool. */
struct qconv_job {
    const struct qconv_layout *L;
    const struct ox_window *win;
    const struct ox_tensor *x, *w, *zx, *zw, *y;
    const struct qrows *q; /* QLinearConv's requantisation (its g, y, oc0 set per item), or NULL */
    const int32_t *a_terms; /* the plan's row terms of all M channels, or NULL */
    const uint8_t *apan;    /* the plan's qgemm_a_panels of group 0 (transposed GEMM), or NULL */
    size_t apan_group;      /* bytes of one group's panels */
    const int32_t *off;     /* apan in the c4 order: the planes' quad offsets (qconv_c4_offsets), else NULL */
    int32_t zbp;            /* then zb' */
    enum qgemm_isa isa;
    int64_t C, H, W, M, g, cg, mg, kk;
    int64_t bands, rows, mparts; /* per image and group: bands of rows output rows, channel ranges */
    int64_t items;               /* N * g * bands * mparts, band-major: mparts items share a band */
    int64_t parts;               /* pool parts: consecutive ranges of items */
    uint8_t *scratch;
    size_t slot; /* bytes of one thread's slot */
    int nslots;
    uint8_t pad;
};

/* Cuts the flat conv into items: bands of whole output rows (QCONV_CHUNK columns at most)
 * per image and group, cut finer (not below QCONV_MIN_COLS columns) while there are fewer
 * than four items per thread and their count is not a multiple of the thread count, then
 * ranges of QROWS-channel blocks while there are fewer than OX_PAR_SPLIT items per thread
 * (a thread that runs several ranges of one band in a row packs its B once: qconv_item). */
static void qconv_split(struct qconv_job *j, int64_t N, int nth)
{
    const int64_t oh = j->win->oh, ig = N * j->g, pw = j->L->pw;
    int64_t bands = (oh + j->L->rows_per_call - 1) / j->L->rows_per_call, rows = (oh + bands - 1) / bands;
    while (nth > 1 && ig * bands < 4 * nth && (ig * bands) % nth != 0 && bands < oh) {
        int64_t r2 = (oh + bands) / (bands + 1); /* rows of bands + 1 bands */
        if (r2 * pw < QCONV_MIN_COLS)
            break;
        bands++;
        rows = (oh + bands - 1) / bands;
    }
    j->rows = rows;
    j->bands = (oh + rows - 1) / rows;
    const int64_t blocks = (j->mg + QROWS - 1) / QROWS;
    j->mparts = 1;
    while (nth > 1 && ig * j->bands * j->mparts < OX_PAR_SPLIT * nth && j->mparts < blocks)
        j->mparts++;
}

/* qconv_split for j->nslots threads, then the items and the pool parts they go in: one part
 * per item, up to QCONV_PARTS per thread (the pool's home ranges keep a thread on consecutive
 * items; the others' parts are taken when it runs out), each in a free slot of the scratch.
 * At most min(nslots, parts) parts run at once, each in the lowest free slot
 * (ox_parallel_slots): slots from there on are never touched. */
static void qconv_parts(struct qconv_job *j, int64_t N)
{
    qconv_split(j, N, j->nslots);
    j->items = N * j->g * j->bands * j->mparts;
    j->parts = j->items < (int64_t)QCONV_PARTS * j->nslots ? j->items : (int64_t)QCONV_PARTS * j->nslots;
}

/* A slot's 64-byte header: which band (image, group, band) its planes and packed B hold
 * (-1: none); read and written only by the part holding the slot (ox_parallel_slots). */
struct qconv_slot_hdr {
    int64_t key;
};

static void qconv_item(const struct qconv_job *j, int64_t it, uint8_t *slot)
{
    const struct ox_window *win = j->win;
    const struct qconv_layout *L = j->L;
    const int64_t mp = it % j->mparts, band = it / j->mparts % j->bands, gi = it / j->mparts / j->bands % j->g;
    const int64_t nn = it / j->mparts / j->bands / j->g, oy0 = band * j->rows, sp = win->oh * win->ow;
    const int64_t rows = win->oh - oy0 < j->rows ? win->oh - oy0 : j->rows, blocks = (j->mg + QROWS - 1) / QROWS;
    const int64_t b0 = blocks * mp / j->mparts, b1 = blocks * (mp + 1) / j->mparts;
    const int64_t m0 = b0 * QROWS, m1 = b1 * QROWS < j->mg ? b1 * QROWS : j->mg;
    const uint8_t *xg = (const uint8_t *)j->x->data + (nn * j->C + gi * j->cg) * j->H * j->W;
    uint8_t *col = slot + 64;
    int32_t *acc = (int32_t *)(void *)(col + ox_scratch_stride(L->col));
    void *pack = (char *)acc + ox_scratch_stride((size_t)(j->mg * L->n) * sizeof(int32_t));
    struct qconv_cols cc = {.x = xg, .H = j->H, .W = j->W, .sp = sp, .win = win, .L = L, .pad = j->pad};
    struct qconv_slot_hdr *h = (struct qconv_slot_hdr *)(void *)slot;
    const int64_t key = it / j->mparts, packed = h->key == key;
    h->key = key;
    if (L->pointwise) {
        cc.planes = xg, cc.rp = win->oh, cc.oy0 = oy0; /* x is its own (one) plane per channel */
    } else {
        cc.planes = col, cc.rp = rows + L->halo, cc.r0 = oy0;
        if (!packed && j->off)
            qconv_planes_c4(&cc, j->cg, j->rows + L->halo, col, j->x->dt == INFERD_INT8 ? 0x80 : 0);
        else if (!packed)
            qconv_planes(&cc, j->cg, col);
    }
    const struct ox_tensor *zw = j->zw, *zx = j->zx;
    const int64_t kk = j->kk, N = rows * L->pw;
    const struct qgemm_args q = {
        .M = j->mg, .N = N, .K = kk,
        .a = (const uint8_t *)j->w->data + gi * j->mg * kk, .a_signed = j->w->dt == INFERD_INT8,
        .b_signed = j->x->dt == INFERD_INT8,
        .za = zw ? (const uint8_t *)zw->data + (zw->numel == 1 ? 0 : gi * j->mg) : NULL,
        .za_len = zw ? (zw->numel == 1 ? 1 : j->mg) : 0,
        .zb = zx ? zx->data : NULL, .zb_len = zx ? 1 : 0,
        .c = acc, .pack = pack,
        /* pointwise: B's row k is input channel k's rows from oy0, read where they lie (pw = W) */
        .b = L->pointwise ? xg + oy0 * L->pw : NULL, .b_ld = L->pointwise ? win->oh * L->pw : 0,
        .b_row = L->pointwise ? NULL : qconv_im2col, .b_ctx = &cc, .b_tmp = col,
        .a_terms = j->a_terms ? j->a_terms + 2 * gi * j->mg : NULL,
    };
    if (!packed && !j->off)
        qgemm_u8_isa_pack(&q, j->isa);
    const uint8_t *apan = j->apan ? j->apan + gi * j->apan_group : NULL;
    if (j->q) {
        struct qrows r = *j->q;
        r.g = &q, r.isa = j->isa, r.oc0 = gi * j->mg, r.rows = rows, r.apan = apan;
        r.planes = j->off ? col : NULL, r.off = j->off, r.zbp = j->zbp;
        r.y = (uint8_t *)j->y->data + (nn * j->M + gi * j->mg) * sp + oy0 * win->ow;
        qrows_part(&r, b0, b1);
        return;
    }
    int32_t *yi = (int32_t *)j->y->data + (nn * j->M + gi * j->mg) * sp + oy0 * win->ow;
    if (apan) {
        if (j->off)
            qgemm_u8_avx512vnni_rows_c4(&q, apan, col, j->off, j->zbp, m0, m1, rows, win->ow, L->pw);
        else
            qgemm_u8_avx512vnni_rows_t(&q, apan, m0, m1, rows, win->ow, L->pw);
        for (int64_t m = m0; m < m1; m++) /* ConvInteger: the sums, kept columns together */
            memcpy(yi + m * sp, acc + m * N, (size_t)(rows * win->ow) * sizeof *acc);
        return;
    }
    qgemm_u8_isa_rows(&q, j->isa, m0, m1);
    for (int64_t m = m0; m < m1; m++) /* ConvInteger: the kept columns */
        for (int64_t oy = 0; oy < rows; oy++)
            memcpy(yi + m * sp + oy * win->ow, acc + m * N + oy * L->pw, (size_t)win->ow * sizeof *acc);
}

/* ox_image_fn: part i of the items, in the slot ox_parallel_slots handed it */
static void qconv_items(void *arg, const struct ox_ctx *one, int64_t i)
{
    const struct qconv_job *j = arg;
    for (int64_t it = j->items * i / j->parts; it < j->items * (i + 1) / j->parts; it++)
        qconv_item(j, it, one->scratch);
}

static int qconv_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    const struct qconv_io *io = io_of(n);
    struct ox_window win = {0};
    int64_t g = 1;
    int rc = qconv_geometry(n, in, &win, &g, err);
    if (rc < 0)
        return rc;
    struct qgemm_chain chs;
    const struct qgemm_chain *ch = chain_of(n, in, &chs);
    if (qdw_exec(c, n, in, out[0], &win, g, ch))
        return 0;
    const struct ox_tensor *x = in[io->x], *w = in[io->w], *zx = ox_opt_in(n, in, io->zx), *zw = ox_opt_in(n, in, io->zw);
    struct ox_tensor *y = out[0];
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], M = w->dims[0];
    int64_t cg = C / g, mg = M / g, sp = win.oh * win.ow, kk = cg * win.kh * win.kw;
    const int pointwise = qconv_pointwise(&win, H, W);
    struct qconv_layout L;
    qconv_layout(&win, cg, pointwise, &L);
    const struct ox_tensor *zy = ox_opt_in(n, in, io->zy);
    struct qrows rq = {0};
    if (io->sy >= 0)
        rq = (struct qrows){
            .sw = in[io->sw], .b = ox_opt_in(n, in, io->bias),
            .sx = (float)ox_get_f64(in[io->sx], 0), .sy = (float)ox_get_f64(in[io->sy], 0),
            .zy = zy ? (int32_t)ox_get_i64(zy, 0) : 0, .y1_signed = zy && zy->dt == INFERD_INT8, .chain = ch,
            .sp = sp, .pw = L.flat ? L.pw : 0, .rows = win.oh, .ow = win.ow,
        };
    uint8_t pad = zx ? *(const uint8_t *)zx->data : 0;
    const int32_t *a_terms = c->packed ? (const int32_t *)(const void *)c->packed : NULL;
    if (L.flat) {
        struct qgemm_args probe = {.M = mg, .N = L.n, .K = kk, .pack = c->scratch};
        struct qconv_job j = {
            .L = &L, .win = &win, .x = x, .w = w, .zx = zx, .zw = zw, .y = y, .q = io->sy >= 0 ? &rq : NULL,
            .a_terms = a_terms, .isa = qgemm_isa_pick(&probe),
            .C = C, .H = H, .W = W, .M = M, .g = g, .cg = cg, .mg = mg, .kk = kk,
            .scratch = c->scratch, .slot = qconv_slot_bytes(&L, mg, kk), .nslots = c->nth > 1 ? c->nth : 1,
            .pad = pad,
        };
        if (j.isa == QGEMM_AVX512VNNI && c->packed && qconv_packable(n, in) && qconv_packed_panels(c->packed, M) &&
            qconv_use_t(&win, &L, kk)) {
            j.apan = (const uint8_t *)c->packed + qconv_panels_at(M);
            j.apan_group = qgemm_a_panels_bytes(mg, kk);
        }
        qconv_parts(&j, N);
        int32_t off[QCONV_C4_Q];
        if (j.apan && qconv_c4_ok(w, g)) { /* the panels are in the c4 order: that path or none */
            if (kk / 4 <= QCONV_C4_Q && qconv_za0(a_terms, M)) {
                qconv_c4_offsets(&win, cg, j.rows + L.halo, L.pw, off);
                j.off = off;
                j.zbp = (x->dt == INFERD_INT8 ? 0x80 : 0) ^ pad;
            } else {
                j.apan = NULL;
            }
        }
        for (int s = 0; s < j.nslots && s < j.parts; s++) /* the slots parts can hold (qconv_scratch_slots) */
            ((struct qconv_slot_hdr *)(void *)(j.scratch + s * j.slot))->key = -1;
        ox_parallel_slots(c, j.parts, j.slot, qconv_items, &j);
        return 0;
    }
    /* the reference, and the fused path's im2col rows made as packed: one GEMM per image and
     * group, its rows split over the pool */
    uint8_t *col = c->scratch + 64;
    int32_t *acc = (int32_t *)(void *)(col + ox_scratch_stride(L.col));
    void *pack = (char *)acc + ox_scratch_stride((size_t)(mg * L.n) * sizeof(int32_t));
    for (int64_t nn = 0; nn < N; nn++) {
        for (int64_t gi = 0; gi < g; gi++) {
            const uint8_t *xg = (const uint8_t *)x->data + (nn * C + gi * cg) * H * W, *bm = col;
            struct qconv_cols cc = {.x = xg, .H = H, .W = W, .sp = sp, .win = &win, .L = &L, .pad = pad};
            if (pointwise && !qconv_fused())
                bm = xg; /* the reference: a pointwise conv's im2col matrix is x itself */
            else if (qconv_fused())
                bm = NULL; /* each row made by im2col_row as the packer takes it */
            else
                for (int64_t ci = 0; ci < cg; ci++)
                    for (int64_t ky = 0; ky < win.kh; ky++)
                        for (int64_t kx = 0; kx < win.kw; kx++)
                            im2col_row(col + ((ci * win.kh + ky) * win.kw + kx) * sp, xg + ci * H * W, H, W, &win, ky,
                                       kx, pad);
            const uint8_t *zwp = zw ? (const uint8_t *)zw->data + (zw->numel == 1 ? 0 : gi * mg) : NULL;
            int32_t *yi = (int32_t *)y->data + (nn * M + gi * mg) * sp;
            struct qgemm_args q = {
                .M = mg, .N = sp, .K = kk,
                .a = (const uint8_t *)w->data + gi * mg * kk, .a_signed = w->dt == INFERD_INT8,
                .b = bm, .b_signed = x->dt == INFERD_INT8,
                .za = zwp, .za_len = zw ? (zw->numel == 1 ? 1 : mg) : 0,
                .zb = zx ? zx->data : NULL, .zb_len = zx ? 1 : 0,
                .c = io->sy >= 0 ? acc : yi,
                .pack = pack,
                .b_row = bm ? NULL : qconv_im2col, .b_ctx = &cc, .b_tmp = col,
                .a_terms = a_terms ? a_terms + 2 * gi * mg : NULL,
            };
            if (io->sy < 0) {
                qgemm_u8_pool(c, &q);
                continue;
            }
            struct qrows r = rq;
            r.g = &q, r.isa = qgemm_isa_pick(&q), r.oc0 = gi * mg, r.y = (uint8_t *)y->data + (nn * M + gi * mg) * sp;
            qgemm_u8_isa_pack(&q, r.isa);
            int64_t blocks = (mg + QROWS - 1) / QROWS, per = QROWS * q.N * kk;
            ox_parallel(c, blocks, per > 0 ? ((int64_t)1 << 18) / per + 1 : blocks, qrows_part, &r);
        }
    }
    return 0;
}

/* op->pack: the weights' row terms for the VNNI GEMMs (qgemm_a_terms: za', rsA per output
 * channel, 2 int32 each), made once per plan when w and w_zero_point are constant; then one
 * int32, 1 when panels follow: with AVX-512 VNNI, where the transposed GEMM can run them
 * (qconv_want_panels), from byte qconv_panels_at each group's weights as qgemm_a_panels,
 * qgemm_a_panels_bytes(M/g, K) bytes a group. Exec reads that word, so a run never looks for
 * panels the pack did not make (INFERD_QCONV_T set differently at pack and at exec). */
static int qconv_packable(const struct ox_node *n, struct ox_tensor *const *in)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *w = in[io->w], *zw = ox_opt_in(n, in, io->zw);
    return w->is_const && is_q8(w->dt) && w->rank == 4 && w->numel > 0 &&
           !(zw && (!zw->is_const || zw->dt != w->dt || (zw->numel != 1 && zw->numel != w->dims[0]))) &&
           (qgemm_isa_usable(QGEMM_AVX512VNNI) || qgemm_isa_usable(QGEMM_AVXVNNI));
}

/* Whether qconv_pack adds panels: AVX-512 VNNI, and groups of 8 output channels or more (not
 * the depthwise convs, which run qdw_exec) */
static int qconv_has_panels(const struct ox_tensor *w, int64_t g)
{
    return qgemm_isa_usable(QGEMM_AVX512VNNI) && g >= 1 && w->dims[0] % g == 0 && w->dims[0] / g >= 8;
}

/* Whether the panels are in the c4 order (qgemm_a_panels' taps) for qgemm_u8_avx512vnni_rows_c4:
 * channels a multiple of 4 a group, more than one tap */
static int qconv_c4_ok(const struct ox_tensor *w, int64_t g)
{
    (void)g;
    return w->dims[1] % 4 == 0 && w->dims[2] * w->dims[3] > 1;
}

static size_t qconv_panels_at(int64_t M)
{
    return ((size_t)(2 * M + 1) * sizeof(int32_t) + 63) & ~(size_t)63;
}

/* the word after the row terms: 1 when the pack made panels */
static int qconv_packed_panels(const float *packed, int64_t M)
{
    return ((const int32_t *)(const void *)packed)[2 * M] == 1;
}

/* Whether qconv_pack makes panels: they cost a second copy of the weights, so only where a run
 * can take the transposed GEMM (qconv_use_t: K >= QCONV_T_K unless INFERD_QCONV_T says) and,
 * for panels in the c4 order, only for weights whose zero points are all 0 (exec runs the c4
 * path or no transposed GEMM at all). */
static int qconv_want_panels(const struct ox_tensor *w, const struct ox_tensor *zw, int64_t g)
{
    const int64_t M = w->dims[0], K = w->numel / M;
    const char *e = getenv("INFERD_QCONV_T");
    if (!qconv_has_panels(w, g) || (e && e[0] == '0') || (!(e && e[0] == '1') && K < QCONV_T_K))
        return 0;
    if (!qconv_c4_ok(w, g))
        return 1;
    /* qconv_za0 of the row terms without making them: every za' (za for int8 weights, za - 128
     * for uint8; za 0 when absent) is 0 */
    const int sg = w->dt == INFERD_INT8;
    const int64_t nz = zw ? zw->numel : 1;
    for (int64_t i = 0; i < nz; i++) {
        const uint8_t z = zw ? ((const uint8_t *)zw->data)[i] : 0;
        if ((sg ? (int32_t)(int8_t)z : (int32_t)z - 128) != 0)
            return 0;
    }
    return 1;
}

static int64_t qconv_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *w = in[io->w], *zw = ox_opt_in(n, in, io->zw);
    if (!qconv_packable(n, in))
        return 0;
    const int64_t M = w->dims[0], K = w->numel / M, g = ox_attr_int(n, "group", 1);
    const int panels = qconv_want_panels(w, zw, g);
    const size_t pg = panels ? qgemm_a_panels_bytes(M / g, K) : 0;
    if (dst) {
        struct qgemm_args ga = {.M = M, .K = K, .a = w->data, .a_signed = w->dt == INFERD_INT8,
                                .za = zw ? zw->data : NULL, .za_len = zw ? zw->numel : 0};
        qgemm_a_terms(&ga, (int32_t *)(void *)dst);
        ((int32_t *)(void *)dst)[2 * M] = panels;
        for (int64_t gi = 0; panels && gi < g; gi++) {
            struct qgemm_args gg = {.M = M / g, .K = K, .a = (const uint8_t *)w->data + gi * (M / g) * K,
                                    .a_signed = w->dt == INFERD_INT8};
            qgemm_a_panels(&gg, qconv_c4_ok(w, g) ? w->dims[2] * w->dims[3] : 0,
                           (uint8_t *)dst + qconv_panels_at(M) + (size_t)gi * pg);
        }
    }
    return panels ? (int64_t)((qconv_panels_at(M) + (size_t)g * pg + sizeof(float) - 1) / sizeof(float)) : 2 * M + 1;
}

/* op->scratch_slots: the flat path's parts run in min(nth, parts) slots (qconv_parts); the
 * depthwise path (qdw_exec) and the GEMM path split over the pool by rows (qrows_part,
 * qgemm_u8_pool) use the first slot only */
static int qconv_scratch_slots(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in)
{
    const struct qconv_io *io = io_of(n);
    const struct ox_tensor *x = in[io->x], *w = in[io->w];
    struct ox_window win = {0};
    int64_t g = 1;
    if (c->nth <= 1 || qconv_geometry(n, in, &win, &g, NULL) < 0)
        return 1;
    struct qdw_job dw = {0};
    if (g == x->dims[1] && g == w->dims[0] && w->dims[1] == 1 && qdw_plan(&win, &dw))
        return 1;
    struct qconv_layout L;
    const int64_t cg = x->dims[1] / g;
    qconv_layout(&win, cg, qconv_pointwise(&win, x->dims[2], x->dims[3]), &L);
    if (!L.flat)
        return 1;
    struct qconv_job j = {.L = &L, .win = &win, .g = g, .mg = w->dims[0] / g, .nslots = c->nth};
    qconv_parts(&j, x->dims[0]);
    return j.parts < c->nth ? (int)j.parts : c->nth;
}

const struct ox_op ox_op_conv_integer = {
    .name = "ConvInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = qconv_infer, .exec = qconv_exec,
    .flags = OX_OP_SCRATCH_SLOTS, .scratch = qconv_scratch, .pack = qconv_pack, .scratch_slots = qconv_scratch_slots,
};
const struct ox_op ox_op_qlinear_conv = {
    .name = "QLinearConv", .min_in = 8, .max_in = 9, .min_out = 1, .max_out = 1,
    .infer = qconv_infer, .exec = qconv_exec,
    .flags = OX_OP_SCRATCH_SLOTS, .scratch = qconv_scratch, .pack = qconv_pack, .scratch_slots = qconv_scratch_slots,
};
const struct ox_op ox_op_inferd_qlinear_conv = {
    .name = "InferdQLinearConv", .min_in = 13, .max_in = 13, .min_out = 1, .max_out = 1,
    .infer = qconv_infer, .exec = qconv_exec,
    .flags = OX_OP_SCRATCH_SLOTS, .scratch = qconv_scratch, .pack = qconv_pack, .scratch_slots = qconv_scratch_slots,
};
