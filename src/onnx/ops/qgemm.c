/* qgemm.c — the int8 GEMM's portable scalar reference (see qgemm.h). The inner loop runs
 * over a row of B with a fixed A element, which compilers vectorise with int16/int32 lanes. */
#include "onnx/ops/qgemm.h"

#include <math.h>

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
                const uint8_t *br = g->b + k * (g->b_ld ? g->b_ld : N) + j0;
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
    /* AVX2: B - zb as int16, K rounded up to pairs, N up to 8 columns, plus alignment slack.
     * VNNI: B' as bytes, K up to quads, N up to 16 columns, two int32 per column, slack. */
    size_t avx2 = (size_t)((K + 1) / 2 * 2) * (size_t)((N + 7) / 8 * 8) * sizeof(int16_t) + 32;
    size_t n16 = (size_t)((N + 15) / 16 * 16);
    size_t vnni = (size_t)((K + 3) / 4 * 4) * n16 + 2 * n16 * sizeof(int32_t) + 64;
    return avx2 > vnni ? avx2 : vnni;
}

int qgemm_isa_usable(enum qgemm_isa isa)
{
    switch (isa) {
    case QGEMM_AVX512VNNI:
        return cpu_has(CPU_AVX2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512VNNI);
    case QGEMM_AVXVNNI:
        return cpu_has(CPU_AVX2 | CPU_AVXVNNI);
    case QGEMM_AVX2:
        return cpu_has(CPU_AVX2);
    case QGEMM_REF:
        return 1;
    }
    return 0;
}

const char *qgemm_isa_name(enum qgemm_isa isa)
{
    static const char *const names[] = {"ref", "avx2", "avxvnni", "avx512vnni"};
    return (unsigned)isa < 4 ? names[isa] : "?";
}

enum qgemm_isa qgemm_isa_pick(const struct qgemm_args *g)
{
    if (!g->pack || g->M <= 0 || g->N <= 0 || g->K <= 0)
        return QGEMM_REF;
    if (qgemm_isa_usable(QGEMM_AVX512VNNI))
        return QGEMM_AVX512VNNI;
    if (qgemm_isa_usable(QGEMM_AVXVNNI))
        return QGEMM_AVXVNNI;
    return qgemm_isa_usable(QGEMM_AVX2) ? QGEMM_AVX2 : QGEMM_REF;
}

void qgemm_u8_isa_pack(const struct qgemm_args *g, enum qgemm_isa isa)
{
    if (isa == QGEMM_AVX512VNNI)
        qgemm_vnni_pack(g, 16);
    else if (isa == QGEMM_AVXVNNI)
        qgemm_vnni_pack(g, 8);
    else if (isa == QGEMM_AVX2)
        qgemm_u8_avx2_pack(g);
}

void qgemm_u8_isa_rows(const struct qgemm_args *g, enum qgemm_isa isa, int64_t m0, int64_t m1)
{
    switch (isa) {
    case QGEMM_AVX512VNNI:
        qgemm_u8_avx512vnni_rows(g, m0, m1);
        break;
    case QGEMM_AVXVNNI:
        qgemm_u8_avxvnni_rows(g, m0, m1);
        break;
    case QGEMM_AVX2:
        qgemm_u8_avx2_rows(g, m0, m1);
        break;
    case QGEMM_REF:
        qgemm_u8_ref_rows(g, m0, m1);
        break;
    }
}

int qgemm_isa_has_cols(enum qgemm_isa isa)
{
    return isa == QGEMM_AVX512VNNI || isa == QGEMM_AVXVNNI;
}

void qgemm_u8_isa_cols(const struct qgemm_args *g, enum qgemm_isa isa, int64_t m0, int64_t m1, int64_t j0, int64_t j1)
{
    if (isa == QGEMM_AVX512VNNI)
        qgemm_u8_avx512vnni_cols(g, m0, m1, j0, j1);
    else if (isa == QGEMM_AVXVNNI)
        qgemm_u8_avxvnni_cols(g, m0, m1, j0, j1);
    else
        qgemm_u8_isa_rows(g, isa, m0, m1);
}

