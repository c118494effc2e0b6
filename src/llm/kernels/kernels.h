/* kernels.h — per-type row kernels for the LLM engine: dequantize (row -> f32), quantize
 * (f32 -> row), and the dot product of a weight row with an activation row.
 *
 * Like llama.cpp, every weight type has a "vec_dot_type": the format the activation vector
 * is quantized to before the dot product, so that quantized weights are multiplied with
 * integer arithmetic (Q4_0..Q8_0 -> Q8_0 activations, K-quants -> Q8_K, F16 -> F16,
 * F32 and BF16 -> F32). kern_get() returns the fastest implementation the CPU supports
 * (AVX2/FMA/F16C when cpu_has() says so), kern_get_ref() the portable scalar reference
 * that tests compare against. Tables are immutable; the returned pointers are static.
 *
 *   const struct kern_type *k = kern_get(GGML_TYPE_Q4_0);
 *   kern_quantize_row(k->vec_dot_type, x, xq, n);     // activation -> Q8_0
 *   float s; k->vec_dot(n, &s, weight_row, xq);        // W row (n,) . x (n,) -> s
 *   k->dequant_row(weight_row, out, n);                 // W row -> f32 (n,)
 */
#ifndef INFERD_LLM_KERNELS_H
#define INFERD_LLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm/gguf.h"

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define QK4_NL 32

