/* quantize_k.c — f32 -> K-quant row quantizers (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), the ones
 * `inferd pack --quantize` writes weights with.
 *
 * They produce the same bytes as ggml's reference quantizers (quantize_row_q*_K_ref, which
 * llama-quantize runs when no importance matrix is given): the same search for the scale of
 * each 16- or 32-element sub-block, the same 6-bit (4-bit for Q2_K) packing of the sub-block
 * scales against one f16 super-block scale, the same round-half-to-even of every division.
 * Byte equality depends on the float operations happening in this order and unfused, which
 * C17 without -ffp-contract=fast (and this file compiled without FMA) guarantees;
 * tests/unit/llm/test_quantize.c checks it against bytes llama.cpp produced.
 *
 * Sub-block layout per 256-element super-block (see kernels.h for the structs):
 *   Q2_K  16 x 16 elements, q in 0..3,   scale 4 bits + min 4 bits per sub-block
 *   Q3_K  16 x 16 elements, q in -4..3,  signed 6-bit scale per sub-block
 *   Q4_K   8 x 32 elements, q in 0..15,  6-bit scale + 6-bit min per sub-block
 *   Q5_K   8 x 32 elements, q in 0..31,  6-bit scale + 6-bit min per sub-block
 *   Q6_K  16 x 16 elements, q in -32..31, int8 scale per sub-block */
#include "llm/kernels/kernels.h"

#include <math.h>
#include <string.h>

#include "llm/kernels/fp16.h"

/* Byte equality with ggml needs every a*b+c rounded twice, never fused (gcc: off in C17). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define KQ_EPS 1e-15f /* a group whose largest |x| is below this is all zeros (GROUP_MAX_EPS) */

static inline int imin(int a, int b)
{
    return a < b ? a : b;
}

static inline int imax(int a, int b)
{
    return a > b ? a : b;
}

/* Round to nearest, ties to even, for |f| <= 2^22: adding 1.5 * 2^23 leaves the integer in
 * the low mantissa bits (ggml's nearest_int; the same result as lrintf in that range). */
int kern_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Symmetric quantization of x (n,) to L in [0, 2*nmax) (stored with +nmax), searching 19
 * scales around -nmax/max for the one that minimises sum x^2 (x - scale*l)^2 (rmse_type 1,
 * the only weighting Q6_K uses). Returns the scale. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < KQ_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = kern_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = kern_nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = kern_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric search: start from -nmax/max, then up to 5 passes that move single
 * elements to the level that most improves the x^2-weighted fit. L in [0, 2*nmax). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < KQ_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = kern_nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = kern_nearest_int(x[i] * sl2 / slx);
                new_l = imax(-nmax, imin(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; ++i)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* Asymmetric quantization x ~ scale * L - min with L in [0, nmax]: tries nstep + 1 scales
 * (rmin + rdelta * k + nmax) / (max - min) and keeps the weighted least-squares fit with the
 * smallest weighted error (|diff| when use_mad, else diff^2). OUT: L, *the_min (>= 0).
 * Returns the scale. Laux is scratch of n bytes. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_mad = 0;
    for (int i = 0; i < n; ++i) {
        int l = kern_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_mad += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = kern_nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float mad = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                mad += weights[i] * diff;
            }
            if (mad < best_mad) {
                memcpy(L, Laux, (size_t)n);
                best_mad = mad;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Q2_K: 16 sub-blocks of 16, each x ~ d*sc*q - dmin*m with q in 0..3; sc and m are 4-bit
 * against the super-block's f16 d and dmin. */
void quant_row_q2_k(const float *x, void *dst, int64_t n)
{
    struct blk_q2_k *y = dst;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] = (uint8_t)kern_nearest_int(iscale * scales[j]);
            y[i].d = fp16_from_f32(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = fp16_from_f32(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j)
                y[i].scales[j] |= (uint8_t)(kern_nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = fp16_from_f32(max_min / q4scale);
        } else {
            y[i].dmin = fp16_from_f32(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = fp16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d)
                continue;
            const float dm = fp16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = kern_nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)imax(0, imin(3, l));
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

/* Q3_K: 16 sub-blocks of 16 with a signed 6-bit scale each (4 low bits in scales[0..7]'s
 * nibbles, 2 high bits in scales[8..11]); q in -4..3 as 2 bits in qs + 1 bit in hmask. */
void quant_row_q3_k(const float *x, void *dst, int64_t n)
{
    struct blk_q3_k *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = (int8_t)kern_nearest_int(iscale * scales[j]);
                l = (int8_t)(imax(-32, imin(31, l)) + 32);
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = fp16_from_f32(1 / iscale);
        } else {
            y[i].d = fp16_from_f32(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            int sc = j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4;
            sc = (sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            float d = fp16_to_f32(y[i].d) * sc;
            if (!d)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = kern_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-4, imin(3, l)) + 4);
            }
        }
        /* the high bit of quant j goes to bit (j / 32) of hmask[j % 32] */
        memset(y[i].hmask, 0, QK_K / 8);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < QK_K; ++j) {
            if (L[j] > 3) {
                y[i].hmask[m] |= hm;
                L[j] = (int8_t)(L[j] - 4);
            }
            if (++m == QK_K / 8) {
                m = 0;
                hm = (uint8_t)(hm << 1);
            }
        }
        for (int j = 0; j < QK_K; j += 128)
            for (int l = 0; l < 32; ++l)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

/* The 8 sub-block (scale, min) pairs of Q4_K/Q5_K as 6-bit values against d = max_scale/63
 * and dmin = max_min/63, packed as kern_scale_min_k4 reads them. */
static void pack_scales_k4(const float *scales, const float *mins, float max_scale, float max_min, uint8_t *out,
                           uint16_t *d, uint16_t *dmin)
{
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = (uint8_t)kern_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)kern_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            out[j] = ls;
            out[j + 4] = lm;
        } else {
            out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            out[j - 4] |= (uint8_t)((ls >> 4) << 6);
            out[j - 0] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d = fp16_from_f32(max_scale / 63.f);
    *dmin = fp16_from_f32(max_min / 63.f);
}

