/* onnx_int.h — private structures of inferd's ONNX engine: the decoded model, the graph of
 * values and nodes, the per-shape plan, and the operator table.
 *
 * Layers, bottom up: pb.c (wire format) -> decode.c / decode_tensor.c (ModelProto into
 * struct ox_model, weights zero-copy) -> graph.c (names to value ids, topological order,
 * operator binding) -> plan.c (shape inference + constant folding + arena layout for one
 * set of input shapes) -> model.c (public API, plan cache, run loop). Operators live in
 * ops/, one file per family, each exporting `struct ox_op` entries listed in ops/ops.c.
 *
 *   struct ox_model *m = ...;                       // from ox_decode_model
 *   ox_graph_build(m, err);                         // binds ops, sorts nodes
 *   struct ox_plan *p = ox_plan_build(m, shapes, err);
 *   ox_plan_run(m, p, err);                         // executes p->steps
 */
#ifndef INFERD_ONNX_INT_H
#define INFERD_ONNX_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "inferd/err.h"
#include "inferd/onnx.h"
#include "inferd/tensor.h"

struct tpool;

/* Caps on what a model may declare; exceeding one is INFERD_ETOOLARGE / EFORMAT. */
#define OX_MAX_NODES 100000
#define OX_MAX_VALUES 400000
#define OX_MAX_NODE_IO 4096        /* inputs or outputs of one node */
#define OX_MAX_ATTRS 256           /* attributes of one node */
#define OX_MAX_ATTR_ELEMS 1000000  /* ints/floats of one attribute */
#define OX_MAX_GRAPH_IO 4096       /* graph inputs or outputs */
/* No depth cap is needed: the decoder never recurses (Model > Graph > Node > Attribute >
 * Tensor is a fixed nesting; sub-graphs of If/Loop are not decoded). */
#define OX_MAX_PLANS 16            /* cached plans (input shape sets) per model */
#define OX_ALIGN 64                /* arena / copied weight alignment */

/* A dense tensor as the engine sees it. In a plan, `data` points into the plan's arena, a
 * folded-constant buffer, the model's weights, or (for graph inputs) the caller's buffer. */
struct ox_tensor {
    enum inferd_dtype dt;
    int rank;
    int64_t dims[INFERD_MAX_RANK];
    int64_t numel;
    void *data;
    size_t nbytes;
    int is_const; /* data is known at plan time (weights, Constant, folded) */
    int alias;    /* set by the plan: data is the input's buffer (OX_OP_ALIAS ops) or a view into it
                     (OX_OP_VIEW ops), set by exec, no copy */
};

/* A STRING element inside the engine: a view of bytes that live in the caller's input
 * buffer (graph inputs) for the duration of a run. Ops that only move elements (Identity,
 * Reshape, Concat, Gather, Slice, Transpose, Tile, Split...) move these views; the public
 * API carries BYTES tensors in Triton's serialized form (see model.c). */
struct ox_str {
    const char *p;
    uint64_t n;
};

/* ONNX AttributeProto.AttributeType values we look at. */
enum ox_attr_type {
    OX_ATTR_FLOAT = 1, OX_ATTR_INT = 2, OX_ATTR_STRING = 3, OX_ATTR_TENSOR = 4, OX_ATTR_GRAPH = 5,
    OX_ATTR_FLOATS = 6, OX_ATTR_INTS = 7, OX_ATTR_STRINGS = 8, OX_ATTR_TENSORS = 9,
    OX_ATTR_GRAPHS = 10, OX_ATTR_SPARSE_TENSOR = 11,
};

struct ox_attr {
    const char *name;        /* model-owned */
    int type;                /* enum ox_attr_type; 0 when the file left it out */
    float f;
    int64_t i;
    const char *s;           /* model-owned, NUL-terminated copy */
    size_t s_len;
    struct ox_tensor *t;     /* model-owned, for TENSOR */
    int64_t *ints;           /* model-owned arrays */
    int64_t n_ints;
    float *floats;
    int64_t n_floats;
};

struct ox_op;

