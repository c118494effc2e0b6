/* store.c — register, list, show and remove models in a repository folder (store.h). */
#include "pack/store.h"

#include "base/fileio.h"
#include "base/path.h"
#include "pack/manifest.h"
#include "pack/pack.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes temporaries (.reg-<pid>-*, .put-<pid>-*, .rm-<pid>-*, *.tmp.<pid>) in dir left by processes that are gone. */
static void sweep_stale(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX_LEN];
    if (!d)
        return;
    while ((e = readdir(d))) {
        const char *s = e->d_name, *p;
        const char *t = strstr(s, ".tmp."); /* file_write_atomic's temporary (config.json) */
        if (strncmp(s, ".reg-", 5) == 0 || strncmp(s, ".put-", 5) == 0)
            p = s + 5;
        else if (strncmp(s, ".rm-", 4) == 0)
            p = s + 4;
        else if (t && strspn(t + 5, "0123456789.") == strlen(t + 5) && t[5]) /* .tmp.<pid>.<seq> */
            p = t + 5;
        else
            continue;
        long pid = strtol(p, NULL, 10);
        if (pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge) */
        if (path_join(path, sizeof path, dir, s, NULL) == 0)
            file_remove_tree(path, NULL);
    }
    closedir(d);
}

/* Copies the manifest's files plus manifest.json (and manifest.sig when present) from src
 * to the new folder dst, checking each copy's sha256 against the manifest (the package
 * could change while it is read). */
static int copy_version(const struct pack_manifest *m, const char *src, const char *dst, struct inferd_err *err)
{
    char a[PATH_MAX_LEN], b[PATH_MAX_LEN], hex[65];
    uint8_t d[32];
    int rc;
    if (mkdir(dst, 0755) != 0)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", dst, strerror(errno));
    for (int i = 0; i < m->n_files + 2; i++) {
        const char *name = i < m->n_files ? m->files[i].name : i == m->n_files ? "manifest.json" : "manifest.sig";
        if ((rc = path_join(a, sizeof a, src, name, err)) < 0 || (rc = path_join(b, sizeof b, dst, name, err)) < 0)
            return rc;
        if (i == m->n_files + 1 && access(a, F_OK) != 0)
            break;
        if ((rc = file_copy(a, b, d, NULL, NULL, err)) < 0)
            return rc;
        file_hex(d, 32, hex);
        if (i < m->n_files && strcmp(hex, m->files[i].sha256) != 0)
            return inferd_err_set(err, INFERD_EFORMAT, "%s: changed while it was copied (sha256 %s, manifest says %s)", a,
                                  hex, m->files[i].sha256);
    }
    return file_fsync_dir(dst, err);
}

#define same_file pack_same_small_file

/* Registers and removals of one process run one at a time: a server registers from its
 * parse queue (PUT), removes from DELETE and pulls on SIGHUP, and each builds and renames
 * folders it assumes nobody else touches meanwhile. (Other processes use other temps: the
 * pid is in their names.) */
static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;

static int register_locked(const char *pkg, const char *repo, const struct pack_keyring *trust,
                           struct pack_register_result *rr, struct inferd_err *err);

int pack_register(const char *pkg, const char *repo, const struct pack_keyring *trust, struct pack_register_result *rr,
                  struct inferd_err *err)
{
    pthread_mutex_lock(&store_mu);
    int rc = register_locked(pkg, repo, trust, rr, err);
    pthread_mutex_unlock(&store_mu);
    return rc;
}

