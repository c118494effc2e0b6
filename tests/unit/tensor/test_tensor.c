/* test_tensor.c — dtype tables, shape arithmetic and half-precision round trips. */
#include "check.h"
#include "inferd/tensor.h"

#include <string.h>

int main(void)
{
    CHECK(inferd_dtype_size(INFERD_FP32) == 4);
    CHECK(inferd_dtype_from_v2_name("INT64") == INFERD_INT64);
    CHECK(inferd_dtype_from_v2_name("nope") == INFERD_DTYPE_INVALID);
    CHECK(inferd_dtype_from_onnx(1) == INFERD_FP32);
    CHECK(inferd_dtype_to_onnx(INFERD_BOOL) == 9);
    int64_t dims[3] = {2, 3, 4};
    CHECK(inferd_shape_numel(3, dims) == 24);
    int64_t big[2] = {INT64_MAX, 3};
    CHECK(inferd_shape_numel(2, big) == -1);
    char buf[64];
    CHECK(strcmp(inferd_shape_str(3, dims, buf, sizeof buf), "[2,3,4]") == 0);
    /* every finite half round-trips exactly through float */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        if (inferd_fp32_to_fp16(inferd_fp16_to_fp32((uint16_t)h)) != h)
            bad++;
    }
    CHECK(bad == 0);
    CHECK(inferd_fp32_to_fp16(65520.0f) == 0x7c00); /* rounds to inf */
    CHECK_NEAR(inferd_fp16_to_fp32(inferd_fp32_to_fp16(0.1f)), 0.1, 1e-4);
    CHECK(inferd_fp32_to_bf16(1.0f) == 0x3f80);
    CHECK_NEAR(inferd_bf16_to_fp32(inferd_fp32_to_bf16(3.14159f)), 3.14159, 0.02);
    /* BYTES: 4-byte little-endian length, then the bytes, per element */
    const unsigned char ser[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'};
    CHECK(inferd_bytes_count(ser, sizeof ser) == 3);
    CHECK(inferd_bytes_count(ser, 0) == 0);
    CHECK(inferd_bytes_count(ser, sizeof ser - 1) == -1); /* last string cut short */
    CHECK(inferd_bytes_count(ser, 3) == -1);              /* length prefix cut short */
    CHECK(inferd_bytes_offset(ser, sizeof ser, 0) == 0);
    CHECK(inferd_bytes_offset(ser, sizeof ser, 1) == 6);
    CHECK(inferd_bytes_offset(ser, sizeof ser, 2) == 10);
    CHECK(inferd_bytes_offset(ser, sizeof ser, 3) == sizeof ser);
    CHECK(inferd_bytes_offset(ser, sizeof ser, 9) == sizeof ser);
    return check_finish();
}
