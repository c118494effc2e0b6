/* qgemm_vnni_body.h — the int8 GEMM of qgemm_avx512vnni.c (zmm, 16 columns a panel) and
 * qgemm_avxvnni.c (ymm, 8), included by each after it defines:
 *   QV the vector type, QW its int32 lanes, QR the rows of a tile (8, or 4 where 16 ymm
 *   registers cannot hold 16 accumulators; tiles of at most 4 real rows use 4), QGEMM_ROWS the
 *   function's name, QV_SET1 / QV_ZERO / QV_LOAD (aligned) / QV_XOR / QV_SUB / QV_MUL (mullo)
 *   on int32 lanes, QV_DP(acc, u8 x4, s8 x4) the vpdpbusd, and QV_MASK_T / QV_MASK(cols) /
 *   QV_STORE(dst, mask, v) storing the first cols lanes.
 * B' (u8) is packed by qgemm_vnni_pack(g, QW) into QW-column panels of K quads; A' (s8) is
 * read straight from A, one quad of a row broadcast per step (int8 weights need no change:
 * with AVX-512 the broadcast folds into the vpdpbusd as {1to16}). Each tile is QR rows of A x
 * 2 panels (or 1, the last of an odd count), one vpdpbusd per row and panel per quad (exact
 * u8 x s8 products summed into int32 lanes, no saturation), then the zero-point correction
 *   C = acc - zb'[j] * rsA[i] - za'[i] * (csB[j] - K * zb'[j])
 * Loop order: rows in chunks of QG_MB (their za' / rsA computed once, or given: g->a_terms), then columns in
 * blocks of panels that stay in L2 (QG_NB bytes), then QR-row tiles, then panel pairs.
 * QGEMM_ROWS is made when the unit names it, QGEMM_COLS (the same on a range of columns) too.
 * A unit that defines QG_RQ_STORE(rq, i, i1, v0, v1,
 * v2, v3, j0, cols) also gets QGEMM_ROWS_RQ:
 * the same C, handed to that macro two rows (i, i1; i1 == i for a lone last row) and two
 * panels (v0 v1 of row i, v2 v3 of row i1, cols real columns from j0) at a time instead of
 * stored (the requantising epilogue, struct qgemm_rq).
 *
 *   C (QR rows, 2 QW) += A' (QR rows, 4 k) . panel[p..p+1][q]   per quad q
 */
#include <string.h>

#include "onnx/ops/qgemm.h"

#define QG_MB 64             /* rows whose za' / rsA are computed together */
#define QG_NB (192 * 1024)   /* bytes of packed panels a column block keeps in L2 */

/* A'[i, 4q..4q+3] as one int32 (s8 lanes) of the last, partial quad of a row: zero-padded
 * (B' is zero there too). */
static inline int32_t a_tail(const uint8_t *row, int64_t q, int64_t K, uint32_t flip)
{
    uint32_t v = 0;
    memcpy(&v, row + 4 * q, (size_t)(K - 4 * q));
    return (int32_t)(v ^ (flip & ((1u << (8 * (K - 4 * q))) - 1)));
}

/* za' and rsA (sum of A' as int8, wrapping int32) of row i: with u = A ^ 0x80 when A is
 * int8 (A ^ 0 when uint8), A' = u - 128 as a number, so rsA = sum u - 128 K (vpsadbw sums). */
static void row_terms(const struct qgemm_args *g, int64_t i, int32_t *za, int32_t *rs)
{
    const uint8_t *row = g->a + i * g->K;
    const int64_t K = g->K;
    int32_t z = 0;
    if (g->za)
        z = g->a_signed ? (int8_t)((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i]
                        : ((const uint8_t *)g->za)[g->za_len == 1 ? 0 : i];
    const uint8_t f = g->a_signed ? 0x80 : 0;
    const __m256i vf = _mm256_set1_epi8((char)f), zero = _mm256_setzero_si256();
    __m256i s = zero;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32)
        s = _mm256_add_epi64(s, _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row + k)), vf),
                                                zero));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)(void *)lanes, s);
    uint32_t sum = (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
    for (; k < K; k++)
        sum += (uint8_t)(row[k] ^ f);
    *za = g->a_signed ? z : z - 128;
    *rs = (int32_t)(sum - 128u * (uint32_t)K);
}

static inline int32_t ld32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
#define QG_BC(p) QV_SET1(ld32(p))

/* One tile: NR (4 or 8) rows of A at ar[] (repeats past the real ones), panels b0 (and b1
 * when TWO), FLIP for uint8 A. Accumulators land in acc[r][h]. */
