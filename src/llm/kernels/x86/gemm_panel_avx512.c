/* gemm_panel_avx512.c — panel GEMM (panel.h) for AVX-512F/BW/VL without VNNI: 16 rows per
 * zmm, vpmaddubsw + vpmaddwd, Q4_0 only. Only reached after cpu_has(KERN_ISA_AVX512_MASK). */
#define KSUF avx512
#define PANEL_512 1
#include "gemm_panel_body.h"
