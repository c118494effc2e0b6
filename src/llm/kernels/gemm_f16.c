/* gemm_f16.c — picks the F16 prompt GEMM for this CPU, and its portable scalar twin. */
#include "llm/kernels/gemm_f16.h"

#include "base/cpu.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels_x86.h"

static void pack_ref(const float *x, size_t ldx, int n_tok, int64_t n, float *xp)
{
    int nb = (n_tok + KERN_GEMM_F16_TB - 1) / KERN_GEMM_F16_TB;
    for (int t = 0; t < nb * KERN_GEMM_F16_TB; t++)
        for (int64_t k = 0; k < n; k++)
            xp[((size_t)(t / KERN_GEMM_F16_TB) * n + k) * KERN_GEMM_F16_TB + t % KERN_GEMM_F16_TB] =
                t < n_tok ? fp16_to_f32(fp16_from_f32(x[(size_t)t * ldx + k])) : 0.f;
}

/* W (n_rows, n) f16 . packed X -> y; one row and one token at a time. */
static void gemm_ref(int64_t n, const void *w, size_t ws, int n_rows, const float *xp, int n_tok, float *y,
                     size_t ldy, float *wf)
{
    (void)wf;
    for (int r = 0; r < n_rows; r++) {
        const uint16_t *h = (const uint16_t *)((const unsigned char *)w + (size_t)r * ws);
        for (int t = 0; t < n_tok; t++) {
            const float *xb = xp + (size_t)(t / KERN_GEMM_F16_TB) * n * KERN_GEMM_F16_TB + t % KERN_GEMM_F16_TB;
            float s = 0;
            for (int64_t k = 0; k < n; k++)
                s += fp16_to_f32(h[k]) * xb[k * KERN_GEMM_F16_TB];
            y[(size_t)t * ldy + r] = s;
        }
    }
}

static const struct kern_gemm_f16 g_ref = {pack_ref, gemm_ref, "scalar"};
static const struct kern_gemm_f16 g_avx2 = {gemm_f16_pack_avx2, gemm_f16_avx2, "avx2"};
static const struct kern_gemm_f16 g_avx512 = {gemm_f16_pack_avx2, gemm_f16_avx512, "avx512"};

const struct kern_gemm_f16 *kern_get_gemm_f16(void)
{
    if (cpu_has(CPU_AVX512F | KERN_ISA_AVX2_MASK))
        return &g_avx512;
    if (cpu_has(KERN_ISA_AVX2_MASK))
        return &g_avx2;
    return NULL;
}

const struct kern_gemm_f16 *kern_get_gemm_f16_ref(void)
{
    return &g_ref;
}
