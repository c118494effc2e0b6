/* api.c — the gateway's own routes: health, the model lists (the union over channels),
 * /metrics, channel and key administration, and the report. */
#include "gateway/gw_int.h"
#include "gateway/report.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/rng.h"
#include "observe/alerts.h"
#include "inferd/version.h"

#include <stdlib.h>
#include <string.h>

static int live(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json_str(r, 200, "{\"live\":true}");
    return HTTP_DONE;
}

static int ready(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    if (atomic_load(&g->draining)) {
        http_resp_error(r, 503, "draining", "the gateway is shutting down");
        return HTTP_DONE;
    }
    size_t healthy = 0;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nchans; i++)
        healthy += g->chans[i]->state == GW_ST_HEALTHY;
    pthread_mutex_unlock(&g->mu);
    if (!healthy)
        http_resp_error(r, 503, "no_channel", "no healthy channel");
    else
        http_resp_json_str(r, 200, "{\"ready\":true}");
    return HTTP_DONE;
}

/* The server's own answer: a client cannot tell a gateway from a server but by the
 * X-Inferd-Channel header of inference answers. */
static int server_meta(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json_str(r, 200,
                       "{\"name\":\"inferd\",\"version\":\"" INFERD_VERSION "\",\"extensions\":"
                       "[\"binary_tensor_data\",\"model_repository\"]}");
    return HTTP_DONE;
}

/* GET /api/alerts: the pending and firing alerts, in Prometheus's /api/v1/alerts shape
 * (an empty list without --alerts). */
static int alerts_route(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    char *json = NULL;
    struct inferd_err err = {0};
    if (!g->alerts) {
        http_resp_json_str(r, 200, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}");
        return HTTP_DONE;
    }
    if (alerts_json(g->alerts, &json, &err) < 0) {
        http_resp_error(r, 500, "alerts", "%s", err.msg);
        return HTTP_DONE;
    }
    http_resp_take(r, 200, "application/json", json, strlen(json));
    return HTTP_DONE;
}

static int metrics_route(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    char *text = NULL;
    size_t len = 0;
    struct inferd_err err = {0};
    if (metrics_expose(g->reg, &text, &len, &err) < 0) {
        http_resp_error(r, 500, "metrics", "%s", err.msg);
        return HTTP_DONE;
    }
    http_resp_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return HTTP_DONE;
}

/* {public model name: [channel ids]} over usable channels; llm_only: models listed on
 * /v1/models. Caller holds g->mu. */
static json_t *model_union(struct gw *g, bool llm_only)
{
    json_t *u = json_object();
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        if (c->state == GW_ST_DISABLED || c->state == GW_ST_CANDIDATE)
            continue;
        json_t *lists[2] = {c->models, llm_only ? c->found_llm : c->found};
        for (int l = 0; l < 2; l++) {
            size_t k;
            json_t *e;
            json_array_foreach(lists[l], k, e)
            {
                const char *up = json_string_value(e);
                if (llm_only && l == 0 && c->proto != GW_PROTO_OPENAI) {
                    bool is_llm = false;
                    size_t q;
                    json_t *f;
                    json_array_foreach(c->found_llm, q, f)
                    {
                        is_llm |= strcmp(json_string_value(f), up) == 0;
                    }
                    if (!is_llm)
                        continue;
                }
                /* the channel's own name and every public alias of it */
                const char *names[64];
                size_t nn = 0;
                names[nn++] = up;
                const char *mk;
                json_t *mv;
                json_object_foreach(c->model_map, mk, mv)
                {
                    if (strcmp(json_string_value(mv), up) == 0 && nn < 64)
                        names[nn++] = mk;
                }
                for (size_t q = 0; q < nn; q++) {
                    json_t *ids = json_object_get(u, names[q]);
                    if (!ids) {
                        ids = json_array();
                        json_object_set_new(u, names[q], ids);
                    }
                    bool have = false;
                    size_t z;
                    json_t *id;
                    json_array_foreach(ids, z, id)
                    {
                        have |= strcmp(json_string_value(id), c->id) == 0;
                    }
                    if (!have)
                        json_array_append_new(ids, json_string(c->id));
                }
            }
        }
    }
    return u;
}

