/* conv_kern.h — the convolution kernels behind ops/conv.c: a GEMM whose left operand is the
 * conv's weights packed once per plan, whose right operand is packed block by block as the
 * GEMM runs (from a matrix, the input itself for a 1x1 conv, or straight from the input
 * through an im2col view, so the im2col matrix is never written out), with bias and
 * activation applied before the last store; and a depthwise kernel with the same epilogue.
 * Each has a portable scalar reference (conv_kern.c) that the AVX2 and AVX-512 versions
 * (x86/conv_*.c) are tested against; callers pick one with cpu_has() through ox_conv_isa().
 *
 *   Y (M, N) = act(Wp (M, K) @ B (K, N) + bias (M) [+ Z (M, N)])     B row stride ldb, Y and Z row stride ldc
 *   Wp: panels of OX_CV_MR rows of W, each stored K x MR (row r of the panel at offset r),
 *       zero rows past M, so a kernel may compute a whole panel and store what exists.
 *
 *   float *wp = malloc(ox_conv_pack_size(m, k) * sizeof(float));
 *   ox_conv_pack(w, m, k, wp);
 *   struct ox_conv_gemm g = {.wp = wp, .b = x, .c = y, .bias = bias, .m = m, .k = k, .n = n, .ldb = n,
 *                            .ldc = n, .epi = {OX_ACT_RELU, 0, 0}};
 *   ox_conv_gemm_run(ox_conv_isa(), &g, 0, (m + OX_CV_MR - 1) / OX_CV_MR, 0, n);
 */
#ifndef INFERD_ONNX_CONV_KERN_H
#define INFERD_ONNX_CONV_KERN_H

#include <math.h>
#include <stdint.h>

/* Activation fused into a conv's store. Parameters a, b: Clip min/max; HardSigmoid and
 * x*HardSigmoid (HardSwish is a = 1/6, b = 0.5) alpha/beta. */
enum ox_act {
    OX_ACT_NONE = 0,
    OX_ACT_RELU,
    OX_ACT_CLIP,
    OX_ACT_HARDSIGMOID, /* clamp(a*x + b, 0, 1) */
    OX_ACT_HARDSWISH,   /* x * clamp(a*x + b, 0, 1) */
    OX_ACT_SIGMOID,
    OX_ACT_SILU,        /* x * sigmoid(x) */
};
struct ox_epi {
    int act; /* enum ox_act */
    float a, b;
};

static inline float ox_act_apply(const struct ox_epi *e, float x)
{
    switch (e->act) {
    case OX_ACT_RELU:
        return x > 0.0f ? x : 0.0f;
    case OX_ACT_CLIP:
        return x < e->a ? e->a : x > e->b ? e->b : x;
    case OX_ACT_HARDSIGMOID:
    case OX_ACT_HARDSWISH: {
        float h = e->a * x + e->b;
        h = h < 0.0f ? 0.0f : h > 1.0f ? 1.0f : h;
        return e->act == OX_ACT_HARDSWISH ? x * h : h;
    }
    case OX_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-x));
    case OX_ACT_SILU:
        return x / (1.0f + expf(-x));
    default:
        return x;
    }
}

#define OX_CV_MR 12 /* rows per packed weight panel (AVX-512: one 12x32 tile; AVX2: two 6x16) */

static inline int64_t ox_conv_pack_size(int64_t m, int64_t k)
{
    return (m + OX_CV_MR - 1) / OX_CV_MR * OX_CV_MR * k;
}
/* Packs W (M,K) row-major into panels (see above). */
void ox_conv_pack(const float *w, int64_t m, int64_t k, float *out);

