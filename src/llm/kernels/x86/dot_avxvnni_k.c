/* dot_avxvnni_k.c — AVX-VNNI (VEX vpdpbusd, vpdpwssd on ymm) dots of Q4_K, Q5_K, Q2_K and
 * Q3_K rows with Q8_K activations (one row at a time: no dot4, see qblk_x86.h), for Alder
 * Lake-class CPUs that have AVX-VNNI but no AVX-512: dot_k_body.h's steps, as AVX-512 VNNI
 * runs them (vpternlogd, an AVX-512VL op, is a vpand and a vpor here). Compiled with -mavx2
 * -mfma -mf16c -mavxvnni; only reached after cpu_has(KERN_ISA_AVXVNNI_MASK). Results differ
 * from dot_ref_* only by float summation order. */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"
#include "llm/kernels/x86/qblk_x86.h"

#define KN(name) name##avxvnni
#define KQ_PAIR16(u0, s0, u1, s1)                                          \
    _mm256_packs_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u0, s0), \
                       _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u1, s1))
#define KQ_MACC16(acc, p, sc) _mm256_dpwssd_avx_epi32(acc, p, sc)
#define KQ_OR_AND(lo, t, m) _mm256_or_si256(lo, _mm256_and_si256(t, m))
#include "dot_k_body.h"

KQ_DOT_K_ONE(dot_q4_k_avxvnni, struct blk_q4_k, q4_k_sb_avxvnni, kq_hsum256)
KQ_DOT_K_ONE(dot_q5_k_avxvnni, struct blk_q5_k, q5_k_sb_avxvnni, kq_hsum256)
KQ_DOT_K_ONE(dot_q2_k_avxvnni, struct blk_q2_k, q2_k_sb_avxvnni, kq_hsum256)
KQ_DOT_K_ONE(dot_q3_k_avxvnni, struct blk_q3_k, q3_k_sb_avxvnni, kq_hsum256)