static bool any_healthy(struct gw *g, json_t *ids)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        for (size_t k = 0; k < g->nchans; k++)
            if (strcmp(g->chans[k]->id, json_string_value(id)) == 0 && g->chans[k]->state == GW_ST_HEALTHY)
                return true;
    }
    return false;
}

static int repo_index(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    json_t *out = json_array();
    pthread_mutex_lock(&g->mu);
    json_t *u = model_union(g, false);
    const char *name;
    json_t *ids;
    json_object_foreach(u, name, ids)
    {
        bool ok = any_healthy(g, ids);
        json_t *row = json_pack("{s:s,s:s,s:s}", "name", name, "version", "", "state", ok ? "READY" : "UNAVAILABLE");
        if (!ok)
            json_object_set_new(row, "reason", json_string("no healthy channel"));
        json_array_append_new(out, row);
    }
    pthread_mutex_unlock(&g->mu);
    json_decref(u);
    http_resp_json(r, 200, out);
    return HTTP_DONE;
}

/* Whether a healthy channel among ids speaks api. Caller holds g->mu. */
static bool any_healthy_speaking(struct gw *g, json_t *ids, enum gw_api api)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        for (size_t k = 0; k < g->nchans; k++) {
            const struct gw_chan *c = g->chans[k];
            if (strcmp(c->id, json_string_value(id)) == 0 && c->state == GW_ST_HEALTHY && gw_chan_speaks(c, api))
                return true;
        }
    }
    return false;
}

/* Ollama's /api/tags (ps: /api/ps): the language models a healthy channel that speaks
 * Ollama's API serves, as "name:latest"; sizes and digests are the channels' to know. */
static int ollama_list(struct http_req *r, struct gw *g, bool ps)
{
    char at[40];
    clock_rfc3339(ps ? clock_wall_ms() + 24ull * 3600 * 1000 * 365 : g->started_wall_ms, at, sizeof at);
    json_t *models = json_array();
    pthread_mutex_lock(&g->mu);
    json_t *u = model_union(g, true);
    const char *name;
    json_t *ids;
    json_object_foreach(u, name, ids)
    {
        if (!any_healthy_speaking(g, ids, GW_API_OLLAMA))
            continue;
        char full[300];
        snprintf(full, sizeof full, "%.280s:latest", name);
        json_array_append_new(models, json_pack("{s:s,s:s,s:s,s:i,s:s,s:{s:s,s:s}}", "name", full, "model", full,
                                                ps ? "expires_at" : "modified_at", at, "size", 0, "digest", "",
                                                "details", "format", "gguf", "parent_model", ""));
    }
    pthread_mutex_unlock(&g->mu);
    json_decref(u);
    http_resp_json(r, 200, json_pack("{s:o}", "models", models));
    return HTTP_DONE;
}

static int ollama_tags(struct http_req *r, void *ctx) { return ollama_list(r, ctx, false); }
static int ollama_ps(struct http_req *r, void *ctx) { return ollama_list(r, ctx, true); }

static int ollama_version(struct http_req *r, void *ctx)
{
    (void)ctx;
    http_resp_json(r, 200, json_pack("{s:s}", "version", INFERD_VERSION));
    return HTTP_DONE;
}

static int openai_models(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    json_t *data = json_array();
    pthread_mutex_lock(&g->mu);
    json_t *u = model_union(g, true);
    const char *name;
    json_t *ids;
    json_object_foreach(u, name, ids)
    {
        if (any_healthy(g, ids))
            json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", name, "object", "model", "created",
                                                  (json_int_t)(g->started_wall_ms / 1000), "owned_by",
                                                  "inferd-gateway"));
    }
    pthread_mutex_unlock(&g->mu);
    json_decref(u);
    http_resp_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
    return HTTP_DONE;
}

/* ---- channels ---- */

