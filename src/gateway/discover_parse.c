/* discover_parse.c — DNS answers and etcd range answers turned into channel definitions
 * (see discover_parse.h); pure functions, fuzzed by tests/fuzz/fuzz_discover.c. */
#include "gateway/discover_parse.h"

#include "base/hash.h"

#include <arpa/inet.h>
#include <ares.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int id_char_ok(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
}

void discover_id(char *out, const char *prefix, const char *body)
{
    size_t np = strlen(prefix), nb = strlen(body), k = 0;
    for (size_t i = 0; i < np + nb && k < DISCOVER_ID_MAX + 1; i++) {
        unsigned char c = (unsigned char)(i < np ? prefix[i] : body[i - np]);
        out[k++] = id_char_ok(c) ? (char)c : '_';
    }
    if (k <= DISCOVER_ID_MAX) {
        out[k] = '\0';
        return;
    }
    /* Too long: 47 bytes + '-' + 16 hex digits = 64. */
    uint64_t h = hash_fnv1a_str(hash_fnv1a_str(HASH_FNV1A_SEED, prefix), body);
    snprintf(out + 47, DISCOVER_ID_MAX + 1 - 47, "-%016llx", (unsigned long long)h);
}

json_t *discover_def(const char *id, const char *name, const char *host, int port, const char *protocol,
                     const char *tag)
{
    char url[DISCOVER_HOST_MAX + 32];
    if (strchr(host, ':'))
        snprintf(url, sizeof url, "http://[%s]:%d", host, port);
    else
        snprintf(url, sizeof url, "http://%s:%d", host, port);
    return json_pack("{s:s,s:s,s:s,s:s,s:[s]}", "id", id, "name", name, "base_url", url, "protocol",
                     protocol ? protocol : "inferd", "tags", tag);
}

/* Appends the DNS channel for ip:port. Returns 1 (appended), 0 (defs full) or INFERD_ENOMEM. */
static int add_dns_def(json_t *defs, const char *name, const char *ip, int port, const char *protocol)
{
    char body[DISCOVER_HOST_MAX + 80], id[DISCOVER_ID_MAX + 1];
    if (json_array_size(defs) >= DISCOVER_MAX_DEFS)
        return 0;
    snprintf(body, sizeof body, "%s-%s-%d", name, ip, port);
    discover_id(id, "dns-", body);
    json_t *d = discover_def(id, name, ip, port, protocol, "dns");
    if (!d || json_array_append_new(defs, d) < 0)
        return INFERD_ENOMEM;
    return 1;
}

static int ares_to_rc(int st)
{
    return st == ARES_ENOMEM ? INFERD_ENOMEM : INFERD_EFORMAT;
}

int discover_dns_addrs(const unsigned char *abuf, int alen, enum discover_rr type, const char *name, int port,
                       const char *protocol, json_t *defs)
{
    char ip[INET6_ADDRSTRLEN];
    int n = DISCOVER_SRV_MAX, added = 0, rc;
    if (type == DISCOVER_A) {
        struct ares_addrttl a[DISCOVER_SRV_MAX];
        int st = ares_parse_a_reply(abuf, alen, NULL, a, &n);
        if (st == ARES_ENODATA)
            return 0;
        if (st != ARES_SUCCESS)
            return ares_to_rc(st);
        for (int i = 0; i < n; i++) {
            if (!inet_ntop(AF_INET, &a[i].ipaddr, ip, sizeof ip))
                continue;
            if ((rc = add_dns_def(defs, name, ip, port, protocol)) < 0)
                return rc;
            added += rc;
        }
    } else {
        struct ares_addr6ttl a[DISCOVER_SRV_MAX];
        int st = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
        if (st == ARES_ENODATA)
            return 0;
        if (st != ARES_SUCCESS)
            return ares_to_rc(st);
        for (int i = 0; i < n; i++) {
            if (!inet_ntop(AF_INET6, &a[i].ip6addr, ip, sizeof ip))
                continue;
            if ((rc = add_dns_def(defs, name, ip, port, protocol)) < 0)
                return rc;
            added += rc;
        }
    }
    return added;
}

