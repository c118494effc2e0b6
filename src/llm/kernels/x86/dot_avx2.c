/* dot_avx2.c — AVX2/FMA/F16C dot products of weight rows with quantized activations
 * (compiled with -mavx2 -mfma -mf16c; only reached after cpu_has() says yes). */
#include <immintrin.h>
#include <string.h>

#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"
#include "llm/kernels/x86/qblk_x86.h"

static inline float hsum_ps(__m256 v)
{
    return kq_hsum256(v);
}

static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 32 signed bytes . 32 signed bytes -> 8 int32 partial sums (x must not hold -128). */
static inline __m256i dot_i8(__m256i x, __m256i y)
{
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* 32 unsigned bytes (< 128) . 32 signed bytes -> 8 int32 partial sums. */
static inline __m256i dot_u8(__m256i x, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31). */
static inline __m256i unpack_nibbles(const uint8_t *qs)
{
    /* both lanes get the 16 bytes (one broadcast load); the high lane shifts right by 4 */
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    v = _mm256_srlv_epi64(v, _mm256_setr_epi64x(0, 0, 4, 4));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, byte k = 0xFF when bit k is set. */
static inline __m256i bits_to_bytes(const uint8_t *qh)
{
    uint32_t b;
    memcpy(&b, qh, 4);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                          2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bm = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i r = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)b), shuf), bm);
    return _mm256_cmpeq_epi8(r, bm);
}

/* W f32 (n,) . a f32 (n,) */
void dot_avx2_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    }
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

/* W f16 (n,) . a f16 (n,) */
void dot_avx2_f16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
        __m256 y1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8)));
        acc0 = _mm256_fmadd_ps(x0, y0, acc0);
        acc1 = _mm256_fmadd_ps(x1, y1, acc1);
    }
    float sum = hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += h2f(x[i]) * h2f(y[i]);
    *s = sum;
}

/* W bf16 (n,) . a f32 (n,) */
void dot_avx2_bf16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        __m256 xf = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
        acc = _mm256_fmadd_ps(xf, _mm256_loadu_ps(y + i), acc);
    }
    float sum = hsum_ps(acc);
    for (; i < n; i++) {
        uint32_t u = (uint32_t)x[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        sum += f * y[i];
    }
    *s = sum;
}

/* Q8_0 block products with the activation side done first (shared by dot4's 4 rows):
 * vpmaddubsw(|a|, sign(w, a)), the same exact i16 pair sums as dot_i8(w, a) (neither may
 * hold -128; |w a| <= 127 * 127), and the block's scale d(w) d(a) as vcvtph2ps of the
 * broadcast f16 times the broadcast d(a): the scalar product, in every lane. */
struct q8_0_act1 {
    __m256i y, ay; /* the block's activations and their absolute values */
    __m256 d;      /* d(a), broadcast */
};

static inline void q8_0_act1_load(const struct blk_q8_0 *y, struct q8_0_act1 *t)
{
    t->y = _mm256_loadu_si256((const __m256i *)y->qs);
    t->ay = _mm256_sign_epi8(t->y, t->y);
    t->d = _mm256_set1_ps(h2f(y->d));
}

static inline __m256 q8_0_step1(const struct blk_q8_0 *x, const struct q8_0_act1 *t, __m256 acc)
{
    __m256i xv = _mm256_loadu_si256((const __m256i *)x->qs);
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(t->ay, _mm256_sign_epi8(xv, t->y)), _mm256_set1_epi16(1));
    __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16((short)x->d));
    return _mm256_fmadd_ps(_mm256_mul_ps(dw, t->d), _mm256_cvtepi32_ps(p), acc);
}

