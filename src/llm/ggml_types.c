/* ggml_types.c — block sizes and names of ggml tensor element types (the gguf.h traits). */
#include "llm/gguf.h"

struct type_trait {
    const char *name;
    int block_elems;
    size_t block_bytes;
};

/* Block layouts as in ggml's ggml-common.h (QK_K = 256):
 *   Q4_0 {f16 d; u8 qs[16]}               18 B / 32      Q4_1 {f16 d, m; u8 qs[16]}        20 B / 32
 *   Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}     22 B / 32      Q5_1 {f16 d, m; qh[4]; qs[16]}    24 B / 32
 *   Q8_0 {f16 d; i8 qs[32]}               34 B / 32      Q8_1 {f16 d, s; i8 qs[32]}        36 B / 32
 *   Q2_K {scales[16]; qs[64]; f16 d, dmin}              84 B / 256
 *   Q3_K {hmask[32]; qs[64]; scales[12]; f16 d}        110 B / 256
 *   Q4_K {f16 d, dmin; scales[12]; qs[128]}            144 B / 256
 *   Q5_K {f16 d, dmin; scales[12]; qh[32]; qs[128]}    176 B / 256
 *   Q6_K {ql[128]; qh[64]; i8 scales[16]; f16 d}       210 B / 256
 *   Q8_K {f32 d; i8 qs[256]; i16 bsums[16]}            292 B / 256
 *   IQ4_NL {f16 d; u8 qs[16]}                           18 B / 32
 *   IQ4_XS {f16 d; u16 scales_h; scales_l[4]; qs[128]} 136 B / 256 */
static const struct type_trait *trait(enum ggml_type t)
{
    static const struct type_trait f32 = {"F32", 1, 4}, f16 = {"F16", 1, 2}, bf16 = {"BF16", 1, 2},
        q4_0 = {"Q4_0", 32, 18}, q4_1 = {"Q4_1", 32, 20}, q5_0 = {"Q5_0", 32, 22},
        q5_1 = {"Q5_1", 32, 24}, q8_0 = {"Q8_0", 32, 34}, q8_1 = {"Q8_1", 32, 36},
        q2_k = {"Q2_K", 256, 84}, q3_k = {"Q3_K", 256, 110}, q4_k = {"Q4_K", 256, 144},
        q5_k = {"Q5_K", 256, 176}, q6_k = {"Q6_K", 256, 210}, q8_k = {"Q8_K", 256, 292},
        iq4_nl = {"IQ4_NL", 32, 18}, iq4_xs = {"IQ4_XS", 256, 136};
    switch (t) {
    case GGML_TYPE_F32: return &f32;
    case GGML_TYPE_F16: return &f16;
    case GGML_TYPE_BF16: return &bf16;
    case GGML_TYPE_Q4_0: return &q4_0;
    case GGML_TYPE_Q4_1: return &q4_1;
    case GGML_TYPE_Q5_0: return &q5_0;
    case GGML_TYPE_Q5_1: return &q5_1;
    case GGML_TYPE_Q8_0: return &q8_0;
    case GGML_TYPE_Q8_1: return &q8_1;
    case GGML_TYPE_Q2_K: return &q2_k;
    case GGML_TYPE_Q3_K: return &q3_k;
    case GGML_TYPE_Q4_K: return &q4_k;
    case GGML_TYPE_Q5_K: return &q5_k;
    case GGML_TYPE_Q6_K: return &q6_k;
    case GGML_TYPE_Q8_K: return &q8_k;
    case GGML_TYPE_IQ4_NL: return &iq4_nl;
    case GGML_TYPE_IQ4_XS: return &iq4_xs;
    default: return NULL;
    }
}

int ggml_type_block_elems(enum ggml_type t)
{
    const struct type_trait *tr = trait(t);
    return tr ? tr->block_elems : 0;
}

size_t ggml_type_block_bytes(enum ggml_type t)
{
    const struct type_trait *tr = trait(t);
    return tr ? tr->block_bytes : 0;
}

size_t ggml_row_size(enum ggml_type t, int64_t ne0)
{
    const struct type_trait *tr = trait(t);
    if (!tr || ne0 < 0 || ne0 % tr->block_elems != 0)
        return 0;
    return (size_t)(ne0 / tr->block_elems) * tr->block_bytes;
}

const char *ggml_type_name(enum ggml_type t)
{
    const struct type_trait *tr = trait(t);
    return tr ? tr->name : "unknown";
}
