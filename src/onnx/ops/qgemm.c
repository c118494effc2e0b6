/* qgemm.c — the int8 GEMM's portable scalar reference (see qgemm.h). The inner loop runs
 * over a row of B with a fixed A element, which compilers vectorise with int16/int32 lanes. */
#include "onnx/ops/qgemm.h"

#include "base/cpu.h"
#include "onnx/onnx_int.h"

static inline int32_t byte_at(const uint8_t *p, int64_t i, int is_signed)
{
    return is_signed ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

static inline int32_t zp_at(const void *z, int64_t len, int64_t i, int is_signed)
{
    if (!z)
        return 0;
    return byte_at(z, len == 1 ? 0 : i, is_signed);
}

void qgemm_u8_ref_rows(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    int32_t zb_row[4096];
    int64_t N = g->N;
    for (int64_t i = m0; i < m1; i++) {
        int32_t *c = g->c + i * N;
        int32_t za = zp_at(g->za, g->za_len, i, g->a_signed);
        for (int64_t j = 0; j < N; j++)
            c[j] = 0;
        for (int64_t j0 = 0; j0 < N; j0 += 4096) {
            int64_t nj = N - j0 < 4096 ? N - j0 : 4096;
            for (int64_t j = 0; j < nj; j++)
                zb_row[j] = zp_at(g->zb, g->zb_len, j0 + j, g->b_signed);
            for (int64_t k = 0; k < g->K; k++) {
                int32_t av = byte_at(g->a, i * g->K + k, g->a_signed) - za;
                const uint8_t *br = g->b + k * N + j0;
                int32_t *cr = c + j0;
                if (av == 0)
                    continue;
                if (g->b_signed)
                    for (int64_t j = 0; j < nj; j++)
                        cr[j] += av * ((int32_t)(int8_t)br[j] - zb_row[j]);
                else
                    for (int64_t j = 0; j < nj; j++)
                        cr[j] += av * ((int32_t)br[j] - zb_row[j]);
            }
        }
    }
}

void qgemm_u8_ref(const struct qgemm_args *g)
{
    qgemm_u8_ref_rows(g, 0, g->M);
}

size_t qgemm_scratch_bytes(int64_t K, int64_t N)
{
    /* B - zb as int16, K rounded up to pairs, N up to 8 columns, plus alignment slack */
    return (size_t)((K + 1) / 2 * 2) * (size_t)((N + 7) / 8 * 8) * sizeof(int16_t) + 32;
}

static int use_avx2(const struct qgemm_args *g)
{
    return g->pack && g->M > 0 && g->N > 0 && g->K > 0 && cpu_has(CPU_AVX2);
}

void qgemm_u8(const struct qgemm_args *g)
{
    if (use_avx2(g))
        qgemm_u8_avx2(g);
    else
        qgemm_u8_ref(g);
}

struct qpar_ctx {
    const struct qgemm_args *g;
    int avx2;
};

static void rows_part(void *arg, int64_t lo, int64_t hi)
{
    const struct qpar_ctx *p = arg;
    /* lo/hi count blocks of 4 rows so the AVX2 tiles stay whole */
    int64_t m0 = lo * 4, m1 = hi * 4 < p->g->M ? hi * 4 : p->g->M;
    if (p->avx2)
        qgemm_u8_avx2_rows(p->g, m0, m1);
    else
        qgemm_u8_ref_rows(p->g, m0, m1);
}

void qgemm_u8_pool(const struct ox_ctx *c, const struct qgemm_args *g)
{
    struct qpar_ctx p = {g, use_avx2(g)};
    if (p.avx2)
        qgemm_u8_avx2_pack(g);
    /* worth a thread from about 2^18 multiply-adds, as the FP32 GEMMs */
    int64_t blocks = (g->M + 3) / 4, per = 4 * g->N * g->K;
    int64_t min_blocks = per > 0 ? ((int64_t)1 << 18) / per + 1 : blocks;
    ox_parallel(c, blocks, min_blocks, rows_part, &p);
}
