/* dot_avx512vnni_panel_k.c — Q4_K / Q5_K / Q6_K panel GEMM (panel.h) with AVX-512 VNNI: 16 rows
 * per zmm, vpdpbusd. Only reached after cpu_has(KERN_ISA_AVX512VNNI_MASK). */
#define KSUF avx512vnni
#define PANEL_512 1
#define PANEL_VNNI 1
#include "gemm_panel_k_body.h"
