/* backend_ocr.c — the OCR pipeline backend: PaddleOCR's detector, direction classifier and
 * recogniser (three ONNX models run by inferd's ONNX engine) as one served model.
 *
 * The version folder holds the three .onnx files and the recogniser's character list;
 * config.json ("backend": "ocr") may rename them and tune the pipeline:
 *
 *   member               default     meaning
 *   det_model            det.onnx    DB text detector (input [1,3,H,W], output [1,1,H,W])
 *   cls_model            cls.onnx    text direction classifier ([1,3,48,192] -> [1,2]);
 *                                    "" turns the step off
 *   rec_model            rec.onnx    CTC recogniser ([1,3,48,W] -> [1,T,classes])
 *   character_list       keys.txt    one character per line (PaddleOCR's ppocr_keys_v1.txt)
 *   image_input          "encoded"   input `image`: BYTES [1] holding a PNG or JPEG (or its
 *                        | "raw"     base64 text, for JSON), or UINT8 [H,W,3] RGB pixels
 *   det_limit_side_len   960         the detector sees the image scaled so its longer side
 *                                    is at most this (then rounded to multiples of 32)
 *   det_db_thresh        0.3         probability map binarisation
 *   det_db_box_thresh    0.6         minimum mean probability inside a box
 *   det_db_unclip_ratio  1.5         how far boxes are grown
 *   cls_thresh           0.9         a line is turned 180 degrees when "180" scores above this
 *   drop_score           0.5         lines recognised with a lower confidence are dropped
 *   max_image_side       4096        images with a longer side are refused (400)
 *   max_text_lines       256         boxes beyond this many are dropped
 *
 * Outputs: text BYTES [N] (reading order), boxes FP32 [N,4,2] (corners clockwise from the
 * top left, original-image pixels), scores FP32 [N] (mean CTC probability of each line).
 * The pipeline runs on the version's scheduler thread like any tensor model; one image per
 * request (max_batch_size must be 0).
 */
#include "serve/repo/backend.h"

#include "base/path.h"
#include "inferd/onnx.h"
#include "pack/manifest.h"
#include "serve/repo/repo_config.h"
#include "vision/ctc.h"
#include "vision/db.h"
#include "vision/image.h"

#include <nettle/base64.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OCR_H 48          /* the classifier's and recogniser's input height */
#define OCR_CLS_W 192     /* the classifier's input width */
#define OCR_REC_MIN_W 320 /* recogniser inputs are padded to at least this width (PP-OCRv4) */
#define OCR_REC_MAX_W 3200
#define OCR_TEXT_MAX 4096 /* bytes of one recognised line */

struct ocr_model {
    struct inferd_onnx_model *det, *cls, *rec; /* cls NULL when turned off */
    struct vision_charset cs;
    struct vision_db_params db;
    int raw_input;     /* image_input "raw" */
    int limit_side;    /* det_limit_side_len */
    int max_side;      /* max_image_side */
    int max_lines;     /* max_text_lines */
    float cls_thresh, drop_score;
    /* per-run memory, grown as needed; outputs point into it until the next run */
    float *plane;
    size_t plane_cap;
    struct vision_box *boxes;
    float *out_boxes, *out_scores;
    char *out_text;
    size_t text_cap;
};

/* A config member naming a file in the version folder: a plain name, present. */
static int member_file(const struct backend_load *ld, const char *key, const char *def, int optional, char *path,
                       size_t cap, int *off, struct inferd_err *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s", def);
    int rc = config_string(ld->cfg, key, name, sizeof name, err);
    if (rc < 0)
        return rc;
    *off = 0;
    if (optional && !name[0]) {
        *off = 1;
        return 0;
    }
    if (!pack_name_ok(name))
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: '%s' is not a file name in the version folder",
                              key, name);
    rc = path_join(path, cap, ld->dir, name, err);
    if (rc < 0)
        return rc;
    FILE *f = fopen(path, "rb");
    if (!f)
        return inferd_err_set(err, INFERD_ENOTFOUND, "config.json: %s: %s is missing", key, path);
    fclose(f);
    return 0;
}

