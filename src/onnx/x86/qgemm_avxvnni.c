/* qgemm_avxvnni.c — AVX-VNNI int8 GEMM (see ops/qgemm.h), for CPUs with VEX vpdpbusd but
 * no AVX-512 (Alder Lake class): the body in qgemm_vnni_body.h on ymm, 8 columns a panel,
 * tiles of 4 rows x 16 columns (16 ymm registers). Compiled with -mavx2 -mavxvnni; call only
 * after qgemm_isa_usable(QGEMM_AVXVNNI).
 */
#include <immintrin.h>

#define QV __m256i
#define QW 8
#define QR 4
#define QGEMM_ROWS qgemm_u8_avxvnni_rows
#define QGEMM_COLS qgemm_u8_avxvnni_cols
#define QV_SET1(x) _mm256_set1_epi32(x)
#define QV_ZERO() _mm256_setzero_si256()
#define QV_LOAD(p) _mm256_load_si256((const __m256i *)(const void *)(p))
#define QV_XOR(a, b) _mm256_xor_si256(a, b)
#define QV_SUB(a, b) _mm256_sub_epi32(a, b)
#define QV_MUL(a, b) _mm256_mullo_epi32(a, b)
#define QV_DP(c, a, b) _mm256_dpbusd_avx_epi32(c, a, b)
#define QV_MASK_T __m256i
#define QV_MASK(cols) _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define QV_STORE(dst, mk, v) _mm256_maskstore_epi32((int *)(dst), mk, v)
#include "qgemm_vnni_body.h"
