/* gemm_panel_k_avx512.c — Q4_K / Q5_K / Q6_K panel GEMM (panel.h) for AVX-512F/BW/VL without VNNI:
 * 16 rows per zmm, vpmaddubsw + vpmaddwd. Only reached after cpu_has(KERN_ISA_AVX512_MASK). */
#define KSUF avx512
#define PANEL_512 1
#include "gemm_panel_k_body.h"
