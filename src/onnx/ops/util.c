/* util.c — helpers shared by the ONNX operators: shapes, axes, element access by dtype,
 * constant int inputs, and splitting a range (or whole images, each with a scratch slot) over
 * the thread pool. */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/tpool.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"

int64_t ox_numel(int rank, const int64_t *dims)
{
    return inferd_shape_numel(rank, dims);
}

int ox_set_shape(struct ox_tensor *t, enum inferd_dtype dt, int rank, const int64_t *dims,
                 struct inferd_err *err)
{
    if (!t)
        return 0;
    if (rank < 0 || rank > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "output rank %d is above the maximum %d", rank,
                              INFERD_MAX_RANK);
    t->dt = dt;
    t->rank = rank;
    memset(t->dims, 0, sizeof t->dims);
    if (rank)
        memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
    t->numel = inferd_shape_numel(rank, t->dims);
    size_t es = ox_dtype_size(dt);
    if (t->numel < 0 || es == 0 || (uint64_t)t->numel > (uint64_t)1 << 40)
        return inferd_err_set(err, INFERD_ETOOLARGE, "output shape is invalid or too large");
    t->nbytes = (size_t)t->numel * es;
    t->is_const = 0;
    t->data = NULL;
    return 0;
}

size_t ox_dtype_size(enum inferd_dtype dt)
{
    return dt == INFERD_BYTES ? sizeof(struct ox_str) : inferd_dtype_size(dt);
}

int ox_axis(int64_t axis, int rank, int64_t *out, const struct ox_node *n, const char *what,
            struct inferd_err *err)
{
    if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
        return inferd_err_set(err, INFERD_EINVAL, "%s: %s %lld is out of range for rank %d", n->op_type, what,
                              (long long)axis, rank);
    *out = axis < 0 ? axis + rank : axis;
    return 0;
}

int ox_dtype_is_int(enum inferd_dtype dt)
{
    switch (dt) {
    case INFERD_INT8: case INFERD_INT16: case INFERD_INT32: case INFERD_INT64: case INFERD_UINT8:
    case INFERD_UINT16: case INFERD_UINT32: case INFERD_UINT64: case INFERD_BOOL:
        return 1;
    default:
        return 0;
    }
}

double ox_get_f64(const struct ox_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dt) {
    case INFERD_FP32: return ((const float *)d)[i];
    case INFERD_FP64: return ((const double *)d)[i];
    case INFERD_FP16: return inferd_fp16_to_fp32(((const uint16_t *)d)[i]);
    case INFERD_BF16: return inferd_bf16_to_fp32(((const uint16_t *)d)[i]);
    case INFERD_INT8: return ((const int8_t *)d)[i];
    case INFERD_INT16: return ((const int16_t *)d)[i];
    case INFERD_INT32: return ((const int32_t *)d)[i];
    case INFERD_INT64: return (double)((const int64_t *)d)[i];
    case INFERD_UINT8: case INFERD_BOOL: return ((const uint8_t *)d)[i];
    case INFERD_UINT16: return ((const uint16_t *)d)[i];
    case INFERD_UINT32: return ((const uint32_t *)d)[i];
    case INFERD_UINT64: return (double)((const uint64_t *)d)[i];
    default: return 0;
    }
}

int64_t ox_get_i64(const struct ox_tensor *t, int64_t i)
{
    const void *d = t->data;
    switch (t->dt) {
    case INFERD_INT8: return ((const int8_t *)d)[i];
    case INFERD_INT16: return ((const int16_t *)d)[i];
    case INFERD_INT32: return ((const int32_t *)d)[i];
    case INFERD_INT64: return ((const int64_t *)d)[i];
    case INFERD_UINT8: case INFERD_BOOL: return ((const uint8_t *)d)[i];
    case INFERD_UINT16: return ((const uint16_t *)d)[i];
    case INFERD_UINT32: return ((const uint32_t *)d)[i];
    case INFERD_UINT64: return (int64_t)((const uint64_t *)d)[i];
    default: {
        double v = ox_get_f64(t, i);
        if (isnan(v))
            return 0;
        if (v >= 9.2e18)
            return INT64_MAX;
        if (v <= -9.2e18)
            return INT64_MIN;
        return (int64_t)v;
    }
    }
}

void ox_put_f64(struct ox_tensor *t, int64_t i, double v)
{
    void *d = t->data;
    switch (t->dt) {
    case INFERD_FP32: ((float *)d)[i] = (float)v; break;
    case INFERD_FP64: ((double *)d)[i] = v; break;
    case INFERD_FP16: ((uint16_t *)d)[i] = inferd_fp32_to_fp16((float)v); break;
    case INFERD_BF16: ((uint16_t *)d)[i] = inferd_fp32_to_bf16((float)v); break;
    case INFERD_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    default: {
        int64_t x;
        if (isnan(v))
            x = 0;
        else if (v >= 9.2e18)
            x = INT64_MAX;
        else if (v <= -9.2e18)
            x = INT64_MIN;
        else
            x = (int64_t)v;
        ox_put_i64(t, i, x);
    }
    }
}

