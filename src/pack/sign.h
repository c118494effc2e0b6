/* sign.h — ed25519 keys and signatures over a package's manifest.json (nettle's
 * ed25519_sha512).
 *
 * A package version is signed by signing the exact bytes of its manifest.json; the
 * manifest lists the sha256 and size of every other file, so the signature covers them
 * all. The signature lives beside it in manifest.sig. Every file is one text line:
 *
 *   secret key  (0600)   inferd-ed25519-secret-key <base64 of the 32-byte seed>
 *   public key / trust   inferd-ed25519-public-key <base64 of 32 bytes> [comment]
 *   manifest.sig         inferd-ed25519-signature <key id> <base64 of 64 bytes>
 *
 * A trust file (serve --trust, register --trust) holds one public key line per key;
 * blank lines and lines starting with '#' are skipped. The key id is the first 8 bytes of
 * sha256(public key) as 16 hex digits; it only picks the key, the signature decides.
 *
 *   struct pack_keyring kr;
 *   if (pack_keyring_load("trusted.pub", &kr, &err) < 0) fail(err.msg);
 *   if (pack_verify_version("models/mlp/3", &kr, &err) < 0) refuse(err.msg);
 */
#ifndef INFERD_PACK_SIGN_H
#define INFERD_PACK_SIGN_H

#include "inferd/err.h"

#include <stddef.h>
#include <stdint.h>

#define PACK_KEY_SIZE 32
#define PACK_SIG_SIZE 64
#define PACK_KEYRING_MAX 64        /* keys in one trust file */
#define PACK_KEYFILE_MAX (64 << 10) /* bytes of a key or trust file */
#define PACK_SIGFILE_MAX 4096      /* bytes of manifest.sig */

struct pack_secret_key {
    uint8_t seed[PACK_KEY_SIZE]; /* ed25519 private key (the seed) */
    uint8_t pub[PACK_KEY_SIZE];  /* derived public key */
    char id[17];                 /* key id: 16 hex digits */
};

struct pack_keyring {
    int n;
    uint8_t pub[PACK_KEYRING_MAX][PACK_KEY_SIZE];
    char id[PACK_KEYRING_MAX][17];
};

struct pack_sig {
    char id[17];
    uint8_t sig[PACK_SIG_SIZE];
};

/* The key id of a public key (16 hex digits + NUL). */
void pack_key_id(const uint8_t pub[PACK_KEY_SIZE], char id[17]);

/* Makes a new key pair from getrandom: secret_path (mode 0600, refused when it exists) and
 * public_path. OUT: *sk when not NULL. Returns 0 or EIO/EINVAL naming the file. */
int pack_keygen(const char *secret_path, const char *public_path, struct pack_secret_key *sk,
                struct inferd_err *err);
/* Reads a secret key file. Returns 0 or EFORMAT/EIO naming the file and line. */
int pack_secret_key_load(const char *path, struct pack_secret_key *sk, struct inferd_err *err);
/* Parses a secret key file's bytes (what = its name for messages). */
int pack_secret_key_parse(const char *buf, size_t len, const char *what, struct pack_secret_key *sk,
                          struct inferd_err *err);

/* Reads a trust file (one or more public keys). Returns 0 (at least one key) or
 * EFORMAT naming the line, ETOOLARGE past PACK_KEYRING_MAX keys or PACK_KEYFILE_MAX bytes. */
int pack_keyring_load(const char *path, struct pack_keyring *kr, struct inferd_err *err);
int pack_keyring_parse(const char *buf, size_t len, const char *what, struct pack_keyring *kr,
                       struct inferd_err *err);

/* Parses manifest.sig's bytes. Returns 0 or EFORMAT naming the field. */
int pack_sig_parse(const char *buf, size_t len, const char *what, struct pack_sig *sig, struct inferd_err *err);

/* Signs dir/manifest.json with sk and writes dir/manifest.sig (temp + fsync + rename).
 * Returns 0 or EIO/ETOOLARGE naming the file. */
int pack_sign_version(const char *dir, const struct pack_secret_key *sk, struct inferd_err *err);

/* Verifies a version folder against kr: manifest.sig exists, names a trusted key and
 * signs manifest.json's bytes; then every file the manifest lists has its size and sha256,
 * and the folder holds no file the manifest does not list (manifest.json and
 * manifest.sig aside). Returns 0, or EAUTH ("unsigned", "signed by an untrusted key",
 * "bad signature") or EFORMAT naming the file whose sha256 or size differs. */
int pack_verify_version(const char *dir, const struct pack_keyring *kr, struct inferd_err *err);
/* pack_verify_version, and then the signed manifest's name and version must be these (a
 * signed old version copied under a new number is refused). */
int pack_verify_as(const char *dir, const struct pack_keyring *kr, const char *name, int64_t version,
                   struct inferd_err *err);

#endif
