/* v2_codec.c — KServe v2 inference request parsing (JSON + binary extension) and
 * response writing. */
#include "serve/routes/v2_codec.h"

#include "serve/routes/tensor_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_name(const json_t *o, const char *field, char *dst, struct inferd_err *err)
{
    const json_t *n = json_object_get(o, "name");
    if (!json_is_string(n))
        return inferd_err_set(err, INFERD_EINVAL, "%s.name: missing or not a string", field);
    const char *s = json_string_value(n);
    if (strlen(s) == 0 || strlen(s) >= INFER_NAME_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "%s.name: empty or longer than %d bytes", field,
                              INFER_NAME_MAX - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* Reads "parameters".key as bool into *out (untouched when absent). */
static int get_bool_param(const json_t *o, const char *key, int *out, const char *field, struct inferd_err *err)
{
    const json_t *p = json_object_get(o, "parameters");
    if (!p)
        return 0;
    if (!json_is_object(p))
        return inferd_err_set(err, INFERD_EINVAL, "%s.parameters: not an object", field);
    const json_t *v = json_object_get(p, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return inferd_err_set(err, INFERD_EINVAL, "%s.parameters.%s: not a boolean", field, key);
    *out = json_is_true(v);
    return 0;
}

static int parse_input(const json_t *in, int idx, const char *bin, size_t bin_len, size_t *bin_pos,
                       int64_t max_elements, struct infer_tensor *t, struct inferd_err *err)
{
    char field[64];
    snprintf(field, sizeof field, "inputs[%d]", idx);
    if (!json_is_object(in))
        return inferd_err_set(err, INFERD_EINVAL, "%s: not an object", field);
    int rc = get_name(in, field, t->name, err);
    if (rc < 0)
        return rc;
    snprintf(field, sizeof field, "inputs['%.40s']", t->name);
    const json_t *dt = json_object_get(in, "datatype");
    if (!json_is_string(dt))
        return inferd_err_set(err, INFERD_EINVAL, "%s.datatype: missing or not a string", field);
    enum inferd_dtype dtype = inferd_dtype_from_v2_name(json_string_value(dt));
    if (dtype == INFERD_DTYPE_INVALID)
        return inferd_err_set(err, INFERD_ETYPE, "%s.datatype: unknown datatype '%s'", field,
                              json_string_value(dt));
    const json_t *shape = json_object_get(in, "shape");
    if (!json_is_array(shape))
        return inferd_err_set(err, INFERD_EINVAL, "%s.shape: missing or not a list", field);
    int rank = (int)json_array_size(shape);
    if (rank > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_ESHAPE, "%s.shape: rank %d is above %d", field, rank, INFERD_MAX_RANK);
    int64_t dims[INFERD_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        const json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "%s.shape[%d]: not a non-negative integer", field, i);
        dims[i] = (int64_t)json_integer_value(d);
    }
    const json_t *params = json_object_get(in, "parameters");
    const json_t *bsz = json_is_object(params) ? json_object_get(params, "binary_data_size") : NULL;
    if (params && !json_is_object(params))
        return inferd_err_set(err, INFERD_EINVAL, "%s.parameters: not an object", field);
    if (bsz) {
        if (!json_is_integer(bsz) || json_integer_value(bsz) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "%s.parameters.binary_data_size: not a non-negative integer", field);
        if (json_object_get(in, "data"))
            return inferd_err_set(err, INFERD_EINVAL, "%s: has both data and binary_data_size", field);
        if (!bin)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "%s.parameters.binary_data_size: set but the request has no binary part "
                                  "(header Inference-Header-Content-Length)", field);
        size_t sz = (size_t)json_integer_value(bsz);
        int64_t n;
        int nrc = tj_numel(rank, dims, max_elements, field, &n, err);
        if (nrc < 0)
            return nrc;
        size_t want = dtype == INFERD_BYTES ? sz : (size_t)n * inferd_dtype_size(dtype);
        if (sz != want)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "%s.parameters.binary_data_size: %zu bytes, but shape and datatype need %zu",
                                  field, sz, want);
        if (sz > bin_len - *bin_pos)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "%s.parameters.binary_data_size: %zu bytes, but only %zu binary bytes are left in the body",
                                  field, sz, bin_len - *bin_pos);
        void *data = malloc(sz ? sz : 1);
        if (!data)
            return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", field);
        memcpy(data, bin + *bin_pos, sz);
        *bin_pos += sz;
        if (dtype == INFERD_BYTES) { /* 4-byte little-endian length + bytes, per element */
            int64_t have = inferd_bytes_count(data, sz);
            if (have != n) {
                free(data);
                if (have < 0)
                    return inferd_err_set(err, INFERD_EINVAL,
                                          "%s.parameters.binary_data_size: BYTES data is malformed (a 4-byte length "
                                          "prefix runs past the %zu bytes)", field, sz);
                return inferd_err_set(err, INFERD_ESHAPE, "%s: binary BYTES data holds %lld strings, shape needs %lld",
                                      field, (long long)have, (long long)n);
            }
        }
        t->t.dtype = dtype;
        t->t.rank = rank;
        memcpy(t->t.dims, dims, sizeof(int64_t) * (size_t)rank);
        t->t.data = data;
        t->t.nbytes = sz;
        return 0;
    }
    const json_t *data = json_object_get(in, "data");
    if (!data)
        return inferd_err_set(err, INFERD_EINVAL, "%s.data: missing (and no binary_data_size)", field);
    char dfield[80];
    snprintf(dfield, sizeof dfield, "%s.data", field);
    if (!json_is_array(data) && rank > 0)
        return inferd_err_set(err, INFERD_EINVAL, "%s: not a list", dfield);
    /* Like Triton, any nesting is accepted as long as the flattened count matches. */
    rc = tj_from_json_flat(data, dtype, dims, rank, max_elements, dfield, &t->t, err);
    return rc;
}

