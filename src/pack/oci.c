/* oci.c — push and pull packages to and from an OCI distribution registry (oci.h). */
#include "pack/oci.h"

#include "base/buf.h"
#include "base/path.h"
#include "pack/manifest.h"
#include "pack/pack.h"
#include "serve/repo/repo_config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MT_CONFIG "application/vnd.inferd.package.manifest.v1+json"
#define MT_LAYER "application/vnd.inferd.model.file.v1"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define TITLE "org.opencontainers.image.title"

/* ---- references ---- */

static int name_component_ok(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
        if ((c == '.' || c == '_' || c == '-') && (i + 1 == n || s[i + 1] == '.' || s[i + 1] == '-'))
            return 0; /* separators sit between alphanumerics ("__" is allowed, "..", "-." are not) */
    }
    return 1;
}

int oci_parse_ref(const char *s, struct oci_ref *ref, struct inferd_err *err)
{
    memset(ref, 0, sizeof *ref);
    const char *p;
    if (strncmp(s, "oci://", 6) == 0) {
        p = s + 6;
        snprintf(ref->scheme, sizeof ref->scheme, "http");
    } else if (strncmp(s, "ocis://", 7) == 0) {
        p = s + 7;
        snprintf(ref->scheme, sizeof ref->scheme, "https");
    } else {
        return inferd_err_set(err, INFERD_EINVAL, "'%.200s': not oci://HOST:PORT/NAME:TAG", s);
    }
    const char *slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= sizeof ref->host)
        return inferd_err_set(err, INFERD_EINVAL, "'%.200s': no HOST:PORT before the name", s);
    for (const char *c = p; c < slash; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
              *c == '-' || *c == ':' || *c == '[' || *c == ']'))
            return inferd_err_set(err, INFERD_EINVAL, "'%.200s': the host has a character a host name cannot", s);
    memcpy(ref->host, p, (size_t)(slash - p));
    const char *name = slash + 1;
    const char *colon = strrchr(name, ':');
    size_t nlen = colon ? (size_t)(colon - name) : strlen(name);
    if (nlen == 0 || nlen >= sizeof ref->name)
        return inferd_err_set(err, INFERD_EINVAL, "'%.200s': the repository name is empty or too long", s);
    memcpy(ref->name, name, nlen);
    for (const char *c = ref->name; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (!name_component_ok(c, n))
            return inferd_err_set(err, INFERD_EINVAL,
                                  "'%.200s': the repository name must be lowercase [a-z0-9] parts joined by . _ - and /", s);
        c += n + (e ? 1 : 0);
        if (e && !*c)
            return inferd_err_set(err, INFERD_EINVAL, "'%.200s': the repository name ends in '/'", s);
    }
    const char *tag = colon ? colon + 1 : "latest";
    size_t tl = strlen(tag);
    if (tl == 0 || tl > 128 || !((tag[0] >= 'a' && tag[0] <= 'z') || (tag[0] >= 'A' && tag[0] <= 'Z') ||
                                 (tag[0] >= '0' && tag[0] <= '9') || tag[0] == '_'))
        return inferd_err_set(err, INFERD_EINVAL, "'%.200s': the tag is not [A-Za-z0-9_][A-Za-z0-9._-]{0,127}", s);
    for (size_t i = 0; i < tl; i++) {
        char c = tag[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return inferd_err_set(err, INFERD_EINVAL, "'%.200s': the tag is not [A-Za-z0-9_][A-Za-z0-9._-]{0,127}", s);
    }
    memcpy(ref->tag, tag, tl + 1);
    return 0;
}

/* ---- manifests ---- */

static int digest_ok(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return 0;
    for (int i = 7; i < 71; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return 0;
    return 1;
}

static int descriptor_ok(const json_t *d, const char *mt, int64_t max, const char *what, struct inferd_err *err)
{
    const json_t *m = json_object_get(d, "mediaType"), *g = json_object_get(d, "digest"), *z = json_object_get(d, "size");
    if (!json_is_object(d))
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: %s: not an object", what);
    if (!json_is_string(m) || strcmp(json_string_value(m), mt) != 0)
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: %s.mediaType: not %s (not an inferd package?)",
                              what, mt);
    if (!json_is_string(g) || !digest_ok(json_string_value(g)))
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: %s.digest: not sha256:<64 hex>", what);
    if (!json_is_integer(z) || json_integer_value(z) < 0 || json_integer_value(z) > max)
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: %s.size: not an integer in 0..%lld", what,
                              (long long)max);
    return 0;
}

static int check_root(const json_t *root, int *n_layers, struct inferd_err *err)
{
    const json_t *sv = json_object_get(root, "schemaVersion"), *layers = json_object_get(root, "layers");
    if (!json_is_object(root))
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: not a JSON object");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: schemaVersion: not 2");
    int rc = descriptor_ok(json_object_get(root, "config"), MT_CONFIG, PACK_MANIFEST_MAX, "config", err);
    if (rc < 0)
        return rc;
    if (!json_is_array(layers) || json_array_size(layers) < 1 || json_array_size(layers) > PACK_FILES_MAX)
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: layers: not a list of 1..%d", PACK_FILES_MAX);
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *l = json_array_get(layers, i);
        char what[32];
        snprintf(what, sizeof what, "layers[%zu]", i);
        if ((rc = descriptor_ok(l, MT_LAYER, INT64_MAX / 2, what, err)) < 0)
            return rc;
        const json_t *t = json_object_get(json_object_get(l, "annotations"), TITLE);
        if (!json_is_string(t) || !pack_name_ok(json_string_value(t)) || strcmp(json_string_value(t), "manifest.json") == 0)
            return inferd_err_set(err, INFERD_EFORMAT,
                                  "registry manifest: %s.annotations." TITLE ": not a plain file name (no '/', no '..')",
                                  what);
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_object_get(json_object_get(json_array_get(layers, j), "annotations"), TITLE)),
                       json_string_value(t)) == 0)
                return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: %s: file name %s appears twice", what,
                                      json_string_value(t));
    }
    *n_layers = (int)json_array_size(layers);
    return 0;
}

