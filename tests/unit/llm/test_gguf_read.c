/* test_gguf_read.c — the GGUF reader on hand-built, truncated, corrupt and real files. */
#include "check.h"
#include "llm/gguf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a tiny in-memory GGUF builder ---- */

struct buf {
    unsigned char d[8192];
    size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > sizeof b->d)
        abort();
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void pad_to(struct buf *b, size_t a)
{
    while (b->n % a)
        b->d[b->n++] = 0;
}

/* Offsets of interesting fields in the built file, for targeted corruption. */
struct layout {
    size_t off_kv_u32_type;   /* type field of "test.u32" */
    size_t off_str_len;       /* length of the "general.architecture" value */
    size_t off_arr_count;     /* count of the tokens array */
    size_t off_t0_ndims;      /* n_dims of tensor 0 */
    size_t off_t0_ne0;
    size_t off_t0_type;
    size_t off_t1_offset;
    size_t data_start;
};

/* Builds a valid v3 file: 8 kvs (optionally general.alignment = align), two tensors:
 *   "a" F32 [3, 2] at 0 (values 0..5), "b" Q8_0 [32, 2] at the next aligned offset.
 * The file ends exactly where tensor b's data ends. */
static void build(struct buf *b, struct layout *L, uint32_t align)
{
    b->n = 0;
    uint64_t n_kv = align ? 9 : 8;
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 2);
    put_u64(b, n_kv);
    put_str(b, "general.architecture");
    put_u32(b, GGUF_TYPE_STRING);
    L->off_str_len = b->n;
    put_str(b, "llama");
    put_str(b, "test.u32");
    L->off_kv_u32_type = b->n;
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, 4000000000u);
    put_str(b, "test.i8");
    put_u32(b, GGUF_TYPE_INT8);
    int8_t m = -5;
    put(b, &m, 1);
    put_str(b, "test.f32");
    put_u32(b, GGUF_TYPE_FLOAT32);
    float f = 1.5f;
    put(b, &f, 4);
    put_str(b, "test.bool");
    put_u32(b, GGUF_TYPE_BOOL);
    uint8_t t = 1;
    put(b, &t, 1);
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    L->off_arr_count = b->n;
    put_u64(b, 4);
    put_str(b, "<s>");
    put_str(b, "");
    put_str(b, "hello");
    put_str(b, "\xe2\x96\x81world");
    put_str(b, "tokenizer.ggml.scores");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_FLOAT32);
    put_u64(b, 3);
    float sc[3] = {0.f, -1.f, -2.5f};
    put(b, sc, sizeof sc);
    put_str(b, "test.i16arr");
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_INT16);
    put_u64(b, 2);
    int16_t ia[2] = {-7, 300};
    put(b, ia, sizeof ia);
    if (align) {
        put_str(b, "general.alignment");
        put_u32(b, GGUF_TYPE_UINT32);
        put_u32(b, align);
    }
    size_t A = align ? align : 32;
    /* tensor a */
    put_str(b, "a");
    L->off_t0_ndims = b->n;
    put_u32(b, 2);
    L->off_t0_ne0 = b->n;
    put_u64(b, 3);
    put_u64(b, 2);
    L->off_t0_type = b->n;
    put_u32(b, GGML_TYPE_F32);
    put_u64(b, 0);
    /* tensor b: after a's 24 bytes, aligned */
    size_t off_b = (24 + A - 1) / A * A;
    put_str(b, "b");
    put_u32(b, 2);
    put_u64(b, 32);
    put_u64(b, 2);
    put_u32(b, GGML_TYPE_Q8_0);
    L->off_t1_offset = b->n;
    put_u64(b, off_b);
    pad_to(b, A);
    L->data_start = b->n;
    float av[6] = {0, 1, 2, 3, 4, 5};
    put(b, av, sizeof av);
    while (b->n < L->data_start + off_b)
        b->d[b->n++] = 0xee;
    for (int i = 0; i < 68; i++)
        b->d[b->n++] = (unsigned char)i;
}

