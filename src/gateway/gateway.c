/* gateway.c — the gateway's life cycle: options, state, metrics, discovery, the loop and
 * the HTTP front (the server's own, src/serve/http), shutdown. */
#include "gateway/eval.h"
#include "gateway/gw_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "observe/families.h"
#include "observe/alerts.h"
#include "observe/otlp.h"
#include "observe/rollwin.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gw_options gw_options_default(void)
{
    return (struct gw_options){
        .host = "127.0.0.1",
        .port = 9090,
        .threads = 4,
        .state_path = "gateway.db",
        .dns_port = 8080,
        .max_body_bytes = 64u << 20,
        .probe_interval_ms = 2000,
        .canary_interval_ms = 10000,
        .crawl_interval_ms = 10000,
        .max_attempts = 3,
        .retry_budget = 0.2,
        .connect_timeout_ms = 1000,
        .upstream_timeout_ms = 60000,
        .first_byte_timeout_ms = 30000,
        .eject_failures = 5,
        .eject_ratio = 0.5,
        .eject_min_requests = 10,
        .eject_base_s = 2.0,
        .max_ejected_share = 0.5,
        .rollout_start = 0.1,
        .rollout_step_ms = 5000,
        .retention_s = 7 * 86400,
        .max_connections = 8192,
        .log_keep = 5,
    };
}

static int authorize(void *ctx, enum http_auth level, const char *header, struct inferd_err *err)
{
    struct gw *g = ctx;
    /* inference routes check keys themselves (stored keys with limits, gw_keys_admit) */
    if (level != HTTP_AUTH_ADMIN || !g->admin_keys)
        return 0;
    return keyring_check(g->admin_keys, header, err);
}

static void on_complete(void *ctx, struct http_req *r)
{
    struct gw *g = ctx;
    if (g->otlp) {
        struct otlp_span sp;
        http_req_span(r, &sp);
        otlp_export(g->otlp, &sp);
    }
    int status = http_resp_status(r);
    double dur_s = (double)(clock_now_ns() - http_req_start_ns(r)) / 1e9;
    char channel[GW_ID_MAX + 1];
    char *attempts = NULL;
    gw_call_record(r, channel, sizeof channel, &attempts);
    /* A 404 that no channel gave names a model nobody serves: one shared window, so names a
     * client makes up cannot take the dashboard's keys from real models. */
    struct rollwin_obs ob = {.latency_s = dur_s, .error = status >= 500, .client_error = status >= 400 && status < 500};
    rollwin_record(g->dash_models, status == 404 && !channel[0] ? "_unknown" : http_req_model(r), clock_now_ns(), &ob);
    if (!g->alog) {
        free(attempts);
        return;
    }
    struct access_record rec = {
        .method = http_req_method_str(r),
        .trace_id = http_req_trace_id(r),
        .span_id = http_req_span_id(r),
        .parent_span_id = http_req_parent_span_id(r),
        .path = http_req_path(r),
        .status = status,
        .model = http_req_model(r),
        .version = http_req_version(r),
        .protocol = http_req_route_name(r),
        .bytes_in = http_req_bytes_in(r),
        .bytes_out = http_req_bytes_out(r),
        .duration_ms = dur_s * 1e3,
        .remote_addr = http_req_remote_addr(r),
        .user_agent = http_req_header(r, "User-Agent"),
        .channel = channel[0] ? channel : NULL,
        .attempts_json = attempts,
    };
    snprintf(rec.request_id, sizeof rec.request_id, "%s", http_req_id(r));
    access_log_write(g->alog, &rec, NULL);
    free(attempts);
}

/* Mirrors channel state into gauges at each exposition. */
static void collect(void *ctx)
{
    struct gw *g = ctx;
    static const enum gw_state states[] = {GW_ST_HEALTHY, GW_ST_EJECTED, GW_ST_HALF_OPEN,
                                           GW_ST_CANDIDATE, GW_ST_BAD_QUALITY, GW_ST_DISABLED};
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        metrics_set(metrics_series_get(g->m.ch_score, (const char *[]){c->id}), gw_score(g, c));
        metrics_set(metrics_series_get(g->m.ch_outstanding, (const char *[]){c->id}), c->outstanding);
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++)
            metrics_set(metrics_series_get(g->m.ch_state, (const char *[]){c->id, gw_state_name(states[k])}),
                        c->state == states[k]);
    }
    pthread_mutex_unlock(&g->mu);
}