struct ox_conv_gemm {
    const float *wp;   /* packed weights, borrowed */
    const float *b;    /* B (K, N), row stride ldb */
    float *c;          /* Y (M, N), row stride ldc */
    const float *bias; /* M entries or NULL */
    int64_t m, k, n, ldb, ldc;
    struct ox_epi epi;
    const float *sum;  /* Z (M, N), row stride ldc, added with the bias before the activation
                          (a residual Add fused into the conv, fuse.c); NULL: none. Not Y. */
    /* A batch of images as one GEMM (seg 0: one image, the layout above): column j is
     * column j % seg of image j / seg, whose B starts bstep floats after the previous
     * image's and whose Y and Z cstep floats after (NCHW: bstep C*H*W, cstep M*OH*OW).
     * ox_conv_seg_ok(seg), so a tile spans two images at most. The columns of a small map
     * (7x7: 49 = 32 + 17; a ViT's 4x4 patch grid: 16) then fill the tiles, and the weights
     * are streamed once per OX_CV_NB columns of the batch rather than once per image. */
    int64_t seg, bstep, cstep;
};
#define OX_CV_SEGMIN 32 /* the widest tile (AVX-512: 32 columns); the least seg but 16 (below) */
/* Whether seg columns per image keep every tile within two images: seg >= OX_CV_SEGMIN, or
 * seg == OX_CV_SEGMIN / 2 when each call's n0 is a multiple of seg (tiles start at multiples
 * of their width from n0: a 32-column tile is then two whole images). */
static inline int ox_conv_seg_ok(int64_t seg)
{
    return seg >= OX_CV_SEGMIN || seg == OX_CV_SEGMIN / 2;
}

/* Kernel sets, chosen at run time. */
enum ox_isa { OX_ISA_REF = 0, OX_ISA_AVX2, OX_ISA_AVX512 };
/* The best set this CPU runs (INFERD_CPU_DISABLE turns sets off, see base/cpu.h). */
enum ox_isa ox_conv_isa(void);

/* Computes panels [p0, p1) x columns [n0, n1) of Y. The SIMD versions block the work
 * (BLIS-style): columns in blocks of OX_CV_NB, K in blocks of about OX_CV_KC rows, each
 * (K block, column block) of B packed once into contiguous strips of one tile's width
 * (a stack buffer, OX_CV_KC * OX_CV_NB floats), then every panel of [p0, p1) (OX_CV_MC at a
 * time) run over each strip: a strip stays in L1 and a panel block in L2 while they are
 * reused. Partial sums go through Y between K blocks; bias and activation are applied after
 * the last. Threads should split [n0, n1) at multiples of OX_CV_NB and give each call many
 * panels: a call packs the B it reads. The map's last block must start on that grid too:
 * where it starts decides whether its last few columns fold into the strip before or run
 * on their own (other bits). Two columns or fewer take matrix-vector products. */
#define OX_CV_KC 256 /* most K rows per block: a 32-column strip of them is 32 KiB */
#define OX_CV_NB 128 /* columns per packed block of B (a multiple of every tile width) */
#define OX_CV_MC 32  /* panels per pass over a strip: their K blocks (12 KiB each) stay in L2 */
void ox_conv_gemm_ref(const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1);
void ox_conv_gemm_avx2(const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1);
void ox_conv_gemm_avx512(const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1);
void ox_conv_gemm_run(enum ox_isa isa, const struct ox_conv_gemm *g, int64_t p0, int64_t p1, int64_t n0, int64_t n1);

/* The same GEMM with B the im2col matrix of one image's input, read through the view below
 * while packing (g->b and g->ldb are ignored):
 *   B (C*kh*kw, OH*OW): row (ci*kh + ky)*kw + kx, column oy*OW + ox
 *                       = x[ci][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw], 0 outside the image */
struct ox_conv_im2col {
    const float *x; /* X (C, H, W), borrowed */
    int64_t h, w, kh, kw, sh, sw, dh, dw, pt, pl, ow;
    int64_t xstep; /* g->seg != 0: floats from one image's X to the next's (seg a multiple of OW) */
};
void ox_conv_gemm_im2col_ref(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t p0, int64_t p1,
                             int64_t n0, int64_t n1);
void ox_conv_gemm_im2col_avx2(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t p0, int64_t p1,
                              int64_t n0, int64_t n1);
