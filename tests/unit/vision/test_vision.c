/* test_vision.c — src/vision: image decoding (PNG made with libpng's writer, the fuzz corpus's
 * JPEGs), caps, bilinear sampling, DB boxes and reading order, character lists, CTC. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vision/ctc.h"
#include "vision/db.h"
#include "vision/image.h"

static void test_png(void)
{
    uint8_t px[5 * 7 * 3];
    for (int i = 0; i < (int)sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    png_image w;
    memset(&w, 0, sizeof w);
    w.version = PNG_IMAGE_VERSION;
    w.width = 7;
    w.height = 5;
    w.format = PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    CHECK(png_image_write_to_memory(&w, NULL, &len, 0, px, 0, NULL));
    uint8_t *buf = malloc(len);
    CHECK(png_image_write_to_memory(&w, buf, &len, 0, px, 0, NULL));
    struct vision_image im;
    struct inferd_err err = {0};
    CHECK(vision_decode(buf, len, 64, 4096, &im, &err) == 0);
    CHECK(im.w == 7 && im.h == 5 && im.px && memcmp(im.px, px, sizeof px) == 0);
    vision_image_free(&im);
    vision_image_free(&im); /* twice is fine */
    /* caps: a side over max_side, pixels over max_pixels; both name the numbers */
    CHECK(vision_decode(buf, len, 6, 4096, &im, &err) == INFERD_EINVAL && strstr(err.msg, "7x5") && !im.px);
    CHECK(vision_decode(buf, len, 64, 34, &im, &err) == INFERD_EINVAL && strstr(err.msg, "35 pixels"));
    /* truncated: libpng's reason, no pixels */
    CHECK(vision_decode(buf, len - 20, 64, 4096, &im, &err) == INFERD_EFORMAT && strncmp(err.msg, "PNG: ", 5) == 0);
    CHECK(vision_decode(buf, 12, 64, 4096, &im, &err) == INFERD_EFORMAT);
    CHECK(vision_decode("GIF89a....", 10, 64, 4096, &im, &err) == INFERD_EFORMAT && strstr(err.msg, "not a PNG or JPEG"));
    CHECK(vision_decode("", 0, 64, 4096, &im, &err) == INFERD_EFORMAT);
    free(buf);
}