static int register_locked(const char *pkg, const char *repo, const struct pack_keyring *trust,
                           struct pack_register_result *rr, struct inferd_err *err)
{
    char mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN], dst_model[PATH_MAX_LEN], dst_ver[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    char a[PATH_MAX_LEN], b[PATH_MAX_LEN], vstr[24], tname[200];
    struct pack_manifest m = {0};
    struct stat st;
    int rc;
    memset(rr, 0, sizeof *rr);
    if ((rc = pack_open(pkg, rr->name, &rr->version, mdir, vdir, err)) < 0)
        return rc;
    if ((rc = pack_manifest_load(vdir, &m, err)) < 0) {
        if (rc == INFERD_ENOTFOUND)
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s: no manifest.json; make packages with `inferd pack`", vdir);
        return rc;
    }
    if ((m.name[0] && strcmp(m.name, rr->name) != 0) || (m.version && m.version != rr->version)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s/manifest.json: says %s version %lld but the folders say %s/%lld",
                            vdir, m.name, (long long)m.version, rr->name, (long long)rr->version);
        goto done;
    }
    if (trust) {
        if ((rc = pack_verify_as(vdir, trust, rr->name, rr->version, err)) < 0)
            goto done;
        rr->signed_by_trusted = 1;
    } else if ((rc = pack_manifest_check(&m, vdir, 1, err)) < 0) {
        goto done;
    }
    if ((rc = path_join(a, sizeof a, mdir, "config.json", err)) < 0)
        goto done;
    if (access(a, R_OK) != 0) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s: missing; a package carries its model's config.json", a);
        goto done;
    }
    if (trust) { /* the model's config.json is outside the manifest: it must be the signed copy */
        char signed_cfg[PATH_MAX_LEN];
        if ((rc = path_join(signed_cfg, sizeof signed_cfg, vdir, "config.json", err)) < 0)
            goto done;
        if (!same_file(a, signed_cfg)) {
            rc = inferd_err_set(err, INFERD_EFORMAT,
                                "%s: differs from the signed %s (or that is missing); under --trust the model's "
                                "config must be the one the signature covers", a, signed_cfg);
            goto done;
        }
    }
    if (mkdir(repo, 0755) != 0 && errno != EEXIST) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s", repo, strerror(errno));
        goto done;
    }
    snprintf(vstr, sizeof vstr, "%lld", (long long)rr->version);
    if ((rc = path_join(dst_model, sizeof dst_model, repo, rr->name, err)) < 0 ||
        (rc = path_join(dst_ver, sizeof dst_ver, dst_model, vstr, err)) < 0)
        goto done;
    sweep_stale(repo);
    if (lstat(dst_model, &st) != 0) {
        /* A new model: build it whole beside the others, commit with one rename. */
        snprintf(tname, sizeof tname, ".reg-%ld-%s", (long)getpid(), rr->name);
        if ((rc = path_join(tmp, sizeof tmp, repo, tname, err)) < 0)
            goto done;
        file_remove_tree(tmp, NULL);
        if (mkdir(tmp, 0755) != 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: %s", tmp, strerror(errno));
            goto done;
        }
        if ((rc = path_join(b, sizeof b, tmp, "config.json", err)) < 0 || (rc = file_copy(a, b, NULL, NULL, NULL, err)) < 0 ||
            (rc = path_join(b, sizeof b, tmp, vstr, err)) < 0 || (rc = copy_version(&m, vdir, b, err)) < 0 ||
            (rc = file_fsync_dir(tmp, err)) < 0)
            goto fail_tmp;
        if (rename(tmp, dst_model) != 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", dst_model, strerror(errno));
            goto fail_tmp;
        }
        rc = file_fsync_dir(repo, err);
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "%s: exists and is not a model folder", dst_model);
        goto done;
    }
    sweep_stale(dst_model);
    if (lstat(dst_ver, &st) == 0) {
        char x[PATH_MAX_LEN], y[PATH_MAX_LEN];
        if ((rc = path_join(x, sizeof x, vdir, "manifest.json", err)) < 0 ||
            (rc = path_join(y, sizeof y, dst_ver, "manifest.json", err)) < 0)
            goto done;
        if (!same_file(x, y)) {
            rc = inferd_err_set(err, INFERD_EINVAL,
                                "%s: version %lld of %s is already registered with other contents; `inferd rm %s:%lld` "
                                "first or pack another version",
                                dst_ver, (long long)rr->version, rr->name, rr->name, (long long)rr->version);
            goto done;
        }
        rr->already = 1;
    } else {
        snprintf(tname, sizeof tname, ".reg-%ld-%s", (long)getpid(), vstr);
        if ((rc = path_join(tmp, sizeof tmp, dst_model, tname, err)) < 0)
            goto done;
        file_remove_tree(tmp, NULL);
        if ((rc = copy_version(&m, vdir, tmp, err)) < 0)
            goto fail_tmp;
        if (rename(tmp, dst_ver) != 0) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", dst_ver, strerror(errno));
            goto fail_tmp;
        }
        if ((rc = file_fsync_dir(dst_model, err)) < 0)
            goto done;
    }
    /* The model's config.json becomes the package's (atomic replace). */
    if ((rc = path_join(b, sizeof b, dst_model, "config.json", err)) < 0)
        goto done;
    if (!same_file(a, b)) {
        char *text = NULL;
        size_t len = 0;
        if ((rc = pack_read_small(a, 1 << 20, &text, &len, err)) < 0)
            goto done;
        rc = file_write_atomic(b, text, len, 0644, err);
        free(text);
    }
    goto done;
