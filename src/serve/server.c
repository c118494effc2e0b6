/* server.c — `inferd serve` assembled: logs, metrics, keys, compute pool, repository,
 * HTTP front and route tables; per-request metrics and access log; drain. */
#include "serve/routes/infer_call.h"

#include "base/clock.h"
#include "base/log.h"
#include "gateway/discover.h"
#include "observe/alerts.h"
#include "observe/otlp.h"
#include "observe/rollwin.h"
#include "base/tpool.h"
#include "base/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct serve_options serve_options_default(void)
{
    return (struct serve_options){
        .host = "127.0.0.1",
        .port = 8080,
        .max_body_bytes = 64u << 20,
        .max_upload_bytes = 32LL << 30,
        .max_elements = 16 << 20,
        .poll_ms = 1000,
        .conn_timeout_s = HTTP_CONN_TIMEOUT_S_DEFAULT,
        .max_connections = HTTP_MAX_CONNECTIONS_DEFAULT,
        .log_keep = 5,
    };
}

static int authorize(void *ctx, enum http_auth level, const char *header, struct inferd_err *err)
{
    struct serve_server *s = ctx;
    const struct keyring *k = s->infer_keys;
    if (level == HTTP_AUTH_ADMIN && s->admin_keys)
        k = s->admin_keys;
    if (!k)
        return 0;
    int rc = keyring_check(k, header, err);
    /* An admin key also opens inference routes. */
    if (rc < 0 && level == HTTP_AUTH_INFER && s->admin_keys && keyring_check(s->admin_keys, header, NULL) == 0)
        return 0;
    /* An inference key on an admin route: say so rather than "unknown". */
    if (rc < 0 && level == HTTP_AUTH_ADMIN && k == s->admin_keys && s->infer_keys &&
        keyring_check(s->infer_keys, header, NULL) == 0)
        rc = inferd_err_set(err, INFERD_EAUTH, "Authorization header: this key is not an admin key");
    return rc;
}

uint64_t serve_client_id(const struct serve_server *s, const struct http_req *r)
{
    const char *h = http_req_header(r, "Authorization");
    if (!h)
        return 0;
    int i = s->infer_keys ? keyring_find(s->infer_keys, h, NULL) : -1;
    if (i >= 0)
        return (uint64_t)i + 1;
    i = s->admin_keys ? keyring_find(s->admin_keys, h, NULL) : -1;
    if (i >= 0)
        return (uint64_t)i + 1 + (1ull << 32);
    return 0;
}

/* "v2_infer" -> "v2" in buf. */
static const char *protocol_of(const char *route, char *buf, size_t cap)
{
    size_t n = strcspn(route, "_");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, route, n);
    buf[n] = '\0';
    return buf;
}

/* 1 when version (text) is "" or a loaded version of model. */
static int version_loaded(struct serve_server *s, const char *model, const char *version)
{
    if (!version[0])
        return 1;
    int64_t vs[REPO_MAX_VERSIONS];
    int n = repo_versions(s->repo, model, vs, REPO_MAX_VERSIONS);
    for (int i = 0; i < n && i < REPO_MAX_VERSIONS; i++) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)vs[i]);
        if (strcmp(buf, version) == 0)
            return 1;
    }
    return 0;
}

/* The peer watch's callback (its thread): keeps a copy of the prefix's listing. */
static void on_peers(void *ctx, const char *source, json_t *defs)
{
    struct serve_server *s = ctx;
    (void)source;
    json_t *copy = json_deep_copy(defs);
    if (!copy)
        return; /* out of memory: keep the last listing */
    pthread_mutex_lock(&s->peers_mu);
    json_decref(s->peers_etcd);
    s->peers_etcd = copy;
    pthread_mutex_unlock(&s->peers_mu);
}

/* --register: registers s->advertise under the prefix and starts the peer watch. Returns
 * 0 or INFERD_EINVAL (bad URL, TTL) with err set; etcd being down is not an error (both
 * keep trying in their threads). */
