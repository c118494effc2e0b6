/* fp16.h — portable IEEE half and bfloat16 <-> float conversions (inline, no tables).
 *
 * The x86 kernels use F16C instructions instead; these are the reference the tests compare
 * against and what the portable kernels and the KV cache writer use. Rounding of the f32 ->
 * f16 direction is round-to-nearest-even, like ggml's and F16C's.
 *
 *   uint16_t h = fp16_from_f32(1.5f);
 *   float f = fp16_to_f32(h);        // 1.5f
 *   uint16_t b = bf16_from_f32(f);   // bfloat16 (truncating the mantissa with rounding)
 */
#ifndef INFERD_LLM_FP16_H
#define INFERD_LLM_FP16_H

#include <stdint.h>
#include <string.h>

static inline float fp16_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t fp16_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Half -> float, exact (the trick from Maratyszcza's FP16 library, also used by ggml). */
static inline float fp16_to_f32(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = 0xE0u << 23;
    const float exp_scale = 0x1.0p-112f;
    const float normalized = fp16_bits_f32((two_w >> 4) + exp_offset) * exp_scale;
    const uint32_t magic_mask = 126u << 23;
    const float magic_bias = 0.5f;
    const float denormalized = fp16_bits_f32((two_w >> 17) | magic_mask) - magic_bias;
    const uint32_t denormalized_cutoff = 1u << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? fp16_f32_bits(denormalized)
                                                                : fp16_f32_bits(normalized));
    return fp16_bits_f32(result);
}

/* Float -> half, round to nearest even; overflow gives inf, NaN stays NaN. */
static inline uint16_t fp16_from_f32(float f)
{
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = ((f < 0 ? -f : f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = fp16_f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;
    base = fp16_bits_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = fp16_f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float bf16_to_f32(uint16_t h)
{
    return fp16_bits_f32((uint32_t)h << 16);
}

/* Float -> bfloat16, round to nearest even (NaN kept quiet), as ggml does. */
static inline uint16_t bf16_from_f32(float f)
{
    uint32_t u = fp16_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

/* f -> nearest half (ties to even) -> float, the value ggml computes with after converting
 * an activation to f16. Normal half range by rounding the float's mantissa to 10 bits;
 * subnormals, overflow, inf and NaN through the two conversions. */
static inline float fp16_round(float f)
{
    uint32_t u = fp16_f32_bits(f), a = u & 0x7fffffffu;
    if (a >= 0x38800000u && a < 0x477ff000u) /* [2^-14, 65520): rounds to a normal half */
        return fp16_bits_f32((u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu);
    return fp16_to_f32(fp16_from_f32(f));
}

/* fp16_round for f in [0, 1] (probabilities) without a branch, so loops over it vectorize:
 * half normals (f >= 2^-14) by rounding the mantissa to 10 bits, half subnormals (multiples
 * of 2^-24) by adding and removing 0.5, whose float ulp is 2^-24 (ties to even both ways). */
static inline float fp16_round_unit(float f)
{
    uint32_t u = fp16_f32_bits(f);
    float sub = (f + 0.5f) - 0.5f, norm = fp16_bits_f32((u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu);
    return u < 0x38800000u ? sub : norm;
}

#endif