fail_tmp:
    file_remove_tree(tmp, NULL);
done:
    pack_manifest_free(&m);
    return rc;
}

static int is_version_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 15 && s[0] != '0' && strspn(s, "0123456789") == n;
}

static void fill_row(const char *vdir, struct pack_row *r)
{
    DIR *d = opendir(vdir);
    struct dirent *e;
    char path[PATH_MAX_LEN];
    struct stat st;
    struct pack_manifest m;
    snprintf(r->format, sizeof r->format, "?");
    if (d) {
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || path_join(path, sizeof path, vdir, e->d_name, NULL) < 0 || stat(path, &st) != 0 ||
                !S_ISREG(st.st_mode))
                continue;
            r->size += (int64_t)st.st_size;
            if ((int64_t)st.st_mtime > r->mtime)
                r->mtime = (int64_t)st.st_mtime;
            if (strcmp(e->d_name, "manifest.sig") == 0)
                r->is_signed = 1;
            if (strcmp(e->d_name, "model.onnx") == 0 && r->format[0] == '?')
                snprintf(r->format, sizeof r->format, "onnx");
            if (strcmp(e->d_name, "model.gguf") == 0 && r->format[0] == '?')
                snprintf(r->format, sizeof r->format, "gguf");
        }
        closedir(d);
    }
    if (pack_manifest_load(vdir, &m, NULL) == 0) {
        if (m.format[0])
            snprintf(r->format, sizeof r->format, "%s", m.format);
        for (int i = 0; i < m.n_files; i++)
            if (strncmp(m.files[i].name, "model.", 6) == 0)
                snprintf(r->sha256, sizeof r->sha256, "%s", m.files[i].sha256);
        pack_manifest_free(&m);
    }
}

static int cmp_row(const void *a, const void *b)
{
    const struct pack_row *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->version < y->version ? 1 : x->version > y->version ? -1 : 0;
}

/* Adds the rows of one model (only). */
static int list_model(const char *repo, const char *name, struct pack_row **rows, size_t *n, size_t *cap)
{
    char mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN];
    if (path_join(mdir, sizeof mdir, repo, name, NULL) < 0)
        return 0;
    DIR *d = opendir(mdir);
    struct dirent *e;
    struct stat st;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        if (!is_version_name(e->d_name) || path_join(vdir, sizeof vdir, mdir, e->d_name, NULL) < 0 ||
            stat(vdir, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            struct pack_row *t = realloc(*rows, nc * sizeof *t);
            if (!t) {
                closedir(d);
                return INFERD_ENOMEM;
            }
            *rows = t;
            *cap = nc;
        }
        struct pack_row *r = &(*rows)[(*n)++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", name);
        r->version = strtoll(e->d_name, NULL, 10);
        fill_row(vdir, r);
    }
    closedir(d);
    return 0;
}

int pack_list(const char *repo, struct pack_row **rows, size_t *n, struct inferd_err *err)
{
    DIR *d = opendir(repo);
    struct dirent *e;
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    if (!d)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", repo, strerror(errno));
    while ((e = readdir(d))) {
        if (!pack_model_name_ok(e->d_name))
            continue;
        if (list_model(repo, e->d_name, rows, n, &cap) < 0) {
            closedir(d);
            free(*rows);
            *rows = NULL;
            *n = 0;
            return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        }
    }
    closedir(d);
    if (*n)
        qsort(*rows, *n, sizeof **rows, cmp_row);
    return 0;
}

