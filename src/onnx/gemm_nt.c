/* gemm_nt.c — portable reference of the A @ B^T skinny-GEMM kernel (see gemm_nt.h). */
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
