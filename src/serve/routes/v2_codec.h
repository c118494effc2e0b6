/* v2_codec.h — the KServe v2 / Triton inference request and response wire format, JSON
 * and the binary tensor extension.
 *
 * Request body with the binary extension (header Inference-Header-Content-Length: H):
 *
 *   offset 0        H                H+s0          H+s0+s1 ...
 *          +--------+----------------+-------------+----
 *          | JSON   | input i0 bytes | input i1 ...|
 *          +--------+----------------+-------------+----
 *
 * where each input carried in binary has "parameters":{"binary_data_size": s_i} and no
 * "data"; the binary parts follow in the order of the inputs array, little-endian,
 * row-major. A BYTES tensor's part is, per element, a 4-byte little-endian length and then
 * that many bytes (Triton's layout); in JSON its "data" is a list of strings. Responses use
 * the same layout for outputs asked for with "parameters":{"binary_data":true} (or
 * request-level "binary_data_output":true).
 *
 *   struct infer_req *q = infer_req_new();
 *   if (v2_parse_request(body, len, hdr_len, max_elems, q, &err) < 0) 400 err.msg;
 *   ... run ...
 *   long h = v2_write_response(&jb, "mlp", "1", q->id, outs, n);
 */
#ifndef INFERD_SERVE_V2_CODEC_H
#define INFERD_SERVE_V2_CODEC_H

#include "serve/sched/infer_req.h"
#include "base/json_write.h"

#include <stddef.h>

/* Parses a v2 infer request. header_len: value of Inference-Header-Content-Length, or -1
 * when absent (the whole body is JSON). max_elements caps each tensor (0 = none).
 * OUT: fills q (inputs with owned data). Returns 0 or EINVAL (malformed JSON, missing or
 * wrong-typed field), ETYPE, ESHAPE, ETOOLARGE, EUNSUPPORTED; err names the field. */
int v2_parse_request(const char *body, size_t len, long header_len, int64_t max_elements,
                     struct infer_req *q, struct inferd_err *err);

/* Writes a v2 response: JSON then the binary parts of outputs with binary set.
 * Returns the JSON header's length when some output is binary (the caller sends it as
 * Inference-Header-Content-Length), else -1. */
long v2_write_response(struct buf *b, const char *model, const char *version, const char *id,
                       const struct infer_tensor *outs, int n);

#endif
