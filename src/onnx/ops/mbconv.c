/* mbconv.c — InferdMBConv, the engine's own inverted-residual block (MobileNetV2/V3,
 * EfficientNet), made by fuse_mbconv.c from Conv 1x1 [+act] -> depthwise Conv [+act]
 * [-> Conv 1x1 [+Z] [+act]] and run band by band so the expanded map stays in cache:
 *
 *   X (N, C, H, W) -> E = actA(WA (M, C) @ X + bA)            (N, M, H, W)     expand
 *                  -> D = actB(depthwise(E, WB (M, 1, kh, kw)) + bB) (N, M, OH, OW)
 *                  -> Y = actC(WC (M2, M) @ D + bC [+ Z])     (N, M2, OH, OW)  project (optional)
 *
 *   Without the expand conv (WA omitted: MobileNetV2's first block, depthwise -> project) E is
 *   X itself and only D stays in cache (on the blocked path below, X's rows interleaved).
 *
 *   inputs: 0 X, 1 WA, 2 bA, 3 WB, 4 bB, 5 WC, 6 bC, 7 Z (omitted ones -1); attributes: the
 *   depthwise Conv's (strides, pads, auto_pad, dilations, group); ip[0..2] = enum ox_act of
 *   A, B, C; fp[0..1] A's parameters, fp[2..3] B's; ip[4] C's a and ip[5] its b as float bits.
 *
 * Unfused, at batch 8 the 8x96x112x112 expanded map of MobileNetV2's second block (38 MB)
 * goes to DRAM and back, and so does the depthwise output. Here each image is cut into bands
 * of output rows: for a band, the expand GEMM writes only the rows of E the depthwise window
 * has not seen yet (each row once: the rows a band shares with the next stay), the
 * channel-blocked depthwise kernel (conv_kern.h, tile = band) reads them while they are in
 * L2, and the project GEMM reads the band of D it just wrote. E is a ring of the rows one
 * band reads (row r at r mod erows) and D one band's rows, so every band writes the lines
 * the last one did: with whole-image buffers each band wrote fresh lines, and the whole
 * expanded map was still fetched for ownership and written back (MobileNetV2's 112x112
 * block took 1.4x as long). The scratch keeps whole-image room (an unbanded run). Where the
 * blocked depthwise kernel does not run (scalar reference, large kernels) the image is done
 * in one band with the plane kernel: the same arithmetic as the three Convs unfused.
 *
 * With the expand conv and the blocked depthwise kernel, E is kept channel-blocked (E_c,
 * mbconv_kern.h): the expand writes each pixel's channels as one vector (a GEMM with the
 * pixels as rows, X read in place) and the depthwise taps read E_c's rows with their padding
 * columns in place, so E is never transposed; one fork/join per band runs both on each
 * thread's channel blocks (E stays in that core's cache). D stays planar for the project
 * GEMM. With a project conv D is kept channel-blocked too (D_c): the depthwise rows go to
 * it as the taps leave them, and the project is a GEMM with the pixels as rows whose tiles
 * are transposed into Y's planes (ox_mb_project): the transposes are on Y's M2 channels
 * instead of D's M (6x fewer in MobileNetV2). Without the expand conv the blocked path runs
 * too, E_c then holding X's rows interleaved (what ox_dw_blk's ring did), so D_c and the
 * project on Y's channels apply to MobileNetV2's first block (32 -> 16) as well. The blocked
 * path takes maps from 14x14 up, from 7x7 up with a project conv (mb_blk_map).
 * INFERD_ONNX_MBCONV_BLOCKED (read once): 0
 * takes the planar path (E and D planar, ox_conv_gemm and ox_dw_blk's ring), 1 keeps only E
 * channel-blocked; for comparison.
 */
#include <stdlib.h>
#include <string.h>

#include "onnx/conv_kern.h"
#include "onnx/mbconv_kern.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

#define MB_BAND_BYTES (512 * 1024)  /* E and D rows of one band: inside a 1 MiB L2 with X's rows */
#define MB_WHOLE_BYTES (1024 * 1024) /* an image's E and D up to this size go in one band (1 MiB:
                                      * MobileNetV2's 14x14 blocks with M = 576, 882 KiB, in
                                      * one band: at 2 threads 2 fork/joins, not 4) */
#define MB_CHUNK_BANDS 2            /* least bands per thread for an image split by bands */
#define MB_ROWS_MINOH 14            /* least output rows of a map cut by rows on several threads
                                     * although it fits in one band (mb_rows_split; MobileNetV2's
                                     * 7x7 blocks measured slower cut, their halo rows 2 of 7) */
