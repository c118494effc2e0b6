/* attn.h — attention tile kernels over KV-cache rows (F32, F16, Q8_0): the scores of a block
 * of queries against a tile of keys, and the probability-weighted sum of a tile of values.
 * forward.c's attention runs them tile by tile with an online softmax (attention.c).
 *
 *   const struct kern_attn *a = kern_attn_get(KERN_KV_F16);
 *   a->qk(hd, nq, q, q_stride, nk, k_rows, s, lds);   // s[i*lds + j] = q_i . k_j
 *   a->pv(hd, nq, p, ldp, nk, v_rows, o, ldo);        // o_i += sum_j p[i*ldp + j] * v_j
 *
 * Queries are in the format the cache's dot product takes, as llama.cpp's CPU backend
 * converts them: floats for F32, floats already rounded to f16 for F16 (ggml converts q to
 * the cache's f16), block_q8_0 rows for Q8_0 (ggml quantizes q to Q8_0 for a q8_0 cache,
 * with and without flash attention). k_rows[j] / v_rows[j] point at the head's slice of
 * cache row j (hd values); hd is a multiple of 32 for Q8_0. The SIMD versions differ from the
 * reference only by float summation order. */
#ifndef INFERD_LLM_KERNELS_ATTN_H
#define INFERD_LLM_KERNELS_ATTN_H

#include <stddef.h>

#include "llm/kernels/kernels.h"

typedef void (*kern_attn_qk_fn)(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s,
                                size_t lds);
typedef void (*kern_attn_pv_fn)(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o,
                                size_t ldo);
/* x[i] = exp(x[i] - mx) for i < n; returns their sum. As ggml_vec_soft_max_f32: the SIMD
 * versions use ggml's vectorized expf (ggml_v_expf, within 1.5 ulp of expf) on 16 (AVX-512)
 * or 8 (AVX2) values at a time, each group summed in float and added in double, and expf on
 * the rest; the reference uses expf throughout. */
typedef double (*kern_attn_exp_fn)(float *x, int n, float mx);

struct kern_attn {
    kern_attn_qk_fn qk;
    kern_attn_pv_fn pv;
    kern_attn_exp_fn exp_sum;
    const char *isa; /* "avx512", "avx2" or "scalar" */
};

/* The fastest kernels this CPU runs for a cache type; the scalar reference. Never NULL. */
const struct kern_attn *kern_attn_get(enum kern_kv_type t);
const struct kern_attn *kern_attn_ref(enum kern_kv_type t);
/* One ISA's kernels (tests); NULL when the CPU lacks it. isa: "avx512", "avx2", "scalar". */
const struct kern_attn *kern_attn_isa(const char *isa, enum kern_kv_type t);

/* AVX2/FMA/F16C (x86/attn_avx2.c) and AVX-512F/BW (x86/attn_avx512.c) tables, indexed by
 * kern_kv_type; call only after cpu_has() says yes. */
extern const struct kern_attn kern_attn_avx2[3];
extern const struct kern_attn kern_attn_avx512[3];

#endif