/* One node. `in`/`out` are value ids; -1 marks an omitted optional input/output. */
struct ox_node {
    const char *op_type, *name, *domain; /* model-owned */
    int n_in, n_out;
    int *in, *out;
    const char **in_names, **out_names; /* model-owned; "" for an omitted optional */
    int n_attrs;
    struct ox_attr *attrs;
    const struct ox_op *op; /* bound by ox_graph_build */
    int opset;              /* opset of the node's domain */
    int64_t ip[8];          /* op-specific integer parameters, filled by op->prepare */
    float fp[4];            /* op-specific float parameters */
};

/* One named value of the graph. */
struct ox_value {
    const char *name;          /* model-owned */
    int producer;              /* node index, -1 for inputs and initializers */
    int input_index;           /* graph input index or -1 */
    struct ox_tensor *init;    /* initializer or NULL (model-owned) */
    int n_consumers;
};

/* A decoded ModelProto plus the graph built from it. Owns every allocation through `mem`. */
struct ox_model {
    struct ox_mem *mem;        /* bump allocator for everything below */
    int64_t ir_version;
    int opset;                 /* default ("" / "ai.onnx") domain opset */
    const char *producer;
    int n_nodes;
    struct ox_node *nodes;     /* in file order until ox_graph_build, then topological */
    int n_inits;
    struct ox_tensor *inits;   /* initializer tensors */
    const char **init_names;
    int n_inputs, n_outputs;   /* graph inputs (minus initializers) / outputs */
    struct inferd_onnx_io *inputs, *outputs;
    int *input_ids, *output_ids; /* value ids, filled by ox_graph_build */
    int n_values;
    struct ox_value *values;
};

/* The bump allocator the decoder uses: many malloc chunks freed together. */
struct ox_mem;
struct ox_mem *ox_mem_new(void);
void ox_mem_free(struct ox_mem *m);
/* Zeroed, OX_ALIGN-aligned block; NULL on failure. */
void *ox_mem_alloc(struct ox_mem *m, size_t n);
char *ox_mem_strdup(struct ox_mem *m, const void *s, size_t n);

/* decode.c: ModelProto bytes (borrowed; must outlive the model) -> *out. */
int ox_decode_model(const uint8_t *data, size_t size, struct ox_model **out, struct inferd_err *err);
void ox_model_free(struct ox_model *m);
/* decode_tensor.c: a TensorProto. Data points into buf when the encoding allows, otherwise
 * into memory from mem. *name (may be NULL) gets the tensor's name. */
int ox_decode_tensor(struct ox_mem *mem, const uint8_t *buf, size_t len, struct ox_tensor *t,
                     const char **name, struct inferd_err *err);

/* graph.c: value table, op binding (op->prepare), topological order. */
int ox_graph_build(struct ox_model *m, struct inferd_err *err);
/* fuse.c + fuse_transformer.c: folds constant Mul/Add and activations into the Conv before
 * them, and fuses LayerNorm / Gelu / attention patterns and Transpose pairs (after ox_graph_build;
 * nodes stay sorted). off: INFERD_ONNX_OPT_* bits of the passes to skip. OUT: *r, what
 * fired. Returns 0 or ENOMEM. */
struct ox_fuse_report {
    int conv_nodes; /* nodes folded into Conv epilogues */
    int layernorm;  /* decomposed LayerNorms -> LayerNormalization */
    int gelu;       /* erf / tanh GELU patterns -> Gelu */
    int transpose;  /* Transpose pairs merged or removed */
    int attention;  /* MatMul/scale/mask/Softmax/MatMul -> InferdAttention */
    int matmul;     /* MatMul + bias [+ Gelu] -> InferdMatMul */
    int mbconv;     /* Conv 1x1 -> depthwise [-> Conv 1x1] -> InferdMBConv */
    int se;         /* GlobalAveragePool -> Conv 1x1 -> Conv 1x1 -> Mul -> InferdSE */
    int stemdw;     /* first-layer Conv -> depthwise Conv -> InferdStemDw */
};
int ox_fuse(struct ox_model *m, unsigned off, struct ox_fuse_report *r, struct inferd_err *err);
/* fuse_qdq.c: QDQ-format int8 patterns -> QLinearConv / QLinearMatMul (after ox_graph_build,
 * before constant folding would fold the weights' DequantizeLinear). *n_fused gets the number
 * of rewritten Conv/MatMul nodes. Returns 0 or ENOMEM. */