int v2_parse_request(const char *body, size_t len, long header_len, int64_t max_elements,
                     struct infer_req *q, struct inferd_err *err)
{
    size_t jlen = len;
    const char *bin = NULL;
    size_t bin_len = 0, bin_pos = 0;
    if (header_len >= 0) {
        if ((size_t)header_len > len)
            return inferd_err_set(err, INFERD_EINVAL,
                                  "Inference-Header-Content-Length: %ld is larger than the body (%zu bytes)",
                                  header_len, len);
        jlen = (size_t)header_len;
        bin = body + jlen;
        bin_len = len - jlen;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, jlen, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!root)
        return inferd_err_set(err, INFERD_EINVAL, "request body: malformed JSON at line %d column %d: %s",
                              jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "request body: not a JSON object");
        goto fail;
    }
    const json_t *id = json_object_get(root, "id");
    if (id) {
        if (!json_is_string(id) || strlen(json_string_value(id)) >= INFER_NAME_MAX) {
            rc = inferd_err_set(err, INFERD_EINVAL, "id: not a string of at most %d bytes", INFER_NAME_MAX - 1);
            goto fail;
        }
        snprintf(q->id, sizeof q->id, "%s", json_string_value(id));
    }
    const json_t *params = json_object_get(root, "parameters");
    if (params) {
        if (!json_is_object(params)) {
            rc = inferd_err_set(err, INFERD_EINVAL, "parameters: not an object");
            goto fail;
        }
        const json_t *to = json_object_get(params, "timeout");
        if (to) {
            if (!json_is_integer(to) || json_integer_value(to) < 0) {
                rc = inferd_err_set(err, INFERD_EINVAL, "parameters.timeout: not a non-negative integer (microseconds)");
                goto fail;
            }
            q->timeout_us = (int64_t)json_integer_value(to);
        }
        rc = get_bool_param(root, "binary_data_output", &q->binary_default, "request", err);
        if (rc < 0)
            goto fail;
    }
    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) == 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "inputs: missing, empty or not a list");
        goto fail;
    }
    if (json_array_size(inputs) > INFER_MAX_TENSORS) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "inputs: more than %d tensors", INFER_MAX_TENSORS);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        rc = parse_input(json_array_get(inputs, i), (int)i, bin, bin_len, &bin_pos, max_elements,
                         &q->inputs[q->n_inputs], err);
        if (rc < 0)
            goto fail;
        q->n_inputs++;
    }
    if (bin && bin_pos != bin_len) {
        rc = inferd_err_set(err, INFERD_EINVAL,
                            "binary_data_size: the inputs account for %zu binary bytes but the body carries %zu",
                            bin_pos, bin_len);
        goto fail;
    }
    const json_t *outputs = json_object_get(root, "outputs");
    if (outputs) {
        if (!json_is_array(outputs)) {
            rc = inferd_err_set(err, INFERD_EINVAL, "outputs: not a list");
            goto fail;
        }
        if (json_array_size(outputs) > INFER_MAX_TENSORS) {
            rc = inferd_err_set(err, INFERD_ETOOLARGE, "outputs: more than %d entries", INFER_MAX_TENSORS);
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(outputs); i++) {
            const json_t *o = json_array_get(outputs, i);
            char field[32];
            snprintf(field, sizeof field, "outputs[%zu]", i);
            if (!json_is_object(o)) {
                rc = inferd_err_set(err, INFERD_EINVAL, "%s: not an object", field);
                goto fail;
            }
            struct infer_tensor *t = &q->outputs[q->n_outputs];
            rc = get_name(o, field, t->name, err);
            if (rc < 0)
                goto fail;
            t->binary = q->binary_default;
            rc = get_bool_param(o, "binary_data", &t->binary, field, err);
            if (rc < 0)
                goto fail;
            q->n_outputs++;
        }
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    for (int i = 0; i < q->n_inputs; i++) {
        free(q->inputs[i].t.data);
        q->inputs[i].t.data = NULL;
    }
    q->n_inputs = 0;
    return rc;
}