int pack_show(const char *repo, const char *name, json_t **out, struct inferd_err *err)
{
    char mdir[PATH_MAX_LEN], path[PATH_MAX_LEN], vstr[24];
    struct pack_row *rows = NULL;
    size_t n = 0, cap = 0;
    struct stat st;
    int rc;
    if (!pack_model_name_ok(name))
        return inferd_err_set(err, INFERD_EINVAL, "'%.130s' is not a model name", name);
    if ((rc = path_join(mdir, sizeof mdir, repo, name, err)) < 0)
        return rc;
    if (stat(mdir, &st) != 0 || !S_ISDIR(st.st_mode))
        return inferd_err_set(err, INFERD_ENOTFOUND, "%s: no model '%s' in %s", mdir, name, repo);
    if (list_model(repo, name, &rows, &n, &cap) < 0)
        return inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    if (n)
        qsort(rows, n, sizeof *rows, cmp_row);
    json_t *o = json_object(), *vs = json_array();
    json_object_set_new(o, "name", json_string(name));
    json_error_t je;
    json_t *cfg = NULL;
    if (path_join(path, sizeof path, mdir, "config.json", NULL) == 0)
        cfg = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    json_object_set_new(o, "config", cfg ? cfg : json_object());
    for (size_t i = 0; i < n; i++) {
        char vdir[PATH_MAX_LEN];
        snprintf(vstr, sizeof vstr, "%lld", (long long)rows[i].version);
        json_t *v = json_pack("{s:I, s:s, s:I, s:b}", "version", (json_int_t)rows[i].version, "format", rows[i].format,
                              "size", (json_int_t)rows[i].size, "signed", rows[i].is_signed);
        if (v && path_join(vdir, sizeof vdir, mdir, vstr, NULL) == 0 &&
            path_join(path, sizeof path, vdir, "manifest.json", NULL) == 0) {
            json_t *man = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
            if (man)
                json_object_set_new(v, "manifest", man);
        }
        if (v)
            json_array_append_new(vs, v);
    }
    json_object_set_new(o, "versions", vs);
    free(rows);
    *out = o;
    return 0;
}

static int rm_locked(const char *repo, const char *name, int64_t version, struct inferd_err *err);

int pack_rm(const char *repo, const char *name, int64_t version, struct inferd_err *err)
{
    pthread_mutex_lock(&store_mu);
    int rc = rm_locked(repo, name, version, err);
    pthread_mutex_unlock(&store_mu);
    return rc;
}

static int rm_locked(const char *repo, const char *name, int64_t version, struct inferd_err *err)
{
    char mdir[PATH_MAX_LEN], target[PATH_MAX_LEN], tmp[PATH_MAX_LEN], tname[200], vstr[24];
    const char *parent;
    struct stat st;
    int rc;
    if (!pack_model_name_ok(name))
        return inferd_err_set(err, INFERD_EINVAL, "'%.130s' is not a model name", name);
    if ((rc = path_join(mdir, sizeof mdir, repo, name, err)) < 0)
        return rc;
    if (stat(mdir, &st) != 0 || !S_ISDIR(st.st_mode))
        return inferd_err_set(err, INFERD_ENOTFOUND, "no model '%s' in %s", name, repo);
    if (version > 0) {
        snprintf(vstr, sizeof vstr, "%lld", (long long)version);
        if ((rc = path_join(target, sizeof target, mdir, vstr, err)) < 0)
            return rc;
        if (stat(target, &st) != 0 || !S_ISDIR(st.st_mode))
            return inferd_err_set(err, INFERD_ENOTFOUND, "model '%s' has no version %lld in %s", name,
                                  (long long)version, repo);
        /* The last version takes the model with it. */
        struct pack_row *rows = NULL;
        size_t n = 0, cap = 0;
        list_model(repo, name, &rows, &n, &cap);
        free(rows);
        if (n > 1) {
            parent = mdir;
            snprintf(tname, sizeof tname, ".rm-%ld-%s", (long)getpid(), vstr);
            goto move;
        }
    }
    snprintf(target, sizeof target, "%s", mdir);
    parent = repo;
    snprintf(tname, sizeof tname, ".rm-%ld-%s", (long)getpid(), name);
move:
    sweep_stale(parent);
    if ((rc = path_join(tmp, sizeof tmp, parent, tname, err)) < 0)
        return rc;
    file_remove_tree(tmp, NULL);
    if (rename(target, tmp) != 0)
        return inferd_err_set(err, INFERD_EIO, "%s: rename: %s", target, strerror(errno));
    if ((rc = file_fsync_dir(parent, err)) < 0)
        return rc;
    return file_remove_tree(tmp, err);
}
