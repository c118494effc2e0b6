/* gemm_panel_avx2.c — panel GEMM (panel.h) for AVX2: 8 rows per ymm, vpmaddubsw +
 * vpmaddwd, Q4_0 and Q8_0 (sign trick). Only reached after cpu_has(KERN_ISA_AVX2_MASK). */
#define KSUF avx2
#include "gemm_panel_body.h"
