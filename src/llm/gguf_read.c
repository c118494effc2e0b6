/* gguf_read.c — the GGUF reader: mmap, validate everything once at open, then O(1) access. */
#include "llm/gguf.h"

#include "base/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest general.alignment we accept (a power of two); real files use 32. */
#define GGUF_MAX_ALIGNMENT (1u << 24)

/* Per-kv data the public struct has no room for. */
struct gguf_kv_extra {
    uint64_t str_first;  /* index into gguf_file.str_off of element 0 (string arrays only) */
};

/* Open-addressing hash index: slot holds (index + 1), 0 = empty. Capacity is a power of two
 * and at least twice the number of entries, so probes stay short and always terminate. */
struct gguf_index {
    uint32_t *slots;  /* owned */
    uint64_t mask;
};

struct gguf_file {
    const uint8_t *base;        /* mapping or caller buffer (borrowed when !mapped) */
    size_t size;                /* bytes in base */
    int mapped;                 /* 1: munmap(base, size) at close */
    uint32_t version;           /* 2 or 3 */
    size_t alignment;           /* general.alignment or 32 */
    uint64_t data_start;        /* offset of the tensor data section */
    uint64_t n_kv;
    struct gguf_kv *kvs;        /* owned, n_kv entries */
    struct gguf_kv_extra *kvx;  /* owned, n_kv entries */
    uint64_t *str_off;          /* owned: file offset of every string-array element */
    uint64_t n_str_off;
    uint64_t n_tensors;
    struct gguf_tensor_info *tensors;  /* owned, n_tensors entries */
    struct gguf_index kv_index;
    struct gguf_index tensor_index;
};

/* ---- bounded cursor over the bytes ---- */

struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    struct inferd_err *err;
};

static int cur_fail(struct cursor *c, const char *field, const char *why)
{
    return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: %s: %s", c->pos, field, why);
}

static size_t cur_left(const struct cursor *c)
{
    return c->size - c->pos;
}

static int cur_read(struct cursor *c, void *dst, size_t n, const char *field)
{
    if (cur_left(c) < n)
        return cur_fail(c, field, "truncated (file ends)");
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return 0;
}

static int cur_u32(struct cursor *c, uint32_t *v, const char *field)
{
    return cur_read(c, v, 4, field);
}

static int cur_u64(struct cursor *c, uint64_t *v, const char *field)
{
    return cur_read(c, v, 8, field);
}

/* A gguf string: u64 length then bytes. OUT: a view into the buffer. */
static int cur_str(struct cursor *c, struct gguf_str *s, const char *field)
{
    uint64_t len = 0;
    size_t at = c->pos;
    int rc = cur_u64(c, &len, field);
    if (rc < 0)
        return rc;
    if (len > cur_left(c)) {
        c->pos = at;
        return inferd_err_set(c->err, INFERD_EFORMAT,
                              "gguf: offset %zu: %s: string length %" PRIu64 " exceeds the %zu bytes left",
                              at, field, len, cur_left(c) - 8);
    }
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return 0;
}

/* ---- type traits used for validation ---- */

static size_t gguf_scalar_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;  /* STRING, ARRAY: variable */
    }
}

