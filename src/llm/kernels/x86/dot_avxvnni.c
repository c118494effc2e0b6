/* dot_avxvnni.c — AVX-VNNI 4x4 GEMM tiles of Q4_0 and Q8_0 (VEX vpdpbusd on ymm), for Alder
 * Lake-class CPUs that have AVX-VNNI but no AVX-512. Compiled with -mavx2 -mfma -mf16c
 * -mavxvnni; only reached after cpu_has(KERN_ISA_AVXVNNI_MASK). Results differ from the
 * reference only by float summation order. The one-token dots of Q4_0, Q8_0 and Q6_K are
 * AVX2's on AVX-VNNI (kernels.c): their dot4 twins stream 4 rows at once, which one-row
 * vpdpbusd dots did not (Q4_0 generation per CPU-second +20%, session 16, Zen 5 capped to
 * AVX-VNNI). */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"

#define DP(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))

static inline float hsum_ps(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* signed . signed: |x| . (y with x's sign) */
static inline __m256i dot_ss(__m256i x, __m256i y)
{
    return DP(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 16 bytes of packed nibbles -> 32 unsigned bytes: low nibbles (0..15), then high (16..31). */
static inline __m256i unpack_nibbles(const uint8_t *qs)
{
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

static inline __m256i load_q8(const struct blk_q8_0 *b)
{
    return _mm256_loadu_si256((const __m256i *)b->qs);
}

/* ---- GEMM tiles: W (4 rows, n) . A (T rows, n) -> y (T, 4), y[t * ldy + r]; one block
 * per step, each weight block unpacked once for all T activation rows (T = 4 here). ---- */
#define TILE_BODY(T, WBLK, LOADW, PREP, PROD)                                                            \
    const unsigned char *wb = w, *ab = a;                                                                \
    __m256 acc[4][T];                                                                                    \
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) \
        acc[r][t] = _mm256_setzero_ps();                                                                 \
    for (int64_t i = 0; i < n / 32; i++) {                                                               \
        __m256i wq[4];                                                                                   \
        float wd[4];                                                                                     \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                              \
        {                                                                                                \
            const WBLK *wr = (const WBLK *)(wb + (size_t)r * ws) + i;                                    \
            wq[r] = LOADW(wr);                                                                           \
            wd[r] = h2f(wr->d);                                                                          \
        }                                                                                                \
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)                                              \
        {                                                                                                \
            const struct blk_q8_0 *at = (const struct blk_q8_0 *)(ab + (size_t)t * as) + i;              \
            __m256i yv = load_q8(at);                                                                    \
            float da = h2f(at->d);                                                                       \
            PREP                                                                                         \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                          \
            {                                                                                            \
                __m256i p = PROD(wq[r], yv);                                                             \
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(wd[r] * da), _mm256_cvtepi32_ps(p), acc[r][t]); \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) \
        y[(size_t)t * ldy + r] = hsum_ps(acc[r][t]);

static inline __m256i load_q4u(const struct blk_q4_0 *b)
{
    return unpack_nibbles(b->qs);
}

#define PREP_Q8
#define PROD_Q8(wv, yv) dot_ss((wv), (yv))
#define PREP_Q4 __m256i neg8 = _mm256_sub_epi32(_mm256_setzero_si256(), DP(_mm256_setzero_si256(), _mm256_set1_epi8(8), yv));
#define PROD_Q4(wv, yv) DP(neg8, (wv), (yv))

void gemm4x4_q8_0_avxvnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy)
{
    TILE_BODY(4, struct blk_q8_0, load_q8, PREP_Q8, PROD_Q8)
}

void gemm4x4_q4_0_avxvnni(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy)
{
    TILE_BODY(4, struct blk_q4_0, load_q4u, PREP_Q4, PROD_Q4)
}
