/* se.c — InferdSE, a squeeze-excitation block as one step (made by fuse_se.c):
 *
 *   s (C)  = mean over H, W of X[n] (C, H, W)       GlobalAveragePool (ox_gap_planes, pool.c)
 *   h (R)  = act1(W1 (R, C) @ s + b1)               Conv 1x1 on the 1x1 map
 *   g (C)  = act2(W2 (C, R) @ h + b2)               Conv 1x1 on the 1x1 map
 *   Y[n]   = X[n] * g  (plane c scaled by g[c])     Mul
 *
 * Inputs X (N, C, H, W), W1 (R, C, 1, 1), b1 or omitted, W2 (C, R, 1, 1), b2 or omitted; one
 * output of X's shape. ip[0], fp[0..1]: act1 (enum ox_act and its a, b, conv_kern.h); ip[1],
 * fp[2..3]: act2. W1 and W2 are packed once per plan (op->pack: W1's panels, then W2's) and
 * run through ox_conv_gemm_run with one column, the kernel the unfused Convs use on a 1x1
 * map, bias and activation in its store; the pool sums are GlobalAveragePool's and the scale
 * one multiply, as Mul's (AVX-512 / AVX2: ox_se_gap / ox_se_scale in mbconv_kern.h, the same
 * bits in wide vectors, eight planes summed and folded at once): the result is the unfused
 * graph's, with 3 steps fewer (6 at 2 threads: each fork/join of the tiny FCs).
 *
 * Images go whole to threads while the batch has one for each (one thread: all of them), in
 * groups of up to SE_GROUP a thread whose FCs run together (se_group; AVX-512: ox_se_fc, the
 * one-column product's sums with each weight vector loaded once for the group); the rest
 * (all of batch 1 on a pool) run one by one with the pool: the squeeze split over channel
 * planes, each FC over its weight panels, the scale with the second FC's panels (se_image).
 * An image reads all of X[n] before writing Y[n], and no image reads another's X, so Y may
 * be X's buffer (OX_OP_ELEMWISE: the plan puts Y over X when nothing reads X later).
 * Scratch, per thread: SE_GROUP times s and g (C floats, g over s) and h (R floats).
 */
#include <stdlib.h>

#include "onnx/conv_kern.h"
#include "onnx/mbconv_kern.h"
#include "onnx/onnx_int.h"
#include "onnx/ops/ops.h"
#include "onnx/v4f.h"

#define SE_PART_WORK 12288 /* least multiply-adds (or scaled floats) a thread's part of an FC */
#define SE_GROUP 4          /* images whose FCs run together on one thread (se_group) */
#define SE_ONE_ELEMS (1 << 16) /* an image of at most this many elements (C H W) runs se_image on
                                * the calling thread alone, pool or not (below) */
#define SE_GROUP_X (1 << 20) /* most bytes of a group's X (one core's L2 on Zen 4): more only where
                              * the FC weights the group shares are larger still */

static int se_infer(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                    struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *w1 = in[1], *w2 = in[3], *b1 = ox_opt_in(n, in, 2),
                           *b2 = ox_opt_in(n, in, 4);
    if (x->dt != INFERD_FP32 || w1->dt != INFERD_FP32 || w2->dt != INFERD_FP32 || (b1 && b1->dt != INFERD_FP32) ||
        (b2 && b2->dt != INFERD_FP32))
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdSE: FP32 inputs expected");
    if (x->rank != 4 || w1->rank != 4 || w2->rank != 4)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "InferdSE: X and the weights must be rank 4");
    int64_t c = x->dims[1], r = w1->dims[0];
    if (w1->dims[1] != c || w2->dims[0] != c || w2->dims[1] != r || w1->dims[2] * w1->dims[3] != 1 ||
        w2->dims[2] * w2->dims[3] != 1 || (b1 && b1->numel != r) || (b2 && b2->numel != c))
        return inferd_err_set(err, INFERD_ESHAPE, "InferdSE: X (.., %lld, ..) and the weights disagree", (long long)c);
    return ox_set_shape(out[0], INFERD_FP32, 4, x->dims, err);
}

static int64_t se_pack(const struct ox_node *n, struct ox_tensor *const *in, float *dst)
{
    const struct ox_tensor *w1 = in[1], *w2 = in[3];
    if (!w1->is_const || !w2->is_const || w1->rank != 4 || w2->rank != 4)
        return 0;
    (void)n;
    int64_t r = w1->dims[0], c = w1->dims[1], s1 = ox_conv_pack_size(r, c);
    if (dst) {
        ox_conv_pack(w1->data, r, c, dst);
        ox_conv_pack(w2->data, c, r, dst + s1);
    }
    return s1 + ox_conv_pack_size(c, r);
}

static size_t se_scratch(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out)
{
    (void)n, (void)out;
    return (size_t)(SE_GROUP * (in[0]->dims[1] + in[1]->dims[0])) * sizeof(float);
}