int discover_dns_srv(const unsigned char *abuf, int alen, struct discover_srv *out, int max, int *n)
{
    struct ares_srv_reply *list = NULL;
    *n = 0;
    int st = ares_parse_srv_reply(abuf, alen, &list);
    if (st == ARES_ENODATA)
        return 0;
    if (st != ARES_SUCCESS)
        return ares_to_rc(st);
    for (struct ares_srv_reply *r = list; r && *n < max; r = r->next) {
        size_t len = r->host ? strlen(r->host) : 0;
        if (!len || len >= DISCOVER_HOST_MAX || r->port == 0)
            continue;
        memcpy(out[*n].target, r->host, len + 1);
        out[*n].port = r->port;
        (*n)++;
    }
    ares_free_data(list);
    return 0;
}

static const char *def_id(const json_t *d)
{
    const char *s = json_string_value(json_object_get(d, "id"));
    return s ? s : "";
}

static int cmp_def(const void *a, const void *b)
{
    return strcmp(def_id(*(json_t *const *)a), def_id(*(json_t *const *)b));
}

void discover_defs_sort_unique(json_t *defs)
{
    size_t n = json_array_size(defs);
    if (n < 2)
        return;
    json_t **v = malloc(n * sizeof *v);
    if (!v)
        return; /* unsorted is still a valid set; duplicates are the gateway's to refuse */
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(defs, i));
    qsort(v, n, sizeof *v, cmp_def);
    json_array_clear(defs);
    const json_t *kept = NULL; /* the last one appended (a dropped duplicate is freed) */
    for (size_t i = 0; i < n; i++) {
        if (kept && strcmp(def_id(v[i]), def_id(kept)) == 0) {
            json_decref(v[i]);
        } else {
            json_array_append_new(defs, v[i]);
            kept = v[i];
        }
    }
    free(v);
}

int discover_etcd_url(const char *url, char endpoint[DISCOVER_ENDPOINT_MAX], char prefix[DISCOVER_PREFIX_MAX],
                      struct inferd_err *err)
{
    static const char scheme[] = "etcd://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return inferd_err_set(err, INFERD_EINVAL, "'%s': an etcd URL starts with etcd:// (etcd://HOST:PORT/prefix)",
                              url);
    const char *auth = url + sizeof scheme - 1;
    size_t na = strcspn(auth, "/");
    if (na == 0 || auth[na] != '/')
        return inferd_err_set(err, INFERD_EINVAL, "'%s': needs HOST:PORT and a /prefix (etcd://HOST:PORT/prefix)",
                              url);
    for (size_t i = 0; i < na; i++) {
        unsigned char c = (unsigned char)auth[i];
        if (!(id_char_ok(c) || c == '[' || c == ']') || c == '_')
            return inferd_err_set(err, INFERD_EINVAL, "'%s': bad character in HOST:PORT", url);
    }
    if (na + sizeof "http://" > DISCOVER_ENDPOINT_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "'%s': HOST:PORT longer than %d bytes", url,
                              DISCOVER_ENDPOINT_MAX - 8);
    const char *p = auth + na + 1;
    size_t np = strlen(p);
    while (np > 0 && p[np - 1] == '/')
        np--;
    if (np == 0)
        return inferd_err_set(err, INFERD_EINVAL, "'%s': the key prefix after HOST:PORT/ is empty", url);
    if (np >= DISCOVER_PREFIX_MAX)
        return inferd_err_set(err, INFERD_EINVAL, "'%s': key prefix longer than %d bytes", url,
                              DISCOVER_PREFIX_MAX - 1);
    for (size_t i = 0; i < np; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return inferd_err_set(err, INFERD_EINVAL, "'%s': control character in the key prefix", url);
    snprintf(endpoint, DISCOVER_ENDPOINT_MAX, "http://%.*s", (int)na, auth);
    memcpy(prefix, p, np);
    prefix[np] = '\0';
    return 0;
}

int discover_b64_encode(const void *p, size_t n, char **out)
{
    char *s = malloc(BASE64_ENCODE_RAW_LENGTH(n) + 1);
    if (!s)
        return INFERD_ENOMEM;
    base64_encode_raw(s, n, (const uint8_t *)p);
    s[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
    *out = s;
    return 0;
}

int discover_b64_decode(const char *s, size_t len, char **out, size_t *n)
{
    struct base64_decode_ctx ctx;
    size_t dn = BASE64_DECODE_LENGTH(len);
    uint8_t *d = malloc(dn + 1);
    if (!d)
        return INFERD_ENOMEM;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &dn, d, len, s) || !base64_decode_final(&ctx)) {
        free(d);
        return INFERD_EFORMAT;
    }
    d[dn] = '\0';
    *out = (char *)d;
    *n = dn;
    return 0;
}

