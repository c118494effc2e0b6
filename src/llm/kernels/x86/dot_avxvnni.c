/* dot_avxvnni.c — AVX-VNNI integer kernels (VEX vpdpbusd on ymm), for Alder Lake-class
 * CPUs that have AVX-VNNI but no AVX-512. Compiled with -mavx2 -mfma -mf16c -mavxvnni; only
 * reached after cpu_has(KERN_ISA_AVXVNNI_MASK). Same contracts as the dot_ref_* twins in
 * kernels.h; results differ from the reference only by float summation order. */
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

/* W q8_0 (n,) . a q8_0 (n,) */
void dot_q8_0_avxvnni(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    int64_t nb = n / 32, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_ss(load_q8(&x[i]), load_q8(&y[i]));
        __m256i p1 = dot_ss(load_q8(&x[i + 1]), load_q8(&y[i + 1]));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i + 1].d) * h2f(y[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        __m256i p0 = dot_ss(load_q8(&x[i]), load_q8(&y[i]));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* W q4_0 (n,) . a q8_0 (n,): d_w d_a (sum(q a) - 8 sum(a)) per block. */
void dot_q4_0_avxvnni(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    const __m256i eight = _mm256_set1_epi8(8), z = _mm256_setzero_si256();
    int64_t nb = n / 32, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
#define Q4_0_BLK(k, d, acc)                                                                           \
    do {                                                                                              \
        __m256i yk = load_q8(&y[i + (k)]);                                                            \
        __m256i pk = DP(_mm256_sub_epi32(z, DP(z, eight, yk)), unpack_nibbles(x[i + (k)].qs), yk);     \
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(pk), acc);                                        \
    } while (0)
    /* four blocks a step: their scales converted by one vcvtph2ps per side (as dot_avx2_q4_0) */
    for (; i + 4 <= nb; i += 4) {
        __m128 dw = _mm_cvtph_ps(_mm_setr_epi16((short)x[i].d, (short)x[i + 1].d, (short)x[i + 2].d,
                                                (short)x[i + 3].d, 0, 0, 0, 0));
        __m128 da = _mm_cvtph_ps(_mm_setr_epi16((short)y[i].d, (short)y[i + 1].d, (short)y[i + 2].d,
                                                (short)y[i + 3].d, 0, 0, 0, 0));
        __m256 d = _mm256_castps128_ps256(_mm_mul_ps(dw, da));
        Q4_0_BLK(0, _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(0)), acc0);
        Q4_0_BLK(1, _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(1)), acc1);
        Q4_0_BLK(2, _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(2)), acc0);
        Q4_0_BLK(3, _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(3)), acc1);
    }
    for (; i < nb; i++)
        Q4_0_BLK(0, _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc0);
#undef Q4_0_BLK
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* W q6_k (n,) . a q8_k (n,): q is 0..63 here, the -32 comes back through bsums. */
void dot_q6_k_avxvnni(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), z = _mm256_setzero_si256();
    __m256 acc = _mm256_setzero_ps();
    float accb = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *ya = y[i].qs;
        int bias = 0;
        for (int j = 0; j < 16; j++)
            bias += sc[j] * y[i].bsums[j];
        __m256i sumi = z;
        for (int c = 0; c < 2; c++, ql += 64, qh += 32, sc += 8, ya += 128) {
            __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
            for (int k = 0; k < 4; k++) {
                __m256i p = DP(z, q[k], _mm256_loadu_si256((const __m256i *)(ya + 32 * k)));
                __m256i scv = _mm256_set_m128i(_mm_set1_epi32(sc[2 * k + 1]), _mm_set1_epi32(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, scv));
            }
        }
        float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        accb += d * 32.f * (float)bias;
    }
    *s = hsum_ps(acc) - accb;
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
