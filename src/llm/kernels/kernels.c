/* kernels.c — picks the kernel set per ggml type: AVX2/FMA/F16C when the CPU has them,
 * else the portable scalar reference; on CPUs with AVX-512 (VNNI) or AVX-VNNI the types in
 * the isa_* tables below take those kernels instead. */
#include "llm/kernels/kernels.h"

#include "base/cpu.h"
#include "llm/kernels/fp16.h"
#include "llm/kernels/kernels_x86.h"

#define SIMD_MASK (CPU_AVX2 | CPU_FMA | CPU_F16C)

static const struct kern_type ref_types[] = {
    {GGML_TYPE_F32, GGML_TYPE_F32, dequant_row_f32, quant_row_f32, dot_ref_f32, NULL},
    {GGML_TYPE_F16, GGML_TYPE_F16, dequant_row_f16, quant_row_f16, dot_ref_f16, NULL},
    {GGML_TYPE_BF16, GGML_TYPE_F32, dequant_row_bf16, quant_row_bf16, dot_ref_bf16, NULL},
    {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, dequant_row_q4_0, quant_row_q4_0, dot_ref_q4_0, NULL},
    {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, dequant_row_q4_1, quant_row_q4_1, dot_ref_q4_1, NULL},
    {GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, dequant_row_q5_0, quant_row_q5_0, dot_ref_q5_0, NULL},
    {GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, dequant_row_q5_1, quant_row_q5_1, dot_ref_q5_1, NULL},
    {GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, dequant_row_q8_0, quant_row_q8_0, dot_ref_q8_0, NULL},
    {GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, dequant_row_q4_k, quant_row_q4_k, dot_ref_q4_k, NULL},
    {GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, dequant_row_q5_k, quant_row_q5_k, dot_ref_q5_k, NULL},
    {GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, dequant_row_q6_k, quant_row_q6_k, dot_ref_q6_k, NULL},
    {GGML_TYPE_Q2_K, GGML_TYPE_Q8_K, dequant_row_q2_k, quant_row_q2_k, dot_ref_q2_k, NULL},
    {GGML_TYPE_Q3_K, GGML_TYPE_Q8_K, dequant_row_q3_k, quant_row_q3_k, dot_ref_q3_k, NULL},
    {GGML_TYPE_IQ4_NL, GGML_TYPE_Q8_0, dequant_row_iq4_nl, quant_row_iq4_nl, dot_ref_iq4_nl, NULL},
    {GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K, dequant_row_iq4_xs, quant_row_iq4_xs, dot_ref_iq4_xs, NULL},
    {GGML_TYPE_Q8_K, GGML_TYPE_Q8_K, dequant_row_q8_k, quant_row_q8_k, NULL, NULL},
};

static const struct kern_type simd_types[] = {
    {GGML_TYPE_F32, GGML_TYPE_F32, dequant_row_f32, quant_row_f32, dot_avx2_f32, NULL},
    {GGML_TYPE_F16, GGML_TYPE_F16, dequant_avx2_f16, quant_avx2_f16, dot_avx2_f16, NULL},
    {GGML_TYPE_BF16, GGML_TYPE_F32, dequant_row_bf16, quant_row_bf16, dot_avx2_bf16, NULL},
    {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, dequant_row_q4_0, quant_row_q4_0, dot_avx2_q4_0, gemm4x2_avx2_q4_0},
    {GGML_TYPE_Q4_1, GGML_TYPE_Q8_0, dequant_row_q4_1, quant_row_q4_1, dot_avx2_q4_1, NULL},
    {GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, dequant_row_q5_0, quant_row_q5_0, dot_avx2_q5_0, NULL},
    {GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, dequant_row_q5_1, quant_row_q5_1, dot_avx2_q5_1, NULL},
    {GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, dequant_row_q8_0, quant_avx2_q8_0, dot_avx2_q8_0, gemm4x2_avx2_q8_0},
    {GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, dequant_row_q4_k, quant_row_q4_k, dot_avx2_q4_k, NULL},
    {GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, dequant_row_q5_k, quant_row_q5_k, dot_avx2_q5_k, NULL},
    {GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, dequant_row_q6_k, quant_row_q6_k, dot_avx2_q6_k, NULL},
    {GGML_TYPE_Q2_K, GGML_TYPE_Q8_K, dequant_row_q2_k, quant_row_q2_k, dot_avx2_q2_k, NULL},
    {GGML_TYPE_Q3_K, GGML_TYPE_Q8_K, dequant_row_q3_k, quant_row_q3_k, dot_avx2_q3_k, NULL},
    {GGML_TYPE_IQ4_NL, GGML_TYPE_Q8_0, dequant_row_iq4_nl, quant_row_iq4_nl, dot_avx2_iq4_nl, NULL},
    {GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K, dequant_row_iq4_xs, quant_row_iq4_xs, dot_avx2_iq4_xs, NULL},
    {GGML_TYPE_Q8_K, GGML_TYPE_Q8_K, dequant_row_q8_k, quant_avx2_q8_k, NULL, NULL},
};

