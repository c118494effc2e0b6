/* quant.c — quantized ops: QuantizeLinear / DequantizeLinear (per-tensor, per-axis, blocked),
 * DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv, and the
 * internal InferdQAdd (fuse_qdq.c's DQ -> Add [-> Relu] [-> Q] in one pass) and InferdQGemm
 * (DQ -> Gemm -> Q on the int8 GEMM, as ORT's QGemm). Scales and
 * zero points may be graph inputs (read at run time). Integer products accumulate in int32
 * through the int8 GEMM of qgemm.c; requantisation rounds half to even and saturates.
 *
 *   QuantizeLinear:   X fp32, scale, zp (u8/i8/u16/i16) -> saturate(round(X / scale) + zp)
 *   DequantizeLinear: X (u8/i8/i32/u16/i16), scale, zp -> (X - zp) * scale
 *   MatMulInteger:    A (.., M, K), B (.., K, N), zp_a (scalar | M), zp_b (scalar | N) -> int32
 *   QLinearMatMul:    same product, then saturate(round(acc * sa * sb / sy) + zy) in y's dtype
 *   ConvInteger / QLinearConv: 2-D conv (N, C, H, W) * (M, C/g, kh, kw) likewise
 */
#include <assert.h>
#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/cpu.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/ops/qgemm.h"

static int is_q8(enum inferd_dtype dt)
{
    return dt == INFERD_UINT8 || dt == INFERD_INT8;
}

static int64_t q_min(enum inferd_dtype dt)
{
    return dt == INFERD_INT8 ? -128 : dt == INFERD_INT16 ? -32768 : 0;
}

static int64_t q_max(enum inferd_dtype dt)
{
    return dt == INFERD_INT8 ? 127 : dt == INFERD_INT16 ? 32767 : dt == INFERD_UINT16 ? 65535 : 255;
}

/* Saturates an already rounded value (callers round with nearbyint: the default rounding
 * mode is half to even, as ONNX specifies, and the zero point is added after rounding). */
static int64_t q_sat(double r, enum inferd_dtype dt)
{
    if (r < (double)q_min(dt))
        return q_min(dt);
    if (r > (double)q_max(dt))
        return q_max(dt);
    return (int64_t)r;
}

/* ---- QuantizeLinear / DequantizeLinear ---- */
/* Where scale/zero point element of x element i lives: per tensor, per axis or per block. */
struct qmap {
    int64_t d, inner, bs, nb; /* axis dim, elements after the axis, block size, blocks along the axis */
    int per_tensor;
};

static int qmap_setup(const struct ox_node *n, const struct ox_tensor *x, const struct ox_tensor *scale,
                      const struct ox_tensor *zp, struct qmap *q, struct inferd_err *err)
{
    memset(q, 0, sizeof *q);
    if (zp && zp->numel != scale->numel)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: zero point has %lld elements, scale %lld", n->op_type,
                              (long long)zp->numel, (long long)scale->numel);
    if (scale->numel == 1 && scale->rank <= 1) {
        q->per_tensor = 1;
        return 0;
    }
    int64_t axis;
    int rc = ox_axis(ox_attr_int(n, "axis", 1), x->rank, &axis, n, "axis", err);
    if (rc < 0)
        return rc;
    q->d = x->dims[axis];
    q->inner = 1;
    for (int k = (int)axis + 1; k < x->rank; k++)
        q->inner *= x->dims[k];
    q->bs = ox_attr_int(n, "block_size", 0);
    if (q->bs <= 0) {
        if (scale->rank != 1 || scale->numel != q->d)
            return inferd_err_set(err, INFERD_ESHAPE, "%s: per-axis scale must be 1-D of %lld (dim %lld of x)",
                                  n->op_type, (long long)q->d, (long long)axis);
        q->bs = 0;
        return 0;
    }
    q->nb = (q->d + q->bs - 1) / q->bs;
    if (scale->rank != x->rank)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: blocked scale must have x's rank", n->op_type);
    for (int k = 0; k < x->rank; k++)
        if (scale->dims[k] != (k == axis ? q->nb : x->dims[k]))
            return inferd_err_set(err, INFERD_ESHAPE, "%s: blocked scale dim %d is %lld, expected %lld", n->op_type, k,
                                  (long long)scale->dims[k], (long long)(k == axis ? q->nb : x->dims[k]));
    return 0;
}

static int64_t qmap_at(const struct qmap *q, int64_t i)
{
    if (q->per_tensor)
        return 0;
    assert(q->inner > 0 && q->d > 0); /* a per-axis map exists only for a non-empty x */
    int64_t c = (i / q->inner) % q->d;
    if (!q->bs)
        return c;
    int64_t outer = i / (q->d * q->inner), in = i % q->inner;
    return (outer * q->nb + c / q->bs) * q->inner + in;
}

static int quant_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                       struct inferd_err *err)
{
    const struct ox_tensor *zp = n->n_in > 2 ? in[2] : NULL;
    enum inferd_dtype dt = zp ? zp->dt : INFERD_UINT8;
    if (ox_attr_find(n, "output_dtype") && ox_attr_int(n, "output_dtype", 0) != 0) {
        enum inferd_dtype od = inferd_dtype_from_onnx((int)ox_attr_int(n, "output_dtype", 0));
        if (zp && od != zp->dt)
            return inferd_err_set(err, INFERD_ETYPE, "QuantizeLinear: attribute 'output_dtype' differs from the zero point's");
        dt = od;
    }
    if (dt != INFERD_UINT8 && dt != INFERD_INT8 && dt != INFERD_UINT16 && dt != INFERD_INT16)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "QuantizeLinear: output dtype %s is not supported "
                                                        "(uint8, int8, uint16, int16 are)", inferd_dtype_v2_name(dt));
    if (ox_dtype_is_int(in[0]->dt) || ox_dtype_is_int(in[1]->dt))
        return inferd_err_set(err, INFERD_ETYPE, "QuantizeLinear: 'x' and 'y_scale' must be floating point");
    struct qmap q;
    int rc = qmap_setup(n, in[0], in[1], zp, &q, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], dt, in[0]->rank, in[0]->dims, err);
}

