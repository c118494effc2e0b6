/* dot_avxvnni_panel.c — panel GEMM (panel.h) with AVX-VNNI: 8 rows per ymm, VEX vpdpbusd,
 * Q4_0 and Q8_0. Only reached after cpu_has(KERN_ISA_AVXVNNI_MASK). */
#define KSUF avxvnni
#define PANEL_VNNI 1
#include "gemm_panel_body.h"