#define N_TYPES (sizeof ref_types / sizeof ref_types[0])

static const struct kern_type *find(const struct kern_type *tab, enum ggml_type t)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (tab[i].type == t)
            return &tab[i];
    return NULL;
}

/* Wider integer kernels, per ISA: only the types listed here differ from simd_types; the
 * tiles of entry i are in the matching *_tiles[i]. Q4_0's one-token dot (and its dot4) on
 * AVX-512 F/BW is AVX2's: its 4-block integer reduction streams faster than the 512-bit dot
 * did on Zen 4 (gemv_bench 22.8 against 16.6 GB/s; tg64 Q4_0 25.4 -> 31.4 tokens/s, session
 * 9). On AVX-512 VNNI too, since session 16: the VNNI Q4_0 dot4s (dot4_q4_0_avx512vnni,
 * vpermt2w + 512-bit vpdpbusd, and session 10's 256-bit vpdpbusd step) are as fast as AVX2's
 * with the rows in L2/L3 (24-25 GB/s per CPU-second) but stream only 13-15 GB/s from memory
 * on Zen 5, where AVX2's streams 21-22 (gemv_bench 32000 x 2048, 1 and 2 threads; the cause
 * is not found: not the EVEX encoding, not prefetch). dot_q4_0_avx512vnni stays in the tree,
 * tested bit for bit against AVX2's. The 2-8 token tiles stay 512-bit. Q4_K's on AVX-512 VNNI is 256-bit
 * too (dot_q4_k_avx512vnni, dot4_q4_k_avx512vnni: vpdpbusd, vpackssdw, vpdpwssd; gemv_bench
 * in L2 22.8 -> 27.7 GB/s against AVX2's, session 11). Q5_K's is Q4_K's step with the fifth
 * bit ORed in, Q2_K's and Q3_K's the same vpdpbusd, vpackssdw, vpdpwssd step. These four
 * steps are x86/dot_k_body.h's, shared by AVX-512 VNNI (dot_*_k_avx512vnni), AVX-VNNI (VEX
 * vpdpbusd, vpdpwssd: dot_*_k_avxvnni, session 14), and AVX2 (vpmaddubsw, vphaddw,
 * vpmaddwd: dot_avx2_*_k, the AVX-512 F/BW set's too); each with its dot4 (AVX2's and
 * AVX-VNNI's since session 14). */
#define ISA_TYPES(SUF, F16DOT, Q4DOT, Q8DOT, Q4KDOT, Q6KDOT, Q5KDOT, Q2KDOT, Q3KDOT)                                \
    {GGML_TYPE_F16, GGML_TYPE_F16, dequant_avx2_f16, quant_avx2_f16, F16DOT, NULL},                     \
    {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, dequant_row_q4_0, quant_row_q4_0, Q4DOT, NULL},                    \
    {GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, dequant_row_q8_0, quant_avx2_q8_0, Q8DOT, NULL},        \
    {GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, dequant_row_q4_k, quant_row_q4_k, Q4KDOT, NULL},                   \
    {GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, dequant_row_q6_k, quant_row_q6_k, Q6KDOT, NULL},         \
    {GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, dequant_row_q5_k, quant_row_q5_k, Q5KDOT, NULL},                  \
    {GGML_TYPE_Q2_K, GGML_TYPE_Q8_K, dequant_row_q2_k, quant_row_q2_k, Q2KDOT, NULL},                  \
    {GGML_TYPE_Q3_K, GGML_TYPE_Q8_K, dequant_row_q3_k, quant_row_q3_k, Q3KDOT, NULL},
