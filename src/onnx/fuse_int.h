/* fuse_int.h — what the load-time fusion passes share: fuse.c (Conv epilogues) and
 * fuse_transformer.c (LayerNorm, Gelu, Transpose pairs) match patterns on the sorted graph
 * through one consumer index and one set of constant readers, mark the nodes they replace
 * dead, and ox_fuse drops those at the end, keeping the order.
 *
 *   struct fuse f = {.m = m};
 *   fuse__index(&f);                          // consumers of every value, live nodes only
 *   struct ox_node *c = fuse__consumer(&f, v, 1, 0);
 *   if (c && fuse__is_op(c, "Sqrt")) ...      // rewrite, then f.dead[i] = 1
 */
#ifndef INFERD_ONNX_FUSE_INT_H
#define INFERD_ONNX_FUSE_INT_H

#include "onnx/onnx_int.h"

struct fuse {
    struct ox_model *m;
    int *cons_at, *cons;   /* CSR: consumers of value v are cons[cons_at[v] .. cons_at[v+1]) */
    unsigned char *is_out; /* value is a graph output */
    unsigned char *dead;   /* node dropped */
};

/* (Re)builds cons_at / cons from the live nodes (a node reading v twice is listed twice).
 * Returns 0 or -1 out of memory. */
int fuse__index(struct fuse *f);
/* Default-domain node of that type. */
int fuse__is_op(const struct ox_node *n, const char *type);
/* The one live consumer of value v when it has exactly `want` consumer slots (k-th slot
 * k); NULL otherwise or when v is a graph output. */
struct ox_node *fuse__consumer(const struct fuse *f, int v, int want, int k);
/* The live node that makes v, or NULL (inputs, initializers). */
struct ox_node *fuse__producer(const struct fuse *f, int v);
/* FP32 tensor of a constant value (initializer or Constant node's `value`), else NULL. */
const struct ox_tensor *fuse__const_t(const struct fuse *f, int v);
/* A constant FP32 scalar into *out: returns 1, or 0 when v is none. */
int fuse__scalar(const struct fuse *f, int v, float *out);
/* The other input of a two-input node when one is v; -2 when v is not an input. */
int fuse__other_input(const struct ox_node *n, int v);
/* Attribute `name` absent, or every one of its ints in [lo, hi]. */
int fuse__ints_in(const struct ox_node *n, const char *name, int64_t lo, int64_t hi);
/* The constant FP32 rank-4 weights of Conv n when its bias is constant or absent, else NULL. */
const struct ox_tensor *fuse__conv_consts(const struct fuse *f, const struct ox_node *n);

/* The fused node t carries two convs' epilogues: a's (activation kind ip[0], its floats
 * fp[0..1]; none when a is NULL) and b's (ip[1], fp[2..3]); every other ip / fp is 0. */
void fuse__two_epis(struct ox_node *t, const struct ox_node *a, const struct ox_node *b);
/* The fused node's inputs in model memory: vals[0..n) (-1: absent) and their names ("" when
 * absent). Returns 0, or -1 out of memory. */
int fuse__inputs(const struct fuse *f, const int *vals, int n, int **in, const char ***names);
/* fuse__index, then one(f, i) on every node i, adding its 1 (rewritten) or 0 to *count.
 * Returns 0, or -1 out of memory (also when one returns < 0). */
int fuse__each(struct fuse *f, int (*one)(struct fuse *f, int i), int *count);

/* fuse_mbconv.c: Conv 1x1 -> depthwise -> [Conv 1x1] -> InferdMBConv, counted into *count;
 * nothing when off has INFERD_ONNX_OPT_MBCONV. Returns 0 or -1 out of memory. */
int fuse__mbconv(struct fuse *f, unsigned off, int *count);

/* fuse_mbconv.c: the constant FP32 weights of n when it is a Conv 1x1, stride 1, unpadded,
 * ungrouped, its bias constant or absent, and (residual 0) no fused residual Add; else NULL. */
const struct ox_tensor *fuse__pointwise(const struct fuse *f, const struct ox_node *n, int residual);

/* fuse_se.c: GlobalAveragePool -> Conv 1x1 -> Conv 1x1 -> Mul -> InferdSE, counted into
 * *count; nothing when off has INFERD_ONNX_OPT_SE. Returns 0 or -1 out of memory. */
int fuse__se(struct fuse *f, unsigned off, int *count);

/* fuse_stemdw.c: first-layer Conv -> depthwise Conv -> InferdStemDw, counted into *count;
 * nothing when off has INFERD_ONNX_OPT_STEMDW. Returns 0 or -1 out of memory. */
int fuse__stemdw(struct fuse *f, unsigned off, int *count);

/* fuse_transformer.c: the transformer passes, each counting its rewrites. off: the
 * INFERD_ONNX_OPT_* bits switched off. Returns 0 or -1 out of memory. */
struct ox_fuse_report;
int fuse__transformer(struct fuse *f, unsigned off, struct ox_fuse_report *r);

#endif
