/* db.c — DB detector post-processing: connected regions of the binarised map to boxes. */
#include "vision/db.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One region's extent (map pixels, inclusive) and size. */
struct region {
    int x0, y0, x1, y1;
    int64_t pixels;
};

static int cmp_pixels_desc(const void *a, const void *b)
{
    const struct region *x = a, *y = b;
    return (x->pixels < y->pixels) - (x->pixels > y->pixels);
}

/* Labels the 8-connected regions of prob > thresh. OUT: *regs (malloc'd), *n_regs.
 * Returns 0 or -1 (out of memory). */
static int label_regions(const float *prob, int w, int h, float thresh, struct region **regs, int *n_regs)
{
    size_t npx = (size_t)w * (size_t)h;
    uint8_t *seen = calloc(npx, 1);
    int32_t *stack = malloc(npx * sizeof *stack);
    int cap = 64, n = 0;
    struct region *r = malloc((size_t)cap * sizeof *r);
    if (!seen || !stack || !r)
        goto fail;
    for (size_t start = 0; start < npx; start++) {
        if (seen[start] || !(prob[start] > thresh))
            continue;
        if (n == cap) {
            struct region *g = realloc(r, (size_t)cap * 2 * sizeof *r);
            if (!g)
                goto fail;
            r = g;
            cap *= 2;
        }
        struct region *cur = &r[n++];
        *cur = (struct region){.x0 = w, .y0 = h, .x1 = -1, .y1 = -1};
        size_t top = 0;
        stack[top++] = (int32_t)start;
        seen[start] = 1;
        while (top > 0) {
            int32_t at = stack[--top];
            int x = at % w, y = at / w;
            cur->pixels++;
            if (x < cur->x0) cur->x0 = x;
            if (x > cur->x1) cur->x1 = x;
            if (y < cur->y0) cur->y0 = y;
            if (y > cur->y1) cur->y1 = y;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= w || ny >= h)
                        continue;
                    size_t k = (size_t)ny * (size_t)w + (size_t)nx;
                    if (seen[k] || !(prob[k] > thresh))
                        continue;
                    seen[k] = 1; /* each pixel is pushed once, so npx slots suffice */
                    stack[top++] = (int32_t)k;
                }
            }
        }
    }
    free(seen);
    free(stack);
    *regs = r;
    *n_regs = n;
    return 0;
fail:
    free(seen);
    free(stack);
    free(r);
    return -1;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

int vision_db_boxes(const float *prob, int map_w, int map_h, const struct vision_db_params *p, int img_w, int img_h,
                    struct vision_box *boxes, int cap, int *n, struct inferd_err *err)
{
    struct region *regs = NULL;
    int n_regs = 0;
    *n = 0;
    if (label_regions(prob, map_w, map_h, p->thresh, &regs, &n_regs) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory labelling a %dx%d detection map", map_w, map_h);
    if (n_regs > p->max_candidates) { /* keep the largest, as OpenCV's contour list would be cut */
        qsort(regs, (size_t)n_regs, sizeof *regs, cmp_pixels_desc);
        n_regs = p->max_candidates;
    }
    float sx = (float)img_w / (float)map_w, sy = (float)img_h / (float)map_h;
    for (int i = 0; i < n_regs && *n < cap; i++) {
        const struct region *g = &regs[i];
        /* the region's box through its pixel centres, as minAreaRect of its contour */
        float bw = (float)(g->x1 - g->x0), bh = (float)(g->y1 - g->y0);
        if (fminf(bw, bh) < (float)p->min_size)
            continue;
        double sum = 0;
        for (int y = g->y0; y <= g->y1; y++)
            for (int x = g->x0; x <= g->x1; x++)
                sum += prob[(size_t)y * (size_t)map_w + (size_t)x];
        float score = (float)(sum / ((double)(g->x1 - g->x0 + 1) * (double)(g->y1 - g->y0 + 1)));
        if (score < p->box_thresh)
            continue;
        float d = bw * bh * p->unclip_ratio / (2.0f * (bw + bh));
        float x0 = (float)g->x0 - d, y0 = (float)g->y0 - d, x1 = (float)g->x1 + d, y1 = (float)g->y1 + d;
        if (fminf(x1 - x0, y1 - y0) < (float)(p->min_size + 2))
            continue;
        x0 = clampf(roundf(x0 * sx), 0, (float)(img_w - 1));
        x1 = clampf(roundf(x1 * sx), 0, (float)(img_w - 1));
        y0 = clampf(roundf(y0 * sy), 0, (float)(img_h - 1));
        y1 = clampf(roundf(y1 * sy), 0, (float)(img_h - 1));
        if (x1 - x0 <= 3 || y1 - y0 <= 3) /* PaddleOCR's filter_tag_det_res */
            continue;
        struct vision_box *b = &boxes[(*n)++];
        b->pts[0][0] = x0, b->pts[0][1] = y0;
        b->pts[1][0] = x1, b->pts[1][1] = y0;
        b->pts[2][0] = x1, b->pts[2][1] = y1;
        b->pts[3][0] = x0, b->pts[3][1] = y1;
        b->score = score;
    }
    free(regs);
    return 0;
}

static int cmp_top_left(const void *a, const void *b)
{
    const struct vision_box *x = a, *y = b;
    if (x->pts[0][1] != y->pts[0][1])
        return x->pts[0][1] < y->pts[0][1] ? -1 : 1;
    return (x->pts[0][0] > y->pts[0][0]) - (x->pts[0][0] < y->pts[0][0]);
}

void vision_sort_boxes(struct vision_box *boxes, int n)
{
    if (n < 2)
        return;
    qsort(boxes, (size_t)n, sizeof *boxes, cmp_top_left);
    for (int i = 0; i < n - 1; i++) {
        for (int j = i; j >= 0; j--) {
            if (fabsf(boxes[j + 1].pts[0][1] - boxes[j].pts[0][1]) < 10 && boxes[j + 1].pts[0][0] < boxes[j].pts[0][0]) {
                struct vision_box t = boxes[j];
                boxes[j] = boxes[j + 1];
                boxes[j + 1] = t;
            } else {
                break;
            }
        }
    }
}
