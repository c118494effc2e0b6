/* tar.h — a streaming reader of ustar archives (POSIX.1-1988 / GNU tar / Python tarfile
 * without extensions), fed in chunks of any size, for packages uploaded over HTTP.
 *
 * Header block (512 bytes; numbers are NUL- or space-terminated octal):
 *
 *   offset  size  field            offset  size  field
 *   0       100   name             257     6     magic "ustar"
 *   124     12    size             263     2     version
 *   148     8     chksum           345     155   prefix (name = prefix "/" name)
 *   156     1     typeflag ('0' or NUL file, '5' folder; everything else refused)
 *
 * File data follows in 512-byte blocks; two zero blocks end the archive. Every name is
 * checked before any byte of its data is handed over: relative, no "..", no empty or "."
 * component other than a leading "./", no control characters. Links, devices, pax and
 * GNU long-name headers are refused (an upload never needs them).
 *
 *   struct tar_reader *t = tar_reader_new(&ops, ctx, &lim);
 *   while (more) if (tar_feed(t, chunk, n, &err) < 0) break;   // ops get begin/data/end
 *   if (tar_finish(t, &err) < 0) refuse(err.msg);              // truncated archive
 *   tar_reader_free(t);
 */
#ifndef INFERD_PACK_TAR_H
#define INFERD_PACK_TAR_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define TAR_NAME_MAX 260 /* bytes of a full entry name, NUL included */

struct tar_ops {
    /* A folder entry (name without the trailing '/'). May be NULL (folders skipped). */
    int (*folder)(void *ctx, const char *name, struct inferd_err *err);
    /* A file entry of size bytes begins. */
    int (*begin)(void *ctx, const char *name, int64_t size, struct inferd_err *err);
    /* The next bytes of the current file. */
    int (*data)(void *ctx, const void *p, size_t n, struct inferd_err *err);
    /* The current file is complete. */
    int (*end)(void *ctx, struct inferd_err *err);
};

struct tar_limits {
    int max_entries;       /* entries at most */
    int64_t max_file_size; /* bytes of one file at most */
};

struct tar_reader;

/* OUT: a reader (NULL on ENOMEM). ops and ctx are borrowed. */
struct tar_reader *tar_reader_new(const struct tar_ops *ops, void *ctx, const struct tar_limits *lim);
void tar_reader_free(struct tar_reader *t);
/* Feeds the next n bytes. Returns 0 or the first error (sticky: later calls return it
 * again): EFORMAT naming the entry and field, ETOOLARGE naming the limit, or an ops error. */
int tar_feed(struct tar_reader *t, const void *p, size_t n, struct inferd_err *err);
/* The input is over: returns 0 when the archive ended cleanly (end blocks seen, or EOF on
 * an entry boundary after at least one entry), else EFORMAT ("truncated ..."). */
int tar_finish(struct tar_reader *t, struct inferd_err *err);

/* 1 when name is a safe relative path as described above ("./" prefix allowed). */
int tar_name_ok(const char *name);

#endif
