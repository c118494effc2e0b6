/* tensor_json.h — JSON values <-> tensors: nested lists (TF-Serving, /predict) or flat
 * lists with a shape (KServe v2), converted to and from every numeric dtype and BOOL.
 *
 *   struct inferd_tensor t;
 *   if (tj_from_json(val, INFERD_FP32, NULL, 0, max_elems, "input_data", &t, &err) < 0) ...
 *   tj_write(&jb, &t, 0, 1);   // nested lists
 *   free(t.data);
 */
#ifndef INFERD_SERVE_TENSOR_JSON_H
#define INFERD_SERVE_TENSOR_JSON_H

#include "inferd/err.h"
#include "inferd/tensor.h"
#include "base/json_write.h"

#include <jansson.h>

/* Shape of a nested JSON list (scalars have rank 0). Only the first element of each level
 * is looked at; rectangularity is checked when filling. Returns 0 or EINVAL/ESHAPE. */
int tj_shape(const json_t *v, int *rank, int64_t *dims, const char *field, struct inferd_err *err);

/* Builds a tensor of dtype from v. With shape (rank >= 0) given, v may be nested to that
 * shape or flat with exactly numel elements (v2); with rank < 0 the shape comes from the
 * nesting. OUT: *out with malloc'd data (caller frees out->data). field names the JSON
 * member in messages. Returns 0 or EINVAL (not numbers...), ETYPE (value out of the
 * dtype's range), ESHAPE (ragged or wrong count), ETOOLARGE (> max_elements),
 * EUNSUPPORTED (BYTES). */
int tj_from_json(const json_t *v, enum inferd_dtype dt, const int64_t *dims, int rank,
                 int64_t max_elements, const char *field, struct inferd_tensor *out,
                 struct inferd_err *err);

/* Builds a tensor of dtype and shape dims[0..rank) from v nested in any way (KServe v2 /
 * Triton: the scalars are taken in order, depth first, and only their count must equal the
 * shape's element count). BYTES takes JSON strings and builds the serialized form of
 * inferd/tensor.h. OUT: *out with malloc'd data (caller frees out->data). Returns 0
 * or ESHAPE (wrong count: the message gives both counts), EINVAL/ETYPE (an element that is
 * not a number of the dtype, by flat index), ETOOLARGE, EUNSUPPORTED. */
int tj_from_json_flat(const json_t *v, enum inferd_dtype dt, const int64_t *dims, int rank,
                      int64_t max_elements, const char *field, struct inferd_tensor *out,
                      struct inferd_err *err);

/* Writes t's elements: nested lists following the shape (nested=1) or one flat list
 * (BYTES elements as JSON strings).
 * With row >= 0 only element `row` along the first dim is written (TF-Serving rows);
 * a row past the first dim writes null. */
void tj_write(struct buf *b, const struct inferd_tensor *t, int nested, int64_t row);

/* Writes a model's outputs as TF-Serving and /predict answer them: one output as nested
 * lists, several as {"<names[i]>": nested lists, ...}. With squeeze, an output whose first
 * dim is 1 is written without that dim (its row 0). names[i] names t[i]; n >= 1. */
void tj_write_outputs(struct buf *b, const struct inferd_tensor *t, const char *const *names, int n, int squeeze);

/* The element count of a shape (OUT: *n), checked: a negative dimension is INFERD_ESHAPE,
 * a count past 64 bits or over max_elements (> 0) INFERD_ETOOLARGE, each naming field (and
 * the limit). Returns 0 or the error. */
int tj_numel(int rank, const int64_t *dims, int64_t max_elements, const char *field, int64_t *n,
             struct inferd_err *err);

/* Counts the scalars (numbers, true, false, null) in JSON text s[0..n) without building
 * anything, and refuses (INFERD_ETOOLARGE) a body holding more than max_values: a body
 * under --max-body-bytes but over the element limits is answered before jansson builds a
 * tree of it (about 60 bytes per value). Malformed text is left to the parser. */
int tj_prescan(const char *s, size_t n, int64_t max_values, struct inferd_err *err);

#endif
