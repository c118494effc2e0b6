/* repository.c — KServe v2 / Triton repository extension: index, load, unload; and
 * registering (PUT, a package as a tar stream) and retiring (DELETE) model versions. */
#include "serve/routes/infer_call.h"

#include "base/fileio.h"
#include "base/path.h"
#include "base/workq.h"
#include "pack/manifest.h"
#include "pack/store.h"
#include "pack/upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int repo_index_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    struct repo_entry *rows;
    size_t n;
    if (repo_list(s->repo, &rows, &n) < 0) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    /* Triton's index: [{"name","version","state","reason"}]; a model with nothing loaded and
     * no failed version has no "version". */
    json_t *idx = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct repo_entry *e = &rows[i];
        const char *state = e->state == REPO_READY ? "READY" : "UNAVAILABLE";
        json_t *row = json_pack("{s:s}", "name", e->name);
        if (row && e->version > 0) /* Triton's member order: name, version, state, reason */
            json_object_set_new(row, "version", json_sprintf("%lld", (long long)e->version));
        json_object_set_new(row, "state", json_string(state));
        json_object_set_new(row, "reason", json_string(e->reason));
        json_array_append_new(idx, row);
    }
    free(rows);
    http_resp_json(r, 200, idx);
    return HTTP_DONE;
}

static int repo_load_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m");
    struct inferd_err err = {0};
    http_req_set_model(r, m, NULL);
    if (repo_load(s->repo, m, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    http_resp_json(r, 200, json_pack("{s:s,s:s}", "model", m, "state", "READY"));
    return HTTP_DONE;
}

static int repo_unload_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m");
    struct inferd_err err = {0};
    http_req_set_model(r, m, NULL);
    if (repo_unload(s->repo, m, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    http_resp_json(r, 200, json_pack("{s:s,s:s}", "model", m, "state", "UNAVAILABLE"));
    return HTTP_DONE;
}

static int repo_delete_route(struct http_req *r, void *ctx);

const struct http_route routes_repository[] = {
    {HTTP_DELETE, "/v2/repository/models/{m}/versions/{v}", HTTP_AUTH_ADMIN, repo_delete_route, "repo_delete", NULL},
    {HTTP_POST | HTTP_GET, "/v2/repository/index", HTTP_AUTH_ADMIN, repo_index_route, "repo_index", NULL},
    {HTTP_POST, "/v2/repository/models/{m}/load", HTTP_AUTH_ADMIN, repo_load_route, "repo_load", NULL},
    {HTTP_POST, "/v2/repository/models/{m}/unload", HTTP_AUTH_ADMIN, repo_unload_route, "repo_unload", NULL},
};
const size_t routes_repository_count = sizeof routes_repository / sizeof routes_repository[0];

/* ---- PUT/DELETE /v2/repository/models/{m}/versions/{v}: register and retire packages ---- */

/* "3" -> 3; 0 when not 1-15 digits without a leading zero. */
static int64_t version_of(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 15 || s[0] == '0' || strspn(s, "0123456789") != n)
        return 0;
    return strtoll(s, NULL, 10);
}

struct put_job {
    struct http_req *r;
    struct serve_server *s;
    struct pack_upload *u; /* borrowed: the request's sink, freed when the request ends */
};

/* After the whole tar arrived: verify and register (copy + sha256 of every file), then
 * load the new version now. Runs on the parse queue, never on an HTTP worker. */
static void put_commit(void *arg)
{
    struct put_job *j = arg;
    struct http_req *r = j->r;
    struct serve_server *s = j->s;
    const char *m = http_req_capture(r, "m");
    int64_t v = version_of(http_req_capture(r, "v"));
    struct pack_register_result rr;
    struct inferd_err err = {0};
    struct model_version *mv = NULL;
    /* the model's config.json as it is: the register replaces it, a failed load puts it back */
    char mdir[PATH_MAX_LEN], cfgp[PATH_MAX_LEN], *old_cfg = NULL;
    size_t old_len = 0;
    if (path_join(mdir, sizeof mdir, repo_root(s->repo), m, NULL) == 0 &&
        path_join(cfgp, sizeof cfgp, mdir, "config.json", NULL) == 0 &&
        pack_read_small(cfgp, 1 << 20, &old_cfg, &old_len, NULL) < 0)
        old_cfg = NULL;
    int rc = pack_upload_commit(j->u, repo_trust(s->repo), &rr, &err);
    pack_upload_discard(j->u);
    if (rc < 0) {
        serve_error(r, 0, rc == INFERD_EAUTH || rc == INFERD_EFORMAT ? INFERD_EINVAL : rc, err.msg);
        goto done;
    }
    repo_load(s->repo, m, NULL);
    if (repo_acquire(s->repo, m, v, &mv, &err) < 0) {
        /* it does not load: take it out again (only what this request put there) */
        struct repo_entry *rows = NULL;
        size_t n = 0;
        char reason[INFERD_ERR_MSG_MAX] = "";
        if (repo_list(s->repo, &rows, &n) == 0)
            for (size_t i = 0; i < n; i++)
                if (strcmp(rows[i].name, m) == 0 && rows[i].version == v)
                    snprintf(reason, sizeof reason, "%s", rows[i].reason);
        free(rows);
        if (!rr.already)
            pack_rm(repo_root(s->repo), m, v, NULL);
        if (old_cfg) /* the versions that served before serve on under their own config */
            file_write_atomic(cfgp, old_cfg, old_len, 0644, NULL);
        if (!rr.already || old_cfg)
            repo_load(s->repo, m, NULL);
        http_resp_error(r, 400, "load", "model '%s' version %lld was verified but does not load: %s", m, (long long)v,
                        reason[0] ? reason : err.msg);
        goto done;
    }
    repo_release(mv);
    http_resp_json(r, rr.already ? 200 : 201,
                   json_pack("{s:s, s:s, s:s, s:b}", "model", m, "version", http_req_capture(r, "v"), "state",
                             "READY", "signature_verified", rr.signed_by_trusted));
done:
    free(old_cfg);
    free(j);
    http_req_finish(r);
}

static int repo_put_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    struct pack_upload *u = http_req_sink(r);
    struct inferd_err err = {0};
    http_req_set_model(r, http_req_capture(r, "m"), http_req_capture(r, "v"));
    if (!u) {
        serve_error(r, 0, INFERD_EINVAL, "package upload: no body was received");
        return HTTP_DONE;
    }
    if (pack_upload_error(u, &err) < 0) {
        pack_upload_discard(u);
        serve_error(r, 0, err.code == INFERD_EIO ? INFERD_EIO : err.code == INFERD_ETOOLARGE ? err.code : INFERD_EINVAL,
                    err.msg);
        return HTTP_DONE;
    }
    struct put_job *j = malloc(sizeof *j);
    if (!j) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    *j = (struct put_job){r, s, u};
    if (!s->parse_q || workq_post(s->parse_q, put_commit, j) < 0) {
        free(j);
        pack_upload_discard(u);
        serve_error(r, 0, INFERD_EBUSY, "server busy: too many uploads and large bodies wait; retry");
        return HTTP_DONE;
    }
    return HTTP_ASYNC;
}

