/* iq4.c — IQ4_NL and IQ4_XS, ggml's 4-bit non-linear types: each 4-bit index selects one of
 * 16 fixed int8 levels (kern_iq4nl_values, denser near zero than Q4_0's uniform grid),
 * times a block scale. Scalar dequantize, dot product and quantize (the reference that the
 * AVX2 kernels in x86/dot_avx2_iq4.c are tested against).
 *
 *   IQ4_NL  {f16 d; u8 qs[16]}                                  18 B / 32 elements
 *   IQ4_XS  {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}  136 B / 256 elements
 *           8 sub-blocks of 32, each with a 6-bit scale ls (4 low bits: nibble of
 *           scales_l[ib/2]; 2 high bits: bits 2ib..2ib+1 of scales_h); value = d*(ls-32)*level
 *   In both, byte j of a 32-element group holds element j (low nibble) and j+16 (high).
 *
 * The quantizer is ggml's quantize_iq4_nl / quantize_iq4_xs without an importance matrix
 * (what llama-quantize writes): per 32 elements the x^2-weighted least-squares scale over 15
 * candidate grids, and for IQ4_XS the sub-block scales rounded to 6 bits against one f16 d. */
#include "llm/kernels/kernels.h"

#include <math.h>
#include <string.h>

#include "llm/kernels/fp16.h"

/* Byte equality with ggml needs every a*b+c rounded twice, never fused (gcc: off in C17). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

const int8_t kern_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* IQ4_XS sub-block ib's scale, -32..31. */
static inline int iq4xs_scale(const struct blk_iq4_xs *b, int ib)
{
    int lo = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    int hi = (b->scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

void dequant_row_iq4_nl(const void *src, float *dst, int64_t n)
{
    const struct blk_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, dst += QK4_NL) {
        float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * kern_iq4nl_values[b[i].qs[j] & 0xF];
            dst[j + 16] = d * kern_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

void dequant_row_iq4_xs(const void *src, float *dst, int64_t n)
{
    const struct blk_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = fp16_to_f32(b[i].d);
        const uint8_t *qs = b[i].qs;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, dst += 32) {
            float dl = d * (float)iq4xs_scale(&b[i], ib);
            for (int j = 0; j < 16; j++) {
                dst[j] = dl * kern_iq4nl_values[qs[j] & 0xF];
                dst[j + 16] = dl * kern_iq4nl_values[qs[j] >> 4];
            }
        }
    }
}

/* IQ4_NL (n,) . Q8_0 (n,): sum over blocks of d_w * d_a * sum(level * a). */
void dot_ref_iq4_nl(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_iq4_nl *x = w;
    const struct blk_q8_0 *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += y[i].qs[j] * kern_iq4nl_values[x[i].qs[j] & 0xF] +
                    y[i].qs[j + 16] * kern_iq4nl_values[x[i].qs[j] >> 4];
        sum += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * (float)sumi;
    }
    *s = sum;
}

/* IQ4_XS (n,) . Q8_K (n,): d_w * d_a * sum over sub-blocks of ls * sum(level * a). */
void dot_ref_iq4_xs(int64_t n, float *s, const void *w, const void *a)
{
    const struct blk_iq4_xs *x = w;
    const struct blk_q8_k *y = a;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *qs = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int sumi = 0;
        for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, q8 += 32) {
            int si = 0;
            for (int j = 0; j < 16; j++)
                si += q8[j] * kern_iq4nl_values[qs[j] & 0xF] + q8[j + 16] * kern_iq4nl_values[qs[j] >> 4];
            sumi += iq4xs_scale(&x[i], ib) * si;
        }
        sum += fp16_to_f32(x[i].d) * y[i].d * (float)sumi;
    }
    *s = sum;
}

/* Index of the level nearest to x (the lower one on a tie), by bisection. */
static int best_index(float x)
{
    const int8_t *val = kern_iq4nl_values;
    if (x <= val[0])
        return 0;
    if (x >= val[15])
        return 15;
    int ml = 0, mu = 15;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

#define IQ4_NTRY 7

/* One super-block of sb elements in groups of 32 (sb == 32: IQ4_NL, 256: IQ4_XS).
 * OUT: *dh, q4 (sb/2 bytes), and for IQ4_XS *scales_h, scales_l. */
static void iq4_quantize_block(int sb, const float *x, uint16_t *dh, uint8_t *q4, uint16_t *scales_h,
                               uint8_t *scales_l)
{
    const int8_t *values = kern_iq4nl_values;
    float scales[QK_K / 32], weight[32];
    uint8_t L[QK_K];
    memset(q4, 0, (size_t)sb / 2);
    memset(L, 0, sizeof L);
    *dh = fp16_from_f32(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < sb / 32; ++ib) {
        const float *xb = x + ib * 32;
        uint8_t *Lb = L + ib * 32;
        for (int j = 0; j < 32; ++j)
            weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < 1e-15f) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            float al = id * xb[j];
            int l = best_index(al);
            Lb[j] = (uint8_t)l;
            float q = values[l];
            float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumqx / sumq2;
        float best = d * sumqx;
        for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; ++j) {
                float al = id * xb[j];
                int l = best_index(al);
                float q = values[l];
                float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }
    if (sb / 32 > 1) {
        *scales_h = 0;
        float d = -max_scale / 32;
        *dh = fp16_from_f32(d);
        float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < sb / 32; ++ib) {
            int l = kern_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            float dl = d * l;
            float idl = dl ? 1 / dl : 0.f;
            uint8_t *Lb = L + ib * 32;
            const float *xb = x + ib * 32;
            for (int j = 0; j < 32; ++j)
                Lb[j] = (uint8_t)best_index(idl * xb[j]);
            l += 32;
            uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0)
                scales_l[ib / 2] = l_l;
            else
                scales_l[ib / 2] |= (uint8_t)(l_l << 4);
            *scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
        }
    } else {
        *dh = fp16_from_f32(scales[0]);
        float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < sb; ++j)
            L[j] = (uint8_t)best_index(id * x[j]);
    }
    for (int i = 0; i < sb / 32; ++i)
        for (int j = 0; j < 16; ++j)
            q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void quant_row_iq4_nl(const float *src, void *dst, int64_t n)
{
    struct blk_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / QK4_NL; i++)
        iq4_quantize_block(QK4_NL, src + QK4_NL * i, &b[i].d, b[i].qs, NULL, NULL);
}

void quant_row_iq4_xs(const float *src, void *dst, int64_t n)
{
    struct blk_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++)
        iq4_quantize_block(QK_K, src + QK_K * i, &b[i].d, b[i].qs, &b[i].scales_h, b[i].scales_l);
}
