/* vexp_poly.h — the constants of vexp_avx2.h's and vexp_avx512.h's exp (ggml_v_expf, llama.cpp,
 * MIT), shared with the SiLU epilogue that inlines the same reduction and polynomial
 * (src/onnx/x86/act_silu.h): exp(b) ~ 1 + P1 b + P2 b^2 + ... + P5 b^5 on |b| <= ln 2 / 2,
 * n = round(x log2 e) by adding VEXP_ROUND (1.5 * 2^23: n lands in the low mantissa bits). */
#ifndef INFERD_BASE_X86_VEXP_POLY_H
#define INFERD_BASE_X86_VEXP_POLY_H

#define VEXP_ROUND 0x1.8p23f
#define VEXP_LOG2E 0x1.715476p+0f
#define VEXP_P1 0x1.ffffecp-1f
#define VEXP_P2 0x1.fffdb6p-2f
#define VEXP_P3 0x1.555e66p-3f
#define VEXP_P4 0x1.573e2ep-5f
#define VEXP_P5 0x1.0e4020p-7f

#endif
