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

#endif