int ox_fuse_qdq(struct ox_model *m, int *n_fused, struct inferd_err *err);
const struct ox_attr *ox_attr_find(const struct ox_node *n, const char *name);
int64_t ox_attr_int(const struct ox_node *n, const char *name, int64_t dflt);
float ox_attr_float(const struct ox_node *n, const char *name, float dflt);

/* Execution context handed to kernels. */
struct ox_ctx {
    struct tpool *pool; /* borrowed, may be NULL */
    int nth;            /* pool size (1 without a pool) */
    void *scratch;      /* the running step's scratch (op->scratch bytes), else NULL */
    size_t scratch_size; /* its bytes (ox_op_scratch; 0: not known): the slots ox_parallel_slots
                            hands out are asserted to lie inside */
    const float *packed; /* the running step's packed operand (op->pack), else NULL */
    struct ox_packs *packs; /* the model's store of packed operands its plans share (packs.c), or
                               NULL: a plan then keeps its own */
    int in_place;       /* plans may make views (OX_OP_VIEW) and in-place Concats (OX_OP_PLACE);
                           off with INFERD_ONNX_OPT_INPLACE */
};

/* An operator. prepare validates attributes at load; infer sets output dtype/shape from
 * inputs (reading input data only when it is_const); exec computes. in[i]/out[i] may be
 * NULL for omitted optional ones. */
struct ox_op {
    const char *name;
    int min_in, max_in, min_out, max_out;
    int (*prepare)(struct ox_node *n, struct inferd_err *err);
    int (*infer)(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor **out,
                 struct inferd_err *err);
    int (*exec)(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                struct ox_tensor **out, struct inferd_err *err);
    unsigned flags;
    /* optional: bytes of scratch exec needs (im2col...), planned in the arena per step */
    size_t (*scratch)(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out);
    /* optional: repacks a constant operand once per plan (GEMM weights into panels). Returns
     * the floats needed (0 = nothing to pack); with dst non-NULL also fills dst. */
    int64_t (*pack)(const struct ox_node *n, struct ox_tensor *const *in, float *dst);
    /* optional, OX_OP_SCRATCH_SLOTS ops: how many of the c->nth per-thread scratch slots exec
     * can use under c with these inputs, in [1, c->nth] (called with c->nth > 1 only; a run
     * where whole images or bands go to threads uses up to nth, one that splits a GEMM the
     * first slot alone). Without it the plan lays out c->nth slots. An op answering fewer
     * slots than its exec touches overruns the arena: answer what exec really does. */
    int (*scratch_slots)(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in);
};
#define OX_OP_SHAPE_ONLY 1u /* output depends only on input shapes (Shape): fold always */
#define OX_OP_ALIAS 2u      /* output 0 is input 0's bytes reshaped: the plan may alias them */
#define OX_OP_VIEW 4u       /* an output may be a contiguous byte range of input 0 (Slice, Split):
                               ox_op_view_offset says where; exec then only sets its data */
#define OX_OP_PLACE 8u      /* input k may be a contiguous byte range of output 0 (Concat):
                               ox_op_place_offset says where; its producer writes it there */
#define OX_OP_ELEMWISE 16u  /* output element i reads only element i of an input of its shape (and
                               broadcast ones): the plan may give the output that input's buffer */
#define OX_OP_SCRATCH_SLOTS 32u /* scratch() is what one pool thread needs: the plan lays out ctx.nth
                                   (or scratch_slots()) slots of ox_scratch_stride(scratch()) bytes
                                   (ox_op_scratch);
                                   ox_parallel_images / the int8 conv's items hand each running
                                   part its own (exec alone uses the first) */

