/* dot512_body.h — 512-bit integer dot products and GEMM tiles, included by dot_avx512.c
 * (AVX-512F/BW/VL: vpmaddubsw + vpmaddwd) and dot_avx512vnni.c (AVX-512 VNNI: vpdpbusd).
 * The includer defines KSUF (the name suffix) and, for VNNI, KERN_VNNI. Every kernel has
 * the contract of its dot_ref_* twin in kernels.h; results differ from the reference only by
 * float summation order.
 *
 * Layout trick used throughout: one zmm holds two 32-element blocks (Q8_0/Q4_0) or two
 * sub-blocks (Q4_K), so the per-block scale is a vector whose low 8 lanes hold block i's
 * scale and whose high 8 lanes hold block i+1's. */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"
#include "llm/kernels/x86/qblk_x86.h"

#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KN(name) KCAT(name, KSUF)

/* acc (16 x i32) += groups of 4 (unsigned u bytes) x (signed s bytes). Without VNNI the
 * pairwise i16 sums saturate past 32767: callers keep u * s * 2 below that (u <= 128). */
#ifdef KERN_VNNI
#define DP(acc, u, s) _mm512_dpbusd_epi32((acc), (u), (s))
#else
static inline __m512i dp_bw(__m512i acc, __m512i u, __m512i s)
{
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
}
#define DP(acc, u, s) dp_bw((acc), (u), (s))
#endif

/* f16 scales of two consecutive blocks -> lanes 0..7 = a, 8..15 = b. */
static inline __m512 scale2(uint16_t a, uint16_t b)
{
    __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16((short)a)), _mm_set1_epi16((short)b), 1);
    return _mm512_cvtph_ps(h);
}

/* Two Q8_0 blocks' 64 quants (b may be NULL: the high half is then zero). */
static inline __m512i load2_q8(const struct blk_q8_0 *a, const struct blk_q8_0 *b)
{
    __m256i lo = _mm256_loadu_si256((const __m256i *)a->qs);
    __m256i hi = b ? _mm256_loadu_si256((const __m256i *)b->qs) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Two Q4_0 blocks -> 64 unsigned nibbles in element order (0..15, the -8 is applied by the
 * caller): [b0 low, b0 high, b1 low, b1 high] nibbles, 16 bytes each. */
static inline __m512i load2_q4(const struct blk_q4_0 *a, const struct blk_q4_0 *b)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)a->qs);
    __m128i hi = b ? _mm_loadu_si128((const __m128i *)b->qs) : _mm_setzero_si128();
    __m512i v = _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
    v = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), v);
    v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

/* signed . signed through vpdpbusd's unsigned x signed: |x| . (y with x's sign). */
static inline __m512i dot_ss(__m512i x, __m512i y)
{
    __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
    return DP(_mm512_setzero_si512(), _mm512_abs_epi8(x), sy);
}

/* W f16 (n,) . a f16 (n,) */
void KN(dot_f16_)(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        __m512 y0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i)));
        __m512 x1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16)));
        __m512 y1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16)));
        acc0 = _mm512_fmadd_ps(x0, y0, acc0);
        acc1 = _mm512_fmadd_ps(x1, y1, acc1);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += _cvtsh_ss(x[i]) * _cvtsh_ss(y[i]);
    *s = sum;
}

/* W q8_0 (n,) . a q8_0 (n,)
 * 256-bit, one block per vector: the 34-byte blocks are loaded straight (two blocks per zmm
 * need an insert each, and streamed slower from memory in the model: 8 against 12 tokens
 * per CPU-second for the AVX2 kernel on a 1.1B Q8_0 model). */
#ifdef KERN_VNNI
#define DP256(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#else
#define DP256(acc, u, s) \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#endif
void KN(dot_q8_0_)(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    int64_t nb = n / 32, i = 0;
    const __m256i z = _mm256_setzero_si256();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x[i].qs), x1 = _mm256_loadu_si256((const __m256i *)x[i + 1].qs);
        __m256i y0 = _mm256_loadu_si256((const __m256i *)y[i].qs), y1 = _mm256_loadu_si256((const __m256i *)y[i + 1].qs);
        __m256i p0 = DP256(z, _mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
        __m256i p1 = DP256(z, _mm256_sign_epi8(x1, x1), _mm256_sign_epi8(y1, x1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i + 1].d) * _cvtsh_ss(y[i + 1].d)), _mm256_cvtepi32_ps(p1),
                               acc1);
    }
    for (; i < nb; i++) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)x[i].qs), y0 = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p0 = DP256(z, _mm256_sign_epi8(x0, x0), _mm256_sign_epi8(y0, x0));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    __m256 v = _mm256_add_ps(acc0, acc1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    *s = _mm_cvtss_f32(h);
}

