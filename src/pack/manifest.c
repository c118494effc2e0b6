/* manifest.c — parsing and checking a package version's manifest.json. */
#include "pack/manifest.h"

#include "base/path.h"
#include "serve/repo/repo_config.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int pack_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PACK_NAME_MAX || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return 0;
    }
    return 1;
}

int pack_read_small(const char *path, size_t cap, char **buf, size_t *len, struct inferd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", path, strerror(errno));
    char *b = malloc(cap + 1);
    if (!b) {
        fclose(f);
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(b, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return inferd_err_set(err, INFERD_EIO, "%s: read error", path);
    }
    if (n > cap) {
        free(b);
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %zu bytes", path, cap);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

void pack_manifest_free(struct pack_manifest *m)
{
    if (!m)
        return;
    free(m->files);
    m->files = NULL;
    m->n_files = 0;
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return 1;
}

int pack_manifest_parse(const char *buf, size_t len, const char *what, struct pack_manifest *m,
                        struct inferd_err *err)
{
    memset(m, 0, sizeof *m);
    if (len > PACK_MANIFEST_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %d bytes", what, PACK_MANIFEST_MAX);
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    if (!root)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: malformed JSON at line %d column %d: %s", what, je.line,
                              je.column, je.text);
    if (!json_is_object(root)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s: not a JSON object", what);
        goto fail;
    }
    const json_t *v = json_object_get(root, "name");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) >= sizeof m->name) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s: name: not a string of at most %zu bytes", what,
                                sizeof m->name - 1);
            goto fail;
        }
        memcpy(m->name, json_string_value(v), json_string_length(v) + 1);
    }
    v = json_object_get(root, "version");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 999999999999999LL) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s: version: not an integer in 1..999999999999999", what);
            goto fail;
        }
        m->version = (int64_t)json_integer_value(v);
    }
    v = json_object_get(root, "format");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) >= sizeof m->format) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s: format: not a short string", what);
            goto fail;
        }
        memcpy(m->format, json_string_value(v), json_string_length(v) + 1);
    }
    const json_t *files = json_object_get(root, "files");
    if (!json_is_object(files) || json_object_size(files) == 0) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s: files: missing, empty or not an object of name -> {sha256, size}",
                            what);
        goto fail;
    }
    if (json_object_size(files) > PACK_FILES_MAX) {
        rc = inferd_err_set(err, INFERD_ETOOLARGE, "%s: files: more than %d files", what, PACK_FILES_MAX);
        goto fail;
    }
    m->files = calloc(json_object_size(files), sizeof *m->files);
    if (!m->files) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", what);
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)files, key, val)
    {
        struct pack_file *f = &m->files[m->n_files];
        if (!pack_name_ok(key) || strcmp(key, "manifest.json") == 0 || strcmp(key, "manifest.sig") == 0) {
            rc = inferd_err_set(err, INFERD_EFORMAT,
                                "%s: files: '%.80s' is not a plain file name in the version folder (no '/', no "
                                "leading '.', not manifest.*)",
                                what, key);
            goto fail;
        }
        const json_t *h = val, *sz = NULL;
        if (json_is_object(val)) {
            h = json_object_get(val, "sha256");
            sz = json_object_get(val, "size");
            if (!sz || !json_is_integer(sz) || json_integer_value(sz) < 0) {
                rc = inferd_err_set(err, INFERD_EFORMAT, "%s: files.%s.size: missing or not a non-negative integer", what,
                                    key);
                goto fail;
            }
        }
        if (!json_is_string(h) || !is_hex64(json_string_value(h))) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s: files.%s.sha256: not 64 hex digits", what, key);
            goto fail;
        }
        snprintf(f->name, sizeof f->name, "%s", key);
        for (int i = 0; i < 64; i++) {
            char c = json_string_value(h)[i];
            f->sha256[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        }
        f->sha256[64] = '\0';
        f->size = sz ? (int64_t)json_integer_value(sz) : -1;
        m->n_files++;
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    pack_manifest_free(m);
    return rc;
}

int pack_manifest_load(const char *dir, struct pack_manifest *m, struct inferd_err *err)
{
    char path[PATH_MAX_LEN];
    char *buf = NULL;
    size_t len = 0;
    int rc = path_join(path, sizeof path, dir, "manifest.json", err);
    if (rc < 0)
        return rc;
    rc = pack_read_small(path, PACK_MANIFEST_MAX, &buf, &len, err);
    if (rc < 0)
        return rc;
    rc = pack_manifest_parse(buf, len, path, m, err);
    free(buf);
    return rc;
}

static const struct pack_file *find_file(const struct pack_manifest *m, const char *name)
{
    for (int i = 0; i < m->n_files; i++)
        if (strcmp(m->files[i].name, name) == 0)
            return &m->files[i];
    return NULL;
}

int pack_manifest_check(const struct pack_manifest *m, const char *dir, int strict, struct inferd_err *err)
{
    char path[PATH_MAX_LEN], hex[65];
    int rc;
    for (int i = 0; i < m->n_files; i++) {
        const struct pack_file *f = &m->files[i];
        struct stat st;
        if ((rc = path_join(path, sizeof path, dir, f->name, err)) < 0)
            return rc;
        if (lstat(path, &st) != 0)
            return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO,
                                  "%s: listed in manifest.json but %s", path, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return inferd_err_set(err, INFERD_EFORMAT, "%s: listed in manifest.json but not a regular file", path);
        if (f->size >= 0 && st.st_size != f->size)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "%s: size mismatch: manifest.json says %lld bytes, the file has %lld; refusing it",
                                  path, (long long)f->size, (long long)st.st_size);
        if (strict & PACK_CHECK_NO_HASH)
            continue;
        if ((rc = sha256_file_hex(path, hex, err)) < 0)
            return rc;
        if (strcmp(hex, f->sha256) != 0)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "%s: sha256 mismatch: manifest.json says %s, the file hashes to %s; refusing it", path,
                                  f->sha256, hex);
    }
    if (!(strict & PACK_CHECK_STRICT))
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    rc = 0;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strcmp(s, "manifest.json") == 0 ||
            strcmp(s, "manifest.sig") == 0)
            continue;
        if (!find_file(m, s)) {
            rc = inferd_err_set(err, INFERD_EFORMAT, "%s/%.255s: not listed in manifest.json; refusing the version", dir,
                                s);
            break;
        }
    }
    closedir(d);
    return rc;
}

int pack_same_small_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    int same = pack_read_small(a, PACK_MANIFEST_MAX, &x, &xl, NULL) == 0 &&
               pack_read_small(b, PACK_MANIFEST_MAX, &y, &yl, NULL) == 0 && xl == yl && memcmp(x, y, xl) == 0;
    free(x);
    free(y);
    return same;
}