/* Loads one member model and checks it takes one FP32 image tensor. */
static int load_member(const struct backend_load *ld, const char *key, const char *path,
                       struct inferd_onnx_model **out, struct inferd_err *err)
{
    struct inferd_onnx_options o = {.pool = ld->pool, .max_elements = ld->max_elements};
    int rc = inferd_onnx_load(path, &o, out, err);
    if (rc < 0) {
        inferd_err_prefix(err, "config.json: %s", key);
        return rc;
    }
    const struct inferd_onnx_io *in = inferd_onnx_input(*out, 0);
    if (inferd_onnx_n_inputs(*out) != 1 || inferd_onnx_n_outputs(*out) < 1 || in->dtype != INFERD_FP32 ||
        (in->rank != 4 && in->rank != -1))
        return inferd_err_set(err, INFERD_EFORMAT,
                              "config.json: %s: %s does not take one FP32 [N,3,H,W] image (%d inputs, %d outputs)",
                              key, path, inferd_onnx_n_inputs(*out), inferd_onnx_n_outputs(*out));
    return 0;
}

static void ocr_unload(void *model)
{
    struct ocr_model *m = model;
    if (!m)
        return;
    inferd_onnx_free(m->det);
    inferd_onnx_free(m->cls);
    inferd_onnx_free(m->rec);
    vision_charset_free(&m->cs);
    free(m->plane);
    free(m->boxes);
    free(m->out_boxes);
    free(m->out_scores);
    free(m->out_text);
    free(m);
}

static int ocr_load(const struct backend_load *ld, void **model, struct inferd_err *err)
{
    char det[PATH_MAX_LEN], cls[PATH_MAX_LEN], rec[PATH_MAX_LEN], keys[PATH_MAX_LEN], input[16] = "encoded";
    int rc, no_cls = 0, unused;
    struct ocr_model *m = calloc(1, sizeof *m);
    if (!m)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    m->db = (struct vision_db_params)VISION_DB_DEFAULTS;
    m->limit_side = 960;
    m->max_side = 4096;
    m->max_lines = 256;
    m->cls_thresh = 0.9f;
    m->drop_score = 0.5f;
    if (ld->cfg->sched.max_batch_size > 0) {
        rc = inferd_err_set(err, INFERD_EINVAL,
                            "config.json: max_batch_size: %d, but the OCR pipeline takes one image per request "
                            "(set 0)", ld->cfg->sched.max_batch_size);
        goto fail;
    }
    if ((rc = member_file(ld, "det_model", "det.onnx", 0, det, sizeof det, &unused, err)) < 0 ||
        (rc = member_file(ld, "cls_model", "cls.onnx", 1, cls, sizeof cls, &no_cls, err)) < 0 ||
        (rc = member_file(ld, "rec_model", "rec.onnx", 0, rec, sizeof rec, &unused, err)) < 0 ||
        (rc = member_file(ld, "character_list", "keys.txt", 0, keys, sizeof keys, &unused, err)) < 0)
        goto fail;
    if ((rc = config_string(ld->cfg, "image_input", input, sizeof input, err)) < 0 ||
        (rc = config_int(ld->cfg, "det_limit_side_len", 32, 4096, &m->limit_side, err)) < 0 ||
        (rc = config_float(ld->cfg, "det_db_thresh", 0, 1, &m->db.thresh, err)) < 0 ||
        (rc = config_float(ld->cfg, "det_db_box_thresh", 0, 1, &m->db.box_thresh, err)) < 0 ||
        (rc = config_float(ld->cfg, "det_db_unclip_ratio", 0, 10, &m->db.unclip_ratio, err)) < 0 ||
        (rc = config_float(ld->cfg, "cls_thresh", 0, 1, &m->cls_thresh, err)) < 0 ||
        (rc = config_float(ld->cfg, "drop_score", 0, 1, &m->drop_score, err)) < 0 ||
        (rc = config_int(ld->cfg, "max_image_side", 32, 32768, &m->max_side, err)) < 0 ||
        (rc = config_int(ld->cfg, "max_text_lines", 1, 4096, &m->max_lines, err)) < 0)
        goto fail;
    if (strcmp(input, "encoded") != 0 && strcmp(input, "raw") != 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "config.json: image_input: '%s' is not \"encoded\" or \"raw\"", input);
        goto fail;
    }
    m->raw_input = strcmp(input, "raw") == 0;
    if ((rc = vision_charset_load(keys, &m->cs, err)) < 0) {
        inferd_err_prefix(err, "config.json: character_list");
        goto fail;
    }
    if ((rc = load_member(ld, "det_model", det, &m->det, err)) < 0 ||
        (!no_cls && (rc = load_member(ld, "cls_model", cls, &m->cls, err)) < 0) ||
        (rc = load_member(ld, "rec_model", rec, &m->rec, err)) < 0)
        goto fail;
    const struct inferd_onnx_io *ro = inferd_onnx_output(m->rec, 0);
    if (ro->rank == 3 && ro->dims[2] > 0 && ro->dims[2] != m->cs.n + 1) {
        rc = inferd_err_set(err, INFERD_EFORMAT,
                            "config.json: character_list: %s has %d characters (+ blank + space = %d classes) but "
                            "the recogniser has %lld classes", keys, m->cs.n - 1, m->cs.n + 1, (long long)ro->dims[2]);
        goto fail;
    }
    m->boxes = malloc((size_t)m->max_lines * sizeof *m->boxes);
    m->out_boxes = malloc((size_t)m->max_lines * 8 * sizeof *m->out_boxes);
    m->out_scores = malloc((size_t)m->max_lines * sizeof *m->out_scores);
    if (!m->boxes || !m->out_boxes || !m->out_scores) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    *model = m;
    return 0;