#if defined(__SSE2__)
/* Four 8-bit values widened to int32 lanes (DequantizeLinear, InferdQAdd). */
static inline __m128i qadd_ld4(const uint8_t *p, int is_signed)
{
    int32_t w;
    memcpy(&w, p, sizeof w);
    __m128i x = _mm_cvtsi32_si128(w);
    if (is_signed) {
        x = _mm_unpacklo_epi8(x, x);
        return _mm_srai_epi32(_mm_unpacklo_epi16(x, x), 24);
    }
    const __m128i zero = _mm_setzero_si128();
    return _mm_unpacklo_epi16(_mm_unpacklo_epi8(x, zero), zero);
}
#endif

/* The common case as a tight loop: FP32 x and scale, 8-bit y, split over the pool. */
struct qpar {
    const struct qmap *q;
    const float *x, *scale;
    const void *zp; /* zero points in y's / x's dtype, or NULL */
    void *y;
    int is_signed;
};

static void quant8_range(void *arg, int64_t lo, int64_t hi)
{
    const struct qpar *a = arg;
    float qlo = a->is_signed ? -128.0f : 0.0f, qhi = a->is_signed ? 127.0f : 255.0f;
    if (a->q->per_tensor) {
        /* The same values without a libm call or a map lookup per element: v is clamped into
         * [qlo - z, qhi - z] first (the bounds are integers and rounding is monotonic, so that
         * equals clamping after rounding; NaN goes to the low end), then rounded half to even
         * by adding and taking away 1.5 * 2^23 (exact for |v| < 2^22 in the default rounding
         * mode, as nearbyintf is). */
        const float s = a->scale[0];
        const float z = !a->zp ? 0.0f : a->is_signed ? (float)((const int8_t *)a->zp)[0] : (float)((const uint8_t *)a->zp)[0];
        const float vlo = qlo - z, vhi = qhi - z, magic = 12582912.0f;
        const float *restrict x = a->x;
#if defined(__SSE2__)
        /* four lanes with the same operations (divps, maxps / minps as the clamps, addps /
         * subps, cvttps of the integral result), then the scalar loop for the rest */
        const __m128 vs = _mm_set1_ps(s), vz = _mm_set1_ps(z), vl = _mm_set1_ps(vlo), vh = _mm_set1_ps(vhi);
        const __m128 vm = _mm_set1_ps(magic);
        for (; lo + 4 <= hi; lo += 4) {
            __m128 v = _mm_min_ps(_mm_max_ps(_mm_div_ps(_mm_loadu_ps(x + lo), vs), vl), vh);
            __m128i r = _mm_cvttps_epi32(_mm_add_ps(_mm_sub_ps(_mm_add_ps(v, vm), vm), vz));
            r = _mm_packs_epi32(r, r);
            r = a->is_signed ? _mm_packs_epi16(r, r) : _mm_packus_epi16(r, r);
            int32_t o = _mm_cvtsi128_si32(r);
            memcpy((uint8_t *)a->y + lo, &o, sizeof o);
        }
#endif
        if (a->is_signed) {
            int8_t *restrict y = a->y;
            for (int64_t i = lo; i < hi; i++) {
                float v = x[i] / s;
                v = v > vlo ? v : vlo;
                v = v < vhi ? v : vhi;
                y[i] = (int8_t)(int)((v + magic) - magic + z);
            }
        } else {
            uint8_t *restrict y = a->y;
            for (int64_t i = lo; i < hi; i++) {
                float v = x[i] / s;
                v = v > vlo ? v : vlo;
                v = v < vhi ? v : vhi;
                y[i] = (uint8_t)(int)((v + magic) - magic + z);
            }
        }
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        int64_t k = qmap_at(a->q, i);
        float z = !a->zp ? 0.0f : a->is_signed ? (float)((const int8_t *)a->zp)[k] : (float)((const uint8_t *)a->zp)[k];
        float v = nearbyintf(a->x[i] / a->scale[k]) + z;
        v = v < qlo ? qlo : v > qhi ? qhi : v;
        if (a->is_signed)
            ((int8_t *)a->y)[i] = (int8_t)v;
        else
            ((uint8_t *)a->y)[i] = (uint8_t)v;
    }
}

static void dequant8_range(void *arg, int64_t lo, int64_t hi)
{
    const struct qpar *a = arg;
    float *y = a->y;
    if (a->q->per_tensor) {
        const float s = a->scale[0];
        const int32_t z = !a->zp ? 0 : a->is_signed ? ((const int8_t *)a->zp)[0] : ((const uint8_t *)a->zp)[0];
        float *restrict yo = y;
#if defined(__SSE2__)
        const __m128 vs = _mm_set1_ps(s);
        const __m128i vz = _mm_set1_epi32(z);
        for (; lo + 4 <= hi; lo += 4)
            _mm_storeu_ps(yo + lo, _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(qadd_ld4((const uint8_t *)a->x + lo,
                                                                                      a->is_signed), vz)), vs));
#endif
        if (a->is_signed) {
            const int8_t *restrict x = (const void *)a->x;
            for (int64_t i = lo; i < hi; i++)
                yo[i] = (float)(x[i] - z) * s;
        } else {
            const uint8_t *restrict x = (const void *)a->x;
            for (int64_t i = lo; i < hi; i++)
                yo[i] = (float)(x[i] - z) * s;
        }
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        int64_t k = qmap_at(a->q, i);
        int32_t xv = a->is_signed ? ((const int8_t *)a->x)[i] : ((const uint8_t *)a->x)[i];
        int32_t z = !a->zp ? 0 : a->is_signed ? ((const int8_t *)a->zp)[k] : ((const uint8_t *)a->zp)[k];
        y[i] = (float)(xv - z) * a->scale[k];
    }
}

static int quant_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                      struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *sc = in[1], *zp = n->n_in > 2 ? in[2] : NULL;
    struct qmap q;
    int rc = qmap_setup(n, x, sc, zp, &q, err);
    if (rc < 0)
        return rc;
    struct ox_tensor *y = out[0];
    if (x->dt == INFERD_FP32 && sc->dt == INFERD_FP32 && is_q8(y->dt)) {
        struct qpar a = {&q, x->data, sc->data, zp ? zp->data : NULL, y->data, y->dt == INFERD_INT8};
        ox_parallel(c, x->numel, 32768, quant8_range, &a);
        return 0;
    }
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t k = qmap_at(&q, i);
        float s = (float)ox_get_f64(sc, k);
        double z = zp ? (double)ox_get_i64(zp, k) : 0;
        ox_put_i64(y, i, q_sat(nearbyint((double)((float)ox_get_f64(x, i) / s)) + z, y->dt));
    }
    return 0;
}