void ox_put_i64(struct ox_tensor *t, int64_t i, int64_t v)
{
    void *d = t->data;
    switch (t->dt) {
    case INFERD_INT8: ((int8_t *)d)[i] = (int8_t)v; break;
    case INFERD_INT16: ((int16_t *)d)[i] = (int16_t)v; break;
    case INFERD_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
    case INFERD_INT64: ((int64_t *)d)[i] = v; break;
    case INFERD_UINT8: ((uint8_t *)d)[i] = (uint8_t)v; break;
    case INFERD_BOOL: ((uint8_t *)d)[i] = v != 0; break;
    case INFERD_UINT16: ((uint16_t *)d)[i] = (uint16_t)v; break;
    case INFERD_UINT32: ((uint32_t *)d)[i] = (uint32_t)v; break;
    case INFERD_UINT64: ((uint64_t *)d)[i] = (uint64_t)v; break;
    default: ox_put_f64(t, i, (double)v); break;
    }
}

int ox_const_ints(const struct ox_tensor *t, int64_t *out, int cap, const struct ox_node *n, const char *what,
                  struct inferd_err *err)
{
    if (!t)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: input '%s' is missing", n->op_type, what);
    if (!t->is_const)
        return inferd_err_set(err, OX_ENEEDCONST,
                              "%s: input '%s' must be computable at load time (data-dependent shapes are not supported)",
                              n->op_type, what);
    if (t->dt != INFERD_INT64 && t->dt != INFERD_INT32)
        return inferd_err_set(err, INFERD_ETYPE, "%s: input '%s' must be int64", n->op_type, what);
    if (t->rank > 1 || t->numel > cap)
        return inferd_err_set(err, INFERD_EINVAL, "%s: input '%s' must be 1-D with at most %d entries", n->op_type,
                              what, cap);
    for (int64_t i = 0; i < t->numel; i++)
        out[i] = ox_get_i64(t, i);
    return (int)t->numel;
}

struct par_ctx {
    ox_range_fn fn;
    void *ctx;
    int64_t n;
    struct tpool *pool; /* balanced cuts (ox_parallel_bal), or NULL: equal ones */
};

static void par_part(void *arg, int ith, int nth)
{
    struct par_ctx *p = arg;
    int64_t lo = tpool_cut(p->pool, p->n, ith, nth), hi = tpool_cut(p->pool, p->n, ith + 1, nth);
    if (hi > lo)
        p->fn(p->ctx, lo, hi);
}

size_t ox_op_scratch(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor *const *out)
{
    size_t b = n->op->scratch ? n->op->scratch(n, in, out) : 0;
    if (b && (n->op->flags & OX_OP_SCRATCH_SLOTS) && c && c->nth > 1) {
        int slots = n->op->scratch_slots ? n->op->scratch_slots(c, n, in) : c->nth;
        assert(slots >= 1 && slots <= c->nth);
        b = ox_scratch_stride(b) * (size_t)slots;
    }
    return b;
}

int ox_op_run_once(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    struct ox_ctx rc = *c;
    size_t sb = ox_op_scratch(&rc, n, in, out);
    int64_t pk = n->op->pack ? n->op->pack(n, in, NULL) : 0;
    void *scratch = sb ? aligned_alloc(OX_ALIGN, ox_scratch_stride(sb)) : NULL;
    float *packed = pk > 0 ? aligned_alloc(OX_ALIGN, ox_packed_bytes(pk)) : NULL;
    int r;
    if ((sb && !scratch) || (pk > 0 && !packed)) {
        r = inferd_err_set(err, INFERD_ENOMEM, "out of memory for %zu bytes of scratch and %lld packed floats", sb,
                           (long long)pk);
    } else {
        if (packed)
            n->op->pack(n, in, packed);
        rc.scratch = scratch;
        rc.scratch_size = sb;
        rc.packed = packed;
        r = n->op->exec(&rc, n, in, out, err);
    }
    free(scratch);
    free(packed);
    return r;
}

int ox_switch(struct ox_switch *s)
{
    int v = atomic_load_explicit(&s->v, memory_order_acquire);
    if (v == 0) { /* two first readers both parse: the same value */
        const char *e = getenv(s->name);
        v = 2 + (e && strcmp(e, "0") == 0 ? 0 : e && strcmp(e, "1") == 0 ? 1 : s->dflt);
        atomic_store_explicit(&s->v, v, memory_order_release);
    }
    return v - 2;
}

