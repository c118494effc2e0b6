/* conv_direct.h — a direct conv for kernels of 3x3 and up at stride 1 or 2 (ungrouped,
 * undilated, packed weights), the path ops/conv.c takes for them where Winograd does not:
 * the im2col GEMM packed every column block of B from X (at stride 2 two loads, a shuffle
 * and the segment bookkeeping per 16 floats) and, with few output channels (YOLO's 16-64),
 * reused each packed block for a few weight panels only, so packing cost about what the
 * FMAs did. Here X is copied once per image into a zero-padded layout Xp split by row and
 * column phase (the stride's remainders), in which the K = C*kh*kw taps of any output pixel
 * sit at the same offsets from the pixel's base (a table of K offsets), and the bases of an
 * output row's pixels and of the next row's continue one another (a row of Xp is WQ wide,
 * OW and the (kw-1)/sw columns that only taps reach): the tile loads its B vectors straight
 * from Xp, and a vector of pixels runs across output rows (OW 20: 21 of every 21 lanes busy
 * but one, not 20 of 32).
 *
 *   Y (M, OH, OW) = act(Wp (M, K) @ im2col(X) (K, OH*OW) + bias (M) [+ Z (M, OH, OW)])
 *   Xp[ci][py][px][i][j] = X[ci][i*sh + py - pt][j*sw + px - pl], 0 outside;
 *                      py < sh, px < sw, i < HQ = OH + (kh-1)/sh, j < WQ = OW + (kw-1)/sw
 *   pixel q = oy*WQ + ox of the grid (OH, WQ) (lanes with ox >= OW computed and dropped):
 *                      tap (ci, ky, kx) at Xp + q + off[(ci*kh + ky)*kw + kx],
 *                      off = (((ci*sh + ky%sh)*sw + kx%sw)*HQ + ky/sh)*WQ + kx/sw
 *
 * A tile is ROWS output channels (a packed panel, conv_kern.h) x two vectors of VL grid pixels
 * (2t*VL on). Each output's taps are summed by FMA in tap order from zero, then bias, Z and the
 * activation (conv_tmpl.h's epilogue); the reference (fmaf in the same order) matches the
 * SIMD versions exactly but for the activation's exp.
 *
 *   struct ox_cdir d = {x, wp, bias, z, y, c, h, w, m, kh, kw, sh, sw, pt, pl, oh, ow, epi, xp};
 *   if (ox_cdir_ok(isa, &d)) {          xp: ox_cdir_scratch(&d) bytes
 *       ox_cdir_fill(isa, &d, 0, c);     channels [c0, c1) of Xp (and the offsets)
 *       ox_cdir_run(isa, &d, 0, ox_cdir_tiles(isa, &d));
 *   }
 */
#ifndef INFERD_ONNX_CONV_DIRECT_H
#define INFERD_ONNX_CONV_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/conv_kern.h"

#define OX_CDIR_MAXW 2048 /* WQ at most (wider rows take the GEMM) */

struct ox_cdir {
    const float *x;    /* X (C, H, W), one image, borrowed */
    const float *wp;   /* W (M, C*kh*kw) packed by ox_conv_pack, borrowed */
    const float *bias; /* M entries or NULL */
    const float *z;    /* Z (M, OH, OW) added before the activation, or NULL */
    float *y;          /* OUT: Y (M, OH, OW) */
    int64_t c, h, w, m, kh, kw, sh, sw, pt, pl, oh, ow;
    struct ox_epi epi;
    void *xp;          /* scratch of ox_cdir_scratch() bytes: Xp (and WQ + 32 floats that the
                          grid's last vectors read past it), then the K offsets (int32) */
};

/* 1 when isa has a kernel for this shape (never OX_ISA_REF: the GEMM path stays there) */
int ox_cdir_ok(enum ox_isa isa, const struct ox_cdir *d);
/* bytes of d->xp (independent of the ISA) */
size_t ox_cdir_scratch(const struct ox_cdir *d);
/* Xp's channels [c0, c1), and with c0 == 0 the offset table */
void ox_cdir_fill(enum ox_isa isa, const struct ox_cdir *d, int64_t c0, int64_t c1);
/* tiles of one image for isa (pairs of VL-pixel vectors of the grid); all weight panels each */
int64_t ox_cdir_tiles(enum ox_isa isa, const struct ox_cdir *d);
/* tiles [t0, t1) of Y (after the fill of every channel) */
void ox_cdir_run(enum ox_isa isa, const struct ox_cdir *d, int64_t t0, int64_t t1);
/* The pointwise run: a 1x1 kernel at stride 1, unpadded, with d->x read in place as Xp (no
 * fill, no offset table: tap ci at X + q + ci*OH*OW); kh = kw = sh = sw = 1, pads 0, xp
 * unused. Tiles as ox_cdir_tiles. Unlike the GEMM path nothing is packed: YOLO's 1x1s have 32-64
 * output channels, so the GEMM's packed block of X served 3-6 panels only. ok: isa has the kernel
 * and OH*OW is a multiple of 16 (the last vector reads no float past X). */