int oci_manifest_check(const char *buf, size_t len, int *n_layers, struct inferd_err *err)
{
    if (len > OCI_MANIFEST_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "registry manifest: larger than %d bytes", OCI_MANIFEST_MAX);
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return inferd_err_set(err, INFERD_EFORMAT, "registry manifest: not JSON (line %d: %s)", je.line, je.text);
    int rc = check_root(root, n_layers, err);
    json_decref(root);
    return rc;
}

/* ---- HTTP ---- */

struct conn {
    CURL *c;
    const struct oci_ref *ref;
    const struct oci_opts *o;
    char *bearer;          /* token from the registry's token service, or NULL */
};

struct resp {
    long status;
    struct buf body;       /* capped; only when out is NULL */
    FILE *out;             /* download target */
    int64_t written;
    char location[4096];
    char www_auth[2048];
    char error[256];       /* set when a cap was hit */
    file_progress_fn progress;
    void *progress_ctx;
    int64_t base, total;   /* for progress */
    struct sha256_ctx *hash; /* download: hashed as it is written, or NULL */
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    if (r->out && r->status / 100 == 2) {
        if (r->total > 0 && r->base + r->written + (int64_t)len > r->total) {
            snprintf(r->error, sizeof r->error, "the registry sent more than the %lld bytes the manifest says",
                     (long long)r->total);
            return 0; /* never write past the declared size: a registry cannot fill the disk */
        }
        if (fwrite(p, 1, len, r->out) != len)
            return 0;
        if (r->hash)
            sha256_update(r->hash, len, (const uint8_t *)p);
        r->written += (int64_t)len;
        if (r->progress)
            r->progress(r->progress_ctx, r->base + r->written, r->total);
        return len;
    }
    buf_put(&r->body, p, len);
    return buf_rc(&r->body) ? 0 : len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after 100 or a redirect) */
        r->location[0] = r->www_auth[0] = '\0';
        const char *sp = memchr(p, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return len;
    }
    struct { const char *name; char *dst; size_t cap; } hs[] = {
        {"location:", r->location, sizeof r->location},
        {"www-authenticate:", r->www_auth, sizeof r->www_auth},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        size_t hl = strlen(hs[i].name);
        if (len > hl && strncasecmp(p, hs[i].name, hl) == 0) {
            const char *v = p + hl;
            size_t vl = len - hl;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
                vl--;
            snprintf(hs[i].dst, hs[i].cap, "%.*s", (int)vl, v);
        }
    }
    return len;
}

/* The registry's error text from an error body ({"errors":[{"code","message"}]}), else the
 * start of the body. */
static void registry_error(const struct resp *r, char *out, size_t cap)
{
    json_t *j = r->body.data ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    const json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    if (json_is_string(json_object_get(e0, "code")))
        snprintf(out, cap, "%s: %s", json_string_value(json_object_get(e0, "code")),
                 json_is_string(json_object_get(e0, "message")) ? json_string_value(json_object_get(e0, "message"))
                                                                  : "");
    else if (r->body.len)
        snprintf(out, cap, "%.120s", r->body.data);
    else
        snprintf(out, cap, "(no body)");
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    json_decref(j);
}

/* A parameter of a WWW-Authenticate challenge: key="value". */
static void auth_param(const char *h, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = h; (p = strstr(p, key)); p += kl) {
        if ((p != h && p[-1] != ' ' && p[-1] != ',') || p[kl] != '=')
            continue;
        const char *v = p + kl + 1;
        if (*v == '"') {
            const char *e = strchr(v + 1, '"');
            if (e)
                snprintf(out, cap, "%.*s", (int)(e - v - 1), v + 1);
        } else {
            snprintf(out, cap, "%.*s", (int)strcspn(v, ", "), v);
        }
        return;
    }
}

static int request(struct conn *cn, const char *method, const char *url, const char *ctype, const char *accept,
                   const void *body, size_t len, const char *extra, struct resp *r, struct inferd_err *err);

/* The token flow (distribution's token spec): GET realm?service=..&scope=.. with the
 * basic credentials, answer {"token"} or {"access_token"}. */
