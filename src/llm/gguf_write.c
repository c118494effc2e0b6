/* gguf_write.c — the GGUF v3 writer half of gguf.h: collects metadata and tensors, then
 * writes them through a temporary file, fsync and rename so no reader sees a partial file. */
#include "llm/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GGUF_WRITER_MAX_ITEMS (1u << 20) /* cap on kv pairs and tensors per file */

struct wkv {
    char *key;
    enum gguf_type type;
    unsigned char *val;   /* serialised value bytes, as they appear in the file (owned) */
    size_t val_len;
};

struct wtensor {
    char *name;
    enum ggml_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;     /* borrowed until gguf_writer_write */
    size_t nbytes;
    uint64_t offset;
};

struct gguf_writer {
    struct wkv *kv;       /* owned array */
    size_t n_kv, cap_kv;
    struct wtensor *t;    /* owned array */
    size_t n_t, cap_t;
    gguf_fill_fn fill;    /* bytes of tensors added with data == NULL */
    void *fill_ctx;
};

struct gguf_writer *gguf_writer_new(void)
{
    return calloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Stores (key, type, val) taking ownership of val; replaces an existing key. */
static int put_kv(struct gguf_writer *w, const char *key, enum gguf_type type, unsigned char *val,
                  size_t val_len)
{
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].val_len = val_len;
            return 0;
        }
    }
    if (w->n_kv >= GGUF_WRITER_MAX_ITEMS)
        goto fail;
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        struct wkv *nk = realloc(w->kv, nc * sizeof *nk);
        if (!nk)
            goto fail;
        w->kv = nk;
        w->cap_kv = nc;
    }
    char *k = strdup(key);
    if (!k)
        goto fail;
    w->kv[w->n_kv++] = (struct wkv){k, type, val, val_len};
    return 0;
fail:
    free(val);
    return INFERD_ENOMEM;
}

static int put_scalar(struct gguf_writer *w, const char *key, enum gguf_type type, const void *v,
                      size_t n)
{
    unsigned char *b = malloc(n);
    if (!b)
        return INFERD_ENOMEM;
    memcpy(b, v, n);
    return put_kv(w, key, type, b, n);
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t val)
{
    return put_scalar(w, key, GGUF_TYPE_UINT32, &val, 4);
}

int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t val)
{
    return put_scalar(w, key, GGUF_TYPE_INT32, &val, 4);
}

int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float val)
{
    return put_scalar(w, key, GGUF_TYPE_FLOAT32, &val, 4);
}

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, int val)
{
    uint8_t b = val ? 1 : 0;
    return put_scalar(w, key, GGUF_TYPE_BOOL, &b, 1);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *val)
{
    uint64_t n = strlen(val);
    unsigned char *b = malloc(8 + n);
    if (!b)
        return INFERD_ENOMEM;
    memcpy(b, &n, 8);
    memcpy(b + 8, val, n);
    return put_kv(w, key, GGUF_TYPE_STRING, b, 8 + n);
}

/* Array of fixed-size elements: u32 elem type + u64 count + elems. */
static int put_arr(struct gguf_writer *w, const char *key, enum gguf_type et, const void *vals,
                   uint64_t n, size_t esz)
{
    if (n > (SIZE_MAX - 12) / esz)
        return INFERD_ENOMEM;
    unsigned char *b = malloc(12 + n * esz);
    if (!b)
        return INFERD_ENOMEM;
    uint32_t t = (uint32_t)et;
    memcpy(b, &t, 4);
    memcpy(b + 4, &n, 8);
    if (n)
        memcpy(b + 12, vals, n * esz);
    return put_kv(w, key, GGUF_TYPE_ARRAY, b, 12 + n * esz);
}

int gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *vals, uint64_t n)
{
    return put_arr(w, key, GGUF_TYPE_INT32, vals, n, 4);
}

int gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *vals, uint64_t n)
{
    return put_arr(w, key, GGUF_TYPE_FLOAT32, vals, n, 4);
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *vals, uint64_t n)
{
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++)
        total += 8 + strlen(vals[i]);
    unsigned char *b = malloc(total);
    if (!b)
        return INFERD_ENOMEM;
    uint32_t t = GGUF_TYPE_STRING;
    memcpy(b, &t, 4);
    memcpy(b + 4, &n, 8);
    size_t off = 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(vals[i]);
        memcpy(b + off, &len, 8);
        memcpy(b + off + 8, vals[i], len);
        off += 8 + len;
    }
    return put_kv(w, key, GGUF_TYPE_ARRAY, b, total);
}

/* Bytes of one scalar of type t (strings excluded); 0 for strings and arrays. */
static size_t scalar_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_file *g, const struct gguf_kv *kv)
{
    const unsigned char *from = kv->data;
    size_t head = 0, body;
    if (kv->type == GGUF_TYPE_STRING) {
        uint64_t n;
        memcpy(&n, from, 8);
        body = 8 + (size_t)n;
    } else if (kv->type != GGUF_TYPE_ARRAY) {
        body = scalar_size(kv->type);
    } else if (kv->arr_type == GGUF_TYPE_STRING) {
        head = 12;
        body = 0;
        if (kv->arr_n > 0) { /* the elements are contiguous: end of the last one */
            struct gguf_str last;
            if (gguf_arr_str(g, kv, kv->arr_n - 1, &last) < 0)
                return INFERD_EFORMAT;
            body = (size_t)((const unsigned char *)last.ptr + last.len - from);
        }
    } else {
        head = 12;
        body = scalar_size(kv->arr_type) * (size_t)kv->arr_n;
    }
    if (body == 0 && kv->type != GGUF_TYPE_ARRAY)
        return INFERD_EFORMAT;
    unsigned char *b = malloc(head + body + 1);
    if (!b)
        return INFERD_ENOMEM;
    if (head) {
        uint32_t et = (uint32_t)kv->arr_type;
        uint64_t n = kv->arr_n;
        memcpy(b, &et, 4);
        memcpy(b + 4, &n, 8);
    }
    memcpy(b + head, from, body);
    char key[1024];
    if (kv->key.len >= sizeof key) {
        free(b);
        return INFERD_EFORMAT;
    }
    memcpy(key, kv->key.ptr, kv->key.len);
    key[kv->key.len] = '\0';
    return put_kv(w, key, kv->type, b, head + body);
}

void gguf_writer_set_fill(struct gguf_writer *w, gguf_fill_fn fn, void *ctx)
{
    w->fill = fn;
    w->fill_ctx = ctx;
}

uint64_t gguf_writer_size(const struct gguf_writer *w)
{
    const uint64_t align = GGUF_DEFAULT_ALIGNMENT;
    uint64_t pos = 24, data = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        pos += 12 + strlen(w->kv[i].key) + w->kv[i].val_len;
    for (size_t i = 0; i < w->n_t; i++) {
        pos += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 12;
        data += w->t[i].nbytes;
        data += (align - data % align) % align;
    }
    pos += (align - pos % align) % align;
    return pos + data;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, enum ggml_type type, int n_dims,
                           const int64_t *ne, const void *data)
{
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ggml_type_block_elems(type))
        return INFERD_EINVAL;
    size_t rows = 1;
    for (int i = 1; i < n_dims; i++) {
        if (ne[i] <= 0)
            return INFERD_EINVAL;
        rows *= (size_t)ne[i];
    }
    size_t rs = ggml_row_size(type, ne[0]);
    if (!rs)
        return INFERD_EINVAL;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return INFERD_EINVAL;
    if (w->n_t >= GGUF_WRITER_MAX_ITEMS)
        return INFERD_ENOMEM;
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 16;
        struct wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt)
            return INFERD_ENOMEM;
        w->t = nt;
        w->cap_t = nc;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return INFERD_ENOMEM;
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        t->ne[i] = i < n_dims ? ne[i] : 1;
    t->data = data; /* NULL: filled at write time (gguf_writer_set_fill) */
    t->nbytes = rs * rows;
    w->n_t++;
    return 0;
}

