/* gguf_quant.h — `inferd pack --quantize`: a GGUF model re-written with quantized weights,
 * choosing each tensor's type as llama.cpp's llama-quantize does (llama_tensor_get_type at
 * c392e50, without an importance matrix), so a Q4_K_M from inferd has the same layout, and
 * for F32/F16 sources the same bytes, as one from llama-quantize.
 *
 * Schemes (llama.cpp "ftype" in general.file_type; default type of a weight matrix):
 *   Q8_0 (7)   Q4_0 (2)   Q6_K (18)   IQ4_NL (25)   IQ4_XS (30)   Q2_K (10)
 *   Q3_K_M (12): attn_v Q5_K in the first 2 layers else Q4_K, ffn_down and attn_output Q4_K
 *   Q4_K_M (15) = Q4_K: attn_v and ffn_down Q6_K where use_more_bits(layer) (the first
 *              and last eighth of the layers and every third in between), attn_qkv Q5_K
 *   Q4_K_S (14): attn_v Q5_K in the first 4 layers, ffn_down Q5_K in the first eighth
 *   Q5_K_M (17) = Q5_K: as Q4_K_M with Q6_K, attn_qkv Q6_K   Q5_K_S (16)
 * In all: output.weight (token_embd when the model ties them) Q6_K unless the scheme is Q8_0;
 * 8-expert models get Q8_0 attn_v/attn_k; only 2-D+ tensors named *weight are quantized
 * (not norms, ffn_gate_inp, position embeddings); a row length that the chosen type's block
 * does not divide falls back (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K/IQ4_XS ->
 * IQ4_NL, then F16). A tensor already in its chosen type is copied; other quantized sources
 * are dequantized and re-quantized (counted in n_requantized: quality suffers).
 * Metadata is copied unchanged except general.file_type and general.quantization_version.
 *
 *   struct gguf_quant_stats st;
 *   if (gguf_quant_file("m-f16.gguf", "m-q4km.gguf", "Q4_K_M", 0, progress, ctx, &st, &err) < 0) ...
 *   printf("%lld -> %lld bytes\n", st.bytes_in, st.bytes_out);
 */
#ifndef INFERD_PACK_GGUF_QUANT_H
#define INFERD_PACK_GGUF_QUANT_H

#include "base/fileio.h"
#include "inferd/err.h"
#include "llm/gguf.h"

#include <stdint.h>

struct gguf_quant_stats {
    char scheme[16];             /* canonical name: "Q4_K_M" for "Q4_K" */
    int ftype;                   /* general.file_type written */
    int64_t bytes_in, bytes_out; /* file sizes */
    int n_tensors, n_quantized, n_copied, n_requantized, n_fallback;
    int n_by_type[GGML_TYPE_COUNT]; /* tensors written per type */
    double seconds;
};

/* 1 when name is a scheme above (case-insensitive); OUT: canonical (16 bytes) if not NULL. */
int gguf_quant_scheme_ok(const char *name, char *canonical);

/* Writes dst (atomically) from src with the scheme's types, on n_threads threads (0 = all
 * CPUs). progress(ctx, bytes of source tensors done, total) may be NULL. OUT: *st.
 * Returns 0, INFERD_EINVAL (unknown scheme, naming the ones there are), EFORMAT (a tensor
 * type inferd cannot read, or an 8-expert layer name it cannot parse), EIO, ENOMEM. */
int gguf_quant_file(const char *src, const char *dst, const char *scheme, int n_threads, file_progress_fn progress,
                    void *ctx, struct gguf_quant_stats *st, struct inferd_err *err);

#endif
