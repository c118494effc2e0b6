/* attn_avx2.c — AVX2/FMA/F16C attention tile kernels (contracts in attn.h). q.K keeps four
 * queries' accumulators in registers so that each key chunk is loaded (and converted) once
 * for four queries; p.V keeps four queries' output chunks in registers across the whole tile
 * of values, each value chunk loaded once for four queries. */
#include <immintrin.h>
#include <math.h>

#include "base/x86/vexp_avx2.h"
#include "llm/kernels/attn.h"
#include "llm/kernels/fp16.h"

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256 ld_f32(const void *r, int d)
{
    return _mm256_loadu_ps((const float *)r + d);
}

static inline __m256 ld_f16(const void *r, int d)
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

/* q (float rows) . k rows of a float-convertible type: 4 queries x 1 key per step. */
#define QK_FLOAT(NAME, LD, SC)                                                                                  \
    static void NAME(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s,          \
                     size_t lds)                                                                                \
    {                                                                                                           \
        const int hd8 = hd & ~7;                                                                                \
        int i = 0;                                                                                              \
        for (; i + 4 <= nq; i += 4) {                                                                           \
            const float *q0 = (const float *)((const char *)q + (size_t)i * qs);                                \
            const float *q1 = (const float *)((const char *)q0 + qs), *q2 = (const float *)((const char *)q1 + qs); \
            const float *q3 = (const float *)((const char *)q2 + qs);                                           \
            for (int j = 0; j < nk; j++) {                                                                      \
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                     \
                for (int d = 0; d < hd8; d += 8) {                                                              \
                    __m256 kv = LD(k[j], d);                                                                    \
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + d), kv, a0);                                      \
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q1 + d), kv, a1);                                      \
                    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(q2 + d), kv, a2);                                      \
                    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(q3 + d), kv, a3);                                      \
                }                                                                                               \
                float t0 = hsum8(a0), t1 = hsum8(a1), t2 = hsum8(a2), t3 = hsum8(a3);                           \
                for (int d = hd8; d < hd; d++) {                                                                \
                    float kd = SC(k[j], d);                                                                     \
                    t0 += q0[d] * kd, t1 += q1[d] * kd, t2 += q2[d] * kd, t3 += q3[d] * kd;                     \
                }                                                                                               \
                s[(size_t)i * lds + j] = t0, s[(size_t)(i + 1) * lds + j] = t1;                                 \
                s[(size_t)(i + 2) * lds + j] = t2, s[(size_t)(i + 3) * lds + j] = t3;                           \
            }                                                                                                   \
        }                                                                                                       \
        for (; i < nq; i++) {                                                                                   \
            const float *q0 = (const float *)((const char *)q + (size_t)i * qs);                                \
            for (int j = 0; j < nk; j++) {                                                                      \
                __m256 a0 = _mm256_setzero_ps();                                                                \
                for (int d = 0; d < hd8; d += 8)                                                                \
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q0 + d), LD(k[j], d), a0);                             \
                float t0 = hsum8(a0);                                                                           \
                for (int d = hd8; d < hd; d++)                                                                  \
                    t0 += q0[d] * SC(k[j], d);                                                                  \
                s[(size_t)i * lds + j] = t0;                                                                    \
            }                                                                                                   \
        }                                                                                                       \
    }

/* o_i += sum_j p_ij v_j for up to 4 queries per pass, 8 output values per register. */
#define PV_FLOAT(NAME, LD, SC)                                                                                  \
    static void NAME(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o,        \
                     size_t ldo)                                                                                \
    {                                                                                                           \
        const int hd8 = hd & ~7;                                                                                \
        for (int i = 0; i < nq; i += 4) {                                                                       \
            const int m = nq - i < 4 ? nq - i : 4;                                                              \
            const float *pi = p + (size_t)i * ldp;                                                              \
            float *oi = o + (size_t)i * ldo;                                                                    \
            for (int d = 0; d < hd8; d += 8) {                                                                  \
                __m256 a[4];                                                                                    \
                for (int r = 0; r < m; r++)                                                                     \
                    a[r] = _mm256_loadu_ps(oi + (size_t)r * ldo + d);                                           \
                if (m == 4) {                                                                                   \
                    for (int j = 0; j < nk; j++) {                                                              \
                        __m256 x = LD(v[j], d);                                                                 \
                        a[0] = _mm256_fmadd_ps(_mm256_set1_ps(pi[j]), x, a[0]);                                 \
                        a[1] = _mm256_fmadd_ps(_mm256_set1_ps(pi[ldp + j]), x, a[1]);                           \
                        a[2] = _mm256_fmadd_ps(_mm256_set1_ps(pi[2 * ldp + j]), x, a[2]);                       \
                        a[3] = _mm256_fmadd_ps(_mm256_set1_ps(pi[3 * ldp + j]), x, a[3]);                       \
                    }                                                                                           \
                } else {                                                                                        \
                    for (int j = 0; j < nk; j++) {                                                              \
                        __m256 x = LD(v[j], d);                                                                 \
                        for (int r = 0; r < m; r++)                                                             \
                            a[r] = _mm256_fmadd_ps(_mm256_set1_ps(pi[(size_t)r * ldp + j]), x, a[r]);           \
                    }                                                                                           \
                }                                                                                               \
                for (int r = 0; r < m; r++)                                                                     \
                    _mm256_storeu_ps(oi + (size_t)r * ldo + d, a[r]);                                           \
            }                                                                                                   \
            for (int d = hd8; d < hd; d++)                                                                      \
                for (int r = 0; r < m; r++)                                                                     \
                    for (int j = 0; j < nk; j++)                                                                \
                        oi[(size_t)r * ldo + d] += pi[(size_t)r * ldp + j] * SC(v[j], d);                       \
        }                                                                                                       \
    }