#define MB_BLK_MINHW 196            /* E channel-blocked from 14x14 maps up (mb_blk_map) */
#define MB_BLKD_MINHW 49            /* and from 7x7 up with a project conv: on MobileNetV2's 7x7
                                     * blocks (K = 160) the planar path had measured ~10% faster
                                     * while the blocked tails were recomputed (49 pixels took 60
                                     * in the expand, 64 in the project); without them blocked
                                     * took 6-10% less CPU at batch 8 */

static float bits_f(int64_t v)
{
    uint32_t u = (uint32_t)v;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

struct mb_geom {
    struct ox_window win;
    int64_t nb, c, h, w, m, m2; /* m2 == m without the project conv */
    int has_a, has_c;
};

/* whether the map is large enough for the channel-blocked path (where the kernel runs): from
 * 7x7 only where D is blocked too (a project conv with M2 <= OX_MB_MAXM2, ox_mb_project);
 * blocked E with planar D is the arrangement measured slower on small maps */
static int mb_blk_map(const struct mb_geom *g)
{
    return g->h * g->w >= (g->has_c && g->m2 <= OX_MB_MAXM2 ? MB_BLKD_MINHW : MB_BLK_MINHW);
}

/* E's room in the scratch: planar (M, H, W), or E_c with M rounded up to OX_MB_BLK and up to
 * W + pl + pr columns a row (mb_ec_cols), whichever is larger; without the expand conv E is
 * X (none) or, on maps the blocked path takes (mb_blk_map), X interleaved as E_c */
static int64_t mb_eroom(const struct mb_geom *g)
{
    int64_t ec = ox_mb_round(g->m) * g->h * (g->w + g->win.pl + g->win.pr);
    if (!g->has_a)
        return mb_blk_map(g) ? ec : 0;
    return ec > g->m * g->h * g->w ? ec : g->m * g->h * g->w;
}

/* D's room: planar (M, OH, OW), or D_c with M rounded up to OX_MB_BLK */
static int64_t mb_droom(const struct mb_geom *g)
{
    return g->has_c ? ox_mb_round(g->m) * g->win.oh * g->win.ow : 0;
}

/* E_c's columns a row: the depthwise reads (OW - 1) sw + kw padded columns, the expand
 * writes pl + W (<= W + pl + pr both) */
static int64_t mb_ec_cols(const struct mb_geom *g)
{
    int64_t wp = (g->win.ow - 1) * g->win.sw + g->win.kw;
    return wp > g->win.pl + g->w ? wp : g->win.pl + g->w;
}

static int mb_geometry(const struct ox_node *n, struct ox_tensor *const *in, struct mb_geom *g,
                       struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *wa = in[1], *wb = in[3], *wc = n->n_in > 5 ? in[5] : NULL;
    for (int k = 0; k < n->n_in; k++)
        if (in[k] && in[k]->dt != INFERD_FP32)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdMBConv: input %d is not FP32", k);
    if (!wc && !wa)
        return inferd_err_set(err, INFERD_EINVAL, "InferdMBConv: neither an expand nor a project conv");
    if (x->rank != 4 || (wa && wa->rank != 4) || wb->rank != 4 || (wc && wc->rank != 4))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdMBConv: X and the weights must be rank 4");
    g->nb = x->dims[0];
    g->c = x->dims[1];
    g->h = x->dims[2];
    g->w = x->dims[3];
    g->m = wa ? wa->dims[0] : wb->dims[0];
    g->has_a = wa != NULL;
    g->has_c = wc != NULL;
    g->m2 = wc ? wc->dims[0] : g->m;
    if ((wa ? wa->dims[1] != g->c || wa->dims[2] != 1 || wa->dims[3] != 1 : g->c != g->m) || wb->dims[0] != g->m ||
        wb->dims[1] != 1 ||
        (wc && (wc->dims[1] != g->m || wc->dims[2] != 1 || wc->dims[3] != 1)))
        return inferd_err_set(err, INFERD_ESHAPE, "InferdMBConv: X (.., %lld, ..) and the weights disagree",
                              (long long)g->c);
    if ((in[2] && in[2]->numel != g->m) || (in[4] && in[4]->numel != g->m) ||
        (n->n_in > 6 && in[6] && in[6]->numel != g->m2))
        return inferd_err_set(err, INFERD_ESHAPE, "InferdMBConv: a bias has the wrong length");
    return ox_window_resolve(n, g->h, g->w, wb->dims[2], wb->dims[3], 0, &g->win, err);
}

static int mb_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    struct mb_geom g;
    int rc = mb_geometry(n, in, &g, err);
    if (rc < 0)
        return rc;
    int64_t dims[4] = {g.nb, g.m2, g.win.oh, g.win.ow};
    const struct ox_tensor *z = n->n_in > 7 ? in[7] : NULL;
    if (z) { /* the fused Add's other input: Y is the two broadcast, as in Conv */
        if (ox_conv_sum_dims(z, dims) < 0)
            return inferd_err_set(err, INFERD_ESHAPE,
                                  "InferdMBConv: the fused Add's other input '%s' does not broadcast with the "
                                  "block's output; graph_optimizations \"mbconv\": false turns the fusion off",
                                  n->in_names[7]);
    }
    return ox_set_shape(out[0], INFERD_FP32, 4, dims, err);
}