void ox_conv_gemm_im2col_avx512(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, int64_t p0,
                                int64_t p1, int64_t n0, int64_t n1);
void ox_conv_gemm_im2col_run(enum ox_isa isa, const struct ox_conv_gemm *g, const struct ox_conv_im2col *im,
                             int64_t p0, int64_t p1, int64_t n0, int64_t n1);
/* ops/conv.c: g (through im when not NULL, else B is g->b) over the context's thread pool,
 * items of OX_CV_NB columns by one weight panel, a thread's range packing each block of B
 * once; worth a thread from ~2^18 multiply-adds. Used by Conv and InferdMBConv. */
struct ox_ctx;
void ox_conv_gemm_pool(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_gemm *g,
                       const struct ox_conv_im2col *im);
/* K rows per block for a GEMM of depth k: about OX_CV_KC, equal blocks (no short tail). */
static inline int64_t ox_conv_kc(int64_t k)
{
    int64_t blocks = (k + OX_CV_KC - 1) / OX_CV_KC;
    return blocks ? (k + blocks - 1) / blocks : 1;
}

/* B packed ahead, once for every panel (ops/conv.c, several threads on one image: where each
 * thread packed the blocks of B its range of panels reads, a block shared by two ranges was
 * packed twice, and a 7x7 map's single block once per part). Item i of
 * ox_conv_prepack_items(k, n) is (column block i / nkb, K block i % nkb), nkb = ox_conv_prepack_kblocks(k)
 * (blocks of ox_conv_kc(k)); ox_conv_prepack packs items [i0, i1) of B (im: its im2col view, else g->b)
 * into bp (ox_conv_prepack_size floats, laid out for isa's tiles), and ox_conv_gemm_pre
 * computes panels [p0, p1) x columns [n0, n1) of Y from it (n0 a multiple of OX_CV_NB), the
 * results those of ox_conv_gemm(_im2col)_run. SIMD only: the size is 0 for OX_ISA_REF. */
static inline int64_t ox_conv_prepack_kblocks(int64_t k)
{
    return (k + ox_conv_kc(k) - 1) / ox_conv_kc(k);
}
static inline int64_t ox_conv_prepack_items(int64_t k, int64_t n)
{
    return (n + OX_CV_NB - 1) / OX_CV_NB * ox_conv_prepack_kblocks(k);
}
int64_t ox_conv_prepack_size(enum ox_isa isa, int64_t k, int64_t n);
int64_t ox_conv_prepack_size_avx2(int64_t k, int64_t n);
int64_t ox_conv_prepack_size_avx512(int64_t k, int64_t n);
void ox_conv_prepack_avx2(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, float *bp, int64_t i0,
                          int64_t i1);
void ox_conv_prepack_avx512(const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, float *bp, int64_t i0,
                            int64_t i1);
void ox_conv_prepack_run(enum ox_isa isa, const struct ox_conv_gemm *g, const struct ox_conv_im2col *im, float *bp,
                         int64_t i0, int64_t i1);
void ox_conv_gemm_pre_avx2(const struct ox_conv_gemm *g, const float *bp, int64_t p0, int64_t p1, int64_t n0,
                           int64_t n1);
void ox_conv_gemm_pre_avx512(const struct ox_conv_gemm *g, const float *bp, int64_t p0, int64_t p1, int64_t n0,
                             int64_t n1);
void ox_conv_gemm_pre_run(enum ox_isa isa, const struct ox_conv_gemm *g, const float *bp, int64_t p0, int64_t p1,
                          int64_t n0, int64_t n1);
/* ops/conv.c: ox_conv_gemm_pool's GEMM on one image over several threads: split by
 * 32-column strips (at least two a thread) or, for one column block (or a 1x1 of up to two
 * with m >= 4 n), by panels, each thread packing its own B; else B packed ahead into bp
 * (ox_conv_prepack_size floats) by the pool, then the tiles split over it. The same bits as
 * one thread. isa not OX_ISA_REF. */
void ox_conv_gemm_pool_pre(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_gemm *g,
                           const struct ox_conv_im2col *im, float *bp);