static int open_buf(const struct buf *b, size_t n, struct gguf_file **g, struct inferd_err *err)
{
    memset(err, 0, sizeof *err);
    return gguf_open_buffer(b->d, n, g, err);
}

static void test_valid(uint32_t align)
{
    struct buf b;
    struct layout L;
    build(&b, &L, align);
    struct gguf_file *g = NULL;
    struct inferd_err err;
    int rc = open_buf(&b, b.n, &g, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "open: %s\n", err.msg);
        return;
    }
    CHECK(gguf_version(g) == 3);
    CHECK(gguf_alignment(g) == (align ? align : 32));
    CHECK(gguf_n_kv(g) == (align ? 9u : 8u));
    CHECK(gguf_n_tensors(g) == 2);
    CHECK(gguf_file_size(g) == b.n);
    struct gguf_str s;
    CHECK(gguf_get_str(g, "general.architecture", &s) == 0 && s.len == 5 && memcmp(s.ptr, "llama", 5) == 0);
    CHECK(gguf_get_str(g, "test.u32", &s) == INFERD_ETYPE);
    CHECK(gguf_get_str(g, "nope", &s) == INFERD_ENOTFOUND);
    uint32_t u;
    int64_t i64;
    CHECK(gguf_get_u32(g, "test.u32", &u) == 0 && u == 4000000000u);
    CHECK(gguf_get_i64(g, "test.u32", &i64) == 0 && i64 == 4000000000);
    CHECK(gguf_get_i64(g, "test.i8", &i64) == 0 && i64 == -5);
    CHECK(gguf_get_u32(g, "test.i8", &u) == INFERD_ETYPE);  /* negative does not fit */
    float f;
    CHECK(gguf_get_f32(g, "test.f32", &f) == 0 && f == 1.5f);
    CHECK(gguf_get_f32(g, "test.u32", &f) == INFERD_ETYPE);
    int bo = 0;
    CHECK(gguf_get_bool(g, "test.bool", &bo) == 0 && bo == 1);

    const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING && kv->arr_n == 4);
    if (kv) {
        CHECK(gguf_arr_str(g, kv, 0, &s) == 0 && s.len == 3 && memcmp(s.ptr, "<s>", 3) == 0);
        CHECK(gguf_arr_str(g, kv, 1, &s) == 0 && s.len == 0);
        CHECK(gguf_arr_str(g, kv, 3, &s) == 0 && s.len == 8 && memcmp(s.ptr, "\xe2\x96\x81world", 8) == 0);
        CHECK(gguf_arr_str(g, kv, 2, &s) == 0 && s.len == 5 && memcmp(s.ptr, "hello", 5) == 0);
        CHECK(gguf_arr_str(g, kv, 4, &s) == INFERD_ENOTFOUND);
        CHECK(gguf_arr_f32(kv, 0, &f) == INFERD_ETYPE);
    }
    kv = gguf_find_kv(g, "tokenizer.ggml.scores");
    CHECK(kv && gguf_arr_f32(kv, 2, &f) == 0 && f == -2.5f);
    CHECK(kv && gguf_arr_i64(kv, 0, &i64) == INFERD_ETYPE);
    CHECK(kv && gguf_arr_str(g, kv, 0, &s) == INFERD_ETYPE);
    kv = gguf_find_kv(g, "test.i16arr");
    CHECK(kv && gguf_arr_i64(kv, 0, &i64) == 0 && i64 == -7);
    CHECK(kv && gguf_arr_i64(kv, 1, &i64) == 0 && i64 == 300);
    CHECK(kv && gguf_arr_i64(kv, 2, &i64) == INFERD_ENOTFOUND);
    CHECK(gguf_kv_at(g, 0) && gguf_kv_at(g, 0)->key.len == strlen("general.architecture"));
    CHECK(gguf_kv_at(g, 99) == NULL);

    const struct gguf_tensor_info *ta = gguf_find_tensor(g, "a"), *tb = gguf_find_tensor(g, "b");
    CHECK(gguf_find_tensor(g, "c") == NULL);
    CHECK(ta && ta == gguf_tensor_at(g, 0) && tb == gguf_tensor_at(g, 1));
    if (ta && tb) {
        CHECK(ta->n_dims == 2 && ta->ne[0] == 3 && ta->ne[1] == 2 && ta->ne[2] == 1 && ta->ne[3] == 1);
        CHECK(ta->type == GGML_TYPE_F32 && ta->nbytes == 24);
        CHECK((const unsigned char *)ta->data == b.d + L.data_start);
        float v;
        memcpy(&v, (const char *)ta->data + 20, 4);
        CHECK(v == 5.f);
        CHECK(tb->type == GGML_TYPE_Q8_0 && tb->nbytes == 68);
        CHECK(tb->offset % gguf_alignment(g) == 0);
        CHECK(((const unsigned char *)tb->data)[67] == 67);
        CHECK((const unsigned char *)tb->data + tb->nbytes == b.d + b.n);
    }
    gguf_close(g);
}

