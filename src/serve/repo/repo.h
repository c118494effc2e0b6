/* repo.h — the model repository: models/<name>/[config.json] + <version>/model.onnx
 * [+ manifest.json], loaded under a version policy, re-scanned while serving, with
 * reference-counted model versions so an unload never cuts an in-flight request.
 *
 * A sync of one model reads config.json, lists the numeric version folders, and walks
 * them newest first: versions the policy wants are loaded (manifest checked, backend
 * loaded, scheduler started); a version that fails to load is logged, remembered by its
 * files' size+mtime (so it is retried only once it changes) and skipped, so an older one
 * keeps serving; loaded versions the policy no longer wants are unloaded.
 *
 *   struct repo *r; repo_open(&opts, &r, &err);          // loads everything, starts polling
 *   struct model_version *mv;
 *   if (repo_acquire(r, "mlp", 0, &mv, &err) == 0) {   // 0 = newest loaded version
 *       sched_submit(mv->sched, job, &err); ... repo_release(mv);
 *   }
 *   repo_close(r);
 *
 * Threading: every call is thread-safe. repo_release may free the version (joining its
 * scheduler), so never call it from that version's scheduler thread.
 */
#ifndef INFERD_SERVE_REPO_H
#define INFERD_SERVE_REPO_H

#include "base/path.h"
#include "inferd/err.h"
#include "serve/repo/backend.h"
#include "serve/sched/infer_req.h"
#include "serve/repo/repo_config.h"
#include "serve/sched/sched.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

struct tpool;
struct metrics_inferd;

#define REPO_MAX_MODELS 1024
#define REPO_MAX_VERSIONS 64
#define REPO_NAME_MAX 128

struct repo_opts {
    const char *root;               /* the models folder (copied) */
    int poll_ms;                    /* re-scan period; 0 = never */
    struct tpool *pool;             /* borrowed compute pool for engines */
    int64_t max_elements;           /* per-tensor cap passed to engines */
    struct metrics_inferd *metrics; /* borrowed; may be NULL */
};

/* One loaded model version. Fields are read-only after load. */
struct model_version {
    atomic_int refs;                /* the repository's own + one per request */
    char name[REPO_NAME_MAX];
    int64_t version;
    char version_str[24];
    char dir[PATH_MAX_LEN];         /* the version folder */
    const struct backend_ops *be;
    void *model;                    /* backend-owned */
    int n_in, n_out;
    struct model_io in[INFER_MAX_TENSORS], out[INFER_MAX_TENSORS];
    int max_batch_size;
    struct sched *sched;
};

struct repo;

/* Scans opts->root and loads every model. Model-level failures are logged, not returned.
 * OUT: *out. Returns 0 or ENOTFOUND/EIO when root cannot be read. */
int repo_open(const struct repo_opts *opts, struct repo **out, struct inferd_err *err);
/* Stops polling, unloads everything (waiting for in-flight requests). NULL is a no-op. */
void repo_close(struct repo *r);

/* Takes a reference on version `version` of `name` (0 = the newest loaded). OUT: *mv.
 * Returns 0 or ENOTFOUND (message names model/version and says why) or EUNAVAIL. */
int repo_acquire(struct repo *r, const char *name, int64_t version, struct model_version **mv,
                 struct inferd_err *err);
/* Drops a reference; the last one frees the version. */
void repo_release(struct model_version *mv);

/* Loads (again) a model from disk now and lets polling manage it. Returns 0 when at least
 * one version is loaded afterwards, else ENOTFOUND/EFORMAT... with the reason. */
int repo_load(struct repo *r, const char *name, struct inferd_err *err);
/* Unloads every version of name and keeps it unloaded until repo_load. Returns 0 or
 * ENOTFOUND. In-flight requests finish on the version they hold. */
int repo_unload(struct repo *r, const char *name, struct inferd_err *err);
/* Re-scans the whole folder now (what the poller does). */
void repo_poll(struct repo *r);

/* [{"name","version","state","reason"}...] for every model seen on disk or loaded.
 * New reference; NULL on out-of-memory. */
json_t *repo_index(struct repo *r);
/* Loaded versions of name, ascending, as strings in a new JSON list; NULL when unknown. */
json_t *repo_versions(struct repo *r, const char *name);
/* Number of loaded versions over all models. */
int repo_loaded_count(struct repo *r);

#endif