const struct ox_op ox_op_quantize_linear = {
    .name = "QuantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = quant_infer, .exec = quant_exec,
};

static int dequant_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                         struct inferd_err *err)
{
    const struct ox_tensor *zp = n->n_in > 2 ? in[2] : NULL;
    enum inferd_dtype xd = in[0]->dt;
    if (!is_q8(xd) && xd != INFERD_INT32 && xd != INFERD_UINT16 && xd != INFERD_INT16)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "DequantizeLinear: input 'x' dtype %s is not supported",
                              inferd_dtype_v2_name(xd));
    if (zp && zp->dt != xd)
        return inferd_err_set(err, INFERD_ETYPE, "DequantizeLinear: 'x_zero_point' must have x's dtype");
    if (ox_dtype_is_int(in[1]->dt))
        return inferd_err_set(err, INFERD_ETYPE, "DequantizeLinear: 'x_scale' must be floating point");
    struct qmap q;
    int rc = qmap_setup(n, in[0], in[1], zp, &q, err);
    if (rc < 0)
        return rc;
    return ox_set_shape(out[0], in[1]->dt, in[0]->rank, in[0]->dims, err);
}

static int dequant_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                        struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *sc = in[1], *zp = n->n_in > 2 ? in[2] : NULL;
    struct qmap q;
    int rc = qmap_setup(n, x, sc, zp, &q, err);
    if (rc < 0)
        return rc;
    if (is_q8(x->dt) && sc->dt == INFERD_FP32) {
        struct qpar a = {&q, x->data, sc->data, zp ? zp->data : NULL, out[0]->data, x->dt == INFERD_INT8};
        ox_parallel(c, x->numel, 32768, dequant8_range, &a);
        return 0;
    }
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t k = qmap_at(&q, i);
        int64_t z = zp ? ox_get_i64(zp, k) : 0;
        ox_put_f64(out[0], i, (double)((float)(ox_get_i64(x, i) - z) * (float)ox_get_f64(sc, k)));
    }
    return 0;
}

const struct ox_op ox_op_dequantize_linear = {
    .name = "DequantizeLinear", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
    .infer = dequant_infer, .exec = dequant_exec,
};

/* ---- DynamicQuantizeLinear: uint8, scale and zero point from the data's range ---- */
static int dynq_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    (void)n;
    if (in[0]->dt != INFERD_FP32)
        return inferd_err_set(err, INFERD_ETYPE, "DynamicQuantizeLinear: input 'x' must be FP32");
    int rc = ox_set_shape(out[0], INFERD_UINT8, in[0]->rank, in[0]->dims, err);
    if (rc == 0)
        rc = ox_set_shape(out[1], INFERD_FP32, 0, NULL, err);
    if (rc == 0)
        rc = ox_set_shape(out[2], INFERD_UINT8, 0, NULL, err);
    return rc;
}

static int dynq_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    (void)c;
    (void)n;
    (void)err;
    const float *x = in[0]->data;
    float lo = 0, hi = 0; /* the range always includes 0 */
    for (int64_t i = 0; i < in[0]->numel; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    float scale = (hi - lo) / 255.0f;
    if (scale == 0)
        scale = 1; /* all zeros: any scale gives zeros */
    uint8_t zp = (uint8_t)q_sat(nearbyint((double)(0.0f - lo / scale)), INFERD_UINT8);
    uint8_t *y = out[0]->data;
    for (int64_t i = 0; i < in[0]->numel; i++)
        y[i] = (uint8_t)q_sat(nearbyint((double)(x[i] / scale)) + zp, INFERD_UINT8);
    if (out[1])
        *(float *)out[1]->data = hi == lo ? 0 : scale;
    if (out[2])
        *(uint8_t *)out[2]->data = zp;
    return 0;
}

const struct ox_op ox_op_dynamic_quantize_linear = {
    .name = "DynamicQuantizeLinear", .min_in = 1, .max_in = 1, .min_out = 3, .max_out = 3,
    .infer = dynq_infer, .exec = dynq_exec,
};

/* ---- MatMulInteger / QLinearMatMul ---- */
/* Operand positions of each op's inputs. */
struct qmm_io {
    int a, b, za, zb, sa, sb, sy, zy; /* -1: absent */
};
static const struct qmm_io MMI = {0, 1, 2, 3, -1, -1, -1, -1};
static const struct qmm_io QLMM = {0, 3, 2, 5, 1, 4, 6, 7};

/* A (batch.., M, K) @ B (batch.., K, N): rank-1 operands are promoted as in MatMul; batch
 * dims broadcast. Fills the output dims and returns its rank. */
static int qmm_shape(const struct ox_node *n, const struct ox_tensor *a, const struct ox_tensor *b, int64_t *dims,
                     int64_t *M, int64_t *K, int64_t *N, struct inferd_err *err)
{
    if (!is_q8(a->dt) || !is_q8(b->dt))
        return inferd_err_set(err, INFERD_ETYPE, "%s: inputs 'A' and 'B' must be uint8 or int8", n->op_type);
    if (a->rank < 1 || b->rank < 1)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: inputs must have rank >= 1", n->op_type);
    *M = a->rank > 1 ? a->dims[a->rank - 2] : 1;
    *K = a->dims[a->rank - 1];
    *N = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    int64_t kb = b->rank > 1 ? b->dims[b->rank - 2] : b->dims[0];
    if (kb != *K)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: inner dims differ (%lld vs %lld)", n->op_type, (long long)*K,
                              (long long)kb);
    int ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0, r = ba > bb ? ba : bb;
    for (int k = 0; k < r; k++) {
        int64_t da = k - (r - ba) >= 0 ? a->dims[k - (r - ba)] : 1, db = k - (r - bb) >= 0 ? b->dims[k - (r - bb)] : 1;
        if (da != db && da != 1 && db != 1)
            return inferd_err_set(err, INFERD_ESHAPE, "%s: batch dims %lld and %lld do not broadcast", n->op_type,
                                  (long long)da, (long long)db);
        dims[k] = da > db ? da : db;
    }
    int rank = r;
    if (a->rank > 1)
        dims[rank++] = *M;
    if (b->rank > 1)
        dims[rank++] = *N;
    return rank;
}