int64_t ox_parallel_parts(const struct ox_ctx *c, int64_t n, int64_t min_per_thread)
{
    int64_t parts = min_per_thread > 0 ? n / min_per_thread : n;
    if (!c || c->nth <= 1 || parts < 2)
        return 1;
    /* one part per thread, or OX_PAR_SPLIT per thread when each still holds OX_PAR_FINE
     * times the op's worth-a-thread size, claimed as threads free up: a thread that another
     * process preempts, or a slower range, then holds the op up by a part rather than by its
     * whole share (small ops keep one part per thread: each part costs a claim and a
     * boundary). The ranges are fixed by n and the part count, so results do not depend on
     * which thread runs which part. */
    if (parts > c->nth) {
        int64_t fine = n / ((min_per_thread > 0 ? min_per_thread : 1) * OX_PAR_FINE);
        int64_t cap = (int64_t)c->nth * OX_PAR_SPLIT;
        parts = fine < c->nth ? c->nth : fine > cap ? cap : fine;
    }
    return parts;
}

static void parallel_cut(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx,
                         int bal)
{
    int64_t parts = ox_parallel_parts(c, n, min_per_thread);
    if (parts < 2) {
        if (n > 0)
            fn(ctx, 0, n);
        return;
    }
    struct par_ctx p = {fn, ctx, n, bal ? c->pool : NULL};
    if (bal)
        tpool_parallel_cut(c->pool, (int)parts, par_part, &p);
    else
        tpool_parallel_parts(c->pool, (int)parts, par_part, &p);
}

void ox_parallel(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx)
{
    parallel_cut(c, n, min_per_thread, fn, ctx, 0);
}

void ox_parallel_bal(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx)
{
    parallel_cut(c, n, min_per_thread, fn, ctx, 1);
}

size_t ox_scratch_stride(size_t bytes)
{
    return (bytes + OX_ALIGN - 1) & ~(size_t)(OX_ALIGN - 1);
}

/* scratch slots are claimed from a bit mask: a pool of nth threads runs at most nth parts at
 * once, so a part always finds a free slot */
#define OX_IMG_MAX_SLOTS 64

struct img_ctx {
    ox_image_fn fn;
    void *arg;
    const struct ox_ctx *c;
    size_t stride;
    _Atomic uint64_t free; /* bit s: slot s is free */
};

static void img_part(void *arg, int ith, int nth)
{
    struct img_ctx *p = arg;
    (void)nth;
    uint64_t m = atomic_load_explicit(&p->free, memory_order_acquire);
    int s;
    do {
        assert(m != 0); /* more parts running than pool threads */
        s = __builtin_ctzll(m);
    } while (!atomic_compare_exchange_weak_explicit(&p->free, &m, m & ~(1ull << s), memory_order_acq_rel,
                                                    memory_order_acquire));
    /* the slot lies inside the step's scratch: the op's scratch_slots answered enough */
    assert(!p->c->scratch_size || (size_t)(s + 1) * p->stride <= p->c->scratch_size);
    struct ox_ctx one = *p->c;
    one.pool = NULL;
    one.nth = 1;
    one.scratch = p->c->scratch ? (char *)p->c->scratch + (size_t)s * p->stride : NULL;
    one.scratch_size = one.scratch ? p->stride : 0;
    p->fn(p->arg, &one, ith);
    atomic_fetch_or_explicit(&p->free, 1ull << s, memory_order_acq_rel);
}

void ox_parallel_slots(const struct ox_ctx *c, int64_t n, size_t slot_bytes, ox_image_fn fn, void *arg)
{
    struct img_ctx p = {fn, arg, c, ox_scratch_stride(slot_bytes), 0};
    int slots = c->nth < 1 ? 1 : c->nth > OX_IMG_MAX_SLOTS ? OX_IMG_MAX_SLOTS : c->nth;
    atomic_init(&p.free, slots == 64 ? ~0ull : (1ull << slots) - 1);
    if (c->nth > OX_IMG_MAX_SLOTS || n > 0xFFFF) { /* one at a time, on this thread */
        for (int64_t i = 0; i < n; i++)
            img_part(&p, (int)i, (int)n);
        return;
    }
    tpool_parallel_parts(c->nth > 1 ? c->pool : NULL, (int)n, img_part, &p);
}

int64_t ox_parallel_images(const struct ox_ctx *c, int64_t nb, size_t slot_bytes, ox_image_fn fn, void *arg)
{
    if (!c || c->nth <= 1 || c->nth > OX_IMG_MAX_SLOTS || nb < c->nth || nb > 0xFFFF)
        return 0;
    int64_t k = nb - nb % c->nth;
    ox_parallel_slots(c, k, slot_bytes, fn, arg);
    return k;
}
