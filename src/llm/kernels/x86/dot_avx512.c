/* dot_avx512.c — AVX-512F/BW/VL integer kernels (vpmaddubsw + vpmaddwd), for AVX-512 CPUs
 * without VNNI (Skylake-X class). Compiled with -mavx512f -mavx512bw -mavx512vl; only
 * reached after cpu_has(KERN_ISA_AVX512_MASK). The kernels are in dot512_body.h. */
#define KSUF avx512
#include "dot512_body.h"
#include "dot512_gemv.h"