/* scratch: E and D of one image (packed weights come from the plan, or from ox_op_run_once
 * when a block on a constant X is folded) */
static size_t mb_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    struct mb_geom g;
    (void)out;
    if (mb_geometry(n, in, &g, NULL) < 0)
        return 0;
    int64_t fl = mb_eroom(&g) + mb_droom(&g);
    return (size_t)fl * sizeof(float);
}

/* WA (M, C) and its bias (or NULL) as mbconv_kern.h's wt and bt */
static void mb_pack_blk(const float *wa, const float *bias, int64_t m, int64_t c, float *out)
{
    int64_t mp = ox_mb_round(m);
    for (int64_t o = 0; o < mp; o++) {
        for (int64_t k = 0; k < c; k++)
            out[(o / OX_MB_BLK * c + k) * OX_MB_BLK + o % OX_MB_BLK] = o < m ? wa[o * c + k] : 0.0f;
        out[mp * c + o] = o < m && bias ? bias[o] : 0.0f;
    }
}

/* packed: WA's GEMM panels, WC's, then WA blocked (mb_pack_blk), then WC blocked */
static int64_t mb_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    struct mb_geom g;
    if ((in[1] && !in[1]->is_const) || (n->n_in > 5 && in[5] && !in[5]->is_const) || mb_geometry(n, in, &g, NULL) < 0)
        return 0;
    int64_t pa = g.has_a ? ox_conv_pack_size(g.m, g.c) : 0;
    if (dst) {
        if (g.has_a)
            ox_conv_pack(in[1]->data, g.m, g.c, dst);
        if (g.has_c)
            ox_conv_pack(in[5]->data, g.m2, g.m, dst + pa);
        float *wt = dst + pa + (g.has_c ? ox_conv_pack_size(g.m2, g.m) : 0);
        if (g.has_a)
            mb_pack_blk(in[1]->data, in[2] ? in[2]->data : NULL, g.m, g.c, wt);
        if (g.has_c)
            mb_pack_blk(in[5]->data, n->n_in > 6 && in[6] ? in[6]->data : NULL, g.m2, g.m,
                        wt + (g.has_a ? ox_mb_pack_size(g.m, g.c) : 0));
    }
    return pa + (g.has_c ? ox_conv_pack_size(g.m2, g.m) + ox_mb_pack_size(g.m2, g.m) : 0) +
           (g.has_a ? ox_mb_pack_size(g.m, g.c) : 0);
}

struct mb_dw {
    struct ox_dw d;
    enum ox_isa isa;
    int64_t tiles, tile;
};

static void mb_dw_blk_part(void *arg, int64_t lo, int64_t hi) /* channel blocks [lo, hi) of one band */
{
    const struct mb_dw *j = arg;
    for (int64_t cb = lo; cb < hi; cb++)
        ox_dw_blk_run(j->isa, &j->d, j->tiles, cb * j->tiles + j->tile, cb * j->tiles + j->tile + 1);
}

static void mb_dw_plane_part(void *arg, int64_t lo, int64_t hi)
{
    const struct mb_dw *j = arg;
    ox_dw_run(j->isa, &j->d, lo, hi);
}

/* ox_parallel over [0, n) with a part count that is a multiple of the threads: ox_parallel
 * cuts what is worth more than one part a thread into up to OX_PAR_SPLIT a thread, e.g. 3
 * parts of the 60 channel blocks of MobileNetV2's 7x7 blocks (M = 960; EfficientNet-B0's 30
 * at 14x14, M = 480) on 2 threads, so one thread ran two of them and the other waited a
 * third of the fork (the block alone at 2 threads, best of 3000 runs: 199-219 us before,
 * 161 after with the project's items channels-major). Here 3 become 4 (at most n); the
 * ranges are still fixed by n and the count, and no result depends on where one is cut. */
struct mb_par {
    ox_range_fn fn;
    void *ctx;
    int64_t n, units;
};

static void mb_par_part(void *arg, int64_t lo, int64_t hi)
{
    const struct mb_par *w = arg;
    int64_t a = lo * w->n / w->units, b = hi * w->n / w->units;
    if (b > a)
        w->fn(w->ctx, a, b);
}

