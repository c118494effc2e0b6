/* tensor_json.c — conversion between JSON arrays and dense tensors. */
#include "serve/routes/tensor_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TJ_MAX_DEPTH INFERD_MAX_RANK

int tj_shape(const json_t *v, int *rank, int64_t *dims, const char *field, struct inferd_err *err)
{
    int r = 0;
    while (json_is_array(v)) {
        if (r >= INFERD_MAX_RANK)
            return inferd_err_set(err, INFERD_ESHAPE, "%s: nested deeper than %d levels", field, INFERD_MAX_RANK);
        dims[r++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0)
            break;
        v = json_array_get(v, 0);
    }
    *rank = r;
    return 0;
}


int tj_numel(int rank, const int64_t *dims, int64_t max_elements, const char *field, int64_t *n,
             struct inferd_err *err)
{
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0)
            return inferd_err_set(err, INFERD_ESHAPE, "%s: shape[%d] is negative (%lld)", field, i,
                                  (long long)dims[i]);
    *n = inferd_shape_numel(rank, dims);
    if (*n < 0)
        return inferd_err_set(err, INFERD_ETOOLARGE,
                              "%s.shape: more elements than 64 bits can count; the limit is %lld (--max-elements)", field,
                              (long long)max_elements);
    if (max_elements > 0 && *n > max_elements)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: %lld elements is more than the limit of %lld (--max-elements)",
                              field, (long long)*n, (long long)max_elements);
    return 0;
}

/* The opening of both converters: out emptied, dtype and rank checked. Returns 0 or the
 * error (rank < 0 = "infer the shape from the nesting" is allowed). */
static int begin(struct inferd_tensor *out, enum inferd_dtype dt, int rank, const char *field,
                 struct inferd_err *err)
{
    memset(out, 0, sizeof *out);
    if (dt == INFERD_BYTES || inferd_dtype_size(dt) == 0)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: datatype %s is not supported", field,
                              inferd_dtype_v2_name(dt));
    if (rank > INFERD_MAX_RANK)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: rank %d is above %d", field, rank, INFERD_MAX_RANK);
    return 0;
}

int tj_prescan(const char *s, size_t n, int64_t max_values, struct inferd_err *err)
{
    int64_t count = 0;
    int in_str = 0;
    char prev = ' ';
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++; /* the escaped character cannot end the string */
            else if (ch == '"')
                in_str = 0;
            prev = ch;
            continue;
        }
        if (ch == '"') {
            in_str = 1;
        } else if ((ch == '-' || (ch >= '0' && ch <= '9') || ch == 't' || ch == 'f' || ch == 'n') &&
                   (prev == '[' || prev == ',' || prev == ':' || prev == ' ' || prev == '\n' || prev == '\t' ||
                    prev == '\r')) {
            if (++count > max_values)
                return inferd_err_set(err, INFERD_ETOOLARGE,
                                      "request body: more than %lld values (--max-elements for each of the "
                                      "model's inputs); refused before parsing",
                                      (long long)max_values);
        }
        prev = ch;
    }
    return 0;
}