static int families(struct gw *g, struct inferd_err *err)
{
    static const char *mc[] = {"model", "code"}, *m[] = {"model"}, *ch[] = {"channel"},
                      *chc[] = {"channel", "code"}, *chk[] = {"channel", "kind"}, *chs[] = {"channel", "state"},
                      *key[] = {"key"};
    double b[16];
    metrics_buckets_exponential(0.001, 2.0, 16, b);
    int rc = 0;
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_requests_total", "Client requests by model and status.", mc, 2, &g->m.requests, err);
    rc = rc ? rc : metrics_histogram_new(g->reg, "inferd_gateway_request_duration_seconds", "Client request time, all attempts.", m, 1, b, 16, &g->m.duration, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_channel_requests_total", "Attempts per channel by status (or transport error).", chc, 2, &g->m.ch_requests, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_channel_errors_total", "Failed attempts per channel by kind.", chk, 2, &g->m.ch_errors, err);
    rc = rc ? rc : metrics_histogram_new(g->reg, "inferd_gateway_channel_latency_seconds", "Successful attempt latency (time to first byte for streams).", ch, 1, b, 16, &g->m.ch_latency, err);
    rc = rc ? rc : metrics_gauge_new(g->reg, "inferd_gateway_channel_score", "Routing score 0..1.", ch, 1, &g->m.ch_score, err);
    rc = rc ? rc : metrics_gauge_new(g->reg, "inferd_gateway_channel_state", "1 for the channel's current state.", chs, 2, &g->m.ch_state, err);
    rc = rc ? rc : metrics_gauge_new(g->reg, "inferd_gateway_channel_outstanding", "Attempts in flight per channel.", ch, 1, &g->m.ch_outstanding, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_ejections_total", "Outlier ejections per channel.", ch, 1, &g->m.ejections, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_retries_total", "Retries onto another channel.", m, 1, &g->m.retries, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_hedges_total", "Hedged attempts.", m, 1, &g->m.hedges, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_rate_limited_total", "Requests refused by a key's rate or quota.", key, 1, &g->m.rate_limited, err);
    rc = rc ? rc : metrics_counter_new(g->reg, "inferd_gateway_retry_budget_exhausted_total", "Retries not made: the retry budget was spent.", NULL, 0, &g->m.budget_exhausted, err);
    if (rc == 0)
        rc = metrics_process_register(g->reg, err);
    if (rc == 0)
        rc = metrics_add_collector(g->reg, collect, g, err);
    return rc;
}

static void load_channel(void *ctx, const char *id, const char *def, const char *source)
{
    struct gw *g = ctx;
    json_t *j = json_loads(def, 0, NULL);
    struct gw_chan *c;
    struct inferd_err err = {0};
    if (!j || gw_chan_parse(j, source, &c, &err) < 0) {
        log_event(LOG_ERROR, "stored channel refused", "channel", id, "reason", err.msg, NULL);
    } else if (gw_chan_put(g, c, false, &err) < 0) {
        gw_chan_unref(NULL, c);
        log_event(LOG_ERROR, "stored channel refused", "channel", id, "reason", err.msg, NULL);
    }
    json_decref(j);
}