static int fetch_token(struct conn *cn, const char *challenge, struct inferd_err *err)
{
    char realm[1024], service[256], scope[512], url[2048];
    auth_param(challenge, "realm", realm, sizeof realm);
    auth_param(challenge, "service", service, sizeof service);
    auth_param(challenge, "scope", scope, sizeof scope);
    if (strncmp(realm, "http://", 7) != 0 && strncmp(realm, "https://", 8) != 0)
        return inferd_err_set(err, INFERD_EAUTH, "registry: the Bearer challenge has no http(s) realm");
    /* the credentials go to the realm: never over plain http when the registry itself is https */
    if (strcmp(cn->ref->scheme, "https") == 0 && strncmp(realm, "https://", 8) != 0)
        return inferd_err_set(err, INFERD_EAUTH,
                              "registry: the Bearer challenge's realm %s is plain http while the registry is https; "
                              "refusing to send credentials there", realm);
    char *es = curl_easy_escape(cn->c, service, 0), *sc = curl_easy_escape(cn->c, scope, 0);
    snprintf(url, sizeof url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?", es ? es : "",
             sc ? sc : "");
    curl_free(es);
    curl_free(sc);
    struct resp r = {0};
    buf_init(&r.body, 1 << 20);
    free(cn->bearer);
    cn->bearer = NULL;
    int rc = request(cn, "GET", url, NULL, NULL, NULL, 0, NULL, &r, err);
    if (rc == 0 && r.status != 200)
        rc = inferd_err_set(err, INFERD_EAUTH, "registry token service answered %ld", r.status);
    json_t *j = rc == 0 ? json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL) : NULL;
    const json_t *t = json_object_get(j, "token");
    if (!json_is_string(t))
        t = json_object_get(j, "access_token");
    if (rc == 0 && (!json_is_string(t) || json_string_length(t) > 8192))
        rc = inferd_err_set(err, INFERD_EAUTH, "registry token service: no token in its answer");
    if (rc == 0 && !(cn->bearer = strdup(json_string_value(t))))
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
    json_decref(j);
    buf_free(&r.body);
    return rc;
}

static int request(struct conn *cn, const char *method, const char *url, const char *ctype, const char *accept,
                   const void *body, size_t len, const char *extra, struct resp *r, struct inferd_err *err)
{
    for (int attempt = 0;; attempt++) {
        CURL *c = cn->c;
        struct curl_slist *h = NULL;
        char line[9000];
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a registry that stops sending */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024); /* fewer, larger writes and hash updates */
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, strcmp(method, "GET") == 0 ? 1L : 0L);
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
        if (strcmp(method, "HEAD") == 0)
            curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        }
        if (ctype) {
            snprintf(line, sizeof line, "Content-Type: %s", ctype);
            h = curl_slist_append(h, line);
        }
        if (accept) {
            snprintf(line, sizeof line, "Accept: %s", accept);
            h = curl_slist_append(h, line);
        }
        if (extra) /* "Range: ..." or "Content-Range: ..." */
            h = curl_slist_append(h, extra);
        if (cn->bearer) {
            snprintf(line, sizeof line, "Authorization: Bearer %s", cn->bearer);
            h = curl_slist_append(h, line);
        } else if (cn->o->user_pass) {
            curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(c, CURLOPT_USERPWD, cn->o->user_pass);
        }
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        r->status = 0;
        r->error[0] = '\0';
        buf_reset(&r->body);
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(h);
        if (cc != CURLE_OK) {
            if (r->error[0])
                return inferd_err_set(err, INFERD_EFORMAT, "registry: %s %s: %s", method, url, r->error);
            if (buf_rc(&r->body) == INFERD_ETOOLARGE)
                return inferd_err_set(err, INFERD_ETOOLARGE, "registry: %s %s: the answer is larger than %zu bytes",
                                      method, url, r->body.max);
            return inferd_err_set(err, INFERD_EUNAVAIL, "registry: %s %s: %s", method, url, curl_easy_strerror(cc));
        }
        if (r->status == 401 && attempt == 0 && strncasecmp(r->www_auth, "Bearer ", 7) == 0) {
            int rc = fetch_token(cn, r->www_auth, err);
            if (rc < 0)
                return rc;
            if (r->out) { /* nothing was written for the 401 (on_body writes only 2xx) */
            }
            continue;
        }
        if (r->status == 401) {
            char why[300];
            registry_error(r, why, sizeof why);
            return inferd_err_set(err, INFERD_EAUTH, "registry: %s %s: 401 unauthorized (%s)%s", method, url, why,
                                  cn->o->user_pass ? "" : "; give --user USER:PASSWORD or INFERD_REGISTRY_AUTH");
        }
        return 0;
    }
}

