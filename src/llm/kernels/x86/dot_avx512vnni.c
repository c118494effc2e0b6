/* dot_avx512vnni.c — AVX-512 VNNI integer kernels (vpdpbusd on zmm), for Ice Lake / Zen 4
 * and later. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only reached after
 * cpu_has(KERN_ISA_AVX512VNNI_MASK). The kernels are in dot512_body.h (the K-quant
 * dots but Q6_K's: dot_k_body.h's steps on vpdpbusd, vpackssdw, vpdpwssd, vpternlogd). */
#define KSUF avx512vnni
#define KERN_VNNI 1
#include "dot512_body.h"
#include "dot512_gemv.h"

#define KQ_PAIR16(u0, s0, u1, s1) \
    _mm256_packs_epi32(DP256(_mm256_setzero_si256(), u0, s0), DP256(_mm256_setzero_si256(), u1, s1))
#define KQ_MACC16(acc, p, sc) _mm256_dpwssd_epi32(acc, p, sc)
#define KQ_OR_AND(lo, t, m) _mm256_ternarylogic_epi32(lo, t, m, 0xF8)
#include "dot_k_body.h"
/* W q4_k / q5_k / q2_k / q3_k (n,) . a q8_k (n,), and their dot4s */
KDOT_K(q4_k)
KDOT_K(q5_k)
KDOT_K(q2_k)
KDOT_K(q3_k)