/* Every prefix of a valid file fails cleanly with EFORMAT. */
static void test_truncations(void)
{
    struct buf b;
    struct layout L;
    build(&b, &L, 0);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        struct gguf_file *g = NULL;
        struct inferd_err err;
        int rc = open_buf(&b, n, &g, &err);
        if (rc != INFERD_EFORMAT || g != NULL || strstr(err.msg, "gguf") == NULL) {
            fprintf(stderr, "prefix %zu: rc %d (%s)\n", n, rc, err.msg);
            bad++;
            gguf_close(g);
        }
    }
    CHECK(bad == 0);
}

/* Patches 4 or 8 bytes at off and expects open to fail with code and msg containing what. */
static void expect_bad(const struct buf *orig, size_t off, uint64_t val, size_t width, int code, const char *what)
{
    struct buf b = *orig;
    memcpy(b.d + off, &val, width);
    struct gguf_file *g = NULL;
    struct inferd_err err;
    int rc = open_buf(&b, b.n, &g, &err);
    CHECK(rc == code);
    CHECK(g == NULL);
    if (rc != code || !strstr(err.msg, what))
        fprintf(stderr, "corrupt @%zu=%llu: rc %d, msg '%s' (want '%s')\n", off, (unsigned long long)val, rc,
                err.msg, what);
    CHECK(strstr(err.msg, what) != NULL);
    gguf_close(g);
}

