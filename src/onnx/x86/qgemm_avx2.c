/* qgemm_avx2.c — AVX2 int8 GEMM (see ops/qgemm.h): B - zb packed once per call into int16
 * pairs along K, 8 columns per panel; 4 rows of A x 16 columns (two panels) per tile, each
 * step two vpmaddwd per row adding two exact products into each int32 lane (4 x 8 tiles for an
 * odd last panel or fewer than 4 rows). Compiled with -mavx2; call only after cpu_has(CPU_AVX2).
 * A 4 x 24 tile (12 accumulators) measured no faster: gcc copies registers in its loop.
 *
 *   panel p, pair q: 16 int16 = (B[2q][8p+0], B[2q+1][8p+0], ..., B[2q][8p+7], B[2q+1][8p+7])
 *   C[i, 8p..8p+7] += madd(panel[p][q], broadcast32(A[i][2q] | A[i][2q+1] << 16))
 */
#include <immintrin.h>
#include <string.h>

#include "onnx/ops/qgemm.h"

#define QG_KC 256 /* pairs of K per chunk: 4 rows of A pairs stay on the stack */

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

/* Rows [k, k + nk) of B (nk <= QGEMM_B_ROWS): straight from g->b, or from g->b_row (made in
 * g->b_tmp or found in place); rows past K come back NULL. */
static void b_rows_at(const struct qgemm_args *g, int64_t k, int nk, const uint8_t **rows)
{
    for (int t = 0; t < nk; t++)
        rows[t] = k + t >= g->K ? NULL
                  : g->b_row    ? g->b_row(g->b_ctx, k + t, g->b_tmp + t * g->N)
                                : g->b + (k + t) * (g->b_ld ? g->b_ld : g->N);
}

static inline __m128i widen8(const uint8_t *p, int is_signed)
{
    __m128i v = _mm_loadl_epi64((const __m128i *)(const void *)p);
    return is_signed ? _mm_cvtepi8_epi16(v) : _mm_cvtepu8_epi16(v);
}

/* One pair of B rows (r1 NULL past K) at a time, 8 columns a vector step. */
static void pack_b(const struct qgemm_args *g, int16_t *pk, int64_t kp)
{
    const int64_t N = g->N, n8 = N / 8 * 8, np = (N + 7) / 8;
    const int bs = g->b_signed, per_col = g->zb && g->zb_len > 1;
    const __m128i z1 = _mm_set1_epi16((int16_t)zp_at(g->zb, g->zb_len, 0, bs));
    for (int64_t q = 0; q < kp; q++) {
        const uint8_t *r[2];
        b_rows_at(g, 2 * q, 2, r);
        for (int64_t j0 = 0; j0 < n8; j0 += 8) {
            __m128i zb = per_col ? widen8((const uint8_t *)g->zb + j0, bs) : z1;
            __m128i v0 = _mm_sub_epi16(widen8(r[0] + j0, bs), zb);
            __m128i v1 = r[1] ? _mm_sub_epi16(widen8(r[1] + j0, bs), zb) : _mm_setzero_si128();
            __m128i *d = (__m128i *)(void *)(pk + ((j0 / 8) * kp + q) * 16);
            _mm_store_si128(d, _mm_unpacklo_epi16(v0, v1));
            _mm_store_si128(d + 1, _mm_unpackhi_epi16(v0, v1));
        }
        for (int64_t j = n8; j < np * 8; j++) { /* the last columns and the padding */
            int16_t *d = pk + ((j / 8) * kp + q) * 16 + 2 * (j % 8);
            int32_t zb = j < N ? zp_at(g->zb, g->zb_len, j, bs) : 0;
            d[0] = (int16_t)(j < N ? byte_at(r[0], j, bs) - zb : 0);
            d[1] = (int16_t)(j < N && r[1] ? byte_at(r[1], j, bs) - zb : 0);
        }
    }
}

void qgemm_u8_avx2_pack(const struct qgemm_args *g)
{
    pack_b(g, (int16_t *)(((uintptr_t)g->pack + 31) & ~(uintptr_t)31), (g->K + 1) / 2);
}

