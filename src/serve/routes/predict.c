/* predict.c — the simple predict protocol: POST /predict with
 * {"model":"m","version":"1"?,"input_data":<nested list> | {"<input>":<nested list>,...}}
 * answering {"status":"success","model":"m","version":"1","prediction":<nested list> |
 * {"<output>":...}}; errors are {"status":"error","error":"..."} with a 4xx/5xx code.
 * A value one rank short of the model's input gets a batch dimension of 1 added (and
 * removed from the prediction). */
#include "serve/routes/infer_call.h"
#include "serve/routes/tensor_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct predict_state {
    int squeeze;                     /* a batch dim of 1 was added to the inputs */
};

/* Fills q->inputs[k] from v for model input io. */
static int input_from_json(const json_t *v, const struct model_io *io, int64_t max_elements, const char *field,
                           struct infer_tensor *t, int *added_batch, struct inferd_err *err)
{
    snprintf(t->name, sizeof t->name, "%s", io->name);
    int rc = tj_from_json(v, io->dtype, NULL, -1, max_elements, field, &t->t, err);
    if (rc < 0)
        return rc;
    if (t->t.rank == io->rank - 1 && io->rank >= 1) {
        memmove(t->t.dims + 1, t->t.dims, sizeof(int64_t) * (size_t)t->t.rank);
        t->t.dims[0] = 1;
        t->t.rank++;
        *added_batch = 1;
    }
    return 0;
}

static void predict_encode(struct infer_call *c, struct sched_job *job)
{
    struct predict_state *ps = c->proto;
    struct buf b;
    buf_init(&b, 512u << 20);
    buf_puts(&b, "{\"status\":\"success\",\"model\":");
    json_write_str(&b, c->mv->name);
    buf_puts(&b, ",\"version\":");
    json_write_str(&b, c->mv->version_str);
    buf_puts(&b, ",\"prediction\":");
    const char *names[INFER_MAX_TENSORS];
    for (int i = 0; i < job->n_outputs; i++)
        names[i] = c->mv->out[i].name;
    tj_write_outputs(&b, job->outputs, names, job->n_outputs, ps->squeeze);
    buf_putc(&b, '}');
    size_t len;
    char *body = buf_take(&b, &len);
    if (!body)
        infer_call_error(c, INFERD_ETOOLARGE, "the prediction is larger than 512 MiB");
    else
        http_resp_take(c->http, 200, "application/json", body, len);
}

/* The inference itself (serve_defer_large decides on which thread). */
static int predict_body(struct http_req *r, void *ctx)
{
    struct serve_server *s = ctx;
    size_t len;
    const char *body = http_req_body(r, &len);
    json_error_t je;
    struct inferd_err err = {0};
    /* the model is named inside the body: bound by the most inputs any model may have */
    if (tj_prescan(body, len, (int64_t)INFER_MAX_TENSORS * s->opts.max_elements + 4096, &err) < 0) {
        serve_error(r, 1, err.code, err.msg);
        return HTTP_DONE;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    struct infer_call *c = NULL;
    struct infer_req *q = NULL;
    struct predict_state *ps = NULL;
    int rc = HTTP_DONE;
    if (!root) {
        inferd_err_set(&err, INFERD_EINVAL, "request body: malformed JSON at line %d column %d: %s", je.line,
                       je.column, je.text);
        serve_error(r, 1, err.code, err.msg);
        return HTTP_DONE;
    }
    const json_t *model = json_object_get(root, "model");
    const json_t *version = json_object_get(root, "version");
    const json_t *data = json_object_get(root, "input_data");
    char vbuf[32] = "";
    if (!json_is_object(root) || !json_is_string(model)) {
        serve_error(r, 1, INFERD_EINVAL, "model: missing or not a string");
        goto done;
    }
    if (version && json_is_integer(version))
        snprintf(vbuf, sizeof vbuf, "%lld", (long long)json_integer_value(version));
    else if (version && json_is_string(version))
        snprintf(vbuf, sizeof vbuf, "%s", json_string_value(version));
    else if (version) {
        serve_error(r, 1, INFERD_EINVAL, "version: not a number or string");
        goto done;
    }
    if (!data) {
        serve_error(r, 1, INFERD_EINVAL, "input_data: missing");
        goto done;
    }
    if (infer_call_new(r, s, json_string_value(model), vbuf[0] ? vbuf : NULL, 1, &c) < 0)
        goto done;
    q = infer_req_new();
    ps = calloc(1, sizeof *ps);
    if (!q || !ps) {
        infer_call_error(c, INFERD_ENOMEM, "out of memory");
        goto done;
    }
    const struct model_version *mv = c->mv;
    int added = 0;
    if (json_is_object(data)) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)data, key, val)
        {
            int k = model_io_find(mv->in, mv->n_in, key);
            char field[200];
            snprintf(field, sizeof field, "input_data.%.100s", key);
            if (k < 0 || q->n_inputs >= INFER_MAX_TENSORS) {
                inferd_err_set(&err, INFERD_EINVAL, "%s: '%s' is not an input of model '%s'", field, key, mv->name);
                infer_call_error(c, err.code, err.msg);
                goto done;
            }
            if (input_from_json(val, &mv->in[k], s->opts.max_elements, field, &q->inputs[q->n_inputs], &added, &err) < 0) {
                infer_call_error(c, err.code, err.msg);
                goto done;
            }
            q->n_inputs++;
        }
    } else {
        if (mv->n_in != 1) {
            inferd_err_set(&err, INFERD_EINVAL,
                           "input_data: model '%s' has %d inputs; give an object of input name -> value", mv->name,
                           mv->n_in);
            infer_call_error(c, err.code, err.msg);
            goto done;
        }
        if (input_from_json(data, &mv->in[0], s->opts.max_elements, "input_data", &q->inputs[0], &added, &err) < 0) {
            infer_call_error(c, err.code, err.msg);
            goto done;
        }
        q->n_inputs = 1;
    }
    ps->squeeze = added;
    rc = infer_call_submit(c, q, predict_encode, ps);
    q = NULL;
    ps = NULL;
done:
    infer_req_free(q);
    free(ps);
    json_decref(root);
    return rc;
}

static int predict(struct http_req *r, void *ctx) { return serve_defer_large(r, ctx, 1, predict_body); }

const struct http_route routes_predict[] = {
    {HTTP_POST, "/predict", HTTP_AUTH_INFER, predict, "predict", NULL},
};
const size_t routes_predict_count = sizeof routes_predict / sizeof routes_predict[0];
