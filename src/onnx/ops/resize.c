/* resize.c — Resize / Upsample (FP32, any rank): modes nearest (nearest_mode
 * round_prefer_floor / round_prefer_ceil / floor / ceil) and linear (n-linear over every
 * resized dim), coordinate_transformation_mode half_pixel / pytorch_half_pixel /
 * align_corners / asymmetric / tf_half_pixel_for_nearest. Scales or sizes must be known at
 * plan time. Cubic mode, tf_crop_and_resize and exclude_outside are not supported.
 *
 *   in coordinate of out index o along a dim (scale s = out/in as given or implied):
 *   half_pixel (o + 0.5)/s - 0.5; asymmetric o/s; align_corners o*(in-1)/(out-1) */
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

enum { CT_HALF, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_TF_NEAREST };
enum { NM_FLOOR_HALF, NM_CEIL_HALF, NM_FLOOR, NM_CEIL };

static int str_is(const struct ox_attr *a, const char *s)
{
    return a && a->s && strcmp(a->s, s) == 0;
}

static int resize_prepare(struct ox_node *n, struct inferd_err *err)
{
    const struct ox_attr *mode = ox_attr_find(n, "mode"), *ct = ox_attr_find(n, "coordinate_transformation_mode"),
                         *nm = ox_attr_find(n, "nearest_mode");
    if (!mode || str_is(mode, "nearest"))
        n->ip[0] = 0;
    else if (str_is(mode, "linear") || str_is(mode, "bilinear"))
        n->ip[0] = 1;
    else
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: mode '%s' is not supported", mode->s ? mode->s : "");
    /* Upsample and Resize-10 behave as asymmetric */
    if (!ct)
        n->ip[1] = strcmp(n->op_type, "Upsample") == 0 || n->opset < 11 ? CT_ASYM : CT_HALF;
    else if (str_is(ct, "half_pixel"))
        n->ip[1] = CT_HALF;
    else if (str_is(ct, "pytorch_half_pixel"))
        n->ip[1] = CT_PYTORCH;
    else if (str_is(ct, "align_corners"))
        n->ip[1] = CT_ALIGN;
    else if (str_is(ct, "asymmetric"))
        n->ip[1] = CT_ASYM;
    else if (str_is(ct, "tf_half_pixel_for_nearest") || str_is(ct, "tf_half_pixel_for_nn"))
        n->ip[1] = CT_TF_NEAREST;
    else
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: coordinate_transformation_mode '%s' is not supported",
                              ct->s ? ct->s : "");
    if (!nm && (strcmp(n->op_type, "Upsample") == 0 || n->opset < 11))
        n->ip[2] = NM_FLOOR; /* Upsample and Resize-10 take the floor */
    else if (!nm || str_is(nm, "round_prefer_floor"))
        n->ip[2] = NM_FLOOR_HALF;
    else if (str_is(nm, "round_prefer_ceil"))
        n->ip[2] = NM_CEIL_HALF;
    else if (str_is(nm, "floor"))
        n->ip[2] = NM_FLOOR;
    else if (str_is(nm, "ceil"))
        n->ip[2] = NM_CEIL;
    else
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: nearest_mode '%s' is not supported", nm->s ? nm->s : "");
    if (ox_attr_int(n, "exclude_outside", 0))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: exclude_outside is not supported");
    if (n->opset < 10 && strcmp(n->op_type, "Upsample") != 0)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: opset %d", n->opset);
    return 0;
}