long v2_write_response(struct buf *b, const char *model, const char *version, const char *id,
                       const struct infer_tensor *outs, int n)
{
    int any_bin = 0;
    buf_puts(b, "{\"model_name\":");
    json_write_str(b, model);
    buf_puts(b, ",\"model_version\":");
    json_write_str(b, version);
    if (id && *id) {
        buf_puts(b, ",\"id\":");
        json_write_str(b, id);
    }
    buf_puts(b, ",\"outputs\":[");
    for (int i = 0; i < n; i++) {
        const struct infer_tensor *o = &outs[i];
        if (i)
            buf_putc(b, ',');
        buf_puts(b, "{\"name\":");
        json_write_str(b, o->name);
        buf_puts(b, ",\"datatype\":");
        json_write_str(b, inferd_dtype_v2_name(o->t.dtype));
        buf_puts(b, ",\"shape\":[");
        for (int d = 0; d < o->t.rank; d++) {
            if (d)
                buf_putc(b, ',');
            json_write_i64(b, o->t.dims[d]);
        }
        buf_putc(b, ']');
        if (o->binary) {
            any_bin = 1;
            buf_puts(b, ",\"parameters\":{\"binary_data_size\":");
            json_write_u64(b, o->t.nbytes);
            buf_puts(b, "}}");
        } else {
            buf_puts(b, ",\"data\":");
            tj_write(b, &o->t, 0, -1);
            buf_putc(b, '}');
        }
    }
    buf_puts(b, "]}");
    if (!any_bin)
        return -1;
    long hlen = (long)b->len;
    for (int i = 0; i < n; i++)
        if (outs[i].binary)
            buf_put(b, outs[i].t.data, outs[i].t.nbytes);
    return hlen;
}