void qgemm_u8_isa(const struct qgemm_args *g, enum qgemm_isa isa)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    if (g->K <= 0)
        isa = QGEMM_REF; /* C = 0; the packed kernels assume K > 0 */
    if (!g->prepacked)
        qgemm_u8_isa_pack(g, isa);
    qgemm_u8_isa_rows(g, isa, 0, g->M);
}

void qgemm_a_terms(const struct qgemm_args *g, int32_t *dst)
{
    const uint8_t f = g->a_signed ? 0 : 0x80; /* A' = A ^ f read as int8 */
    for (int64_t i = 0; i < g->M; i++) {
        uint32_t s = 0;
        for (int64_t k = 0; k < g->K; k++)
            s += (uint32_t)(int32_t)(int8_t)(g->a[i * g->K + k] ^ f);
        int32_t za = zp_at(g->za, g->za_len, i, g->a_signed);
        dst[2 * i] = g->a_signed ? za : za - 128;
        dst[2 * i + 1] = (int32_t)s;
    }
}

void qgemm_pack_b(const struct qgemm_args *g)
{
    struct qgemm_args any = *g; /* packed for any A: uint8 A (za' = -128) keeps B's column sums */
    any.a_signed = 0, any.za = NULL, any.za_len = 0;
    qgemm_u8_isa_pack(&any, qgemm_isa_pick(&any));
}

void qgemm_u8(const struct qgemm_args *g)
{
    qgemm_u8_isa(g, qgemm_isa_pick(g));
}

struct qpar_ctx {
    const struct qgemm_args *g;
    enum qgemm_isa isa;
};

static void rows_part(void *arg, int64_t lo, int64_t hi)
{
    const struct qpar_ctx *p = arg;
    /* lo/hi count blocks of 4 rows so the SIMD tiles stay whole */
    int64_t m0 = lo * 4, m1 = hi * 4 < p->g->M ? hi * 4 : p->g->M;
    qgemm_u8_isa_rows(p->g, p->isa, m0, m1);
}

static void cols_part(void *arg, int64_t lo, int64_t hi)
{
    const struct qpar_ctx *p = arg;
    /* lo/hi count blocks of QGEMM_COL_STEP columns (whole panels) */
    const int64_t j1 = hi * QGEMM_COL_STEP < p->g->N ? hi * QGEMM_COL_STEP : p->g->N;
    qgemm_u8_isa_cols(p->g, p->isa, 0, p->g->M, lo * QGEMM_COL_STEP, j1);
}

void qgemm_u8_pool(const struct ox_ctx *c, const struct qgemm_args *g)
{
    struct qpar_ctx p = {g, qgemm_isa_pick(g)};
    if (g->M <= 0 || g->N <= 0)
        return;
    if (!g->prepacked)
        qgemm_u8_isa_pack(g, p.isa);
    /* worth a thread from about 2^18 multiply-adds, as the FP32 GEMMs */
    int64_t blocks = (g->M + 3) / 4, per = 4 * g->N * g->K;
    int64_t min_blocks = per > 0 ? ((int64_t)1 << 18) / per + 1 : blocks;
    const int nth = c && c->nth > 1 ? c->nth : 1;
    if (nth > 1 && blocks < 2 * min_blocks && qgemm_isa_has_cols(p.isa)) {
        /* too few rows for two threads: the columns split instead, QGEMM_COL_STEP at a time,
         * from 2^16 multiply-adds a thread (a few rows stream B's every byte for little work:
         * ResNet-18's 512 x 1000 layer runs on two) */
        const int64_t cb = (g->N + QGEMM_COL_STEP - 1) / QGEMM_COL_STEP, cper = g->M * QGEMM_COL_STEP * g->K;
        ox_parallel(c, cb, ((int64_t)1 << 16) / cper + 1, cols_part, &p);
        return;
    }
    ox_parallel(c, blocks, min_blocks, rows_part, &p);
}

