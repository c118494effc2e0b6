/* dot_ref.c — portable scalar dot products: weight row (its type) . activation row (its
 * vec_dot_type). The reference every SIMD kernel is tested against. */
#include "llm/kernels/kernels.h"

#include <string.h>

#include "llm/kernels/fp16.h"

/* F32 . F32 (accumulated in double: this is the reference). */
void dot_ref_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * y[i];
    *s = (float)sum;
}

/* F16 . F16 */
void dot_ref_f16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)fp16_to_f32(x[i]) * fp16_to_f32(y[i]);
    *s = (float)sum;
}

/* BF16 . F32 */
void dot_ref_bf16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w;
    const float *y = a;
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)bf16_to_f32(x[i]) * y[i];
    *s = (float)sum;
}

/* Q4_0 . Q8_0: per block d_w * d_a * sum((q - 8) * a). */
void dot_ref_q4_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_0 *x = w;
    const struct blk_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += ((x[i].qs[j] & 0xF) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sum += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * (float)sumi;
    }
    *s = sum;
}

/* Q4_1 . Q8_0: d_w * d_a * sum(q * a) + m * d_a * sum(a). */
void dot_ref_q4_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_1 *x = w;
    const struct blk_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0, suma = 0;
        for (int j = 0; j < 16; j++) {
            sumi += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
            suma += y[i].qs[j] + y[i].qs[j + 16];
        }
        float da = fp16_to_f32(y[i].d);
        sum += fp16_to_f32(x[i].d) * da * (float)sumi + fp16_to_f32(x[i].m) * da * (float)suma;
    }
    *s = sum;
}

void dot_ref_q5_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q5_0 *x = w;
    const struct blk_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = ((x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16;
            int x1 = ((x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[j + 16];
        }
        sum += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * (float)sumi;
    }
    *s = sum;
}

void dot_ref_q5_1(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q5_1 *x = w;
    const struct blk_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        int sumi = 0, suma = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int x1 = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            sumi += x0 * y[i].qs[j] + x1 * y[i].qs[j + 16];
            suma += y[i].qs[j] + y[i].qs[j + 16];
        }
        float da = fp16_to_f32(y[i].d);
        sum += fp16_to_f32(x[i].d) * da * (float)sumi + fp16_to_f32(x[i].m) * da * (float)suma;
    }
    *s = sum;
}

void dot_ref_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q8_0 *x = w, *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sum += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * (float)sumi;
    }
    *s = sum;
}

/* Q4_K . Q8_K: d * sum_j sc_j * sum(q * a) - dmin * sum_j m_j * sum(a in sub-block j). */
void dot_ref_q4_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q4_k *x = w;
    const struct blk_q8_k *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs;
        const int8_t *ya = y[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, q += 32, ya += 64) {
            uint8_t sc1, m1, sc2, m2;
            kern_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            kern_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0xF) * ya[l];
                s2 += (q[l] >> 4) * ya[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
                    m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        sum += fp16_to_f32(x[i].d) * y[i].d * (float)sumi - fp16_to_f32(x[i].dmin) * y[i].d * (float)summ;
    }
    *s = sum;
}

void dot_ref_q5_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q5_k *x = w;
    const struct blk_q8_k *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        const int8_t *ya = y[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++, q += 32, ya += 64) {
            uint8_t sc1, m1, sc2, m2;
            kern_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            kern_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += ((q[l] & 0xF) + (((qh[l] >> (2 * j)) & 1) << 4)) * ya[l];
                s2 += ((q[l] >> 4) + (((qh[l] >> (2 * j + 1)) & 1) << 4)) * ya[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) +
                    m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
        }
        sum += fp16_to_f32(x[i].d) * y[i].d * (float)sumi - fp16_to_f32(x[i].dmin) * y[i].d * (float)summ;
    }
    *s = sum;
}

/* Q6_K . Q8_K: d * sum over 16 sub-blocks of sc * sum((q - 32) * a). */
void dot_ref_q6_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q6_k *x = w;
    const struct blk_q8_k *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        for (int c = 0; c < 2; c++, ql += 64, qh += 32) {
            int8_t *o = q + 128 * c;
            for (int l = 0; l < 32; l++) {
                o[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int si = 0;
            for (int l = 0; l < 16; l++)
                si += q[16 * j + l] * y[i].qs[16 * j + l];
            sumi += x[i].scales[j] * si;
        }
        sum += fp16_to_f32(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}
