/* dequant.c — scalar dequantization of one row of each ggml type to f32 (the reference). */
#include "llm/kernels/kernels.h"

#include <string.h>

#include "llm/kernels/fp16.h"

void dequant_row_f32(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void dequant_row_f16(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = fp16_to_f32(h[i]);
}

void dequant_row_bf16(const void *src, float *dst, int64_t n)
{
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_to_f32(h[i]);
}

/* Q4_0: x[j] = d * (lo(qs[j]) - 8), x[j+16] = d * (hi(qs[j]) - 8). */
void dequant_row_q4_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * ((b[i].qs[j] & 0xF) - 8);
            dst[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}

/* Q4_1: x = d * q + m with q in 0..15. */
void dequant_row_q4_1(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_1 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (b[i].qs[j] & 0xF) + m;
            dst[j + 16] = d * (b[i].qs[j] >> 4) + m;
        }
    }
}

/* Q5_0: element k takes bit k of qh as its 5th bit; x = d * (q - 16). */
void dequant_row_q5_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int x0 = (b[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int x1 = (b[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * (x0 - 16);
            dst[j + 16] = d * (x1 - 16);
        }
    }
}

void dequant_row_q5_1(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_1 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        uint32_t qh;
        memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            int x0 = (b[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int x1 = (b[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            dst[j] = d * x0 + m;
            dst[j + 16] = d * x1 + m;
        }
    }
}

void dequant_row_q8_0(const void *src, float *dst, int64_t n)
{
    const struct blk_q8_0 *b = src;
    for (int64_t i = 0; i < n / 32; i++, dst += 32) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++)
            dst[j] = d * b[i].qs[j];
    }
}

/* Q4_K: 8 sub-blocks of 32 with 6-bit scale/min; 64 elements per 32 qs bytes (lo, then hi). */
void dequant_row_q4_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q4_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 4; j++, q += 32) {
            uint8_t sc, m;
            kern_scale_min_k4(2 * j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kern_scale_min_k4(2 * j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* Q5_K: as Q4_K with a 5th bit from qh (bit 2j for the low half, 2j+1 for the high half). */
void dequant_row_q5_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q5_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs, *qh = b[i].qh;
        for (int j = 0; j < 4; j++, q += 32) {
            uint8_t sc, m;
            kern_scale_min_k4(2 * j, b[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kern_scale_min_k4(2 * j + 1, b[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * ((q[l] & 0xF) + (((qh[l] >> (2 * j)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * ((q[l] >> 4) + (((qh[l] >> (2 * j + 1)) & 1) << 4)) - m2;
        }
    }
}

/* Q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit q = 4 bits of ql + 2 bits of qh, minus 32. */
void dequant_row_q6_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q6_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int c = 0; c < 2; c++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * sc[is + 0] * q1;
                dst[l + 32] = d * sc[is + 2] * q2;
                dst[l + 64] = d * sc[is + 4] * q3;
                dst[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void dequant_row_q8_k(const void *src, float *dst, int64_t n)
{
    const struct blk_q8_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++)
            dst[j] = b[i].d * b[i].qs[j];
}
