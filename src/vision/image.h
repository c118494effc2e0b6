/* image.h — decoding untrusted PNG and JPEG bytes into RGB pixels, and the resampling the
 * OCR pipeline needs (bilinear crop-and-resize into a normalised CHW float plane).
 *
 * Decoders refuse an image whose width or height exceeds max_side or whose pixel count
 * exceeds max_pixels before allocating its pixels, so a small file cannot claim gigabytes.
 * PNG is decoded with libpng's simplified API, JPEG with libjpeg(-turbo); libjpeg's
 * warnings (a truncated stream, bad Huffman data) are errors here, not grey fill.
 *
 *   struct vision_image im;
 *   if (vision_decode(bytes, len, 4096, 4096 * 4096, &im, &err) < 0) reply 400 err.msg;
 *   ... im.px[(y * im.w + x) * 3 + c] ...
 *   vision_image_free(&im);
 */
#ifndef INFERD_VISION_IMAGE_H
#define INFERD_VISION_IMAGE_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

/* An 8-bit RGB image, rows packed (stride w * 3). px is malloc'd and owned. */
struct vision_image {
    int w, h;
    uint8_t *px;
};

/* Decodes PNG or JPEG bytes (told apart by their signatures). OUT: *out (free with
 * vision_image_free). Returns 0, or INFERD_EFORMAT ("not a PNG or JPEG image", "PNG: <libpng's
 * reason>", "JPEG: <libjpeg's reason>"), INFERD_EINVAL (dimensions over max_side / max_pixels,
 * named in the message) or INFERD_ENOMEM; *out is then zeroed. */
int vision_decode(const void *data, size_t len, int max_side, int64_t max_pixels, struct vision_image *out,
                  struct inferd_err *err);
/* Frees im->px and zeroes im. NULL is a no-op. */
void vision_image_free(struct vision_image *im);

/* Samples the axis-aligned region [x0,x1) x [y0,y1) of src (coordinates in pixels, may be
 * fractional, clamped to the image) into dst, a CHW float plane of 3 x out_h x out_w whose
 * rows are dst_w floats apart (dst_w >= out_w; columns out_w..dst_w are left untouched).
 * Channel order B, G, R (the PaddleOCR models were trained on OpenCV's BGR), each value
 * (v / 255 - mean[c]) / std[c]. turns: the region is read turned counter-clockwise by
 * 0..3 quarter turns (1 = 90 degrees as numpy's rot90: out_w then spans the region's
 * height; 2 = 180 degrees; 3 = 270). Bilinear, pixel centres at +0.5 as OpenCV's resize. */
void vision_sample_chw(const struct vision_image *src, float x0, float y0, float x1, float y1, int turns,
                       float *dst, int out_w, int out_h, int dst_w, const float mean[3], const float std[3]);

#endif
