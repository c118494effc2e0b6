/* dot_avx512vnni.c — AVX-512 VNNI integer kernels (vpdpbusd on zmm), for Ice Lake / Zen 4
 * and later. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only reached after
 * cpu_has(KERN_ISA_AVX512VNNI_MASK). The kernels are in dot512_body.h (Q2_K and Q3_K:
 * dot512_q23k.h, VNNI only). */
#define KSUF avx512vnni
#define KERN_VNNI 1
#include "dot512_body.h"
#include "dot512_gemv.h"
#include "dot512_q23k.h"