/* Sub-block search shared by Q4_K (nmax 15) and Q5_K (nmax 31): weights av_x + |x|. */
static void k4_sub_blocks(const float *x, int nmax, float rmin, int nstep, uint8_t *L, float *scales, float *mins,
                          float *max_scale, float *max_min)
{
    uint8_t Laux[32];
    float weights[32];
    *max_scale = *max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > *max_scale)
            *max_scale = scales[j];
        if (mins[j] > *max_min)
            *max_min = mins[j];
    }
}

/* The final levels of Q4_K/Q5_K against the stored (rounded) scales and mins. */
static void k4_levels(const float *x, const uint8_t *packed, uint16_t d16, uint16_t dmin16, int nmax, uint8_t *L)
{
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        kern_scale_min_k4(j, packed, &sc, &m);
        const float d = fp16_to_f32(d16) * sc;
        if (!d)
            continue;
        const float dm = fp16_to_f32(dmin16) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = kern_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)imax(0, imin(nmax, l));
        }
    }
}

void quant_row_q4_k(const float *x, void *dst, int64_t n)
{
    struct blk_q4_k *y = dst;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k4_sub_blocks(x, 15, -1.f, 20, L, scales, mins, &max_scale, &max_min);
        memset(y[i].scales, 0, sizeof y[i].scales);
        pack_scales_k4(scales, mins, max_scale, max_min, y[i].scales, &y[i].d, &y[i].dmin);
        k4_levels(x, y[i].scales, y[i].d, y[i].dmin, 15, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; ++l)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void quant_row_q5_k(const float *x, void *dst, int64_t n)
{
    struct blk_q5_k *y = dst;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        k4_sub_blocks(x, 31, -0.5f, 15, L, scales, mins, &max_scale, &max_min);
        memset(y[i].scales, 0, sizeof y[i].scales);
        pack_scales_k4(scales, mins, max_scale, max_min, y[i].scales, &y[i].d, &y[i].dmin);
        k4_levels(x, y[i].scales, y[i].d, y[i].dmin, 31, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int nn = 0; nn < QK_K; nn += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[nn + j], l2 = L[nn + j + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 = (uint8_t)(m1 << 2);
            m2 = (uint8_t)(m2 << 2);
        }
    }
}

void quant_row_q6_k(const float *x, void *dst, int64_t n)
{
    struct blk_q6_k *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            float abs_scale = fabsf(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < KQ_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = fp16_from_f32(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib)
            y[i].scales[ib] = (int8_t)imin(127, kern_nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = fp16_to_f32(y[i].d) * y[i].scales[j];
            if (!d)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = kern_nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(imax(-32, imin(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}
