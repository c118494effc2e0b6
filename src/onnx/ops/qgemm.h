/* qgemm.h — the int8 GEMM behind MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv:
 * 8-bit operands (each uint8 or int8), zero points per tensor or per row of A / column of B,
 * exact int32 accumulation.
 *
 *   C (M, N) int32 = sum_k (A[i,k] - za[i]) * (B[k,j] - zb[j]),  A (M, K), B (K, N) row-major
 *
 * Kernels (every one equals the reference bit for bit), picked per call by cpu_has():
 *   QGEMM_AVX512VNNI  x86/qgemm_avx512vnni.c: vpdpbusd on zmm (u8 x s8 -> s32, four exact
 *                     products per lane, no intermediate saturation), 8 rows x 32 columns.
 *   QGEMM_AVXVNNI     x86/qgemm_avxvnni.c: VEX vpdpbusd on ymm (Alder Lake class), 4 x 16.
 *   QGEMM_AVX2        x86/qgemm_avx2.c: B - zb packed into int16 pairs along K, vpmaddwd
 *                     (16 exact products per instruction, 4 rows x 16 columns per tile).
 *   QGEMM_REF         qgemm.c, portable.
 * vpmaddubsw (u8 x s8 -> saturating s16 pair sums) is not used anywhere: 255 * 127 * 2
 * overflows int16, so it is exact only for 7-bit weights.
 * The VNNI kernels need one u8 and one s8 operand: A (a conv's weights, usually int8) is the
 * s8 side, broadcast from memory a quad at a time, B (activations, usually uint8) the u8 side,
 * packed. A side of the other type is moved there by flipping the top bit (u8 A - 128 -> s8,
 * s8 B + 128 -> u8) and folding the shift into its zero point (za' = za - 128,
 * zb' = zb + 128); then, as in ORT's MLAS, with rsA/csB the row/column sums of the shifted
 * operands,
 *   C[i,j] = sum_k A'B' - zb'[j] * rsA[i] - za'[i] * (csB[j] - K * zb'[j])
 * in wrapping int32 arithmetic (the true C fits in int32, so the wrapped result is it).
 *
 *   uint8_t scratch[qgemm_scratch_bytes(k, n)];      // in a step's planned scratch
 *   struct qgemm_args g = {.M = m, .N = n, .K = k, .a = a, .b = b, .c = acc, .pack = scratch};
 *   qgemm_u8(&g);
 */
#ifndef INFERD_ONNX_QGEMM_H
#define INFERD_ONNX_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#define QGEMM_SCRATCH_PAD 64 /* bytes callers add to a scratch request (alignment slack) */

struct qgemm_args {
    int64_t M, N, K;
    const uint8_t *a;   /* (M, K), bytes read as int8 when a_signed */
    int a_signed;
    const uint8_t *b;   /* (K, N), bytes read as int8 when b_signed */
    int64_t b_ld;       /* bytes from one row of b to the next (>= N), or 0: N (rows packed) */
    int b_signed;
    const void *za;     /* a's zero point(s), a's dtype: NULL (0), 1 value, or M values */
    int64_t za_len;
    const void *zb;     /* b's zero point(s): NULL, 1 value, or N values */
    int64_t zb_len;
    int32_t *c;         /* OUT: (M, N) */
    void *pack;         /* qgemm_scratch_bytes(K, N) bytes, 32-byte aligned, or NULL (reference) */
    int prepacked;      /* pack already holds B (and zb) packed by qgemm_pack_b: constant weights */
    const int32_t *a_terms; /* optional: qgemm_a_terms of this A (constant weights, once per plan) */
    /* B made on demand instead of read from b (a conv's im2col, never held whole): the packers
     * call b_row(b_ctx, k, tmp) for row k of B (N bytes), which returns where that row is
     * (made into tmp, N bytes, or found in place); b_tmp holds QGEMM_B_ROWS such rows. The
     * SIMD kernels only: not QGEMM_REF. */
    const uint8_t *(*b_row)(void *ctx, int64_t k, uint8_t *tmp);
    void *b_ctx;
    uint8_t *b_tmp;
};