fail:
    ocr_unload(m);
    return rc;
}

static unsigned ocr_caps(void *model)
{
    (void)model;
    return MODEL_CAP_TENSOR;
}

static int ocr_describe(void *model, struct model_io *in, int *n_in, struct model_io *out, int *n_out,
                        struct inferd_err *err)
{
    struct ocr_model *m = model;
    (void)err;
    if (m->raw_input)
        in[0] = (struct model_io){.name = "image", .dtype = INFERD_UINT8, .rank = 3, .dims = {-1, -1, 3}};
    else
        in[0] = (struct model_io){.name = "image", .dtype = INFERD_BYTES, .rank = 1, .dims = {1}};
    out[0] = (struct model_io){.name = "text", .dtype = INFERD_BYTES, .rank = 1, .dims = {-1}};
    out[1] = (struct model_io){.name = "boxes", .dtype = INFERD_FP32, .rank = 3, .dims = {-1, 4, 2}};
    out[2] = (struct model_io){.name = "scores", .dtype = INFERD_FP32, .rank = 1, .dims = {-1}};
    *n_in = 1;
    *n_out = 3;
    return 0;
}

/* Grows the model's input plane to n floats. Returns 0 or ENOMEM. */
static int plane_reserve(struct ocr_model *m, size_t n, struct inferd_err *err)
{
    if (n <= m->plane_cap)
        return 0;
    float *p = realloc(m->plane, n * sizeof *p);
    if (!p)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory for a %zu-value model input", n);
    m->plane = p;
    m->plane_cap = n;
    return 0;
}

/* A JSON string cannot carry a PNG's bytes, so an element may also be their base64 text,
 * optionally as a data: URL ("data:image/png;base64,..."). When s[0..*len) starts with
 * neither signature but is base64, OUT: *raw (malloc'd) and *len its decoded size; otherwise
 * *raw stays NULL. Returns 0 or ENOMEM. */
