/* tfserving.c — TensorFlow Serving's REST API: POST /v1/models/{m}[/versions/{v}]:predict
 * with "instances" (row format: a list of rows, or of {"<input>": row} objects) answering
 * {"predictions": [...]}, or "inputs" (columnar: a value, or {"<input>": value}) answering
 * {"outputs": ...}; and GET /v1/models/{m}[/versions/{v}] version status. */
#include "serve/routes/infer_call.h"
#include "serve/routes/tensor_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tfs_state {
    int rows;                        /* "instances" (row format) rather than "inputs" */
};

static void tfs_encode(struct infer_call *c, struct sched_job *job)
{
    struct tfs_state *st = c->proto;
    struct buf b;
    buf_init(&b, 512u << 20);
    if (st->rows) {
        buf_puts(&b, "{\"predictions\":");
        if (job->n_outputs == 1) {
            tj_write(&b, &job->outputs[0], 1, -1);
        } else {
            int64_t n = job->outputs[0].rank ? job->outputs[0].dims[0] : 1;
            buf_putc(&b, '[');
            for (int64_t row = 0; row < n; row++) {
                buf_puts(&b, row ? ",{" : "{");
                for (int i = 0; i < job->n_outputs; i++) {
                    if (i)
                        buf_putc(&b, ',');
                    json_write_str(&b, c->mv->out[i].name);
                    buf_putc(&b, ':');
                    int has_row = job->outputs[i].rank >= 1 && job->outputs[i].dims[0] == n;
                    tj_write(&b, &job->outputs[i], 1, has_row ? row : -1);
                }
                buf_putc(&b, '}');
            }
            buf_putc(&b, ']');
        }
    } else {
        buf_puts(&b, "{\"outputs\":");
        const char *names[INFER_MAX_TENSORS];
        for (int i = 0; i < job->n_outputs; i++)
            names[i] = c->mv->out[i].name;
        tj_write_outputs(&b, job->outputs, names, job->n_outputs, 0);
    }
    buf_putc(&b, '}');
    size_t len;
    char *body = buf_take(&b, &len);
    if (!body)
        infer_call_error(c, INFERD_ETOOLARGE, "the response is larger than 512 MiB");
    else
        http_resp_take(c->http, 200, "application/json", body, len);
}

static int fill_input(const json_t *v, const struct model_io *io, int64_t max_elements, const char *field,
                      struct infer_tensor *t, struct inferd_err *err)
{
    snprintf(t->name, sizeof t->name, "%s", io->name);
    return tj_from_json(v, io->dtype, NULL, -1, max_elements, field, &t->t, err);
}

/* The inference itself (serve_defer_large decides on which thread). */
static int tfs_predict_body(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    struct infer_call *c;
    struct inferd_err err = {0};
    if (infer_call_new(r, s, http_req_capture(r, "m"), http_req_capture(r, "v"), 0, &c) < 0)
        return HTTP_DONE;
    const struct model_version *mv = c->mv;
    size_t len;
    const char *body = http_req_body(r, &len);
    if (infer_call_prescan(c, body, len) < 0)
        return HTTP_DONE;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *cols = NULL;
    struct infer_req *q = infer_req_new();
    struct tfs_state *st = calloc(1, sizeof *st);
    int rc = HTTP_DONE;
    if (!q || !st) {
        inferd_err_set(&err, INFERD_ENOMEM, "out of memory");
        goto fail;
    }
    if (!root) {
        inferd_err_set(&err, INFERD_EINVAL, "request body: malformed JSON at line %d column %d: %s", je.line, je.column,
                       je.text);
        goto fail;
    }
    const json_t *inst = json_object_get(root, "instances"), *inputs = json_object_get(root, "inputs");
    if (!json_is_object(root) || (!inst == !inputs)) {
        inferd_err_set(&err, INFERD_EINVAL, "request body: give exactly one of \"instances\" or \"inputs\"");
        goto fail;
    }
    if (inst) {
        st->rows = 1;
        if (!json_is_array(inst) || json_array_size(inst) == 0) {
            inferd_err_set(&err, INFERD_EINVAL, "instances: not a non-empty list");
            goto fail;
        }
        if (json_is_object(json_array_get(inst, 0))) {
            /* rows of {"input": value}: regroup into columns */
            cols = json_object();
            for (int k = 0; k < mv->n_in; k++)
                json_object_set_new(cols, mv->in[k].name, json_array());
            for (size_t i = 0; i < json_array_size(inst); i++) {
                const json_t *row = json_array_get(inst, i);
                const char *key;
                json_t *val;
                if (!json_is_object(row) || json_object_size(row) != (size_t)mv->n_in) {
                    inferd_err_set(&err, INFERD_EINVAL, "instances[%zu]: not an object with the model's %d inputs", i, mv->n_in);
                    goto fail;
                }
                json_object_foreach((json_t *)row, key, val)
                {
                    json_t *col = json_object_get(cols, key);
                    if (!col) {
                        inferd_err_set(&err, INFERD_EINVAL, "instances[%zu].%.100s: not an input of model '%s'", i, key,
                                       mv->name);
                        goto fail;
                    }
                    json_array_append(col, val);
                }
            }
            inputs = cols;
        } else {
            if (mv->n_in != 1) {
                inferd_err_set(&err, INFERD_EINVAL, "instances: model '%s' has %d inputs; give rows as objects", mv->name,
                               mv->n_in);
                goto fail;
            }
            if (fill_input(inst, &mv->in[0], s->opts.max_elements, "instances", &q->inputs[0], &err) < 0)
                goto fail;
            q->n_inputs = 1;
        }
    }
    if (inputs && q->n_inputs == 0) {
        if (json_is_object(inputs)) {
            const char *key;
            json_t *val;
            json_object_foreach((json_t *)inputs, key, val)
            {
                int k = model_io_find(mv->in, mv->n_in, key);
                char field[160];
                snprintf(field, sizeof field, "inputs.%.100s", key);
                if (k < 0 || q->n_inputs >= INFER_MAX_TENSORS) {
                    inferd_err_set(&err, INFERD_EINVAL, "%s: not an input of model '%s'", field, mv->name);
                    goto fail;
                }
                if (fill_input(val, &mv->in[k], s->opts.max_elements, field, &q->inputs[q->n_inputs], &err) < 0)
                    goto fail;
                q->n_inputs++;
            }
        } else {
            if (mv->n_in != 1) {
                inferd_err_set(&err, INFERD_EINVAL, "inputs: model '%s' has %d inputs; give an object", mv->name, mv->n_in);
                goto fail;
            }
            if (fill_input(inputs, &mv->in[0], s->opts.max_elements, "inputs", &q->inputs[0], &err) < 0)
                goto fail;
            q->n_inputs = 1;
        }
    }
    json_decref(cols);
    json_decref(root);
    rc = infer_call_submit(c, q, tfs_encode, st);
    return rc;
fail:
    json_decref(cols);
    json_decref(root);
    infer_req_free(q);
    free(st);
    infer_call_error(c, err.code, err.msg);
    return HTTP_DONE;
}