#define QGEMM_B_ROWS 4

/* Scratch a call needs for the packed B (0 when the reference would run anyway). */
size_t qgemm_scratch_bytes(int64_t K, int64_t N);

struct ox_ctx;

enum qgemm_isa { QGEMM_REF, QGEMM_AVX2, QGEMM_AVXVNNI, QGEMM_AVX512VNNI };
/* The kernel qgemm_u8 would run for g on this CPU (honours INFERD_CPU_DISABLE). */
enum qgemm_isa qgemm_isa_pick(const struct qgemm_args *g);
/* Nonzero when this CPU can run isa. */
int qgemm_isa_usable(enum qgemm_isa isa);
const char *qgemm_isa_name(enum qgemm_isa isa);
/* Runs the given kernel (for tests): only after qgemm_isa_usable(isa), with g->pack set
 * unless isa is QGEMM_REF. Rows [m0, m1) after a pack; m0 a multiple of 4. */
void qgemm_u8_isa(const struct qgemm_args *g, enum qgemm_isa isa);
void qgemm_u8_isa_pack(const struct qgemm_args *g, enum qgemm_isa isa);
void qgemm_u8_isa_rows(const struct qgemm_args *g, enum qgemm_isa isa, int64_t m0, int64_t m1);
/* Rows [m0, m1) of C, columns [j0, j1) only (j0 a multiple of QGEMM_COL_STEP, j1 one too or N),
 * after a pack: the VNNI kernels' panels in that range, the others (AVX2, reference) all
 * columns (call it once then). Nonzero when isa computes a column range (qgemm_u8_pool splits
 * a GEMM of few rows by columns then). */
#define QGEMM_COL_STEP 32
int qgemm_isa_has_cols(enum qgemm_isa isa);
void qgemm_u8_isa_cols(const struct qgemm_args *g, enum qgemm_isa isa, int64_t m0, int64_t m1, int64_t j0, int64_t j1);

/* Portable reference; exact for any K up to 2^15 (int32 cannot overflow: 255*255*2^15 < 2^31).
 * _rows computes rows [m0, m1) only. */
void qgemm_u8_ref(const struct qgemm_args *g);
void qgemm_u8_ref_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
/* AVX2 version; only call after cpu_has(CPU_AVX2), with g->pack set. _pack fills g->pack,
 * then _rows computes rows [m0, m1) (m0 a multiple of 4) from it, from any thread. */
void qgemm_u8_avx2(const struct qgemm_args *g);
void qgemm_u8_avx2_pack(const struct qgemm_args *g);
void qgemm_u8_avx2_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
/* VNNI kernels: qgemm_vnni_pack (x86/qgemm_avx2.c, SSE/AVX2 code) fills g->pack with B'
 * in panels of pw (16 or 8) columns, four K per 32-bit lane, then zb' and csB - K * zb'
 * per column (int32; 0 when g's every za' is 0, so the pack then serves only such A: int8 A
 * with zero points 0); the _rows functions compute rows [m0, m1) from it. */
void qgemm_vnni_pack(const struct qgemm_args *g, int pw);
void qgemm_u8_avx512vnni_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
void qgemm_u8_avxvnni_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
/* The same on columns [j0, j1) (j0 a multiple of the panel width, 16 / 8; j1 one too or N). */
void qgemm_u8_avx512vnni_cols(const struct qgemm_args *g, int64_t m0, int64_t m1, int64_t j0, int64_t j1);
void qgemm_u8_avxvnni_cols(const struct qgemm_args *g, int64_t m0, int64_t m1, int64_t j0, int64_t j1);
/* The VNNI kernels' per-row terms of A, za' and rsA (2 int32 a row, M rows), which they
 * otherwise compute on every call: with constant A, made once and passed as g->a_terms. */
