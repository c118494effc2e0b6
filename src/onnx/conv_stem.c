/* conv_stem.c — the first-layer direct conv's scalar reference and dispatch (conv_stem.h);
 * the SIMD kernels are x86/stem_tmpl.h, built into conv_avx2.c and conv_avx512.c. */
#include "onnx/conv_stem.h"

int ox_conv_stem_ok(enum ox_isa isa, const struct ox_stem *s)
{
    return isa != OX_ISA_REF && s->c >= 1 && s->c <= OX_STEM_MAXC && s->kh >= 1 && s->kh <= OX_STEM_MAXK &&
           s->kw >= 1 && s->kw <= OX_STEM_MAXK && (s->sw == 1 || s->sw == 2) && s->sh >= 1 && s->ow >= 1 &&
           s->ow <= OX_STEM_MAXOW && s->oh >= 1 && s->m >= 1;
}

void ox_conv_stem_ref(const struct ox_stem *s, int64_t q0, int64_t q1)
{
    int64_t taps = s->c * s->kh * s->kw, plane = (s->yrows ? s->yrows : s->oh) * s->ow;
    for (int64_t q = q0; q < q1; q++) {
        int64_t b = q / s->oh, oy = q % s->oh;
        const float *x = s->x + b * s->c * s->h * s->wd;
        for (int64_t m = 0; m < s->m; m++)
            for (int64_t ox = 0; ox < s->ow; ox++) {
                float acc = s->bias ? s->bias[m] : 0.0f;
                for (int64_t c = 0; c < s->c; c++)
                    for (int64_t ky = 0; ky < s->kh; ky++)
                        for (int64_t kx = 0; kx < s->kw; kx++) {
                            int64_t iy = oy * s->sh - s->pt + ky, ix = ox * s->sw - s->pl + kx;
                            float v = iy >= 0 && iy < s->h && ix >= 0 && ix < s->wd
                                          ? x[(c * s->h + iy) * s->wd + ix]
                                          : 0.0f;
                            acc += v * s->w[m * taps + (c * s->kh + ky) * s->kw + kx];
                        }
                s->y[(b * s->m + m) * plane + (s->yrows ? oy % s->yrows : oy) * s->ow + ox] =
                    ox_act_apply(&s->epi, acc);
            }
    }
}

void ox_conv_stem_run(enum ox_isa isa, const struct ox_stem *s, int64_t q0, int64_t q1)
{
    if (isa == OX_ISA_AVX512 && ox_conv_stem_ok(isa, s))
        ox_conv_stem_avx512(s, q0, q1);
    else if (isa == OX_ISA_AVX2 && ox_conv_stem_ok(isa, s))
        ox_conv_stem_avx2(s, q0, q1);
    else
        ox_conv_stem_ref(s, q0, q1);
}
