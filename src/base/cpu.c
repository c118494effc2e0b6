/* cpu.c — CPU feature detection through the compiler's cpuid builtins. */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static unsigned cpu_mask;
static char cpu_names[160];
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static const struct {
    unsigned bit;
    const char *name;
} cpu_table[] = {
    {CPU_SSE3, "sse3"},       {CPU_SSSE3, "ssse3"},       {CPU_AVX, "avx"},
    {CPU_AVX2, "avx2"},       {CPU_FMA, "fma"},           {CPU_F16C, "f16c"},
    {CPU_AVX512F, "avx512f"}, {CPU_AVX512BW, "avx512bw"}, {CPU_AVX512VNNI, "avx512vnni"},
    {CPU_AVXVNNI, "avxvnni"},  {CPU_AVX512VL, "avx512vl"}, {CPU_AVX512VBMI, "avx512vbmi"},
};

static void cpu_detect(void)
{
    unsigned m = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse3")) m |= CPU_SSE3;
    if (__builtin_cpu_supports("ssse3")) m |= CPU_SSSE3;
    if (__builtin_cpu_supports("avx")) m |= CPU_AVX;
    if (__builtin_cpu_supports("avx2")) m |= CPU_AVX2;
    if (__builtin_cpu_supports("fma")) m |= CPU_FMA;
    if (__builtin_cpu_supports("avx512f")) m |= CPU_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) m |= CPU_AVX512BW;
    if (__builtin_cpu_supports("avx512vnni")) m |= CPU_AVX512VNNI;
    if (__builtin_cpu_supports("avx512vl")) m |= CPU_AVX512VL;
    if (__builtin_cpu_supports("avx512vbmi")) m |= CPU_AVX512VBMI;
    {
        /* F16C: CPUID.1:ECX bit 29 (no __builtin_cpu_supports name in gcc 12). */
        unsigned a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
        if (c & (1u << 29)) m |= CPU_F16C;
        /* AVX-VNNI (VEX vpdpbusd): CPUID.(7,1):EAX bit 4; needs the AVX state, which the
         * avx2 check above already confirmed with the OS. */
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
        if (a >= 7 && (m & CPU_AVX2)) {
            __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(1));
            if (a & (1u << 4)) m |= CPU_AVXVNNI;
        }
    }
#endif
    const char *off = getenv("INFERD_CPU_DISABLE");
    if (off && *off) {
        if (strcmp(off, "all") == 0)
            m = 0;
        for (size_t i = 0; i < sizeof cpu_table / sizeof cpu_table[0]; i++) { /* whole names: "avx512f" is not "avx" */
            size_t len = strlen(cpu_table[i].name);
            for (const char *p = off; (p = strstr(p, cpu_table[i].name)); p += len)
                if ((p == off || p[-1] == ',' || p[-1] == ' ') && (p[len] == '\0' || p[len] == ',' || p[len] == ' ')) {
                    m &= ~cpu_table[i].bit;
                    break;
                }
        }
    }
    cpu_mask = m;
    size_t off_w = 0;
    for (size_t i = 0; i < sizeof cpu_table / sizeof cpu_table[0]; i++) {
        if (!(m & cpu_table[i].bit))
            continue;
        size_t len = strlen(cpu_table[i].name);
        if (off_w + len + 2 > sizeof cpu_names)
            break;
        if (off_w)
            cpu_names[off_w++] = ' ';
        memcpy(cpu_names + off_w, cpu_table[i].name, len);
        off_w += len;
        cpu_names[off_w] = '\0';
    }
}

int cpu_has(unsigned mask)
{
    pthread_once(&cpu_once, cpu_detect);
    return (cpu_mask & mask) == mask;
}

const char *cpu_features_str(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_names;
}
