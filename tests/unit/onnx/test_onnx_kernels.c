/* test_onnx_kernels.c — inferd ONNX engine internals: the protobuf wire reader (varints,
 * packed/unpacked repeated fields, truncation), and the AVX2 A@B^T kernel against its
 * packed-panel kernel against their portable reference over odd sizes (|diff| <= 1e-4 * (1 + |ref|)). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "check.h"
#include "onnx/gemm_nt.h"
#include "onnx/pb.h"

static void test_pb(void)
{
    struct inferd_err err = {0};
    /* field 1 varint 300, field 2 len "hi", field 3 packed varints {1, 150}, field 4 fixed32 */
    const uint8_t msg[] = {0x08, 0xac, 0x02, 0x12, 0x02, 'h', 'i', 0x1a, 0x03, 0x01, 0x96, 0x01,
                           0x25, 0x00, 0x00, 0x80, 0x3f};
    struct pb_reader r = pb_reader_init(msg, sizeof msg);
    struct pb_field f;
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 1 && f.wire == PB_VARINT && f.v == 300);
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 2 && f.len == 2 && memcmp(f.data, "hi", 2) == 0);
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 3);
    CHECK(pb_repeated_count(&f, PB_ELEM_VARINT, &err) == 2);
    uint64_t v[2];
    CHECK(pb_repeated_read(&f, PB_ELEM_VARINT, v, 2, &err) == 0 && v[0] == 1 && v[1] == 150);
    CHECK(pb_repeated_count(&f, PB_ELEM_FIXED32, &err) < 0); /* 3 bytes is not a multiple of 4 */
    CHECK(pb_next(&r, &f, &err) == 1 && f.num == 4 && f.wire == PB_FIXED32);
    float x;
    uint32_t u = (uint32_t)f.v;
    memcpy(&x, &u, 4);
    CHECK(x == 1.0f);
    CHECK(pb_next(&r, &f, &err) == 0);
    /* every truncation of the message is either a clean prefix or EFORMAT, never a read past the end */
    for (size_t cut = 0; cut < sizeof msg; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, msg, cut);
        r = pb_reader_init(copy, cut);
        int rc;
        while ((rc = pb_next(&r, &f, &err)) > 0)
            ;
        CHECK(rc == 0 || rc == INFERD_EFORMAT);
        free(copy);
    }
    const uint8_t longlen[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
    r = pb_reader_init(longlen, sizeof longlen);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
    const uint8_t group[] = {0x0b};
    r = pb_reader_init(group, 1);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
    const uint8_t tenbytes[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    r = pb_reader_init(tenbytes, sizeof tenbytes);
    CHECK(pb_next(&r, &f, &err) == INFERD_EFORMAT);
}

static void test_gemm_nt(void)
{
    if (!cpu_has(CPU_AVX2 | CPU_FMA)) {
        printf("no AVX2+FMA: only the reference runs\n");
        return;
    }
    static const int ks[] = {1, 7, 8, 9, 100, 513, 1100};
    uint32_t s = 1;
    for (int m = 1; m <= 13; m++) {
        for (int n = 1; n <= 35; n += (n < 7 ? 1 : 14)) {
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                int k = ks[ki];
                float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(n * k));
                float *c1 = malloc(sizeof(float) * (size_t)(m * n)), *c2 = malloc(sizeof(float) * (size_t)(m * n));
                for (int i = 0; i < m * k; i++)
                    a[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int i = 0; i < n * k; i++)
                    b[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
                for (int acc = 0; acc < 2; acc++) {
                    for (int i = 0; i < m * n; i++)
                        c1[i] = c2[i] = (float)i * 0.25f;
                    struct ox_gemm_nt g1 = {a, b, c1, k, k, k, n, 0.75f, acc}, g2 = g1;
                    g2.c = c2;
                    ox_gemm_nt_ref(&g1, 0, m, 0, n);
                    ox_gemm_nt_avx2(&g2, 0, m, 0, n);
                    for (int i = 0; i < m * n; i++)
                        CHECK(fabsf(c1[i] - c2[i]) <= 1e-4f * (1.0f + fabsf(c1[i])));
                    /* packed kernel (B as (N,K), i.e. transB) against the same reference */
                    float *bp = aligned_alloc(64, sizeof(float) * (size_t)ox_gemm_pack_size(k, n) + 64);
                    ox_gemm_pack(b, k, n, 1, bp);
                    for (int i = 0; i < m * n; i++)
                        c2[i] = (float)i * 0.25f;
                    struct ox_gemm_pk pk = {a, bp, c2, k, n, k, n, 0.75f, acc};
                    ox_gemm_pk_avx2(&pk, 0, m);
                    for (int i = 0; i < m * n; i++)
                        CHECK(fabsf(c1[i] - c2[i]) <= 1e-4f * (1.0f + fabsf(c1[i])));
                    free(bp);
                }
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
        }
    }
}

int main(void)
{
    test_pb();
    test_gemm_nt();
    return check_finish();
}