static void mb_parallel(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx)
{
    int64_t p = ox_parallel_parts(c, n, min_per_thread);
    if (p < 2) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    if (p <= c->nth) { /* no more parts than threads: ox_parallel's own cut */
        ox_parallel(c, n, min_per_thread, fn, ctx);
        return;
    }
    if (p % c->nth) {
        p = (p + c->nth - 1) / c->nth * c->nth;
        p = p > n ? p - c->nth : p;
    }
    /* p parts of OX_PAR_FINE units: ox_parallel_parts(p OX_PAR_FINE, 1) is p for nth < p <=
     * OX_PAR_SPLIT nth */
    struct mb_par w = {fn, ctx, n, p * OX_PAR_FINE};
    ox_parallel(c, w.units, 1, mb_par_part, &w);
}

/* bands of output rows for one image: one when its whole E and D are small, else as many as
 * keep a band's E and D rows within MB_BAND_BYTES, rounded up to an even count (batch 1 at
 * 2 threads: 7 bands split 3 + 4 left one core idle for a seventh of the block), at most
 * OH. The count depends on the shape only, never on the threads: results stay bit-identical
 * for every thread count (mb_rows_split raises it with the threads only where the bands do
 * not change the bits). (On this session's loaded
 * machine budgets of 256 KiB..1 MiB measured within noise of each other.) */
static int64_t mb_bands(const struct mb_geom *g)
{
    int64_t per_row = g->m * (g->win.sh * g->w + (g->has_c ? g->win.ow : 0)) * (int64_t)sizeof(float);
    int64_t whole = g->m * (g->h * g->w + (g->has_c ? g->win.oh * g->win.ow : 0)) * (int64_t)sizeof(float);
    if (whole <= MB_WHOLE_BYTES) /* fits as it is: bands would only re-read their overlap */
        return 1;
    int64_t rows = MB_BAND_BYTES / (per_row ? per_row : 1);
    rows = rows < 1 ? 1 : rows;
    int64_t t = (g->win.oh + rows - 1) / rows;
    t += t > 1 && t % 2; /* even: two threads' band ranges (mb_chunk) are then equal */
    return t < 1 ? 1 : t > g->win.oh ? g->win.oh : t;
}

/* Whether an image left to split finely (batch 1) on c's threads is cut into
 * MB_CHUNK_BANDS nth bands of rows although mb_bands keeps it in fewer: a map that fits in
 * one band was split by channel blocks, so each core wrote half of every row of D and Y and
 * read the other half back from the other core (the project GEMM reads all of D; the next
 * block's expand all of X); cut by rows each core writes and reads its own rows, recomputing
 * the halo rows of E (MobileNetV2's 14x14 blocks: 134 -> 194 us from 1 to 2 threads split by
 * channels). The band count then depends on the threads, so only where the bits do not depend
 * on the bands: the blocked E and D path (blkd), whose expand sums each pixel's E over C in
 * order, the depthwise each output pixel on its own and the project each pixel's Y over M in
 * order from the bias, wherever the bands cut. One thread keeps the single band. */
static int mb_rows_split(const struct ox_ctx *c, const struct mb_geom *g, int blkd)
{
    return c->nth > 1 && blkd && g->win.oh >= MB_ROWS_MINOH && g->win.oh >= MB_CHUNK_BANDS * c->nth &&
           mb_bands(g) < MB_CHUNK_BANDS * c->nth;
}

/* what every image of a run shares */
struct mb_run {
    struct mb_geom g;
    const float *x, *pa, *pc, *ba, *bc, *wb, *bb, *z; /* z: Z when it has Y's shape, else NULL */
    float *y;
    struct ox_epi ea, eb, ec;
    enum ox_isa isa;
    int banded;
    int64_t bands, cblocks;
    int64_t erows, drows; /* banded: E's ring rows a plane (h when one band), D's rows (a band's most) */
    int64_t k0, chunks; /* mb_chunk: images from k0 on, each in chunks ranges of bands */
    int blk;            /* E channel-blocked (mb_bands_run_blk) */
    int blkd;           /* blk and D channel-blocked too (ox_mb_project) */
    const float *wt, *bt; /* blk: WA and bA blocked (mb_pack_blk) */
    const float *wtc, *btc; /* blkd: WC and bC blocked */
    int64_t rl;           /* blk: E_c's columns a row (mb_ec_cols) */
};

/* E rows [r0, r1) of image xi into the ring ev (erows rows a plane): one call per run of
 * rows that does not wrap. A replay (a range's rows before `need`, the first row it reads;
 * need 0: none) drops the calls wholly before need and the leading OX_CV_NB-column blocks
 * of the rest that hold no row from need on: the pool cuts what is left into the same
 * blocks as the band's own calls, so every row kept gets the same bits. */
