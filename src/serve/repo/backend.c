/* backend.c — the table of backends the repository can load models with. */
#include "serve/repo/backend.h"

#include "base/path.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The backends, defined one per file (backend_<name>.c). A new kind of model adds its
 * declaration and one table entry here, nothing else. */
extern const struct backend_ops backend_onnx;
extern const struct backend_ops backend_gguf;
extern const struct backend_ops backend_ocr;

static const struct backend_ops *const backends[] = {
    &backend_onnx,
    &backend_gguf,
    &backend_ocr,
};
#define N_BACKENDS (sizeof backends / sizeof backends[0])

const struct backend_ops *backend_find(const char *name)
{
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const struct backend_ops *backend_for_dir(const char *dir, const char *name)
{
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < N_BACKENDS; i++) {
        if (name && strcmp(backends[i]->name, name) != 0)
            continue;
        /* A path too long to build names no file we could open either. */
        if (path_join(path, sizeof path, dir, backends[i]->file_name, NULL) == 0 && access(path, R_OK) == 0)
            return backends[i];
    }
    return name ? backend_find(name) : NULL;
}

int backend_none_error(const char *dir, struct inferd_err *err)
{
    char names[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < N_BACKENDS && off < sizeof names; i++)
        off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", backends[i]->file_name);
    return inferd_err_set(err, INFERD_ENOTFOUND, "%s: no model file (%s) in the version folder", dir, names);
}
