/* sign.c — ed25519 key files, trust files, manifest.sig; signing and verifying a version. */
#include "pack/sign.h"

#include "base/fileio.h"
#include "base/path.h"
#include "base/rng.h"
#include "pack/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/base64.h>
#include <nettle/eddsa.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_SECRET "inferd-ed25519-secret-key"
#define TAG_PUBLIC "inferd-ed25519-public-key"
#define TAG_SIG "inferd-ed25519-signature"

void pack_key_id(const uint8_t pub[PACK_KEY_SIZE], char id[17])
{
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    sha256_update(&h, PACK_KEY_SIZE, pub);
    sha256_digest(&h, sizeof d, d);
    file_hex(d, 8, id);
}

/* Decodes exactly n bytes of base64 from s[0..len). Returns 0 or -1. */
static int b64_exact(const char *s, size_t len, uint8_t *out, size_t n)
{
    uint8_t tmp[128];
    size_t got = sizeof tmp;
    struct base64_decode_ctx ctx;
    if (len == 0 || BASE64_DECODE_LENGTH(len) > sizeof tmp)
        return -1;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &got, tmp, len, s) || !base64_decode_final(&ctx) || got != n)
        return -1;
    memcpy(out, tmp, n);
    return 0;
}

/* The next whitespace-separated word of line[*i..n). OUT: *w, *wl. Returns 0 when none. */
static int next_word(const char *line, size_t n, size_t *i, const char **w, size_t *wl)
{
    while (*i < n && (line[*i] == ' ' || line[*i] == '\t' || line[*i] == '\r'))
        (*i)++;
    if (*i >= n)
        return 0;
    size_t s = *i;
    while (*i < n && line[*i] != ' ' && line[*i] != '\t' && line[*i] != '\r')
        (*i)++;
    *w = line + s;
    *wl = *i - s;
    return 1;
}

static int hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int word_is(const char *w, size_t wl, const char *tag)
{
    return wl == strlen(tag) && memcmp(w, tag, wl) == 0;
}

/* Calls line(ctx, text, len, lineno) for each line that is not blank or a '#' comment.
 * Stops at the first non-zero return. */
static int each_line(const char *buf, size_t len, int (*line)(void *, const char *, size_t, int), void *ctx)
{
    size_t s = 0;
    int no = 0;
    while (s < len) {
        const char *nl = memchr(buf + s, '\n', len - s);
        size_t e = nl ? (size_t)(nl - buf) : len;
        no++;
        size_t i = s;
        while (i < e && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r'))
            i++;
        if (i < e && buf[i] != '#') {
            int rc = line(ctx, buf + i, e - i, no);
            if (rc)
                return rc;
        }
        s = e + 1;
    }
    return 0;
}

struct parse_ctx {
    const char *what;
    struct inferd_err *err;
    void *out;
    int n;
};

static int secret_line(void *c, const char *l, size_t n, int no)
{
    struct parse_ctx *p = c;
    struct pack_secret_key *sk = p->out;
    size_t i = 0;
    const char *w, *b;
    size_t wl, bl;
    if (p->n > 0)
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: a secret key file holds one key", p->what, no);
    if (!next_word(l, n, &i, &w, &wl) || !word_is(w, wl, TAG_SECRET))
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: does not start with '" TAG_SECRET "'", p->what, no);
    if (!next_word(l, n, &i, &b, &bl) || b64_exact(b, bl, sk->seed, PACK_KEY_SIZE) < 0)
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: the key is not base64 of %d bytes", p->what, no,
                              PACK_KEY_SIZE);
    ed25519_sha512_public_key(sk->pub, sk->seed);
    pack_key_id(sk->pub, sk->id);
    p->n++;
    return 0;
}