static void mb_expand(const struct mb_run *r, const struct ox_ctx *c, const float *xi, float *ev, int64_t r0,
                      int64_t r1, int64_t need)
{
    const struct mb_geom *g = &r->g;
    for (int64_t a = r0, b; a < r1; a = b) {
        int64_t slot = a % r->erows;
        b = a + (r->erows - slot) < r1 ? a + (r->erows - slot) : r1;
        if (b <= need)
            continue;
        int64_t skip = need > a ? (need - a) * g->w / OX_CV_NB * OX_CV_NB : 0;
        struct ox_conv_gemm ge = {.wp = r->pa, .b = xi + a * g->w + skip, .c = ev + slot * g->w + skip, .bias = r->ba,
                                  .m = g->m, .k = g->c, .n = (b - a) * g->w - skip, .ldb = g->h * g->w,
                                  .ldc = r->erows * g->w, .epi = r->ea};
        ox_conv_gemm_pool(c, r->isa, &ge, NULL);
    }
}

/* Band t's output rows [oy0, oy1) and the rows [r0, r1) of E its window reads past the `done`
 * rows already written (the whole map when the run is not banded) */
static void mb_band_rows(const struct mb_run *r, int64_t t, int64_t done, int64_t *oy0, int64_t *oy1, int64_t *r0,
                         int64_t *r1)
{
    const struct ox_window *v = &r->g.win;
    *oy0 = t * v->oh / r->bands, *oy1 = (t + 1) * v->oh / r->bands;
    *r0 = *oy0 * v->sh - v->pt, *r1 = (*oy1 - 1) * v->sh - v->pt + (v->kh - 1) * v->dh + 1;
    *r0 = *r0 < done ? done : *r0;
    *r1 = *r1 > r->g.h ? r->g.h : *r1;
    if (!r->banded)
        *r0 = 0, *r1 = r->g.h;
}

/* Bands [t0, t1) of image bi with c's pool (or none) and E, D in c's scratch: E a ring of
 * erows rows a plane, D the drows rows of one band (banded runs; a whole image each
 * otherwise), so a band writes where the last one did and both stay in cache. A range that
 * starts past band 0 first replays the expand GEMMs of the bands before it whose rows of E
 * it reads (mb_expand), as the same calls: the same bits as one run through all bands. */
static void mb_bands_run(const struct mb_run *r, const struct ox_ctx *c, int64_t bi, int64_t t0, int64_t t1)
{
    const struct mb_geom *g = &r->g;
    const struct ox_window *v = &g->win;
    int64_t hw = g->h * g->w, ohw = v->oh * v->ow, bands = r->bands;
    float *ev = c->scratch, *dv = g->has_c ? (float *)c->scratch + mb_eroom(g) : NULL;
    const float *xi = r->x + bi * g->c * hw;
    float *yi = r->y + bi * g->m2 * ohw;
    struct mb_dw dj = {{g->has_a ? ev : xi, r->wb, r->bb, g->has_c ? dv : yi, g->m, g->h, g->w, v->kh, v->kw, v->sh,
                        v->sw, v->dh, v->dw, v->pt, v->pl, v->oh, v->ow, r->eb, 0, 0, 0},
                       r->isa, 1, 0};
    if (r->banded) {
        dj.d.xrows = g->has_a ? r->erows : 0;
        dj.d.yrows = g->has_c ? r->drows : 0;
    }
    int64_t done = 0, need = t0 * v->oh / bands * v->sh - v->pt; /* rows of E written; first row t0 reads */
    for (int64_t t = 0; t < t1; t++) {
        int64_t oy0, oy1, r0, r1;
        mb_band_rows(r, t, done, &oy0, &oy1, &r0, &r1);
        if (t < t0 && r1 <= need) { /* an earlier band's E rows that [t0, t1) does not read */
            done = r1 > done ? r1 : done;
            continue;
        }
        if (g->has_a && r1 > r0) { /* E rows [r0, r1): columns [r0 W, r1 W) of X (C, H W) */
            mb_expand(r, c, xi, ev, r0, r1, t < t0 ? need : 0);
            done = r1;
        }
        if (t < t0)
            continue;
        int64_t dy0 = oy0; /* D's first row in dv */
        if (r->banded) {
            dj.tiles = bands;
            dj.tile = t;
            dj.d.y0 = g->has_c ? oy0 : 0;
            ox_parallel(c, r->cblocks, 1 + (1 << 14) / ((oy1 - oy0) * v->ow * v->kh * v->kw * 16 + 1), mb_dw_blk_part,
                        &dj);
        } else {
            ox_parallel(c, g->m, 1 + (1 << 14) / (ohw * v->kh * v->kw + 1), mb_dw_plane_part, &dj);
            oy0 = 0, oy1 = v->oh, dy0 = 0;
        }
        if (g->has_c) { /* Y columns [oy0 OW, oy1 OW) from D's rows */
            int64_t drows = r->banded ? r->drows : v->oh;
            const float *zi = r->z ? r->z + bi * g->m2 * ohw + oy0 * v->ow : NULL;
            struct ox_conv_gemm gp = {.wp = r->pc, .b = dv + (oy0 - dy0) * v->ow, .c = yi + oy0 * v->ow,
                                      .bias = r->bc, .m = g->m2, .k = g->m, .n = (oy1 - oy0) * v->ow,
                                      .ldb = drows * v->ow, .ldc = ohw, .epi = r->ec, .sum = zi};
            ox_conv_gemm_pool(c, r->isa, &gp, NULL);
        }
    }
}