const struct ox_op *ox_op_find(const char *name);
/* Bytes of scratch node n's step needs under c: op->scratch, times the slots of
 * OX_OP_SCRATCH_SLOTS ops (op->scratch_slots, else c->nth; each slot rounded up by
 * ox_scratch_stride); 0 without a scratch hook. */
size_t ox_op_scratch(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                     struct ox_tensor *const *out);
/* Bytes of an OX_ALIGN-aligned buffer for op->pack's pk floats. */
static inline size_t ox_packed_bytes(int64_t pk)
{
    return ((size_t)pk * sizeof(float) + OX_ALIGN) & ~(size_t)(OX_ALIGN - 1);
}
/* packs.c: a model's packed operands, shared by its plans (one copy per node and layout).
 * ox_packs_get takes buf (malloc'd, `bytes` long, fully written): when an entry of node n
 * holds the same bytes, buf is freed and that entry returned, else buf becomes a new entry;
 * either way the caller holds one reference (NULL, buf freed: out of memory). ox_packs_put
 * drops one (the last frees it; NULL is ignored).
 * ox_packs_bytes: the bytes held. */
struct ox_packs;
struct ox_packs *ox_packs_new(void);
void ox_packs_free(struct ox_packs *s);
const float *ox_packs_get(struct ox_packs *s, const struct ox_node *n, float *buf, size_t bytes);
void ox_packs_put(struct ox_packs *s, const float *data);
size_t ox_packs_bytes(struct ox_packs *s);
/* Runs node n once outside a plan (constant folding: optimize.c at load, plan.c at plan
 * time) the way a plan step runs it: with its scratch (ox_op_scratch under c) and, for an op
 * with a pack hook, its packed operand, both allocated for this call and freed. out[k]->data
 * must be set. Returns exec's result; INFERD_ENOMEM (err set) when an allocation fails. */
int ox_op_run_once(const struct ox_ctx *c, const struct ox_node *n, struct ox_tensor *const *in,
                   struct ox_tensor **out, struct inferd_err *err);
/* Plan-time layout hooks of OX_OP_VIEW / OX_OP_PLACE ops (shapes and constant inputs known):
 * byte offset of output k inside input 0 / of input k inside output 0 when that tensor is one
 * contiguous range of the other, else -1. */
int64_t ox_op_view_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out, int k);
int64_t ox_op_place_offset(const struct ox_node *n, struct ox_tensor *const *in, struct ox_tensor *const *out, int k);

/* plan.c: one set of input shapes -> steps + arena. */
struct ox_step {
    const struct ox_node *node;
    struct ox_tensor **in, **out; /* point into plan->vals */
    void *scratch;                /* in the arena, live during this step only; or NULL */
    const float *packed;          /* op->pack output, in plan->folded; or NULL */
    uint64_t prof_ns, prof_runs;  /* INFERD_ONNX_PROFILE: time spent in this step (=min: its
                                   * fastest run), runs */
    size_t scratch_size;          /* bytes at scratch (ox_op_scratch) */
};
struct ox_plan {
    int n_inputs;
    int64_t *in_dims;          /* n_inputs * INFERD_MAX_RANK, the cache key */
    unsigned char *keyed;      /* n_inputs flags: values below are part of the key */
    int64_t *key_vals;         /* n_inputs * OX_MAX_KEYED slots: raw bytes of value-keyed inputs */
    struct ox_tensor *vals;    /* one per value */
    int n_steps;
    struct ox_step *steps;
    struct ox_tensor **ptrs;   /* backing store of the steps' in/out arrays */
    void *arena;
    size_t arena_size;
    size_t packed_size;        /* bytes of the steps' packed operands (op->pack; held in packs,
                                  shared with the model's other plans) */
    struct ox_packs *packs;    /* the store the steps' packed operands are referenced from */
    int own_packs;             /* packs was made for this plan alone (built without ctx.packs) */
    void **folded;             /* buffers of constant-folded values */
    int n_folded;
    int n_views;               /* Slice / Split outputs that are views of their input (no copy) */
    int n_in_place;            /* Concat inputs whose producers write into the Concat's output */
    int n_reused;              /* elementwise outputs written over an input no one else reads */
    uint64_t last_used;        /* for LRU eviction */
    struct ox_bsplit *bsplit;  /* sub-batch plans when the batch runs split (bsplit.c), else NULL */
};
/* value_keyed[i] != 0: graph input i decides shapes (a Reshape shape, axes...) so its
 * values are treated as constants and become part of the plan's key. When planning finds
 * such an input not yet flagged it flags it and returns OX_ENEEDCONST: plan again. */