static const char *gguf_type_str(enum gguf_type t)
{
    static const char *names[GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                 "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

/* ---- hash index ---- */

static int index_init(struct gguf_index *ix, uint64_t n)
{
    uint64_t cap = 8;
    while (cap < 2 * n)
        cap <<= 1;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (!ix->slots)
        return INFERD_ENOMEM;
    ix->mask = cap - 1;
    return 0;
}

/* Finds name; names[] gives the string of entry i (stride bytes apart). Returns the slot. */
static uint64_t index_probe(const struct gguf_index *ix, const char *name, size_t len,
                            const struct gguf_str *(*name_of)(const void *, uint32_t), const void *ctx,
                            int64_t *found)
{
    uint64_t s = hash_fnv1a(HASH_FNV1A_SEED, name, len) & ix->mask;
    *found = -1;
    for (;;) {
        uint32_t v = ix->slots[s];
        if (v == 0)
            return s;
        const struct gguf_str *k = name_of(ctx, v - 1);
        if (k->len == len && memcmp(k->ptr, name, len) == 0) {
            *found = (int64_t)(v - 1);
            return s;
        }
        s = (s + 1) & ix->mask;
    }
}

static const struct gguf_str *kv_name(const void *ctx, uint32_t i)
{
    return &((const struct gguf_file *)ctx)->kvs[i].key;
}

static const struct gguf_str *tensor_name(const void *ctx, uint32_t i)
{
    return &((const struct gguf_file *)ctx)->tensors[i].name;
}

/* Adds entry i, named *name, to ix; a name already there is an EFORMAT error naming what
 * ("kv key", "tensor name") and the file offset at. Returns 0 or INFERD_EFORMAT. */
static int index_add_unique(struct gguf_index *ix, const struct gguf_str *name, uint64_t i,
                            const struct gguf_str *(*name_of)(const void *, uint32_t), const void *ctx,
                            const char *what, size_t at, struct inferd_err *err)
{
    int64_t found;
    uint64_t slot = index_probe(ix, name->ptr, (size_t)name->len, name_of, ctx, &found);
    if (found >= 0)
        return inferd_err_set(err, INFERD_EFORMAT, "gguf: offset %zu: %s '%.*s' is duplicated", at, what,
                              (int)(name->len > 200 ? 200 : name->len), name->ptr);
    ix->slots[slot] = (uint32_t)i + 1;
    return 0;
}

/* ---- parsing ---- */

/* Validates one value of type t at the cursor (not ARRAY) and advances past it. */
static int parse_scalar(struct cursor *c, enum gguf_type t, const char *field)
{
    if (t == GGUF_TYPE_STRING) {
        struct gguf_str s;
        return cur_str(c, &s, field);
    }
    size_t n = gguf_scalar_size(t);
    if (cur_left(c) < n)
        return cur_fail(c, field, "truncated value");
    c->pos += n;
    return 0;
}

/* First pass over one kv: validates and fills kv; counts string-array elements. */
static int parse_kv(struct cursor *c, struct gguf_kv *kv, uint64_t *n_strings)
{
    int rc;
    uint32_t t = 0;
    rc = cur_str(c, &kv->key, "kv key");
    if (rc < 0)
        return rc;
    size_t at = c->pos;
    rc = cur_u32(c, &t, "kv type");
    if (rc < 0)
        return rc;
    if (t >= GGUF_TYPE_COUNT)
        return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: kv '%.*s': unknown value type %u", at,
                              (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr, t);
    kv->type = (enum gguf_type)t;
    kv->arr_type = GGUF_TYPE_COUNT;
    kv->arr_n = 0;
    if (kv->type != GGUF_TYPE_ARRAY) {
        kv->data = c->base + c->pos;
        return parse_scalar(c, kv->type, "kv value");
    }
    uint32_t et = 0;
    uint64_t n = 0;
    at = c->pos;
    rc = cur_u32(c, &et, "array element type");
    if (rc == 0)
        rc = cur_u64(c, &n, "array count");
    if (rc < 0)
        return rc;
    if (et >= GGUF_TYPE_COUNT || et == GGUF_TYPE_ARRAY)
        return inferd_err_set(c->err, INFERD_EFORMAT,
                              "gguf: offset %zu: kv '%.*s': array element type %u not supported", at,
                              (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr, et);
    kv->arr_type = (enum gguf_type)et;
    kv->arr_n = n;
    kv->data = c->base + c->pos;
    if (et == GGUF_TYPE_STRING) {
        /* Each element is at least its 8-byte length: bound the count before walking. */
        if (n > cur_left(c) / 8)
            return inferd_err_set(c->err, INFERD_EFORMAT,
                                  "gguf: offset %zu: kv '%.*s': string array count %" PRIu64
                                  " exceeds the %zu bytes left",
                                  at + 4, (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr, n,
                                  cur_left(c));
        for (uint64_t i = 0; i < n; i++) {
            struct gguf_str s;
            rc = cur_str(c, &s, "string array element");
            if (rc < 0)
                return rc;
        }
        *n_strings += n;
        return 0;
    }
    size_t es = gguf_scalar_size(kv->arr_type);
    if (n > cur_left(c) / es)
        return inferd_err_set(c->err, INFERD_EFORMAT,
                              "gguf: offset %zu: kv '%.*s': array of %" PRIu64 " %s exceeds the %zu bytes left",
                              at + 4, (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr, n,
                              gguf_type_str(kv->arr_type), cur_left(c));
    c->pos += (size_t)(n * es);
    return 0;
}

/* Records the offsets of every string-array element (second, trusted walk). */
static void index_strings(struct gguf_file *g)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kvs[i];
        if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
            continue;
        g->kvx[i].str_first = k;
        uint64_t off = (uint64_t)((const uint8_t *)kv->data - g->base);
        for (uint64_t j = 0; j < kv->arr_n; j++) {
            uint64_t len;
            memcpy(&len, g->base + off, 8);
            g->str_off[k++] = off;
            off += 8 + len;
        }
    }
}

/* Block traits for validation (ggml_types.c). Returns -1 for a type we cannot size. */
static int tensor_type_traits(uint32_t t, uint64_t *blk_elems, uint64_t *blk_bytes)
{
    if (t >= GGML_TYPE_COUNT)
        return -1;
    int e = ggml_type_block_elems((enum ggml_type)t);
    size_t b = ggml_type_block_bytes((enum ggml_type)t);
    if (e <= 0 || b == 0)
        return -1;
    *blk_elems = (uint64_t)e;
    *blk_bytes = b;
    return 0;
}

static int parse_tensor(struct cursor *c, struct gguf_tensor_info *ti)
{
    int rc;
    uint32_t nd = 0, type = 0;
    size_t at = c->pos;
    rc = cur_str(c, &ti->name, "tensor name");
    if (rc < 0)
        return rc;
    int nlen = (int)(ti->name.len > 200 ? 200 : ti->name.len);
    at = c->pos;
    rc = cur_u32(c, &nd, "tensor n_dims");
    if (rc < 0)
        return rc;
    if (nd > GGUF_MAX_DIMS)
        return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: tensor '%.*s': n_dims %u > %d", at, nlen,
                              ti->name.ptr, nd, GGUF_MAX_DIMS);
    ti->n_dims = (int)nd;
    uint64_t nelem = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        ti->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        at = c->pos;
        rc = cur_u64(c, &v, "tensor ne");
        if (rc < 0)
            return rc;
        if (v == 0 || v > (uint64_t)INT64_MAX)
            return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: tensor '%.*s': ne[%u] = %" PRIu64
                                  " out of range", at, nlen, ti->name.ptr, d, v);
        if (nelem > (uint64_t)INT64_MAX / v)
            return inferd_err_set(c->err, INFERD_EFORMAT,
                                  "gguf: offset %zu: tensor '%.*s': element count overflows", at, nlen,
                                  ti->name.ptr);
        nelem *= v;
        ti->ne[d] = (int64_t)v;
    }
    at = c->pos;
    rc = cur_u32(c, &type, "tensor type");
    if (rc < 0)
        return rc;
    uint64_t be, bb;
    if (tensor_type_traits(type, &be, &bb) < 0)
        return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: tensor '%.*s': unknown ggml type %u", at,
                              nlen, ti->name.ptr, type);
    ti->type = (enum ggml_type)type;
    if ((uint64_t)ti->ne[0] % be != 0)
        return inferd_err_set(c->err, INFERD_EFORMAT,
                              "gguf: offset %zu: tensor '%.*s': ne[0] = %" PRId64 " not a multiple of the %s block of %"
                              PRIu64, at, nlen, ti->name.ptr, ti->ne[0], ggml_type_name(ti->type), be);
    uint64_t blocks = nelem / be;
    if (blocks > SIZE_MAX / bb)
        return inferd_err_set(c->err, INFERD_EFORMAT, "gguf: offset %zu: tensor '%.*s': byte size overflows", at,
                              nlen, ti->name.ptr);
    ti->nbytes = (size_t)(blocks * bb);
    rc = cur_u64(c, &ti->offset, "tensor offset");
    if (rc < 0)
        return rc;
    return 0;
}

