/* probe.c — the gateway's periodic work on the loop thread: active probes of every channel
 * (liveness and the models it serves), canary inferences judged by consensus or by a
 * configured expected answer, re-admission of ejected channels, admission of crawled
 * candidates, crawling for peers, re-reading the channels file, gradual rollout and the
 * samples the report draws.
 *
 * A probe round of a channel:
 *   inferd/kserve: POST /v2/repository/index (models and readiness), and for inferd
 *                  GET /v1/models (which of them are LLMs)
 *   openai:        GET /v1/models
 *   then, every canary interval, one canary per model (eval.h): v2 metadata + infer, or a
 *   chat completion at temperature 0. Answers are compared across the channels serving
 *   the model; the answer most channels give (at least two) is the expected one, unless
 *   --canaries configures it. A channel that disagrees is marked bad_quality: it stays
 *   probed, gets no traffic, and is re-admitted when its answer matches again. */
#include "gateway/eval.h"
#include "gateway/gw_int.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TICK_NS 250000000ull
#define PROBE_BODY_MAX (8u << 20)
#define PROBE_TIMEOUT_MS 2000

/* ---- one probe request: GET or POST, the answer buffered ---- */

typedef void (*probe_fn)(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                         double ms, const char *fail);

struct preq {
    struct gw *g;
    struct gw_chan *c; /* reference */
    probe_fn fn;
    void *arg;
    char url[GW_URL_MAX + 512];
    char auth[600];
    const char *hdrs[3];
    char *body;
    struct buf resp;
    long status;
};

static void preq_head(void *ctx, struct gw_xfer *x, const struct gw_head *h)
{
    (void)x;
    ((struct preq *)ctx)->status = h->status;
}

static int preq_data(void *ctx, struct gw_xfer *x, const char *p, size_t n)
{
    (void)x;
    struct preq *q = ctx;
    buf_put(&q->resp, p, n);
    return buf_rc(&q->resp) ? -1 : 0;
}

static void preq_done(void *ctx, struct gw_xfer *x, const struct gw_done *d)
{
    (void)x;
    struct preq *q = ctx;
    const char *fail = d->failed ? d->kind : NULL;
    q->fn(q->g, q->c, q->arg, q->status, q->resp.data ? q->resp.data : "", q->resp.len, d->total_ms, fail);
    gw_chan_unref(q->g, q->c);
    buf_free(&q->resp);
    free(q->body);
    free(q);
}

static const struct gw_xfer_cb preq_cb = {preq_head, preq_data, preq_done};

/* Sends method path (body: NULL or owned JSON text) to channel c; fn runs with the answer
 * (or fail set). Takes a reference to c. */
static void probe_send(struct gw *g, struct gw_chan *c, const char *method, const char *path, char *body, probe_fn fn,
                       void *arg)
{
    struct preq *q = calloc(1, sizeof *q);
    if (!q) {
        free(body);
        fn(g, c, arg, 0, "", 0, 0, "error");
        return;
    }
    q->g = g;
    q->c = c;
    q->fn = fn;
    q->arg = arg;
    q->body = body;
    pthread_mutex_lock(&g->mu);
    c->refs++;
    pthread_mutex_unlock(&g->mu);
    buf_init(&q->resp, PROBE_BODY_MAX);
    snprintf(q->url, sizeof q->url, "%s%s", c->base_url, path);
    size_t nh = 0;
    q->hdrs[nh++] = "Content-Type: application/json";
    if (c->api_key) {
        snprintf(q->auth, sizeof q->auth, "Authorization: Bearer %s", c->api_key);
        q->hdrs[nh++] = q->auth;
    }
    q->hdrs[nh] = NULL;
    struct gw_xfer_req req = {.method = method, .url = q->url, .body = body, .body_len = body ? strlen(body) : 0,
                              .headers = q->hdrs, .connect_timeout_ms = g->o.connect_timeout_ms,
                              .first_byte_timeout_ms = PROBE_TIMEOUT_MS, .total_timeout_ms = 4 * PROBE_TIMEOUT_MS};
    if (!gw_xfer_start(g->loop, &req, &preq_cb, q, NULL)) {
        fn(g, c, arg, 0, "", 0, 0, "error");
        gw_chan_unref(g, c);
        buf_free(&q->resp);
        free(body);
        free(q);
    }
}

/* ---- canaries ---- */

struct canary_ctx {
    char model[257];     /* public name */
    char up[257];        /* the channel's name for it */
    bool llm;
};

