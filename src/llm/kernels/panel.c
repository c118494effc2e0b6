/* panel.c — picks the panel GEMM (panel.h) for this CPU, and the activation-side prep
 * (per-block f32 scale and -k sum(q) correction) it reads. */
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
    };
    if (t == GGML_TYPE_Q4_0) {
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
    }
    return NULL;
}