static int tfs_status(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    const char *m = http_req_capture(r, "m"), *v = http_req_capture(r, "v");
    struct inferd_err err = {0};
    int64_t ver;
    http_req_set_model(r, m, v);
    if (serve_parse_version(v, &ver, &err) < 0) {
        serve_error(r, 0, err.code, err.msg);
        return HTTP_DONE;
    }
    if (!v) { /* an LLM answers OpenAI's "retrieve model" shape on the same path */
        struct model_version *mv;
        if (repo_acquire(s->repo, m, 0, &mv, NULL) == 0) {
            json_t *obj = model_version_can(mv, MODEL_CAP_GENERATE) ? openai_model_object(mv) : NULL;
            repo_release(mv);
            if (obj) {
                http_resp_json(r, 200, obj);
                return HTTP_DONE;
            }
        }
    }
    int64_t vs[REPO_MAX_VERSIONS];
    int nv = repo_versions(s->repo, m, vs, REPO_MAX_VERSIONS);
    if (nv == 0) {
        struct model_version *mv;
        if (repo_acquire(s->repo, m, 0, &mv, &err) == 0)
            repo_release(mv);
        serve_error(r, 0, err.code ? err.code : INFERD_ENOTFOUND, err.msg[0] ? err.msg : "model not found");
        return HTTP_DONE;
    }
    json_t *st = json_array();
    for (int i = 0; i < nv && i < REPO_MAX_VERSIONS; i++) {
        if (ver && vs[i] != ver)
            continue;
        char vstr[24];
        snprintf(vstr, sizeof vstr, "%lld", (long long)vs[i]);
        json_array_append_new(st, json_pack("{s:s,s:s,s:{s:s,s:s}}", "version", vstr, "state", "AVAILABLE", "status",
                                            "error_code", "OK", "error_message", ""));
    }
    if (json_array_size(st) == 0) {
        json_decref(st);
        serve_error(r, 0, INFERD_ENOTFOUND, "that version of the model is not loaded");
        return HTTP_DONE;
    }
    http_resp_json(r, 200, json_pack("{s:o}", "model_version_status", st));
    return HTTP_DONE;
}

static int tfs_predict(struct http_req *r, void *ctx) { return serve_defer_large(r, ctx, 0, tfs_predict_body); }

const struct http_route routes_tfserving[] = {
    {HTTP_POST, "/v1/models/{m}:predict", HTTP_AUTH_INFER, tfs_predict, "tfs_predict", NULL},
    {HTTP_POST, "/v1/models/{m}/versions/{v}:predict", HTTP_AUTH_INFER, tfs_predict, "tfs_predict", NULL},
    {HTTP_GET, "/v1/models/{m}", HTTP_AUTH_INFER, tfs_status, "tfs_status", NULL},
    {HTTP_GET, "/v1/models/{m}/versions/{v}", HTTP_AUTH_INFER, tfs_status, "tfs_status", NULL},
};
const size_t routes_tfserving_count = sizeof routes_tfserving / sizeof routes_tfserving[0];
