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

#include <stdatomic.h>
#include <stdint.h>

struct tpool;
struct metrics_inferd;
struct pack_keyring;

#define REPO_MAX_MODELS 1024
#define REPO_MAX_VERSIONS 64
#define REPO_NAME_MAX 128

struct repo_opts {
    const char *root;               /* the models folder (copied) */
    int poll_ms;                    /* re-scan period; 0 = never */
    struct tpool *pool;             /* borrowed compute pool for engines */
    int64_t max_elements;           /* per-tensor cap passed to engines */
    struct metrics_inferd *metrics; /* borrowed; may be NULL */
    int prefix_cache_mb;            /* LLM prefix cache cap for backend_load (0 = default, < 0 = off) */
    int memory_budget_mb;           /* LLM memory budget for backend_load (0 = none) */
    const char *trust_file;         /* trust file of ed25519 public keys (pack/sign.h): a version
                                       loads only when manifest.sig verifies with one of them
                                       and every file matches manifest.json; NULL = not required */
};

/* One loaded model version. Fields are read-only after load. Routes ask for what they
 * need through caps / model_version_llm, never through be or model. */
struct model_version {
    atomic_int refs;                /* the repository's own + one per request */
    char name[REPO_NAME_MAX];
    int64_t version;
    char version_str[24];
    char dir[PATH_MAX_LEN];         /* the version folder */
    const struct backend_ops *be;   /* for the repository and v2 metadata (platform) */
    void *model;                    /* backend-owned */
    unsigned caps;                  /* MODEL_CAP_* of this version */
    int n_in, n_out;
    struct model_io in[INFER_MAX_TENSORS], out[INFER_MAX_TENSORS];
    int max_batch_size;
    struct sched *sched;            /* the batching scheduler; only with MODEL_CAP_TENSOR */
};

/* 1 when mv has every capability in cap (MODEL_CAP_*). */
static inline int model_version_can(const struct model_version *mv, unsigned cap)
{
    return (mv->caps & cap) == cap;
}
/* The served language model of mv when it has every capability in cap (MODEL_CAP_GENERATE,
 * MODEL_CAP_EMBED), else NULL. Borrowed: valid while the caller holds mv. */
struct llm_model *model_version_llm(const struct model_version *mv, unsigned cap);

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
/* The keys of opts.trust_file (NULL when signatures are not required); lives as long as r. */
const struct pack_keyring *repo_trust(const struct repo *r);
/* The repository folder. */
const char *repo_root(const struct repo *r);
/* Re-scans the whole folder now (what the poller does). */
void repo_poll(struct repo *r);

/* Takes a reference on the newest version of the first model (in the order models were
 * found) that has every capability in cap: the model a request that names none gets.
 * OUT: *mv. Returns 0 or INFERD_ENOTFOUND. */
int repo_acquire_first(struct repo *r, unsigned cap, struct model_version **mv);

enum repo_state { REPO_READY, REPO_UNAVAILABLE };

/* One row of the repository index (Triton's: a loaded version, a version that failed to
 * load, or a model with nothing loaded). */
struct repo_entry {
    char name[REPO_NAME_MAX];
    int64_t version;                /* 0: no version to name (the model as a whole) */
    enum repo_state state;
    unsigned caps;                  /* MODEL_CAP_* of a READY version; 0 otherwise */
    char reason[INFERD_ERR_MSG_MAX]; /* why UNAVAILABLE; "" when READY */
};

/* Every model seen on disk or loaded: each loaded version READY, each version that failed
 * to load UNAVAILABLE with its reason, a model with neither as one UNAVAILABLE row.
 * OUT: *out (malloc'd; the caller frees; NULL when *n is 0), *n. Returns 0 or ENOMEM. */
int repo_list(struct repo *r, struct repo_entry **out, size_t *n);
/* The loaded versions of name, ascending, into out[0..cap). Returns how many are loaded
 * (may exceed cap), 0 when none is (or the model is unknown). */
int repo_versions(struct repo *r, const char *name, int64_t *out, int cap);
/* 1 when name is a model the repository knows (its folder is there or a version is
 * loaded), else 0: what may label a metric series (bounded by REPO_MAX_MODELS). */
int repo_has(struct repo *r, const char *name);
/* Number of loaded versions over all models. */
int repo_loaded_count(struct repo *r);

#endif