static uint8_t *read_all(const char *rel, size_t *len)
{
    const char *root = getenv("INFERD_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/image_decode/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 16);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void test_jpeg(void)
{
    size_t len = 0;
    uint8_t *b = read_all("rgb.jpg", &len);
    if (!b) {
        printf("corpus JPEG not found (INFERD_ROOT); JPEG checks skipped\n");
        return;
    }
    struct vision_image im;
    struct inferd_err err = {0};
    CHECK(vision_decode(b, len, 64, 4096, &im, &err) == 0 && im.w == 24 && im.h == 10);
    CHECK(im.px && im.px[0] > 200); /* white page */
    vision_image_free(&im);
    CHECK(vision_decode(b, len / 2, 64, 4096, &im, &err) == INFERD_EFORMAT && strncmp(err.msg, "JPEG: ", 6) == 0);
    CHECK(vision_decode(b, len, 20, 4096, &im, &err) == INFERD_EINVAL);
    free(b);
    b = read_all("cmyk.jpg", &len);
    CHECK(b && vision_decode(b, len, 64, 4096, &im, &err) == 0 && im.w == 24);
    vision_image_free(&im);
    free(b);
    b = read_all("huge_dims.png", &len);
    CHECK(b && vision_decode(b, len, 4096, 1 << 24, &im, &err) == INFERD_EINVAL && strstr(err.msg, "100000x100000"));
    free(b);
}

static void test_sample(void)
{
    /* 4x2 image: column x has value 60 * x in every channel */
    uint8_t px[2 * 4 * 3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 3; c++)
                px[(y * 4 + x) * 3 + c] = (uint8_t)(60 * x + (c == 0 ? 1 : 0));
    struct vision_image im = {.w = 4, .h = 2, .px = px};
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    float out[3 * 2 * 5];
    memset(out, 0, sizeof out);
    vision_sample_chw(&im, 0, 0, 4, 2, 0, out, 4, 2, 5, zero, one); /* same size: exact copy, row stride 5 */
    CHECK_NEAR(out[0], 0.0, 1e-6);
    CHECK_NEAR(out[3], 180.0 / 255, 1e-6);
    CHECK_NEAR(out[4], 0.0, 1e-6);                           /* padding column untouched */
    CHECK_NEAR(out[2 * 2 * 5 + 1], 61.0 / 255, 1e-6);        /* channel 2 is R (stored first): +1 */
    CHECK_NEAR(out[1], 60.0 / 255, 1e-6);                    /* channel 0 is B */
    vision_sample_chw(&im, 0, 0, 4, 2, 2, out, 4, 2, 5, zero, one); /* 180 degrees: columns reversed */
    CHECK_NEAR(out[0], 180.0 / 255, 1e-6);
    CHECK_NEAR(out[5 + 3], 0.0, 1e-6);
    vision_sample_chw(&im, 0, 0, 4, 2, 1, out, 2, 4, 2, zero, one); /* 90 counter-clockwise: 2 wide, 4 high */
    CHECK_NEAR(out[0], 180.0 / 255, 1e-6);                          /* top row = the region's right column */
    CHECK_NEAR(out[1], 180.0 / 255, 1e-6);
    CHECK_NEAR(out[3 * 2], 0.0, 1e-6);                              /* bottom row = its left column */
    vision_sample_chw(&im, 0, 0, 4, 2, 0, out, 2, 1, 2, zero, one); /* halve: centres at x = 0.5, 2.5 */
    CHECK_NEAR(out[0], 30.0 / 255, 1e-5);
    CHECK_NEAR(out[1], 150.0 / 255, 1e-5);
    const float half[3] = {0.5f, 0.5f, 0.5f};
    vision_sample_chw(&im, 3, 0, 4, 2, 0, out, 1, 1, 1, half, half); /* (v/255 - .5)/.5 */
    CHECK(out[0] > 0.4f && out[0] < 0.45f);
}

static void fill(float *map, int w, int x0, int y0, int x1, int y1, float v)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            map[y * w + x] = v;
}

static void test_db(void)
{
    enum { W = 64, H = 32 };
    float *map = calloc(W * H, sizeof *map);
    fill(map, W, 40, 4, 59, 9, 0.9f);   /* line 1, right word */
    fill(map, W, 4, 5, 30, 10, 0.9f);   /* line 1, left word (top 1 lower: same line) */
    fill(map, W, 4, 20, 50, 26, 0.95f); /* line 2 */
    fill(map, W, 60, 28, 61, 29, 0.9f); /* 1-pixel-ish noise: dropped (min_size) */
    fill(map, W, 2, 14, 20, 17, 0.4f);  /* above thresh, mean below box_thresh: dropped */
    struct vision_db_params p = VISION_DB_DEFAULTS;
    struct vision_box b[8];
    int n = -1;
    struct inferd_err err = {0};
    /* the original image is twice the map's size */
    CHECK(vision_db_boxes(map, W, H, &p, 2 * W, 2 * H, b, 8, &n, &err) == 0);
    CHECK(n == 3);
    vision_sort_boxes(b, n);
    if (n == 3) {
        /* left word: 26x5 centres box, unclip d = 26*5*1.5/(2*31) = 3.145 -> x 0.855..33.1, scaled x2 */
        CHECK_NEAR(b[0].pts[0][0], 2, 0.01);
        CHECK_NEAR(b[0].pts[0][1], 4, 0.01);  /* round((5 - 3.145) * 2) */
        CHECK_NEAR(b[0].pts[2][0], 66, 0.01); /* round(33.145 * 2) */
        CHECK_NEAR(b[0].pts[2][1], 26, 0.01); /* round(13.145 * 2) */
        CHECK(b[1].pts[0][0] > b[0].pts[0][0]); /* right word second though its top is higher */
        CHECK(b[2].pts[0][1] > b[1].pts[2][1] - 8); /* line 2 last */
        CHECK_NEAR(b[2].score, 0.95, 1e-5);
        for (int i = 0; i < n; i++) /* clockwise from the top left, inside the image */
            CHECK(b[i].pts[0][0] == b[i].pts[3][0] && b[i].pts[1][0] == b[i].pts[2][0] &&
                  b[i].pts[0][1] == b[i].pts[1][1] && b[i].pts[2][0] <= 2 * W - 1 && b[i].pts[2][1] <= 2 * H - 1);
    }
    /* cap on boxes */
    CHECK(vision_db_boxes(map, W, H, &p, W, H, b, 1, &n, &err) == 0 && n == 1);
    memset(map, 0, W * H * sizeof *map);
    CHECK(vision_db_boxes(map, W, H, &p, W, H, b, 8, &n, &err) == 0 && n == 0);
    free(map);
}

static void test_ctc(void)
{
    struct vision_charset cs;
    struct inferd_err err = {0};
    const char keys[] = "a\nb\r\n\xc3\xa9";
    CHECK(vision_charset_parse(keys, sizeof keys - 1, &cs, &err) == 0 && cs.n == 4);
    CHECK(strcmp(cs.chars[0], "a") == 0 && strcmp(cs.chars[1], "b") == 0 && strcmp(cs.chars[2], "\xc3\xa9") == 0 &&
          strcmp(cs.chars[3], " ") == 0);
    /* classes: 0 blank, 1 a, 2 b, 3 é, 4 space; steps a a _ a b space é _ */
    static const int best[] = {1, 1, 0, 1, 2, 4, 3, 0};
    float probs[8 * 5];
    for (int t = 0; t < 8; t++)
        for (int c = 0; c < 5; c++)
            probs[t * 5 + c] = c == best[t] ? 0.8f : 0.05f;
    probs[0 * 5 + 1] = 0.6f; /* the first 'a' step is less sure: merged steps keep the first */
    char text[32];
    float score = 0;
    CHECK(vision_ctc_greedy(probs, 8, 5, &cs, text, sizeof text, &score, &err) == 0);
    CHECK(strcmp(text, "aab \xc3\xa9") == 0);
    CHECK_NEAR(score, (0.6 + 0.8 * 4) / 5, 1e-6);
    CHECK(vision_ctc_greedy(probs, 8, 5, &cs, text, 4, &score, &err) == INFERD_ETOOLARGE);
    CHECK(vision_ctc_greedy(probs, 8, 6, &cs, text, sizeof text, &score, &err) == INFERD_EFORMAT &&
          strstr(err.msg, "6 classes"));
    CHECK(vision_ctc_greedy(probs, 0, 5, &cs, text, sizeof text, &score, &err) == 0 && text[0] == 0 && score == 0);
    vision_charset_free(&cs);
    vision_charset_free(&cs);
    CHECK(vision_charset_parse("a\n\nb\n", 5, &cs, &err) == INFERD_EFORMAT && strstr(err.msg, "line 2 is empty"));
    CHECK(vision_charset_parse("a\n\xff\n", 4, &cs, &err) == INFERD_EFORMAT && strstr(err.msg, "line 2"));
    CHECK(vision_charset_parse("", 0, &cs, &err) == INFERD_EFORMAT);
    CHECK(vision_charset_load("/nonexistent/keys.txt", &cs, &err) < 0 && strstr(err.msg, "/nonexistent/keys.txt"));
}

int main(void)
{
    test_png();
    test_jpeg();
    test_sample();
    test_db();
    test_ctc();
    return check_finish();
}