static void test_corrupt(void)
{
    struct buf b;
    struct layout L;
    build(&b, &L, 0);
    expect_bad(&b, 0, 0x46554747u ^ 1, 4, INFERD_EFORMAT, "magic");
    expect_bad(&b, 4, 1, 4, INFERD_EUNSUPPORTED, "v1");
    expect_bad(&b, 4, 4, 4, INFERD_EFORMAT, "version");
    expect_bad(&b, 4, 3u << 24, 4, INFERD_EUNSUPPORTED, "big-endian");
    expect_bad(&b, 8, 1ull << 40, 8, INFERD_EFORMAT, "n_tensors");
    expect_bad(&b, 16, UINT64_MAX, 8, INFERD_EFORMAT, "n_kv");
    expect_bad(&b, 24, UINT64_MAX - 3, 8, INFERD_EFORMAT, "string length");
    expect_bad(&b, L.off_str_len, 1ull << 62, 8, INFERD_EFORMAT, "string length");
    expect_bad(&b, L.off_kv_u32_type, 77, 4, INFERD_EFORMAT, "unknown value type");
    expect_bad(&b, L.off_arr_count - 4, GGUF_TYPE_ARRAY, 4, INFERD_EFORMAT, "array element type");
    expect_bad(&b, L.off_arr_count, UINT64_MAX / 2, 8, INFERD_EFORMAT, "string array count");
    expect_bad(&b, L.off_t0_ndims, 5, 4, INFERD_EFORMAT, "n_dims");
    expect_bad(&b, L.off_t0_ne0, 0, 8, INFERD_EFORMAT, "ne[0]");
    expect_bad(&b, L.off_t0_ne0, 1ull << 62, 8, INFERD_EFORMAT, "overflows");
    expect_bad(&b, L.off_t0_ne0, 1ull << 60, 8, INFERD_EFORMAT, "past the end");
    expect_bad(&b, L.off_t0_type, 4, 4, INFERD_EFORMAT, "unknown ggml type");
    expect_bad(&b, L.off_t0_type, 1000, 4, INFERD_EFORMAT, "unknown ggml type");
    expect_bad(&b, L.off_t0_type, GGML_TYPE_Q4_0, 4, INFERD_EFORMAT, "block");
    expect_bad(&b, L.off_t1_offset, 33, 8, INFERD_EFORMAT, "alignment");
    expect_bad(&b, L.off_t1_offset, 64, 8, INFERD_EFORMAT, "past the end");
    expect_bad(&b, L.off_t1_offset, UINT64_MAX - 31, 8, INFERD_EFORMAT, "past the end");
    /* duplicate key: rename "test.i8" to "test.u32" is not possible in place (length), so
     * rename tensor "b" to "a". */
    struct buf d = b;
    size_t nb = L.off_t0_type + 4 + 8;  /* tensor b's name: u64 len then "b" */
    CHECK(d.d[nb + 8] == 'b');
    d.d[nb + 8] = 'a';
    struct gguf_file *g = NULL;
    struct inferd_err err;
    CHECK(open_buf(&d, d.n, &g, &err) == INFERD_EFORMAT && strstr(err.msg, "duplicated"));
    gguf_close(g);

    /* bad alignment values */
    struct buf a;
    build(&a, &L, 64);
    test_valid(64);
    size_t off_align_val = L.off_t0_ndims - 9 - 4;  /* before tensor a's name (8 + 1 bytes) */
    uint32_t av;
    memcpy(&av, a.d + off_align_val, 4);
    CHECK(av == 64);
    expect_bad(&a, off_align_val, 3, 4, INFERD_EFORMAT, "general.alignment");
    expect_bad(&a, off_align_val, 0, 4, INFERD_EFORMAT, "general.alignment");
    expect_bad(&a, off_align_val - 4, GGUF_TYPE_FLOAT32, 4, INFERD_EFORMAT, "general.alignment");
}