json_t *gw_channels_snapshot(struct gw *g)
{
    json_t *a = json_array();
    pthread_mutex_lock(&g->mu);
    uint64_t s = clock_now_ns() / 1000000000u;
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        json_t *j = gw_chan_json(c, true);
        json_object_set_new(j, "score", json_real(gw_score(g, c)));
        json_object_set_new(j, "availability", json_real(gw_chan_availability(c, s)));
        json_object_set_new(j, "quality", c->quality < 0 ? json_null() : json_real(c->quality));
        if (c->quality_why[0])
            json_object_set_new(j, "quality_detail", json_string(c->quality_why));
        json_object_set_new(j, "latency_ms",
                            json_pack("{s:f,s:f,s:f,s:f}", "ewma", c->ewma_ms, "p50", gw_chan_quantile(c, 0.5), "p95",
                                      gw_chan_quantile(c, 0.95), "p99", gw_chan_quantile(c, 0.99)));
        json_object_set_new(j, "ttft_ms", json_real(c->ttft_ewma_ms));
        json_object_set_new(j, "tokens_per_s", json_real(c->tps_ewma));
        json_object_set_new(j, "outstanding", json_integer(c->outstanding));
        json_object_set_new(j, "requests", json_integer((json_int_t)c->requests));
        json_object_set_new(j, "errors", json_integer((json_int_t)c->errors));
        json_object_set_new(j, "ejections", json_integer(c->ejections));
        json_object_set_new(j, "rollout", json_real(c->rollout));
        json_t *models = json_deep_copy(c->found);
        size_t k;
        json_t *e;
        json_array_foreach(c->models, k, e)
        {
            json_array_append_new(models, json_string(json_string_value(e))); /* a copy: no sharing */
        }
        json_object_set_new(j, "models", models);
        json_array_append_new(a, j);
    }
    pthread_mutex_unlock(&g->mu);
    return a;
}

static int channels_list(struct http_req *r, void *ctx)
{
    http_resp_json(r, 200, json_pack("{s:o}", "channels", gw_channels_snapshot(ctx)));
    return HTTP_DONE;
}

static json_t *channel_one(struct gw *g, const char *id)
{
    json_t *all = gw_channels_snapshot(g);
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0) {
            json_incref(c);
            json_decref(all);
            return c;
        }
    }
    json_decref(all);
    return NULL;
}

static int channel_get(struct http_req *r, void *ctx)
{
    json_t *c = channel_one(ctx, http_req_capture(r, "id"));
    if (!c)
        http_resp_error(r, 404, "not_found", "channel \"%.64s\" not found", http_req_capture(r, "id"));
    else
        http_resp_json(r, 200, c);
    return HTTP_DONE;
}

static json_t *parse_body(struct http_req *r)
{
    size_t len = 0;
    const char *b = http_req_body(r, &len);
    json_error_t je;
    json_t *j = json_loadb(b, len, 0, &je);
    if (!j)
        http_resp_error(r, 400, "bad_json", "request body: invalid JSON at line %d column %d: %s", je.line,
                        je.column, je.text);
    return j;
}

static int channel_save(struct http_req *r, struct gw *g, json_t *def, bool create)
{
    struct inferd_err err = {0};
    struct gw_chan *c;
    if (gw_chan_parse(def, "api", &c, &err) < 0) {
        json_decref(def);
        http_resp_error(r, 400, "invalid_channel", "%s", err.msg);
        return HTTP_DONE;
    }
    json_decref(def);
    struct gw_chan *old = gw_chan_get(g, c->id);
    bool exists = old != NULL;
    bool foreign = old && strcmp(old->source, "api") != 0 && strcmp(old->source, "file") != 0;
    gw_chan_unref(g, old);
    if (create && exists) {
        http_resp_error(r, 409, "exists", "channel \"%s\" exists already (PUT /api/channels/%s replaces it)", c->id,
                        c->id);
        gw_chan_unref(NULL, c);
        return HTTP_DONE;
    }
    if (foreign) {
        http_resp_error(r, 409, "discovered", "channel \"%s\" was discovered; it changes with its source", c->id);
        gw_chan_unref(NULL, c);
        return HTTP_DONE;
    }
    char id[GW_ID_MAX + 1];
    memcpy(id, c->id, sizeof id);
    if (gw_chan_put(g, c, true, &err) < 0) {
        gw_chan_unref(NULL, c);
        http_resp_error(r, http_status_for(err.code), "save_failed", "%s", err.msg);
        return HTTP_DONE;
    }
    json_t *out = channel_one(g, id);
    http_resp_json(r, create ? 201 : 200, out ? out : json_object());
    return HTTP_DONE;
}