static int unbase64(const uint8_t *s, size_t *len, uint8_t **raw, struct inferd_err *err)
{
    size_t n = *len;
    if ((n >= 4 && memcmp(s, "\x89PNG", 4) == 0) || (n >= 3 && memcmp(s, "\xff\xd8\xff", 3) == 0))
        return 0;
    if (n > 5 && memcmp(s, "data:", 5) == 0) {
        const uint8_t *comma = memchr(s, ',', n < 256 ? n : 256);
        if (comma && comma - s >= 7 && memcmp(comma - 7, ";base64", 7) == 0) {
            n -= (size_t)(comma + 1 - s);
            s = comma + 1;
        }
    }
    uint8_t *out = malloc(BASE64_DECODE_LENGTH(n) + 1);
    if (!out)
        return inferd_err_set(err, INFERD_ENOMEM, "input 'image': out of memory");
    struct base64_decode_ctx ctx;
    size_t got = BASE64_DECODE_LENGTH(n) + 1;
    base64_decode_init(&ctx);
    if (n == 0 || !base64_decode_update(&ctx, &got, out, n, (const char *)s) || !base64_decode_final(&ctx)) {
        free(out); /* not base64 either: the decoder names what it is not */
        return 0;
    }
    *raw = out;
    *len = got;
    return 0;
}

/* The request's image: decoded (OUT: *im owns pixels) or borrowed raw pixels (*borrowed = 1). */
static int take_image(struct ocr_model *m, const struct inferd_tensor *t, struct vision_image *im, int *borrowed,
                      struct inferd_err *err)
{
    int64_t max_pixels = (int64_t)m->max_side * m->max_side;
    *borrowed = 0;
    if (m->raw_input) {
        int64_t h = t->dims[0], w = t->dims[1];
        if (h < 1 || w < 1 || h > m->max_side || w > m->max_side)
            return inferd_err_set(err, INFERD_EINVAL, "input 'image': %lldx%lld pixels; each side must be 1..%d "
                                  "(max_image_side)", (long long)w, (long long)h, m->max_side);
        if (t->nbytes != (size_t)(w * h * 3))
            return inferd_err_set(err, INFERD_EINVAL, "input 'image': %zu bytes for [%lld,%lld,3]", t->nbytes,
                                  (long long)h, (long long)w);
        *im = (struct vision_image){.w = (int)w, .h = (int)h, .px = t->data};
        *borrowed = 1;
        return 0;
    }
    if (inferd_bytes_count(t->data, t->nbytes) != 1)
        return inferd_err_set(err, INFERD_EINVAL, "input 'image': want one BYTES element holding a PNG or JPEG file");
    const uint8_t *p = t->data;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    uint8_t *raw = NULL;
    int rc = unbase64(p + 4, &len, &raw, err);
    if (rc == 0)
        rc = vision_decode(raw ? raw : p + 4, len, m->max_side, max_pixels, im, err);
    free(raw);
    if (rc < 0)
        inferd_err_prefix(err, "input 'image'");
    return rc;
}

/* Runs the detector on im. OUT: m->boxes[0..*n) in reading order. */
static int detect(struct ocr_model *m, const struct vision_image *im, int *n, struct inferd_err *err)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    float ratio = 1;
    int longer = im->w > im->h ? im->w : im->h;
    if (longer > m->limit_side)
        ratio = (float)m->limit_side / (float)longer;
    int rh = (int)lroundf((float)im->h * ratio / 32) * 32, rw = (int)lroundf((float)im->w * ratio / 32) * 32;
    rh = rh < 32 ? 32 : rh;
    rw = rw < 32 ? 32 : rw;
    int rc = plane_reserve(m, (size_t)3 * (size_t)rh * (size_t)rw, err);
    if (rc < 0)
        return rc;
    vision_sample_chw(im, 0, 0, (float)im->w, (float)im->h, 0, m->plane, rw, rh, rw, mean, std);
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, 3, rh, rw}, .data = m->plane,
                               .nbytes = (size_t)3 * (size_t)rh * (size_t)rw * sizeof(float)};
    struct inferd_tensor out;
    if ((rc = inferd_onnx_run(m->det, &in, 1, &out, 1, err)) < 0) {
        inferd_err_prefix(err, "text detector");
        return rc;
    }
    if (out.dtype != INFERD_FP32 || inferd_tensor_numel(&out) != (int64_t)rh * rw)
        return inferd_err_set(err, INFERD_EFORMAT, "text detector: output is not one %dx%d FP32 map", rw, rh);
    if ((rc = vision_db_boxes(out.data, rw, rh, &m->db, im->w, im->h, m->boxes, m->max_lines, n, err)) < 0)
        return rc;
    vision_sort_boxes(m->boxes, *n);
    return 0;
}

