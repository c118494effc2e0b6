/* conv_avx2.c — AVX2+FMA conv kernels: conv_tmpl.h at 8 lanes with 6x16 GEMM tiles (12 ymm
 * accumulators). Compiled with -mavx2 -mfma; call only after cpu_has(CPU_AVX2 | CPU_FMA). */
#include <immintrin.h>
#include <stdint.h>

#include "base/x86/vexp_avx2.h"
#include "onnx/x86/act_silu.h"

#define VL 8
#define ROWS 6
#define VF __m256
#define MASK __m256i
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOADM(p, m) _mm256_maskload_ps((p), (m))
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSTOREM(p, m, v) _mm256_maskstore_ps((p), (m), (v))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VMIN(a, b) _mm256_min_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSIGMOID(v) vsigmoid_avx2(v)
#define VSILU(v) ox_silu_avx2(v)
#define MASK_N(n) mask_n(n)
#define MASK_RANGE(a, b) _mm256_andnot_si256(mask_n(a), mask_n(b))
#define VGATHER(base, first, step, m)                                                                                  \
    _mm256_mask_i32gather_ps(_mm256_setzero_ps(), (base),                                                            \
                             _mm256_add_epi32(_mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),            \
                                                                 _mm256_set1_epi32((int)(step))),                     \
                                              _mm256_set1_epi32((int)(first))),                                      \
                             _mm256_castsi256_ps(m), 4)
#define VEVEN(lo, hi)                                                                                                  \
    _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps((lo), (hi), 0x88)), 0xD8))
#define FN(name) name##_avx2

static inline __m256i mask_n(int n)
{
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - n));
}

#include "onnx/x86/conv_tmpl.h"
#include "onnx/x86/stem_tmpl.h" /* the first-layer direct conv (conv_stem.h) */
#include "onnx/x86/cdir_tmpl.h" /* the direct conv for 3x3+ kernels (conv_direct.h) */
#include "onnx/x86/mb_tmpl.h"   /* InferdMBConv's channel-blocked expand and depthwise (mbconv_kern.h) */