/* Stores one JSON scalar as element i of dtype dt at out. */
static int put_elem(const json_t *e, enum inferd_dtype dt, void *out, int64_t i, const char *field,
                    struct inferd_err *err)
{
    double d;
    if (dt == INFERD_BOOL) {
        if (json_is_boolean(e))
            ((uint8_t *)out)[i] = json_is_true(e);
        else if (json_is_integer(e) && (json_integer_value(e) == 0 || json_integer_value(e) == 1))
            ((uint8_t *)out)[i] = (uint8_t)json_integer_value(e);
        else
            return inferd_err_set(err, INFERD_ETYPE, "%s: element %lld is not a boolean (datatype BOOL)",
                                  field, (long long)i);
        return 0;
    }
    if (!json_is_number(e))
        return inferd_err_set(err, json_is_array(e) ? INFERD_ESHAPE : INFERD_ETYPE,
                              "%s: element %lld is not a number (datatype %s)", field, (long long)i,
                              inferd_dtype_v2_name(dt));
    if (dt == INFERD_FP32 || dt == INFERD_FP16 || dt == INFERD_BF16) {
        /* a value the datatype cannot hold would become inf and come back as null */
        d = json_number_value(e);
        double max = dt == INFERD_FP16 ? 65504.0 : 3.4028234663852886e38;
        if (fabs(d) > max)
            return inferd_err_set(err, INFERD_EINVAL, "%s: element %lld (%g) is out of range for datatype %s (|x| <= %g)",
                                  field, (long long)i, d, inferd_dtype_v2_name(dt), max);
    }
    switch (dt) {
    case INFERD_FP32: ((float *)out)[i] = (float)json_number_value(e); return 0;
    case INFERD_FP64: ((double *)out)[i] = json_number_value(e); return 0;
    case INFERD_FP16: ((uint16_t *)out)[i] = inferd_fp32_to_fp16((float)json_number_value(e)); return 0;
    case INFERD_BF16: ((uint16_t *)out)[i] = inferd_fp32_to_bf16((float)json_number_value(e)); return 0;
    default: break;
    }
    /* integer types: integral JSON numbers within range */
    int64_t v;
    if (json_is_integer(e)) {
        v = (int64_t)json_integer_value(e);
    } else {
        d = json_real_value(e);
        if (!(d == floor(d)) || fabs(d) > 9.2e18)
            return inferd_err_set(err, INFERD_ETYPE, "%s: element %lld (%g) is not an integer (datatype %s)",
                                  field, (long long)i, d, inferd_dtype_v2_name(dt));
        v = (int64_t)d;
    }
    int64_t lo, hi;
    switch (dt) {
    case INFERD_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case INFERD_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case INFERD_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case INFERD_UINT8: lo = 0, hi = UINT8_MAX; break;
    case INFERD_UINT16: lo = 0, hi = UINT16_MAX; break;
    case INFERD_UINT32: lo = 0, hi = UINT32_MAX; break;
    case INFERD_UINT64: lo = 0, hi = INT64_MAX; break;
    default: lo = INT64_MIN, hi = INT64_MAX; break;
    }
    if (v < lo || v > hi)
        return inferd_err_set(err, INFERD_ETYPE, "%s: element %lld (%lld) is out of range for %s", field,
                              (long long)i, (long long)v, inferd_dtype_v2_name(dt));
    switch (dt) {
    case INFERD_INT8: ((int8_t *)out)[i] = (int8_t)v; break;
    case INFERD_INT16: ((int16_t *)out)[i] = (int16_t)v; break;
    case INFERD_INT32: ((int32_t *)out)[i] = (int32_t)v; break;
    case INFERD_INT64: ((int64_t *)out)[i] = v; break;
    case INFERD_UINT8: ((uint8_t *)out)[i] = (uint8_t)v; break;
    case INFERD_UINT16: ((uint16_t *)out)[i] = (uint16_t)v; break;
    case INFERD_UINT32: ((uint32_t *)out)[i] = (uint32_t)v; break;
    case INFERD_UINT64: ((uint64_t *)out)[i] = (uint64_t)v; break;
    default: return inferd_err_set(err, INFERD_EUNSUPPORTED, "%s: datatype %s is not supported in JSON",
                                   field, inferd_dtype_v2_name(dt));
    }
    return 0;
}

