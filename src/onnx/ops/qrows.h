/* qrows.h — the row-parallel driver of QLinearConv's int8 GEMM (quant_conv.c): blocks of
 * QROWS output channels, each computed by qgemm.c's kernels and at once requantised to bytes
 * while its int32 rows are still in cache (or, on AVX-512 VNNI, requantised inside the GEMM's
 * epilogue: qgemm_u8_avx512vnni_rows_rq, and with VBMI qgemm_u8_avx512vbmi_rows_t_rq for the
 * transposed GEMM on the plan's panels).
 *
 *   Y_g[m, :] (bytes) = requant(sx * sw[oc0 + m] / sy, bias[oc0 + m], zy, chain)(C[m, :]),
 *   C (M, N) int32 = the qgemm_args' GEMM, m in [lo * QROWS, min(hi * QROWS, M))
 *
 *   struct qrows r = {.g = &q, .isa = qgemm_isa_pick(&q), .sw = ws, .sx = sx, .sy = sy, ...};
 *   qgemm_u8_isa_pack(&q, r.isa);
 *   ox_parallel(c, (q.M + QROWS - 1) / QROWS, grain, qrows_part, &r);   // or
 *   qrows_part(&r, b0, b1);                                               // blocks b0..b1 here
 */
#ifndef INFERD_ONNX_QROWS_H
#define INFERD_ONNX_QROWS_H

#include <stdint.h>

#include "onnx/ops/qgemm.h"

struct ox_tensor;
struct qgemm_chain;

/* The GEMM path's QLinearConv: blocks of QROWS output channels, each computed and at once
 * requantised while its int32 rows are still in cache. */
#define QROWS 8
struct qrows {
    const struct qgemm_args *g;      /* the group's GEMM (B packed by the caller unless apan) */
    enum qgemm_isa isa;              /* its kernel (qgemm_isa_pick) */
    const struct ox_tensor *sw, *b;  /* w's scale(s) (1 or M values), the int32 bias or NULL */
    float sx, sy;                    /* x's and y's scales */
    int32_t zy;                      /* y's zero point */
    int y1_signed;                   /* y is int8 */
    const struct qgemm_chain *chain; /* a DQ -> Q pair applied to the bytes (fuse_qdq.c), or NULL */
    int64_t oc0; /* the group's first output channel */
    uint8_t *y;  /* the call's first output byte of the group's first channel */
    int64_t sp;  /* bytes of one output channel */
    int64_t pw, rows, ow; /* flat: the call's output rows, their ow sums every pw (else pw = 0) */
    const uint8_t *apan;  /* flat: the group's qgemm_a_panels to run the transposed GEMM, or NULL */
    const uint8_t *planes; /* with apan: the call's c4 planes (qgemm_u8_avx512vnni_rows_c4), or NULL */
    const int32_t *off;    /* their quads' offsets */
    int32_t zbp;           /* zb' */
};

/* ox_parallel's fn: blocks [lo, hi) of QROWS output channels of the struct qrows at arg
 * (borrowed, read only): their GEMM rows (B packed into g->pack by the caller's
 * qgemm_u8_isa_pack, or with apan the plan's panels and the call's planes), requantised into
 * y. A block writes only its own rows of g->c and y. */
void qrows_part(void *arg, int64_t lo, int64_t hi);

#endif