/* No 4-row tile for one token: it streams its weights from memory, and four rows read side
 * by side defeat the prefetcher (a 4x1 tile measured 7 GB/s against 16 GB/s for one row at
 * a time here); generation uses dot4 over 4 distant rows, or the dot products. */
#define ISA_TILES(SUF, Q4N, Q8N) ISA_TILES4(SUF, Q4N, Q8N, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
/* dot4: one token against 4 rows taken from 4 distant places (4 sequential streams, not 4
 * rows side by side; see x86/dot512_gemv.h). */
#define ISA_TILES4(SUF, Q4N, Q8N, F16D4, Q4D4, Q8D4, Q4KD4, Q6KD4, Q5KD4, Q2KD4, Q3KD4) \
    {NULL, NULL, F16D4}, {gemm4x4_q4_0_##SUF, Q4N, Q4D4}, {gemm4x4_q8_0_##SUF, Q8N, Q8D4}, {NULL, NULL, Q4KD4}, \
        {NULL, NULL, Q6KD4}, {NULL, NULL, Q5KD4}, {NULL, NULL, Q2KD4}, {NULL, NULL, Q3KD4},
#define ISA_TILES512(SUF, Q4D4, Q4KD4, Q5KD4, Q2KD4, Q3KD4) \
    ISA_TILES4(SUF, gemm4xn_q4_0_##SUF, gemm4xn_q8_0_##SUF, dot4_f16_##SUF, Q4D4, dot4_q8_0_##SUF, \
               Q4KD4, dot4_q6_k_##SUF, Q5KD4, Q2KD4, Q3KD4)
static const struct kern_type isa_avx512vnni[] = {
    ISA_TYPES(avx512vnni, dot_f16_avx512vnni, dot_avx2_q4_0, dot_q8_0_avx512vnni, dot_q4_k_avx512vnni,
              dot_q6_k_avx512vnni, dot_q5_k_avx512vnni,
              dot_q2_k_avx512vnni, dot_q3_k_avx512vnni)};
static const struct kern_type isa_avx512[] = {
    ISA_TYPES(avx512, dot_f16_avx512, dot_avx2_q4_0, dot_q8_0_avx512, dot_avx2_q4_k, dot_q6_k_avx512, dot_avx2_q5_k,
              dot_avx2_q2_k, dot_avx2_q3_k)};
static const struct kern_type isa_avxvnni[] = {
    ISA_TYPES(avxvnni, dot_avx2_f16, dot_avx2_q4_0, dot_avx2_q8_0, dot_q4_k_avxvnni, dot_avx2_q6_k, dot_q5_k_avxvnni,
              dot_q2_k_avxvnni, dot_q3_k_avxvnni)};
static const struct kern_tiles tiles_avx512vnni[] = {
    ISA_TILES512(avx512vnni, dot4_avx2_q4_0, dot4_q4_k_avx512vnni, dot4_q5_k_avx512vnni,
                 dot4_q2_k_avx512vnni, dot4_q3_k_avx512vnni)};
/* AVX-512 F/BW: its Q4_K, Q5_K, Q2_K and Q3_K dots are AVX2's, without their dot4s (K_ONE_ROW
 * below; its own 512-bit Q6_K dot4 streams faster than the one-row dot: 40-42 against 30-35
 * GB/s per CPU-second, gemv_bench, session 17). */
static const struct kern_tiles tiles_avx512[] = {ISA_TILES512(avx512, dot4_avx2_q4_0, NULL, NULL, NULL, NULL)};
/* AVX-VNNI's F16, Q4_0, Q8_0 and Q6_K dots are AVX2's, so AVX2's dot4s match them bit for
 * bit (a one-row vpdpbusd dot without a dot4 streamed Q4_0 generation 20% slower per
 * CPU-second than AVX2's dot4, session 16). The K-quants have no dot4 here nor on AVX2
 * alone (K_ONE_ROW below). */
static const struct kern_tiles tiles_avxvnni[] = {
    ISA_TILES4(avxvnni, NULL, NULL, dot4_avx2_f16, dot4_avx2_q4_0, dot4_avx2_q8_0, NULL, NULL, NULL, NULL, NULL)};
#define N_ISA_TYPES (sizeof isa_avx512 / sizeof isa_avx512[0])

/* The isa_* table for this CPU, or NULL (AVX2 or scalar only). */
static const struct kern_type *isa_table(const char **name, const struct kern_tiles **tiles)
{
    const char *nm = "scalar";
    const struct kern_type *tab = NULL;
    const struct kern_tiles *tl = NULL;
    if (cpu_has(KERN_ISA_AVX512VNNI_MASK)) {
        nm = "avx512vnni";
        tab = isa_avx512vnni;
        tl = tiles_avx512vnni;
    } else if (cpu_has(KERN_ISA_AVX512_MASK)) {
        nm = "avx512";
        tab = isa_avx512;
        tl = tiles_avx512;
    } else if (cpu_has(KERN_ISA_AVXVNNI_MASK)) {
        nm = "avxvnni";
        tab = isa_avxvnni;
        tl = tiles_avxvnni;
    } else if (cpu_has(SIMD_MASK)) {
        nm = "avx2";
    }
    if (name)
        *name = nm;
    if (tiles)
        *tiles = tl;
    return tab;
}

const char *kern_isa_name(void)
{
    const char *nm;
    isa_table(&nm, NULL);
    return nm;
}

/* AVX2 alone (no isa_* table): dot4 for generation, bit-identical to simd_types' vec_dot
 * (x86/dot_avx2.c); its 4x2 tiles are kern_type.gemm4x2.
 * K_ONE_ROW: K-quant generation on AVX2 and AVX-VNNI (and AVX-512 F/BW's, but Q6_K) walks one
 * row at a time (vec_dot, matmul.c's 8 chunks a thread), no dot4. Their 256-bit dot4s keep 4
 * rows' accumulators, scale vectors and shuffle patterns live: more than 16 ymm registers, and
 * the spills (40 stack accesses in dot4_avx2_q4_k) make them slower than the one-row dot that
 * is already bound by its own instructions (gemv_bench on Zen 5, cpu0, session 17, GB/s one
 * row / dot4: AVX2 Q4_K 32000 x 2048 25.5 / 21.5, 2048 x 5632 27.8 / 24.6; Q6_K 2048 x 5632
 * 33.0 / 22.2; Q5_K 22.2 / 19.3, Q2_K 15.3 / 13.2, Q3_K 13.5 / 11.9; AVX-VNNI Q4_K 21.9 / 16.9,
 * Q5_K 25.1 / 20.8, Q2_K 18.5 / 14.4, Q3_K 14.8 / 12.7; Q4_K_M tg32 at 1 thread 0.8 ->
 * 1.16-1.31x llama.cpp). AVX-512 VNNI's K dots are 256-bit too but have 32 registers: their
 * dot4s stream as fast as the one-row dots (Q4_K, Q5_K) or faster (Q6_K), and stay. The
 * 256-bit K dot4s (AVX2's and AVX-VNNI's) were removed in session 18: 16 ymm registers on
 * every CPU, so they would spill everywhere. */
#define K_ONE_ROW {NULL, NULL, NULL}
static const struct {
    enum ggml_type type;
    struct kern_tiles tl;
} tiles_avx2[] = {
    {GGML_TYPE_F16, {NULL, NULL, dot4_avx2_f16}},   {GGML_TYPE_Q4_0, {NULL, NULL, dot4_avx2_q4_0}},
    {GGML_TYPE_Q8_0, {NULL, NULL, dot4_avx2_q8_0}}, {GGML_TYPE_Q4_K, K_ONE_ROW},
    {GGML_TYPE_Q6_K, K_ONE_ROW}, {GGML_TYPE_Q5_K, K_ONE_ROW},
    {GGML_TYPE_Q2_K, K_ONE_ROW}, {GGML_TYPE_Q3_K, K_ONE_ROW},
};

const struct kern_tiles *kern_get_tiles(enum ggml_type t)
{
    static const struct kern_tiles none = {NULL, NULL, NULL};
    const struct kern_tiles *tl;
    const struct kern_type *isa = isa_table(NULL, &tl);
    for (size_t i = 0; isa && i < N_ISA_TYPES; i++)
        if (isa[i].type == t)
            return &tl[i];
    for (size_t i = 0; !isa && kern_simd_active() && i < sizeof tiles_avx2 / sizeof tiles_avx2[0]; i++)
        if (tiles_avx2[i].type == t)
            return &tiles_avx2[i].tl;
    return &none;
}

int kern_simd_active(void)
{
    return cpu_has(SIMD_MASK);
}

const struct kern_type *kern_get(enum ggml_type t)
{
    const struct kern_type *isa = isa_table(NULL, NULL);
    for (size_t i = 0; isa && i < N_ISA_TYPES; i++)
        if (isa[i].type == t)
            return &isa[i];
    return find(kern_simd_active() ? simd_types : ref_types, t);
}

const struct kern_type *kern_get_ref(enum ggml_type t)
{
    return find(ref_types, t);
}

int kern_quantize_row(enum ggml_type t, const float *src, void *dst, int64_t n)
{
    const struct kern_type *k = kern_get(t);
    if (!k || !k->quantize_row)
        return INFERD_EUNSUPPORTED;
    k->quantize_row(src, dst, n);
    return 0;
}

static float ref_dot_f16(const float *q, const void *k, int n)
{
    const uint16_t *h = k;
    float s = 0;
    for (int i = 0; i < n; i++)
        s += q[i] * fp16_to_f32(h[i]);
    return s;
}

static float ref_dot_f32(const float *q, const void *k, int n)
{
    const float *f = k;
    float s = 0;
    for (int i = 0; i < n; i++)
        s += q[i] * f[i];
    return s;
}

static void ref_axpy_f16(float *y, float a, const void *v, int n)
{
    const uint16_t *h = v;
    for (int i = 0; i < n; i++)
        y[i] += a * fp16_to_f32(h[i]);
}

static void ref_axpy_f32(float *y, float a, const void *v, int n)
{
    const float *f = v;
    for (int i = 0; i < n; i++)
        y[i] += a * f[i];
}

/* Q8_0 cache rows: blocks of 32 int8 with an f16 scale (ggml's block_q8_0), quantized as
 * they are stored; attention reads them block by block with the query in float. */
static float ref_dot_q8_0_kv(const float *q, const void *k, int n)
{
    const struct blk_q8_0 *b = k;
    float s = 0;
    for (int i = 0; i < n / 32; i++) {
        float t = 0;
        for (int j = 0; j < 32; j++)
            t += q[i * 32 + j] * (float)b[i].qs[j];
        s += fp16_to_f32(b[i].d) * t;
    }
    return s;
}

static void ref_axpy_q8_0_kv(float *y, float a, const void *v, int n)
{
    const struct blk_q8_0 *b = v;
    for (int i = 0; i < n / 32; i++) {
        float da = a * fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++)
            y[i * 32 + j] += da * (float)b[i].qs[j];
    }
}

const struct kern_kv_ops *kern_kv(enum kern_kv_type type)
{
    static const struct kern_kv_ops ref16 = {ref_dot_f16, ref_axpy_f16, quant_row_f16, 1, 2},
                                    ref32 = {ref_dot_f32, ref_axpy_f32, quant_row_f32, 1, 4},
                                    simd16 = {kv_avx2_dot_f16, kv_avx2_axpy_f16, quant_avx2_f16, 1, 2},
                                    simd32 = {kv_avx2_dot_f32, kv_avx2_axpy_f32, quant_row_f32, 1, 4},
                                    q8 = {ref_dot_q8_0_kv, ref_axpy_q8_0_kv, quant_row_q8_0, 32, 34};
    if (type == KERN_KV_Q8_0)
        return &q8;
    if (kern_simd_active())
        return type == KERN_KV_F16 ? &simd16 : &simd32;
    return type == KERN_KV_F16 ? &ref16 : &ref32;
}
