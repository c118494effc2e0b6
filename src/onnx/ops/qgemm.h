/* qgemm.h — the int8 GEMM behind MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv:
 * 8-bit operands (each uint8 or int8), zero points per tensor or per row of A / column of B,
 * exact int32 accumulation.
 *
 *   C (M, N) int32 = sum_k (A[i,k] - za[i]) * (B[k,j] - zb[j]),  A (M, K), B (K, N) row-major
 *
 * Kernels: qgemm.c is the portable scalar reference; x86/qgemm_avx2.c packs B - zb into
 * int16 pairs along K and multiplies with vpmaddwd (16 exact products per instruction, 4
 * rows x 8 columns per tile). vpmaddubsw (u8 x s8 -> saturating s16 pair sums) is not
 * used: 255 * 127 * 2 overflows int16, so it is exact only for 7-bit weights, and results
 * here must equal the reference bit for bit.
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
    int b_signed;
    const void *za;     /* a's zero point(s), a's dtype: NULL (0), 1 value, or M values */
    int64_t za_len;
    const void *zb;     /* b's zero point(s): NULL, 1 value, or N values */
    int64_t zb_len;
    int32_t *c;         /* OUT: (M, N) */
    void *pack;         /* qgemm_scratch_bytes(K, N) bytes, 32-byte aligned, or NULL (reference) */
};

/* Scratch a call needs for the packed B (0 when the reference would run anyway). */
size_t qgemm_scratch_bytes(int64_t K, int64_t N);

struct ox_ctx;

/* Portable reference; exact for any K up to 2^15 (int32 cannot overflow: 255*255*2^15 < 2^31).
 * _rows computes rows [m0, m1) only. */
void qgemm_u8_ref(const struct qgemm_args *g);
void qgemm_u8_ref_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
/* AVX2 version; only call after cpu_has(CPU_AVX2), with g->pack set. _pack fills g->pack,
 * then _rows computes rows [m0, m1) (m0 a multiple of 4) from it, from any thread. */
void qgemm_u8_avx2(const struct qgemm_args *g);
void qgemm_u8_avx2_pack(const struct qgemm_args *g);
void qgemm_u8_avx2_rows(const struct qgemm_args *g, int64_t m0, int64_t m1);
/* Dispatch: AVX2 when the CPU has it and g->pack is given, else the reference. */
void qgemm_u8(const struct qgemm_args *g);
/* The same, rows split over c's pool when the product is large enough (c may be NULL). */
void qgemm_u8_pool(const struct ox_ctx *c, const struct qgemm_args *g);

#endif