static int set_alignment(struct gguf_file *g, struct inferd_err *err)
{
    const struct gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv)
        return 0;
    uint32_t a;
    if (gguf_get_u32(g, "general.alignment", &a) < 0)
        return inferd_err_set(err, INFERD_EFORMAT, "gguf: offset %zu: general.alignment: type %s is not an integer",
                              (size_t)((const uint8_t *)kv->data - g->base), gguf_type_str(kv->type));
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return inferd_err_set(err, INFERD_EFORMAT,
                              "gguf: offset %zu: general.alignment: %u is not a power of two in [1, %u]",
                              (size_t)((const uint8_t *)kv->data - g->base), a, GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return 0;
}

static int parse(struct gguf_file *g, struct inferd_err *err)
{
    struct cursor c = {.base = g->base, .size = g->size, .pos = 0, .err = err};
    char magic[4];
    uint64_t n_tensors, n_kv;
    int rc;
    rc = cur_read(&c, magic, 4, "magic");
    if (rc < 0)
        return rc;
    if (memcmp(magic, "GGUF", 4) != 0)
        return inferd_err_set(err, INFERD_EFORMAT, "gguf: offset 0: magic: not a GGUF file (expected \"GGUF\")");
    rc = cur_u32(&c, &g->version, "version");
    if (rc < 0)
        return rc;
    if (g->version == 1)
        return inferd_err_set(err, INFERD_EUNSUPPORTED, "gguf: offset 4: version: GGUF v1 is not supported");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0)
            return inferd_err_set(err, INFERD_EUNSUPPORTED, "gguf: offset 4: version: big-endian GGUF is not supported");
        return inferd_err_set(err, INFERD_EFORMAT, "gguf: offset 4: version: %u (expected 2 or 3)", g->version);
    }
    rc = cur_u64(&c, &n_tensors, "n_tensors");
    if (rc == 0)
        rc = cur_u64(&c, &n_kv, "n_kv");
    if (rc < 0)
        return rc;
    /* A kv needs at least key length (8) + type (4) + 1 byte; a tensor at least 8+4+4+8. */
    if (n_kv > cur_left(&c) / 13 || n_kv > UINT32_MAX)
        return inferd_err_set(err, INFERD_EFORMAT, "gguf: offset 16: n_kv: %" PRIu64 " exceeds what %zu bytes can hold",
                              n_kv, cur_left(&c));
    if (n_tensors > cur_left(&c) / 24 || n_tensors > UINT32_MAX)
        return inferd_err_set(err, INFERD_EFORMAT,
                              "gguf: offset 8: n_tensors: %" PRIu64 " exceeds what %zu bytes can hold", n_tensors,
                              cur_left(&c));
    g->n_kv = n_kv;
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->kvx = calloc(n_kv ? n_kv : 1, sizeof *g->kvx);
    if (!g->kvs || !g->kvx || index_init(&g->kv_index, n_kv) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "gguf: out of memory for %" PRIu64 " kv pairs", n_kv);
    uint64_t n_strings = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        size_t at = c.pos;
        rc = parse_kv(&c, &g->kvs[i], &n_strings);
        if (rc < 0) {
            inferd_err_prefix(err, "kv %" PRIu64 " of %" PRIu64, i, n_kv);
            return rc;
        }
        rc = index_add_unique(&g->kv_index, &g->kvs[i].key, i, kv_name, g, "kv key", at, err);
        if (rc < 0)
            return rc;
    }
    g->str_off = malloc((n_strings ? n_strings : 1) * sizeof *g->str_off);
    if (!g->str_off)
        return inferd_err_set(err, INFERD_ENOMEM, "gguf: out of memory indexing %" PRIu64 " strings", n_strings);
    g->n_str_off = n_strings;
    index_strings(g);
    rc = set_alignment(g, err);
    if (rc < 0)
        return rc;

    g->n_tensors = n_tensors;
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors || index_init(&g->tensor_index, n_tensors) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "gguf: out of memory for %" PRIu64 " tensors", n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        size_t at = c.pos;
        rc = parse_tensor(&c, &g->tensors[i]);
        if (rc < 0) {
            inferd_err_prefix(err, "tensor %" PRIu64 " of %" PRIu64, i, n_tensors);
            return rc;
        }
        rc = index_add_unique(&g->tensor_index, &g->tensors[i].name, i, tensor_name, g, "tensor name", at, err);
        if (rc < 0)
            return rc;
    }
    /* Data section starts at the next multiple of the alignment (may be EOF with 0 tensors). */
    uint64_t a = g->alignment;
    g->data_start = ((uint64_t)c.pos + a - 1) / a * a;
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct gguf_tensor_info *ti = &g->tensors[i];
        int nlen = (int)(ti->name.len > 200 ? 200 : ti->name.len);
        if (ti->offset % a != 0)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "gguf: tensor '%.*s': offset %" PRIu64 " is not a multiple of the alignment %zu",
                                  nlen, ti->name.ptr, ti->offset, g->alignment);
        if (g->data_start > g->size || ti->offset > g->size - g->data_start ||
            ti->nbytes > g->size - g->data_start - ti->offset)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "gguf: tensor '%.*s': data [%" PRIu64 ", +%zu) at file offset %" PRIu64
                                  " runs past the end of the file (%zu bytes)",
                                  nlen, ti->name.ptr, ti->offset, ti->nbytes, g->data_start + ti->offset, g->size);
        ti->data = g->base + g->data_start + ti->offset;
    }
    return 0;
}

