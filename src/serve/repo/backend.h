/* backend.h — the interface between the model repository and an inference engine.
 *
 * A backend loads one model version from its folder, describes its inputs and outputs,
 * and runs it. The repository never calls an engine directly, so a new engine (the LLM
 * "gguf" backend) plugs in by adding one struct backend_ops and one line to the table in
 * backend.c. A backend is picked by config.json "backend" or else by which model file the
 * version folder holds (model.onnx, model.gguf).
 *
 *   const struct backend_ops *be = backend_for_dir("models/mlp/1", NULL);
 *   void *m; be->load("models/mlp/1/model.onnx", &opts, &m, &err);
 *   be->infer(m, inputs, n_in, outputs, n_out, &err);   // outputs valid until next infer
 *   be->unload(m);
 *
 * Threading: the repository calls load/describe/unload from its own thread and infer from
 * the version's one scheduler thread; never two infers at once on one model.
 */
#ifndef INFERD_SERVE_BACKEND_H
#define INFERD_SERVE_BACKEND_H

#include "inferd/err.h"
#include "inferd/tensor.h"
#include "serve/sched/infer_req.h"

struct tpool;
struct metrics_inferd;

struct backend_opts {
    struct tpool *pool;       /* borrowed compute pool */
    int64_t max_elements;     /* cap on any tensor's element count */
    struct metrics_inferd *metrics; /* borrowed, may be NULL (the gguf backend's LLM series) */
};

struct backend_ops {
    const char *name;         /* config.json "backend" value: "onnx" */
    const char *platform;     /* v2 metadata "platform": "onnxruntime_onnx" */
    const char *file_name;    /* model file in a version folder: "model.onnx" */
    /* Loads path. OUT: *model (free with unload). Returns 0 or INFERD_E*. */
    int (*load)(const char *path, const struct backend_opts *opt, void **model, struct inferd_err *err);
    void (*unload)(void *model);
    /* Fills up to INFER_MAX_TENSORS inputs and outputs. Returns 0 or ETOOLARGE. */
    int (*describe)(void *model, struct model_io *in, int *n_in, struct model_io *out, int *n_out,
                    struct inferd_err *err);
    /* Runs once. OUT: outputs[0..n_out) are views valid until the next infer/unload. */
    int (*infer)(void *model, const struct inferd_tensor *in, int n_in, struct inferd_tensor *out,
                 int n_out, struct inferd_err *err);
};

/* The backend named name ("onnx"), or NULL. */
const struct backend_ops *backend_find(const char *name);
/* The backend whose model file exists in dir (preferring `name` when not NULL), or NULL. */
const struct backend_ops *backend_for_dir(const char *dir, const char *name);

extern const struct backend_ops backend_onnx;
extern const struct backend_ops backend_gguf;

#endif