static int wr(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int wr_pad(FILE *f, uint64_t *pos, size_t align)
{
    static const unsigned char zeros[64];
    size_t pad = (size_t)((align - *pos % align) % align);
    *pos += pad;
    return wr(f, zeros, pad);
}

static int write_body(struct gguf_writer *w, FILE *f, struct inferd_err *err)
{
    const size_t align = GGUF_DEFAULT_ALIGNMENT;
    uint32_t version = 3;
    uint64_t n_t = w->n_t, n_kv = w->n_kv, pos = 0;
    if (wr(f, "GGUF", 4) || wr(f, &version, 4) || wr(f, &n_t, 8) || wr(f, &n_kv, 8))
        return -1;
    pos = 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kv[i].key);
        uint32_t ty = (uint32_t)w->kv[i].type;
        if (wr(f, &kl, 8) || wr(f, w->kv[i].key, kl) || wr(f, &ty, 4) ||
            wr(f, w->kv[i].val, w->kv[i].val_len))
            return -1;
        pos += 12 + kl + w->kv[i].val_len;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        t->offset = off;
        off += t->nbytes;
        off += (align - off % align) % align;
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        if (wr(f, &nl, 8) || wr(f, t->name, nl) || wr(f, &nd, 4))
            return -1;
        for (int d = 0; d < t->n_dims; d++) {
            uint64_t ne = (uint64_t)t->ne[d];
            if (wr(f, &ne, 8))
                return -1;
        }
        if (wr(f, &ty, 4) || wr(f, &t->offset, 8))
            return -1;
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 12;
    }
    if (wr_pad(f, &pos, align))
        return -1;
    uint64_t dpos = 0;
    size_t scratch_n = 0;
    for (size_t i = 0; i < w->n_t; i++)
        if (!w->t[i].data && w->t[i].nbytes > scratch_n)
            scratch_n = w->t[i].nbytes;
    void *scratch = NULL;
    if (scratch_n && (!w->fill || !(scratch = malloc(scratch_n)))) {
        inferd_err_set(err, w->fill ? INFERD_ENOMEM : INFERD_EINVAL, "gguf write: %s",
                       w->fill ? "out of memory for a tensor buffer" : "a tensor has no data and no fill function");
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < w->n_t && rc == 0; i++) {
        const void *data = w->t[i].data;
        if (!data) {
            if (w->fill(w->fill_ctx, i, scratch, w->t[i].nbytes, err) < 0) {
                rc = 1;
                break;
            }
            data = scratch;
        }
        dpos += w->t[i].nbytes;
        if (wr(f, data, w->t[i].nbytes) || wr_pad(f, &dpos, align))
            rc = -1;
    }
    free(scratch);
    return rc;
}

int gguf_writer_write(struct gguf_writer *w, const char *path, struct inferd_err *err)
{
    int rc = INFERD_EIO, fd = -1;
    FILE *f = NULL;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp)
        return inferd_err_set(err, INFERD_ENOMEM, "gguf write: out of memory");
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: cannot create temp file: %s", path,
                            strerror(errno));
        free(tmp);
        return rc;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes 0600; a model file is meant to be shared */
    f = fdopen(fd, "wb");
    if (!f) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: fdopen: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    int wb = write_body(w, f, err);
    if (wb > 0) { /* the fill function or the scratch buffer failed; err says why */
        rc = err && err->code ? err->code : INFERD_EIO;
        goto fail;
    }
    if (wb != 0 || fflush(f) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fsync(fileno(f)) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: fsync: %s", path, strerror(errno));
        goto fail;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: close: %s", path, strerror(errno));
        goto fail;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf write %s: rename: %s", path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return 0;
fail:
    if (f)
        fclose(f);
    unlink(tmp);
    free(tmp);
    return rc;
}
