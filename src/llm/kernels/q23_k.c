/* q23_k.c — Q2_K and Q3_K, the 2- and 3-bit K-quants: scalar dequantize and dot product with
 * Q8_K activations (quantizers in quantize_k.c).
 *
 *   Q2_K {u8 scales[16]; u8 qs[64]; f16 d, dmin}             84 B / 256 elements
 *        sub-block j (16 elements): value = d*(scales[j] & 15)*q - dmin*(scales[j] >> 4)
 *   Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}     110 B / 256 elements
 *        sub-block j: value = d*(sc_j - 32)*(q - 4*(hmask bit clear)), sc_j 6 bits
 *   In both, element 128c + 32s + l (c half, s shift step, l < 32) is 2 bits at shift 2s of
 *   qs[32c + l]; Q3_K's high bit for element e is bit (e / 32) of hmask[e % 32]. */
#include "llm/kernels/kernels.h"

#include <string.h>

#include "llm/kernels/fp16.h"

/* The 16 6-bit Q3_K sub-block scales, minus 32. */
static void q3k_scales(const uint8_t *s, int *out)
{
    for (int j = 0; j < 16; j++)
        out[j] = kern_scale_q3_k(j, s);
}

/* Q2_K levels 0..3 of one super-block, in element order. */
static void q2k_levels(const uint8_t *qs, uint8_t *q)
{
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++)
                q[128 * c + 32 * s + l] = (qs[32 * c + l] >> (2 * s)) & 3;
}

/* Q3_K levels -4..3 of one super-block, in element order. */
static void q3k_levels(const struct blk_q3_k *b, int8_t *q)
{
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                int e = 128 * c + 32 * s + l;
                int hbit = (b->hmask[e % 32] >> (e / 32)) & 1;
                q[e] = (int8_t)(((b->qs[32 * c + l] >> (2 * s)) & 3) - (hbit ? 0 : 4));
            }
}

void dequant_row_q2_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q2_k *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        q2k_levels(b[i].qs, q);
        for (int j = 0; j < 16; j++) {
            float dl = d * (b[i].scales[j] & 0xF), ml = dmin * (b[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                *dst++ = dl * q[16 * j + l] - ml;
        }
    }
}

void dequant_row_q3_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q3_k *b = src;
    int8_t q[QK_K];
    int sc[16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d);
        q3k_scales(b[i].scales, sc);
        q3k_levels(&b[i], q);
        for (int j = 0; j < 16; j++) {
            float dl = d * sc[j];
            for (int l = 0; l < 16; l++)
                *dst++ = dl * q[16 * j + l];
        }
    }
}

/* Q2_K . Q8_K: d*da * sum_j sc_j * sum(q*a) - dmin*da * sum_j m_j * bsum_j. */
void dot_ref_q2_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q2_k *x = w;
    const struct blk_q8_k *y = a;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q2k_levels(x[i].qs, q);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int si = 0;
            for (int l = 0; l < 16; l++)
                si += q[16 * j + l] * y[i].qs[16 * j + l];
            sumi += (x[i].scales[j] & 0xF) * si;
            summ += (x[i].scales[j] >> 4) * y[i].bsums[j];
        }
        sum += y[i].d * fp16_to_f32(x[i].d) * (float)sumi - y[i].d * fp16_to_f32(x[i].dmin) * (float)summ;
    }
    *s = sum;
}

/* Q3_K . Q8_K: d*da * sum_j (sc_j - 32) * sum(q*a). */
void dot_ref_q3_k(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_q3_k *x = w;
    const struct blk_q8_k *y = a;
    int8_t q[QK_K];
    int sc[16];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q3k_scales(x[i].scales, sc);
        q3k_levels(&x[i], q);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int si = 0;
            for (int l = 0; l < 16; l++)
                si += q[16 * j + l] * y[i].qs[16 * j + l];
            sumi += sc[j] * si;
        }
        sum += fp16_to_f32(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}