/* snprintf that says when it cut (a cut URL would name another resource). */
static int fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(out, cap, f, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void url_of(const struct conn *cn, const char *path, char *out, size_t cap)
{
    if (fmt(out, cap, "%s://%s%s", cn->ref->scheme, cn->ref->host, path) < 0)
        out[0] = '\0'; /* curl refuses an empty URL */
}

/* Location may be absolute or a path. */
static void location_url(const struct conn *cn, const char *loc, char *out, size_t cap)
{
    if (strncmp(loc, "http://", 7) == 0 || strncmp(loc, "https://", 8) == 0)
        fmt(out, cap, "%s", loc) < 0 ? (void)(out[0] = '\0') : (void)0;
    else
        url_of(cn, loc, out, cap);
}

static int status_error(const char *what, const struct resp *r, struct inferd_err *err)
{
    char why[300];
    registry_error(r, why, sizeof why);
    return inferd_err_set(err, r->status == 404 ? INFERD_ENOTFOUND : INFERD_EUNAVAIL, "registry: %s: HTTP %ld: %s", what,
                          r->status, why);
}

/* ---- push ---- */

/* Uploads one blob (file path, or bytes when data) unless the registry has it. */
static int push_blob(struct conn *cn, const char *digest, const char *path, const char *data, int64_t size,
                     struct inferd_err *err)
{
    char url[4200], path_[600];
    struct resp r = {0};
    int rc = 0;
    FILE *f = NULL;
    char *chunk = NULL;
    buf_init(&r.body, 1 << 16);
    snprintf(path_, sizeof path_, "/v2/%s/blobs/%s", cn->ref->name, digest);
    url_of(cn, path_, url, sizeof url);
    if ((rc = request(cn, "HEAD", url, NULL, NULL, NULL, 0, NULL, &r, err)) < 0)
        goto done;
    if (r.status == 200)
        goto done; /* already there */
    snprintf(path_, sizeof path_, "/v2/%s/blobs/uploads/", cn->ref->name);
    url_of(cn, path_, url, sizeof url);
    if ((rc = request(cn, "POST", url, NULL, NULL, NULL, 0, NULL, &r, err)) < 0)
        goto done;
    if (r.status != 202 || !r.location[0]) {
        rc = status_error("starting an upload", &r, err);
        goto done;
    }
    int64_t cap = cn->o->chunk_bytes > 0 ? cn->o->chunk_bytes : 32 << 20;
    if (!data) {
        f = fopen(path, "rb");
        chunk = malloc((size_t)cap);
        if (!f || !chunk) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: %s", path, f ? "out of memory" : strerror(errno));
            goto done;
        }
    }
    struct sha256_ctx h; /* a file is hashed as it is sent: checked before the upload is committed */
    sha256_init(&h);
    for (int64_t off = 0; off < size;) {
        int64_t n = size - off < cap ? size - off : cap;
        const char *p = data ? data + off : chunk;
        if (!data && fread(chunk, 1, (size_t)n, f) != (size_t)n) {
            rc = inferd_err_set(err, INFERD_EIO, "%s: short read (changed while pushed?)", path);
            goto done;
        }
        sha256_update(&h, (size_t)n, (const uint8_t *)p);
        char cr[80];
        snprintf(cr, sizeof cr, "Content-Range: %lld-%lld", (long long)off, (long long)(off + n - 1));
        location_url(cn, r.location, url, sizeof url);
        if ((rc = request(cn, "PATCH", url, "application/octet-stream", NULL, p, (size_t)n, cr, &r, err)) < 0)
            goto done;
        if (r.status != 202 || !r.location[0]) {
            rc = status_error("uploading a chunk", &r, err);
            goto done;
        }
        off += n;
        if (cn->o->progress)
            cn->o->progress(cn->o->progress_ctx, off, size);
    }
    uint8_t d[32];
    char hex[65];
    sha256_digest(&h, 32, d);
    file_hex(d, 32, hex);
    if (strcmp(hex, digest + 7) != 0) { /* the upload is left uncommitted: the registry drops it */
        rc = inferd_err_set(err, INFERD_EFORMAT,
                            "%s: sha256 mismatch: manifest.json says %s, the file hashes to %s; refusing to push it",
                            path ? path : "blob", digest + 7, hex);
        goto done;
    }
    location_url(cn, r.location, url, sizeof url);
    size_t ul = strlen(url);
    snprintf(url + ul, sizeof url - ul, "%sdigest=%s", strchr(url, '?') ? "&" : "?", digest);
    if ((rc = request(cn, "PUT", url, "application/octet-stream", NULL, NULL, 0, NULL, &r, err)) < 0)
        goto done;
    if (r.status != 201)
        rc = status_error("finishing an upload", &r, err);
done:
    if (f)
        fclose(f);
    free(chunk);
    buf_free(&r.body);
    return rc;
}

static void sha256_bytes(const char *p, size_t n, char out[72]);