static void log_probe(struct gw *g, struct gw_chan *c, const char *model, const char *kind, bool ok, double ms,
                      const char *detail)
{
    struct gw_probe_row row = {.channel_id = c->id, .model = model, .kind = kind, .ok = ok, .latency_ms = ms,
                               .detail = detail};
    gw_store_log_probe(g->store, &row);
}

/* A crawled candidate passed evaluation: it starts taking traffic at the rollout's small
 * share. Caller holds g->mu. */
static void admit_candidate(struct gw *g, struct gw_chan *c, const char *why)
{
    if (c->state != GW_ST_CANDIDATE)
        return;
    c->state = GW_ST_HEALTHY;
    c->state_since_ns = clock_now_ns();
    c->rollout = g->o.rollout_start;
    c->rollout_step_ns = clock_now_ns();
    snprintf(c->reason, sizeof c->reason, "admitted: %s", why);
}

/* Judges every channel that answered model's canary (caller holds g->mu). */
static void canary_judge(struct gw *g, const char *model)
{
    json_t *answers = json_object_get(g->canary, model);
    if (!answers)
        return;
    const json_t *expect = NULL;
    json_t *conf = json_object_get(g->canary_expect, model);
    if (conf)
        expect = json_object_get(conf, "expect_key");
    if (!expect) {
        /* consensus: the answer the most channels share, if at least two share it */
        size_t best = 0;
        const char *id;
        json_t *a;
        json_object_foreach(answers, id, a)
        {
            size_t same = 0;
            const char *id2;
            json_t *b;
            json_object_foreach(answers, id2, b)
            {
                if (gw_answer_equal(a, b, 1e-3, NULL, 0))
                    same++;
            }
            if (same > best) {
                best = same;
                expect = a;
            }
        }
        if (best < 2 || best * 2 <= json_object_size(answers))
            expect = NULL; /* no majority: nothing can be judged */
    }
    if (!expect)
        return;
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        json_t *a = json_object_get(answers, c->id);
        if (!a)
            continue;
        char why[256] = "";
        bool good = gw_answer_equal(expect, a, 1e-3, why, sizeof why);
        c->quality = good ? 1.0 : 0.0;
        snprintf(c->quality_why, sizeof c->quality_why, "%s", good ? "" : why);
        if (!good && (c->state == GW_ST_HEALTHY || c->state == GW_ST_CANDIDATE)) {
            c->state = GW_ST_BAD_QUALITY;
            c->state_since_ns = clock_now_ns();
            snprintf(c->reason, sizeof c->reason, "canary of \"%.64s\" answered wrong: %.160s", model, why);
            log_event(LOG_WARN, "channel quality bad", "channel", c->id, "model", model, "reason", why, NULL);
        } else if (good && c->state == GW_ST_CANDIDATE) {
            admit_candidate(g, c, "found by crawling; its canary answers like the others");
        } else if (good && c->state == GW_ST_BAD_QUALITY) {
            c->state = GW_ST_HEALTHY;
            c->state_since_ns = clock_now_ns();
            c->rollout = g->o.rollout_start;
            c->rollout_step_ns = clock_now_ns();
            snprintf(c->reason, sizeof c->reason, "canary answers right again");
        }
    }
}

static void canary_answer(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                          double ms, const char *fail)
{
    struct canary_ctx *cc = arg;
    char detail[300] = "";
    json_t *key = NULL;
    if (fail || status != 200) {
        snprintf(detail, sizeof detail, "%s", fail ? fail : "HTTP error");
        if (!fail)
            snprintf(detail, sizeof detail, "HTTP %ld", status);
    } else {
        json_t *j = json_loadb(body, len, 0, NULL);
        struct inferd_err err = {0};
        key = j ? gw_answer_key(j, &err) : NULL;
        if (!key)
            snprintf(detail, sizeof detail, "answer has no outputs: %.200s", err.msg);
        json_decref(j);
    }
    log_probe(g, c, cc->model, "canary", key != NULL, ms, detail);
    if (key) {
        pthread_mutex_lock(&g->mu);
        json_t *m = json_object_get(g->canary, cc->model);
        if (!m) {
            m = json_object();
            json_object_set_new(g->canary, cc->model, m);
        }
        if (c->removed)
            json_object_del(m, c->id);
        else
            json_object_set_new(m, c->id, key);
        canary_judge(g, cc->model);
        if (c->quality < 0) /* nobody to compare with: its probe and a valid answer must do */
            admit_candidate(g, c, "found by crawling; answered its canary (no other channel to compare)");
        pthread_mutex_unlock(&g->mu);
        if (c->removed)
            json_decref(key);
    }
    free(cc);
}

