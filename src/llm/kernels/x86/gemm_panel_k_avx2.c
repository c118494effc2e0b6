/* gemm_panel_k_avx2.c — Q4_K / Q5_K / Q6_K panel GEMM (panel.h) for AVX2: 8 rows per ymm,
 * vpmaddubsw + vpmaddwd. Only reached after cpu_has(KERN_ISA_AVX2_MASK). */
#define KSUF avx2
#include "gemm_panel_k_body.h"