/* Keeps gcc from hoisting all eight vpmaddwd above the adds, which takes every ymm and adds a
 * register copy per accumulator to each step (frontend-bound). */
#define QG_PIN(x, y) __asm__("" : "+x"(x), "+x"(y))

/* Rows i0..i0+3 x panels p and p + 1 (16 columns, the last 8 - 15 of them possibly past N),
 * pairs [q0, q0 + nq) of K: one 4 x 8 tile per panel, the broadcast A pair shared by both. */
static inline __attribute__((always_inline)) void tile4x16(const struct qgemm_args *g, const int16_t *pk,
                                                           int32_t (*ap)[QG_KC], int64_t i0, int64_t p,
                                                           int64_t q0, int64_t nq, int64_t kp)
{
    const int64_t N = g->N, j0 = p * 8, cols = N - j0 < 16 ? N - j0 : 16;
    __m256i a0, a1, a2, a3, b0, b1, b2, b3;
    if (q0 > 0 && cols == 16) { /* later chunks add to what the earlier ones stored */
        int32_t *c = g->c + i0 * N + j0;
        a0 = _mm256_loadu_si256((const __m256i *)(c)), b0 = _mm256_loadu_si256((const __m256i *)(c + 8));
        a1 = _mm256_loadu_si256((const __m256i *)(c + N)), b1 = _mm256_loadu_si256((const __m256i *)(c + N + 8));
        a2 = _mm256_loadu_si256((const __m256i *)(c + 2 * N));
        b2 = _mm256_loadu_si256((const __m256i *)(c + 2 * N + 8));
        a3 = _mm256_loadu_si256((const __m256i *)(c + 3 * N));
        b3 = _mm256_loadu_si256((const __m256i *)(c + 3 * N + 8));
    } else if (q0 > 0) {
        int32_t tmp[4][16] = {{0}};
        for (int r = 0; r < 4; r++)
            memcpy(tmp[r], g->c + (i0 + r) * N + j0, (size_t)cols * sizeof **tmp);
        a0 = _mm256_loadu_si256((const __m256i *)tmp[0]), b0 = _mm256_loadu_si256((const __m256i *)(tmp[0] + 8));
        a1 = _mm256_loadu_si256((const __m256i *)tmp[1]), b1 = _mm256_loadu_si256((const __m256i *)(tmp[1] + 8));
        a2 = _mm256_loadu_si256((const __m256i *)tmp[2]), b2 = _mm256_loadu_si256((const __m256i *)(tmp[2] + 8));
        a3 = _mm256_loadu_si256((const __m256i *)tmp[3]), b3 = _mm256_loadu_si256((const __m256i *)(tmp[3] + 8));
    } else {
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = _mm256_setzero_si256();
    }
    const int16_t *bp0 = pk + (p * kp + q0) * 16, *bp1 = bp0 + kp * 16;
    for (int64_t q = 0; q < nq; q++) {
        const __m256i x = _mm256_load_si256((const __m256i *)(bp0 + q * 16));
        const __m256i y = _mm256_load_si256((const __m256i *)(bp1 + q * 16));
        __m256i v = _mm256_set1_epi32(ap[0][q]);
        a0 = _mm256_add_epi32(_mm256_madd_epi16(x, v), a0), b0 = _mm256_add_epi32(_mm256_madd_epi16(y, v), b0);
        QG_PIN(a0, b0);
        v = _mm256_set1_epi32(ap[1][q]);
        a1 = _mm256_add_epi32(_mm256_madd_epi16(x, v), a1), b1 = _mm256_add_epi32(_mm256_madd_epi16(y, v), b1);
        QG_PIN(a1, b1);
        v = _mm256_set1_epi32(ap[2][q]);
        a2 = _mm256_add_epi32(_mm256_madd_epi16(x, v), a2), b2 = _mm256_add_epi32(_mm256_madd_epi16(y, v), b2);
        QG_PIN(a2, b2);
        v = _mm256_set1_epi32(ap[3][q]);
        a3 = _mm256_add_epi32(_mm256_madd_epi16(x, v), a3), b3 = _mm256_add_epi32(_mm256_madd_epi16(y, v), b3);
        QG_PIN(a3, b3);
    }
    if (cols == 16) {
        int32_t *c = g->c + i0 * N + j0;
        _mm256_storeu_si256((__m256i *)(c), a0), _mm256_storeu_si256((__m256i *)(c + 8), b0);
        _mm256_storeu_si256((__m256i *)(c + N), a1), _mm256_storeu_si256((__m256i *)(c + N + 8), b1);
        _mm256_storeu_si256((__m256i *)(c + 2 * N), a2), _mm256_storeu_si256((__m256i *)(c + 2 * N + 8), b2);
        _mm256_storeu_si256((__m256i *)(c + 3 * N), a3), _mm256_storeu_si256((__m256i *)(c + 3 * N + 8), b3);
        return;
    }
    int32_t tmp[4][16];
    _mm256_storeu_si256((__m256i *)tmp[0], a0), _mm256_storeu_si256((__m256i *)(tmp[0] + 8), b0);
    _mm256_storeu_si256((__m256i *)tmp[1], a1), _mm256_storeu_si256((__m256i *)(tmp[1] + 8), b1);
    _mm256_storeu_si256((__m256i *)tmp[2], a2), _mm256_storeu_si256((__m256i *)(tmp[2] + 8), b2);
    _mm256_storeu_si256((__m256i *)tmp[3], a3), _mm256_storeu_si256((__m256i *)(tmp[3] + 8), b3);
    for (int r = 0; r < 4; r++)
        memcpy(g->c + (i0 + r) * N + j0, tmp[r], (size_t)cols * sizeof **tmp);
}

