/* v2.c — KServe v2 / Triton model metadata, readiness and inference routes. */
#include "serve/routes/infer_call.h"
#include "serve/routes/v2_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2_RESP_MAX (512u << 20)

static json_t *io_json(const struct model_io *io, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < io[i].rank; d++)
            json_array_append_new(shape, json_integer(io[i].dims[d]));
        json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "name", io[i].name, "datatype",
                                           inferd_dtype_v2_name(io[i].dtype), "shape", shape));
    }
    return a;
}

/* The version the captures {m} and {v} name (v absent: the newest), labelled on the
 * request. OUT: *mv (a reference). Returns 0, or -1 after answering the error. */
static int take_version(struct http_req *r, struct serve_server *s, struct model_version **mv)
{
    const char *m = http_req_capture(r, "m"), *v = http_req_capture(r, "v");
    struct inferd_err err = {0};
    int64_t ver;
    http_req_set_model(r, m, v);
    if (serve_parse_version(v, &ver, &err) < 0 || repo_acquire(s->repo, m, ver, mv, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return -1;
    }
    http_req_set_model(r, (*mv)->name, (*mv)->version_str);
    return 0;
}

static int v2_model_meta(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m"), *v = http_req_capture(r, "v");
    struct model_version *mv;
    if (take_version(r, s, &mv) < 0)
        return HTTP_DONE;
    json_t *versions = json_array();
    int64_t vs[REPO_MAX_VERSIONS];
    int nv = v ? 1 : repo_versions(s->repo, m, vs, REPO_MAX_VERSIONS);
    if (v)
        vs[0] = mv->version;
    for (int i = 0; i < nv && i < REPO_MAX_VERSIONS; i++)
        json_array_append_new(versions, json_sprintf("%lld", (long long)vs[i]));
    json_t *j = json_pack("{s:s,s:o,s:s,s:i,s:o,s:o}", "name", mv->name, "versions", versions,
                          "platform", mv->be->platform, "max_batch_size", mv->max_batch_size, "inputs",
                          io_json(mv->in, mv->n_in), "outputs", io_json(mv->out, mv->n_out));
    repo_release(mv);
    http_resp_json(r, 200, j);
    return HTTP_DONE;
}

static int v2_model_ready(struct http_req *r, void *ctx)
{
    struct model_version *mv;
    if (take_version(r, ctx, &mv) < 0)
        return HTTP_DONE;
    repo_release(mv);
    http_resp_json_str(r, 200, "{\"ready\":true}");
    return HTTP_DONE;
}

static void v2_encode(struct infer_call *c, struct sched_job *job)
{
    struct infer_req *q = c->q;
    struct model_version *mv = c->mv;
    struct infer_tensor *outs = calloc(INFER_MAX_TENSORS, sizeof *outs);
    int n = 0;
    if (!outs) {
        infer_call_error(c, INFERD_ENOMEM, "out of memory writing the response");
        return;
    }
    if (q->n_outputs == 0) {
        for (int i = 0; i < job->n_outputs; i++) {
            snprintf(outs[n].name, sizeof outs[n].name, "%s", mv->out[i].name);
            outs[n].t = job->outputs[i];
            outs[n].binary = q->binary_default;
            n++;
        }
    } else {
        for (int i = 0; i < q->n_outputs; i++) {
            int k = model_io_find(mv->out, mv->n_out, q->outputs[i].name);
            outs[n] = q->outputs[i];
            outs[n].t = job->outputs[k];
            n++;
        }
    }
    struct buf b;
    buf_init(&b, V2_RESP_MAX);
    long hlen = v2_write_response(&b, mv->name, mv->version_str, q->id, outs, n);
    free(outs);
    size_t len;
    char *body = buf_take(&b, &len);
    if (!body) {
        infer_call_error(c, INFERD_ETOOLARGE, "the response is larger than 512 MiB");
        return;
    }
    if (hlen >= 0) {
        char h[32];
        snprintf(h, sizeof h, "%ld", hlen);
        http_resp_take(c->http, 200, "application/octet-stream", body, len);
        http_resp_header(c->http, "Inference-Header-Content-Length", h);
    } else {
        http_resp_take(c->http, 200, "application/json", body, len);
    }
}

/* The inference itself: the body's checks, parse and submit (serve_defer_large decides on
 * which thread). */
static int v2_infer_body(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    struct infer_call *c;
    struct inferd_err err = {0};
    if (infer_call_new(r, s, http_req_capture(r, "m"), http_req_capture(r, "v"), 0, &c) < 0)
        return HTTP_DONE;
    long hlen = -1;
    const char *h = http_req_header(r, "Inference-Header-Content-Length");
    if (h) {
        /* decimal digits only: no sign, no spaces, no hex (strtoll took "+185" and " 185") */
        size_t nd = strspn(h, "0123456789");
        if (nd == 0 || h[nd] || nd > 15) {
            snprintf(err.msg, sizeof err.msg,
                     "Inference-Header-Content-Length: \"%.32s\" is not a byte count (decimal digits only)", h);
            infer_call_error(c, INFERD_EINVAL, err.msg);
            return HTTP_DONE;
        }
        long long x = strtoll(h, NULL, 10);
        hlen = x > (long long)1 << 40 ? (long)((long long)1 << 40) : (long)x;
    }
    size_t len;
    const char *body = http_req_body(r, &len);
    if (infer_call_prescan(c, body, hlen >= 0 && (size_t)hlen < len ? (size_t)hlen : len) < 0)
        return HTTP_DONE;
    struct infer_req *q = infer_req_new();
    if (!q) {
        infer_call_error(c, INFERD_ENOMEM, "out of memory");
        return HTTP_DONE;
    }
    if (v2_parse_request(body, len, hlen, s->opts.max_elements, q, &err) < 0) {
        infer_req_free(q);
        infer_call_error(c, err.code, err.msg);
        return HTTP_DONE;
    }
    for (int i = 0; i < q->n_outputs; i++) {
        if (model_io_find(c->mv->out, c->mv->n_out, q->outputs[i].name) < 0) {
            inferd_err_set(&err, INFERD_ENOTFOUND, "outputs[%d].name: '%s' is not an output of model '%s'", i,
                           q->outputs[i].name, c->mv->name);
            infer_req_free(q);
            infer_call_error(c, INFERD_EINVAL, err.msg);
            return HTTP_DONE;
        }
    }
    return infer_call_submit(c, q, v2_encode, NULL);
}

static int v2_infer(struct http_req *r, void *ctx) { return serve_defer_large(r, ctx, 0, v2_infer_body); }

const struct http_route routes_v2[] = {
    {HTTP_GET, "/v2/models/{m}", HTTP_AUTH_INFER, v2_model_meta, "v2_metadata", NULL},
    {HTTP_GET, "/v2/models/{m}/versions/{v}", HTTP_AUTH_INFER, v2_model_meta, "v2_metadata", NULL},
    {HTTP_GET, "/v2/models/{m}/ready", HTTP_AUTH_INFER, v2_model_ready, "v2_ready", NULL},
    {HTTP_GET, "/v2/models/{m}/versions/{v}/ready", HTTP_AUTH_INFER, v2_model_ready, "v2_ready", NULL},
    {HTTP_POST, "/v2/models/{m}/infer", HTTP_AUTH_INFER, v2_infer, "v2_infer", NULL},
    {HTTP_POST, "/v2/models/{m}/versions/{v}/infer", HTTP_AUTH_INFER, v2_infer, "v2_infer", NULL},
};
const size_t routes_v2_count = sizeof routes_v2 / sizeof routes_v2[0];
