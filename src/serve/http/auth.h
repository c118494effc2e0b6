/* auth.h — API keys: a key file holds one key per line (blank lines and lines starting
 * with '#' are skipped); a request passes with `Authorization: Bearer <key>` naming any
 * key in the ring. Comparison is constant-time over every key so timing does not leak
 * which prefix matched. Keys are never logged or echoed.
 *
 *   struct keyring *k; keyring_load("keys.txt", &k, &err);
 *   if (keyring_check(k, req_authorization_header) != 0) 401;
 *   keyring_free(k);
 */
#ifndef INFERD_SERVE_AUTH_H
#define INFERD_SERVE_AUTH_H

#include "inferd/err.h"

#define KEYRING_MAX_KEYS 1024
#define KEYRING_KEY_MAX 256

struct keyring;

/* Reads path. OUT: *out. Returns 0 or EIO (unreadable), EINVAL (no key in the file, or a
 * line longer than KEYRING_KEY_MAX). */
int keyring_load(const char *path, struct keyring **out, struct inferd_err *err);
void keyring_free(struct keyring *k);
/* 0 when header is "Bearer <k>" for a k in the ring, else EAUTH (message says whether the
 * header was missing, malformed or the key unknown, never the key). */
int keyring_check(const struct keyring *k, const char *header, struct inferd_err *err);
/* As keyring_check, but returns the key's index in the file (0 = its first key), a
 * non-secret identity for per-key accounting. Same constant-time comparison. */
int keyring_find(const struct keyring *k, const char *header, struct inferd_err *err);

#endif
