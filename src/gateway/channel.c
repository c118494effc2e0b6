/* channel.c — channel definitions (parse, validate, JSON with the key hidden) and the
 * gateway's table of channels (add, replace, delete, discovery sync). */
#include "gateway/gw_int.h"

#include "base/clock.h"
#include "base/log.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *gw_state_name(enum gw_state s)
{
    switch (s) {
    case GW_ST_HEALTHY: return "healthy";
    case GW_ST_EJECTED: return "ejected";
    case GW_ST_HALF_OPEN: return "half_open";
    case GW_ST_CANDIDATE: return "candidate";
    case GW_ST_BAD_QUALITY: return "bad_quality";
    case GW_ST_DISABLED: return "disabled";
    }
    return "?";
}

const char *gw_proto_name(enum gw_proto p)
{
    return p == GW_PROTO_OPENAI ? "openai" : p == GW_PROTO_KSERVE ? "kserve" : "inferd";
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > GW_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._:-", s[i]))
            return false;
    return true;
}

/* http://host[:port][/prefix] with no query, fragment, user info or spaces. */
static bool url_ok(const char *u, char *why, size_t cap)
{
    const char *rest;
    if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    else
        return snprintf(why, cap, "must start with http:// or https://"), false;
    if (!*rest || *rest == '/' || *rest == ':')
        return snprintf(why, cap, "has no host"), false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == '@' || (unsigned char)*p >= 0x7f)
            return snprintf(why, cap, "must not hold spaces, '?', '#', '@' or non-ASCII"), false;
    if (strlen(u) >= GW_URL_MAX - 128)
        return snprintf(why, cap, "longer than %d bytes", GW_URL_MAX - 128), false;
    return true;
}

static int bad(struct inferd_err *err, const char *field, const char *why)
{
    return inferd_err_set(err, INFERD_EINVAL, "channel: %s: %s", field, why);
}

static int string_array(const json_t *v, const char *field, size_t max_len, json_t **out, struct inferd_err *err)
{
    if (!json_is_array(v))
        return bad(err, field, "must be an array of strings");
    if (json_array_size(v) > 4096)
        return bad(err, field, "more than 4096 entries");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > max_len)
            return inferd_err_set(err, INFERD_EINVAL, "channel: %s[%zu]: must be a string of 1 to %zu bytes",
                                  field, i, max_len);
    }
    *out = json_deep_copy(v);
    return *out ? 0 : inferd_err_set(err, INFERD_ENOMEM, "channel: out of memory");
}

static const char *const known[] = {"id",     "name",      "base_url", "protocol", "api_key", "models",
                                    "model_map", "priority", "weight", "tags", "enabled", NULL};