struct se_job {
    const float *x;
    float *y;
    const float *wp1, *wp2, *b1, *b2; /* packed W1, W2 (borrowed from the plan); biases or NULL */
    int64_t c, r, hw;
    struct ox_epi e1, e2;
    enum ox_isa isa;
    int64_t group, k; /* se_group: images [0, k) in groups of `group` */
};

struct se_planes {
    const struct se_job *j;
    const float *x; /* one image's X */
    float *y, *s, *h; /* its Y; the means, then the gate over them; the FC's outputs */
};

/* the squeeze and the scale: the AVX-512 / AVX2 kernels (mbconv_kern.h, the same bits) or
 * the portable ones */
static void gap_range(void *arg, int64_t lo, int64_t hi)
{
    const struct se_planes *p = arg;
    ox_gap_planes_isa(p->j->isa, p->x, p->s, p->j->hw, lo, hi);
}

/* Y planes [lo, hi) = X planes * g */
static void scale_range(const struct se_planes *p, int64_t lo, int64_t hi)
{
    int64_t hw = p->j->hw;
    if (p->j->isa != OX_ISA_REF) {
        (p->j->isa == OX_ISA_AVX512 ? ox_se_scale_avx512 : ox_se_scale_avx2)(p->x, p->y, p->s, hw, lo, hi);
        return;
    }
    for (int64_t c = lo; c < hi; c++) {
        const float *x = p->x + c * hw;
        float *y = p->y + c * hw, g = p->s[c];
        ox_v4f gv = ox_v4f_splat(g);
        int64_t i = 0;
        for (; i + 8 <= hw; i += 8) {
            ox_v4f a = ox_v4f_load(x + i), b = ox_v4f_load(x + i + 4);
            ox_v4f_store(y + i, a * gv);
            ox_v4f_store(y + i + 4, b * gv);
        }
        for (; i < hw; i++)
            y[i] = x[i] * g;
    }
}

/* h = act1(W1 s + b1), W1's panels [lo, hi) (OX_CV_MR outputs each; gemv_panel's sums
 * whichever thread runs a panel) */
static void fc1_range(void *arg, int64_t lo, int64_t hi)
{
    const struct se_planes *p = arg;
    const struct se_job *j = p->j;
    struct ox_conv_gemm g1 = {.wp = j->wp1, .b = p->s, .c = p->h, .bias = j->b1, .m = j->r, .k = j->c, .n = 1,
                              .ldb = 1, .ldc = 1, .epi = j->e1};
    ox_conv_gemm_run(j->isa, &g1, lo, hi, 0, 1);
}

/* the gate of W2's panels [lo, hi) (over s: W2 reads h only), then those channels' planes
 * scaled: one fork for both */
static void gate_range(void *arg, int64_t lo, int64_t hi)
{
    const struct se_planes *p = arg;
    const struct se_job *j = p->j;
    struct ox_conv_gemm g2 = {.wp = j->wp2, .b = p->h, .c = p->s, .bias = j->b2, .m = j->c, .k = j->r, .n = 1,
                              .ldb = 1, .ldc = 1, .epi = j->e2};
    ox_conv_gemm_run(j->isa, &g2, lo, hi, 0, 1);
    scale_range(p, lo * OX_CV_MR, hi * OX_CV_MR < j->c ? hi * OX_CV_MR : j->c);
}

/* image img under ctx c (a pool's or one thread's), scratch c->scratch. Split over a pool
 * (batch 1): the squeeze over planes, each FC over its panels (a fork each: at batch 1 the
 * FCs' weights come from L3, 664 KiB for MobileNetV3's 576 -> 144 -> 576, and were read on
 * one core while the other waited), and the scale with the gate's panels. Every value is
 * computed the same way whichever thread runs it: the bits do not depend on the split. */
static void se_image(void *arg, const struct ox_ctx *c, int64_t img)
{
    const struct se_job *j = arg;
    float *s = c->scratch;
    struct se_planes p = {.j = j, .x = j->x + img * j->c * j->hw, .y = j->y + img * j->c * j->hw, .s = s,
                          .h = s + j->c};
    int64_t p1 = (j->r + OX_CV_MR - 1) / OX_CV_MR, p2 = (j->c + OX_CV_MR - 1) / OX_CV_MR;
    /* a small image on one thread: its three fork/joins and the other core's reads of what
     * this one wrote cost more than the halved work (batch 1, 2 threads, 8 rounds: every SE
     * of MobileNetV3-small, 14x14 x 288 and 7x7 x 576 included, took the run 1231 -> 1156 us;
     * EfficientNet-B0's 7x7 ones a tie, its larger ones stay split) */
    if (j->c * j->hw <= SE_ONE_ELEMS) {
        gap_range(&p, 0, j->c);
        fc1_range(&p, 0, p1);
        gate_range(&p, 0, p2);
        return;
    }
    ox_parallel(c, j->c, 1 + (1 << 15) / (j->hw + 1), gap_range, &p);
    ox_parallel(c, p1, 1 + SE_PART_WORK / (OX_CV_MR * j->c), fc1_range, &p);
    ox_parallel(c, p2, 1 + SE_PART_WORK / (OX_CV_MR * (j->r + j->hw)), gate_range, &p);
}