/* Integer conversions of the typed getters, version 2, no tensors, v1 refused by gguf_open. */
static void test_getters(void)
{
    struct buf b = {.n = 0};
    put(&b, "GGUF", 4);
    put_u32(&b, 2);
    put_u64(&b, 0);
    put_u64(&b, 6);
    put_str(&b, "u64.big");
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, UINT64_MAX);
    put_str(&b, "i64.neg");
    put_u32(&b, GGUF_TYPE_INT64);
    put_u64(&b, (uint64_t)-3);
    put_str(&b, "u16");
    put_u32(&b, GGUF_TYPE_UINT16);
    uint16_t v16 = 65535;
    put(&b, &v16, 2);
    put_str(&b, "f64");
    put_u32(&b, GGUF_TYPE_FLOAT64);
    double d = 0.25;
    put(&b, &d, 8);
    put_str(&b, "u32.5e9");
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, 5000000000ull);
    put_str(&b, "arr.f64");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_FLOAT64);
    put_u64(&b, 1);
    put(&b, &d, 8);
    struct gguf_file *g = NULL;
    struct inferd_err err;
    CHECK(open_buf(&b, b.n, &g, &err) == 0);
    if (!g)
        return;
    CHECK(gguf_version(g) == 2 && gguf_n_tensors(g) == 0 && gguf_alignment(g) == 32);
    uint32_t u;
    int64_t i;
    float f;
    int bo;
    CHECK(gguf_get_i64(g, "u64.big", &i) == INFERD_ETYPE);
    CHECK(gguf_get_u32(g, "u64.big", &u) == INFERD_ETYPE);
    CHECK(gguf_get_bool(g, "u64.big", &bo) == 0 && bo == 1);
    CHECK(gguf_get_i64(g, "i64.neg", &i) == 0 && i == -3);
    CHECK(gguf_get_u32(g, "i64.neg", &u) == INFERD_ETYPE);
    CHECK(gguf_get_u32(g, "u16", &u) == 0 && u == 65535);
    CHECK(gguf_get_u32(g, "u32.5e9", &u) == INFERD_ETYPE);
    CHECK(gguf_get_i64(g, "u32.5e9", &i) == 0 && i == 5000000000ll);
    CHECK(gguf_get_f32(g, "f64", &f) == 0 && f == 0.25f);
    CHECK(gguf_get_f32(g, "u16", &f) == INFERD_ETYPE);
    CHECK(gguf_get_u32(g, "f64", &u) == INFERD_ETYPE);
    const struct gguf_kv *kv = gguf_find_kv(g, "arr.f64");
    CHECK(kv && gguf_arr_f32(kv, 0, &f) == 0 && f == 0.25f);
    CHECK(kv && gguf_arr_f32(kv, 1, &f) == INFERD_ENOTFOUND);
    CHECK(gguf_find_kv(g, "u16") == gguf_kv_at(g, 2));
    CHECK(gguf_find_tensor(g, "x") == NULL && gguf_tensor_at(g, 0) == NULL);
    gguf_close(g);
    /* v1 through the file path: EUNSUPPORTED with the path in the message */
    char path[64];
    snprintf(path, sizeof path, "/tmp/inferd_gguf_v1_%d.gguf", (int)getpid());
    b.d[4] = 1;
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        fwrite(b.d, 1, b.n, fp);
        fclose(fp);
        memset(&err, 0, sizeof err);
        CHECK(gguf_open(path, &g, &err) == INFERD_EUNSUPPORTED && g == NULL && strstr(err.msg, path));
        unlink(path);
    }
}

static void test_open_errors(void)
{
    struct gguf_file *g = NULL;
    struct inferd_err err = {0};
    CHECK(gguf_open("/nonexistent/x.gguf", &g, &err) == INFERD_ENOTFOUND && g == NULL);
    CHECK(strstr(err.msg, "/nonexistent/x.gguf") != NULL);
    CHECK(gguf_open("/", &g, &err) < 0 && g == NULL);
    gguf_close(NULL);
}

