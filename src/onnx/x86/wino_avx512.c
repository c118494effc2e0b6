/* wino_avx512.c — AVX-512F Winograd transforms: wino_tmpl.h at 16 tiles per vector.
 * Compiled with -mavx512f (CMakeLists.txt, files named *_avx512.c); call only after
 * cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL). */
#include <immintrin.h>

#include "base/x86/vexp_avx512.h"
#include "onnx/x86/act_silu.h"

#define VL 16
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VSIGMOID(v) vsigmoid_avx512(v)
#define VSILU(v) ox_silu_avx512(v)
#define FN(name) name##_avx512
#define VLOADN(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1u), (p))
#define VLOADR(p, lo, hi) _mm512_maskz_loadu_ps((__mmask16)(((1u << (hi)) - 1u) & ~((1u << (lo)) - 1u)), (p))
#define VSTOREN(p, n, v) _mm512_mask_storeu_ps((p), (__mmask16)((1u << (n)) - 1u), (v))

#include "onnx/x86/wino_tmpl.h"