int gw_chan_parse(const json_t *def, const char *source, struct gw_chan **out, struct inferd_err *err)
{
    *out = NULL;
    if (!json_is_object(def))
        return inferd_err_set(err, INFERD_EINVAL, "channel: must be a JSON object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)def, k, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok)
            return inferd_err_set(err, INFERD_EINVAL, "channel: unknown member \"%.64s\"", k);
    }
    struct gw_chan *c = calloc(1, sizeof *c);
    if (!c)
        return inferd_err_set(err, INFERD_ENOMEM, "channel: out of memory");
    int rc = 0;
    char why[128];
    v = json_object_get(def, "id");
    if (!json_is_string(v) || !id_ok(json_string_value(v))) {
        rc = bad(err, "id", "required: 1 to 64 of A-Z a-z 0-9 . _ : -");
        goto fail;
    }
    snprintf(c->id, sizeof c->id, "%s", json_string_value(v));
    v = json_object_get(def, "base_url");
    if (!json_is_string(v)) {
        rc = bad(err, "base_url", "required: a string like http://host:port");
        goto fail;
    }
    if (!url_ok(json_string_value(v), why, sizeof why)) {
        rc = bad(err, "base_url", why);
        goto fail;
    }
    snprintf(c->base_url, sizeof c->base_url, "%s", json_string_value(v));
    size_t bl = strlen(c->base_url);
    while (bl > 0 && c->base_url[bl - 1] == '/')
        c->base_url[--bl] = '\0';
    v = json_object_get(def, "name");
    if (v && (!json_is_string(v) || json_string_length(v) > 128)) {
        rc = bad(err, "name", "must be a string of at most 128 bytes");
        goto fail;
    }
    snprintf(c->name, sizeof c->name, "%s", v ? json_string_value(v) : c->id);
    v = json_object_get(def, "protocol");
    c->proto = GW_PROTO_INFERD;
    if (v) {
        const char *p = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(p, "inferd") == 0)
            c->proto = GW_PROTO_INFERD;
        else if (strcmp(p, "openai") == 0)
            c->proto = GW_PROTO_OPENAI;
        else if (strcmp(p, "kserve") == 0)
            c->proto = GW_PROTO_KSERVE;
        else {
            rc = bad(err, "protocol", "must be \"inferd\", \"openai\" or \"kserve\"");
            goto fail;
        }
    }
    v = json_object_get(def, "api_key");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 512 ||
            strpbrk(json_string_value(v), "\r\n")) {
            rc = bad(err, "api_key", "must be a string of 1 to 512 bytes without line breaks");
            goto fail;
        }
        c->api_key = strdup(json_string_value(v));
    }
    v = json_object_get(def, "models");
    if (v) {
        if ((rc = string_array(v, "models", 256, &c->models, err)) < 0)
            goto fail;
    } else {
        c->models = json_array();
    }
    v = json_object_get(def, "tags");
    if (v) {
        if ((rc = string_array(v, "tags", 64, &c->tags, err)) < 0)
            goto fail;
    } else {
        c->tags = json_array();
    }
    v = json_object_get(def, "model_map");
    if (v) {
        if (!json_is_object(v)) {
            rc = bad(err, "model_map", "must be an object {\"public name\": \"upstream name\"}");
            goto fail;
        }
        const char *mk;
        json_t *mv;
        json_object_foreach(v, mk, mv)
        {
            if (!json_is_string(mv) || json_string_length(mv) == 0 || json_string_length(mv) > 256 ||
                strlen(mk) == 0 || strlen(mk) > 256) {
                rc = inferd_err_set(err, INFERD_EINVAL,
                                    "channel: model_map.%.64s: names must be strings of 1 to 256 bytes", mk);
                goto fail;
            }
        }
        c->model_map = json_deep_copy(v);
    } else {
        c->model_map = json_object();
    }
    v = json_object_get(def, "priority");
    if (v && (!json_is_integer(v) || json_integer_value(v) < -1000 || json_integer_value(v) > 1000)) {
        rc = bad(err, "priority", "must be an integer from -1000 to 1000 (lower is preferred)");
        goto fail;
    }
    c->priority = v ? (int)json_integer_value(v) : 0;
    v = json_object_get(def, "weight");
    if (v && (!json_is_number(v) || !(json_number_value(v) > 0) || json_number_value(v) > 1e6)) {
        rc = bad(err, "weight", "must be a number above 0 and at most 1000000");
        goto fail;
    }
    c->weight = v ? json_number_value(v) : 1.0;
    v = json_object_get(def, "enabled");
    if (v && !json_is_boolean(v)) {
        rc = bad(err, "enabled", "must be true or false");
        goto fail;
    }
    c->enabled = v ? json_is_true(v) : true;
    snprintf(c->source, sizeof c->source, "%s", source ? source : "api");
    c->def = json_deep_copy(def);
    c->found = json_array();
    c->found_llm = json_array();
    if (!c->def || !c->found || !c->found_llm || !c->models || !c->tags || !c->model_map) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "channel: out of memory");
        goto fail;
    }
    c->state = c->enabled ? GW_ST_HEALTHY : GW_ST_DISABLED;
    c->quality = -1;
    c->rollout = 1.0;
    c->refs = 1;
    c->state_since_ns = clock_now_ns();
    *out = c;
    return 0;
fail:
    c->refs = 1;
    gw_chan_unref(NULL, c);
    return rc;
}

void gw_chan_unref(struct gw *g, struct gw_chan *c)
{
    if (!c)
        return;
    if (g)
        pthread_mutex_lock(&g->mu);
    int left = --c->refs;
    if (g)
        pthread_mutex_unlock(&g->mu);
    if (left > 0)
        return;
    free(c->api_key);
    json_decref(c->models);
    json_decref(c->model_map);
    json_decref(c->tags);
    json_decref(c->def);
    json_decref(c->found);
    json_decref(c->found_llm);
    free(c);
}

static bool array_has(const json_t *a, const char *s)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
            return true;
    }
    return false;
}

