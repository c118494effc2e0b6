/* onnx.h — inferd's ONNX engine: load a model file, describe its inputs and outputs, run it.
 *
 * A model is decoded straight from the protobuf wire format; weights point into the
 * memory-mapped file (zero-copy) wherever alignment allows. Shapes are inferred at load
 * time with the batch (first, symbolic) dimension free; a memory plan is made once per
 * batch size and cached, so inferd_onnx_run does not allocate on a shape it has seen.
 *
 * Threading: one model may be run by one thread at a time (the serving layer's per-model
 * scheduler guarantees this); kernels split work over the thread pool given at load.
 *
 *   struct inferd_onnx_model *m;
 *   struct inferd_err err = {0};
 *   if (inferd_onnx_load("model.onnx", &(struct inferd_onnx_options){.pool = pool}, &m, &err) < 0) ...
 *   struct inferd_tensor in = {...}, out[1];
 *   inferd_onnx_run(m, &in, 1, out, 1, &err);    // out[0].data valid until the next run
 *   inferd_onnx_free(m);
 */
#ifndef INFERD_ONNX_H
#define INFERD_ONNX_H

#include "inferd/err.h"
#include "inferd/tensor.h"

struct tpool;
struct inferd_onnx_model;

struct inferd_onnx_options {
    struct tpool *pool;          /* borrowed compute pool; NULL = single-threaded */
    int64_t max_elements;        /* cap on any one tensor's element count; 0 = 1<<28. A plan's
                                    activations are capped at 16 bytes per element of it
                                    (INFERD_ETOOLARGE beyond); its packed weights are not */
    unsigned graph_opt_off;      /* INFERD_ONNX_OPT_* load-time rewrites to skip; 0 = all run */
};

/* Load-time graph rewrites (src/onnx/optimize.h), each switchable. */
#define INFERD_ONNX_OPT_FOLD 1u      /* constant folding */
#define INFERD_ONNX_OPT_IDENTITY 2u  /* Identity / inference Dropout removal */
#define INFERD_ONNX_OPT_BN 4u        /* BatchNormalization folded into the Conv before it */
#define INFERD_ONNX_OPT_DCE 8u       /* nodes no output depends on */
#define INFERD_ONNX_OPT_FUSE 16u     /* Conv + BatchNormalization / Mul / Add / activation fused for the
                                        conv kernels (src/onnx/fuse.c) */
#define INFERD_ONNX_OPT_LAYERNORM 32u /* ReduceMean/Sub/Pow/.../Mul/Add -> LayerNormalization */
#define INFERD_ONNX_OPT_GELU 64u     /* x*0.5*(1+erf(x/sqrt2)) and the tanh form -> Gelu */
#define INFERD_ONNX_OPT_TRANSPOSE 128u /* Transpose(Transpose(x)) merged into one, or removed */
#define INFERD_ONNX_OPT_ATTENTION 256u /* MatMul/scale/[mask]/Softmax/MatMul -> one attention kernel */
#define INFERD_ONNX_OPT_SHAPE 512u  /* Shape / Gather(Shape) of fixed graph-input dims -> constants */
#define INFERD_ONNX_OPT_QDQ 1024u    /* DequantizeLinear -> Conv / MatMul -> QuantizeLinear run as int8
                                        QLinearConv / QLinearMatMul (src/onnx/fuse_qdq.c) */
#define INFERD_ONNX_OPT_INPLACE 2048u /* memory plan: Slice / Split along the outermost non-unit
                                        axis as views, Concat inputs written in place (plan.c) */
#define INFERD_ONNX_OPT_MATMUL 4096u /* MatMul + constant bias Add [+ Gelu] -> one GEMM with the bias
                                         and GELU in its store (src/onnx/fuse_transformer.c) */
#define INFERD_ONNX_OPT_WINOGRAD 8192u /* 3x3 stride-1 Convs as Winograd F(4x4,3x3) where it is faster */
#define INFERD_ONNX_OPT_CONV_SUM 16384u /* Conv -> Add(residual) [-> activation] -> one Conv adding the
                                         residual in its store (src/onnx/fuse.c) */
#define INFERD_ONNX_OPT_MBCONV 32768u /* Conv 1x1 -> depthwise Conv [-> Conv 1x1] -> one InferdMBConv run
                                         band by band in cache (src/onnx/fuse_mbconv.c) */
#define INFERD_ONNX_OPT_SE 65536u /* GlobalAveragePool -> Conv 1x1 -> Conv 1x1 -> Mul (a squeeze-excitation)
                                     -> one InferdSE step (src/onnx/fuse_se.c) */
#define INFERD_ONNX_OPT_STEMDW 131072u /* first-layer Conv -> depthwise Conv -> one InferdStemDw run band
                                         by band in cache (src/onnx/fuse_stemdw.c) */
#define INFERD_ONNX_OPT_ALL 262143u

/* Describes one graph input or output. dims[i] == -1 marks a symbolic dimension; rank is -1
 * when the model declares no shape at all (then any rank is accepted). */
struct inferd_onnx_io {
    const char *name;            /* borrowed from the model; lives as long as it */
    enum inferd_dtype dtype;
    int rank;
    int64_t dims[INFERD_MAX_RANK];
};

/* Loads path. OUT: *out, to be released with inferd_onnx_free. Returns 0 or INFERD_E*
 * (EFORMAT for a corrupt file, EUNSUPPORTED naming the op/opset/dtype). */
int inferd_onnx_load(const char *path, const struct inferd_onnx_options *opt,
                     struct inferd_onnx_model **out, struct inferd_err *err);
/* Same from a buffer the caller keeps alive for the model's lifetime (borrowed). */
int inferd_onnx_load_buffer(const void *data, size_t size, const struct inferd_onnx_options *opt,
                            struct inferd_onnx_model **out, struct inferd_err *err);
void inferd_onnx_free(struct inferd_onnx_model *m);

int inferd_onnx_n_inputs(const struct inferd_onnx_model *m);
int inferd_onnx_n_outputs(const struct inferd_onnx_model *m);
/* Borrowed descriptions, index in graph order. NULL when out of range. */
const struct inferd_onnx_io *inferd_onnx_input(const struct inferd_onnx_model *m, int i);
const struct inferd_onnx_io *inferd_onnx_output(const struct inferd_onnx_model *m, int i);
/* Model-level facts for metadata answers: opset of the default domain, producer name. */
int inferd_onnx_opset(const struct inferd_onnx_model *m);
const char *inferd_onnx_producer(const struct inferd_onnx_model *m);
/* What the load-time graph rewrites did: "N -> M nodes (...)". Borrowed. */
const char *inferd_onnx_graph_summary(const struct inferd_onnx_model *m);
/* Bytes of repacked weights (conv panels, Winograd-transformed kernels, GEMM panels) the
 * model holds for its plans: one copy per node and layout, however many input shapes
 * (batch sizes) it has run; 0 before the first run. */
size_t inferd_onnx_packed_bytes(const struct inferd_onnx_model *m);

/* Runs the graph. inputs[i] must match inferd_onnx_input(m, i) in dtype and in every
 * non-symbolic dim (else ETYPE/ESHAPE naming the input). OUT: outputs[0..n_outputs) are
 * filled with views into model-owned memory valid until the next run or free.
 * Returns 0 or INFERD_E*. */
int inferd_onnx_run(struct inferd_onnx_model *m, const struct inferd_tensor *inputs, int n_inputs,
                    struct inferd_tensor *outputs, int n_outputs, struct inferd_err *err);

#endif
