/* attn_avx512.c — AVX-512F/BW attention tile kernels (contracts in attn.h): the AVX2 tiling
 * (4 queries per key in q.K, 4 queries' outputs in registers in p.V) with 16 floats, or two
 * Q8_0 blocks, per register; a head size that is not a multiple of 16 finishes with 8-wide
 * AVX2 steps and scalars. */
#include <immintrin.h>
#include <math.h>

#include "base/x86/vexp_avx512.h"
#include "llm/kernels/attn.h"
#include "llm/kernels/fp16.h"

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m512 ld16_f32(const void *r, int d)
{
    return _mm512_loadu_ps((const float *)r + d);
}

static inline __m512 ld16_f16(const void *r, int d)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)r + d)));
}

static inline __m256 ld8_f32(const void *r, int d)
{
    return _mm256_loadu_ps((const float *)r + d);
}

static inline __m256 ld8_f16(const void *r, int d)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)r + d)));
}

static inline float sc_f32(const void *r, int d)
{
    return ((const float *)r)[d];
}

static inline float sc_f16(const void *r, int d)
{
    return fp16_to_f32(((const uint16_t *)r)[d]);
}

/* One query's dot with one key, the 16-wide accumulator given. */
#define DOT1(LD16, LD8, SC, QP, KP, ACC, OUT)                                                                   \
    do {                                                                                                        \
        __m512 acc_ = (ACC);                                                                                    \
        int d_ = 0;                                                                                             \
        for (; d_ + 16 <= hd; d_ += 16)                                                                         \
            acc_ = _mm512_fmadd_ps(_mm512_loadu_ps((QP) + d_), LD16(KP, d_), acc_);                             \
        float t_ = _mm512_reduce_add_ps(acc_);                                                                  \
        if (d_ + 8 <= hd) {                                                                                     \
            t_ += hsum8(_mm256_mul_ps(_mm256_loadu_ps((QP) + d_), LD8(KP, d_)));                                \
            d_ += 8;                                                                                            \
        }                                                                                                       \
        for (; d_ < hd; d_++)                                                                                   \
            t_ += (QP)[d_] * SC(KP, d_);                                                                        \
        OUT = t_;                                                                                               \
    } while (0)

#define QK_FLOAT(NAME, LD16, LD8, SC)                                                                           \
    static void NAME(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s,          \
                     size_t lds)                                                                                \
    {                                                                                                           \
        const int hd16 = hd & ~15;                                                                              \
        int i = 0;                                                                                              \
        for (; i + 4 <= nq && hd16 == hd; i += 4) {                                                             \
            const float *q0 = (const float *)((const char *)q + (size_t)i * qs);                                \
            const float *q1 = (const float *)((const char *)q0 + qs), *q2 = (const float *)((const char *)q1 + qs); \
            const float *q3 = (const float *)((const char *)q2 + qs);                                           \
            for (int j = 0; j < nk; j++) {                                                                      \
                __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                     \
                for (int d = 0; d < hd; d += 16) {                                                              \
                    __m512 kv = LD16(k[j], d);                                                                  \
                    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q0 + d), kv, a0);                                      \
                    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q1 + d), kv, a1);                                      \
                    a2 = _mm512_fmadd_ps(_mm512_loadu_ps(q2 + d), kv, a2);                                      \
                    a3 = _mm512_fmadd_ps(_mm512_loadu_ps(q3 + d), kv, a3);                                      \
                }                                                                                               \
                s[(size_t)i * lds + j] = _mm512_reduce_add_ps(a0);                                              \
                s[(size_t)(i + 1) * lds + j] = _mm512_reduce_add_ps(a1);                                        \
                s[(size_t)(i + 2) * lds + j] = _mm512_reduce_add_ps(a2);                                        \
                s[(size_t)(i + 3) * lds + j] = _mm512_reduce_add_ps(a3);                                        \
            }                                                                                                   \
        }                                                                                                       \
        for (; i < nq; i++) {                                                                                   \
            const float *q0 = (const float *)((const char *)q + (size_t)i * qs);                                \
            for (int j = 0; j < nk; j++)                                                                        \
                DOT1(LD16, LD8, SC, q0, k[j], _mm512_setzero_ps(), s[(size_t)i * lds + j]);                    \
        }                                                                                                       \
    }

#define PV_FLOAT(NAME, LD16, SC)                                                                                \
    static void NAME(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o,        \
                     size_t ldo)                                                                                \
    {                                                                                                           \
        const int hd16 = hd & ~15;                                                                              \
        for (int i = 0; i < nq; i += 4) {                                                                       \
            const int m = nq - i < 4 ? nq - i : 4;                                                              \
            const float *pi = p + (size_t)i * ldp;                                                              \
            float *oi = o + (size_t)i * ldo;                                                                    \
            for (int d = 0; d < hd16; d += 16) {                                                                \
                __m512 a[4];                                                                                    \
                for (int r = 0; r < m; r++)                                                                     \
                    a[r] = _mm512_loadu_ps(oi + (size_t)r * ldo + d);                                           \
                if (m == 4) {                                                                                   \
                    for (int j = 0; j < nk; j++) {                                                              \
                        __m512 x = LD16(v[j], d);                                                               \
                        a[0] = _mm512_fmadd_ps(_mm512_set1_ps(pi[j]), x, a[0]);                                 \
                        a[1] = _mm512_fmadd_ps(_mm512_set1_ps(pi[ldp + j]), x, a[1]);                           \
                        a[2] = _mm512_fmadd_ps(_mm512_set1_ps(pi[2 * ldp + j]), x, a[2]);                       \
                        a[3] = _mm512_fmadd_ps(_mm512_set1_ps(pi[3 * ldp + j]), x, a[3]);                       \
                    }                                                                                           \
                } else {                                                                                        \
                    for (int j = 0; j < nk; j++) {                                                              \
                        __m512 x = LD16(v[j], d);                                                               \
                        for (int r = 0; r < m; r++)                                                             \
                            a[r] = _mm512_fmadd_ps(_mm512_set1_ps(pi[(size_t)r * ldp + j]), x, a[r]);           \
                    }                                                                                           \
                }                                                                                               \
                for (int r = 0; r < m; r++)                                                                     \
                    _mm512_storeu_ps(oi + (size_t)r * ldo + d, a[r]);                                           \
            }                                                                                                   \
            for (int d = hd16; d < hd; d++)                                                                     \
                for (int r = 0; r < m; r++)                                                                     \
                    for (int j = 0; j < nk; j++)                                                                \
                        oi[(size_t)r * ldo + d] += pi[(size_t)r * ldp + j] * SC(v[j], d);                       \
        }                                                                                                       \
    }

