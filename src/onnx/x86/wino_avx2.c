/* wino_avx2.c — AVX2+FMA Winograd transforms: wino_tmpl.h at 8 tiles per vector. Compiled
 * with -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>

#include "base/x86/vexp_avx2.h"

#define VL 8
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VSIGMOID(v) vsigmoid_avx2(v)
#define VSILU(v) vsilu_avx2(v)
#define FN(name) name##_avx2

#include "onnx/x86/wino_tmpl.h"
