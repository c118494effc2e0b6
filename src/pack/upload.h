/* upload.h — a package arriving as a tar stream (PUT /v2/repository/models/{m}/versions/{v})
 * is unpacked as it arrives into a staging folder inside the repository (REPO/.put-<pid>-<hex>,
 * which the repository scan ignores), never held in memory, then verified and registered
 * with pack_register (store.h: sha256 of every file, the signature under --trust, atomic
 * rename into place). The staging folder is removed at the end whatever happened.
 *
 * The tar holds the package as `inferd pack` wrote it, relative to its folder
 * (`tar -C PKG -cf - .`): [./]M/config.json and [./]M/V/<file>, where M and V must be the
 * URL's model and version; anything else is refused.
 *
 *   struct pack_upload *u;
 *   pack_upload_open("models", "mlp", 3, 1 << 30, &u, &err);
 *   while (chunk) if (pack_upload_write(u, p, n, &err) < 0) break;   // sticky error
 *   rc = pack_upload_commit(u, trust, &rr, &err);
 *   pack_upload_free(u);
 */
#ifndef INFERD_PACK_UPLOAD_H
#define INFERD_PACK_UPLOAD_H

#include "inferd/err.h"
#include "pack/sign.h"
#include "pack/store.h"

#include <stddef.h>
#include <stdint.h>

struct pack_upload;

/* Creates the staging folder. max_bytes caps the whole tar stream. Returns 0 or EINVAL
 * (bad name/version), EIO. */
int pack_upload_open(const char *repo, const char *name, int64_t version, int64_t max_bytes,
                     struct pack_upload **out, struct inferd_err *err);
/* Feeds the next bytes of the tar stream. Returns 0 or the first error (sticky). */
int pack_upload_write(struct pack_upload *u, const void *p, size_t n, struct inferd_err *err);
/* The stream is over: checks the archive ended cleanly, then pack_register. Returns 0 or
 * the upload's first error / the register error. */
int pack_upload_commit(struct pack_upload *u, const struct pack_keyring *trust, struct pack_register_result *rr,
                       struct inferd_err *err);
/* The first error of the stream (0 when none), its message in err. */
int pack_upload_error(const struct pack_upload *u, struct inferd_err *err);
/* Removes the staging folder now (before answering, so a client that got the answer finds
 * nothing left); later writes fail. */
void pack_upload_discard(struct pack_upload *u);
/* Removes the staging folder and frees. NULL is a no-op. */
void pack_upload_free(struct pack_upload *u);

#endif
