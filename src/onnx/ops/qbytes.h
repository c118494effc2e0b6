/* qbytes.h — byte layouts for the int8 convs (qbytes.c).
 *
 *   qb_gather2(dst, src, n);                    // dst[i] = src[2 i], i < n
 *   qb_interleave4(dst, src4, n, s, 0x80);      // dst[4 j + e] = src4[e][j s] ^ 0x80, j < n, s 1 or 2
 *   qb_rows(dst, dp, src, sp, rows, n, s, flip); // dst[r dp + j] = src[r sp + j s] ^ flip
 */
#ifndef INFERD_ONNX_OPS_QBYTES_H
#define INFERD_ONNX_OPS_QBYTES_H

#include <stdint.h>

/* dst[i] = src[2 i] for i < n; reads no byte past src[2 n - 2]. */
void qb_gather2(uint8_t *restrict dst, const uint8_t *restrict src, int64_t n);
/* dst[4 j + e] = src[e][j s] ^ flip for j < n, e < 4, s 1 or 2; reads no byte past
 * src[e][(n - 1) s]. */
void qb_interleave4(uint8_t *restrict dst, const uint8_t *const *src, int64_t n, int s, uint8_t flip);
/* dst[r dp + j] = src[r sp + j s] ^ flip for r < rows, j < n, s >= 1 (a plane's rows, strided
 * and / or flipped, in one call: the int8 depthwise conv's padded planes); reads no byte past
 * src[r sp + (n - 1) s]. AVX-512 BW / VL where cpu_has() says so (s 1 and 2), else per row. */
void qb_rows(uint8_t *restrict dst, int64_t dp, const uint8_t *restrict src, int64_t sp, int64_t rows, int64_t n,
             int64_t s, uint8_t flip);

#endif