/* Fills the plane with the box's crop turned by `turns` quarter turns, 48 high, resized_w
 * wide, zero-padded to width w. */
static int crop_to_plane(struct ocr_model *m, const struct vision_image *im, const struct vision_box *b, int turns,
                         int w, int resized_w, struct inferd_err *err)
{
    static const float half[3] = {0.5f, 0.5f, 0.5f};
    int rc = plane_reserve(m, (size_t)3 * OCR_H * (size_t)w, err);
    if (rc < 0)
        return rc;
    memset(m->plane, 0, (size_t)3 * OCR_H * (size_t)w * sizeof(float));
    vision_sample_chw(im, b->pts[0][0], b->pts[0][1], b->pts[2][0], b->pts[2][1], turns, m->plane, resized_w, OCR_H,
                      w, half, half);
    return 0;
}

/* Reads one box: a box at least 1.5 times taller than wide is a vertical line and is turned
 * a quarter counter-clockwise (as PaddleOCR does); the direction classifier may turn it
 * half round more; the recogniser reads it. OUT: text (NUL-terminated), *score. */
static int read_box(struct ocr_model *m, const struct vision_image *im, const struct vision_box *b, char *text,
                    float *score, struct inferd_err *err)
{
    float bw = b->pts[2][0] - b->pts[0][0], bh = b->pts[2][1] - b->pts[0][1];
    int turns = bh >= 1.5f * bw ? 1 : 0;
    if (turns)
        bw = b->pts[2][1] - b->pts[0][1], bh = b->pts[2][0] - b->pts[0][0];
    float aspect = bw / (bh > 1 ? bh : 1);
    int rc;
    struct inferd_tensor in = {.dtype = INFERD_FP32, .rank = 4, .dims = {1, 3, OCR_H, 0}}, out;
    if (m->cls) {
        int rw = (int)ceilf(OCR_H * aspect);
        rw = rw > OCR_CLS_W ? OCR_CLS_W : rw < 1 ? 1 : rw;
        if ((rc = crop_to_plane(m, im, b, turns, OCR_CLS_W, rw, err)) < 0)
            return rc;
        in.dims[3] = OCR_CLS_W;
        in.data = m->plane;
        in.nbytes = (size_t)3 * OCR_H * OCR_CLS_W * sizeof(float);
        if ((rc = inferd_onnx_run(m->cls, &in, 1, &out, 1, err)) < 0) {
            inferd_err_prefix(err, "direction classifier");
            return rc;
        }
        if (out.dtype != INFERD_FP32 || inferd_tensor_numel(&out) != 2)
            return inferd_err_set(err, INFERD_EFORMAT, "direction classifier: output is not 2 FP32 scores");
        const float *p = out.data;
        if (p[1] > p[0] && p[1] > m->cls_thresh) /* label "180" */
            turns += 2;
    }
    int rw = (int)ceilf(OCR_H * aspect);
    rw = rw > OCR_REC_MAX_W ? OCR_REC_MAX_W : rw < 1 ? 1 : rw;
    /* Padded to one of 14 widths, at most a quarter wider than the crop: every recogniser
     * shape stays among the engine's cached plans (OX_MAX_PLANS), so a page of lines of many
     * lengths plans each width once instead of per line. */
    static const int rec_w[] = {OCR_REC_MIN_W, 384, 448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, OCR_REC_MAX_W};
    int w = OCR_REC_MAX_W;
    for (size_t i = 0; i < sizeof rec_w / sizeof *rec_w; i++)
        if (rw <= rec_w[i]) {
            w = rec_w[i];
            break;
        }
    if ((rc = crop_to_plane(m, im, b, turns, w, rw, err)) < 0)
        return rc;
    in.dims[3] = w;
    in.data = m->plane;
    in.nbytes = (size_t)3 * OCR_H * (size_t)w * sizeof(float);
    if ((rc = inferd_onnx_run(m->rec, &in, 1, &out, 1, err)) < 0) {
        inferd_err_prefix(err, "text recogniser");
        return rc;
    }
    if (out.dtype != INFERD_FP32 || out.rank != 3 || out.dims[0] != 1)
        return inferd_err_set(err, INFERD_EFORMAT, "text recogniser: output is not FP32 [1,T,classes]");
    rc = vision_ctc_greedy(out.data, (int)out.dims[1], (int)out.dims[2], &m->cs, text, OCR_TEXT_MAX, score, err);
    if (rc < 0)
        inferd_err_prefix(err, "text recogniser");
    return rc;
}