/* Depthwise conv, one (batch, channel) plane per index p in [p0, p1):
 *   Y[p] (OH, OW) = act(sum_{ky,kx} X[p] (H, W)[oy*sh - pt + ky*dh][ox*sw - pl + kx*dw] * K[c] + bias[c]),
 *   c = p % channels, out-of-image taps are zero. */
struct ox_dw {
    const float *x, *w, *bias; /* X (planes, H, W), W (channels, kh, kw), bias or NULL */
    float *y;                  /* Y (planes, OH, OW) */
    int64_t channels, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow;
    struct ox_epi epi;
    /* ox_dw_blk_* only (0 for every other kernel): X planes of xrows rows, a ring (input
     * row iy at row iy % xrows: InferdMBConv's band of the expanded map, whose addresses
     * stay in cache instead of a whole image's); Y planes of yrows rows holding output rows
     * from y0 on (row oy at row oy - y0). 0: whole planes (h, oh rows; y0 = 0). */
    int64_t xrows, yrows, y0;
};
void ox_dw_ref(const struct ox_dw *d, int64_t p0, int64_t p1);
/* SIMD versions: dilation 1, kw <= 7, (OW-1)*sw + kw <= OX_DW_MAXW; others fall back. */
#define OX_DW_MAXW 2048
int ox_dw_simd_ok(const struct ox_dw *d);
void ox_dw_avx2(const struct ox_dw *d, int64_t p0, int64_t p1);
void ox_dw_avx512(const struct ox_dw *d, int64_t p0, int64_t p1);
void ox_dw_run(enum ox_isa isa, const struct ox_dw *d, int64_t p0, int64_t p1);

/* Channel-blocked depthwise (x86/conv_tmpl.h): work item q in [q0, q1) of
 * ox_dw_blk_items() is channels [c0, c0 + L) of image b, output rows of tile t (of T =
 * ox_dw_blk_tiles(), equal splits of OH), q = (b * ceil(channels / L) + c0 / L) * T + t,
 * L = ox_dw_blk_lanes(isa) (AVX2 8, AVX-512 16). Rows are tiled only when the batch has
 * fewer than 8 channel blocks, so that two threads share a 16-channel layer. Each tap is one FMA over L channels of one pixel, so small maps and
 * stride 2 keep every lane busy. Undilated, kh, kw <= OX_DWB_MAXKH, OW <= OX_DWB_MAXOW and
 * kh padded rows within OX_DWB_CAP floats (ox_dw_blk_ok); the reference is ox_dw_ref. */
#define OX_DWB_CAP 16384 /* floats of a work item's ring of padded input rows (64 KiB) */
#define OX_DWB_MAXKH 7
#define OX_DWB_MAXK (OX_DWB_MAXKH * OX_DWB_MAXKH)
#define OX_DWB_MAXOW 256
int ox_dw_blk_lanes(enum ox_isa isa); /* 0 for OX_ISA_REF */
int ox_dw_blk_ok(enum ox_isa isa, const struct ox_dw *d);
int64_t ox_dw_blk_tiles(enum ox_isa isa, const struct ox_dw *d, int64_t batch);
int64_t ox_dw_blk_items(enum ox_isa isa, const struct ox_dw *d, int64_t batch);
/* Whether the conv op should take the blocked kernel for this shape (measured choice). */
int ox_dw_blk_pick(enum ox_isa isa, const struct ox_dw *d);
/* tiles: ox_dw_blk_tiles() for the batch the items were counted for */
void ox_dw_blk_avx2(const struct ox_dw *d, int64_t tiles, int64_t q0, int64_t q1);
void ox_dw_blk_avx512(const struct ox_dw *d, int64_t tiles, int64_t q0, int64_t q1);
void ox_dw_blk_run(enum ox_isa isa, const struct ox_dw *d, int64_t tiles, int64_t q0, int64_t q1);

/* Winograd F(4x4, 3x3) for 3x3 stride-1 convs: conv_wino.h. */

#endif