#define OX_ENEEDCONST (-100)
#define OX_MAX_KEYED 64 /* elements of a value-keyed input (int32, int64, FP32 or bool) */
/* A plan's activation memory cap in bytes (its arena; sub-plans of a split batch together):
 * 16 bytes per max_elements, SIZE_MAX when max_elements is 0 or too large to scale. */
size_t ox_plan_cap(int64_t max_elements);
int ox_plan_build(const struct ox_model *m, const struct ox_ctx *c, const struct inferd_tensor *inputs,
                  unsigned char *value_keyed, int64_t max_elements, struct ox_plan **out,
                  struct inferd_err *err);
void ox_plan_free(struct ox_plan *p);
/* Runs p's steps under c (the caller has bound the graph inputs); INFERD_ONNX_PROFILE times
 * them. Returns 0 or the failing step's error, prefixed with the node. */
int ox_plan_exec(const struct ox_ctx *c, struct ox_plan *p, struct inferd_err *err);

/* bsplit.c: plan-level batch splitting (see its header for the rule and INFERD_ONNX_BSPLIT).
 * ox_bsplit_separable: N when every graph input has dim 0 = N > 1 and p's steps keep images
 * apart, else 0. ox_bsplit_prepare: after p was built for inputs, hangs sub-batch plans on
 * p->bsplit when the batch should run split (leaves it NULL otherwise); 0 or ENOMEM.
 * ox_bsplit_run: runs p's batch through them into p's output buffers (inputs as the caller
 * gave them); 0 or the first failing sub-batch's error. ox_bsplit_active: images per
 * sub-batch, 0 when p runs whole. */
struct ox_bsplit;
int64_t ox_bsplit_separable(const struct ox_model *m, const struct ox_plan *p);
int ox_bsplit_prepare(const struct ox_model *m, const struct ox_ctx *c, struct ox_plan *p,
                      const struct inferd_tensor *inputs, int64_t max_elements, struct inferd_err *err);
int ox_bsplit_run(const struct ox_model *m, const struct ox_ctx *c, struct ox_plan *p,
                  const struct inferd_tensor *inputs, struct inferd_err *err);
int ox_bsplit_active(const struct ox_plan *p);
void ox_bsplit_free(struct ox_bsplit *bs);

/* Per-node timing (profile.c), on when INFERD_ONNX_PROFILE=1 (or =wall, =min): model.c times
 * each step with ox_prof_now(), adds it with ox_prof_add, and ox_plan_free prints a table (per
 * op type, then the slowest nodes with their output shapes) to stderr. Off, a run reads one cached flag per step. */
int ox_prof_on(void);
uint64_t ox_prof_now(void);
void ox_prof_add(struct ox_step *st, uint64_t ns);
void ox_prof_report(const struct ox_plan *p);

/* Shared helpers for ops (ops/util.c). */
int64_t ox_numel(int rank, const int64_t *dims);
/* Bytes of one element inside the engine: inferd_dtype_size, or sizeof(struct ox_str) for BYTES. */
size_t ox_dtype_size(enum inferd_dtype dt);
int ox_set_shape(struct ox_tensor *t, enum inferd_dtype dt, int rank, const int64_t *dims,
                 struct inferd_err *err);
/* Normalises axis into [0, rank); EINVAL naming op and attribute when out of range. */
int ox_axis(int64_t axis, int rank, int64_t *out, const struct ox_node *n, const char *what,
            struct inferd_err *err);
