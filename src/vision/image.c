/* image.c — PNG/JPEG decoding with dimension caps, and bilinear sampling into CHW floats. */
#include "vision/image.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <png.h>

#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* A progressive JPEG may hold any number of scans, each a full pass over the coefficients:
 * a small file with thousands of them would take minutes. No real encoder writes more than
 * a few dozen (libjpeg-turbo's own tools cap this at 500 too). */
#define JPEG_MAX_SCANS 500

static int check_dims(const char *kind, long long w, long long h, int max_side, int64_t max_pixels,
                      struct inferd_err *err)
{
    if (w < 1 || h < 1)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: the image is empty (%lldx%lld)", kind, w, h);
    if (w > max_side || h > max_side)
        return inferd_err_set(err, INFERD_EINVAL, "%s: the image is %lldx%lld; its sides may be at most %d pixels",
                              kind, w, h, max_side);
    if (w * h > max_pixels)
        return inferd_err_set(err, INFERD_EINVAL, "%s: the image is %lldx%lld = %lld pixels; at most %lld are allowed",
                              kind, w, h, w * h, (long long)max_pixels);
    return 0;
}

static int decode_png(const void *data, size_t len, int max_side, int64_t max_pixels, struct vision_image *out,
                      struct inferd_err *err)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        int rc = inferd_err_set(err, INFERD_EFORMAT, "PNG: %s", img.message);
        png_image_free(&img);
        return rc;
    }
    int rc = check_dims("PNG", img.width, img.height, max_side, max_pixels, err);
    if (rc < 0) {
        png_image_free(&img);
        return rc;
    }
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px) {
        png_image_free(&img);
        return inferd_err_set(err, INFERD_ENOMEM, "PNG: out of memory for %ux%u pixels", img.width, img.height);
    }
    /* transparent pixels are composed onto white: text on a transparent page reads as text */
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&img, &white, px, 0, NULL)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "PNG: %s", img.message);
        png_image_free(&img);
        free(px);
        return rc;
    }
    out->w = (int)img.width;
    out->h = (int)img.height;
    out->px = px;
    png_image_free(&img);
    return 0;
}

struct jpeg_fail {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_fail_exit(j_common_ptr c)
{
    struct jpeg_fail *f = (struct jpeg_fail *)c->err;
    f->pub.format_message(c, f->msg);
    longjmp(f->jb, 1);
}

/* Warnings (level -1: corrupt or truncated data that libjpeg would paper over) fail the
 * decode; trace messages (level >= 0) are dropped. */
static void jpeg_fail_emit(j_common_ptr c, int level)
{
    if (level < 0)
        jpeg_fail_exit(c);
}

static void jpeg_scan_limit(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (c->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        struct jpeg_fail *f = (struct jpeg_fail *)c->err;
        snprintf(f->msg, sizeof f->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(f->jb, 1);
    }
}

/* In place: n CMYK pixels at p become n RGB pixels at p. Adobe's files store the inks
 * inverted (255 = no ink), which is what libjpeg hands back for them. */
static void cmyk_to_rgb(uint8_t *p, unsigned n, int adobe)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
        if (!adobe)
            c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        p[3 * i] = (uint8_t)(c * k / 255);
        p[3 * i + 1] = (uint8_t)(m * k / 255);
        p[3 * i + 2] = (uint8_t)(y * k / 255);
    }
}

static int decode_jpeg(const void *data, size_t len, int max_side, int64_t max_pixels, struct vision_image *out,
                       struct inferd_err *err)
{
    struct jpeg_decompress_struct d;
    struct jpeg_fail f;
    struct jpeg_progress_mgr prog = {.progress_monitor = jpeg_scan_limit};
    uint8_t *volatile px = NULL;
    volatile int rc = 0;
    memset(&d, 0, sizeof d);
    d.err = jpeg_std_error(&f.pub);
    f.pub.error_exit = jpeg_fail_exit;
    f.pub.emit_message = jpeg_fail_emit;
    f.msg[0] = '\0';
    if (setjmp(f.jb)) {
        if (rc == 0)
            rc = inferd_err_set(err, INFERD_EFORMAT, "JPEG: %s", f.msg);
        goto done;
    }
    jpeg_create_decompress(&d);
    d.progress = &prog;
    jpeg_mem_src(&d, (const unsigned char *)data, (unsigned long)len);
    jpeg_read_header(&d, TRUE);
    rc = check_dims("JPEG", d.image_width, d.image_height, max_side, max_pixels, err);
    if (rc < 0)
        goto done;
    /* libjpeg converts YCbCr and greyscale to RGB but not CMYK/YCCK: those come out as CMYK
     * and are converted below */
    int cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
    d.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&d);
    if (d.output_components != (cmyk ? 4 : 3)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "JPEG: %d colour components after conversion; want 3",
                            d.output_components);
        goto done;
    }
    size_t stride = (size_t)d.output_width * 3;
    px = malloc(stride * d.output_height + (cmyk ? (size_t)d.output_width : 0)); /* + room for a CMYK row */
    if (!px) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "JPEG: out of memory for %ux%u pixels", d.output_width,
                            d.output_height);
        goto done;
    }
    while (d.output_scanline < d.output_height) {
        uint8_t *dst = px + stride * d.output_scanline;
        JSAMPROW row = dst;
        if (jpeg_read_scanlines(&d, &row, 1) != 1) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "JPEG: the data ends at row %u of %u", d.output_scanline,
                                d.output_height);
            goto done;
        }
        if (cmyk) /* 4 bytes a pixel written over this row and the first third of the next */
            cmyk_to_rgb(dst, d.output_width, d.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d);
    out->w = (int)d.output_width;
    out->h = (int)d.output_height;
    out->px = px;
    px = NULL;