/* The channel definition of one kv, or NULL when it is not one (bad base64, not an object). */
static json_t *kv_def(const json_t *kv, int *nomem)
{
    const json_t *jk = json_object_get(kv, "key"), *jv = json_object_get(kv, "value");
    char *key = NULL, *val = NULL;
    size_t nk, nv;
    json_t *def = NULL;
    if (!json_is_string(jk) || !json_is_string(jv))
        return NULL;
    int rc = discover_b64_decode(json_string_value(jk), json_string_length(jk), &key, &nk);
    if (rc == 0)
        rc = discover_b64_decode(json_string_value(jv), json_string_length(jv), &val, &nv);
    if (rc < 0)
        goto fail;
    def = json_loadb(val, nv, 0, NULL);
    if (!json_is_object(def)) {
        json_decref(def);
        def = NULL;
        goto fail;
    }
    if (!json_object_get(def, "id")) {
        /* The key's last segment; key may hold NUL bytes, so stop there too. */
        const char *seg = key, *slash;
        while ((slash = strchr(seg, '/')) && slash[1])
            seg = slash + 1;
        char id[DISCOVER_ID_MAX + 1];
        char last[DISCOVER_PREFIX_MAX];
        snprintf(last, sizeof last, "%.*s", (int)strcspn(seg, "/"), seg);
        discover_id(id, "", last[0] ? last : "etcd");
        if (json_object_set_new(def, "id", json_string(id)) < 0) {
            rc = INFERD_ENOMEM;
            json_decref(def);
            def = NULL;
        }
    }
fail:
    if (rc == INFERD_ENOMEM)
        *nomem = 1;
    free(key);
    free(val);
    return def;
}

int discover_etcd_defs(const char *body, size_t len, json_t **out, int *skipped, struct inferd_err *err)
{
    json_error_t jerr;
    int bad = 0, nomem = 0, rc = 0;
    json_t *defs = NULL, *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "etcd range answer: %s",
                            root ? "not a JSON object" : jerr.text);
        goto fail;
    }
    const json_t *e = json_object_get(root, "error");
    if (e) {
        const char *m = json_string_value(json_object_get(root, "message"));
        rc = inferd_err_set(err, INFERD_EFORMAT, "etcd: %.300s",
                            m ? m : json_is_string(e) ? json_string_value(e) : "error");
        goto fail;
    }
    const json_t *kvs = json_object_get(root, "kvs");
    if (kvs && !json_is_array(kvs)) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "etcd range answer: kvs is not an array");
        goto fail;
    }
    defs = json_array();
    if (!defs)
        goto nomem;
    size_t i;
    const json_t *kv;
    json_array_foreach(kvs, i, kv)
    {
        if (json_array_size(defs) >= DISCOVER_MAX_DEFS) {
            bad++;
            continue;
        }
        json_t *d = kv_def(kv, &nomem);
        if (nomem)
            goto nomem;
        if (!d)
            bad++;
        else if (json_array_append_new(defs, d) < 0)
            goto nomem;
    }
    json_decref(root);
    if (skipped)
        *skipped = bad;
    *out = defs;
    return 0;
nomem:
    rc = inferd_err_set(err, INFERD_ENOMEM, "etcd range answer: out of memory");
fail:
    json_decref(defs);
    json_decref(root);
    return rc;
}

void discover_advertise_id(char *out, const char *url)
{
    char body[DISCOVER_PREFIX_MAX];
    const char *a = strstr(url, "://");
    a = a ? a + 3 : url;
    size_t na = strcspn(a, "/?#");
    const char *path = a + na;
    const char *host = a, *port = NULL;
    size_t nh = na;
    if (a[0] == '[') { /* [v6]:port */
        const char *close = memchr(a, ']', na);
        if (close) {
            host = a + 1;
            nh = (size_t)(close - host);
            if (close + 1 < a + na && close[1] == ':')
                port = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', na);
        if (colon) {
            nh = (size_t)(colon - a);
            port = colon + 1;
        }
    }
    size_t np = port ? (size_t)(a + na - port) : 0;
    const char *dflt = strncmp(url, "https:", 6) == 0 ? "443" : "80";
    size_t npath = strcspn(path, "?#");
    while (npath > 0 && path[npath - 1] == '/')
        npath--;
    snprintf(body, sizeof body, "%.*s_%.*s%s%.*s", (int)nh, host, port ? (int)np : (int)strlen(dflt),
             port ? port : dflt, npath > 1 ? "_" : "", npath > 1 ? (int)npath - 1 : 0, path + 1);
    discover_id(out, "", body);
}