/* W q8_0 (n,) . a q8_0 (n,): blocks alternate between two accumulators */
void dot_avx2_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    int64_t nb = n / 32, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    struct q8_0_act1 t0, t1;
    for (; i + 2 <= nb; i += 2) {
        q8_0_act1_load(&y[i], &t0);
        q8_0_act1_load(&y[i + 1], &t1);
        acc0 = q8_0_step1(&x[i], &t0, acc0);
        acc1 = q8_0_step1(&x[i + 1], &t1, acc1);
    }
    for (; i < nb; i++) {
        q8_0_act1_load(&y[i], &t0);
        acc0 = q8_0_step1(&x[i], &t0, acc0);
    }
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* W q4_0 (n,) . a q8_0 (n,): d_w d_a (sum(q a) - 8 sum(a)) per block, q the unsigned nibbles.
 * Four blocks a step, reduced in integers before one convert and one multiply-add:
 *  - two blocks per vector, block 2p in the low 128 bits and 2p+1 in the high: their low
 *    nibbles (elements 0..15) from one vpand, high (16..31) from one shift and vpand, each
 *    against the activations rearranged to match (q4_0_act4.lo/hi);
 *  - vpmaddubsw takes the nibbles (0..15) as they are; a vpaddw of a pair's low and high
 *    products and one vphaddw of the two pairs fold the 4 blocks' i16 pair sums (at most 4
 *    of |2 * 15 * 128|: fits i16), vpmaddwd the last pairs into i32 lanes
 *    [b0 b0 b2 b2 | b1 b1 b3 b3], and the -8 sum(a) term, folded the same way from
 *    vpmaddubsw(8, a), is one vpsubd (the lanes are exact integers: no rounding moves);
 *  - the 4 f16 scales (18 bytes apart) come in with 16-byte loads at +0, +16, +32, +48
 *    that put scale k in word k, merged by vpblendw, converted by one vcvtph2ps, and moved
 *    to those lanes by one vpermps.
 * q4_0_act4 is the step's activation half, done once for 4 rows by dot4_avx2_q4_0 (a
 * software prefetch of the weight stream, 768 bytes ahead, measured no better: the hardware
 * prefetcher follows each row stream). */
struct q4_0_act4 {
    __m256i lo[2], hi[2]; /* pair p: elements 0..15 (lo) and 16..31 (hi) of blocks 2p | 2p+1 */
    __m256i e;            /* 8 sum(a) per lane, folded as the weight products are */
    __m128 d;             /* the 4 blocks' scales */
};

static inline void q4_0_act4_load(const struct blk_q8_0 *y, struct q4_0_act4 *t)
{
    const __m256i eight = _mm256_set1_epi8(8);
    __m256i h[2];
    for (int p = 0; p < 2; p++) {
        t->lo[p] = kq_load_2x128(y[2 * p].qs, y[2 * p + 1].qs);
        t->hi[p] = kq_load_2x128(y[2 * p].qs + 16, y[2 * p + 1].qs + 16);
        h[p] = _mm256_add_epi16(_mm256_maddubs_epi16(eight, t->lo[p]), _mm256_maddubs_epi16(eight, t->hi[p]));
    }
    t->e = _mm256_madd_epi16(_mm256_hadd_epi16(h[0], h[1]), _mm256_set1_epi16(1));
    t->d = _mm_cvtph_ps(_mm_setr_epi16((short)y[0].d, (short)y[1].d, (short)y[2].d, (short)y[3].d, 0, 0, 0, 0));
}

/* weight blocks x[0..3] against t into acc */
static inline __m256 q4_0_step4(const struct blk_q4_0 *x, const struct q4_0_act4 *t, __m256 acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i h[2];
    for (int p = 0; p < 2; p++) {
        __m256i v = kq_load_2x128(x[2 * p].qs, x[2 * p + 1].qs);
        __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(v, m4), t->lo[p]);
        __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), t->hi[p]);
        h[p] = _mm256_add_epi16(lo, hi);
    }
    __m256i s = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_hadd_epi16(h[0], h[1]), _mm256_set1_epi16(1)), t->e);
    __m128 dw = _mm_cvtph_ps(kq_q4_0_scales4(x));
    __m256 d = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_mul_ps(dw, t->d)),
                                        _mm256_setr_epi32(0, 0, 2, 2, 1, 1, 3, 3));
    return _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
}

