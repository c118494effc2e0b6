/* oci.h — a package in an OCI distribution registry (docker-registry, Harbor, zot...):
 * `inferd push PKG oci://HOST:PORT/NAME:TAG` and `inferd pull oci://... -o DIR`.
 *
 * One package version is one OCI image manifest:
 *
 *   config   application/vnd.inferd.package.manifest.v1+json   the package's manifest.json
 *   layers   application/vnd.inferd.model.file.v1               one per file of the version
 *            (model.onnx|model.gguf, config.json, manifest.sig), named by the annotation
 *            org.opencontainers.image.title
 *
 * Push uploads each blob the registry does not have yet (HEAD first) in chunks (POST,
 * PATCH with Content-Range, PUT ?digest=), then PUTs the manifest under the tag. Pull
 * fetches the manifest (at most 4 MiB, every field checked: digests, sizes, file names),
 * then each blob into DIR.partial/ — a blob cut off mid-way is resumed from where it
 * stopped with a Range request on the next pull — checks each sha256, writes the package
 * layout (pack.h) and renames DIR.partial to DIR. Auth: HTTP basic (user:password) or the
 * registry token flow (401 + WWW-Authenticate: Bearer realm=... → a token, sent as
 * Bearer). Plain http:// (TLS registries: https://, through libcurl).
 *
 *   struct oci_ref ref;
 *   oci_parse_ref("oci://127.0.0.1:5000/models/mlp:3", &ref, &err);
 *   oci_push("pkg", &ref, &opts, &err);  oci_pull(&ref, "pulled", &opts, &err);
 */
#ifndef INFERD_PACK_OCI_H
#define INFERD_PACK_OCI_H

#include "base/fileio.h"
#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define OCI_MANIFEST_MAX (4 << 20)

struct oci_ref {
    char scheme[8];   /* "http" or "https" */
    char host[256];   /* host:port */
    char name[256];   /* repository name: lowercase components joined by '/' */
    char tag[129];
};

struct oci_opts {
    const char *user_pass;    /* "user:password" or NULL */
    int64_t chunk_bytes;      /* upload chunk size; 0 = 32 MiB */
    file_progress_fn progress; /* per blob; may be NULL */
    void *progress_ctx;
};

/* Parses oci://HOST[:PORT]/NAME[:TAG] (tag default "latest"; ocis:// = https). Returns 0 or
 * EINVAL naming the part that is wrong. */
int oci_parse_ref(const char *s, struct oci_ref *ref, struct inferd_err *err);

/* Pushes a package folder. Returns 0 or INFERD_E* with the registry's error. */
int oci_push(const char *pkg, const struct oci_ref *ref, const struct oci_opts *o, struct inferd_err *err);

/* Pulls into out_dir (must not exist; out_dir.partial keeps what a cut pull got). OUT:
 * name/version when not NULL. Returns 0 or INFERD_E*. */
int oci_pull(const struct oci_ref *ref, const char *out_dir, const struct oci_opts *o, char name[128],
             int64_t *version, struct inferd_err *err);

/* Pulls each ref and registers it into repo (store.h; trust may be NULL): what `inferd
 * serve --models oci://…,oci://…` does at start and on SIGHUP. A ref whose tag now names a
 * new version adds that version; one that names a version already there changes nothing.
 * Pulls go through repo/.pull-<hash of the ref> (resumed when a pull was cut). Returns 0
 * when every ref synced, else the first error (err names the ref); the others are still
 * tried. */
struct pack_keyring;
int oci_sync(const char *const *refs, int n, const char *repo, const struct pack_keyring *trust,
             const struct oci_opts *o, struct inferd_err *err);

/* Checks an OCI image manifest's bytes as pull does (for fuzzing). OUT: number of layers. */
int oci_manifest_check(const char *buf, size_t len, int *n_layers, struct inferd_err *err);

#endif
