/* panel.c — picks the panel GEMM (panel.h) for this CPU, and the activation-side prep it
 * reads (Q8_0: per-block f32 scale and -k sum(q) correction; Q8_K: bsum-derived terms). */
#include "llm/kernels/panel.h"

#include "base/cpu.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels.h"
#include "llm/kernels/kernels_x86.h"

void kern_panel_prep(const void *a, struct kern_panel_aux *aux, int64_t n)
{
    const struct blk_q8_0 *b = a;
    for (int64_t i = 0; i < n / 32; i++) {
        int32_t s = 0;
        for (int g = 0; g < 8; g++) {
            int32_t sg = b[i].qs[4 * g] + b[i].qs[4 * g + 1] + b[i].qs[4 * g + 2] + b[i].qs[4 * g + 3];
            aux[i].c8[g] = -128 * sg;
            s += sg;
        }
        aux[i].d = fp16_to_f32(b[i].d);
        aux[i].c4 = -8 * s;
    }
}

void kern_panel_prep_k(const void *a, struct kern_panel_kaux *aux, int64_t n)
{
    const struct blk_q8_k *b = a;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const int16_t *bs = b[i].bsums;
        for (int j = 0; j < 16; j++)
            aux[i].c6[j] = -32 * bs[j];
        for (int k = 0; k < 4; k++) { /* |sum of 32| <= 4096: fits an i16 */
            uint32_t lo = (uint16_t)(bs[4 * k] + bs[4 * k + 1]), hi = (uint16_t)(bs[4 * k + 2] + bs[4 * k + 3]);
            aux[i].s4[k] = lo | hi << 16;
        }
        for (int k = 0; k < 8; k++)
            aux[i].s6[k] = (uint16_t)bs[2 * k] | (uint32_t)(uint16_t)bs[2 * k + 1] << 16;
    }
}

size_t kern_panel_aux_bytes(enum ggml_type vdt, int64_t n)
{
    if (vdt == GGML_TYPE_Q8_K)
        return (size_t)(n / QK_K) * sizeof(struct kern_panel_kaux);
    return (size_t)(n / QK8_0) * sizeof(struct kern_panel_aux);
}

void kern_panel_prep_row(enum ggml_type vdt, const void *a, void *aux, int64_t n)
{
    if (vdt == GGML_TYPE_Q8_K)
        kern_panel_prep_k(a, aux, n);
    else
        kern_panel_prep(a, aux, n);
}

const struct kern_panel *kern_get_panel(enum ggml_type t)
{
    static const struct kern_panel q4[] = {
        {gemm_panel_q4_0_avx512vnni, 16},
        {gemm_panel_q4_0_avx512, 16},
        {gemm_panel_q4_0_avxvnni, 8},
        {gemm_panel_q4_0_avx2, 8},
    };
    static const struct kern_panel q8[] = {
        {gemm_panel_q8_0_avx512vnni, 16},
        {gemm_panel_q8_0_avxvnni, 8},
        {gemm_panel_q8_0_avx2, 8},
    };
    /* K-quants: per ISA, best first */
#define KP(T) {{gemm_panel_##T##_avx512vnni, 16}, {gemm_panel_##T##_avx512, 16}, {gemm_panel_##T##_avxvnni, 8}, \
               {gemm_panel_##T##_avx2, 8}}
    static const struct kern_panel q2k[] = KP(q2_k), q3k[] = KP(q3_k), q4k[] = KP(q4_k), q5k[] = KP(q5_k),
                                   q6k[] = KP(q6_k);
#undef KP
    const struct kern_panel *k = t == GGML_TYPE_Q2_K   ? q2k
                                 : t == GGML_TYPE_Q3_K ? q3k
                                 : t == GGML_TYPE_Q4_K ? q4k
                                 : t == GGML_TYPE_Q5_K ? q5k
                                 : t == GGML_TYPE_Q6_K ? q6k
                                                       : NULL;
    if (k) {
        if (cpu_has(KERN_ISA_AVX512VNNI_MASK))
            return &k[0];
        if (cpu_has(KERN_ISA_AVX512_MASK))
            return &k[1];
        if (cpu_has(KERN_ISA_AVXVNNI_MASK))
            return &k[2];
        if (cpu_has(KERN_ISA_AVX2_MASK))
            return &k[3];
    } else if (t == GGML_TYPE_Q4_0) {
        if (cpu_has(KERN_ISA_AVX512VNNI_MASK))
            return &q4[0];
        if (cpu_has(KERN_ISA_AVX512_MASK))
            return &q4[1];
        if (cpu_has(KERN_ISA_AVXVNNI_MASK))
            return &q4[2];
        if (cpu_has(KERN_ISA_AVX2_MASK))
            return &q4[3];
    } else if (t == GGML_TYPE_Q8_0) {
        if (cpu_has(KERN_ISA_AVX512VNNI_MASK))
            return &q8[0];
        if (cpu_has(KERN_ISA_AVXVNNI_MASK) && !cpu_has(KERN_ISA_AVX512_MASK))
            return &q8[1];
        if (cpu_has(KERN_ISA_AVX2_MASK) && !cpu_has(KERN_ISA_AVX512_MASK))
            return &q8[2];
    }
    return NULL;
}