/* one band of the blocked path on channel blocks [lo, hi) (ox_parallel's parts): E_c rows
 * [r0, r1), then D rows [oy0, oy1) (none when equal) */
struct mb_band {
    const struct mb_run *r;
    struct ox_mb_exp ex;
    struct ox_dw d;
    int64_t r0, r1, oy0, oy1;
};

struct mb_prj {
    struct ox_mb_prj p;
    enum ox_isa isa;
};

static void mb_prj_part(void *arg, int64_t lo, int64_t hi)
{
    const struct mb_prj *j = arg;
    (j->isa == OX_ISA_AVX512 ? ox_mb_project_avx512 : ox_mb_project_avx2)(&j->p, lo, hi);
}

static void mb_band_part(void *arg, int64_t lo, int64_t hi)
{
    const struct mb_band *j = arg;
    int avx512 = j->r->isa == OX_ISA_AVX512;
    if (j->r1 > j->r0)
        (avx512 ? ox_mb_expand_avx512 : ox_mb_expand_avx2)(&j->ex, lo, hi, j->r0, j->r1);
    if (j->oy1 > j->oy0)
        (avx512 ? ox_mb_dw_avx512 : ox_mb_dw_avx2)(&j->d, &j->ex, lo, hi, j->oy0, j->oy1);
}

/* mb_bands_run with E channel-blocked (E_c in c's scratch, erows rows a ring): per band one
 * fork/join over the channel blocks runs the expand of the rows of E not yet written and the
 * depthwise of the band's rows on each thread's blocks, then the project GEMM reads D as
 * before. A range past band 0 first writes the rows of E it reads that earlier bands would
 * have: each value of E_c is summed the same way whoever computes it, so the bits are those
 * of one run through all bands. */
