/* v4f.h — float vectors of GCC/clang's vector extension for the portable kernels: ox_v4f,
 * four lanes (SSE2 on any x86-64 at the default flags, where gcc does not auto-vectorise
 * loops of unknown length; the order of operations is the source's, so every CPU gets the
 * same bits), with unaligned load / store / splat helpers, and OX_VEC_LOAD_STORE to make
 * the same load / store pair for a wider vector type (x86/wino_tmpl.h's VL lanes).
 *
 *   ox_v4f a = ox_v4f_load(x + i), m = ox_v4f_splat(s);
 *   ox_v4f_store(y + i, a * m);
 *   typedef float wv __attribute__((vector_size(32)));
 *   OX_VEC_LOAD_STORE(wv, wld, wst) // static inline wv wld(const float *); void wst(float *, wv)
 */
#ifndef INFERD_ONNX_V4F_H
#define INFERD_ONNX_V4F_H

#include <string.h>

/* loads and stores of vector type T at any float address (memcpy: no alignment assumed) */
#define OX_VEC_LOAD_STORE(T, load, store)   \
    static inline T load(const float *p)    \
    {                                       \
        T v;                                \
        memcpy(&v, p, sizeof v);            \
        return v;                           \
    }                                       \
    static inline void store(float *p, T v) \
    {                                       \
        memcpy(p, &v, sizeof v);            \
    }

typedef float ox_v4f __attribute__((vector_size(16)));

OX_VEC_LOAD_STORE(ox_v4f, ox_v4f_load, ox_v4f_store)

static inline ox_v4f ox_v4f_splat(float f)
{
    return (ox_v4f){f, f, f, f};
}

#endif