void qgemm_u8_avx2_rows(const struct qgemm_args *g, int64_t m0, int64_t m1)
{
    const int64_t N = g->N, K = g->K, kp = (K + 1) / 2, np = (N + 7) / 8;
    const int16_t *pk = (const int16_t *)(((uintptr_t)g->pack + 31) & ~(uintptr_t)31);
    int32_t ap[4][QG_KC];
    for (int64_t i0 = m0; i0 < m1; i0 += 4) {
        int rows = m1 - i0 < 4 ? (int)(m1 - i0) : 4;
        for (int64_t q0 = 0; q0 < kp; q0 += QG_KC) {
            int64_t nq = kp - q0 < QG_KC ? kp - q0 : QG_KC;
            for (int r = 0; r < rows; r++) { /* this chunk's A pairs, zero point removed */
                const int64_t i = i0 + r;
                int32_t za = zp_at(g->za, g->za_len, i, g->a_signed);
                int64_t q = 0;
                const __m256i vza = _mm256_set1_epi16((int16_t)za);
                for (; q + 8 <= nq && 2 * (q0 + q) + 16 <= K; q += 8) { /* 16 bytes widened: 8 pairs */
                    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(g->a + i * K + 2 * (q0 + q)));
                    __m256i w = g->a_signed ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
                    _mm256_storeu_si256((__m256i *)(void *)&ap[r][q], _mm256_sub_epi16(w, vza));
                }
                for (; q < nq; q++) {
                    int64_t k0 = 2 * (q0 + q), k1 = k0 + 1;
                    int32_t a0 = byte_at(g->a, i * K + k0, g->a_signed) - za;
                    int32_t a1 = k1 < K ? byte_at(g->a, i * K + k1, g->a_signed) - za : 0;
                    ap[r][q] = (int32_t)(((uint32_t)(uint16_t)(int16_t)a1 << 16) | (uint16_t)(int16_t)a0);
                }
            }
            int64_t p = 0;
            if (rows == 4) /* two panels at once: 8 accumulators, 6 loads per 8 vpmaddwd */
                for (; p + 2 <= np; p += 2)
                    tile4x16(g, pk, ap, i0, p, q0, nq, kp);
            for (; p < np; p++) {
                int64_t cols = N - p * 8 < 8 ? N - p * 8 : 8;
                __m256i acc[4];
                for (int r = 0; r < 4; r++) {
                    int32_t tmp[8] = {0};
                    if (r < rows && q0 > 0) /* later chunks add to what the earlier ones stored */
                        memcpy(tmp, g->c + (i0 + r) * N + p * 8, (size_t)cols * sizeof *tmp);
                    acc[r] = _mm256_loadu_si256((const __m256i *)tmp);
                }
                const int16_t *bp = pk + (p * kp + q0) * 16;
                if (rows == 4) {
                    for (int64_t q = 0; q < nq; q++) {
                        __m256i b = _mm256_load_si256((const __m256i *)(bp + q * 16));
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[0][q])));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[1][q])));
                        acc[2] = _mm256_add_epi32(acc[2], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[2][q])));
                        acc[3] = _mm256_add_epi32(acc[3], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[3][q])));
                    }
                } else {
                    for (int64_t q = 0; q < nq; q++) {
                        __m256i b = _mm256_load_si256((const __m256i *)(bp + q * 16));
                        for (int r = 0; r < rows; r++)
                            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(b, _mm256_set1_epi32(ap[r][q])));
                    }
                }
                for (int r = 0; r < rows; r++) {
                    int32_t tmp[8];
                    _mm256_storeu_si256((__m256i *)tmp, acc[r]);
                    memcpy(g->c + (i0 + r) * N + p * 8, tmp, (size_t)cols * sizeof *tmp);
                }
            }
        }
    }
}