/* Zero point of row i (A) / column j (B): scalar or 1-D per row/column. */
static int zp_check(const struct ox_node *n, const struct ox_tensor *z, const struct ox_tensor *of, int64_t len,
                    const char *what, struct inferd_err *err)
{
    if (!z)
        return 0;
    if (z->dt != of->dt)
        return inferd_err_set(err, INFERD_ETYPE, "%s: '%s' must have its operand's dtype", n->op_type, what);
    if (z->numel != 1 && z->numel != len)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: '%s' must be a scalar or hold %lld values", n->op_type, what,
                              (long long)len);
    return 0;
}

static int qmm_check(const struct ox_node *n, struct ox_tensor *const *in, const struct qmm_io *io, int64_t *dims,
                     int *rank, int64_t *M, int64_t *K, int64_t *N, struct inferd_err *err)
{
    const struct ox_tensor *a = in[io->a], *b = in[io->b];
    int r = qmm_shape(n, a, b, dims, M, K, N, err);
    if (r < 0)
        return r;
    *rank = r;
    int rc;
    if ((rc = zp_check(n, ox_opt_in(n, in, io->za), a, *M, "a_zero_point", err)) < 0 ||
        (rc = zp_check(n, ox_opt_in(n, in, io->zb), b, *N, "b_zero_point", err)) < 0)
        return rc;
    if (io->sy >= 0) {
        const struct ox_tensor *sa = in[io->sa], *sb = in[io->sb], *sy = in[io->sy], *zy = ox_opt_in(n, in, io->zy);
        if (sa->numel != 1 || sy->numel != 1 || (sb->numel != 1 && sb->numel != *N))
            return inferd_err_set(err, INFERD_ESHAPE, "QLinearMatMul: scales must be scalars (b_scale may hold N values)");
        if (zy && (zy->numel != 1 || !is_q8(zy->dt)))
            return inferd_err_set(err, INFERD_ESHAPE, "QLinearMatMul: 'y_zero_point' must be a uint8/int8 scalar");
    }
    return 0;
}

static int qmm_infer_io(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                        const struct qmm_io *io, struct inferd_err *err)
{
    int64_t dims[INFERD_MAX_RANK] = {0}, M = 0, K = 0, N = 0;
    int rank;
    int rc = qmm_check(n, in, io, dims, &rank, &M, &K, &N, err);
    if (rc < 0)
        return rc;
    enum inferd_dtype dt = INFERD_INT32;
    if (io->sy >= 0) {
        const struct ox_tensor *zy = ox_opt_in(n, in, io->zy);
        dt = zy ? zy->dt : INFERD_UINT8;
    }
    return ox_set_shape(out[0], dt, rank, dims, err);
}

static int mmi_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                     struct inferd_err *err)
{
    return qmm_infer_io(n, in, out, &MMI, err);
}

static int qlmm_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    return qmm_infer_io(n, in, out, &QLMM, err);
}

/* Scratch of both: int32 accumulators of one (M, N) product (QLinearMatMul only), rounded
 * to 64 bytes, then the int8 GEMM's packed B. */
static size_t qmm_acc_bytes(const struct ox_node *n, int64_t M, int64_t N)
{
    return strcmp(n->op_type, "QLinearMatMul") == 0 ? ((size_t)(M * N) * sizeof(int32_t) + 63) & ~(size_t)63 : 0;
}

static size_t qmm_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    const struct ox_tensor *a = in[0], *b = in[strcmp(n->op_type, "QLinearMatMul") == 0 ? 3 : 1];
    int64_t M = a->rank > 1 ? a->dims[a->rank - 2] : 1, K = a->dims[a->rank - 1];
    int64_t N = b->rank > 1 ? b->dims[b->rank - 1] : 1;
    return qmm_acc_bytes(n, M, N) + qgemm_scratch_bytes(K, N);
}

static int qmm_exec_io(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                       struct ox_tensor **out, const struct qmm_io *io, struct inferd_err *err)
{
    int64_t dims[INFERD_MAX_RANK] = {0}, M = 0, K = 0, N = 0;
    int rank = 0;
    int rc = qmm_check(n, in, io, dims, &rank, &M, &K, &N, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *a = in[io->a], *b = in[io->b], *za = ox_opt_in(n, in, io->za), *zb = ox_opt_in(n, in, io->zb);
    struct ox_tensor *y = out[0];
    int nbd = rank - (a->rank > 1) - (b->rank > 1);
    int64_t n_batch = 1;
    for (int k = 0; k < nbd; k++)
        n_batch *= dims[k];
    int32_t *acc = io->sy >= 0 ? c->scratch : NULL;
    void *pack = c->scratch ? (char *)c->scratch + qmm_acc_bytes(n, M, N) : NULL;
    int64_t bidx[INFERD_MAX_RANK] = {0};
    int ba = a->rank > 2 ? a->rank - 2 : 0, bbr = b->rank > 2 ? b->rank - 2 : 0;
    for (int64_t bt = 0; bt < n_batch; bt++) {
        /* offsets of this batch in A and B (broadcast dims of 1 stay at 0) */
        int64_t oa = 0, ob = 0;
        for (int k = 0; k < nbd; k++) {
            int ka = k - (nbd - ba), kb = k - (nbd - bbr);
            if (ka >= 0)
                oa = oa * a->dims[ka] + (a->dims[ka] == 1 ? 0 : bidx[k]);
            if (kb >= 0)
                ob = ob * b->dims[kb] + (b->dims[kb] == 1 ? 0 : bidx[k]);
        }
        struct qgemm_args g = {
            .M = M, .N = N, .K = K,
            .a = (const uint8_t *)a->data + oa * M * K, .a_signed = a->dt == INFERD_INT8,
            .b = (const uint8_t *)b->data + ob * K * N, .b_signed = b->dt == INFERD_INT8,
            .za = za ? za->data : NULL, .za_len = za ? za->numel : 0,
            .zb = zb ? zb->data : NULL, .zb_len = zb ? zb->numel : 0,
            .c = acc ? acc : (int32_t *)y->data + bt * M * N,
            .pack = c->packed ? (void *)(uintptr_t)c->packed : pack,
            .prepacked = c->packed != NULL,
        };
        qgemm_u8_pool(c, &g);
        if (acc) {
            const struct ox_tensor *sb = in[io->sb], *zy = ox_opt_in(n, in, io->zy);
            float sa = (float)ox_get_f64(in[io->sa], 0), sy = (float)ox_get_f64(in[io->sy], 0);
            int64_t z = zy ? ox_get_i64(zy, 0) : 0;
            uint8_t *yb = (uint8_t *)y->data + bt * M * N;
            float mul[256];
            for (int64_t j0 = 0; j0 < N; j0 += 256) { /* column chunks of per-column scales */
                int64_t nj = N - j0 < 256 ? N - j0 : 256, nm = sb->numel == 1 ? 1 : nj;
                for (int64_t j = 0; j < nm; j++)
                    mul[j] = sa * (float)ox_get_f64(sb, sb->numel == 1 ? 0 : j0 + j) / sy;
                for (int64_t i = 0; i < M; i++)
                    qgemm_requant(acc + i * N + j0, nj, 0, mul, nm > 1, (int32_t)z, y->dt == INFERD_INT8,
                                  yb + i * N + j0);
            }
        }
        for (int k = nbd - 1; k >= 0; k--) {
            if (++bidx[k] < dims[k])
                break;
            bidx[k] = 0;
        }
    }
    return 0;
}

static int mmi_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                    struct ox_tensor **out, struct inferd_err *err)
{
    return qmm_exec_io(c, n, in, out, &MMI, err);
}

