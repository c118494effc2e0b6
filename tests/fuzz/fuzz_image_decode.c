/* fuzz_image_decode.c — libFuzzer driver for the OCR pipeline's image decoders
 * (src/vision/image.h: PNG through libpng, JPEG through libjpeg), with small dimension caps.
 * Input: the file's bytes. */
#include "vision/image.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vision_image im;
    struct inferd_err err = {0};
    if (vision_decode(data, size, 512, 512 * 256, &im, &err) == 0) {
        /* invariants the pipeline relies on: the caps hold and every pixel is readable */
        if (im.w < 1 || im.h < 1 || im.w > 512 || im.h > 512 || (int64_t)im.w * im.h > 512 * 256)
            __builtin_trap();
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)im.w * (size_t)im.h * 3; i++)
            sum += im.px[i];
        static const float mean[3] = {0.5f, 0.5f, 0.5f};
        float plane[3 * 8 * 16];
        vision_sample_chw(&im, 0, 0, (float)im.w, (float)im.h, (int)(sum % 3), plane, 16, 8, 16, mean, mean);
        vision_image_free(&im);
    }
    return 0;
}
