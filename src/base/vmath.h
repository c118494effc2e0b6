/* vmath.h — elementwise exp, sigmoid, SiLU and GELU over float arrays, on AVX-512 or AVX2 where
 * cpu_has() says so and a portable scalar reference elsewhere. The SIMD versions use the
 * vector exp of src/base/x86/vexp_avx2.h / vexp_avx512.h (Cephes-style 2^n * p(r)); kernels
 * that already hold vectors (conv epilogues, softmax) include those headers directly.
 * Accuracy against libm in double: exp within 3 ulp (denormal results within 3 * 2^-149),
 * sigmoid and SiLU within 5 ulp (tiny results of SiLU below -87 within 128 * 2^-149); GELU
 * within 8 ulp for x >= -2 and a relative 2^-14 below (erfc's slope magnifies the rounding
 * of x/sqrt2, as in libm's erfcf), through erfc so that no 1 + erf(x) cancels;
 * inf and NaN behave as the formulas; tests/unit/base/test_vmath.c checks every path.
 *
 *   vmath_sigmoid(y, x, n);                      // y[i] = 1 / (1 + exp(-x[i])), y may be x
 *   vmath_silu(y, y, n);                         // in place: y[i] *= sigmoid(y[i])
 *   const struct vmath_kern *k = vmath_best();   // the table the calls above use
 *   printf("%s\n", k->name);                     // "avx512", "avx2" or "ref"
 */
#ifndef INFERD_BASE_VMATH_H
#define INFERD_BASE_VMATH_H

#include <stddef.h>

/* y (n,) = f(x (n,)); y may equal x, other overlap is undefined. */
typedef void (*vmath_fn)(float *y, const float *x, size_t n);

struct vmath_kern {
    vmath_fn exp;     /* exp(x) */
    vmath_fn sigmoid; /* 1 / (1 + exp(-x)) */
    vmath_fn silu;    /* x * sigmoid(x) (torch's SiLU, ONNX Swish) */
    vmath_fn gelu;    /* 0.5 * x * (1 + erf(x / sqrt(2))) (ONNX Gelu, approximate "none") */
    const char *name;
};

extern const struct vmath_kern vmath_ref;    /* portable scalar reference (libm expf) */
extern const struct vmath_kern vmath_avx2;   /* needs cpu_has(CPU_AVX2 | CPU_FMA) */
extern const struct vmath_kern vmath_avx512; /* needs cpu_has(CPU_AVX512F) */

/* The fastest table this CPU runs (INFERD_CPU_DISABLE applies). */
const struct vmath_kern *vmath_best(void);

void vmath_exp(float *y, const float *x, size_t n);
void vmath_sigmoid(float *y, const float *x, size_t n);
void vmath_silu(float *y, const float *x, size_t n);
void vmath_gelu(float *y, const float *x, size_t n);

#endif
