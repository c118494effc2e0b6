/* kernels_x86.h — AVX2/FMA/F16C versions of the row kernels (x86/dot_avx2.c). Call only
 * after cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C); kern_get() does that check.
 *
 *   if (cpu_has(CPU_AVX2 | CPU_FMA | CPU_F16C)) dot_avx2_q8_0(n, &s, w, xq);
 *   else dot_ref_q8_0(n, &s, w, xq);
 *   // each has the same contract as its dot_ref_* twin in kernels.h
 *   // (results differ from the reference only by float summation order)
 */
#ifndef INFERD_LLM_KERNELS_X86_H
#define INFERD_LLM_KERNELS_X86_H

#include <stddef.h>
#include <stdint.h>

#include "base/cpu.h"

void dot_avx2_f32(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_f16(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_bf16(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q4_0(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q4_1(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q5_0(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q5_1(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q8_0(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q4_k(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q5_k(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q6_k(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q2_k(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_q3_k(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_iq4_nl(int64_t n, float *s, const void *w, const void *a);
void dot_avx2_iq4_xs(int64_t n, float *s, const void *w, const void *a);
/* dot4 (kern_dot4_fn): one activation row x 4 weight rows ws bytes apart, each result
 * bit-identical to dot_avx2_* of that row (generation's 4-stream matvec, matmul.c). */
void dot4_avx2_f16(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot4_avx2_q8_0(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot4_avx2_q4_0(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void gemm4x2_avx2_q8_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy);
void gemm4x2_avx2_q4_0(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy);
void quant_avx2_q8_0(const float *src, void *dst, int64_t n);
void quant_avx2_q8_k(const float *src, void *dst, int64_t n); /* byte-identical to quant_row_q8_k */
void dequant_avx2_f16(const void *src, float *dst, int64_t n);
void quant_avx2_f16(const float *src, void *dst, int64_t n);

/* AVX-512F/BW/VL (x86/dot_avx512.c), AVX-512 VNNI (x86/dot_avx512vnni.c) and AVX-VNNI
 * (x86/dot_avxvnni.c) integer kernels: the same contracts as their dot_ref_* twins;
 * gemm4x4: W (4 rows, n) . A (4 rows, n) -> y[t * ldy + r] (a kern_gemm4x2_fn with 4 tokens).
 * Call only after cpu_has() of the masks below (kern_get() does that check). */
#define KERN_ISA_AVX2_MASK (CPU_AVX2 | CPU_FMA | CPU_F16C)
#define KERN_ISA_AVX512_MASK (KERN_ISA_AVX2_MASK | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL)
#define KERN_ISA_AVX512VNNI_MASK (KERN_ISA_AVX512_MASK | CPU_AVX512VNNI)
#define KERN_ISA_AVXVNNI_MASK (KERN_ISA_AVX2_MASK | CPU_AVXVNNI)
#define KERN_X86_DECLARE(SUF)                                                                          \
    void dot_q8_0_##SUF(int64_t n, float *s, const void *w, const void *a);                          \
    void dot_q6_k_##SUF(int64_t n, float *s, const void *w, const void *a);                          \
    void gemm4x4_q8_0_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, \
                            size_t ldy);                                                             \
    void gemm4x4_q4_0_##SUF(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, \
                            size_t ldy);
#define KERN_X86_DECLARE_DOT4(SUF)                                                                    \
    void dot4_f16_##SUF(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);    \
    void dot4_q8_0_##SUF(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);   \
    void dot4_q6_k_##SUF(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
KERN_X86_DECLARE_DOT4(avx512)
KERN_X86_DECLARE_DOT4(avx512vnni)
KERN_X86_DECLARE(avx512)
KERN_X86_DECLARE(avx512vnni)
int gemm4xn_q8_0_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy, int n_tok);
int gemm4xn_q4_0_avx512(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy, int n_tok);
int gemm4xn_q8_0_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                            int n_tok);
int gemm4xn_q4_0_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy,
                            int n_tok);
void gemm4x4_q8_0_avxvnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy);
void gemm4x4_q4_0_avxvnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy);
/* AVX-VNNI's K-quant dots (x86/dot_avxvnni_k.c: x86/dot_k_body.h's steps; no dot4s) */
void dot_q4_k_avxvnni(int64_t n, float *s, const void *w, const void *a);
void dot_q5_k_avxvnni(int64_t n, float *s, const void *w, const void *a);
void dot_q2_k_avxvnni(int64_t n, float *s, const void *w, const void *a);
void dot_q3_k_avxvnni(int64_t n, float *s, const void *w, const void *a);
/* AVX-512 VNNI's Q4_0 and Q4_K dots and their dot4 twins (256-bit vpdpbusd; x86/dot512_body.h,
 * dot512_gemv.h); without VNNI the tables take AVX2's */
void dot_q4_k_avx512vnni(int64_t n, float *s, const void *w, const void *a);
void dot4_q4_k_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot_q5_k_avx512vnni(int64_t n, float *s, const void *w, const void *a);
void dot4_q5_k_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot_q2_k_avx512vnni(int64_t n, float *s, const void *w, const void *a);
void dot4_q2_k_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot_q3_k_avx512vnni(int64_t n, float *s, const void *w, const void *a);
void dot4_q3_k_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot_q4_0_avx512vnni(int64_t n, float *s, const void *w, const void *a);
void dot4_q4_0_avx512vnni(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);
void dot_f16_avx512(int64_t n, float *s, const void *w, const void *a);
void dot_f16_avx512vnni(int64_t n, float *s, const void *w, const void *a);

/* KV-cache attention helpers (see kern_kv_ops in kernels.h). */
float kv_avx2_dot_f16(const float *q, const void *k, int n);
float kv_avx2_dot_f32(const float *q, const void *k, int n);
void kv_avx2_axpy_f16(float *y, float a, const void *v, int n);
void kv_avx2_axpy_f32(float *y, float a, const void *v, int n);

#endif