static int put_open(struct http_req *r, void *ctx, void **sink)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m");
    int64_t v = version_of(http_req_capture(r, "v"));
    const char *cl = http_req_header(r, "Content-Length");
    int64_t cap = s->opts.max_upload_bytes > 0 ? s->opts.max_upload_bytes : 32LL << 30;
    struct inferd_err err = {0};
    http_req_set_model(r, m, http_req_capture(r, "v"));
    if (v < 1) {
        http_resp_error(r, 400, "bad_version", "version '%s': not a version number (1-15 digits)",
                        http_req_capture(r, "v"));
        return -1;
    }
    if (cl && strtoll(cl, NULL, 10) > cap) {
        http_resp_error(r, 413, "body_too_large",
                        "package upload: %s bytes is larger than the limit of %lld bytes (--max-upload-bytes)", cl,
                        (long long)cap);
        return -1;
    }
    struct pack_upload *u;
    if (pack_upload_open(repo_root(s->repo), m, v, cap, &u, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return -1;
    }
    *sink = u;
    return 0;
}

static int put_write(void *sink, const char *data, size_t n)
{
    return pack_upload_write(sink, data, n, NULL) < 0 ? -1 : 0;
}

static void put_close(void *sink)
{
    pack_upload_free(sink);
}

const struct http_body_sink repository_put_sink = {put_open, put_write, put_close};
const struct http_route route_repository_put = {HTTP_PUT, "/v2/repository/models/{m}/versions/{v}", HTTP_AUTH_ADMIN,
                                                repo_put_route, "repo_put", NULL};

static int repo_delete_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m");
    int64_t v = version_of(http_req_capture(r, "v"));
    struct inferd_err err = {0};
    http_req_set_model(r, m, http_req_capture(r, "v"));
    if (v < 1) {
        http_resp_error(r, 400, "bad_version", "version '%s': not a version number", http_req_capture(r, "v"));
        return HTTP_DONE;
    }
    if (pack_rm(repo_root(s->repo), m, v, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    repo_load(s->repo, m, NULL); /* unloads it now; requests on it finish first */
    http_resp_json(r, 200, json_pack("{s:s, s:s, s:s}", "model", m, "version", http_req_capture(r, "v"), "state",
                                     "DELETED"));
    return HTTP_DONE;
}
