/* quantize.c — scalar f32 -> ggml type row quantizers (activations and model writing). */
#include "llm/kernels/kernels.h"

#include <math.h>
#include <string.h>

#include "llm/kernels/fp16.h"

/* The element of largest magnitude, with its sign (the first one on ties); 0 for all zeros. */
static float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* OUT: *mn, *mx = the smallest and largest of x[0..n), n >= 1. */
static void min_max(const float *x, int n, float *mn, float *mx)
{
    *mn = *mx = x[0];
    for (int j = 1; j < n; j++) {
        *mn = fminf(*mn, x[j]);
        *mx = fmaxf(*mx, x[j]);
    }
}

void quant_row_f32(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void quant_row_f16(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = fp16_from_f32(src[i]);
}

void quant_row_bf16(const float *src, void *dst, int64_t n)
{
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = bf16_from_f32(src[i]);
}

/* Q8_0: d = max|x| / 127, q = round(x / d). */
void quant_row_q8_0(const float *src, void *dst, int64_t n)
{
    struct blk_q8_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(src[j]));
        float d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = fp16_from_f32(d);
        for (int j = 0; j < 32; j++)
            b[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

/* Q4_0: the value of largest magnitude maps to -8; d = max / -8, q = clamp(x/d + 8.5). */
void quant_row_q4_0(const float *src, void *dst, int64_t n)
{
    struct blk_q4_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float max = signed_absmax(src, 32);
        float d = max / -8.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = fp16_from_f32(d);
        for (int j = 0; j < 16; j++) {
            int x0 = (int)(src[j] * id + 8.5f), x1 = (int)(src[j + 16] * id + 8.5f);
            x0 = x0 > 15 ? 15 : x0;
            x1 = x1 > 15 ? 15 : x1;
            b[i].qs[j] = (uint8_t)(x0 | (x1 << 4));
        }
    }
}

/* Q4_1: m = min, d = (max - min) / 15, q = round((x - m) / d). */
void quant_row_q4_1(const float *src, void *dst, int64_t n)
{
    struct blk_q4_1 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        float d = (mx - mn) / 15.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = fp16_from_f32(d);
        b[i].m = fp16_from_f32(mn);
        for (int j = 0; j < 16; j++) {
            int x0 = (int)((src[j] - mn) * id + 0.5f), x1 = (int)((src[j + 16] - mn) * id + 0.5f);
            x0 = x0 > 15 ? 15 : x0;
            x1 = x1 > 15 ? 15 : x1;
            b[i].qs[j] = (uint8_t)(x0 | (x1 << 4));
        }
    }
}

/* Q5_0: like Q4_0 with 5 bits, d = max / -16. */
void quant_row_q5_0(const float *src, void *dst, int64_t n)
{
    struct blk_q5_0 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float max = signed_absmax(src, 32);
        float d = max / -16.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = fp16_from_f32(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = (int)(src[j] * id + 16.5f), x1 = (int)(src[j + 16] * id + 16.5f);
            x0 = x0 > 31 ? 31 : x0;
            x1 = x1 > 31 ? 31 : x1;
            b[i].qs[j] = (uint8_t)((x0 & 0xF) | ((x1 & 0xF) << 4));
            qh |= (uint32_t)((x0 >> 4) & 1) << j;
            qh |= (uint32_t)((x1 >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

void quant_row_q5_1(const float *src, void *dst, int64_t n)
{
    struct blk_q5_1 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float mn, mx;
        min_max(src, 32, &mn, &mx);
        float d = (mx - mn) / 31.f, id = d != 0.f ? 1.f / d : 0.f;
        b[i].d = fp16_from_f32(d);
        b[i].m = fp16_from_f32(mn);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int x0 = (int)((src[j] - mn) * id + 0.5f), x1 = (int)((src[j + 16] - mn) * id + 0.5f);
            x0 = x0 > 31 ? 31 : x0;
            x1 = x1 > 31 ? 31 : x1;
            b[i].qs[j] = (uint8_t)((x0 & 0xF) | ((x1 & 0xF) << 4));
            qh |= (uint32_t)((x0 >> 4) & 1) << j;
            qh |= (uint32_t)((x1 >> 4) & 1) << (j + 16);
        }
        memcpy(b[i].qh, &qh, 4);
    }
}

/* Q8_K (activations for K-quants): f32 d, q = round(-127/max * x) capped at 127, plus sums
 * of every 16 quants (bsums) that the K-quant dot products use for the min terms. */
void quant_row_q8_k(const float *src, void *dst, int64_t n)
{
    struct blk_q8_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float max = signed_absmax(src, QK_K), amax = fabsf(max);
        if (amax == 0.f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)lrintf(iscale * src[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[j * 16 + l];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1.f / iscale;
    }
}