QK_FLOAT(qk_f32, ld16_f32, ld8_f32, sc_f32)
QK_FLOAT(qk_f16, ld16_f16, ld8_f16, sc_f16)
PV_FLOAT(pv_f32, ld16_f32, sc_f32)
PV_FLOAT(pv_f16, ld16_f16, sc_f16)

static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Two Q8_0 blocks' 32-byte quants side by side in one register. */
static inline __m512i ld2(const struct blk_q8_0 *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
                              _mm256_loadu_si256((const __m256i *)b[1].qs), 1);
}

/* Lanes 0-7: block 0's int32 partial sums, 8-15 block 1's (|k| * sign(q, k), pairs, quads). */
static inline __m512 dot2(__m512i ka, __mmask64 kneg, __m512i qq)
{
    __m512i qs = _mm512_mask_sub_epi8(qq, kneg, _mm512_setzero_si512(), qq);
    return _mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_maddubs_epi16(ka, qs), _mm512_set1_epi16(1)));
}

static inline __m512 scales2(float d0, float d1)
{
    return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
}

/* Q8_0 query rows . Q8_0 key rows, 4 queries x 1 key per step, two blocks per register (an
 * odd last block with 256-bit steps). */
static void qk_q8_0(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s, size_t lds)
{
    const int nb = hd / QK8_0, nb2 = nb & ~1;
    for (int i = 0; i < nq; i += 4) {
        const int m = nq - i < 4 ? nq - i : 4;
        const struct blk_q8_0 *qr[4];
        for (int r = 0; r < m; r++)
            qr[r] = (const void *)((const char *)q + (size_t)(i + r) * qs);
        for (int j = 0; j < nk; j++) {
            const struct blk_q8_0 *kb = k[j];
            __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int b = 0; b < nb2; b += 2) {
                __m512i kq = ld2(kb + b);
                __m512i ka = _mm512_abs_epi8(kq);
                __mmask64 kn = _mm512_movepi8_mask(kq);
                float d0 = h2f(kb[b].d), d1 = h2f(kb[b + 1].d);
                for (int r = 0; r < m; r++)
                    a[r] = _mm512_fmadd_ps(scales2(d0 * h2f(qr[r][b].d), d1 * h2f(qr[r][b + 1].d)),
                                           dot2(ka, kn, ld2(qr[r] + b)), a[r]);
            }
            for (int r = 0; r < m; r++) {
                float t = _mm512_reduce_add_ps(a[r]);
                if (nb2 < nb) { /* odd block count */
                    const struct blk_q8_0 *x = &kb[nb2], *y = &qr[r][nb2];
                    __m256i xa = _mm256_loadu_si256((const __m256i *)x->qs),
                            ya = _mm256_loadu_si256((const __m256i *)y->qs);
                    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(xa, xa), _mm256_sign_epi8(ya, xa));
                    __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
                    t += h2f(x->d) * h2f(y->d) * hsum8(f);
                }
                s[(size_t)(i + r) * lds + j] = t;
            }
        }
    }
}

/* o_i += sum_j (p_ij * d_j) * qs_j: 4 queries x 16 values per pass over the tile. */
static void pv_q8_0(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o, size_t ldo)
{
    for (int i = 0; i < nq; i += 4) {
        const int m = nq - i < 4 ? nq - i : 4;
        const float *pi = p + (size_t)i * ldp;
        float *oi = o + (size_t)i * ldo;
        for (int d = 0; d < hd; d += 16) {
            const int b = d / QK8_0, w = d % QK8_0;
            __m512 a[4];
            for (int r = 0; r < m; r++)
                a[r] = _mm512_loadu_ps(oi + (size_t)r * ldo + d);
            for (int j = 0; j < nk; j++) {
                const struct blk_q8_0 *vb = (const struct blk_q8_0 *)v[j] + b;
                __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(vb->qs + w))));
                float dv = h2f(vb->d);
                for (int r = 0; r < m; r++)
                    a[r] = _mm512_fmadd_ps(_mm512_set1_ps(pi[(size_t)r * ldp + j] * dv), x, a[r]);
            }
            for (int r = 0; r < m; r++)
                _mm512_storeu_ps(oi + (size_t)r * ldo + d, a[r]);
        }
    }
}

static double exp_sum(float *x, int n, float mx)
{
    double sum = 0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = vexp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(mx)));
        _mm512_storeu_ps(x + i, v);
        sum += _mm512_reduce_add_ps(v);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    return sum;
}

const struct kern_attn kern_attn_avx512[3] = {
    [KERN_KV_F32] = {qk_f32, pv_f32, exp_sum, "avx512"},
    [KERN_KV_F16] = {qk_f16, pv_f16, exp_sum, "avx512"},
    [KERN_KV_Q8_0] = {qk_q8_0, pv_q8_0, exp_sum, "avx512"},
};