/* one block, the 4-block steps' tail */
static inline __m256 q4_0_block(const struct blk_q4_0 *x, const struct blk_q8_0 *y, __m256 acc)
{
    __m256i yk = _mm256_loadu_si256((const __m256i *)y->qs);
    __m256i pk = _mm256_sub_epi16(_mm256_maddubs_epi16(unpack_nibbles(x->qs), yk),
                                  _mm256_maddubs_epi16(_mm256_set1_epi8(8), yk));
    return _mm256_fmadd_ps(_mm256_set1_ps(h2f(x->d) * h2f(y->d)),
                           _mm256_cvtepi32_ps(_mm256_madd_epi16(pk, _mm256_set1_epi16(1))), acc);
}

void dot_avx2_q4_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    int64_t nb = n / 32, i = 0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (; i + 8 <= nb; i += 8) { /* two chains of multiply-adds */
        struct q4_0_act4 t;
        q4_0_act4_load(&y[i], &t);
        acc0 = q4_0_step4(&x[i], &t, acc0);
        q4_0_act4_load(&y[i + 4], &t);
        acc1 = q4_0_step4(&x[i + 4], &t, acc1);
    }
    for (; i + 4 <= nb; i += 4) {
        struct q4_0_act4 t;
        q4_0_act4_load(&y[i], &t);
        acc0 = q4_0_step4(&x[i], &t, acc0);
    }
    for (; i < nb; i++)
        acc0 = q4_0_block(&x[i], &y[i], acc0);
    *s = hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* W q4_1 (n,) . a q8_0 (n,): d_w d_a sum(q a) + m d_a sum(a) */
void dot_avx2_q4_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_1 *x = w;
    const struct blk_q8_0 *y = a;
    const __m256i ones = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i p = dot_u8(unpack_nibbles(x[i].qs), qy);
        __m256i sa = dot_u8(ones, qy);
        float da = h2f(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * da), _mm256_cvtepi32_ps(p), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].m) * da), _mm256_cvtepi32_ps(sa), accm);
    }
    *s = hsum_ps(_mm256_add_ps(acc, accm));
}

/* W q5_0 (n,) . a q8_0 (n,) */
void dot_avx2_q5_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q5_0 *x = w;
    const struct blk_q8_0 *y = a;
    const __m256i b4 = _mm256_set1_epi8(0x10), off = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_and_si256(bits_to_bytes(x[i].qh), b4));
        __m256i p = dot_i8(_mm256_sub_epi8(q, off), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

/* W q5_1 (n,) . a q8_0 (n,) */
void dot_avx2_q5_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q5_1 *x = w;
    const struct blk_q8_0 *y = a;
    const __m256i b4 = _mm256_set1_epi8(0x10), ones = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        __m256i q = _mm256_or_si256(unpack_nibbles(x[i].qs), _mm256_and_si256(bits_to_bytes(x[i].qh), b4));
        __m256i p = dot_u8(q, qy);
        __m256i sa = dot_u8(ones, qy);
        float da = h2f(y[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * da), _mm256_cvtepi32_ps(p), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].m) * da), _mm256_cvtepi32_ps(sa), accm);
    }
    *s = hsum_ps(_mm256_add_ps(acc, accm));
}

/* W q4_k / q5_k / q2_k / q3_k (n,) . a q8_k (n,): dot_k_body.h's super-block steps on
 * vpmaddubsw, vphaddw and vpmaddwd (KQ_DOT_K_ONE: no dot4, see qblk_x86.h). */