static inline __attribute__((always_inline)) void tile(const uint8_t *const *ar, const int32_t *tail, const QV *b0,
                                                       const QV *b1, int64_t kfull, int64_t kq, int nr, int two,
                                                       int flip, QV acc[8][2])
{
    const QV vf = QV_SET1((int32_t)0x80808080u);
    QV c00 = QV_ZERO(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    QV c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const uint8_t *a0 = ar[0], *a1 = ar[1], *a2 = ar[2], *a3 = ar[3];
    const uint8_t *a4 = ar[nr > 4 ? 4 : 0], *a5 = ar[nr > 4 ? 5 : 0];
    const uint8_t *a6 = ar[nr > 4 ? 6 : 0], *a7 = ar[nr > 4 ? 7 : 0];
#define QG_ROW(r, src)                                                                                               \
    do {                                                                                                             \
        QV av = (src);                                                                                               \
        if (flip)                                                                                                    \
            av = QV_XOR(av, vf);                                                                                     \
        c##r##0 = QV_DP(c##r##0, x0, av);                                                                            \
        if (two)                                                                                                     \
            c##r##1 = QV_DP(c##r##1, x1, av);                                                                        \
    } while (0)
    for (int64_t q = 0; q < kfull; q++) {
        QV x0 = QV_LOAD(b0 + q), x1 = two ? QV_LOAD(b1 + q) : x0;
        QG_ROW(0, QG_BC(a0 + 4 * q));
        QG_ROW(1, QG_BC(a1 + 4 * q));
        QG_ROW(2, QG_BC(a2 + 4 * q));
        QG_ROW(3, QG_BC(a3 + 4 * q));
        if (nr > 4) {
            QG_ROW(4, QG_BC(a4 + 4 * q));
            QG_ROW(5, QG_BC(a5 + 4 * q));
            QG_ROW(6, QG_BC(a6 + 4 * q));
            QG_ROW(7, QG_BC(a7 + 4 * q));
        }
    }
    if (kfull < kq) { /* the tail quads are already flipped */
        const int64_t q = kfull;
        QV x0 = QV_LOAD(b0 + q), x1 = two ? QV_LOAD(b1 + q) : x0;
        const int fl = flip;
        flip = 0;
        QG_ROW(0, QV_SET1(tail[0]));
        QG_ROW(1, QV_SET1(tail[1]));
        QG_ROW(2, QV_SET1(tail[2]));
        QG_ROW(3, QV_SET1(tail[3]));
        if (nr > 4) {
            QG_ROW(4, QV_SET1(tail[4]));
            QG_ROW(5, QV_SET1(tail[5]));
            QG_ROW(6, QV_SET1(tail[6]));
            QG_ROW(7, QV_SET1(tail[7]));
        }
        flip = fl;
    }
#undef QG_ROW
    acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
    acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
    acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
    acc[6][0] = c60, acc[6][1] = c61, acc[7][0] = c70, acc[7][1] = c71;
}

/* Rows [m0, m1) of C, its columns in panels [pa, pz) (pz <= the panel count; pa even). */
static inline __attribute__((always_inline)) void qg_rows(const struct qgemm_args *g, int64_t m0, int64_t m1,
                                                          int64_t pa, int64_t pz, const struct qgemm_rq *rq)
{
    (void)rq; /* units without QG_RQ_STORE */
    const int64_t N = g->N, K = g->K, kq = (K + 3) / 4, np = (N + QW - 1) / QW;
    const uint8_t *pk = (const uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    const int32_t *zbv = (const int32_t *)(const void *)(pk + np * QW * kq * 4), *cs = zbv + np * QW;
    const int flip = !g->a_signed; /* uint8 A: A' = A ^ 0x80 */
    const uint32_t flip32 = flip ? 0x80808080u : 0;
    const int64_t kfull = K / 4; /* quads read straight from A; the last partial one via a_tail */
    int64_t pb = QG_NB / (kq * QW * 4) & ~(int64_t)1; /* panels of a column block, even */
    pb = pb < 2 ? 2 : pb;
    int32_t zas[QG_MB], rss[QG_MB], tails[QG_MB], zbrs[QG_MB];
    const int zb1 = !g->zb || g->zb_len <= 1; /* zbv[j] is zb' for every real column j */
    for (int64_t r0 = m0; r0 < m1; r0 += QG_MB) {
        const int64_t r1 = m1 - r0 < QG_MB ? m1 : r0 + QG_MB;
        for (int64_t i = r0; i < r1; i++) {
            if (g->a_terms)
                zas[i - r0] = g->a_terms[2 * i], rss[i - r0] = g->a_terms[2 * i + 1];
            else
                row_terms(g, i, &zas[i - r0], &rss[i - r0]);
            tails[i - r0] = kfull < kq ? a_tail(g->a + i * K, kfull, K, flip32) : 0;
        }
        /* the usual conv: one zb' for all columns (zb'*rsA one number a row) and za' = 0 */
        int za0 = 1;
        for (int64_t i = r0; i < r1; i++) {
            za0 &= zas[i - r0] == 0;
            zbrs[i - r0] = (int32_t)((uint32_t)zbv[0] * (uint32_t)rss[i - r0]);
        }
        for (int64_t p0 = pa; p0 < pz; p0 += pb) {
            const int64_t p1 = pz - p0 < pb ? pz : p0 + pb;
            for (int64_t i0 = r0; i0 < r1; i0 += QR) {
                const int rows = r1 - i0 < QR ? (int)(r1 - i0) : QR;
                const uint8_t *ar[8];
                int32_t tail[8];
                const int nr = rows > 4 ? QR : 4;
                for (int r = 0; r < 8; r++) { /* missing rows repeat the tile's first and are not stored */
                    int64_t i = i0 + (r < rows ? r : 0);
                    ar[r] = g->a + i * K;
                    tail[r] = tails[i - r0];
                }
                for (int64_t p = p0; p < p1; p += 2) {
                    const int two = p + 1 < p1;
                    const QV *b0 = (const QV *)(const void *)(pk + p * kq * QW * 4), *b1 = b0 + kq;
                    QV acc[8][2];
                    /* each combination its own copy of the loop, the flags constants there */
                    if (nr == 8) {
                        if (two)
                            flip ? tile(ar, tail, b0, b1, kfull, kq, 8, 1, 1, acc)
                                 : tile(ar, tail, b0, b1, kfull, kq, 8, 1, 0, acc);
                        else
                            flip ? tile(ar, tail, b0, b1, kfull, kq, 8, 0, 1, acc)
                                 : tile(ar, tail, b0, b1, kfull, kq, 8, 0, 0, acc);
                    } else if (two) {
                        flip ? tile(ar, tail, b0, b1, kfull, kq, 4, 1, 1, acc)
                             : tile(ar, tail, b0, b1, kfull, kq, 4, 1, 0, acc);
                    } else {
                        flip ? tile(ar, tail, b0, b1, kfull, kq, 4, 0, 1, acc)
                             : tile(ar, tail, b0, b1, kfull, kq, 4, 0, 0, acc);
                    }
#define QG_FIX(v, zb, cv, ri)                                                                                        \
    do {                                                                                                             \
        v = zb1 ? QV_SUB(v, QV_SET1(zbrs[ri])) : QV_SUB(v, QV_MUL(zb, QV_SET1(rss[ri])));                             \
        if (!za0)                                                                                                    \
            v = QV_SUB(v, QV_MUL(QV_SET1(zas[ri]), cv));                                                             \
    } while (0)
#ifdef QG_RQ_STORE
                    if (rq) { /* C of rows r and r1, both panels, to the epilogue */
                        const int64_t j0 = p * QW, cols = N - j0 < QW * (1 + two) ? N - j0 : QW * (1 + two);
                        const QV zb0 = QV_LOAD(zbv + j0), cv0 = QV_LOAD(cs + j0);
                        const QV zbh = two ? QV_LOAD(zbv + j0 + QW) : zb0, cvh = two ? QV_LOAD(cs + j0 + QW) : cv0;
                        for (int r = 0; r < rows; r += 2) {
                            const int r1 = r + 1 < rows ? r + 1 : r;
                            const int64_t ri = i0 - r0 + r, ri1 = i0 - r0 + r1;
                            QV v0 = acc[r][0], v1 = acc[r][1], v2 = acc[r1][0], v3 = acc[r1][1];
                            QG_FIX(v0, zb0, cv0, ri);
                            QG_FIX(v1, zbh, cvh, ri);
                            QG_FIX(v2, zb0, cv0, ri1);
                            QG_FIX(v3, zbh, cvh, ri1);
                            QG_RQ_STORE(rq, i0 + r, i0 + r1, v0, v1, v2, v3, j0, cols);
                        }
                        continue;
                    }
#endif
                    for (int h = 0; h < 1 + two; h++) {
                        int64_t j0 = (p + h) * QW, cols = N - j0 < QW ? N - j0 : QW;
                        const QV_MASK_T mk = QV_MASK((int)cols);
                        QV zb = QV_LOAD(zbv + j0), cv = QV_LOAD(cs + j0);
                        for (int r = 0; r < rows; r++) {
                            const int64_t ri = i0 - r0 + r;
                            QV v = acc[r][h];
                            QG_FIX(v, zb, cv, ri);
                            QV_STORE(g->c + (i0 + r) * N + j0, mk, v);
                        }
                    }
                }
            }
        }
    }
}
#undef QG_FIX

#ifdef QGEMM_ROWS
void QGEMM_ROWS(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    qg_rows(g, m0, m1, 0, (g->N + QW - 1) / QW, NULL);
}
#endif
#ifdef QGEMM_COLS
void QGEMM_COLS(const struct qgemm_args *g, int64_t m0, int64_t m1, int64_t j0, int64_t j1)
{
    const int64_t np = (g->N + QW - 1) / QW, pz = (j1 + QW - 1) / QW;
    qg_rows(g, m0, m1, j0 / QW, pz < np ? pz : np, NULL);
}
#endif
#ifdef QG_RQ_STORE
void QGEMM_ROWS_RQ(const struct qgemm_args *g, int64_t m0, int64_t m1, const struct qgemm_rq *rq)
{
    qg_rows(g, m0, m1, 0, (g->N + QW - 1) / QW, rq);
}
#endif