/* scales[d] (out/in) and out dims from the scales or sizes input */
static int resize_geometry(const struct ox_node *n, struct ox_tensor *const *in, double *scales, int64_t *odims,
                           struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    const struct ox_tensor *sc = NULL, *sz = NULL;
    if (n->opset < 11 || strcmp(n->op_type, "Upsample") == 0)
        sc = n->n_in > 1 ? in[1] : NULL;
    else {
        sc = n->n_in > 2 && in[2] && in[2]->numel > 0 ? in[2] : NULL;
        sz = n->n_in > 3 && in[3] && in[3]->numel > 0 ? in[3] : NULL;
    }
    if (!sc && !sz)
        return inferd_err_set(err, INFERD_EINVAL, "Resize: needs scales or sizes");
    const struct ox_tensor *t = sz ? sz : sc;
    if (!t->is_const)
        return inferd_err_set(err, OX_ENEEDCONST, "Resize: %s must be known at load time", sz ? "sizes" : "scales");
    if (t->numel != x->rank)
        return inferd_err_set(err, INFERD_EINVAL, "Resize: %s has %lld entries for rank %d", sz ? "sizes" : "scales",
                              (long long)t->numel, x->rank);
    if (!sz && t->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_ETYPE, "Resize: scales must be FP32");
    for (int d = 0; d < x->rank; d++) {
        if (sz) {
            odims[d] = ox_get_i64(sz, d);
            scales[d] = x->dims[d] ? (double)odims[d] / (double)x->dims[d] : 1.0;
        } else {
            scales[d] = ((const float *)sc->data)[d];
            odims[d] = (int64_t)floor((double)x->dims[d] * scales[d]);
        }
        if (!(scales[d] > 0) || odims[d] < 0 || odims[d] > (int64_t)1 << 32)
            return inferd_err_set(err, INFERD_EINVAL, "Resize: bad scale/size for dim %d", d);
    }
    return 0;
}

static int resize_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        struct inferd_err *err)
{
    if (in[0]->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "Resize: only FP32 is supported");
    double scales[INFERD_MAX_RANK];
    int64_t odims[INFERD_MAX_RANK];
    int rc = resize_geometry(n, in, scales, odims, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], INFERD_FP32, in[0]->rank, odims, err);
}

/* len_out is in * scale (not floored: ONNX's reference uses it for align_corners) */
static double in_coord(int ct, int64_t o, double scale, int64_t len_in, double len_out)
{
    switch (ct) {
    case CT_HALF: return ((double)o + 0.5) / scale - 0.5;
    case CT_PYTORCH: return len_out > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN: return len_out > 1 ? (double)o * (double)(len_in - 1) / (len_out - 1) : 0.0;
    case CT_TF_NEAREST: return ((double)o + 0.5) / scale;
    default: return (double)o / scale;
    }
}

static int64_t nearest(int nm, double v)
{
    switch (nm) {
    case NM_FLOOR: return (int64_t)floor(v);
    case NM_CEIL: return (int64_t)ceil(v);
    case NM_CEIL_HALF: return (int64_t)floor(v + 0.5);
    default: return v == floor(v) + 0.5 ? (int64_t)floor(v) : (int64_t)floor(v + 0.5);
    }
}