int oci_push(const char *pkg, const struct oci_ref *ref, const struct oci_opts *o, struct inferd_err *err)
{
    char name[128], mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN], path[PATH_MAX_LEN], url[1024], digest[72];
    int64_t version;
    struct pack_manifest m = {0};
    char *man = NULL, *sig = NULL, *text = NULL;
    size_t man_len = 0, sig_len = 0;
    json_t *layers = NULL, *root = NULL;
    struct conn cn = {curl_easy_init(), ref, o, NULL};
    struct resp r = {0};
    int rc;
    buf_init(&r.body, 1 << 16);
    if (!cn.c)
        return inferd_err_set(err, INFERD_ENOMEM, "curl_easy_init failed");
    if ((rc = pack_open(pkg, name, &version, mdir, vdir, err)) < 0 || (rc = pack_manifest_load(vdir, &m, err)) < 0 ||
        (rc = pack_manifest_check(&m, vdir, PACK_CHECK_STRICT | PACK_CHECK_NO_HASH, err)) < 0)
        goto done; /* the sha256 of each file is checked as it is sent (push_blob) */
    if ((rc = path_join(path, sizeof path, vdir, "manifest.json", err)) < 0 ||
        (rc = pack_read_small(path, PACK_MANIFEST_MAX, &man, &man_len, err)) < 0)
        goto done;
    layers = json_array();
    for (int i = 0; i <= m.n_files; i++) {
        const char *fname = i < m.n_files ? m.files[i].name : "manifest.sig";
        int64_t size;
        if ((rc = path_join(path, sizeof path, vdir, fname, err)) < 0)
            goto done;
        if (i < m.n_files) {
            snprintf(digest, sizeof digest, "sha256:%s", m.files[i].sha256);
            size = m.files[i].size;
            if (size < 0) {
                struct stat st;
                size = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
            }
            rc = push_blob(&cn, digest, path, NULL, size, err);
        } else {
            if (pack_read_small(path, 4096, &sig, &sig_len, NULL) < 0)
                break; /* unsigned */
            sha256_bytes(sig, sig_len, digest);
            size = (int64_t)sig_len;
            rc = push_blob(&cn, digest, NULL, sig, size, err);
        }
        if (rc < 0)
            goto done;
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:{s:s}}", "mediaType", MT_LAYER, "digest", digest,
                                                "size", (json_int_t)size, "annotations", TITLE, fname));
    }
    sha256_bytes(man, man_len, digest);
    if ((rc = push_blob(&cn, digest, NULL, man, (int64_t)man_len, err)) < 0)
        goto done;
    root = json_pack("{s:i, s:s, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
                     "artifactType", "application/vnd.inferd.package.v1", "config", "mediaType", MT_CONFIG, "digest",
                     digest, "size", (json_int_t)man_len, "layers", layers);
    text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!text) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "/v2/%s/manifests/%s", ref->name, ref->tag);
    url_of(&cn, path, url, sizeof url);
    if ((rc = request(&cn, "PUT", url, MT_MANIFEST, NULL, text, strlen(text), NULL, &r, err)) < 0)
        goto done;
    if (r.status != 201)
        rc = status_error("putting the manifest", &r, err);
done:
    free(text);
    json_decref(root);
    json_decref(layers);
    free(man);
    free(sig);
    free(cn.bearer);
    buf_free(&r.body);
    pack_manifest_free(&m);
    curl_easy_cleanup(cn.c);
    return rc;
}


static void sha256_bytes(const char *p, size_t n, char out[72])
{
    struct sha256_ctx h;
    uint8_t d[32];
    sha256_init(&h);
    sha256_update(&h, n, (const uint8_t *)p);
    sha256_digest(&h, 32, d);
    memcpy(out, "sha256:", 7);
    file_hex(d, 32, out + 7);
}

/* ---- pull ---- */

/* Hashes the first n bytes of path into h. Returns 0, or -1 when they cannot be read. */
static int hash_prefix(const char *path, int64_t n, struct sha256_ctx *h)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t b[1 << 16];
    while (n > 0) {
        size_t k = fread(b, 1, n < (int64_t)sizeof b ? (size_t)n : sizeof b, f);
        if (k == 0)
            break;
        sha256_update(h, k, b);
        n -= (int64_t)k;
    }
    fclose(f);
    return n == 0 ? 0 : -1;
}

/* Downloads a blob into path, resuming path.part; checks size and sha256. */
static int pull_blob(struct conn *cn, const char *digest, int64_t size, const char *path, struct inferd_err *err)
{
    char part[PATH_MAX_LEN], url[1024], p[600], hex[65], range[64];
    struct stat st;
    struct resp r = {0};
    int rc = 0;
    if (stat(path, &st) == 0 && st.st_size == size && sha256_file_hex(path, hex, NULL) == 0 &&
        strcmp(hex, digest + 7) == 0)
        return 0; /* got it in an earlier pull */
    if (fmt(part, sizeof part, "%s.part", path) < 0)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: path too long", path);
    int64_t have = stat(part, &st) == 0 ? (int64_t)st.st_size : 0;
    if (have > size)
        have = 0;
    /* the blob is hashed as it arrives (after the bytes an earlier pull left), so it is read
     * from the disk at most once more, and only when resuming */
    struct sha256_ctx h;
    sha256_init(&h);
    if (have > 0 && hash_prefix(part, have, &h) < 0)
        have = 0;
    if (have == 0)
        sha256_init(&h);
    buf_init(&r.body, 1 << 16);
    r.out = fopen(part, have ? "ab" : "wb");
    if (!r.out)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", part, strerror(errno));
    r.hash = &h;
    r.base = have;
    r.total = size;
    r.progress = cn->o->progress;
    r.progress_ctx = cn->o->progress_ctx;
    snprintf(p, sizeof p, "/v2/%s/blobs/%s", cn->ref->name, digest);
    url_of(cn, p, url, sizeof url);
    snprintf(range, sizeof range, "Range: bytes=%lld-", (long long)have);
    if (have < size) {
        rc = request(cn, "GET", url, NULL, NULL, NULL, 0, have ? range : NULL, &r, err);
        if (rc == 0 && r.status == 200 && have) { /* the registry ignored the range: start over */
            fclose(r.out);
            r.out = fopen(part, "wb");
            r.written = 0;
            r.base = 0;
            sha256_init(&h);
            if (!r.out) {
                rc = inferd_err_set(err, INFERD_EIO, "%s: %s", part, strerror(errno));
                goto done;
            }
            rc = request(cn, "GET", url, NULL, NULL, NULL, 0, NULL, &r, err);
        }
        if (rc == 0 && r.status != 200 && r.status != 206)
            rc = status_error(digest, &r, err);
    }
    if (fflush(r.out) != 0 || fsync(fileno(r.out)) != 0)
        rc = rc ? rc : inferd_err_set(err, INFERD_EIO, "%s: %s", part, strerror(errno));
    fclose(r.out);
    r.out = NULL;
    if (rc == INFERD_EFORMAT) { /* the registry sent more than declared: nothing there to resume */
        unlink(part);
        inferd_err_prefix(err, "blob %s", digest);
        goto done;
    }
    if (rc < 0) {
        inferd_err_prefix(err, "blob %s cut off after %lld of %lld bytes; pull again to resume", digest,
                          (long long)(have + r.written), (long long)size);
        goto done;
    }
    if (stat(part, &st) != 0 || st.st_size != size) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "registry: blob %s: got %lld bytes, the manifest says %lld", digest,
                            (long long)(stat(part, &st) == 0 ? st.st_size : 0), (long long)size);
        if (stat(part, &st) == 0 && st.st_size > size)
            unlink(part);
        goto done;
    }
    uint8_t d[32];
    sha256_digest(&h, 32, d);
    file_hex(d, 32, hex);
    if (strcmp(hex, digest + 7) != 0) {
        unlink(part);
        rc = inferd_err_set(err, INFERD_EFORMAT, "registry: blob %s: the bytes hash to sha256:%s; refusing them", digest,
                            hex);
        goto done;
    }
    if (rename(part, path) != 0)
        rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", path, strerror(errno));
