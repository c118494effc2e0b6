/* repo_config.c — parsing config.json and verifying manifest.json (sha256 via nettle). */
#include "serve/repo/repo_config.h"

#include "base/path.h"
#include "pack/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (1 << 20)

static int get_int(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *field,
                   struct inferd_err *err)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s%s: not an integer in %lld..%lld", field, key,
                              (long long)lo, (long long)hi);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int config_int(const struct model_config *c, const char *key, int lo, int hi, int *out, struct inferd_err *err)
{
    int64_t v = *out;
    int rc = get_int(c->json, key, lo, hi, &v, "", err);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

int config_float(const struct model_config *c, const char *key, double lo, double hi, float *out,
                 struct inferd_err *err)
{
    const json_t *v = json_object_get(c->json, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: not a number in %g..%g", key, lo, hi);
    *out = (float)json_number_value(v);
    return 0;
}

int config_bool(const struct model_config *c, const char *key, int *out, struct inferd_err *err)
{
    const json_t *v = json_object_get(c->json, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: not true or false", key);
    *out = json_is_true(v);
    return 0;
}

int config_string(const struct model_config *c, const char *key, char *out, size_t cap, struct inferd_err *err)
{
    const json_t *v = json_object_get(c->json, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: %s: not a string of at most %zu bytes", key, cap - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

void model_config_free(struct model_config *c)
{
    if (!c)
        return;
    json_decref(c->json);
    c->json = NULL;
}

int model_config_parse(const char *json, size_t len, struct model_config *c, struct inferd_err *err)
{
    memset(c, 0, sizeof *c);
    c->policy = POLICY_LATEST;
    c->num_versions = 1;
    c->sched.max_queue_size = 1024;
    if (!json) {
        c->json = json_object();
        return c->json ? 0 : inferd_err_set(err, INFERD_ENOMEM, "config.json: out of memory");
    }
    if (len > CONFIG_MAX_BYTES)
        return inferd_err_set(err, INFERD_ETOOLARGE, "config.json: larger than %d bytes", CONFIG_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    int64_t v;
    if (!root)
        return inferd_err_set(err, INFERD_EINVAL, "config.json: malformed JSON at line %d column %d: %s", je.line,
                              je.column, je.text);
    if (!json_is_object(root)) {
        rc = inferd_err_set(err, INFERD_EINVAL, "config.json: not a JSON object");
        goto fail;
    }
    const json_t *be = json_object_get(root, "backend");
    if (be) {
        if (!json_is_string(be) || strlen(json_string_value(be)) >= sizeof c->backend) {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: backend: not a short string");
            goto fail;
        }
        snprintf(c->backend, sizeof c->backend, "%s", json_string_value(be));
    }
    v = 0;
    if ((rc = get_int(root, "max_batch_size", 0, 1 << 20, &v, "", err)) < 0)
        goto fail;
    c->sched.max_batch_size = (int)v;
    v = c->sched.max_queue_size;
    if ((rc = get_int(root, "max_queue_size", 1, 1 << 20, &v, "", err)) < 0)
        goto fail;
    c->sched.max_queue_size = (int)v;
    const json_t *db = json_object_get(root, "dynamic_batching");
    if (db) {
        if (!json_is_object(db)) {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: dynamic_batching: not an object");
            goto fail;
        }
        c->sched.dynamic = 1;
        v = 0;
        if ((rc = get_int(db, "max_queue_delay_microseconds", 0, 10000000, &v, "dynamic_batching.", err)) < 0)
            goto fail;
        c->sched.max_queue_delay_us = v;
        v = c->sched.max_queue_size;
        if ((rc = get_int(db, "max_queue_size", 1, 1 << 20, &v, "dynamic_batching.", err)) < 0)
            goto fail;
        c->sched.max_queue_size = (int)v;
        const json_t *pb = json_object_get(db, "preferred_batch_size");
        if (pb) {
            if (!json_is_array(pb) || json_array_size(pb) > SCHED_MAX_PREFERRED) {
                rc = inferd_err_set(err, INFERD_EINVAL,
                                    "config.json: dynamic_batching.preferred_batch_size: not a list of at most %d sizes",
                                    SCHED_MAX_PREFERRED);
                goto fail;
            }
            for (size_t i = 0; i < json_array_size(pb); i++) {
                const json_t *e = json_array_get(pb, i);
                if (!json_is_integer(e) || json_integer_value(e) < 1 ||
                    (c->sched.max_batch_size > 0 && json_integer_value(e) > c->sched.max_batch_size)) {
                    rc = inferd_err_set(err, INFERD_EINVAL,
                                        "config.json: dynamic_batching.preferred_batch_size[%zu]: not in 1..max_batch_size", i);
                    goto fail;
                }
                c->sched.preferred[c->sched.n_preferred++] = (int)json_integer_value(e);
            }
        }
        if (c->sched.max_batch_size == 0) {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: dynamic_batching needs max_batch_size >= 1");
            goto fail;
        }
    }
    const json_t *vp = json_object_get(root, "version_policy");
    if (vp) {
        const json_t *x;
        if (!json_is_object(vp) || json_object_size(vp) != 1) {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: version_policy: must hold exactly one of latest, all, specific");
            goto fail;
        }
        if ((x = json_object_get(vp, "latest"))) {
            c->policy = POLICY_LATEST;
            v = 1;
            if (!json_is_object(x) || (rc = get_int(x, "num_versions", 1, 1000, &v, "version_policy.latest.", err)) < 0) {
                if (rc == 0)
                    rc = inferd_err_set(err, INFERD_EINVAL, "config.json: version_policy.latest: not an object");
                goto fail;
            }
            c->num_versions = (int)v;
        } else if ((x = json_object_get(vp, "all"))) {
            c->policy = POLICY_ALL;
        } else if ((x = json_object_get(vp, "specific"))) {
            c->policy = POLICY_SPECIFIC;
            const json_t *vs = json_is_object(x) ? json_object_get(x, "versions") : NULL;
            if (!json_is_array(vs) || json_array_size(vs) == 0 || json_array_size(vs) > CONFIG_MAX_SPECIFIC) {
                rc = inferd_err_set(err, INFERD_EINVAL,
                                    "config.json: version_policy.specific.versions: not a list of 1..%d versions",
                                    CONFIG_MAX_SPECIFIC);
                goto fail;
            }
            for (size_t i = 0; i < json_array_size(vs); i++) {
                const json_t *e = json_array_get(vs, i);
                if (!json_is_integer(e) || json_integer_value(e) < 1) {
                    rc = inferd_err_set(err, INFERD_EINVAL,
                                        "config.json: version_policy.specific.versions[%zu]: not a positive integer", i);
                    goto fail;
                }
                c->versions[c->n_versions++] = (int64_t)json_integer_value(e);
            }
        } else {
            rc = inferd_err_set(err, INFERD_EINVAL, "config.json: version_policy: must hold latest, all or specific");
            goto fail;
        }
    }
    c->json = root;
    return 0;
fail:
    json_decref(root);
    return rc;
}

/* Reads a whole small file. OUT: *buf (malloc'd, NUL-terminated). ENOTFOUND when absent. */
static int read_small(const char *path, char **buf, size_t *len, struct inferd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", path, strerror(errno));
    char *b = malloc(CONFIG_MAX_BYTES + 1);
    if (!b) {
        fclose(f);
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(b, 1, CONFIG_MAX_BYTES + 1, f);
    fclose(f);
    if (n > CONFIG_MAX_BYTES) {
        free(b);
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* read_small of dir/name; the joined path (PATH_MAX_LEN bytes) goes to path for messages.
 * A path too long is refused, never cut. */
static int read_in(const char *dir, const char *name, char *path, char **buf, size_t *len, struct inferd_err *err)
{
    int rc = path_join(path, PATH_MAX_LEN, dir, name, err);
    return rc < 0 ? rc : read_small(path, buf, len, err);
}

int model_config_load(const char *dir, struct model_config *c, struct inferd_err *err)
{
    char path[PATH_MAX_LEN];
    char *buf = NULL;
    size_t len = 0;
    int rc = read_in(dir, "config.json", path, &buf, &len, err);
    if (rc == INFERD_ENOTFOUND)
        return model_config_parse(NULL, 0, c, err);
    if (rc < 0)
        return rc;
    rc = model_config_parse(buf, len, c, err);
    free(buf);
    return rc;
}

int sha256_file_hex(const char *path, char hex[65], struct inferd_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return inferd_err_set(err, errno == ENOENT ? INFERD_ENOTFOUND : INFERD_EIO, "%s: %s", path, strerror(errno));
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    static const size_t chunk = 1 << 16;
    uint8_t *buf = malloc(chunk);
    if (!buf) {
        fclose(f);
        return inferd_err_set(err, INFERD_ENOMEM, "%s: out of memory", path);
    }
    size_t n;
    while ((n = fread(buf, 1, chunk, f)) > 0)
        sha256_update(&ctx, n, buf);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad)
        return inferd_err_set(err, INFERD_EIO, "%s: read error", path);
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return 0;
}

int manifest_verify(const char *dir, const char *model_file, struct inferd_err *err)
{
    struct pack_manifest m;
    int rc = pack_manifest_load(dir, &m, err);
    if (rc == INFERD_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    int listed = 0;
    for (int i = 0; i < m.n_files; i++)
        listed |= strcmp(m.files[i].name, model_file) == 0;
    if (!listed)
        rc = inferd_err_set(err, INFERD_EFORMAT, "%s/manifest.json: files: does not list %s", dir, model_file);
    else
        rc = pack_manifest_check(&m, dir, 0, err);
    pack_manifest_free(&m);
    return rc;
}
