/* repository.c — KServe v2 / Triton repository extension: index, load, unload. */
#include "serve/routes/infer_call.h"

#include <stdio.h>
#include <stdlib.h>

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

const struct http_route routes_repository[] = {
    {HTTP_POST | HTTP_GET, "/v2/repository/index", HTTP_AUTH_ADMIN, repo_index_route, "repo_index", NULL},
    {HTTP_POST, "/v2/repository/models/{m}/load", HTTP_AUTH_ADMIN, repo_load_route, "repo_load", NULL},
    {HTTP_POST, "/v2/repository/models/{m}/unload", HTTP_AUTH_ADMIN, repo_unload_route, "repo_unload", NULL},
};
const size_t routes_repository_count = sizeof routes_repository / sizeof routes_repository[0];
