/* dot_avxvnni_panel_k.c — Q4_K / Q5_K / Q6_K panel GEMM (panel.h) with AVX-VNNI: 8 rows per ymm,
 * VEX vpdpbusd. Only reached after cpu_has(KERN_ISA_AVXVNNI_MASK). */
#define KSUF avxvnni
#define PANEL_VNNI 1
#include "gemm_panel_k_body.h"