/* (No Q4_0 dot here: the kernel tables take AVX2's, dot_avx2_q4_0, whose 4-block integer
 * reduction streamed faster than a 512-bit version on Zen 4 (bench/gemv_bench, session 9: 22.8
 * against 16.6 GB/s), with its dot4 twin dot4_avx2_q4_0.) */

/* The K-quant super-block steps (Q4_K, Q5_K, Q2_K, Q3_K, VNNI only) are dot_k_body.h's,
 * shared with AVX2 and AVX-VNNI; dot_avx512vnni.c makes each dot and dot4 with KDOT_K. */
static inline float KN(hsum256_)(__m256 v)
{
    return kq_hsum256(v);
}

/* dot_T_ and dot4_T_ of a K-quant from its super-block step T_sb_ (qblk_x86.h's KQ_DOT_K) */
#define KDOT_K(T) KQ_DOT_K(KN(dot_##T##_), KN(dot4_##T##_), struct blk_##T, KN(T##_sb_), KN(hsum256_))


/* W q6_k (n,) . a q8_k (n,): q is 0..63 here, the -32 comes back through bsums (in
 * integers: 32 sum(scale * bsum) off the super-block's sum). Per 128 elements, ql (64 bytes,
 * one load) and qh (32 bytes, broadcast to both halves) give
 *   [q0 | q1] = (ql & 15) | ((qh << (4 | 2)) & 0x30)   elements 0..63
 *   [q2 | q3] = (ql >> 4) | ((qh >> (0 | 2)) & 0x30)   elements 64..127
 * (the 64-bit lane shifts move bits across bytes; the 0x30 mask keeps only bits of the
 * byte's own qh). A DP lane (4 products, q <= 63, |a| <= 128) fits an i16, so pairs are
 * packed and scaled with one vpmaddwd as in Q4_K. */
void KN(dot_q6_k_)(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *ya = a;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), z = _mm512_setzero_si512();
    const __m512i shl = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), shr = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    /* packs(pa, pb) holds, per 128-bit lane L, 4 i16 of sub-block 8c + L then 4 of
     * 8c + 4 + L: the i16 scales in that order, for c = 0 and 1 */
    const __m512i sidx0 = _mm512_set_epi16(7, 7, 7, 7, 3, 3, 3, 3, 6, 6, 6, 6, 2, 2, 2, 2, 5, 5, 5, 5, 1, 1, 1, 1, 4,
                                           4, 4, 4, 0, 0, 0, 0);
    const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(8));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m512i sc0 = _mm512_permutexvar_epi16(sidx0, _mm512_castsi256_si512(sc));
        __m512i sc1 = _mm512_permutexvar_epi16(sidx1, _mm512_castsi256_si512(sc));
        /* -32 sum(scale * bsum) (8 i32 lanes) as the sum's start */
        __m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(),
            _mm256_slli_epi32(_mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)ya[i].bsums)), 5)));
        for (int c = 0; c < 2; c++) {
            __m512i l = _mm512_loadu_si512((const void *)(x[i].ql + 64 * c));
            __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * c)));
            __m512i qa = _mm512_ternarylogic_epi32(l, m4, _mm512_and_si512(_mm512_sllv_epi64(h, shl), m30), 0xEA);
            __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                         _mm512_and_si512(_mm512_srlv_epi64(h, shr), m30));
            __m512i p16 = _mm512_packs_epi32(DP(z, qa, _mm512_loadu_si512((const void *)(ya[i].qs + 128 * c))),
                                             DP(z, qb, _mm512_loadu_si512((const void *)(ya[i].qs + 128 * c + 64))));
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p16, c ? sc1 : sc0));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(x[i].d) * ya[i].d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* acc (low 8 lanes) += sc * p for block i (low half of sc, p), then for block i+1 (high
 * half): llama.cpp's AVX2 / tinyBLAS order (8 lanes, one fma per block, in block order),
 * so batches round as its Q8_0 prompt GEMM does. The high 8 lanes of acc are unused. */
static inline __m512 acc_blocks(__m512 acc, __m512 sc, __m512i p)
{
    __m512 f = _mm512_cvtepi32_ps(p);
    __m256 a = _mm256_fmadd_ps(_mm512_castps512_ps256(sc), _mm512_castps512_ps256(f), _mm512_castps512_ps256(acc));
    __m256 sh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sc), 1));
    __m256 fh = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1));
    return _mm512_castps256_ps512(_mm256_fmadd_ps(sh, fh, a));
}