void qgemm_u8_avx2(const struct qgemm_args *g)
{
    qgemm_u8_avx2_pack(g);
    qgemm_u8_avx2_rows(g, 0, g->M);
}

/* ---- VNNI packing (SSE/AVX2 code, run only where a VNNI kernel will use it) ----
 *
 *   panel p (pw columns), quad q: pw x 4 bytes = (B'[4q..4q+3][p*pw+0], ..., B'[4q..4q+3][p*pw+pw-1])
 *   then int32 zb'[np*pw], then int32 csB[j] - K * zb'[j]; padding rows/columns hold 0
 *
 * B' = B (uint8) or B ^ 0x80 (int8 read as uint8, i.e. B + 128), the vpdpbusd's u8 side.
 * One quad of rows at a time (a conv makes them on demand: g->b_row), 32 columns a step, the
 * column sums taken from the transposed quads (vpmaddubsw then vpmaddwd by ones: the four
 * bytes of a lane), or not at all when every za' is 0. */
/* Nonzero when every za' is 0 (int8 A with zero points 0, e.g. symmetric weights): then csB
 * is multiplied by 0 and is not summed. */
static int za_zero(const struct qgemm_args *g)
{
    if (!g->a_signed)
        return 0;
    for (int64_t i = 0; g->za && i < g->za_len; i++)
        if (((const uint8_t *)g->za)[i])
            return 0;
    return 1;
}

/* csB[j..j+7] += the four bytes of each int32 lane of v (its 8 columns' quads) */
static inline void colsum8(int32_t *cs, __m256i v)
{
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(v, _mm256_set1_epi8(1)), _mm256_set1_epi16(1));
    _mm256_storeu_si256((__m256i *)(void *)cs, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(void *)cs), s));
}

static inline __m256i row32(const uint8_t *row, int64_t j0, __m256i fl)
{
    return row ? _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(row + j0)), fl)
               : _mm256_setzero_si256();
}

/* Quad q of the 32 columns from j0, read at column rj of rows (4 rows x 32 -> 32 column
 * quads), into the panels, and their column sums; only the first n8 groups of 8 columns (4 for
 * a whole block; fewer at the end of the padded panels). */