static int qlmm_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    return qmm_exec_io(c, n, in, out, &QLMM, err);
}

/* A constant 2-D B (weights) with a constant zero point is packed once per plan for the
 * kernel the CPU runs (bytes in the float buffer the plan gives). */
static int64_t qmm_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    const struct qmm_io *io = strcmp(n->op_type, "QLinearMatMul") == 0 ? &QLMM : &MMI;
    const struct ox_tensor *a = in[io->a], *b = in[io->b], *zb = ox_opt_in(n, in, io->zb);
    if (!b->is_const || b->rank != 2 || b->numel == 0 || (zb && !zb->is_const) || !is_q8(b->dt) || a->rank < 1 ||
        a->dims[a->rank - 1] != b->dims[0] || (zb && zb->numel != 1 && zb->numel != b->dims[1]))
        return 0;
    int64_t K = b->dims[0], N = b->dims[1];
    struct qgemm_args g = {.M = 1, .N = N, .K = K, .b = b->data, .b_signed = b->dt == INFERD_INT8,
                           .zb = zb ? zb->data : NULL, .zb_len = zb ? zb->numel : 0, .pack = dst ? (void *)dst : (void *)1};
    if (qgemm_isa_pick(&g) == QGEMM_REF)
        return 0;
    if (dst)
        qgemm_pack_b(&g);
    return (int64_t)((qgemm_scratch_bytes(K, N) + sizeof(float) - 1) / sizeof(float));
}

const struct ox_op ox_op_matmul_integer = {
    .name = "MatMulInteger", .min_in = 2, .max_in = 4, .min_out = 1, .max_out = 1,
    .infer = mmi_infer, .exec = mmi_exec, .scratch = qmm_scratch, .pack = qmm_pack,
};
const struct ox_op ox_op_qlinear_matmul = {
    .name = "QLinearMatMul", .min_in = 8, .max_in = 8, .min_out = 1, .max_out = 1,
    .infer = qlmm_infer, .exec = qlmm_exec, .scratch = qmm_scratch, .pack = qmm_pack,
};

/* ---- InferdQAdd: DequantizeLinear(s) -> Add [-> Relu] [-> QuantizeLinear] in one pass ----
 * Made by fuse_qdq.c only. Inputs: A (8-bit), a_scale, a_zero_point, B (8-bit with b_scale,
 * b_zero_point at 4, 5, or FP32 with those absent; or absent: DQ [-> Relu] -> Q without an
 * Add), then y_scale, y_zero_point (6, 7; absent without the QuantizeLinear); scales and zero
 * points per tensor. node ip[0] = 1: the Relu.
 * Outputs: with the QuantizeLinear, 0 its bytes and 1 (optional) the FP32 sum the graph's
 * other readers take; without, 0 the FP32 sum. Every element takes the float operations of
 * the nodes it replaces, in their order ((a - za) * sa, + b, max 0, then quant8_range's
 * rounding), so it gives their bytes and floats exactly. A and B broadcast as in Add. */
