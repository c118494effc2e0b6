/* wino_avx2.c — AVX2+FMA Winograd transforms: wino_tmpl.h at 8 tiles per vector. Compiled
 * with -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>
#include <stdint.h>

#include "base/x86/vexp_avx2.h"
#include "onnx/x86/act_silu.h"

#define VL 8
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VSIGMOID(v) vsigmoid_avx2(v)
#define VSILU(v) ox_silu_avx2(v)
#define FN(name) name##_avx2
#define VLOADN(p, n) _mm256_maskload_ps((p), mask_n(n))
#define VSTOREN(p, n, v) _mm256_maskstore_ps((p), mask_n(n), (v))
#define VLOADR(p, lo, hi) _mm256_maskload_ps((p), _mm256_andnot_si256(mask_n(lo), mask_n(hi)))

static inline __m256i mask_n(int64_t n) /* the first n lanes, 0 <= n <= 8 */
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

#include "onnx/x86/wino_tmpl.h"