static inline __attribute__((always_inline)) void pack32(const uint8_t *const *rows, int64_t rj, int64_t j0,
                                                         __m256i fl, int sums, int32_t *cs, uint8_t *pk, int64_t kq,
                                                         int64_t q, int pw, int n8)
{
    __m256i r0 = row32(rows[0], rj, fl), r1 = row32(rows[1], rj, fl);
    __m256i r2 = row32(rows[2], rj, fl), r3 = row32(rows[3], rj, fl);
    __m256i t0 = _mm256_unpacklo_epi8(r0, r1), t1 = _mm256_unpackhi_epi8(r0, r1);
    __m256i t2 = _mm256_unpacklo_epi8(r2, r3), t3 = _mm256_unpackhi_epi8(r2, r3);
    /* u0..u3: columns 0-3|16-19, 4-7|20-23, 8-11|24-27, 12-15|28-31 (128-bit lanes) */
    __m256i u0 = _mm256_unpacklo_epi16(t0, t2), u1 = _mm256_unpackhi_epi16(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi16(t1, t3), u3 = _mm256_unpackhi_epi16(t1, t3);
    __m256i v[4] = {_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u2, u3, 0x20),
                    _mm256_permute2x128_si256(u0, u1, 0x31), _mm256_permute2x128_si256(u2, u3, 0x31)};
    for (int c = 0; c < n8; c++) { /* 8 columns: half a panel of 16, or a whole one of 8 */
        if (sums)
            colsum8(cs + j0 + 8 * c, v[c]);
        const int64_t j = j0 + 8 * c;
        uint8_t *d = pk + ((j / pw) * kq + q) * pw * 4 + (j % pw) * 4;
        _mm256_store_si256((__m256i *)(void *)d, v[c]);
    }
}

void qgemm_vnni_pack(const struct qgemm_args *g, int pw)
{
    const int64_t N = g->N, K = g->K, kq = (K + 3) / 4, np = (N + pw - 1) / pw;
    uint8_t *pk = (uint8_t *)(((uintptr_t)g->pack + 63) & ~(uintptr_t)63);
    int32_t *zbv = (int32_t *)(void *)(pk + np * pw * kq * 4), *cs = zbv + np * pw;
    const uint8_t flip = g->b_signed ? 0x80 : 0;
    const int sums = !za_zero(g);
    for (int64_t j = 0; j < np * pw; j++) {
        zbv[j] = j < N ? zp_at(g->zb, g->zb_len, j, g->b_signed) + (g->b_signed ? 128 : 0) : 0;
        cs[j] = 0;
    }
    const __m256i fl = _mm256_set1_epi8((char)flip);
    const int64_t n32 = N / 32 * 32;
    /* the last N - n32 columns go through the same vector code from copies padded with flip
     * (0 once flipped, as B' is in the padding columns) */
    uint8_t tail[4][32];
    const int tail8 = (int)((np * pw - n32) / 8); /* 8-column groups of panels past n32 */
    memset(tail, flip, sizeof tail);
    for (int64_t q = 0; q < kq; q++) {
        const uint8_t *rows[4];
        b_rows_at(g, 4 * q, 4, rows);
        for (int64_t j0 = 0; j0 < n32; j0 += 32) /* pw and n8 constants in each copy */
            if (pw == 16)
                pack32(rows, j0, j0, fl, sums, cs, pk, kq, q, 16, 4);
            else
                pack32(rows, j0, j0, fl, sums, cs, pk, kq, q, 8, 4);
        if (n32 < N) {
            const uint8_t *tr[4];
            for (int t = 0; t < 4; t++) {
                tr[t] = rows[t] ? tail[t] : NULL;
                if (rows[t])
                    memcpy(tail[t], rows[t] + n32, (size_t)(N - n32));
            }
            pack32(tr, 0, n32, fl, sums, cs, pk, kq, q, pw, tail8);
        }
    }
    for (int64_t j = 0; j < np * pw; j++)
        cs[j] = sums ? (int32_t)((uint32_t)cs[j] - (uint32_t)K * (uint32_t)zbv[j]) : 0;
}

/* ---- requantisation: clamp in float to [lo - zp, hi - zp] (integers, so clamping before
 * rounding equals clamping after), round with vcvtps2dq (half to even in the default MXCSR
 * mode, like nearbyint), add zp, narrow with saturating packs ---- */