static void mb_bands_run_blk(const struct mb_run *r, const struct ox_ctx *c, int64_t bi, int64_t t0, int64_t t1)
{
    const struct mb_geom *g = &r->g;
    const struct ox_window *v = &g->win;
    int64_t hw = g->h * g->w, ohw = v->oh * v->ow, bands = r->bands, lanes = ox_dw_blk_lanes(r->isa);
    float *dv = g->has_c ? (float *)c->scratch + mb_eroom(g) : NULL;
    float *yi = r->y + bi * g->m2 * ohw;
    struct mb_band j = {.r = r,
                        .ex = {.x = r->x + bi * g->c * hw, .wt = g->has_a ? r->wt : NULL, .bt = r->bt, .epi = r->ea, .e = c->scratch,
                               .c = g->c, .h = g->h, .w = g->w, .erows = r->erows, .rl = r->rl, .pl = v->pl},
                        .d = {NULL, r->wb, r->bb, g->has_c ? dv : yi, g->m, g->h, g->w, v->kh, v->kw, v->sh, v->sw,
                              v->dh, v->dw, v->pt, v->pl, v->oh, v->ow, r->eb, 0, g->has_c ? r->drows : 0, 0}};
    if (r->blkd) { /* D_c, and the project reads it */
        j.ex.dc = dv;
        j.ex.dbst = r->drows * v->ow * lanes;
    }
    int64_t done = 0, need = t0 * v->oh / bands * v->sh - v->pt; /* rows of E written; first row t0 reads */
    for (int64_t t = 0; t < t1; t++) {
        int64_t oy0, oy1, r0, r1;
        mb_band_rows(r, t, done, &oy0, &oy1, &r0, &r1);
        if (t < t0 && r1 <= need) { /* an earlier band's E rows that [t0, t1) does not read */
            done = r1 > done ? r1 : done;
            continue;
        }
        j.r0 = t < t0 && need > r0 ? need : r0;
        j.r1 = r1;
        j.oy0 = t < t0 ? 0 : oy0;
        j.oy1 = t < t0 ? 0 : oy1;
        j.d.y0 = g->has_c ? oy0 : 0;
        int64_t work = ((j.r1 > j.r0 ? j.r1 - j.r0 : 0) * g->w * g->c + (j.oy1 - j.oy0) * v->ow * v->kh * v->kw) * lanes;
        mb_parallel(c, r->cblocks, 1 + (1 << 18) / (work + 1), mb_band_part, &j);
        done = r1 > done ? r1 : done;
        if (t < t0)
            continue;
        if (r->blkd) { /* Y columns [oy0 OW, oy1 OW) from D_c, 16 x OX_MB_PRJ_CH outputs a part */
            int64_t np = (oy1 - oy0) * v->ow;
            struct mb_prj pj = {{.dc = dv, .wt = r->wtc, .bt = r->btc,
                                 .z = r->z ? r->z + bi * g->m2 * ohw + oy0 * v->ow : NULL, .y = yi + oy0 * v->ow,
                                 .epi = r->ec, .k = g->m, .m2 = g->m2, .n = np, .dbst = j.ex.dbst, .ldy = ohw},
                                r->isa};
            mb_parallel(c, ox_mb_prj_items(np, g->m2), 1 + (1 << 18) / (16 * g->m * OX_MB_PRJ_CH + 1), mb_prj_part,
                        &pj);
        } else if (g->has_c) { /* Y columns [oy0 OW, oy1 OW) from D's rows */
            const float *zi = r->z ? r->z + bi * g->m2 * ohw + oy0 * v->ow : NULL;
            struct ox_conv_gemm gp = {.wp = r->pc, .b = dv, .c = yi + oy0 * v->ow, .bias = r->bc, .m = g->m2,
                                      .k = g->m, .n = (oy1 - oy0) * v->ow, .ldb = r->drows * v->ow, .ldc = ohw,
                                      .epi = r->ec, .sum = zi};
            ox_conv_gemm_pool(c, r->isa, &gp, NULL);
        }
    }
}

/* r's band count, and the rows of D (the tallest band) and of E (what that band's window
 * reads; the whole map for one band) that one band holds */
static void mb_set_bands(struct mb_run *r, int64_t bands)
{
    const struct ox_window *v = &r->g.win;
    r->bands = bands;
    r->drows = (v->oh + bands - 1) / bands;
    r->erows = (r->drows - 1) * v->sh + (v->kh - 1) * v->dh + 1;
    r->erows = bands == 1 || r->erows > r->g.h ? r->g.h : r->erows;
}

/* image bi, all its bands */
static void mb_image(void *arg, const struct ox_ctx *c, int64_t bi)
{
    const struct mb_run *r = arg;
    (r->blk ? mb_bands_run_blk : mb_bands_run)(r, c, bi, 0, r->bands);
}

/* INFERD_ONNX_MBCONV_BLOCKED: 0 planar, 1 E blocked only, else (unset) E and D blocked */
static struct ox_switch blk_sw = OX_SWITCH("INFERD_ONNX_MBCONV_BLOCKED", 2);

/* part i: chunk i % chunks of the bands of image k0 + i / chunks */
static void mb_chunk(void *arg, const struct ox_ctx *c, int64_t i)
{
    const struct mb_run *r = arg;
    int64_t ch = i % r->chunks;
    (r->blk ? mb_bands_run_blk : mb_bands_run)(r, c, r->k0 + i / r->chunks, ch * r->bands / r->chunks,
                                               (ch + 1) * r->bands / r->chunks);
}

