/* cpu.h — run-time CPU feature detection, so one binary picks AVX2/FMA kernels where the
 * machine has them and the portable scalar reference elsewhere.
 *
 *   if (cpu_has(CPU_AVX2) && cpu_has(CPU_FMA)) use_avx2_kernels();
 *   printf("%s\n", cpu_features_str());   // "avx2 fma f16c"
 */
#ifndef INFERD_CPU_H
#define INFERD_CPU_H

enum cpu_feature {
    CPU_SSE3 = 1 << 0,
    CPU_SSSE3 = 1 << 1,
    CPU_AVX = 1 << 2,
    CPU_AVX2 = 1 << 3,
    CPU_FMA = 1 << 4,
    CPU_F16C = 1 << 5,
    CPU_AVX512F = 1 << 6,
    CPU_AVX512BW = 1 << 7,
    CPU_AVX512VNNI = 1 << 8,
    CPU_AVXVNNI = 1 << 9,
    CPU_AVX512VL = 1 << 10,
    CPU_AVX512VBMI = 1 << 11, /* vpermb / vpermt2b: byte tables (int8 requantisation) */
};

/* Nonzero when the CPU has every feature in mask. Setting INFERD_CPU_DISABLE=all (or a
 * mask such as "avx2,fma") turns features off, for testing the fallback paths. */
int cpu_has(unsigned mask);
/* Space-separated names of the detected (and not disabled) features. */
const char *cpu_features_str(void);

#endif