static void test_real(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", check_shared_path("llm/aidreams260K.gguf"));
    struct gguf_file *g = NULL;
    struct inferd_err err = {0};
    int rc = gguf_open(path, &g, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(gguf_version(g) == 3 && gguf_n_tensors(g) == 39 && gguf_n_kv(g) == 19);
        const struct gguf_tensor_info *t = gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->type == GGML_TYPE_F32 && t->ne[0] == 64 && t->ne[1] == 512 && t->nbytes == 64 * 512 * 4);
        const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
        struct gguf_str s;
        CHECK(kv && kv->arr_n == 512);
        CHECK(kv && gguf_arr_str(g, kv, 1, &s) == 0 && s.len == 3 && memcmp(s.ptr, "<s>", 3) == 0);
        CHECK(kv && gguf_arr_str(g, kv, 3, &s) == 0 && s.len == 6 && memcmp(s.ptr, "<0x00>", 6) == 0);
        CHECK(gguf_get_str(g, "general.architecture", &s) == 0 && s.len == 5 && !memcmp(s.ptr, "llama", 5));
        uint32_t u;
        CHECK(gguf_get_u32(g, "llama.block_count", &u) == 0 && u == 4);
        for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
            const struct gguf_tensor_info *ti = gguf_tensor_at(g, i);
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)ti->name.len, ti->name.ptr);
            CHECK(gguf_find_tensor(g, name) == ti);
        }
        gguf_close(g);
    }
    snprintf(path, sizeof path, "%s", check_shared_path("llm/llama-2-tiny-random.gguf"));
    rc = gguf_open(path, &g, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(gguf_n_tensors(g) == 12 && gguf_n_kv(g) == 18);
        int n_f16 = 0;
        for (uint64_t i = 0; i < gguf_n_tensors(g); i++)
            n_f16 += gguf_tensor_at(g, i)->type == GGML_TYPE_F16;
        CHECK(n_f16 == 9);
        const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
        CHECK(kv && kv->arr_n == 32000);
        gguf_close(g);
    }
    snprintf(path, sizeof path, "%s", check_shared_path("llm/vocab/ggml-vocab-deepseek-llm.gguf"));
    rc = gguf_open(path, &g, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(gguf_n_tensors(g) == 0);
        const struct gguf_kv *kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
        CHECK(kv && kv->arr_n == 102400);
        /* O(1) element access agrees with a sequential walk of the array. */
        const unsigned char *p = kv ? kv->data : NULL;
        int mism = 0;
        for (uint64_t i = 0; kv && i < kv->arr_n; i++) {
            uint64_t len;
            memcpy(&len, p, 8);
            struct gguf_str s;
            if (gguf_arr_str(g, kv, i, &s) != 0 || s.len != len || s.ptr != (const char *)p + 8)
                mism++;
            p += 8 + len;
        }
        CHECK(mism == 0);
        gguf_close(g);
    }
}

/* fill callback of test_copy: tensor i is 32 floats i*100 + j; a NULL ctx fails the write */
static int fill_rows(void *ctx, size_t i, void *dst, size_t nbytes, struct inferd_err *err)
{
    if (!ctx)
        return inferd_err_set(err, INFERD_EIO, "fill %zu refused", i);
    float *f = dst;
    for (size_t j = 0; j < nbytes / sizeof(float); j++)
        f[j] = (float)(i * 100 + j);
    return 0;
}

/* gguf_writer_copy_kv keeps every kind of value byte for byte; tensors added without data
 * are filled at write time; a failing fill leaves no file. */