#define KN(name) name##avx2
#define KQ_PAIR16(u0, s0, u1, s1) _mm256_hadd_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1))
#define KQ_MACC16(acc, p, sc) _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc))
#define KQ_OR_AND(lo, t, m) _mm256_or_si256(lo, _mm256_and_si256(t, m))
#include "dot_k_body.h"
KQ_DOT_K_ONE(dot_avx2_q4_k, struct blk_q4_k, q4_k_sb_avx2, hsum_ps)
KQ_DOT_K_ONE(dot_avx2_q5_k, struct blk_q5_k, q5_k_sb_avx2, hsum_ps)
KQ_DOT_K_ONE(dot_avx2_q2_k, struct blk_q2_k, q2_k_sb_avx2, hsum_ps)
KQ_DOT_K_ONE(dot_avx2_q3_k, struct blk_q3_k, q3_k_sb_avx2, hsum_ps)

/* W q6_k (n,) . a q8_k (n,): q is 0..63 here, the -32 comes back through bsums (in
 * integers: 32 sum(scale * bsum) is the super-block sum's start, one vpmaddwd). The 16
 * scales are widened to i16 once per super-block. Two 32-element runs k, k+1 (sub-blocks
 * 2k | 2k+1 and 2k+2 | 2k+3 in their low | high 16 elements) are folded by one vphaddw of
 * their vpmaddubsw pair sums (4 products of q <= 63 and |a| <= 127 per i16: fits), so one
 * vpmaddwd applies their 4 scales, taken with one vpshufb from the 8 of the half. q6_k_sb is
 * one super-block's integer sum (dot_avx2_q6_k); pick[k]: i16 words
 * [4 x 4k, 4 x 4k+2] in the low 128 bits, [4 x 4k+1, 4 x 4k+3] in the high (q6_k_picks). */
static inline void q6_k_picks(__m256i pick[2])
{
    for (int k = 0; k < 2; k++) {
        /* i16 words: low half [4 x w0, 4 x w2], high half [4 x w1, 4 x w3], w = 4k + 0..3 */
        const char a = (char)(8 * k), b = (char)(8 * k + 2), c = (char)(8 * k + 4), d = (char)(8 * k + 6);
        pick[k] = _mm256_setr_epi8(a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), c,
                                   (char)(c + 1), c, (char)(c + 1), c, (char)(c + 1), c, (char)(c + 1), b,
                                   (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1), d,
                                   (char)(d + 1), d, (char)(d + 1), d, (char)(d + 1), d, (char)(d + 1));
    }
}

static inline __m256i q6_k_sb(const struct blk_q6_k *x, const struct blk_q8_k *y, const __m256i pick[2])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const uint8_t *ql = x->ql, *qh = x->qh;
    const int8_t *ya = y->qs;
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    __m256i bias = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(bias, 5));
    /* scales 8c..8c+7 in both 128-bit halves, for c = 0 and 1 */
    const __m256i sch0 = _mm256_permute2x128_si256(sc16, sc16, 0x00), sch1 = _mm256_permute2x128_si256(sc16, sc16, 0x11);
    for (int c = 0; c < 2; c++, ql += 64, qh += 32, ya += 128) {
        __m256i h = _mm256_loadu_si256((const __m256i *)qh);
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        /* the 0x30 mask keeps the two bits of the byte's own qh after the 16-bit shifts */
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
        const __m256i sch = c ? sch1 : sch0;
        for (int k = 0; k < 4; k += 2) {
            __m256i p0 = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(ya + 32 * k)));
            __m256i p1 = _mm256_maddubs_epi16(q[k + 1], _mm256_loadu_si256((const __m256i *)(ya + 32 * k + 32)));
            __m256i scv = _mm256_shuffle_epi8(sch, pick[k / 2]);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_hadd_epi16(p0, p1), scv));
        }
    }
    return sumi;
}

void dot_avx2_q6_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    __m256i pick[2];
    q6_k_picks(pick);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        __m256i sumi = q6_k_sb(&x[i], &y[i], pick);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum_ps(acc);
}

