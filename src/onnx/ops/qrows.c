/* qrows.c — the row-parallel driver of QLinearConv's int8 GEMM (qrows.h): per block of
 * output channels, the GEMM (qgemm.c's kernels, the transposed / c4 AVX-512 VNNI GEMMs on the
 * plan's panels, or the fused-requant GEMM) and the requantisation of its rows to bytes. */
#include <string.h>

#include "onnx/onnx_int.h"
#include "onnx/ops/qbytes.h"
#include "onnx/ops/qgemm.h"
#include "onnx/ops/qrows.h"

/* Whether r's rows run qgemm_u8_avx512vnni_rows_rq (the requantisation in the GEMM's epilogue,
 * no int32 rows stored and read back): the AVX-512 VNNI GEMM with the call's columns the output
 * bytes themselves (pointwise convs, the non-flat path; with dropped columns, the stems, the
 * bytes of each row go to its own int32 row of g->c first and its kept ones are moved to y:
 * a quarter of the bytes the int32 sums would move) and, with a DQ -> Q
 * pair, its table looked up there too (qgemm_u8_avx512vbmi_rows_rq: VBMI). The bytes are the same
 * either way.
 * INFERD_QCONV_RQ=0 turns it off, and the transposed GEMM's epilogue (qrows_t_rq) too (A/B
 * runs), read once per process. */
static struct ox_switch rq_sw = OX_SWITCH("INFERD_QCONV_RQ", 1);

static int qrows_fused_rq(const struct qrows *r)
{
    return r->isa == QGEMM_AVX512VNNI && (!r->chain || qgemm_chain_lut_usable()) && ox_switch(&rq_sw) != 0;
}

/* output channel m's requantisation: scale sx * sw[oc] / sy and int32 bias */
static void qrows_scale(const struct qrows *r, int64_t m, float *mul, int32_t *bias)
{
    int64_t oc = r->oc0 + m;
    *mul = r->sx * (float)ox_get_f64(r->sw, r->sw->numel == 1 ? 0 : oc) / r->sy;
    *bias = r->b ? ((const int32_t *)r->b->data)[oc] : 0;
}

#define QRQ_ROWS 64 /* rows per qgemm_u8_avx512vnni_rows_rq call (its scales and biases on the stack) */
static void qrows_rq(const struct qrows *r, int64_t m0, int64_t m1)
{
    float mul[QRQ_ROWS];
    int32_t bias[QRQ_ROWS];
    for (int64_t a = m0; a < m1; a += QRQ_ROWS) {
        const int64_t b = m1 - a < QRQ_ROWS ? m1 : a + QRQ_ROWS;
        for (int64_t m = a; m < b; m++)
            qrows_scale(r, m, &mul[m - a], &bias[m - a]);
        const int drop = r->pw && r->pw != r->ow; /* row m's bytes (pw a row) in g->c's row m */
        const int64_t N = r->g->N;
        const struct qgemm_rq rq = {.bias = bias, .mul = mul, .zp = r->zy, .out_signed = r->y1_signed,
                                    .y = drop ? (uint8_t *)(r->g->c + a * N) : r->y + a * r->sp,
                                    .ys = drop ? N * (int64_t)sizeof *r->g->c : r->sp, .m0 = a,
                                    .lut8 = r->chain ? r->chain->lut8 : NULL};
        if (r->chain) /* (qrows_fused_rq: the table is usable) */
            qgemm_u8_avx512vbmi_rows_rq(r->g, a, b, &rq);
        else
            qgemm_u8_avx512vnni_rows_rq(r->g, a, b, &rq);
        for (int64_t m = a; drop && m < b; m++)
            qb_rows(r->y + m * r->sp, r->ow, (const uint8_t *)(r->g->c + m * N), r->pw, r->rows, r->ow, 1, 0);
    }
}

/* The transposed GEMM's (apan) rows [m0, m1) with the requantisation in its epilogue
 * (qgemm_u8_avx512vbmi_rows_t_rq: VBMI), in runs of up to QRQ_T channels that end on 16-row
 * panels (each panel computed once); same bytes as the GEMM then qgemm_requant_chain. Off with
 * INFERD_QCONV_RQ=0, as qrows_fused_rq. */
#define QRQ_T 192
static int qrows_t_rq(void)
{
    return qgemm_chain_lut_usable() && ox_switch(&rq_sw) != 0;
}

static void qrows_rq_t(const struct qrows *r, int64_t m0, int64_t m1)
{
    float mul[QRQ_T];
    int32_t bias[QRQ_T];
    for (int64_t a = m0, b; a < m1; a = b) {
        b = a / 16 * 16 + QRQ_T < m1 ? a / 16 * 16 + QRQ_T : m1;
        for (int64_t m = a; m < b; m++)
            qrows_scale(r, m, &mul[m - a], &bias[m - a]);
        const struct qgemm_rq rq = {.bias = bias, .mul = mul, .zp = r->zy, .out_signed = r->y1_signed,
                                    .y = r->y + a * r->sp, .ys = r->sp, .m0 = a,
                                    .lut8 = r->chain ? r->chain->lut8 : NULL};
        qgemm_u8_avx512vbmi_rows_t_rq(r->g, r->apan, r->planes, r->off, r->zbp, a, b, r->rows, r->ow, r->pw, &rq);
    }
}

void qrows_part(void *arg, int64_t lo, int64_t hi)
{
    const struct qrows *r = arg;
    const int64_t N = r->g->N, m1 = hi * QROWS < r->g->M ? hi * QROWS : r->g->M;
    if (r->apan && qrows_t_rq()) {
        qrows_rq_t(r, lo * QROWS, m1);
        return;
    }
    if (r->apan) { /* the kept sums already together */
        if (r->planes)
            qgemm_u8_avx512vnni_rows_c4(r->g, r->apan, r->planes, r->off, r->zbp, lo * QROWS, m1, r->rows, r->ow,
                                        r->pw);
        else
            qgemm_u8_avx512vnni_rows_t(r->g, r->apan, lo * QROWS, m1, r->rows, r->ow, r->pw);
        for (int64_t m = lo * QROWS; m < m1; m++) {
            float mul;
            int32_t bias;
            qrows_scale(r, m, &mul, &bias);
            qgemm_requant_chain(r->g->c + m * N, r->rows * r->ow, bias, &mul, 0, r->zy, r->y1_signed, r->chain,
                                r->y + m * r->sp);
        }
        return;
    }
    if (qrows_fused_rq(r)) {
        qrows_rq(r, lo * QROWS, m1);
        return;
    }
    qgemm_u8_isa_rows(r->g, r->isa, lo * QROWS, m1);
    for (int64_t m = lo * QROWS; m < m1; m++) {
        float mul;
        int32_t bias;
        qrows_scale(r, m, &mul, &bias);
        int32_t *row = r->g->c + m * N;
        if (!r->pw) {
            qgemm_requant_chain(row, N, bias, &mul, 0, r->zy, r->y1_signed, r->chain, r->y + m * r->sp);
            continue;
        }
        for (int64_t oy = 1; r->pw != r->ow && oy < r->rows; oy++) /* the kept sums moved together */
            memmove(row + oy * r->ow, row + oy * r->pw, (size_t)r->ow * sizeof *row);
        qgemm_requant_chain(row, r->rows * r->ow, bias, &mul, 0, r->zy, r->y1_signed, r->chain, r->y + m * r->sp);
    }
}