static int qadd_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                      struct inferd_err *err)
{
    const struct ox_tensor *a = in[0], *b = ox_opt_in(n, in, 3), *sb = ox_opt_in(n, in, 4), *sy = ox_opt_in(n, in, 6);
    const struct ox_tensor *za = in[2], *zb = ox_opt_in(n, in, 5), *zy = ox_opt_in(n, in, 7);
    if (!is_q8(a->dt) || in[1]->dt != INFERD_FP32 || in[1]->numel != 1 || !za || za->dt != a->dt || za->numel != 1)
        return inferd_err_set(err, INFERD_ETYPE, "%s: 'A' must be 8-bit with a per-tensor FP32 scale and zero point",
                              n->op_type);
    if (b && (sb ? !is_q8(b->dt) || sb->dt != INFERD_FP32 || sb->numel != 1 || !zb || zb->dt != b->dt || zb->numel != 1
           : b->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_ETYPE, "%s: 'B' must be FP32, or 8-bit with a per-tensor scale and zero point",
                              n->op_type);
    if (sy && (sy->dt != INFERD_FP32 || sy->numel != 1 || !zy || !is_q8(zy->dt) || zy->numel != 1))
        return inferd_err_set(err, INFERD_ETYPE, "%s: 'y_scale' / 'y_zero_point' must be per-tensor FP32 / 8-bit",
                              n->op_type);
    int64_t dims[INFERD_MAX_RANK];
    int rank = a->rank, rc = 0;
    memcpy(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
    if (b && (rc = ox_broadcast_shape(a, b, &rank, dims, n, err)) < 0)
        return rc;
    rc = ox_set_shape(out[0], sy ? zy->dt : INFERD_FP32, rank, dims, err);
    if (rc == 0 && sy && n->n_out > 1 && out[1])
        rc = ox_set_shape(out[1], INFERD_FP32, rank, dims, err);
    return rc;
}

struct qadd_job {
    const void *a, *b;
    float sa, sb, sy, zy;
    int32_t za, zb;
    int a_signed, has_b, b_q, b_signed, relu, y_q, y_signed;
    float *yf;  /* FP32 sum or NULL */
    void *yq;   /* bytes or NULL */
};

static inline float qadd_one(const struct qadd_job *j, int64_t ia, int64_t ib)
{
    int32_t av = j->a_signed ? ((const int8_t *)j->a)[ia] : ((const uint8_t *)j->a)[ia];
    float v = (float)(av - j->za) * j->sa, w;
    if (!j->has_b) {
        return j->relu ? (v > 0.0f ? v : 0.0f) : v;
    } else if (j->b_q) {
        int32_t bv = j->b_signed ? ((const int8_t *)j->b)[ib] : ((const uint8_t *)j->b)[ib];
        w = (float)(bv - j->zb) * j->sb;
    } else {
        w = ((const float *)j->b)[ib];
    }
    v = v + w;
    return j->relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* The bytes of quant8_range's per-tensor loop for one value. */
static inline void qadd_put(const struct qadd_job *j, int64_t i, float v)
{
    if (j->yf)
        j->yf[i] = v;
    if (!j->yq)
        return;
    const float qlo = j->y_signed ? -128.0f : 0.0f, qhi = j->y_signed ? 127.0f : 255.0f, magic = 12582912.0f;
    float t = v / j->sy;
    t = t > qlo - j->zy ? t : qlo - j->zy;
    t = t < qhi - j->zy ? t : qhi - j->zy;
    int r = (int)((t + magic) - magic + j->zy);
    if (j->y_signed)
        ((int8_t *)j->yq)[i] = (int8_t)r;
    else
        ((uint8_t *)j->yq)[i] = (uint8_t)r;
}


#if defined(__x86_64__)
/* qadd_range's vector loop on 16 lanes (AVX-512) and on 8 (AVX2), the same operations in the
 * same order (the narrowing after the clamp cannot saturate, so vpmovdb's truncation and the
 * packs agree); each returns where it stopped, whole vectors only. By function attribute:
 * call only after cpu_has() says the CPU has them. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl"))) static int64_t qadd_avx512(const struct qadd_job *j,
                                                                                      int64_t i, int64_t hi)
{
    const __m512 sa = _mm512_set1_ps(j->sa), sb = _mm512_set1_ps(j->sb), sy = _mm512_set1_ps(j->sy);
    const __m512 zy = _mm512_set1_ps(j->zy), zero = _mm512_setzero_ps(), magic = _mm512_set1_ps(12582912.0f);
    const __m512i za = _mm512_set1_epi32(j->za), zb = _mm512_set1_epi32(j->zb);
    const __m512 vlo = _mm512_set1_ps((j->y_signed ? -128.0f : 0.0f) - j->zy);
    const __m512 vhi = _mm512_set1_ps((j->y_signed ? 127.0f : 255.0f) - j->zy);
    const uint8_t *a = j->a, *b = j->b;
    for (; i + 16 <= hi; i += 16) {
        __m128i xa = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        __m512i ia = j->a_signed ? _mm512_cvtepi8_epi32(xa) : _mm512_cvtepu8_epi32(xa);
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(ia, za)), sa);
        if (j->has_b) {
            __m512 w;
            if (j->b_q) {
                __m128i xb = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
                __m512i ib = j->b_signed ? _mm512_cvtepi8_epi32(xb) : _mm512_cvtepu8_epi32(xb);
                w = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(ib, zb)), sb);
            } else {
                w = _mm512_loadu_ps((const float *)j->b + i);
            }
            v = _mm512_add_ps(v, w);
        }
        if (j->relu)
            v = _mm512_max_ps(v, zero);
        if (j->yf)
            _mm512_storeu_ps(j->yf + i, v);
        if (j->yq) {
            __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_div_ps(v, sy), vlo), vhi);
            t = _mm512_add_ps(_mm512_sub_ps(_mm512_add_ps(t, magic), magic), zy);
            _mm_storeu_si128((__m128i *)(void *)((uint8_t *)j->yq + i), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t)));
        }
    }
    return i;
}

__attribute__((target("avx2"))) static int64_t qadd_avx2(const struct qadd_job *j, int64_t i, int64_t hi)
{
    const __m256 sa = _mm256_set1_ps(j->sa), sb = _mm256_set1_ps(j->sb), sy = _mm256_set1_ps(j->sy);
    const __m256 zy = _mm256_set1_ps(j->zy), zero = _mm256_setzero_ps(), magic = _mm256_set1_ps(12582912.0f);
    const __m256i za = _mm256_set1_epi32(j->za), zb = _mm256_set1_epi32(j->zb);
    const __m256 vlo = _mm256_set1_ps((j->y_signed ? -128.0f : 0.0f) - j->zy);
    const __m256 vhi = _mm256_set1_ps((j->y_signed ? 127.0f : 255.0f) - j->zy);
    const uint8_t *a = j->a, *b = j->b;
    for (; i + 8 <= hi; i += 8) {
        __m128i xa = _mm_loadl_epi64((const __m128i *)(const void *)(a + i));
        __m256i ia = j->a_signed ? _mm256_cvtepi8_epi32(xa) : _mm256_cvtepu8_epi32(xa);
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ia, za)), sa);
        if (j->has_b) {
            __m256 w;
            if (j->b_q) {
                __m128i xb = _mm_loadl_epi64((const __m128i *)(const void *)(b + i));
                __m256i ib = j->b_signed ? _mm256_cvtepi8_epi32(xb) : _mm256_cvtepu8_epi32(xb);
                w = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ib, zb)), sb);
            } else {
                w = _mm256_loadu_ps((const float *)j->b + i);
            }
            v = _mm256_add_ps(v, w);
        }
        if (j->relu)
            v = _mm256_max_ps(v, zero);
        if (j->yf)
            _mm256_storeu_ps(j->yf + i, v);
        if (j->yq) {
            __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(v, sy), vlo), vhi);
            t = _mm256_add_ps(_mm256_sub_ps(_mm256_add_ps(t, magic), magic), zy);
            __m256i r = _mm256_cvttps_epi32(t);
            __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
            __m128i p8 = j->y_signed ? _mm_packs_epi16(p16, p16) : _mm_packus_epi16(p16, p16);
            _mm_storel_epi64((__m128i *)(void *)((uint8_t *)j->yq + i), p8);
        }
    }
    return i;
}
#endif

/* Same shapes: four lanes at a time with the scalar operations' SSE2 twins (cvtdq2ps, mulps,
 * addps, maxps(v, 0) = v > 0 ? v : 0, divps, maxps / minps as the clamps, the magic-number
 * rounding, cvttps on the integral result), then the scalar loop for the rest. */
static void qadd_range(void *arg, int64_t lo, int64_t hi)
{
    const struct qadd_job *j = arg;
    int64_t i = lo;
#if defined(__x86_64__)
    if (cpu_has(CPU_AVX2 | CPU_AVX512F | CPU_AVX512BW | CPU_AVX512VL))
        i = qadd_avx512(j, i, hi);
    else if (cpu_has(CPU_AVX2))
        i = qadd_avx2(j, i, hi);
#endif
#if defined(__SSE2__)
    const __m128 sa = _mm_set1_ps(j->sa), sb = _mm_set1_ps(j->sb), sy = _mm_set1_ps(j->sy), zy = _mm_set1_ps(j->zy);
    const __m128i za = _mm_set1_epi32(j->za), zb = _mm_set1_epi32(j->zb);
    const __m128 vlo = _mm_set1_ps((j->y_signed ? -128.0f : 0.0f) - j->zy);
    const __m128 vhi = _mm_set1_ps((j->y_signed ? 127.0f : 255.0f) - j->zy);
    const __m128 magic = _mm_set1_ps(12582912.0f), zero = _mm_setzero_ps();
    const uint8_t *a = j->a;
    float *yf = j->yf;
    uint8_t *yq = j->yq;
    for (; i + 4 <= hi; i += 4) {
        __m128 v = _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(qadd_ld4(a + i, j->a_signed), za)), sa);
        if (j->has_b) {
            __m128 w = j->b_q ? _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(
                                               qadd_ld4((const uint8_t *)j->b + i, j->b_signed), zb)), sb)
                              : _mm_loadu_ps((const float *)j->b + i);
            v = _mm_add_ps(v, w);
        }
        if (j->relu)
            v = _mm_max_ps(v, zero);
        if (yf)
            _mm_storeu_ps(yf + i, v);
        if (yq) {
            __m128 t = _mm_min_ps(_mm_max_ps(_mm_div_ps(v, sy), vlo), vhi);
            t = _mm_add_ps(_mm_sub_ps(_mm_add_ps(t, magic), magic), zy);
            __m128i r = _mm_cvttps_epi32(t);
            r = _mm_packs_epi32(r, r);
            r = j->y_signed ? _mm_packs_epi16(r, r) : _mm_packus_epi16(r, r);
            int32_t o = _mm_cvtsi128_si32(r);
            memcpy(yq + i, &o, sizeof o);
        }
    }