static char *configured_canary(struct gw *g, const char *model, const char *up)
{
    json_t *conf = json_object_get(g->canary_expect, model);
    json_t *req = conf ? json_object_get(conf, "request") : NULL;
    if (!req)
        return NULL;
    json_t *copy = json_deep_copy(req);
    if (json_object_get(copy, "model"))
        json_object_set_new(copy, "model", json_string(up));
    char *s = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    return s;
}

static void canary_meta(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                        double ms, const char *fail)
{
    struct canary_ctx *cc = arg;
    json_t *meta = fail || status != 200 ? NULL : json_loadb(body, len, 0, NULL);
    struct inferd_err err = {0};
    json_t *req = meta ? gw_canary_v2_request(meta, &err) : NULL;
    json_decref(meta);
    if (!req) {
        if (fail || status != 200) {
            log_probe(g, c, cc->model, "canary", false, ms, fail ? fail : "metadata request failed");
        } else { /* a model no canary can be made for (BYTES input, too large): nothing to judge */
            pthread_mutex_lock(&g->mu);
            admit_candidate(g, c, "found by crawling; passed its probe (no canary for this model)");
            pthread_mutex_unlock(&g->mu);
        }
        free(cc);
        return;
    }
    char path[600];
    snprintf(path, sizeof path, "/v2/models/%s/infer", cc->up);
    probe_send(g, c, "POST", path, json_dumps(req, JSON_COMPACT), canary_answer, cc);
    json_decref(req);
}

static bool name_ok(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._~:", *s))
            return false;
    return true;
}

static void canary_start(struct gw *g, struct gw_chan *c, const char *model, const char *up, bool llm)
{
    if (!name_ok(up) || strlen(up) > 256 || strlen(model) > 256)
        return;
    struct canary_ctx *cc = calloc(1, sizeof *cc);
    if (!cc)
        return;
    snprintf(cc->model, sizeof cc->model, "%s", model);
    snprintf(cc->up, sizeof cc->up, "%s", up);
    cc->llm = llm;
    char *conf = configured_canary(g, model, up);
    if (llm) {
        char *body = conf;
        if (!body) {
            json_t *req = gw_canary_chat_request(up);
            body = json_dumps(req, JSON_COMPACT);
            json_decref(req);
        }
        probe_send(g, c, "POST", "/v1/chat/completions", body, canary_answer, cc);
    } else if (conf) {
        char path[600];
        snprintf(path, sizeof path, "/v2/models/%s/infer", up);
        probe_send(g, c, "POST", path, conf, canary_answer, cc);
    } else {
        char path[600];
        snprintf(path, sizeof path, "/v2/models/%s", up);
        probe_send(g, c, "GET", path, NULL, canary_meta, cc);
    }
}

/* ---- the probe round ---- */

struct round {
    json_t *models;   /* names the channel serves (its names) */
    json_t *llms;     /* which of them are LLMs */
    bool ok;
    char why[200];
    double ms;
    int pending;
    bool canaries;
};

static void round_end(struct gw *g, struct gw_chan *c, struct round *rd)
{
    pthread_mutex_lock(&g->mu);
    c->probing = false;
    if (rd->ok) {
        c->listed = true;
        json_decref(c->found);
        c->found = json_incref(rd->models);
        json_decref(c->found_llm);
        c->found_llm = json_incref(rd->llms);
    }
    gw_probe_result(g, c, rd->ok, rd->why);
    /* a candidate that serves nothing has no canary to wait for; otherwise the canary
     * answers decide (canary_answer) */
    if (rd->ok && c->state == GW_ST_CANDIDATE && json_array_size(rd->models) == 0)
        admit_candidate(g, c, "found by crawling; passed its probe (serves no model yet)");
    else if (rd->ok && c->state == GW_ST_CANDIDATE)
        snprintf(c->reason, sizeof c->reason, "found by crawling; passed its probe, waiting for its canary");
    bool removed = c->removed;
    pthread_mutex_unlock(&g->mu);
    log_probe(g, c, "", "live", rd->ok, rd->ms, rd->ok ? "" : rd->why);
    if (rd->ok && rd->canaries && !removed) {
        /* one canary per public model name the channel serves */
        size_t i;
        json_t *e;
        json_array_foreach(rd->models, i, e)
        {
            const char *up = json_string_value(e);
            const char *pub = up;
            const char *k;
            json_t *v;
            json_object_foreach(c->model_map, k, v)
            {
                if (strcmp(json_string_value(v), up) == 0)
                    pub = k;
            }
            bool llm = c->proto == GW_PROTO_OPENAI;
            size_t j;
            json_t *l;
            json_array_foreach(rd->llms, j, l)
            {
                llm |= strcmp(json_string_value(l), up) == 0;
            }
            canary_start(g, c, pub, up, llm);
        }
    }
    json_decref(rd->models);
    json_decref(rd->llms);
    free(rd);
}

