/* optimize.h — ONNX graph rewrites written back as a standard ONNX file (opsets and ops
 * unchanged, so ONNX Runtime still loads it): what `inferd pack --optimize` and
 * `--quantize int8` do to an ONNX model.
 *
 * Passes, in order, each switchable:
 *   constant folding     a node whose inputs are all initializers (or that has none, like
 *                        Constant) is run once by the engine's own kernel and replaced by its
 *                        outputs as initializers (random ops excepted; a fold that would grow
 *                        the file more than 2x + 4 KiB is skipped);
 *   identity removal     Identity and inference Dropout (mask unused) nodes are bypassed;
 *   shape folding        Shape of a graph input with fixed declared dims, and Gather of fixed
 *                        dims from it, become constants (a symbolic batch stays symbolic);
 *   Conv+BN folding      BatchNormalization after a Conv whose output nothing else reads is
 *                        folded into the Conv's weights and bias;
 *   dead nodes           nodes and initializers that no graph output depends on are dropped;
 *   int8 QDQ weights     (quantize) the weight of Conv / MatMul / Gemm (FP32 initializer,
 *                        >= 256 values) becomes int8 + DequantizeLinear with symmetric
 *                        per-output-channel scales (per-tensor below opset 13).
 *
 *   struct ox_opt_report r;
 *   struct ox_opt_options o = {.fold = 1, .identity = 1, .bn = 1, .dce = 1, .qdq = 0};
 *   if (ox_optimize_file("in.onnx", "out.onnx", &o, &r, &err) < 0) fail(err.msg);
 */
#ifndef INFERD_ONNX_OPTIMIZE_H
#define INFERD_ONNX_OPTIMIZE_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

struct ox_opt_options {
    int fold, identity, bn, dce, qdq;
    int shape; /* Shape / Gather(Shape) of fixed graph-input dims -> constants (before folding) */
};

struct ox_opt_report {
    int folded, identities, bn_folded, dead, quantized; /* counts of nodes / weights */
    int shapes; /* Shape / Gather nodes made constant from fixed input dims */
    int64_t nodes_before, nodes_after;
};

/* The same passes (not qdq) on a model whose graph is built (ox_graph_build), at load: the
 * model keeps the live nodes and initializers and its graph is built again. */
struct ox_model;
int ox_optimize_model(struct ox_model *m, const struct ox_opt_options *o, struct ox_opt_report *r,
                      struct inferd_err *err);

/* Reads src, rewrites, writes dst atomically. Models with sub-graphs (If/Loop/Scan) or
 * STRINGS attributes are refused (EUNSUPPORTED) rather than written back incompletely. */
int ox_optimize_file(const char *src, const char *dst, const struct ox_opt_options *o, struct ox_opt_report *r,
                     struct inferd_err *err);

#endif
