/* fuzz_gguf.c — libFuzzer target for the GGUF reader: gguf_open_buffer on arbitrary bytes,
 * then a walk of every key/value (typed getters, array elements) and every tensor (lookup by
 * name, first and last data byte, the first block dequantized), so any out-of-bounds view
 * trips the sanitizers; every key/value is also copied raw into a writer (what `inferd pack
 * --quantize` does with the metadata of the model it re-writes). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "llm/gguf.h"
#include "llm/kernels/kernels.h"

#define WALK_MAX_ARRAY 4096 /* elements visited per array: keeps each input fast */

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gguf_file *g = NULL;
    struct inferd_err err = {0};
    if (gguf_open_buffer(data, size, &g, &err) < 0)
        return 0;
    sink += gguf_version(g) + (unsigned)gguf_alignment(g) + (unsigned)gguf_file_size(g);
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        char key[256];
        size_t kl = kv->key.len < sizeof key - 1 ? kv->key.len : sizeof key - 1;
        memcpy(key, kv->key.ptr, kl);
        key[kl] = 0;
        struct gguf_str s;
        uint32_t u;
        int64_t i64;
        float f;
        int b;
        if (gguf_get_str(g, key, &s) == 0 && s.len)
            sink += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
        if (gguf_get_u32(g, key, &u) == 0)
            sink += u;
        if (gguf_get_i64(g, key, &i64) == 0)
            sink += (unsigned)i64;
        if (gguf_get_f32(g, key, &f) == 0)
            sink += (unsigned)(f == f);
        if (gguf_get_bool(g, key, &b) == 0)
            sink += (unsigned)b;
        if (gguf_find_kv(g, key) == NULL)
            sink++;
        if (w && gguf_writer_copy_kv(w, g, kv) == 0)
            sink++;
        if (kv->type == GGUF_TYPE_ARRAY) {
            uint64_t n = kv->arr_n < WALK_MAX_ARRAY ? kv->arr_n : WALK_MAX_ARRAY;
            for (uint64_t j = 0; j < n; j++) {
                if (gguf_arr_str(g, kv, j, &s) == 0 && s.len)
                    sink += (unsigned char)s.ptr[s.len - 1];
                if (gguf_arr_i64(kv, j, &i64) == 0)
                    sink += (unsigned)i64;
                if (gguf_arr_f32(kv, j, &f) == 0)
                    sink += (unsigned)(f == f);
            }
            if (kv->arr_n && gguf_arr_str(g, kv, kv->arr_n - 1, &s) == 0 && s.len)
                sink += (unsigned char)s.ptr[0];
            gguf_arr_i64(kv, kv->arr_n, &i64); /* one past the end must be refused */
        }
    }
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor_info *t = gguf_tensor_at(g, i);
        char name[256];
        size_t nl = t->name.len < sizeof name - 1 ? t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, nl);
        name[nl] = 0;
        if (gguf_find_tensor(g, name) == NULL)
            sink++;
        sink += (unsigned)ggml_row_size(t->type, t->ne[0]) + (unsigned)ggml_type_block_bytes(t->type);
        if (t->nbytes) {
            const uint8_t *d = t->data;
            sink += d[0] + d[t->nbytes - 1];
        }
        const struct kern_type *k = kern_get_ref(t->type);
        int be = ggml_type_block_elems(t->type);
        if (k && k->dequant_row && be > 0 && be <= 256 && t->ne[0] >= be &&
            t->nbytes >= ggml_type_block_bytes(t->type)) {
            float out[256];
            k->dequant_row(t->data, out, be);
            sink += (unsigned)(out[0] == out[0]);
        }
    }
    if (w)
        sink += (unsigned)gguf_writer_size(w);
    gguf_writer_free(w);
    gguf_close(g);
    return 0;
}