done:
    if (r.out)
        fclose(r.out);
    buf_free(&r.body);
    return rc;
}

static int mkdir_p1(const char *d, struct inferd_err *err)
{
    if (mkdir(d, 0755) != 0 && errno != EEXIST)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", d, strerror(errno));
    return 0;
}

/* Every file the package's manifest lists is a layer with the same sha256 and size (each
 * layer's bytes were hashed against its digest as they arrived), and every layer is listed:
 * the package is whole without reading the files again. */
static int layers_match_manifest(const struct pack_manifest *m, const json_t *layers, struct inferd_err *err)
{
    size_t nl = json_array_size(layers);
    for (int i = 0; i < m->n_files; i++) {
        const struct pack_file *f = &m->files[i];
        int found = 0;
        for (size_t k = 0; k < nl && !found; k++) {
            const json_t *l = json_array_get(layers, k);
            const char *title = json_string_value(json_object_get(json_object_get(l, "annotations"), TITLE));
            const char *dig = json_string_value(json_object_get(l, "digest"));
            if (!title || strcmp(title, f->name) != 0)
                continue;
            found = 1;
            if (!dig || strncmp(dig, "sha256:", 7) != 0 || strcmp(dig + 7, f->sha256) != 0 ||
                (f->size >= 0 && json_integer_value(json_object_get(l, "size")) != f->size))
                return inferd_err_set(err, INFERD_EFORMAT,
                                      "registry: layer %s is %s, the package's manifest.json says sha256:%s; refusing it",
                                      f->name, dig ? dig : "(no digest)", f->sha256);
        }
        if (!found)
            return inferd_err_set(err, INFERD_EFORMAT, "registry: the package's manifest.json lists %s, no layer has it",
                                  f->name);
    }
    for (size_t k = 0; k < nl; k++) {
        const char *title =
            json_string_value(json_object_get(json_object_get(json_array_get(layers, k), "annotations"), TITLE));
        int listed = 0;
        for (int i = 0; i < m->n_files && !listed; i++)
            listed = title && strcmp(m->files[i].name, title) == 0;
        if (!listed && title && strcmp(title, "manifest.sig") != 0)
            return inferd_err_set(err, INFERD_EFORMAT, "registry: layer %s is not listed in the package's manifest.json",
                                  title);
    }
    return 0;
}

/* What a resumed pull keeps of DIR.partial/: NAME/, NAME/config.json, NAME/VERSION/, and
 * in it manifest.json and each layer's file or its .part. Anything else is what a pull
 * killed earlier left (the temp file of an atomic write it did not rename yet,
 * manifest.json.tmp.<pid>.<n>) or a folder of another name or version (the tag moved). */
struct pull_keep {
    const char *name;     /* the package's model name */
    const char *vstr;     /* its version, in decimal */
    const json_t *layers; /* the image manifest's layers (borrowed) */
};

static int keep_top(const char *e, const struct pull_keep *k)
{
    return strcmp(e, k->name) == 0;
}

static int keep_model(const char *e, const struct pull_keep *k)
{
    return strcmp(e, "config.json") == 0 || strcmp(e, k->vstr) == 0;
}

static int keep_version(const char *e, const struct pull_keep *k)
{
    if (strcmp(e, "manifest.json") == 0)
        return 1;
    for (size_t i = 0; i < json_array_size(k->layers); i++) {
        const json_t *ann = json_object_get(json_array_get(k->layers, i), "annotations");
        const char *t = json_string_value(json_object_get(ann, TITLE));
        size_t n = t ? strlen(t) : 0;
        if (t && strncmp(e, t, n) == 0 && (e[n] == '\0' || strcmp(e + n, ".part") == 0))
            return 1;
    }
    return 0;
}

/* Removes every entry of dir that keep() refuses. Returns 0, or EIO naming what could not
 * be read or removed. */