/* dot4 (kern_dot4_fn): one activation row against 4 weight rows, y[k * ys] = w_k . a with
 * w_k = w + k * ws. Generation's matvec is bound by the cache misses one core keeps in
 * flight and by each row's work: matmul.c points the 4 rows at 4 distant quarters of its
 * rows (4 sequential streams), and the activation loads and their scale work are done once
 * for the 4 rows. Each row's arithmetic is its dot_avx2_* twin's, operation for operation
 * (the shared step functions above), so every y[k * ys] is bit-identical to that row's
 * vec_dot. */
#define DOT4_ROWS(T, x, w, ws)                                                   \
    const T *x[4];                                                               \
    for (int k_ = 0; k_ < 4; k_++)                                               \
        x[k_] = (const T *)((const unsigned char *)(w) + (size_t)k_ * (ws));

#ifndef DOT4_AVX2_F16_PF
#define DOT4_AVX2_F16_PF 2048
#endif
void dot4_avx2_f16(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const uint16_t *ya = a;
    DOT4_ROWS(uint16_t, x, w, ws)
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++)
        acc0[k] = acc1[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _Pragma("GCC unroll 2") for (int h = 0; h < 32; h += 16)
        {
            __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ya + i + h)));
            __m256 y1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ya + i + h + 8)));
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            {
                if (h == 0)
                    _mm_prefetch((const char *)(x[k] + i) + DOT4_AVX2_F16_PF, _MM_HINT_T0);
                __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x[k] + i + h)));
                __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x[k] + i + h + 8)));
                acc0[k] = _mm256_fmadd_ps(x0, y0, acc0[k]);
                acc1[k] = _mm256_fmadd_ps(x1, y1, acc1[k]);
            }
        }
    }
    for (; i + 16 <= n; i += 16) {
        __m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ya + i)));
        __m256 y1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(ya + i + 8)));
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        {
            __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x[k] + i)));
            __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x[k] + i + 8)));
            acc0[k] = _mm256_fmadd_ps(x0, y0, acc0[k]);
            acc1[k] = _mm256_fmadd_ps(x1, y1, acc1[k]);
        }
    }
    for (int k = 0; k < 4; k++) {
        float sum = hsum_ps(_mm256_add_ps(acc0[k], acc1[k]));
        for (int64_t j = i; j < n; j++)
            sum += h2f(x[k][j]) * h2f(ya[j]);
        y[(size_t)k * ys] = sum;
    }
}

void dot4_avx2_q8_0(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const struct blk_q8_0 *ya = a;
    DOT4_ROWS(struct blk_q8_0, x, w, ws)
    int64_t nb = n / 32, i = 0;
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++)
        acc0[k] = acc1[k] = _mm256_setzero_ps();
    struct q8_0_act1 t0, t1;
    for (; i + 2 <= nb; i += 2) {
        q8_0_act1_load(&ya[i], &t0);
        q8_0_act1_load(&ya[i + 1], &t1);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
        {
            acc0[k] = q8_0_step1(&x[k][i], &t0, acc0[k]);
            acc1[k] = q8_0_step1(&x[k][i + 1], &t1, acc1[k]);
        }
    }
    for (int k = 0; k < 4; k++) {
        for (int64_t j = i; j < nb; j++) {
            q8_0_act1_load(&ya[j], &t0);
            acc0[k] = q8_0_step1(&x[k][j], &t0, acc0[k]);
        }
        y[(size_t)k * ys] = hsum_ps(_mm256_add_ps(acc0[k], acc1[k]));
    }
}