static int channel_create(struct http_req *r, void *ctx)
{
    json_t *def = parse_body(r);
    return def ? channel_save(r, ctx, def, true) : HTTP_DONE;
}

static int channel_replace(struct http_req *r, void *ctx)
{
    json_t *def = parse_body(r);
    if (!def)
        return HTTP_DONE;
    const char *id = http_req_capture(r, "id");
    json_t *given = json_object_get(def, "id");
    if (given && (!json_is_string(given) || strcmp(json_string_value(given), id) != 0)) {
        json_decref(def);
        http_resp_error(r, 400, "invalid_channel", "channel: id: \"%.64s\" in the body differs from the path's",
                        json_is_string(given) ? json_string_value(given) : "?");
        return HTTP_DONE;
    }
    if (json_is_object(def))
        json_object_set_new(def, "id", json_string(id));
    return channel_save(r, ctx, def, false);
}

static int channel_delete(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    struct inferd_err err = {0};
    const char *id = http_req_capture(r, "id");
    struct gw_chan *old = gw_chan_get(g, id);
    char source[sizeof old->source] = "";
    if (old && strcmp(old->source, "api") != 0)
        memcpy(source, old->source, sizeof source);
    gw_chan_unref(g, old);
    if (source[0]) {
        http_resp_error(r, 409, "discovered", "channel \"%.64s\" comes from %s; remove it there", id, source);
        return HTTP_DONE;
    }
    if (gw_chan_delete(g, id, true, &err) < 0) {
        http_resp_error(r, http_status_for(err.code), "not_found", "%s", err.msg);
        return HTTP_DONE;
    }
    http_resp_json_str(r, 200, "{\"deleted\":true}");
    return HTTP_DONE;
}

static int channel_test(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    const char *id = http_req_capture(r, "id");
    struct gw_chan *c = gw_chan_get(g, id);
    if (!c) {
        http_resp_error(r, 404, "not_found", "channel \"%.64s\" not found", id);
        return HTTP_DONE;
    }
    gw_probe_channel_now(g, c);
    gw_chan_unref(g, c);
    json_t *out = channel_one(g, id);
    if (out)
        json_object_set_new(out, "probe", json_string("started; GET /api/channels/{id} shows its result"));
    http_resp_json(r, 202, out ? out : json_object());
    return HTTP_DONE;
}

/* ---- keys ---- */

struct key_list {
    json_t *a;
};

static void key_row(void *ctx, const struct gw_key_row *k, const char *hash)
{
    (void)hash;
    json_array_append_new(((struct key_list *)ctx)->a,
                          json_pack("{s:s,s:s,s:s,s:f,s:f,s:I,s:I,s:I,s:I}", "id", k->id, "name", k->name, "key_hint",
                                    k->key_hint, "rate_per_s", k->rate_per_s, "burst", k->burst, "quota_requests",
                                    (json_int_t)k->quota_requests, "quota_tokens", (json_int_t)k->quota_tokens,
                                    "used_requests", (json_int_t)k->used_requests, "used_tokens",
                                    (json_int_t)k->used_tokens));
}

static int keys_list(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    struct key_list l = {json_array()};
    struct inferd_err err = {0};
    gw_store_flush(g->store);
    if (gw_store_each_key(g->store, key_row, &l, &err) < 0) {
        json_decref(l.a);
        http_resp_error(r, 500, "state", "%s", err.msg);
        return HTTP_DONE;
    }
    http_resp_json(r, 200, json_pack("{s:o}", "keys", l.a));
    return HTTP_DONE;
}

