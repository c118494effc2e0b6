/* auth.c — API key files and constant-time bearer-token checks. */
#include "serve/http/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct keyring {
    int n;
    size_t len[KEYRING_MAX_KEYS];
    char key[KEYRING_MAX_KEYS][KEYRING_KEY_MAX];
};

int keyring_load(const char *path, struct keyring **out, struct inferd_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return inferd_err_set(err, INFERD_EIO, "key file %s: %s", path, strerror(errno));
    struct keyring *k = calloc(1, sizeof *k);
    char line[KEYRING_KEY_MAX + 4];
    int rc = 0, lineno = 0;
    if (!k) {
        rc = inferd_err_set(err, INFERD_ENOMEM, "key file %s: out of memory", path);
        goto fail;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            rc = inferd_err_set(err, INFERD_EINVAL, "key file %s: line %d is longer than %d bytes", path, lineno,
                                KEYRING_KEY_MAX - 1);
            goto fail;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if (k->n >= KEYRING_MAX_KEYS) {
            rc = inferd_err_set(err, INFERD_ETOOLARGE, "key file %s: more than %d keys", path, KEYRING_MAX_KEYS);
            goto fail;
        }
        k->len[k->n] = strlen(s);
        memcpy(k->key[k->n], s, k->len[k->n] + 1);
        k->n++;
    }
    if (k->n == 0) {
        rc = inferd_err_set(err, INFERD_EINVAL, "key file %s: holds no key", path);
        goto fail;
    }
    fclose(f);
    *out = k;
    return 0;
fail:
    fclose(f);
    free(k);
    return rc;
}

void keyring_free(struct keyring *k) { free(k); }

int keyring_find(const struct keyring *k, const char *header, struct inferd_err *err)
{
    if (!header)
        return inferd_err_set(err, INFERD_EAUTH, "missing Authorization header (expected 'Bearer <api key>')");
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return inferd_err_set(err, INFERD_EAUTH, "Authorization header: expected 'Bearer <api key>'");
    const char *t = header + 7;
    while (*t == ' ')
        t++;
    size_t tl = strnlen(t, KEYRING_KEY_MAX);
    int found = -1;
    for (int i = 0; i < k->n; i++) {
        /* Compare every byte of a fixed-size window: no early exit. */
        unsigned diff = (unsigned)(tl ^ k->len[i]);
        for (size_t j = 0; j < KEYRING_KEY_MAX; j++) {
            unsigned char a = j < tl ? (unsigned char)t[j] : 0;
            diff |= (unsigned)(a ^ (unsigned char)k->key[i][j]);
        }
        found = diff == 0 ? i : found;
    }
    if (found < 0)
        return inferd_err_set(err, INFERD_EAUTH, "Authorization header: unknown api key");
    return found;
}

int keyring_check(const struct keyring *k, const char *header, struct inferd_err *err)
{
    int rc = keyring_find(k, header, err);
    return rc < 0 ? rc : 0;
}