/* ---- lifecycle ---- */

static int open_common(const void *data, size_t size, int mapped, struct gguf_file **out, struct inferd_err *err)
{
    struct gguf_file *g = calloc(1, sizeof *g);
    if (!g)
        return inferd_err_set(err, INFERD_ENOMEM, "gguf: out of memory");
    g->base = data;
    g->size = size;
    g->mapped = mapped;
    int rc = parse(g, err);
    if (rc < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    g->mapped = 0;  /* the caller still owns the mapping on failure */
    gguf_close(g);
    return rc;
}

int gguf_open_buffer(const void *data, size_t size, struct gguf_file **out, struct inferd_err *err)
{
    *out = NULL;
    if (!data && size)
        return inferd_err_set(err, INFERD_EINVAL, "gguf: NULL buffer");
    return open_common(data, size, 0, out, err);
}

/* Generation streams every weight once per token, and with 4 KiB pages that is a TLB miss and a
 * page walk every 4 KiB per stream (the walks' page-table lines are evicted by the stream
 * itself): on the Zen 4 test machine a 4-stream F16 matvec read 23-24 GB/s per core over
 * 4 KiB pages against 31-33 over 2 MiB pages (bench/gemv_bench -huge), and a 1.1B F16 model
 * generated with 10-13% less CPU per token when all of its file's page cache was in 2 MiB
 * folios than with a quarter of it. MADV_HUGEPAGE on the mapping makes the page cache read the
 * parts of the file not yet cached in 2 MiB folios, which the kernel maps whole (PMD) where
 * the file system supports large folios (ext4, xfs on Linux 6.x) and the mapping is 2 MiB
 * aligned (the kernel aligns large file mappings); parts already cached in small folios stay
 * as they are until the cache drops them. The folios are shared with every other process
 * mapping the file. Best effort: ignored where transparent huge pages are off (or "never"). */
static void gguf_advise_huge(void *map, size_t size)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(map, size, MADV_HUGEPAGE);
#else
    (void)map;
    (void)size;
#endif
}

