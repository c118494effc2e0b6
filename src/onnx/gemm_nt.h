/* gemm_nt.h — the skinny-GEMM kernel behind Gemm(transB=1) and small MatMuls:
 * C = alpha * A @ B^T (+ C when accumulate), with B stored row-major as (N, K) — the layout
 * of PyTorch Linear weights — so every output is a dot product of two contiguous rows.
 * For the small M and N of MLPs this beats packing B for a blocked sgemm on every call.
 *
 *   A (M,K) lda, B (N,K) ldb, C (M,N) ldc; rows [m0,m1) x cols [n0,n1) of C are computed.
 *   if (cpu_has(CPU_AVX2 | CPU_FMA)) ox_gemm_nt_avx2(...); else ox_gemm_nt_ref(...);
 */
#ifndef INFERD_ONNX_GEMM_NT_H
#define INFERD_ONNX_GEMM_NT_H

#include <stdint.h>

struct ox_gemm_nt {
    const float *a, *b;
    float *c;
    int64_t k, lda, ldb, ldc;
    float alpha;
    int accumulate; /* 1: C += alpha*A@B^T, 0: C = alpha*A@B^T */
};

/* Portable scalar reference (double accumulation is not used: float, like the SIMD path). */
void ox_gemm_nt_ref(const struct ox_gemm_nt *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1);
/* AVX2+FMA version; only call after cpu_has(CPU_AVX2 | CPU_FMA). */
void ox_gemm_nt_avx2(const struct ox_gemm_nt *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* Packed-weight GEMM for a constant right operand:
 *   C (M,N) = act(alpha * A (M,K) @ B (K,N) (+ C when accumulate) + bias (N))
 * with B packed once at plan time into panels of 16 columns, panel p = B[:, 16p .. 16p+16)
 * stored K x 16 contiguous (zero-padded past N); act is GELU (erf form) or none. The bias
 * and GELU are applied in the store (MatMul + Add + Gelu fused by fuse_transformer.c).
 * AVX-512: a 12x32 block of C (two panels) in 24 zmm registers, A broadcast; AVX2: 6x16 in
 * 12 ymm. Both are tested against ox_gemm_pk_ref (tests/unit/onnx/test_onnx_kernels.c).
 *
 *   struct ox_gemm_pk g = {a, bp, c, k, n, k, n, 1.0f, 0, bias, 1};
 *   ox_gemm_pk_run(ox_gemm_pk_isa(), &g, 0, m, 0, ox_gemm_pk_panels(n));
 */
#define OX_PK_NR 16
struct ox_gemm_pk {
    const float *a;    /* A (M,K), row stride lda */
    const float *bp;   /* packed panels, n_panels * k * OX_PK_NR floats */
    float *c;          /* C (M,N), row stride ldc */
    int64_t k, n, lda, ldc;
    float alpha;
    int accumulate;
    const float *bias; /* N floats added to every row, or NULL */
    int gelu;          /* 1: GELU of the sum (after the bias) */
};
/* Floats ox_gemm_pack needs for a (K,N) operand. */
static inline int64_t ox_gemm_pack_size(int64_t k, int64_t n)
{
    return k * ((n + OX_PK_NR - 1) / OX_PK_NR) * OX_PK_NR;
}
static inline int64_t ox_gemm_pk_panels(int64_t n)
{
    return (n + OX_PK_NR - 1) / OX_PK_NR;
}
/* Packs B into panels; trans_b: B is stored (N,K) (Gemm transB=1) instead of (K,N). */
void ox_gemm_pack(const float *b, int64_t k, int64_t n, int trans_b, float *out);
/* Rows [m0, m1) x panels [p0, p1) of C. The AVX-512 version wants cpu_has() of the flags
 * its file is built with (ox_gemm_pk_isa() checks), the AVX2 one CPU_AVX2 | CPU_FMA. */
void ox_gemm_pk_ref(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1);
void ox_gemm_pk_avx2(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1);
void ox_gemm_pk_avx512(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1);
/* Kernel sets (the values of conv_kern.h's enum ox_isa): 0 ref, 1 AVX2, 2 AVX-512; the best
 * this CPU runs (INFERD_CPU_DISABLE applies), and the rows per block each one computes. */
int ox_gemm_pk_isa(void);
static inline int ox_gemm_pk_mr(int isa)
{
    return isa == 2 ? 12 : 6;
}
void ox_gemm_pk_run(int isa, const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1);

/* Small GEMM with both operands row-major and read in place, for attention's P @ V:
 *   C (M,N) = A (M,K; row stride lda) @ B (K,N; ldb), C row stride ldc
 * AVX-512: 4 rows x 32 columns per block (8 zmm), AVX2: 4 x 16; columns past N masked. */
struct ox_gemm_nn {
    const float *a, *b;
    float *c;
    int64_t m, n, k, lda, ldb, ldc;
};
void ox_gemm_nn_ref(const struct ox_gemm_nn *g);
void ox_gemm_nn_avx2(const struct ox_gemm_nn *g);
void ox_gemm_nn_avx512(const struct ox_gemm_nn *g);
void ox_gemm_nn_run(int isa, const struct ox_gemm_nn *g); /* isa: ox_gemm_pk_isa() */

#endif