static int resize_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0];
    struct ox_tensor *y = out[0];
    double scales[INFERD_MAX_RANK];
    int64_t odims[INFERD_MAX_RANK];
    int rc = resize_geometry(n, in, scales, odims, err);
    if (rc < 0)
        return rc;
    int rank = x->rank, ct = (int)n->ip[1], nm = (int)n->ip[2];
    int64_t istr[INFERD_MAX_RANK], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        istr[d] = s;
        s *= x->dims[d];
    }
    const float *xv = x->data;
    float *yv = y->data;
    int64_t coord[INFERD_MAX_RANK] = {0};
    if (n->ip[0] == 0 && c->scratch && x->numel > 0 && rank > 0) {
        /* nearest: a table of input offsets per output coordinate of every dim (scratch),
         * then rows of the last dim gathered through it */
        int64_t *tab[INFERD_MAX_RANK], *t = c->scratch;
        for (int d = 0; d < rank; d++) {
            tab[d] = t;
            for (int64_t o = 0; o < y->dims[d]; o++) {
                int64_t ic = x->dims[d] == y->dims[d] ? o
                             : nearest(nm, in_coord(ct, o, scales[d], x->dims[d], (double)x->dims[d] * scales[d]));
                ic = ic < 0 ? 0 : ic >= x->dims[d] ? x->dims[d] - 1 : ic;
                t[o] = ic * istr[d];
            }
            t += y->dims[d];
        }
        int64_t inner = y->dims[rank - 1], rows = inner ? y->numel / inner : 0, prev = -1;
        const int64_t *last = tab[rank - 1];
        int twice = inner == 2 * x->dims[rank - 1]; /* every input column twice (nearest x2)? */
        for (int64_t o = 0; o < inner && twice; o++)
            twice = last[o] == o / 2;
        for (int64_t r = 0; r < rows; r++) {
            int64_t base = 0;
            for (int d = 0; d < rank - 1; d++)
                base += tab[d][coord[d]];
            for (int d = rank - 2; d >= 0; d--) { /* odometer over the outer dims */
                if (++coord[d] < y->dims[d])
                    break;
                coord[d] = 0;
            }
            const float *xb = xv + base;
            float *yr = yv + r * inner;
            if (base == prev) { /* the same input row as the row before (upsampled rows) */
                memcpy(yr, yr - inner, (size_t)inner * sizeof *yr);
                continue;
            }
            prev = base;
            int64_t o = 0;
#if defined(__SSE2__)
            for (; twice && o + 8 <= inner; o += 8) {
                __m128 v = _mm_loadu_ps(xb + o / 2);
                _mm_storeu_ps(yr + o, _mm_unpacklo_ps(v, v));
                _mm_storeu_ps(yr + o + 4, _mm_unpackhi_ps(v, v));
            }
#endif
            for (; o < inner; o++)
                yr[o] = xb[last[o]];
        }
        return 0;
    }
    for (int64_t i = 0; i < y->numel; i++) {
        if (x->numel == 0)
            break;
        if (n->ip[0] == 0) {
            int64_t off = 0;
            for (int d = 0; d < rank; d++) {
                int64_t ic = x->dims[d] == y->dims[d] ? coord[d]
                             : nearest(nm, in_coord(ct, coord[d], scales[d], x->dims[d], (double)x->dims[d] * scales[d]));
                ic = ic < 0 ? 0 : ic >= x->dims[d] ? x->dims[d] - 1 : ic;
                off += ic * istr[d];
            }
            yv[i] = xv[off];
        } else {
            int64_t lo[INFERD_MAX_RANK], hi[INFERD_MAX_RANK];
            double fr[INFERD_MAX_RANK];
            unsigned moving = 0;
            int64_t base = 0;
            for (int d = 0; d < rank; d++) {
                if (x->dims[d] == y->dims[d] && ct != CT_ALIGN) {
                    lo[d] = hi[d] = coord[d];
                    fr[d] = 0;
                } else {
                    double v = in_coord(ct, coord[d], scales[d], x->dims[d], (double)x->dims[d] * scales[d]);
                    v = v < 0 ? 0 : v > (double)(x->dims[d] - 1) ? (double)(x->dims[d] - 1) : v;
                    lo[d] = (int64_t)floor(v);
                    hi[d] = lo[d] + 1 < x->dims[d] ? lo[d] + 1 : lo[d];
                    fr[d] = v - (double)lo[d];
                    if (hi[d] != lo[d])
                        moving |= 1u << d;
                }
                base += lo[d] * istr[d];
            }
            double acc = 0;
            for (unsigned corner = 0; corner < (1u << rank); corner++) {
                if (corner & ~moving)
                    continue;
                double wgt = 1;
                int64_t off = base;
                for (int d = 0; d < rank; d++) {
                    if (!(moving & (1u << d)))
                        continue;
                    if (corner & (1u << d)) {
                        wgt *= fr[d];
                        off += (hi[d] - lo[d]) * istr[d];
                    } else {
                        wgt *= 1 - fr[d];
                    }
                }
                acc += wgt * xv[off];
            }
            yv[i] = (float)acc;
        }
        for (int d = rank - 1; d >= 0; d--) {
            if (++coord[d] < y->dims[d])
                break;
            coord[d] = 0;
        }
    }
    return 0;
}

/* nearest mode: one int64 input offset per output coordinate of each dim */
static size_t resize_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)in;
    if (n->ip[0] != 0 || !out[0])
        return 0;
    int64_t sum = 0;
    for (int d = 0; d < out[0]->rank; d++)
        sum += out[0]->dims[d];
    return (size_t)sum * sizeof(int64_t);
}

const struct ox_op ox_op_resize = {
    .name = "Resize", .min_in = 1, .max_in = 4, .min_out = 1, .max_out = 1,
    .prepare = resize_prepare, .infer = resize_infer, .exec = resize_exec, .scratch = resize_scratch,
};
const struct ox_op ox_op_upsample = {
    .name = "Upsample", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
    .prepare = resize_prepare, .infer = resize_infer, .exec = resize_exec, .scratch = resize_scratch,
};