static int prune_dir(const char *dir, int (*keep)(const char *, const struct pull_keep *), const struct pull_keep *k,
                     struct inferd_err *err)
{
    DIR *d = opendir(dir);
    int rc = 0;
    if (!d)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", dir, strerror(errno));
    for (;;) {
        const struct dirent *e = readdir(d);
        char path[PATH_MAX_LEN];
        if (!e)
            break;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || keep(e->d_name, k))
            continue;
        if ((rc = path_join(path, sizeof path, dir, e->d_name, err)) < 0 || (rc = file_remove_tree(path, err)) < 0)
            break;
    }
    closedir(d);
    return rc;
}

/* A resumed pull starts from what an earlier one left in partial/ that this manifest can
 * use, and nothing else: the folder renamed to the output at the end must hold the package
 * alone (pack_verify refuses any other file). Returns 0 or EIO. */
static int prune_partial(const char *partial, const char *mdir, const char *vdir, const struct pull_keep *k,
                         struct inferd_err *err)
{
    int rc;
    if ((rc = prune_dir(partial, keep_top, k, err)) < 0 || (rc = prune_dir(mdir, keep_model, k, err)) < 0)
        return rc;
    return prune_dir(vdir, keep_version, k, err);
}

/* Refuses a pull that cannot fit on the disk before any byte of it is fetched: the bytes
 * still missing (layer sizes less what earlier, cut-off pulls left) against statvfs. */
static int space_check(const json_t *layers, const char *vdir, struct inferd_err *err)
{
    int64_t need = 0;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const json_t *l = json_array_get(layers, i);
        char path[PATH_MAX_LEN], part[PATH_MAX_LEN];
        struct stat st;
        int64_t size = (int64_t)json_integer_value(json_object_get(l, "size"));
        const char *title = json_string_value(json_object_get(json_object_get(l, "annotations"), TITLE));
        if (path_join(path, sizeof path, vdir, title, NULL) == 0 && stat(path, &st) == 0 && st.st_size == size)
            continue;
        if (fmt(part, sizeof part, "%s.part", path) == 0 && stat(part, &st) == 0 && st.st_size <= size)
            size -= st.st_size;
        need += size;
    }
    struct statvfs vf;
    if (statvfs(vdir, &vf) != 0)
        return 0; /* cannot tell: the writes will say */
    int64_t avail = (int64_t)vf.f_bavail * (int64_t)vf.f_frsize;
    if (need > avail)
        return inferd_err_set(err, INFERD_ETOOLARGE,
                              "registry: the package needs %lld more bytes and %s has %lld free; nothing was fetched",
                              (long long)need, vdir, (long long)avail);
    return 0;
}

int oci_pull(const struct oci_ref *ref, const char *out_dir, const struct oci_opts *o, char name_out[128],
             int64_t *version_out, struct inferd_err *err)
{
    char url[1024], p[600], partial[PATH_MAX_LEN], mdir[PATH_MAX_LEN], vdir[PATH_MAX_LEN], path[PATH_MAX_LEN];
    char vstr[24], cpath[PATH_MAX_LEN];
    struct conn cn = {curl_easy_init(), ref, o, NULL};
    struct resp r = {0};
    json_t *root = NULL;
    struct pack_manifest m = {0};
    struct stat st;
    int rc, n_layers = 0;
    buf_init(&r.body, OCI_MANIFEST_MAX);
    if (!cn.c)
        return inferd_err_set(err, INFERD_ENOMEM, "curl_easy_init failed");
    if (lstat(out_dir, &st) == 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "%s: already exists; pull writes a new folder", out_dir);
        goto done;
    }
    snprintf(p, sizeof p, "/v2/%s/manifests/%s", ref->name, ref->tag);
    url_of(&cn, p, url, sizeof url);
    if ((rc = request(&cn, "GET", url, NULL, MT_MANIFEST, NULL, 0, NULL, &r, err)) < 0)
        goto done;
    if (r.status != 200) {
        rc = status_error("getting the manifest", &r, err);
        goto done;
    }
    if ((rc = oci_manifest_check(r.body.data ? r.body.data : "", r.body.len, &n_layers, err)) < 0)
        goto done;
    root = json_loadb(r.body.data, r.body.len, 0, NULL);
    const json_t *cfg = json_object_get(root, "config"), *layers = json_object_get(root, "layers");
    const char *cdig = json_string_value(json_object_get(cfg, "digest"));
    /* the config blob: the package's manifest.json */
    snprintf(p, sizeof p, "/v2/%s/blobs/%s", ref->name, cdig);
    url_of(&cn, p, url, sizeof url);
    buf_free(&r.body);
    buf_init(&r.body, PACK_MANIFEST_MAX);
    if ((rc = request(&cn, "GET", url, NULL, NULL, NULL, 0, NULL, &r, err)) < 0)
        goto done;
    if (r.status != 200) {
        rc = status_error("getting the package manifest", &r, err);
        goto done;
    }
    char got[72];
    sha256_bytes(r.body.data ? r.body.data : "", r.body.len, got);
    if (strcmp(got, cdig) != 0) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "registry: config blob %s hashes to %s; refusing it", cdig, got);
        goto done;
    }
    if ((rc = pack_manifest_parse(r.body.data, r.body.len, "the package's manifest.json", &m, err)) < 0)
        goto done;
    if (!pack_model_name_ok(m.name) || m.version < 1) {
        rc = inferd_err_set(err, INFERD_EFORMAT, "the package's manifest.json: no valid name and version");
        goto done;
    }
    snprintf(vstr, sizeof vstr, "%lld", (long long)m.version);
    if (fmt(partial, sizeof partial, "%s.partial", out_dir) < 0 ||
        (rc = path_join(mdir, sizeof mdir, partial, m.name, err)) < 0 || (rc = path_join(vdir, sizeof vdir, mdir, vstr, err)) < 0)
        goto done;
    if ((rc = mkdir_p1(partial, err)) < 0 || (rc = mkdir_p1(mdir, err)) < 0 || (rc = mkdir_p1(vdir, err)) < 0)
        goto done;
    struct pull_keep keep = {m.name, vstr, layers};
    if ((rc = prune_partial(partial, mdir, vdir, &keep, err)) < 0 || (rc = space_check(layers, vdir, err)) < 0)
        goto done;
    for (int i = 0; i < n_layers; i++) {
        const json_t *l = json_array_get(layers, (size_t)i);
        const char *title = json_string_value(json_object_get(json_object_get(l, "annotations"), TITLE));
        if ((rc = path_join(path, sizeof path, vdir, title, err)) < 0 ||
            (rc = pull_blob(&cn, json_string_value(json_object_get(l, "digest")),
                            (int64_t)json_integer_value(json_object_get(l, "size")), path, err)) < 0)
            goto done;
    }
    if ((rc = path_join(path, sizeof path, vdir, "manifest.json", err)) < 0 ||
        (rc = file_write_atomic(path, r.body.data, r.body.len, 0644, err)) < 0)
        goto done;
    if ((rc = layers_match_manifest(&m, layers, err)) < 0)
        goto done;
    /* the model's config.json is the version's */
    char *ctext = NULL;
    size_t clen = 0;
    if ((rc = path_join(path, sizeof path, vdir, "config.json", err)) < 0 ||
        (rc = pack_read_small(path, 1 << 20, &ctext, &clen, err)) < 0 || (rc = path_join(cpath, sizeof cpath, mdir, "config.json", err)) < 0) {
        if (rc == INFERD_ENOTFOUND)
            rc = inferd_err_set(err, INFERD_EFORMAT, "registry: the package has no config.json layer");
        free(ctext);
        goto done;
    }
    rc = file_write_atomic(cpath, ctext, clen, 0644, err);
    free(ctext);
    if (rc < 0)
        goto done;
    if (rename(partial, out_dir) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: rename: %s", out_dir, strerror(errno));
        goto done;
    }
    if (name_out)
        snprintf(name_out, 128, "%.127s", m.name);
    if (version_out)
        *version_out = m.version;