int gguf_open(const char *path, struct gguf_file **out, struct inferd_err *err)
{
    int rc;
    void *map = MAP_FAILED;
    struct stat st;
    size_t size = 0;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "gguf: %s: %s", path,
                              strerror(errno));
    if (fstat(fd, &st) < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf: %s: fstat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf: %s: not a regular file", path);
        goto fail;
    }
    if (st.st_size < 24) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "gguf: %s: %lld bytes is too small for a GGUF header", path,
                            (long long)st.st_size);
        goto fail;
    }
    size = (size_t)st.st_size;
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = inferd_err_set(err, INFERD_EIO, "gguf: %s: mmap: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    gguf_advise_huge(map, size);
    rc = open_common(map, size, 1, out, err);
    if (rc < 0) {
        inferd_err_prefix(err, "%s", path);
        goto fail;
    }
    return 0;
fail:
    if (map != MAP_FAILED)
        munmap(map, size);
    if (fd >= 0)
        close(fd);
    return rc;
}

void gguf_close(struct gguf_file *g)
{
    if (!g)
        return;
    if (g->mapped)
        munmap((void *)g->base, g->size);
    free(g->kvs);
    free(g->kvx);
    free(g->str_off);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    free(g);
}

/* ---- accessors ---- */

uint32_t gguf_version(const struct gguf_file *g) { return g->version; }
size_t gguf_alignment(const struct gguf_file *g) { return g->alignment; }
uint64_t gguf_file_size(const struct gguf_file *g) { return g->size; }
uint64_t gguf_n_kv(const struct gguf_file *g) { return g->n_kv; }
uint64_t gguf_n_tensors(const struct gguf_file *g) { return g->n_tensors; }