int ox_cdir_pw_ok(enum ox_isa isa, const struct ox_cdir *d);
void ox_cdir_pw_run(enum ox_isa isa, const struct ox_cdir *d, int64_t t0, int64_t t1);
/* The oc-lane kernel (AVX-512 only): the output channels in the vector lanes, for up to 64 of
 * them, Z-free. Per tap (ci, ky, kx) each of a tile's P output pixels (one output row, P =
 * 16, 12 / 10, 8 / 7, 6 / 5 for 1-4 vectors of channels) broadcasts its input value straight from X and
 * FMAs it into one vector per 16 channels of that tap's weights (packed by ox_cdoc_pack as
 * W^T, [K][16 * ceil(M / 16)], zero past M): no Xp copy, no strided gathers, 2-4 weight
 * vectors and P broadcasts for 24 FMAs. A tile touching the pads (or reading past a row)
 * copies its C * kh input rows' slice into a zero-padded stack buffer first. After the taps
 * (summed from zero in tap order, as ox_cdir_ref: bit-identical but for the exp-based
 * activations), bias and the activation are applied per vector of channels, and 16 x 16
 * transposes turn the tile back into NCHW rows of P pixels. The map's last tile of a row is
 * moved back to end at OW (it recomputes a few pixels). Items: (image row oy, tile) pairs,
 * oh * ox_cdoc_row_tiles an image. d->wp: the ox_cdoc_pack layout; d->z, d->xp unused (NULL). */
#define OX_CDOC_MAXM 64
#define OX_CDOC_TILE 384  /* floats of a tile's partial sums: P * 16 * NV (ox_cdoc_px's widths) */
#define OX_CDOC_CHBLK 6144 /* floats of weights a channel block reads (about 24 KiB of L1) */
#define OX_CDOC_BUF 8192 /* floats of the edge tiles' stack buffer: C * kh * (sw * (P - 1) + kw)
                            rounded up to 16 */
int ox_cdoc_ok(enum ox_isa isa, const struct ox_cdir *d);
int64_t ox_cdoc_pack_size(int64_t m, int64_t k);
/* w (M, K) -> [K][16 * ceil(M / 16)], zero past M */
void ox_cdoc_pack(const float *w, int64_t m, int64_t k, float *dst);
/* pixels a tile computes: for 1-4 vectors of output channels 16, 12 or 10, 8 or 7, 6 or 5
 * (the one that wastes fewer pixels of a row) */
int64_t ox_cdoc_px(const struct ox_cdir *d);
static inline int64_t ox_cdoc_row_tiles(const struct ox_cdir *d)
{
    int64_t p = ox_cdoc_px(d);
    return (d->ow + p - 1) / p;
}
/* items [i0, i1) of one image (item = oy * row_tiles + tile) */
void ox_cdoc_run(enum ox_isa isa, const struct ox_cdir *d, int64_t i0, int64_t i1);
void ox_cdoc_run_avx512(const struct ox_cdir *d, int64_t i0, int64_t i1);

/* the reference: all of Y straight from X (xp unused), taps summed in the same order by fmaf */
void ox_cdir_ref(const struct ox_cdir *d);

void ox_cdir_fill_avx2(const struct ox_cdir *d, int64_t c0, int64_t c1);
void ox_cdir_fill_avx512(const struct ox_cdir *d, int64_t c0, int64_t c1);
void ox_cdir_run_avx2(const struct ox_cdir *d, int64_t t0, int64_t t1);
void ox_cdir_run_avx512(const struct ox_cdir *d, int64_t t0, int64_t t1);
void ox_cdir_pw_run_avx2(const struct ox_cdir *d, int64_t t0, int64_t t1);
void ox_cdir_pw_run_avx512(const struct ox_cdir *d, int64_t t0, int64_t t1);

/* Xp's geometry (shared by the reference, the kernels and the tests) */
static inline int64_t ox_cdir_hq(const struct ox_cdir *d)
{
    return d->oh + (d->kh - 1) / d->sh;
}
static inline int64_t ox_cdir_wq(const struct ox_cdir *d)
{
    return d->ow + (d->kw - 1) / d->sw;
}
/* floats of Xp with its slack (the offsets follow) */
static inline int64_t ox_cdir_xpf(const struct ox_cdir *d)
{
    return d->c * d->sh * d->sw * ox_cdir_hq(d) * ox_cdir_wq(d) + ox_cdir_wq(d) + 32;
}

#endif