void qgemm_requant_ref(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                       int out_signed, uint8_t *y)
{
    double lo = out_signed ? -128.0 : 0.0, hi = out_signed ? 127.0 : 255.0;
    for (int64_t j = 0; j < n; j++) {
        double v = nearbyint((double)((float)(acc[j] + bias) * mul[mul_step ? j : 0])) + (double)zp;
        int32_t q = v < lo ? (int32_t)lo : v > hi ? (int32_t)hi : (int32_t)v;
        y[j] = (uint8_t)q;
    }
}

void qgemm_requant(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                   int out_signed, uint8_t *y)
{
    if (qgemm_chain_lut_usable())
        qgemm_requant_chain_avx512vbmi(acc, n, bias, mul, mul_step, zp, out_signed, NULL, y);
    else if (cpu_has(CPU_AVX2))
        qgemm_requant_avx2(acc, n, bias, mul, mul_step, zp, out_signed, y);
    else
        qgemm_requant_ref(acc, n, bias, mul, mul_step, zp, out_signed, y);
}

static uint8_t chain_one(const struct qgemm_chain *ch, int32_t v)
{
    const float vlo = (ch->y_signed ? -128.0f : 0.0f) - (float)ch->z2, vhi = (ch->y_signed ? 127.0f : 255.0f) - (float)ch->z2;
    float d = (float)(v - ch->z1) * ch->s1; /* DequantizeLinear [, Relu], then QuantizeLinear's x / s */
    if (ch->relu)
        d = d > 0.0f ? d : 0.0f;
    float f = d / ch->s2;
    f = f > vlo ? f : vlo;                            /* NaN goes low, as in QuantizeLinear */
    f = f < vhi ? f : vhi;
    return (uint8_t)(int32_t)(nearbyintf(f) + (float)ch->z2);
}

void qgemm_chain_init(struct qgemm_chain *ch)
{
    for (int b = 0; b < 256; b++) {
        ch->lut[b] = chain_one(ch, ch->v_signed ? (int8_t)b : b);
        ch->lut8[b] = (uint8_t)ch->lut[b];
    }
}

int qgemm_chain_lut_usable(void)
{
    return qgemm_isa_usable(QGEMM_AVX512VNNI) && cpu_has(CPU_AVX512VBMI);
}

void qgemm_requant_chain_ref(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                             int out_signed, const struct qgemm_chain *ch, uint8_t *y)
{
    double lo = out_signed ? -128.0 : 0.0, hi = out_signed ? 127.0 : 255.0;
    for (int64_t j = 0; j < n; j++) {
        double v = nearbyint((double)((float)(acc[j] + bias) * mul[mul_step ? j : 0])) + (double)zp;
        y[j] = chain_one(ch, v < lo ? (int32_t)lo : v > hi ? (int32_t)hi : (int32_t)v);
    }
}

void qgemm_requant_chain(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                         int out_signed, const struct qgemm_chain *ch, uint8_t *y)
{
    if (qgemm_chain_lut_usable()) {
        qgemm_requant_chain_avx512vbmi(acc, n, bias, mul, mul_step, zp, out_signed, ch, y);
        return;
    }
    if (ch && qgemm_isa_usable(QGEMM_AVX512VNNI)) {
        qgemm_requant_chain_avx512(acc, n, bias, mul, mul_step, zp, out_signed, ch, y);
        return;
    }
    if (ch && cpu_has(CPU_AVX2)) {
        qgemm_requant_chain_avx2(acc, n, bias, mul, mul_step, zp, out_signed, ch, y);
        return;
    }
    qgemm_requant(acc, n, bias, mul, mul_step, zp, out_signed, y);
    for (int64_t j = 0; ch && j < n; j++)
        y[j] = (uint8_t)ch->lut[y[j]];
}
