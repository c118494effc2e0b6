/* repository.c — KServe v2 / Triton repository extension: index, load, unload. */
#include "serve/routes/infer_call.h"

static int repo_index_route(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    json_t *idx = repo_index(s->repo);
    if (!idx) {
        serve_error(r, 0, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
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
    {HTTP_POST | HTTP_GET, "/v2/repository/index", HTTP_AUTH_ADMIN, repo_index_route, "repo_index"},
    {HTTP_POST, "/v2/repository/models/{m}/load", HTTP_AUTH_ADMIN, repo_load_route, "repo_load"},
    {HTTP_POST, "/v2/repository/models/{m}/unload", HTTP_AUTH_ADMIN, repo_unload_route, "repo_unload"},
};
const size_t routes_repository_count = sizeof routes_repository / sizeof routes_repository[0];