const char *gw_chan_upstream_model(const struct gw_chan *c, const char *model)
{
    json_t *m = json_object_get(c->model_map, model);
    const char *up = m ? json_string_value(m) : model;
    /* listed in the definition: trusted; otherwise it must have been found by crawling */
    if (array_has(c->models, model) || array_has(c->models, up) || array_has(c->found, up))
        return up;
    /* a channel whose lists are not read yet (just added; its first probe round is in
     * flight) may serve it: tried, and a 404 from it moves on to the next channel */
    if (!c->listed && json_array_size(c->models) == 0)
        return up;
    return NULL;
}

bool gw_chan_speaks(const struct gw_chan *c, enum gw_api api)
{
    switch (c->proto) {
    case GW_PROTO_INFERD: return true; /* every protocol the server has */
    case GW_PROTO_OPENAI: return api == GW_API_OPENAI;
    case GW_PROTO_KSERVE: return api == GW_API_V2;
    }
    return false;
}

json_t *gw_chan_json(const struct gw_chan *c, bool runtime)
{
    json_t *j = json_deep_copy(c->def);
    if (!j)
        return NULL;
    if (c->api_key) {
        /* never the key itself: its first 4 characters for recognition */
        char hint[16];
        snprintf(hint, sizeof hint, "%.4s...", c->api_key);
        json_object_set_new(j, "api_key", json_string(hint));
    }
    json_object_set_new(j, "name", json_string(c->name));
    json_object_set_new(j, "protocol", json_string(gw_proto_name(c->proto)));
    json_object_set_new(j, "source", json_string(c->source));
    if (!runtime)
        return j;
    json_object_set_new(j, "state", json_string(gw_state_name(c->state)));
    json_object_set_new(j, "reason", json_string(c->reason));
    json_object_set_new(j, "discovered_models", json_deep_copy(c->found)); /* no JSON shared across threads */
    return j;
}

/* ---- the table ---- */

static ssize_t find_locked(struct gw *g, const char *id)
{
    for (size_t i = 0; i < g->nchans; i++)
        if (strcmp(g->chans[i]->id, id) == 0)
            return (ssize_t)i;
    return -1;
}

struct gw_chan *gw_chan_get(struct gw *g, const char *id)
{
    pthread_mutex_lock(&g->mu);
    ssize_t i = find_locked(g, id);
    struct gw_chan *c = i >= 0 ? g->chans[i] : NULL;
    if (c)
        c->refs++;
    pthread_mutex_unlock(&g->mu);
    return c;
}

int gw_chan_put(struct gw *g, struct gw_chan *c, bool persist, struct inferd_err *err)
{
    c->m_lat = metrics_series_get(g->m.ch_latency, (const char *[]){c->id});
    if (persist) {
        char *text = json_dumps(c->def, JSON_COMPACT);
        int rc = text ? gw_store_put_channel(g->store, c->id, text, c->source, err)
                      : inferd_err_set(err, INFERD_ENOMEM, "channel: out of memory");
        free(text);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&g->mu);
    ssize_t i = find_locked(g, c->id);
    struct gw_chan *old = NULL;
    if (i >= 0) {
        old = g->chans[i];
        /* keep what was learned about the same endpoint */
        if (strcmp(old->base_url, c->base_url) == 0) {
            json_decref(c->found);
            c->found = json_deep_copy(old->found);
            json_decref(c->found_llm);
            c->found_llm = json_deep_copy(old->found_llm);
            c->ewma_ms = old->ewma_ms;
            c->quality = old->quality;
            memcpy(c->quality_why, old->quality_why, sizeof c->quality_why);
            if (c->enabled && old->state != GW_ST_DISABLED) {
                c->state = old->state;
                c->eject_until_ns = old->eject_until_ns;
                c->ejections = old->ejections;
                memcpy(c->reason, old->reason, sizeof c->reason);
            }
            c->rollout = old->rollout;
        }
        g->chans[i] = c;
        old->removed = true;
    } else {
        if (g->nchans >= GW_MAX_CHANNELS) {
            pthread_mutex_unlock(&g->mu);
            return inferd_err_set(err, INFERD_ETOOLARGE, "channel: more than %d channels", GW_MAX_CHANNELS);
        }
        struct gw_chan **t = realloc(g->chans, (g->nchans + 1) * sizeof *t);
        if (!t) {
            pthread_mutex_unlock(&g->mu);
            return inferd_err_set(err, INFERD_ENOMEM, "channel: out of memory");
        }
        g->chans = t;
        g->chans[g->nchans++] = c;
        /* a channel added while the gateway runs starts small and earns its share */
        if (clock_now_ns() - g->started_ns > 3000000000ull) {
            c->rollout = g->o.rollout_start;
            c->rollout_step_ns = clock_now_ns();
        }
    }
    pthread_mutex_unlock(&g->mu);
    if (old)
        gw_chan_unref(g, old);
    log_event(LOG_INFO, old ? "channel updated" : "channel added", "channel", c->id, "base_url", c->base_url,
              "source", c->source, NULL);
    gw_probe_channel_now(g, c);
    return 0;
}

