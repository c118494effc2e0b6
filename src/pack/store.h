/* store.h — a model repository folder as a package store: register a package into it,
 * list, show and remove models (`inferd register/list/show/rm`, like `ollama list`).
 *
 * Every change is atomic: files are copied under a temporary name that the server's
 * repository scan ignores (a leading '.'), fsynced, and renamed into place; the folder is
 * fsynced after. A kill -9 at any point leaves the repository as it was before the
 * command, or (past the one rename that commits it) as it is after it; leftover
 * temporaries of dead processes are removed by the next register or rm.
 *
 * Register commits a new model with one rename (REPO/.reg-<pid>-<name> -> REPO/<name>) and
 * a new version of a known model with one rename (REPO/<name>/.reg-<pid>-<v> ->
 * REPO/<name>/<v>); the model's config.json is then replaced atomically with the
 * package's. Registering the same version again with an identical manifest is a no-op that
 * finishes an interrupted config.json update; with a different manifest it is refused.
 *
 *   struct pack_register_result rr;
 *   if (pack_register("pkg", "models", NULL, &rr, &err) < 0) fail(err.msg);
 *   pack_rm("models", "mlp", 3, &err);
 */
#ifndef INFERD_PACK_STORE_H
#define INFERD_PACK_STORE_H

#include "inferd/err.h"
#include "pack/sign.h"

#include <jansson.h>
#include <stdint.h>

struct pack_register_result {
    char name[128];
    int64_t version;
    int already;  /* 1 when the same version was there already (nothing copied) */
    int signed_by_trusted; /* 1 when trust was given and the signature checked */
};

/* Verifies the package (every file's size and sha256, no unlisted file; with trust the
 * signature too) and copies it into repo (created when missing). Returns 0 or EFORMAT/
 * EAUTH naming the file, EINVAL when the version exists with other contents, EIO. */
int pack_register(const char *pkg, const char *repo, const struct pack_keyring *trust, struct pack_register_result *rr,
                  struct inferd_err *err);

/* One row of pack_list. */
struct pack_row {
    char name[128];
    int64_t version;
    char format[16];    /* from manifest.json or the model file's name; "?" when neither */
    int64_t size;       /* bytes of the files in the version folder */
    int64_t mtime;      /* newest file's modification time (seconds since the epoch) */
    int is_signed;      /* manifest.sig present (not verified here) */
    char sha256[65];    /* the model file's digest from the manifest; "" without one */
};

/* Every version of every model in repo, sorted by name then version (newest first).
 * OUT: *rows (free()), *n. Returns 0 or EIO/ENOTFOUND for the folder. */
int pack_list(const char *repo, struct pack_row **rows, size_t *n, struct inferd_err *err);

/* A JSON description of a model: {"name", "config": {...}, "versions": [{"version",
 * "format", "size", "signed", "manifest": {...}}]}. OUT: *out (json_decref). Returns 0 or
 * ENOTFOUND. */
int pack_show(const char *repo, const char *name, json_t **out, struct inferd_err *err);

/* Removes version `version` of name (0 = the whole model); a model left with no version is
 * removed whole. The folder is first renamed out of the repository (atomic), then deleted.
 * Returns 0 or ENOTFOUND naming the model or version. */
int pack_rm(const char *repo, const char *name, int64_t version, struct inferd_err *err);

#endif
