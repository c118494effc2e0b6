/* db.h — text boxes from a DB (Differentiable Binarization) text detector's probability map,
 * as PaddleOCR's DBPostProcess finds them, and the reading order of boxes.
 *
 * The map (one float per pixel, the detector's output at the resized input's size) is
 * binarised at thresh; each 8-connected region becomes a candidate box (axis-aligned: the
 * region's extent); a candidate is kept when its shorter side is at least min_size and the
 * mean probability inside it is at least box_thresh; it is then grown by unclip_ratio
 * (each side moves out by area * ratio / perimeter, as pyclipper's offset of the box does),
 * scaled to the original image and clipped to it.
 *
 *   struct vision_db_params p = VISION_DB_DEFAULTS;
 *   struct vision_box boxes[64]; int n;
 *   vision_db_boxes(prob, 320, 96, &p, img_w, img_h, boxes, 64, &n, &err);
 *   vision_sort_boxes(boxes, n);    // top-to-bottom, left-to-right
 */
#ifndef INFERD_VISION_DB_H
#define INFERD_VISION_DB_H

#include "inferd/err.h"

struct vision_db_params {
    float thresh;       /* binarisation threshold on the probability map (0.3) */
    float box_thresh;   /* minimum mean probability inside a box (0.6) */
    float unclip_ratio; /* how far a box is grown (1.5) */
    int min_size;       /* shorter side in map pixels below which a region is noise (3) */
    int max_candidates; /* regions looked at, largest first beyond this are dropped (1000) */
};
#define VISION_DB_DEFAULTS {0.3f, 0.6f, 1.5f, 3, 1000}

/* A text box in original-image pixels: corners clockwise from the top left. */
struct vision_box {
    float pts[4][2];
    float score; /* mean probability inside the box before unclipping */
};

/* Finds boxes in prob (map_h rows of map_w floats) and scales them to an img_w x img_h
 * image. OUT: boxes[0..*n) (at most cap; more are dropped, smallest last). Returns 0 or
 * INFERD_ENOMEM. Allocates a label plane of map_w * map_h ints for the call. */
int vision_db_boxes(const float *prob, int map_w, int map_h, const struct vision_db_params *p, int img_w, int img_h,
                    struct vision_box *boxes, int cap, int *n, struct inferd_err *err);
/* Sorts boxes into reading order: by top edge, then boxes whose tops are within 10 pixels
 * (one line) left to right (PaddleOCR's sorted_boxes). */
void vision_sort_boxes(struct vision_box *boxes, int n);

#endif