void dot4_avx2_q4_0(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys)
{
    const struct blk_q8_0 *ya = a;
    DOT4_ROWS(struct blk_q4_0, x, w, ws)
    int64_t nb = n / 32, i = 0;
    __m256 acc0[4], acc1[4];
    for (int k = 0; k < 4; k++)
        acc0[k] = acc1[k] = _mm256_setzero_ps();
    for (; i + 8 <= nb; i += 8) {
        struct q4_0_act4 t;
        q4_0_act4_load(&ya[i], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc0[k] = q4_0_step4(&x[k][i], &t, acc0[k]);
        q4_0_act4_load(&ya[i + 4], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc1[k] = q4_0_step4(&x[k][i + 4], &t, acc1[k]);
    }
    if (i + 4 <= nb) {
        struct q4_0_act4 t;
        q4_0_act4_load(&ya[i], &t);
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)
            acc0[k] = q4_0_step4(&x[k][i], &t, acc0[k]);
        i += 4;
    }
    for (int k = 0; k < 4; k++) {
        for (int64_t j = i; j < nb; j++)
            acc0[k] = q4_0_block(&x[k][j], &ya[j], acc0[k]);
        y[(size_t)k * ys] = hsum_ps(_mm256_add_ps(acc0[k], acc1[k]));
    }
}

#undef DOT4_ROWS

void dequant_avx2_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        dst[i] = h2f(h[i]);
}

void quant_avx2_f16(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

float kv_avx2_dot_f16(const float *q, const void *k, int n)
{
    float s;
    const uint16_t *kh = k;
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kh + i))), acc);
    s = hsum_ps(acc);
    for (; i < n; i++)
        s += q[i] * h2f(kh[i]);
    return s;
}

float kv_avx2_dot_f32(const float *q, const void *k, int n)
{
    float s;
    dot_avx2_f32(n, &s, k, q);
    return s;
}

void kv_avx2_axpy_f16(float *y, float a, const void *v, int n)
{
    const uint16_t *vh = v;
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vh + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, vv, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * h2f(vh[i]);
}

void kv_avx2_axpy_f32(float *y, float a, const void *v, int n)
{
    const float *vf = v;
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(vf + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * vf[i];
}

/* 4x2 register tile: W (4 rows, n) . A (2 rows, n) -> y (2, 4). Each weight block is loaded
 * once for both activation rows, each activation block once for all four weight rows. */
/* one weight row r of the tile against both activation blocks (kept in registers) */
#define GEMM_ROW(r, LOADW)                                                                              \
    {                                                                                              \
        __m256i x = LOADW(w##r + i);                                                               \
        float dw = h2f(w##r[i].d);                                                                 \
        __m256i ax = _mm256_sign_epi8(x, x);                                                       \
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(y0, x)), ones);   \
        __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(y1, x)), ones);   \
        c##r##0 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d0), _mm256_cvtepi32_ps(p0), c##r##0);       \
        c##r##1 = _mm256_fmadd_ps(_mm256_set1_ps(dw * d1), _mm256_cvtepi32_ps(p1), c##r##1);       \
    }

#define GEMM4X2(NAME, WBLK, LOADW)                                                                     \
    void NAME(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y, size_t ldy)     \
    {                                                                                                  \
        const struct WBLK *w0 = w, *w1 = (const struct WBLK *)((const unsigned char *)w + ws),        \
                          *w2 = (const struct WBLK *)((const unsigned char *)w + 2 * ws),              \
                          *w3 = (const struct WBLK *)((const unsigned char *)w + 3 * ws);              \
        const struct blk_q8_0 *a0 = a, *a1 = (const struct blk_q8_0 *)((const unsigned char *)a + as); \
        __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,       \
               c30 = c00, c31 = c00;                                                                   \
        const __m256i ones = _mm256_set1_epi16(1);                                                     \
        for (int64_t i = 0; i < n / 32; i++) {                                                         \
            __m256i y0 = _mm256_loadu_si256((const __m256i *)a0[i].qs);                                \
            __m256i y1 = _mm256_loadu_si256((const __m256i *)a1[i].qs);                                \
            float d0 = h2f(a0[i].d), d1 = h2f(a1[i].d);                                                \
            GEMM_ROW(0, LOADW)                                                                             \
            GEMM_ROW(1, LOADW)                                                                             \
            GEMM_ROW(2, LOADW)                                                                             \
            GEMM_ROW(3, LOADW)                                                                             \
        }                                                                                              \
        y[0] = hsum_ps(c00);                                                                           \
        y[1] = hsum_ps(c10);                                                                           \
        y[2] = hsum_ps(c20);                                                                           \
        y[3] = hsum_ps(c30);                                                                           \
        y[ldy + 0] = hsum_ps(c01);                                                                     \
        y[ldy + 1] = hsum_ps(c11);                                                                     \
        y[ldy + 2] = hsum_ps(c21);                                                                     \
        y[ldy + 3] = hsum_ps(c31);                                                                     \
    }