static void test_copy(void)
{
    char a[256], b[256];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(a, sizeof a, "%s/gguf_copy_a_%d.gguf", dir, (int)getpid());
    snprintf(b, sizeof b, "%s/gguf_copy_b_%d.gguf", dir, (int)getpid());
    struct inferd_err err = {0};
    struct gguf_writer *w = gguf_writer_new();
    const char *strs[3] = {"<s>", "", "x y"};
    int32_t iv[2] = {7, -9};
    float fv[2] = {0.5f, -1.f}, t[32] = {1};
    int64_t ne[2] = {32, 1};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "u", 42);
    gguf_writer_set_i32(w, "i", -3);
    gguf_writer_set_f32(w, "f", 2.5f);
    gguf_writer_set_bool(w, "b", 1);
    gguf_writer_set_arr_str(w, "as", strs, 3);
    gguf_writer_set_arr_str(w, "as0", strs, 0);
    gguf_writer_set_arr_i32(w, "ai", iv, 2);
    gguf_writer_set_arr_f32(w, "af", fv, 2);
    gguf_writer_add_tensor(w, "t", GGML_TYPE_F32, 2, ne, t);
    CHECK(gguf_writer_write(w, a, &err) == 0);
    gguf_writer_free(w);
    struct gguf_file *ga = NULL, *gb = NULL;
    CHECK(gguf_open(a, &ga, &err) == 0);
    w = gguf_writer_new();
    for (uint64_t i = 0; ga && i < gguf_n_kv(ga); i++)
        CHECK(gguf_writer_copy_kv(w, ga, gguf_kv_at(ga, i)) == 0);
    CHECK(gguf_writer_add_tensor(w, "x", GGML_TYPE_F32, 2, ne, NULL) == 0);
    CHECK(gguf_writer_add_tensor(w, "y", GGML_TYPE_F32, 1, ne, NULL) == 0);
    gguf_writer_set_fill(w, fill_rows, NULL);
    CHECK(gguf_writer_write(w, b, &err) == INFERD_EIO && strstr(err.msg, "fill 0 refused") != NULL);
    CHECK(access(b, F_OK) != 0);
    gguf_writer_set_fill(w, fill_rows, &err);
    uint64_t predicted = gguf_writer_size(w);
    CHECK(gguf_writer_write(w, b, &err) == 0);
    gguf_writer_free(w);
    CHECK(gguf_open(b, &gb, &err) == 0);
    if (ga && gb) {
        CHECK(gguf_n_kv(ga) == gguf_n_kv(gb) && gguf_file_size(gb) == predicted);
        for (uint64_t i = 0; i < gguf_n_kv(ga) && i < gguf_n_kv(gb); i++) {
            const struct gguf_kv *x = gguf_kv_at(ga, i), *y = gguf_kv_at(gb, i);
            CHECK(x->key.len == y->key.len && memcmp(x->key.ptr, y->key.ptr, x->key.len) == 0);
            CHECK(x->type == y->type && x->arr_type == y->arr_type && x->arr_n == y->arr_n);
        }
        struct gguf_str sv;
        uint32_t u;
        CHECK(gguf_get_str(gb, "general.architecture", &sv) == 0 && sv.len == 5 && memcmp(sv.ptr, "llama", 5) == 0);
        CHECK(gguf_get_u32(gb, "u", &u) == 0 && u == 42);
        const struct gguf_kv *as = gguf_find_kv(gb, "as");
        CHECK(as && gguf_arr_str(gb, as, 2, &sv) == 0 && sv.len == 3 && memcmp(sv.ptr, "x y", 3) == 0);
        const struct gguf_tensor_info *ty = gguf_find_tensor(gb, "y");
        CHECK(ty && ty->nbytes == 128 && ((const float *)ty->data)[3] == 103.f);
    }
    gguf_close(ga);
    gguf_close(gb);
    unlink(a);
    unlink(b);
}

/* 1 when the mapping holding p has the "hg" (MADV_HUGEPAGE) flag in /proc/self/smaps, 0 when
 * not, -1 when it cannot be told */
static int vma_has_hugepage_flag(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    int in = 0, res = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = a >= lo && a < hi;
        else if (in && !strncmp(line, "VmFlags:", 8)) {
            res = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return res;
}

/* The file's mapping asks for transparent huge pages (gguf_open's MADV_HUGEPAGE: generation
 * streams the weights through the TLB); skipped where THP is off. */
static void test_huge_advice(void)
{
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (!thp || !fgets(mode, sizeof mode, thp) || strstr(mode, "[never]")) {
        printf("SKIP test_huge_advice: transparent huge pages off here\n");
        if (thp)
            fclose(thp);
        return;
    }
    fclose(thp);
    struct gguf_file *g = NULL;
    struct inferd_err err = {0};
    CHECK(gguf_open(check_shared_path("llm/aidreams260K.gguf"), &g, &err) == 0);
    if (!g)
        return;
    const struct gguf_tensor_info *t = gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    int hg = t ? vma_has_hugepage_flag(t->data) : -1;
    if (hg < 0)
        printf("SKIP test_huge_advice: no VmFlags in /proc/self/smaps\n");
    else
        CHECK(hg == 1);
    gguf_close(g);
}

int main(void)
{
    test_copy();
    test_valid(0);
    test_truncations();
    test_corrupt();
    test_getters();
    test_open_errors();
    test_real();
    test_huge_advice();
    return check_finish();
}
