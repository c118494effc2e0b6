/* manifest.h — a package version's manifest.json: what each file must hash to.
 *
 * Written by `inferd pack`, read by register, verify, show and the server (--trust):
 *
 *   {"schema": "inferd.package.v1",
 *    "name": "mlp", "version": 3, "format": "onnx",
 *    "created": "2026-12-05T07:30:00Z", "inferd_version": "0.1.0",
 *    "source": {"file": "mlp.onnx", "sha256": "<64 hex>", "size": 1234},
 *    "optimizations": [], "checks": ["onnx-load"],
 *    "files": {"model.onnx": {"sha256": "<64 hex>", "size": 1234},
 *              "config.json": {"sha256": "<64 hex>", "size": 210}}}
 *
 * The older form {"files": {"model.onnx": "<64 hex>"}} (a bare digest, no size) is still
 * read. File names are one path component: no '/', not "." or "..", no leading '.', no
 * control characters, at most PACK_NAME_MAX bytes.
 *
 *   struct pack_manifest m;
 *   if (pack_manifest_load("pkg/mlp/3", &m, &err) == 0) {
 *       rc = pack_manifest_check(&m, "pkg/mlp/3", 1, &err);   // names the file that differs
 *       pack_manifest_free(&m);
 *   }
 */
#ifndef INFERD_PACK_MANIFEST_H
#define INFERD_PACK_MANIFEST_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define PACK_MANIFEST_MAX (1 << 20) /* bytes of manifest.json */
#define PACK_FILES_MAX 256          /* files in one version */
#define PACK_NAME_MAX 255           /* bytes of one file name */

struct pack_file {
    char name[PACK_NAME_MAX + 1];
    char sha256[65];  /* lowercase hex */
    int64_t size;     /* -1 when the manifest gives none (older form) */
};

struct pack_manifest {
    char name[129];          /* model name; "" when absent (older form) */
    int64_t version;         /* 0 when absent */
    char format[16];         /* "onnx", "gguf"; "" when absent */
    int n_files;
    struct pack_file *files; /* owned */
};

/* Parses manifest.json's bytes (what names it in messages). OUT: *m, free with
 * pack_manifest_free. Returns 0 or EFORMAT/ETOOLARGE naming the member and why. */
int pack_manifest_parse(const char *buf, size_t len, const char *what, struct pack_manifest *m,
                        struct inferd_err *err);
/* Reads and parses dir/manifest.json. ENOTFOUND when absent. */
int pack_manifest_load(const char *dir, struct pack_manifest *m, struct inferd_err *err);
void pack_manifest_free(struct pack_manifest *m);

/* Checks every listed file in dir: size (when given) then sha256 (not with PACK_CHECK_NO_HASH
 * in strict). With PACK_CHECK_STRICT, also
 * refuses any regular file or folder in dir that is not listed (manifest.json and
 * manifest.sig aside). Returns 0 or EFORMAT naming the file and both digests/sizes,
 * ENOTFOUND for a listed file that is missing. */
#define PACK_CHECK_STRICT 1  /* (the old strict = 1) */
#define PACK_CHECK_NO_HASH 2 /* sizes and names only: the caller hashes the bytes as it reads them */
int pack_manifest_check(const struct pack_manifest *m, const char *dir, int strict, struct inferd_err *err);

/* 1 when s is a safe single path component as described above. */
int pack_name_ok(const char *s);

/* Reads a whole file of at most cap bytes. OUT: *buf (malloc'd, NUL-terminated), *len.
 * Returns 0, ENOTFOUND, EIO or ETOOLARGE naming path and cap. */
int pack_read_small(const char *path, size_t cap, char **buf, size_t *len, struct inferd_err *err);
/* 1 when both files can be read (each under PACK_MANIFEST_MAX bytes) and hold the same bytes. */
int pack_same_small_file(const char *a, const char *b);

#endif