#endif
    for (; i < hi; i++)
        qadd_put(j, i, qadd_one(j, i, i));
}

static int qadd_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *a = in[0], *b = ox_opt_in(n, in, 3), *sb = ox_opt_in(n, in, 4), *sy = ox_opt_in(n, in, 6);
    struct ox_tensor *y0 = out[0], *y1 = n->n_out > 1 ? out[1] : NULL;
    struct qadd_job j = {
        .a = a->data, .b = b ? b->data : NULL, .has_b = b != NULL, .sa = ((const float *)in[1]->data)[0], .za = (int32_t)ox_get_i64(in[2], 0),
        .a_signed = a->dt == INFERD_INT8, .b_q = sb != NULL, .b_signed = b && b->dt == INFERD_INT8,
        .relu = n->ip[0] != 0, .y_q = sy != NULL,
    };
    if (sb) {
        j.sb = ((const float *)sb->data)[0];
        j.zb = (int32_t)ox_get_i64(in[5], 0);
    }
    if (sy) {
        j.sy = ((const float *)sy->data)[0];
        j.zy = (float)ox_get_i64(in[7], 0);
        j.y_signed = y0->dt == INFERD_INT8;
        j.yq = y0->data;
        j.yf = y1 ? y1->data : NULL;
    } else {
        j.yf = y0->data;
    }
    if (a->numel == y0->numel && (!b || b->numel == y0->numel)) {
        ox_parallel(c, y0->numel, 1 << 15, qadd_range, &j);
        return 0;
    }
    /* broadcasting (not what the pattern usually meets): element offsets per operand */
    int r = y0->rank;
    int64_t sa_[INFERD_MAX_RANK], sb_[INFERD_MAX_RANK], idx[INFERD_MAX_RANK] = {0};
    int64_t ma = 1, mb = 1;
    for (int k = r - 1; k >= 0; k--) {
        int ka = k - (r - a->rank), kb = k - (r - b->rank);
        int64_t da = ka >= 0 ? a->dims[ka] : 1, db = kb >= 0 ? b->dims[kb] : 1;
        sa_[k] = da == 1 ? 0 : ma;
        sb_[k] = db == 1 ? 0 : mb;
        ma *= da, mb *= db;
    }
    (void)err;
    for (int64_t i = 0; i < y0->numel; i++) {
        int64_t ia = 0, ib = 0;
        for (int k = 0; k < r; k++)
            ia += idx[k] * sa_[k], ib += idx[k] * sb_[k];
        qadd_put(&j, i, qadd_one(&j, ia, ib));
        for (int k = r - 1; k >= 0; k--) {
            if (++idx[k] < y0->dims[k])
                break;
            idx[k] = 0;
        }
    }
    return 0;
}

const struct ox_op ox_op_inferd_qadd = {
    .name = "InferdQAdd", .min_in = 3, .max_in = 8, .min_out = 1, .max_out = 2,
    .infer = qadd_infer, .exec = qadd_exec,
};

/* ---- InferdQGemm: DQ(A) -> Gemm(., DQ(W) [, DQ(bias int32)]) -> Q, as ORT's QGemm ----
 * Made by fuse_qdq.c only. Inputs: A (M, K) 8-bit, a_scale, a_zero_point (per tensor), W
 * (K, N), or (N, K) with node ip[0] = 1 (transB), w_scale / w_zero_point per tensor or per
 * column, y_scale, y_zero_point, then the int32 bias (N) or absent. The exact int32
 * product of the int8 GEMM plus the bias, requantised per column with (sa * sw[j]) / sy
 * (qgemm_requant: round half to even, saturate), as QLinearMatMul and QLinearConv do. A
 * transposed constant W is transposed once when the plan packs it, else into the scratch. */
