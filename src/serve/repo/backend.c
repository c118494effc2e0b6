/* backend.c — the table of inference backends the repository can load models with. */
#include "serve/repo/backend.h"

#include "base/path.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Add a backend here (e.g. &backend_gguf). Read-only, so no global mutable state. */
static const struct backend_ops *const backends[] = {
    &backend_onnx,
    &backend_gguf,
};

const struct backend_ops *backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const struct backend_ops *backend_for_dir(const char *dir, const char *name)
{
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (name && strcmp(backends[i]->name, name) != 0)
            continue;
        /* A path too long to build names no file we could open either. */
        if (path_join(path, sizeof path, dir, backends[i]->file_name, NULL) == 0 && access(path, R_OK) == 0)
            return backends[i];
    }
    return name ? backend_find(name) : NULL;
}
