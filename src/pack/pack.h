/* pack.h — `inferd pack`: a model file becomes a model package that `inferd serve
 * --models` loads as it is and `inferd register` copies into a repository.
 *
 * A package is a model repository holding one model and one version:
 *
 *   OUT/                         (-o; default ./<name>-<version>)
 *     <name>/config.json         the model's config.json (inferred + overrides)
 *     <name>/<version>/model.onnx | model.gguf
 *     <name>/<version>/config.json   the same bytes, so the signed version is complete
 *     <name>/<version>/manifest.json sha256 + size of every file, source, inferd version
 *     <name>/<version>/manifest.sig  with --sign (sign.h)
 *
 * It is built under OUT.tmp.<pid> and renamed to OUT at the end, so OUT is never half
 * written. config.json is inferred from the model: for ONNX the inputs and outputs (Triton
 * names: input/output with name, data_type, dims) and max_batch_size 8 when every input
 * and output has a symbolic first dimension (0 otherwise, and then dims keep it); for GGUF
 * backend "gguf", context_size min(the model's context length, 4096), parallel 4, and the
 * architecture. Overrides are merged over it member by member, and the result must pass the
 * server's own config.json check.
 *
 * With quantize (GGUF sources), the packed model.gguf is the source re-written with
 * quantized weights (gguf_quant.h: llama-quantize's mixes); manifest.json's optimizations
 * lists "quantize:<scheme>" and its "quantization" member records the sizes before and
 * after, the tensors per type, and with calib the perplexity of the source and of the result
 * on that text (inferd_llm_perplexity, comparable with llama-perplexity's).
 *
 *   struct pack_opts o = {.src = "mlp.onnx", .name = "mlp", .version = 3, .out_dir = "pkg"};
 *   struct pack_result res;
 *   if (pack_build(&o, &res, &err) < 0) fail(err.msg);
 */
#ifndef INFERD_PACK_PACK_H
#define INFERD_PACK_PACK_H

#include "base/fileio.h"
#include "base/path.h"
#include "inferd/err.h"
#include "pack/gguf_quant.h"
#include "pack/sign.h"

#include <jansson.h>
#include <stdint.h>

struct pack_opts {
    const char *src;                    /* .onnx or .gguf model file, or a llama2.c checkpoint */
    const char *tokenizer;              /* llama2.c tokenizer.bin: src is converted to GGUF; else NULL */
    const char *name;                   /* model name: [A-Za-z0-9_.-], no leading '.', < 128 bytes */
    int64_t version;                    /* >= 1 */
    const char *out_dir;                /* must not exist */
    const json_t *overrides;            /* borrowed object merged over the inferred config; may be NULL */
    const struct pack_secret_key *sign; /* borrowed; NULL = unsigned */
    file_progress_fn progress;          /* may be NULL */
    void *progress_ctx;
    int onnx_optimize;                  /* ONNX: write the graph rewrites of onnx/optimize.h into the file */
    int onnx_int8;                      /* ONNX: Conv/MatMul/Gemm weights to int8 QDQ (per channel) */
    /* GGUF quantization (gguf_quant.h); NULL = the weights are copied as they are */
    const char *quantize;               /* scheme: Q8_0, Q4_0, Q4_K_M (= Q4_K), Q5_K_M (= Q5_K), Q6_K... */
    const char *calib;                  /* text file: perplexity before and after; NULL = none */
    int calib_ctx, calib_chunks;        /* its chunk size and count (0 = defaults: 512 or the model's
                                           context, all chunks) */
    int threads;                        /* quantization and perplexity threads; 0 = all CPUs */
    file_progress_fn quant_progress;    /* source tensor bytes done; may be NULL */
    void (*calib_progress)(void *ctx, int64_t chunks_done, int64_t chunks); /* may be NULL */
};

struct pack_result {
    char format[16];                 /* "onnx", "gguf" */
    char version_dir[PATH_MAX_LEN];  /* OUT/<name>/<version> */
    char sha256[65];                 /* of the model file (== the source's) */
    int64_t size;                    /* bytes of the model file */
    /* with onnx_optimize / onnx_int8: the source's size, what changed, and the largest output
     * difference between the source and the packaged model on a seeded random input */
    int64_t size_before;
    char changes[200];
    double max_abs_diff, max_ref;
    /* with pack_opts.quantize */
    struct gguf_quant_stats quant;   /* scheme, sizes before/after, tensors per type */
    int has_ppl;                     /* with pack_opts.calib */
    double ppl_before, ppl_after;    /* perplexity of the source and of the packed model */
    int ppl_ctx, ppl_chunks;
};

/* Builds the package. OUT: *res. Returns 0 or INFERD_E* with a message naming the source,
 * the flag or the config member. Nothing is left behind on failure. */
int pack_build(const struct pack_opts *o, struct pack_result *res, struct inferd_err *err);

/* 1 when s is a valid model name (the repository's rule). */
int pack_model_name_ok(const char *s);

/* Finds the one model and version in a package folder. OUT: name (128 bytes), *version,
 * model_dir and version_dir (PATH_MAX_LEN each). Returns 0 or EFORMAT saying what is
 * missing or extra. */
int pack_open(const char *pkg, char *name, int64_t *version, char *model_dir, char *version_dir,
              struct inferd_err *err);

#endif
