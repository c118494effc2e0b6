/* conv_test_rand.h — the conv tests' inputs: a seeded LCG (define CONV_TEST_SEED before the
 * include; each test file keeps its own sequence) giving floats in [-0.5, 0.5), buffers of
 * them scaled (one float of slack past n, for kernels that read a lane beyond), and the
 * fused activations every conv path is checked with (CONV_TEST_EPIS, an initialiser). */
#ifndef INFERD_TEST_CONV_TEST_RAND_H
#define INFERD_TEST_CONV_TEST_RAND_H

#include <stdint.h>
#include <stdlib.h>

#ifndef CONV_TEST_SEED
#error "define CONV_TEST_SEED before including conv_test_rand.h"
#endif

static uint32_t seed = CONV_TEST_SEED;

static inline float rnd(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f - 0.5f;
}

static inline float *rnd_buf(int64_t n, float scale)
{
    float *p = malloc(sizeof(float) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++)
        p[i] = rnd() * scale;
    return p;
}

#define CONV_TEST_EPIS                                                                                          \
    {                                                                                                           \
        {OX_ACT_NONE, 0, 0}, {OX_ACT_RELU, 0, 0}, {OX_ACT_CLIP, -0.5f, 0.75f}, {OX_ACT_HARDSIGMOID, 0.2f, 0.5f}, \
            {OX_ACT_HARDSWISH, 1.0f / 6, 0.5f}, {OX_ACT_SIGMOID, 0, 0}, { OX_ACT_SILU, 0, 0 }                  \
    }

#endif
