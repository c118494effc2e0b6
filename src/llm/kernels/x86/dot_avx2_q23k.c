/* dot_avx2_q23k.c — AVX2 dot products of Q2_K and Q3_K rows with Q8_K activations, and
 * their dot4 twins (one activation row against 4 weight rows; generation's matvec, as
 * dot4_avx2_q4_k's), compiled with -mavx2 -mfma -mf16c and only reached after cpu_has().
 * The super-block steps are dot_q23k_body.h's (shared with AVX-512 VNNI), here on vpmaddubsw
 * (levels 0..7 unsigned, 2 products |7 * 128| a pair), vphaddw (4 products fit an i16) and
 * vpmaddwd. Integer sums are exact, so results differ from dot_ref_q2_k / dot_ref_q3_k only
 * by float summation order, and a dot4 row is its dot's bit for bit. */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"
#include "llm/kernels/x86/qblk_x86.h"

#define KN(name) name##avx2
#define KQ_PAIR16(u0, s0, u1, s1) _mm256_hadd_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1))
#define KQ_MACC16(acc, p, sc) _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc))
#define KQ_OR_AND(lo, t, m) _mm256_or_si256(lo, _mm256_and_si256(t, m))
#include "dot_q23k_body.h"

/* W q2_k / q3_k (n,) . a q8_k (n,), and their dot4s */
KQ_DOT_K(dot_avx2_q2_k, dot4_avx2_q2_k, struct blk_q2_k, q2_k_sb_avx2, kq_hsum256)
KQ_DOT_K(dot_avx2_q3_k, dot4_avx2_q3_k, struct blk_q3_k, q3_k_sb_avx2, kq_hsum256)