const struct gguf_kv *gguf_kv_at(const struct gguf_file *g, uint64_t i)
{
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const struct gguf_kv *gguf_find_kv(const struct gguf_file *g, const char *key)
{
    int64_t found;
    index_probe(&g->kv_index, key, strlen(key), kv_name, g, &found);
    return found >= 0 ? &g->kvs[found] : NULL;
}

const struct gguf_tensor_info *gguf_tensor_at(const struct gguf_file *g, uint64_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct gguf_tensor_info *gguf_find_tensor(const struct gguf_file *g, const char *name)
{
    int64_t found;
    index_probe(&g->tensor_index, name, strlen(name), tensor_name, g, &found);
    return found >= 0 ? &g->tensors[found] : NULL;
}

/* Reads an integer element of type t at p as signed 128-bit-safe pair. Returns 0 or ETYPE. */
static int load_int(enum gguf_type t, const void *p, int64_t *s, uint64_t *u, int *is_unsigned)
{
    *is_unsigned = 0;
    switch (t) {
    case GGUF_TYPE_UINT8: { uint8_t v; memcpy(&v, p, 1); *s = v; return 0; }
    case GGUF_TYPE_INT8: { int8_t v; memcpy(&v, p, 1); *s = v; return 0; }
    case GGUF_TYPE_UINT16: { uint16_t v; memcpy(&v, p, 2); *s = v; return 0; }
    case GGUF_TYPE_INT16: { int16_t v; memcpy(&v, p, 2); *s = v; return 0; }
    case GGUF_TYPE_UINT32: { uint32_t v; memcpy(&v, p, 4); *s = v; return 0; }
    case GGUF_TYPE_INT32: { int32_t v; memcpy(&v, p, 4); *s = v; return 0; }
    case GGUF_TYPE_INT64: { int64_t v; memcpy(&v, p, 8); *s = v; return 0; }
    case GGUF_TYPE_UINT64: {
        memcpy(u, p, 8);
        *is_unsigned = 1;
        return 0;
    }
    default: return INFERD_ETYPE;
    }
}

int gguf_get_str(const struct gguf_file *g, const char *key, struct gguf_str *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return INFERD_ENOTFOUND;
    if (kv->type != GGUF_TYPE_STRING)
        return INFERD_ETYPE;
    uint64_t len;
    memcpy(&len, kv->data, 8);
    out->ptr = (const char *)kv->data + 8;
    out->len = len;
    return 0;
}

/* The integer value of key: ENOTFOUND when absent, ETYPE when not an integer type. */
static int find_int(const struct gguf_file *g, const char *key, int64_t *s, uint64_t *u, int *uns)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return INFERD_ENOTFOUND;
    return load_int(kv->type, kv->data, s, u, uns);
}

int gguf_get_i64(const struct gguf_file *g, const char *key, int64_t *out)
{
    int64_t s;
    uint64_t u;
    int uns;
    int rc = find_int(g, key, &s, &u, &uns);
    if (rc < 0)
        return rc;
    if (uns) {
        if (u > (uint64_t)INT64_MAX)
            return INFERD_ETYPE;
        s = (int64_t)u;
    }
    *out = s;
    return 0;
}

int gguf_get_u32(const struct gguf_file *g, const char *key, uint32_t *out)
{
    int64_t s;
    uint64_t u;
    int uns;
    int rc = find_int(g, key, &s, &u, &uns);
    if (rc < 0)
        return rc;
    if (uns) {
        if (u > UINT32_MAX)
            return INFERD_ETYPE;
        *out = (uint32_t)u;
        return 0;
    }
    if (s < 0 || s > (int64_t)UINT32_MAX)
        return INFERD_ETYPE;
    *out = (uint32_t)s;
    return 0;
}

int gguf_get_f32(const struct gguf_file *g, const char *key, float *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return INFERD_ENOTFOUND;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->data, 4);
        return 0;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return 0;
    }
    return INFERD_ETYPE;
}