void qgemm_requant_avx2(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step, int32_t zp,
                        int out_signed, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m256 flo = _mm256_set1_ps((float)(lo - zp)), fhi = _mm256_set1_ps((float)(hi - zp));
    const __m256i vb = _mm256_set1_epi32(bias), vz = _mm256_set1_epi32(zp);
    const __m256 m1 = _mm256_set1_ps(mul[0]);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 m = mul_step ? _mm256_loadu_ps(mul + j) : m1;
        __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)), vb);
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(a), m);
        f = _mm256_min_ps(_mm256_max_ps(f, flo), fhi); /* max(NaN, lo) = lo */
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(f), vz);
        __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        __m128i p8 = out_signed ? _mm_packs_epi16(p16, p16) : _mm_packus_epi16(p16, p16);
        _mm_storel_epi64((__m128i *)(void *)(y + j), p8);
    }
    if (j < n) { /* the last 1..7 through the same vector code, via a zero-padded copy */
        int32_t ta[8] = {0};
        float tm[8] = {0};
        uint8_t ty[8];
        memcpy(ta, acc + j, (size_t)(n - j) * sizeof *ta);
        if (mul_step)
            memcpy(tm, mul + j, (size_t)(n - j) * sizeof *tm);
        qgemm_requant_avx2(ta, 8, bias, mul_step ? tm : mul, mul_step, zp, out_signed, ty);
        memcpy(y + j, ty, (size_t)(n - j));
    }
}


/* The same, then ch's DequantizeLinear [-> Relu] -> QuantizeLinear on each lane, in float
 * as qgemm_requant_chain_ref does it (vdivps, like QuantizeLinear's division; max/min keep
 * its NaN handling), instead of the table: a vpgatherdd per 8 bytes cost more. */
void qgemm_requant_chain_avx2(const int32_t *acc, int64_t n, int32_t bias, const float *mul, int mul_step,
                              int32_t zp, int out_signed, const struct qgemm_chain *ch, uint8_t *y)
{
    const int32_t lo = out_signed ? -128 : 0, hi = out_signed ? 127 : 255;
    const __m256 flo = _mm256_set1_ps((float)(lo - zp)), fhi = _mm256_set1_ps((float)(hi - zp));
    const __m256i vb = _mm256_set1_epi32(bias), vz = _mm256_set1_epi32(zp);
    const __m256 m1 = _mm256_set1_ps(mul[0]);
    const __m256i z1 = _mm256_set1_epi32(ch->z1), z2 = _mm256_set1_epi32(ch->z2);
    const __m256 s1 = _mm256_set1_ps(ch->s1), s2 = _mm256_set1_ps(ch->s2), zero = _mm256_setzero_ps();
    const __m256 clo = _mm256_set1_ps((ch->y_signed ? -128.0f : 0.0f) - (float)ch->z2);
    const __m256 chi = _mm256_set1_ps((ch->y_signed ? 127.0f : 255.0f) - (float)ch->z2);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 m = mul_step ? _mm256_loadu_ps(mul + j) : m1;
        __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)), vb);
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(a), m);
        f = _mm256_min_ps(_mm256_max_ps(f, flo), fhi);
        __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(f), vz); /* the requantised value */
        __m256 d = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, z1)), s1);
        if (ch->relu)
            d = _mm256_max_ps(d, zero); /* d > 0 ? d : 0 */
        d = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(d, s2), clo), chi);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(d), z2);
        __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        __m128i p8 = ch->y_signed ? _mm_packs_epi16(p16, p16) : _mm_packus_epi16(p16, p16);
        _mm_storel_epi64((__m128i *)(void *)(y + j), p8);
    }
    if (j < n) { /* the last 1..7 through the same vector code, via a zero-padded copy */
        int32_t ta[8] = {0};
        float tm[8] = {0};
        uint8_t ty[8];
        memcpy(ta, acc + j, (size_t)(n - j) * sizeof *ta);
        if (mul_step)
            memcpy(tm, mul + j, (size_t)(n - j) * sizeof *tm);
        qgemm_requant_chain_avx2(ta, 8, bias, mul_step ? tm : mul, mul_step, zp, out_signed, ch, ty);
        memcpy(y + j, ty, (size_t)(n - j));
    }
}
