/* conv_patch.c — a ViT's patch-embedding conv as one GEMM over the batch (conv_patch.h). */
#include "onnx/conv_patch.h"

#include "onnx/onnx_int.h"

int ox_conv_patch_ok(int64_t nb, int64_t group, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh,
                     int64_t dw, int64_t pad_sum, int64_t ohw)
{
    return group == 1 && kh == sh && kw == sw && kh * kw > 1 && dh == 1 && dw == 1 && pad_sum == 0 && ohw > 0 &&
           (nb == 1 || ox_conv_seg_ok(ohw));
}

size_t ox_conv_patch_scratch(int64_t nb, int64_t c, int64_t kh, int64_t kw, int64_t ohw)
{
    return (size_t)(c * kh * kw) * (size_t)(nb * ohw) * sizeof(float);
}

/* B's rows of planes [lo, hi), plane q = channel q % C of image q / C: each input row
 * oy*kh + ky is read once, whole (its kw-float runs are the kw taps of OW patches) */
static void patch_gather(void *arg, int64_t lo, int64_t hi)
{
    const struct ox_conv_patch *p = arg;
    const int64_t ohw = p->oh * p->ow, ncol = p->n * ohw;
    for (int64_t q = lo; q < hi; q++) {
        const int64_t b = q / p->c, ci = q % p->c;
        const float *xp = p->x + q * p->h * p->w;
        for (int64_t oy = 0; oy < p->oh; oy++)
            for (int64_t ky = 0; ky < p->kh; ky++) {
                const float *xr = xp + (oy * p->kh + ky) * p->w;
                float *d = p->scratch + ((ci * p->kh + ky) * p->kw) * ncol + b * ohw + oy * p->ow;
                for (int64_t kx = 0; kx < p->kw; kx++, d += ncol)
                    for (int64_t ox = 0; ox < p->ow; ox++)
                        d[ox] = xr[ox * p->kw + kx];
            }
    }
}

void ox_conv_patch_run(const struct ox_ctx *c, enum ox_isa isa, const struct ox_conv_patch *p)
{
    const int64_t ohw = p->oh * p->ow, k = p->c * p->kh * p->kw, ncol = p->n * ohw;
    /* a plane's gather moves kh*kw*OH*OW floats: worth a thread from ~2^15 */
    ox_parallel(c, p->n * p->c, 1 + (1 << 15) / (k / p->c * ohw + 1), patch_gather, (void *)p);
    struct ox_conv_gemm g = {.wp = p->wp,
                             .b = p->scratch,
                             .c = p->y,
                             .bias = p->bias,
                             .m = p->m,
                             .k = k,
                             .n = ncol,
                             .ldb = ncol,
                             .ldc = ohw,
                             .epi = p->epi,
                             .sum = p->sum,
                             .seg = ohw,
                             .bstep = ohw, /* B's columns are contiguous across images */
                             .cstep = p->m * ohw};
    ox_conv_gemm_pool(c, isa, &g, NULL);
}
