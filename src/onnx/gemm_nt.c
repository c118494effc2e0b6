/* gemm_nt.c — portable references of the A @ B^T and packed-weight GEMM kernels, the
 * packing of constant weights into 16-column panels, and the run-time choice of the packed
 * kernel's ISA (see gemm_nt.h). */
#include <string.h>

#include "base/cpu.h"
#include "base/vmath.h"
#include "onnx/gemm_nt.h"

void ox_gemm_nt_ref(const struct ox_gemm_nt *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1)
{
    for (int64_t i = m0; i < m1; i++) {
        const float *a = g->a + i * g->lda;
        for (int64_t j = n0; j < n1; j++) {
            const float *b = g->b + j * g->ldb;
            float s = 0.0f;
            for (int64_t p = 0; p < g->k; p++)
                s += a[p] * b[p];
            float *c = &g->c[i * g->ldc + j];
            *c = g->accumulate ? *c + g->alpha * s : g->alpha * s;
        }
    }
}

void ox_gemm_pack(const float *b, int64_t k, int64_t n, int trans_b, float *out)
{
    int64_t panels = (n + OX_PK_NR - 1) / OX_PK_NR;
    for (int64_t p = 0; p < panels; p++) {
        float *dst = out + p * k * OX_PK_NR;
        for (int64_t kk = 0; kk < k; kk++) {
            for (int64_t j = 0; j < OX_PK_NR; j++) {
                int64_t col = p * OX_PK_NR + j;
                dst[kk * OX_PK_NR + j] = col >= n ? 0.0f : trans_b ? b[col * k + kk] : b[kk * n + col];
            }
        }
    }
}

void ox_gemm_pk_ref(const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    int64_t j1 = p1 * OX_PK_NR < g->n ? p1 * OX_PK_NR : g->n;
    for (int64_t i = m0; i < m1; i++) {
        for (int64_t j = p0 * OX_PK_NR; j < j1; j++) {
            const float *panel = g->bp + (j / OX_PK_NR) * g->k * OX_PK_NR + j % OX_PK_NR;
            float s = 0.0f;
            for (int64_t p = 0; p < g->k; p++)
                s += g->a[i * g->lda + p] * panel[p * OX_PK_NR];
            float *c = &g->c[i * g->ldc + j];
            float v = g->accumulate ? *c + g->alpha * s : g->alpha * s;
            if (g->bias)
                v += g->bias[j];
            if (g->gelu)
                vmath_ref.gelu(&v, &v, 1);
            *c = v;
        }
    }
}

int ox_gemm_pk_isa(void)
{
    if (cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX2 | CPU_FMA)) /* the avx512 files' flags */
        return 2;
    if (cpu_has(CPU_AVX2 | CPU_FMA))
        return 1;
    return 0;
}

void ox_gemm_pk_run(int isa, const struct ox_gemm_pk *g, int64_t m0, int64_t m1, int64_t p0, int64_t p1)
{
    if (isa == 2)
        ox_gemm_pk_avx512(g, m0, m1, p0, p1);
    else if (isa == 1)
        ox_gemm_pk_avx2(g, m0, m1, p0, p1);
    else
        ox_gemm_pk_ref(g, m0, m1, p0, p1);
}

void ox_gemm_nn_ref(const struct ox_gemm_nn *g)
{
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->n; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < g->k; p++)
                s += g->a[i * g->lda + p] * g->b[p * g->ldb + j];
            g->c[i * g->ldc + j] = s;
        }
}

void ox_gemm_nn_run(int isa, const struct ox_gemm_nn *g)
{
    if (isa == 2)
        ox_gemm_nn_avx512(g);
    else if (isa == 1)
        ox_gemm_nn_avx2(g);
    else
        ox_gemm_nn_ref(g);
}
