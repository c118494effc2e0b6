/* gguf.h — GGUF (v2, v3) model files: a bounds-checked reader over mmap and a writer.
 *
 * The reader validates everything at open (magic, version, counts against the file size,
 * every string and array length, tensor dims/types/offsets/alignment, no overlap past EOF)
 * so that later accessors cannot read out of bounds. Strings are borrowed views into the
 * mapping and are NOT NUL-terminated.
 *
 *   struct gguf_file *g; struct inferd_err err = {0};
 *   if (gguf_open("m.gguf", &g, &err) < 0) fprintf(stderr, "%s\n", err.msg);
 *   struct gguf_str arch; gguf_get_str(g, "general.architecture", &arch);
 *   const struct gguf_tensor_info *t = gguf_find_tensor(g, "token_embd.weight");
 *   gguf_close(g);
 *
 * File layout (little-endian):
 *   offset  size  field
 *   0       4     magic "GGUF"
 *   4       4     version (u32: 2 or 3)
 *   8       8     n_tensors (u64)
 *   16      8     n_kv (u64)
 *   24      ...   n_kv × { key: gguf string, type: u32, value }
 *           ...   n_tensors × { name: gguf string, n_dims: u32, ne[n_dims]: u64,
 *                               type: u32 (ggml_type), offset: u64 (from data start) }
 *           pad   to general.alignment (default 32)
 *           ...   tensor data
 *   gguf string = u64 length + bytes. array value = u32 elem type + u64 count + elems.
 */
#ifndef INFERD_GGUF_H
#define INFERD_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "inferd/err.h"

enum gguf_type {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12, GGUF_TYPE_COUNT
};

/* Tensor element types, numbered as ggml numbers them in files. */
enum ggml_type {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_IQ4_NL = 20, GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_BF16 = 30, GGML_TYPE_COUNT = 40
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

struct gguf_str {
    const char *ptr;   /* borrowed, not NUL-terminated */
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_type type;
    enum gguf_type arr_type;  /* element type when type == ARRAY */
    uint64_t arr_n;           /* element count when type == ARRAY */
    const void *data;         /* value (or first array element) inside the mapping */
};

struct gguf_tensor_info {
    struct gguf_str name;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* ne[0] is the contiguous (row) dimension; unused = 1 */
    enum ggml_type type;
    uint64_t offset;            /* from the start of the data section */
    const void *data;           /* inside the mapping, aligned */
    size_t nbytes;
};

struct gguf_file;

/* ---- element type traits (ggml block formats) ---- */
/* Elements per block (1 for F32/F16/BF16, 32 for Q4_0..Q8_0, 256 for K-quants); 0 if unknown. */
int ggml_type_block_elems(enum ggml_type t);
/* Bytes per block; 0 if unknown. */
size_t ggml_type_block_bytes(enum ggml_type t);
/* Bytes of a row of ne0 elements; 0 if ne0 is not a multiple of the block size. */
size_t ggml_row_size(enum ggml_type t, int64_t ne0);
/* "F32", "Q4_K"... or "unknown". */
const char *ggml_type_name(enum ggml_type t);

/* ---- reader ---- */
/* Maps and validates path. OUT: *out. Returns 0 or INFERD_EFORMAT/EIO/ENOMEM with a message
 * naming the offset and the field. */
int gguf_open(const char *path, struct gguf_file **out, struct inferd_err *err);
/* Same over a caller-owned buffer that must outlive the gguf_file (for fuzzing, tests). */
int gguf_open_buffer(const void *data, size_t size, struct gguf_file **out, struct inferd_err *err);
void gguf_close(struct gguf_file *g);

uint32_t gguf_version(const struct gguf_file *g);
size_t gguf_alignment(const struct gguf_file *g);
uint64_t gguf_file_size(const struct gguf_file *g);

uint64_t gguf_n_kv(const struct gguf_file *g);
const struct gguf_kv *gguf_kv_at(const struct gguf_file *g, uint64_t i);
/* NULL when absent. key is NUL-terminated. */
const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key);

/* Typed getters: 0 on success, INFERD_ENOTFOUND when absent, INFERD_ETYPE when the stored
 * type cannot convert (integers convert between widths when the value fits). */
int gguf_get_str(const struct gguf_file *g, const char *key, struct gguf_str *out);
int gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out);
int gguf_get_i64(const struct gguf_file *g, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf_file *g, const char *key, float *out);
int gguf_get_bool(const struct gguf_file *g, const char *key, int *out);

/* Arrays: element i of kv (which must be an ARRAY). String elements are O(1) after open. */
int gguf_arr_str(const struct gguf_file *g, const struct gguf_kv *kv, uint64_t i, struct gguf_str *out);
int gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out);   /* any integer type */
int gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out);     /* F32 or F64 */

uint64_t gguf_n_tensors(const struct gguf_file *g);
const struct gguf_tensor_info *gguf_tensor_at(const struct gguf_file *g, uint64_t i);
const struct gguf_tensor_info *gguf_find_tensor(const struct gguf_file *g, const char *name);

/* ---- writer ---- */
struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
/* Metadata setters copy key and value. Return 0 or INFERD_ENOMEM. */
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *val);
int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t val);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t val);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float val);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, int val);
int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *vals, uint64_t n);
int gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *vals, uint64_t n);
int gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *vals, uint64_t n);
/* Adds a tensor; data (nbytes = ggml_row_size(type, ne[0]) * rows) is borrowed until write. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum ggml_type type, int n_dims,
                           const int64_t *ne, const void *data);
/* Copies kv (of the open file g) with its key, type and value bytes unchanged (e.g. the
 * whole tokenizer of a model being re-quantized). Returns 0, INFERD_ENOMEM or EFORMAT. */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *g, const struct gguf_kv *kv);
/* Tensors added with data == NULL get their bytes at write time, one at a time, from
 * fn(ctx, i, dst, nbytes) (i: the order of adding; dst: a scratch buffer the writer owns),
 * which returns 0 or INFERD_E* (filling err) to abort the write. So a converted model is
 * never held whole in memory. */
typedef int (*gguf_fill_fn)(void *ctx, size_t i, void *dst, size_t nbytes, struct inferd_err *err);
void gguf_writer_set_fill(struct gguf_writer *w, gguf_fill_fn fn, void *ctx);
/* Bytes the file will take (header, metadata, padding, tensor data). */
uint64_t gguf_writer_size(const struct gguf_writer *w);
/* Writes version 3 to path via a temporary file, fsync and rename. Returns 0 or INFERD_E*. */
int gguf_writer_write(struct gguf_writer *w, const char *path, struct inferd_err *err);

#endif