/* Sum of acc's low 8 lanes, in hsum_float_8's order. */
static inline float hsum8(__m512 acc)
{
    __m256 v = _mm512_castps512_ps256(acc);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* ---- GEMM tiles: W (4 rows, n) . A (4 rows, n) -> y (4, 4), y[t * ldy + r] ----
 * Each weight block pair is loaded and unpacked once for all 4 activation rows, each
 * activation pair once for all four weight rows; the per-block scale product is applied
 * per (row, token) as a 16-lane vector. */
/* one step over blocks i, i+1 (TWO = 0: block i only, the last of an odd count) */
#define TILE_STEP(T, LOADW, PROD, TWO)                                                                   \
    {                                                                                                    \
        __m512i wq[4];                                                                                   \
        __m512 ws_[4];                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                              \
        {                                                                                                \
            const WBLK *wr = (const WBLK *)(wb + (size_t)r * wstride) + i;                               \
            wq[r] = LOADW(wr, TWO ? wr + 1 : NULL);                                                      \
            ws_[r] = scale2(wr[0].d, TWO ? wr[1].d : 0);                                                 \
        }                                                                                                \
        _Pragma("GCC unroll 4") for (int t = 0; t < T; t++)                                              \
        {                                                                                                \
            const struct blk_q8_0 *at = (const struct blk_q8_0 *)(ab + (size_t)t * astride) + i;         \
            __m512i yv = load2_q8(at, TWO ? at + 1 : NULL);                                              \
            __m512 sa = scale2(at[0].d, TWO ? at[1].d : 0);                                              \
            PROD_PREP(yv)                                                                                \
            _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                          \
            {                                                                                            \
                __m512i p = PROD(wq[r], yv);                                                             \
                acc[r][t] = acc_blocks(acc[r][t], _mm512_mul_ps(ws_[r], sa), p);                         \
            }                                                                                            \
        }                                                                                                \
    }

#define TILE_BODY(T, LOADW, PROD)                                                                        \
    const unsigned char *wb = w, *ab = a;                                                                \
    const int64_t nb = n / 32;                                                                           \
    __m512 acc[4][T];                                                                                    \
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) \
        acc[r][t] = _mm512_setzero_ps();                                                                 \
    int64_t i = 0;                                                                                       \
    for (; i + 2 <= nb; i += 2)                                                                          \
        TILE_STEP(T, LOADW, PROD, 1)                                                                     \
    if (i < nb)                                                                                          \
        TILE_STEP(T, LOADW, PROD, 0)                                                                     \
    _Pragma("GCC unroll 4") for (int t = 0; t < T; t++) _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) \
        y[(size_t)t * ldy + r] = hsum8(acc[r][t]);

/* Q8_0: signed x signed via dot_ss. */
#define WBLK struct blk_q8_0
#define PROD_PREP(yv)
#define PROD_Q8(wv, yv) dot_ss((wv), (yv))
void KN(gemm4x4_q8_0_)(int64_t n, const void *w, size_t wstride, const void *a, size_t astride, float *y, size_t ldy)
{
    TILE_BODY(4, load2_q8, PROD_Q8)
}
#undef WBLK
#undef PROD_PREP

/* Q4_0: unsigned nibbles; the -8 per element comes back as -8 sum(a) per block, computed
 * once per activation pair (neg8) and used as the accumulator's start value. */
#define WBLK struct blk_q4_0
#define PROD_PREP(yv) __m512i neg8 = _mm512_sub_epi32(_mm512_setzero_si512(), DP(_mm512_setzero_si512(), _mm512_set1_epi8(8), yv));
#define PROD_Q4(wv, yv) DP(neg8, (wv), (yv))
void KN(gemm4x4_q4_0_)(int64_t n, const void *w, size_t wstride, const void *a, size_t astride, float *y, size_t ldy)
{
    TILE_BODY(4, load2_q4, PROD_Q4)
}
#undef WBLK
#undef PROD_PREP

/* ---- 4 weight rows x N activation rows: the weight rows are unpacked once (quants, scale
 * vectors and, for Q8_0 with VNNI, the -128 sum(w) correction) into a stack buffer, then
 * every group of 4 activation rows runs against it. Returns the number of activation rows
 * done (a multiple of 4; 0 when n is above KERN_GEMM4XN_MAX_N or n_tok < 4, and the
 * caller falls back to gemm4x4 / vec_dot). ---- */
#define PREP_STEPS (KERN_GEMM4XN_MAX_N / 64)

