/* qdwconv.h — the row kernel behind QLinearConv / ConvInteger's depthwise path
 * (ops/quant_conv.c: one input channel per group and one output channel per group): for one
 * output row of one channel, the sum over the kernel's taps of an input byte times the tap's
 * weight, in exact int32.
 *
 *   acc (n) int32 = sum_t src[t][j] * w[t],   src[t] (n) uint8, w[t] in [-32768, 32767]
 *
 * The caller points src[t] at tap t's inputs for the row, already strided and padded (so each
 * is contiguous), and folds the zero points into a per-channel constant. Kernels (each equals
 * the reference bit for bit), picked by cpu_has():
 *   x86/qdw_avx512vnni.c  four taps' bytes as a quad per output, one vpdpbusd per 8 outputs
 *                     and 4 taps; weights in [-128, 127] only (else it runs qdw_row_avx512)
 *   x86/qdw_avx512.c  zero-extended bytes in int16 lanes, two taps per vpmaddwd, 32 outputs
 *   x86/qdw_avx2.c    the same on ymm, 16 outputs
 *   qdw_row_ref       portable.
 * The SIMD kernels compute whole blocks: every src[t] must be readable and acc writable up to
 * n rounded up to QDW_BLOCK (the extra outputs are garbage the caller ignores).
 *
 *   int32_t acc[QDW_ROUND(n)];
 *   qdw_row(acc, src, w, 9, n);   // a 3x3 tap set
 */
#ifndef INFERD_ONNX_QDWCONV_H
#define INFERD_ONNX_QDWCONV_H

#include <stdint.h>

#define QDW_BLOCK 32
#define QDW_ROUND(n) (((n) + QDW_BLOCK - 1) / QDW_BLOCK * QDW_BLOCK)

enum qdw_isa { QDW_REF, QDW_AVX2, QDW_AVX512, QDW_AVX512VNNI };

/* The kernel qdw_row runs on this CPU (honours INFERD_CPU_DISABLE); nonzero when isa is usable. */
enum qdw_isa qdw_isa_pick(void);
int qdw_isa_usable(enum qdw_isa isa);
const char *qdw_isa_name(enum qdw_isa isa);

void qdw_row_ref(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n);
/* Only after qdw_isa_usable(QDW_AVX2 / QDW_AVX512 / QDW_AVX512VNNI). */
void qdw_row_avx2(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n);
void qdw_row_avx512(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n);
void qdw_row_avx512vnni(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n);
/* The VNNI kernel's weights, made once per channel: w's taps as int8 bytes, four a uint32 (tap
 * 4q + k in byte k, taps past the last 0) in wq[0 .. (taps + 3) / 4); returns 0 (wq undefined)
 * when a weight lies outside [-128, 127] or taps > 4 * QDW_MAX_QUADS. Then
 * qdw_row_avx512vnni_q(acc, src, wq, taps, n) computes qdw_row's sums with src holding
 * (taps + 3) / 4 * 4 pointers (the ones past taps readable as src[0] is: their weight is 0). */
#define QDW_MAX_QUADS 16
int qdw_quads(const int32_t *w, int taps, uint32_t *wq);
void qdw_row_avx512vnni_q(int32_t *acc, const uint8_t *const *src, const uint32_t *wq, int taps, int64_t n);
void qdw_row_isa(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n, enum qdw_isa isa);
/* The best kernel this CPU has. */
void qdw_row(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n);

#endif