static int num_field(json_t *j, const char *name, double min, double max, double *out, struct http_req *r)
{
    json_t *v = json_object_get(j, name);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        http_resp_error(r, 400, "invalid_key", "key: %s: must be a number from %g to %g", name, min, max);
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

static int key_create(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    json_t *j = parse_body(r);
    if (!j)
        return HTTP_DONE;
    struct gw_key_row k = {0};
    char secret[80];
    json_t *id = json_object_get(j, "id"), *name = json_object_get(j, "name"), *key = json_object_get(j, "key");
    double qr, qt;
    if (!json_is_object(j)) {
        http_resp_error(r, 400, "invalid_key", "key: the body must be a JSON object");
        goto out;
    }
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > 64) {
        http_resp_error(r, 400, "invalid_key", "key: id: required, a string of 1 to 64 bytes");
        goto out;
    }
    if (name && (!json_is_string(name) || json_string_length(name) > 128)) {
        http_resp_error(r, 400, "invalid_key", "key: name: must be a string of at most 128 bytes");
        goto out;
    }
    if (key && (!json_is_string(key) || json_string_length(key) < 16 || json_string_length(key) > 64 ||
                strpbrk(json_string_value(key), " \t\r\n"))) {
        http_resp_error(r, 400, "invalid_key", "key: key: must be 16 to 64 characters without spaces (or left out: "
                                               "the gateway makes one)");
        goto out;
    }
    if (num_field(j, "rate_per_s", 0, 1e6, &k.rate_per_s, r) < 0 || num_field(j, "burst", 0, 1e6, &k.burst, r) < 0 ||
        num_field(j, "quota_requests", 0, 9e15, &qr, r) < 0 || num_field(j, "quota_tokens", 0, 9e15, &qt, r) < 0)
        goto out;
    k.quota_requests = (int64_t)qr;
    k.quota_tokens = (int64_t)qt;
    snprintf(k.id, sizeof k.id, "%s", json_string_value(id));
    snprintf(k.name, sizeof k.name, "%s", name ? json_string_value(name) : "");
    if (key) {
        snprintf(secret, sizeof secret, "%s", json_string_value(key));
    } else {
        memcpy(secret, "gw-", 3);
        rng_hex(secret + 3, 24);
    }
    snprintf(k.key_hint, sizeof k.key_hint, "%.4s...", secret);
    struct inferd_err err = {0};
    if (gw_store_put_key(g->store, &k, secret, &err) < 0) {
        http_resp_error(r, err.code == INFERD_EINVAL ? 409 : 500, "key_exists", "%s", err.msg);
        goto out;
    }
    gw_store_flush(g->store);
    gw_keys_load(g, NULL);
    /* the secret is shown this once */
    http_resp_json(r, 201, json_pack("{s:s,s:s,s:s}", "id", k.id, "key", secret, "note",
                                     "the key is not shown again; the gateway keeps only its sha256"));
out:
    json_decref(j);
    return HTTP_DONE;
}

static int key_delete(struct http_req *r, void *ctx)
{
    struct gw *g = ctx;
    struct inferd_err err = {0};
    if (gw_store_delete_key(g->store, http_req_capture(r, "id"), &err) < 0) {
        http_resp_error(r, 500, "state", "%s", err.msg);
        return HTTP_DONE;
    }
    gw_keys_load(g, NULL);
    http_resp_json_str(r, 200, "{\"deleted\":true}");
    return HTTP_DONE;
}

/* ---- report ---- */

static json_t *report(struct http_req *r, struct gw *g)
{
    int64_t window = 3600;
    const char *w = http_req_query(r, "window");
    if (w) {
        char *end;
        long long v = strtoll(w, &end, 10);
        if (*end || v < 60 || v > 90LL * 86400) {
            http_resp_error(r, 400, "invalid_window", "window: seconds from 60 to 7776000");
            return NULL;
        }
        window = v;
    }
    json_t *live_snap = gw_channels_snapshot(g);
    struct inferd_err err = {0};
    gw_store_flush(g->store);
    sqlite3 *db = gw_store_reader_lock(g->store);
    json_t *rep = gw_report_build(db, live_snap, (int64_t)clock_wall_ms(), window, &err);
    gw_store_reader_unlock(g->store);
    json_decref(live_snap);
    if (!rep)
        http_resp_error(r, 500, "report", "%s", err.msg);
    return rep;
}

