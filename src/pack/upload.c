/* upload.c — a tar stream unpacked into a staging folder, then registered (upload.h). */
#include "pack/upload.h"

#include "base/fileio.h"
#include "base/path.h"
#include "base/rng.h"
#include "pack/manifest.h"
#include "pack/pack.h"
#include "pack/tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pack_upload {
    char repo[PATH_MAX_LEN];
    char stage[PATH_MAX_LEN];   /* REPO/.put-<pid>-<hex> */
    char name[128];
    char vstr[24];
    int64_t max_bytes, got;
    struct tar_reader *tar;
    int fd;                     /* the file being written, or -1 */
    char cur[PATH_MAX_LEN];
    int rc;                     /* sticky */
    struct inferd_err err;      /* its message */
};

/* The path under the stage for a tar entry, or an error when the entry is not one a
 * package of this model and version holds. folder: 1 for a folder entry. */
static int map_entry(struct pack_upload *u, const char *name, int folder, char *out, struct inferd_err *err)
{
    const char *p = strncmp(name, "./", 2) == 0 ? name + 2 : name;
    size_t nl = strlen(u->name), vl = strlen(u->vstr);
    const char *why = NULL;
    if (strncmp(p, u->name, nl) != 0 || (p[nl] != '/' && p[nl] != '\0'))
        why = "not under the model's folder";
    else if (p[nl] == '\0')
        why = folder ? NULL : "the model's folder as a file";
    else {
        const char *q = p + nl + 1;
        if (strcmp(q, "config.json") == 0)
            why = folder ? "config.json as a folder" : NULL;
        else if (strncmp(q, u->vstr, vl) != 0 || (q[vl] != '/' && q[vl] != '\0'))
            why = "neither config.json nor in the version's folder";
        else if (q[vl] == '\0')
            why = folder ? NULL : "the version's folder as a file";
        else if (folder || !pack_name_ok(q + vl + 1))
            why = "not a plain file in the version's folder";
    }
    if (why)
        return inferd_err_set(err, INFERD_EFORMAT, "tar: %s: %s (the package must hold %s/config.json and %s/%s/FILE)",
                              name, why, u->name, u->name, u->vstr);
    return path_join(out, PATH_MAX_LEN, u->stage, p, err);
}