static void add_unique(json_t *a, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (strcmp(json_string_value(e), s) == 0)
            return;
    }
    json_array_append_new(a, json_string(s));
}

int gw_parse_index(const char *body, size_t len, json_t *models)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    if (!json_is_array(j)) {
        json_decref(j);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e)
    {
        json_t *n = json_object_get(e, "name"), *s = json_object_get(e, "state");
        if (json_is_string(n) && json_string_length(n) > 0 && json_string_length(n) <= 256 &&
            (!s || (json_is_string(s) && strcmp(json_string_value(s), "READY") == 0)))
            add_unique(models, json_string_value(n));
    }
    json_decref(j);
    return 0;
}

static void got_index(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                      double ms, const char *fail)
{
    struct round *rd = arg;
    rd->ms = ms > rd->ms ? ms : rd->ms;
    if (!fail && status == 200 && gw_parse_index(body, len, rd->models) == 0) {
        rd->ok = true;
    } else if (!rd->ok) {
        if (fail || !status)
            snprintf(rd->why, sizeof rd->why, "POST /v2/repository/index: %s", fail ? fail : "no answer");
        else
            snprintf(rd->why, sizeof rd->why, "POST /v2/repository/index: HTTP %ld", status);
    }
    if (--rd->pending == 0)
        round_end(g, c, rd);
}

int gw_parse_model_list(const char *body, size_t len, json_t *models, json_t *llms)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *data = json_object_get(j, "data");
    if (!json_is_array(data)) {
        json_decref(j);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(data, i, e)
    {
        json_t *id = json_object_get(e, "id");
        if (json_is_string(id) && json_string_length(id) > 0 && json_string_length(id) <= 256) {
            add_unique(models, json_string_value(id));
            add_unique(llms, json_string_value(id));
        }
    }
    json_decref(j);
    return 0;
}

static void got_models(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                       double ms, const char *fail)
{
    struct round *rd = arg;
    rd->ms = ms > rd->ms ? ms : rd->ms;
    bool ok = !fail && status == 200 && gw_parse_model_list(body, len, rd->models, rd->llms) == 0;
    if (ok && c->proto == GW_PROTO_OPENAI)
        rd->ok = true;
    else if (!ok && c->proto == GW_PROTO_OPENAI)
        snprintf(rd->why, sizeof rd->why, "GET /v1/models: %s", fail ? fail : "no model list");
    if (--rd->pending == 0)
        round_end(g, c, rd);
}

static void probe_round(struct gw *g, struct gw_chan *c, bool canaries)
{
    struct round *rd = calloc(1, sizeof *rd);
    if (!rd)
        return;
    rd->models = json_array();
    rd->llms = json_array();
    rd->canaries = canaries;
    pthread_mutex_lock(&g->mu);
    c->probing = true;
    c->last_probe_ns = clock_now_ns();
    pthread_mutex_unlock(&g->mu);
    rd->pending = c->proto == GW_PROTO_INFERD ? 2 : 1;
    if (c->proto != GW_PROTO_OPENAI)
        probe_send(g, c, "POST", "/v2/repository/index", NULL, got_index, rd);
    if (c->proto != GW_PROTO_KSERVE)
        probe_send(g, c, "GET", "/v1/models", NULL, got_models, rd);
}

/* ---- crawling for peers ---- */

struct crawl {
    json_t *defs;
    int pending;
};

static void crawl_done(struct gw *g, struct crawl *cr)
{
    gw_source_sync(g, "crawl", cr->defs);
    json_decref(cr->defs);
    free(cr);
}