/* Fills out from v, which must be nested exactly to dims[depth..rank). *pos counts elements. */
static int fill_nested(const json_t *v, int depth, int rank, const int64_t *dims, enum inferd_dtype dt,
                       void *out, int64_t *pos, const char *field, struct inferd_err *err)
{
    if (depth == rank) {
        if (json_is_array(v))
            return inferd_err_set(err, INFERD_ESHAPE, "%s: nested deeper than the shape (rank %d)", field, rank);
        int rc = put_elem(v, dt, out, *pos, field, err);
        (*pos)++;
        return rc;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != dims[depth])
        return inferd_err_set(err, INFERD_ESHAPE,
                              "%s: ragged or wrong nesting at depth %d (expected a list of %lld)", field,
                              depth, (long long)dims[depth]);
    for (size_t i = 0; i < json_array_size(v); i++) {
        int rc = fill_nested(json_array_get(v, i), depth + 1, rank, dims, dt, out, pos, field, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int tj_from_json(const json_t *v, enum inferd_dtype dt, const int64_t *dims, int rank,
                 int64_t max_elements, const char *field, struct inferd_tensor *out,
                 struct inferd_err *err)
{
    int brc = begin(out, dt, rank, field, err);
    if (brc < 0)
        return brc;
    int64_t shape[INFERD_MAX_RANK];
    int flat = 0;
    if (rank >= 0) {
        memcpy(shape, dims, sizeof(int64_t) * (size_t)rank);
    } else {
        int rc = tj_shape(v, &rank, shape, field, err);
        if (rc < 0)
            return rc;
    }
    int64_t n;
    int nrc = tj_numel(rank, shape, max_elements, field, &n, err);
    if (nrc < 0)
        return nrc;
    /* v2 allows flat data: a list of exactly numel scalars whatever the rank. */
    if (rank != 1 && json_is_array(v) && (int64_t)json_array_size(v) == n &&
        (n == 0 || !json_is_array(json_array_get(v, 0))))
        flat = 1;
    size_t esz = inferd_dtype_size(dt);
    void *data = malloc(n > 0 ? (size_t)n * esz : 1);
    if (!data)
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory for %lld elements", field, (long long)n);
    int64_t pos = 0;
    int rc;
    if (flat) {
        int64_t one = n;
        rc = fill_nested(v, 0, 1, &one, dt, data, &pos, field, err);
    } else {
        rc = fill_nested(v, 0, rank, shape, dt, data, &pos, field, err);
    }
    if (rc < 0) {
        free(data);
        return rc;
    }
    out->dtype = dt;
    out->rank = rank;
    memcpy(out->dims, shape, sizeof(int64_t) * (size_t)rank);
    out->data = data;
    out->nbytes = (size_t)n * esz;
    return 0;
}

/* Counts the scalars under v, any nesting (at most TJ_FLAT_DEPTH levels). */
#define TJ_FLAT_DEPTH 32
static int count_leaves(const json_t *v, int depth, int64_t *n, const char *field, struct inferd_err *err)
{
    if (!json_is_array(v)) {
        (*n)++;
        return 0;
    }
    if (depth >= TJ_FLAT_DEPTH)
        return inferd_err_set(err, INFERD_ESHAPE, "%s: lists nested deeper than %d levels", field, TJ_FLAT_DEPTH);
    for (size_t i = 0; i < json_array_size(v); i++) {
        int rc = count_leaves(json_array_get(v, i), depth + 1, n, field, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int fill_any(const json_t *v, enum inferd_dtype dt, void *out, int64_t *pos, const char *field,
                    struct inferd_err *err)
{
    if (!json_is_array(v)) {
        int rc = put_elem(v, dt, out, *pos, field, err);
        (*pos)++;
        return rc;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        int rc = fill_any(json_array_get(v, i), dt, out, pos, field, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Sums the serialized size of the strings under v (4-byte length + bytes each); an element
 * that is not a string is ETYPE naming its flat index. */
static int bytes_size(const json_t *v, int64_t *pos, size_t *total, const char *field, struct inferd_err *err)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int rc = bytes_size(json_array_get(v, i), pos, total, field, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_string(v))
        return inferd_err_set(err, INFERD_ETYPE, "%s: element %lld is not a string (datatype BYTES)", field,
                              (long long)*pos);
    if (json_string_length(v) > UINT32_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: element %lld is over 4 GiB", field, (long long)*pos);
    (*pos)++;
    *total += 4 + json_string_length(v);
    return 0;
}

static void bytes_fill(const json_t *v, unsigned char **at)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            bytes_fill(json_array_get(v, i), at);
        return;
    }
    uint32_t len = (uint32_t)json_string_length(v);
    unsigned char *d = *at;
    d[0] = (unsigned char)len, d[1] = (unsigned char)(len >> 8), d[2] = (unsigned char)(len >> 16);
    d[3] = (unsigned char)(len >> 24);
    memcpy(d + 4, json_string_value(v), len);
    *at += 4 + len;
}

int tj_from_json_flat(const json_t *v, enum inferd_dtype dt, const int64_t *dims, int rank,
                      int64_t max_elements, const char *field, struct inferd_tensor *out,
                      struct inferd_err *err)
{
    if (dt == INFERD_BYTES && rank >= 0 && rank <= INFERD_MAX_RANK) {
        memset(out, 0, sizeof *out);
        int64_t n = 0, have = 0, pos = 0;
        size_t total = 0;
        int rc = tj_numel(rank, dims, max_elements, field, &n, err);
        if (rc < 0 || (rc = count_leaves(v, 0, &have, field, err)) < 0)
            return rc;
        if (have != n) {
            char sb[96];
            return inferd_err_set(err, INFERD_ESHAPE, "%s: holds %lld elements, but shape %s needs %lld elements",
                                  field, (long long)have, inferd_shape_str(rank, dims, sb, sizeof sb), (long long)n);
        }
        if ((rc = bytes_size(v, &pos, &total, field, err)) < 0)
            return rc;
        unsigned char *data = malloc(total ? total : 1), *at = data;
        if (!data)
            return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory for %zu bytes of strings", field, total);
        bytes_fill(v, &at);
        out->dtype = dt;
        out->rank = rank;
        memcpy(out->dims, dims, sizeof(int64_t) * (size_t)rank);
        out->data = data;
        out->nbytes = total;
        return 0;
    }
    int brc = rank < 0 ? inferd_err_set(err, INFERD_ESHAPE, "%s: rank %d is negative", field, rank)
                       : begin(out, dt, rank, field, err);
    if (brc < 0)
        return brc;
    int64_t n;
    int nrc = tj_numel(rank, dims, max_elements, field, &n, err);
    if (nrc < 0)
        return nrc;
    int64_t have = 0;
    int rc = count_leaves(v, 0, &have, field, err);
    if (rc < 0)
        return rc;
    if (have != n) {
        char sb[96];
        return inferd_err_set(err, INFERD_ESHAPE, "%s: holds %lld elements, but shape %s needs %lld elements", field,
                              (long long)have, inferd_shape_str(rank, dims, sb, sizeof sb), (long long)n);
    }
    size_t esz = inferd_dtype_size(dt);
    void *data = malloc(n > 0 ? (size_t)n * esz : 1);
    if (!data)
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory for %lld elements", field, (long long)n);
    int64_t pos = 0;
    if ((rc = fill_any(v, dt, data, &pos, field, err)) < 0) {
        free(data);
        return rc;
    }
    out->dtype = dt;
    out->rank = rank;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)rank);
    out->data = data;
    out->nbytes = (size_t)n * esz;
    return 0;
}

static void write_elem(struct buf *b, const struct inferd_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case INFERD_FP32: json_write_f32(b, ((const float *)p)[i]); break;
    case INFERD_FP64: json_write_f64(b, ((const double *)p)[i]); break;
    case INFERD_FP16: json_write_f32(b, inferd_fp16_to_fp32(((const uint16_t *)p)[i])); break;
    case INFERD_BF16: json_write_f32(b, inferd_bf16_to_fp32(((const uint16_t *)p)[i])); break;
    case INFERD_INT8: json_write_i64(b, ((const int8_t *)p)[i]); break;
    case INFERD_INT16: json_write_i64(b, ((const int16_t *)p)[i]); break;
    case INFERD_INT32: json_write_i64(b, ((const int32_t *)p)[i]); break;
    case INFERD_INT64: json_write_i64(b, ((const int64_t *)p)[i]); break;
    case INFERD_UINT8: json_write_i64(b, ((const uint8_t *)p)[i]); break;
    case INFERD_UINT16: json_write_i64(b, ((const uint16_t *)p)[i]); break;
    case INFERD_UINT32: json_write_i64(b, ((const uint32_t *)p)[i]); break;
    case INFERD_UINT64: json_write_u64(b, ((const uint64_t *)p)[i]); break;
    case INFERD_BOOL: buf_puts(b, ((const uint8_t *)p)[i] ? "true" : "false"); break;
    default: buf_puts(b, "null"); break;
    }
}

/* A BYTES element at *cur (serialized, see inferd/tensor.h) as a JSON string; *cur moves
 * past it. end bounds the walk: malformed data writes null instead of reading past it. */
static void write_bytes_elem(struct buf *b, const unsigned char **cur, const unsigned char *end)
{
    const unsigned char *p = *cur;
    if (end - p < 4) {
        buf_puts(b, "null");
        return;
    }
    uint32_t len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if (len > (size_t)(end - p) - 4) {
        buf_puts(b, "null");
        *cur = end;
        return;
    }
    json_write_strn(b, (const char *)p + 4, len);
    *cur = p + 4 + len;
}

/* Element writer state: numeric tensors index by position, BYTES walk a cursor. */
struct tj_cursor {
    const unsigned char *cur, *end;
};

static void write_any(struct buf *b, const struct inferd_tensor *t, int64_t i, struct tj_cursor *c)
{
    if (t->dtype == INFERD_BYTES)
        write_bytes_elem(b, &c->cur, c->end);
    else
        write_elem(b, t, i);
}

static void write_rec(struct buf *b, const struct inferd_tensor *t, int depth, int64_t *pos, struct tj_cursor *c)
{
    if (depth == t->rank) {
        write_any(b, t, (*pos)++, c);
        return;
    }
    buf_putc(b, '[');
    for (int64_t i = 0; i < t->dims[depth]; i++) {
        if (i)
            buf_putc(b, ',');
        write_rec(b, t, depth + 1, pos, c);
    }
    buf_putc(b, ']');
}

void tj_write(struct buf *b, const struct inferd_tensor *t, int nested, int64_t row)
{
    int64_t n = inferd_tensor_numel(t);
    if (n < 0 || !t->data) {
        buf_puts(b, "[]");
        return;
    }
    if (row >= 0 && t->rank >= 1 && row >= t->dims[0]) {
        buf_puts(b, "null"); /* no such row */
        return;
    }
    struct tj_cursor c = {t->data, (const unsigned char *)t->data + t->nbytes};
    if (row >= 0 && t->rank >= 1) {
        struct inferd_tensor sub = *t;
        sub.rank = t->rank - 1;
        memmove(sub.dims, t->dims + 1, sizeof(int64_t) * (size_t)sub.rank);
        int64_t per = inferd_shape_numel(sub.rank, sub.dims);
        if (t->dtype == INFERD_BYTES)
            c.cur += inferd_bytes_offset(t->data, t->nbytes, row * per);
        else
            sub.data = (char *)t->data + (size_t)(row * per) * inferd_dtype_size(t->dtype);
        int64_t pos = 0;
        write_rec(b, &sub, 0, &pos, &c);
        return;
    }
    if (nested) {
        int64_t pos = 0;
        write_rec(b, t, 0, &pos, &c);
        return;
    }
    buf_putc(b, '[');
    for (int64_t i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        write_any(b, t, i, &c);
    }
    buf_putc(b, ']');
}

void tj_write_outputs(struct buf *b, const struct inferd_tensor *t, const char *const *names, int n, int squeeze)
{
    if (n == 1) {
        tj_write(b, &t[0], 1, squeeze && t[0].rank >= 1 && t[0].dims[0] == 1 ? 0 : -1);
        return;
    }
    buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        json_write_str(b, names[i]);
        buf_putc(b, ':');
        tj_write(b, &t[i], 1, squeeze && t[i].rank >= 1 && t[i].dims[0] == 1 ? 0 : -1);
    }
    buf_putc(b, '}');
}