static int start_registration(struct serve_server *s, struct inferd_err *err)
{
    const struct serve_options *o = &s->opts;
    int n, rc;
    if (o->advertise_url)
        n = snprintf(s->advertise, sizeof s->advertise, "%s", o->advertise_url);
    else if (strchr(o->host ? o->host : "", ':'))
        n = snprintf(s->advertise, sizeof s->advertise, "http://[%s]:%d", o->host, http_port(s->http));
    else
        n = snprintf(s->advertise, sizeof s->advertise, "http://%s:%d", o->host ? o->host : "127.0.0.1",
                     http_port(s->http));
    if (n < 0 || (size_t)n >= sizeof s->advertise)
        return inferd_err_set(err, INFERD_EINVAL, "--advertise: longer than %d bytes", SERVE_URL_MAX - 1);
    if (!o->advertise_url && o->host && (strcmp(o->host, "0.0.0.0") == 0 || strcmp(o->host, "::") == 0))
        log_event(LOG_WARN, "--register without --advertise on a wildcard --host: gateways cannot reach the "
                  "registered URL", "advertise", s->advertise, NULL);
    if ((rc = etcd_register_start(o->register_url, s->advertise, o->register_ttl_s > 0 ? o->register_ttl_s : 10,
                                  &s->registration, err)) < 0) {
        inferd_err_prefix(err, "--register");
        return rc;
    }
    if ((rc = gw_etcd_start(o->register_url, on_peers, s, &s->peer_watch, err)) < 0) {
        inferd_err_prefix(err, "--register");
        return rc;
    }
    return 0;
}

/* Starts the rule set once the port is known: generatorURLs point at this server. */
static int start_alerts(struct serve_server *s, struct inferd_err *err)
{
    char url[SERVE_URL_MAX];
    const char *host = s->opts.host ? s->opts.host : "127.0.0.1";
    if (!alerts_external_url(s->alerts)[0]) {
        if (s->advertise[0])
            snprintf(url, sizeof url, "%s", s->advertise);
        else if (strchr(host, ':'))
            snprintf(url, sizeof url, "http://[%s]:%d", host, http_port(s->http));
        else
            snprintf(url, sizeof url, "http://%s:%d", host, http_port(s->http));
        alerts_configure(s->alerts, 0, 0, url, NULL);
    }
    int rc = alerts_start(s->alerts, 0, err);
    if (rc < 0)
        inferd_err_prefix(err, "--alerts");
    return rc;
}

static void on_complete(void *ctx, struct http_req *r)
{
    struct serve_server *s = ctx;
    char proto[16], code[8];
    int status = http_resp_status(r);
    double dur = (double)(clock_now_ns() - http_req_start_ns(r)) / 1e9;
    protocol_of(http_req_route_name(r), proto, sizeof proto);
    snprintf(code, sizeof code, "%d", status);
    const char *model = http_req_model(r), *version = http_req_version(r);
    /* Series are labelled only with models the repository knows: names a client makes up
     * share one label, so they cannot fill the series cap and starve real models. */
    const char *mlabel = !model[0] || repo_has(s->repo, model) ? model : "_unknown";
    const char *vlabel = mlabel == model && version_loaded(s, model, version) ? version : "";
    metrics_add(metrics_series_get(s->m.requests_total, (const char *[]){mlabel, vlabel, proto, code}), 1);
    if (model[0])
        metrics_observe(metrics_series_get(s->m.request_duration, (const char *[]){mlabel, vlabel}), dur);
    double dec = http_req_decode_ms(r), enc = http_req_encode_ms(r);
    if (model[0] && (dec > 0 || enc > 0)) { /* a tensor request that reached the engine */
        metrics_observe(metrics_series_get(s->m.decode_duration, (const char *[]){mlabel, vlabel}), dec / 1e3);
        metrics_observe(metrics_series_get(s->m.encode_duration, (const char *[]){mlabel, vlabel}), enc / 1e3);
    }
    if (status >= 400) {
        const char *kind = http_req_error_kind(r);
        metrics_add(metrics_series_get(s->m.errors_total, (const char *[]){kind ? kind : "other"}), 1);
    }
    if (mlabel[0]) {
        const struct http_llm_stats *st = http_req_llm(r);
        struct rollwin_obs ob = {.latency_s = dur, .error = status >= 500, .client_error = status >= 400 && status < 500,
                                 .tokens = st ? st->completion_tokens : 0, .ttft_s = st ? st->ttft_ms / 1e3 : 0};
        rollwin_record(s->dash, mlabel, clock_now_ns(), &ob);
    }
    if (s->otlp) {
        struct otlp_span sp;
        http_req_span(r, &sp);
        otlp_export(s->otlp, &sp);
    }
    if (s->alog) {
        struct access_record rec = {
            .method = http_req_method_str(r),
            .trace_id = http_req_trace_id(r),
            .span_id = http_req_span_id(r),
            .parent_span_id = http_req_parent_span_id(r),
            .path = http_req_path(r),
            .status = status,
            .model = model,
            .version = version,
            .protocol = proto,
            .bytes_in = http_req_bytes_in(r),
            .bytes_out = http_req_bytes_out(r),
            .duration_ms = dur * 1e3,
            .queue_ms = http_req_queue_ms(r),
            .compute_ms = http_req_compute_ms(r),
            .decode_ms = http_req_decode_ms(r),
            .batch_wait_ms = http_req_batch_wait_ms(r),
            .encode_ms = http_req_encode_ms(r),
            .remote_addr = http_req_remote_addr(r),
            .user_agent = http_req_header(r, "User-Agent"),
        };
        const struct http_llm_stats *llm = http_req_llm(r);
        if (llm) {
            rec.llm = true;
            rec.prompt_tokens = llm->prompt_tokens;
            rec.completion_tokens = llm->completion_tokens;
            rec.ttft_ms = llm->ttft_ms;
            rec.tokens_per_s = llm->tokens_per_s;
            rec.finish_reason = llm->finish_reason;
        }
        snprintf(rec.request_id, sizeof rec.request_id, "%s", http_req_id(r)); /* ids are <= 128 */
        access_log_write(s->alog, &rec, NULL);
    }
}