int pack_secret_key_parse(const char *buf, size_t len, const char *what, struct pack_secret_key *sk,
                          struct inferd_err *err)
{
    struct parse_ctx p = {what, err, sk, 0};
    memset(sk, 0, sizeof *sk);
    if (len > PACK_KEYFILE_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %d bytes", what, PACK_KEYFILE_MAX);
    int rc = each_line(buf, len, secret_line, &p);
    if (rc)
        return rc;
    if (p.n == 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: no '" TAG_SECRET "' line", what);
    return 0;
}

int pack_secret_key_load(const char *path, struct pack_secret_key *sk, struct inferd_err *err)
{
    char *buf;
    size_t len;
    int rc = pack_read_small(path, PACK_KEYFILE_MAX, &buf, &len, err);
    if (rc < 0)
        return rc;
    rc = pack_secret_key_parse(buf, len, path, sk, err);
    memset(buf, 0, len);
    free(buf);
    return rc;
}

static int public_line(void *c, const char *l, size_t n, int no)
{
    struct parse_ctx *p = c;
    struct pack_keyring *kr = p->out;
    size_t i = 0;
    const char *w, *b;
    size_t wl, bl;
    if (!next_word(l, n, &i, &w, &wl) || !word_is(w, wl, TAG_PUBLIC))
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: does not start with '" TAG_PUBLIC "'", p->what, no);
    if (kr->n >= PACK_KEYRING_MAX)
        return inferd_err_set(p->err, INFERD_ETOOLARGE, "%s: line %d: more than %d keys", p->what, no,
                              PACK_KEYRING_MAX);
    if (!next_word(l, n, &i, &b, &bl) || b64_exact(b, bl, kr->pub[kr->n], PACK_KEY_SIZE) < 0)
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: the key is not base64 of %d bytes", p->what, no,
                              PACK_KEY_SIZE);
    pack_key_id(kr->pub[kr->n], kr->id[kr->n]);
    kr->n++;
    return 0;
}

int pack_keyring_parse(const char *buf, size_t len, const char *what, struct pack_keyring *kr,
                       struct inferd_err *err)
{
    struct parse_ctx p = {what, err, kr, 0};
    memset(kr, 0, sizeof *kr);
    if (len > PACK_KEYFILE_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %d bytes", what, PACK_KEYFILE_MAX);
    int rc = each_line(buf, len, public_line, &p);
    if (rc)
        return rc;
    if (kr->n == 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: no '" TAG_PUBLIC "' line", what);
    return 0;
}

int pack_keyring_load(const char *path, struct pack_keyring *kr, struct inferd_err *err)
{
    char *buf;
    size_t len;
    int rc = pack_read_small(path, PACK_KEYFILE_MAX, &buf, &len, err);
    if (rc < 0)
        return rc;
    rc = pack_keyring_parse(buf, len, path, kr, err);
    free(buf);
    return rc;
}

static int sig_line(void *c, const char *l, size_t n, int no)
{
    struct parse_ctx *p = c;
    struct pack_sig *sig = p->out;
    size_t i = 0;
    const char *w, *id, *b, *extra;
    size_t wl, il, bl, el;
    if (p->n > 0)
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: one signature line expected", p->what, no);
    if (!next_word(l, n, &i, &w, &wl) || !word_is(w, wl, TAG_SIG))
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: does not start with '" TAG_SIG "'", p->what, no);
    if (!next_word(l, n, &i, &id, &il) || il != 16 || !hex_lower(id, il))
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: key id: not 16 lowercase hex digits", p->what, no);
    if (!next_word(l, n, &i, &b, &bl) || b64_exact(b, bl, sig->sig, PACK_SIG_SIZE) < 0)
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: signature: not base64 of %d bytes", p->what, no,
                              PACK_SIG_SIZE);
    if (next_word(l, n, &i, &extra, &el))
        return inferd_err_set(p->err, INFERD_EFORMAT, "%s: line %d: unexpected text after the signature", p->what, no);
    memcpy(sig->id, id, 16);
    sig->id[16] = '\0';
    p->n++;
    return 0;
}

int pack_sig_parse(const char *buf, size_t len, const char *what, struct pack_sig *sig, struct inferd_err *err)
{
    struct parse_ctx p = {what, err, sig, 0};
    memset(sig, 0, sizeof *sig);
    if (len > PACK_SIGFILE_MAX)
        return inferd_err_set(err, INFERD_ETOOLARGE, "%s: larger than %d bytes", what, PACK_SIGFILE_MAX);
    int rc = each_line(buf, len, sig_line, &p);
    if (rc)
        return rc;
    if (p.n == 0)
        return inferd_err_set(err, INFERD_EFORMAT, "%s: no '" TAG_SIG "' line", what);
    return 0;
}

int pack_keygen(const char *secret_path, const char *public_path, struct pack_secret_key *out,
                struct inferd_err *err)
{
    struct pack_secret_key sk;
    char line[256], b64[BASE64_ENCODE_RAW_LENGTH(PACK_KEY_SIZE) + 1];
    int rc = 0, fd = -1;
    if (rng_bytes(sk.seed, sizeof sk.seed) < 0)
        return inferd_err_set(err, INFERD_EIO, "getrandom failed");
    ed25519_sha512_public_key(sk.pub, sk.seed);
    pack_key_id(sk.pub, sk.id);
    fd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s%s", secret_path, strerror(errno),
                            errno == EEXIST ? " (refusing to overwrite a key)" : "");
        goto done;
    }
    base64_encode_raw(b64, PACK_KEY_SIZE, sk.seed);
    b64[sizeof b64 - 1] = '\0';
    int n = snprintf(line, sizeof line, TAG_SECRET " %s\n", b64);
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        rc = inferd_err_set(err, INFERD_EIO, "%s: %s", secret_path, strerror(errno));
        close(fd);
        unlink(secret_path);
        goto done;
    }
    close(fd);
    base64_encode_raw(b64, PACK_KEY_SIZE, sk.pub);
    b64[sizeof b64 - 1] = '\0';
    n = snprintf(line, sizeof line, TAG_PUBLIC " %s %s\n", b64, sk.id);
    if ((rc = file_write_atomic(public_path, line, (size_t)n, 0644, err)) < 0) {
        unlink(secret_path);
        goto done;
    }
    if (out)
        *out = sk;