static inline __m256i load_q8_0(const struct blk_q8_0 *b)
{
    return _mm256_loadu_si256((const __m256i *)b->qs);
}

static inline __m256i load_q4_0(const struct blk_q4_0 *b)
{
    return _mm256_sub_epi8(unpack_nibbles(b->qs), _mm256_set1_epi8(8));
}

GEMM4X2(gemm4x2_avx2_q8_0, blk_q8_0, load_q8_0)
GEMM4X2(gemm4x2_avx2_q4_0, blk_q4_0, load_q4_0)

/* f32 (n,) -> q8_0 (n,): d = max|x| / 127, q = round(x / d). Rounds ties to even where the
 * scalar reference rounds them away from zero (a +-1 difference on exact .5 only). */
void quant_avx2_q8_0(const float *src, void *dst, int64_t n)
{
    struct blk_q8_0 *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8), v2 = _mm256_loadu_ps(src + 16),
               v3 = _mm256_loadu_ps(src + 24);
        __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
        m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m256 mul = _mm256_set1_ps(id);
        enum { rm = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }; /* an immediate even at -O0 */
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), rm));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), rm));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), rm));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), rm));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)b[i].qs, _mm256_permutevar8x32_epi32(p, perm));
    }
}

/* f32 (n,) -> Q8_K, byte-identical to quant_row_q8_k (the activation quantizer of every
 * K-quant matmul): the first element of largest magnitude sets iscale = -127 / max, each
 * quant is round(iscale x) to nearest even (lrintf in the default rounding mode; vpackss
 * saturates a rare 128 to 127 as the reference's clamp does), d = 1 / iscale. */
void quant_avx2_q8_k(const float *src, void *dst, int64_t n)
{
    struct blk_q8_k *b = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    enum { rm = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }; /* an immediate even at -O0 */
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4);
        if (amax == 0.f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const __m256 am = _mm256_set1_ps(amax);
        int j = 0;
        for (;; j += 8) { /* the first element of that magnitude (there is one) */
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)), am, _CMP_EQ_OQ));
            if (mask) {
                j += __builtin_ctz((unsigned)mask);
                break;
            }
        }
        float iscale = -127.f / src[j];
        const __m256 mul = _mm256_set1_ps(iscale);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + k), mul), rm));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + k + 8), mul), rm));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + k + 16), mul), rm));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(src + k + 24), mul), rm));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
            p = _mm256_permutevar8x32_epi32(p, perm);
            _mm256_storeu_si256((__m256i *)(b[i].qs + k), p);
            /* bsums of the two 16-element halves: i16 pair sums, then i32 sums of 4, then 16 */
            __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
            s = _mm256_hadd_epi32(s, s);
            s = _mm256_hadd_epi32(s, s);
            b[i].bsums[k / 16] = (int16_t)_mm256_cvtsi256_si32(s);
            b[i].bsums[k / 16 + 1] = (int16_t)_mm_cvtsi128_si32(_mm256_extracti128_si256(s, 1));
        }
        b[i].d = 1.f / iscale;
    }
}