/* Reads element i of t as double / int64 (any numeric dtype). */
double ox_get_f64(const struct ox_tensor *t, int64_t i);
int64_t ox_get_i64(const struct ox_tensor *t, int64_t i);
void ox_put_f64(struct ox_tensor *t, int64_t i, double v);
void ox_put_i64(struct ox_tensor *t, int64_t i, int64_t v);
int ox_dtype_is_int(enum inferd_dtype dt);
/* Reads a constant 1-D int tensor (axes, shape) into out[cap]; returns count or <0. */
int ox_const_ints(const struct ox_tensor *t, int64_t *out, int cap, const struct ox_node *n,
                  const char *what, struct inferd_err *err);
/* Splits [0, n) over the pool when n is large enough to be worth it: into parts of at least
 * min_per_thread items, one per pool thread, or OX_PAR_SPLIT per thread when each part still
 * holds OX_PAR_FINE times min_per_thread, claimed dynamically (see tpool_parallel_parts);
 * fn(ctx, lo, hi) must not assume one call per thread. */
#define OX_PAR_SPLIT 2
#define OX_PAR_FINE 8
/* input k of n, or NULL where the node has fewer inputs (an empty "" input is NULL in in[]) */
static inline const struct ox_tensor *ox_opt_in(const struct ox_node *n, struct ox_tensor *const *in, int k)
{
    return k >= 0 && k < n->n_in ? in[k] : NULL;
}
/* A kernel-choice switch from the environment, read once per process (ops/util.c): "0" gives
 * 0, "1" gives 1, unset or anything else the default. One static per switch:
 *   static struct ox_switch sw = OX_SWITCH("INFERD_ONNX_X", -1);   if (ox_switch(&sw) == 0) ... */
struct ox_switch {
    const char *name;
    int dflt;
    atomic_int v; /* the value + 2 once read, 0 before */
};
#define OX_SWITCH(name, dflt) {name, dflt, 0}
int ox_switch(struct ox_switch *s);
typedef void (*ox_range_fn)(void *ctx, int64_t lo, int64_t hi);
void ox_parallel(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx);
/* ox_parallel with the parts cut where the pool's threads are expected to end together
 * (tpool_cut: shares learned from the threads' measured speeds) rather than in equal ranges:
 * only for fn whose results do not depend on where [0, n) is cut (whole channels, rows,
 * tiles: not a SIMD loop whose scalar tail would move with the cut). */
void ox_parallel_bal(const struct ox_ctx *c, int64_t n, int64_t min_per_thread, ox_range_fn fn, void *ctx);
/* The parts ox_parallel cuts [0, n) into (1: it runs fn on the calling thread), for callers
 * that cut their ranges by their own cost model (ops/conv.c's column blocks). */
int64_t ox_parallel_parts(const struct ox_ctx *c, int64_t n, int64_t min_per_thread);
/* Bytes between scratch slots of an OX_OP_SCRATCH_SLOTS op whose scratch() is bytes. */
size_t ox_scratch_stride(size_t bytes);
/* Image by image over the pool, for ops whose per-image work is cheaper whole on one core
 * than split finely (no fork/join per sub-step, no reading what the other core just wrote):
 * runs fn(arg, one, img) for img in [0, k), k = nb - nb % c->nth (0 with one thread, or
 * when nb < nth), one image per part claimed as threads free up (tpool_parallel_parts),
 * each with a single-thread context `one` (no pool) whose scratch is a slot of
 * c->scratch (OX_OP_SCRATCH_SLOTS, slot_bytes each) that no part running at the same time
 * holds. Returns k: the caller splits images [k, nb) finely, so an image's result must not
 * depend on which way it ran. */
typedef void (*ox_image_fn)(void *arg, const struct ox_ctx *one, int64_t img);
int64_t ox_parallel_images(const struct ox_ctx *c, int64_t nb, size_t slot_bytes, ox_image_fn fn, void *arg);
/* fn(arg, one, i) for i in [0, n) as ox_parallel_images runs its images: any unit of work
 * that needs a scratch slot of its own (bands of one image) */
void ox_parallel_slots(const struct ox_ctx *c, int64_t n, size_t slot_bytes, ox_image_fn fn, void *arg);

#endif