/* Appends one BYTES element to m->out_text at *len. */
static int text_append(struct ocr_model *m, size_t *len, const char *s, struct inferd_err *err)
{
    size_t n = strlen(s);
    if (*len + 4 + n > m->text_cap) {
        size_t cap = (*len + 4 + n) * 2;
        char *p = realloc(m->out_text, cap);
        if (!p)
            return inferd_err_set(err, INFERD_ENOMEM, "out of memory for the recognised text");
        m->out_text = p;
        m->text_cap = cap;
    }
    uint8_t *d = (uint8_t *)m->out_text + *len;
    d[0] = (uint8_t)n, d[1] = (uint8_t)(n >> 8), d[2] = (uint8_t)(n >> 16), d[3] = (uint8_t)(n >> 24);
    memcpy(d + 4, s, n);
    *len += 4 + n;
    return 0;
}

static int ocr_infer(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out, int n_out,
                     struct inferd_err *err)
{
    struct ocr_model *m = model;
    struct vision_image im = {0};
    int borrowed = 0, n = 0, kept = 0;
    size_t text_len = 0;
    char *text = malloc(OCR_TEXT_MAX);
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    int rc = n_in == 1 ? take_image(m, &in[0], &im, &borrowed, err)
                       : inferd_err_set(err, INFERD_EINVAL, "inputs: want only 'image'");
    if (rc < 0)
        goto done;
    if ((rc = detect(m, &im, &n, err)) < 0)
        goto done;
    for (int i = 0; i < n; i++) {
        float score = 0;
        if ((rc = read_box(m, &im, &m->boxes[i], text, &score, err)) < 0)
            goto done;
        if (score < m->drop_score || !text[0])
            continue;
        if ((rc = text_append(m, &text_len, text, err)) < 0)
            goto done;
        memcpy(m->out_boxes + (size_t)kept * 8, m->boxes[i].pts, 8 * sizeof(float));
        m->out_scores[kept++] = score;
    }
    struct inferd_tensor o[3] = {
        {.dtype = INFERD_BYTES, .rank = 1, .dims = {kept}, .data = m->out_text, .nbytes = text_len},
        {.dtype = INFERD_FP32, .rank = 3, .dims = {kept, 4, 2}, .data = m->out_boxes,
         .nbytes = (size_t)kept * 8 * sizeof(float)},
        {.dtype = INFERD_FP32, .rank = 1, .dims = {kept}, .data = m->out_scores, .nbytes = (size_t)kept * sizeof(float)},
    };
    for (int i = 0; i < n_out && i < 3; i++)
        out[i] = o[i];
done:
    if (!borrowed)
        vision_image_free(&im);
    free(text);
    return rc;
}

const struct backend_ops backend_ocr = {
    .name = "ocr",
    .platform = "inferd_ocr_pipeline",
    .file_name = "det.onnx",
    .never_inline = 1,
    .load = ocr_load,
    .unload = ocr_unload,
    .caps = ocr_caps,
    .describe = ocr_describe,
    .infer = ocr_infer,
};
