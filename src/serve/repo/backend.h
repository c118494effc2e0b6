/* backend.h — the one seam between the model repository and an engine.
 *
 * A backend loads one model version from its folder and says what the loaded model can
 * do: tensor inference (ONNX), text generation and embeddings (GGUF), later more. The
 * repository hands the loader the version's parsed config (struct backend_load), starts
 * the batching scheduler only for a model that does tensor inference (a backend that needs
 * another kind of scheduler, like the LLM's continuous batching, starts it in load), and a
 * route asks a version for the capability it needs (model_version_llm, MODEL_CAP_*) —
 * never compares backend pointers. A new kind of model is one new backend file and one
 * entry in the table in backend.c.
 *
 *   const struct backend_ops *be = backend_for_dir("models/mlp/1", NULL);
 *   void *m; be->load(&ld, &m, &err);                     // ld: name, dir, path, config ...
 *   if (be->caps(m) & MODEL_CAP_TENSOR)
 *       be->infer(m, inputs, n_in, outputs, n_out, &err); // outputs valid until next infer
 *   be->unload(m);
 *
 * Threading: the repository calls load/describe/caps/unload from its own thread and infer
 * from the version's one batching scheduler thread; never two infers at once on one model.
 */
#ifndef INFERD_SERVE_BACKEND_H
#define INFERD_SERVE_BACKEND_H

#include "inferd/err.h"
#include "inferd/tensor.h"
#include "serve/sched/infer_req.h"

struct tpool;
struct metrics_inferd;
struct model_config;
struct llm_model;

/* What a loaded model can do (a bitmask). */
enum model_cap {
    MODEL_CAP_TENSOR = 1u << 0,   /* named tensors in, named tensors out (v2, /predict, TF-Serving) */
    MODEL_CAP_GENERATE = 1u << 1, /* text generation (OpenAI completions and chat) */
    MODEL_CAP_EMBED = 1u << 2,    /* text embeddings (OpenAI embeddings) */
};

/* Everything a backend's load gets; all borrowed for the duration of the call. */
struct backend_load {
    const char *name;               /* the model: models/<name> */
    int64_t version;                /* the version folder's number */
    const char *dir;                /* the version folder: models/<name>/<version> */
    const char *path;               /* dir/<file_name>, already checked against manifest.json */
    const struct model_config *cfg; /* the model's config.json, parsed once by the repository;
                                       cfg->json holds the whole object for backend members */
    struct tpool *pool;             /* compute pool */
    int64_t max_elements;           /* cap on any tensor's element count */
    struct metrics_inferd *metrics; /* may be NULL */
    int memory_budget_mb;           /* serve --memory-budget-mb: an LLM's budget when its config.json
                                       has none (0 = none) */
    int prefix_cache_mb;            /* serve --prefix-cache-mb: an LLM's prefix cache cap when its
                                       config.json has none (0 = built-in default, < 0 = off) */
};

struct backend_ops {
    const char *name;         /* config.json "backend" value: "onnx" */
    const char *platform;     /* v2 metadata "platform": "onnxruntime_onnx" */
    const char *file_name;    /* model file in a version folder: "model.onnx" */
    int never_inline;         /* its run time depends on the input (a pipeline): never run on an
                                 HTTP worker, always on the version's scheduler thread */
    /* Loads ld->path. OUT: *model (free with unload). Returns 0 or INFERD_E* with err
     * naming the file or the config member. */
    int (*load)(const struct backend_load *ld, void **model, struct inferd_err *err);
    void (*unload)(void *model);
    /* MODEL_CAP_* of a loaded model (may depend on its config: embeddings can be off). */
    unsigned (*caps)(void *model);
    /* Fills up to INFER_MAX_TENSORS inputs and outputs (the v2 metadata). Returns 0 or
     * ETOOLARGE. */
    int (*describe)(void *model, struct model_io *in, int *n_in, struct model_io *out, int *n_out,
                    struct inferd_err *err);
    /* MODEL_CAP_TENSOR: runs once. OUT: outputs[0..n_out) are views valid until the next
     * infer/unload. NULL for a backend without tensor inference. */
    int (*infer)(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out,
                 int n_out, struct inferd_err *err);
    /* MODEL_CAP_GENERATE / MODEL_CAP_EMBED: the served language model (borrowed from
     * model). NULL for a backend without text. */
    struct llm_model *(*llm)(void *model);
};

/* The backend named name ("onnx"), or NULL. */
const struct backend_ops *backend_find(const char *name);
/* The backend whose model file exists in dir (preferring `name` when not NULL), or NULL. */
const struct backend_ops *backend_for_dir(const char *dir, const char *name);
/* Sets err to "<dir>: no model file (model.onnx, model.gguf) in the version folder", listing
 * every backend's file. Returns INFERD_ENOTFOUND. */
int backend_none_error(const char *dir, struct inferd_err *err);

#endif
