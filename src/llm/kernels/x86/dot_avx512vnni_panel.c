/* dot_avx512vnni_panel.c — panel GEMM (panel.h) with AVX-512 VNNI: 16 rows per zmm,
 * vpdpbusd, Q4_0 and Q8_0. Only reached after cpu_has(KERN_ISA_AVX512VNNI_MASK). */
#define KSUF avx512vnni
#define PANEL_512 1
#define PANEL_VNNI 1
#include "gemm_panel_body.h"