static int on_folder(void *ctx, const char *name, struct inferd_err *err)
{
    struct pack_upload *u = ctx;
    char path[PATH_MAX_LEN];
    int rc = map_entry(u, name, 1, path, err);
    if (rc < 0)
        return rc;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int on_begin(void *ctx, const char *name, int64_t size, struct inferd_err *err)
{
    struct pack_upload *u = ctx;
    (void)size;
    int rc = map_entry(u, name, 0, u->cur, err);
    if (rc < 0)
        return rc;
    /* parent folders may come without their own entries */
    char dir[PATH_MAX_LEN];
    snprintf(dir, sizeof dir, "%s", u->cur);
    for (char *s = dir + strlen(u->stage) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return inferd_err_set(err, INFERD_EIO, "%s: %s", dir, strerror(errno));
        *s = '/';
    }
    u->fd = open(u->cur, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (u->fd < 0)
        return inferd_err_set(err, INFERD_EFORMAT, "tar: %s: %s%s", name, strerror(errno),
                              errno == EEXIST ? " (the entry appears twice)" : "");
    return 0;
}

static int on_data(void *ctx, const void *p, size_t n, struct inferd_err *err)
{
    struct pack_upload *u = ctx;
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(u->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return inferd_err_set(err, INFERD_EIO, "%s: write: %s", u->cur, strerror(errno));
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_end(void *ctx, struct inferd_err *err)
{
    struct pack_upload *u = ctx;
    int rc = 0;
    /* No fsync here, on the HTTP worker: the staging folder is thrown away after the
     * register copies it into the repository, and that copy is what gets fsync'ed. */
    if (close(u->fd) != 0)
        rc = inferd_err_set(err, INFERD_EIO, "%s: close: %s", u->cur, strerror(errno));
    u->fd = -1;
    return rc;
}

static const struct tar_ops upload_ops = {on_folder, on_begin, on_data, on_end};

int pack_upload_open(const char *repo, const char *name, int64_t version, int64_t max_bytes,
                     struct pack_upload **out, struct inferd_err *err)
{
    char hex[17], tname[64];
    int rc;
    if (!pack_model_name_ok(name))
        return inferd_err_set(err, INFERD_EINVAL, "model name '%.130s': not 1-127 of A-Z a-z 0-9 _ . -", name);
    if (version < 1 || version > 999999999999999LL)
        return inferd_err_set(err, INFERD_EINVAL, "version: not in 1..999999999999999");
    struct pack_upload *u = calloc(1, sizeof *u);
    if (!u)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    u->fd = -1;
    u->max_bytes = max_bytes;
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->vstr, sizeof u->vstr, "%lld", (long long)version);
    if (rng_hex(hex, 8) < 0)
        snprintf(hex, sizeof hex, "0");
    snprintf(tname, sizeof tname, ".put-%ld-%s", (long)getpid(), hex);
    if ((rc = path_copy(u->repo, sizeof u->repo, repo, err)) < 0 ||
        (rc = path_join(u->stage, sizeof u->stage, repo, tname, err)) < 0)
        goto fail;
    if (mkdir(u->stage, 0700) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s", u->stage, strerror(errno));
        goto fail;
    }
    struct tar_limits lim = {.max_entries = PACK_FILES_MAX + 8, .max_file_size = max_bytes};
    u->tar = tar_reader_new(&upload_ops, u, &lim);
    if (!u->tar) {
        rmdir(u->stage);
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    *out = u;
    return 0;
fail:
    free(u);
    return rc;
}

int pack_upload_write(struct pack_upload *u, const void *p, size_t n, struct inferd_err *err)
{
    if (u->rc < 0)
        return pack_upload_error(u, err);
    if ((int64_t)n > u->max_bytes - u->got) {
        u->rc = inferd_err_set(&u->err, INFERD_ETOOLARGE, "package upload: larger than the limit of %lld bytes "
                               "(--max-upload-bytes)", (long long)u->max_bytes);
        return pack_upload_error(u, err);
    }
    u->got += (int64_t)n;
    if ((u->rc = tar_feed(u->tar, p, n, &u->err)) < 0)
        return pack_upload_error(u, err);
    return 0;
}

int pack_upload_error(const struct pack_upload *u, struct inferd_err *err)
{
    if (u->rc < 0)
        inferd_err_set(err, u->rc, "%s", u->err.msg);
    return u->rc;
}

int pack_upload_commit(struct pack_upload *u, const struct pack_keyring *trust, struct pack_register_result *rr,
                       struct inferd_err *err)
{
    if (u->rc < 0)
        return pack_upload_error(u, err);
    if ((u->rc = tar_finish(u->tar, &u->err)) < 0)
        return pack_upload_error(u, err);
    int rc = pack_register(u->stage, u->repo, trust, rr, err);
    if (rc == 0 && (strcmp(rr->name, u->name) != 0 || strcmp(u->vstr, "") == 0))
        rc = inferd_err_set(err, INFERD_EFORMAT, "package: holds model %s, not %s", rr->name, u->name);
    return rc;
}

void pack_upload_discard(struct pack_upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (u->rc == 0)
        u->rc = inferd_err_set(&u->err, INFERD_EINVAL, "package upload: already finished");
    if (u->stage[0])
        file_remove_tree(u->stage, NULL);
    u->stage[0] = '\0';
}

void pack_upload_free(struct pack_upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    tar_reader_free(u->tar);
    if (u->stage[0])
        file_remove_tree(u->stage, NULL);
    free(u);
}