int gw_chan_delete(struct gw *g, const char *id, bool persist, struct inferd_err *err)
{
    pthread_mutex_lock(&g->mu);
    ssize_t i = find_locked(g, id);
    if (i < 0) {
        pthread_mutex_unlock(&g->mu);
        return inferd_err_set(err, INFERD_ENOTFOUND, "channel \"%.64s\" not found", id);
    }
    struct gw_chan *c = g->chans[i];
    g->chans[i] = g->chans[--g->nchans];
    c->removed = true;
    pthread_mutex_unlock(&g->mu);
    int rc = persist ? gw_store_delete_channel(g->store, id, err) : 0;
    log_event(LOG_INFO, "channel removed", "channel", id, "source", c->source, NULL);
    /* its series leave /metrics; a channel added again under the id brings them back */
    metrics_registry_hide(g->reg, (const char *[]){"channel", c->id}, 1);
    gw_chan_unref(g, c);
    return rc;
}

/* A discovery source's whole set: add and update what it lists, remove what it dropped.
 * Discovered channels are not persisted: their source finds them again after a restart. */
void gw_source_sync(void *ctx, const char *source, json_t *defs)
{
    struct gw *g = ctx;
    if (!json_is_array(defs))
        return;
    size_t i;
    json_t *d;
    char (*keep)[GW_ID_MAX + 1] = calloc(json_array_size(defs) + 1, sizeof *keep);
    size_t nkeep = 0;
    if (!keep) {
        log_event(LOG_ERROR, "discovery sync: out of memory; the set is kept as it was", "source", source, NULL);
        return;
    }
    json_array_foreach(defs, i, d)
    {
        struct inferd_err err = {0};
        struct gw_chan *c;
        if (gw_chan_parse(d, source, &c, &err) < 0) {
            log_event(LOG_WARN, "discovered channel refused", "source", source, "reason", err.msg, NULL);
            continue;
        }
        memcpy(keep[nkeep++], c->id, sizeof c->id);
        /* unchanged: leave it alone (no new probe, no rollout restart) */
        struct gw_chan *old = gw_chan_get(g, c->id);
        bool same = old && json_equal(old->def, c->def) && strcmp(old->source, source) == 0;
        bool foreign = old && strcmp(old->source, source) != 0;
        gw_chan_unref(g, old);
        if (same || foreign) { /* a channel another source (or the API) owns is not taken over */
            gw_chan_unref(NULL, c);
            continue;
        }
        if (strcmp(source, "crawl") == 0)
            c->state = GW_ST_CANDIDATE, snprintf(c->reason, sizeof c->reason, "found by crawling; evaluating");
        if (gw_chan_put(g, c, false, &err) < 0) {
            log_event(LOG_WARN, "discovered channel refused", "source", source, "reason", err.msg, NULL);
            gw_chan_unref(NULL, c);
        }
    }
    /* remove this source's channels that are gone */
    for (;;) {
        char gone[GW_ID_MAX + 1] = "";
        pthread_mutex_lock(&g->mu);
        for (size_t j = 0; j < g->nchans && !gone[0]; j++) {
            struct gw_chan *c = g->chans[j];
            if (strcmp(c->source, source) != 0)
                continue;
            bool kept = false;
            for (size_t k = 0; k < nkeep && !kept; k++)
                kept = strcmp(keep[k], c->id) == 0;
            if (!kept)
                memcpy(gone, c->id, sizeof gone);
        }
        pthread_mutex_unlock(&g->mu);
        if (!gone[0])
            break;
        gw_chan_delete(g, gone, false, NULL);
    }
    free(keep);
}