void qgemm_a_terms(const struct qgemm_args *g, int32_t *dst);
/* The transposed AVX-512 VNNI GEMM (x86/qgemm_avx512vnni.c), for small maps: A' packed once
 * per plan by qgemm_a_panels (qgemm_a_panels_bytes(M, K) bytes: panels of 16 rows, a quad of
 * each row per 4 bytes, 64 bytes a quad; taps > 0: a conv's K = C * taps, (c, tap) row-major,
 * reordered tap-major over quads of 4 channels, C a multiple of 4, for _rows_c4), B packed by qgemm_vnni_pack(g, 16) as for
 * qgemm_u8_avx512vnni_rows, g->a_terms given. _rows_t computes rows [m0, m1) of the pixels
 * t < rows * ow, B's column t / ow * pw + t % ow (a flat conv's kept columns), and stores C
 * compacted: C[i * N + t]. Same values as the other kernels. Only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI). */
void qgemm_a_panels(const struct qgemm_args *g, int64_t taps, uint8_t *dst);
size_t qgemm_a_panels_bytes(int64_t M, int64_t K);
void qgemm_u8_avx512vnni_rows_t(const struct qgemm_args *g, const uint8_t *apan, int64_t m0, int64_t m1,
                                int64_t rows, int64_t ow, int64_t pw);
/* The same with B' read where it lies, no pack: pixel t's quad q at planes + 4 * (t / ow * pw
 * + t % ow) + off[q] (a conv's planes with 4 channels interleaved: quad q one tap of 4
 * channels), zb the scalar zb' (zb + 128 for int8 B), every za' 0 (g->a_terms' zero points; the
 * caller checks). g gives M, K (4 * the quads), c, N (C's row stride) and a_terms. */
void qgemm_u8_avx512vnni_rows_c4(const struct qgemm_args *g, const uint8_t *apan, const uint8_t *planes,
                                 const int32_t *off, int32_t zb, int64_t m0, int64_t m1, int64_t rows, int64_t ow,
                                 int64_t pw);
/* qgemm_u8_avx512vnni_rows with the requantisation in its epilogue: rows [m0, m1) of C (m0 a
 * multiple of 4) never stored, each tile's sums turned into bytes in registers,
 *   y[(i - m0) * ys + j] = qgemm_requant(C[i, j], bias[i - m0], &mul[i - m0], 0, zp, out_signed)
 * byte for byte (qgemm_requant_chain_avx512vbmi's 64-lane steps: the same float ops, saturating
 * packs); lut8 is not read. Only after qgemm_isa_usable(QGEMM_AVX512VNNI). */
struct qgemm_rq {
    const int32_t *bias; /* m1 - m0 values */
    const float *mul;    /* m1 - m0 values */
    int32_t zp;
    int out_signed;
    uint8_t *y;  /* row m0's first byte */
    int64_t ys;  /* bytes from one row of y to the next */
    int64_t m0;
    const uint8_t *lut8; /* _avx512vbmi only: a DQ -> Q pair's table (qgemm_chain.lut8) looked up in
                          * registers, or NULL */
};
void qgemm_u8_avx512vnni_rows_rq(const struct qgemm_args *g, int64_t m0, int64_t m1, const struct qgemm_rq *rq);
/* The same with rq->lut8 looked up before the store: only after qgemm_chain_lut_usable(). */
void qgemm_u8_avx512vbmi_rows_rq(const struct qgemm_args *g, int64_t m0, int64_t m1, const struct qgemm_rq *rq);
/* qgemm_u8_avx512vnni_rows_t (planes NULL) / _rows_c4 (planes, off, zb given) with the
 * requantisation in the epilogue: C's rows [m0, m1) of the kept pixels t < rows * ow never
 * stored, each tile requantised in registers (per channel: rq->bias / rq->mul) and stored as
 *   y[(i - rq->m0) * ys + t] = qgemm_requant(C[i, t], ...), then rq->lut8 looked up if given,
 * byte for byte qgemm_requant_chain_ref's; g->c is not written. Only after
 * qgemm_chain_lut_usable() (vpermt2b). */
void qgemm_u8_avx512vbmi_rows_t_rq(const struct qgemm_args *g, const uint8_t *apan, const uint8_t *planes,
                                   const int32_t *off, int32_t zb, int64_t m0, int64_t m1, int64_t rows, int64_t ow,
                                   int64_t pw, const struct qgemm_rq *rq);
