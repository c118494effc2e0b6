/* fuzz_pack_tar.c — libFuzzer driver for the streaming tar reader (src/pack/tar.h) that
 * unpacks uploaded packages. Input: the archive's bytes, fed in chunks whose sizes come
 * from the input's first byte, so header and data boundaries fall everywhere. */
#include "pack/tar.h"

#include <stdint.h>
#include <string.h>

struct seen {
    int64_t left; /* bytes the current file still expects */
    int open;
};

static int on_folder(void *ctx, const char *name, struct inferd_err *err)
{
    (void)ctx;
    (void)err;
    if (!tar_name_ok(name))
        __builtin_trap();
    return 0;
}

static int on_begin(void *ctx, const char *name, int64_t size, struct inferd_err *err)
{
    struct seen *s = ctx;
    (void)err;
    if (!tar_name_ok(name) || size < 0 || s->open)
        __builtin_trap();
    s->left = size;
    s->open = 1;
    return 0;
}

static int on_data(void *ctx, const void *p, size_t n, struct inferd_err *err)
{
    struct seen *s = ctx;
    (void)p;
    (void)err;
    if (!s->open || (int64_t)n > s->left)
        __builtin_trap();
    s->left -= (int64_t)n;
    return 0;
}

static int on_end(void *ctx, struct inferd_err *err)
{
    struct seen *s = ctx;
    (void)err;
    if (!s->open || s->left != 0)
        __builtin_trap();
    s->open = 0;
    return 0;
}

static const struct tar_ops ops = {on_folder, on_begin, on_data, on_end};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct seen s = {0};
    struct tar_limits lim = {.max_entries = 64, .max_file_size = 1 << 20};
    struct tar_reader *t = tar_reader_new(&ops, &s, &lim);
    struct inferd_err err = {0};
    size_t chunk = (size_t)data[0] * 7 + 1, off = 1;
    if (!t)
        return 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (tar_feed(t, data + off, n, &err) < 0)
            break;
        off += n;
    }
    tar_finish(t, &err);
    tar_reader_free(t);
    return 0;
}