int serve_start(const struct serve_options *o, struct serve_server **out, struct inferd_err *err)
{
    struct serve_server *s = calloc(1, sizeof *s);
    int rc = 0;
    if (!s)
        return inferd_err_set(err, INFERD_ENOMEM, "serve: out of memory");
    s->opts = *o;
    atomic_init(&s->draining, 0);
    pthread_mutex_init(&s->peers_mu, NULL);
    if (o->error_log && log_open(o->error_log, LOG_INFO) < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "--error-log: cannot open %s", o->error_log);
        goto fail;
    }
    if (o->access_log && (rc = access_log_open(o->access_log, &s->alog, err)) < 0)
        goto fail;
    if (o->log_max_bytes) {
        log_set_rotation(o->log_max_bytes, o->log_keep);
        access_log_set_rotation(s->alog, o->log_max_bytes, o->log_keep);
    }
    if (o->otlp_endpoint && (rc = otlp_new(o->otlp_endpoint, "inferd-serve", 0, &s->otlp, err)) < 0) {
        inferd_err_prefix(err, "--otlp-endpoint");
        goto fail;
    }
    if (o->api_key_file && (rc = keyring_load(o->api_key_file, &s->infer_keys, err)) < 0)
        goto fail;
    if (o->admin_key_file && (rc = keyring_load(o->admin_key_file, &s->admin_keys, err)) < 0)
        goto fail;
    s->reg = metrics_registry_new();
    if (!s->reg) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "serve: out of memory");
        goto fail;
    }
    if ((rc = metrics_inferd_register(s->reg, &s->m, err)) < 0)
        goto fail;
    metrics_process_register(s->reg, NULL); /* best effort: no /proc is not fatal */
    /* one window per model that saw traffic (~55 KB each); past 256 they share "_other" */
    if (!(s->dash = rollwin_new(256))) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "serve: out of memory");
        goto fail;
    }
    if (o->alerts_file && (rc = alerts_load(s->reg, o->alerts_file, &s->alerts, err)) < 0) {
        inferd_err_prefix(err, "--alerts");
        goto fail;
    }
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    s->pool = tpool_new(threads);
    if (!s->pool) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "serve: cannot start %d compute threads", threads);
        goto fail;
    }
    struct repo_opts ro = {.root = o->models_dir, .poll_ms = o->poll_ms, .pool = s->pool,
                           .max_elements = o->max_elements, .metrics = &s->m, .trust_file = o->trust_file,
                           .prefix_cache_mb = o->prefix_cache_mb, .memory_budget_mb = o->memory_budget_mb};
    if ((rc = repo_open(&ro, &s->repo, err)) < 0)
        goto fail;
    /* half the threads (at least one) parse large bodies, so HTTP workers never do */
    if ((rc = workq_new(threads / 2 > 0 ? threads / 2 : 1, SERVE_PARSE_QUEUE_MAX, &s->parse_q, err)) < 0)
        goto fail;
    struct http_config hc = {
        .host = o->host, .port = o->port, .threads = threads < 2 ? 2 : threads,
        .max_body_bytes = o->max_body_bytes, .max_buffered_bytes = o->max_buffered_bytes,
        .max_conns_per_client = o->max_conns_per_client,
        .conn_timeout_s = o->conn_timeout_s, .max_connections = o->max_connections,
        .authorize = authorize, .auth_ctx = s,
        .on_complete = on_complete, .obs_ctx = s,
    };
    if ((rc = http_server_new(&hc, &s->http, err)) < 0)
        goto fail;
    /* One line per protocol; a new protocol file adds its table here. */
    if ((rc = http_add_routes(s->http, routes_ops, routes_ops_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_repository, routes_repository_count, s, err)) < 0 ||
        (rc = http_add_sink_route(s->http, &route_repository_put, &repository_put_sink, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_v2, routes_v2_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_predict, routes_predict_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_tfserving, routes_tfserving_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_openai, routes_openai_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_openai_models, routes_openai_models_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_ollama, routes_ollama_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_generate, routes_generate_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_peers, routes_peers_count, s, err)) < 0 ||
        (rc = http_add_routes(s->http, routes_dash, routes_dash_count, s, err)) < 0)
        goto fail;
    if ((rc = http_server_start(s->http, err)) < 0)
        goto fail;
    if (s->alerts && (rc = start_alerts(s, err)) < 0)
        goto fail;
    /* Registered only once the server answers, so the gateway never sees a dead URL. */
    if (o->register_url && (rc = start_registration(s, err)) < 0)
        goto fail;
    log_json(LOG_INFO, "serving",
             json_pack("{s:s,s:i,s:i}", "host", o->host ? o->host : "127.0.0.1", "port", http_port(s->http),
                       "models_loaded", repo_loaded_count(s->repo)));
    *out = s;
    return 0;