json_t *gw_parse_peers(const char *body, size_t len)
{
    json_t *out = json_array();
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *peers = json_object_get(j, "peers");
    size_t i;
    json_t *p;
    json_array_foreach(peers, i, p)
    {
        json_t *u = json_object_get(p, "base_url");
        const char *url = json_string_value(u);
        if (!url || json_string_length(u) > 400 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
            continue;
        json_array_append(out, u);
    }
    json_decref(j);
    return out;
}

static void got_peers(struct gw *g, struct gw_chan *c, void *arg, long status, const char *body, size_t len,
                      double ms, const char *fail)
{
    (void)c;
    (void)ms;
    struct crawl *cr = arg;
    json_t *urls = !fail && status == 200 ? gw_parse_peers(body, len) : json_array();
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        const char *url = json_string_value(u);
        bool known = false;
        pthread_mutex_lock(&g->mu);
        for (size_t k = 0; k < g->nchans && !known; k++) {
            size_t n = strlen(g->chans[k]->base_url);
            known = strncmp(g->chans[k]->base_url, url, n) == 0 && (url[n] == '\0' || strcmp(url + n, "/") == 0) &&
                    strcmp(g->chans[k]->source, "crawl") != 0;
        }
        pthread_mutex_unlock(&g->mu);
        if (known)
            continue;
        char id[GW_ID_MAX + 1] = "crawl-";
        size_t n = strlen(id);
        const char *h = strstr(url, "://");
        for (h = h ? h + 3 : url; *h && n < GW_ID_MAX; h++)
            id[n++] = isalnum((unsigned char)*h) || *h == '.' || *h == '-' ? *h : '_';
        id[n] = '\0';
        json_array_append_new(cr->defs, json_pack("{s:s,s:s,s:s,s:[s]}", "id", id, "base_url", url, "protocol",
                                                  "inferd", "tags", "crawled"));
    }
    json_decref(urls);
    if (--cr->pending == 0)
        crawl_done(g, cr);
}

static void crawl_round(struct gw *g)
{
    struct crawl *cr = calloc(1, sizeof *cr);
    if (!cr)
        return;
    cr->defs = json_array();
    cr->pending = 1;
    pthread_mutex_lock(&g->mu);
    size_t n = g->nchans;
    struct gw_chan **cs = malloc((n + 1) * sizeof *cs);
    size_t k = 0;
    for (size_t i = 0; cs && i < n; i++) {
        struct gw_chan *c = g->chans[i];
        if (c->proto == GW_PROTO_INFERD && c->state != GW_ST_DISABLED) {
            c->refs++;
            cs[k++] = c;
        }
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < k; i++) {
        cr->pending++;
        probe_send(g, cs[i], "GET", "/api/peers", NULL, got_peers, cr);
        gw_chan_unref(g, cs[i]);
    }
    free(cs);
    if (--cr->pending == 0)
        crawl_done(g, cr);
}

/* ---- the channels file ---- */

static void file_check(struct gw *g)
{
    struct stat st;
    if (!g->o.channels_file || stat(g->o.channels_file, &st) != 0)
        return;
    int64_t m = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (m == g->file_mtime_ns)
        return;
    g->file_mtime_ns = m;
    json_error_t je;
    json_t *j = json_load_file(g->o.channels_file, 0, &je);
    json_t *defs = json_is_object(j) ? json_object_get(j, "channels") : j;
    if (!json_is_array(defs)) {
        log_event(LOG_ERROR, "channels file refused: expected [channel, ...] or {\"channels\": [...]}", "path",
                  g->o.channels_file, "reason", j ? "not an array" : je.text, NULL);
        json_decref(j);
        return;
    }
    gw_source_sync(g, "file", defs);
    json_decref(j);
}

/* ---- the tick ---- */

static void sample(struct gw *g)
{
    uint64_t s = clock_now_ns() / 1000000000u;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->nchans; i++) {
        struct gw_chan *c = g->chans[i];
        uint64_t ok, fail;
        gw_chan_window(c, s, 5, &ok, &fail); /* the sample's own 5 s */
        struct gw_sample_row row = {
            .channel_id = c->id,
            .state = gw_state_name(c->state),
            .score = gw_score(g, c),
            .availability = gw_chan_availability(c, s),
            .quality = c->quality,
            .latency_ms = c->ewma_ms,
            .p50 = gw_chan_quantile(c, 0.5),
            .p95 = gw_chan_quantile(c, 0.95),
            .p99 = gw_chan_quantile(c, 0.99),
            .requests = (int64_t)(ok + fail),
            .errors = (int64_t)fail,
            .outstanding = c->outstanding,
        };
        gw_store_log_sample(g->store, &row);
    }
    pthread_mutex_unlock(&g->mu);
}