done:
    memset(&sk, 0, sizeof sk);
    memset(line, 0, sizeof line);
    return rc;
}

int pack_sign_version(const char *dir, const struct pack_secret_key *sk, struct inferd_err *err)
{
    char path[PATH_MAX_LEN], line[256], b64[BASE64_ENCODE_RAW_LENGTH(PACK_SIG_SIZE) + 1];
    char *buf;
    size_t len;
    uint8_t sig[PACK_SIG_SIZE];
    int rc = path_join(path, sizeof path, dir, "manifest.json", err);
    if (rc < 0 || (rc = pack_read_small(path, PACK_MANIFEST_MAX, &buf, &len, err)) < 0)
        return rc;
    ed25519_sha512_sign(sk->pub, sk->seed, len, (const uint8_t *)buf, sig);
    free(buf);
    base64_encode_raw(b64, PACK_SIG_SIZE, sig);
    b64[sizeof b64 - 1] = '\0';
    int n = snprintf(line, sizeof line, TAG_SIG " %s %s\n", sk->id, b64);
    if ((rc = path_join(path, sizeof path, dir, "manifest.sig", err)) < 0)
        return rc;
    return file_write_atomic(path, line, (size_t)n, 0644, err);
}

static int verify(const char *dir, const struct pack_keyring *kr, const char *name, int64_t version,
                  struct inferd_err *err)
{
    char path[PATH_MAX_LEN];
    char *man = NULL, *sbuf = NULL;
    size_t man_len = 0, slen = 0;
    struct pack_sig sig;
    struct pack_manifest m = {0};
    int rc = path_join(path, sizeof path, dir, "manifest.sig", err);
    if (rc < 0)
        return rc;
    rc = pack_read_small(path, PACK_SIGFILE_MAX, &sbuf, &slen, err);
    if (rc == INFERD_ENOTFOUND)
        return inferd_err_set(err, INFERD_EAUTH, "%s: unsigned package (no manifest.sig); refusing it under --trust",
                              dir);
    if (rc < 0)
        return rc;
    rc = pack_sig_parse(sbuf, slen, path, &sig, err);
    free(sbuf);
    if (rc < 0)
        return rc;
    int k = -1;
    for (int i = 0; i < kr->n && k < 0; i++)
        if (strcmp(kr->id[i], sig.id) == 0)
            k = i;
    if (k < 0)
        return inferd_err_set(err, INFERD_EAUTH, "%s: signed by key %s, which is not trusted; refusing it", path, sig.id);
    if ((rc = path_join(path, sizeof path, dir, "manifest.json", err)) < 0)
        return rc;
    rc = pack_read_small(path, PACK_MANIFEST_MAX, &man, &man_len, err);
    if (rc == INFERD_ENOTFOUND)
        return inferd_err_set(err, INFERD_EAUTH, "%s: missing; refusing the signed version", path);
    if (rc < 0)
        return rc;
    if (!ed25519_sha512_verify(kr->pub[k], man_len, (const uint8_t *)man, sig.sig)) {
        free(man);
        return inferd_err_set(err, INFERD_EAUTH,
                              "%s: bad signature (manifest.json was changed after it was signed by key %s); refusing it",
                              path, sig.id);
    }
    rc = pack_manifest_parse(man, man_len, path, &m, err);
    free(man);
    if (rc < 0)
        return rc;
    if (name && (strcmp(m.name, name) != 0 || m.version != version)) {
        rc = inferd_err_set(err, INFERD_EAUTH,
                            "%s: signed for %s version %lld, not %s version %lld; refusing it (copied or renamed?)",
                            path, m.name[0] ? m.name : "(no name)", (long long)m.version, name, (long long)version);
        pack_manifest_free(&m);
        return rc;
    }
    rc = pack_manifest_check(&m, dir, 1, err);
    pack_manifest_free(&m);
    return rc;
}

int pack_verify_version(const char *dir, const struct pack_keyring *kr, struct inferd_err *err)
{
    return verify(dir, kr, NULL, 0, err);
}

int pack_verify_as(const char *dir, const struct pack_keyring *kr, const char *name, int64_t version,
                   struct inferd_err *err)
{
    return verify(dir, kr, name, version, err);
}
