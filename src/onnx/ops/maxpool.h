/* maxpool.h — the wide row kernels behind FP32 MaxPool's separable path (ops/pool.c), each
 * lane the scalar `m = v > m ? v : m` from m = -inf over the taps in ascending order
 * (maxps(tap, acc) returns acc when either is NaN and on equal values, as that compare does:
 * NaNs are skipped, and of +0 / -0 the first tap wins), so every kernel equals the scalar
 * reference bit for bit.
 *
 *   h (n) = max over kx < kw of src[o*sw + kx]          (maxpool_hrow_*: sw 1 or 2)
 *   y (n) = max over r < nrows of rows[r*stride + o]    (maxpool_vmax_*)
 * the latter for ny output rows at once, the next rstep floats on in rows and ystep in y
 * (one call for a plane's interior rows, where every tap row is inside).
 *
 * Each returns how many leading outputs it wrote; the caller finishes the rest:
 *   int64_t o = maxpool_hrow_avx2(src, h, 2, 3, n);   // then SSE2 / scalar from o
 * With sw 2 a lane's pair load reads src[2*o + kw] too, so the caller passes only columns
 * that have a further column's first tap inside the row (as the SSE2 loop asks).
 * x86/pool_avx2.c (8 lanes; its vertical pass a 4-lane tail) and x86/pool_avx512.c (16 lanes), built
 * with the conv kernels' flags: call only where ox_conv_isa() is OX_ISA_AVX2 / OX_ISA_AVX512. */
#ifndef INFERD_ONNX_MAXPOOL_H
#define INFERD_ONNX_MAXPOOL_H

#include <stdint.h>

int64_t maxpool_hrow_avx2(const float *src, float *h, int64_t sw, int64_t kw, int64_t n);
int64_t maxpool_vmax_avx2(const float *rows, int64_t stride, int64_t nrows, float *y, int64_t n, int64_t ny,
                          int64_t rstep, int64_t ystep);
int64_t maxpool_hrow_avx512(const float *src, float *h, int64_t sw, int64_t kw, int64_t n);
int64_t maxpool_vmax_avx512(const float *rows, int64_t stride, int64_t nrows, float *y, int64_t n, int64_t ny,
                            int64_t rstep, int64_t ystep);

#endif