done:
    json_decref(root);
    free(cn.bearer);
    buf_free(&r.body);
    pack_manifest_free(&m);
    curl_easy_cleanup(cn.c);
    return rc;
}

/* ---- serve --models oci://... ---- */

#include "base/hash.h"
#include "pack/store.h"

static void pull_dir_name(const char *ref, char out[40])
{
    snprintf(out, 40, ".pull-%016llx", (unsigned long long)hash_fnv1a_str(HASH_FNV1A_SEED, ref));
}

/* Removes the .pull-* folders (and their .partial resumable state) of references that are
 * no longer in the list, so a dropped --models entry does not keep its half pull forever. */
static void sweep_pulls(const char *const *refs, int n, const char *repo)
{
    DIR *d = opendir(repo);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, ".pull-", 6) != 0)
            continue;
        int keep = 0;
        for (int i = 0; i < n && !keep; i++) {
            char t[40];
            pull_dir_name(refs[i], t);
            keep = strncmp(e->d_name, t, strlen(t)) == 0 &&
                   (e->d_name[strlen(t)] == '\0' || strcmp(e->d_name + strlen(t), ".partial") == 0);
        }
        char path[PATH_MAX_LEN];
        if (!keep && path_join(path, sizeof path, repo, e->d_name, NULL) == 0)
            file_remove_tree(path, NULL);
    }
    if (d)
        closedir(d);
}

int oci_sync(const char *const *refs, int n, const char *repo, const struct pack_keyring *trust,
             const struct oci_opts *o, struct inferd_err *err)
{
    int first = 0;
    if (mkdir(repo, 0755) != 0 && errno != EEXIST)
        return inferd_err_set(err, INFERD_EIO, "%s: %s", repo, strerror(errno));
    sweep_pulls(refs, n, repo);
    for (int i = 0; i < n; i++) {
        struct oci_ref ref;
        struct inferd_err e = {0};
        char tname[40], tmp[PATH_MAX_LEN];
        struct pack_register_result rr;
        int rc = oci_parse_ref(refs[i], &ref, &e);
        if (rc == 0) {
            pull_dir_name(refs[i], tname);
            rc = path_join(tmp, sizeof tmp, repo, tname, &e);
        }
        if (rc == 0) {
            file_remove_tree(tmp, NULL); /* a finished pull that was not registered: fetch again */
            rc = oci_pull(&ref, tmp, o, NULL, NULL, &e);
        }
        if (rc == 0) {
            rc = pack_register(tmp, repo, trust, &rr, &e);
            file_remove_tree(tmp, NULL);
        }
        if (rc < 0 && first == 0) {
            first = rc;
            inferd_err_set(err, rc, "%s: %s", refs[i], e.msg);
        }
    }
    return first;
}