/* images [gi group, ..) (at most group, below k) on one thread: squeezes, then each FC for
 * all of them at once (AVX-512: ox_se_fc loads each weight vector once for four images;
 * elsewhere one image at a time, as se_image), then the scales. Scratch: group means (C
 * floats each, then the gates over them) and group FC outputs (R each). */
static void se_group(void *arg, const struct ox_ctx *c, int64_t gi)
{
    const struct se_job *j = arg;
    int64_t i0 = gi * j->group, n = j->k - i0 < j->group ? j->k - i0 : j->group, p1 = (j->r + OX_CV_MR - 1) / OX_CV_MR,
            p2 = (j->c + OX_CV_MR - 1) / OX_CV_MR;
    float *s = c->scratch, *h = s + j->group * j->c;
    struct se_planes p[SE_GROUP];
    for (int64_t i = 0; i < n; i++) {
        p[i] = (struct se_planes){.j = j, .x = j->x + (i0 + i) * j->c * j->hw, .y = j->y + (i0 + i) * j->c * j->hw,
                                  .s = s + i * j->c, .h = h + i * j->r};
        gap_range(&p[i], 0, j->c);
    }
    if (j->isa == OX_ISA_AVX512) {
        struct ox_se_fc f1 = {.wp = j->wp1, .bias = j->b1, .x = s, .y = h, .m = j->r, .k = j->c, .cols = n, .epi = j->e1};
        ox_se_fc_avx512(&f1, 0, p1);
        struct ox_se_fc f2 = {.wp = j->wp2, .bias = j->b2, .x = h, .y = s, .m = j->c, .k = j->r, .cols = n, .epi = j->e2};
        ox_se_fc_avx512(&f2, 0, p2);
        for (int64_t i = n - 1; i >= 0; i--) /* the last squeezed first: its X is the likeliest in L2 */
            scale_range(&p[i], 0, j->c);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        fc1_range(&p[i], 0, p1);
        gate_range(&p[i], 0, p2);
    }
}

static int se_exec(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err)
{
    const struct ox_tensor *x = in[0], *b1 = ox_opt_in(n, in, 2), *b2 = ox_opt_in(n, in, 4);
    if (!c->scratch)
        return inferd_err_set(err, INFERD_EUNAVAIL, "InferdSE: no scratch");
    const float *wp = c->packed; /* plan.c packs W1 and W2 for a step and for a folded node alike */
    if (!wp)
        return inferd_err_set(err, INFERD_EUNAVAIL, "InferdSE: W1/W2 not packed");
    int64_t ch = x->dims[1], r = in[1]->dims[0];
    struct se_job j = {.x = x->data,
                       .y = out[0]->data,
                       .wp1 = wp,
                       .wp2 = wp + ox_conv_pack_size(r, ch),
                       .b1 = b1 ? b1->data : NULL,
                       .b2 = b2 ? b2->data : NULL,
                       .c = ch,
                       .r = r,
                       .hw = x->dims[2] * x->dims[3],
                       .e1 = {n->ip[0], n->fp[0], n->fp[1]},
                       .e2 = {n->ip[1], n->fp[2], n->fp[3]},
                       .isa = ox_conv_isa()};
    /* whole images to threads while the batch has one for each (one thread: all), in groups
     * of up to SE_GROUP a thread (se_group); the rest (all of batch 1) one by one, split */
    int64_t nb = x->dims[0], img = 0;
    if (nb > 0 && (c->nth <= 1 || nb >= c->nth)) {
        j.k = c->nth <= 1 ? nb : nb - nb % c->nth;
        int64_t per = j.k / (c->nth > 1 ? c->nth : 1);
        /* a group's X should still be in L2 at its scale (X read twice), unless the FC
         * weights the group shares are the larger read */
        int64_t wb = 2 * j.c * j.r * (int64_t)sizeof(float), xb = j.c * j.hw * (int64_t)sizeof(float);
        int64_t fit = (wb > SE_GROUP_X ? wb : SE_GROUP_X) / (xb > 0 ? xb : 1);
        j.group = per < SE_GROUP ? per : SE_GROUP;
        j.group = j.group < fit ? j.group : fit > 1 ? fit : 1;
        int64_t ng = (j.k + j.group - 1) / j.group;
        if (c->nth <= 1) /* c's scratch as it is (a fold at plan time has no slot padding) */
            for (int64_t gi = 0; gi < ng; gi++)
                se_group(&j, c, gi);
        else
            ox_parallel_slots(c, ng, se_scratch(n, in, out), se_group, &j);
        img = j.k;
    }
    for (; img < nb; img++)
        se_image(&j, c, img);
    return 0;
}

const struct ox_op ox_op_inferd_se = {
    .name = "InferdSE", .min_in = 4, .max_in = 5, .min_out = 1, .max_out = 1,
    .infer = se_infer, .exec = se_exec, .scratch = se_scratch, .pack = se_pack,
    .flags = OX_OP_SCRATCH_SLOTS | OX_OP_ELEMWISE,
};
