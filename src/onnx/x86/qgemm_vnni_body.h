/* qgemm_vnni_body.h — the int8 GEMM of qgemm_avx512vnni.c (zmm, 16 columns a panel) and
 * qgemm_avxvnni.c (ymm, 8), included by each after it defines:
 *   QV the vector type, QW its int32 lanes, QGEMM_ROWS the function's name,
 *   QV_SET1 / QV_ZERO / QV_LOAD (aligned) / QV_XOR / QV_SUB / QV_MUL (mullo) on int32 lanes,
 *   QV_DP(acc, u8 x4, s8 x4) the vpdpbusd, and QV_MASK_T / QV_MASK(cols) / QV_STORE(dst, mask, v)
 *   storing the first cols lanes.
 * B' is packed by qgemm_vnni_pack(g, QW) into QW-column panels of K quads; each tile is 4
 * rows of A x 2 panels, one vpdpbusd per row and panel per quad (exact u8 x s8 products
 * summed into int32 lanes, no saturation), then the zero-point correction
 *   C = acc - zb'[j] * rsA[i] - za'[i] * (csB[j] - K * zb'[j])
 *
 *   C (4 rows, 2 QW) += A' (4 rows, 4 k) . panel[p..p+1][q]   per quad q
 */
#include <string.h>

#include "onnx/ops/qgemm.h"

/* A'[i, 4q..4q+3] as one int32 (u8 lanes): A, or A ^ 0x80 for int8 A; the last quad of a
 * row whose K is not a multiple of 4 is padded with zeros (B' is zero there anyway). */
static inline int32_t a_quad(const uint8_t *row, int64_t q, int64_t K, uint32_t flip)
{
    uint32_t v = 0;
    if (4 * q + 4 <= K)
        memcpy(&v, row + 4 * q, 4);
    else
        memcpy(&v, row + 4 * q, (size_t)(K - 4 * q));
    return (int32_t)(v ^ flip);
}

/* za' and rsA of row i (wrapping int32) */
static void row_terms(const struct qgemm_args *g, int64_t i, int32_t *za, int32_t *rs)
{
    const uint8_t *row = g->a + i * g->K;
    int32_t z = 0;
    if (g->za)
        z = g->a_signed ? (int8_t)((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i]
                        : ((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i];
    uint32_t s = 0;
    const uint8_t flip = g->a_signed ? 0x80 : 0;
    for (int64_t k = 0; k < g->K; k++)
        s += (uint8_t)(row[k] ^ flip);
    *za = z + (g->a_signed ? 128 : 0);
    *rs = (int32_t)s;
}

void QGEMM_ROWS(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    const int64_t N = g->N, K = g->K, kq = (K + 3) / 4, np = (N + QW - 1) / QW;
    const uint8_t *pk = (const uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    const int32_t *zbv = (const int32_t *)(const void *)(pk + np * QW * kq * 4), *cs = zbv + np * QW;
    const uint32_t flip = g->a_signed ? 0x80808080u : 0;
    const int64_t kfull = K / 4; /* quads read straight from A; the last partial one via a_quad */
    for (int64_t i0 = m0; i0 < m1; i0 += 4) {
        int rows = m1 - i0 < 4 ? (int)(m1 - i0) : 4;
        const uint8_t *ar[4];
        QV za[4], rs[4];
        for (int r = 0; r < 4; r++) {
            int64_t i = i0 + (r < rows ? r : 0); /* missing rows repeat row 0 and are not stored */
            int32_t z, s;
            ar[r] = g->a + i * K;
            row_terms(g, i, &z, &s);
            za[r] = QV_SET1(z);
            rs[r] = QV_SET1(s);
        }
        int32_t tail[4] = {0};
        if (kfull < kq)
            for (int r = 0; r < 4; r++)
                tail[r] = a_quad(ar[r], kfull, K, flip);
        const QV vflip = QV_SET1((int32_t)flip);
        for (int64_t p = 0; p < np; p += 2) {
            const int two = p + 1 < np;
            const QV *b0 = (const QV *)(const void *)(pk + p * kq * QW * 4);
            const QV *b1 = two ? b0 + kq : b0; /* a lone last panel computes itself twice */
            QV c00 = QV_ZERO(), c01 = c00, c10 = c00, c11 = c00;
            QV c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            int64_t q = 0;
            for (; q < kfull; q++) {
                QV x0 = QV_LOAD(b0 + q), x1 = QV_LOAD(b1 + q);
                int32_t v0, v1, v2, v3;
                memcpy(&v0, ar[0] + 4 * q, 4), memcpy(&v1, ar[1] + 4 * q, 4);
                memcpy(&v2, ar[2] + 4 * q, 4), memcpy(&v3, ar[3] + 4 * q, 4);
                QV a0 = QV_XOR(QV_SET1(v0), vflip);
                QV a1 = QV_XOR(QV_SET1(v1), vflip);
                QV a2 = QV_XOR(QV_SET1(v2), vflip);
                QV a3 = QV_XOR(QV_SET1(v3), vflip);
                c00 = QV_DP(c00, a0, x0), c01 = QV_DP(c01, a0, x1);
                c10 = QV_DP(c10, a1, x0), c11 = QV_DP(c11, a1, x1);
                c20 = QV_DP(c20, a2, x0), c21 = QV_DP(c21, a2, x1);
                c30 = QV_DP(c30, a3, x0), c31 = QV_DP(c31, a3, x1);
            }
            if (q < kq) {
                QV x0 = QV_LOAD(b0 + q), x1 = QV_LOAD(b1 + q);
                QV a0 = QV_SET1(tail[0]), a1 = QV_SET1(tail[1]);
                QV a2 = QV_SET1(tail[2]), a3 = QV_SET1(tail[3]);
                c00 = QV_DP(c00, a0, x0), c01 = QV_DP(c01, a0, x1);
                c10 = QV_DP(c10, a1, x0), c11 = QV_DP(c11, a1, x1);
                c20 = QV_DP(c20, a2, x0), c21 = QV_DP(c21, a2, x1);
                c30 = QV_DP(c30, a3, x0), c31 = QV_DP(c31, a3, x1);
            }
            QV acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
            for (int h = 0; h < 1 + two; h++) {
                int64_t j0 = (p + h) * QW, cols = N - j0 < QW ? N - j0 : QW;
                const QV_MASK_T mk = QV_MASK((int)cols);
                QV zb = QV_LOAD(zbv + j0), cv = QV_LOAD(cs + j0);
                for (int r = 0; r < rows; r++) {
                    QV v = QV_SUB(acc[r][h], QV_MUL(zb, rs[r]));
                    v = QV_SUB(v, QV_MUL(za[r], cv));
                    QV_STORE(g->c + (i0 + r) * N + j0, mk, v);
                }
            }
        }
    }
}