#define GEMM4XN_BODY(WBLK, LOADW, HAS_C, CORR_W, PREP_T, PROD)                                            \
    const unsigned char *wb = w, *ab = a;                                                                \
    const int64_t nb = n / 32, ns = (nb + 1) / 2;                                                        \
    if (n > KERN_GEMM4XN_MAX_N || n_tok < 4)                                                             \
        return 0;                                                                                        \
    __m512i pq[PREP_STEPS][4], pc[HAS_C ? PREP_STEPS : 1][4];                                            \
    __m512 ps[PREP_STEPS][4];                                                                            \
    (void)pc;                                                                                            \
    for (int64_t s = 0; s < ns; s++) {                                                                   \
        int two = 2 * s + 1 < nb;                                                                        \
        for (int r = 0; r < 4; r++) {                                                                    \
            const WBLK *wr = (const WBLK *)(wb + (size_t)r * wstride) + 2 * s;                           \
            pq[s][r] = LOADW(wr, two ? wr + 1 : NULL);                                                   \
            ps[s][r] = scale2(wr[0].d, two ? wr[1].d : 0);                                               \
            if (HAS_C)                                                                                   \
                pc[HAS_C ? s : 0][r] = CORR_W(pq[s][r]);                                                 \
        }                                                                                                \
    }                                                                                                    \
    int t0 = 0;                                                                                          \
    for (; t0 + 4 <= n_tok; t0 += 4) {                                                                   \
        __m512 acc[4][4];                                                                                \
        _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) \
            acc[r][t] = _mm512_setzero_ps();                                                             \
        for (int64_t s = 0; s < ns; s++) {                                                               \
            int two = 2 * s + 1 < nb;                                                                    \
            _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++)                                          \
            {                                                                                            \
                const struct blk_q8_0 *at = (const struct blk_q8_0 *)(ab + (size_t)(t0 + t) * astride) + 2 * s; \
                __m512i yv = load2_q8(at, two ? at + 1 : NULL);                                          \
                __m512 sa = scale2(at[0].d, two ? at[1].d : 0);                                          \
                PREP_T(yv)                                                                               \
                _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++)                                      \
                {                                                                                        \
                    __m512i p = PROD(r);                                                                 \
                    acc[r][t] = acc_blocks(acc[r][t], _mm512_mul_ps(ps[s][r], sa), p);                 \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        _Pragma("GCC unroll 4") for (int t = 0; t < 4; t++) _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) \
            y[(size_t)(t0 + t) * ldy + r] = hsum8(acc[r][t]);                                          \
    }                                                                                                    \
    return t0;

static inline __m512i no_corr(__m512i v)
{
    return v;
}

/* Q4_0: unsigned nibbles, -8 sum(a) per activation pair as the accumulator's start. */
#define PREP_T_Q4(yv) __m512i neg8 = _mm512_sub_epi32(_mm512_setzero_si512(), DP(_mm512_setzero_si512(), _mm512_set1_epi8(8), yv));
#define PROD_N_Q4(r) DP(neg8, pq[s][r], yv)
int KN(gemm4xn_q4_0_)(int64_t n, const void *w, size_t wstride, const void *a, size_t astride, float *y, size_t ldy,
                      int n_tok)
{
    GEMM4XN_BODY(struct blk_q4_0, load2_q4, 0, no_corr, PREP_T_Q4, PROD_N_Q4)
}

#ifdef KERN_VNNI
/* Q8_0 with VNNI: activations made unsigned (a + 128, one xor per activation pair), the
 * 128 sum(w) that adds comes off through the accumulator's start value, prepared per row. */
static inline __m512i corr_q8(__m512i wv)
{
    return _mm512_sub_epi32(_mm512_setzero_si512(), DP(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), wv));
}
#define PREP_T_Q8(yv) __m512i yu = _mm512_xor_si512(yv, _mm512_set1_epi8((char)0x80));
#define PROD_N_Q8(r) DP(pc[s][r], yu, pq[s][r])
int KN(gemm4xn_q8_0_)(int64_t n, const void *w, size_t wstride, const void *a, size_t astride, float *y, size_t ldy,
                      int n_tok)
{
    GEMM4XN_BODY(struct blk_q8_0, load2_q8, 1, corr_q8, PREP_T_Q8, PROD_N_Q8)
}
#else
/* Q8_0 without VNNI: vpmaddubsw would saturate on a + 128, so signed x signed via dot_ss. */
#define PREP_T_Q8(yv)
#define PROD_N_Q8(r) dot_ss(pq[s][r], yv)
int KN(gemm4xn_q8_0_)(int64_t n, const void *w, size_t wstride, const void *a, size_t astride, float *y, size_t ldy,
                      int n_tok)
{
    GEMM4XN_BODY(struct blk_q8_0, load2_q8, 0, no_corr, PREP_T_Q8, PROD_N_Q8)
}
#endif