static int qgemm_dims(const struct ox_node *n, struct ox_tensor *const *in, int64_t *M, int64_t *K, int64_t *N,
                      struct inferd_err *err)
{
    const struct ox_tensor *a = in[0], *w = in[3], *sw = in[4], *zw = in[5], *zy = in[7];
    const struct ox_tensor *bias = ox_opt_in(n, in, 8);
    if (!is_q8(a->dt) || !is_q8(w->dt) || a->rank != 2 || w->rank != 2)
        return inferd_err_set(err, INFERD_ETYPE, "%s: 'A' and 'W' must be 2-D uint8/int8", n->op_type);
    *M = a->dims[0], *K = a->dims[1];
    *N = n->ip[0] ? w->dims[0] : w->dims[1];
    if ((n->ip[0] ? w->dims[1] : w->dims[0]) != *K)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: inner dims differ", n->op_type);
    if (in[1]->numel != 1 || in[6]->numel != 1 || !zy || zy->numel != 1 || !is_q8(zy->dt) ||
        (sw->numel != 1 && sw->numel != *N) || !zw || zw->dt != w->dt || zw->numel != sw->numel ||
        (bias && (bias->dt != INFERD_INT32 || bias->numel != *N)))
        return inferd_err_set(err, INFERD_ESHAPE, "%s: scales, zero points or bias of the wrong shape", n->op_type);
    return 0;
}

static int qgemm_op_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                          struct inferd_err *err)
{
    int64_t M, K, N;
    int rc = qgemm_dims(n, in, &M, &K, &N, err);
    return rc < 0 ? rc : ox_set_shape(out[0], in[7]->dt, 2, (const int64_t[]){M, N}, err);
}

/* Scratch: int32 (M, N) accumulators, N multipliers, the packed B, the transposed B. */
static size_t qgemm_op_sizes(const struct ox_node *n, struct ox_tensor *const *in, size_t *acc, size_t *mul,
                             size_t *pack)
{
    const struct ox_tensor *a = in[0], *w = in[3];
    int64_t M = a->dims[0], K = a->dims[1], N = n->ip[0] ? w->dims[0] : w->dims[1];
    *acc = ((size_t)(M * N) * sizeof(int32_t) + 63) & ~(size_t)63;
    *mul = ((size_t)N * sizeof(float) + 63) & ~(size_t)63;
    *pack = (qgemm_scratch_bytes(K, N) + 63) & ~(size_t)63;
    return (size_t)(K * N);
}

static size_t qgemm_op_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)out;
    size_t acc, mul, pack, wt = qgemm_op_sizes(n, in, &acc, &mul, &pack);
    return acc + mul + pack + (n->ip[0] ? wt : 0);
}

/* W (N, K) -> (K, N) */
static void qgemm_transpose(const uint8_t *w, int64_t N, int64_t K, uint8_t *t)
{
    for (int64_t j = 0; j < N; j++)
        for (int64_t k = 0; k < K; k++)
            t[k * N + j] = w[j * K + k];
}

static int qgemm_op_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                         struct ox_tensor **out, struct inferd_err *err)
{
    int64_t M, K, N;
    int rc = qgemm_dims(n, in, &M, &K, &N, err);
    if (rc < 0)
        return rc;
    const struct ox_tensor *a = in[0], *w = in[3], *sw = in[4], *zw = in[5], *bias = ox_opt_in(n, in, 8);
    size_t acc_b, mul_b, pack_b;
    qgemm_op_sizes(n, in, &acc_b, &mul_b, &pack_b);
    char *s = c->scratch;
    int32_t *acc = (int32_t *)s;
    float *mul = (float *)(s + acc_b);
    void *pack = s + acc_b + mul_b;
    const uint8_t *b = w->data;
    if (n->ip[0] && !c->packed) {
        uint8_t *t = (uint8_t *)(s + acc_b + mul_b + pack_b);
        qgemm_transpose(w->data, N, K, t);
        b = t;
    }
    const struct ox_tensor *za = in[2];
    struct qgemm_args g = {
        .M = M, .N = N, .K = K, .a = a->data, .a_signed = a->dt == INFERD_INT8, .b = b, .b_signed = w->dt == INFERD_INT8,
        .za = za->data, .za_len = 1, .zb = zw->data, .zb_len = zw->numel, .c = acc,
        .pack = c->packed ? (void *)(uintptr_t)c->packed : pack, .prepacked = c->packed != NULL,
    };
    qgemm_u8_pool(c, &g);
    float sa = ((const float *)in[1]->data)[0], sy = ((const float *)in[6]->data)[0];
    for (int64_t j = 0; j < sw->numel; j++)
        mul[j] = sa * ((const float *)sw->data)[j] / sy;
    int32_t zy = (int32_t)ox_get_i64(in[7], 0);
    struct ox_tensor *y = out[0];
    for (int64_t i = 0; i < M; i++) {
        int32_t *row = acc + i * N;
        for (int64_t j = 0; bias && j < N; j++)
            row[j] += ((const int32_t *)bias->data)[j];
        qgemm_requant(row, N, 0, mul, sw->numel > 1, zy, y->dt == INFERD_INT8, (uint8_t *)y->data + i * N);
    }
    return 0;
}

/* A constant W (and zero point) is packed once per plan; when transB, W is transposed first
 * into the buffer's tail (after the packed panels), which the pack then reads. */
static int64_t qgemm_op_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    const struct ox_tensor *a = in[0], *w = in[3], *zw = in[5];
    if (!w->is_const || !zw || !zw->is_const || w->rank != 2 || w->numel == 0 || !is_q8(w->dt) || a->rank != 2)
        return 0;
    int64_t K = n->ip[0] ? w->dims[1] : w->dims[0], N = n->ip[0] ? w->dims[0] : w->dims[1];
    if (a->dims[1] != K || (zw->numel != 1 && zw->numel != N))
        return 0;
    struct qgemm_args g = {.M = 1, .N = N, .K = K, .b = w->data, .b_signed = w->dt == INFERD_INT8,
                           .zb = zw->data, .zb_len = zw->numel, .pack = dst ? (void *)dst : (void *)1};
    if (qgemm_isa_pick(&g) == QGEMM_REF)
        return 0;
    size_t packed = (qgemm_scratch_bytes(K, N) + 63) & ~(size_t)63, tail = n->ip[0] ? (size_t)(K * N) : 0;
    if (dst) {
        if (tail) {
            uint8_t *t = (uint8_t *)dst + packed;
            qgemm_transpose(w->data, N, K, t);
            g.b = t;
        }
        qgemm_pack_b(&g);
    }
    return (int64_t)((packed + tail + sizeof(float) - 1) / sizeof(float));
}

const struct ox_op ox_op_inferd_qgemm = {
    .name = "InferdQGemm", .min_in = 8, .max_in = 9, .min_out = 1, .max_out = 1,
    .infer = qgemm_op_infer, .exec = qgemm_op_exec, .scratch = qgemm_op_scratch, .pack = qgemm_op_pack,
};
