/* calls.c — the typed calls on top of the retry loop: JSON GET/POST, v2 infer, /predict,
 * and SSE streaming. */
#include "client/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inferd_client_get_json(struct inferd_client *c, const char *path,
                           struct inferd_response *resp, struct inferd_err *err)
{
    return client__run(c, "GET", path, NULL, 0, NULL, NULL, resp, err);
}

int inferd_client_post_json(struct inferd_client *c, const char *path, const json_t *body,
                            struct inferd_response *resp, struct inferd_err *err)
{
    if (!body)
        return inferd_err_set(err, INFERD_EINVAL, "client: POST %s needs a JSON body",
                              path ? path : "(null)");
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "client: cannot serialise the request body");
    int rc = client__run(c, "POST", path, text, strlen(text), "application/json", NULL, resp,
                         err);
    free(text);
    return rc;
}

/* Percent-encodes s (RFC 3986 unreserved characters kept) into dst. Returns 0 or -1 when
 * it does not fit. */
static int path_escape(const char *s, char *dst, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (n + (keep ? 1 : 3) + 1 > cap)
            return -1;
        if (keep) {
            dst[n++] = (char)ch;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[ch >> 4];
            dst[n++] = hex[ch & 15];
        }
    }
    dst[n] = '\0';
    return 0;
}

int inferd_client_infer_v2(struct inferd_client *c, const char *model, const char *version,
                           const json_t *request, struct inferd_response *resp,
                           struct inferd_err *err)
{
    char m[256], v[64], path[400];
    if (!model || !*model || path_escape(model, m, sizeof m) < 0)
        return inferd_err_set(err, INFERD_EINVAL, "client: model name empty or too long");
    if (version && *version) {
        if (path_escape(version, v, sizeof v) < 0)
            return inferd_err_set(err, INFERD_EINVAL, "client: version too long");
        snprintf(path, sizeof path, "/v2/models/%s/versions/%s/infer", m, v);
    } else {
        snprintf(path, sizeof path, "/v2/models/%s/infer", m);
    }
    return inferd_client_post_json(c, path, request, resp, err);
}

int inferd_client_predict(struct inferd_client *c, const char *model, const json_t *input_data,
                          struct inferd_response *resp, struct inferd_err *err)
{
    if (!model || !input_data)
        return inferd_err_set(err, INFERD_EINVAL, "client: predict needs a model and input_data");
    json_t *body = json_pack("{s:s, s:O}", "model", model, "input_data", input_data);
    if (!body)
        return inferd_err_set(err, INFERD_ENOMEM, "client: cannot build the predict body");
    int rc = inferd_client_post_json(c, "/predict", body, resp, err);
    json_decref(body);
    return rc;
}

struct stream_ctx {
    inferd_sse_fn fn;
    void *ctx;
};

static int forward_event(const char *event, const char *data, size_t len, void *ud)
{
    struct stream_ctx *s = ud;
    return s->fn(event, data, len, s->ctx);
}

int inferd_client_stream(struct inferd_client *c, const char *path, const json_t *body,
                         inferd_sse_fn on_event, void *ctx, struct inferd_response *resp,
                         struct inferd_err *err)
{
    struct sse_parser p;
    struct stream_ctx sc = {on_event, ctx};
    if (!body || !on_event)
        return inferd_err_set(err, INFERD_EINVAL, "client: stream needs a body and on_event");
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return inferd_err_set(err, INFERD_ENOMEM, "client: cannot serialise the request body");
    sse_init(&p, INFERD_CLIENT_SSE_EVENT_MAX, forward_event, &sc);
    int rc = client__run(c, "POST", path, text, strlen(text), "application/json", &p, resp, err);
    sse_free(&p);
    free(text);
    return rc;
}