/* --canaries FILE: [{"model","request","expect"}]; expect may be a whole answer. */
static int load_canaries(struct gw *g, struct inferd_err *err)
{
    g->canary_expect = json_object();
    if (!g->o.canaries_file)
        return 0;
    json_error_t je;
    json_t *j = json_load_file(g->o.canaries_file, 0, &je);
    if (!json_is_array(j)) {
        json_decref(j);
        return inferd_err_set(err, INFERD_EINVAL, "--canaries %s: expected [{\"model\",\"request\",\"expect\"}]: %s",
                              g->o.canaries_file, je.text);
    }
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e)
    {
        json_t *m = json_object_get(e, "model"), *req = json_object_get(e, "request"), *ex = json_object_get(e, "expect");
        if (!json_is_string(m) || !json_is_object(req)) {
            json_decref(j);
            return inferd_err_set(err, INFERD_EINVAL, "--canaries %s: [%zu]: needs \"model\" and a \"request\" object",
                                  g->o.canaries_file, i);
        }
        json_t *conf = json_pack("{s:O}", "request", req);
        if (ex) {
            json_t *key = gw_answer_key(ex, NULL);
            json_object_set_new(conf, "expect_key", key ? key : json_incref(ex));
        }
        json_object_set_new(g->canary_expect, json_string_value(m), conf);
    }
    json_decref(j);
    return 0;
}

int gw_start(const struct gw_options *o, struct gw **out, struct inferd_err *err)
{
    *out = NULL;
    struct gw *g = calloc(1, sizeof *g);
    if (!g)
        return inferd_err_set(err, INFERD_ENOMEM, "gateway: out of memory");
    g->o = *o;
    g->started_ns = clock_now_ns();
    g->started_wall_ms = clock_wall_ms();
    pthread_mutex_init(&g->mu, NULL);
    g->canary = json_object();
    rng_seed_random(&g->loop_rng);
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(g->reg = metrics_registry_new())) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "gateway: out of memory");
        goto fail;
    }
    if ((rc = families(g, err)) < 0)
        goto fail;
    /* dashboard windows (~55 KB per key with traffic); past 256 keys they share "_other" */
    if (!(g->dash_models = rollwin_new(256)) || !(g->dash_channels = rollwin_new(256))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "gateway: out of memory");
        goto fail;
    }
    if (o->alerts_file && (rc = alerts_load(g->reg, o->alerts_file, &g->alerts, err)) < 0) {
        inferd_err_prefix(err, "--alerts");
        goto fail;
    }
    if ((rc = load_canaries(g, err)) < 0)
        goto fail;
    if (o->admin_key_file && (rc = keyring_load(o->admin_key_file, &g->admin_keys, err)) < 0) {
        inferd_err_prefix(err, "--admin-key-file");
        goto fail;
    }
    if (o->api_key_file && (rc = keyring_load(o->api_key_file, &g->infer_keys, err)) < 0) {
        inferd_err_prefix(err, "--api-key-file");
        goto fail;
    }
    if (o->access_log && (rc = access_log_open(o->access_log, &g->alog, err)) < 0)
        goto fail;
    if (o->log_max_bytes) {
        log_set_rotation(o->log_max_bytes, o->log_keep);
        access_log_set_rotation(g->alog, o->log_max_bytes, o->log_keep);
    }
    if (o->otlp_endpoint && (rc = otlp_new(o->otlp_endpoint, "inferd-gateway", 0, &g->otlp, err)) < 0) {
        inferd_err_prefix(err, "--otlp-endpoint");
        goto fail;
    }
    if ((rc = gw_store_open(o->state_path ? o->state_path : "gateway.db", o->retention_s, &g->store, err)) < 0)
        goto fail;
    if ((rc = gw_keys_load(g, err)) < 0)
        goto fail;
    if ((rc = gw_loop_start(&g->loop, err)) < 0)
        goto fail;
    if ((rc = gw_store_each_channel(g->store, load_channel, g, err)) < 0)
        goto fail;
    struct http_config hc = {
        .host = o->host,
        .port = o->port,
        .threads = o->threads > 0 ? o->threads : 4,
        .max_body_bytes = o->max_body_bytes,
        .max_connections = o->max_connections,
        .max_conns_per_client = o->max_conns_per_client,
        .conn_timeout_s = 600, /* streams may be quiet for long between events */
        .authorize = authorize,
        .auth_ctx = g,
        .on_complete = on_complete,
        .obs_ctx = g,
    };
    if ((rc = http_server_new(&hc, &g->http, err)) < 0)
        goto fail;
    if ((rc = http_add_routes(g->http, gw_routes_api, gw_routes_api_count, g, err)) < 0 ||
        (rc = http_add_routes(g->http, gw_routes_dash, gw_routes_dash_count, g, err)) < 0 ||
        (rc = http_add_routes(g->http, gw_routes_proxy, gw_routes_proxy_count, g, err)) < 0)
        goto fail;
    if ((rc = http_server_start(g->http, err)) < 0)
        goto fail;
    if (g->alerts) { /* generatorURLs point at this gateway unless the file names a URL */
        char url[300];
        const char *host = o->host ? o->host : "127.0.0.1";
        snprintf(url, sizeof url, strchr(host, ':') ? "http://[%.255s]:%d" : "http://%.255s:%d",
                 host, http_port(g->http));
        if (!alerts_external_url(g->alerts)[0])
            alerts_configure(g->alerts, 0, 0, url, NULL);
        if ((rc = alerts_start(g->alerts, 0, err)) < 0) {
            inferd_err_prefix(err, "--alerts");
            goto fail;
        }
    }
    gw_tick_start(g); /* reads the channels file at once */
    for (size_t i = 0; i < o->ndns; i++) {
        struct gw_dns_opts d = {.name = o->dns[i], .server = o->dns_server, .port = o->dns_port,
                                .protocol = "inferd", .interval_ms = 2000};
        struct gw_dns **t = realloc(g->dns, (g->ndns + 1) * sizeof *t);
        if (!t) {
            rc = inferd_err_set(err, INFERD_ENOMEM, "gateway: out of memory");
            goto fail;
        }
        g->dns = t;
        if ((rc = gw_dns_start(&d, gw_source_sync, g, &g->dns[g->ndns], err)) < 0)
            goto fail;
        g->ndns++;
    }
    if (o->etcd && (rc = gw_etcd_start(o->etcd, gw_source_sync, g, &g->etcd, err)) < 0)
        goto fail;
    *out = g;
    return 0;