int gguf_get_bool(const struct gguf_file *g, const char *key, int *out)
{
    const struct gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv)
        return INFERD_ENOTFOUND;
    if (kv->type == GGUF_TYPE_BOOL) {
        uint8_t v;
        memcpy(&v, kv->data, 1);
        *out = v != 0;
        return 0;
    }
    int64_t s;
    uint64_t u;
    int uns;
    if (load_int(kv->type, kv->data, &s, &u, &uns) < 0)
        return INFERD_ETYPE;
    *out = uns ? u != 0 : s != 0;
    return 0;
}

int gguf_arr_str(const struct gguf_file *g, const struct gguf_kv *kv, uint64_t i, struct gguf_str *out)
{
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return INFERD_ETYPE;
    if (i >= kv->arr_n)
        return INFERD_ENOTFOUND;
    uint64_t kvi = (uint64_t)(kv - g->kvs);
    if (kvi >= g->n_kv)
        return INFERD_EINVAL;  /* kv is not from g */
    uint64_t off = g->str_off[g->kvx[kvi].str_first + i];
    uint64_t len;
    memcpy(&len, g->base + off, 8);
    out->ptr = (const char *)g->base + off + 8;
    out->len = len;
    return 0;
}

int gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out)
{
    if (kv->type != GGUF_TYPE_ARRAY)
        return INFERD_ETYPE;
    size_t es = gguf_scalar_size(kv->arr_type);
    if (es == 0 || kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64 ||
        kv->arr_type == GGUF_TYPE_BOOL)
        return INFERD_ETYPE;
    if (i >= kv->arr_n)
        return INFERD_ENOTFOUND;
    int64_t s;
    uint64_t u;
    int uns;
    load_int(kv->arr_type, (const uint8_t *)kv->data + i * es, &s, &u, &uns);
    if (uns) {
        if (u > (uint64_t)INT64_MAX)
            return INFERD_ETYPE;
        s = (int64_t)u;
    }
    *out = s;
    return 0;
}

int gguf_arr_f32(const struct gguf_kv *kv, uint64_t i, float *out)
{
    if (kv->type != GGUF_TYPE_ARRAY)
        return INFERD_ETYPE;
    if (i >= kv->arr_n)
        return INFERD_ENOTFOUND;
    if (kv->arr_type == GGUF_TYPE_FLOAT32) {
        memcpy(out, (const uint8_t *)kv->data + i * 4, 4);
        return 0;
    }
    if (kv->arr_type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, (const uint8_t *)kv->data + i * 8, 8);
        *out = (float)d;
        return 0;
    }
    return INFERD_ETYPE;
}
