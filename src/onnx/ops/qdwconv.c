/* qdwconv.c — the depthwise int8 row kernel's portable reference and dispatch (see qdwconv.h). */
#include "onnx/ops/qdwconv.h"

#include "base/cpu.h"

void qdw_row_ref(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        acc[j] = 0;
    for (int t = 0; t < taps; t++) {
        const uint8_t *s = src[t];
        const int32_t wt = w[t];
        for (int64_t j = 0; j < n; j++)
            acc[j] += (int32_t)s[j] * wt;
    }
}

int qdw_quads(const int32_t *w, int taps, uint32_t *wq)
{
    if (taps > 4 * QDW_MAX_QUADS)
        return 0;
    for (int q = 0; q < (taps + 3) / 4; q++) {
        uint32_t v = 0;
        for (int k = 0; k < 4 && 4 * q + k < taps; k++) {
            const int32_t x = w[4 * q + k];
            if (x < -128 || x > 127)
                return 0;
            v |= (uint32_t)(uint8_t)(int8_t)x << (8 * k);
        }
        wq[q] = v;
    }
    return 1;
}

int qdw_isa_usable(enum qdw_isa isa)
{
    switch (isa) {
    case QDW_AVX512VNNI:
        return cpu_has(CPU_AVX2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL | CPU_AVX512VNNI);
    case QDW_AVX512:
        return cpu_has(CPU_AVX2 | CPU_AVX512F | CPU_AVX512BW);
    case QDW_AVX2:
        return cpu_has(CPU_AVX2);
    case QDW_REF:
        return 1;
    }
    return 0;
}

enum qdw_isa qdw_isa_pick(void)
{
    if (qdw_isa_usable(QDW_AVX512VNNI))
        return QDW_AVX512VNNI;
    return qdw_isa_usable(QDW_AVX512) ? QDW_AVX512 : qdw_isa_usable(QDW_AVX2) ? QDW_AVX2 : QDW_REF;
}

const char *qdw_isa_name(enum qdw_isa isa)
{
    static const char *const names[] = {"ref", "avx2", "avx512", "avx512vnni"};
    return (unsigned)isa < 4 ? names[isa] : "?";
}

void qdw_row_isa(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n, enum qdw_isa isa)
{
    if (isa == QDW_AVX512VNNI)
        qdw_row_avx512vnni(acc, src, w, taps, n);
    else if (isa == QDW_AVX512)
        qdw_row_avx512(acc, src, w, taps, n);
    else if (isa == QDW_AVX2)
        qdw_row_avx2(acc, src, w, taps, n);
    else
        qdw_row_ref(acc, src, w, taps, n);
}

void qdw_row(int32_t *acc, const uint8_t *const *src, const int32_t *w, int taps, int64_t n)
{
    qdw_row_isa(acc, src, w, taps, n, qdw_isa_pick());
}
