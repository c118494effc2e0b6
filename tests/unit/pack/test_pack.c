/* test_pack.c — src/pack without the CLI: manifest parsing (both forms, every refusal),
 * key/trust/signature file parsing, ed25519 sign + verify (tampered file, tampered
 * manifest, unsigned, untrusted key, an extra file), register into a repository (new
 * model, new version, idempotent again, conflicting contents, stale temporaries swept),
 * list, show and rm. */
#include "check.h"

#include "base/fileio.h"
#include "base/path.h"
#include "pack/manifest.h"
#include "pack/pack.h"
#include "pack/sign.h"
#include "pack/store.h"
#include "pack/tar.h"
#include "serve/repo/repo_config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX_LEN];

/* snprintf without gcc's truncation warnings (test paths are short). */
static void fmt(char *out, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *out, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(out, cap, f, ap);
    va_end(ap);
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX_LEN];
    fmt(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int exists(const char *pattern, const char *a)
{
    char p[PATH_MAX_LEN];
    fmt(p, sizeof p, pattern, root, a);
    return access(p, F_OK) == 0;
}

/* Writes a package pkg/<name>/<v> by hand: a model file, config.json, manifest.json. */
static void make_pkg(const char *pkg, const char *name, int v, const char *model_bytes)
{
    char p[PATH_MAX_LEN], m[PATH_MAX_LEN], vd[PATH_MAX_LEN], h1[65], h2[65], man[1024], vs[16];
    fmt(vs, sizeof vs, "%d", v);
    fmt(p, sizeof p, "%s", pkg);
    mkdir(p, 0755);
    fmt(m, sizeof m, "%s/%s", pkg, name);
    mkdir(m, 0755);
    fmt(vd, sizeof vd, "%s/%s", m, vs);
    mkdir(vd, 0755);
    put(vd, "model.onnx", model_bytes);
    put(vd, "config.json", "{\"max_batch_size\": 4}\n");
    put(m, "config.json", "{\"max_batch_size\": 4}\n");
    fmt(p, sizeof p, "%s/model.onnx", vd);
    CHECK(sha256_file_hex(p, h1, NULL) == 0);
    fmt(p, sizeof p, "%s/config.json", vd);
    CHECK(sha256_file_hex(p, h2, NULL) == 0);
    fmt(man, sizeof man,
             "{\"name\":\"%s\",\"version\":%d,\"format\":\"onnx\",\"files\":{\"model.onnx\":{\"sha256\":\"%s\",\"size\":%zu},"
             "\"config.json\":{\"sha256\":\"%s\",\"size\":22}}}\n",
             name, v, h1, strlen(model_bytes), h2);
    put(vd, "manifest.json", man);
}

static void test_manifest_parse(void)
{
    struct pack_manifest m;
    struct inferd_err err = {0};
    const char *zero = "0000000000000000000000000000000000000000000000000000000000000000";
    char ok[512];
    fmt(ok, sizeof ok, "{\"name\":\"a\",\"version\":2,\"files\":{\"model.onnx\":{\"sha256\":\"%s\",\"size\":3},"
                            "\"old.bin\":\"%s\"}}", zero, zero);
    CHECK(pack_manifest_parse(ok, strlen(ok), "m", &m, &err) == 0);
    CHECK(m.n_files == 2 && m.version == 2 && strcmp(m.name, "a") == 0);
    CHECK(m.n_files == 2 && m.files[0].size == 3 && m.files[1].size == -1);
    pack_manifest_free(&m);
    const char *bad[] = {
        "", "[]", "{}", "{\"files\":{}}", "{\"files\":{\"../x\":\"%s\"}}", "{\"files\":{\"a/b\":\"%s\"}}",
        "{\"files\":{\".hidden\":\"%s\"}}", "{\"files\":{\"manifest.sig\":\"%s\"}}", "{\"files\":{\"x\":\"abc\"}}",
        "{\"files\":{\"x\":{\"sha256\":\"%s\"}}}", "{\"files\":{\"x\":{\"sha256\":\"%s\",\"size\":-1}}}",
        "{\"version\":0,\"files\":{\"x\":\"%s\"}}", "{\"name\":7,\"files\":{\"x\":\"%s\"}}",
        "{\"files\":{\"x\":\"%s\",\"x\":\"%s\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char b[512];
        fmt(b, sizeof b, bad[i], zero, zero);
        err.msg[0] = '\0';
        CHECK(pack_manifest_parse(b, strlen(b), "m", &m, &err) < 0);
        CHECK(strstr(err.msg, "m:") == err.msg);
    }
}

static void test_key_files(void)
{
    struct pack_keyring kr;
    struct pack_sig sig;
    struct pack_secret_key sk;
    struct inferd_err err = {0};
    const char *k = "inferd-ed25519-public-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= c\n";
    char two[256];
    fmt(two, sizeof two, "# trusted\n\n%s  %s", k, k);
    CHECK(pack_keyring_parse(two, strlen(two), "t", &kr, &err) == 0 && kr.n == 2);
    CHECK(pack_keyring_parse("", 0, "t", &kr, &err) < 0 && strstr(err.msg, "no "));
    CHECK(pack_keyring_parse("ssh-ed25519 AAAA\n", 16, "t", &kr, &err) < 0 && strstr(err.msg, "line 1"));
    const char *short_key = "inferd-ed25519-public-key AAAA\n";
    CHECK(pack_keyring_parse(short_key, strlen(short_key), "t", &kr, &err) < 0 && strstr(err.msg, "32 bytes"));
    const char *sk_text = "inferd-ed25519-secret-key AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    CHECK(pack_secret_key_parse(sk_text, strlen(sk_text), "s", &sk, &err) == 0);
    char sg[256];
    fmt(sg, sizeof sg, "inferd-ed25519-signature 0123456789abcdef %s\n",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
    CHECK(pack_sig_parse(sg, strlen(sg), "g", &sig, &err) == 0 && strcmp(sig.id, "0123456789abcdef") == 0);
    sg[30] = 'X'; /* key id no longer hex */
    CHECK(pack_sig_parse(sg, strlen(sg), "g", &sig, &err) < 0 && strstr(err.msg, "key id"));
}

static void test_sign_verify(void)
{
    char pkg[PATH_MAX_LEN], vd[PATH_MAX_LEN], sp[PATH_MAX_LEN], pp[PATH_MAX_LEN], p[PATH_MAX_LEN];
    struct pack_secret_key sk, other;
    struct pack_keyring kr, kr_other;
    struct inferd_err err = {0};
    fmt(pkg, sizeof pkg, "%s/signed", root);
    make_pkg(pkg, "m", 1, "model-bytes");
    fmt(vd, sizeof vd, "%s/m/1", pkg);
    fmt(sp, sizeof sp, "%s/k.key", root);
    fmt(pp, sizeof pp, "%s/k.pub", root);
    CHECK(pack_keygen(sp, pp, &sk, &err) == 0);
    CHECK(pack_keygen(sp, pp, NULL, &err) < 0 && strstr(err.msg, "refusing to overwrite"));
    struct stat st;
    CHECK(stat(sp, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(pack_keyring_load(pp, &kr, &err) == 0 && kr.n == 1 && strcmp(kr.id[0], sk.id) == 0);
    struct pack_secret_key again;
    CHECK(pack_secret_key_load(sp, &again, &err) == 0 && memcmp(again.pub, sk.pub, 32) == 0);
    fmt(sp, sizeof sp, "%s/o.key", root);
    fmt(pp, sizeof pp, "%s/o.pub", root);
    CHECK(pack_keygen(sp, pp, &other, &err) == 0 && pack_keyring_load(pp, &kr_other, &err) == 0);

    CHECK(pack_verify_version(vd, &kr, &err) == INFERD_EAUTH && strstr(err.msg, "unsigned"));
    CHECK(pack_sign_version(vd, &sk, &err) == 0);
    CHECK(pack_verify_version(vd, &kr, &err) == 0);
    CHECK(pack_verify_version(vd, &kr_other, &err) == INFERD_EAUTH && strstr(err.msg, "not trusted"));
    /* a changed model file: named, with both digests */
    put(vd, "model.onnx", "model-byteZ");
    CHECK(pack_verify_version(vd, &kr, &err) == INFERD_EFORMAT && strstr(err.msg, "model.onnx: sha256 mismatch"));
    put(vd, "model.onnx", "model-bytes");
    CHECK(pack_verify_version(vd, &kr, &err) == 0);
    /* a file the manifest does not list */
    put(vd, "extra.bin", "x");
    CHECK(pack_verify_version(vd, &kr, &err) == INFERD_EFORMAT && strstr(err.msg, "extra.bin: not listed"));
    fmt(p, sizeof p, "%s/extra.bin", vd);
    unlink(p);
    /* a changed manifest: the signature no longer holds */
    fmt(p, sizeof p, "%s/manifest.json", vd);
    FILE *f = fopen(p, "ab");
    fputs(" ", f);
    fclose(f);
    CHECK(pack_verify_version(vd, &kr, &err) == INFERD_EAUTH && strstr(err.msg, "bad signature"));
    /* the server's own check reads the same manifest (object form) */
    CHECK(manifest_verify(vd, "model.onnx", &err) == 0);
    CHECK(manifest_verify(vd, "model.gguf", &err) < 0 && strstr(err.msg, "does not list model.gguf"));
}

static void test_register(void)
{
    char pkg[PATH_MAX_LEN], pkg2[PATH_MAX_LEN], pkg3[PATH_MAX_LEN], repo[PATH_MAX_LEN], stale[PATH_MAX_LEN];
    struct pack_register_result rr;
    struct inferd_err err = {0};
    fmt(pkg, sizeof pkg, "%s/p1", root);
    fmt(pkg2, sizeof pkg2, "%s/p2", root);
    fmt(pkg3, sizeof pkg3, "%s/p3", root);
    fmt(repo, sizeof repo, "%s/repo", root);
    make_pkg(pkg, "mlp", 1, "one");
    make_pkg(pkg2, "mlp", 2, "two");
    make_pkg(pkg3, "mlp", 2, "two, other bytes");
    CHECK(pack_register(pkg, repo, NULL, &rr, &err) == 0 && rr.version == 1 && !rr.already);
    CHECK(exists("%s/repo/mlp/1/%s", "model.onnx") && exists("%s/repo/mlp/%s", "config.json"));
    /* a dead process's temporary is swept by the next register */
    fmt(stale, sizeof stale, "%s/repo/mlp/.reg-999999999-2", root);
    mkdir(stale, 0755);
    CHECK(pack_register(pkg2, repo, NULL, &rr, &err) == 0 && rr.version == 2);
    CHECK(!exists("%s/repo/mlp/%s", ".reg-999999999-2"));
    CHECK(pack_register(pkg2, repo, NULL, &rr, &err) == 0 && rr.already);
    CHECK(pack_register(pkg3, repo, NULL, &rr, &err) == INFERD_EINVAL && strstr(err.msg, "already registered"));
    /* a broken package never lands */
    char vd[PATH_MAX_LEN];
    fmt(vd, sizeof vd, "%s/mlp/2", pkg3);
    put(vd, "model.onnx", "tampered");
    CHECK(pack_register(pkg3, repo, NULL, &rr, &err) == INFERD_EFORMAT && strstr(err.msg, "model.onnx"));

    struct pack_row *rows;
    size_t n;
    CHECK(pack_list(repo, &rows, &n, &err) == 0 && n == 2);
    if (n == 2) {
        CHECK(rows[0].version == 2 && rows[1].version == 1 && strcmp(rows[0].format, "onnx") == 0);
        CHECK(rows[0].sha256[0] && !rows[0].is_signed && rows[0].size > 0);
    }
    free(rows);
    json_t *o;
    CHECK(pack_show(repo, "mlp", &o, &err) == 0);
    if (o) {
        CHECK(json_array_size(json_object_get(o, "versions")) == 2);
        CHECK(json_integer_value(json_object_get(json_object_get(o, "config"), "max_batch_size")) == 4);
        json_decref(o);
    }
    CHECK(pack_show(repo, "nope", &o, &err) == INFERD_ENOTFOUND);
    CHECK(pack_rm(repo, "mlp", 7, &err) == INFERD_ENOTFOUND && strstr(err.msg, "no version 7"));
    CHECK(pack_rm(repo, "../x", 0, &err) == INFERD_EINVAL);
    CHECK(pack_rm(repo, "mlp", 1, &err) == 0 && !exists("%s/repo/mlp/%s", "1") && exists("%s/repo/mlp/%s", "2"));
    CHECK(pack_rm(repo, "mlp", 2, &err) == 0 && !exists("%s/repo/%s", "mlp")); /* last version: model goes */
    CHECK(pack_list(repo, &rows, &n, &err) == 0 && n == 0);
    free(rows);
    /* a package with two models is refused */
    make_pkg(pkg, "other", 1, "x");
    CHECK(pack_register(pkg, repo, NULL, &rr, &err) == INFERD_EFORMAT && strstr(err.msg, "2 model folders"));
}

static void test_tar_names(void)
{
    const char *ok[] = {"a", "./a/b", "mlp/3/model.onnx", "a/.b"};
    const char *bad[] = {"", "/a", "../a", "a/../b", "a//b", "./", "a/./b", "a/..", "a\\b", "a\x01"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CHECK(tar_name_ok(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!tar_name_ok(bad[i]));
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    fmt(root, sizeof root, "%s/inferd-pack-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(root))
        return 1;
    test_manifest_parse();
    test_key_files();
    test_sign_verify();
    test_register();
    test_tar_names();
    file_remove_tree(root, NULL);
    return check_finish();
}