QK_FLOAT(qk_f32, ld_f32, sc_f32)
QK_FLOAT(qk_f16, ld_f16, sc_f16)
PV_FLOAT(pv_f32, ld_f32, sc_f32)
PV_FLOAT(pv_f16, ld_f16, sc_f16)

/* 8 int32 partial sums of one Q8_0 block pair: |x| * sign(y, x), pairs, then quads. */
static inline __m256 blk_dot(const struct blk_q8_0 *x, const struct blk_q8_0 *y)
{
    __m256i a = _mm256_loadu_si256((const __m256i *)x->qs), b = _mm256_loadu_si256((const __m256i *)y->qs);
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Q8_0 query rows . Q8_0 key rows: 4 queries x 1 key per step, blocks of 32. */
static void qk_q8_0(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s, size_t lds)
{
    const int nb = hd / QK8_0;
    int i = 0;
    for (; i + 4 <= nq; i += 4) {
        const struct blk_q8_0 *q0 = (const void *)((const char *)q + (size_t)i * qs);
        const struct blk_q8_0 *q1 = (const void *)((const char *)q0 + qs), *q2 = (const void *)((const char *)q1 + qs);
        const struct blk_q8_0 *q3 = (const void *)((const char *)q2 + qs);
        for (int j = 0; j < nk; j++) {
            const struct blk_q8_0 *kb = k[j];
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int b = 0; b < nb; b++) {
                __m256i kq = _mm256_loadu_si256((const __m256i *)kb[b].qs);
                __m256i ka = _mm256_sign_epi8(kq, kq), one = _mm256_set1_epi16(1);
                float dk = h2f(kb[b].d);
#define Q8STEP(A, Q)                                                                                            \
    A = _mm256_fmadd_ps(                                                                                        \
        _mm256_set1_ps(dk * h2f(Q[b].d)),                                                                       \
        _mm256_cvtepi32_ps(_mm256_madd_epi16(                                                                   \
            _mm256_maddubs_epi16(ka, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)Q[b].qs), kq)), one)), \
        A)
                Q8STEP(a0, q0);
                Q8STEP(a1, q1);
                Q8STEP(a2, q2);
                Q8STEP(a3, q3);
#undef Q8STEP
            }
            s[(size_t)i * lds + j] = hsum8(a0), s[(size_t)(i + 1) * lds + j] = hsum8(a1);
            s[(size_t)(i + 2) * lds + j] = hsum8(a2), s[(size_t)(i + 3) * lds + j] = hsum8(a3);
        }
    }
    for (; i < nq; i++) {
        const struct blk_q8_0 *q0 = (const void *)((const char *)q + (size_t)i * qs);
        for (int j = 0; j < nk; j++) {
            const struct blk_q8_0 *kb = k[j];
            __m256 a0 = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++)
                a0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(kb[b].d) * h2f(q0[b].d)), blk_dot(&kb[b], &q0[b]), a0);
            s[(size_t)i * lds + j] = hsum8(a0);
        }
    }
}

/* o_i += sum_j (p_ij * d_j) * qs_j: 4 queries x 8 values per pass over the tile. */
static void pv_q8_0(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o, size_t ldo)
{
    for (int i = 0; i < nq; i += 4) {
        const int m = nq - i < 4 ? nq - i : 4;
        const float *pi = p + (size_t)i * ldp;
        float *oi = o + (size_t)i * ldo;
        for (int d = 0; d < hd; d += 8) {
            const int b = d / QK8_0, w = d % QK8_0;
            __m256 a[4];
            for (int r = 0; r < m; r++)
                a[r] = _mm256_loadu_ps(oi + (size_t)r * ldo + d);
            for (int j = 0; j < nk; j++) {
                const struct blk_q8_0 *vb = (const struct blk_q8_0 *)v[j] + b;
                __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(vb->qs + w))));
                float dv = h2f(vb->d);
                for (int r = 0; r < m; r++)
                    a[r] = _mm256_fmadd_ps(_mm256_set1_ps(pi[(size_t)r * ldp + j] * dv), x, a[r]);
            }
            for (int r = 0; r < m; r++)
                _mm256_storeu_ps(oi + (size_t)r * ldo + d, a[r]);
        }
    }
}

static double exp_sum(float *x, int n, float mx)
{
    double sum = 0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = vexp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(mx)));
        _mm256_storeu_ps(x + i, v);
        sum += hsum8(v);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    return sum;
}

const struct kern_attn kern_attn_avx2[3] = {
    [KERN_KV_F32] = {qk_f32, pv_f32, exp_sum, "avx2"},
    [KERN_KV_F16] = {qk_f16, pv_f16, exp_sum, "avx2"},
    [KERN_KV_Q8_0] = {qk_q8_0, pv_q8_0, exp_sum, "avx2"},
};