static void tick(void *arg)
{
    struct gw *g = arg;
    /* the timer that ran this is freed (run_timers): cut_all must not cancel it, so it is
     * forgotten here, not only when draining stops the re-arm below */
    g->tick = NULL;
    uint64_t now = clock_now_ns();
    if (now - g->last_file_ns >= 1000000000ull) {
        g->last_file_ns = now;
        file_check(g);
    }
    /* which channels are due a probe round */
    pthread_mutex_lock(&g->mu);
    size_t n = g->nchans;
    struct gw_chan **due = malloc((n + 1) * sizeof *due);
    bool *canary = malloc((n + 1) * sizeof *canary);
    size_t k = 0;
    uint64_t every = (uint64_t)g->o.probe_interval_ms * 1000000u;
    for (size_t i = 0; due && canary && i < n; i++) {
        struct gw_chan *c = g->chans[i];
        if (c->state == GW_ST_EJECTED && now >= c->eject_until_ns) {
            c->state = GW_ST_HALF_OPEN;
            snprintf(c->reason, sizeof c->reason, "ejection over; probing before re-admission");
        }
        bool want = c->state == GW_ST_HALF_OPEN || now - c->last_probe_ns >= every;
        if (c->probing || c->state == GW_ST_DISABLED || c->state == GW_ST_EJECTED || !want)
            continue;
        /* canaries ride on every Nth round */
        int per = g->o.canary_interval_ms / (g->o.probe_interval_ms > 0 ? g->o.probe_interval_ms : 1);
        canary[k] = per <= 1 || (c->last_probe_ns / every) % (uint64_t)per == 0 || c->quality < 0 ||
                    c->state == GW_ST_BAD_QUALITY;
        c->refs++;
        due[k++] = c;
        /* rollout: the share doubles each step while the channel scores well */
        if (c->rollout < 1 && c->state == GW_ST_HEALTHY &&
            now - c->rollout_step_ns >= (uint64_t)g->o.rollout_step_ms * 1000000u) {
            double sc = gw_score(g, c);
            c->rollout = sc >= 0.5 ? (c->rollout * 2 > 1 ? 1 : c->rollout * 2)
                                   : (c->rollout / 2 < g->o.rollout_start ? g->o.rollout_start : c->rollout / 2);
            c->rollout_step_ns = now;
        }
    }
    pthread_mutex_unlock(&g->mu);
    for (size_t i = 0; i < k; i++) {
        probe_round(g, due[i], canary[i]);
        gw_chan_unref(g, due[i]);
    }
    free(due);
    free(canary);
    if (now - g->last_crawl_ns >= (uint64_t)g->o.crawl_interval_ms * 1000000u) {
        g->last_crawl_ns = now;
        crawl_round(g);
    }
    if (now - g->last_sample_ns >= 5000000000ull) {
        g->last_sample_ns = now;
        sample(g);
    }
    if (!atomic_load(&g->draining))
        g->tick = gw_timer_at(g->loop, now + TICK_NS, tick, g);
}

static void tick_first(void *arg)
{
    struct gw *g = arg;
    g->last_crawl_ns = clock_now_ns(); /* the first crawl after one interval */
    tick(g);
}

void gw_tick_start(struct gw *g)
{
    gw_loop_post(g->loop, tick_first, g);
}

struct probe_now {
    struct gw *g;
    struct gw_chan *c;
};

static void probe_now_run(void *arg)
{
    struct probe_now *p = arg;
    pthread_mutex_lock(&p->g->mu);
    bool go = !p->c->probing && !p->c->removed;
    pthread_mutex_unlock(&p->g->mu);
    if (go)
        probe_round(p->g, p->c, true);
    gw_chan_unref(p->g, p->c);
    free(p);
}

void gw_probe_channel_now(struct gw *g, struct gw_chan *c)
{
    struct probe_now *p = malloc(sizeof *p);
    if (!p)
        return;
    pthread_mutex_lock(&g->mu);
    c->refs++;
    pthread_mutex_unlock(&g->mu);
    *p = (struct probe_now){g, c};
    if (gw_loop_post(g->loop, probe_now_run, p) < 0) {
        gw_chan_unref(g, c);
        free(p);
    }
}