static int report_json(struct http_req *r, void *ctx)
{
    json_t *rep = report(r, ctx);
    if (rep)
        http_resp_json(r, 200, rep);
    return HTTP_DONE;
}

static int report_html(struct http_req *r, void *ctx)
{
    json_t *rep = report(r, ctx);
    if (!rep)
        return HTTP_DONE;
    struct buf b;
    buf_init(&b, 16u << 20);
    struct inferd_err err = {0};
    int rc = gw_report_html(rep, &b, &err);
    json_decref(rep);
    if (rc < 0) {
        buf_free(&b);
        http_resp_error(r, 500, "report", "%s", err.msg);
        return HTTP_DONE;
    }
    size_t len = 0;
    char *html = buf_take(&b, &len);
    http_resp_take(r, 200, "text/html; charset=utf-8", html, len);
    return HTTP_DONE;
}

const struct http_route gw_routes_api[] = {
    {HTTP_GET | HTTP_HEAD, "/v2/health/live", HTTP_AUTH_NONE, live, "ops_live", NULL},
    {HTTP_GET | HTTP_HEAD, "/v2/health/ready", HTTP_AUTH_NONE, ready, "ops_ready", NULL},
    {HTTP_GET, "/v2", HTTP_AUTH_NONE, server_meta, "v2_server", NULL},
    {HTTP_GET, "/metrics", HTTP_AUTH_NONE, metrics_route, "ops_metrics", NULL},
    {HTTP_GET, "/api/alerts", HTTP_AUTH_ADMIN, alerts_route, "api_alerts", NULL},
    {HTTP_POST, "/v2/repository/index", HTTP_AUTH_NONE, repo_index, "repo_index", NULL},
    {HTTP_GET, "/v1/models", HTTP_AUTH_NONE, openai_models, "openai_models", NULL},
    {HTTP_GET, "/api/tags", HTTP_AUTH_NONE, ollama_tags, "ollama_tags", NULL},
    {HTTP_GET, "/api/ps", HTTP_AUTH_NONE, ollama_ps, "ollama_ps", NULL},
    {HTTP_GET, "/api/version", HTTP_AUTH_NONE, ollama_version, "ollama_version", NULL},
    {HTTP_GET, "/api/channels", HTTP_AUTH_ADMIN, channels_list, "api_channels", NULL},
    {HTTP_POST, "/api/channels", HTTP_AUTH_ADMIN, channel_create, "api_channels", NULL},
    {HTTP_GET, "/api/channels/{id}", HTTP_AUTH_ADMIN, channel_get, "api_channels", NULL},
    {HTTP_PUT, "/api/channels/{id}", HTTP_AUTH_ADMIN, channel_replace, "api_channels", NULL},
    {HTTP_DELETE, "/api/channels/{id}", HTTP_AUTH_ADMIN, channel_delete, "api_channels", NULL},
    {HTTP_POST, "/api/channels/{id}/test", HTTP_AUTH_ADMIN, channel_test, "api_channels", NULL},
    {HTTP_GET, "/api/keys", HTTP_AUTH_ADMIN, keys_list, "api_keys", NULL},
    {HTTP_POST, "/api/keys", HTTP_AUTH_ADMIN, key_create, "api_keys", NULL},
    {HTTP_DELETE, "/api/keys/{id}", HTTP_AUTH_ADMIN, key_delete, "api_keys", NULL},
    {HTTP_GET, "/api/report", HTTP_AUTH_ADMIN, report_json, "api_report", NULL},
    {HTTP_GET, "/report", HTTP_AUTH_ADMIN, report_html, "report", NULL},
};
const size_t gw_routes_api_count = sizeof gw_routes_api / sizeof gw_routes_api[0];