fail:
    serve_free(s);
    return rc;
}

int serve_port(const struct serve_server *s) { return http_port(s->http); }

void serve_rescan(struct serve_server *s)
{
    repo_poll(s->repo);
}

void serve_reopen_logs(struct serve_server *s)
{
    log_reopen();
    if (s->alog)
        access_log_reopen(s->alog);
    log_event(LOG_INFO, "logs reopened", NULL);
}

long serve_drain(struct serve_server *s, int timeout_ms)
{
    /* First out of etcd (the key is revoked at once), so gateways stop sending new work. */
    etcd_register_stop(s->registration);
    s->registration = NULL;
    atomic_store(&s->draining, 1);
    http_server_quiesce(s->http);
    uint64_t until = clock_now_ns() + (uint64_t)timeout_ms * 1000000u;
    long n;
    while ((n = http_in_flight(s->http)) > 0 && clock_now_ns() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    log_json(LOG_INFO, "drained", json_pack("{s:I}", "in_flight_left", (json_int_t)n));
    return n;
}

void serve_free(struct serve_server *s)
{
    if (!s)
        return;
    etcd_register_stop(s->registration);
    gw_etcd_stop(s->peer_watch);
    workq_free(s->parse_q); /* runs what is queued: those requests answer while MHD still runs */
    http_server_free(s->http);
    alerts_free(s->alerts); /* after the routes that read it; stops its threads */
    repo_close(s->repo);
    tpool_free(s->pool);
    keyring_free(s->infer_keys);
    keyring_free(s->admin_keys);
    otlp_free(s->otlp); /* after the HTTP front: no request exports any more */
    access_log_close(s->alog);
    metrics_registry_free(s->reg);
    rollwin_free(s->dash); /* after the HTTP front: no request records any more */
    json_decref(s->peers_etcd);
    pthread_mutex_destroy(&s->peers_mu);
    free(s);
}