static int mb_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    struct mb_run r = {.isa = ox_conv_isa()};
    struct mb_geom *g = &r.g;
    int rc = mb_geometry(n, in, g, err);
    if (rc < 0)
        return rc;
    if (out[0]->numel == 0)
        return 0;
    const struct ox_window *v = &g->win;
    const struct ox_tensor *z = n->n_in > 7 ? in[7] : NULL;
    int64_t pasz = g->has_a ? ox_conv_pack_size(g->m, g->c) : 0;
    int64_t pcsz = g->has_c ? ox_conv_pack_size(g->m2, g->m) : 0;
    r.x = in[0]->data;
    r.y = out[0]->data;
    r.ba = in[2] ? in[2]->data : NULL;
    r.wb = in[3]->data;
    r.bb = in[4] ? in[4]->data : NULL;
    r.bc = n->n_in > 6 && in[6] ? in[6]->data : NULL;
    r.pa = c->packed;
    if (!r.pa)
        return inferd_err_set(err, INFERD_EUNAVAIL, "InferdMBConv: weights not packed");
    r.pc = r.pa + pasz;
    r.wt = r.pc + pcsz;
    r.bt = r.wt + ox_mb_round(g->m) * g->c;
    r.wtc = r.wt + (g->has_a ? ox_mb_pack_size(g->m, g->c) : 0);
    r.btc = r.wtc + ox_mb_round(g->m2) * g->m;
    r.ea = (struct ox_epi){(int)n->ip[0], n->fp[0], n->fp[1]};
    r.eb = (struct ox_epi){(int)n->ip[1], n->fp[2], n->fp[3]};
    r.ec = (struct ox_epi){(int)n->ip[2], bits_f(n->ip[4]), bits_f(n->ip[5])};
    struct ox_epi act_c = r.ec;
    int64_t cd[4] = {g->nb, g->m2, v->oh, v->ow};
    int z_in = z && z->rank == 4 && z->dims[0] == cd[0] && z->dims[1] == cd[1] && z->dims[2] == cd[2] &&
               z->dims[3] == cd[3];
    r.z = z_in ? z->data : NULL;
    if (z && !z_in)
        r.ec = (struct ox_epi){OX_ACT_NONE, 0, 0}; /* the activation comes after Z */
    struct ox_dw probe = {NULL, NULL, NULL, NULL, g->m, g->h, g->w, v->kh, v->kw, v->sh, v->sw, v->dh, v->dw, v->pt,
                          v->pl, v->oh, v->ow, r.eb, 0, 0, 0};
    r.banded = ox_dw_blk_ok(r.isa, &probe);
    mb_set_bands(&r, r.banded ? mb_bands(g) : 1);
    r.cblocks = r.banded ? (g->m + ox_dw_blk_lanes(r.isa) - 1) / ox_dw_blk_lanes(r.isa) : 0;
    int blk_mode = ox_switch(&blk_sw);
    r.blk = r.banded && mb_blk_map(g) && blk_mode != 0; /* without the expand conv
                                                         * (MobileNetV2's first block) X is
                                                         * interleaved into E_c */
    r.blkd = r.blk && g->has_c && g->m2 <= OX_MB_MAXM2 && blk_mode != 1;
    r.rl = mb_ec_cols(g);
    /* whole images per thread while the batch has one for each (each core's band stays in
     * its own L2, no fork/join per band), then the rest split finely */
    size_t slot = mb_scratch(n, in, out);
    int64_t bi = ox_parallel_images(c, g->nb, slot, mb_image, &r);
    /* the images left (batch 1: all) in ranges of bands, one per thread, where there are
     * MB_CHUNK_BANDS bands for each (or mb_rows_split cuts the map into as many): a range
     * recomputes the rows of E it shares with the range before it, but the three steps of a
     * band run on one core without a join, and each core's rows of Y stay in its cache for
     * the next block */
    r.k0 = bi;
    r.chunks = c->nth;
    if (bi < g->nb && mb_rows_split(c, g, r.blkd))
        mb_set_bands(&r, MB_CHUNK_BANDS * c->nth);
    if (c->nth > 1 && r.bands >= MB_CHUNK_BANDS * c->nth && bi < g->nb) {
        ox_parallel_slots(c, (g->nb - bi) * r.chunks, slot, mb_chunk, &r);
        bi = g->nb;
    }
    for (; bi < g->nb; bi++)
        mb_image(&r, c, bi);
    if (z && !z_in)
        ox_conv_sum_after(r.y, cd, out[0]->dims, z, &act_c);
    return 0;
}

/* op->scratch_slots: mb_exec's whole images per thread (ox_parallel_images, batch >= nth)
 * and its band ranges (ox_parallel_slots, MB_CHUNK_BANDS bands a thread; mb_bands bounds the
 * bands it runs, or mb_rows_split cuts a map by rows: taken here wherever it may be, blkd
 * depends on the ISA) use nth slots */
static int mb_scratch_slots(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in)
{
    struct mb_geom g;
    if (c->nth <= 1 || mb_pack(n, in, NULL) <= 0 || mb_geometry(n, in, &g, NULL) < 0)
        return 1;
    int rows = g.has_c && g.m2 <= OX_MB_MAXM2 && mb_blk_map(&g) && mb_rows_split(c, &g, 1);
    return g.nb >= c->nth || mb_bands(&g) >= MB_CHUNK_BANDS * c->nth || rows ? c->nth : 1;
}

const struct ox_op ox_op_inferd_mbconv = {
    .name = "InferdMBConv", .min_in = 4, .max_in = 8, .min_out = 1, .max_out = 1,
    .infer = mb_infer, .exec = mb_exec,
    .flags = OX_OP_SCRATCH_SLOTS, .scratch = mb_scratch, .pack = mb_pack, .scratch_slots = mb_scratch_slots,
};
