/* attn.c — scalar reference attention tile kernels (see attn.h) and the choice of ISA. */
#include "llm/kernels/attn.h"

#include <math.h>
#include <string.h>

#include "base/cpu.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels_x86.h"

static void qk_ref_f32(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s, size_t lds)
{
    for (int i = 0; i < nq; i++) {
        const float *qi = (const float *)((const char *)q + (size_t)i * qs);
        for (int j = 0; j < nk; j++) {
            const float *kj = k[j];
            float acc = 0;
            for (int d = 0; d < hd; d++)
                acc += qi[d] * kj[d];
            s[(size_t)i * lds + j] = acc;
        }
    }
}

static void qk_ref_f16(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s, size_t lds)
{
    for (int i = 0; i < nq; i++) {
        const float *qi = (const float *)((const char *)q + (size_t)i * qs);
        for (int j = 0; j < nk; j++) {
            const uint16_t *kj = k[j];
            float acc = 0;
            for (int d = 0; d < hd; d++)
                acc += qi[d] * fp16_to_f32(kj[d]);
            s[(size_t)i * lds + j] = acc;
        }
    }
}

/* Q8_0 . Q8_0 as ggml_vec_dot_q8_0_q8_0: exact integer sum per block times both scales. */
static void qk_ref_q8_0(int hd, int nq, const void *q, size_t qs, int nk, const void *const *k, float *s, size_t lds)
{
    for (int i = 0; i < nq; i++) {
        const void *qi = (const char *)q + (size_t)i * qs;
        for (int j = 0; j < nk; j++)
            dot_ref_q8_0(hd, &s[(size_t)i * lds + j], k[j], qi);
    }
}

static void pv_ref_f32(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o, size_t ldo)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            const float *vj = v[j];
            float a = p[(size_t)i * ldp + j];
            for (int d = 0; d < hd; d++)
                o[(size_t)i * ldo + d] += a * vj[d];
        }
}

static void pv_ref_f16(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o, size_t ldo)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            const uint16_t *vj = v[j];
            float a = p[(size_t)i * ldp + j];
            for (int d = 0; d < hd; d++)
                o[(size_t)i * ldo + d] += a * fp16_to_f32(vj[d]);
        }
}

static void pv_ref_q8_0(int hd, int nq, const float *p, size_t ldp, int nk, const void *const *v, float *o,
                        size_t ldo)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            const struct blk_q8_0 *b = v[j];
            float a = p[(size_t)i * ldp + j];
            for (int blk = 0; blk < hd / QK8_0; blk++) {
                float da = a * fp16_to_f32(b[blk].d);
                for (int d = 0; d < QK8_0; d++)
                    o[(size_t)i * ldo + blk * QK8_0 + d] += da * (float)b[blk].qs[d];
            }
        }
}

static double exp_ref(float *x, int n, float mx)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    return sum;
}

static const struct kern_attn ref[3] = {
    [KERN_KV_F32] = {qk_ref_f32, pv_ref_f32, exp_ref, "scalar"},
    [KERN_KV_F16] = {qk_ref_f16, pv_ref_f16, exp_ref, "scalar"},
    [KERN_KV_Q8_0] = {qk_ref_q8_0, pv_ref_q8_0, exp_ref, "scalar"},
};

#define AVX2_MASK (CPU_AVX2 | CPU_FMA | CPU_F16C)
#define AVX512_MASK (AVX2_MASK | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL)

const struct kern_attn *kern_attn_ref(enum kern_kv_type t)
{
    return &ref[t];
}

const struct kern_attn *kern_attn_isa(const char *isa, enum kern_kv_type t)
{
    if (!strcmp(isa, "avx512"))
        return cpu_has(AVX512_MASK) ? &kern_attn_avx512[t] : NULL;
    if (!strcmp(isa, "avx2"))
        return cpu_has(AVX2_MASK) ? &kern_attn_avx2[t] : NULL;
    return !strcmp(isa, "scalar") ? &ref[t] : NULL;
}

const struct kern_attn *kern_attn_get(enum kern_kv_type t)
{
    if (cpu_has(AVX512_MASK))
        return &kern_attn_avx512[t];
    if (cpu_has(AVX2_MASK))
        return &kern_attn_avx2[t];
    return &ref[t];
}