done:
    jpeg_destroy_decompress(&d);
    free(px);
    return rc;
}

int vision_decode(const void *data, size_t len, int max_side, int64_t max_pixels, struct vision_image *out,
                  struct inferd_err *err)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memset(out, 0, sizeof *out);
    if (len >= 8 && memcmp(data, png_sig, 8) == 0)
        return decode_png(data, len, max_side, max_pixels, out, err);
    if (len >= 3 && memcmp(data, "\xff\xd8\xff", 3) == 0)
        return decode_jpeg(data, len, max_side, max_pixels, out, err);
    return inferd_err_set(err, INFERD_EFORMAT, "not a PNG or JPEG image (%zu bytes starting %s)", len,
                          len == 0 ? "with nothing" : "with another signature");
}

void vision_image_free(struct vision_image *im)
{
    if (!im)
        return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

void vision_sample_chw(const struct vision_image *src, float x0, float y0, float x1, float y1, int turns,
                       float *dst, int out_w, int out_h, int dst_w, const float mean[3], const float std[3])
{
    float rw = x1 - x0, rh = y1 - y0;
    size_t plane = (size_t)out_h * (size_t)dst_w;
    float scale[3], bias[3];
    for (int c = 0; c < 3; c++) {
        scale[c] = 1.0f / (255.0f * std[c]);
        bias[c] = -mean[c] / std[c];
    }
    for (int oy = 0; oy < out_h; oy++) {
        float v = ((float)oy + 0.5f) / (float)out_h;
        for (int ox = 0; ox < out_w; ox++) {
            float u = ((float)ox + 0.5f) / (float)out_w;
            /* (u, v): where this output pixel lies in the turned region, 0..1; su, sv: in the
             * region as it is in src. One counter-clockwise turn (numpy's rot90) puts the
             * region's top-right corner at the output's top left. */
            float su = u, sv = v;
            if (turns == 1)
                su = 1 - v, sv = u;
            else if (turns == 2)
                su = 1 - u, sv = 1 - v;
            else if (turns == 3)
                su = v, sv = 1 - u;
            float fx = fminf(fmaxf(x0 + su * rw - 0.5f, 0.0f), (float)(src->w - 1));
            float fy = fminf(fmaxf(y0 + sv * rh - 0.5f, 0.0f), (float)(src->h - 1));
            int ix = (int)fx, iy = (int)fy;
            int ix1 = ix + 1 < src->w ? ix + 1 : ix, iy1 = iy + 1 < src->h ? iy + 1 : iy;
            float wx = fx - (float)ix, wy = fy - (float)iy;
            const uint8_t *a = src->px + ((size_t)iy * (size_t)src->w + (size_t)ix) * 3;
            const uint8_t *b = src->px + ((size_t)iy * (size_t)src->w + (size_t)ix1) * 3;
            const uint8_t *c = src->px + ((size_t)iy1 * (size_t)src->w + (size_t)ix) * 3;
            const uint8_t *e = src->px + ((size_t)iy1 * (size_t)src->w + (size_t)ix1) * 3;
            size_t at = (size_t)oy * (size_t)dst_w + (size_t)ox;
            for (int ch = 0; ch < 3; ch++) {
                int s = 2 - ch; /* B, G, R */
                float top = (float)a[s] + ((float)b[s] - (float)a[s]) * wx;
                float bot = (float)c[s] + ((float)e[s] - (float)c[s]) * wx;
                dst[(size_t)ch * plane + at] = (top + (bot - top) * wy) * scale[ch] + bias[ch];
            }
        }
    }
}
