/* fileio.h — durable file-system steps: atomic replace (temp + fsync + rename), folder
 * fsync, a copying loop that hashes and reports progress, and removing a tree.
 *
 * Crash safety comes from the order: write the new bytes under a temporary name in the
 * same folder, fsync the file, rename(2) it over the old name, fsync the folder. A crash
 * at any point leaves either the old file or the new one, never half of one.
 *
 *   if ((rc = file_write_atomic("repo/mlp/config.json", json, len, 0644, &err)) < 0) ...
 *   uint8_t digest[32];
 *   file_copy("a.onnx", "pkg/mlp/1/model.onnx", digest, NULL, NULL, &err);
 */
#ifndef INFERD_BASE_FILEIO_H
#define INFERD_BASE_FILEIO_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes data to path atomically (path.tmp.<pid> + fsync + rename + folder fsync).
 * Returns 0 or EIO naming the path. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct inferd_err *err);

/* fsync of a folder (so a rename or a new entry in it is durable). Returns 0 or EIO. */
int file_fsync_dir(const char *dir, struct inferd_err *err);

/* Called while copying with the bytes done so far and the total (-1 when unknown). */
typedef void (*file_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Copies src to dst (created with mode 0644, refused when it exists), fsyncs dst, and
 * hashes the bytes on the way. OUT: sha256 (32 bytes) when not NULL. progress may be NULL.
 * Returns 0 or EIO naming the file (a partial dst is removed). */
int file_copy(const char *src, const char *dst, uint8_t sha256[32], file_progress_fn progress, void *ctx,
              struct inferd_err *err);

/* Removes path and everything under it (symbolic links are removed, never followed).
 * A missing path is not an error. Returns 0 or EIO naming what could not be removed. */
int file_remove_tree(const char *path, struct inferd_err *err);

/* 32 bytes to 64 lowercase hex digits + NUL. */
void file_hex(const uint8_t *d, size_t n, char *out);

#endif
