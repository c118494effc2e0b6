/* qgemm_avx512vnni.c — AVX-512 VNNI int8 GEMM (see ops/qgemm.h): the body in
 * qgemm_vnni_body.h on zmm, 16 columns a panel, tiles of 8 rows x 32 columns.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; call only after
 * qgemm_isa_usable(QGEMM_AVX512VNNI).
 */
#include <immintrin.h>

#define QV __m512i
#define QW 16
#define QR 8
#define QGEMM_ROWS qgemm_u8_avx512vnni_rows
#define QV_SET1(x) _mm512_set1_epi32(x)
#define QV_ZERO() _mm512_setzero_si512()
#define QV_LOAD(p) _mm512_load_si512((const void *)(p))
#define QV_XOR(a, b) _mm512_xor_si512(a, b)
#define QV_SUB(a, b) _mm512_sub_epi32(a, b)
#define QV_MUL(a, b) _mm512_mullo_epi32(a, b)
#define QV_DP(c, a, b) _mm512_dpbusd_epi32(c, a, b) /* a: u8 lanes, b: s8 */
#define QV_MASK_T __mmask16
#define QV_MASK(cols) ((__mmask16)((cols) == 16 ? 0xffffu : (1u << (cols)) - 1))
#define QV_STORE(dst, mk, v) _mm512_mask_storeu_epi32(dst, mk, v)
#include "qgemm_vnni_body.h"