/* Packs B (and zb) into g->pack for the kernel qgemm_isa_pick(g) chooses, for any A, so later calls
 * with .prepacked = 1 and the same B skip packing (constant weights, packed once per plan). */
void qgemm_pack_b(const struct qgemm_args *g);
/* Dispatch: the best kernel the CPU has when the CPU has it and g->pack is given, else the reference. */
void qgemm_u8(const struct qgemm_args *g);
/* The same, rows split over c's pool when the product is large enough (c may be NULL); a
 * GEMM of too few rows to feed the threads (batch 1's fully connected layer) split by columns
 * instead where the kernel can (qgemm_isa_has_cols). Same C either way. */
void qgemm_u8_pool(const struct ox_ctx *c, const struct qgemm_args *g);

/* Requantisation epilogue, y (n) = saturate(round_half_even((float)(acc + bias) * mul[j]) + zp)
 * with mul[j] = mul[0] when mul_step is 0 (per tensor) else mul[j] (per column); y is uint8,
 * or int8 when out_signed. _ref is portable, _avx2 needs cpu_has(CPU_AVX2); both equal
 * nearbyint() in the default rounding mode. */
void qgemm_requant(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                   int out_signed, uint8_t *y);
void qgemm_requant_ref(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                       int out_signed, uint8_t *y);
void qgemm_requant_avx2(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                        int out_signed, uint8_t *y);

/* A DequantizeLinear -> QuantizeLinear pair (per tensor) after the requantisation, as
 * fuse_qdq.c folds it into InferdQLinearConv: with v the requantised byte,
 *   y = saturate(round_half_even((float)(v - z1) * s1 / s2) + z2)   (the division in float,
 * as QuantizeLinear divides), y uint8 or int8 when y_signed. v takes 256 values, so
 * qgemm_chain_init tabulates y with that formula once per run of the node and
 * qgemm_requant_chain requantises, then looks each byte up (AVX-512 VBMI: vpermt2b on the
 * table in four zmm; AVX2 / AVX-512 without VBMI: computes the formula on the int32 lanes
 * before they are narrowed, cheaper than a vpgatherdd): equal, byte for byte, to running
 * the two nodes (ops/quant.c). */
struct qgemm_chain {
    float s1, s2;
    int32_t z1, z2;
    int v_signed, y_signed; /* v / y are int8 */
    int relu;               /* a Relu between the two: max(0, (float)(v - z1) * s1) */
    int32_t lut[256];       /* y's byte (0..255) by v's byte */
    _Alignas(64) uint8_t lut8[256]; /* the same as bytes (the AVX-512 VBMI byte-table lookup) */
};
void qgemm_chain_init(struct qgemm_chain *ch);
void qgemm_requant_chain(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                         int out_signed, const struct qgemm_chain *ch, uint8_t *y);
void qgemm_requant_chain_avx2(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step,
                              int32_t zp, int out_signed, const struct qgemm_chain *ch, uint8_t *y);
/* The same on zmm (x86/qgemm_avx512vnni.c): only after qgemm_isa_usable(QGEMM_AVX512VNNI). */
void qgemm_requant_chain_avx512(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step,
                                int32_t zp, int out_signed, const struct qgemm_chain *ch, uint8_t *y);
/* The same with the table looked up in registers (vpermt2b over lut8, no division; ch NULL:
 * qgemm_requant, per-column mul too): only after qgemm_chain_lut_usable(). The division form above is kept for AVX-512 CPUs without
 * VBMI (Skylake-X / Cascade Lake). */
int qgemm_chain_lut_usable(void);
void qgemm_requant_chain_avx512vbmi(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step,
                                    int32_t zp, int out_signed, const struct qgemm_chain *ch, uint8_t *y);
/* The formula itself, element by element (the reference the table is tested against). */
void qgemm_requant_chain_ref(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                             int out_signed, const struct qgemm_chain *ch, uint8_t *y);

#endif
