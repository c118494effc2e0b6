/* conv_avx512.c — AVX-512F conv kernels: conv_tmpl.h at 16 lanes with 12x32 GEMM tiles (24
 * zmm accumulators). Compiled with -mavx512f (CMakeLists.txt, files named *_avx512.c); call
 * only after cpu_has(CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL). */
#include <immintrin.h>

#include "base/x86/vexp_avx512.h"
#include "onnx/x86/act_silu.h"

#define VL 16
#define ROWS 12
#define VF __m512
#define MASK __mmask16
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOADM(p, m) _mm512_maskz_loadu_ps((m), (p))
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VMIN(a, b) _mm512_min_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSIGMOID(v) vsigmoid_avx512(v)
#define VSILU(v) ox_silu_avx512(v)
#define MASK_N(n) ((__mmask16)((1u << (n)) - 1u))
#define MASK_RANGE(a, b) ((__mmask16)(((1u << (b)) - 1u) & ~((1u << (a)) - 1u)))
#define VGATHER(base, first, step, m)                                                                                  \
    _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (m),                                                               \
                             _mm512_add_epi32(_mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, \
                                                                                  5, 4, 3, 2, 1, 0),                  \
                                                                 _mm512_set1_epi32((int)(step))),                     \
                                              _mm512_set1_epi32((int)(first))),                                      \
                             (base), 4)
#define VEVEN(lo, hi)                                                                                                  \
    _mm512_permutex2var_ps((lo), _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), (hi))
#define FN(name) name##_avx512

#include "onnx/x86/conv_tmpl.h"
#include "onnx/x86/stem_tmpl.h" /* the first-layer direct conv (conv_stem.h) */
#include "onnx/x86/cdir_tmpl.h" /* the direct conv for 3x3+ kernels (conv_direct.h) */
#include "onnx/x86/mb_tmpl.h"   /* InferdMBConv's channel-blocked expand and depthwise (mbconv_kern.h) */