fail:
    gw_free(g);
    return rc;
}

int gw_port(const struct gw *g)
{
    return http_port(g->http);
}

long gw_drain(struct gw *g, int timeout_ms)
{
    atomic_store(&g->draining, 1);
    http_server_quiesce(g->http);
    uint64_t end = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (http_in_flight(g->http) > 0 && clock_now_ns() < end)
        usleep(10000);
    return http_in_flight(g->http);
}

void gw_reopen_logs(struct gw *g)
{
    log_reopen();
    if (g->alog)
        access_log_reopen(g->alog);
}

static void cut_all(void *arg)
{
    struct gw *g = arg;
    gw_timer_cancel(g->tick);
    g->tick = NULL;
    gw_proxy_cut_all(g);
}

void gw_free(struct gw *g)
{
    if (!g)
        return;
    atomic_store(&g->draining, 1);
    for (size_t i = 0; i < g->ndns; i++)
        gw_dns_stop(g->dns[i]);
    free(g->dns);
    gw_etcd_stop(g->etcd);
    if (g->loop)
        gw_loop_post(g->loop, cut_all, g);
    http_server_free(g->http); /* cuts what still waits, stops the threads */
    alerts_free(g->alerts);    /* after the routes that read it; stops its threads */
    gw_loop_stop(g->loop);
    for (size_t i = 0; i < g->nchans; i++)
        gw_chan_unref(NULL, g->chans[i]);
    free(g->chans);
    free(g->keys);
    gw_store_close(g->store);
    otlp_free(g->otlp); /* after the HTTP front and the loop: nothing exports any more */
    access_log_close(g->alog);
    keyring_free(g->admin_keys);
    keyring_free(g->infer_keys);
    metrics_registry_free(g->reg);
    rollwin_free(g->dash_models); /* after the HTTP front and the loop: nothing records any more */
    rollwin_free(g->dash_channels);
    json_decref(g->canary);
    json_decref(g->canary_expect);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
