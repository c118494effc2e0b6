/* path.h — building file-system paths into fixed buffers without ever truncating.
 *
 * A path that does not fit is refused with INFERD_ETOOLARGE naming the path and the cap,
 * never cut short (a cut path can name a different file). PATH_MAX_LEN is the one cap for
 * every path buffer in inferd (bytes, including the terminating NUL).
 *
 *   char path[PATH_MAX_LEN];
 *   if ((rc = path_join(path, sizeof path, dir, "config.json", err)) < 0)
 *       return rc;                 // err: "models/a…/config.json: path longer than 4095 bytes"
 *   FILE *f = fopen(path, "rb");
 */
#ifndef INFERD_BASE_PATH_H
#define INFERD_BASE_PATH_H

#include "inferd/err.h"

#include <stddef.h>

/* Bytes in every path buffer, NUL included (Linux's PATH_MAX). */
#define PATH_MAX_LEN 4096

/* Writes "a/b" to out (cap bytes): exactly one '/' between them (none added when a is empty
 * or already ends in '/'); b is used as is. OUT: out, NUL-terminated.
 * Returns 0, or INFERD_ETOOLARGE (out holds "" and err names the path's start and the cap).
 * out may not overlap a or b. */
int path_join(char *out, size_t cap, const char *a, const char *b, struct inferd_err *err);

/* Copies src to out (cap bytes). Returns 0 or INFERD_ETOOLARGE as path_join. */
int path_copy(char *out, size_t cap, const char *src, struct inferd_err *err);

#endif
