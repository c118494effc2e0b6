/* tar.c — streaming ustar reader (tar.h). */
#include "pack/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tar_state { TAR_HEADER, TAR_DATA, TAR_PAD, TAR_END };

struct tar_reader {
    const struct tar_ops *ops;
    void *ctx;
    struct tar_limits lim;
    enum tar_state state;
    unsigned char block[512];
    size_t have;         /* bytes in block (header state) */
    int64_t left;        /* data bytes left of the current file */
    size_t pad;          /* padding bytes left after it */
    int zero_blocks;     /* consecutive zero header blocks */
    int entries;
    int rc;              /* sticky error */
    char name[TAR_NAME_MAX];
};

struct tar_reader *tar_reader_new(const struct tar_ops *ops, void *ctx, const struct tar_limits *lim)
{
    struct tar_reader *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ops = ops;
    t->ctx = ctx;
    t->lim = *lim;
    return t;
}

void tar_reader_free(struct tar_reader *t)
{
    free(t);
}

int tar_name_ok(const char *name)
{
    const char *p = name;
    if (strncmp(p, "./", 2) == 0)
        p += 2;
    if (!*p || *p == '/')
        return 0;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
            return 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
        if (*p == '/')
            p++;
    }
    return 1;
}

/* Octal field of w bytes: digits, then NUL/space padding. Returns 0 or -1. */
static int octal(const unsigned char *f, size_t w, int64_t *out)
{
    size_t i = 0;
    int64_t v = 0;
    while (i < w && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < w && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v > (INT64_MAX >> 3))
            return -1;
        v = v * 8 + (f[i] - '0');
    }
    for (; i < w; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    if (digits == 0)
        return -1;
    *out = v;
    return 0;
}

static int fail(struct tar_reader *t, struct inferd_err *err, int code, const char *fmt, const char *a)
{
    inferd_err_set(err, code, fmt, a);
    return t->rc = code;
}

static int header(struct tar_reader *t, struct inferd_err *err)
{
    const unsigned char *b = t->block;
    int zero = 1;
    for (int i = 0; i < 512 && zero; i++)
        zero = b[i] == 0;
    if (zero) {
        if (++t->zero_blocks == 2)
            t->state = TAR_END;
        return 0;
    }
    if (t->zero_blocks)
        return fail(t, err, INFERD_EFORMAT, "tar: a zero block %sin the middle of the archive", "");
    int64_t sum, want = 0, size;
    if (octal(b + 148, 8, &sum) < 0)
        return fail(t, err, INFERD_EFORMAT, "tar: header checksum: %snot octal (not a tar archive?)", "");
    for (int i = 0; i < 512; i++)
        want += (i >= 148 && i < 156) ? ' ' : b[i];
    if (sum != want)
        return fail(t, err, INFERD_EFORMAT, "tar: header checksum %smismatch (corrupt or not a tar archive)", "");
    if (memcmp(b + 257, "ustar", 5) != 0)
        return fail(t, err, INFERD_EFORMAT, "tar: not a ustar header%s", "");
    char name[101], prefix[156];
    memcpy(name, b, 100);
    name[100] = '\0';
    memcpy(prefix, b + 345, 155);
    prefix[155] = '\0';
    if (prefix[0])
        snprintf(t->name, sizeof t->name, "%.155s/%.100s", prefix, name);
    else
        snprintf(t->name, sizeof t->name, "%.100s", name);
    if (octal(b + 124, 12, &size) < 0)
        return fail(t, err, INFERD_EFORMAT, "tar: %s: size: not octal", t->name);
    if (++t->entries > t->lim.max_entries)
        return fail(t, err, INFERD_ETOOLARGE, "tar: more entries than the limit (at %s)", t->name);
    char type = (char)b[156];
    size_t len = strlen(t->name);
    if (type == '5') {
        while (len > 0 && t->name[len - 1] == '/')
            t->name[--len] = '\0';
        if (strcmp(t->name, ".") == 0 || len == 0)
            return 0; /* the archive's root */
        if (!tar_name_ok(t->name))
            return fail(t, err, INFERD_EFORMAT, "tar: %s: unsafe entry name (absolute, '..' or odd characters)",
                        t->name);
        if (size != 0)
            return fail(t, err, INFERD_EFORMAT, "tar: %s: a folder with data", t->name);
        return t->ops->folder ? (t->rc = t->ops->folder(t->ctx, t->name, err)) : 0;
    }
    if (type != '0' && type != '\0')
        return fail(t, err, INFERD_EUNSUPPORTED,
                    "tar: %s: not a regular file or folder (links, devices and pax/GNU extension headers are refused)",
                    t->name);
    if (!tar_name_ok(t->name))
        return fail(t, err, INFERD_EFORMAT, "tar: %s: unsafe entry name (absolute, '..' or odd characters)", t->name);
    if (size > t->lim.max_file_size)
        return fail(t, err, INFERD_ETOOLARGE, "tar: %s: larger than the limit for one file", t->name);
    if ((t->rc = t->ops->begin(t->ctx, t->name, size, err)) < 0)
        return t->rc;
    t->left = size;
    t->pad = (size_t)((512 - size % 512) % 512);
    if (size == 0) {
        t->state = TAR_HEADER;
        return t->rc = t->ops->end(t->ctx, err);
    }
    t->state = TAR_DATA;
    return 0;
}

int tar_feed(struct tar_reader *t, const void *p, size_t n, struct inferd_err *err)
{
    const unsigned char *c = p;
    if (t->rc < 0)
        return inferd_err_set(err, t->rc, "tar: the archive was refused already");
    while (n > 0) {
        switch (t->state) {
        case TAR_HEADER: {
            size_t k = 512 - t->have < n ? 512 - t->have : n;
            memcpy(t->block + t->have, c, k);
            t->have += k;
            c += k;
            n -= k;
            if (t->have == 512) {
                t->have = 0;
                if (header(t, err) < 0)
                    return t->rc;
            }
            break;
        }
        case TAR_DATA: {
            size_t k = (int64_t)n < t->left ? n : (size_t)t->left;
            if ((t->rc = t->ops->data(t->ctx, c, k, err)) < 0)
                return t->rc;
            c += k;
            n -= k;
            t->left -= (int64_t)k;
            if (t->left == 0) {
                if ((t->rc = t->ops->end(t->ctx, err)) < 0)
                    return t->rc;
                t->state = t->pad ? TAR_PAD : TAR_HEADER;
            }
            break;
        }
        case TAR_PAD: {
            size_t k = n < t->pad ? n : t->pad;
            c += k;
            n -= k;
            t->pad -= k;
            if (t->pad == 0)
                t->state = TAR_HEADER;
            break;
        }
        case TAR_END:
            return 0; /* whatever follows the end blocks (tar pads to 10 KiB records) is ignored */
        }
    }
    return 0;
}

int tar_finish(struct tar_reader *t, struct inferd_err *err)
{
    if (t->rc < 0)
        return t->rc;
    if (t->state == TAR_END || (t->state == TAR_HEADER && t->have == 0 && t->entries > 0))
        return 0;
    if (t->state == TAR_DATA || t->state == TAR_PAD)
        return inferd_err_set(err, INFERD_EFORMAT, "tar: truncated in the data of %s", t->name);
    return inferd_err_set(err, INFERD_EFORMAT, "tar: truncated archive (%d entries read)", t->entries);
}