/* Block layouts, byte-identical to ggml's (see ggml_types.c for the size table). */
struct blk_q4_0 { uint16_t d; uint8_t qs[16]; };
struct blk_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct blk_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct blk_q8_0 { uint16_t d; int8_t qs[32]; };
struct blk_q4_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct blk_q5_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct blk_q6_k { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct blk_q8_k { float d; int8_t qs[256]; int16_t bsums[16]; };
struct blk_q2_k { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct blk_q3_k { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct blk_iq4_nl { uint16_t d; uint8_t qs[16]; };
struct blk_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };

/* n elements (a multiple of the block size). */
typedef void (*kern_dequant_fn)(const void *src, float *dst, int64_t n);
typedef void (*kern_quant_fn)(const float *src, void *dst, int64_t n);
/* *s = dot(w, a) over n elements; w in the weight type, a in its vec_dot_type. */
typedef void (*kern_dot_fn)(int64_t n, float *s, const void *w, const void *a);

/* 4 weight rows x 2 activation rows at once (prompt processing): y[t * ldy + r] =
 * dot(w row r, a row t) for r < 4, t < 2; weight rows ws bytes apart, activation rows as. */
typedef void (*kern_gemm4x2_fn)(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,
                                size_t ldy);

struct kern_type {
    enum ggml_type type;
    enum ggml_type vec_dot_type;
    kern_dequant_fn dequant_row;
    kern_quant_fn quantize_row;  /* NULL when we cannot produce this type */
    kern_dot_fn vec_dot;
    kern_gemm4x2_fn gemm4x2;     /* NULL: use vec_dot (or the sgemm path) */
};

/* 4 weight rows x n_tok activation rows, y[t * ldy + r] for t < the returned count (a
 * multiple of 4, possibly 0: the caller does the rest another way). */
typedef int (*kern_gemm4xn_fn)(int64_t n, const void *w, size_t ws, const void *a, size_t as, float *y,
                               size_t ldy, int n_tok);
#define KERN_GEMM4XN_MAX_N 8192
/* One activation row a against 4 weight rows w + k * ws (k < 4): y[k * ys] = w_k . a, each
 * bit-identical to the type's vec_dot on that row. */
typedef void (*kern_dot4_fn)(int64_t n, const void *w, size_t ws, const void *a, float *y, size_t ys);  /* longer rows: gemm4xn returns 0 */

/* Wider register tiles (same contract as gemm4x2 with 4 activation rows), where the CPU's
 * kernel set has them for a type; members NULL where not. */
struct kern_tiles {
    kern_gemm4x2_fn gemm4x4;     /* 4 weight rows x 4 activation rows (prompt processing) */
    kern_gemm4xn_fn gemm4xn;     /* the 4 weight rows unpacked once for all activation rows */
    kern_dot4_fn dot4;           /* 1 activation row x 4 weight rows (generation, 4 streams) */
};

/* NULL for types the engine does not run. */
const struct kern_type *kern_get(enum ggml_type t);
const struct kern_type *kern_get_ref(enum ggml_type t);
/* Never NULL (all members NULL when there are none for t on this CPU). */
const struct kern_tiles *kern_get_tiles(enum ggml_type t);
/* Whether kern_get picks SIMD kernels on this CPU (for logs and tests). */
int kern_simd_active(void);
/* The instruction set kern_get's integer kernels use on this CPU: "avx512vnni", "avx512",
 * "avxvnni", "avx2" or "scalar" (static string; for logs and benches). */
const char *kern_isa_name(void);
/* Quantizes n floats into type t (which must have a quantize_row). Returns 0 or EUNSUPPORTED. */
int kern_quantize_row(enum ggml_type t, const float *src, void *dst, int64_t n);

/* Attention helpers over KV-cache rows stored as F16 or F32:
 * dot: q (n,) . k (n,) -> float;  axpy: y (n,) += a * v (n,);  store: f32 (n,) -> cache row. */
enum kern_kv_type { KERN_KV_F32 = 0, KERN_KV_F16 = 1, KERN_KV_Q8_0 = 2 };
struct kern_kv_ops {
    float (*dot)(const float *q, const void *k, int n);
    void (*axpy)(float *y, float a, const void *v, int n);
    kern_quant_fn store;
    int block;                   /* values per block: 1 (F16, F32) or 32 (Q8_0) */
    size_t block_bytes;          /* 2, 4, 34 */
};
/* Bytes of n values (n a multiple of the block). */
static inline size_t kern_kv_bytes(const struct kern_kv_ops *o, int n)
{
    return (size_t)(n / o->block) * o->block_bytes;
}
const struct kern_kv_ops *kern_kv(enum kern_kv_type type);

/* ---- scalar reference kernels (dequant.c, quantize.c, dot_ref.c) ---- */
void dequant_row_f32(const void *src, float *dst, int64_t n);
void dequant_row_f16(const void *src, float *dst, int64_t n);
void dequant_row_bf16(const void *src, float *dst, int64_t n);
void dequant_row_q4_0(const void *src, float *dst, int64_t n);
void dequant_row_q4_1(const void *src, float *dst, int64_t n);
void dequant_row_q5_0(const void *src, float *dst, int64_t n);
void dequant_row_q5_1(const void *src, float *dst, int64_t n);
void dequant_row_q8_0(const void *src, float *dst, int64_t n);
void dequant_row_q4_k(const void *src, float *dst, int64_t n);
void dequant_row_q5_k(const void *src, float *dst, int64_t n);
void dequant_row_q6_k(const void *src, float *dst, int64_t n);
void dequant_row_q8_k(const void *src, float *dst, int64_t n);
void dequant_row_q2_k(const void *src, float *dst, int64_t n);
void dequant_row_q3_k(const void *src, float *dst, int64_t n);
void dequant_row_iq4_nl(const void *src, float *dst, int64_t n);
void dequant_row_iq4_xs(const void *src, float *dst, int64_t n);

void quant_row_f32(const float *src, void *dst, int64_t n);
void quant_row_f16(const float *src, void *dst, int64_t n);
void quant_row_bf16(const float *src, void *dst, int64_t n);
void quant_row_q4_0(const float *src, void *dst, int64_t n);
void quant_row_q4_1(const float *src, void *dst, int64_t n);
void quant_row_q5_0(const float *src, void *dst, int64_t n);
void quant_row_q5_1(const float *src, void *dst, int64_t n);
void quant_row_q8_0(const float *src, void *dst, int64_t n);
void quant_row_q8_k(const float *src, void *dst, int64_t n);
/* Weight quantizers, byte-identical to ggml's reference ones (quantize_k.c, iq4.c). */
void quant_row_q2_k(const float *src, void *dst, int64_t n);
void quant_row_q3_k(const float *src, void *dst, int64_t n);
void quant_row_q4_k(const float *src, void *dst, int64_t n);
void quant_row_q5_k(const float *src, void *dst, int64_t n);
void quant_row_q6_k(const float *src, void *dst, int64_t n);
void quant_row_iq4_nl(const float *src, void *dst, int64_t n);
void quant_row_iq4_xs(const float *src, void *dst, int64_t n);

void dot_ref_f32(int64_t n, float *s, const void *w, const void *a);
void dot_ref_f16(int64_t n, float *s, const void *w, const void *a);
void dot_ref_bf16(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q4_0(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q4_1(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q5_0(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q5_1(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q8_0(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q4_k(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q5_k(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q6_k(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q2_k(int64_t n, float *s, const void *w, const void *a);
void dot_ref_q3_k(int64_t n, float *s, const void *w, const void *a);
void dot_ref_iq4_nl(int64_t n, float *s, const void *w, const void *a);
void dot_ref_iq4_xs(int64_t n, float *s, const void *w, const void *a);

/* Round to nearest, ties to even, for |f| <= 2^22 (ggml's nearest_int). */
int kern_nearest_int(float f);
/* The 16 IQ4_NL / IQ4_XS levels. */
extern const int8_t kern_iq4nl_values[16];

/* Q3_K sub-block j's (0..15) 6-bit scale minus 32 from the 12 packed bytes. */
static inline int kern_scale_q3_k(int j, const uint8_t *s)
{
    int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

/* Q4_K/Q5_K 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void kern_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
